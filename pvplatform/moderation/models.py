"""Reports, moderation actions and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.auth.models import User
from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db


class TargetType(StrEnum):
    PROPOSAL = "proposal"
    COMMENT = "comment"


class ModerationKind(StrEnum):
    HIDE = "hide"
    RESTORE = "restore"


class Report(db.Model):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[TargetType] = mapped_column(enum_column(TargetType))
    target_id: Mapped[int] = mapped_column(sa.Integer)
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reporter: Mapped[User] = relationship()

    __table_args__ = (sa.Index("ix_reports_target", "target_type", "target_id"),)


class ModerationAction(db.Model):
    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[TargetType] = mapped_column(enum_column(TargetType))
    target_id: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[ModerationKind] = mapped_column(enum_column(ModerationKind))
    reason: Mapped[str] = mapped_column(sa.Text)
    actor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User] = relationship()


class AuditLog(db.Model):
    """Append-only record of every accountability-relevant change, written in its transaction."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(64))
    target_id: Mapped[int | None] = mapped_column(sa.Integer)
    process_id: Mapped[int | None] = mapped_column(sa.ForeignKey("processes.id"), index=True)
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditLog, "before_update")
def _refuse_audit_update(mapper, connection, target) -> None:  # noqa: ARG001
    raise AuditLogIsAppendOnly("audit rows cannot be changed")


@event.listens_for(AuditLog, "before_delete")
def _refuse_audit_delete(mapper, connection, target) -> None:  # noqa: ARG001
    raise AuditLogIsAppendOnly("audit rows cannot be deleted")
