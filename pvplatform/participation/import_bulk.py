"""Appending many rows to one table, as fast as each database allows, in the session's transaction.

SQLAlchemy's executemany spends most of its time on per-row bookkeeping; an import of a million
rows does better with the driver's own bulk path: `COPY ... FROM STDIN` on PostgreSQL (psycopg),
`executemany` on SQLite. Values still go through each column type's bind processor, so what is
stored is exactly what the ORM would store. Whenever the fast path cannot be sure of that (a
table with columns the caller does not fill, whose defaults live in Python; another driver), it
falls back to SQLAlchemy's Core executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db


class BulkWriter:
    def __init__(self, table: sa.Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        connection = db.session.connection()
        self.dialect = connection.dialect
        filled = set(self.columns)
        unfilled = {c.name for c in table.columns if not c.primary_key} - filled
        self.mode = "core"
        if not unfilled and filled <= {c.name for c in table.columns}:
            if self.dialect.name == "sqlite":
                self.mode = "sqlite"
            elif self.dialect.name == "postgresql" and self.dialect.driver == "psycopg":
                self.mode = "copy"
        processors: list[Callable[[Any], Any] | None] = []
        for name in self.columns:
            column_type = table.c[name].type
            processors.append(column_type.dialect_impl(self.dialect).bind_processor(self.dialect))
        self.processors = processors

    def _processed(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        active = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        if not active:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, process in active:
                if values[i] is not None:
                    values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.mode == "core":
            db.session.execute(self.table.insert(),
                               [dict(zip(self.columns, row, strict=True)) for row in rows])
            return
        names = ", ".join(self.dialect.identifier_preparer.quote(c) for c in self.columns)
        table_name = self.dialect.identifier_preparer.format_table(self.table)
        cursor = db.session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.mode == "sqlite":
                marks = ", ".join("?" for _ in self.columns)
                cursor.executemany(f"INSERT INTO {table_name} ({names}) VALUES ({marks})",  # noqa: S608 - names come from the model
                                   self._processed(rows))
            else:
                with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
                    for row in self._processed(rows):
                        copy.write_row(row)
        finally:
            cursor.close()
