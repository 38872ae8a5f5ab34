"""SECURITY.md, Accounts and sessions: brute force on login and password reset → 429
(Flask-Limiter's storage: the application's database by default, shared by every worker and
instance).

Login counts failed attempts per (account, address) and per address, with a growing wait (issue
9: wrong passwords from one address must not lock the owner out from another, nor a room on
one Wi-Fi; tests/test_security_issue9_lockout_*.py). Reset requests: per address and per
account; a password typed again: `5/minute;50/hour`.

The default test app has rate limiting off; these tests build their own app with it on.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import limits.storage.memory
import pytest
import sqlalchemy as sa
from flask import Flask

import config
from pvplatform.auth import lockout
from pvplatform.auth.models import User
from pvplatform.auth.throttle import (
    CREDENTIAL_LIMITS,
    RESET_LIMITS_PER_ACCOUNT,
    RESET_LIMITS_PER_ADDRESS,
)
from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from pvplatform.moderation.models import AuditLog
from tests.conftest import PASSWORD, Factory, discard_schema, make_app

WRONG = "not the right password at all"


@pytest.fixture
def limited_app() -> Iterator[Flask]:
    previous = limiter.enabled
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        discard_schema()
    # The limiter object is shared by every app of the process: leave it as it was.
    limiter.enabled = previous


@pytest.fixture
def people(limited_app) -> dict[str, User]:
    f = Factory()
    return {"lea": f.user(email="lea@example.org"), "max": f.user(email="max@example.org")}


def post_from(client, url: str, ip: str, data: dict):
    return client.post(url, data=data, environ_base={"REMOTE_ADDR": ip})


def counts() -> tuple[int, int]:
    return tuple(_db.session.scalar(sa.select(sa.func.count()).select_from(m))
                 for m in (User, AuditLog))


def assert_too_many(response) -> None:
    assert response.status_code == 429
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and 0 < int(retry_after) <= 3600
    body = response.get_data(as_text=True)
    assert "Too many" in body and "<h1>" in body  # a readable page


def test_brute_force_limits_and_their_storage_in_memory(limited_app):
    from limits.storage import MemoryStorage

    assert CREDENTIAL_LIMITS == "5/minute;50/hour"
    assert (RESET_LIMITS_PER_ACCOUNT, RESET_LIMITS_PER_ADDRESS) == ("5/minute;20/hour",
                                                                    "20/minute;100/hour")
    assert (lockout.PAIR.free, lockout.PAIR.first_wait, lockout.PAIR.max_wait) == (5, 60, 900)
    assert (lockout.ADDRESS.free, lockout.ADDRESS.memory) == (100, 3600)
    assert isinstance(limiter.storage, MemoryStorage)


def test_brute_force_storage_follows_ratelimit_storage_uri(monkeypatch):
    import importlib

    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://cache.internal:6379/3")
    try:
        reloaded = importlib.reload(config)
        assert reloaded.Config.RATELIMIT_STORAGE_URI == "redis://cache.internal:6379/3"
        monkeypatch.delenv("RATELIMIT_STORAGE_URI")
        assert importlib.reload(config).Config.RATELIMIT_STORAGE_URI == "database://"
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_brute_force_login_per_account_and_address_429(limited_app, people):
    client = limited_app.test_client()
    before = counts()
    # Five guesses on one account from one address...
    for _ in range(5):
        response = post_from(client, "/auth/login", "203.0.113.7",
                             {"email": "lea@example.org", "password": WRONG})
        assert response.status_code == 422
    # ...and the sixth waits, even with the right password (the e-mail written differently).
    assert_too_many(post_from(client, "/auth/login", "203.0.113.7",
                              {"email": "LEA@Example.ORG", "password": PASSWORD}))
    assert counts() == before
    # Another account from the same address is not affected, nor the account elsewhere.
    assert post_from(client, "/auth/login", "203.0.113.7",
                     {"email": "max@example.org", "password": PASSWORD}).status_code == 302
    assert post_from(client, "/auth/login", "203.0.113.8",
                     {"email": "lea@example.org", "password": PASSWORD}).status_code == 302


def test_brute_force_login_spread_over_addresses_never_locks_the_owner_out(limited_app, people):
    client = limited_app.test_client()
    # Guesses on one account, each from another address, are each counted there...
    for n in range(20):
        response = post_from(client, "/auth/login", f"198.51.100.{n + 1}",
                             {"email": "lea@example.org", "password": WRONG})
        assert response.status_code == 422
    # ...and the owner logs in from her own address.
    assert post_from(client, "/auth/login", "198.51.100.99",
                     {"email": "lea@example.org", "password": PASSWORD}).status_code == 302


def test_brute_force_login_page_itself_not_limited(limited_app, people):
    client = limited_app.test_client()
    for _ in range(8):
        assert client.get("/auth/login", environ_base={"REMOTE_ADDR": "192.0.2.1"}
                          ).status_code == 200


def test_brute_force_login_one_account_from_one_address_a_dozen_per_hour(limited_app, people,
                                                                          monkeypatch):
    """An attacker retrying as soon as allowed gets 5 guesses, then one after 1, 2, 4, 8 and
    15 minutes...: about a dozen an hour (the former limit allowed 50)."""
    clock = [limits.storage.memory.time.time()]
    fake = types.SimpleNamespace(time=lambda: clock[0], sleep=lambda s: None)
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(lockout, "time", fake)
    client = limited_app.test_client()
    start, checked = clock[0], 0
    while clock[0] - start < 3600:
        response = post_from(client, "/auth/login", "203.0.113.50",
                             {"email": "lea@example.org", "password": WRONG})
        if response.status_code == 422:
            checked += 1
        else:
            assert_too_many(response)
            clock[0] += int(response.headers["Retry-After"])
    assert 10 <= checked <= 12


def test_brute_force_reset_per_ip_429(limited_app, people, monkeypatch):
    from pvplatform.core import mail

    sent = []
    monkeypatch.setattr(mail, "send_mail", lambda *a: sent.append(a) or True)
    client = limited_app.test_client()
    for n in range(20):  # a room on one Wi-Fi may ask for several links
        response = post_from(client, "/auth/reset", "203.0.113.9",
                             {"email": f"who{n}@example.org"})
        assert response.status_code == 200
    assert_too_many(post_from(client, "/auth/reset", "203.0.113.9",
                              {"email": "lea@example.org"}))
    assert sent == []  # the refused request sent nothing


def test_brute_force_reset_per_account_429(limited_app, people, monkeypatch):
    from pvplatform.core import mail

    sent = []
    monkeypatch.setattr(mail, "send_mail", lambda *a: sent.append(a) or True)
    limited_app.config["MAIL_SERVER"] = "smtp.example.org"
    client = limited_app.test_client()
    for n in range(5):
        response = post_from(client, "/auth/reset", f"192.0.2.{n + 10}",
                             {"email": "lea@example.org"})
        assert response.status_code == 200
    assert len(sent) == 5
    assert_too_many(post_from(client, "/auth/reset", "192.0.2.200",
                              {"email": "Lea@example.org"}))
    assert len(sent) == 5  # no sixth mail: nobody can flood a mailbox through the form


def test_brute_force_reauth_limited_per_account(limited_app, people):
    client = limited_app.test_client()
    assert post_from(client, "/auth/login", "192.0.2.77",
                     {"email": "lea@example.org", "password": PASSWORD}).status_code == 302
    for n in range(5):
        response = post_from(client, "/auth/reauth", f"192.0.2.{n + 100}",
                             {"password": WRONG})
        assert response.status_code == 422
    assert_too_many(post_from(client, "/auth/reauth", "192.0.2.250", {"password": PASSWORD}))


def test_brute_force_limits_off_when_the_app_says_so(app, client, factory):
    """The shared limiter follows each app's RATELIMIT_ENABLED, whatever app was built last."""
    previous = limiter.enabled
    make_app(RATELIMIT_ENABLED=True)  # flips the shared limiter object on
    try:
        assert limiter.enabled
        user = factory.user()
        for _ in range(8):
            assert client.post("/auth/login", data={"email": user.email,
                                                    "password": WRONG}).status_code == 422
    finally:
        limiter.enabled = previous
