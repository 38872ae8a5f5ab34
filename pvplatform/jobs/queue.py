"""The job queue (Huey): where refresh jobs wait for a worker.

`PV_QUEUE_URL` chooses the backend: a SQLite file (the embedded default, for `make run` and one
machine) or PostgreSQL (`postgresql://...`, by default the application's own database, shared by
every machine of a deployment and woken by LISTEN/NOTIFY). A job carries only a process id: the
data and the refresh requests live in the application's database, so a lost job loses nothing
(the minute sweep finds the requests it left).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from huey import Huey, MemoryHuey, PostgresHuey, SqliteHuey, crontab
from huey.constants import EmptyData

log = logging.getLogger(__name__)

QUEUE_NAME = "pvplatform"
EXTENSION = "pv_queue"
# Consumers poll SQLite; a changed flag must show within seconds, so they never sleep long.
MAX_POLL_DELAY = 1.0


def make_huey(url: str) -> Huey:
    """The Huey of a queue URL (see the module's docstring)."""
    if url.startswith("sqlite:///"):
        return SqliteHuey(QUEUE_NAME, filename=url.removeprefix("sqlite:///"),
                          results=False, utc=True)
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        dsn = "postgresql://" + url.split("://", 1)[1]
        return PostgresHuey(QUEUE_NAME, dsn=dsn, results=False, utc=True)
    if url == "memory://":
        return MemoryHuey(QUEUE_NAME, results=False, utc=True)
    raise ValueError(f"PV_QUEUE_URL: no queue backend for {url!r}")


@dataclass
class Queue:
    huey: Huey
    refresh: Callable[[int], Any]
    app: Flask


def init_queue(app: Flask) -> Queue:
    """The app's queue and its jobs, kept in app.extensions (one Huey per app: its backend
    comes from the app's configuration)."""
    huey = make_huey(app.config["PV_QUEUE_URL"])

    @huey.task(name="refresh_process")
    def refresh_process(process_id: int) -> None:
        from pvplatform.jobs.refresh import refresh_until_current

        # From here on, a change committed asks for a new job: what this one does not see,
        # the next one will.
        huey.storage.delete_data(_queued_key(process_id))
        with app.app_context():
            refresh_until_current(
                process_id, min_interval=app.config.get("PV_REFRESH_MIN_INTERVAL", 0.0))

    @huey.periodic_task(crontab(), name="refresh_sweep")
    def refresh_sweep() -> None:
        # A job lost between a commit and its enqueue (a crash, a queue down) leaves its
        # request behind: the sweep refreshes it within a minute.
        from pvplatform.db import utcnow
        from pvplatform.jobs.refresh import pending_process_ids, run_all_pending

        with app.app_context():
            # A marker whose job was lost would keep every later change from queueing one.
            for process_id in pending_process_ids():
                huey.storage.delete_data(_queued_key(process_id))
            run_all_pending(now=utcnow())

    @huey.periodic_task(crontab(minute="*/15"), name="refresh_running")
    def refresh_running() -> None:
        # Flags that move with time alone (a session held, a proposal waiting past 30 days).
        from pvplatform.db import utcnow
        from pvplatform.jobs.refresh import request_running

        with app.app_context():
            for process_id in request_running(now=utcnow()):
                refresh_process(process_id)

    queue = Queue(huey=huey, refresh=refresh_process, app=app)
    app.extensions[EXTENSION] = queue
    return queue


def _queued_key(process_id: int) -> str:
    return f"refresh-queued-{process_id}"


def enqueue_refresh(process_ids: Iterable[int]) -> None:
    """Asks a worker to refresh these processes, once their requests are committed. One job at
    most waits per process (a marker in the queue's store, taken atomically and dropped when
    the job starts): a burst of votes queues one job, which refreshes until nothing waits,
    rather than a queue of jobs with nothing to do. A queue that cannot be reached only delays
    the refresh until the sweep."""
    queue: Queue | None = current_app.extensions.get(EXTENSION)
    if queue is None:
        return
    for process_id in sorted(set(process_ids)):
        try:
            key = _queued_key(process_id)
            # Reading first: under a burst the marker is there, and a vote costs no write to
            # the queue's store.
            if queue.huey.storage.peek_data(key) is EmptyData and \
                    queue.huey.storage.put_if_empty(key, b"1"):
                queue.refresh(process_id)
        except Exception:
            log.exception("refresh of process %s not queued: the sweep will do it", process_id)
