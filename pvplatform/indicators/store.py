"""Stored flags and per-process thresholds: the services of the indicator feature.

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
import math
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import force_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import Role, User
from pvplatform.core.lookup import valid_id
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.indicators.autorefresh import queue_mail
from pvplatform.indicators.flags import compute_flags
from pvplatform.indicators.models import FlagEvent, FlagEventKind, FlagRecord, ProcessThreshold
from pvplatform.indicators.rows import FlagRow, Severity
from pvplatform.indicators.thresholds import DEFAULTS, Thresholds
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.services import N_, notify
from pvplatform.processes.models import Process

log = logging.getLogger(__name__)

NOTE_MAX = 1000

FLAG_TITLES: dict[str, Any] = {
    "under_representation": _l("Under-represented category"),
    "over_representation": _l("Over-represented category"),
    "stratum_not_reached": _l("Category not reached"),
    "high_no_show": _l("Many registered people did not come"),
    "low_retention": _l("Participants do not come back"),
    "voice_concentration": _l("A few voices dominate"),
    "official_dominance": _l("Officials dominate the contributions"),
    "unanswered_proposals": _l("Proposals without an answer"),
    "unreasoned_rejection": _l("Rejections without reasons"),
    "absent_invited_association": _l("Invited association absent"),
    "value_duality": _l("Public value perceived in opposite ways"),
    "value_eroding": _l("Public value eroding"),
}

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
}
GENERIC_ALERT = N_('Alert in "%(process)s": %(code)s.')


def flag_title(code: str) -> str:
    """A short human title for a flag code, in the reader's language."""
    title = FLAG_TITLES.get(code)
    return str(title) if title is not None else code


# ---------------------------------------------------------------- keys and messages


def flag_key(flag: FlagRow | FlagRecord) -> str:
    """The keys of a flag in one string: the same flag at two refreshes has the same key."""
    return json.dumps([flag.dimension or "", flag.category or "", str(flag.group or ""),
                       flag.public_value or "", flag.session_id, flag.association_id],
                      ensure_ascii=False, separators=(",", ":"))


_LAZY = "_msgid"


def _jsonable(value: Any) -> Any:
    if isinstance(value, LazyString):
        if len(value._args) == 1 and not value._kwargs:
            # A translatable word inside the message (a group's label): kept as a message id.
            return {_LAZY: str(value._args[0])}
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def message_parts(message: Any) -> tuple[str, str | None, dict[str, Any]]:
    """(message id, plural message id or None, parameters) of an engine's lazy message."""
    if isinstance(message, LazyString):
        args, kwargs = message._args, dict(message._kwargs)
        params = {key: _jsonable(value) for key, value in kwargs.items()}
        if len(args) == 3:  # lazy_ngettext(singular, plural, num, **variables)
            params["num"] = _jsonable(args[2])
            return str(args[0]), str(args[1]), params
        if len(args) == 1:
            return str(args[0]), None, params
    return str(message), None, {}


def render_message(message: str, plural: str | None, params: dict[str, Any]) -> str:
    """A stored message in the reader's language; a catalogue entry with wrong placeholders
    must not break the page: the untranslated text is shown instead."""
    values = {
        key: gettext(value[_LAZY]) if isinstance(value, dict) and _LAZY in value else value
        for key, value in (params or {}).items()
    }
    try:
        if plural is not None:
            num = values.pop("num", 0)
            return ngettext(message, plural, num, **values)
        return gettext(message, **values) if values else gettext(message)
    except (KeyError, TypeError, ValueError):
        try:
            if plural is not None:
                chosen = message if values.get("num", 0) == 1 else plural
                return chosen % values
            return message % values if values else message
        except (KeyError, TypeError, ValueError):
            return message


def render_flag_message(record: FlagRecord) -> str:
    return render_message(record.message, record.message_plural, record.params or {})


# ---------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class ThresholdSpec:
    name: str
    label: Any
    minimum: float
    maximum: float
    integer: bool = False

    @property
    def default(self) -> int | float:
        return getattr(DEFAULTS, self.name)


_SHARE = (0.0, 1.0)
_RATIO = (0.0, 10.0)
_COUNT = (0, 1_000_000)
_DAYS = (0, 3650)

