"""The aggregates behind every indicator, read from the database as of an instant.

Each function below issues a fixed number of SQL statements whatever the size of the process:
counting, grouping and ranking happen in the database (GROUP BY, COUNT DISTINCT, window
functions), and Python only receives one row per held session, stratum, public value or
association. See INDICATORS.md for the meaning of every figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from pvplatform.auth.models import Association
from pvplatform.core.lookup import valid_id
from pvplatform.core.sql import binary_order, seconds_between
from pvplatform.errors import NotFound
from pvplatform.extensions import db
from pvplatform.feedback.models import Perception, PublicValue, Wave
from pvplatform.indicators.sets import ProcessSets
from pvplatform.indicators.temporary import kept, temporary_table
from pvplatform.participation.models import (
    INTERNAL_KINDS,
    AttendanceSnapshot,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Comment, Proposal, ProposalState
from pvplatform.sessions.models import SpeakingTurn

DAY = 86400
# Every character Python's str.isspace() accepts.
WHITE_SPACE = "".join(chr(c) for c in (
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
    *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000))


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _float(value: Any) -> float | None:
    # PostgreSQL returns Decimal for EXTRACT(EPOCH ...) and SUMs of bigints.
    return float(value) if value is not None else None


@dataclass
class HeldSession:
    id: int
    k: int  # 1 for the first held session
    title: str
    attendees: int
    overlap_previous: int  # attendees also at the held session before
    live_registrations: int = 0
    no_shows: int = 0


@dataclass
class StratumCount:
    dimension: str
    category: str
    population_share: float
    attendees: int  # external attendees whose latest snapshot puts them in this category
    active: int = 0  # external active participants in this category


@dataclass
class PerceptionCounts:
    """One group's answers about one public value (latest answers, "don't know" left out)."""

    baseline_n: int = 0
    baseline_sum: int = 0
    final_n: int = 0
    final_sum: int = 0
    matched: int = 0  # participants with a baseline and a final score
    change_sum: int = 0  # sum of final - baseline over them
    improved: int = 0
    worsened: int = 0


@dataclass
class WaveResponse:
    respondents: int = 0  # answered the wave (a score or "don't know")
    eligible: int = 0  # active participants or respondents


@dataclass
class MeanCounts:
    """Scores of one wave: how many and their sum ("don't know" left out)."""

    n: int = 0
    total: int = 0


