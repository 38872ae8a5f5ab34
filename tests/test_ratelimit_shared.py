"""Rate-limit counters shared by every worker and instance (RATELIMIT_STORAGE_URI=database://,
the default): two app instances on one database, a SQLite file or PostgreSQL when the suite runs
there, add up each other's failed logins and API calls; counters expire; a count survives the
rollback of its request; concurrent increments, from threads and from processes, lose nothing;
counters out of reach answer 503, never 500.

In one test process the two apps share Flask-Limiter's object, hence its storage: `worker_of`
sets it up again from the instance's settings before each request, as a worker process of its
own would have done. With memory counters that forgets every count, as a separate worker does
(the control test shows the lockout then never comes); counters in the database stay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import MemoryStorage

from pvplatform.auth import lockout
from pvplatform.auth.models import Role, User
from pvplatform.core import ratelimit_storage
from pvplatform.core.ratelimit_model import RateLimitCounter
from pvplatform.core.ratelimit_storage import (
    SWEEP_EVERY,
    DatabaseStorage,
    SqlCounters,
    app_counters,
    close_counters,
    companion_path,
)
from pvplatform.db import utcnow
from pvplatform.evaluation.tokens import create_token
from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from tests.conftest import ON_POSTGRES, PASSWORD, Factory, discard_schema, make_app

ROOT = Path(__file__).resolve().parent.parent
WRONG = "not the right password at all"
ROOM = "192.0.2.10"
LEA = "lea@example.org"


@pytest.fixture
def town_url(tmp_path) -> str:
    if ON_POSTGRES:
        return os.environ["PV_TEST_DATABASE_URL"]
    return f"sqlite:///{tmp_path / 'town.sqlite'}"


@contextmanager
def two_instances(url: str, storage_uri: str) -> Iterator[tuple[Flask, Flask]]:
    previous = limiter.enabled
    first, second = (make_app(SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=True,
                              RATELIMIT_STORAGE_URI=storage_uri, PV_API_RATE_LIMIT="3/minute")
                     for _ in range(2))
    with first.app_context():
        _db.create_all()
    try:
        yield first, second
    finally:
        for app in (first, second):
            close_counters(app)
        with first.app_context():
            _db.session.remove()
            discard_schema()
        for app in (first, second):
            with app.app_context():
                _db.engine.dispose()
        limiter.enabled = previous  # the limiter object is shared by every app of the process


@pytest.fixture
def instances(town_url) -> Iterator[tuple[Flask, Flask]]:
    with two_instances(town_url, "database://") as pair:
        yield pair


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The counters' clock and the lockout's, moved by hand."""
    now = [time.time()]
    fake = types.SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr(ratelimit_storage, "time", fake)
    monkeypatch.setattr(lockout, "time", fake)
    return now


def worker_of(app: Flask) -> FlaskClient:
    """A client of a worker of this instance, whose limiter was set up from the instance's
    settings (see the module's docstring)."""
    limiter.init_app(app)
    return app.test_client()


def attempt(app: Flask, password: str, email: str = LEA):
    # Requests run without an outer app context: each ends its session, as in production.
    return worker_of(app).post("/auth/login", data={"email": email, "password": password},
                               environ_base={"REMOTE_ADDR": ROOM})


def retry_after(response) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def stored_rows(app: Flask) -> dict[str, int]:
    counters = app_counters()
    assert isinstance(counters, SqlCounters)
    with counters.engine.connect() as conn:
        table = RateLimitCounter.__table__
        return {key: count for key, count in conn.execute(sa.select(table.c.key, table.c.count))}


# ---------------------------------------------------------------- two instances, one count

def test_failed_logins_through_two_instances_add_up_to_the_lockout(instances):
    first, second = instances
    with first.app_context():
        Factory().user(email=LEA)
    for n in range(lockout.PAIR.free):
        assert attempt((first, second)[n % 2], WRONG).status_code == 422, n
    # The sixth attempt waits, on either instance, even with the right password.
    assert 0 < retry_after(attempt(first, PASSWORD)) <= 60
    assert 0 < retry_after(attempt(second, PASSWORD)) <= 60


