"""Issue 12, "no request waits for a recomputation": a change behind the flags writes a refresh
request in its own transaction and queues a job; the worker computes once for many changes.

The rest of the suite runs with PV_REFRESH=inline (flags refreshed in the change's transaction,
so that a test reads them right after); here the application's default, background, is on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.indicators import store
from pvplatform.indicators.models import FlagRecord
from pvplatform.jobs.models import RefreshRequest
from pvplatform.jobs.queue import EXTENSION, make_huey
from pvplatform.jobs.refresh import is_stale, run_all_pending, run_pending
from pvplatform.proposals.models import Proposal, ProposalState
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def background(app, monkeypatch):
    """The application's default refresh mode, with an empty in-memory queue."""
    monkeypatch.setitem(app.config, "PV_REFRESH", "background")
    queue = app.extensions[EXTENSION]
    queue.huey.flush()
    yield queue
    queue.huey.flush()


@pytest.fixture
def computations(monkeypatch):
    """How many times the engine computed a process's flags for the store."""
    calls: list[int] = []
    real = store.compute_current_flags

    def counted(process_id, now):
        calls.append(process_id)
        return real(process_id, now)

    monkeypatch.setattr(store, "compute_current_flags", counted)
    return calls


def _rejected(process, author, *, rationale: str = "") -> Proposal:
    now = utcnow()
    return Proposal(process_id=process.id, author_id=author.id, title="Idée",
                    state=ProposalState.REJECTED, published_at=now - timedelta(days=7),
                    answered_at=now - timedelta(days=5), answer_rationale=rationale)


def _requests(db, process_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RefreshRequest)
                             .where(RefreshRequest.process_id == process_id))


def test_a_change_requests_a_refresh_and_computes_nothing(db, factory, background,
                                                          computations):
    process = factory.process()
    author = factory.participant(kind="citizen")
    db.session.add(_rejected(process, author))
    db.session.commit()

    assert computations == []  # the commit did not wait for the engine
    assert _requests(db, process.id) == 1 and is_stale(process.id)
    assert store.active_flags(process.id) == []
    assert background.huey.pending_count() == 1  # one job queued, after the commit

    assert run_pending(process.id, now=utcnow()) is True
    assert computations == [process.id]
    assert [r.code for r in store.active_flags(process.id)] == ["unreasoned_rejection"]
    assert _requests(db, process.id) == 0 and not is_stale(process.id)
    # The job queued for the change finds nothing left to do.
    assert run_pending(process.id, now=utcnow()) is False
    assert computations == [process.id]


def test_many_changes_cost_one_computation(db, factory, background, computations):
    process = factory.process()
    author = factory.participant(kind="citizen")
    for _ in range(30):
        db.session.add(_rejected(process, author))
        db.session.commit()
    assert _requests(db, process.id) == 30 and computations == []
    assert run_all_pending(now=utcnow()) == 1
    assert computations == [process.id]
    assert _requests(db, process.id) == 0


def test_a_rolled_back_change_requests_nothing(db, factory, background, computations):
    process = factory.process()
    author = factory.participant(kind="citizen")
    db.session.commit()
    background.huey.flush()
    db.session.add(_rejected(process, author))
    db.session.flush()
    db.session.rollback()
    assert _requests(db, process.id) == 0
    assert background.huey.pending_count() == 0


def test_a_vote_through_the_site_waits_for_no_computation(app, db, factory, client,
                                                          background, computations):
    process = factory.process()
    author = factory.participant(kind="citizen")
    proposal = Proposal(process_id=process.id, author_id=author.id, title="Des bancs",
                        body="Rue Haute.", state=ProposalState.PUBLISHED, published_at=utcnow())
    voter = factory.user("citizen", password=PASSWORD)
    db.session.add(proposal)
    db.session.commit()
    run_all_pending(now=utcnow())
    computations.clear()
    client.post("/auth/login", data={"email": voter.email, "password": PASSWORD})
    response = client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"})
    assert response.status_code in (200, 302, 303)
    assert computations == []
    assert _requests(db, process.id) >= 1


def test_the_queue_backends(tmp_path):
    assert type(make_huey(f"sqlite:///{tmp_path / 'queue.sqlite'}")).__name__ == "SqliteHuey"
    assert type(make_huey("memory://")).__name__ == "MemoryHuey"
    with pytest.raises(ValueError, match="PV_QUEUE_URL"):
        make_huey("ftp://nowhere")


@pytest.mark.postgres_only
def test_the_queue_on_the_applications_postgresql():
    """Several machines share the queue through the application's own PostgreSQL."""
    url = os.environ["PV_TEST_DATABASE_URL"]
    huey = make_huey(url)
    try:
        assert type(huey).__name__ == "PostgresHuey"

        @huey.task()
        def nothing(n: int) -> None:
            return None

        huey.flush()
        nothing(1)
        nothing(2)
        assert huey.pending_count() == 2
        huey.flush()
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for table in ("kv", "schedule", "task", "counter"):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS huey_{table}"))
        engine.dispose()


@pytest.mark.sqlite_only
def test_a_worker_process_brings_the_flags_up_to_date(tmp_path):
    """`flask pv worker` in its own process, on a file database and a SQLite queue, as `make
    run` starts it: a change committed by the site shows in the stored flags shortly after."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite'}",
           "PV_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}", "PV_CONFIG": "development",
           "PV_REFRESH": "background"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    from tests.conftest import Factory, make_app, seed_reference_data

    site = make_app(SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"], PV_REFRESH="background",
                    PV_QUEUE_URL=env["PV_QUEUE_URL"])
    worker = subprocess.Popen([*flask, "pv", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with site.app_context():
            from pvplatform.extensions import db

            seed_reference_data()
            f = Factory()
            process = f.process()
            author = f.participant(kind="citizen")
            db.session.add(_rejected(process, author))
            db.session.commit()  # requests a refresh and queues a job
            deadline = time.monotonic() + 60  # a failure bound, not a measure
            codes: list[str] = []
            while time.monotonic() < deadline and not codes:
                time.sleep(0.2)
                db.session.rollback()
                codes = list(db.session.scalars(sa.select(FlagRecord.code).where(
                    FlagRecord.process_id == process.id, FlagRecord.cleared_at.is_(None))))
            assert codes == ["unreasoned_rejection"], worker.stderr
            assert _requests(db, process.id) == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        worker.terminate()
        worker.wait(10)
