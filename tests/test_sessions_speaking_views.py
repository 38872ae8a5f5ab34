"""Speaking turns through the staff session page: record from the attendance list, list with
totals, delete; permissions, bad input (422, nothing stored) and CSRF."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import Attendance, AttendanceMode, Meeting, SpeakingTurn
from tests.conftest import (
    STAFF_PASSWORD,
    app_on_file,
    csrf_token_from,
)

BIG = str(2**63)


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def text(response) -> str:
    return response.get_data(as_text=True)


def local(app, moment: datetime) -> str:
    """What a staff member types: the town's wall-clock time, as the browser sends it."""
    return moment.astimezone(ZoneInfo(app.config["PV_TIMEZONE"])).strftime("%Y-%m-%dT%H:%M:%S")


def attend(db, meeting: Meeting, participant) -> None:
    db.session.add(Attendance(meeting_id=meeting.id, participant_id=participant.id,
                              mode=AttendanceMode.IN_PERSON, checked_in_at=meeting.starts_at))
    db.session.commit()


@pytest.fixture
def running(db, factory):
    """A session that started an hour ago, an official and a resident checked in."""
    process = factory.process()
    started = (utcnow() - timedelta(hours=1)).replace(microsecond=0)  # as typed: whole seconds
    meeting = factory.meeting(process, starts_at=started, hours=2)
    official = participant_for(factory.user("elected", name="Hélène Élue"))
    resident = factory.participant(factory.user("citizen", name="Camille Habitante"))
    attend(db, meeting, official)
    attend(db, meeting, resident)
    return {"process": process, "meeting": meeting, "official": official, "resident": resident}


def turn_data(app, running, *, who=None, minute=10, minutes="1", seconds="30", **over):
    start = running["meeting"].starts_at + timedelta(minutes=minute)
    data = {"turn_participant": str((who or running["resident"]).id),
            "turn_start": local(app, start), "turn_minutes": minutes, "turn_seconds": seconds}
    data.update(over)
    return data


def test_staff_record_list_and_delete_turns_through_the_page(client, app, db, factory,
                                                             running, login_as):
    meeting = running["meeting"]
    staff = factory.user("staff")
    login_as(staff)
    page = text(client.get(f"/manage/sessions/{meeting.id}"))
    # The form lists the attendees, with labels, and proposes a start and a duration.
    assert 'id="speaking"' in page
    assert f'<option value="{running["resident"].id}">Camille Habitante</option>' in page
    assert 'for="turn_participant"' in page and 'for="turn_start"' in page
    assert 'for="turn_minutes"' in page and 'for="turn_seconds"' in page
    assert 'id="turn_minutes"' in page and 'value="2"' in page
    assert "No speaking turn recorded yet." in page

    url = f"/manage/sessions/{meeting.id}/speaking-turns"
    response = client.post(url, data=turn_data(app, running, minute=10, minutes="12",
                                               seconds="0", who=running["official"]))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/manage/sessions/{meeting.id}#speaking")
    response = client.post(url, data=turn_data(app, running, minute=25, minutes="3",
                                               seconds="5"))
    assert response.status_code == 303
    turns = list(db.session.scalars(sa.select(SpeakingTurn).order_by(SpeakingTurn.started_at)))
    assert [t.participant_id for t in turns] == [running["official"].id, running["resident"].id]
    # Typed in town time, stored in UTC.
    assert turns[0].started_at == meeting.starts_at + timedelta(minutes=10)
    assert turns[1].ended_at - turns[1].started_at == timedelta(minutes=3, seconds=5)
    assert all(t.recorded_by_id == staff.id for t in turns)

    page = text(client.get(f"/manage/sessions/{meeting.id}"))
    assert "Speaking turn of Camille Habitante recorded (3 min 05 s)." in page
    assert "Speaking time by group" in page and "Speaking time by person" in page
    assert "12 min 00 s" in page and "15 min 05 s" in page  # the official's, the total
    assert "79.6%" in page  # 720 s of 905 s for the officials

    response = client.post(f"/manage/sessions/{meeting.id}/speaking-turns/delete",
                           data={"turn_id": str(turns[0].id)})
    assert response.status_code == 303
    assert count(db, SpeakingTurn) == 1
    assert count(db, AuditLog, AuditLog.action == "session.speaking_turn_delete",
                 AuditLog.actor_id == staff.id, AuditLog.target_id == meeting.id) == 1
    page = text(client.get(f"/manage/sessions/{meeting.id}"))
    assert "The speaking turn of Hélène Élue is deleted." in page


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "evaluator"])
def test_others_cannot_record_or_delete(client, app, db, factory, running, login_as, role):
    meeting = running["meeting"]
    turn = SpeakingTurn(meeting_id=meeting.id, participant_id=running["resident"].id,
                        started_at=meeting.starts_at,
                        ended_at=meeting.starts_at + timedelta(minutes=1))
    db.session.add(turn)
    db.session.commit()
    login_as(factory.user(role))
    response = client.post(f"/manage/sessions/{meeting.id}/speaking-turns",
                           data=turn_data(app, running, minute=20))
    assert response.status_code == 403
    response = client.post(f"/manage/sessions/{meeting.id}/speaking-turns/delete",
                           data={"turn_id": str(turn.id)})
    assert response.status_code == 403
    assert count(db, SpeakingTurn) == 1 and count(db, AuditLog) == 0


