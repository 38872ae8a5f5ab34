"""Indicator rows of INDICATORS.md (version 2), derived from the aggregates of `facts`.

Nothing here queries the database: `facts.gather` does, in a fixed number of statements, and
this module turns its small results into the contract's rows (ratios, tests, nulls, rounding).
`representation` and `perception_figures` are shared with the flags, which compare the same
reported figures with their thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

from pvplatform.feedback.models import Wave
from pvplatform.indicators.facts import (
    DAY,
    Facts,
    MeanCounts,
    PerceptionCounts,
    StratumCount,
    WaveResponse,
    gather,
    gather_perceptions,
)
from pvplatform.indicators.rows import Group, IndicatorRow, ratio, round6
from pvplatform.indicators.stats import binomial_p, holm, sign_test_p
from pvplatform.indicators.thresholds import DEFAULTS, Thresholds
from pvplatform.participation.models import INTERNAL_KINDS, ParticipantKind

GROUPS = (Group.EXTERNAL, Group.INTERNAL)
# Participant kinds, the administration first (the order of the results' columns).
KINDS = (ParticipantKind.MANAGER.value, ParticipantKind.ELECTED.value,
         ParticipantKind.CITIZEN.value, ParticipantKind.ASSOCIATION.value)


@dataclass(frozen=True)
class CategoryFigures:
    category: str
    share: float | None  # normalised population share
    count: int  # a_c
    ratio: float | None  # representation ratio, as reported
    p_value: float | None  # Holm-corrected exact binomial p, as reported


@dataclass(frozen=True)
class DimensionFigures:
    dimension: str
    known: int  # A: people of the population studied with a known category in this dimension
    categories: tuple[CategoryFigures, ...]

    @property
    def dissimilarity(self) -> float | None:
        if not self.known or any(c.share is None for c in self.categories):
            return None
        return round6(0.5 * sum(abs(c.count / self.known - (c.share or 0.0))
                                for c in self.categories))

    @property
    def not_reached(self) -> int | None:
        if not self.known:
            return None
        return sum(1 for c in self.categories if c.share and c.count == 0)


@dataclass(frozen=True)
class PerceptionFigures:
    public_value: str
    group: Group
    baseline: float | None  # reported mean baseline score
    baseline_n: int
    final: float | None
    final_n: int
    delta: float | None  # reported mean of final - baseline over matched participants
    n: int  # matched participants
    improved: float | None
    worsened: float | None
    changed: int  # matched participants whose score changed (the sign test's m)
    sign_p: float | None  # reported sign test p
    kind: str = ""  # a participant kind for the figures of one kind; "" for a group's


def check_instant(as_of: datetime) -> datetime:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be a timezone-aware datetime")
    return as_of.astimezone(UTC)


def representation(facts: Facts, count: Callable[[StratumCount], int] = lambda s: s.attendees,
                   *, with_tests: bool = True) -> list[DimensionFigures]:
    """Per dimension: known people (A), and per category its share, count, ratio and p.

    `count` picks the population studied: external attendees (default) or external active
    participants (`lambda s: s.active`)."""
    dimensions = []
    for dimension, strata in groupby(facts.strata, key=lambda s: s.dimension):
        strata = list(strata)
        total_share = sum(s.population_share for s in strata)
        known = sum(count(s) for s in strata)
        shares = {s.category: (s.population_share / total_share if total_share > 0 else None)
                  for s in strata}
        corrected: dict[str, float] = {}
        if with_tests and known:
            raw = {s.category: binomial_p(count(s), known, shares[s.category])
                   for s in strata if shares[s.category]}
            corrected = holm({c: p for c, p in raw.items() if p is not None})
        categories = []
        for stratum in strata:
            share = shares[stratum.category]
            value = None
            if known and share:
                value = round6((count(stratum) / known) / share)
            categories.append(CategoryFigures(stratum.category, share, count(stratum), value,
                                              round6(corrected.get(stratum.category))))
        dimensions.append(DimensionFigures(dimension, known, tuple(categories)))
    return dimensions


def _perception(code: str, group: Group, c: PerceptionCounts,
                kind: str = "") -> PerceptionFigures:
    changed = c.improved + c.worsened
    return PerceptionFigures(
        public_value=code, group=group,
        baseline=ratio(c.baseline_sum, c.baseline_n), baseline_n=c.baseline_n,
        final=ratio(c.final_sum, c.final_n), final_n=c.final_n,
        delta=ratio(c.change_sum, c.matched), n=c.matched,
        improved=ratio(c.improved, c.matched), worsened=ratio(c.worsened, c.matched),
        changed=changed, sign_p=round6(sign_test_p(c.worsened, c.improved)), kind=kind)


def perception_figures(facts: Facts) -> list[PerceptionFigures]:
    return [_perception(code, group, facts.perception.get((group == Group.INTERNAL, code),
                                                          PerceptionCounts()))
            for group in GROUPS for code in facts.public_values]


def is_duality(internal: PerceptionFigures, external: PerceptionFigures,
               t: Thresholds) -> bool:
    """Both groups measured on enough people, both moved enough, in opposite directions, each
    beyond chance (INDICATORS.md, value_duality)."""
    if internal.delta is None or external.delta is None:
        return False
    if internal.sign_p is None or external.sign_p is None:
        return False
    return (internal.n >= t.duality_min_n and external.n >= t.duality_min_n
            and abs(internal.delta) >= t.duality_delta
            and abs(external.delta) >= t.duality_delta
            and internal.delta * external.delta < 0
            and internal.sign_p < t.alpha and external.sign_p < t.alpha)


def kind_group(kind: str) -> Group:
    return Group.INTERNAL if kind in INTERNAL_KINDS else Group.EXTERNAL


def perception_figures_by_kind(facts: Facts) -> list[PerceptionFigures]:
    """The perception figures of each participant kind (KINDS order), per public value: the
    same formulas as the groups', over the kind's participants only."""
    return [_perception(code, kind_group(kind),
                        facts.perception_by_kind.get((kind, code), PerceptionCounts()), kind)
            for kind in KINDS for code in facts.public_values]


def is_weak_weakened(f: PerceptionFigures, t: Thresholds) -> bool:
    """A value already weak for these people (baseline below weak_below) lost at least
    weak_delta, on enough people, beyond chance (INDICATORS.md, weak_value_weakened)."""
    if f.delta is None or f.sign_p is None or f.baseline is None:
        return False
    return (f.sign_p < t.alpha and f.baseline_n >= t.weak_min_n and f.baseline < t.weak_below
            and f.n >= t.weak_min_n and f.delta <= t.weak_delta)


def duality_pairs(figures: list[PerceptionFigures]
                  ) -> Iterator[tuple[str, PerceptionFigures, PerceptionFigures]]:
    by_key = {(f.public_value, f.group): f for f in figures}
    for code in sorted({f.public_value for f in figures}):
        yield code, by_key[(code, Group.INTERNAL)], by_key[(code, Group.EXTERNAL)]


def retention(facts: Facts) -> tuple[float | None, int]:
    """First-held-session attendees who came back to any later held session (value, n)."""
    if not facts.sessions:
        return None, 0
    first = facts.sessions[0].attendees
    if len(facts.sessions) < 2:
        return None, first
    return ratio(facts.first_came_back, first), first


def speaking_share(facts: Facts, group: Group) -> float | None:
    seconds = (facts.internal_speaking_seconds if group == Group.INTERNAL
               else facts.external_speaking_seconds)
    return ratio(seconds, facts.speaking_seconds)


def speaking_n(facts: Facts) -> int:
    """The total speaking seconds, rounded down once."""
    return int(facts.speaking_seconds // 1)


def _ledger_rows(facts: Facts, add: Callable[[IndicatorRow], None]) -> None:
    add(IndicatorRow("attendees", facts.attendees, facts.attendees, group=Group.ALL))
    add(IndicatorRow("attendees", facts.internal_attendees, facts.internal_attendees,
                     group=Group.INTERNAL))
    add(IndicatorRow("attendees", facts.external_attendees, facts.external_attendees,
                     group=Group.EXTERNAL))
    add(IndicatorRow("active_participants", facts.active_participants,
                     facts.active_participants))
    pairs, registered = facts.invitation_pairs, facts.invitation_pairs_registered
    add(IndicatorRow("uptake_rate", ratio(registered, pairs), pairs))
    add(IndicatorRow("invited_not_registered", pairs - registered, pairs))
    pooled_registrations = sum(s.live_registrations for s in facts.sessions)
    pooled_no_shows = sum(s.no_shows for s in facts.sessions)
    for session in facts.sessions:
        add(IndicatorRow("no_show_rate", ratio(session.no_shows, session.live_registrations),
                         session.live_registrations, session_id=session.id))
    add(IndicatorRow("no_show_rate", ratio(pooled_no_shows, pooled_registrations),
                     pooled_registrations))
    add(IndicatorRow("registered_no_show", pooled_no_shows, pooled_registrations))
    dropped = facts.gone_before_last_two if len(facts.sessions) >= 3 else 0
    add(IndicatorRow("dropped_out", dropped, facts.attendees))
    value, n = retention(facts)
    add(IndicatorRow("retention", value, n))
    for previous, session in zip(facts.sessions, facts.sessions[1:], strict=False):
        attrition = None
        if previous.attendees:
            attrition = round6(1 - session.overlap_previous / previous.attendees)
        add(IndicatorRow("attrition", attrition, previous.attendees, session_id=session.id))


def _representation_rows(facts: Facts, add: Callable[[IndicatorRow], None]) -> None:
    external = facts.external_attendees
    for dim in representation(facts):
        add(IndicatorRow("known_share", ratio(dim.known, external), external,
                         dimension=dim.dimension))
        for cat in dim.categories:
            keys = {"dimension": dim.dimension, "category": cat.category}
            add(IndicatorRow("representation_ratio", cat.ratio, cat.count, **keys))
            add(IndicatorRow("representation_p", cat.p_value, dim.known, **keys))
        add(IndicatorRow("dissimilarity", dim.dissimilarity, dim.known, dimension=dim.dimension))
        add(IndicatorRow("strata_not_reached", dim.not_reached, dim.known,
                         dimension=dim.dimension))

    active = facts.external_active
    for dim in representation(facts, lambda s: s.active, with_tests=False):
        add(IndicatorRow("active_known_share", ratio(dim.known, active), active,
                         dimension=dim.dimension))
        for cat in dim.categories:
            add(IndicatorRow("active_representation_ratio", cat.ratio, cat.count,
                             dimension=dim.dimension, category=cat.category))
        add(IndicatorRow("active_dissimilarity", dim.dissimilarity, dim.known,
                         dimension=dim.dimension))
    reach = None
    if facts.population:
        reach = round6(1000 * active / facts.population)
    add(IndicatorRow("reach_per_1000", reach, active))


def _voice_rows(facts: Facts, add: Callable[[IndicatorRow], None]) -> None:
    gini = None
    if facts.contributors and facts.contributions:
        gini = round6(facts.gini_numerator / (facts.contributors * facts.contributions))
    add(IndicatorRow("contribution_gini", gini, facts.contributors))
    add(IndicatorRow("top10_share", ratio(facts.top_contributions, facts.contributions),
                     facts.contributors))
    add(IndicatorRow("internal_voice_share",
                     ratio(facts.internal_contributions, facts.contributions),
                     facts.contributions))
    n = speaking_n(facts)
    for group in GROUPS:
        add(IndicatorRow("speaking_time_share", speaking_share(facts, group), n, group=group))
    speaking_gini = None
    if facts.attendees and facts.attendee_speaking_seconds > 0:
        speaking_gini = round6(facts.speaking_gini_numerator
                               / (facts.attendees * facts.attendee_speaking_seconds))
    add(IndicatorRow("speaking_gini", speaking_gini, facts.attendees))


def _answer_rows(facts: Facts, add: Callable[[IndicatorRow], None]) -> None:
    add(IndicatorRow("answer_rate", ratio(facts.answered, facts.asked), facts.asked))
    median = None
    if facts.answered and facts.median_seconds_to_answer is not None:
        median = round6(facts.median_seconds_to_answer / DAY)
    add(IndicatorRow("median_days_to_answer", median, facts.answered))
    add(IndicatorRow("answered_within_30d_rate",
                     ratio(facts.answered_within_30d, facts.published_30d_before),
                     facts.published_30d_before))
    oldest = None
    if facts.unanswered and facts.oldest_unanswered_published_at is not None:
        oldest = round6(
            (facts.as_of - facts.oldest_unanswered_published_at).total_seconds() / DAY)
    add(IndicatorRow("oldest_unanswered_days", oldest, facts.unanswered))
    add(IndicatorRow("reasoned_rejection_rate",
                     ratio(facts.rejected_with_rationale, facts.rejected), facts.rejected))


def _perception_rows(facts: Facts, add: Callable[[IndicatorRow], None]) -> None:
    figures = perception_figures(facts)
    for f in figures:
        keys = {"group": f.group, "public_value": f.public_value}
        add(IndicatorRow("perception_baseline", f.baseline, f.baseline_n, **keys))
        add(IndicatorRow("perception_final", f.final, f.final_n, **keys))
        add(IndicatorRow("perception_delta", f.delta, f.n, **keys))
        add(IndicatorRow("perception_improved_share", f.improved, f.n, **keys))
        add(IndicatorRow("perception_worsened_share", f.worsened, f.n, **keys))
        add(IndicatorRow("perception_sign_p", f.sign_p, f.changed, **keys))
    for group in GROUPS:
        for code, wave in (("baseline_response_rate", Wave.BASELINE),
                           ("final_response_rate", Wave.FINAL)):
            response = facts.responses.get((group == Group.INTERNAL, wave))
            respondents = response.respondents if response else 0
            eligible = response.eligible if response else 0
            add(IndicatorRow(code, ratio(respondents, eligible), eligible, group=group))
    for code in facts.public_values:
        for session in facts.sessions:
            n, total = facts.pulses.get((code, session.id), (0, 0))
            add(IndicatorRow("pulse_mean", ratio(total, n), n, public_value=code,
                             session_id=session.id))
    dualities = sum(1 for _code, internal, external in duality_pairs(figures)
                    if is_duality(internal, external, DEFAULTS))
    add(IndicatorRow("duality_count", dualities, len(facts.public_values)))


def perception_rows(facts: Facts) -> list[IndicatorRow]:
    """The perception family's rows only (what `indicator_rows` gives for these codes), from
    the facts of `gather` or `gather_perceptions`."""
    rows: list[IndicatorRow] = []
    _perception_rows(facts, rows.append)
    return rows


@dataclass(frozen=True)
class ResponseFigures:
    """Respondents of a wave among the people eligible for it."""

    respondents: int
    eligible: int

    @property
    def rate(self) -> float | None:
        return ratio(self.respondents, self.eligible)


def _response(response: WaveResponse | None) -> ResponseFigures:
    if response is None:
        return ResponseFigures(0, 0)
    return ResponseFigures(response.respondents, response.eligible)


def response_figures(facts: Facts, group: Group, wave: Wave) -> ResponseFigures:
    """A group's respondents and eligible: the counts behind its *_response_rate row."""
    return _response(facts.responses.get((group == Group.INTERNAL, wave)))


