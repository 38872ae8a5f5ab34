"""Indicator rows of INDICATORS.md, derived from the aggregates of `facts`.

Nothing here queries the database: `facts.gather` does, in a fixed number of statements, and
this module turns its small results into the contract's rows (ratios, nulls, rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

from pvplatform.indicators.facts import DAY, Facts, gather
from pvplatform.indicators.rows import Group, IndicatorRow, ratio, round6
from pvplatform.indicators.thresholds import DEFAULTS


@dataclass(frozen=True)
class CategoryFigures:
    category: str
    share: float | None  # normalised population share
    attendees: int  # a_c
    ratio: float | None  # representation ratio, as reported


@dataclass(frozen=True)
class DimensionFigures:
    dimension: str
    known: int  # A: external attendees with a known category in this dimension
    categories: tuple[CategoryFigures, ...]


@dataclass(frozen=True)
class PerceptionFigures:
    public_value: str
    group: Group
    delta: float | None  # reported (rounded) mean of final - baseline
    n: int


def check_instant(as_of: datetime) -> datetime:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be a timezone-aware datetime")
    return as_of.astimezone(UTC)


def representation(facts: Facts) -> list[DimensionFigures]:
    dimensions = []
    for dimension, strata in groupby(facts.strata, key=lambda s: s.dimension):
        strata = list(strata)
        total_share = sum(s.population_share for s in strata)
        known = sum(s.attendees for s in strata)
        categories = []
        for stratum in strata:
            share = stratum.population_share / total_share if total_share > 0 else None
            value = None
            if known and share:
                value = round6((stratum.attendees / known) / share)
            categories.append(CategoryFigures(stratum.category, share, stratum.attendees, value))
        dimensions.append(DimensionFigures(dimension, known, tuple(categories)))
    return dimensions


def perceptions(facts: Facts) -> list[PerceptionFigures]:
    figures = []
    for group in (Group.EXTERNAL, Group.INTERNAL):
        for code in facts.public_values:
            n, total = facts.perception.get((group == Group.INTERNAL, code), (0, 0))
            figures.append(PerceptionFigures(code, group, ratio(total, n), n))
    return figures


def is_duality(internal: PerceptionFigures, external: PerceptionFigures, *, min_n: int,
               min_delta: float) -> bool:
    """Both groups measured on enough people, both moved, in opposite directions."""
    if internal.delta is None or external.delta is None:
        return False
    return (internal.n >= min_n and external.n >= min_n
            and abs(internal.delta) >= min_delta and abs(external.delta) >= min_delta
            and internal.delta * external.delta < 0)


def duality_pairs(figures: list[PerceptionFigures]
                  ) -> Iterator[tuple[str, PerceptionFigures, PerceptionFigures]]:
    by_key = {(f.public_value, f.group): f for f in figures}
    for code in sorted({f.public_value for f in figures}):
        yield code, by_key[(code, Group.INTERNAL)], by_key[(code, Group.EXTERNAL)]


def indicator_rows(facts: Facts) -> list[IndicatorRow]:
    rows: list[IndicatorRow] = []
    add = rows.append

    # Attendance and the non-participation ledger.
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

    # Representativeness of external attendees.
    external = facts.external_attendees
    for dim in representation(facts):
        add(IndicatorRow("known_share", ratio(dim.known, external), external,
                         dimension=dim.dimension))
        for cat in dim.categories:
            add(IndicatorRow("representation_ratio", cat.ratio, cat.attendees,
                             dimension=dim.dimension, category=cat.category))
        shares_known = all(cat.share is not None for cat in dim.categories)
        dissimilarity = None
        not_reached = None
        if dim.known and shares_known:
            dissimilarity = round6(0.5 * sum(abs(cat.attendees / dim.known - (cat.share or 0.0))
                                             for cat in dim.categories))
        if dim.known:
            not_reached = sum(1 for cat in dim.categories if cat.share and cat.attendees == 0)
        add(IndicatorRow("dissimilarity", dissimilarity, dim.known, dimension=dim.dimension))
        add(IndicatorRow("strata_not_reached", not_reached, dim.known, dimension=dim.dimension))

    # Retention over held sessions.
    if facts.sessions:
        first, last = facts.sessions[0], facts.sessions[-1]
        add(IndicatorRow("retention", ratio(last.overlap_first, first.attendees),
                         first.attendees))
    else:
        add(IndicatorRow("retention", None, 0))
    for previous, session in zip(facts.sessions, facts.sessions[1:], strict=False):
        value = None
        if previous.attendees:
            value = round6(1 - session.overlap_previous / previous.attendees)
        add(IndicatorRow("attrition", value, previous.attendees, session_id=session.id))

    # Equality of voice.
    gini = None
    if facts.contributors and facts.contributions:
        gini = round6(facts.gini_numerator / (facts.contributors * facts.contributions))
    add(IndicatorRow("contribution_gini", gini, facts.contributors))
    add(IndicatorRow("top10_share", ratio(facts.top_contributions, facts.contributions),
                     facts.contributors))
    add(IndicatorRow("internal_voice_share",
                     ratio(facts.internal_contributions, facts.contributions),
                     facts.contributions))

    # Responsiveness.
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

    # Perceived public value.
    figures = perceptions(facts)
    for figure in figures:
        add(IndicatorRow("perception_delta", figure.delta, figure.n, group=figure.group,
                         public_value=figure.public_value))
    dualities = sum(
        1 for _code, internal, external in duality_pairs(figures)
        if is_duality(internal, external, min_n=DEFAULTS.duality_min_n,
                      min_delta=DEFAULTS.duality_min_delta)
    )
    add(IndicatorRow("duality_count", dualities, len(facts.public_values)))
    return rows


def compute_indicators(process_id: int, as_of: datetime) -> list[IndicatorRow]:
    """The contract's indicator rows for one process as of an instant (raises NotFound)."""
    return indicator_rows(gather(process_id, check_instant(as_of)))
