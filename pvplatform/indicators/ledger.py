"""The engine's figures behind the staff ledger pages, and the engine's own definitions (held
sessions, their order, dropping out) for the ledger's lists of who.

The ledger pages print the contract's rows (INDICATORS.md) and, per held session, the no-show
count those rows rest on: both come from one `gather`, so a page never shows a number that the
dashboard, an export or the CLI would compute differently. The lists of names are built on the
same definitions (`sets`), so that a list and its figure cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db
from pvplatform.indicators.engine import check_instant, indicator_rows
from pvplatform.indicators.facts import Facts, gather
from pvplatform.indicators.flags import flag_rows
from pvplatform.indicators.rows import FlagRow, IndicatorRow
from pvplatform.indicators.sets import ProcessSets
from pvplatform.indicators.thresholds import Thresholds, thresholds_for

LEDGER_FLAG = "absent_invited_association"


@dataclass(frozen=True)
class SessionFigures:
    """One held session as the engine sees it at T."""

    id: int
    k: int  # 1 for the first held session
    title: str
    attendees: int
    live_registrations: int  # n of its no_show_rate row
    no_shows: int  # numerator of its no_show_rate row
    no_show_rate: float | None


@dataclass(frozen=True)
class LedgerFigures:
    process_id: int
    as_of: datetime
    rows: list[IndicatorRow]
    sessions: list[SessionFigures]
    flags: list[FlagRow] = field(default_factory=list)  # absent_invited_association rows

    def row(self, code: str, **keys: Any) -> IndicatorRow | None:
        for r in self.rows:
            if r.code == code and all(getattr(r, k) == v for k, v in keys.items()):
                return r
        return None

    def _value(self, code: str, **keys: Any) -> Any:
        r = self.row(code, **keys)
        return r.value if r is not None else None

    @property
    def held_count(self) -> int:
        return len(self.sessions)

    @property
    def attendees(self) -> int:
        return int(self._value("attendees", group="all") or 0)

    @property
    def invitation_pairs(self) -> int:
        r = self.row("uptake_rate")
        return r.n if r is not None else 0

    @property
    def uptake_rate(self) -> float | None:
        return self._value("uptake_rate")

    @property
    def invited_not_registered(self) -> int:
        return int(self._value("invited_not_registered") or 0)

    @property
    def live_registrations(self) -> int:
        r = self.row("registered_no_show")
        return r.n if r is not None else 0

    @property
    def registered_no_show(self) -> int:
        return int(self._value("registered_no_show") or 0)

    @property
    def no_show_rate(self) -> float | None:
        return self._value("no_show_rate", session_id=None)

    @property
    def dropped_out(self) -> int:
        return int(self._value("dropped_out") or 0)

    def session(self, session_id: int) -> SessionFigures | None:
        return next((s for s in self.sessions if s.id == session_id), None)


def ledger_figures(process_id: int, as_of: datetime,
                   thresholds: Thresholds | None = None) -> LedgerFigures:
    """The contract's rows and the absent-association flags of one process as of T, with each
    held session's no-show count, from one reading of the database (raises NotFound)."""
    as_of = check_instant(as_of)
    t = thresholds or thresholds_for(process_id)
    facts = gather(process_id, as_of, alert_days=t.unanswered_alert_days,
                   warning_days=t.unanswered_warning_days)
    rows = indicator_rows(facts)
    return LedgerFigures(process_id, as_of, rows, held_session_figures(facts, rows),
                         ledger_flags(flag_rows(facts, t)))


def held_session_figures(facts: Facts, rows: Sequence[IndicatorRow]) -> list[SessionFigures]:
    """Each held session's counts, from the same reading as its rows."""
    rates = {r.session_id: r.value for r in rows
             if r.code == "no_show_rate" and r.session_id is not None}
    return [SessionFigures(s.id, s.k, s.title, s.attendees, s.live_registrations,
                           s.no_shows, rates.get(s.id)) for s in facts.sessions]


def ledger_flags(flags: Sequence[FlagRow]) -> list[FlagRow]:
    return [f for f in flags if f.code == LEDGER_FLAG]


@dataclass(frozen=True)
class HeldSession:
    id: int
    k: int
    title: str


def held_sessions(process_id: int, as_of: datetime) -> list[HeldSession]:
    """The held sessions in the engine's order (starts_at, then the reference in plain order)."""
    scope = ProcessSets(process_id, check_instant(as_of))
    rows = db.session.execute(
        sa.select(scope.held.c.id, scope.held.c.k, scope.held.c.title).order_by(scope.held.c.k)
    ).all()
    return [HeldSession(r[0], int(r[1]), r[2]) for r in rows]


def dropped_out_subquery(process_id: int, as_of: datetime) -> sa.Subquery:
    """Participants who dropped out as of T, with the rank of the last held session they
    attended (`pid`, `last_k`): the engine's dropped_out, one row per person it counts."""
    return ProcessSets(process_id, check_instant(as_of)).dropped_out()
