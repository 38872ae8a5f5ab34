"""The aggregated tables that leave the platform: indicators, flags, the ledger's absence
reasons and the sessions, suppressed at k.

Every figure comes from the engine (`compute_indicators_and_flags`) or the ledger's service
(`reason_summary`); nothing is recomputed here. Suppression goes through the one rule
(`indicators.suppression.suppress`): a row resting on 1..k-1 people is emptied, and within a set
of rows adding up to a reported total a second one is emptied so that no hidden cell comes back
by subtraction; rows whose value gives a hidden count back (a p-value, a dissimilarity, the
shares behind a sign test) go with it. A flag's value, p-value and message go when a row it
rests on is hidden: its message would state the hidden figures.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale, gettext

from pvplatform.auth.models import Association
from pvplatform.errors import NotFound
from pvplatform.evaluation.codebook import family_of
from pvplatform.extensions import db
from pvplatform.indicators.engine import check_instant
from pvplatform.indicators.flags import compute_indicators_and_flags
from pvplatform.indicators.messages import flag_title
from pvplatform.indicators.present import FLAG_KEYS, INDICATOR_KEYS, indicator_records
from pvplatform.indicators.suppression import MIN_K, get_field, is_small, suppress
from pvplatform.indicators.thresholds import thresholds_for
from pvplatform.ledger.models import AbsenceReason
from pvplatform.ledger.services import reason_summary
from pvplatform.participation.labels import NO_LABELS, ProcessLabels, labels_of
from pvplatform.processes.models import Process
from pvplatform.sessions.models import Meeting

TABLE_NAMES = ("indicators", "flags", "ledger", "sessions")

INDICATOR_COLUMNS = (*INDICATOR_KEYS, "suppressed", "family")
FLAG_COLUMNS = (*FLAG_KEYS, "suppressed")
LEDGER_COLUMNS = ("code", "dimension", "category", "reason", "session_id", "n", "suppressed")
SESSION_COLUMNS = ("id", "title", "format", "starts_at")

# Table Schema types of the columns (string when not listed).
TYPES = {
    "value": "number", "n": "integer", "p_value": "number", "suppressed": "boolean",
    "starts_at": "datetime",
}


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def type_of(self, column: str) -> str:
        return TYPES.get(column, "string")


@dataclass
class AggregateExport:
    process_id: int
    process_title: str
    as_of: datetime
    k: int
    locale: str
    tables: list[Table]
    labels: ProcessLabels = NO_LABELS  # the process's dimensions and categories in words

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


# ---------------------------------------------------------------- indicators


def _row_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record.get(k) or "" for k in INDICATOR_KEYS[:6])


# Rows whose value gives back the n of another row (the one they derive from) are hidden with
# it: the p-value of a category's count, a dimension's dissimilarity (with the shown ratios it
# makes a second equation for two hidden counts), and the improved and worsened shares, whose
# sum times n is the sign test's hidden m. (source code, derived codes, keys that must match)
DERIVED = (
    ("representation_ratio", ("representation_p",), ("dimension", "category")),
    ("representation_ratio", ("dissimilarity", "strata_not_reached"), ("dimension",)),
    ("active_representation_ratio", ("active_dissimilarity",), ("dimension",)),
    ("perception_sign_p", ("perception_improved_share", "perception_worsened_share"),
     ("group", "public_value")),
)


def _derived_hidden(rows: list[dict[str, Any]]) -> set[int]:
    """Indexes of the rows to hide because a row they derive from is hidden."""
    out: set[int] = set()
    for source, derived, keys in DERIVED:
        hidden_keys = {tuple(r[k] for k in keys) for r in rows
                       if r["code"] == source and r["suppressed"]}
        for i, r in enumerate(rows):
            if r["code"] in derived and not r["suppressed"] and (
                    tuple(r[k] for k in keys) in hidden_keys):
                out.add(i)
    return out


def _indicator_table(records: list[dict[str, Any]], k: int) -> tuple[Table, dict[tuple, bool]]:
    """The rows with `suppressed`, and which keys are hidden (for the flags resting on them)."""
    rows = []
    for cell in suppress(records, k):
        record = dict(cell.row)
        record["value"], record["n"] = cell.value, cell.n
        record["suppressed"] = cell.suppressed
        family = family_of(record["code"])
        record["family"] = str(family) if family else ""
        rows.append(record)
    for i in _derived_hidden(rows):
        rows[i].update(value=None, n=None, suppressed=True)
    hidden = {_row_key(r): r["suppressed"] for r in rows}
    return Table("indicators", INDICATOR_COLUMNS, rows), hidden


# ---------------------------------------------------------------- flags


def _key(code: str, *, dimension: str = "", category: str = "", group: str = "",
         public_value: str = "", session_id: str = "") -> tuple[str, ...]:
    return (code, dimension, category, group, public_value, session_id)


def _resting_rows(flag: dict[str, Any]) -> list[tuple[str, ...]] | None:
    """The indicator rows a flag's figures rest on; None for a flag that rests on no count of
    people (an association's absences are counted in sessions)."""
    code = flag["code"]
    dim, cat = flag["dimension"] or "", flag["category"] or ""
    group, value = flag["group"] or "", flag["public_value"] or ""
    if code in ("under_representation", "over_representation", "stratum_not_reached"):
        return [_key("representation_ratio", dimension=dim, category=cat),
                _key("representation_p", dimension=dim, category=cat)]
    if code == "high_no_show":
        return [_key("no_show_rate", session_id=flag["session_id"] or "")]
    if code == "low_retention":
        return [_key("retention")]
    if code == "voice_concentration":
        return [_key("top10_share")]
    if code == "official_dominance":
        if group:
            return [_key("speaking_time_share", group=group)]
        return [_key("internal_voice_share")]
    if code == "unanswered_proposals":
        return [_key("oldest_unanswered_days")]
    if code == "unreasoned_rejection":
        return [_key("reasoned_rejection_rate")]
    if code == "absent_invited_association":
        return None
    if code == "value_duality":
        return [_key(c, group=g, public_value=value)
                for g in ("internal", "external")
                for c in ("perception_delta", "perception_sign_p")]
    if code == "value_eroding":
        return [_key(c, group=group, public_value=value)
                for c in ("perception_delta", "perception_sign_p")]
    if code == "weak_value_weakened":
        return [_key(c, group=group, public_value=value)
                for c in ("perception_baseline", "perception_delta", "perception_sign_p")]
    return [("unknown flag",)]  # a flag this module does not know: hidden, to be safe


# Flags whose value is itself a count (of proposals): hidden when small, like any count.
COUNT_FLAGS = frozenset({"unanswered_proposals", "unreasoned_rejection"})


def _flag_hidden(flag: dict[str, Any], hidden: dict[tuple[Any, ...], bool], k: int) -> bool:
    if flag["code"] in COUNT_FLAGS and isinstance(flag["value"], int) and is_small(
            flag["value"], k):
        return True
    keys = _resting_rows(flag)
    if keys is None:
        return False
    # A row that is missing is treated as hidden: when unsure, suppress.
    return any(hidden.get(key, True) for key in keys)


def suppressed_message(code: str, k: int) -> str:
    """What a hidden flag says instead of its message, which would state the hidden figures."""
    return gettext("%(title)s. The details are not shown: they would reveal a count smaller "
                   "than %(k)s.", title=flag_title(code), k=k)


def _flag_record(flag: Any, sessions: dict[int, str], associations: dict[int, str]
                 ) -> dict[str, Any]:
    """A flag as present.flag_records writes it (package ids), message still to render."""
    def ref(refs: dict[int, str], value: int | None) -> str:
        return "" if value is None else refs.get(value, str(value))

    return {
        "code": flag.code, "severity": str(flag.severity), "dimension": flag.dimension,
        "category": flag.category, "group": str(flag.group), "public_value": flag.public_value,
        "session_id": ref(sessions, flag.session_id),
        "association_id": ref(associations, flag.association_id),
        "value": flag.value, "p_value": flag.p_value, "message": "",
    }


def _association_refs(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {i: ref or str(i) for i, ref in db.session.execute(
        sa.select(Association.id, Association.external_ref).where(Association.id.in_(wanted)))}


def _flag_table(flags: list[Any], hidden: dict[tuple[Any, ...], bool], k: int,
                sessions: dict[int, str]) -> Table:
    associations = _association_refs(f.association_id for f in flags)
    rows = []
    for flag in flags:
        record = _flag_record(flag, sessions, associations)
        suppressed = _flag_hidden(record, hidden, k)
        if suppressed:
            record["value"] = record["p_value"] = None
            record["message"] = suppressed_message(flag.code, k)
        else:
            record["message"] = flag.message.render(k)
        record["suppressed"] = suppressed
        rows.append(record)
    rows.sort(key=lambda d: tuple(d[c] or "" for c in FLAG_KEYS[:8] if c != "severity"))
    return Table("flags", FLAG_COLUMNS, rows)


# ---------------------------------------------------------------- ledger


def _ledger_partition(row: Any) -> Hashable | None:
    """Rows adding up to a reported total: the sessions of one code, the categories of one
    dimension (unknown included), the reasons."""
    code = get_field(row, "code")
    if get_field(row, "session_id"):
        return (code, "by-session")
    if get_field(row, "category"):
        return (code, "dimension", get_field(row, "dimension"))
    if get_field(row, "reason"):
        return (code, "by-reason")
    return None


def _ledger_row(code: str, n: int, **keys: str) -> dict[str, Any]:
    row = {"code": code, "dimension": "", "category": "", "reason": "", "session_id": "",
           "n": n}
    row.update(keys)
    return row


def _ledger_table(process_id: int, k: int, session_refs: dict[int, str]) -> Table:
    """The absence reasons as the ledger and results pages count them: requests sent per
    session, answers per session, per reason and per category of every dimension. Only
    one-way tables: each set of rows adds up to one shown total, which the one suppression rule
    protects (a cross-table would need protection in two directions at once)."""
    summary = reason_summary(process_id, k=k)
    values = summary.values
    rows = [_ledger_row("absence_requests", summary.sent)]
    for sid, _title in summary.sessions:
        rows.append(_ledger_row("absence_requests", summary.requests.get(sid, 0),
                                session_id=session_refs.get(sid, str(sid))))
    rows.append(_ledger_row("absence_answers", values.get(("all",), 0)))
    for sid, _title in summary.sessions:
        rows.append(_ledger_row("absence_answers", values.get(("srow", sid), 0),
                                session_id=session_refs.get(sid, str(sid))))
    for dimension, categories in summary.dimensions.items():
        for category in categories:
            rows.append(_ledger_row("absence_answers",
                                    values.get(("drow", dimension, category), 0),
                                    dimension=dimension, category=category))
    for reason in AbsenceReason:
        rows.append(_ledger_row("absence_reason", values.get(("reason", reason), 0),
                                reason=str(reason)))
    out = []
    for cell in suppress(rows, k, partition=_ledger_partition, exempt=frozenset()):
        record = dict(cell.row)
        record["n"] = cell.n
        record["suppressed"] = cell.suppressed
        out.append(record)
    return Table("ledger", LEDGER_COLUMNS, out)


# ---------------------------------------------------------------- sessions


def session_references(process_id: int) -> list[tuple[int, str, str, str, datetime]]:
    """(database id, package id, title, format, starts_at) of the process's sessions, in the
    engine's order; the package id is the one indicator records use."""
    reference = sa.func.coalesce(Meeting.external_ref, sa.cast(Meeting.id, sa.String))
    return [(r[0], r[1], r[2], str(r[3]), r[4]) for r in db.session.execute(
        sa.select(Meeting.id, reference, Meeting.title, Meeting.format, Meeting.starts_at)
        .where(Meeting.process_id == process_id)
        .order_by(Meeting.starts_at, Meeting.id))]


def _session_table(sessions: Iterable[tuple[int, str, str, str, datetime]]) -> Table:
    return Table("sessions", SESSION_COLUMNS, [
        {"id": ref, "title": title, "format": fmt, "starts_at": starts_at}
        for _id, ref, title, fmt, starts_at in sessions])


# ---------------------------------------------------------------- entry point


def aggregate_tables(process_id: int, as_of: datetime, k: int, *,
                     locale: str = "en") -> AggregateExport:
    """The four tables of one process as of an instant, suppressed at k (never below 3);
    flag messages in `locale`. Raises NotFound for an unknown process."""
    as_of = check_instant(as_of)
    k = max(int(k), MIN_K)
    title = db.session.scalar(sa.select(Process.title).where(Process.id == process_id))
    if title is None:
        raise NotFound()
    rows, flags = compute_indicators_and_flags(process_id, as_of, thresholds_for(process_id))
    indicators, hidden = _indicator_table(indicator_records(rows), k)
    sessions = session_references(process_id)
    refs = {sid: ref for sid, ref, *_ in sessions}
    with force_locale(locale):
        flag_table = _flag_table(flags, hidden, k, refs)
    tables = [indicators, flag_table, _ledger_table(process_id, k, refs),
              _session_table(sessions)]
    return AggregateExport(process_id, title, as_of, k, locale, tables, labels_of(process_id))

