"""The aggregates behind every indicator, read from the database as of an instant.

Each function below issues a fixed number of SQL statements whatever the size of the process:
counting, grouping and ranking happen in the database (GROUP BY, COUNT DISTINCT, window
functions), and Python only receives one row per held session, stratum, public value or
association. See INDICATORS.md for the meaning of every figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pvplatform.auth.models import Association
from pvplatform.core.lookup import valid_id
from pvplatform.errors import NotFound
from pvplatform.extensions import db
from pvplatform.feedback.models import Perception, PublicValue, Wave
from pvplatform.indicators.sql import binary_order, seconds_between
from pvplatform.participation.models import (
    INTERNAL_KINDS,
    AttendanceSnapshot,
    Participant,
    Stratum,
)
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote
from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration

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
    overlap_first: int  # attendees also at the first held session
    live_registrations: int = 0
    no_shows: int = 0


@dataclass
class StratumCount:
    dimension: str
    category: str
    population_share: float
    attendees: int  # external attendees whose latest snapshot puts them in this category


@dataclass
class Facts:
    process_id: int
    as_of: datetime
    sessions: list[HeldSession] = field(default_factory=list)
    attendees: int = 0
    internal_attendees: int = 0
    gone_before_last_two: int = 0  # attendees whose last held session is before the last two
    active_participants: int = 0
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
    public_values: list[str] = field(default_factory=list)
    # (internal?, public value code) -> (matched participants, sum of final - baseline)
    perception: dict[tuple[bool, str], tuple[int, int]] = field(default_factory=dict)

    @property
    def external_attendees(self) -> int:
        return self.attendees - self.internal_attendees


@dataclass
class AssociationAbsence:
    association_id: int
    name: str
    sessions_in_a_row: int


class _Scope:
    """The CTEs every query shares: held sessions (ranked) and their attendances as of T."""

    def __init__(self, process_id: int, as_of: datetime) -> None:
        self.process_id = process_id
        self.as_of = as_of
        reference = sa.func.coalesce(Meeting.external_ref, sa.cast(Meeting.id, sa.String))
        self.held = (
            sa.select(
                Meeting.id.label("id"),
                Meeting.title.label("title"),
                sa.func.row_number().over(
                    order_by=(Meeting.starts_at, binary_order(reference))).label("k"),
            )
            .where(Meeting.process_id == process_id, Meeting.starts_at <= as_of)
            .cte("held")
        )
        self.att = (
            sa.select(
                Attendance.id.label("attendance_id"),
                Attendance.participant_id.label("pid"),
                Attendance.checked_in_at.label("checked_in_at"),
                self.held.c.k.label("k"),
            )
            .join(self.held, self.held.c.id == Attendance.meeting_id)
            .where(Attendance.checked_in_at <= as_of)
            .cte("att")
        )
        self.process_sessions = sa.select(Meeting.id).where(Meeting.process_id == process_id)
        self.live = (
            sa.select(Registration.meeting_id.label("sid"),
                      Registration.participant_id.label("pid"))
            .where(
                Registration.meeting_id.in_(self.process_sessions),
                Registration.registered_at <= as_of,
                sa.or_(Registration.cancelled_at.is_(None), Registration.cancelled_at > as_of),
            )
            .distinct()
            .cte("live")
        )
        self.published = (
            sa.select(Proposal.id.label("id"), Proposal.author_id.label("author_id"))
            .where(Proposal.process_id == process_id, Proposal.published_at <= as_of)
            .cte("published")
        )


def _internal(kind: Any) -> Any:
    return kind.in_(INTERNAL_KINDS)


def _sessions(s: _Scope) -> list[HeldSession]:
    cur, prev, first = s.att.alias("cur"), s.att.alias("prev"), s.att.alias("first")
    rows = db.session.execute(
        sa.select(
            s.held.c.id, s.held.c.k, s.held.c.title,
            sa.func.count(sa.distinct(cur.c.pid)),
            sa.func.count(sa.distinct(prev.c.pid)),
            sa.func.count(sa.distinct(first.c.pid)),
        )
        .select_from(
            s.held.outerjoin(cur, cur.c.k == s.held.c.k)
            .outerjoin(prev, sa.and_(prev.c.k == s.held.c.k - 1, prev.c.pid == cur.c.pid))
            .outerjoin(first, sa.and_(first.c.k == 1, first.c.pid == cur.c.pid))
        )
        .group_by(s.held.c.id, s.held.c.k, s.held.c.title)
        .order_by(s.held.c.k)
    ).all()
    sessions = [HeldSession(id=r[0], k=int(r[1]), title=r[2], attendees=_int(r[3]),
                            overlap_previous=_int(r[4]), overlap_first=_int(r[5]))
                for r in rows]
    # Live registrations of each held session, and those without an attendance as of T.
    by_id = {h.id: h for h in sessions}
    for sid, registrations, no_shows in db.session.execute(
        sa.select(
            s.held.c.id,
            sa.func.count(s.live.c.pid),
            sa.func.count(sa.case((sa.and_(s.live.c.pid.is_not(None),
                                           Attendance.id.is_(None)), 1))),
        )
        .select_from(
            s.held.outerjoin(s.live, s.live.c.sid == s.held.c.id).outerjoin(
                Attendance,
                sa.and_(Attendance.meeting_id == s.live.c.sid,
                        Attendance.participant_id == s.live.c.pid,
                        Attendance.checked_in_at <= s.as_of),
            )
        )
        .group_by(s.held.c.id)
    ):
        by_id[sid].live_registrations = _int(registrations)
        by_id[sid].no_shows = _int(no_shows)
    return sessions


def _attendees(s: _Scope, facts: Facts) -> None:
    per_person = (
        sa.select(s.att.c.pid, sa.func.max(s.att.c.k).label("last_k"))
        .group_by(s.att.c.pid)
        .subquery()
    )
    held_count = sa.select(sa.func.count()).select_from(s.held).scalar_subquery()
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((_internal(Participant.kind), 1), else_=0)),
            sa.func.sum(sa.case((per_person.c.last_k <= held_count - 2, 1), else_=0)),
        ).select_from(per_person.join(Participant, Participant.id == per_person.c.pid))
    ).one()
    facts.attendees, facts.internal_attendees, facts.gone_before_last_two = map(_int, row)

    contributors = sa.union(
        sa.select(s.att.c.pid),
        sa.select(s.published.c.author_id),
        sa.select(Comment.author_id)
        .join(s.published, s.published.c.id == Comment.proposal_id)
        .where(Comment.created_at <= s.as_of),
        sa.select(Vote.participant_id)
        .join(s.published, s.published.c.id == Vote.proposal_id)
        .where(Vote.cast_at <= s.as_of),
    ).subquery()
    facts.active_participants = _int(
        db.session.scalar(sa.select(sa.func.count()).select_from(contributors)))


def _invitations(s: _Scope, facts: Facts) -> None:
    pairs = (
        sa.select(Invitation.meeting_id.label("sid"), Invitation.participant_id.label("pid"))
        .where(
            Invitation.meeting_id.in_(s.process_sessions),
            Invitation.participant_id.is_not(None),
            Invitation.invited_at <= s.as_of,
        )
        .distinct()
        .subquery()
    )
    total, registered = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(s.live.c.sid)).select_from(
            pairs.outerjoin(s.live, sa.and_(s.live.c.sid == pairs.c.sid,
                                            s.live.c.pid == pairs.c.pid)))
    ).one()
    facts.invitation_pairs, facts.invitation_pairs_registered = _int(total), _int(registered)


def _strata(s: _Scope, facts: Facts) -> None:
    ranked = sa.select(
        s.att.c.attendance_id,
        s.att.c.pid,
        sa.func.row_number().over(
            partition_by=s.att.c.pid,
            order_by=(s.att.c.checked_in_at.desc(), s.att.c.attendance_id.desc()),
        ).label("rn"),
    ).subquery()
    external_latest = (
        sa.select(ranked.c.attendance_id)
        .join(Participant, Participant.id == ranked.c.pid)
        .where(ranked.c.rn == 1, ~_internal(Participant.kind))
        .subquery()
    )
    snapshots = (
        sa.select(AttendanceSnapshot.dimension, AttendanceSnapshot.category,
                  sa.func.count().label("n"))
        .join(external_latest, external_latest.c.attendance_id
              == AttendanceSnapshot.attendance_id)
        .group_by(AttendanceSnapshot.dimension, AttendanceSnapshot.category)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Stratum.dimension, Stratum.category, Stratum.population_share,
                  sa.func.coalesce(snapshots.c.n, 0))
        .outerjoin(snapshots, sa.and_(snapshots.c.dimension == Stratum.dimension,
                                      snapshots.c.category == Stratum.category))
        .where(Stratum.process_id == s.process_id)
        .order_by(Stratum.dimension, Stratum.category)
    ).all()
    facts.strata = [StratumCount(r[0], r[1], float(r[2]), _int(r[3])) for r in rows]


def _contributions(s: _Scope, facts: Facts) -> None:
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


def _answers(s: _Scope, facts: Facts, alert_days: int, warning_days: int) -> None:
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


def _perceptions(s: _Scope, facts: Facts) -> None:
    facts.public_values = list(db.session.scalars(
        sa.select(PublicValue.code).where(PublicValue.process_id == s.process_id)
        .order_by(PublicValue.code)))
    # The latest answer per (participant, value, wave): its instant is unique per key (a
    # constraint), so a GROUP BY and a join on that key beat a window over every answer.
    last_at = (
        sa.select(
            Perception.participant_id.label("pid"),
            Perception.public_value_id.label("vid"),
            Perception.wave.label("wave"),
            sa.func.max(Perception.answered_at).label("at"),
        )
        .join(PublicValue, PublicValue.id == Perception.public_value_id)
        .where(
            PublicValue.process_id == s.process_id,
            Perception.answered_at <= s.as_of,
            Perception.wave.in_([Wave.BASELINE, Wave.FINAL]),
        )
        .group_by(Perception.participant_id, Perception.public_value_id, Perception.wave)
        .subquery()
    )
    latest = (
        sa.select(
            Perception.participant_id,
            Perception.public_value_id,
            Perception.wave,
            Perception.score,
        )
        .join(last_at, sa.and_(
            last_at.c.pid == Perception.participant_id,
            last_at.c.vid == Perception.public_value_id,
            last_at.c.wave == Perception.wave,
            last_at.c.at == Perception.answered_at,
        ))
        .subquery()
    )
    pairs = (
        sa.select(
            latest.c.participant_id,
            latest.c.public_value_id,
            sa.func.max(sa.case((latest.c.wave == Wave.BASELINE, latest.c.score)))
            .label("baseline"),
            sa.func.max(sa.case((latest.c.wave == Wave.FINAL, latest.c.score))).label("final"),
        )
        .group_by(latest.c.participant_id, latest.c.public_value_id)
        .subquery()
    )
    # Grouped by the plain kind column: PostgreSQL refuses a GROUP BY expression whose bound
    # parameters differ from the SELECT's, so kinds are folded into groups in Python.
    rows = db.session.execute(
        sa.select(PublicValue.code, Participant.kind, sa.func.count(),
                  sa.func.sum(pairs.c.final - pairs.c.baseline))
        .select_from(pairs)
        .join(Participant, Participant.id == pairs.c.participant_id)
        .join(PublicValue, PublicValue.id == pairs.c.public_value_id)
        .where(pairs.c.baseline.is_not(None), pairs.c.final.is_not(None))
        .group_by(PublicValue.code, Participant.kind)
    ).all()
    perception: dict[tuple[bool, str], tuple[int, int]] = {}
    for code, kind, n, total in rows:
        key = (str(kind) in INTERNAL_KINDS, code)
        old_n, old_total = perception.get(key, (0, 0))
        perception[key] = (old_n + _int(n), old_total + _int(total))
    facts.perception = perception


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
    scope = _Scope(process_id, as_of)
    facts = Facts(process_id=process_id, as_of=as_of)
    facts.sessions = _sessions(scope)
    _attendees(scope, facts)
    _invitations(scope, facts)
    _strata(scope, facts)
    _contributions(scope, facts)
    _answers(scope, facts, alert_days, warning_days)
    _perceptions(scope, facts)
    return facts


def association_absences(process_id: int, as_of: datetime) -> list[AssociationAbsence]:
    """Per association invited as such: how many of its last invited held sessions in a row had
    no member attending (counting back from the most recent)."""
    scope = _Scope(process_id, as_of)
    invited = (
        sa.select(Invitation.association_id.label("aid"), scope.held.c.id.label("sid"),
                  scope.held.c.k.label("k"))
        .join(scope.held, scope.held.c.id == Invitation.meeting_id)
        .where(Invitation.association_id.is_not(None), Invitation.invited_at <= as_of)
        .distinct()
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
