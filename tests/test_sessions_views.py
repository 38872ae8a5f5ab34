"""Sessions through the web: public page, register / cancel / join, staff screens, permissions."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import Participant
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    Invitation,
    Meeting,
    MeetingFormat,
    Registration,
)


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def process(factory):
    return factory.process()


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def citizen(factory):
    return factory.user("citizen", name="Camille Citoyenne")


def register_for(db, meeting, user) -> Registration:
    reg = Registration(meeting_id=meeting.id, participant_id=participant_for(user).id)
    db.session.add(reg)
    db.session.commit()
    return reg


# ---------------------------------------------------------------- public page


def test_public_page_for_anonymous_hides_the_link(client, factory, process):
    meeting = factory.meeting(process, capacity=30)
    response = client.get(f"/sessions/{meeting.id}")
    assert response.status_code == 200
    body = text(response)
    assert meeting.title in body
    assert f"/processes/{process.id}" in body
    assert "visio.example.org" not in body
    assert "Salle des f" in body
    assert "30 of 30 seats left" in body or "30" in body


def test_unknown_session_is_404(client, db):
    assert client.get("/sessions/999999").status_code == 404
    assert client.get(f"/sessions/{2**63}").status_code == 404


def test_register_shows_code_and_link_then_cancel(client, db, factory, process, citizen,
                                                  login_as):
    meeting = factory.meeting(process)
    login_as(citizen)
    body = text(client.get(f"/sessions/{meeting.id}"))
    assert f"/sessions/{meeting.id}/register" in body
    assert "visio.example.org" not in body

    response = client.post(f"/sessions/{meeting.id}/register")
    assert response.status_code == 303
    reg = db.session.scalar(sa.select(Registration))
    body = text(client.get(f"/sessions/{meeting.id}"))
    assert f'class="regcode">{reg.code}<' in body
    assert "https://visio.example.org/a" in body
    assert f"/sessions/{meeting.id}/cancel" in body

    again = client.post(f"/sessions/{meeting.id}/register")
    assert again.status_code == 409
    assert "already registered" in text(again)
    assert count(db, Registration) == 1

    assert client.post(f"/sessions/{meeting.id}/cancel").status_code == 303
    db.session.expire_all()
    assert count(db, Registration, Registration.cancelled_at.is_(None)) == 0
    assert client.post(f"/sessions/{meeting.id}/cancel").status_code == 409
    assert client.post(f"/sessions/{meeting.id}/register").status_code == 303
    assert count(db, Registration) == 2
    assert count(db, Registration, Registration.cancelled_at.is_(None)) == 1


def test_full_session_answers_409_and_stores_nothing(client, db, factory, process, citizen,
                                                     login_as):
    meeting = factory.meeting(process, capacity=1)
    register_for(db, meeting, factory.user("citizen"))
    login_as(citizen)
    response = client.post(f"/sessions/{meeting.id}/register")
    assert response.status_code == 409
    assert "full" in text(response)
    assert count(db, Registration) == 1


def test_register_after_start_is_409(client, db, factory, process, citizen, login_as):
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=5))
    login_as(citizen)
    response = client.post(f"/sessions/{meeting.id}/register")
    assert response.status_code == 409
    assert "already started" in text(response)
    assert count(db, Registration) == 0


def test_join_records_online_attendance_and_redirects(client, db, factory, process, citizen,
                                                      login_as):
    # Attendance counts from the start (a click before it stores nothing: test_security_issue9_
    # join.py); registration closes at the start, so the registration is from before.
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=5))
    register_for(db, meeting, citizen)
    login_as(citizen)
    page = client.get(f"/sessions/{meeting.id}")
    assert f"/sessions/{meeting.id}/join" in text(page)
    # The page lets its form be redirected to the meeting's own site, and nowhere else.
    assert "form-action 'self' https://visio.example.org;" in page.headers[
        "Content-Security-Policy"]

    response = client.post(f"/sessions/{meeting.id}/join")
    assert response.status_code == 303
    assert response.headers["Location"] == "https://visio.example.org/a"
    att = db.session.scalar(sa.select(Attendance))
    assert att.mode == AttendanceMode.ONLINE and att.checked_in_by_id is None
    assert client.post(f"/sessions/{meeting.id}/join").status_code == 303
    assert count(db, Attendance) == 1


def test_join_outside_the_window_is_409(client, db, factory, process, citizen, login_as):
    early = factory.meeting(process, starts_at=utcnow() + timedelta(minutes=20))
    ended = factory.meeting(process, starts_at=utcnow() - timedelta(hours=3), hours=2)
    for m in (early, ended):
        register_for(db, m, citizen)
    login_as(citizen)
    for m in (early, ended):
        page = client.get(f"/sessions/{m.id}")
        assert f"/sessions/{m.id}/join" not in text(page)
        response = client.post(f"/sessions/{m.id}/join")
        assert response.status_code == 409
        assert "15 minutes" in text(response)
        assert "Location" not in response.headers
    assert count(db, Attendance) == 0


def test_join_never_redirects_to_a_javascript_url(client, db, factory, process, citizen,
                                                  login_as):
    meeting = factory.meeting(process, starts_at=utcnow() + timedelta(minutes=5))
    meeting.online_url = "javascript:alert(document.cookie)"
    db.session.commit()
    register_for(db, meeting, citizen)
    login_as(citizen)
    response = client.post(f"/sessions/{meeting.id}/join")
    assert response.status_code == 409
    assert "Location" not in response.headers
    assert count(db, Attendance) == 0


def test_minutes_shown_when_closed(client, db, factory, process):
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=2))
    meeting.minutes = "We planted ideas."
    meeting.closed_at = utcnow()
    db.session.commit()
    body = text(client.get(f"/sessions/{meeting.id}"))
    assert "We planted ideas." in body


# ---------------------------------------------------------------- permissions


STAFF_GETS = [
    "/manage/processes/{pid}/sessions",
    "/manage/processes/{pid}/sessions/new",
    "/manage/sessions/{mid}",
    "/manage/sessions/{mid}/edit",
]
STAFF_POSTS = [
    "/manage/processes/{pid}/sessions/new",
    "/manage/sessions/{mid}/edit",
    "/manage/sessions/{mid}/invite",
    "/manage/sessions/{mid}/checkin",
    "/manage/sessions/{mid}/close",
]


@pytest.mark.parametrize("role", ["citizen", "elected", "association", "evaluator"])
def test_staff_routes_are_403_for_others(client, db, factory, process, login_as, role):
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=5))
    reg = register_for(db, meeting, factory.user("citizen"))
    login_as(factory.user(role))
    for url in STAFF_GETS:
        assert client.get(url.format(pid=process.id, mid=meeting.id)).status_code == 403, url
    data = {"title": "X", "registration_id": reg.id, "code": reg.code, "user_id": 1,
            "minutes": "m", "name": "Walk"}
    for url in STAFF_POSTS:
        response = client.post(url.format(pid=process.id, mid=meeting.id), data=data)
        assert response.status_code == 403, url
    assert count(db, Attendance) == 0 and count(db, Invitation) == 0
    assert db.session.get(Meeting, meeting.id).closed_at is None


def test_anonymous_is_sent_to_login(client, db, factory, process):
    meeting = factory.meeting(process)
    for url in STAFF_GETS:
        response = client.get(url.format(pid=process.id, mid=meeting.id))
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    posts = STAFF_POSTS + ["/sessions/{mid}/register", "/sessions/{mid}/cancel",
                           "/sessions/{mid}/join"]
    for url in posts:
        response = client.post(url.format(pid=process.id, mid=meeting.id))
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert count(db, Registration) == 0


@pytest.mark.parametrize("role", ["admin", "evaluator"])
def test_non_participants_cannot_register(client, db, factory, process, login_as, role):
    meeting = factory.meeting(process)
    login_as(factory.user(role))
    assert client.post(f"/sessions/{meeting.id}/register").status_code == 403
    assert count(db, Registration) == 0


def test_staff_reach_unknown_ids_as_404(client, db, factory, staff, login_as):
    login_as(staff)
    assert client.get("/manage/sessions/424242").status_code == 404
    assert client.get(f"/manage/processes/{2**63}/sessions").status_code == 404
    assert client.post("/manage/sessions/424242/checkin", data={"code": "X"}).status_code == 404


# ---------------------------------------------------------------- staff screens


def test_admin_list_counts_in_one_query(client, db, app, factory, process, staff, login_as):
    first = factory.meeting(process, title="Premier atelier")
    register_for(db, first, factory.user("citizen"))
    register_for(db, first, factory.user("citizen"))
    login_as(staff)

    statements: list[str] = []

    def listen(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    url = f"/manage/processes/{process.id}/sessions"
    client.get(url)  # warm up: the first request after login loads more than the page needs
    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        db.session.expire_all()
        body = text(client.get(url))
        with_one = len(statements)
        for _ in range(4):
            factory.meeting(process)
        db.session.expire_all()
        statements.clear()
        client.get(url)
        with_five = len(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    assert "Premier atelier" in body and "<td>2 / 30</td>" in body
    assert with_five == with_one


def test_admin_list_empty_state(client, db, factory, process, staff, login_as):
    login_as(staff)
    body = text(client.get(f"/manage/processes/{process.id}/sessions"))
    assert "No session yet" in body


def test_create_and_edit_in_town_time(client, app, db, factory, process, staff, login_as):
    login_as(staff)
    response = client.post(f"/manage/processes/{process.id}/sessions/new", data={
        "title": "Atelier mobilités", "format": "hybrid",
        "starts_at": "2030-05-01T18:30", "ends_at": "2030-05-01T20:30",
        "location": "Mairie", "online_url": "https://visio.example.org/m",
        "capacity": "40", "agenda": "1. Bus",
    })
    assert response.status_code == 303, text(response)[:2000]
    meeting = db.session.scalar(sa.select(Meeting))
    zone = ZoneInfo(app.config["PV_TIMEZONE"])
    assert meeting.starts_at == datetime(2030, 5, 1, 18, 30, tzinfo=zone)
    assert meeting.capacity == 40
    assert count(db, AuditLog, AuditLog.action == "session.create") == 1

    form = text(client.get(f"/manage/sessions/{meeting.id}/edit"))
    assert 'value="2030-05-01T18:30"' in form
    response = client.post(f"/manage/sessions/{meeting.id}/edit", data={
        "title": "Atelier mobilités douces", "format": "in_person",
        "starts_at": "2030-05-01T18:00", "ends_at": "2030-05-01T20:30",
        "location": "Mairie", "online_url": "", "capacity": "",
    })
    assert response.status_code == 303
    db.session.expire_all()
    meeting = db.session.get(Meeting, meeting.id)
    assert meeting.title == "Atelier mobilités douces"
    assert meeting.capacity is None and meeting.online_url == ""
    assert count(db, AuditLog, AuditLog.action == "session.update") == 1


def test_manage_page_lists_registrations_and_filters_by_name(client, db, factory, process,
                                                             staff, login_as):
    meeting = factory.meeting(process)
    register_for(db, meeting, factory.user("citizen", name="Alice Dupont"))
    bob = register_for(db, meeting, factory.user("citizen", name="Bob Martin"))
    login_as(staff)
    body = text(client.get(f"/manage/sessions/{meeting.id}"))
    assert "Alice Dupont" in body and "Bob Martin" in body and bob.code in body
    assert "autofocus" in body
    body = text(client.get(f"/manage/sessions/{meeting.id}?q=bob"))
    assert "Bob Martin" in body and "Alice Dupont" not in body
    body = text(client.get(f"/manage/sessions/{meeting.id}?q=%25"))
    assert "No registration matches" in body


def test_invite_person_and_association(client, db, factory, process, staff, login_as):
    meeting = factory.meeting(process)
    invitee = factory.user("citizen", name="Zoé Invitée", email="zoe@example.org")
    assoc = factory.association("Vélo Ville")
    member = factory.user("association", association=assoc)
    login_as(staff)
    body = text(client.get(f"/manage/sessions/{meeting.id}?find=ZOE@"))
    assert "Zoé Invitée" in body

    assert client.post(f"/manage/sessions/{meeting.id}/invite",
                       data={"user_id": invitee.id}).status_code == 303
    assert client.post(f"/manage/sessions/{meeting.id}/invite",
                       data={"association_id": assoc.id}).status_code == 303
    again = client.post(f"/manage/sessions/{meeting.id}/invite", data={"user_id": invitee.id})
    assert again.status_code == 409 and "already invited" in text(again)
    again = client.post(f"/manage/sessions/{meeting.id}/invite",
                        data={"association_id": assoc.id})
    assert again.status_code == 409
    assert count(db, Invitation) == 2
    # The invited person and the association's members hear about it in the app.
    assert count(db, Notification, Notification.user_id == invitee.id) == 1
    assert count(db, Notification, Notification.user_id == member.id) == 1
    body = text(client.get(f"/manage/sessions/{meeting.id}"))
    assert "Zoé Invitée" in body and "Vélo Ville" in body


def test_check_in_three_ways(client, db, factory, process, staff, login_as):
    meeting = factory.meeting(process, starts_at=utcnow() + timedelta(minutes=30))
    by_list = register_for(db, meeting, factory.user("citizen", name="Liste"))
    by_code = register_for(db, meeting, factory.user("citizen", name="Code"))
    login_as(staff)
    url = f"/manage/sessions/{meeting.id}/checkin"

    assert client.post(url, data={"registration_id": by_list.id}).status_code == 303
    typed = " ".join(by_code.code.lower())
    assert client.post(url, data={"code": typed, "mode": "online"}).status_code == 303
    assert client.post(url, data={"name": "Sans Compte", "kind": "citizen",
                                  "association": ""}).status_code == 303

    rows = {a.participant.name: a for a in db.session.scalars(sa.select(Attendance))}
    assert rows["Liste"].mode == AttendanceMode.IN_PERSON and not rows["Liste"].walk_in
    assert rows["Code"].mode == AttendanceMode.ONLINE
    walk_in = rows["Sans Compte"]
    assert walk_in.walk_in and walk_in.participant.user_id is None
    assert all(a.checked_in_by_id == staff.id for a in rows.values())

    twice = client.post(url, data={"registration_id": by_list.id})
    assert twice.status_code == 409 and "already checked in" in text(twice)
    assert count(db, Attendance) == 3


def test_check_in_too_early_is_409(client, db, factory, process, staff, login_as):
    meeting = factory.meeting(process, starts_at=utcnow() + timedelta(hours=3))
    reg = register_for(db, meeting, factory.user("citizen"))
    login_as(staff)
    response = client.post(f"/manage/sessions/{meeting.id}/checkin",
                           data={"registration_id": reg.id})
    assert response.status_code == 409 and "2 hours" in text(response)
    response = client.post(f"/manage/sessions/{meeting.id}/checkin",
                           data={"name": "Early", "kind": "citizen"})
    assert response.status_code == 409
    assert count(db, Attendance) == 0 and count(db, Participant,
                                                 Participant.user_id.is_(None)) == 0


def test_close_then_registration_and_check_in_refused(client, db, factory, process, staff,
                                                      citizen, login_as):
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=30))
    future = factory.meeting(process)
    reg = register_for(db, meeting, factory.user("citizen"))
    login_as(staff)
    response = client.post(f"/manage/sessions/{meeting.id}/close",
                           data={"minutes": "Decisions: more trees."})
    assert response.status_code == 303
    assert count(db, AuditLog, AuditLog.action == "session.close") == 1
    again = client.post(f"/manage/sessions/{meeting.id}/close", data={"minutes": "x"})
    assert again.status_code == 409
    early = client.post(f"/manage/sessions/{future.id}/close", data={"minutes": "x"})
    assert early.status_code == 409
    assert count(db, AuditLog, AuditLog.action == "session.close") == 1

    response = client.post(f"/manage/sessions/{meeting.id}/checkin",
                           data={"registration_id": reg.id})
    assert response.status_code == 409 and "closed" in text(response)
    assert count(db, Attendance) == 0

    client.post("/auth/logout")
    login_as(citizen)
    assert client.post(f"/sessions/{meeting.id}/register").status_code == 409
    assert "Decisions: more trees." in text(client.get(f"/sessions/{meeting.id}"))
    db.session.expire_all()
    assert db.session.get(Meeting, meeting.id).format == MeetingFormat.HYBRID
