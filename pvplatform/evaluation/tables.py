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
from pvplatform.indicators.rows import IndicatorRow
from pvplatform.indicators.suppression import (
    MIN_K,
    flag_hidden,
    get_field,
    hidden_keys,
    row_key,
    suppress,
)
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


def _indicator_table(rows: list[IndicatorRow], k: int, held: list[int],
                     refs: dict[int, str]) -> tuple[Table, dict[tuple[str, ...], str]]:
    """The rows with `suppressed`, and which rows are hidden (by the engine's keys, for the
    flags resting on them). `held`: the held sessions' ids in order; `refs`: their package
    references, which the exported rows carry."""
    cells = suppress(rows, k, held=held)
    by_key = {}
    for cell in cells:
        code, dimension, category, group, value, session = row_key(cell.row)
        session = refs.get(int(session), session) if session else ""
        by_key[(code, dimension, category, group, value, session)] = cell
    out = []
    for record in indicator_records(rows):
        cell = by_key[row_key(record)]
        # A suppressed row leaves with neither value nor n (the codebook's promise), also one
        # hidden only for what its value gives back.
        record["value"], record["n"] = cell.value, None if cell.suppressed else cell.n
        record["suppressed"] = cell.suppressed
        family = family_of(record["code"])
        record["family"] = str(family) if family else ""
        out.append(record)
    return Table("indicators", INDICATOR_COLUMNS, out), hidden_keys(cells)


# ---------------------------------------------------------------- flags


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


def _flag_table(flags: list[Any], hidden: dict[tuple[str, ...], str], k: int,
                sessions: dict[int, str]) -> Table:
    associations = _association_refs(f.association_id for f in flags)
    rows = []
    for flag in flags:
        record = _flag_record(flag, sessions, associations)
        suppressed = flag_hidden(flag, hidden, k)
        if suppressed:
            record["value"] = record["p_value"] = None
            record["message"] = suppressed_message(flag.code, k)
        else:
            record["message"] = flag.message.render(k, hidden)
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
    sessions = session_references(process_id)
    refs = {sid: ref for sid, ref, *_ in sessions}
    held = [sid for sid, _ref, _title, _fmt, starts_at in sessions if starts_at <= as_of]
    indicators, hidden = _indicator_table(rows, k, held, refs)
    with force_locale(locale):
        flag_table = _flag_table(flags, hidden, k, refs)
    tables = [indicators, flag_table, _ledger_table(process_id, k, refs),
              _session_table(sessions)]
    return AggregateExport(process_id, title, as_of, k, locale, tables, labels_of(process_id))

