"""What the dashboard presenter (`dashboard.build_dashboard`) reads, gathered once for both pages
that draw it: staff's dashboard (k = 5, with the stored flags) and the evaluator's workspace
(k = 10, the flags computed for the instant asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db
from pvplatform.feedback.models import PublicValue
from pvplatform.indicators.dashboard import Dashboard, build_dashboard
from pvplatform.indicators.engine import check_instant, indicator_rows
from pvplatform.indicators.facts import AssociationAbsence, association_absences, gather
from pvplatform.indicators.flags import flag_rows
from pvplatform.indicators.funnel import (
    DimensionInfo,
    SessionLabel,
    StratumInfo,
    attendee_share_rows,
    dimension_info,
    reference_shares,
    session_funnel,
)
from pvplatform.indicators.ledger import (
    LedgerFigures,
    SessionFigures,
    held_session_figures,
    ledger_flags,
)
from pvplatform.indicators.rows import FlagRow, IndicatorRow
from pvplatform.indicators.suppression import hidden_keys, suppress
from pvplatform.indicators.thresholds import Thresholds, thresholds_for
from pvplatform.participation.labels import ProcessLabels


@dataclass(frozen=True)
class DashboardInputs:
    """One reading of the engine for a process at an instant, and the labels around it."""

    as_of: datetime
    rows: list[IndicatorRow]
    extra_rows: list[IndicatorRow]
    flags: list[FlagRow]
    sessions: list[SessionLabel]
    thresholds: Thresholds
    strata: dict[tuple[str, str], StratumInfo]
    public_values: dict[str, str]
    absences: list[AssociationAbsence]
    dimensions: dict[str, DimensionInfo]
    held: list[SessionFigures]  # each held session's counts, for the ledger pages

    def ledger(self, process_id: int) -> LedgerFigures:
        """The ledger pages' figures, from the same reading as the dashboard's."""
        return LedgerFigures(process_id, self.as_of, self.rows, self.held,
                             ledger_flags(self.flags))


def gather_dashboard_inputs(process_id: int, as_of: datetime) -> DashboardInputs:
    thresholds = thresholds_for(process_id)
    facts = gather(process_id, check_instant(as_of),
                   alert_days=thresholds.unanswered_alert_days,
                   warning_days=thresholds.unanswered_warning_days)
    rows, flags = indicator_rows(facts), flag_rows(facts, thresholds)
    funnel_rows, sessions = session_funnel(process_id, as_of)
    public_values = dict(db.session.execute(
        sa.select(PublicValue.code, PublicValue.name)
        .where(PublicValue.process_id == process_id).order_by(PublicValue.code)).all())
    return DashboardInputs(
        as_of=as_of, rows=list(rows), extra_rows=list(funnel_rows) + attendee_share_rows(rows),
        flags=list(flags), sessions=list(sessions), thresholds=thresholds,
        strata=dict(reference_shares(process_id)), public_values=public_values,
        absences=list(association_absences(process_id, as_of)),
        dimensions=dict(dimension_info(process_id)), held=held_session_figures(facts, rows))


def dashboard_from_inputs(inputs: DashboardInputs, *, k: int, stored: Sequence[Any] | None = None,
                          outdated: Sequence[Any] = (),
                          labels: ProcessLabels | None = None,
                          draw_charts: bool = True) -> Dashboard:
    """The dashboard's sections at k. `stored`/`outdated`: staff's stored flags (see
    `build_dashboard`); None shows the flags computed for the instant. `labels`: the process's
    dimensions and categories in words (their codes without)."""
    associations = {a.association_id: a.name for a in inputs.absences}
    for record in list(stored or []) + list(outdated):
        if record.association is not None:
            associations.setdefault(record.association.id, record.association.name)
    return build_dashboard(
        as_of=inputs.as_of, k=k, rows=inputs.rows, extra_rows=inputs.extra_rows,
        sessions=inputs.sessions, flags=inputs.flags,
        thresholds=inputs.thresholds, strata=inputs.strata, public_values=inputs.public_values,
        absences=inputs.absences, associations=associations, stored=stored, outdated=outdated,
        dimensions=inputs.dimensions, labels=labels, draw_charts=draw_charts)


def reading_hidden(inputs: DashboardInputs, k: int) -> dict[tuple[str, ...], str]:
    """The reading's rows and why each is hidden at k (the one suppression rule over all of
    them): what a flag's message may repeat, wherever it is read."""
    return hidden_keys(suppress([*inputs.rows, *inputs.extra_rows], k,
                                held=[s.id for s in inputs.sessions if s.held]))
