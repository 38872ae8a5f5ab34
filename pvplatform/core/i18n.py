"""Locale and time zone selection, and conversions between the town's local time and UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, request, session
from flask_login import current_user

# The language chosen with the switch on this browser (core.set_language), kept across logins.
LANGUAGE_COOKIE = "pv_lang"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and background work: the site's language
        return current_app.config.get("BABEL_DEFAULT_LOCALE", languages[0])
    chosen = session.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    # French first: a browser that asks for neither language gets French.
    return request.accept_languages.best_match(languages) or languages[0]


def select_timezone() -> str:
    return current_app.config["PV_TIMEZONE"]


def town_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["PV_TIMEZONE"])


def local_to_utc(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A naive datetime typed in a form is the town's wall-clock time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def utc_to_local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(zone)
