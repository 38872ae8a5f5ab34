"""Staff's and elected officials' way in from the menu: every process with its active risk
flags counted by severity, a link to its dashboard and to its flags. Running processes first."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, render_template
from flask_login import current_user, login_required

from pvplatform.auth.permissions import can_view_dashboard
from pvplatform.core.i18n import town_zone
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.indicators.models import FlagRecord
from pvplatform.indicators.rows import Severity
from pvplatform.indicators.views import bp
from pvplatform.processes.models import Process
from pvplatform.processes.services import is_running


@dataclass(frozen=True)
class ProcessFlags:
    process: Process
    running: bool
    alerts: int
    warnings: int


def processes_with_flags() -> list[ProcessFlags]:
    """Every process and its active flags by severity (two statements whatever the number)."""
    counts: dict[tuple[int, str], int] = {
        (pid, str(severity)): n for pid, severity, n in db.session.execute(
            sa.select(FlagRecord.process_id, FlagRecord.severity, sa.func.count())
            .where(FlagRecord.cleared_at.is_(None))
            .group_by(FlagRecord.process_id, FlagRecord.severity))}
    today = utcnow().astimezone(town_zone()).date()
    entries = [
        ProcessFlags(p, is_running(p, today=today), counts.get((p.id, Severity.ALERT), 0),
                     counts.get((p.id, Severity.WARNING), 0))
        for p in db.session.scalars(sa.select(Process).order_by(
            Process.starts_on.desc().nulls_last(), Process.id.desc()))]
    return sorted(entries, key=lambda e: not e.running)  # stable: running first, newest first


@bp.get("/manage/dashboards")
@login_required
def dashboards():
    if not can_view_dashboard(current_user):
        abort(403)
    return render_template("indicators/index.html", entries=processes_with_flags())