@dataclass
class Facts:
    process_id: int
    as_of: datetime
    population: int | None = None
    sessions: list[HeldSession] = field(default_factory=list)
    attendees: int = 0
    internal_attendees: int = 0
    gone_before_last_two: int = 0  # attendees whose last held session is before the last two
    first_came_back: int = 0  # first-held-session attendees at any later held session
    active_participants: int = 0
    external_active: int = 0
    invitation_pairs: int = 0
    invitation_pairs_registered: int = 0
    strata: list[StratumCount] = field(default_factory=list)
    contributors: int = 0
    contributions: int = 0
    internal_contributions: int = 0
    gini_numerator: int = 0  # sum of (2i - n - 1) * x_i, counts ascending
    top_contributions: int = 0  # contributions of the ceil(n / 10) largest contributors
    asked: int = 0
    answered: int = 0
    published_30d_before: int = 0
    answered_within_30d: int = 0
    unanswered: int = 0
    unanswered_long: int = 0  # published at least `alert_days` before T (90 by default)
    unanswered_recent: int = 0  # at least `warning_days` before T (30 by default)
    oldest_unanswered_published_at: datetime | None = None
    rejected: int = 0
    rejected_with_rationale: int = 0
    median_seconds_to_answer: float | None = None
    internal_speaking_seconds: float = 0.0
    external_speaking_seconds: float = 0.0
    speaking_gini_numerator: float = 0.0  # sum of (2i - n - 1) * x_i over attendees' seconds
    attendee_speaking_seconds: float = 0.0  # sum of x_i (speakers who are attendees)
    public_values: list[str] = field(default_factory=list)
    # (group is internal?, public value code) -> counts
    perception: dict[tuple[bool, str], PerceptionCounts] = field(default_factory=dict)
    # (group is internal?, wave) -> respondents and eligible
    responses: dict[tuple[bool, Wave], WaveResponse] = field(default_factory=dict)
    # (public value code, held session id) -> (participants with a score, sum of scores)
    pulses: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    # The same counts per participant kind (citizen, association, manager, elected): a group's
    # counts are the sums of its kinds'.
    # (kind, public value code) -> counts
    perception_by_kind: dict[tuple[str, str], PerceptionCounts] = field(default_factory=dict)
    # (kind, wave) -> respondents and eligible
    responses_by_kind: dict[tuple[str, Wave], WaveResponse] = field(default_factory=dict)
    # Final wave, (kind, dropped out as of T?) -> respondents and eligible: did those who left
    # answer as much as those who stayed?
    final_by_departure: dict[tuple[str, bool], WaveResponse] = field(default_factory=dict)
    # Baseline scores, (active participant as of T?, public value code) -> counts: the voice of
    # people who answered without (yet) taking part, beside that of active participants.
    baseline_by_activity: dict[tuple[bool, str], MeanCounts] = field(default_factory=dict)
    # Baseline respondents (a score or "don't know") who are not active participants.
    inactive_baseline_respondents: int = 0
    # Public value code -> name, as staff named it (a code without a name stands for itself).
    # Dimensions and categories are named when a text is read (`participation.labels`).
    value_names: dict[str, str] = field(default_factory=dict)

    @property
    def external_attendees(self) -> int:
        return self.attendees - self.internal_attendees

    @property
    def speaking_seconds(self) -> float:
        return self.internal_speaking_seconds + self.external_speaking_seconds


@dataclass
class AssociationAbsence:
    association_id: int
    name: str
    sessions_in_a_row: int


def _internal(kind: Any) -> Any:
    return kind.in_(INTERNAL_KINDS)


def _kind(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


def _is_internal(kind: Any) -> bool:
    return _kind(kind) in INTERNAL_KINDS


def _sessions(s: ProcessSets) -> list[HeldSession]:
    cur, prev = s.att.alias("cur"), s.att.alias("prev")
    rows = db.session.execute(
        sa.select(
            s.held.c.id, s.held.c.k, s.held.c.title,
            sa.func.count(sa.distinct(cur.c.pid)),
            sa.func.count(sa.distinct(prev.c.pid)),
        )
        .select_from(
            s.held.outerjoin(cur, cur.c.k == s.held.c.k)
            .outerjoin(prev, sa.and_(prev.c.k == s.held.c.k - 1, prev.c.pid == cur.c.pid))
        )
        .group_by(s.held.c.id, s.held.c.k, s.held.c.title)
        .order_by(s.held.c.k)
    ).all()
    sessions = [HeldSession(id=r[0], k=int(r[1]), title=r[2], attendees=_int(r[3]),
                            overlap_previous=_int(r[4]))
                for r in rows]
    # Live registrations of each held session, and those without an attendance as of T.
    by_id = {h.id: h for h in sessions}
    for sid, registrations, no_shows in db.session.execute(
        sa.select(
            s.held.c.id,
            sa.func.count(s.live.c.pid),
            sa.func.count(sa.case((sa.and_(s.live.c.pid.is_not(None),
                                           s.att.c.pid.is_(None)), 1))),
        )
        .select_from(
            s.held.outerjoin(s.live, s.live.c.sid == s.held.c.id).outerjoin(
                s.att, sa.and_(s.att.c.sid == s.live.c.sid, s.att.c.pid == s.live.c.pid))
        )
        .group_by(s.held.c.id)
    ):
        by_id[sid].live_registrations = _int(registrations)
        by_id[sid].no_shows = _int(no_shows)
    return sessions


def _attendees(s: ProcessSets, facts: Facts) -> None:
    per_person = (
        sa.select(s.att.c.pid, sa.func.max(s.att.c.k).label("last_k"),
                  sa.func.min(s.att.c.k).label("first_k"))
        .group_by(s.att.c.pid)
        .subquery()
    )
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((_internal(Participant.kind), 1), else_=0)),
            sa.func.sum(sa.case((per_person.c.last_k <= s.held_count() - 2, 1), else_=0)),
            # At the first held session and at a later one: their first is 1, their last > 1.
            sa.func.sum(sa.case((sa.and_(per_person.c.first_k == 1, per_person.c.last_k > 1),
                                 1), else_=0)),
        ).select_from(per_person.join(Participant, Participant.id == per_person.c.pid))
    ).one()
    (facts.attendees, facts.internal_attendees, facts.gone_before_last_two,
     facts.first_came_back) = map(_int, row)

    active = s.active()
    total, external = db.session.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((~_internal(Participant.kind), 1),
                                                       else_=0)))
        .select_from(active.join(Participant, Participant.id == active.c.pid))
    ).one()
    facts.active_participants, facts.external_active = _int(total), _int(external)


