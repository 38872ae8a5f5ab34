"""Brute-force limits on everything that checks a password or sends a reset link.

Login counts failed attempts only, per (account, address) and per address, with a growing wait
(pvplatform.auth.lockout): wrong passwords typed elsewhere never block the right one, and a
room of people on one Wi-Fi can all log in. A refused login answers 429 with Retry-After and
says when to try again.

The other routes have two limits on POST: one per client address, one per account (the e-mail
typed in the form, normalised, or the logged-in account). Password-reset requests and reset
links allow more per address than per account (a workshop shares one address); a password typed
again by a logged-in person has `5/minute;50/hour`. A breach answers 429 with Retry-After (see
pvplatform.errors).

Counters live in Flask-Limiter's storage: by default `database://`, the application's own database
(pvplatform.core.ratelimit_storage), which every worker and instance shares; Redis (or any
`limits` backend) when RATELIMIT_STORAGE_URI says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app, g, request
from flask_babel import format_time, ngettext
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits.storage import Storage

from pvplatform.auth import lockout
from pvplatform.auth.services import normalise_email
from pvplatform.db import utcnow
from pvplatform.extensions import limiter

CREDENTIAL_LIMITS = "5/minute;50/hour"
# Reset requests: a mailbox gets few links; one address (a room's Wi-Fi) may ask for many.
RESET_LIMITS_PER_ACCOUNT = "5/minute;20/hour"
RESET_LIMITS_PER_ADDRESS = "20/minute;100/hour"


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


def _limits(account_key: Callable[[], str], per_address_limits: str = CREDENTIAL_LIMITS,
            per_account_limits: str = CREDENTIAL_LIMITS
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    per_address = limiter.limit(per_address_limits, methods=["POST"])
    per_account = limiter.limit(per_account_limits, methods=["POST"], key_func=account_key)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        return per_address(per_account(view))

    return decorate


def reset_request_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """Asking for a reset link: known and unknown e-mails are counted alike."""
    return _limits(_submitted_account, RESET_LIMITS_PER_ADDRESS, RESET_LIMITS_PER_ACCOUNT)(view)


def reset_link_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """A reset link's new-password form (anonymous, no account named): per address."""
    return limiter.limit(RESET_LIMITS_PER_ADDRESS, methods=["POST"])(view)


# ---------------------------------------------------------------- login: failed attempts only

def lockout_storage() -> Storage | None:
    """Flask-Limiter's storage (the application's database by default, shared by every worker
    and instance), or None when this app limits nothing (RATELIMIT_ENABLED off, as in most
    tests)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    return limiter.storage


def client_address() -> str:
    """The client's address (the proxy's X-Forwarded-For only when TRUSTED_PROXIES says so)."""
    return get_remote_address() or "unknown"


def begin_login_attempt(email: str) -> lockout.Attempt:
    """Call before checking a password; then `succeeded()` or `failed()`, or `retry_after`."""
    account = normalise_email(email)[:254] if isinstance(email, str) else ""
    return lockout.begin(lockout_storage(), account, client_address())


def lift_login_waits(email: str | None, *, this_address: bool) -> None:
    """Staff unblocking: forgets the account's failed logins from every address, and when
    `this_address`, the failures counted for the address of the request (the room's
    connection, when the staff member uses it)."""
    storage = lockout_storage()
    if email:
        lockout.unblock_account(storage, normalise_email(email)[:254])
    if this_address:
        lockout.unblock_address(storage, client_address())


def retry_message(seconds: int) -> str:
    """What a throttled person reads: how long to wait, until when, and what else to do."""
    minutes = max(1, math.ceil(seconds / 60))
    until = format_time(utcnow() + timedelta(seconds=seconds), "short")
    return ngettext(
        "Too many failed attempts. For the safety of the account, try again in %(num)s "
        "minute (at %(time)s). If you forgot your password, reset it; at a session, the staff "
        "can lift the wait.",
        "Too many failed attempts. For the safety of the account, try again in %(num)s "
        "minutes (at %(time)s). If you forgot your password, reset it; at a session, the "
        "staff can lift the wait.",
        minutes, time=until)


def password_check_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """For forms where a logged-in person types their password again."""
    return _limits(_logged_in_account)(view)


# ---------------------------------------------------------------- sign-up

# Accounts created per client address (a refused form does not count), and sign-up forms sent
# per address whatever their outcome (each one says whether an e-mail has an account).
SIGNUP_LIMITS = "5/hour"
SIGNUP_ATTEMPT_LIMITS = "30/hour"


def _signup_message() -> str:
    from flask_babel import gettext

    return gettext("Too many accounts were created from your connection in the last hour. "
                   "Please try again later. If several people sign up from the same place (a "
                   "session at the town hall, for example), the staff can create the accounts.")


def mark_account_created() -> None:
    """The sign-up view calls this once the account is stored: only then does it count."""
    g.pv_account_created = True


def _account_created(response: Any) -> bool:  # noqa: ARG001 - Flask-Limiter passes it
    return bool(g.get("pv_account_created"))


def signup_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """Sign-up: 5 accounts per address and hour, 30 attempts; a breach answers 429."""
    created = limiter.limit(SIGNUP_LIMITS, methods=["POST"], deduct_when=_account_created,
                            error_message=_signup_message)
    attempts = limiter.limit(SIGNUP_ATTEMPT_LIMITS, methods=["POST"],
                             error_message=_signup_message)
    return attempts(created(view))