def test_anonymous_is_sent_to_login(client, app, db, running):
    meeting = running["meeting"]
    for url in (f"/manage/sessions/{meeting.id}/speaking-turns",
                f"/manage/sessions/{meeting.id}/speaking-turns/delete"):
        response = client.post(url, data=turn_data(app, running))
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert count(db, SpeakingTurn) == 0


def bad_turns(app, running, stranger, foreign):
    meeting = running["meeting"]
    before_start = local(app, meeting.starts_at - timedelta(minutes=5))
    return [
        ({}, None),
        ({"turn_participant": ""}, "Choose who spoke."),
        ({"turn_participant": "0"}, "Choose who spoke."),
        ({"turn_participant": "x"}, None),
        ({"turn_participant": "-3"}, "Choose who spoke."),
        ({"turn_participant": BIG}, "Choose who spoke."),
        ({"turn_participant": "999999"}, "attendance list"),
        ({"turn_participant": str(stranger.id)}, "not checked in"),
        ({"turn_participant": str(foreign.id)}, "not checked in"),
        ({"turn_start": ""}, None),
        ({"turn_start": "yesterday"}, None),
        ({"turn_start": "1999-05-01T10:00"}, "between the years 2000 and 2100"),
        ({"turn_start": before_start}, "between the start of the session"),
        ({"turn_minutes": ""}, None),
        ({"turn_minutes": "x"}, None),
        ({"turn_minutes": "-1"}, None),
        ({"turn_minutes": "301"}, None),
        ({"turn_seconds": "60"}, None),
        ({"turn_seconds": "-1"}, None),
        ({"turn_minutes": "0", "turn_seconds": "0"}, "at least one second"),
        ({"turn_minutes": "0", "turn_seconds": ""}, "at least one second"),
        # From 55 minutes in, for ten minutes: ends in the future.
        ({"turn_start": local(app, meeting.starts_at + timedelta(minutes=55)),
          "turn_minutes": "10"}, "in the future"),
    ]


def test_bad_input_is_422_with_a_message_and_stores_nothing(client, app, db, factory,
                                                           running, login_as):
    meeting = running["meeting"]
    stranger = factory.participant(factory.user("citizen", name="Pas Venu"))
    other = factory.meeting(running["process"], starts_at=utcnow() - timedelta(hours=1))
    foreign = factory.participant(factory.user("citizen", name="Autre Session"))
    attend(db, other, foreign)
    login_as(factory.user("staff"))
    url = f"/manage/sessions/{meeting.id}/speaking-turns"
    for over, message in bad_turns(app, running, stranger, foreign):
        data = turn_data(app, running, **over) if over else {}
        response = client.post(url, data=data)
        assert response.status_code == 422, (over, response.status_code)
        body = text(response)
        assert 'class="error"' in body or "error-summary" in body, over
        if message:
            assert message in body, (over, message)
        assert count(db, SpeakingTurn) == 0, over


