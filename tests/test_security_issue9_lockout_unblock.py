"""Issue 9, finding 2: staff at a session lift a login wait, for an account (by e-mail, from
every address) or for the room's connection; each unblock is audited; others get 403."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from pvplatform.auth import lockout
from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from pvplatform.moderation.audit_labels import ACTIONS
from pvplatform.moderation.models import AuditLog
from tests.conftest import PASSWORD, STAFF_PASSWORD, Factory, discard_schema, make_app

WRONG = "not the right password at all"
ROOM = "192.0.2.10"


@pytest.fixture
def limited_app() -> Iterator[Flask]:
    previous = limiter.enabled
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        discard_schema()
    limiter.enabled = previous


@pytest.fixture
def world(limited_app) -> dict:
    f = Factory()
    process = f.process()
    return {"meeting": f.meeting(process), "process": process,
            "staff": f.user("staff"), "admin": f.user("admin"),
            "citizen": f.user("citizen", email="voisin@example.org"),
            "lea": f.user("citizen", email="lea@example.org")}


def attempt(client, ip: str, email: str, password: str):
    return client.post("/auth/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def logged_in(app, user, password: str, ip: str = ROOM):
    client = app.test_client()
    assert attempt(client, ip, user.email, password).status_code == 302
    return client


def unblock(client, meeting, ip: str = ROOM, **data):
    return client.post(f"/manage/sessions/{meeting.id}/unblock-login", data=data,
                       environ_base={"REMOTE_ADDR": ip})


def audit_rows() -> list[AuditLog]:
    return list(_db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "login.unblock")
                                    .order_by(AuditLog.id)))


def lock(client, email: str, ip: str) -> None:
    for _ in range(5):
        attempt(client, ip, email, WRONG)
    assert attempt(client, ip, email, WRONG).status_code == 429


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_unblock_an_account_from_every_address_and_it_is_audited(limited_app, world, role):
    meeting, lea = world["meeting"], world["lea"]
    staff = logged_in(limited_app, world[role], STAFF_PASSWORD)
    other = limited_app.test_client()
    lock(other, lea.email, ROOM)  # at the session
    lock(other, lea.email, "198.51.100.4")  # and on her phone's network

    response = unblock(staff, meeting, unblock_email="Lea@Example.org")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/manage/sessions/{meeting.id}#unblock-login")
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "can log in again" in page

    rows = audit_rows()
    assert len(rows) == 1
    row = rows[0]
    assert (row.actor_id, row.target_type, row.target_id, row.process_id) == (
        world[role].id, "user", lea.id, meeting.process_id)
    assert row.details == {"session_id": meeting.id, "account": True, "room_connection": False}
    assert "login.unblock" in ACTIONS

    # From both addresses, five fresh tries before any wait; the right password goes through.
    for ip in (ROOM, "198.51.100.4"):
        for n in range(4):
            assert attempt(other, ip, lea.email, WRONG).status_code == 422, (ip, n)
    assert attempt(other, "198.51.100.4", lea.email, PASSWORD).status_code == 302


def test_staff_unblock_the_room_connection(limited_app, world, monkeypatch):
    monkeypatch.setattr(lockout, "ADDRESS", lockout.Rule("address", free=10, memory=3600,
                                                         first_wait=60, max_wait=900))
    meeting, lea = world["meeting"], world["lea"]
    staff = logged_in(limited_app, world["staff"], STAFF_PASSWORD)
    room = limited_app.test_client()
    for n in range(10):  # a busy room: ten typos on ten accounts
        assert attempt(room, ROOM, f"typo{n}@example.org", WRONG).status_code == 422
    assert attempt(room, ROOM, lea.email, PASSWORD).status_code == 429

    assert unblock(staff, meeting, unblock_room="y").status_code == 303
    row = audit_rows()[0]
    assert (row.target_type, row.target_id) == ("session", meeting.id)
    assert row.details == {"session_id": meeting.id, "account": False, "room_connection": True}
    assert attempt(room, ROOM, lea.email, PASSWORD).status_code == 302


def test_account_and_room_at_once(limited_app, world):
    meeting, lea = world["meeting"], world["lea"]
    staff = logged_in(limited_app, world["staff"], STAFF_PASSWORD)
    other = limited_app.test_client()
    lock(other, lea.email, ROOM)
    response = unblock(staff, meeting, unblock_email=lea.email, unblock_room="y")
    assert response.status_code == 303
    assert audit_rows()[0].details["room_connection"] is True
    assert attempt(other, ROOM, lea.email, PASSWORD).status_code == 302


def test_a_citizen_gets_403_and_nothing_changes(limited_app, world):
    meeting, lea = world["meeting"], world["lea"]
    citizen = logged_in(limited_app, world["citizen"], PASSWORD)
    other = limited_app.test_client()
    lock(other, lea.email, ROOM)
    refused = unblock(citizen, meeting, unblock_email=lea.email, unblock_room="y")
    assert refused.status_code == 403
    assert audit_rows() == []
    assert attempt(other, ROOM, lea.email, PASSWORD).status_code == 429
    anonymous = limited_app.test_client()
    response = unblock(anonymous, meeting, unblock_email=lea.email)
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
    assert audit_rows() == []


@pytest.mark.parametrize(("data", "message"), [
    ({}, "e-mail address, or tick the box"),
    ({"unblock_email": "nobody@example.org"}, "No account uses this e-mail."),
    ({"unblock_email": "not an e-mail"}, "Invalid email address."),
    ({"unblock_room": "-1"}, "Tick the box or leave it empty."),
    ({"unblock_room": "NaN"}, "Tick the box or leave it empty."),
])
def test_refusals_stay_on_the_session_page(limited_app, world, data, message):
    meeting = world["meeting"]
    staff = logged_in(limited_app, world["staff"], STAFF_PASSWORD)
    response = unblock(staff, meeting, **data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body and 'id="unblock-login"' in body
    assert audit_rows() == []


def test_session_page_offers_the_form_to_staff(limited_app, world):
    meeting = world["meeting"]
    staff = logged_in(limited_app, world["staff"], STAFF_PASSWORD)
    page = staff.get(f"/manage/sessions/{meeting.id}").get_data(as_text=True)
    assert 'id="unblock-login"' in page
    assert f'action="/manage/sessions/{meeting.id}/unblock-login"' in page
    assert 'name="csrf_token"' in page.split('id="unblock-login"', 1)[1]


def test_unknown_session_is_404(limited_app, world):
    staff = logged_in(limited_app, world["staff"], STAFF_PASSWORD)
    response = staff.post("/manage/sessions/999999/unblock-login", data={"unblock_room": "y"},
                          environ_base={"REMOTE_ADDR": ROOM})
    assert response.status_code == 404
    assert audit_rows() == []


def test_unblock_works_with_limits_off(app, client, factory, login_as, db):
    """The default test app limits nothing: the unblock is still audited, and lifts nothing."""
    staff = factory.user("staff")
    meeting = factory.meeting(factory.process())
    lea = factory.user(email="lea@example.org")
    login_as(staff)
    assert client.post(f"/manage/sessions/{meeting.id}/unblock-login",
                       data={"unblock_email": lea.email, "unblock_room": "y"}).status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "login.unblock")) == 1
