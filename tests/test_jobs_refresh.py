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
from pvplatform.jobs.queue import make_huey
from pvplatform.jobs.refresh import is_stale, run_all_pending, run_pending
from pvplatform.proposals.models import Proposal, ProposalState
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _rejected(process, author, *, rationale: str = "") -> Proposal:
    now = utcnow()
    return Proposal(process_id=process.id, author_id=author.id, title="Idée",
                    state=ProposalState.REJECTED, published_at=now - timedelta(days=7),
                    answered_at=now - timedelta(days=5), answer_rationale=rationale)


def _attend(db, meeting, person) -> None:
    from pvplatform.sessions.models import Attendance, AttendanceMode

    db.session.add(Attendance(meeting_id=meeting.id, participant_id=person.id,
                              mode=AttendanceMode.IN_PERSON))


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
            # Requests written after the run began wait for the next one (at most
            # PV_REFRESH_MIN_INTERVAL later): none is left behind.
            while time.monotonic() < deadline and _requests(db, process.id):
                time.sleep(0.2)
                db.session.rollback()
            assert _requests(db, process.id) == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        worker.terminate()
        worker.wait(10)


# ---------------------------------------------------------------- the dashboard's snapshot


def test_the_live_dashboard_reads_the_workers_snapshot(app, db, factory, client, background,
                                                      computations):
    from pvplatform.indicators.snapshots import data_version, live_snapshot

    process = factory.process()
    author = factory.participant(kind="citizen")
    staff = factory.user("staff", password=PASSWORD)
    db.session.add(_rejected(process, author))
    db.session.commit()
    assert live_snapshot(process.id) is None
    version = data_version(process.id)
    assert version > 0
    run_pending(process.id, now=utcnow())
    snapshot = live_snapshot(process.id)
    assert snapshot is not None and not snapshot.waiting
    assert data_version(process.id) == version
    assert [f.code for f in snapshot.inputs.flags] == ["unreasoned_rejection"]
    computations.clear()

    client.post("/auth/login", data={"email": staff.email, "password": PASSWORD},
                headers={"Accept-Language": "en"})
    page = client.get(f"/manage/processes/{process.id}/dashboard",
                      headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "after the latest change" in html
    # the stored flag's message
    assert "fewer than 5 rejected proposals have no stated reason" in html
    assert computations == []  # read, not computed

    # A change since: the page says the figures are being brought up to date.
    db.session.add(_rejected(process, author, rationale="Trop cher cette année."))
    db.session.commit()
    assert data_version(process.id) > version
    html = client.get(f"/manage/processes/{process.id}/dashboard",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "being taken into account" in html
    assert computations == []


def test_the_ledger_pages_read_the_workers_snapshot(app, db, factory, client, background,
                                                    computations, monkeypatch):
    from pvplatform.indicators import dashboard_inputs, ledger, snapshots
    from pvplatform.indicators.snapshots import live_snapshot

    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=2))
    staff = factory.user("staff", password=PASSWORD)
    for _ in range(3):
        _attend(db, meeting, factory.participant(kind="citizen"))
    db.session.commit()
    run_pending(process.id, now=utcnow())
    held = live_snapshot(process.id).inputs.held
    assert [(h.id, h.attendees) for h in held] == [(meeting.id, 3)]
    computations.clear()

    def no_reading(*args, **kwargs):
        raise AssertionError("a ledger page ran the engine")

    for module in (dashboard_inputs, ledger):
        monkeypatch.setattr(module, "gather", no_reading)
    monkeypatch.setattr(snapshots, "gather_dashboard_inputs", no_reading)
    client.post("/auth/login", data={"email": staff.email, "password": PASSWORD},
                headers={"Accept-Language": "en"})
    for url in (f"/manage/processes/{process.id}/ledger",
                f"/manage/sessions/{meeting.id}/ledger"):
        page = client.get(url, headers={"Accept-Language": "en"})
        assert page.status_code == 200, url
        assert "being taken into account" not in page.get_data(as_text=True)
    assert computations == []
    # A check-in since: the figures say they are catching up, the page still reads them.
    _attend(db, meeting, factory.participant(kind="citizen"))
    db.session.commit()
    html = client.get(f"/manage/sessions/{meeting.id}/ledger",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "being taken into account" in html


def test_a_past_instant_is_computed_once_per_data_version(app, db, factory, client,
                                                        background, computations,
                                                        monkeypatch):
    from pvplatform.indicators import snapshots

    snapshots.PAST.clear()
    gathered: list[int] = []
    real = snapshots.gather_dashboard_inputs

    def counted(process_id, as_of):
        gathered.append(process_id)
        return real(process_id, as_of)

    monkeypatch.setattr(snapshots, "gather_dashboard_inputs", counted)
    process = factory.process()
    author = factory.participant(kind="citizen")
    staff = factory.user("staff", password=PASSWORD)
    db.session.commit()
    client.post("/auth/login", data={"email": staff.email, "password": PASSWORD})
    url = f"/manage/processes/{process.id}/dashboard?as_of=2026-01-01T00:00:00%2B00:00"
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    assert gathered == [process.id]
    # A change (an import or a paper sheet can change the past) moves the data version.
    db.session.add(_rejected(process, author))
    db.session.commit()
    assert client.get(url).status_code == 200
    assert gathered == [process.id, process.id]
    # The present of a process the worker has not reached yet: once per data version too, not
    # at every view (each view's instant differs).
    gathered.clear()
    live = f"/manage/processes/{process.id}/dashboard"
    assert snapshots.live_snapshot(process.id) is None
    assert client.get(live).status_code == 200
    assert client.get(live).status_code == 200
    assert client.get(f"/manage/processes/{process.id}/ledger").status_code == 200
    assert gathered == [process.id]
    snapshots.PAST.clear()


def test_a_snapshot_round_trips_the_dashboards_inputs(db, factory):
    from pvplatform.indicators.dashboard_inputs import (
        dashboard_from_inputs,
        gather_dashboard_inputs,
    )
    from pvplatform.indicators.snapshots import decode, encode
    from pvplatform.participation.importer import import_package
    from tests.examples import TINY

    process = import_package(TINY, now=utcnow())
    db.session.commit()
    inputs = gather_dashboard_inputs(process.id, utcnow())
    again = decode(encode(inputs))
    assert again is not None
    assert again.rows == inputs.rows and again.extra_rows == inputs.extra_rows
    assert again.sessions == inputs.sessions and again.strata == inputs.strata
    assert again.held == inputs.held
    # The ledger pages' figures from the snapshot are the engine's.
    from pvplatform.indicators.ledger import ledger_figures

    stored, computed = again.ledger(process.id), ledger_figures(process.id, inputs.as_of)
    assert (stored.rows, stored.sessions) == (computed.rows, computed.sessions)
    assert [(f.code, f.value, f.message.render(5)) for f in stored.flags] == [
        (f.code, f.value, f.message.render(5)) for f in computed.flags]
    assert stored.flags
    assert [(f.key, f.value, f.p_value, f.message.render(5)) for f in again.flags] == [
        (f.key, f.value, f.p_value, f.message.render(5)) for f in inputs.flags]
    first = dashboard_from_inputs(inputs, k=5)
    second = dashboard_from_inputs(again, k=5)
    assert [v.message for v in first.flags] == [v.message for v in second.flags]
    assert decode({**encode(inputs), "format": 0}) is None



def test_two_refreshes_of_a_process_start_at_least_the_interval_apart(db, factory, background,
                                                                     monkeypatch):
    """Under a sustained load the worker recomputes at most every PV_REFRESH_MIN_INTERVAL
    seconds, counted from the last stored results, instead of without pause."""
    from pvplatform.jobs import refresh

    slept: list[float] = []
    monkeypatch.setattr(refresh.time, "sleep", slept.append)
    process = factory.process()
    author = factory.participant(kind="citizen")
    db.session.add(_rejected(process, author))
    db.session.commit()
    assert refresh.refresh_until_current(process.id, min_interval=3.0) == 1
    assert slept == []  # no results stored yet: no wait
    db.session.add(_rejected(process, author))
    db.session.commit()
    assert refresh.refresh_until_current(process.id, min_interval=3.0) == 1
    assert len(slept) == 1 and 2.0 < slept[0] <= 3.0
    # Results older than the interval: no wait.
    from pvplatform.indicators.models import DashboardSnapshot

    db.session.get(DashboardSnapshot, process.id).computed_at = utcnow() - timedelta(seconds=5)
    db.session.add(_rejected(process, author))
    db.session.commit()
    slept.clear()
    assert refresh.refresh_until_current(process.id, min_interval=3.0) == 1
    assert slept == []


@pytest.fixture
def second_connection_app(app, tmp_path):
    """An application whose database another connection can change while a reading is open:
    the tests' PostgreSQL, or a SQLite file (the tests' SQLite in memory is one connection)."""
    from tests.conftest import ON_POSTGRES, app_on_file

    if ON_POSTGRES:
        yield app
        return
    with app_on_file(tmp_path / "site.sqlite", PV_REFRESH="off") as site:
        yield site


def test_a_refresh_reads_one_state_of_the_database(second_connection_app, monkeypatch):
    """The figures and the ledger's lists of one refresh come from one state of the database:
    an attendance deleted by another connection while the worker reads is counted by both
    (PostgreSQL reads in REPEATABLE READ; SQLite's read transaction is one snapshot), and the
    next refresh sees the deletion in both."""
    from pvplatform.extensions import db
    from pvplatform.indicators.snapshots import live_snapshot
    from pvplatform.jobs import refresh
    from pvplatform.jobs.refresh import request_refresh
    from pvplatform.ledger.models import LedgerListSnapshot
    from pvplatform.sessions.models import Attendance
    from tests.conftest import Factory

    site = second_connection_app
    monkeypatch.setitem(site.config, "PV_REFRESH", "off")
    with site.app_context():
        f = Factory()
        process = f.process()
        meeting = f.meeting(process, starts_at=utcnow() - timedelta(hours=1))
        for _ in range(3):
            _attend(db, meeting, f.participant(kind="citizen"))
        db.session.commit()
        walk_ins = sorted(db.session.scalars(sa.select(Attendance.id)))
        gone = walk_ins[0]
        original = refresh.compute_inputs

        def compute_then_delete(process_id, now):
            inputs = original(process_id, now)
            with db.engine.connect() as other:
                other.execute(sa.delete(Attendance).where(Attendance.id == gone))
                other.commit()
            return inputs

        def stored() -> tuple[int, list[int]]:
            db.session.rollback()
            live = live_snapshot(process.id)
            lists = db.session.get(LedgerListSnapshot, process.id).payload
            return live.inputs.ledger(process.id).attendees, sorted(lists["walk_ins"])

        monkeypatch.setattr(refresh, "compute_inputs", compute_then_delete)
        request_refresh(db.session(), [process.id], utcnow())
        db.session.commit()
        assert run_pending(process.id, now=utcnow())
        assert stored() == (3, walk_ins)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 2

        monkeypatch.setattr(refresh, "compute_inputs", original)
        request_refresh(db.session(), [process.id], utcnow())
        db.session.commit()
        assert run_pending(process.id, now=utcnow())
        assert stored() == (2, walk_ins[1:])
