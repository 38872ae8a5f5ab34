"""Template globals: permission predicates, the town's time zone, unread notifications."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from babel.dates import get_datetime_format
from flask import Flask, request, url_for
from flask_babel import format_date, format_datetime, format_time, get_locale
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


def _datetime(value: datetime | None, fmt: str = "medium") -> str:
    if not value:
        return ""
    if fmt != "medium":
        return format_datetime(value, fmt)
    # "4 déc. 2026, 18:00": the medium date with the short time, joined the locale's way (as
    # Babel joins them); the seconds of the medium time tell a resident nothing.
    pattern = get_datetime_format("medium", locale=get_locale()).replace("'", "")
    return pattern.replace("{0}", format_time(value, "short")).replace(
        "{1}", format_date(value, "medium"))


def language_next() -> str:
    """Where the language switch brings the person back: this page; or, for a page answered to
    a form (a refused comment, check-in...), the page the form was sent from, since the URL of
    such a page may take POST only and would answer 405 to the switch's redirect."""
    if request.method in ("GET", "HEAD"):
        return request.full_path if request.query_string else request.path
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("processes.home")


def init_templating(app: Flask) -> None:
    app.jinja_env.globals["can"] = _Can()
    app.jinja_env.globals["language_next"] = language_next
    app.jinja_env.filters["datetime"] = _datetime
    app.jinja_env.filters["date"] = lambda v, fmt="medium": format_date(v, fmt) if v else ""

    @app.context_processor
    def inject_globals() -> dict:
        from pvplatform.notifications.services import unread_count

        unread = 0
        if current_user and current_user.is_authenticated:
            unread = unread_count(current_user.id)
        return {"unread_notifications": unread, "current_locale": str(get_locale())}
