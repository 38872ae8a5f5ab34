"""Issue 9, finding 2: locking people out.

Five wrong passwords from one address blocked the right password from another address for up to
an hour, and a workshop on shared Wi-Fi hit the login limit within a minute. Now only failed
attempts count, per (account, address) and per address, with a growing wait; a correct password
never counts against anyone. The state lives in Flask-Limiter's storage (`limits`), shared by
every worker when it is Redis. The clock of that storage is moved by the tests: no sleeping.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import limits.storage.memory
import pytest
import sqlalchemy as sa
from flask import Flask

from pvplatform.auth import lockout
from pvplatform.auth.models import User
from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from pvplatform.moderation.models import AuditLog
from tests.conftest import PASSWORD, Factory, discard_schema, make_app

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
    limiter.enabled = previous  # the limiter object is shared by every app of the process


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The storage's clock and the lockout's, moved by hand."""
    now = [limits.storage.memory.time.time()]
    fake = types.SimpleNamespace(time=lambda: now[0], sleep=lambda s: None)
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(lockout, "time", fake)
    return now


@pytest.fixture
def lea(limited_app) -> User:
    return Factory().user(email="lea@example.org")


def attempt(client, ip: str, email: str, password: str):
    return client.post("/auth/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def retry_after(response) -> int:
    assert response.status_code == 429, response.status_code
    value = response.headers.get("Retry-After", "")
    assert value.isdigit(), value
    return int(value)


def counts() -> tuple[int, int]:
    return tuple(_db.session.scalar(sa.select(sa.func.count()).select_from(m))
                 for m in (User, AuditLog))


# ---------------------------------------------------------- never the right password elsewhere

def test_right_password_from_another_address_after_failures_elsewhere(limited_app, lea):
    client = limited_app.test_client()
    for n in range(5):
        assert attempt(client, "203.0.113.7", lea.email, WRONG).status_code == 422, n
    for _ in range(5):  # the attacker keeps trying: refused, and that changes nothing
        retry_after(attempt(client, "203.0.113.7", lea.email, WRONG))
    # Five more failures from a second attacking address.
    for n in range(5):
        assert attempt(client, "198.51.100.3", lea.email, WRONG).status_code == 422, n
    # Lea, at home, logs in at once (the e-mail written her way).
    assert attempt(client, "192.0.2.44", "Lea@Example.ORG", PASSWORD).status_code == 302
    # The attacking address is still waiting, even with the right password.
    retry_after(attempt(client, "203.0.113.7", lea.email, PASSWORD))


def test_forty_people_on_one_wifi_log_in_within_a_minute(limited_app, clock):
    f = Factory()
    people = [f.user(email=f"habitant{n}@example.org") for n in range(40)]
    client = limited_app.test_client()
    for n, person in enumerate(people):
        if n % 2:  # half the room mistypes once, some twice
            assert attempt(client, ROOM, person.email, WRONG).status_code == 422
            if n % 3 == 0:
                assert attempt(client, ROOM, person.email, WRONG).status_code == 422
        clock[0] += 1
        response = attempt(client, ROOM, person.email, PASSWORD)
        assert response.status_code == 302, (n, response.status_code)


def test_correct_password_never_counts_and_resets_the_account_address_record(limited_app, lea):
    client = limited_app.test_client()
    for _round in range(3):
        for n in range(4):
            assert attempt(client, ROOM, lea.email, WRONG).status_code == 422, n
        assert attempt(client, ROOM, lea.email, PASSWORD).status_code == 302
    # Counted again from zero after the last success: five failures, then a wait.
    for n in range(5):
        assert attempt(client, ROOM, lea.email, WRONG).status_code == 422, n
    retry_after(attempt(client, ROOM, lea.email, PASSWORD))


# ---------------------------------------------------------------- backoff

def test_failures_back_off_with_429_retry_after_and_a_clear_message(limited_app, lea, clock):
    client = limited_app.test_client()
    before = counts()
    for n in range(5):
        assert attempt(client, ROOM, lea.email, WRONG).status_code == 422, n
    first = attempt(client, ROOM, lea.email, WRONG)
    assert 0 < retry_after(first) <= 60
    body = first.get_data(as_text=True)
    assert "Too many failed attempts" in body and "try again in 1 minute" in body
    assert "<h1>" in body and 'role="alert"' in body
    assert counts() == before

    waits = []
    for _ in range(6):
        wait = retry_after(attempt(client, ROOM, lea.email, WRONG))
        clock[0] += wait  # the wait is over: one more attempt is checked
        assert attempt(client, ROOM, lea.email, WRONG).status_code == 422
        waits.append(retry_after(attempt(client, ROOM, lea.email, WRONG)))
    assert waits == [120, 240, 480, 900, 900, 900]  # doubling, up to 15 minutes
    assert "try again in 15 minutes" in attempt(client, ROOM, lea.email, WRONG).get_data(
        as_text=True)


def test_backoff_lifts_after_the_wait(limited_app, lea, clock):
    client = limited_app.test_client()
    for _ in range(5):
        attempt(client, ROOM, lea.email, WRONG)
    wait = retry_after(attempt(client, ROOM, lea.email, PASSWORD))
    clock[0] += wait - 2
    retry_after(attempt(client, ROOM, lea.email, PASSWORD))  # not yet
    clock[0] += 2
    assert attempt(client, ROOM, lea.email, PASSWORD).status_code == 302


def test_address_budget_suits_a_room_but_stops_a_spray(limited_app, lea, clock):
    client = limited_app.test_client()
    # 100 failures on 100 different accounts from one address: a busy room, all answered.
    for n in range(100):
        response = attempt(client, ROOM, f"guess{n}@example.org", WRONG)
        assert response.status_code == 422, n
    # The 101st attempt from that address waits, even with a right password...
    wait = retry_after(attempt(client, ROOM, lea.email, PASSWORD))
    assert 0 < wait <= 60
    # ...but from another address it goes through.
    assert attempt(client, "198.51.100.9", lea.email, PASSWORD).status_code == 302
    clock[0] += wait
    assert attempt(client, ROOM, "guess-again@example.org", WRONG).status_code == 422
    assert 60 < retry_after(attempt(client, ROOM, lea.email, PASSWORD)) <= 120


def test_the_budget_of_an_address_is_per_hour(limited_app, lea, clock):
    client = limited_app.test_client()
    for n in range(100):
        attempt(client, ROOM, f"guess{n}@example.org", WRONG)
    retry_after(attempt(client, ROOM, lea.email, PASSWORD))
    clock[0] += 3601
    assert attempt(client, ROOM, lea.email, PASSWORD).status_code == 302


def test_refused_and_invalid_attempts_are_not_counted(limited_app, lea):
    client = limited_app.test_client()
    for _ in range(8):
        assert client.get("/auth/login", environ_base={"REMOTE_ADDR": ROOM}).status_code == 200
        # An incomplete form checks no password.
        assert client.post("/auth/login", data={"email": lea.email},
                           environ_base={"REMOTE_ADDR": ROOM}).status_code == 422
    for n in range(4):
        assert attempt(client, ROOM, lea.email, WRONG).status_code == 422, n
    assert attempt(client, ROOM, lea.email, PASSWORD).status_code == 302


def test_parallel_guesses_cannot_slip_past_the_count(limited_app):
    """Attempts are counted when they start: of twenty guesses in flight at once on one
    (account, address), the five free ones and one more are checked, not twenty."""
    storage = limiter.storage
    started = [lockout.begin(storage, "lea@example.org", ROOM) for _ in range(20)]
    admitted = [a for a in started if not a.refused]
    assert len(admitted) == lockout.PAIR.free + 1
    for a in admitted:
        a.failed()
    refused = lockout.begin(storage, "lea@example.org", ROOM)
    assert refused.refused and refused.retry_after > 60  # the sixth failure's wait: 2 minutes
    # The refused ones counted for nobody: another address logs in, and the room's budget
    # holds six failures only.
    assert not lockout.begin(storage, "lea@example.org", "198.51.100.1").refused
    slot = lockout._Slot(lockout.ADDRESS, lockout._digest(ROOM))
    assert lockout._failures(storage, slot) == lockout.PAIR.free + 1


def test_state_lives_in_the_limiter_storage(limited_app, lea):
    """No Python dict of our own: clearing Flask-Limiter's storage (as a Redis flush would)
    forgets every failure, and the storage holds the records."""
    client = limited_app.test_client()
    for _ in range(5):
        attempt(client, ROOM, lea.email, WRONG)
    retry_after(attempt(client, ROOM, lea.email, PASSWORD))
    keys = [k for k in limiter.storage.storage if k.startswith(lockout.PREFIX)]
    assert any("/pair/" in k for k in keys) and any("/address/" in k for k in keys)
    assert not any("lea" in k or ROOM in k for k in keys)  # digests, not e-mails or addresses
    limiter.storage.reset()
    assert attempt(client, ROOM, lea.email, PASSWORD).status_code == 302


def test_throttle_off_when_the_app_says_so(app, client, factory):
    previous = limiter.enabled
    make_app(RATELIMIT_ENABLED=True)  # flips the shared limiter object on
    try:
        user = factory.user()
        for _ in range(8):
            assert client.post("/auth/login", data={"email": user.email,
                                                    "password": WRONG}).status_code == 422
        assert client.post("/auth/login", data={"email": user.email,
                                                "password": PASSWORD}).status_code == 302
    finally:
        limiter.enabled = previous


def test_a_password_reset_lifts_the_wait_of_the_account(limited_app, lea, monkeypatch):
    import re

    from pvplatform.core import mail

    sent = []
    monkeypatch.setattr(mail, "send_mail", lambda *a: sent.append(a) or True)
    limited_app.config["MAIL_SERVER"] = "smtp.example.org"
    client = limited_app.test_client()
    for _ in range(5):
        attempt(client, ROOM, lea.email, WRONG)
    retry_after(attempt(client, ROOM, lea.email, PASSWORD))
    client.post("/auth/reset", data={"email": lea.email}, environ_base={"REMOTE_ADDR": ROOM})
    link = re.search(r"/auth/reset/[A-Za-z0-9_.\-]+", sent[0][2]).group(0)
    new = "a brand new sentence about the river"
    assert client.post(link, data={"password": new, "confirm": new},
                       environ_base={"REMOTE_ADDR": ROOM}).status_code == 302
    assert attempt(client, ROOM, lea.email, new).status_code == 302


# ---------------------------------------------------------------- password reset requests

def test_reset_requests_throttled_alike_for_known_and_unknown_accounts(limited_app, lea,
                                                                        monkeypatch):
    from pvplatform.core import mail

    sent = []
    monkeypatch.setattr(mail, "send_mail", lambda *a: sent.append(a) or True)
    limited_app.config["MAIL_SERVER"] = "smtp.example.org"
    client = limited_app.test_client()
    answers = {}
    for email in (lea.email, "nobody@example.org"):
        statuses = [client.post("/auth/reset", data={"email": email},
                                environ_base={"REMOTE_ADDR": f"192.0.2.{n + 20}"}).status_code
                    for n in range(6)]
        answers[email] = statuses
    assert answers[lea.email] == answers["nobody@example.org"] == [200] * 5 + [429]
    assert len(sent) == 5  # no sixth mail to Lea's mailbox


def test_reset_requests_from_a_room_are_not_stopped_at_five(limited_app, lea):
    client = limited_app.test_client()
    for n in range(20):
        response = client.post("/auth/reset", data={"email": f"someone{n}@example.org"},
                               environ_base={"REMOTE_ADDR": ROOM})
        assert response.status_code == 200, n
    refused = client.post("/auth/reset", data={"email": lea.email},
                          environ_base={"REMOTE_ADDR": ROOM})
    assert refused.status_code == 429 and refused.headers.get("Retry-After")
