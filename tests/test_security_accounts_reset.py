"""SECURITY.md, Accounts and sessions: "No account enumeration: reset for a known and an unknown
e-mail answer alike", and the password reset itself: a signed link, valid one hour, used once,
that ends every session; the link is never logged outside development, a password never."""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import timedelta

import pytest
import sqlalchemy as sa

import config
from pvplatform.auth import services, views
from pvplatform.auth.models import User
from pvplatform.auth.passwords import verify_password
from pvplatform.core import mail
from pvplatform.db import utcnow
from tests.conftest import PASSWORD, login

NEW = "a fresh sentence about the harbour"
LINK_RE = re.compile(r"https?://[^/\s]+(/auth/reset/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def outbox(app, monkeypatch):
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send_mail", lambda to, subject, body: sent.append(
        (to, subject, body)) or True)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.org")
    return sent


def link_from(outbox) -> str:
    assert outbox, "no mail sent"
    match = LINK_RE.search(outbox[-1][2])
    assert match, outbox[-1][2]
    return match.group(1)


def without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", html)


def is_logged_in(client) -> bool:
    from flask import g

    g.pop("_login_user", None)
    return client.get("/auth/me").status_code == 200


# ---------------------------------------------------------------- no enumeration

def test_no_enumeration_reset_known_and_unknown_email_answer_alike(client, factory, outbox):
    factory.user(email="known@example.org")
    known = client.post("/auth/reset", data={"email": "known@example.org"})
    unknown = client.post("/auth/reset", data={"email": "unknown@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert without_tokens(known.get_data(as_text=True)) == without_tokens(
        unknown.get_data(as_text=True))
    assert "If an account uses this address" in known.get_data(as_text=True)
    assert [m[0] for m in outbox] == ["known@example.org"]


def test_no_enumeration_reset_deleted_account_answers_alike(client, factory, outbox, db):
    user = factory.user(email="gone@example.org")
    user.deleted_at = utcnow()
    db.session.commit()
    response = client.post("/auth/reset", data={"email": "gone@example.org"})
    assert response.status_code == 200
    assert outbox == []


def test_reset_request_page(client):
    page = client.get("/auth/reset")
    assert page.status_code == 200 and b"Forgot your password?" in page.data
    assert client.get("/auth/login").data.count(b'href="/auth/reset"') == 1


@pytest.mark.parametrize("data", [{}, {"email": ""}, {"email": "not an address"},
                                  {"email": "x" * 2540 + "@example.org"},
                                  {"email": "nul\x00@example.org"}])
def test_reset_request_bad_input_is_422(client, outbox, data):
    assert client.post("/auth/reset", data=data).status_code == 422
    assert outbox == []


# ---------------------------------------------------------------- the link

def test_reset_link_sets_password_and_ends_every_session(app, client, factory, db, outbox):
    user = factory.user()
    elsewhere = app.test_client()
    login(elsewhere, user)
    remember = elsewhere.post("/auth/login", data={"email": user.email, "password": PASSWORD,
                                                   "remember": "y"})
    assert remember.status_code == 302
    remember_cookie = elsewhere.get_cookie("remember_token").value

    client.post("/auth/reset", data={"email": user.email})
    link = link_from(outbox)
    page = client.get(link)
    assert page.status_code == 200 and b"Choose a new password" in page.data
    response = client.post(link, data={"password": NEW, "confirm": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"

    db.session.expire_all()
    assert verify_password(db.session.get(User, user.id).password_hash, NEW)
    assert not is_logged_in(elsewhere)
    replay = app.test_client()
    replay.set_cookie("remember_token", remember_cookie)
    assert not is_logged_in(replay)
    fresh = app.test_client()
    assert fresh.post("/auth/login", data={"email": user.email,
                                           "password": PASSWORD}).status_code == 422
    login(fresh, user, NEW)


def test_reset_link_works_once(client, factory, outbox):
    user = factory.user()
    client.post("/auth/reset", data={"email": user.email})
    link = link_from(outbox)
    assert client.post(link, data={"password": NEW, "confirm": NEW}).status_code == 302
    again = client.post(link, data={"password": NEW + "!", "confirm": NEW + "!"})
    assert again.status_code == 400 and b"This link no longer works" in again.data
    assert client.get(link).status_code == 400


def test_reset_link_expires_after_one_hour(client, factory, outbox, monkeypatch):
    user = factory.user()
    client.post("/auth/reset", data={"email": user.email})
    link = link_from(outbox)
    moment = utcnow() + timedelta(minutes=59)
    monkeypatch.setattr(views, "utcnow", lambda: moment)
    assert client.get(link).status_code == 200
    moment = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(views, "utcnow", lambda: moment)
    assert client.get(link).status_code == 400
    response = client.post(link, data={"password": NEW, "confirm": NEW})
    assert response.status_code == 400
    assert verify_password(user.password_hash, PASSWORD)


def test_reset_link_dies_when_the_password_changes(client, factory, outbox, db):
    user = factory.user()
    client.post("/auth/reset", data={"email": user.email})
    link = link_from(outbox)
    login(client, user)
    assert client.post("/auth/me/password", data={
        "current_password": PASSWORD, "password": NEW, "confirm": NEW}).status_code == 302
    assert client.get(link).status_code == 400


def test_reset_link_dies_on_logout(client, factory, outbox):
    user = factory.user()
    client.post("/auth/reset", data={"email": user.email})
    link = link_from(outbox)
    login(client, user)
    client.post("/auth/logout")
    assert client.get(link).status_code == 400


def _swap_at(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


@pytest.mark.parametrize("mangle", [
    # The signature's last base64 character may carry padding bits only, so a change there can
    # decode to the same bytes: alter its first character instead.
    lambda t: _swap_at(t, t.rindex(".") + 1),
    lambda t: _swap_at(t, 0),
    lambda t: t.split(".")[0],
    lambda t: "x" * 600,
])
def test_reset_link_forged_or_tampered_is_refused(client, factory, outbox, mangle):
    user = factory.user()
    client.post("/auth/reset", data={"email": user.email})
    token = link_from(outbox).rsplit("/", 1)[1]
    assert client.get(f"/auth/reset/{mangle(token)}").status_code == 400


def test_reset_token_for_another_secret_is_refused(app, factory, db):
    user = factory.user()
    now = utcnow()
    token = services.make_reset_token(user, secret_key="another-key", now=now)
    assert services.user_for_reset_token(token, secret_key=app.config["SECRET_KEY"],
                                         now=now) is None
    good = services.make_reset_token(user, secret_key=app.config["SECRET_KEY"], now=now)
    assert services.user_for_reset_token(good, secret_key=app.config["SECRET_KEY"],
                                         now=now) == user


@pytest.mark.parametrize(("data", "message"), [
    ({"password": "short", "confirm": "short"}, b"at least 12"),
    ({"password": "Qwerty123456", "confirm": "Qwerty123456"}, b"most common"),
    ({"password": NEW, "confirm": NEW + "?"}, b"do not match"),
    ({"password": "z" * 129, "confirm": "z" * 129}, None),
    ({"password": NEW + "\x00", "confirm": NEW + "\x00"}, None),
    ({}, None),
])
def test_reset_link_new_password_follows_policy(client, factory, outbox, db, data, message):
    user = factory.user()
    client.post("/auth/reset", data={"email": user.email})
    link = link_from(outbox)
    token_before = user.session_token
    response = client.post(link, data=data)
    assert response.status_code == 422
    if message:
        assert message in response.data
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert verify_password(stored.password_hash, PASSWORD)
    assert stored.session_token == token_before
    assert client.get(link).status_code == 200  # the link still works after a refusal


# ---------------------------------------------------------------- mail and logs

def test_reset_link_logged_only_in_development_without_mail_server(app, client, factory,
                                                                   caplog, monkeypatch):
    assert config.DevelopmentConfig.LOG_MAIL_LINKS is True
    assert config.ProductionConfig.LOG_MAIL_LINKS is False
    assert config.TestConfig.LOG_MAIL_LINKS is False
    user = factory.user()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")

    with caplog.at_level(logging.DEBUG):
        client.post("/auth/reset", data={"email": user.email})
    assert "/auth/reset/" not in caplog.text  # production-like: no link in the logs

    monkeypatch.setitem(app.config, "LOG_MAIL_LINKS", True)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        client.post("/auth/reset", data={"email": user.email})
    links = LINK_RE.findall(caplog.text)
    assert len(links) == 1
    assert user.email not in caplog.text

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert client.post(links[0], data={"password": NEW, "confirm": NEW}).status_code == 302
    assert NEW not in caplog.text and PASSWORD not in caplog.text


def test_mail_send_mail_noop_without_server(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")

    def explode(*args, **kwargs):
        raise AssertionError("no SMTP connection without a server")

    monkeypatch.setattr(smtplib, "SMTP", explode)
    assert mail.send_mail("a@example.org", "Subject", "Body") is False


def test_mail_send_mail_uses_smtp_with_short_timeout(app, db, monkeypatch):
    calls = {}

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            calls.update(host=host, port=port, timeout=timeout)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def send_message(self, message):
            calls["to"] = message["To"]
            calls["body"] = message.get_content()

    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.org")
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    assert mail.send_mail("a@example.org", "Subject", "Hello") is True
    assert calls["host"] == "smtp.example.org" and calls["timeout"] <= 10
    assert calls["to"] == "a@example.org" and "Hello" in calls["body"]


def test_mail_failure_never_breaks_the_reset_answer(app, client, factory, monkeypatch):
    class DownSMTP:
        def __init__(self, *args, **kwargs):
            raise OSError("connection refused")

    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.org")
    monkeypatch.setattr(smtplib, "SMTP", DownSMTP)
    user = factory.user()
    assert mail.send_mail(user.email, "s", "b") is False
    known = client.post("/auth/reset", data={"email": user.email})
    unknown = client.post("/auth/reset", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200


def test_reset_mail_is_in_the_account_language(client, factory, outbox, db):
    user = factory.user()
    user.locale = "fr"
    db.session.commit()
    client.post("/auth/reset", data={"email": user.email})
    assert outbox and outbox[0][1] != "Reset your password"  # French subject


def test_reset_request_stores_nothing(client, factory, outbox, db):
    from tests.test_access_policy import _row_counts

    factory.user(email="known@example.org")
    before = _row_counts(db)
    client.post("/auth/reset", data={"email": "known@example.org"})
    assert _row_counts(db) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
