"""Participants (people taking part, with or without a login) and their consented demographics."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.auth.models import Association, User
from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db


class ParticipantKind(StrEnum):
    CITIZEN = "citizen"
    ASSOCIATION = "association"
    MANAGER = "manager"
    ELECTED = "elected"

    @property
    def is_internal(self) -> bool:
        return self in (ParticipantKind.MANAGER, ParticipantKind.ELECTED)


INTERNAL_KINDS = (ParticipantKind.MANAGER.value, ParticipantKind.ELECTED.value)


class Participant(db.Model):
    """A person taking part. Walk-ins and imported people have no user; most others have one."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ParticipantKind] = mapped_column(enum_column(ParticipantKind), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    association_id: Mapped[int | None] = mapped_column(sa.ForeignKey("associations.id"),
                                                       index=True)
    # Only for people without a login (walk-ins); users' names live on the user.
    display_name: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    user: Mapped[User | None] = relationship()
    association: Mapped[Association | None] = relationship()

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.display_name
        return self.display_name or f"#{self.id}"


class Stratum(db.Model):
    """A category of a demographic dimension with its share of the population the process serves.
    `label` is the French name (or the only one given), `label_en` the English one; pages read
    them through `participation.labels`, which falls back to the other language, then the code."""

    __tablename__ = "strata"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    dimension: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str | None] = mapped_column(sa.String(120))
    label_en: Mapped[str | None] = mapped_column(sa.String(120))
    population_share: Mapped[float] = mapped_column(sa.Float)

    __table_args__ = (
        sa.UniqueConstraint("process_id", "dimension", "category"),
        sa.CheckConstraint("population_share >= 0", name="share_not_negative"),
    )


class ParticipantAttribute(db.Model):
    """A consented demographic answer; a missing row means unknown."""

    __tablename__ = "participant_attributes"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    dimension: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(64))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("participant_id", "dimension"),)


class AttendanceSnapshot(db.Model):
    """The attendee's consented categories at check-in: later profile changes don't rewrite it."""

    __tablename__ = "attendance_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    attendance_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attendances.id", ondelete="CASCADE"), index=True
    )
    dimension: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.UniqueConstraint("attendance_id", "dimension"),)


class Dimension(db.Model):
    """A demographic question asked in a process; its categories are the process's strata rows
    with the same dimension code (imported packages may bring strata without a dimension row).
    `label` is the question in French (the reference), `label_en` in English (may be empty)."""

    __tablename__ = "dimensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str] = mapped_column(sa.String(120))
    label_en: Mapped[str | None] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Set by "use the defaults" (equal shares): the page asks for census figures until replaced.
    placeholder_shares: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        sa.UniqueConstraint("process_id", "code"),
        sa.CheckConstraint("position >= 0", name="position_not_negative"),
    )


class ConsentRecord(db.Model):
    """One consent given (and maybe later withdrawn) by a participant, with the text they saw."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(32))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    text_version: Mapped[str] = mapped_column(sa.String(32))
