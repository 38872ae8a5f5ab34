"""SECURITY.md, Accounts and sessions: "Session: idle 30 minutes / absolute 12 hours; remember-me
cookie off or ≤ 12 h, Secure, HttpOnly, SameSite=Lax. Logout and password change end every
session of the user (a per-user session token checked by the user loader): a replayed old cookie
is not logged in."""

from __future__ import annotations

import types
from datetime import timedelta
from email.utils import parsedate_to_datetime

import itsdangerous.timed
import pytest
from flask import g

import config
from pvplatform.auth.models import User
from pvplatform.auth.services import SESSION_ABSOLUTE_LIFETIME
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.conftest import PASSWORD, Factory, discard_schema, login, make_app

NEW = "a brand new sentence for the lock"


def is_logged_in(client) -> bool:
    g.pop("_login_user", None)
    response = client.get("/auth/me")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def remember_login(client, user: User) -> str:
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD,
                                                "remember": "y"})
    assert response.status_code == 302
    return client.get_cookie("remember_token").value


def client_with_only(app, name: str, value: str):
    other = app.test_client()
    other.set_cookie(name, value)
    return other


def set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


# ---------------------------------------------------------------- configuration

def test_session_config_idle_30_minutes_refreshed_each_request(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)
    assert app.config["SESSION_REFRESH_EACH_REQUEST"] is True
    assert timedelta(hours=12) == SESSION_ABSOLUTE_LIFETIME


def test_session_config_cookies_httponly_samesite_lax_secure_in_production(app):
    for cls in (config.Config, config.ProductionConfig):
        assert cls.SESSION_COOKIE_HTTPONLY and cls.REMEMBER_COOKIE_HTTPONLY
        assert cls.SESSION_COOKIE_SAMESITE == cls.REMEMBER_COOKIE_SAMESITE == "Lax"
        assert timedelta(hours=12) >= cls.REMEMBER_COOKIE_DURATION
    assert config.ProductionConfig.SESSION_COOKIE_SECURE is True
    assert config.ProductionConfig.REMEMBER_COOKIE_SECURE is True


def test_session_cookie_attributes_on_login(client, factory):
    user = factory.user()
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD,
                                                "remember": "y"})
    cookies = set_cookies(response)
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name], cookies[name]
    expires = parsedate_to_datetime(cookies["remember_token"].split("Expires=")[1].split(";")[0])
    assert expires - utcnow() <= timedelta(hours=12, minutes=1)
    session_expires = parsedate_to_datetime(cookies["session"].split("Expires=")[1].split(";")[0])
    assert session_expires - utcnow() <= timedelta(minutes=31)


def test_session_cookies_secure_with_production_settings():
    overrides = {key: getattr(config.ProductionConfig, key)
                 for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE")}
    app = make_app(**overrides)
    with app.app_context():
        _db.create_all()
        try:
            user = Factory().user()
            client = app.test_client()
            response = client.post("https://localhost/auth/login", data={
                "email": user.email, "password": PASSWORD, "remember": "y"})
            assert response.status_code == 302
            cookies = set_cookies(response)
            assert "Secure" in cookies["session"] and "Secure" in cookies["remember_token"]
        finally:
            _db.session.remove()
            discard_schema()


def test_session_remember_me_is_optional(client, factory):
    user = factory.user()
    login(client, user)
    assert client.get_cookie("remember_token") is None


# ---------------------------------------------------------------- idle and absolute limits

@pytest.fixture
def shift_clock(monkeypatch):
    """Moves the clock that signs and checks session cookies."""
    import time

    offset = [0.0]
    monkeypatch.setattr(itsdangerous.timed, "time",
                        types.SimpleNamespace(time=lambda: time.time() + offset[0]))

    def shift(minutes: float) -> None:
        offset[0] = minutes * 60

    return shift


def test_session_idle_30_minutes_logs_out(client, factory, shift_clock):
    login(client, factory.user())
    shift_clock(29)
    assert is_logged_in(client)  # and the cookie is signed again now
    shift_clock(29 + 29)
    assert is_logged_in(client)  # activity keeps the session alive
    shift_clock(29 + 29 + 31)
    assert not is_logged_in(client)


def test_session_absolute_12_hours_logs_out_even_when_active(client, factory):
    user = factory.user()
    login(client, user)
    eleven_hours_ago = int((utcnow() - timedelta(hours=11)).timestamp())
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{user.session_token}:{eleven_hours_ago}"
    assert is_logged_in(client)
    # Re-signed just now (so not idle), but the login itself is older than 12 hours.
    twelve_hours_ago = int((utcnow() - timedelta(hours=12, minutes=1)).timestamp())
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{user.session_token}:{twelve_hours_ago}"
    assert not is_logged_in(client)


def test_session_identifier_without_login_time_is_refused(client, factory):
    user = factory.user()
    login(client, user)
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()  # the old `id:token` format
    assert not is_logged_in(client)


def test_session_remember_me_expires_after_12_hours(app, client, factory):
    from flask_login.utils import encode_cookie

    user = factory.user()
    fresh_cookie = encode_cookie(
        f"{user.id}:{user.session_token}:{int((utcnow() - timedelta(hours=11)).timestamp())}")
    assert is_logged_in(client_with_only(app, "remember_token", fresh_cookie))
    old_cookie = encode_cookie(
        f"{user.id}:{user.session_token}:"
        f"{int((utcnow() - timedelta(hours=12, minutes=1)).timestamp())}")
    assert not is_logged_in(client_with_only(app, "remember_token", old_cookie))


def test_session_forged_remember_cookie_is_refused(app, factory):
    user = factory.user()
    stamp = int(utcnow().timestamp())
    forged = f"{user.id}:{user.session_token}:{stamp}|{'0' * 128}"
    assert not is_logged_in(client_with_only(app, "remember_token", forged))


# ---------------------------------------------------------------- logout and password change

def test_session_logout_ends_replayed_session_and_remember_cookies(app, client, factory):
    user = factory.user()
    remember = remember_login(client, user)
    session_cookie = client.get_cookie("session").value
    assert is_logged_in(client_with_only(app, "remember_token", remember))
    assert is_logged_in(client_with_only(app, "session", session_cookie))

    assert client.post("/auth/logout").status_code == 302
    assert not is_logged_in(client)
    assert not is_logged_in(client_with_only(app, "remember_token", remember))
    assert not is_logged_in(client_with_only(app, "session", session_cookie))


def test_session_password_change_ends_other_sessions_and_remember_cookies(app, client, factory,
                                                                          db):
    user = factory.user()
    laptop = app.test_client()
    remember = remember_login(laptop, user)
    restored = client_with_only(app, "remember_token", remember)
    assert is_logged_in(restored)

    login(client, user)
    response = client.post("/auth/me/password", data={
        "current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert response.status_code == 302
    assert is_logged_in(client)
    assert not is_logged_in(laptop)
    assert not is_logged_in(restored)
    assert not is_logged_in(client_with_only(app, "remember_token", remember))


def test_session_login_starts_a_new_session(client, factory):
    """Nothing planted in the session before login survives it (session fixation)."""
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    login(client, factory.user())
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_session_restored_from_remember_me_is_not_fresh(app, client, factory):
    user = factory.user()
    remember = remember_login(client, user)
    restored = client_with_only(app, "remember_token", remember)
    assert is_logged_in(restored)
    response = restored.get("/me/data")
    assert response.status_code == 302
    assert "/auth/reauth" in response.headers["Location"]
