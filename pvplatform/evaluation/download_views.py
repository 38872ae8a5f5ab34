"""Downloads of the evaluator's workspace: the tables (CSV, XLSX, JSON), the aggregated data
package and, under a data-sharing agreement, the pseudonymised microdata package.

Each file is built in a temporary folder that is removed before the response starts (the open
file keeps streaming), recorded in the export audit, and never cached.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import abort, current_app, request, send_file
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth.permissions import can_export_microdata
from pvplatform.db import utcnow
from pvplatform.errors import DomainError, ValidationFailed
from pvplatform.evaluation.audit import record_export
from pvplatform.evaluation.blueprint import bp
from pvplatform.evaluation.grants import active_grant
from pvplatform.evaluation.microdata import write_microdata_package
from pvplatform.evaluation.models import ExportChannel, ExportFormat, GrantScope
from pvplatform.evaluation.package import write_export_package, zip_folder
from pvplatform.evaluation.tables import TABLE_NAMES, aggregate_tables
from pvplatform.evaluation.views import readable
from pvplatform.evaluation.writers import FORMATS, write_export
from pvplatform.extensions import db
from pvplatform.indicators.dashboard_views import parse_as_of
from pvplatform.indicators.suppression import export_k
from pvplatform.processes.models import Process


def _instant() -> datetime | None:
    """?as_of=, or None; a bad value is a 400 that says how to write it."""
    try:
        return parse_as_of(request.args.get("as_of"))
    except ValidationFailed as err:
        raise DomainError(err.message, field="as_of") from None


def _readable(process_id: int) -> tuple[Process, Any, datetime]:
    now = utcnow()
    process, grant = readable(process_id, now)
    return process, grant, now


def _locale() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "fr"


def _send(build: Callable[[Path], Path], *, name: str, mimetype: str) -> Any:
    """Builds the file in a temporary folder, opens it, removes the folder (the open file still
    streams) and sends it as an attachment that no cache keeps."""
    folder = Path(tempfile.mkdtemp(prefix="pv-export-"))
    try:
        path = build(folder)
        stream = path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    response = send_file(stream, mimetype=mimetype, as_attachment=True, download_name=name,
                         max_age=0, conditional=False, etag=False)
    response.headers["Cache-Control"] = "no-store"
    return response


def _stamp(as_of: datetime) -> str:
    return as_of.strftime("%Y-%m-%d")


@bp.get("/processes/<int:process_id>/export.<fmt>")
@login_required
def export(process_id: int, fmt: str):
    process, grant, now = _readable(process_id)
    if fmt not in FORMATS:
        abort(404)
    table = request.args.get("table", "indicators")
    if fmt == "csv" and table not in TABLE_NAMES:
        raise DomainError(_("Choose the table among: %(tables)s.", tables=", ".join(TABLE_NAMES)),
                          field="table")
    as_of = _instant() or now
    k = export_k(current_app.config)
    tables = aggregate_tables(process.id, as_of, k, locale=_locale())
    mimetype, extension = FORMATS[fmt]
    part = f"-{table}" if fmt == "csv" else ""
    name = f"pv-process-{process.id}{part}-{_stamp(as_of)}.{extension}"

    def build(folder: Path) -> Path:
        path = folder / name
        write_export(tables, fmt, path, table=table)
        return path

    response = _send(build, name=name, mimetype=mimetype)
    record_export(actor=current_user, process=process, format=ExportFormat(fmt),
                  channel=ExportChannel.WEB, k=k, microdata=False, as_of=as_of, grant=grant,
                  now=now)
    db.session.commit()
    return response


@bp.get("/processes/<int:process_id>/package.zip")
@login_required
def package(process_id: int):
    process, grant, now = _readable(process_id)
    as_of = _instant() or now
    k = export_k(current_app.config)
    tables = aggregate_tables(process.id, as_of, k, locale=_locale())
    name = f"pv-indicators-process-{process.id}-{_stamp(as_of)}.zip"

    def build(folder: Path) -> Path:
        write_export_package(tables, folder / "package")
        return zip_folder(folder / "package", folder / name)

    response = _send(build, name=name, mimetype="application/zip")
    record_export(actor=current_user, process=process, format=ExportFormat.PACKAGE,
                  channel=ExportChannel.WEB, k=k, microdata=False, as_of=as_of, grant=grant,
                  now=now)
    db.session.commit()
    return response


@bp.get("/processes/<int:process_id>/microdata.zip")
@login_required
def microdata(process_id: int):
    process, _grant, now = _readable(process_id)
    agreement = active_grant(current_user, process.id, GrantScope.MICRODATA, now)
    if not can_export_microdata(current_user, agreement):
        abort(403)
    as_of = _instant()
    name = f"pv-microdata-process-{process.id}-{_stamp(as_of or now)}.zip"

    def build(folder: Path) -> Path:
        write_microdata_package(process.id, folder / "package", as_of=as_of)
        return zip_folder(folder / "package", folder / name)

    response = _send(build, name=name, mimetype="application/zip")
    record_export(actor=current_user, process=process, format=ExportFormat.MICRODATA,
                  channel=ExportChannel.WEB, k=None, microdata=True, as_of=as_of or now,
                  grant=agreement, now=now)
    db.session.commit()
    return response
