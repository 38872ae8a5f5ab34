"""Who may read which process (grants), what left the platform (the export audit), and the
personal tokens of the read-only API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.auth.models import User
from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db

PURPOSE_MAX = 1000
TOKEN_NAME_MAX = 80


class GrantScope(StrEnum):
    # The process's indicators, flags, ledger figures and perception results, suppressed at k.
    READ = "read"
    # Its pseudonymised microdata package: a data-sharing agreement with a purpose and an end.
    MICRODATA = "microdata"


class EvaluatorGrant(db.Model):
    """An admin's decision that one evaluator may read one process (or its microdata) until
    `expires_at`. Revoking keeps the row: the grants are part of the audit."""

    __tablename__ = "evaluator_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    scope: Mapped[GrantScope] = mapped_column(enum_column(GrantScope))
    purpose: Mapped[str] = mapped_column(sa.Text, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    # None: until revoked (read grants only; a microdata agreement always ends).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    __table_args__ = (
        sa.CheckConstraint("expires_at IS NULL OR expires_at > granted_at",
                           name="ends_after_start"),
        sa.CheckConstraint("scope <> 'microdata' OR expires_at IS NOT NULL",
                           name="microdata_ends"),
    )

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"
    PACKAGE = "package"  # the aggregated data package (zip or folder)
    MICRODATA = "microdata"  # the pseudonymised data package of DATA.md


class ExportChannel(StrEnum):
    WEB = "web"
    CLI = "cli"
    API = "api"


class ExportRecord(db.Model):
    """One export: who, when, what, at which k, microdata or not. Kept when the person or the
    process is deleted (the labels are copied at export time)."""

    __tablename__ = "export_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"),
                                                index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(300), default="")
    process_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("processes.id", ondelete="SET NULL"), index=True)
    process_title: Mapped[str] = mapped_column(sa.String(300), default="")
    format: Mapped[ExportFormat] = mapped_column(enum_column(ExportFormat))
    channel: Mapped[ExportChannel] = mapped_column(enum_column(ExportChannel))
    k: Mapped[int | None] = mapped_column(sa.Integer)  # None: microdata is not aggregated
    microdata: Mapped[bool] = mapped_column(default=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    grant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("evaluator_grants.id", ondelete="SET NULL"))

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class ApiToken(db.Model):
    """A personal read-only API token. Only its SHA-256 is stored: the token itself is shown
    once, at creation. `prefix` lets its owner tell tokens apart."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(sa.String(TOKEN_NAME_MAX))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    scope: Mapped[str] = mapped_column(sa.String(20), default="read", server_default="read")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
