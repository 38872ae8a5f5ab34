"""Rate-limit counters on the application's own database: the `limits` storage `database://`.

Flask-Limiter (reset requests, re-typed passwords, sign-up, the JSON API) and the login lockout
(pvplatform.auth.lockout) count in the storage that RATELIMIT_STORAGE_URI names. In memory, each
gunicorn worker and each instance counted alone: spread over N workers, a password guesser had N
times the allowance. `database://`, the default, keeps the counters in `rate_limit_counters`,
which every worker and instance reaches without any configuration:

- PostgreSQL: the application's database, through an engine of its own (same URL and options).
  A request holds a connection of the application's pool for its session: if the counters took
  a second one from that pool, a burst of requests each holding one and waiting for another
  would drain it until the pool timeout.
- SQLite file: a companion file beside it (`pvplatform.sqlite`: `pvplatform-ratelimit.sqlite`),
  shared by every process of the machine. Not the application's file: a state-changing request
  takes that file's write lock with its first statement (pvplatform.core.sqlite), so the login
  counting a failure after reading the account would wait on its own request's lock.
- SQLite in memory (tests): one process, nothing to share: memory counters, one set per app.

Each counter statement runs on a connection in autocommit, its own short transaction, never the
request's: a rolled-back request keeps its counted failure, and SQLite's write lock is held for
one statement. An increment is a single `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, atomic
across processes, which starts a window again once it has ended. Expired rows read as absent and
are deleted now and then, on a write. Only the fixed-window strategy (Flask-Limiter's default,
the one configured) is supported: another strategy refuses this storage at start-up.

Flask-Limiter keeps one storage per process, and tests build many apps in one process: the
storage object holds nothing, it finds the counters of the current application at each call.

A counter that cannot be read or written (database down, or locked past the busy timeout) raises
`limits.errors.StorageError`, answered 503 "busy, try again in a few seconds": a limit or a login
wait is never skipped (fail closed), and never shows as a server error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask, Response, current_app
from flask_babel import gettext as _
from limits.errors import ConfigurationError, StorageError
from limits.storage import MemoryStorage, Storage
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from pvplatform.core.ratelimit_model import KEY_MAX, RateLimitCounter
from pvplatform.core.sqlite import DEFAULT_BUSY_TIMEOUT_MS, reads_only_from_now
from pvplatform.extensions import db

log = logging.getLogger(__name__)

SCHEME = "database"
URI = f"{SCHEME}://"
_EXTENSION = "pv_ratelimit_counters"
SWEEP_EVERY = 60  # seconds between two deletions of expired rows, in each process
COMPANION_SUFFIX = "-ratelimit"
RETRY_AFTER_SECONDS = 5

_table = RateLimitCounter.__table__


def _now() -> datetime:
    # time.time(), as limits' own storages: pvplatform.auth.lockout compares get_expiry() with
    # it (and tests move it).
    return datetime.fromtimestamp(time.time(), UTC)


def stored_key(key: str) -> str:
    """The key as stored: unchanged up to KEY_MAX characters, else a prefix and a digest."""
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
    return f"{key[:KEY_MAX - len(digest) - 1]}#{digest}"


class Counters(Protocol):
    """What the storage asks of the counters of one application."""

    def incr(self, key: str, expiry: float, amount: int = 1) -> int: ...
    def get(self, key: str) -> int: ...
    def get_expiry(self, key: str) -> float: ...
    def clear(self, key: str) -> None: ...
    def reset(self) -> int | None: ...
    def check(self) -> bool: ...


class SqlCounters:
    """Fixed-window counters in `rate_limit_counters`, one autocommitted statement per call."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._last_sweep = float("-inf")

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = _now()
        insert = self._insert(_table).values(key=stored_key(key), count=amount,
                                             expires_at=now + timedelta(seconds=expiry))
        ended = _table.c.expires_at <= now
        upsert = insert.on_conflict_do_update(
            index_elements=[_table.c.key],
            set_={
                "count": sa.case((ended, insert.excluded.count),
                                 else_=_table.c.count + insert.excluded.count),
                "expires_at": sa.case((ended, insert.excluded.expires_at),
                                      else_=_table.c.expires_at),
            },
        ).returning(_table.c.count)
        with self.engine.connect() as conn:
            count = conn.execute(upsert).scalar_one()
        self._sweep_now_and_then()
        return int(count)

    def get(self, key: str) -> int:
        query = sa.select(_table.c.count).where(_table.c.key == stored_key(key),
                                                _table.c.expires_at > _now())
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def get_expiry(self, key: str) -> float:
        now = _now()
        query = sa.select(_table.c.expires_at).where(_table.c.key == stored_key(key),
                                                     _table.c.expires_at > now)
        with self.engine.connect() as conn:
            expires_at = conn.scalar(query)
        return (expires_at or now).timestamp()  # a counter that does not exist ends now

    def clear(self, key: str) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.delete(_table).where(_table.c.key == stored_key(key)))

    def reset(self) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.delete(_table)).rowcount

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(_table.c.key).limit(1))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def sweep(self) -> int:
        """Deletes the expired rows; returns how many."""
        with self.engine.connect() as conn:
            return conn.execute(sa.delete(_table).where(_table.c.expires_at <= _now())).rowcount

    def _sweep_now_and_then(self) -> None:
        moment = time.time()
        if abs(moment - self._last_sweep) < SWEEP_EVERY:
            return
        self._last_sweep = moment
        try:
            self.sweep()
        except sa.exc.SQLAlchemyError as err:
            # The count is stored already; leftovers read as absent and go at the next sweep.
            log.warning("rate-limit counters: expired rows not swept: %s", err)

    def close(self) -> None:
        self.engine.dispose()


