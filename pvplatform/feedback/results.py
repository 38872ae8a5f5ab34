"""The perceived public value results of a process: did it create or destroy value, and for
whom (UX.md, dashboard: "perceived value, the value x group matrix").

Nothing here computes a figure: means, changes, shares, tests and response rates come from the
indicator engine (`compute_perceptions`, `perception_rows` and the per-kind figures beside
them), so the page and the dashboard cannot disagree. This module arranges them, applies the
one suppression rule of `indicators.suppression` at k (in numbers and in words), and says what
they mean: created, destroyed, stable, or not enough answers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import format_decimal
from flask_babel import gettext as _
from markupsafe import Markup

from pvplatform.core.sql import binary_order
from pvplatform.extensions import db
from pvplatform.feedback.models import PublicValue, Wave
from pvplatform.indicators import charts
from pvplatform.indicators.dashboard import (
    COUNT,
    DELTA,
    INDEX,
    MEAN,
    PERCENT,
    Figure,
    Figures,
    evidence_words,
)
from pvplatform.indicators.engine import (
    KINDS,
    PerceptionFigures,
    ResponseFigures,
    baseline_voices,
    compute_perceptions,
    final_response_by_departure,
    is_duality,
    is_weak_weakened,
    kind_group,
    perception_figures,
    perception_figures_by_kind,
    perception_rows,
    response_figures,
)
from pvplatform.indicators.facts import Facts
from pvplatform.indicators.messages import evidence
from pvplatform.indicators.rows import Group, IndicatorRow
from pvplatform.indicators.suppression import MIN_K, PRIMARY, SECONDARY, Cell, is_small, suppress
from pvplatform.indicators.thresholds import Thresholds
from pvplatform.ledger.services import ReasonSummary, reason_summary

GROUPS = (Group.INTERNAL, Group.EXTERNAL)
# A cell's figure by code and display kind (MEAN, DELTA...).
Getter = Callable[[str, str], Figure]

# What a cell says about a value for a group or kind.
CREATED = "created"  # the mean rose, beyond chance
DESTROYED = "destroyed"  # the mean fell, beyond chance
STABLE = "stable"  # no change that chance alone could not produce
TOO_FEW = "too_few"  # fewer than k people answered both surveys
HIDDEN = "hidden"  # hidden so that a smaller cell cannot be worked out from the group's figures


@dataclass(frozen=True)
class Column:
    key: str  # "internal", "external", or a participant kind
    label: str
    description: str
    group: str
    is_group: bool


def columns() -> list[Column]:
    """The groups of the contract, then the kinds of participants (administration first)."""
    return [
        Column("internal", _("Internal"), _("managers and elected officials"), Group.INTERNAL,
               True),
        Column("external", _("External"), _("residents and associations"), Group.EXTERNAL,
               True),
        *(Column(kind, *_KIND_WORDS[kind](), kind_group(kind), False) for kind in KINDS),
    ]


_KIND_WORDS = {
    "manager": lambda: (_("Managers"), _("staff of the administration")),
    "elected": lambda: (_("Elected officials"), _("members of the council")),
    "citizen": lambda: (_("Residents"), _("people taking part for themselves")),
    "association": lambda: (_("Associations"), _("people taking part for an association")),
}


@dataclass
class ResultCell:
    column: Column
    baseline: Figure
    final: Figure
    delta: Figure  # n: matched participants (answered both surveys)
    improved: Figure
    worsened: Figure
    sign_p: Figure
    evidence: str  # the sign test in plain words
    evidence_tone: str
    verdict: str  # CREATED, DESTROYED, STABLE, TOO_FEW or HIDDEN
    verdict_word: str
    verdict_icon: str
    weak: bool  # "weak value weakened", shown only when every n behind it may be


@dataclass
class ValueResult:
    code: str
    label: str
    question: str
    cells: list[ResultCell]
    duality: bool  # shown only when every n behind it may be
    duality_evidence: str = ""

    def cell(self, key: str) -> ResultCell:
        return next(c for c in self.cells if c.column.key == key)


@dataclass
class ResponseRow:
    label: str
    baseline: Figure
    final: Figure


@dataclass
class Departure:
    """The final survey among the people who dropped out, and among the others."""

    left: Figure
    stayed: Figure
    measured: bool  # both shown, with someone in each
    warning: bool  # those who left answered less than those who stayed


@dataclass
class PulseRow:
    label: str
    figures: list[Figure]  # one per held session


@dataclass
class Pulses:
    sessions: list[str]  # held session titles, in order
    rows: list[PulseRow]
    chart: Markup | None


@dataclass
class VoiceRow:
    label: str
    inactive: Figure  # baseline mean of respondents who are not active participants
    active: Figure  # baseline mean of active participants


@dataclass
class Voice:
    respondents: Figure  # baseline respondents who are not active participants
    values: list[VoiceRow]
    reasons: ReasonSummary  # with the dimensions and categories in words


@dataclass
class PerceptionResults:
    as_of: datetime
    k: int
    alpha: float
    columns: list[Column]
    values: list[ValueResult]
    has_catalogue: bool
    has_answers: bool
    responses: list[ResponseRow]
    departure: Departure
    pulses: Pulses
    voice: Voice
    thresholds: Thresholds = field(default_factory=Thresholds)
    any_suppressed: bool = False

    @property
    def alpha_text(self) -> str:
        return format_decimal(self.alpha, "0.####")

    @property
    def duality_delta_text(self) -> str:
        return format_decimal(self.thresholds.duality_delta, "0.##")

    @property
    def weak_below_text(self) -> str:
        return format_decimal(self.thresholds.weak_below, "0.##")

    @property
    def weak_drop_text(self) -> str:
        return format_decimal(abs(self.thresholds.weak_delta), "0.##")


# ---------------------------------------------------------------- suppression of the kinds

def _kind_rows(figures: Sequence[PerceptionFigures]) -> list[dict[str, Any]]:
    """The kinds' figures as rows of the contract's codes (the n each rests on, as the groups'
    rows have them)."""
    rows = []
    for f in figures:
        keys = {"group": str(f.group), "kind": f.kind, "public_value": f.public_value}
        rows += [
            {"code": "perception_baseline", "value": f.baseline, "n": f.baseline_n, **keys},
            {"code": "perception_final", "value": f.final, "n": f.final_n, **keys},
            {"code": "perception_delta", "value": f.delta, "n": f.n, **keys},
            {"code": "perception_improved_share", "value": f.improved, "n": f.n, **keys},
            {"code": "perception_worsened_share", "value": f.worsened, "n": f.n, **keys},
            {"code": "perception_sign_p", "value": f.sign_p, "n": f.changed, **keys},
        ]
    return rows


def _same_group(row: Any) -> Hashable:
    # The two kinds of a group add up to the group's figure shown beside them: hiding one kind
    # alone would let it be worked out by subtraction, so the other is hidden too.
    return (row["code"], row["group"], row["public_value"])


# ---------------------------------------------------------------- cells

def _verdict(f: PerceptionFigures, delta: Figure, alpha: float, k: int) -> tuple[str, str, str]:
    if f.n and delta.cell is not None and delta.cell.reason == SECONDARY:
        return HIDDEN, _("Not shown"), "–"
    if f.n < max(k, MIN_K):
        return TOO_FEW, _("Not enough answers"), "…"
    if f.delta is not None and f.sign_p is not None and f.sign_p < alpha:
        if f.delta > 0:
            return CREATED, _("Value created"), "▲"
        if f.delta < 0:
            return DESTROYED, _("Value destroyed"), "▼"
    return STABLE, _("Stable"), "="


def _rests_on_enough(f: PerceptionFigures, k: int, *figures: Figure) -> bool:
    """A mark is shown only when no figure behind it is hidden and every count it rests on
    (baseline answers, matched people, changed scores) is at least k."""
    if any(fig.suppressed for fig in figures):
        return False
    return min(f.baseline_n, f.n, f.changed) >= max(k, MIN_K)


def _cell(column: Column, f: PerceptionFigures, get: Getter, t: Thresholds,
          k: int) -> ResultCell:
    baseline = get("perception_baseline", MEAN)
    delta = get("perception_delta", DELTA)
    sign_p = get("perception_sign_p", INDEX)
    # The p-value of a hidden change would give its count back: hidden with it.
    words, tone = evidence_words(sign_p, t.alpha, hidden=delta.suppressed)
    verdict, word, icon = _verdict(f, delta, t.alpha, k)
    weak = is_weak_weakened(f, t) and _rests_on_enough(f, k, baseline, delta, sign_p)
    return ResultCell(
        column=column, baseline=baseline, final=get("perception_final", MEAN), delta=delta,
        improved=get("perception_improved_share", PERCENT),
        worsened=get("perception_worsened_share", PERCENT),
        sign_p=sign_p, evidence=words, evidence_tone=tone,
        verdict=verdict, verdict_word=word, verdict_icon=icon, weak=weak)


def _catalogue(process_id: int, locale: str | None) -> list[tuple[str, str, str]]:
    """(code, label, question) of the catalogue, in the order staff gave it."""
    values = db.session.scalars(
        sa.select(PublicValue).where(PublicValue.process_id == process_id)
        .order_by(PublicValue.position, binary_order(PublicValue.code)))
    return [(v.code, v.label(locale), v.question(locale)) for v in values]


def _hidden(figure: Figure, reason: str = SECONDARY) -> Figure:
    if figure.cell is None or figure.suppressed:
        return figure
    return Figure(Cell(figure.cell.row, reason), figure.kind, figure.k)


def _departure(fig: Figures, left: ResponseFigures, stayed: ResponseFigures,
               k: int) -> Departure:
    def figure(code: str, r: ResponseFigures) -> Figure:
        reason = PRIMARY if is_small(r.eligible, k) else (
            SECONDARY if is_small(r.respondents, k) else "")
        return Figure(Cell({"code": code, "value": r.rate, "n": r.eligible}, reason),
                      PERCENT, k)

    left_f = figure("final_response_rate_left", left)
    stayed_f = figure("final_response_rate_stayed", stayed)
    groups = [fig.get("final_response_rate", PERCENT, group=g) for g in GROUPS]
    # Those who left and those who stayed add up to the groups' eligible people: with any of
    # the four hidden, the others would give it back.
    if any(f.suppressed for f in (left_f, stayed_f, *groups)):
        left_f, stayed_f = _hidden(left_f), _hidden(stayed_f)
    measured = left_f.raw is not None and stayed_f.raw is not None
    warning = measured and left_f.raw < stayed_f.raw  # type: ignore[operator]
    return Departure(left_f, stayed_f, measured, warning)


def _response_rate(fig: Figures, code: str, group: Group, r: ResponseFigures,
                   k: int) -> Figure:
    figure = fig.get(code, PERCENT, group=group)
    # rate x eligible gives the respondents back: a small number of them hides the rate.
    return _hidden(figure) if is_small(r.respondents, k) else figure


def _pulses(fig: Figures, rows: Sequence[IndicatorRow], facts: Facts,
            catalogue: Sequence[tuple[str, str, str]]) -> Pulses:
    asked = {r.public_value for r in rows if r.code == "pulse_mean" and r.n > 0}
    sessions = facts.sessions
    pulse_rows = [
        PulseRow(label, [fig.get("pulse_mean", MEAN, public_value=code, session_id=s.id)
                         for s in sessions])
        for code, label, _question in catalogue if code in asked]
    chart = None
    if pulse_rows and sessions:
        chart = charts.line_chart(
            "chart-pulses", _("Session pulses: mean score after each session"),
            _("For each public value asked about after the sessions, the mean score (1 to 5) "
              "session by session, in the order they were held. A gap means no score, or "
              "figures hidden because fewer than %(k)s people answered. The table gives the "
              "same figures.", k=fig.k),
            [s.title for s in sessions],
            [charts.TrendSeries(row.label, tuple(f.raw for f in row.figures))
             for row in pulse_rows])
    return Pulses([s.title for s in sessions], pulse_rows, chart)


def _voice(facts: Facts, process_id: int, catalogue: Sequence[tuple[str, str, str]],
           k: int) -> Voice:
    voices = {v.public_value: v for v in baseline_voices(facts)}
    rows: list[dict[str, Any]] = []
    for code, _label, _question in catalogue:
        v = voices[code]
        rows.append({"code": "baseline_inactive", "public_value": code, "value": v.inactive,
                     "n": v.inactive_n})
        rows.append({"code": "baseline_active", "public_value": code, "value": v.active,
                     "n": v.active_n})
    # Both add up to the baseline respondents of the groups' rows: one hidden hides the other.
    cells = iter(suppress(rows, k, partition=lambda row: row["public_value"]))
    values = [VoiceRow(label, Figure(next(cells), MEAN, k), Figure(next(cells), MEAN, k))
              for _code, label, _question in catalogue]
    n = facts.inactive_baseline_respondents
    respondents = Figure(Cell({"code": "inactive_baseline_respondents", "value": n, "n": n},
                              PRIMARY if is_small(n, k) else ""), COUNT, k)
    return Voice(respondents, values, reason_summary(process_id, k=k))


def _group_getter(fig: Figures, group: str, code: str) -> Getter:
    return lambda c, kind: fig.get(c, kind, group=group, public_value=code)


def _kind_getter(cells: dict[tuple[str, str, str], Cell], kind_key: str, code: str,
                 k: int) -> Getter:
    return lambda c, kind: Figure(cells[(kind_key, code, c)], kind, k)


# ---------------------------------------------------------------- the page

def perception_results(process_id: int, as_of: datetime, *, k: int, thresholds: Thresholds,
                       locale: str | None) -> PerceptionResults:
    """The results of a process as of an instant, suppressed at k (raises NotFound)."""
    k = max(int(k), MIN_K)
    facts = compute_perceptions(process_id, as_of)
    measured = set(facts.public_values)
    # The facts say which values exist; the catalogue, in what order and words.
    catalogue = [v for v in _catalogue(process_id, locale) if v[0] in measured]
    rows = perception_rows(facts)
    group_cells = suppress(rows, k)
    fig = Figures(group_cells, k)
    by_group = {(f.group, f.public_value): f for f in perception_figures(facts)}
    by_kind = perception_figures_by_kind(facts)
    kind_cells = suppress(_kind_rows(by_kind), k, partition=_same_group)
    kind_figures = {(c.row["kind"], c.row["public_value"], c.row["code"]): c
                    for c in kind_cells}
    kinds = {(f.kind, f.public_value): f for f in by_kind}
    cols = columns()

    values = []
    for code, label, question in catalogue:
        cells = []
        for column in cols:
            if column.is_group:
                f = by_group[(column.group, code)]
                get = _group_getter(fig, column.group, code)
            else:
                f = kinds[(column.key, code)]
                get = _kind_getter(kind_figures, column.key, code, k)
            cells.append(_cell(column, f, get, thresholds, k))
        internal, external = by_group[(Group.INTERNAL, code)], by_group[(Group.EXTERNAL, code)]
        behind = [fig.get(c, DELTA, group=g, public_value=code)
                  for g in GROUPS for c in ("perception_baseline", "perception_delta",
                                            "perception_sign_p")]
        duality = (is_duality(internal, external, thresholds)
                   and _rests_on_enough(internal, k, *behind)
                   and _rests_on_enough(external, k))
        duality_words = ""
        if duality and internal.sign_p is not None and external.sign_p is not None:
            duality_words = str(evidence(max(internal.sign_p, external.sign_p)))
        values.append(ValueResult(code, label, question, cells, duality, duality_words))

    responses = []
    for group in GROUPS:
        column = next(c for c in cols if c.key == group.value)
        responses.append(ResponseRow(
            _("%(group)s: %(who)s", group=column.label, who=column.description),
            _response_rate(fig, "baseline_response_rate", group,
                           response_figures(facts, group, Wave.BASELINE), k),
            _response_rate(fig, "final_response_rate", group,
                           response_figures(facts, group, Wave.FINAL), k)))
    left, stayed = final_response_by_departure(facts)
    departure = _departure(fig, left, stayed, k)

    has_answers = (any(r.respondents for r in facts.responses.values())
                   or any(n for n, _total in facts.pulses.values()))
    voice = _voice(facts, process_id, catalogue, k)
    any_suppressed = (any(c.suppressed for c in group_cells + kind_cells)
                      or any(f.suppressed for r in responses for f in (r.baseline, r.final))
                      or departure.left.suppressed or departure.stayed.suppressed
                      or voice.respondents.suppressed
                      or any(f.suppressed for v in voice.values for f in (v.inactive, v.active)))
    return PerceptionResults(
        as_of=as_of, k=k, alpha=thresholds.alpha, columns=cols, values=values,
        has_catalogue=bool(catalogue), has_answers=has_answers, responses=responses,
        departure=departure, pulses=_pulses(fig, rows, facts, catalogue),
        voice=voice, thresholds=thresholds, any_suppressed=any_suppressed)
