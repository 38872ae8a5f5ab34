"""Public values catalogue, survey waves and pulses, who was asked, and the answers (baseline,
session pulses, final wave)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db
from pvplatform.participation.models import Participant

STATEMENT_MAX = 300
NAME_MAX = 200
PULSE_TEXT_MAX = 1000


class Wave(StrEnum):
    BASELINE = "baseline"
    SESSION = "session"
    FINAL = "final"


class PublicValue(db.Model):
    """One value of a process's catalogue. `name` and `statement` are the French words (or the
    only ones an imported package gave); the English ones fall back to them when empty."""

    __tablename__ = "public_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    name_en: Mapped[str] = mapped_column(sa.String(NAME_MAX), default="", server_default="")
    # The statement people rate from "strongly disagree" (1) to "strongly agree" (5).
    statement: Mapped[str] = mapped_column(sa.String(STATEMENT_MAX), default="",
                                           server_default="")
    statement_en: Mapped[str] = mapped_column(sa.String(STATEMENT_MAX), default="",
                                              server_default="")
    position: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")

    __table_args__ = (sa.UniqueConstraint("process_id", "code"),)

    def label(self, locale: str | None) -> str:
        if locale and locale.startswith("en") and self.name_en:
            return self.name_en
        return self.name

    def question(self, locale: str | None) -> str:
        english = bool(locale and locale.startswith("en"))
        first, second = ((self.statement_en, self.statement) if english
                         else (self.statement, self.statement_en))
        return first or second or self.description or self.label(locale)


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


class SurveyWave(db.Model):
    """The baseline or final wave of a process: open from `opened_at` until `closed_at`.
    Once a baseline row exists the catalogue is fixed in substance."""

    __tablename__ = "survey_waves"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    wave: Mapped[Wave] = mapped_column(enum_column(Wave))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("process_id", "wave"),
        sa.CheckConstraint("wave IN ('baseline', 'final')", name="baseline_or_final"),
    )

    def is_open(self, now: datetime) -> bool:
        return self.opened_at <= now and (self.closed_at is None or self.closed_at > now)


pulse_values = sa.Table(
    "pulse_values",
    db.metadata,
    sa.Column("pulse_id", sa.ForeignKey("session_pulses.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("public_value_id", sa.ForeignKey("public_values.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
)


class SessionPulse(db.Model):
    """The short survey about one held session, sent once to its attendees; answers are taken
    until `closes_at`."""

    __tablename__ = "session_pulses"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            unique=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)

    values: Mapped[list[PublicValue]] = relationship(
        secondary=pulse_values, order_by=pulse_values.c.position)

    __table_args__ = (sa.CheckConstraint("closes_at >= sent_at", name="closes_after_sent"),)

    def is_open(self, now: datetime) -> bool:
        return self.sent_at <= now < self.closes_at


class SurveyInvitation(db.Model):
    """A person asked to answer a wave of a process (and, for a pulse, about one session): at
    most one per person, wave and session, and at most one reminder."""

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    wave: Mapped[Wave] = mapped_column(enum_column(Wave))
    meeting_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    participant: Mapped[Participant] = relationship()

    __table_args__ = (
        sa.CheckConstraint("(wave = 'session') = (meeting_id IS NOT NULL)",
                           name="session_wave_has_session"),
        sa.Index("uq_survey_invitations_once", "process_id", "participant_id", "wave",
                 sa.func.coalesce(sa.column("meeting_id"), 0), unique=True),
    )


class PulseComment(db.Model):
    """"What would have made it better?": kept for staff only, never exported."""

    __tablename__ = "pulse_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    participant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.String(PULSE_TEXT_MAX))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("meeting_id", "participant_id"),)
