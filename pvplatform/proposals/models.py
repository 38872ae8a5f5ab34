"""Proposals, comments, votes, official answers and implementation updates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.auth.models import Association, User
from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Process, SdgGoal
from pvplatform.sessions.models import Meeting


class ProposalState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    EVALUATING = "evaluating"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


ANSWER_STATES = (ProposalState.EVALUATING, ProposalState.ACCEPTED, ProposalState.REJECTED)


proposal_goals = sa.Table(
    "proposal_goals",
    db.metadata,
    sa.Column("proposal_id", sa.ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("goal_number", sa.ForeignKey("sdg_goals.number"), primary_key=True),
)


class Proposal(db.Model):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(sa.ForeignKey("processes.id", ondelete="CASCADE"),
                                            index=True)
    meeting_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sessions.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("participants.id"), index=True)
    # Set when the proposal is co-authored on behalf of an association.
    association_id: Mapped[int | None] = mapped_column(sa.ForeignKey("associations.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[ProposalState] = mapped_column(enum_column(ProposalState), index=True,
                                                 default=ProposalState.DRAFT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First official answer; the latest answer's state and reasons are kept here too so that
    # indicators read one row per proposal. The full history is in `answers`.
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer_rationale: Mapped[str | None] = mapped_column(sa.Text)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    process: Mapped[Process] = relationship()
    meeting: Mapped[Meeting | None] = relationship()
    author: Mapped[Participant] = relationship()
    association: Mapped[Association | None] = relationship()
    goals: Mapped[list[SdgGoal]] = relationship(secondary=proposal_goals,
                                                order_by=SdgGoal.number)
    answers: Mapped[list[Answer]] = relationship(back_populates="proposal",
                                                 order_by="Answer.answered_at")
    updates: Mapped[list[ImplementationUpdate]] = relationship(
        back_populates="proposal", order_by="ImplementationUpdate.created_at"
    )

    @property
    def is_public(self) -> bool:
        return self.state not in (ProposalState.DRAFT,) and self.hidden_at is None


class Comment(db.Model):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"),
                                             index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("participants.id"), index=True)
    body: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    proposal: Mapped[Proposal] = relationship()
    author: Mapped[Participant] = relationship()


class Vote(db.Model):
    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"),
                                             index=True)
    participant_id: Mapped[int] = mapped_column(sa.ForeignKey("participants.id"), index=True)
    value: Mapped[int] = mapped_column(sa.SmallInteger)
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # One vote per participant and proposal: the database, not Python, is the guard.
        sa.UniqueConstraint("proposal_id", "participant_id"),
        sa.CheckConstraint("value IN (1, -1)", name="value_plus_minus_one"),
    )


class Answer(db.Model):
    """An official answer (state + rationale) by an elected official or staff member."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"),
                                             index=True)
    state: Mapped[ProposalState] = mapped_column(enum_column(ProposalState))
    rationale: Mapped[str] = mapped_column(sa.Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    proposal: Mapped[Proposal] = relationship(back_populates="answers")
    answered_by: Mapped[User | None] = relationship()


class ImplementationUpdate(db.Model):
    """Accountability: what happened to an accepted proposal, with its progress in percent."""

    __tablename__ = "implementation_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(sa.ForeignKey("proposals.id", ondelete="CASCADE"),
                                             index=True)
    progress: Mapped[int] = mapped_column(sa.SmallInteger)
    body: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    proposal: Mapped[Proposal] = relationship(back_populates="updates")
    author: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
    )
