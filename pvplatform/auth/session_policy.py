"""Login sessions: how they start, how long they live, and when they count as fresh.

- Idle limit: the session cookie is permanent with PERMANENT_SESSION_LIFETIME (30 minutes) and is
  re-signed on every request; Flask refuses a cookie whose signature is older than that.
- Absolute limit: the login instant travels inside the signed user identifier (session and
  remember-me cookie alike) and the user loader refuses it after 12 hours.
- Fresh login: sensitive actions need a password typed in this session within FRESH_FOR, as
  Flask-Login's `fresh_login_required` would, but also bounded in time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_fresh, login_user, user_loaded_from_cookie

from pvplatform.auth import services
from pvplatform.auth.models import User
from pvplatform.db import utcnow

FRESH_FOR = timedelta(minutes=10)
AUTH_AT_KEY = "pv_auth_at"
# Flask-Login keeps the identifier the user loader receives under this key, and writes that same
# value into the remember-me cookie when the response goes out.
USER_ID_KEY = "_user_id"


def start_session(user: User, *, remember: bool = False, now: datetime | None = None) -> None:
    """A new session for a person who just proved who they are (password or reset link)."""
    now = now or utcnow()
    # Nothing set before authentication survives it (session fixation).
    session.clear()
    login_user(user, remember=remember)
    session[USER_ID_KEY] = services.session_identifier(user, now)
    session[AUTH_AT_KEY] = int(now.timestamp())
    session.permanent = True


def mark_fresh(now: datetime | None = None) -> None:
    now = now or utcnow()
    session[AUTH_AT_KEY] = int(now.timestamp())
    session["_fresh"] = True


def is_fresh(now: datetime | None = None) -> bool:
    if not current_user.is_authenticated or not login_fresh():
        return False
    stamp = session.get(AUTH_AT_KEY)
    if not isinstance(stamp, int):
        return False
    now = now or utcnow()
    authenticated_at = datetime.fromtimestamp(stamp, UTC)
    return authenticated_at <= now + timedelta(minutes=1) and now - authenticated_at <= FRESH_FOR


def _back_to() -> str:
    # After a POST the form is lost anyway: come back to the page that showed it.
    if request.method == "GET":
        return request.full_path.rstrip("?")
    return request.path


def fresh_login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Anonymous -> the login page; logged in but not recently -> confirm the password first."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if not is_fresh():
            flash(_("For your security, please confirm your password to continue."), "info")
            return redirect(url_for("auth.reauth", next=_back_to()))
        return view(*args, **kwargs)

    return wrapped


def load_user(payload: str) -> User | None:
    return services.load_user(payload, now=utcnow())


def _restored_from_cookie(sender: Any, user: User) -> None:  # noqa: ARG001
    # A session rebuilt from the remember-me cookie gets the same idle limit as any other; it is
    # not fresh (no password was typed in it).
    session.permanent = True


user_loaded_from_cookie.connect(_restored_from_cookie)
