"""The instant a page of figures is read at, one way everywhere (staff's dashboard, the
evaluator's workspace, the grants): read from the address (?as_of=, ISO 8601 with its offset),
from the "as of" picker (?at=, a wall-clock time of the display zone) and shown back in it.

Pure functions: the views pass the query arguments, `now` and the zone. The picker itself is the
macro of templates/macros/as_of.html, whose variables `picker_context` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from pvplatform.core.i18n import local_to_utc, utc_to_local
from pvplatform.errors import DomainError, ValidationFailed

AS_OF_MAX_LENGTH = 40
# The picker's value: a wall-clock time of the display time zone, as browsers send it.
PICKER_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
PICKER_MAX_LENGTH = 40
# Far-off years overflow time zone arithmetic, and no process runs outside this range.
FIRST_YEAR, LAST_YEAR = 2000, 2100
PICKER_FIELD = "at"  # the picker's query argument; ?as_of= is the address that names an instant
ADDRESS_FIELD = "as_of"


def parse_as_of(raw: str | None) -> datetime | None:
    """?as_of=ISO 8601 with an offset (2026-03-01T00:00:00+00:00 or ...Z); None when absent.
    A naive or unreadable instant is refused (422): a page of figures must not guess a time
    zone."""
    if raw is None or raw == "":
        return None
    message = _("Give the instant as an ISO 8601 date and time with its offset, for example "
                "2026-03-01T00:00:00+01:00.")
    if len(raw) > AS_OF_MAX_LENGTH:
        raise ValidationFailed(message, field=ADDRESS_FIELD)
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(message, field=ADDRESS_FIELD) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(message, field=ADDRESS_FIELD)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed(message, field=ADDRESS_FIELD) from None


def address_instant(raw: str | None) -> datetime | None:
    """?as_of= as `parse_as_of` reads it, but a malformed address is a bad request (400), not a
    refused form (the evaluator's workspace and its downloads answer so)."""
    try:
        return parse_as_of(raw)
    except ValidationFailed as error:
        raise DomainError(error.message, field=ADDRESS_FIELD) from None


def picker_instant(raw: str, zone: ZoneInfo) -> datetime:
    """The picker's date and time, read as the display zone's wall-clock time, in UTC."""
    message = _("Give the date and time as the picker offers them, for example "
                "2026-03-01T00:00 (time of the %(zone)s time zone).", zone=zone.key)
    value = None
    if len(raw) <= PICKER_MAX_LENGTH:
        for fmt in PICKER_FORMATS:
            try:
                value = datetime.strptime(raw.strip(), fmt).replace(tzinfo=zone)
                break
            except ValueError:
                continue
    if value is None:
        raise DomainError(message, field=PICKER_FIELD)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise DomainError(_("Choose a date between the years %(first)s and %(last)s.",
                            first=FIRST_YEAR, last=LAST_YEAR), field=PICKER_FIELD)
    return value.astimezone(UTC)


def picker_value(instant: datetime, zone: ZoneInfo) -> str:
    """The instant as the picker shows it (wall-clock time of the display zone)."""
    return utc_to_local(instant, zone).strftime("%Y-%m-%dT%H:%M")  # type: ignore[union-attr]


def as_of_argument(instant: datetime) -> str:
    return instant.isoformat()


def picked_arguments(args: Mapping[str, str], zone: ZoneInfo) -> dict[str, str] | None:
    """When the picker was submitted (?at=), the query arguments of the address to redirect to:
    ?as_of= names the instant whatever the reader's time zone, and an emptied picker goes back
    to now ({}). None when the picker was not submitted."""
    if PICKER_FIELD not in args:
        return None
    raw = args.get(PICKER_FIELD) or ""
    if not raw.strip():
        return {}
    return {ADDRESS_FIELD: as_of_argument(picker_instant(raw, zone))}


def picker_context(as_of: datetime, live: bool, zone: ZoneInfo) -> dict[str, Any]:
    """What the "as of" picker macro reads: the instant the figures describe, whether it is the
    present, and the picker's value and zone."""
    return {"as_of": as_of, "as_of_arg": as_of_argument(as_of), "live": live,
            "picker_value": picker_value(as_of, zone), "zone": zone.key}


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """A grant "until" a date ends when that day ends in the display time zone, in UTC."""
    return local_to_utc(datetime.combine(day + timedelta(days=1), time()), zone)  # type: ignore[return-value]
