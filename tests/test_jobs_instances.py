"""Issue 12, "several instances": two app instances and two workers on one PostgreSQL. Votes
sent through both give one row per voter and proposal, a session cookie from one is valid on the
other, and the flags converge once: one record per flag, raised once, equal to what the engine
computes, however the refresh jobs were shared between the workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.conftest import PASSWORD, Factory, TestConfig, make_app, seed_reference_data
from tests.test_security_records_votes import _login, _post

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("PV_TEST_DATABASE_URL", "")
VOTERS = 12


@pytest.fixture
def database_url() -> Iterator[str]:
    name = f"pv_instances_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _instance(url: str):
    return make_app(SQLALCHEMY_DATABASE_URI=url, PV_REFRESH="background", PV_QUEUE_URL=url,
                    SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 8, "max_overflow": 4})


def _serve(app) -> tuple[object, threading.Thread, int]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, server.server_port


def test_two_instances_and_two_workers_share_one_postgresql(database_url):
    first, second = _instance(database_url), _instance(database_url)
    with first.app_context():
        _db.create_all()
        seed_reference_data()
        from pvplatform.participation.services import participant_for
        from pvplatform.proposals.models import Proposal, ProposalState

        f = Factory()
        process = f.process()
        author = participant_for(f.user("citizen"))
        now = utcnow()
        proposal = Proposal(process_id=process.id, author_id=author.id, title="Un banc",
                            body="Rue Haute.", state=ProposalState.PUBLISHED, published_at=now)
        # Rejected without a reason: a flag the workers must raise exactly once.
        rejected = Proposal(process_id=process.id, author_id=author.id, title="Un parking",
                            body="Place du marché.", state=ProposalState.REJECTED,
                            published_at=now - timedelta(days=9),
                            answered_at=now - timedelta(days=8))
        _db.session.add_all([proposal, rejected])
        voters = [f.user("citizen", password=PASSWORD) for _ in range(VOTERS)]
        _db.session.commit()
        ids = (process.id, proposal.id)
        emails = [v.email for v in voters]
        _db.session.remove()

    env = {**os.environ, "DATABASE_URL": database_url, "PV_QUEUE_URL": database_url,
           "PV_CONFIG": "development", "PV_REFRESH": "background",
           "SECRET_KEY": TestConfig.SECRET_KEY}
    workers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "pv", "worker"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE) for _ in range(2)]
    servers = [_serve(first), _serve(second)]
    ports = [port for _, _, port in servers]
    try:
        process_id, proposal_id = ids

        def vote(i: int) -> list[int]:
            # Logged in on one instance, voting on the other with the same cookie, twice.
            cookie = _login(ports[i % 2], emails[i])
            value = 1 if i % 3 else -1
            return [_post(ports[(i + j) % 2], f"/proposals/{proposal_id}/vote",
                          {"value": value}, cookie).status for j in range(1, 3)]

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = [s for pair in pool.map(vote, range(VOTERS)) for s in pair]
        assert set(statuses) == {302}, statuses

        with first.app_context():
            from pvplatform.indicators import store
            from pvplatform.indicators.models import FlagEvent, FlagRecord
            from pvplatform.jobs.refresh import is_stale
            from pvplatform.proposals.models import Vote

            rows = _db.session.execute(
                sa.select(Vote.participant_id, sa.func.count()).where(
                    Vote.proposal_id == proposal_id).group_by(Vote.participant_id)).all()
            assert len(rows) == VOTERS and {n for _, n in rows} == {1}

            deadline = time.monotonic() + 90  # a failure bound, not a measure
            while time.monotonic() < deadline and is_stale(process_id):
                time.sleep(0.2)
                _db.session.rollback()
            assert not is_stale(process_id), [w.poll() for w in workers]
            records = list(_db.session.scalars(
                sa.select(FlagRecord).where(FlagRecord.process_id == process_id)))
            assert [r.code for r in records] == ["unreasoned_rejection"]
            events = list(_db.session.scalars(
                sa.select(FlagEvent.kind).where(FlagEvent.flag_record_id == records[0].id)))
            assert events == ["raised"]
            computed = store.compute_current_flags(process_id, utcnow())
            assert sorted((r.code, store.flag_key(r)) for r in computed) == sorted(
                (r.code, r.key) for r in records if r.cleared_at is None)
            _db.session.remove()
            _db.engine.dispose()
    finally:
        for server, thread, _ in servers:
            server.shutdown()
            thread.join(timeout=10)
        for worker in workers:
            worker.terminate()
            worker.wait(10)
        with second.app_context():
            _db.engine.dispose()