def test_overlap_and_future_session_are_refused_with_a_message(client, app, db, factory,
                                                              running, login_as):
    meeting = running["meeting"]
    login_as(factory.user("staff"))
    url = f"/manage/sessions/{meeting.id}/speaking-turns"
    assert client.post(url, data=turn_data(app, running, minute=10, minutes="5")).status_code \
        == 303
    response = client.post(url, data=turn_data(app, running, minute=12, minutes="1"))
    assert response.status_code == 409
    assert "overlaps another turn of Camille Habitante" in text(response)
    assert count(db, SpeakingTurn) == 1

    future = factory.meeting(running["process"], starts_at=utcnow() + timedelta(hours=1))
    attend(db, future, running["resident"])
    page = text(client.get(f"/manage/sessions/{future.id}"))
    assert "Speaking turns can be recorded once the session has started." in page
    response = client.post(f"/manage/sessions/{future.id}/speaking-turns", data={
        "turn_participant": str(running["resident"].id),
        "turn_start": local(app, utcnow() - timedelta(minutes=5)), "turn_minutes": "1"})
    assert response.status_code == 409 and "has not started yet" in text(response)
    assert count(db, SpeakingTurn) == 1


def test_delete_refuses_bad_or_foreign_turns(client, db, factory, running, login_as):
    meeting = running["meeting"]
    other = factory.meeting(running["process"], starts_at=utcnow() - timedelta(hours=1))
    attend(db, other, running["resident"])
    foreign = SpeakingTurn(meeting_id=other.id, participant_id=running["resident"].id,
                           started_at=other.starts_at,
                           ended_at=other.starts_at + timedelta(minutes=1))
    db.session.add(foreign)
    db.session.commit()
    login_as(factory.user("staff"))
    url = f"/manage/sessions/{meeting.id}/speaking-turns/delete"
    for data in ({}, {"turn_id": ""}, {"turn_id": "x"}, {"turn_id": "0"}, {"turn_id": BIG}):
        response = client.post(url, data=data)
        assert response.status_code == 422, data
        assert "Choose a speaking turn to delete." in text(response)
    for turn_id in ("999999", str(foreign.id)):
        response = client.post(url, data={"turn_id": turn_id})
        assert response.status_code == 404
        assert "does not exist" in text(response)
    assert count(db, SpeakingTurn) == 1 and count(db, AuditLog) == 0
    assert client.post("/manage/sessions/424242/speaking-turns/delete",
                       data={"turn_id": str(foreign.id)}).status_code == 404


def test_the_page_is_french_first(client, db, factory, running, login_as):
    login_as(factory.user("staff"))
    page = text(client.get(f"/manage/sessions/{running['meeting'].id}",
                           headers={"Accept-Language": "fr"}))
    assert 'id="speaking"' in page
    assert "<html" in page and 'lang="fr"' in page


# ---------------------------------------------------------------- CSRF


@pytest.fixture
def csrf_app(tmp_path):
    with app_on_file(tmp_path / "csrf.sqlite", WTF_CSRF_ENABLED=True) as app:
        yield app


def test_recording_and_deleting_need_the_page_token(csrf_app):
    from tests.conftest import Factory

    with csrf_app.app_context():
        f = Factory()
        staff = f.user("staff")
        process = f.process()
        meeting = f.meeting(process, starts_at=utcnow() - timedelta(hours=1))
        resident = f.participant(f.user("citizen", name="Camille Habitante"))
        attend(_db, meeting, resident)
        email, meeting_id, resident_id = staff.email, meeting.id, resident.id
        start = local(csrf_app, meeting.starts_at + timedelta(minutes=3))
    client = csrf_app.test_client()
    token = csrf_token_from(text(client.get("/auth/login")))
    assert client.post("/auth/login", data={"email": email, "password": STAFF_PASSWORD,
                                            "csrf_token": token}).status_code == 302
    url = f"/manage/sessions/{meeting_id}/speaking-turns"
    data = {"turn_participant": str(resident_id), "turn_start": start, "turn_minutes": "1",
            "turn_seconds": "0"}
    assert client.post(url, data=data).status_code == 400
    assert client.post(url, data={**data, "csrf_token": "not-a-token"}).status_code == 400
    page = text(client.get(f"/manage/sessions/{meeting_id}"))
    token = csrf_token_from(page[page.index('id="speaking"'):])
    assert client.post(url, data={**data, "csrf_token": token}).status_code == 303
    with csrf_app.app_context():
        turn_id = _db.session.scalar(sa.select(SpeakingTurn.id))
        assert turn_id is not None
    delete = f"/manage/sessions/{meeting_id}/speaking-turns/delete"
    assert client.post(delete, data={"turn_id": str(turn_id)}).status_code == 400
    assert client.post(delete, data={"turn_id": str(turn_id),
                                     "csrf_token": token}).status_code == 303
    with csrf_app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(SpeakingTurn)) == 0