THRESHOLD_SPECS: tuple[ThresholdSpec, ...] = (
    ThresholdSpec("representation_min_attendees",
                  _l("Representation: least known external attendees in a dimension"),
                  *_COUNT, integer=True),
    ThresholdSpec("representation_min_expected",
                  _l("Representation: least expected attendees in a category"), 0.0, 1_000_000.0),
    ThresholdSpec("under_representation_alert", _l("Under-representation: alert below ratio"),
                  *_RATIO),
    ThresholdSpec("under_representation_warning",
                  _l("Under-representation: warning below ratio"), *_RATIO),
    ThresholdSpec("over_representation_alert", _l("Over-representation: alert above ratio"),
                  *_RATIO),
    ThresholdSpec("over_representation_warning", _l("Over-representation: warning above ratio"),
                  *_RATIO),
    ThresholdSpec("no_show_min_registrations", _l("No-shows: least live registrations"),
                  *_COUNT, integer=True),
    ThresholdSpec("no_show_warning", _l("No-shows: warning above rate"), *_SHARE),
    ThresholdSpec("retention_min_attendees", _l("Retention: least attendees at the first session"),
                  *_COUNT, integer=True),
    ThresholdSpec("retention_alert", _l("Retention: alert below"), *_SHARE),
    ThresholdSpec("retention_warning", _l("Retention: warning below"), *_SHARE),
    ThresholdSpec("voice_min_contributors", _l("Voice concentration: least contributors"),
                  *_COUNT, integer=True),
    ThresholdSpec("voice_top10_warning",
                  _l("Voice concentration: warning above the share of the most active tenth"),
                  *_SHARE),
    ThresholdSpec("official_min_contributions", _l("Official dominance: least contributions"),
                  *_COUNT, integer=True),
    ThresholdSpec("official_share_warning", _l("Official dominance: warning above internal share"),
                  *_SHARE),
    ThresholdSpec("unanswered_alert_days", _l("Unanswered proposals: alert after (days)"),
                  *_DAYS, integer=True),
    ThresholdSpec("unanswered_warning_days", _l("Unanswered proposals: warning after (days)"),
                  *_DAYS, integer=True),
    ThresholdSpec("absent_association_sessions",
                  _l("Absent association: sessions in a row without a member"), 1, 1000,
                  integer=True),
    ThresholdSpec("duality_min_n", _l("Value duality: least people per group"), *_COUNT,
                  integer=True),
    ThresholdSpec("duality_min_delta", _l("Value duality: least change per group (points)"),
                  0.0, 4.0),
    ThresholdSpec("eroding_delta", _l("Value eroding: warning at or below change (points)"),
                  -4.0, 0.0),
    ThresholdSpec("eroding_min_n", _l("Value eroding: least people in the group"), *_COUNT,
                  integer=True),
)
SPECS_BY_NAME = {spec.name: spec for spec in THRESHOLD_SPECS}
assert set(SPECS_BY_NAME) == {f.name for f in fields(Thresholds)}, "one spec per threshold"

# (lower, upper): lower must stay strictly below upper, so that the bands stay ordered.
ORDERED_PAIRS: tuple[tuple[str, str], ...] = (
    ("under_representation_alert", "under_representation_warning"),
    ("under_representation_warning", "over_representation_warning"),
    ("over_representation_warning", "over_representation_alert"),
    ("retention_alert", "retention_warning"),
    ("unanswered_warning_days", "unanswered_alert_days"),
)


class ThresholdsInvalid(ValidationFailed):
    """Refused thresholds, with one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors.values()))
        super().__init__(first, field=next(iter(errors)))
        self.errors = errors


def _process(process_id: int) -> Process:
    process = db.session.get(Process, process_id) if valid_id(process_id) else None
    if process is None:
        raise NotFound()
    return process


def thresholds_for(process_id: int) -> Thresholds:
    """The process's thresholds: its own values where staff set them, else the defaults."""
    rows = db.session.execute(
        sa.select(ProcessThreshold.name, ProcessThreshold.value)
        .where(ProcessThreshold.process_id == process_id)
        .order_by(ProcessThreshold.name)
    ).all()
    own: dict[str, int | float] = {}
    for name, value in rows:
        spec = SPECS_BY_NAME.get(name)
        if spec is None or value is None:
            continue  # a threshold that no longer exists
        own[name] = int(value) if spec.integer else float(value)
    return replace(DEFAULTS, **own) if own else DEFAULTS


