"""Stored flags: the lifecycle of each flag the engine raises, with its history.

`refresh_flags` keeps `FlagRecord` rows in step with what the engine computes:

- a flag the engine raises and that has no active record: a new record, event `raised` — or
  `reraised` when an earlier record of the same flag (code and keys) was cleared. A flag that
  comes back is a new record, not the old one reopened: each episode keeps its own dates and
  acknowledgement, and a cleared record stays as it was, readable with its events;
- an active record the engine still raises: value, message and `last_seen_at` follow the figures;
  a change of severity is an event (`severity_changed`); an escalation to alert drops the earlier
  acknowledgement (it acknowledged a warning) and warns staff again;
- an active record the engine no longer raises: `cleared_at` is set (event `cleared`).

Staff (users with the role staff or admin) get an in-app notification for every alert raised or
escalated, and an e-mail when mail is configured (sent after the commit).

Like every service, nothing here commits. Views check permissions; these functions trust them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import force_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import Role, User
from pvplatform.core.base_url import absolute_url
from pvplatform.core.lookup import valid_id
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.indicators.autorefresh import queue_mail
from pvplatform.indicators.flags import compute_flags
from pvplatform.indicators.messages import (
    Hidden,
    encode_params,
    flag_title,
    render_message,
)
from pvplatform.indicators.models import FlagEvent, FlagEventKind, FlagRecord
from pvplatform.indicators.rows import FlagRow, Severity
from pvplatform.indicators.thresholds import thresholds_for
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.services import N_, notify
from pvplatform.participation.labels import Term, ValueTerm
from pvplatform.processes.models import Process

log = logging.getLogger(__name__)

NOTE_MAX = 1000

# Stored untranslated (N_) and rendered in each reader's language.
ALERT_NOTIFICATIONS: dict[str, str] = {
    "under_representation": N_(
        'Alert in "%(process)s": category "%(category)s" of %(dimension)s is strongly '
        "under-represented among attendees."),
    "over_representation": N_(
        'Alert in "%(process)s": category "%(category)s" of %(dimension)s is strongly '
        "over-represented among attendees."),
    "stratum_not_reached": N_(
        'Alert in "%(process)s": no attendee belongs to category "%(category)s" of '
        "%(dimension)s."),
    "low_retention": N_('Alert in "%(process)s": most participants of the first session did '
                        "not come back."),
    "unanswered_proposals": N_('Alert in "%(process)s": proposals have waited for an answer '
                               "for a long time."),
    "value_duality": N_('Alert in "%(process)s": perceived "%(public_value)s" moved in opposite '
                        "directions for officials and residents."),
    "weak_value_weakened": N_('Alert in "%(process)s": perceived "%(public_value)s", already '
                              "weak, is getting weaker."),
}
GENERIC_ALERT = N_('Alert in "%(process)s": %(code)s.')


# ---------------------------------------------------------------- keys and messages


def flag_key(flag: FlagRow | FlagRecord) -> str:
    """The keys of a flag in one string: the same flag at two refreshes has the same key."""
    return json.dumps([flag.dimension or "", flag.category or "", str(flag.group or ""),
                       flag.public_value or "", flag.session_id, flag.association_id],
                      ensure_ascii=False, separators=(",", ":"))


def render_flag_message(record: FlagRecord, k: int | None = None,
                        hidden: Hidden | None = None) -> str:
    """The record's message in the reader's language, small counts of people hidden at k, and
    the figures of the rows `hidden` hides (every figure that repeats a row, without it)."""
    return render_message(record.message, record.message_plural, record.params or {}, k=k,
                          hidden=hidden)


# ---------------------------------------------------------------- stored flags


@dataclass
class RefreshResult:
    process_id: int
    raised: list[FlagRecord] = field(default_factory=list)
    cleared: list[FlagRecord] = field(default_factory=list)
    changed: list[FlagRecord] = field(default_factory=list)

    @property
    def alerts(self) -> list[FlagRecord]:
        """Records raised or escalated as alerts in this refresh (staff are told of these)."""
        escalated = [r for r in self.changed if r.severity == Severity.ALERT]
        return [r for r in self.raised if r.severity == Severity.ALERT] + escalated


def lock_for_refresh(process_id: int) -> None:
    """Serialises flag refreshes of one process (PostgreSQL; SQLite has one writer anyway).

    Two check-ins committed at the same moment would otherwise both compute without the
    other's row and both insert the same new flag. The lock is taken before computing, so the
    second refresh reads the first one's committed data. NO KEY UPDATE, not UPDATE: it must
    not wait on the key-share locks that inserting rows referencing the process takes."""
    db.session.execute(sa.select(Process.id).where(Process.id == process_id)
                       .with_for_update(key_share=True))


def compute_current_flags(process_id: int, now: datetime) -> list[FlagRow]:
    return compute_flags(process_id, now, thresholds_for(process_id))


def refresh_flags(process_id: int, *, now: datetime) -> RefreshResult:
    """Brings the process's stored flags in line with what the engine raises as of `now`."""
    lock_for_refresh(process_id)
    return sync_flags(process_id, compute_current_flags(process_id, now), now=now)