def _invitations(s: ProcessSets, facts: Facts) -> None:
    total, registered = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(s.live.c.sid)).select_from(
            s.pairs.outerjoin(s.live, sa.and_(s.live.c.sid == s.pairs.c.sid,
                                              s.live.c.pid == s.pairs.c.pid)))
    ).one()
    facts.invitation_pairs, facts.invitation_pairs_registered = _int(total), _int(registered)


def _strata(s: ProcessSets, facts: Facts) -> None:
    """External attendees and external active participants per known category."""
    ranked = sa.select(
        s.att.c.attendance_id,
        s.att.c.pid,
        sa.func.row_number().over(
            partition_by=s.att.c.pid,
            order_by=(s.att.c.checked_in_at.desc(), s.att.c.attendance_id.desc()),
        ).label("rn"),
    ).subquery()
    latest = sa.select(ranked.c.attendance_id, ranked.c.pid).where(ranked.c.rn == 1).subquery()
    active = s.active()
    # An attendee's categories are those of their latest snapshot; an active participant who
    # never attended has their consented answers.
    categories = sa.union_all(
        sa.select(latest.c.pid.label("pid"), AttendanceSnapshot.dimension.label("dimension"),
                  AttendanceSnapshot.category.label("category"),
                  sa.literal(1).label("attendee"))
        .join(AttendanceSnapshot, AttendanceSnapshot.attendance_id == latest.c.attendance_id),
        sa.select(ParticipantAttribute.participant_id, ParticipantAttribute.dimension,
                  ParticipantAttribute.category, sa.literal(0))
        .join(active, active.c.pid == ParticipantAttribute.participant_id)
        .where(ParticipantAttribute.participant_id.not_in(sa.select(s.att.c.pid))),
    ).subquery()
    counted = (
        sa.select(categories.c.dimension, categories.c.category,
                  sa.func.sum(categories.c.attendee).label("attendees"),
                  sa.func.count().label("active"))
        .join(Participant, Participant.id == categories.c.pid)
        .where(~_internal(Participant.kind))
        .group_by(categories.c.dimension, categories.c.category)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Stratum.dimension, Stratum.category, Stratum.population_share,
                  sa.func.coalesce(counted.c.attendees, 0), sa.func.coalesce(counted.c.active, 0))
        .outerjoin(counted, sa.and_(counted.c.dimension == Stratum.dimension,
                                    counted.c.category == Stratum.category))
        .where(Stratum.process_id == s.process_id)
        .order_by(binary_order(Stratum.dimension), binary_order(Stratum.category))
    ).all()
    facts.strata = [StratumCount(r[0], r[1], float(r[2]), _int(r[3]), _int(r[4]))
                    for r in rows]


