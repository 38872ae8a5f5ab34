"""How long one SQL statement of a web request may run on PostgreSQL.

gunicorn kills a worker whose request outlasts its timeout (30 s by default), but the statement
that request sent goes on running on the server, holding a connection and its locks: a statement
planned from stale statistics (a table filled in bulk before autovacuum sampled it) was seen
running for ten minutes after its client had gone. Connections opened to serve requests are told
to cancel any statement past PV_STATEMENT_TIMEOUT seconds, a little under gunicorn's timeout, so
that the request still answers ("busy, try again", a 503) and the server is freed.

Only connections opened while serving a request: the worker's readings, imports, exports,
backups and migrations (command-line processes) may legitimately run longer. SQLite has no such
setting (and no server to free).
"""

from __future__ import annotations

import weakref
from typing import Any

import sqlalchemy as sa
from flask import Flask, has_request_context
from sqlalchemy import event

_configured: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def configure_statement_timeout(app: Flask, engine: sa.Engine) -> None:
    seconds = float(app.config.get("PV_STATEMENT_TIMEOUT", 0) or 0)
    if engine.dialect.name != "postgresql" or seconds <= 0 or engine in _configured:
        return
    _configured.add(engine)
    setting = _setting(seconds)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:  # noqa: ARG001
        if not has_request_context():
            return
        # Outside a transaction, so that the pool's rollback on return does not undo it.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {setting}")
        finally:
            dbapi_connection.autocommit = autocommit


def limit_this_transaction(seconds: float) -> None:
    """The same limit for the statements of the session's current transaction only (SET
    LOCAL), on PostgreSQL: the worker's reading, whatever the connection's own setting."""
    from pvplatform.extensions import db

    if seconds > 0 and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text(f"SET LOCAL statement_timeout = {_setting(seconds)}"))


def cancelled_at_limit(err: BaseException) -> bool:
    """Whether the database cancelled a statement at its time limit."""
    return isinstance(err, sa.exc.OperationalError) and "statement timeout" in str(err.orig)


def _setting(seconds: float) -> int:
    return max(1, round(seconds * 1000))  # milliseconds, PostgreSQL's unit for the setting
