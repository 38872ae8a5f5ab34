"""SECURITY.md, Faults: "SQLite runs in WAL mode with a busy timeout; a locked database yields 503
with Retry-After, never a 500 and never a partial write" and "A writer killed at a random moment
(SIGKILL, 20 times): `PRAGMA integrity_check` is ok and every acknowledged write is there."
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time

import pytest
import sqlalchemy as sa

from pvplatform.extensions import db as _db
from tests.conftest import Factory, login, make_app, seed_reference_data

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def file_app(tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'faults.sqlite'}",
                   SQLITE_BUSY_TIMEOUT_MS=300)
    with app.app_context():
        _db.create_all()
        seed_reference_data()
        yield app
        _db.session.remove()
        _db.engine.dispose()


def test_wal_busy_timeout_and_foreign_keys_on_every_connection(file_app):
    for _ in range(2):  # a fresh pooled connection each time
        with _db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 300
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        _db.engine.dispose()
    default = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{_db.engine.url.database}x")
    with default.app_context(), _db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    with default.app_context():
        _db.engine.dispose()


def test_every_new_engine_is_configured_even_when_an_old_ones_id_comes_back(tmp_path):
    """Engines are created and collected (one per test app): a new engine that happens to get a
    collected one's id() must still be configured. It once was not, and read in rollback-journal
    mode without a busy timeout: a page behind a writer's lock answered 503 now and then."""
    import gc

    from pvplatform.core.sqlite import configure_sqlite

    seen: set[int] = set()
    reused = False
    for i in range(60):
        engine = sa.create_engine(f"sqlite:///{tmp_path / f'e{i}.sqlite'}")
        reused = reused or id(engine) in seen
        seen.add(id(engine))
        configure_sqlite(engine, busy_timeout_ms=250)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal", i
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 250, i
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1, i
        engine.dispose()
        del engine
        if reused:
            # The engine that took a collected one's id has just been checked: that is the case.
            # (Each gc.collect() walks the whole test process's heap, so stop here.)
            break
        gc.collect()
    assert reused, "no id came back: the case this test is about did not happen"


def _comment_count() -> int:
    from pvplatform.proposals.models import Comment

    _db.session.rollback()
    return _db.session.scalar(sa.select(sa.func.count()).select_from(Comment))


def test_locked_database_answers_503_with_retry_after_and_writes_nothing(file_app):
    from pvplatform.db import utcnow
    from pvplatform.participation.services import participant_for
    from pvplatform.proposals.models import Proposal, ProposalState

    factory = Factory()
    process = factory.process()
    citizen = factory.user("citizen")
    proposal = Proposal(process_id=process.id, author_id=participant_for(citizen).id,
                        title="Un banc", body="Rue Haute.", state=ProposalState.PUBLISHED,
                        published_at=utcnow())
    _db.session.add(proposal)
    _db.session.commit()
    proposal_id = proposal.id
    client = file_app.test_client()
    login(client, citizen)
    before = _comment_count()
    _db.session.remove()

    holder = sqlite3.connect(_db.engine.url.database, timeout=0, isolation_level=None)
    # In rollback-journal mode the lock below would stop readers too: say so, not a flaky 503.
    assert holder.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    holder.execute("BEGIN EXCLUSIVE")  # another process's writer holds the write lock
    try:
        started = time.monotonic()
        response = client.post(f"/proposals/{proposal_id}/comments", data={"body": "Oui !"})
        waited = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers.get("Retry-After", "").isdigit()
        assert "busy" in response.get_data(as_text=True).lower()
        assert response.headers.get("Content-Security-Policy")
        assert waited >= 0.25, "the busy timeout was not honoured"
        # Pages still read while a writer holds the lock (WAL).
        assert client.get(f"/proposals/{proposal_id}").status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _comment_count() == before, "a partial write survived"
    assert client.post(f"/proposals/{proposal_id}/comments",
                       data={"body": "Oui !"}).status_code == 302
    assert _comment_count() == before + 1


# ---------------------------------------------------------------- a writer killed with SIGKILL

KILLS = 20
BATCH = 5


def _writer(url: str, pipe) -> None:
    """Runs in a forked child: batches of rows, each batch one transaction, acknowledged after
    its commit returned. Uses the app's own SQLite configuration."""
    from pvplatform.core.sqlite import configure_sqlite

    engine = sa.create_engine(url)
    configure_sqlite(engine)
    table = sa.table("audit_log", sa.column("id"), sa.column("action"),
                     sa.column("target_type"), sa.column("details"), sa.column("created_at"))
    n = 0
    while True:
        with engine.begin() as conn:
            ids = []
            for _ in range(BATCH):
                n += 1
                ids.append(conn.execute(table.insert().values(
                    action="crash.test", target_type="test", details="{}",
                    created_at="2026-01-01 00:00:00").returning(table.c.id)).scalar_one())
        pipe.send(ids)


def _drain(pipe, acknowledged: set[int]) -> None:
    try:
        while pipe.poll():
            acknowledged.update(pipe.recv())
    except (EOFError, OSError):
        pass


def test_writer_killed_at_random_moments_loses_no_acknowledged_write(file_app):
    url = str(_db.engine.url)
    path = _db.engine.url.database
    _db.session.remove()
    _db.engine.dispose()
    context = multiprocessing.get_context("fork")
    rng = random.Random(20261128)  # noqa: S311 - reproducible moments, not security
    acknowledged: set[int] = set()
    for kill in range(KILLS):
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_writer, args=(url, sender), daemon=True)
        child.start()
        sender.close()
        # Wait for a first acknowledgement, then kill at a random moment of the writing.
        assert receiver.poll(30), f"the writer never wrote (kill {kill})"
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        _drain(receiver, acknowledged)
        receiver.close()
        con = sqlite3.connect(path)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {row[0] for row in con.execute("SELECT id FROM audit_log")}
        finally:
            con.close()
        missing = acknowledged - stored
        assert not missing, f"kill {kill}: acknowledged writes lost: {sorted(missing)[:10]}"
        # Batches are all or nothing: a killed transaction leaves no part of its batch.
        assert len(stored) % BATCH == 0, f"kill {kill}: a partial batch is stored"
    assert len(acknowledged) >= KILLS * BATCH