def _contributions(s: ProcessSets, facts: Facts) -> None:
    contributions = sa.union_all(
        sa.select(s.published.c.author_id.label("pid")),
        sa.select(Comment.author_id.label("pid"))
        .join(s.published, s.published.c.id == Comment.proposal_id)
        .where(Comment.created_at <= s.as_of),
    ).subquery()
    per_person = (
        sa.select(contributions.c.pid, sa.func.count().label("x"))
        .group_by(contributions.c.pid)
        .subquery()
    )
    ranked = (
        sa.select(
            per_person.c.x,
            Participant.kind,
            sa.func.row_number().over(order_by=per_person.c.x).label("up"),
            sa.func.row_number().over(order_by=per_person.c.x.desc()).label("down"),
            sa.func.count().over().label("n"),
        )
        .join(Participant, Participant.id == per_person.c.pid)
        .subquery()
    )
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.sum(ranked.c.x),
            sa.func.sum(sa.case((_internal(ranked.c.kind), ranked.c.x), else_=0)),
            sa.func.sum((2 * ranked.c.up - ranked.c.n - 1) * ranked.c.x),
            # ceil(n / 10) in integer arithmetic: 0.1 * n in floating point overshoots (n = 30).
            sa.func.sum(sa.case((ranked.c.down <= (ranked.c.n + 9) // 10, ranked.c.x),
                                else_=0)),
        )
    ).one()
    (facts.contributors, facts.contributions, facts.internal_contributions,
     facts.gini_numerator, facts.top_contributions) = map(_int, row)


