"""Writes audit rows. Called by services inside the transaction of the change they record."""

from __future__ import annotations

from typing import Any

from pvplatform.extensions import db
from pvplatform.moderation.models import AuditLog


def record_audit(
    actor: Any,
    action: str,
    target_type: str,
    target_id: int | None,
    *,
    process_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    row = AuditLog(
        actor_id=getattr(actor, "id", None),
        action=action,
        target_type=target_type,
        target_id=target_id,
        process_id=process_id,
        details=details or {},
    )
    db.session.add(row)
    return row
