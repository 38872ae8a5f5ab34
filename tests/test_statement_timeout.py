"""A statement sent for a web request is cancelled on PostgreSQL after PV_STATEMENT_TIMEOUT
seconds: the request answers 503 "busy" instead of waiting for gunicorn to kill its worker, and
the server no longer runs it. Command-line work (the worker, imports, migrations) is not limited
by it; the worker's reading of a process has its own, longer limit (PV_WORKER_STATEMENT_TIMEOUT),
after which the process's tables are sampled again and the refresh waits for the next attempt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.jobs import refresh
from pvplatform.jobs.refresh import is_stale, run_pending
from tests.conftest import make_app

pytestmark = pytest.mark.postgres_only

LIMIT_SECONDS = 0.3
SLEEP = "SELECT pg_sleep(4) /* pv-statement-timeout-test */"


@contextmanager
def app_with_limit(app, seconds: float) -> Iterator:
    """An application on the tests' PostgreSQL with this limit, and two routes of its own."""
    limited = make_app(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       PV_STATEMENT_TIMEOUT=seconds)
    limited.add_url_rule("/test-slow", view_func=slow)
    limited.add_url_rule("/test-setting", view_func=setting)
    try:
        yield limited
    finally:
        with limited.app_context():
            _db.session.remove()
            _db.engine.dispose()  # no connection left to the tests' database


@pytest.fixture
def limited(app) -> Iterator:
    with app_with_limit(app, LIMIT_SECONDS) as limited:
        yield limited


def slow() -> str:
    _db.session.execute(sa.text(SLEEP))
    return "finished"


def setting() -> str:
    return str(_db.session.scalar(sa.text("SHOW statement_timeout")))


def still_running(db) -> int:
    return db.session.scalar(sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = :q"),
        {"q": SLEEP})


def test_a_statement_past_the_limit_is_cancelled_and_the_request_answers_busy(db, limited):
    started = time.monotonic()
    response = limited.test_client().get("/test-slow", headers={"Accept-Language": "en"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "busy" in response.get_data(as_text=True)
    assert elapsed < 3, elapsed  # the 4 s statement did not run to its end
    assert still_running(db) == 0


def test_requests_are_limited_and_command_line_work_is_not(limited):
    assert limited.test_client().get("/test-setting").get_data(as_text=True) == "300ms"
    with limited.app_context():
        _db.engine.dispose()  # a connection opened outside any request, as the worker's
        assert _db.session.scalar(sa.text("SHOW statement_timeout")) == "0"
        _db.session.execute(sa.text("SELECT pg_sleep(0.5)"))  # past the requests' limit


def test_no_limit_when_set_to_zero(app):
    with app_with_limit(app, 0) as unlimited:
        assert unlimited.test_client().get("/test-setting").get_data(as_text=True) == "0"


def last_sampled(db, table: str):
    return db.session.scalar(sa.text(
        "SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables"
        " WHERE relname = :t"), {"t": table})


def test_a_worker_reading_past_its_limit_gives_up_and_samples_the_tables(
        app, db, factory, background, monkeypatch):
    process = factory.process()
    factory.participant(kind="citizen")
    refresh.request_refresh(db.session(), [process.id], utcnow())
    db.session.commit()
    compute = refresh.compute_inputs

    def slow_reading(process_id, now):
        db.session.execute(sa.text("SELECT pg_sleep(3)"))  # a statement planned badly
        return compute(process_id, now)

    monkeypatch.setattr(refresh, "compute_inputs", slow_reading)
    monkeypatch.setitem(app.config, "PV_WORKER_STATEMENT_TIMEOUT", LIMIT_SECONDS)
    before = last_sampled(db, "participants")
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
        run_pending(process.id, now=utcnow())
    assert time.monotonic() - started < 2.5
    assert is_stale(process.id)  # still waiting: the sweep will try again
    sampled = last_sampled(db, "participants")
    assert sampled is not None and sampled != before

    # The limit holds for the reading only: the next attempt, in time, stores the refresh.
    monkeypatch.setattr(refresh, "compute_inputs", compute)
    assert run_pending(process.id, now=utcnow()) is True
    assert not is_stale(process.id)
    assert db.session.scalar(sa.text("SHOW statement_timeout")) == "0"
