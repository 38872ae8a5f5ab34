"""Importing a whole process by uploading its zipped data package (admin only)."""

from __future__ import annotations

import csv
import html
import io
import stat
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from pvplatform.moderation.models import AuditLog
from pvplatform.participation import import_views
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Vote
from pvplatform.sessions.models import Attendance, Meeting
from tests.examples import TINY

URL = "/manage/import"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def all_counts(db) -> dict[str, int]:
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


def csv_rows(name: str) -> int:
    with (TINY / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def zip_folder(folder: Path, prefix: str = "", replace: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                data = path.read_bytes()
                if replace and name in replace:
                    data = replace[name].encode("utf-8")
                archive.writestr(prefix + name, data)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def post(client, data: bytes, filename: str = "package.zip"):
    return client.post(URL, data={"package": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


@pytest.fixture
def admin(factory, login_as):
    user = factory.user("admin")
    login_as(user)
    return user


@pytest.mark.parametrize("prefix", ["", "tiny-process/"])
def test_zipped_tiny_example_is_imported(db, client, admin, prefix):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Process))
    response = post(client, zip_folder(TINY, prefix))
    assert response.status_code == 303, text(response)[:3000]
    process = db.session.scalar(sa.select(Process).order_by(Process.id.desc()).limit(1))
    assert response.headers["Location"].endswith(f"/processes/{process.id}")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Process)) == before + 1
    assert process.external_ref == "proc1"
    attendances = db.session.scalar(
        sa.select(sa.func.count()).select_from(Attendance)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Meeting.process_id == process.id))
    assert attendances == csv_rows("attendances")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == csv_rows("votes")
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "process.import"))
    assert audit.actor_id == admin.id and audit.target_id == process.id
    assert audit.details["attendances"] == csv_rows("attendances")
    assert audit.details["votes"] == csv_rows("votes")
    page = text(client.get(response.headers["Location"]))
    assert f"{csv_rows('votes')} votes" in page


def test_the_manage_page_links_to_the_import(client, admin):
    assert URL in text(client.get("/manage"))


def test_form_page(client, admin):
    response = client.get(URL)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in text(response)


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("datapackage.json", "{}")
        link = zipfile.ZipInfo("processes.csv")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(("archive", "reason"), [
    (lambda: zip_of({"../x": b"boom", "datapackage.json": b"{}"}), "leaving its folder"),
    (lambda: zip_of({"a/../../x": b"boom"}), "leaving its folder"),
    (lambda: zip_of({"/etc/cron.d/x": b"boom"}), "absolute path"),
    (lambda: zip_of({"C:/x": b"boom"}), "absolute path"),
    (lambda: zip_of({"a\\..\\x": b"boom"}), "unusual name"),
    (_symlink_zip, "link or special file"),
    (lambda: zip_of({f"f{i}.csv": b"x" for i in range(51)}), "at most 50"),
    (lambda: b"this is not a zip file", "not a zip archive"),
    (lambda: zip_of({"README.md": b"hello"}), "no datapackage.json"),
    (lambda: zip_of({"a/datapackage.json": b"{}", "b/datapackage.json": b"{}"}),
     "no datapackage.json"),
])
def test_unsafe_or_wrong_archives_are_refused(db, client, admin, tmp_path, archive, reason):
    before = all_counts(db)
    response = post(client, archive())
    assert response.status_code == 422
    assert reason in text(response)
    assert all_counts(db) == before
    # Nothing was written outside the temporary folder.
    assert not (tmp_path.parent / "x").exists()


def test_zip_bombs_are_refused(db, client, admin, monkeypatch):
    before = all_counts(db)
    monkeypatch.setattr(import_views, "MAX_UNCOMPRESSED", 10_000)
    response = post(client, zip_of({"datapackage.json": b"{}", "big.csv": b"0" * 20_000}))
    assert response.status_code == 422
    assert "more than" in text(response)
    assert all_counts(db) == before


def test_invalid_package_is_refused_with_its_errors(db, client, admin):
    votes = (TINY / "votes.csv").read_text(encoding="utf-8")
    broken = votes + "pr999,p1,1,2026-03-01T10:00:00+01:00\npr2,p14,1,2026-03-01T10:00:00\n"
    before = all_counts(db)
    response = post(client, zip_folder(TINY, replace={"votes.csv": broken}))
    page = text(response)
    assert response.status_code == 422
    lines = csv_rows("votes") + 2
    assert "votes.csv" in page
    assert f"<td>{lines}</td>" in page and f"<td>{lines + 1}</td>" in page
    assert 'unknown proposal_id "pr999"' in page
    assert all_counts(db) == before


def test_no_file_is_a_form_error(db, client, admin):
    before = all_counts(db)
    response = client.post(URL, data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose the .zip file to import." in text(response)
    assert all_counts(db) == before


@pytest.mark.parametrize("role", ["staff", "citizen", "elected", "evaluator"])
def test_only_admins_may_import(db, client, factory, login_as, role):
    login_as(factory.user(role))
    before = all_counts(db)
    assert client.get(URL).status_code == 403
    assert post(client, zip_folder(TINY)).status_code == 403
    assert all_counts(db) == before


def test_anonymous_visitors_go_to_the_login_page(db, client):
    response = post(client, zip_folder(TINY))
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Process)) == 0
