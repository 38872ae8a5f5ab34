"""Flag thresholds: the contract's defaults (INDICATORS.md), which staff may change per process.

The one place that knows them: the defaults, what each means in plain words and its allowed
range, a process's own values (`thresholds_for`), and the audited change (`set_thresholds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.core.lookup import valid_id
from pvplatform.errors import NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.indicators.models import ProcessThreshold
from pvplatform.moderation.audit import record_audit
from pvplatform.processes.models import Process


@dataclass(frozen=True)
class Thresholds:
    # Representation: only dimensions with enough known external attendees, categories with
    # enough expected attendees (A * share), and a skew beyond chance (p below alpha).
    representation_min_attendees: int = 20
    representation_min_expected: float = 5.0
    under_representation_alert: float = 0.5
    under_representation_warning: float = 0.8
    over_representation_alert: float = 2.0
    over_representation_warning: float = 1.25
    no_show_min_registrations: int = 10
    no_show_warning: float = 0.30
    retention_min_attendees: int = 10
    retention_alert: float = 0.3
    retention_warning: float = 0.5
    voice_min_contributors: int = 10
    voice_top10_warning: float = 0.5
    official_min_contributions: int = 10
    official_share_warning: float = 0.5
    official_min_speaking_seconds: int = 600
    unanswered_alert_days: int = 90
    unanswered_warning_days: int = 30
    absent_association_sessions: int = 2
    # The evidence every statistical flag needs: a p-value below alpha.
    alpha: float = 0.05
    duality_min_n: int = 5
    duality_delta: float = 0.5
    eroding_delta: float = -0.5
    eroding_min_n: int = 5
    weak_below: float = 3.0
    weak_delta: float = -0.25
    weak_min_n: int = 5


DEFAULTS = Thresholds()




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
    ThresholdSpec("official_min_speaking_seconds",
                  _l("Official dominance: least speaking time (seconds)"), *_COUNT,
                  integer=True),
    ThresholdSpec("unanswered_alert_days", _l("Unanswered proposals: alert after (days)"),
                  *_DAYS, integer=True),
    ThresholdSpec("unanswered_warning_days", _l("Unanswered proposals: warning after (days)"),
                  *_DAYS, integer=True),
    ThresholdSpec("absent_association_sessions",
                  _l("Absent association: sessions in a row without a member"), 1, 1000,
                  integer=True),
    ThresholdSpec("alpha", _l("Evidence: a flag needs a p-value below"), 0.0001, 0.5),
    ThresholdSpec("duality_min_n", _l("Value duality: least people per group"), *_COUNT,
                  integer=True),
    ThresholdSpec("duality_delta", _l("Value duality: least change per group (points)"),
                  0.0, 4.0),
    ThresholdSpec("eroding_delta", _l("Value eroding: warning at or below change (points)"),
                  -4.0, 0.0),
    ThresholdSpec("eroding_min_n", _l("Value eroding: least people in the group"), *_COUNT,
                  integer=True),
    ThresholdSpec("weak_below", _l("Weak value: baseline mean below (1 to 5)"), 1.0, 5.0),
    ThresholdSpec("weak_delta", _l("Weak value weakened: alert at or below change (points)"),
                  -4.0, 0.0),
    ThresholdSpec("weak_min_n", _l("Weak value weakened: least people in the group"), *_COUNT,
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