def _value(row: FlagRow) -> float | None:
    return float(row.value) if row.value is not None else None


def sync_flags(process_id: int, rows: list[FlagRow], *, now: datetime,
               hidden: Hidden | None = None) -> RefreshResult:
    """Stores the flags raised as of `now`; staff hear of new alerts, whose messages leave out
    the figures of the rows `hidden` hides (without it, those of a reading made for them: an
    alert is rare, a reading costs a computation)."""
    result = RefreshResult(process_id)
    active = {(r.code, r.key): r for r in db.session.scalars(
        sa.select(FlagRecord)
        .where(FlagRecord.process_id == process_id, FlagRecord.cleared_at.is_(None))
        .order_by(FlagRecord.id))}
    wanted: dict[tuple[str, str], FlagRow] = {}
    for row in rows:
        wanted.setdefault((row.code, flag_key(row)), row)

    new_keys = [k for k in wanted if k not in active]
    seen_before: set[tuple[str, str]] = set()
    if new_keys:
        seen_before = {(code, key) for code, key in db.session.execute(
            sa.select(FlagRecord.code, FlagRecord.key).where(
                FlagRecord.process_id == process_id, FlagRecord.cleared_at.is_not(None),
                FlagRecord.code.in_(sorted({code for code, _key in new_keys})),
                FlagRecord.key.in_(sorted({key for _code, key in new_keys}))))}

    for identity, row in wanted.items():
        message, plural = row.message.id, row.message.plural
        params = encode_params(row.message.params)
        record = active.get(identity)
        if record is None:
            record = FlagRecord(
                process_id=process_id, code=row.code, severity=row.severity,
                dimension=row.dimension or "", category=row.category or "",
                group=str(row.group or ""), public_value=row.public_value or "",
                session_id=row.session_id, association_id=row.association_id,
                key=identity[1], value=_value(row), p_value=row.p_value, message=message,
                message_plural=plural, params=params, first_raised_at=now, last_seen_at=now)
            kind = (FlagEventKind.RERAISED if identity in seen_before
                    else FlagEventKind.RAISED)
            record.events.append(FlagEvent(kind=kind, at=now, value=record.value,
                                           p_value=record.p_value, severity=row.severity))
            db.session.add(record)
            result.raised.append(record)
            continue
        record.value = _value(row)
        record.p_value = row.p_value
        record.message, record.message_plural, record.params = message, plural, params
        record.last_seen_at = now
        if record.severity != row.severity:
            record.events.append(FlagEvent(kind=FlagEventKind.SEVERITY_CHANGED, at=now,
                                           value=record.value, p_value=record.p_value,
                                           severity=row.severity))
            if row.severity == Severity.ALERT:
                # The acknowledgement was of a warning: an alert needs a fresh look.
                record.acknowledged_at = None
                record.acknowledged_by_id = None
                record.acknowledgement_note = None
            record.severity = row.severity
            result.changed.append(record)

    for identity, record in active.items():
        if identity in wanted:
            continue
        record.cleared_at = now
        record.events.append(FlagEvent(kind=FlagEventKind.CLEARED, at=now, value=record.value,
                                       p_value=record.p_value, severity=record.severity))
        result.cleared.append(record)

    if result.alerts:
        if hidden is None:
            hidden = _hidden_now(process_id, now)
        _tell_staff(process_id, result.alerts, hidden)
    return result


def _hidden_now(process_id: int, now: datetime) -> Hidden | None:
    """The rows a dashboard hides as of `now`, for the alerts' messages (None, hiding every
    figure that repeats a row, if that reading fails: an alert must still go out)."""
    from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs, reading_hidden
    from pvplatform.indicators.suppression import current_k

    try:
        return reading_hidden(gather_dashboard_inputs(process_id, now), current_k())
    except Exception:
        log.exception("no reading for the alerts of process %s", process_id)
        return None


def flags_path(process_id: int) -> str:
    # Built by hand: refreshes also run from the CLI and on commit, outside any request.
    return f"/manage/processes/{process_id}/flags"


