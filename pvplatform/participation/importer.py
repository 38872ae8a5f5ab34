"""Import of a whole process from a data package (DATA.md): all of it, or nothing.

Two passes over the CSV files. The first (import_check) reads every row and checks everything
(columns, values, enums, timestamps, references, repeated keys) while keeping only the package
ids, so that a refused package costs no database work and a large one no memory for its rows.
The second (import_store) reads the files again and stores them with bulk inserts in the
caller's transaction (the caller commits), mapping package ids to new rows whose `external_ref`
is the package id.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pvplatform.core.statistics import refresh_statistics
from pvplatform.extensions import db
from pvplatform.participation.import_bulk import bulk_load_settings
from pvplatform.participation.import_check import Checker
from pvplatform.participation.import_errors import (
    DESCRIPTOR,
    MAX_REPORTED_ERRORS,
    ErrorList,
    PackageError,
    PackageInvalid,
)
from pvplatform.participation.import_read import Package
from pvplatform.participation.import_schema import TABLES
from pvplatform.participation.import_store import IMPORTED_MODELS, Store
from pvplatform.processes.models import Process

__all__ = ["DESCRIPTOR", "MAX_REPORTED_ERRORS", "ImportProgress", "PackageError",
           "PackageInvalid", "import_package"]


class ImportProgress(Protocol):
    def start(self, phase: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class _NoProgress:
    def start(self, phase: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


def import_package(path: Path, *, now: datetime,
                   progress: ImportProgress | None = None) -> Process:
    """Checks the whole package, then stores it as a new process; raises PackageInvalid.

    Nothing is committed here: the caller commits (or rolls back) the transaction. The stored
    flags are not computed here either: the process is marked for a refresh, which the commit
    turns into a request for the worker (or, with PV_REFRESH=inline, a refresh before it).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    progress = progress or _NoProgress()
    now = now.astimezone(UTC)
    # Millions of short-lived, acyclic objects: the cyclic collector would rescan the large
    # id maps again and again for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import(Path(path), now=now, progress=progress)
    finally:
        if collecting:
            gc.enable()


def _import(path: Path, *, now: datetime, progress: ImportProgress) -> Process:
    errors = ErrorList()
    package = Package(path, errors)
    if errors:
        raise errors.refuse()
    package_bytes = sum(package.size(spec.name) for spec in TABLES)
    progress.start("check", package_bytes)
    checker = Checker(errors, package.unreadable)
    for spec in TABLES:
        checker.check_table(spec.name, package.open(spec, errors))
        progress.advance(package.size(spec.name))
    checker.finish()
    if errors:
        raise errors.refuse()
    counts = checker.counts
    del checker  # its id sets can be large; the store pass builds its own maps
    progress.start("store", sum(counts.values()))
    with bulk_load_settings(package_bytes):
        process_id = Store(package, counts, now=now, progress=progress).run()
    refresh_statistics(IMPORTED_MODELS)
    # Bulk inserts bypass the ORM events that refresh stored flags: ask for it explicitly.
    from pvplatform.indicators.autorefresh import mark_dirty

    mark_dirty(process_id)
    process = db.session.get(Process, process_id)
    assert process is not None
    return process
