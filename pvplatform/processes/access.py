"""The guard of the staff pages that manage a process, in every feature that hangs off one."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from pvplatform.auth.permissions import can_manage_process
from pvplatform.core.lookup import get_or_404
from pvplatform.processes.models import Process


def require_process_manager(process: Process | None = None) -> None:
    """403 unless the current user may manage `process` (without one: manage processes)."""
    if not can_manage_process(current_user, process):
        abort(403)


def managed_process(process_id: int) -> Process:
    """A process the current user manages. Someone who manages no process is refused before
    the lookup, so that the answer tells nothing of which ids exist."""
    require_process_manager()
    process = get_or_404(Process, process_id)
    require_process_manager(process)
    return process