def test_with_memory_counters_each_worker_counts_alone(town_url):
    """The control: the same attempts, memory counters, and the lockout never comes."""
    with two_instances(town_url, "memory://") as (first, second):
        with first.app_context():
            Factory().user(email=LEA)
        for n in range(lockout.PAIR.free):
            assert attempt((first, second)[n % 2], WRONG).status_code == 422, n
        assert attempt(first, PASSWORD).status_code == 302


def test_a_login_wait_runs_out_on_every_instance(instances, clock):
    first, second = instances
    with first.app_context():
        Factory().user(email=LEA)
    for n in range(lockout.PAIR.free):
        assert attempt((first, second)[n % 2], WRONG).status_code == 422, n
    wait = retry_after(attempt(second, PASSWORD))
    clock[0] += 30
    assert retry_after(attempt(first, PASSWORD)) == pytest.approx(wait - 30, abs=1)
    clock[0] += wait
    assert attempt(first, PASSWORD).status_code == 302


def test_the_api_limit_of_a_token_is_shared(instances):
    first, second = instances
    with first.app_context():
        staff = Factory().user(Role.STAFF)
        _row, raw = create_token(staff, "tests", expires_at=None, now=utcnow())
        _db.session.commit()
        _db.session.remove()
    headers = {"Authorization": f"Bearer {raw}"}
    statuses = [worker_of(app).get("/api/v1/processes", headers=headers).status_code
                for app in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]  # PV_API_RATE_LIMIT = 3/minute


# ---------------------------------------------------------------- the counters themselves

def test_counters_expire_start_again_and_are_swept(instances, clock):
    first, _ = instances
    storage = DatabaseStorage()
    with first.app_context():
        assert storage.incr("window", 60) == 1  # the first write sweeps, then once a minute
        assert storage.incr("window", 60, amount=2) == 3
        assert storage.get("window") == 3
        assert storage.get_expiry("window") == pytest.approx(clock[0] + 60, abs=0.01)
        storage.incr("short", 5)
        clock[0] += 30
        assert storage.get("short") == 0  # ended: it reads as absent...
        assert storage.get_expiry("short") == pytest.approx(clock[0], abs=0.01)
        assert storage.incr("window", 60) == 4  # (a running window keeps its end)
        assert storage.get_expiry("window") == pytest.approx(clock[0] + 30, abs=0.01)
        assert set(stored_rows(first)) == {"window", "short"}  # ...until the next sweep
        clock[0] += SWEEP_EVERY - 29  # past the window, a sweep interval after the first
        assert storage.get("window") == 0
        assert storage.incr("window", 60) == 1  # a new window, and the sweep
        assert stored_rows(first) == {"window": 1}
        assert storage.get_expiry("window") == pytest.approx(clock[0] + 60, abs=0.01)
        storage.clear("window")
        assert storage.get("window") == 0 and stored_rows(first) == {}
        assert storage.check()


def test_long_keys_are_stored_as_a_prefix_and_a_digest(instances):
    """Flask-Limiter's keys carry what was typed (an e-mail of up to 254 characters)."""
    first, _ = instances
    storage = DatabaseStorage()
    long_key, other = "LIMITER/account:" + "a" * 300, "LIMITER/account:" + "a" * 299 + "b"
    with first.app_context():
        assert [storage.incr(long_key, 60) for _ in range(2)] == [1, 2]
        assert storage.get(long_key) == 2 and storage.get(other) == 0
        assert {len(key) for key in stored_rows(first)} == {255}


def test_a_count_is_kept_when_its_request_rolls_back(instances):
    """Written beside the request's transaction: on SQLite that transaction holds the
    database's write lock from its first statement, and the count neither waits for it nor goes
    with its rollback."""
    first, _ = instances
    storage = DatabaseStorage()
    with first.test_request_context("/auth/login", method="POST"):
        _db.session.add(User(email="rolled@example.org", password_hash="x", display_name="R"))
        _db.session.flush()
        started = time.monotonic()
        assert storage.incr("failed-login", 60) == 1
        assert time.monotonic() - started < 5  # far below the 15 s busy timeout
        _db.session.rollback()
        assert storage.get("failed-login") == 1
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        _db.session.remove()


