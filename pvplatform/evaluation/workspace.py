"""What the evaluator's workspace and the admin's grants and export audit pages read: who may open
the workspace, the instant asked for, the processes granted, the grants and the export audit in
plain words. No request context here: views pass the query arguments, `now` and the zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Role
from pvplatform.core.i18n import local_to_utc, utc_to_local
from pvplatform.errors import DomainError, ValidationFailed
from pvplatform.evaluation.grants import active_clause, readable_processes
from pvplatform.evaluation.models import EvaluatorGrant, GrantScope
from pvplatform.extensions import db
from pvplatform.indicators.dashboard_views import parse_as_of
from pvplatform.processes.models import Process

SCOPE_LABELS = {
    GrantScope.READ: _l("Read access to the figures"),
    GrantScope.MICRODATA: _l("Pseudonymised microdata (data-sharing agreement)"),
}
# The picker's value: a wall-clock time of the display time zone, as browsers send it.
PICKER_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
PICKER_MAX_LENGTH = 40
# Far-off years overflow time zone arithmetic, and no process runs outside this range.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def label(labels: Mapping[Any, Any], code: Any) -> str:
    return str(labels.get(code, code))


# ---------------------------------------------------------------- the instant asked for

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
        raise DomainError(message, field="at")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise DomainError(_("Choose a date between the years %(first)s and %(last)s.",
                            first=FIRST_YEAR, last=LAST_YEAR), field="at")
    return value.astimezone(UTC)


def address_instant(raw: str | None) -> datetime | None:
    """?as_of= as the dashboard reads it (ISO 8601 with its offset); a malformed address is a
    bad request (400), not a refused form."""
    try:
        return parse_as_of(raw)
    except ValidationFailed as error:
        raise DomainError(error.message, field="as_of") from None


def picker_value(instant: datetime, zone: ZoneInfo) -> str:
    """The instant as the picker shows it (wall-clock time of the display zone)."""
    return utc_to_local(instant, zone).strftime("%Y-%m-%dT%H:%M")  # type: ignore[union-attr]


def as_of_argument(instant: datetime) -> str:
    return instant.isoformat()


# ---------------------------------------------------------------- the evaluator's processes

@dataclass(frozen=True)
class WorkspaceEntry:
    process: Process
    read: EvaluatorGrant | None  # None for an admin, who reads every process
    microdata: EvaluatorGrant | None  # the data-sharing agreement in force, if any


def _grants_in_force(user: Any, now: datetime) -> dict[tuple[int, GrantScope], EvaluatorGrant]:
    rows = db.session.scalars(
        sa.select(EvaluatorGrant)
        .where(EvaluatorGrant.user_id == user.id, active_clause(now))
        .order_by(EvaluatorGrant.granted_at, EvaluatorGrant.id))
    # Oldest first: the newest grant of a scope wins.
    return {(row.process_id, row.scope): row for row in rows}


def workspace_entries(user: Any, now: datetime) -> list[WorkspaceEntry]:
    processes = readable_processes(user, now)
    if not processes or getattr(user, "role", None) != Role.EVALUATOR:
        return [WorkspaceEntry(p, None, None) for p in processes]
    grants = _grants_in_force(user, now)
    return [WorkspaceEntry(p, grants.get((p.id, GrantScope.READ)),
                           grants.get((p.id, GrantScope.MICRODATA))) for p in processes]


# ---------------------------------------------------------------- grants (admin)

IN_FORCE, EXPIRED, REVOKED = "in-force", "expired", "revoked"
STATUS_LABELS = {IN_FORCE: _l("In force"), EXPIRED: _l("Expired"), REVOKED: _l("Revoked")}


def grant_status(row: EvaluatorGrant, now: datetime) -> str:
    if row.revoked_at is not None:
        return REVOKED
    return IN_FORCE if row.is_active(now) else EXPIRED


def process_titles() -> dict[int, str]:
    return dict(db.session.execute(
        sa.select(Process.id, Process.title).order_by(Process.id.desc())).all())


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """A grant "until" a date ends when that day ends in the display time zone, in UTC."""
    return local_to_utc(datetime.combine(day + timedelta(days=1), time()), zone)  # type: ignore[return-value]