def _parse(spec: ThresholdSpec, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise ValueError(str(_l("Enter a number.")))
    if isinstance(raw, str):
        text = raw.strip().replace(",", ".")  # a French decimal comma is a decimal point
        if not text:
            raise ValueError(str(_l("This field is required.")))
        try:
            number = float(text)
        except ValueError:
            raise ValueError(str(_l("Enter a number."))) from None
    elif isinstance(raw, int | float):
        number = float(raw)
    else:
        raise ValueError(str(_l("Enter a number.")))
    if not math.isfinite(number):
        raise ValueError(str(_l("Enter a number.")))
    if spec.integer and not number.is_integer():
        raise ValueError(str(_l("Enter a whole number.")))
    if not spec.minimum <= number <= spec.maximum:
        raise ValueError(str(_l("Enter a value between %(min)s and %(max)s.",
                                min=_plain(spec.minimum, spec.integer),
                                max=_plain(spec.maximum, spec.integer))))
    return int(number) if spec.integer else number


def _plain(value: float, integer: bool) -> str:
    return str(int(value)) if integer else f"{value:g}"


def set_thresholds(process_id: int, values: dict[str, Any], *, actor: Any,
                   now: datetime) -> Thresholds:  # noqa: ARG001 - the audit row is dated by the DB
    """Sets some of the process's thresholds (None: back to the default); all or nothing.

    Raises ThresholdsInvalid (422) with a message per field for an unknown name, a value that
    is not a number (or not a whole number for a count), out of range, or bands out of order."""
    _process(process_id)
    current = thresholds_for(process_id)
    errors: dict[str, str] = {}
    parsed: dict[str, int | float] = {}
    for name, raw in values.items():
        spec = SPECS_BY_NAME.get(name)
        if spec is None:
            errors[str(name)] = str(_l("Unknown threshold."))
            continue
        if raw is None:
            parsed[name] = spec.default
            continue
        try:
            parsed[name] = _parse(spec, raw)
        except ValueError as error:
            errors[name] = str(error)
    if errors:
        raise ThresholdsInvalid(errors)
    merged = replace(current, **parsed)
    for lower, upper in ORDERED_PAIRS:
        if not getattr(merged, lower) < getattr(merged, upper):
            errors[upper] = str(_l("Must be greater than %(other)s (%(value)s).",
                                   other=SPECS_BY_NAME[lower].label,
                                   value=getattr(merged, lower)))
    if errors:
        raise ThresholdsInvalid(errors)

    changed = {name for name in parsed if getattr(current, name) != getattr(merged, name)}
    if not changed:
        return merged
    stored = {row.name: row for row in db.session.scalars(
        sa.select(ProcessThreshold).where(ProcessThreshold.process_id == process_id,
                                          ProcessThreshold.name.in_(sorted(changed))))}
    for name in sorted(changed):
        value = getattr(merged, name)
        row = stored.get(name)
        if value == SPECS_BY_NAME[name].default:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(ProcessThreshold(process_id=process_id, name=name, value=value))
        else:
            row.value = value
    record_audit(actor, "thresholds.update", "process", process_id, process_id=process_id,
                 details={"from": {n: getattr(current, n) for n in sorted(changed)},
                          "to": {n: getattr(merged, n) for n in sorted(changed)}})
    return merged


def reset_thresholds(process_id: int, *, actor: Any, now: datetime) -> Thresholds:
    """Every threshold of the process back to the contract's default (audited)."""
    return set_thresholds(process_id, {spec.name: None for spec in THRESHOLD_SPECS},
                          actor=actor, now=now)


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


def sync_flags(process_id: int, rows: list[FlagRow], *, now: datetime) -> RefreshResult:
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
        message, plural, params = message_parts(row.message)
        record = active.get(identity)
        if record is None:
            record = FlagRecord(
                process_id=process_id, code=row.code, severity=row.severity,
                dimension=row.dimension or "", category=row.category or "",
                group=str(row.group or ""), public_value=row.public_value or "",
                session_id=row.session_id, association_id=row.association_id,
                key=identity[1], value=_value(row), message=message, message_plural=plural,
                params=params, first_raised_at=now, last_seen_at=now)
            kind = (FlagEventKind.RERAISED if identity in seen_before
                    else FlagEventKind.RAISED)
            record.events.append(FlagEvent(kind=kind, at=now, value=record.value,
                                           severity=row.severity))
            db.session.add(record)
            result.raised.append(record)
            continue
        record.value = _value(row)
        record.message, record.message_plural, record.params = message, plural, params
        record.last_seen_at = now
        if record.severity != row.severity:
            record.events.append(FlagEvent(kind=FlagEventKind.SEVERITY_CHANGED, at=now,
                                           value=record.value, severity=row.severity))
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
                                       severity=record.severity))
        result.cleared.append(record)

    if result.alerts:
        _tell_staff(process_id, result.alerts)
    return result


def flags_path(process_id: int) -> str:
    # Built by hand: refreshes also run from the CLI and on commit, outside any request.
    return f"/manage/processes/{process_id}/flags"


def _tell_staff(process_id: int, alerts: list[FlagRecord]) -> None:
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
        params = {"process": title, "code": record.code, "dimension": record.dimension,
                  "category": record.category, "public_value": record.public_value}
        for user in staff:
            notify(user.id, "flag.alert", message, params=params, link=link)
    _queue_alert_mail(title, staff, alerts, link)


def _queue_alert_mail(title: str, staff: list[User], alerts: list[FlagRecord], link: str) -> None:
    if not has_app_context() or not current_app.config.get("MAIL_SERVER"):
        return
    base = str(current_app.config.get("PV_BASE_URL", "") or "").rstrip("/")
    default_locale = current_app.config.get("BABEL_DEFAULT_LOCALE", "fr")
    for user in staff:
        if not user.email:
            continue
        with force_locale(user.locale or default_locale):
            subject = ngettext("Alert in %(process)s: %(num)s new risk flag",
                               "Alert in %(process)s: %(num)s new risk flags", len(alerts),
                               process=title)
            parts = [f"{flag_title(r.code)}\n{render_flag_message(r)}" for r in alerts]
            body = "\n\n".join(parts) + "\n\n" + gettext("See the flags: %(link)s",
                                                          link=base + link)
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
                                   severity=record.severity, actor_id=actor_id, note=note))
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
