"""Processes, their phases, the SDG goals they target and local targets."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db


class PhaseKind(StrEnum):
    INFORMATION = "information"
    CO_CREATION = "co_creation"
    REVIEW = "review"
    DECISION = "decision"
    FOLLOW_UP = "follow_up"


process_goals = sa.Table(
    "process_goals",
    db.metadata,
    sa.Column("process_id", sa.ForeignKey("processes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("goal_number", sa.ForeignKey("sdg_goals.number"), primary_key=True),
)


class SdgGoal(db.Model):
    """The 17 Sustainable Development Goals, shipped as reference data by the first migration."""

    __tablename__ = "sdg_goals"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    title_en: Mapped[str] = mapped_column(sa.String(120))
    title_fr: Mapped[str] = mapped_column(sa.String(120))
    color: Mapped[str] = mapped_column(sa.String(7))

    def title(self, locale: str) -> str:
        return self.title_fr if locale.startswith("fr") else self.title_en


class Process(db.Model):
    __tablename__ = "processes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    municipality: Mapped[str] = mapped_column(sa.String(120), default="")
    population: Mapped[int | None] = mapped_column(sa.Integer)
    starts_on: Mapped[date | None] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    phases: Mapped[list[Phase]] = relationship(
        back_populates="process", order_by="Phase.starts_on", cascade="all, delete-orphan"
    )
    goals: Mapped[list[SdgGoal]] = relationship(secondary=process_goals, order_by=SdgGoal.number)
    local_targets: Mapped[list[LocalTarget]] = relationship(
        back_populates="process", cascade="all, delete-orphan", order_by="LocalTarget.code"
    )

    __table_args__ = (
        sa.CheckConstraint("population IS NULL OR population >= 0", name="population_positive"),
        sa.CheckConstraint(
            "starts_on IS NULL OR ends_on IS NULL OR starts_on <= ends_on", name="dates_in_order"
        ),
    )


class Phase(db.Model):
    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[PhaseKind] = mapped_column(enum_column(PhaseKind))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    proposals_open: Mapped[bool] = mapped_column(default=False)
    comments_open: Mapped[bool] = mapped_column(default=False)
    votes_open: Mapped[bool] = mapped_column(default=False)

    process: Mapped[Process] = relationship(back_populates="phases")

    __table_args__ = (
        sa.CheckConstraint("starts_on <= ends_on", name="dates_in_order"),
    )


class LocalTarget(db.Model):
    """A town's own target under one SDG goal (as CONSUL's local targets)."""

    __tablename__ = "local_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    goal_number: Mapped[int] = mapped_column(sa.ForeignKey("sdg_goals.number"))
    code: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")

    process: Mapped[Process] = relationship(back_populates="local_targets")
    goal: Mapped[SdgGoal] = relationship()

    __table_args__ = (sa.UniqueConstraint("process_id", "code"),)
