"""Evaluators' downloads (issue 11): who may take which file, what comes back, and the audit of
every download (acceptances 1 and 6)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.evaluation.grants import grant, revoke
from pvplatform.evaluation.labelled import labelled_columns
from pvplatform.evaluation.models import ExportChannel, ExportFormat, ExportRecord, GrantScope
from pvplatform.evaluation.tables import INDICATOR_COLUMNS, LEDGER_COLUMNS, SESSION_COLUMNS
from pvplatform.extensions import db as _db
from pvplatform.participation.importer import import_package
from tests.conftest import login
from tests.examples import TINY

ROUTES = ("/evaluate/processes/{id}/export.csv", "/evaluate/processes/{id}/export.xlsx",
          "/evaluate/processes/{id}/export.json", "/evaluate/processes/{id}/package.zip")
MICRODATA = "/evaluate/processes/{id}/microdata.zip"


def give(evaluator, process, scope: GrantScope, *, days: int = 30):
    row = grant(actor=None, evaluator=evaluator, process=process, scope=scope,
                expires_at=utcnow() + timedelta(days=days), purpose="Évaluation du processus",
                now=utcnow())
    _db.session.commit()
    return row


@pytest.fixture
def process(db, factory):
    return factory.process()


@pytest.fixture
def evaluator(factory):
    return factory.user(Role.EVALUATOR, name="Eva Luator")


def get(client, url: str, process) -> int:
    return client.get(url.format(id=process.id)).status_code


def test_anonymous_visitors_are_sent_to_log_in(client, process):
    for url in (*ROUTES, MICRODATA):
        response = client.get(url.format(id=process.id))
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.ASSOCIATION, Role.STAFF, Role.ELECTED,
                                  Role.EVALUATOR])
def test_people_without_a_grant_are_refused(client, factory, process, role):
    login(client, factory.user(role))
    for url in (*ROUTES, MICRODATA):
        assert get(client, url, process) == 403, url
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 0


def test_a_read_grant_opens_the_tables_not_the_microdata(client, process, evaluator):
    read_grant = give(evaluator, process, GrantScope.READ)
    login(client, evaluator)
    for url in ROUTES:
        assert get(client, url, process) == 200, url
    assert get(client, MICRODATA, process) == 403
    records = _db.session.scalars(sa.select(ExportRecord).order_by(ExportRecord.id)).all()
    assert [r.format for r in records] == [ExportFormat.CSV, ExportFormat.XLSX,
                                          ExportFormat.JSON, ExportFormat.PACKAGE]
    for record in records:
        assert record.channel == ExportChannel.WEB and record.user_id == evaluator.id
        assert record.grant_id == read_grant.id and record.k == 10 and not record.microdata
        assert record.process_id == process.id
    # An agreement alone is not enough: microdata needs the read grant too.
    give(evaluator, process, GrantScope.MICRODATA)
    assert get(client, MICRODATA, process) == 200


def test_expired_or_revoked_grants_stop_working(client, process, evaluator, factory):
    read_grant = give(evaluator, process, GrantScope.READ)
    agreement = give(evaluator, process, GrantScope.MICRODATA)
    login(client, evaluator)
    assert get(client, MICRODATA, process) == 200
    agreement.granted_at = utcnow() - timedelta(days=10)
    agreement.expires_at = utcnow() - timedelta(seconds=1)
    _db.session.commit()
    assert get(client, MICRODATA, process) == 403
    assert get(client, ROUTES[0], process) == 200
    revoke(actor=factory.user(Role.ADMIN), grant_row=read_grant, now=utcnow())
    _db.session.commit()
    for url in (*ROUTES, MICRODATA):
        assert get(client, url, process) == 403


def test_a_grant_on_another_process_opens_nothing_here(client, factory, process, evaluator):
    other = factory.process(title="Autre processus")
    give(evaluator, other, GrantScope.READ)
    give(evaluator, other, GrantScope.MICRODATA)
    login(client, evaluator)
    for url in (*ROUTES, MICRODATA):
        assert get(client, url, process) == 403
        assert get(client, url, other) == 200


def test_unknown_process_format_table_and_instant(client, factory, process):
    login(client, factory.user(Role.ADMIN))
    assert client.get("/evaluate/processes/9999/export.csv").status_code == 404
    assert client.get("/evaluate/processes/9999/microdata.zip").status_code == 404
    assert client.get(f"/evaluate/processes/{process.id}/export.pdf").status_code == 404
    response = client.get(f"/evaluate/processes/{process.id}/export.csv?table=users")
    assert response.status_code == 400
    for bad in ("yesterday", "2026-03-01T00:00:00", "9" * 60, "2026-13-01T00:00:00Z"):
        for url in (*ROUTES, MICRODATA):
            response = client.get(url.format(id=process.id), query_string={"as_of": bad})
            assert response.status_code == 400, (url, bad)
            assert "ISO 8601" in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 0


@pytest.fixture
def tiny(db):
    process = import_package(TINY, now=utcnow())
    _db.session.commit()
    return process


def test_the_files_an_admin_downloads(client, factory, tiny, tmp_path):
    import frictionless

    login(client, factory.user(Role.ADMIN))
    base = f"/evaluate/processes/{tiny.id}"
    at = {"as_of": "2026-06-01T00:00:00+00:00"}
    for table, columns in (("indicators", INDICATOR_COLUMNS), ("ledger", LEDGER_COLUMNS),
                           ("sessions", SESSION_COLUMNS), ("flags", None)):
        response = client.get(f"{base}/export.csv", query_string={**at, "table": table})
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert response.headers["Cache-Control"] == "no-store"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert f"pv-process-{tiny.id}-{table}-2026-06-01.csv" in disposition
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
        assert rows
        if columns:
            assert tuple(rows[0]) == labelled_columns(columns)
        response.close()

    response = client.get(f"{base}/export.json", query_string=at)
    document = json.loads(response.get_data())
    assert document["k"] == 10 and document["as_of"] == "2026-06-01T00:00:00+00:00"
    assert any(r["suppressed"] for r in document["tables"]["indicators"])

    response = client.get(f"{base}/export.xlsx", query_string=at)
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames[0] == "README" and "flags" in book.sheetnames

    for name in ("package", "microdata"):
        response = client.get(f"{base}/{name}.zip", query_string=at)
        assert response.status_code == 200 and response.mimetype == "application/zip"
        assert response.headers["Cache-Control"] == "no-store"
        assert "2026-06-01.zip" in response.headers["Content-Disposition"]
        folder = tmp_path / name
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
            archive.extractall(folder)
        report = frictionless.validate(str(folder / "datapackage.json"))
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    descriptor = json.loads((tmp_path / "microdata" / "datapackage.json").read_text())
    assert descriptor["name"] == "pv-process"
    records = _db.session.scalars(sa.select(ExportRecord).order_by(ExportRecord.id)).all()
    assert [r.format for r in records][-2:] == [ExportFormat.PACKAGE, ExportFormat.MICRODATA]
    assert records[-1].microdata and records[-1].k is None and records[-1].grant_id is None
    assert all(r.as_of.isoformat() == "2026-06-01T00:00:00+00:00" for r in records)
    assert not list(Path(tempfile.gettempdir()).glob("pv-export-*")), "folders are removed"
