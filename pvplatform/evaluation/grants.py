"""Admins grant evaluators read access to a process and, separately, to its pseudonymised
microdata (a data-sharing agreement: who, until when, for what purpose). A grant stops working
by itself when it expires; revoking keeps the row. Every decision is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import Role, User
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.evaluation.models import PURPOSE_MAX, EvaluatorGrant, GrantScope
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.processes.models import Process


def active_clause(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(EvaluatorGrant.revoked_at.is_(None),
                   sa.or_(EvaluatorGrant.expires_at.is_(None), EvaluatorGrant.expires_at > now))


def active_grant(user: Any, process_id: int, scope: GrantScope,
                 now: datetime) -> EvaluatorGrant | None:
    """The evaluator's grant of `scope` on the process that is in force at `now`, if any."""
    user_id = getattr(user, "id", None)
    if user_id is None or getattr(user, "role", None) != Role.EVALUATOR:
        return None
    return db.session.scalars(
        sa.select(EvaluatorGrant)
        .where(EvaluatorGrant.user_id == user_id, EvaluatorGrant.process_id == process_id,
               EvaluatorGrant.scope == scope, active_clause(now))
        .order_by(EvaluatorGrant.granted_at.desc()).limit(1)).first()


def readable_processes(user: Any, now: datetime) -> list[Process]:
    """The processes a person may read as an evaluator: every process for an admin, those with
    a read grant in force for an evaluator, none for anybody else."""
    role = getattr(user, "role", None)
    query = sa.select(Process).order_by(Process.id.desc())
    if role == Role.ADMIN:
        return list(db.session.scalars(query))
    if role != Role.EVALUATOR:
        return []
    granted = (sa.select(EvaluatorGrant.process_id)
               .where(EvaluatorGrant.user_id == user.id,
                      EvaluatorGrant.scope == GrantScope.READ, active_clause(now)))
    return list(db.session.scalars(query.where(Process.id.in_(granted))))


def grants_of(process_id: int | None = None) -> list[EvaluatorGrant]:
    """Every grant (in force, expired or revoked), newest first; of one process when given.
    The people are loaded with them, in a few queries."""
    query = (sa.select(EvaluatorGrant)
             .options(selectinload(EvaluatorGrant.user), selectinload(EvaluatorGrant.granted_by),
                      selectinload(EvaluatorGrant.revoked_by))
             .order_by(EvaluatorGrant.granted_at.desc(), EvaluatorGrant.id.desc()))
    if process_id is not None:
        query = query.where(EvaluatorGrant.process_id == process_id)
    return list(db.session.scalars(query))


def evaluators() -> list[User]:
    """Accounts that may receive a grant: active evaluators."""
    return list(db.session.scalars(
        sa.select(User).where(User.role == Role.EVALUATOR, User.deleted_at.is_(None))
        .order_by(User.display_name, User.id)))


def grant(*, actor: Any, evaluator: User, process: Process, scope: GrantScope,
          expires_at: datetime | None, purpose: str, now: datetime) -> EvaluatorGrant:
    """Grant (or renew: the grant in force of the same scope is replaced) access to a process.
    A microdata agreement needs an end date and a purpose."""
    if evaluator.role != Role.EVALUATOR or evaluator.deleted_at is not None:
        raise ValidationFailed(_l("Only an evaluator account can receive this access."),
                               field="user_id")
    purpose = (purpose or "").strip()
    if len(purpose) > PURPOSE_MAX:
        raise ValidationFailed(_l("The purpose is too long."), field="purpose")
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(_l("The end date must be in the future."), field="expires_on")
    if scope == GrantScope.MICRODATA:
        if expires_at is None:
            raise ValidationFailed(_l("A data-sharing agreement needs an end date."),
                                   field="expires_on")
        if not purpose:
            raise ValidationFailed(_l("A data-sharing agreement needs its purpose."),
                                   field="purpose")
    for previous in db.session.scalars(
            sa.select(EvaluatorGrant).where(
                EvaluatorGrant.user_id == evaluator.id, EvaluatorGrant.process_id == process.id,
                EvaluatorGrant.scope == scope, active_clause(now))):
        previous.revoked_at = now
        previous.revoked_by_id = getattr(actor, "id", None)
    row = EvaluatorGrant(user_id=evaluator.id, process_id=process.id, scope=scope,
                         purpose=purpose, granted_at=now, granted_by_id=getattr(actor, "id", None),
                         expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    record_audit(actor, "evaluation.grant", "evaluator_grant", row.id, process_id=process.id,
                 details={"evaluator_id": evaluator.id, "scope": str(scope),
                          "expires_at": expires_at.isoformat() if expires_at else None,
                          "purpose": purpose})
    return row


def revoke(*, actor: Any, grant_row: EvaluatorGrant, now: datetime) -> EvaluatorGrant:
    if grant_row.revoked_at is not None:
        raise InvalidState(_l("This access was already revoked."))
    grant_row.revoked_at = now
    grant_row.revoked_by_id = getattr(actor, "id", None)
    record_audit(actor, "evaluation.revoke", "evaluator_grant", grant_row.id,
                 process_id=grant_row.process_id,
                 details={"evaluator_id": grant_row.user_id, "scope": str(grant_row.scope)})
    return grant_row
