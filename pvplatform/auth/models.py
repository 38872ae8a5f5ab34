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


class Association(db.Model):
    __tablename__ = "associations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Identifier in an imported data package; opaque, kept for traceability only.
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))

    members: Mapped[list[User]] = relationship(back_populates="association")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Nullable so that a deleted account frees its e-mail while its records stay pseudonymous.
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.CITIZEN)
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    association_id: Mapped[int | None] = mapped_column(sa.ForeignKey("associations.id"))
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
