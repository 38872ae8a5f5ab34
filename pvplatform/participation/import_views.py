"""Upload of a zipped process data package (DATA.md): unpacked safely, imported whole or not at all.

The archive is untrusted: every member is checked (no absolute paths, no '..', no links, a bounded
number of files and of uncompressed bytes, counted while writing rather than taken from the
archive's own headers) before the importer reads anything.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from pvplatform.auth import permissions
from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.participation.importer import DESCRIPTOR, PackageInvalid, import_package
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Proposal, Vote
from pvplatform.sessions.models import Attendance, Meeting

bp = Blueprint("imports", __name__)

MAX_FILES = 50
MAX_MEMBERS = 200  # files and folders together
MAX_UNCOMPRESSED = 200 * 1024 * 1024
SHOWN_ERRORS = 200
_COPY_BUFFER = 1024 * 1024


class ImportForm(FlaskForm):
    package = FileField(_l("Data package (a .zip file)"),
                        validators=[FileRequired(message=_l("Choose the .zip file to import."))])


class ArchiveRefused(ValidationFailed):
    """The uploaded file is not a zip archive we are willing to unpack."""


# ---------------------------------------------------------------- unpacking


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    if "\\" in name or "\x00" in name:
        raise ArchiveRefused(str(_l('The archive holds a file with an unusual name: "%(name)s".',
                                    name=name[:100])))
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        raise ArchiveRefused(str(_l('The archive holds an absolute path: "%(name)s".',
                                    name=name[:100])))
    if ".." in path.parts:
        raise ArchiveRefused(str(_l('The archive holds a path leaving its folder: "%(name)s".',
                                    name=name[:100])))
    # Unix permission bits; many tools write no file type at all, which means a plain file.
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveRefused(str(_l('The archive holds a link or special file: "%(name)s".',
                                    name=name[:100])))
    return path


def extract_package(stream: IO[bytes], target: Path) -> Path:
    """Unpacks the zip into `target` and returns the folder holding datapackage.json."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveRefused(str(_l("The file is not a zip archive."))) from None
    with archive:
        members = archive.infolist()
        files = [m for m in members if not m.is_dir()]
        if len(files) > MAX_FILES or len(members) > MAX_MEMBERS:
            raise ArchiveRefused(str(_l(
                "The archive holds %(count)s files; a data package has at most %(max)s.",
                count=len(files), max=MAX_FILES)))
        if sum(m.file_size for m in files) > MAX_UNCOMPRESSED:
            raise ArchiveRefused(str(_l(
                "The archive would unpack to more than %(size)s MB.",
                size=MAX_UNCOMPRESSED // (1024 * 1024))))
        paths = [(m, _member_path(m)) for m in members]
        root = target.resolve()
        written = 0
        for info, relative in paths:
            destination = (root / relative).resolve()
            if not destination.is_relative_to(root):
                raise ArchiveRefused(str(_l(
                    'The archive holds a path leaving its folder: "%(name)s".',
                    name=info.filename[:100])))
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, destination.open("xb") as out:
                    # The sizes in the archive's headers can lie: count what really comes out.
                    while chunk := source.read(_COPY_BUFFER):
                        written += len(chunk)
                        if written > MAX_UNCOMPRESSED:
                            raise ArchiveRefused(str(_l(
                                "The archive would unpack to more than %(size)s MB.",
                                size=MAX_UNCOMPRESSED // (1024 * 1024))))
                        out.write(chunk)
            except FileExistsError:
                raise ArchiveRefused(str(_l('The archive holds "%(name)s" twice.',
                                            name=info.filename[:100]))) from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError,
                    RuntimeError, EOFError, OSError):
                # Damaged, encrypted or unsupported members.
                raise ArchiveRefused(str(_l('The file "%(name)s" of the archive cannot be '
                                            "read.", name=info.filename[:100]))) from None
    return _package_folder(root)


def _package_folder(root: Path) -> Path:
    if (root / DESCRIPTOR).is_file():
        return root
    # Zipping a folder usually gives one top-level folder around the package.
    entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / DESCRIPTOR).is_file():
        return entries[0]
    raise ArchiveRefused(str(_l(
        "The archive has no datapackage.json at its top, nor in a single folder at its top.")))


# ---------------------------------------------------------------- the page


class _CountingProgress:
    """Keeps the number of rows the importer stores."""

    def __init__(self) -> None:
        self.rows = 0

    def start(self, phase: str, total: int) -> None:
        if phase == "store":
            self.rows = total

    def advance(self, count: int) -> None:
        pass


def _counts(process: Process, rows: int) -> dict[str, int]:
    def count(statement: sa.Select) -> int:
        return db.session.scalar(statement) or 0

    return {
        "rows": rows,
        "sessions": count(sa.select(sa.func.count()).select_from(Meeting)
                          .where(Meeting.process_id == process.id)),
        "attendances": count(sa.select(sa.func.count()).select_from(Attendance)
                             .join(Meeting, Meeting.id == Attendance.meeting_id)
                             .where(Meeting.process_id == process.id)),
        "proposals": count(sa.select(sa.func.count()).select_from(Proposal)
                           .where(Proposal.process_id == process.id)),
        "votes": count(sa.select(sa.func.count()).select_from(Vote)
                       .join(Proposal, Proposal.id == Vote.proposal_id)
                       .where(Proposal.process_id == process.id)),
    }


def _page(form: ImportForm, *, status: int = 200, message: str | None = None,
          errors: list | None = None, total: int = 0):
    return render_template("imports/upload.html", form=form, message=message,
                           errors=errors or [], error_total=total, max_files=MAX_FILES,
                           max_size=MAX_UNCOMPRESSED // (1024 * 1024)), status


@bp.route("/manage/import", methods=["GET", "POST"])
@login_required
def upload():
    if not permissions.can_create_process(current_user):
        abort(403)
    form = ImportForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return _page(form, status=status)
    progress = _CountingProgress()
    workdir = Path(tempfile.mkdtemp(prefix="pv-import-"))
    try:
        folder = extract_package(form.package.data.stream, workdir)
        process = import_package(folder, now=utcnow(), progress=progress)
        counts = _counts(process, progress.rows)
        record_audit(current_user, "process.import", "process", process.id,
                     process_id=process.id,
                     details={**counts, "file": (form.package.data.filename or "")[:200]})
        db.session.commit()
    except PackageInvalid as err:
        db.session.rollback()
        return _page(form, status=422, message=err.message, errors=err.errors[:SHOWN_ERRORS],
                     total=err.total)
    except ArchiveRefused as err:
        db.session.rollback()
        return _page(form, status=422, message=err.message)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    flash(_("The process %(title)s is imported: %(rows)s rows, %(sessions)s sessions, "
            "%(attendances)s attendances, %(proposals)s proposals, %(votes)s votes.",
            title=process.title, **counts), "success")
    return redirect(url_for("processes.detail", process_id=process.id), 303)