def test_a_failed_login_stays_counted_when_its_request_fails(instances, monkeypatch):
    first, second = instances
    with first.app_context():
        Factory().user(email=LEA)
    counted = lockout.Attempt.failed

    def fail_after_counting(self: lockout.Attempt) -> None:
        counted(self)
        raise RuntimeError("the request breaks after the failure was counted")

    monkeypatch.setattr(lockout.Attempt, "failed", fail_after_counting)
    assert attempt(first, WRONG).status_code == 500  # rolled back by the error handler
    monkeypatch.undo()
    for n in range(lockout.PAIR.free - 1):
        assert attempt((second, first)[n % 2], WRONG).status_code == 422, n
    retry_after(attempt(second, PASSWORD))


def test_concurrent_increments_from_threads_lose_no_count(instances):
    first, second = instances
    storage = DatabaseStorage()
    per_thread = 25

    def hammer(n: int) -> list[int]:
        with (first, second)[n % 2].app_context():
            return [storage.incr("burst", 600) for _ in range(per_thread)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        seen = [value for values in pool.map(hammer, range(6)) for value in values]
    # Every increment saw its own value: none was lost, none counted twice.
    assert sorted(seen) == list(range(1, 6 * per_thread + 1))
    with first.app_context():
        assert storage.get("burst") == 6 * per_thread


_CHILD = """
import json, sys, time
from pathlib import Path
from pvplatform.core.ratelimit_storage import open_counters
url, go, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
counters = open_counters(url)
counters.get("burst")  # connected before the start
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
print(json.dumps([counters.incr("burst", 600) for _ in range(n)]), flush=True)
"""


def test_concurrent_increments_from_processes_lose_no_count(instances, town_url, tmp_path):
    first, _ = instances
    go, per_process, processes = tmp_path / "go", 40, 3
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, town_url, str(go),
                                  str(per_process)], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
                for _ in range(processes)]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr
        go.touch()
        seen: list[int] = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            seen += json.loads(out)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert sorted(seen) == list(range(1, processes * per_process + 1))
    with first.app_context():
        assert DatabaseStorage().get("burst") == processes * per_process


# ---------------------------------------------------------------- where the counters live

def test_default_storage_is_the_database_and_memory_is_still_honoured(instances, tmp_path):
    first, _ = instances
    worker_of(first)
    assert isinstance(limiter.storage, DatabaseStorage)
    with first.app_context():
        counters = app_counters()
        assert isinstance(counters, SqlCounters)
        if not ON_POSTGRES:
            # Beside the application's file, not in it (see ratelimit_storage).
            database = first.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
            assert counters.engine.url.database == str(companion_path(database))
    memory = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    assert isinstance(limiter.storage, MemoryStorage)
    in_memory_db = make_app(SQLALCHEMY_DATABASE_URI="sqlite://", RATELIMIT_ENABLED=True)
    with in_memory_db.app_context():
        assert isinstance(app_counters(), MemoryStorage)  # one process: nothing to share
    for app in (memory, in_memory_db):
        with app.app_context():
            _db.engine.dispose()


def test_a_database_uri_with_an_address_is_refused():
    from limits.errors import ConfigurationError

    previous = limiter.enabled
    try:
        with pytest.raises(ConfigurationError):
            make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="database://elsewhere/db")
    finally:
        limiter.enabled = previous


# ---------------------------------------------------------------- counters out of reach

def test_counters_out_of_reach_answer_503_not_500(instances, monkeypatch, tmp_path):
    first, _ = instances
    with first.app_context():
        staff = Factory().user(Role.STAFF)
        _row, raw = create_token(staff, "tests", expires_at=None, now=utcnow())
        _db.session.commit()
        _db.session.remove()
    unreachable = SqlCounters(sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such.sqlite'}"))
    monkeypatch.setattr(ratelimit_storage, "app_counters", lambda: unreachable)

    login = attempt(first, WRONG)  # the lockout, in the view
    assert login.status_code == 503 and login.headers["Retry-After"].isdigit()
    assert "busy" in login.get_data(as_text=True)
    reset = worker_of(first).post("/auth/reset", data={"email": LEA},
                                  environ_base={"REMOTE_ADDR": ROOM})  # Flask-Limiter
    assert reset.status_code == 503
    api = worker_of(first).get("/api/v1/processes", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 503
    assert api.get_json()["error"]["code"] == "unavailable"
    unreachable.close()