def _tell_staff(process_id: int, alerts: list[FlagRecord], hidden: Hidden | None) -> None:
    process = db.session.get(Process, process_id)
    title = process.title if process is not None else str(process_id)
    staff = list(db.session.scalars(
        sa.select(User).where(User.role.in_([Role.STAFF, Role.ADMIN]), User.deleted_at.is_(None))
        .order_by(User.id)))
    if not staff:
        return
    link = flags_path(process_id)
    for record in alerts:
        message = ALERT_NOTIFICATIONS.get(record.code, GENERIC_ALERT)
        # The codes are stored; each reader reads the labels in their own language.
        dimension = (Term(process_id, record.dimension).to_json() if record.dimension
                     else record.dimension)
        category = (Term(process_id, record.dimension, record.category).to_json()
                    if record.dimension and record.category else record.category)
        value = (ValueTerm(process_id, record.public_value).to_json() if record.public_value
                 else record.public_value)
        params = {"process": title, "code": record.code, "dimension": dimension,
                  "category": category, "public_value": value}
        for user in staff:
            notify(user.id, "flag.alert", message, params=params, link=link)
    _queue_alert_mail(title, staff, alerts, link, hidden)


def _queue_alert_mail(title: str, staff: list[User], alerts: list[FlagRecord], link: str,
                      hidden: Hidden | None) -> None:
    if not has_app_context() or not current_app.config.get("MAIL_SERVER"):
        return
    default_locale = current_app.config.get("BABEL_DEFAULT_LOCALE", "fr")
    for user in staff:
        if not user.email:
            continue
        with force_locale(user.locale or default_locale):
            subject = ngettext("Alert in %(process)s: %(num)s new risk flag",
                               "Alert in %(process)s: %(num)s new risk flags", len(alerts),
                               process=title)
            parts = [f"{flag_title(r.code)}\n{render_flag_message(r, None, hidden)}"
                     for r in alerts]
            body = "\n\n".join(parts) + "\n\n" + gettext("See the flags: %(link)s",
                                                          link=absolute_url(link))
        queue_mail(db.session(), user.email, subject, body)


def _record(flag_id: int) -> FlagRecord:
    record = db.session.get(FlagRecord, flag_id) if valid_id(flag_id) else None
    if record is None:
        raise NotFound()
    return record


def acknowledge(flag_id: int, *, actor: Any, note: str, now: datetime) -> FlagRecord:
    """Staff say they have seen the flag and what they do about it (event + audit row)."""
    record = _record(flag_id)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(str(_l("Write a note: what you have seen or will do.")),
                               field="note")
    if len(note) > NOTE_MAX:
        raise ValidationFailed(str(_l("The note is too long (at most %(max)s characters).",
                                      max=NOTE_MAX)), field="note")
    if record.cleared_at is not None:
        raise InvalidState(str(_l("This flag has been cleared: there is nothing to acknowledge.")))
    actor_id = getattr(actor, "id", None)
    record.acknowledged_at = now
    record.acknowledged_by_id = actor_id
    record.acknowledgement_note = note
    record.events.append(FlagEvent(kind=FlagEventKind.ACKNOWLEDGED, at=now, value=record.value,
                                   p_value=record.p_value, severity=record.severity,
                                   actor_id=actor_id, note=note))
    record_audit(actor, "flag.acknowledge", "flag", record.id, process_id=record.process_id,
                 details={"code": record.code, "key": record.key,
                          "severity": str(record.severity), "note": note})
    return record


_SEVERITY_ORDER = sa.case((FlagRecord.severity == Severity.ALERT, 0), else_=1)


def active_flags(process_id: int) -> list[FlagRecord]:
    """The process's active flags: alerts first, then by code and keys."""
    return list(db.session.scalars(
        sa.select(FlagRecord)
        .where(FlagRecord.process_id == process_id, FlagRecord.cleared_at.is_(None))
        .options(selectinload(FlagRecord.acknowledged_by), selectinload(FlagRecord.meeting),
                 selectinload(FlagRecord.association))
        .order_by(_SEVERITY_ORDER, FlagRecord.code, FlagRecord.key, FlagRecord.id)))


def flag_history(process_id: int, *, include_cleared: bool = True) -> list[FlagRecord]:
    """Active flags first (alerts first), then cleared ones (most recently cleared first), each
    with its events loaded."""
    statement = (
        sa.select(FlagRecord)
        .where(FlagRecord.process_id == process_id)
        .options(selectinload(FlagRecord.events).selectinload(FlagEvent.actor),
                 selectinload(FlagRecord.acknowledged_by), selectinload(FlagRecord.meeting),
                 selectinload(FlagRecord.association))
        .order_by(sa.case((FlagRecord.cleared_at.is_(None), 0), else_=1),
                  _SEVERITY_ORDER, FlagRecord.cleared_at.desc(), FlagRecord.code,
                  FlagRecord.key, FlagRecord.id.desc())
    )
    if not include_cleared:
        statement = statement.where(FlagRecord.cleared_at.is_(None))
    return list(db.session.scalars(statement))
