"""Guards shared by the account views and the personal-data views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from pvplatform.auth import permissions
from pvplatform.auth.session_policy import fresh_login_required
from pvplatform.auth.throttle import password_check_limits

View = Callable[..., Any]


def sensitive_account_page(*, checks_password: bool) -> Callable[[View], View]:
    """A page that changes or hands out the visitor's own account: anonymous -> the login page;
    logged in but not recently -> confirm the password first; a form that checks the password
    again is throttled like a login (`checks_password`)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def own_account_only(*args: Any, **kwargs: Any) -> Any:
            if not permissions.is_authenticated(current_user):
                abort(403)
            return view(*args, **kwargs)

        guarded = fresh_login_required(own_account_only)
        if checks_password:
            guarded = password_check_limits(guarded)
        return login_required(guarded)

    return decorate
