"""Public values catalogue and perception answers (baseline, session pulses, final wave)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pvplatform.db import UTCDateTime, enum_column
from pvplatform.extensions import db


class Wave(StrEnum):
    BASELINE = "baseline"
    SESSION = "session"
    FINAL = "final"


class PublicValue(db.Model):
    __tablename__ = "public_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")

    __table_args__ = (sa.UniqueConstraint("process_id", "code"),)


class Perception(db.Model):
    __tablename__ = "perceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    public_value_id: Mapped[int] = mapped_column(
        sa.ForeignKey("public_values.id", ondelete="CASCADE"), index=True
    )
    wave: Mapped[Wave] = mapped_column(enum_column(Wave))
    # The session a pulse (session wave) is about; empty for the baseline and final waves.
    meeting_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sessions.id"), index=True)
    # Empty for "don't know": the person answered the question without a score.
    score: Mapped[int | None] = mapped_column(sa.SmallInteger)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("score IS NULL OR score BETWEEN 1 AND 5", name="score_1_to_5"),
        sa.CheckConstraint("(wave = 'session') = (meeting_id IS NOT NULL)",
                           name="session_wave_has_session"),
        # One answer per participant, value, wave (and session) and instant. An expression
        # index because NULLs are distinct in a plain unique constraint, on both databases.
        sa.Index("uq_perceptions_answer", "participant_id", "public_value_id", "wave",
                 sa.func.coalesce(sa.column("meeting_id"), 0), "answered_at", unique=True),
    )
