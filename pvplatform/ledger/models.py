"""Absence requests: asking invitees who did not register and registrants who did not come why,
so that the ledger knows not only who stayed away but what kept them away."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db
from pvplatform.participation.models import Participant
from pvplatform.sessions.models import Meeting

OTHER_TEXT_MAX = 500


class AbsenceKind(StrEnum):
    NOT_REGISTERED = "not_registered"  # invited, never registered
    NO_SHOW = "no_show"  # registered, did not come


class AbsenceReason(StrEnum):
    TIME = "time"
    PLACE = "place"
    CARE_DUTIES = "care_duties"
    NOT_INFORMED = "not_informed"
    NOT_INTERESTED = "not_interested"
    ACCESSIBILITY = "accessibility"
    LANGUAGE = "language"
    ONLINE_ONLY = "online_only"
    OTHER = "other"


class AbsenceRequest(db.Model):
    """One question per person and session; answering again replaces the previous answer."""

    __tablename__ = "absence_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AbsenceKind] = mapped_column(enum_column(AbsenceKind))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[AbsenceReason | None] = mapped_column(enum_column(AbsenceReason))
    other_text: Mapped[str | None] = mapped_column(sa.String(OTHER_TEXT_MAX))

    meeting: Mapped[Meeting] = relationship()
    participant: Mapped[Participant] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("meeting_id", "participant_id"),
        sa.CheckConstraint("(reason IS NULL) = (answered_at IS NULL)", name="answer_complete"),
    )


class LedgerListSnapshot(db.Model):
    """The process ledger's lists as the background worker took them with the figures it stored
    (same instant): each list's ids in page order. A page view after a refresh reads them
    instead of scanning the process (`ledger.list_pages`)."""

    __tablename__ = "ledger_list_snapshots"

    process_id: Mapped[int] = mapped_column(
        sa.ForeignKey("processes.id", ondelete="CASCADE"), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # {list: [id, ...]}
