"""The fast paths of the data-package import keep its guarantees: a chunk checked column by
column leaves the checker as a row-by-row reading would and reports the same errors, ids taken up
front leave the database's own ids consistent, and the import asks the worker for the flags
rather than computing them."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from pvplatform.db import utcnow
from pvplatform.participation import import_read
from pvplatform.participation.import_check import Checker
from pvplatform.participation.import_errors import ErrorList
from pvplatform.participation.import_read import Package
from pvplatform.participation.import_sample import write_sample_package
from pvplatform.participation.import_schema import TABLES
from pvplatform.participation.importer import PackageInvalid, import_package
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Process
from tests.examples import EDGE, TINY


@pytest.fixture(autouse=True)
def english(db):
    with force_locale("en"):
        yield


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 40 rows: a small package then mixes chunks read fast and slowly."""
    monkeypatch.setattr(import_read, "CHUNK", 40)


def _check(package: Path, *, fast: bool, monkeypatch) -> tuple[Checker, ErrorList]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(Checker, "_FAST", {})
        errors = ErrorList()
        files = Package(package, errors)
        checker = Checker(errors, files.unreadable)
        for spec in TABLES:
            checker.check_table(spec.name, files.open(spec, errors))
        checker.finish()
    return checker, errors


def _state(checker: Checker) -> tuple[object, ...]:
    return (checker.ids, checker.keys, checker.strata_sums, checker.turns, checker.counts,
            checker.first_process_line)


def _errors(errors: ErrorList) -> list[tuple[str, int, str | None, str]]:
    return [(e.table, e.line, e.column, e.reason) for e in errors.items]


@pytest.mark.parametrize("package", [TINY, EDGE], ids=["tiny", "edge"])
def test_columns_checked_at_once_leave_the_state_of_a_row_by_row_reading(
        db, small_chunks, monkeypatch, package):
    fast, fast_errors = _check(package, fast=True, monkeypatch=monkeypatch)
    slow, slow_errors = _check(package, fast=False, monkeypatch=monkeypatch)
    assert not fast_errors and not slow_errors
    assert _state(fast) == _state(slow)
    assert sum(fast.counts.values()) > 500


def _break(package: Path, seed: int) -> None:
    """Wrong cells, unknown and repeated keys scattered over the big tables."""
    rng = random.Random(seed)
    breakages = {
        "votes": [(0, "pr999"), (2, "2"), (3, "2026-02-01T10:00:00"), (1, "")],
        "perceptions": [(3, "session"), (5, "6"), (2, "happiness"), (0, "p1\u202e")],
        "registrations": [(3, "2020-01-01T00:00:00+00:00"), (0, "s9")],
        "participants": [(1, "resident"), (0, "p1"), (3, "0001-01-01T00:30:00+01:00")],
        "participant_attributes": [(0, "x" * 201)],
        "speaking_turns": [(3, "started_at")],  # a turn ending as it starts
    }
    for table, changes in breakages.items():
        path = package / f"{table}.csv"
        lines = path.read_text(encoding="utf-8").split("\n")
        for column, value in changes:
            line = rng.randrange(1, len([x for x in lines if x]))
            cells = lines[line].split(",")
            cells[column] = cells[2] if value == "started_at" else value
            lines[line] = ",".join(cells)
        lines.insert(rng.randrange(1, len(lines) - 1), lines[rng.randrange(1, len(lines) - 1)])
        path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_broken_package_gets_the_errors_of_a_row_by_row_reading(
        db, small_chunks, monkeypatch, tmp_path, seed):
    package = tmp_path / "package"
    write_sample_package(package, participants=120, sessions=4, seed=seed)
    _break(package, seed)
    _, fast_errors = _check(package, fast=True, monkeypatch=monkeypatch)
    _, slow_errors = _check(package, fast=False, monkeypatch=monkeypatch)
    assert fast_errors.total == slow_errors.total >= 15
    assert _errors(fast_errors) == _errors(slow_errors)


def test_rows_made_after_an_import_get_new_ids(db, factory):
    """The import takes its ids before inserting: the database's own numbering (a PostgreSQL
    sequence) must carry on after them, for the next import and for rows made by hand."""
    first = import_package(TINY, now=utcnow())
    second = import_package(TINY, now=utcnow())
    db.session.commit()
    imported = db.session.scalar(sa.select(sa.func.max(Participant.id)))
    person = factory.participant(kind="citizen")
    process = factory.process()
    db.session.commit()
    assert person.id > imported
    assert process.id > max(first.id, second.id)


def test_reserved_ids_follow_the_tables_own_numbering(db, factory):
    from pvplatform.jobs.models import RefreshRequest
    from pvplatform.participation.import_bulk import reserve_ids

    process = factory.process()
    db.session.add_all(RefreshRequest(process_id=process.id) for _ in range(3))
    db.session.flush()
    top = db.session.scalar(sa.select(sa.func.max(RefreshRequest.id)))
    # An AUTOINCREMENT table (SQLite) gives no id twice, even once its rows are gone; a
    # PostgreSQL sequence never goes back.
    db.session.execute(sa.delete(RefreshRequest))
    reserved = list(reserve_ids(RefreshRequest.__table__, 2))
    assert len(set(reserved)) == 2 and min(reserved) > top
    db.session.rollback()


@pytest.mark.sqlite_only
def test_the_connections_page_cache_comes_back_after_an_import(db, tmp_path):
    package = tmp_path / "sample"
    write_sample_package(package, participants=2000, sessions=4, seed=1)
    before = db.session.execute(sa.text("PRAGMA cache_size")).scalar()
    import_package(package, now=utcnow())
    assert db.session.execute(sa.text("PRAGMA cache_size")).scalar() == before
    db.session.rollback()


def test_a_file_changed_between_the_passes_is_refused(db, tmp_path, monkeypatch):
    package = tmp_path / "package"
    shutil.copytree(TINY, package, ignore=shutil.ignore_patterns("expected"))
    real = Checker.finish

    def finish_then_change(checker: Checker) -> None:
        real(checker)
        path = package / "votes.csv"
        path.write_text(path.read_text(encoding="utf-8").replace(",1,", ",-1,", 1),
                        encoding="utf-8")

    monkeypatch.setattr(Checker, "finish", finish_then_change)
    with pytest.raises(PackageInvalid) as caught:
        import_package(package, now=utcnow())
    db.session.rollback()
    assert "changed while it was being imported" in str(caught.value.errors[0])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Process)) == 0


# ---------------------------------------------------------------- the flags after an import



def test_the_import_command_requests_the_flags_and_computes_none(db, runner, background,
                                                                 computations):
    from pvplatform.jobs.models import RefreshRequest
    from pvplatform.jobs.refresh import run_pending

    result = runner.invoke(args=["pv", "import", str(TINY)])
    assert result.exit_code == 0, result.output
    process_id = int(result.stdout.strip().splitlines()[-1])
    assert computations == []  # the import did not wait for the engine
    requested = db.session.scalars(sa.select(RefreshRequest.process_id)).all()
    assert requested == [process_id]
    assert background.huey.pending_count() == 1  # the worker is asked, once committed
    assert run_pending(process_id, now=utcnow()) is True
    assert computations == [process_id]
