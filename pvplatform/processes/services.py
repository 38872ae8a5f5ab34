"""Processes, phases, goals and local targets. No request context here."""

from __future__ import annotations

from datetime import date
from typing import Literal

import sqlalchemy as sa

from pvplatform.extensions import db
from pvplatform.processes.models import Phase, Process

Openable = Literal["proposals", "comments", "votes"]


def current_phase(process: Process, *, today: date) -> Phase | None:
    """The phase whose dates include `today` (the latest-starting one if phases overlap)."""
    return db.session.scalar(
        sa.select(Phase)
        .where(Phase.process_id == process.id, Phase.starts_on <= today, Phase.ends_on >= today)
        .order_by(Phase.starts_on.desc(), Phase.id.desc())
        .limit(1)
    )


def is_open(process: Process, what: Openable, *, today: date) -> bool:
    """Whether proposals, comments or votes are open in the process's current phase."""
    phase = current_phase(process, today=today)
    if phase is None:
        return False
    return bool(getattr(phase, f"{what}_open"))
