"""What the evaluator's workspace and the admin's grants and export audit pages read: who may open
the workspace, the processes granted, the grants and the export audit in plain words (the instant
asked for: pvplatform.core.instants). No request context here: views pass `now` and the zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Role

# The instant helpers live in pvplatform.core.instants (staff's dashboard reads instants the
# same way); the grants' forms and pages still find these three here.
from pvplatform.core.instants import FIRST_YEAR as FIRST_YEAR
from pvplatform.core.instants import LAST_YEAR as LAST_YEAR
from pvplatform.core.instants import end_of_day as end_of_day
from pvplatform.evaluation.grants import active_clause, readable_processes
from pvplatform.evaluation.models import EvaluatorGrant, GrantScope
from pvplatform.extensions import db
from pvplatform.processes.models import Process

SCOPE_LABELS = {
    GrantScope.READ: _l("Read access to the figures"),
    GrantScope.MICRODATA: _l("Pseudonymised microdata (data-sharing agreement)"),
}


def label(labels: Mapping[Any, Any], code: Any) -> str:
    return str(labels.get(code, code))


# ---------------------------------------------------------------- the evaluator's processes

@dataclass(frozen=True)
class WorkspaceEntry:
    process: Process
    read: EvaluatorGrant | None  # None for an admin, who reads every process
    microdata: EvaluatorGrant | None  # the data-sharing agreement in force, if any


def _grants_in_force(user: Any, now: datetime) -> dict[tuple[int, GrantScope], EvaluatorGrant]:
    rows = db.session.scalars(
        sa.select(EvaluatorGrant)
        .where(EvaluatorGrant.user_id == user.id, active_clause(now))
        .order_by(EvaluatorGrant.granted_at, EvaluatorGrant.id))
    # Oldest first: the newest grant of a scope wins.
    return {(row.process_id, row.scope): row for row in rows}


def workspace_entries(user: Any, now: datetime) -> list[WorkspaceEntry]:
    processes = readable_processes(user, now)
    if not processes or getattr(user, "role", None) != Role.EVALUATOR:
        return [WorkspaceEntry(p, None, None) for p in processes]
    grants = _grants_in_force(user, now)
    return [WorkspaceEntry(p, grants.get((p.id, GrantScope.READ)),
                           grants.get((p.id, GrantScope.MICRODATA))) for p in processes]


# ---------------------------------------------------------------- grants (admin)

IN_FORCE, EXPIRED, REVOKED = "in-force", "expired", "revoked"
STATUS_LABELS = {IN_FORCE: _l("In force"), EXPIRED: _l("Expired"), REVOKED: _l("Revoked")}


def grant_status(row: EvaluatorGrant, now: datetime) -> str:
    if row.revoked_at is not None:
        return REVOKED
    return IN_FORCE if row.is_active(now) else EXPIRED


def process_titles() -> dict[int, str]:
    return dict(db.session.execute(
        sa.select(Process.id, Process.title).order_by(Process.id.desc())).all())

