"""Session pulses: sent to the attendees of a held session only (walk-ins too), once per person
and session, with three values chosen by staff that never change once sent; reminders at most
once; walk-ins get a QR code of their own link; suggestions stay private and appear from k
answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.feedback import admin_views, pulses, surveys
from pvplatform.feedback.defaults import DEFAULT_VALUES
from pvplatform.feedback.links import invitation_for_link
from pvplatform.feedback.models import (
    Perception,
    PublicValue,
    PulseComment,
    SessionPulse,
    SurveyInvitation,
    Wave,
)
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.sessions.models import Attendance, AttendanceMode, Registration


@pytest.fixture(autouse=True)
def _pages_of_other_features(app, monkeypatch):
    """The results page and the answering page are built elsewhere: until they exist, links to
    them are made up here."""
    def stub(error, endpoint, values):  # noqa: ARG001
        return "/not-built-yet" if endpoint == "feedback.results" else None

    app.url_build_error_handlers.append(stub)
    if "feedback.answer_link" not in app.view_functions:
        monkeypatch.setattr(admin_views, "external_url", lambda endpoint, token: (
            f"http://localhost/survey-link/{token}"))
    yield
    app.url_build_error_handlers.remove(stub)


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _catalogue(process, n: int = len(DEFAULT_VALUES)) -> list[PublicValue]:
    values = [PublicValue(process_id=process.id, code=d.code, name=d.name, name_en=d.name_en,
                          statement=d.statement, statement_en=d.statement_en, position=i)
              for i, d in enumerate(DEFAULT_VALUES[:n], start=1)]
    db.session.add_all(values)
    db.session.commit()
    return values


def _attend(meeting, participant, *, at=None, walk_in: bool = False) -> Attendance:
    row = Attendance(meeting_id=meeting.id, participant_id=participant.id,
                     mode=AttendanceMode.IN_PERSON, walk_in=walk_in,
                     checked_in_at=at or meeting.starts_at + timedelta(minutes=5))
    db.session.add(row)
    db.session.commit()
    return row


def _asked(meeting) -> set[int]:
    return set(db.session.scalars(sa.select(SurveyInvitation.participant_id).where(
        SurveyInvitation.wave == Wave.SESSION, SurveyInvitation.meeting_id == meeting.id)))


def _pulse_notes(meeting) -> list[int]:
    return list(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.link == surveys.pulse_path(meeting.id),
        Notification.message == surveys.OFFER_MESSAGES[Wave.SESSION])))


@pytest.fixture
def staff(factory):
    return factory.user(Role.STAFF)


@pytest.fixture
def held(factory):
    """A session held an hour ago, with a catalogue of eight values."""
    process = factory.process()
    values = _catalogue(process)
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1))
    return process, meeting, values


def test_the_pulse_goes_to_the_attendees_only_once(factory, client, login_as, staff, held):
    process, meeting, values = held
    came_user, no_show_user = factory.user(), factory.user()
    came = factory.participant(came_user)
    no_show = factory.participant(no_show_user)
    walk_in = factory.participant(name="Sans Compte")
    db.session.add(Registration(meeting_id=meeting.id, participant_id=no_show.id,
                                registered_at=meeting.starts_at - timedelta(days=1)))
    _attend(meeting, came)
    _attend(meeting, walk_in, walk_in=True)
    other_meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=3))
    _attend(other_meeting, factory.participant(factory.user()))
    login_as(staff)
    url = f"/manage/sessions/{meeting.id}/pulse"

    page = client.get(url).get_data(as_text=True)
    assert "<legend>" in page and page.count('type="checkbox"') == 8
    assert page.count("checked") == 3  # the first three to start with
    # Two values, or four, or a value of another process: refused, nothing stored.
    for chosen in (values[:2], values[:4]):
        refused = client.post(url, data={"values": [v.id for v in chosen]})
        assert refused.status_code == 422
        assert "Choose exactly three values" in refused.get_data(as_text=True)
    assert client.post(url, data={"values": ["x", "1"]}).status_code == 422
    assert _count(SessionPulse) == 0 and _count(SurveyInvitation) == 0

    chosen = [values[5], values[1], values[3]]
    now = utcnow()
    response = client.post(url, data={"values": [v.id for v in chosen]})
    assert response.status_code == 303
    assert "2 attendees were asked" in client.get(url).get_data(as_text=True)
    pulse = db.session.scalar(sa.select(SessionPulse))
    assert pulse.closes_at - pulse.sent_at == timedelta(days=14) and pulse.sent_at >= now
    # In the catalogue's order, whatever the order of the ticks.
    assert [v.id for v in pulse.values] == [values[1].id, values[3].id, values[5].id]
    assert _asked(meeting) == {came.id, walk_in.id}
    assert _pulse_notes(meeting) == [came_user.id]  # the walk-in has no account
    assert _asked(other_meeting) == set()
    (audit,) = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "pulse.send"))
    assert audit.target_id == meeting.id and audit.details["asked"] == 2

    # Sending again reaches nobody twice, and the questions stay.
    again = client.post(url, data={"values": [v.id for v in values[:3]]})
    assert again.status_code == 303
    assert "Every attendee was asked already" in client.get(url).get_data(as_text=True)
    db.session.expire_all()
    assert [v.id for v in db.session.scalar(sa.select(SessionPulse)).values] == [
        values[1].id, values[3].id, values[5].id]
    assert len(_asked(meeting)) == 2 and len(_pulse_notes(meeting)) == 1

    # A late check-in (or a paper sheet) is asked on the next round; only they are.
    late_user = factory.user()
    late = factory.participant(late_user)
    _attend(meeting, late, at=utcnow())
    page = client.get(url).get_data(as_text=True)
    assert "Ask the 1 attendee not asked yet" in page
    assert client.post(url).status_code == 303
    assert _asked(meeting) == {came.id, walk_in.id, late.id}
    assert sorted(_pulse_notes(meeting)) == sorted([came_user.id, late_user.id])
    assert _count(AuditLog, AuditLog.action == "pulse.send_more") == 1


def test_no_pulse_before_the_start_without_values_or_without_attendees(factory, client,
                                                                       login_as, staff):
    process = factory.process()
    login_as(staff)
    future = factory.meeting(process, starts_at=utcnow() + timedelta(hours=3))
    _catalogue(process)
    page = client.get(f"/manage/sessions/{future.id}/pulse")
    assert page.status_code == 200 and "once the session has started" in page.get_data(
        as_text=True)
    early = factory.participant(factory.user())
    _attend(future, early, at=utcnow())  # checked in two hours early, which is allowed
    values = list(db.session.scalars(sa.select(PublicValue.id)))[:3]
    refused = client.post(f"/manage/sessions/{future.id}/pulse", data={"values": values})
    assert refused.status_code == 409
    assert "once the session has started" in refused.get_data(as_text=True)

    empty = factory.meeting(process, starts_at=utcnow() - timedelta(hours=2))
    refused = client.post(f"/manage/sessions/{empty.id}/pulse", data={"values": values})
    assert refused.status_code == 409 and "Nobody is checked in" in refused.get_data(
        as_text=True)

    bare = factory.process(title="Sans valeurs")
    bare_meeting = factory.meeting(bare, starts_at=utcnow() - timedelta(hours=2))
    _attend(bare_meeting, early)
    refused = client.post(f"/manage/sessions/{bare_meeting.id}/pulse", data={"values": []})
    assert refused.status_code == 409 and "no public values yet" in refused.get_data(
        as_text=True)
    assert _count(SessionPulse) == 0 and _count(SurveyInvitation, SurveyInvitation.wave ==
                                                 Wave.SESSION) == 0


def test_a_small_catalogue_is_asked_whole(factory, client, login_as, staff):
    process = factory.process()
    values = _catalogue(process, 2)
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1))
    _attend(meeting, factory.participant(factory.user()))
    login_as(staff)
    url = f"/manage/sessions/{meeting.id}/pulse"
    assert client.post(url, data={"values": [values[0].id]}).status_code == 422
    assert client.post(url, data={"values": [v.id for v in values]}).status_code == 303
    assert len(db.session.scalar(sa.select(SessionPulse)).values) == 2


def test_pulse_reminder_once_and_closing(factory, client, login_as, staff, held):
    process, meeting, values = held
    users = [factory.user() for _ in range(3)]
    people = [factory.participant(u) for u in users]
    for p in people:
        _attend(meeting, p)
    now = utcnow()
    assert pulses.send_pulse(meeting, [v.id for v in values[:3]], by=staff, now=now) == 3
    db.session.commit()
    db.session.add(Perception(participant_id=people[0].id, public_value_id=values[0].id,
                              wave=Wave.SESSION, meeting_id=meeting.id, score=5,
                              answered_at=utcnow()))
    db.session.add(PulseComment(meeting_id=meeting.id, participant_id=people[1].id,
                                text="Plus de temps pour les questions."))
    db.session.commit()
    login_as(staff)
    url = f"/manage/sessions/{meeting.id}/pulse"
    assert client.post(f"{url}/remind").status_code == 303
    reminders = list(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.message == surveys.REMINDER_MESSAGES[Wave.SESSION])))
    assert reminders == [users[2].id]  # the others answered (a score, a suggestion)
    assert client.post(f"{url}/remind").status_code == 303
    assert "Nobody to remind" in client.get(url).get_data(as_text=True)
    assert _count(Notification, Notification.message ==
                  surveys.REMINDER_MESSAGES[Wave.SESSION]) == 1

    assert client.post(f"{url}/close").status_code == 303
    db.session.expire_all()
    assert not db.session.scalar(sa.select(SessionPulse)).is_open(utcnow())
    assert client.post(f"{url}/close").status_code == 409
    refused = client.post(f"{url}/remind")
    assert refused.status_code == 409 and "closed" in refused.get_data(as_text=True)
    late = factory.participant(factory.user())
    _attend(meeting, late, at=utcnow())
    assert client.post(url).status_code == 409
    assert late.id not in _asked(meeting)
    assert {a for a in db.session.scalars(sa.select(AuditLog.action))} >= {
        "pulse.send", "pulse.remind", "pulse.close"}


def test_walk_ins_get_a_qr_code_of_their_own_link(factory, client, login_as, staff, held, app):
    process, meeting, values = held
    walk_in = factory.participant(name="Sans Compte")
    member = factory.participant(factory.user())
    _attend(meeting, walk_in, walk_in=True)
    _attend(meeting, member)
    other = factory.meeting(process, starts_at=utcnow() - timedelta(days=2))
    _attend(other, walk_in, walk_in=True)
    pulses.send_pulse(meeting, [v.id for v in values[:3]], by=staff, now=utcnow())
    pulses.send_pulse(other, [v.id for v in values[:3]], by=staff, now=utcnow())
    db.session.commit()
    invitations = {(i.meeting_id, i.participant_id): i for i in db.session.scalars(
        sa.select(SurveyInvitation).where(SurveyInvitation.wave == Wave.SESSION))}
    mine = invitations[(meeting.id, walk_in.id)]
    login_as(staff)

    page = client.get(f"/manage/sessions/{meeting.id}/pulse").get_data(as_text=True)
    link_url = f"/manage/sessions/{meeting.id}/pulse/link/{mine.id}"
    assert "Sans Compte" in page and link_url in page
    response = client.get(link_url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert 'src="data:image/svg+xml' in body
    token = body.split("/survey-link/")[1].split('"')[0]
    assert invitation_for_link(token, secret_key=app.config["SECRET_KEY"],
                               now=utcnow()).id == mine.id

    # Someone with an account answers signed in; another session's invitation is not this one.
    assert client.get(f"/manage/sessions/{meeting.id}/pulse/link/"
                      f"{invitations[(meeting.id, member.id)].id}").status_code == 404
    assert client.get(f"/manage/sessions/{meeting.id}/pulse/link/"
                      f"{invitations[(other.id, walk_in.id)].id}").status_code == 404
    assert client.get(f"/manage/sessions/{meeting.id}/pulse/link/999999").status_code == 404

    pulses.close_pulse(meeting, by=staff, now=utcnow())
    db.session.commit()
    closed = client.get(link_url).get_data(as_text=True)
    assert "This pulse is closed" in closed and "/survey-link/" not in closed


def test_suggestions_appear_from_k_answers_without_names(factory, client, login_as, staff,
                                                         held):
    process, meeting, values = held
    people = [factory.participant(factory.user(name=f"Habitant {i}")) for i in range(5)]
    for p in people:
        _attend(meeting, p)
    pulses.send_pulse(meeting, [v.id for v in values[:3]], by=staff, now=utcnow())
    texts = ["Un micro qui marche.", "Commencer à l'heure.", "Être moins nombreux."]
    for person, text in zip(people, texts, strict=False):
        db.session.add(PulseComment(meeting_id=meeting.id, participant_id=person.id, text=text))
    db.session.add(Perception(participant_id=people[3].id, public_value_id=values[0].id,
                              wave=Wave.SESSION, meeting_id=meeting.id, score=2,
                              answered_at=utcnow()))
    db.session.commit()
    login_as(staff)
    url = f"/manage/sessions/{meeting.id}/pulse"
    page = client.get(url).get_data(as_text=True)
    assert "appear once 5 people have answered the pulse (4 so far)" in page
    assert not any(text in page for text in texts)

    db.session.add(Perception(participant_id=people[4].id, public_value_id=values[0].id,
                              wave=Wave.SESSION, meeting_id=meeting.id, score=None,
                              answered_at=utcnow()))
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    positions = [page.index(text.replace("'", "&#39;")) for text in
                 ["Commencer à l'heure.", "Être moins nombreux.", "Un micro qui marche."]]
    assert positions == sorted(positions)
    section = page[page.index("What would have made it better?"):]
    assert not any(f"Habitant {i}" in section for i in range(5))


def test_the_session_and_survey_pages_lead_to_the_pulse(factory, client, login_as, staff,
                                                        held):
    process, meeting, values = held
    coming = factory.meeting(process, starts_at=utcnow() + timedelta(days=2))
    _attend(meeting, factory.participant(factory.user()))
    login_as(staff)
    pulse_url = f"/manage/sessions/{meeting.id}/pulse"
    assert pulse_url in client.get(f"/manage/sessions/{meeting.id}").get_data(as_text=True)
    assert f"/manage/sessions/{coming.id}/pulse" not in client.get(
        f"/manage/sessions/{coming.id}").get_data(as_text=True)
    page = client.get(f"/manage/processes/{process.id}/surveys").get_data(as_text=True)
    assert pulse_url in page and "Not sent" in page
    assert f"/manage/sessions/{coming.id}/pulse" not in page
    processes = client.get("/manage").get_data(as_text=True)
    assert f"/manage/processes/{process.id}/values" in processes
    assert f"/manage/processes/{process.id}/surveys" in processes


def test_only_staff_send_pulses(factory, client, login_as, held):
    process, meeting, values = held
    _attend(meeting, factory.participant(factory.user()))
    for role in (Role.CITIZEN, Role.ELECTED, Role.EVALUATOR):
        login_as(factory.user(role))
        url = f"/manage/sessions/{meeting.id}/pulse"
        assert client.get(url).status_code == 403
        assert client.post(url, data={"values": [v.id for v in values[:3]]}).status_code == 403
        client.post("/auth/logout")
    assert _count(SessionPulse) == 0
