"""The number of SQL statements behind the full indicator and flag set does not grow with data."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event

from pvplatform.db import utcnow
from pvplatform.indicators import compute_flags, compute_indicators
from pvplatform.participation.import_sample import write_sample_package
from pvplatform.participation.importer import import_package
from tests.examples import TINY


def statements(db, process_id: int, as_of: datetime) -> tuple[int, int, int]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        seen.append(statement)

    db.session.expire_all()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        indicators = compute_indicators(process_id, as_of)
        flags = compute_flags(process_id, as_of)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen), len(indicators), len(flags)


def test_statement_count_does_not_depend_on_data_size(db, tmp_path):
    tiny = import_package(TINY, now=utcnow())
    counts = write_sample_package(tmp_path / "big", participants=900, sessions=11, seed=7)
    big = import_package(tmp_path / "big", now=utcnow())
    db.session.commit()
    assert counts["participants"] == 900 and counts["votes"] > 1000

    early = datetime(2026, 3, 1, tzinfo=UTC)
    late = datetime(2026, 12, 1, tzinfo=UTC)
    small_early, rows_small, _ = statements(db, tiny.id, early)
    big_late, rows_big, flags_big = statements(db, big.id, late)
    small_late, _, _ = statements(db, tiny.id, late)
    big_early, _, _ = statements(db, big.id, early)
    assert rows_big > rows_small and flags_big > 0  # more sessions: more rows, same queries
    assert small_early == big_late == small_late == big_early
    # Two readings (indicators, then flags) of about 25 statements each, the sets read by
    # several statements kept in temporary tables.
    assert small_early < 60, small_early


def test_combined_computation_reads_once_and_agrees(db):
    from pvplatform.indicators import compute_indicators_and_flags

    process = import_package(TINY, now=utcnow())
    db.session.commit()
    at = datetime(2026, 6, 1, tzinfo=UTC)
    rows, flags = compute_indicators_and_flags(process.id, at)
    assert rows == compute_indicators(process.id, at)
    assert [f.key for f in flags] == [f.key for f in compute_flags(process.id, at)]
    separate, _, _ = statements(db, process.id, at)
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        compute_indicators_and_flags(process.id, at)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(seen) < separate
