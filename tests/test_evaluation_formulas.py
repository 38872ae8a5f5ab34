"""Acceptance 4 of issue 11: hostile text (a proposal titled `=HYPERLINK(...)`, an imported
category `+cmd`, a session `@SUM(A1)`, an association `-2+3`) never comes out of a CSV or an
XLSX as a formula, through every path; the text is still there (with its apostrophe in CSV), and
a package read back gives the text as it was."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from pvplatform.auth.models import Association, Role
from pvplatform.core.csv_safe import FORMULA_STARTS
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import Stratum
from pvplatform.proposals.models import Proposal
from pvplatform.sessions.models import Meeting
from tests.conftest import login, wipe_database
from tests.examples import TINY

TITLE = '=HYPERLINK("http://evil.example","x")'
CATEGORY = "+cmd"
SESSION = "@SUM(A1)"
ASSOCIATION = "-2+3"
AT = "2026-06-01T00:00:00+00:00"


def hostile_package(folder: Path) -> Path:
    """tiny-process with the district category "east" renamed "+cmd"."""
    shutil.copytree(TINY, folder)
    for name in ("strata.csv", "participant_attributes.csv"):
        path = folder / name
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(",east,", f",{CATEGORY},").replace(
            ",east\n", f",{CATEGORY}\n"), encoding="utf-8")
    return folder


@pytest.fixture
def hostile(db, tmp_path):
    process = import_package(hostile_package(tmp_path / "hostile"), now=utcnow())
    proposal = _db.session.scalar(sa.select(Proposal).where(
        Proposal.process_id == process.id, Proposal.published_at.is_not(None)).limit(1))
    proposal.title = TITLE
    meeting = _db.session.scalar(sa.select(Meeting).where(Meeting.process_id == process.id,
                                                          Meeting.external_ref == "s1"))
    meeting.title = SESSION
    association = _db.session.scalar(sa.select(Association).where(
        Association.external_ref == "a2"))
    association.name = ASSOCIATION
    _db.session.commit()
    assert CATEGORY in set(_db.session.scalars(sa.select(Stratum.category)))
    return process


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def check_csv(text: str, seen: set[str]) -> None:
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or is_number(cell), cell
            seen.add(cell)


def check_xlsx(data: bytes, seen: set[str]) -> None:
    book = load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen.add(cell.value)


def check_zip(data: bytes, seen: set[str]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith(".csv"):
                check_csv(archive.read(name).decode("utf-8"), seen)


def test_the_cli_commands_neutralise(runner, hostile, tmp_path):
    seen: set[str] = set()
    for command in ("indicators", "flags"):
        result = runner.invoke(args=["pv", command, str(hostile.id), "--as-of", AT,
                                     "--format", "csv"])
        assert result.exit_code == 0, result.output
        check_csv(result.output, seen)
    assert "'" + CATEGORY in seen

    out = tmp_path / "out"
    result = runner.invoke(args=["pv", "export", str(hostile.id), "--out", str(out),
                                 "--microdata", "--as-of", AT])
    assert result.exit_code == 0, result.output
    exported: set[str] = set()
    for path in sorted(out.rglob("*.csv")):
        check_csv(path.read_text(encoding="utf-8"), exported)
    for text in (TITLE, CATEGORY, SESSION, ASSOCIATION):
        assert "'" + text in exported, text

    # Read back, the package gives the text as it was written in the database.
    wipe_database()
    again = import_package(out / "microdata", now=utcnow())
    _db.session.commit()
    assert TITLE in set(_db.session.scalars(sa.select(Proposal.title).where(
        Proposal.process_id == again.id)))
    assert CATEGORY in set(_db.session.scalars(sa.select(Stratum.category)))
    assert SESSION in set(_db.session.scalars(sa.select(Meeting.title)))
    assert ASSOCIATION in set(_db.session.scalars(sa.select(Association.name)))


def test_every_web_download_neutralises(client, factory, hostile):
    login(client, factory.user(Role.ADMIN))
    base = f"/evaluate/processes/{hostile.id}"
    seen: set[str] = set()
    for table in ("indicators", "flags", "ledger", "sessions"):
        response = client.get(f"{base}/export.csv", query_string={"as_of": AT, "table": table})
        assert response.status_code == 200
        check_csv(response.get_data(as_text=True), seen)
    assert {"'" + CATEGORY, "'" + SESSION} <= seen

    cells: set[str] = set()
    response = client.get(f"{base}/export.xlsx", query_string={"as_of": AT})
    assert response.status_code == 200
    check_xlsx(response.get_data(), cells)
    assert {CATEGORY, SESSION} <= cells  # typed text, no apostrophe needed

    packaged: set[str] = set()
    for name in ("package", "microdata"):
        response = client.get(f"{base}/{name}.zip", query_string={"as_of": AT})
        assert response.status_code == 200
        check_zip(response.get_data(), packaged)
    for text in (TITLE, CATEGORY, SESSION, ASSOCIATION):
        assert "'" + text in packaged, text
