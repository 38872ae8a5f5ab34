"""The export audit: every figure or package that left the platform, who took it, when, at
which k, microdata or not. Rows keep the person's and the process's labels, so that the audit
outlives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.core.pagination import Page
from pvplatform.evaluation.models import ExportChannel, ExportFormat, ExportRecord
from pvplatform.extensions import db

COMMAND_LINE = "command line"  # the actor label of exports made with `flask pv export`
LABEL_MAX = 300


def actor_label(actor: Any) -> str:
    """Who exported, as the audit shows it: name and e-mail of an account."""
    if actor is None:
        return COMMAND_LINE
    name = getattr(actor, "display_name", "") or ""
    email = getattr(actor, "email", "") or ""
    label = f"{name} <{email}>" if email else name
    return (label or f"#{getattr(actor, 'id', '')}")[:LABEL_MAX]


def record_export(*, actor: Any, process: Any, format: ExportFormat,  # noqa: A002
                  channel: ExportChannel, k: int | None, microdata: bool, as_of: datetime,
                  grant: Any = None, now: datetime) -> ExportRecord:
    """Adds the audit row of one export (the caller commits). `actor` None: the command line."""
    row = ExportRecord(
        created_at=now, user_id=getattr(actor, "id", None), actor_label=actor_label(actor),
        process_id=process.id, process_title=(process.title or "")[:LABEL_MAX],
        format=format, channel=channel, k=None if microdata else k, microdata=microdata,
        as_of=as_of, grant_id=getattr(grant, "id", None))
    db.session.add(row)
    db.session.flush()
    return row


@dataclass(frozen=True)
class ExportPage(Page):
    """A page of the audit, in the shape the pagination macro reads."""

    @property
    def rows(self) -> list[ExportRecord]:
        return self.items


def export_history(page: int = 1, per_page: int = 50) -> ExportPage:
    """The audit, newest first, one page of it (page from 1; out-of-range pages are empty)."""
    page = max(1, int(page))
    per_page = min(max(1, int(per_page)), 500)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) or 0
    rows = list(db.session.scalars(
        sa.select(ExportRecord)
        .order_by(ExportRecord.created_at.desc(), ExportRecord.id.desc())
        .offset((page - 1) * per_page).limit(per_page)))
    return ExportPage(page=page, per_page=per_page, total=int(total), items=rows)


FORMAT_LABELS: dict[ExportFormat, Any] = {
    ExportFormat.CSV: _l("CSV table"),
    ExportFormat.XLSX: _l("Spreadsheet (XLSX)"),
    ExportFormat.JSON: _l("JSON"),
    ExportFormat.PACKAGE: _l("Aggregated data package"),
    ExportFormat.MICRODATA: _l("Pseudonymised microdata package"),
}

CHANNEL_LABELS: dict[ExportChannel, Any] = {
    ExportChannel.WEB: _l("Web download"),
    ExportChannel.CLI: _l("Command line"),
    ExportChannel.API: _l("API"),
}
