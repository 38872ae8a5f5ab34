"""Appending many rows to one table, as fast as each database allows, in the session's transaction.

SQLAlchemy's executemany spends most of its time on per-row bookkeeping; an import of a million
rows does better with the driver's own bulk path: `COPY ... FROM STDIN` on PostgreSQL (psycopg),
`executemany` on SQLite. Values still go through each column type's bind processor, so what is
stored is exactly what the ORM would store; rows come column by column, so that a processor runs
once per distinct value of a column rather than once per cell. Whenever the fast path cannot be
sure of that (a table with columns the caller does not fill, whose defaults live in Python;
another driver), it falls back to SQLAlchemy's Core executemany.

Also here: the ids of rows taken before they are inserted (`reserve_ids`), and the SQLite
settings of a bulk load (`bulk_load_settings`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db
from pvplatform.participation.import_schema import convert_distinct

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


class Same:
    """One value for every row of a chunk, converted once."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


Values = Sequence[Any] | Same  # one column of a chunk


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

    def _rows(self, columns: Sequence[Values], count: int, *,
              processed: bool) -> Iterator[tuple[Any, ...]]:
        """The chunk's rows from its columns, converted column by column when `processed`."""
        ready: list[Iterable[Any]] = []
        for values, process in zip(columns, self.processors, strict=True):
            if not processed:
                process = None
            if isinstance(values, Same):
                value = values.value
                ready.append(repeat(value if process is None or value is None
                                    else process(value), count))
            elif process is None:
                ready.append(values)
            else:
                ready.append(convert_distinct(
                    lambda value, process=process: None if value is None else process(value),
                    values))
        if not ready:
            return iter(())
        return zip(*ready, strict=True)

    def write(self, columns: Sequence[Values], count: int) -> None:
        """Appends `count` rows given column by column (in the order of `self.columns`)."""
        if not count:
            return
        if self.mode == "core":
            db.session.execute(self.table.insert(), [
                dict(zip(self.columns, row, strict=True))
                for row in self._rows(columns, count, processed=False)])
            return
        names = ", ".join(self.dialect.identifier_preparer.quote(c) for c in self.columns)
        table_name = self.dialect.identifier_preparer.format_table(self.table)
        cursor = db.session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.mode == "sqlite":
                marks = ", ".join("?" for _ in self.columns)
                # Table and column names come from the model, values are bound (bandit B608).
                cursor.executemany(f"INSERT INTO {table_name} ({names}) VALUES ({marks})",  # noqa: S608  # nosec B608
                                   self._rows(columns, count, processed=True))
            else:
                with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
                    for row in self._rows(columns, count, processed=True):
                        copy.write_row(row)
        finally:
            cursor.close()


def reserve_ids(table: sa.Table, count: int) -> Sequence[int]:
    """Ids for `count` rows about to be inserted into `table`, so that none has to be read back
    (an ordered RETURNING went through SQLAlchemy one statement per row on SQLite, and COPY has
    no RETURNING).

    SQLite: the ids after the largest, the ids SQLite itself would give; safe because the caller
    holds the write lock (the import inserted its process first), so that no one else inserts
    until it commits. PostgreSQL: taken from the id's sequence, which other sessions go on using
    meanwhile, so the sequence needs no setval afterwards.
    """
    if count <= 0:
        return range(0)
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite":
        top = db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0
        if table.dialect_options["sqlite"]["autoincrement"]:
            # AUTOINCREMENT never gives an id again, even one whose row was deleted.
            used = db.session.scalar(sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"),
                                     {"t": table.name})
            top = max(top, used or 0)
        return range(top + 1, top + 1 + count)
    if dialect == "postgresql":
        sequence = sa.func.pg_get_serial_sequence(table.name, "id")
        return sorted(db.session.scalars(
            sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, count))))
    # The platform runs on these two databases only (config.py); another is a set-up mistake.
    raise RuntimeError(f"the importer stores into SQLite or PostgreSQL, not {dialect}")


# SQLite's page cache is 2 MB by default, far less than the indexes that a large import writes
# into at scattered places (votes by participant, answers by person and value): sized to what
# the package is likely to write (about three times its CSV files), bounded.
_CACHE_PER_PACKAGE_BYTE = 3
_CACHE_MAX_KIB = 512 * 1024


@contextmanager
def bulk_load_settings(package_bytes: int) -> Iterator[None]:
    """For a bulk load in the current transaction: on SQLite, a page cache that holds what the
    load writes; the connection's own size comes back after. Durability is untouched (journal
    mode and synchronous stay what they are). temp_store is left alone: SQLite refuses to
    change it inside a transaction, and the load sorts nothing large."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    cache_size = int(raw.execute("PRAGMA cache_size").fetchone()[0])
    # A negative cache_size is in KiB, a positive one in pages.
    page_size = int(raw.execute("PRAGMA page_size").fetchone()[0])
    current_kib = -cache_size if cache_size < 0 else cache_size * page_size // 1024
    wanted_kib = min(_CACHE_MAX_KIB, package_bytes * _CACHE_PER_PACKAGE_BYTE // 1024)
    if wanted_kib <= current_kib:
        yield
        return
    raw.execute(f"PRAGMA cache_size = {-wanted_kib}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {cache_size}")
