"""The demo (`flask pv demo`): realistic, consistent, idempotent, and its logins work."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.auth.services import authenticate, check_password_policy
from pvplatform.db import utcnow
from pvplatform.demo import DEMO_LOGINS, DEMO_REF, load_demo
from pvplatform.models import (
    Answer,
    Attendance,
    AttendanceSnapshot,
    AuditLog,
    Comment,
    ImplementationUpdate,
    Notification,
    Participant,
    ParticipantAttribute,
    Process,
    Proposal,
    ProposalState,
    Registration,
    Stratum,
    Vote,
)
from pvplatform.sessions.models import Meeting, MeetingFormat, SpeakingTurn


def row_counts(db) -> dict[str, int]:
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@pytest.fixture
def demo(db):
    lines: list[str] = []
    process = load_demo(echo=lines.append)
    assert process is not None
    return process, lines


def test_counts_are_in_the_expected_ranges_and_logins_work(db, demo):
    process, _ = demo
    now = utcnow()
    assert count(db, Process, Process.external_ref == DEMO_REF) == 1
    meetings = list(db.session.scalars(sa.select(Meeting).order_by(Meeting.starts_at)))
    assert len(meetings) == 6
    held = [m for m in meetings if m.starts_at < now]
    assert len(held) == 4
    assert all(m.closed_at is not None and m.minutes for m in held)
    assert all(m.closed_at is None and not m.minutes for m in meetings[4:])
    assert {m.format for m in meetings} == set(MeetingFormat)
    assert 140 <= count(db, Participant) <= 170
    assert 35 <= count(db, Proposal) <= 45
    states = Counter(db.session.scalars(sa.select(Proposal.state)))
    assert set(states) == set(ProposalState)
    assert count(db, User, User.password_hash.is_not(None)) == len(DEMO_LOGINS)
    for role in Role:
        assert count(db, User, User.role == role, User.email.like("%@villeneuve.example")) == 1
    # People took part without an account, and in every way the ledger records.
    assert count(db, Participant, Participant.user_id.is_(None)) >= 12
    assert count(db, Attendance, Attendance.walk_in.is_(True)) >= 15
    assert count(db, Registration, Registration.cancelled_at.is_not(None)) >= 10
    no_show = (
        sa.select(sa.func.count()).select_from(Registration)
        .join(Meeting, Meeting.id == Registration.meeting_id)
        .outerjoin(Attendance, sa.and_(Attendance.meeting_id == Registration.meeting_id,
                                       Attendance.participant_id == Registration.participant_id))
        .where(Meeting.starts_at < now, Registration.cancelled_at.is_(None),
               Attendance.id.is_(None))
    )
    assert db.session.scalar(no_show) >= 20
    assert count(db, Vote) > 300 and count(db, Comment) > 40
    assert process.goals and [g.number for g in process.goals] == [3, 7, 11, 13, 15]
    assert len(process.local_targets) == 4

    # One login per role; each works and follows the password policy.
    for login in DEMO_LOGINS:
        check_password_policy(login.password, email=login.email, role=login.role)
        user = authenticate(login.email, login.password)
        assert user is not None and user.role == login.role, login.email
        assert authenticate(login.email, login.password + "x") is None
    representative = db.session.scalar(
        sa.select(User).where(User.email == "association@villeneuve.example"))
    assert representative.association_id is not None

    # The demo citizen has something to see and something left to do.
    citizen = db.session.scalar(
        sa.select(Participant).join(User, User.id == Participant.user_id)
        .where(User.email == "citoyenne@villeneuve.example"))
    assert count(db, Attendance, Attendance.participant_id == citizen.id) >= 2
    upcoming = [m.id for m in meetings[4:]]
    registered = set(db.session.scalars(
        sa.select(Registration.meeting_id).where(Registration.participant_id == citizen.id,
                                                 Registration.cancelled_at.is_(None))))
    assert registered & set(upcoming) and set(upcoming) - registered
    voted = set(db.session.scalars(
        sa.select(Vote.proposal_id).where(Vote.participant_id == citizen.id)))
    published = set(db.session.scalars(
        sa.select(Proposal.id).where(Proposal.state == ProposalState.PUBLISHED)))
    assert voted and published - voted
    assert count(db, Proposal, Proposal.author_id == citizen.id) >= 3
    assert count(db, Notification, Notification.user_id == citizen.user_id,
                 Notification.read_at.is_(None)) >= 1


def test_proposals_answers_votes_and_comments_are_consistent(db, demo):
    now = utcnow()
    proposals = list(db.session.scalars(sa.select(Proposal).order_by(Proposal.id)))
    audited = set(db.session.scalars(
        sa.select(AuditLog.target_id).where(AuditLog.action == "proposal.answer")))
    rejected_reasons = []
    for proposal in proposals:
        answers = list(db.session.scalars(
            sa.select(Answer).where(Answer.proposal_id == proposal.id)
            .order_by(Answer.answered_at, Answer.id)))
        if proposal.state == ProposalState.DRAFT:
            assert proposal.published_at is None
        else:
            assert proposal.created_at <= proposal.published_at <= now
        if proposal.state == ProposalState.WITHDRAWN:
            assert proposal.published_at <= proposal.withdrawn_at <= now
        if proposal.state in (ProposalState.EVALUATING, ProposalState.ACCEPTED,
                              ProposalState.REJECTED):
            assert answers, proposal.title
            assert answers[-1].state == proposal.state
            assert proposal.answered_at == answers[0].answered_at
            assert proposal.published_at < proposal.answered_at <= answers[-1].answered_at
            assert answers[-1].answered_at <= now
            assert proposal.answer_rationale == (answers[-1].rationale or None)
            assert proposal.id in audited
        else:
            assert not answers and proposal.answered_at is None
        if proposal.state == ProposalState.REJECTED:
            rejected_reasons.append(bool(proposal.answer_rationale))
        updates = list(db.session.scalars(
            sa.select(ImplementationUpdate).where(ImplementationUpdate.proposal_id == proposal.id)
            .order_by(ImplementationUpdate.created_at)))
        if proposal.state == ProposalState.ACCEPTED:
            assert updates
            progress = [u.progress for u in updates]
            assert progress == sorted(progress)
            assert all(proposal.answered_at < u.created_at <= now for u in updates)
            assert count(db, AuditLog, AuditLog.action == "proposal.implementation_update",
                         AuditLog.target_id == proposal.id) == len(updates)
        else:
            assert not updates
    assert True in rejected_reasons and False in rejected_reasons

    # Votes and comments come after publication (and before withdrawal).
    rows = db.session.execute(
        sa.select(Vote.cast_at, Proposal.published_at, Proposal.withdrawn_at)
        .join(Proposal, Proposal.id == Vote.proposal_id)).all()
    assert all(published is not None and published <= cast <= (withdrawn or now)
               for cast, published, withdrawn in rows)
    rows = db.session.execute(
        sa.select(Comment.created_at, Proposal.published_at)
        .join(Proposal, Proposal.id == Comment.proposal_id)).all()
    assert all(published is not None and published <= created <= now
               for created, published in rows)
    assert count(db, Comment, Comment.hidden_at.is_not(None)) == 1


def test_demographics_are_skewed_and_snapshotted(db, demo):
    process, _ = demo
    shares: dict[str, float] = defaultdict(float)
    for stratum in db.session.scalars(sa.select(Stratum).where(Stratum.process_id == process.id)):
        shares[stratum.dimension] += stratum.population_share
    assert set(shares) == {"age_band", "gender", "district", "housing"}
    assert all(abs(total - 1) < 1e-9 for total in shares.values())

    with_attributes = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(ParticipantAttribute.participant_id))))
    assert 0.6 <= with_attributes / count(db, Participant) <= 0.8

    # Every snapshot equals the attendee's stored answer.
    mismatches = db.session.scalar(
        sa.select(sa.func.count()).select_from(AttendanceSnapshot)
        .join(Attendance, Attendance.id == AttendanceSnapshot.attendance_id)
        .outerjoin(ParticipantAttribute, sa.and_(
            ParticipantAttribute.participant_id == Attendance.participant_id,
            ParticipantAttribute.dimension == AttendanceSnapshot.dimension))
        .where(sa.or_(ParticipantAttribute.id.is_(None),
                      ParticipantAttribute.category != AttendanceSnapshot.category)))
    assert mismatches == 0
    assert count(db, AttendanceSnapshot) > 200

    # Attendees are skewed like real processes: the young and the east district are rarer
    # among them than in the town.
    attendee_shares = {}
    for dimension, category in (("age_band", "18-29"), ("district", "east"),
                                ("district", "centre")):
        total = count(db, AttendanceSnapshot, AttendanceSnapshot.dimension == dimension)
        hits = count(db, AttendanceSnapshot, AttendanceSnapshot.dimension == dimension,
                     AttendanceSnapshot.category == category)
        attendee_shares[category] = hits / total
    census = {s.category: s.population_share
              for s in db.session.scalars(sa.select(Stratum).order_by(Stratum.id))}
    assert attendee_shares["18-29"] < census["18-29"]
    assert attendee_shares["east"] < census["east"]
    assert attendee_shares["centre"] > census["centre"]


def test_sessions_have_speaking_turns_and_the_indicators_read_them(db, demo):
    from pvplatform.indicators import Group, compute_flags, compute_indicators

    process, _ = demo
    now = utcnow()
    meetings = {m.id: m for m in db.session.scalars(sa.select(Meeting))}
    turns = list(db.session.scalars(sa.select(SpeakingTurn).order_by(SpeakingTurn.started_at)))
    assert 100 <= len(turns) <= 400
    held = {m.id for m in meetings.values() if m.starts_at < now}
    assert {t.meeting_id for t in turns} == held
    arrived = {(a.meeting_id, a.participant_id): a.checked_in_at
               for a in db.session.scalars(sa.select(Attendance))}
    kinds = dict(db.session.execute(sa.select(Participant.id, Participant.kind)).all())
    by_person: dict[tuple[int, int], list[SpeakingTurn]] = defaultdict(list)
    seconds = {"internal": [], "external": []}
    for turn in turns:
        meeting = meetings[turn.meeting_id]
        # Ended, within the session's window, by an attendee who had already arrived.
        assert turn.ended_at is not None and turn.started_at < turn.ended_at <= now
        assert meeting.starts_at <= turn.started_at
        assert turn.ended_at <= meeting.ends_at + timedelta(hours=2)
        assert arrived[(turn.meeting_id, turn.participant_id)] <= turn.started_at
        assert turn.recorded_by_id is not None
        by_person[(turn.meeting_id, turn.participant_id)].append(turn)
        group = "internal" if kinds[turn.participant_id].is_internal else "external"
        seconds[group].append((turn.ended_at - turn.started_at).total_seconds())
    # One person's turns in one session never overlap (DATA.md).
    for person_turns in by_person.values():
        for earlier, later in zip(person_turns, person_turns[1:], strict=False):
            assert earlier.ended_at <= later.started_at
    # Officials speak longer at a time; many attendees never take the floor.
    mean = {g: sum(v) / len(v) for g, v in seconds.items()}
    assert mean["internal"] > 2 * mean["external"]
    held_attendances = [key for key in arrived if key[0] in held]
    assert len(by_person) < 0.5 * len(held_attendances)

    assert process.population and process.population > 10_000
    rows = compute_indicators(process.id, now)
    share = {r.group: r for r in rows if r.code == "speaking_time_share"}
    assert share[Group.INTERNAL].value is not None and share[Group.EXTERNAL].value is not None
    assert share[Group.INTERNAL].value + share[Group.EXTERNAL].value == pytest.approx(1)
    assert share[Group.INTERNAL].value > 0.5 and share[Group.INTERNAL].n >= 600
    gini = next(r for r in rows if r.code == "speaking_gini")
    assert gini.value is not None and 0 < gini.value < 1
    reach = next(r for r in rows if r.code == "reach_per_1000")
    assert reach.value is not None and 1 < reach.value < 50
    # The officials' share of the speaking time raises the speaking row of official_dominance.
    flags = compute_flags(process.id, now)
    assert any(f.code == "official_dominance" and f.group == Group.INTERNAL for f in flags)


def test_content_does_not_depend_on_the_time_of_day(db):
    from tests.conftest import wipe_database

    def signature() -> list[tuple]:
        return db.session.execute(
            sa.select(Proposal.title, Proposal.state, sa.func.count(Vote.id))
            .outerjoin(Vote, Vote.proposal_id == Proposal.id)
            .group_by(Proposal.id, Proposal.title, Proposal.state)
            .order_by(Proposal.title)).all()

    # Loaded early in the morning and late in the evening of the same (summer) day.
    morning = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
    load_demo(echo=lambda _line: None, now=morning)
    first, counts = signature(), row_counts(db)
    wipe_database()
    load_demo(echo=lambda _line: None, now=morning + timedelta(hours=17))
    assert signature() == first
    assert row_counts(db) == counts


def test_if_empty_leaves_a_database_with_a_process_alone(db, factory):
    factory.process(title="Budget participatif")
    before = row_counts(db)
    lines: list[str] = []
    assert load_demo(if_empty=True, echo=lines.append) is None
    assert row_counts(db) == before
    assert "not loaded" in lines[0]


def test_demo_command_loads_once_then_changes_nothing(runner, db):
    result = runner.invoke(args=["pv", "demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "Loaded the demo process" in result.output
    before = row_counts(db)
    for args in (["pv", "demo"], ["pv", "demo", "--if-empty"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert "nothing changed" in result.output
        for login in DEMO_LOGINS:  # the logins are printed again
            assert login.email in result.output and login.password in result.output
        assert row_counts(db) == before
    assert count(db, Process) == 1
