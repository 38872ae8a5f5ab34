"""Refreshing a process's stored flags away from the request that changed its data.

`request_refresh` runs in the change's transaction; `run_pending` in a worker: it takes the
process's refresh lock (so that two workers never refresh one process at once), reads the
newest request, computes once for all the requests up to it, stores the flags and deletes those
requests, in one transaction. Requests written meanwhile stay for the next run: a burst of
votes costs one computation per worker run, not one per vote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from pvplatform.core.i18n import town_zone
from pvplatform.core.sqlite import writing
from pvplatform.core.statement_timeout import cancelled_at_limit, limit_this_transaction
from pvplatform.core.statistics import refresh_statistics
from pvplatform.extensions import db
from pvplatform.jobs.models import RefreshRequest
from pvplatform.processes.models import Process

log = logging.getLogger(__name__)


def request_refresh(session: Session, process_ids: Iterable[int], now: datetime) -> None:
    """Marks the processes as needing a refresh, in the caller's transaction."""
    rows = [{"process_id": pid, "requested_at": now} for pid in sorted(set(process_ids))]
    if rows:
        session.execute(sa.insert(RefreshRequest), rows)


def refresh_until_current(process_id: int, *, now: datetime | None = None,
                          min_interval: float = 0.0) -> int:
    """Refreshes the process until no request waits for it (changes keep coming during a
    vote); how many refreshes it took. Two runs start at least `min_interval` seconds apart,
    counted from the last stored results, whichever job stored them."""
    from pvplatform.db import utcnow

    runs = 0
    while True:
        if min_interval > 0:
            if not is_stale(process_id):
                db.session.rollback()
                return runs
            _wait_since_last_run(process_id, min_interval)
        if not run_pending(process_id, now=now or utcnow()):
            return runs
        runs += 1
        now = None


def _wait_since_last_run(process_id: int, min_interval: float) -> None:
    from pvplatform.db import utcnow
    from pvplatform.indicators.models import DashboardSnapshot

    last = db.session.scalar(sa.select(DashboardSnapshot.computed_at)
                             .where(DashboardSnapshot.process_id == process_id))
    db.session.rollback()  # no transaction held while waiting
    if last is None:
        return
    wait = (last - utcnow()).total_seconds() + min_interval
    if wait > 0:
        time.sleep(min(wait, min_interval))


def pending_process_ids() -> list[int]:
    return list(db.session.scalars(
        sa.select(RefreshRequest.process_id).distinct().order_by(RefreshRequest.process_id)))


def is_stale(process_id: int) -> bool:
    """Whether changes wait for a refresh (the stored flags are behind the data)."""
    return db.session.scalar(sa.select(sa.exists().where(
        RefreshRequest.process_id == process_id))) or False


def compute_inputs(process_id: int, now: datetime) -> Any:
    """One reading of the engine: the dashboard's inputs, flags included."""
    from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs

    return gather_dashboard_inputs(process_id, now)


def compute_trend_base(process_id: int, at: datetime) -> Any:
    """The engine's reading as of a past instant (the latest held session's start), for the
    overview's trends: the same reading as `compute_inputs`, kept apart because it stores no
    flags and runs far less often (see snapshots.trend_base_payload)."""
    from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs

    return gather_dashboard_inputs(process_id, at)


def _begin_reading() -> None:
    """The reading's statements all see one state of the database, whatever commits meanwhile,
    so that the figures, the flags and the ledger's lists of one refresh agree (a vote
    withdrawn halfway through would otherwise be counted by some statements and not others).
    SQLite's read transaction is one snapshot already (WAL); PostgreSQL's default, READ
    COMMITTED, shows each statement the newest data, so the reading asks for REPEATABLE READ.
    The level is set as a transaction begins: one the caller left open is ended first (the
    reading ends with a rollback anyway)."""
    if db.session().in_transaction():
        db.session.rollback()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        # A statement planned from stale statistics gives up instead of holding the worker for
        # hours; see _after_failed_reading.
        limit_this_transaction(
            float(current_app.config.get("PV_WORKER_STATEMENT_TIMEOUT", 0) or 0))


