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
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db

_SAMPLES: tuple[tuple[type[sa.types.TypeEngine[Any]], Any], ...] = (
    (sa.DateTime, datetime(2026, 3, 14, 17, 30, 5, 120, tzinfo=UTC)),
    (sa.Boolean, True),
    (sa.Integer, 7),
    (sa.Float, 0.25),
)


def _sqlite_utc(value: datetime) -> str:
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _converter(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """The column's bind processor, or a cheaper equivalent checked on a sample value.

    Type processing dominates the cost of a bulk insert; most processors are the identity for
    the values the importer passes (UTC datetimes, validated enum strings), and SQLite's
    datetime processor is a slow spelling of isoformat.
    """
    column_type = column.type
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return None
    sample: Any = None
    if isinstance(column_type, sa.Enum):
        sample = column_type.enums[0] if column_type.enums else None
    else:
        impl = getattr(column_type, "impl_instance", column_type)
        for kind, value in _SAMPLES:
            if isinstance(impl, kind):
                sample = value
                break
    if sample is None:
        return processor
    expected = processor(sample)
    if expected == sample and type(expected) is type(sample):
        return None
    if isinstance(sample, datetime) and expected == _sqlite_utc(sample):
        return _sqlite_utc
    return processor


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
        self.processors = [_converter(table.c[name], self.dialect) for name in self.columns]

    def _processed(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        active = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        if not active:
            return [tuple(row) for row in rows]
        out = []
        # Many cells repeat the same object (the import's `now`): convert it once.
        last_in: list[Any] = [None] * len(self.columns)
        last_out: list[Any] = [None] * len(self.columns)
        for row in rows:
            values = list(row)
            for i, process in active:
                value = values[i]
                if value is None:
                    continue
                if value is last_in[i]:
                    values[i] = last_out[i]
                else:
                    values[i] = last_out[i] = process(value)
                    last_in[i] = value
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
                # Table and column names come from the model, values are bound (bandit B608).
                cursor.executemany(f"INSERT INTO {table_name} ({names}) VALUES ({marks})",  # noqa: S608  # nosec B608
                                   self._processed(rows))
            else:
                with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
                    for row in self._processed(rows):
                        copy.write_row(row)
        finally:
            cursor.close()
