"""Logins, roles and associations."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pvplatform.db import UTCDateTime, enum_column, utcnow
from pvplatform.extensions import db


class Role(StrEnum):
    CITIZEN = "citizen"
    ASSOCIATION = "association"
    STAFF = "staff"
    ELECTED = "elected"
    EVALUATOR = "evaluator"
    ADMIN = "admin"


def new_session_token() -> str:
    return secrets.token_hex(16)


class AssociationStatus(StrEnum):
    """An association named at sign-up waits for staff before it appears anywhere."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class MembershipDecision(StrEnum):
    """Where a request to join an association stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Association(db.Model):
    __tablename__ = "associations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Deny by default: whoever creates an association approved (staff, the demo, an import)
    # says so; one named at sign-up stays pending until staff decide.
    status: Mapped[AssociationStatus] = mapped_column(
        enum_column(AssociationStatus), default=AssociationStatus.PENDING,
        server_default=AssociationStatus.PENDING.value, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Identifier in an imported data package; opaque, kept for traceability only.
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    members: Mapped[list[User]] = relationship(back_populates="association")

    @property
    def is_approved(self) -> bool:
        return self.status == AssociationStatus.APPROVED


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Nullable so that a deleted account frees its e-mail while its records stay pseudonymous.
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.CITIZEN)
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    # Set only when a membership is approved (by staff or the association's contact); a request
    # waits in `association_requests` and its author stays a citizen meanwhile.
    association_id: Mapped[int | None] = mapped_column(sa.ForeignKey("associations.id"))
    # The member the association designates as its contact: decides the requests to join it.
    association_contact: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Rotated on logout and password change: every cookie carrying an old token is dead.
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    association: Mapped[Association | None] = relationship(back_populates="members")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    @property
    def is_internal(self) -> bool:
        return self.role in (Role.STAFF, Role.ELECTED, Role.ADMIN)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class MembershipRequest(db.Model):
    """A person asks to join an association; staff or the association's contact decide."""

    __tablename__ = "association_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    association_id: Mapped[int] = mapped_column(
        sa.ForeignKey("associations.id", ondelete="CASCADE"), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[MembershipDecision] = mapped_column(enum_column(MembershipDecision),
                                                         default=MembershipDecision.PENDING)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    association: Mapped[Association] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        # One request waiting per person: the database says so, not a check in Python.
        sa.Index("uq_association_requests_pending", "user_id", unique=True,
                 sqlite_where=sa.text("decision = 'pending'"),
                 postgresql_where=sa.text("decision = 'pending'")),
        sa.CheckConstraint("(decision = 'pending') = (decided_at IS NULL)",
                           name="decided_when_not_pending"),
    )

    @property
    def is_pending(self) -> bool:
        return self.decision == MembershipDecision.PENDING