def response_figures_by_kind(facts: Facts, kind: str, wave: Wave) -> ResponseFigures:
    return _response(facts.responses_by_kind.get((kind, wave)))


def final_response_by_departure(facts: Facts) -> tuple[ResponseFigures, ResponseFigures]:
    """The final wave among the participants who dropped out as of T (the ledger's
    dropped_out), and among the other eligible people: (left, stayed)."""
    totals = {True: [0, 0], False: [0, 0]}
    for (_kind, gone), response in facts.final_by_departure.items():
        totals[gone][0] += response.respondents
        totals[gone][1] += response.eligible
    return ResponseFigures(*totals[True]), ResponseFigures(*totals[False])


@dataclass(frozen=True)
class BaselineVoice:
    """Baseline scores of one public value: respondents who are not active participants as of T
    (invited people who never came...), beside the active ones."""

    public_value: str
    inactive: float | None  # reported mean
    inactive_n: int
    active: float | None
    active_n: int


def baseline_voices(facts: Facts) -> list[BaselineVoice]:
    voices = []
    for code in facts.public_values:
        inactive = facts.baseline_by_activity.get((False, code), MeanCounts())
        active = facts.baseline_by_activity.get((True, code), MeanCounts())
        voices.append(BaselineVoice(code, ratio(inactive.total, inactive.n), inactive.n,
                                    ratio(active.total, active.n), active.n))
    return voices


def compute_perceptions(process_id: int, as_of: datetime) -> Facts:
    """The catalogue and perception facts of a process as of an instant (raises NotFound)."""
    return gather_perceptions(process_id, check_instant(as_of))


def indicator_rows(facts: Facts) -> list[IndicatorRow]:
    rows: list[IndicatorRow] = []
    for family in (_ledger_rows, _representation_rows, _voice_rows, _answer_rows,
                   _perception_rows):
        family(facts, rows.append)
    return rows


def compute_indicators(process_id: int, as_of: datetime) -> list[IndicatorRow]:
    """The contract's indicator rows for one process as of an instant (raises NotFound)."""
    return indicator_rows(gather(process_id, check_instant(as_of)))
