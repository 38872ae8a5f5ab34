"""Stored risk flags with their history, and per-process thresholds.

The engine (`compute_flags`) says which flags hold at an instant; `store.refresh_flags` keeps
these rows in step with it. A `FlagRecord` is one episode of a flag: raised, maybe changed in
severity or acknowledged, then cleared. A flag that comes back after being cleared starts a new
record (its first event is `reraised`), so that each episode keeps its own dates and
acknowledgement and the cleared one stays readable as it was.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.auth.models import Association, User
from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db
from pvplatform.indicators.rows import Severity
from pvplatform.sessions.models import Meeting


class FlagEventKind(StrEnum):
    RAISED = "raised"
    SEVERITY_CHANGED = "severity_changed"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    RERAISED = "reraised"


class FlagRecord(db.Model):
    __tablename__ = "flag_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    dimension: Mapped[str] = mapped_column(sa.String(64), default="")
    category: Mapped[str] = mapped_column(sa.String(64), default="")
    group: Mapped[str] = mapped_column(sa.String(20), default="")
    public_value: Mapped[str] = mapped_column(sa.String(64), default="")
    # SET NULL: deleting a session or an association must not erase the history of its flags.
    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="SET NULL"), index=True)
    association_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("associations.id", ondelete="SET NULL"), index=True)
    # The flag's keys in one string (see store.flag_key), so that "the same flag" is one
    # comparison and the database can guard one active record per (process, code, key).
    key: Mapped[str] = mapped_column(sa.String(400))
    value: Mapped[float | None] = mapped_column(sa.Float)
    # The evidence of a statistical flag (INDICATORS.md: p_value); empty for flags without a test.
    p_value: Mapped[float | None] = mapped_column(sa.Float)
    # The message as a message id (and plural form) with parameters, rendered in the reader's
    # language; parameters are refreshed with the figures at every refresh.
    message: Mapped[str] = mapped_column(sa.Text, default="")
    message_plural: Mapped[str | None] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    first_raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    acknowledgement_note: Mapped[str | None] = mapped_column(sa.String(1000))

    meeting: Mapped[Meeting | None] = relationship(foreign_keys=[session_id])
    association: Mapped[Association | None] = relationship()
    acknowledged_by: Mapped[User | None] = relationship()
    events: Mapped[list[FlagEvent]] = relationship(
        back_populates="flag_record", cascade="all, delete-orphan",
        order_by="(FlagEvent.at, FlagEvent.id)")

    __table_args__ = (
        # At most one active record per flag and key, enforced by the database.
        sa.Index(
            "uq_flag_records_active",
            "process_id",
            "code",
            "key",
            unique=True,
            sqlite_where=sa.text("cleared_at IS NULL"),
            postgresql_where=sa.text("cleared_at IS NULL"),
        ),
    )

    @property
    def is_active(self) -> bool:
        return self.cleared_at is None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def message_text(self) -> str:
        """The message in the reader's language."""
        from pvplatform.indicators.store import render_flag_message

        return render_flag_message(self)

    def __repr__(self) -> str:
        return f"<FlagRecord {self.id} {self.code} {self.severity} {self.key}>"


class FlagEvent(db.Model):
    __tablename__ = "flag_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_record_id: Mapped[int] = mapped_column(
        sa.ForeignKey("flag_records.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FlagEventKind] = mapped_column(enum_column(FlagEventKind))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    value: Mapped[float | None] = mapped_column(sa.Float)
    p_value: Mapped[float | None] = mapped_column(sa.Float)
    severity: Mapped[Severity | None] = mapped_column(enum_column(Severity))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(sa.String(1000))

    flag_record: Mapped[FlagRecord] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class ProcessThreshold(db.Model):
    """A process's own value for one field of `Thresholds`; a missing row means the default."""

    __tablename__ = "process_thresholds"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[float] = mapped_column(sa.Float)

    __table_args__ = (sa.UniqueConstraint("process_id", "name"),)


class DashboardSnapshot(db.Model):
    """The dashboard's inputs for a process as the background worker last computed them, and
    the data version they rest on (the newest refresh request the worker took into account):
    a page view reads these instead of computing."""

    __tablename__ = "dashboard_snapshots"

    process_id: Mapped[int] = mapped_column(
        sa.ForeignKey("processes.id", ondelete="CASCADE"), primary_key=True)
    data_version: Mapped[int] = mapped_column(sa.BigInteger)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
