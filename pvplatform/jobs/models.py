"""The refresh requests a background worker consumes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pvplatform.db import UTCDateTime, utcnow
from pvplatform.extensions import db


class RefreshRequest(db.Model):
    """"The data behind this process's figures changed": written in the transaction of the
    change, deleted by the refresh that took it into account. Only inserted and deleted, never
    updated, so that concurrent changes of one process never wait on one another's row."""

    __tablename__ = "refresh_requests"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The newest id is the process's data version: ids must never be reused, even once the
    # table is empty (SQLite's AUTOINCREMENT; a PostgreSQL sequence never goes back).
    __table_args__ = {"sqlite_autoincrement": True}
