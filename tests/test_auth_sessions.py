"""Login, logout, password change and profile: sessions end when they should."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Association, User
from pvplatform.auth.passwords import verify_password
from pvplatform.moderation.models import AuditLog
from tests.conftest import PASSWORD, login

NEW = "another quite long sentence here"


def counts(db) -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Association, AuditLog)
    )


def is_logged_in(client) -> bool:
    # The `db` fixture keeps one app context pushed, so every request shares its `g`, where
    # Flask-Login caches the user it loaded: forget it, so that this client's cookie decides.
    from flask import g

    g.pop("_login_user", None)
    response = client.get("/auth/me")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_login_wrong_password_is_422_with_a_generic_message(client, factory):
    user = factory.user()
    wrong = client.post("/auth/login", data={"email": user.email, "password": PASSWORD + "x"})
    unknown = client.post("/auth/login", data={"email": "nobody@example.org",
                                                "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 422
    assert b"E-mail or password is incorrect." in wrong.data
    assert b"E-mail or password is incorrect." in unknown.data
    assert not is_logged_in(client)


@pytest.mark.parametrize("data", [
    {},
    {"email": "x" * 2540 + "@example.org", "password": PASSWORD},
    {"email": "a@example.org", "password": "p" * 1280},
    {"email": "a@example.org", "password": "bad\x00password1"},
])
def test_login_bad_input_is_422(client, db, data):
    before = counts(db)
    assert client.post("/auth/login", data=data).status_code == 422
    assert counts(db) == before


def test_logout_rotates_the_session_token(app, client, factory, login_as):
    user = factory.user()
    old_token = user.session_token
    login_as(user)
    stolen = client.get_cookie("session").value

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert is_logged_in(replay)  # the copied cookie works while the session lives

    assert client.post("/auth/logout").status_code == 302
    assert not is_logged_in(client)
    replay_after = app.test_client()
    replay_after.set_cookie("session", stolen)
    assert not is_logged_in(replay_after)
    assert not is_logged_in(replay)
    from pvplatform.extensions import db

    assert db.session.get(User, user.id).session_token != old_token


def test_password_change_ends_other_sessions_but_not_this_one(app, client, factory, login_as,
                                                              db):
    user = factory.user()
    other = app.test_client()
    login(other, user)
    login_as(user)
    assert is_logged_in(other)

    response = client.post("/auth/me/password", data={
        "current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert response.status_code == 302
    assert is_logged_in(client)
    assert not is_logged_in(other)
    db.session.expire_all()
    assert verify_password(db.session.get(User, user.id).password_hash, NEW)
    fresh = app.test_client()
    assert fresh.post("/auth/login", data={"email": user.email,
                                           "password": PASSWORD}).status_code == 422
    login(fresh, user, NEW)


@pytest.mark.parametrize(("data", "message"), [
    ({"current_password": "wrong password here", "password": NEW, "confirm": NEW},
     b"current password is incorrect"),
    ({"current_password": PASSWORD, "password": "short", "confirm": "short"}, b"at least 12"),
    ({"current_password": PASSWORD, "password": "z" * 129, "confirm": "z" * 129}, None),
    ({"current_password": PASSWORD, "password": "z" * 1280, "confirm": "z" * 1280}, None),
    ({"current_password": PASSWORD, "password": NEW, "confirm": NEW + "?"}, b"do not match"),
    ({"current_password": PASSWORD, "password": PASSWORD, "confirm": PASSWORD},
     b"must differ"),
    ({"current_password": PASSWORD, "password": NEW + "\x00", "confirm": NEW + "\x00"}, None),
    ({"current_password": "", "password": "", "confirm": ""}, None),
    ({}, None),
])
def test_password_change_bad_input(app, client, factory, login_as, db, data, message):
    user = factory.user(email="citizen.person@example.org")
    other = app.test_client()
    login(other, user)
    login_as(user)
    before_hash, before_token = user.password_hash, user.session_token
    response = client.post("/auth/me/password", data=data)
    assert response.status_code == 422
    if message:
        assert message in response.data
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert (stored.password_hash, stored.session_token) == (before_hash, before_token)
    assert is_logged_in(other)


def test_password_containing_email_is_refused(client, factory, login_as):
    user = factory.user(email="marguerite@example.org")
    login_as(user)
    bad = "marguerite-loves-the-town"
    response = client.post("/auth/me/password", data={
        "current_password": PASSWORD, "password": bad, "confirm": bad})
    assert response.status_code == 422
    assert b"must not contain your e-mail" in response.data


def test_staff_need_15_characters(client, factory, login_as):
    from tests.conftest import STAFF_PASSWORD

    login_as(factory.user("staff"))
    fourteen = "fourteen chars"
    assert len(fourteen) == 14
    response = client.post("/auth/me/password", data={
        "current_password": STAFF_PASSWORD, "password": fourteen, "confirm": fourteen})
    assert response.status_code == 422
    assert b"at least 15" in response.data


def test_profile_edit(client, factory, login_as, db):
    user = factory.user()
    login_as(user)
    assert client.get("/auth/me/profile").status_code == 200
    response = client.post("/auth/me/profile", data={"display_name": " Léa M. ", "locale": "en",
                                                      "role": "admin"})
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert (stored.display_name, stored.locale, stored.role.value) == ("Léa M.", "en", "citizen")


@pytest.mark.parametrize("data", [
    {},
    {"display_name": "", "locale": "fr"},
    {"display_name": "N" * 1200, "locale": "fr"},
    {"display_name": "Nul\x00", "locale": "fr"},
    {"display_name": "Ok", "locale": "xx"},
])
def test_profile_bad_input(client, factory, login_as, db, data):
    user = factory.user(name="Original")
    login_as(user)
    assert client.post("/auth/me/profile", data=data).status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).display_name == "Original"


@pytest.mark.parametrize("url", ["/auth/me", "/auth/me/profile", "/auth/me/password"])
def test_account_pages_need_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_account_pages_are_not_cached(client, factory, login_as):
    login_as(factory.user())
    assert client.get("/auth/me").headers["Cache-Control"] == "no-store"
