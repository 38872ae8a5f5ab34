"""The sets a reading computes once (`indicators.temporary.kept`): they hold the query's rows
for the block only, leave nothing behind (after the block, or a failure and its rollback), and
the engine reads the same figures from them as from the sets computed in each statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from pvplatform.extensions import db as _db
from pvplatform.indicators import facts
from pvplatform.indicators.sets import ProcessSets
from pvplatform.indicators.temporary import TEMPORARY_PREFIX, kept, temporary_table
from pvplatform.participation.importer import import_package
from tests.examples import PULSE, TINY

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
NUMBERS = temporary_table("test_numbers", sa.Column("x", sa.Integer))


def _exists(name: str) -> bool:
    try:
        _db.session.execute(sa.text(f"SELECT count(*) FROM {TEMPORARY_PREFIX}{name}"))  # noqa: S608
    except sa.exc.DBAPIError:
        _db.session.rollback()
        return False
    return True


def test_the_table_holds_the_rows_for_the_block_only(db):
    query = sa.select(sa.literal(7).label("x")).union_all(sa.select(sa.literal(9)))
    with kept(NUMBERS, query) as table:
        assert table.name == f"{TEMPORARY_PREFIX}test_numbers"
        assert sorted(db.session.scalars(sa.select(table.c.x))) == [7, 9]
    assert not _exists("test_numbers")


def test_a_failure_in_the_block_leaves_nothing_behind(db):
    query = sa.select(sa.literal(1).label("x"))
    with pytest.raises(ZeroDivisionError), kept(NUMBERS, query):
        raise ZeroDivisionError
    db.session.rollback()
    assert not _exists("test_numbers")
    # The same table can be taken again on the same connection.
    with kept(NUMBERS, query) as table:
        assert db.session.scalar(sa.select(sa.func.count()).select_from(table)) == 1


def _as_numbers(found: facts.Facts) -> dict:
    return {k: v for k, v in vars(found).items() if k != "sessions"}


@pytest.mark.parametrize("package", [TINY, PULSE], ids=["tiny", "pulse"])
def test_the_kept_sets_give_the_figures_of_the_sets_computed_in_each_statement(
        db, monkeypatch, package):
    process = import_package(package, now=AS_OF)
    db.session.commit()
    kept_reading = facts.gather(process.id, AS_OF)
    # Twice in one transaction: each reading drops what it kept.
    assert _as_numbers(facts.gather(process.id, AS_OF)) == _as_numbers(kept_reading)

    class Nothing:
        def __init__(self, sets: ProcessSets) -> None:
            self.sets = sets

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(facts, "kept_sets", Nothing)
    computed = facts.gather(process.id, AS_OF)
    assert _as_numbers(computed) == _as_numbers(kept_reading)
    assert computed.perception or computed.active_participants
