"""Survey waves reach people: at their first registration, attendance or contribution while a
wave is open (whatever feature stored it), when staff ask them why they stayed away, and once
more with a reminder, at most one per wave and person; staff open, close and follow the waves
on one page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.feedback import offers, reminders, surveys
from pvplatform.feedback.models import Perception, PublicValue, SurveyInvitation, SurveyWave, Wave
from pvplatform.ledger import services as ledger
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Phase, PhaseKind
from pvplatform.proposals import services as proposals
from pvplatform.sessions.models import Attendance, AttendanceMode, Invitation, Registration


@pytest.fixture(autouse=True)
def _pages_of_other_features(app):
    """The results page is built elsewhere: until it exists, its link points nowhere."""
    def stub(error, endpoint, values):  # noqa: ARG001
        return "/not-built-yet" if endpoint == "feedback.results" else None

    app.url_build_error_handlers.append(stub)
    yield
    app.url_build_error_handlers.remove(stub)


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _survey_notes(user_id: int | None = None) -> int:
    where = [Notification.kind == surveys.NOTIFICATION_KIND]
    if user_id is not None:
        where.append(Notification.user_id == user_id)
    return _count(Notification, *where)


def _invitations(participant, wave=Wave.BASELINE) -> int:
    return _count(SurveyInvitation, SurveyInvitation.participant_id == participant.id,
                  SurveyInvitation.wave == wave)


@pytest.fixture
def staff(factory):
    return factory.user(Role.STAFF)


@pytest.fixture
def process(factory):
    process = factory.process()
    db.session.add(PublicValue(process_id=process.id, code="trust", name="Confiance",
                               statement="J'ai confiance dans la mairie.", position=1))
    db.session.commit()
    return process


def _open_baseline(process, staff) -> None:
    surveys.open_wave(process, Wave.BASELINE, by=staff, now=utcnow())
    db.session.commit()


@contextmanager
def statements_on(table: str) -> Iterator[list[str]]:
    seen: list[str] = []

    def watch(conn, cursor, statement, *args):  # noqa: ARG001
        if table in statement:
            seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", watch)


# ---------------------------------------------------------------- the listener

def test_registering_while_the_baseline_is_open_offers_it_once(factory, client, login_as,
                                                               process, staff):
    _open_baseline(process, staff)
    user = factory.user()
    first, second = factory.meeting(process), factory.meeting(process)
    login_as(user)
    assert client.post(f"/sessions/{first.id}/register").status_code == 303
    participant = db.session.scalar(sa.select(Participant).where(Participant.user_id == user.id))
    assert _invitations(participant) == 1
    assert _survey_notes(user.id) == 1
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == user.id))
    assert note.link == surveys.wave_path(process.id, Wave.BASELINE)
    assert note.params == {"process": process.title}

    assert client.post(f"/sessions/{second.id}/register").status_code == 303
    assert _invitations(participant) == 1 and _survey_notes(user.id) == 1


@pytest.fixture
def listener_statements(monkeypatch) -> list[list[str]]:
    """The SQL the offers listener runs, one list per commit it acts on."""
    runs: list[list[str]] = []
    real = offers.offer_for_hints

    def counted(session, hints):
        with statements_on("") as seen:
            real(session, hints)
        runs.append(seen)

    monkeypatch.setattr(offers, "offer_for_hints", counted)
    return runs


def test_nothing_happens_when_no_wave_is_open(factory, client, login_as, process, staff,
                                             listener_statements):
    user = factory.user()
    meeting = factory.meeting(process)
    login_as(user)
    assert client.post(f"/sessions/{meeting.id}/register").status_code == 303
    # One look for open waves, nothing else.
    assert [len(run) for run in listener_statements] == [1]
    assert "survey_waves" in listener_statements[0][0]
    assert _count(SurveyInvitation) == 0 and _survey_notes() == 0
    # A closed wave offers nothing either.
    _open_baseline(process, staff)
    surveys.close_wave(process, Wave.BASELINE, by=staff, now=utcnow())
    db.session.commit()
    offered = _count(SurveyInvitation)
    other = factory.participant(factory.user())
    db.session.add(Registration(meeting_id=factory.meeting(process).id,
                                participant_id=other.id))
    db.session.commit()
    assert _count(SurveyInvitation) == offered and _invitations(other) == 0


def test_a_unit_of_work_without_participation_costs_nothing(factory, process, staff,
                                                           listener_statements):
    _open_baseline(process, staff)
    user = factory.user()
    with statements_on("survey_") as seen:
        user.display_name = "Someone else"
        db.session.add(Notification(user_id=user.id, kind="other", message="Hello"))
        db.session.commit()
    assert seen == [] and listener_statements == []


def test_walk_ins_proposals_and_comments_are_offered_too(factory, process, staff):
    _open_baseline(process, staff)
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=30))
    walk_in = factory.participant(name="Sans Compte")
    db.session.add(Attendance(meeting_id=meeting.id, participant_id=walk_in.id,
                              mode=AttendanceMode.IN_PERSON, checked_in_at=utcnow(),
                              walk_in=True))
    db.session.commit()
    assert _invitations(walk_in) == 1  # no account: no notification, a QR code at the desk

    author_user = factory.user()
    author = factory.participant(author_user)
    draft = proposals.create_proposal(process, author, author_user, title="Un banc",
                                      body="Place du marché", now=utcnow())
    db.session.commit()
    assert _invitations(author) == 0  # a draft is nobody's contribution yet
    proposals.publish_proposal(draft, now=utcnow())
    db.session.commit()
    assert _invitations(author) == 1 and _survey_notes(author_user.id) == 1

    commenter_user = factory.user()
    commenter = factory.participant(commenter_user)
    proposals.add_comment(draft, commenter, "Bonne idée", now=utcnow())
    db.session.commit()
    assert _invitations(commenter) == 1 and _survey_notes(commenter_user.id) == 1


def test_a_rolled_back_change_offers_nothing(factory, process, staff):
    _open_baseline(process, staff)
    person = factory.participant(factory.user())
    db.session.add(Registration(meeting_id=factory.meeting(process).id,
                                participant_id=person.id))
    db.session.flush()
    db.session.rollback()
    db.session.add(Notification(user_id=staff.id, kind="other", message="x"))
    db.session.commit()
    assert _invitations(person) == 0


def test_the_final_wave_is_offered_as_well_when_open(factory, process, staff):
    _open_baseline(process, staff)
    surveys.open_wave(process, Wave.FINAL, by=staff, now=utcnow())
    db.session.commit()
    user = factory.user()
    person = factory.participant(user)
    db.session.add(Registration(meeting_id=factory.meeting(process).id,
                                participant_id=person.id))
    db.session.commit()
    assert _invitations(person, Wave.BASELINE) == 1 and _invitations(person, Wave.FINAL) == 1
    assert _survey_notes(user.id) == 2


def test_absence_requests_offer_the_open_baseline(factory, process, staff):
    now = utcnow()
    meeting = factory.meeting(process, starts_at=now - timedelta(days=1, hours=3))
    invitee_user = factory.user()
    invitee = factory.participant(invitee_user)
    db.session.add(Invitation(meeting_id=meeting.id, participant_id=invitee.id,
                              invited_at=meeting.starts_at - timedelta(days=3)))
    db.session.commit()
    # Without an open baseline, asking why offers nothing.
    ledger.create_absence_requests(meeting, by=staff, now=now)
    db.session.commit()
    assert _invitations(invitee) == 0

    other_meeting = factory.meeting(process, starts_at=now - timedelta(days=2, hours=3))
    db.session.add(Invitation(meeting_id=other_meeting.id, participant_id=invitee.id,
                              invited_at=other_meeting.starts_at - timedelta(days=3)))
    db.session.commit()
    _open_baseline(process, staff)
    assert _invitations(invitee) == 0  # invited only: not in the baseline's circle
    later = utcnow()
    created = ledger.create_absence_requests(other_meeting, by=staff, now=later)
    db.session.commit()
    assert [r.participant_id for r in created] == [invitee.id]
    assert _invitations(invitee) == 1
    note = db.session.scalar(sa.select(Notification).where(
        Notification.user_id == invitee_user.id,
        Notification.kind == surveys.NOTIFICATION_KIND))
    assert note is not None and note.created_at == later


# ---------------------------------------------------------------- reminders

def _respondent(participant, process) -> None:
    value = db.session.scalar(sa.select(PublicValue).where(PublicValue.process_id == process.id))
    db.session.add(Perception(participant_id=participant.id, public_value_id=value.id,
                              wave=Wave.BASELINE, score=4, answered_at=utcnow()))
    db.session.commit()


def test_a_reminder_reaches_each_person_once_ever(factory, process, staff):
    meeting = factory.meeting(process)
    users = [factory.user() for _ in range(3)]
    people = [factory.participant(u) for u in users]
    walk_in = factory.participant(name="Sans Compte")
    for p in [*people, walk_in]:
        db.session.add(Registration(meeting_id=meeting.id, participant_id=p.id))
    db.session.commit()
    _open_baseline(process, staff)
    _respondent(people[0], process)
    gone = users[2]
    gone.deleted_at = utcnow()
    db.session.commit()
    notes_before = _survey_notes()

    # Staff (internal participants) were offered the baseline too and have not answered.
    count = reminders.remind_wave(process, Wave.BASELINE, by=staff, now=utcnow())
    db.session.commit()
    assert count == 2
    reminded = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.message == surveys.REMINDER_MESSAGES[Wave.BASELINE])))
    assert reminded == {users[1].id, staff.id}
    assert _survey_notes() == notes_before + 2
    invitation = db.session.scalar(sa.select(SurveyInvitation).where(
        SurveyInvitation.participant_id == people[1].id))
    assert invitation.reminded_at is not None
    (audit,) = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "survey.remind"))
    assert audit.details == {"wave": "baseline", "reminded": 2}

    # A second reminder sends nothing to the same people, and nothing to anyone new.
    assert reminders.remind_wave(process, Wave.BASELINE, by=staff,
                                 now=utcnow() + timedelta(seconds=1)) == 0
    db.session.commit()
    assert _survey_notes() == notes_before + 2
    assert _count(AuditLog, AuditLog.action == "survey.remind") == 1


def test_no_reminder_for_a_closed_or_unopened_survey(factory, client, login_as, process, staff):
    login_as(staff)
    refused = client.post(f"/manage/processes/{process.id}/surveys/baseline/remind")
    assert refused.status_code == 409
    _open_baseline(process, staff)
    surveys.close_wave(process, Wave.BASELINE, by=staff, now=utcnow())
    db.session.commit()
    refused = client.post(f"/manage/processes/{process.id}/surveys/baseline/remind")
    assert refused.status_code == 409 and "not open" in refused.get_data(as_text=True)
    assert _count(SurveyInvitation, SurveyInvitation.reminded_at.is_not(None)) == 0


# ---------------------------------------------------------------- the staff page

def test_staff_open_close_and_reopen_the_waves(factory, client, login_as, process, staff):
    citizen = factory.participant(factory.user())
    db.session.add(Registration(meeting_id=factory.meeting(process).id,
                                participant_id=citizen.id))
    db.session.commit()
    login_as(staff)
    base = f"/manage/processes/{process.id}/surveys"
    page = client.get(base).get_data(as_text=True)
    assert "Not opened yet" in page and "Open the baseline survey" in page

    assert client.post(f"{base}/session/open").status_code == 404
    assert client.post(f"{base}/nonsense/open").status_code == 404
    # The final survey needs the baseline first.
    assert client.post(f"{base}/final/open").status_code == 409

    response = client.post(f"{base}/baseline/open")
    assert response.status_code == 303
    flashed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 people were asked" in flashed  # the registrant and the staff member
    assert "Open since" in flashed and "Send a reminder" in flashed
    assert _invitations(citizen) == 1
    assert surveys.catalogue_locked(process.id)

    _respondent(citizen, process)
    state = surveys.wave_state(process.id, Wave.BASELINE)
    assert (state.offered, state.respondents, state.reminded) == (2, 1, 0)

    assert client.post(f"{base}/baseline/close").status_code == 303
    assert client.post(f"{base}/baseline/close").status_code == 409
    page = client.get(base).get_data(as_text=True)
    assert "Closed on" in page and "Reopen" in page
    assert client.post(f"{base}/baseline/open").status_code == 303
    row = db.session.scalar(sa.select(SurveyWave).where(SurveyWave.wave == Wave.BASELINE))
    db.session.refresh(row)
    assert row.closed_at is None
    actions = set(db.session.scalars(sa.select(AuditLog.action)))
    assert {"survey_opened", "survey_closed", "survey_reopened"} <= actions


def test_the_follow_up_phase_prompts_the_final_survey(factory, client, login_as, process,
                                                      staff):
    login_as(staff)
    base = f"/manage/processes/{process.id}/surveys"
    assert "time to open the final survey" not in client.get(base).get_data(as_text=True)
    today = utcnow().date()
    db.session.add(Phase(process_id=process.id, kind=PhaseKind.FOLLOW_UP,
                         starts_on=today - timedelta(days=2), ends_on=today + timedelta(days=90)))
    db.session.commit()
    _open_baseline(process, staff)
    page = client.get(base).get_data(as_text=True)
    assert "time to open the final survey" in page
    assert client.post(f"{base}/final/open").status_code == 303
    assert "time to open the final survey" not in client.get(base).get_data(as_text=True)


def test_only_staff_manage_the_surveys(factory, client, login_as, process):
    for role in (Role.CITIZEN, Role.ELECTED, Role.EVALUATOR):
        login_as(factory.user(role))
        assert client.get(f"/manage/processes/{process.id}/surveys").status_code == 403
        assert client.post(
            f"/manage/processes/{process.id}/surveys/baseline/open").status_code == 403
        client.post("/auth/logout")
    assert _count(SurveyWave) == 0
