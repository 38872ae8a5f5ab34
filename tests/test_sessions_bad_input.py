"""Sessions: every form's bad input answers 4xx (never 500) and changes no row."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import Participant
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration

BIG = str(2**63)


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def snapshot(db) -> dict[str, int]:
    return {m.__name__: count(db, m) for m in
            (Meeting, Registration, Attendance, Invitation, Participant, AuditLog)}


def good_meeting(**over) -> dict[str, str]:
    data = {
        "title": "Atelier", "format": "hybrid",
        "starts_at": "2030-05-01T18:30", "ends_at": "2030-05-01T20:30",
        "location": "Mairie", "online_url": "https://visio.example.org/m",
        "capacity": "40", "agenda": "Accueil",
    }
    data.update(over)
    return data


BAD_MEETINGS = [
    {"title": ""},
    {"title": "   "},
    {"title": "x" * 201},
    {"title": "A\x00B"},
    {"title": "A\u202eB"},
    {"format": "teleport"},
    {"format": ""},
    {"starts_at": ""},
    {"starts_at": "x"},
    {"starts_at": "2030-13-01T10:00"},
    {"starts_at": "0001-01-01T00:00", "ends_at": "0001-01-01T02:00"},
    {"starts_at": "9999-12-31T22:00", "ends_at": "9999-12-31T23:00"},
    {"ends_at": ""},
    {"ends_at": "2030-05-01T18:30"},
    {"ends_at": "2030-05-01T17:00"},
    {"capacity": "0"},
    {"capacity": "-1"},
    {"capacity": "x"},
    {"capacity": "1.5"},
    {"capacity": BIG},
    {"capacity": "100001"},
    {"online_url": "javascript:alert(1)"},
    {"online_url": "data:text/html,hi"},
    {"online_url": "//evil.example.org"},
    {"online_url": "https://" + "a" * 500 + ".org"},
    {"online_url": ""},
    {"format": "online", "online_url": ""},
    {"format": "in_person", "location": ""},
    {"location": "x" * 301},
    {"location": "Salle\x00"},
    {"agenda": "x" * 20001},
    {"agenda": "a\x00"},
]


@pytest.fixture
def staff_setup(client, factory, login_as):
    process = factory.process()
    staff = factory.user("staff")
    login_as(staff)
    return process, staff


@pytest.mark.parametrize("bad", BAD_MEETINGS)
def test_create_refuses_bad_input(client, db, staff_setup, bad):
    process, _ = staff_setup
    before = snapshot(db)
    response = client.post(f"/manage/processes/{process.id}/sessions/new", data=good_meeting(**bad))
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert snapshot(db) == before


@pytest.mark.parametrize("bad", BAD_MEETINGS[::3])
def test_edit_refuses_bad_input(client, db, factory, staff_setup, bad):
    process, _ = staff_setup
    meeting = factory.meeting(process, title="Unchanged")
    before = snapshot(db)
    response = client.post(f"/manage/sessions/{meeting.id}/edit", data=good_meeting(**bad))
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Meeting, meeting.id).title == "Unchanged"
    assert snapshot(db) == before


def test_create_with_missing_fields_is_422(client, db, staff_setup):
    process, _ = staff_setup
    before = snapshot(db)
    assert client.post(f"/manage/processes/{process.id}/sessions/new").status_code == 422
    assert snapshot(db) == before


# ---------------------------------------------------------------- check-in


@pytest.fixture
def running(db, factory, staff_setup):
    process, staff = staff_setup
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=10))
    other = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=10))
    users = [factory.user("citizen") for _ in range(2)]
    regs = []
    for m, u in ((meeting, users[0]), (other, users[1])):
        reg = Registration(meeting_id=m.id, participant_id=participant_for(u).id)
        db.session.add(reg)
        regs.append(reg)
    db.session.commit()
    return meeting, regs[0], regs[1]


def bad_check_ins(own, foreign):
    assoc_field = {"name": "Walker", "kind": "citizen"}
    return [
        {"registration_id": ""},
        {"registration_id": "x"},
        {"registration_id": "0"},
        {"registration_id": "-3"},
        {"registration_id": BIG},
        {"registration_id": "999999"},
        {"registration_id": str(foreign.id)},
        {"registration_id": str(own.id), "mode": "teleport"},
        {"code": ""},
        {"code": "   "},
        {"code": "NOPE2345"},
        {"code": foreign.code},
        {"code": "x" * 41},
        {"code": own.code + "\x00"},
        {"code": own.code, "mode": "teleport"},
        {"name": ""},
        {"name": "x" * 121},
        {"name": "Jo\x00"},
        {"name": "Walker", "kind": "manager"},
        {"name": "Walker", "kind": ""},
        {**assoc_field, "association": "999999"},
        {**assoc_field, "association": "x"},
        {**assoc_field, "association": BIG},
        {},
        {"unrelated": "1"},
    ]


def test_check_in_refuses_bad_input(client, db, running):
    meeting, own, foreign = running
    for data in bad_check_ins(own, foreign):
        before = snapshot(db)
        response = client.post(f"/manage/sessions/{meeting.id}/checkin", data=data)
        assert 400 <= response.status_code < 500, (data, response.status_code)
        assert response.status_code == 422, data
        assert snapshot(db) == before, data


# ---------------------------------------------------------------- invitations and closing


def test_invite_refuses_bad_input(client, db, factory, staff_setup):
    process, _ = staff_setup
    meeting = factory.meeting(process)
    evaluator = factory.user("evaluator")
    gone = factory.user("citizen")
    gone.deleted_at = utcnow()
    db.session.commit()
    cases = [
        {"user_id": ""}, {"user_id": "x"}, {"user_id": "0"}, {"user_id": BIG},
        {"user_id": "999999"}, {"user_id": str(evaluator.id)}, {"user_id": str(gone.id)},
        {"user_id": "1\x00"},
        {"association_id": ""}, {"association_id": "x"}, {"association_id": BIG},
        {"association_id": "999999"},
        {},
    ]
    for data in cases:
        before = snapshot(db)
        response = client.post(f"/manage/sessions/{meeting.id}/invite", data=data)
        assert response.status_code == 422, data
        assert snapshot(db) == before, data


@pytest.mark.parametrize("minutes", ["", "   ", "x" * 50001, "Notes\x00", None])
def test_close_refuses_bad_minutes(client, db, factory, staff_setup, minutes):
    process, _ = staff_setup
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1))
    before = snapshot(db)
    data = {} if minutes is None else {"minutes": minutes}
    response = client.post(f"/manage/sessions/{meeting.id}/close", data=data)
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Meeting, meeting.id).closed_at is None
    assert snapshot(db) == before


def test_closed_session_refuses_invitation(client, db, factory, staff_setup):
    process, _ = staff_setup
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1))
    meeting.closed_at = utcnow()
    db.session.commit()
    assoc = factory.association()
    response = client.post(f"/manage/sessions/{meeting.id}/invite",
                           data={"association_id": assoc.id})
    assert response.status_code == 409
    assert count(db, Invitation) == 0


def test_search_parameters_never_fail(client, db, running):
    meeting, _, _ = running
    for q in ("%", "_", "\x00", "x" * 5000, "' OR 1=1 --", "é"):
        for name in ("q", "find"):
            response = client.get(f"/manage/sessions/{meeting.id}", query_string={name: q})
            assert response.status_code == 200
    body = client.get(f"/manage/sessions/{meeting.id}",
                      query_string={"q": "<b>x", "find": "<i>y"}).get_data(as_text=True)
    assert "<b>x" not in body and "<i>y" not in body and "&lt;b&gt;x" in body
    response = client.get(f"/manage/sessions/{meeting.id}", query_string={"page": "x"})
    assert response.status_code == 200
    response = client.get(f"/manage/sessions/{meeting.id}", query_string={"page": BIG})
    assert response.status_code == 200
