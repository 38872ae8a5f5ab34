"""SQLite connection settings: WAL, a busy timeout and enforced foreign keys on every connection,
and transactions that take the write lock up front when a request will write.

Why BEGIN IMMEDIATE: in WAL mode a transaction that has read and then wants to write, while
another connection committed in between, fails at once with "database is locked" (SQLITE_BUSY
on a stale snapshot): the busy timeout does not help it. A state-changing request (POST, PUT,
PATCH, DELETE) takes the write lock in its BEGIN, where the busy timeout does apply, so
concurrent writers queue instead of failing. Pages (GET) and work outside requests begin a plain
deferred transaction and read alongside writers, as WAL allows (outside requests a long-lived
session, such as a shell's, must not hold the write lock while it merely reads).

pysqlite's own implicit BEGIN is switched off (isolation_level None) so that SQLAlchemy's
transaction boundaries, savepoints included, are the database's (SQLAlchemy's documented recipe).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event

DEFAULT_BUSY_TIMEOUT_MS = 15_000
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The engines already configured, held weakly. Not their id(): an engine disposed and collected
# leaves its id free for the next one, which would then be taken as configured and run without
# WAL, busy timeout or foreign keys (seen: a test app's engine reading in rollback-journal mode
# behind a writer's lock, answering 503).
_configured: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


_READ_ONLY_FLAG = "pv_sqlite_reads_only"


def reads_only_from_now() -> None:
    """The rest of this request only reads (an error page after a rollback): its transactions
    begin deferred, so that they never wait for, or hold, the write lock."""
    from flask import g, has_request_context

    if has_request_context():
        setattr(g, _READ_ONLY_FLAG, True)


_WRITING_FLAG = "pv_sqlite_writing"


@contextmanager
def writing() -> Iterator[None]:
    """Work outside requests (a background job) about to write: transactions begun inside take
    the write lock up front, as a state-changing request's do. The job reads first in a
    deferred transaction of its own, so that its computing never holds the lock."""
    from flask import g

    previous = g.get(_WRITING_FLAG)
    setattr(g, _WRITING_FLAG, True)
    try:
        yield
    finally:
        setattr(g, _WRITING_FLAG, previous)


def _begin_statement() -> str:
    from flask import g, has_app_context, has_request_context, request

    if has_app_context() and g.get(_WRITING_FLAG):
        return "BEGIN IMMEDIATE"
    if has_request_context() and request.method in WRITE_METHODS \
            and not g.get(_READ_ONLY_FLAG):
        return "BEGIN IMMEDIATE"
    return "BEGIN"


def configure_sqlite(engine: sa.Engine, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    if engine.dialect.name != "sqlite" or engine in _configured:
        return
    _configured.add(engine)
    timeout = int(busy_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record) -> None:  # noqa: ARG001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={timeout}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Straight to the driver: the BEGIN is bookkeeping, not one of the request's statements
        # (statement-counting tests and the SQL log see only those), but its errors are wrapped
        # like any other, so that "database is locked" reaches the 503 handler.
        statement = _begin_statement()
        try:
            connection.connection.driver_connection.execute(statement)
        except sqlite3.Error as err:
            raise sa.exc.DBAPIError.instance(statement, (), err, sqlite3.Error) from err
