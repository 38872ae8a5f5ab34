"""Sessions (meetings) of a process and the participation ledger around them.

The model class is `Meeting` so that it is never confused with a database or web session; the
table and the UI say "session".
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.auth.models import Association, User
from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Process


class MeetingFormat(StrEnum):
    ONLINE = "online"
    IN_PERSON = "in_person"
    HYBRID = "hybrid"


class AttendanceMode(StrEnum):
    ONLINE = "online"
    IN_PERSON = "in_person"


def new_registration_code() -> str:
    # Unambiguous characters only: people read it aloud or type it at the door.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Meeting(db.Model):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    format: Mapped[MeetingFormat] = mapped_column(enum_column(MeetingFormat))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    location: Mapped[str] = mapped_column(sa.String(300), default="")
    online_url: Mapped[str] = mapped_column(sa.String(500), default="")
    capacity: Mapped[int | None] = mapped_column(sa.Integer)
    agenda: Mapped[str] = mapped_column(sa.Text, default="")
    minutes: Mapped[str] = mapped_column(sa.Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    process: Mapped[Process] = relationship()

    __table_args__ = (
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("ends_at IS NULL OR starts_at <= ends_at", name="times_in_order"),
    )


class Invitation(db.Model):
    """An invitation to one participant or to a whole association (exactly one of the two)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("participants.id"),
                                                       index=True)
    association_id: Mapped[int | None] = mapped_column(sa.ForeignKey("associations.id"),
                                                       index=True)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    meeting: Mapped[Meeting] = relationship()
    participant: Mapped[Participant | None] = relationship()
    association: Mapped[Association | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(
            "(participant_id IS NULL) <> (association_id IS NULL)", name="one_invitee"
        ),
        # The session screen's list, in its order: a page is read off the index, not sorted
        # out of every invitation of the session (22,000 at city size).
        sa.Index("ix_invitations_list_order", "meeting_id", "invited_at", "id"),
    )


class Registration(db.Model):
    """A registration; cancelling keeps the row (the ledger), re-registering adds a new one."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participants.id"), index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True, default=new_registration_code)

    meeting: Mapped[Meeting] = relationship()
    participant: Mapped[Participant] = relationship()

    __table_args__ = (
        # At most one live registration per person and session, enforced by the database.
        sa.Index(
            "uq_registrations_live",
            "meeting_id",
            "participant_id",
            unique=True,
            sqlite_where=sa.text("cancelled_at IS NULL"),
            postgresql_where=sa.text("cancelled_at IS NULL"),
        ),
        # The session screen's list, in its order (live ones first): see Invitation.
        sa.Index("ix_registrations_list_order", "meeting_id",
                 sa.text("(cancelled_at IS NOT NULL)"), "registered_at", "id"),
    )


class Attendance(db.Model):
    __tablename__ = "attendances"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participants.id"), index=True)
    mode: Mapped[AttendanceMode] = mapped_column(enum_column(AttendanceMode))
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_in_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # True when the person came without a registration.
    walk_in: Mapped[bool] = mapped_column(default=False)

    meeting: Mapped[Meeting] = relationship()
    participant: Mapped[Participant] = relationship()
    checked_in_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("meeting_id", "participant_id"),
        # The latest check-ins of a session (read backwards): see Invitation.
        sa.Index("ix_attendances_list_order", "meeting_id", "checked_in_at", "id"),
    )


class SpeakingTurn(db.Model):
    """Who had the floor in a session, and when: measures who speaks, not only who writes.

    A turn without an end is still running; it counts once it has ended."""

    __tablename__ = "speaking_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))

    meeting: Mapped[Meeting] = relationship()
    participant: Mapped[Participant] = relationship()

    __table_args__ = (
        sa.CheckConstraint("ended_at IS NULL OR ended_at > started_at", name="ends_after_start"),
        sa.UniqueConstraint("meeting_id", "participant_id", "started_at"),
        # The session's turns, latest first (read backwards): see Invitation.
        sa.Index("ix_speaking_turns_list_order", "meeting_id", "started_at", "id"),
    )
