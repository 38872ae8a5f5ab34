"""Online attendance (issue 9): a "Join now" click before the start records nothing, and the
online link is shown only to people registered for the session, and to staff."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.participation.services import participant_for
from pvplatform.sessions import services
from pvplatform.sessions.models import Attendance, AttendanceMode, MeetingFormat, Registration

LINK = "https://visio.example.org/a"


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def process(factory):
    return factory.process()


@pytest.fixture
def citizen(factory):
    return factory.user("citizen", name="Camille Citoyenne")


def register_for(db, meeting, user) -> Registration:
    registration = Registration(meeting_id=meeting.id, participant_id=participant_for(user).id)
    db.session.add(registration)
    db.session.commit()
    return registration


# ---------------------------------------------------------------- attendance from the start


def test_join_before_the_start_opens_the_room_but_stores_no_attendance(client, db, factory,
                                                                       process, citizen,
                                                                       login_as):
    meeting = factory.meeting(process, starts_at=utcnow() + timedelta(minutes=10))
    register_for(db, meeting, citizen)
    login_as(citizen)
    page = text(client.get(f"/sessions/{meeting.id}"))
    assert f"/sessions/{meeting.id}/join" in page
    assert "you are counted as present only when you join from the start" in page

    response = client.post(f"/sessions/{meeting.id}/join")
    assert response.status_code == 303 and response.headers["Location"] == LINK
    assert count(db, Attendance) == 0
    assert "You took part" not in text(client.get(f"/sessions/{meeting.id}"))


def test_join_from_the_start_records_online_attendance_once(db, factory, process, citizen):
    meeting = factory.meeting(process, starts_at=utcnow() + timedelta(minutes=10))
    participant = participant_for(citizen)
    services.register(meeting, participant, now=utcnow())
    db.session.commit()
    for minutes in (-15, -5, -1):
        now = meeting.starts_at + timedelta(minutes=minutes, seconds=1)
        assert services.join_online(meeting, participant, now=now) == LINK
    assert count(db, Attendance) == 0
    services.join_online(meeting, participant, now=meeting.starts_at)
    services.join_online(meeting, participant, now=meeting.starts_at + timedelta(minutes=30))
    db.session.commit()
    [attendance] = db.session.scalars(sa.select(Attendance))
    assert attendance.mode == AttendanceMode.ONLINE
    assert attendance.checked_in_at == meeting.starts_at


def test_join_before_the_window_is_refused_and_explained(client, db, factory, process, citizen,
                                                         login_as):
    meeting = factory.meeting(process, starts_at=utcnow() + timedelta(hours=1))
    register_for(db, meeting, citizen)
    login_as(citizen)
    page = text(client.get(f"/sessions/{meeting.id}"))
    assert f"/sessions/{meeting.id}/join" not in page
    assert "button appears here 15 minutes before the start" in page
    response = client.post(f"/sessions/{meeting.id}/join")
    assert response.status_code == 409 and "Location" not in response.headers
    assert count(db, Attendance) == 0


# ---------------------------------------------------------------- who sees the online link


@pytest.fixture
def online(factory, process):
    # In the join window, so that every page a viewer may get is shown.
    return factory.meeting(process, starts_at=utcnow() + timedelta(minutes=5),
                           format=MeetingFormat.ONLINE)


def viewers(factory, db, meeting) -> dict[str, object]:
    cancelled = factory.user("citizen", name="Annulé")
    registration = register_for(db, meeting, cancelled)
    registration.cancelled_at = utcnow()
    db.session.commit()
    return {
        "unregistered citizen": factory.user("citizen"),
        "unregistered association": factory.user("association"),
        "unregistered elected": factory.user("elected"),
        "evaluator": factory.user("evaluator"),
        "cancelled registration": cancelled,
    }


def test_the_link_is_never_shown_to_anonymous_visitors(client, online):
    response = client.get(f"/sessions/{online.id}")
    assert response.status_code == 200
    assert "visio.example.org" not in response.get_data(as_text=True)
    assert "visio.example.org" not in response.headers["Content-Security-Policy"]
    assert "Shown to registered people." in text(response)


def test_the_link_is_never_shown_to_people_not_registered(client, db, factory, online,
                                                          login_as):
    for who, user in viewers(factory, db, online).items():
        login_as(user)
        for response in (client.get(f"/sessions/{online.id}"),
                         client.post(f"/sessions/{online.id}/join")):
            assert "visio.example.org" not in response.get_data(as_text=True), who
            assert "visio.example.org" not in response.headers.get("Location", ""), who
            assert "visio.example.org" not in response.headers["Content-Security-Policy"], who
        client.post("/auth/logout")
    assert count(db, Attendance) == 0


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "staff"])
def test_the_link_is_shown_to_registered_people(client, db, factory, online, login_as, role):
    user = factory.user(role)
    register_for(db, online, user)
    login_as(user)
    body = client.get(f"/sessions/{online.id}").get_data(as_text=True)
    assert f'href="{LINK}"' in body


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_the_link_is_shown_to_staff(client, factory, online, login_as, role):
    login_as(factory.user(role))
    for url in (f"/sessions/{online.id}", f"/manage/sessions/{online.id}"):
        assert f'href="{LINK}"' in client.get(url).get_data(as_text=True), url
