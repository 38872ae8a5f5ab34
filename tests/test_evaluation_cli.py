"""`flask pv export` (issue 11): the packages from the command line, checked and audited."""

from __future__ import annotations

import csv
import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.evaluation.audit import COMMAND_LINE
from pvplatform.evaluation.models import ExportChannel, ExportFormat, ExportRecord
from pvplatform.extensions import db as _db
from pvplatform.participation.importer import import_package
from tests.examples import TINY


@pytest.fixture
def tiny(db):
    process = import_package(TINY, now=utcnow())
    _db.session.commit()
    return process


def export(runner, *args: str):
    return runner.invoke(args=["pv", "export", *args])


def test_export_writes_both_packages_and_records_them(runner, tiny, tmp_path):
    import frictionless

    out = tmp_path / "out"
    result = export(runner, str(tiny.id), "--out", str(out), "--microdata",
                    "--as-of", "2026-03-01T00:00:00+00:00", "--k", "5")
    assert result.exit_code == 0, result.output
    aggregated = json.loads((out / "aggregated" / "datapackage.json").read_text())
    assert aggregated["name"] == "pv-indicators" and aggregated["k"] == 5
    assert aggregated["as_of"] == "2026-03-01T00:00:00+00:00"
    microdata = json.loads((out / "microdata" / "datapackage.json").read_text())
    assert microdata["name"] == "pv-process"
    for folder in ("aggregated", "microdata"):
        report = frictionless.validate(str(out / folder / "datapackage.json"))
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    with (out / "microdata" / "attendances.csv").open(encoding="utf-8", newline="") as f:
        checked_in = [datetime.fromisoformat(r["checked_in_at"]) for r in csv.DictReader(f)]
    assert checked_in and max(checked_in) <= datetime.fromisoformat("2026-03-01T00:00:00+00:00")
    records = _db.session.scalars(sa.select(ExportRecord).order_by(ExportRecord.id)).all()
    assert [(r.format, r.microdata, r.k) for r in records] == [
        (ExportFormat.PACKAGE, False, 5), (ExportFormat.MICRODATA, True, None)]
    for record in records:
        assert record.channel == ExportChannel.CLI and record.user_id is None
        assert record.actor_label == COMMAND_LINE and record.process_id == tiny.id
        assert record.as_of.isoformat() == "2026-03-01T00:00:00+00:00"


def test_aggregated_only_by_default_with_the_configured_k(runner, tiny, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()  # an existing empty folder is fine
    result = export(runner, str(tiny.id), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["aggregated"]
    assert json.loads((out / "aggregated" / "datapackage.json").read_text())["k"] == 10
    record = _db.session.scalars(sa.select(ExportRecord)).one()
    assert record.format == ExportFormat.PACKAGE and not record.microdata


def test_bad_requests_are_refused_and_write_nothing(runner, tiny, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    result = export(runner, str(tiny.id), "--out", str(full))
    assert result.exit_code != 0 and "not empty" in result.output
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"]

    result = export(runner, str(tiny.id), "--out", str(tmp_path / "a"), "--k", "2")
    assert result.exit_code != 0 and "at least 3" in result.output
    result = export(runner, "9999", "--out", str(tmp_path / "b"))
    assert result.exit_code != 0 and "no process with id 9999" in result.output
    result = export(runner, str(tiny.id), "--out", str(tmp_path / "c"), "--as-of",
                    "2026-03-01T00:00:00")
    assert result.exit_code != 0 and "offset" in result.output
    result = export(runner, str(tiny.id))
    assert result.exit_code != 0 and "--out" in result.output
    for name in ("a", "b", "c"):
        assert not (tmp_path / name).exists()
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 0
