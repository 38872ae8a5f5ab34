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
        from pvplatform.db import utcnow
        from pvplatform.jobs.refresh import run_pending

        with app.app_context():
            run_pending(process_id, now=utcnow())

    @huey.periodic_task(crontab(), name="refresh_sweep")
    def refresh_sweep() -> None:
        # A job lost between a commit and its enqueue (a crash, a queue down) leaves its
        # request behind: the sweep refreshes it within a minute.
        from pvplatform.db import utcnow
        from pvplatform.jobs.refresh import run_all_pending

        with app.app_context():
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


def enqueue_refresh(process_ids: Iterable[int]) -> None:
    """Asks a worker to refresh these processes. Called once their requests are committed; a
    queue that cannot be reached only delays the refresh until the sweep."""
    queue: Queue | None = current_app.extensions.get(EXTENSION)
    if queue is None:
        return
    for process_id in sorted(set(process_ids)):
        try:
            queue.refresh(process_id)
        except Exception:
            log.exception("refresh of process %s not queued: the sweep will do it", process_id)