def _after_failed_reading(err: BaseException) -> None:
    """A reading cancelled at the worker's time limit was, in every case seen, planned from
    statistics sampled before a bulk change: the process's tables are sampled again, so that the
    next attempt (the minute sweep) is planned from what they hold."""
    from pvplatform.participation.import_store import IMPORTED_MODELS

    if not cancelled_at_limit(err):
        return
    log.warning("a refresh reading passed the worker's time limit: sampling the tables again")
    try:
        refresh_statistics(IMPORTED_MODELS)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("sampling the tables after a cancelled reading failed")


def run_pending(process_id: int, *, now: datetime) -> bool:
    """Refreshes the process if changes wait for it (stored flags and the dashboard's snapshot,
    from one reading of the engine); False when nothing waited or the process is gone.

    Two transactions: the engine reads in the first, which takes no lock (votes go on); the
    second takes the process's refresh lock (and SQLite's write lock) only to store the results
    and delete the requests they answer. A run that finds newer results already stored (another
    worker's) stores nothing.

    The overview's trend base (the figures as of the latest held session's start) is read in
    the first transaction too, reusing the stored one while it still answers: a second reading
    of the engine only when the session changed or the base aged (snapshots.trend_base_payload).
    So are the process ledger's lists at the figures' instant (ledger.list_pages), which the
    ledger pages read instead of scanning the process at their first view.
    """
    from pvplatform.indicators.dashboard_inputs import reading_hidden
    from pvplatform.indicators.models import DashboardSnapshot
    from pvplatform.indicators.snapshots import (
        snapshot_payload,
        store_snapshot,
        trend_base_payload,
    )
    from pvplatform.indicators.store import lock_for_refresh, sync_flags
    from pvplatform.indicators.suppression import current_k
    from pvplatform.ledger.list_pages import store_lists, take_lists

    try:
        _begin_reading()
        if db.session.get(Process, process_id) is None:
            db.session.rollback()
            return False
        newest = db.session.scalar(sa.select(sa.func.max(RefreshRequest.id))
                                   .where(RefreshRequest.process_id == process_id))
        if newest is None:
            db.session.rollback()
            return False
        inputs = compute_inputs(process_id, now)
        base = trend_base_payload(process_id, inputs, now=now, compute=compute_trend_base)
        lists = take_lists(process_id, inputs.as_of)
        db.session.rollback()
        # Encoded before the lock: writers (votes, check-ins) wait only for the writes.
        payload = snapshot_payload(inputs, base)
        with writing():
            lock_for_refresh(process_id)
            stored = db.session.scalar(sa.select(DashboardSnapshot.data_version)
                                       .where(DashboardSnapshot.process_id == process_id))
            if stored is None or stored < newest:
                sync_flags(process_id, list(inputs.flags), now=now,
                           hidden=reading_hidden(inputs, current_k()))
                store_snapshot(process_id, payload, computed_at=inputs.as_of, version=newest)
                store_lists(process_id, inputs.as_of, lists)
            db.session.execute(sa.delete(RefreshRequest).where(
                RefreshRequest.process_id == process_id, RefreshRequest.id <= newest))
            db.session.commit()
        return True
    except BaseException as err:
        db.session.rollback()
        _after_failed_reading(err)
        raise


def run_all_pending(*, now: datetime) -> int:
    """Every process with waiting changes, one after the other; how many were refreshed. A
    process whose refresh fails is logged and left waiting: the others go on."""
    done = 0
    for process_id in pending_process_ids():
        try:
            done += run_pending(process_id, now=now)
        except Exception:
            log.exception("flag refresh failed for process %s", process_id)
    return done


def request_running(*, now: datetime) -> list[int]:
    """Asks for a refresh of every running process: flags that move with time alone (a session
    becoming held, a proposal waiting past 30 days). Commits."""
    today = now.astimezone(town_zone()).date()
    running = sa.and_(sa.or_(Process.starts_on.is_(None), Process.starts_on <= today),
                      sa.or_(Process.ends_on.is_(None), Process.ends_on >= today))
    ids = list(db.session.scalars(sa.select(Process.id).where(running).order_by(Process.id)))
    request_refresh(db.session(), ids, now)
    db.session.commit()
    return ids
