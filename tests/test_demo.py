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
from pvplatform.feedback.defaults import DEFAULT_VALUES
from pvplatform.feedback.models import pulse_values
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
    Perception,
    Process,
    Proposal,
    ProposalState,
    PublicValue,
    PulseComment,
    Registration,
    SessionPulse,
    Stratum,
    SurveyInvitation,
    SurveyWave,
    Vote,
    Wave,
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


def test_perceived_value_is_created_for_some_and_destroyed_for_others(db, demo):
    """The demo's first minute: trust rises for officials and falls for residents, and
    inclusiveness, already weak for residents, weakens; not everything is red."""
    from pvplatform.indicators import Group, compute_flags, compute_indicators

    process, _ = demo
    now = utcnow()
    flags = compute_flags(process.id, now)
    duality = [f for f in flags if f.code == "value_duality"]
    assert [f.public_value for f in duality] == ["trust"]
    assert duality[0].p_value is not None and duality[0].p_value < 0.05
    weakened = {(f.group, f.public_value): f for f in flags if f.code == "weak_value_weakened"}
    inclusiveness = weakened[(Group.EXTERNAL, "inclusiveness")]
    assert inclusiveness.p_value is not None and inclusiveness.p_value < 0.05

    rows = {r.key: r for r in compute_indicators(process.id, now)}

    def row(code: str, *, group: str = "", value: str = "", session: int | None = None):
        return rows[(code, "", "", group, value, session)]

    for group in (Group.INTERNAL, Group.EXTERNAL):
        for code in ("trust", "inclusiveness", "transparency"):
            for wave in ("perception_baseline", "perception_final", "perception_delta"):
                assert row(wave, group=group, value=code).n >= 5, (wave, group, code)
        # Fewer answer the final wave than the baseline, in both groups.
        baseline = row("baseline_response_rate", group=group)
        final = row("final_response_rate", group=group)
        assert final.value < baseline.value
        # Transparency improves for everyone.
        assert row("perception_delta", group=group, value="transparency").value > 0
    assert row("baseline_response_rate", group=Group.INTERNAL).value == 1
    trust = {g: row("perception_delta", group=g, value="trust").value
             for g in (Group.INTERNAL, Group.EXTERNAL)}
    assert trust[Group.INTERNAL] >= 0.5 and trust[Group.EXTERNAL] <= -0.5
    assert row("perception_baseline", group=Group.EXTERNAL, value="inclusiveness").value < 3
    assert row("perception_delta", group=Group.EXTERNAL, value="inclusiveness").value <= -0.25
    assert row("duality_count").value == 1

    # A pulse mean for each held session and each value it asked, none for the others; the
    # perceived responsiveness sinks from session to session as proposals wait.
    held = list(db.session.scalars(sa.select(Meeting.id).where(Meeting.starts_at <= now)
                                   .order_by(Meeting.starts_at, Meeting.id)))
    assert len(held) == 4
    asked = ("responsiveness", "inclusiveness", "transparency")
    for session in held:
        for value in ("trust", "inclusiveness", "transparency", "responsiveness"):
            pulse = row("pulse_mean", value=value, session=session)
            if value in asked:
                assert pulse.value is not None and pulse.n >= 5, (value, session)
            else:
                assert pulse.value is None and pulse.n == 0
    sinking = [row("pulse_mean", value="responsiveness", session=s).value for s in held]
    assert sinking[0] > sinking[1] > sinking[-1]


