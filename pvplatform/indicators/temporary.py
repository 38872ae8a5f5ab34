"""A set that several statements of one reading read, computed once into a temporary table of
the reading's connection (`kept`): at city size the active participants and the latest
perception answers each cost a few hundred milliseconds, and were computed again in every
statement that read them.

The table lives in the reading's transaction only: created and filled at the start of the
block, dropped at its end (a transaction rolled back drops it too: DDL is transactional in both
databases). It takes no lock on the process's tables (SQLite keeps temporary
tables in a database of their own; PostgreSQL in the session's own schema), so writers go on,
and the reading still sees the data of its transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from pvplatform.extensions import db

# Every temporary table's name starts so: nothing of the application's schema does.
TEMPORARY_PREFIX = "pv_tmp_"
# Where each database keeps a connection's temporary tables: the drop names it, so that it can
# never reach a table of the application's own schema.
_TEMPORARY_SCHEMA = {"sqlite": "temp", "postgresql": "pg_temp"}


# The temporary tables' definitions, made once: a statement naming a table is compiled once and
# its compiled form reused (SQLAlchemy's statement cache knows a table by identity; a table
# defined again at each reading would compile every statement again).
_TABLES = sa.MetaData()


def temporary_table(name: str, *columns: sa.Column) -> sa.Table:
    """A temporary table's definition, named TEMPORARY_PREFIX + `name`; define it once."""
    return sa.Table(TEMPORARY_PREFIX + name, _TABLES, *columns, prefixes=["TEMPORARY"])


@contextlib.contextmanager
def kept(table: sa.Table, query: sa.Select | sa.CompoundSelect) -> Iterator[sa.Table]:
    """The rows of `query` (its columns in the order of the table's) in the temporary table
    for the block."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    schema = _TEMPORARY_SCHEMA.get(dialect)
    drop = sa.text(f"DROP TABLE IF EXISTS {schema}.{table.name}" if schema
                   else f"DROP TABLE IF EXISTS {table.name}")
    table.create(connection)
    connection.execute(table.insert().from_select([c.name for c in table.columns], query))
    if dialect == "postgresql":
        # Without statistics the planner guesses a table's size, and may loop over it.
        connection.execute(sa.text(f"ANALYZE {table.name}"))
    try:
        yield table
    finally:
        # After a database error PostgreSQL refuses any statement until the rollback, which
        # drops the table anyway.
        with contextlib.suppress(sa.exc.DBAPIError):
            connection.execute(drop)
