"""Template globals: permission predicates, the town's time zone, unread notifications."""

from __future__ import annotations

from flask import Flask
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user

from pvplatform.auth import permissions


class _Can:
    """`can.vote(proposal)` in templates calls `permissions.can_vote(current_user, proposal)`."""

    def __getattr__(self, name: str):
        predicate = permissions.TEMPLATE_PREDICATES.get(f"can_{name}") or \
            permissions.TEMPLATE_PREDICATES.get(f"is_{name}")
        if predicate is None:
            raise AttributeError(name)
        return lambda *args, **kwargs: predicate(current_user, *args, **kwargs)


def init_templating(app: Flask) -> None:
    app.jinja_env.globals["can"] = _Can()
    app.jinja_env.filters["datetime"] = lambda v, fmt="medium": format_datetime(v, fmt) if v else ""
    app.jinja_env.filters["date"] = lambda v, fmt="medium": format_date(v, fmt) if v else ""

    @app.context_processor
    def inject_globals() -> dict:
        from pvplatform.notifications.services import unread_count

        unread = 0
        if current_user and current_user.is_authenticated:
            unread = unread_count(current_user.id)
        return {"unread_notifications": unread, "current_locale": str(get_locale())}