def _answers(s: ProcessSets, facts: Facts, alert_days: int, warning_days: int) -> None:
    as_of = s.as_of
    asked = sa.and_(
        Proposal.process_id == s.process_id,
        Proposal.published_at <= as_of,
        Proposal.state != ProposalState.WITHDRAWN,
    )
    answered = sa.and_(Proposal.answered_at.is_not(None), Proposal.answered_at <= as_of)
    unanswered = sa.or_(Proposal.answered_at.is_(None), Proposal.answered_at > as_of)
    rejected = sa.and_(answered, Proposal.state == ProposalState.REJECTED)
    # Blank: nothing but white space, in Unicode's sense (a narrow no-break space or an
    # ideographic space is as empty as a plain one). trim(x, characters) strips them all, on
    # SQLite as on PostgreSQL.
    reasoned = sa.func.coalesce(
        sa.func.trim(Proposal.answer_rationale, sa.literal(WHITE_SPACE)), "") != ""
    month_ago = as_of - timedelta(days=30)
    alert_before = as_of - timedelta(days=alert_days)
    warning_before = as_of - timedelta(days=warning_days)

    def count_if(condition: Any) -> Any:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    row = db.session.execute(
        sa.select(
            sa.func.count(),
            count_if(answered),
            count_if(Proposal.published_at <= month_ago),
            count_if(sa.and_(Proposal.published_at <= month_ago,
                             Proposal.answered_at.is_not(None),
                             seconds_between(Proposal.answered_at, Proposal.published_at)
                             <= 30 * DAY)),
            count_if(unanswered),
            count_if(sa.and_(unanswered, Proposal.published_at <= alert_before)),
            count_if(sa.and_(unanswered, Proposal.published_at <= warning_before)),
            count_if(rejected),
            count_if(sa.and_(rejected, reasoned)),
            sa.func.min(sa.case((unanswered, Proposal.published_at))),
        ).where(asked)
    ).one()
    (facts.asked, facts.answered, facts.published_30d_before, facts.answered_within_30d,
     facts.unanswered, facts.unanswered_long, facts.unanswered_recent, facts.rejected,
     facts.rejected_with_rationale) = map(_int, row[:9])
    facts.oldest_unanswered_published_at = row[9]

    durations = (
        sa.select(seconds_between(Proposal.answered_at, Proposal.published_at).label("d"))
        .where(asked, answered)
        .subquery()
    )
    ranked = sa.select(
        durations.c.d,
        sa.func.row_number().over(order_by=durations.c.d).label("i"),
        sa.func.count().over().label("n"),
    ).subquery()
    middle = [
        _float(d) for d in db.session.scalars(
            sa.select(ranked.c.d).where(
                ranked.c.i.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
            .order_by(ranked.c.i))
    ]
    middle_values = [d for d in middle if d is not None]
    if middle_values:
        facts.median_seconds_to_answer = sum(middle_values) / len(middle_values)


def _speaking(s: ProcessSets, facts: Facts) -> None:
    """Speaking seconds per group, and the Gini of attendees' speaking seconds, over the ended
    turns (ended at or before T) of held sessions, with exact fractional durations."""
    turns = (
        sa.select(SpeakingTurn.participant_id.label("pid"),
                  seconds_between(SpeakingTurn.ended_at, SpeakingTurn.started_at).label("d"))
        .join(s.held, s.held.c.id == SpeakingTurn.meeting_id)
        .where(SpeakingTurn.ended_at.is_not(None), SpeakingTurn.ended_at <= s.as_of)
        .subquery()
    )
    per_speaker = (
        sa.select(turns.c.pid, sa.func.sum(turns.c.d).label("x"))
        .group_by(turns.c.pid)
        .subquery()
    )
    # Grouped by the plain kind column (see _perceptions); folded into groups here.
    for kind, seconds in db.session.execute(
        sa.select(Participant.kind, sa.func.sum(per_speaker.c.x))
        .join(Participant, Participant.id == per_speaker.c.pid)
        .group_by(Participant.kind)
    ):
        if _is_internal(kind):
            facts.internal_speaking_seconds += _float(seconds) or 0.0
        else:
            facts.external_speaking_seconds += _float(seconds) or 0.0

    # The Gini sum over all n attendees, sum((2i - n - 1) x_i) with x ascending, without
    # joining every attendee to the speakers (SQLite ran that join as a nested loop: 20 s at
    # city size): the n - m attendees who never spoke hold the first ranks with x = 0, so the
    # j-th of the m speaking attendees has rank i = n - m + j.
    n = db.session.scalar(sa.select(sa.func.count(sa.distinct(s.att.c.pid)))) or 0
    speakers = (
        sa.select(per_speaker.c.x)
        .where(per_speaker.c.pid.in_(sa.select(s.att.c.pid)))
        .subquery()
    )
    ranked = sa.select(
        speakers.c.x,
        sa.func.row_number().over(order_by=speakers.c.x).label("j"),
        sa.func.count().over().label("m"),
    ).subquery()
    numerator, total = db.session.execute(
        sa.select(sa.func.sum((2 * ranked.c.j + n - 2 * ranked.c.m - 1) * ranked.c.x),
                  sa.func.sum(ranked.c.x))
    ).one()
    facts.speaking_gini_numerator = _float(numerator) or 0.0
    facts.attendee_speaking_seconds = _float(total) or 0.0


def _latest_answers(s: ProcessSets) -> sa.FromClause:
    """The answer that counts per participant, catalogue value, wave (and session for the
    session wave): the latest at or before T. Its score is NULL for "don't know". Read from the
    reading's temporary table when it keeps one."""
    table = s.kept.get("latest")
    if table is not None:
        return table.alias("latest")
    return _latest_answers_query(s).subquery("latest")


def _latest_answers_query(s: ProcessSets) -> sa.Select:
    later = aliased(Perception)
    # No later answer to the same question at or before T. The unique index on (participant,
    # value, wave, session folded to 0, instant) answers this with one seek per answer.
    no_later = ~sa.exists().where(
        later.participant_id == Perception.participant_id,
        later.public_value_id == Perception.public_value_id,
        later.wave == Perception.wave,
        _session_key(later) == _session_key(Perception),
        later.answered_at > Perception.answered_at,
        later.answered_at <= s.as_of,
    )
    return (
        sa.select(
            Perception.participant_id.label("pid"),
            Perception.public_value_id.label("vid"),
            Perception.wave.label("wave"),
            Perception.meeting_id.label("sid"),
            Perception.score.label("score"),
        )
        .join(PublicValue, PublicValue.id == Perception.public_value_id)
        .where(PublicValue.process_id == s.process_id, Perception.answered_at <= s.as_of,
               no_later)
    )


ACTIVE = temporary_table("active", sa.Column("pid", sa.Integer, primary_key=True))
LATEST_ANSWERS = temporary_table(
    "latest_answers", sa.Column("pid", sa.Integer), sa.Column("vid", sa.Integer),
    sa.Column("wave", sa.String(20)), sa.Column("sid", sa.Integer),
    sa.Column("score", sa.SmallInteger))


@contextmanager
def kept_sets(s: ProcessSets) -> Iterator[None]:
    """The reading's active participants and latest answers, each computed once (temporary
    tables) rather than in each of the four statements that read them."""
    with (
        kept(ACTIVE, s.active_query()) as active,
        kept(LATEST_ANSWERS, _latest_answers_query(s)) as latest,
    ):
        s.kept.update(active=active, latest=latest)
        try:
            yield
        finally:
            s.kept.clear()


def _session_key(perception: Any) -> Any:
    # Spelled as in the index (a literal 0, not a bound parameter) so that the database uses it.
    return sa.func.coalesce(perception.meeting_id, sa.literal_column("0"))


def _perceptions(s: ProcessSets, facts: Facts) -> None:
    latest = _latest_answers(s)
    waves = sa.select(latest).where(latest.c.wave.in_([Wave.BASELINE, Wave.FINAL])).subquery()
    pairs = (
        sa.select(
            waves.c.pid,
            waves.c.vid,
            sa.func.max(sa.case((waves.c.wave == Wave.BASELINE, waves.c.score))).label("b"),
            sa.func.max(sa.case((waves.c.wave == Wave.FINAL, waves.c.score))).label("f"),
        )
        .group_by(waves.c.pid, waves.c.vid)
        .subquery()
    )
    both = sa.and_(pairs.c.b.is_not(None), pairs.c.f.is_not(None))

    def count_if(condition: Any) -> Any:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    # Grouped by the plain kind column: PostgreSQL refuses a GROUP BY expression whose bound
    # parameters differ from the SELECT's, so kinds are folded into groups in Python.
    rows = db.session.execute(
        sa.select(
            PublicValue.code, Participant.kind,
            sa.func.count(pairs.c.b), sa.func.sum(pairs.c.b),
            sa.func.count(pairs.c.f), sa.func.sum(pairs.c.f),
            count_if(both),
            sa.func.sum(sa.case((both, pairs.c.f - pairs.c.b), else_=0)),
            count_if(sa.and_(both, pairs.c.f > pairs.c.b)),
            count_if(sa.and_(both, pairs.c.f < pairs.c.b)),
        )
        .select_from(pairs)
        .join(Participant, Participant.id == pairs.c.pid)
        .join(PublicValue, PublicValue.id == pairs.c.vid)
        .group_by(PublicValue.code, Participant.kind)
    ).all()
    for code, kind, *numbers in rows:
        counts = facts.perception.setdefault((_is_internal(kind), code), PerceptionCounts())
        per_kind = facts.perception_by_kind.setdefault((_kind(kind), code), PerceptionCounts())
        for name, number in zip(("baseline_n", "baseline_sum", "final_n", "final_sum",
                                 "matched", "change_sum", "improved", "worsened"),
                                numbers, strict=True):
            setattr(counts, name, getattr(counts, name) + _int(number))
            setattr(per_kind, name, getattr(per_kind, name) + _int(number))

    # Response rates: respondents of a wave over the group's active participants and
    # respondents of that wave.
    active = s.active()
    people = sa.union_all(
        sa.select(active.c.pid.label("pid"), sa.literal(1).label("a"), sa.literal(0).label("b"),
                  sa.literal(0).label("f")),
        sa.select(waves.c.pid, sa.literal(0),
                  sa.case((waves.c.wave == Wave.BASELINE, 1), else_=0),
                  sa.case((waves.c.wave == Wave.FINAL, 1), else_=0)),
    ).subquery()
    per_person = (
        sa.select(people.c.pid, sa.func.max(people.c.a).label("a"),
                  sa.func.max(people.c.b).label("b"), sa.func.max(people.c.f).label("f"))
        .group_by(people.c.pid)
        .subquery()
    )
    # Dropped out as of T (ledger's definition): attendees, so eligible for the final wave.
    dropped = s.dropped_out()
    left = dropped.c.pid.is_not(None)
    for (kind, eligible_b, respondents_b, eligible_f, respondents_f, eligible_left,
         respondents_left, inactive_b) in db.session.execute(
        sa.select(
            Participant.kind,
            count_if(sa.or_(per_person.c.a == 1, per_person.c.b == 1)),
            sa.func.sum(per_person.c.b),
            count_if(sa.or_(per_person.c.a == 1, per_person.c.f == 1)),
            sa.func.sum(per_person.c.f),
            count_if(sa.and_(left, sa.or_(per_person.c.a == 1, per_person.c.f == 1))),
            sa.func.sum(sa.case((left, per_person.c.f), else_=0)),
            count_if(sa.and_(per_person.c.a == 0, per_person.c.b == 1)),
        )
        .select_from(per_person)
        .join(Participant, Participant.id == per_person.c.pid)
        .outerjoin(dropped, dropped.c.pid == per_person.c.pid)
        .group_by(Participant.kind)
    ):
        internal = _is_internal(kind)
        for wave, eligible, respondents in ((Wave.BASELINE, eligible_b, respondents_b),
                                            (Wave.FINAL, eligible_f, respondents_f)):
            response = facts.responses.setdefault((internal, wave), WaveResponse())
            response.eligible += _int(eligible)
            response.respondents += _int(respondents)
            per_kind = facts.responses_by_kind.setdefault((_kind(kind), wave), WaveResponse())
            per_kind.eligible += _int(eligible)
            per_kind.respondents += _int(respondents)
        gone = facts.final_by_departure.setdefault((_kind(kind), True), WaveResponse())
        gone.eligible += _int(eligible_left)
        gone.respondents += _int(respondents_left)
        stayed = facts.final_by_departure.setdefault((_kind(kind), False), WaveResponse())
        stayed.eligible += _int(eligible_f) - _int(eligible_left)
        stayed.respondents += _int(respondents_f) - _int(respondents_left)
        facts.inactive_baseline_respondents += _int(inactive_b)

    # Baseline scores of active participants and of the other respondents (invited people who
    # never came, answering from the absence question or a link), per public value.
    baseline = (
        sa.select(waves.c.pid, waves.c.vid, waves.c.score)
        .where(waves.c.wave == Wave.BASELINE, waves.c.score.is_not(None))
        .subquery()
    )
    is_active = active.c.pid.is_not(None)
    for code, n_active, sum_active, n_inactive, sum_inactive in db.session.execute(
        sa.select(
            PublicValue.code,
            count_if(is_active), sa.func.sum(sa.case((is_active, baseline.c.score), else_=0)),
            count_if(~is_active), sa.func.sum(sa.case((~is_active, baseline.c.score), else_=0)),
        )
        .select_from(baseline)
        .join(PublicValue, PublicValue.id == baseline.c.vid)
        .outerjoin(active, active.c.pid == baseline.c.pid)
        .group_by(PublicValue.code)
    ):
        facts.baseline_by_activity[(True, code)] = MeanCounts(_int(n_active), _int(sum_active))
        facts.baseline_by_activity[(False, code)] = MeanCounts(_int(n_inactive),
                                                               _int(sum_inactive))

    # Session pulses: the counted scores about each held session.
    for code, sid, n, total in db.session.execute(
        sa.select(PublicValue.code, latest.c.sid, sa.func.count(latest.c.score),
                  sa.func.sum(latest.c.score))
        .join(PublicValue, PublicValue.id == latest.c.vid)
        .join(s.held, s.held.c.id == latest.c.sid)
        .where(latest.c.wave == Wave.SESSION, latest.c.score.is_not(None))
        .group_by(PublicValue.code, latest.c.sid)
    ):
        facts.pulses[(code, sid)] = (_int(n), _int(total))


def _catalogue(process_id: int, facts: Facts) -> None:
    """The public values of the process and their names (one statement)."""
    rows = db.session.execute(
        sa.select(PublicValue.code, PublicValue.name)
        .where(PublicValue.process_id == process_id)).all()
    for code, name in rows:
        facts.public_values.append(code)
        if name:
            facts.value_names[code] = name
    facts.public_values.sort()  # plain string order, whatever the database's collation


def _check_process(process_id: int) -> None:
    # A SELECT rather than session.get: the identity map would skip the query (and hide a
    # deleted row) depending on what the caller loaded before.
    if valid_id(process_id) is None:
        raise NotFound()
    if db.session.scalar(sa.select(Process.id).where(Process.id == process_id)) is None:
        raise NotFound()


def gather(process_id: int, as_of: datetime, *, alert_days: int = 90,
           warning_days: int = 30) -> Facts:
    """Every aggregate the indicators need, in a fixed number of SQL statements."""
    _check_process(process_id)
    sets = ProcessSets(process_id, as_of)
    facts = Facts(process_id=process_id, as_of=as_of)
    facts.population = db.session.scalar(
        sa.select(Process.population).where(Process.id == process_id))
    _catalogue(process_id, facts)
    facts.sessions = _sessions(sets)
    with kept_sets(sets):
        _attendees(sets, facts)
        _invitations(sets, facts)
        _strata(sets, facts)
        _contributions(sets, facts)
        _answers(sets, facts, alert_days, warning_days)
        _speaking(sets, facts)
        _perceptions(sets, facts)
    return facts


def _held_sessions(s: ProcessSets) -> list[HeldSession]:
    """Held sessions in order with their titles only (what the perception figures need: the
    attendance counts of `_sessions` stay at 0)."""
    return [HeldSession(id=sid, k=int(k), title=title, attendees=0, overlap_previous=0)
            for sid, k, title in db.session.execute(
                sa.select(s.held.c.id, s.held.c.k, s.held.c.title).order_by(s.held.c.k))]


def gather_perceptions(process_id: int, as_of: datetime) -> Facts:
    """The catalogue and the perception aggregates only (baseline, final, per kind, response
    rates, pulses), in a fixed number of SQL statements: what the perceived public value page
    needs, without paying for the whole engine. Other fields keep their defaults, and
    `sessions` holds the held sessions' ids, ranks and titles only."""
    _check_process(process_id)
    sets = ProcessSets(process_id, as_of)
    facts = Facts(process_id=process_id, as_of=as_of)
    _catalogue(process_id, facts)
    facts.sessions = _held_sessions(sets)
    with kept_sets(sets):
        _perceptions(sets, facts)
    return facts


def association_absences(process_id: int, as_of: datetime) -> list[AssociationAbsence]:
    """Per association invited as such: how many of its last invited held sessions in a row had
    no member attending (counting back from the most recent)."""
    scope = ProcessSets(process_id, as_of)
    invited = (
        sa.select(scope.association_pairs.c.aid.label("aid"), scope.held.c.id.label("sid"),
                  scope.held.c.k.label("k"))
        .join(scope.held, scope.held.c.id == scope.association_pairs.c.sid)
        .subquery()
    )
    # Members present per held session and association, counted once before the join.
    present = (
        sa.select(scope.att.c.k.label("k"), Participant.association_id.label("aid"),
                  sa.func.count().label("n"))
        .join(Participant, Participant.id == scope.att.c.pid)
        .where(Participant.association_id.is_not(None))
        .group_by(scope.att.c.k, Participant.association_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(invited.c.aid, Association.name, invited.c.k,
                  sa.func.coalesce(present.c.n, 0))
        .select_from(invited)
        .join(Association, Association.id == invited.c.aid)
        .outerjoin(present, sa.and_(present.c.k == invited.c.k,
                                    present.c.aid == invited.c.aid))
        .order_by(invited.c.aid, invited.c.k.desc())
    ).all()
    absences: dict[int, AssociationAbsence] = {}
    broken: set[int] = set()
    for aid, name, _k, members_present in rows:
        entry = absences.setdefault(aid, AssociationAbsence(aid, name, 0))
        if aid in broken:
            continue
        if _int(members_present) == 0:
            entry.sessions_in_a_row += 1
        else:
            broken.add(aid)
    return list(absences.values())
