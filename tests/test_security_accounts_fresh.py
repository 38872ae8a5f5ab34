"""SECURITY.md, Accounts and sessions: "Sensitive actions (change e-mail or password, delete
account, download my data, exports) need a fresh login." And the e-mail change itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth import session_policy
from pvplatform.auth.models import User
from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from tests.conftest import PASSWORD, login

SENSITIVE = ["/auth/me/password", "/auth/me/email", "/me/data", "/me/delete"]


@pytest.fixture
def later(monkeypatch):
    """Moves the clock that decides freshness."""

    def move(minutes: float) -> None:
        moment = utcnow() + timedelta(minutes=minutes)
        monkeypatch.setattr(session_policy, "utcnow", lambda: moment)

    return move


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


@pytest.mark.parametrize("url", SENSITIVE)
def test_fresh_login_sensitive_pages_open_right_after_login(client, factory, url):
    login(client, factory.user())
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", SENSITIVE)
def test_fresh_login_required_after_10_minutes(client, factory, later, url):
    login(client, factory.user())
    later(11)
    for method in ("GET", "POST"):
        response = client.open(url, method=method, data={})
        assert response.status_code == 302, method
        assert response.headers["Location"].startswith("/auth/reauth?next=")
        assert url in response.headers["Location"]


@pytest.mark.parametrize("url", SENSITIVE)
def test_fresh_login_anonymous_goes_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_fresh_login_reauth_with_password_goes_back(client, factory, later):
    login(client, factory.user())
    later(30)
    assert client.get("/me/data").status_code == 302
    page = client.get("/auth/reauth?next=/me/data")
    assert page.status_code == 200 and b"Confirm your password" in page.data
    wrong = client.post("/auth/reauth", data={"password": PASSWORD + "?", "next": "/me/data"})
    assert wrong.status_code == 422 and b"password is incorrect" in wrong.data
    assert client.get("/me/data").status_code == 302
    right = client.post("/auth/reauth", data={"password": PASSWORD, "next": "/me/data"})
    assert right.status_code == 302 and right.headers["Location"] == "/me/data"
    assert client.get("/me/data").status_code == 200
    later(30 + 11)
    assert client.get("/me/data").status_code == 302  # fresh for 10 minutes only


@pytest.mark.parametrize("data", [
    {},
    {"password": ""},
    {"password": "p" * 129},
    {"password": "nul\x00byte password"},
    {"password": PASSWORD, "next": "n" * 600},
])
def test_fresh_login_reauth_bad_input_is_422(client, factory, later, data):
    login(client, factory.user())
    later(30)
    assert client.post("/auth/reauth", data=data).status_code == 422
    assert client.get("/me/data").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_fresh_login_reauth_never_redirects_off_site(client, factory, target):
    login(client, factory.user())
    response = client.post("/auth/reauth", data={"password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/me"


def test_fresh_login_reauth_needs_login(client):
    response = client.get("/auth/reauth")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


# ---------------------------------------------------------------- e-mail change

@pytest.fixture
def outbox(app, monkeypatch):
    from pvplatform.core import mail

    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send_mail", lambda to, subject, body: sent.append(
        (to, subject, body)) or True)
    return sent


def test_email_change_with_password(app, client, factory, db, outbox):
    user = factory.user(email="old.address@example.org")
    login(client, user)
    response = client.post("/auth/me/email", data={"email": " New.Address@Example.org ",
                                                   "password": PASSWORD})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "new.address@example.org"
    assert "account.email_change" in audit_actions(db)
    # The old address is told, in case someone else did it.
    assert [m[0] for m in outbox] == ["old.address@example.org"]
    assert "new.address@example.org" in outbox[0][2]
    fresh = app.test_client()
    assert fresh.post("/auth/login", data={"email": "old.address@example.org",
                                           "password": PASSWORD}).status_code == 422
    login(fresh, db.session.get(User, user.id))


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "new.address@example.org", "password": "wrong password here"},
     b"password is incorrect"),
    ({"email": "taken@example.org", "password": PASSWORD}, b"already exists"),
    ({"email": "old.address@example.org", "password": PASSWORD}, b"already your e-mail"),
    ({"email": "", "password": PASSWORD}, None),
    ({"email": "not-an-address", "password": PASSWORD}, None),
    ({"email": "x" * 2540 + "@example.org", "password": PASSWORD}, None),
    ({"email": "nul\x00@example.org", "password": PASSWORD}, None),
    ({"email": "new.address@example.org", "password": ""}, None),
    ({"email": "new.address@example.org", "password": "p" * 1290}, None),
    ({"email": "new.address@example.org"}, None),
    ({}, None),
])
def test_email_change_bad_input_is_422_and_changes_nothing(client, factory, db, outbox, data,
                                                          message):
    factory.user(email="taken@example.org")
    user = factory.user(email="old.address@example.org")
    login(client, user)
    before = audit_actions(db)
    response = client.post("/auth/me/email", data=data)
    assert response.status_code == 422
    if message:
        assert message in response.data
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "old.address@example.org"
    assert audit_actions(db) == before
    assert outbox == []


def test_email_change_page_is_not_cached(client, factory):
    login(client, factory.user())
    assert client.get("/auth/me/email").headers["Cache-Control"] == "no-store"