def companion_path(database: str) -> Path:
    """The counters' file beside a SQLite database file."""
    path = Path(database)
    return path.with_name(f"{path.stem}{COMPANION_SUFFIX}{path.suffix or '.sqlite'}")


def _in_memory(url: sa.URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:") \
        or url.query.get("mode") == "memory"


def _companion_engine(database: str, busy_timeout_ms: int) -> sa.Engine:
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(companion_path(database))),
                              isolation_level="AUTOCOMMIT")
    timeout = int(busy_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:  # noqa: ARG001
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={timeout}")  # first: switching to WAL may wait
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # The file is the counters' alone, outside the migrations: made here, by whichever process
    # comes first.
    with engine.connect() as conn:
        conn.execute(CreateTable(_table, if_not_exists=True))
        for index in _table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
    return engine


def open_counters(database_url: str | sa.URL, *, engine_options: dict[str, Any] | None = None,
                  busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Counters:
    """The counters that go with the application database at `database_url`."""
    url = sa.make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if _in_memory(url):
            return MemoryStorage()
        return SqlCounters(_companion_engine(str(url.database), busy_timeout_ms))
    if backend != "postgresql":
        raise ConfigurationError(f"{URI} keeps counters in SQLite or PostgreSQL, not {backend}")
    options = {**(engine_options or {}), "isolation_level": "AUTOCOMMIT", "pool_pre_ping": True}
    return SqlCounters(sa.create_engine(url, **options))


class _AppCounters:
    """The counters of one application, opened at their first use (an app that limits nothing
    opens nothing)."""

    def __init__(self, app: Flask) -> None:
        self._engine_options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        self._busy_timeout_ms = int(app.config.get("SQLITE_BUSY_TIMEOUT_MS",
                                                   DEFAULT_BUSY_TIMEOUT_MS))
        self._counters: Counters | None = None
        self._lock = threading.Lock()

    def get(self) -> Counters:
        if self._counters is None:
            with self._lock:
                if self._counters is None:
                    # The engine's URL, not the setting: Flask-SQLAlchemy places a relative
                    # SQLite path in the instance folder.
                    self._counters = open_counters(db.engine.url,
                                                   engine_options=self._engine_options,
                                                   busy_timeout_ms=self._busy_timeout_ms)
        return self._counters

    def close(self) -> None:
        with self._lock:
            if isinstance(self._counters, SqlCounters):
                self._counters.close()
            self._counters = None


def app_counters() -> Counters:
    """The counters of the current application."""
    holder = current_app.extensions.get(_EXTENSION)
    if holder is None:
        raise ConfigurationError(f"{URI}: init_ratelimit_storage(app) was not called")
    return holder.get()


def close_counters(app: Flask) -> None:
    """Closes the connections of the app's counters (tests that build apps on PostgreSQL)."""
    holder = app.extensions.get(_EXTENSION)
    if holder is not None:
        holder.close()


class DatabaseStorage(Storage):
    """`database://`: the counters of the current application's database."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = True,
                 **options: Any) -> None:
        if uri not in (None, URI):
            raise ConfigurationError(f"{URI} takes no address: it is the application's database")
        # Wrapped: a database error becomes limits' StorageError, answered 503 below.
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return app_counters().incr(key, expiry, amount)

    def get(self, key: str) -> int:
        return app_counters().get(key)

    def get_expiry(self, key: str) -> float:
        return app_counters().get_expiry(key)

    def check(self) -> bool:
        return app_counters().check()

    def reset(self) -> int | None:
        return app_counters().reset()

    def clear(self, key: str) -> None:
        app_counters().clear(key)


def _counters_unavailable(err: StorageError) -> Response:
    from pvplatform.errors import error_response

    log.warning("rate-limit counters unavailable, answered 503: %s", err.storage_error)
    try:
        db.session.rollback()  # a failed request leaves nothing half-stored
    except Exception:  # noqa: BLE001 - the rollback must never mask the answer
        log.exception("rollback failed")
    reads_only_from_now()
    response = current_app.make_response(error_response(
        503, _("Busy"), _("The platform is busy. Please try again in a few seconds.")))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_ratelimit_storage(app: Flask) -> None:
    """Before `limiter.init_app`: this app's counters for `database://` (checked now, not at
    the first login), and the 503 answer for a counter that cannot be read or written."""
    if app.config.get("RATELIMIT_STORAGE_URI") == URI and app.config.get("RATELIMIT_ENABLED",
                                                                          True):
        backend = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ConfigurationError(f"RATELIMIT_STORAGE_URI={URI} needs SQLite or PostgreSQL "
                                     f"(the database is {backend}): set a Redis URI instead")
    app.extensions[_EXTENSION] = _AppCounters(app)
    app.register_error_handler(StorageError, _counters_unavailable)