def test_surveys_are_offered_and_answered_consistently(db, demo):
    process, _ = demo
    now = utcnow()
    catalogue = list(db.session.scalars(
        sa.select(PublicValue).where(PublicValue.process_id == process.id)
        .order_by(PublicValue.position)))
    assert [(v.position, v.code) for v in catalogue] == [
        (i, v.code) for i, v in enumerate(DEFAULT_VALUES, start=1)]
    assert all(v.name and v.name_en and v.statement and v.statement_en for v in catalogue)

    meetings = list(db.session.scalars(sa.select(Meeting).order_by(Meeting.starts_at)))
    held = [m for m in meetings if m.starts_at <= now]
    waves = {w.wave: w for w in db.session.scalars(sa.select(SurveyWave))}
    baseline, final = waves[Wave.BASELINE], waves[Wave.FINAL]
    assert baseline.opened_at < meetings[0].starts_at
    assert baseline.closed_at is not None
    assert baseline.opened_at + timedelta(weeks=3) < baseline.closed_at < final.opened_at
    assert final.opened_at > held[-1].starts_at and final.is_open(now)

    kinds = dict(db.session.execute(sa.select(Participant.id, Participant.kind)).all())
    internal = {pid for pid, kind in kinds.items() if kind.is_internal}
    assert len(internal) == 8
    invitations = list(db.session.scalars(sa.select(SurveyInvitation)))
    offered = {(i.participant_id, i.wave, i.meeting_id): i for i in invitations}
    instants: dict[tuple[int, Wave, int | None], set[datetime]] = defaultdict(set)
    scores: dict[tuple[int, Wave, int | None], list[int | None]] = defaultdict(list)
    for perception in db.session.scalars(sa.select(Perception)):
        key = (perception.participant_id, perception.wave, perception.meeting_id)
        instants[key].add(perception.answered_at)
        scores[key].append(perception.score)
    assert any(None in s for s in scores.values())  # some "don't know"
    # One submission per survey: every question at the same instant.
    assert all(len(at) == 1 for at in instants.values())
    answers = {key: min(at) for key, at in instants.items()}
    windows = {Wave.BASELINE: (baseline.opened_at, baseline.closed_at),
               Wave.FINAL: (final.opened_at, now)}
    pulses = {p.meeting_id: p for p in db.session.scalars(sa.select(SessionPulse))}
    for key, answered_at in answers.items():
        _participant_id, wave, meeting_id = key
        # Every question, answered while the survey was open, after it was offered.
        assert len(scores[key]) == (8 if meeting_id is None else 3)
        assert key in offered, key
        assert offered[key].offered_at <= answered_at <= now
        if meeting_id is None:
            opened_at, closed_at = windows[wave]
        else:
            opened_at, closed_at = pulses[meeting_id].sent_at, pulses[meeting_id].closes_at
        assert opened_at <= answered_at < closed_at
    for invitation in invitations:
        assert invitation.offered_at <= now
        if invitation.reminded_at is not None:
            # Reminded once, only when they had not answered yet.
            key = (invitation.participant_id, invitation.wave, invitation.meeting_id)
            assert invitation.offered_at < invitation.reminded_at <= now
            assert answers.get(key, now) > invitation.reminded_at

    def respondents(wave: Wave) -> set[int]:
        return {pid for pid, w, _ in answers if w == wave}

    def offered_to(wave: Wave) -> set[int]:
        return {pid for pid, w, _ in offered if w == wave}

    # The baseline: internal people offered it and all answering, about 55-70% of those offered
    # answering; a few who never came to a session answered it too (a comparison group).
    assert internal <= offered_to(Wave.BASELINE) and internal <= respondents(Wave.BASELINE)
    share = len(respondents(Wave.BASELINE)) / len(offered_to(Wave.BASELINE))
    assert 0.5 <= share <= 0.75, share
    attendees = set(db.session.scalars(sa.select(Attendance.participant_id)))
    comparison = respondents(Wave.BASELINE) - attendees - internal
    assert len(comparison) >= 3
    # The final wave: offered to every baseline respondent and attendee, those who dropped
    # out included; answered by fewer people, those who dropped out fewer still.
    assert respondents(Wave.BASELINE) | attendees <= offered_to(Wave.FINAL)
    assert len(respondents(Wave.FINAL)) < len(respondents(Wave.BASELINE))
    last_two = {m.id for m in held[-2:]}
    came = defaultdict(set)
    for pid, mid in db.session.execute(sa.select(Attendance.participant_id,
                                                 Attendance.meeting_id)):
        came[pid].add(mid)
    external_attendees = {pid for pid in came if pid not in internal}
    dropped = {pid for pid in external_attendees if not came[pid] & last_two}
    stayed = external_attendees - dropped
    rate = {name: len(group & respondents(Wave.FINAL)) / len(group)
            for name, group in (("dropped", dropped), ("stayed", stayed))}
    assert rate["dropped"] < rate["stayed"]

    # The demo citizen finds the final survey waiting, its offer and reminder unread.
    citizen = db.session.scalar(
        sa.select(Participant).join(User, User.id == Participant.user_id)
        .where(User.email == "citoyenne@villeneuve.example"))
    assert citizen.id in offered_to(Wave.FINAL) - respondents(Wave.FINAL)
    assert citizen.id in respondents(Wave.BASELINE)
    assert count(db, Notification, Notification.user_id == citizen.user_id,
                 Notification.kind == "survey", Notification.read_at.is_(None),
                 Notification.link == f"/processes/{process.id}/survey/final") == 2

    # A pulse per held session, three values in order, offered to its attendees (walk-ins
    # included), answered by about half of them; a few private suggestions.
    assert set(pulses) == {m.id for m in held}
    asked = db.session.execute(sa.select(pulse_values.c.pulse_id, pulse_values.c.position,
                                         pulse_values.c.public_value_id)
                               .order_by(pulse_values.c.pulse_id, pulse_values.c.position)).all()
    assert len(asked) == 3 * len(held)
    for meeting in held:
        pulse = pulses[meeting.id]
        assert meeting.ends_at <= pulse.sent_at < pulse.closes_at
        present = set(db.session.scalars(sa.select(Attendance.participant_id)
                                         .where(Attendance.meeting_id == meeting.id)))
        invited = {pid for pid, w, mid in offered if mid == meeting.id}
        assert invited == present
        answered = {pid for pid, w, mid in answers if mid == meeting.id}
        assert 0.25 <= len(answered) / len(present) <= 0.75
        walk_ins = set(db.session.scalars(
            sa.select(Attendance.participant_id).where(Attendance.meeting_id == meeting.id,
                                                       Attendance.walk_in.is_(True))))
        assert walk_ins <= invited
    suggestions = list(db.session.scalars(sa.select(PulseComment)))
    assert 4 <= len(suggestions) <= 4 * len(held)
    for suggestion in suggestions:
        key = (suggestion.participant_id, Wave.SESSION, suggestion.meeting_id)
        assert key in answers and suggestion.text.strip()
        assert suggestion.written_at <= now
