"""Brute-force limits on everything that checks a password or sends a reset link.

Two limits per route, both `5/minute;50/hour` on POST: one per client address, one per account
(the e-mail typed in the form, normalised, or the logged-in account). An attacker spreading
guesses over many addresses still hits the account's limit; one address trying many accounts
hits its own. A breach answers 429 with Retry-After (see pvplatform.errors).

Counters live in Flask-Limiter's storage: memory by default, Redis (or any `limits` backend) when
RATELIMIT_STORAGE_URI says so, which several workers or instances must share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_login import current_user

from pvplatform.auth.services import normalise_email
from pvplatform.extensions import limiter

CREDENTIAL_LIMITS = "5/minute;50/hour"


@limiter.request_filter
def _limits_off_for_this_app() -> bool:
    # The limiter object is shared by every app built in one process (tests build several): the
    # app's own setting decides, not whichever app was initialised last.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


def _submitted_account() -> str:
    email = request.form.get("email", "")
    return "account:" + normalise_email(email)[:254] if isinstance(email, str) else "account:"


def _logged_in_account() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return "user:anonymous"


def _limits(account_key: Callable[[], str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    per_address = limiter.limit(CREDENTIAL_LIMITS, methods=["POST"])
    per_account = limiter.limit(CREDENTIAL_LIMITS, methods=["POST"], key_func=account_key)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        return per_address(per_account(view))

    return decorate


def credential_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """For forms that name the account by an e-mail field (login, password reset)."""
    return _limits(_submitted_account)(view)


def address_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """For forms used anonymously that name no account (a reset link's new-password form)."""
    return limiter.limit(CREDENTIAL_LIMITS, methods=["POST"])(view)


def password_check_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """For forms where a logged-in person types their password again."""
    return _limits(_logged_in_account)(view)
