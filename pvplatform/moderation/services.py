"""Reports, hide / restore, and reading the audit log. No request context, never commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from pvplatform.auth import permissions
from pvplatform.auth.models import User
from pvplatform.core.lookup import valid_id
from pvplatform.errors import InvalidState, NotAllowed, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.moderation.models import (
    AuditLog,
    ModerationAction,
    ModerationKind,
    Report,
    TargetType,
)
from pvplatform.participation.models import Participant
from pvplatform.proposals.models import Comment, Proposal, ProposalState

REASON_MAX = 2000
QUEUE_LIMIT = 100

Target = Proposal | Comment


def target_type_of(value: str | TargetType) -> TargetType:
    try:
        return TargetType(value)
    except ValueError:
        raise NotFound() from None


def find_target(target_type: str | TargetType, target_id: Any) -> Target:
    kind = target_type_of(target_type)
    key = valid_id(target_id)
    if key is None:
        raise NotFound()
    model = Proposal if kind == TargetType.PROPOSAL else Comment
    row = db.session.get(model, key)
    if row is None:
        raise NotFound()
    return row


def proposal_of(target: Target) -> Proposal:
    return target if isinstance(target, Proposal) else target.proposal


def is_visible_to(target: Target, user: Any) -> bool:
    """Whether `user` may see the target at all (drafts and hidden items are not public)."""
    proposal = proposal_of(target)
    if proposal.state == ProposalState.DRAFT or proposal.published_at is None:
        return False
    if permissions.can_see_hidden(user, target):
        return True
    return proposal.hidden_at is None and target.hidden_at is None


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason."), field="reason")
    if len(reason) > REASON_MAX or "\x00" in reason:
        raise ValidationFailed(_("The reason is too long or contains characters that are not "
                                 "allowed."), field="reason")
    return reason


def report(target_type: str | TargetType, target_id: Any, reporter: User, reason: str, *,
           now: datetime) -> Report:
    """A report of something the reporter can see; one open report per person and target.
    Only those `permissions.can_report` lets through (never an evaluator, who only reads)."""
    if not permissions.can_report(reporter):
        raise NotAllowed()
    target = find_target(target_type, target_id)
    if not is_visible_to(target, reporter):
        raise NotFound()
    reason = _check_reason(reason)
    kind = target_type_of(target_type)
    existing = db.session.scalar(
        sa.select(Report).where(Report.target_type == kind, Report.target_id == target.id,
                                Report.reporter_id == reporter.id, Report.resolved_at.is_(None))
        .order_by(Report.id).limit(1)
    )
    if existing is not None:
        return existing
    row = Report(target_type=kind, target_id=target.id, reporter_id=reporter.id, reason=reason,
                 created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def _resolve_reports(kind: TargetType, target_id: int, *, now: datetime) -> int:
    result = db.session.execute(
        sa.update(Report)
        .where(Report.target_type == kind, Report.target_id == target_id,
               Report.resolved_at.is_(None))
        .values(resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _moderate(kind: TargetType, target: Target, actor: User, reason: str, action: ModerationKind,
              *, now: datetime) -> ModerationAction:
    reason = _check_reason(reason)
    if action == ModerationKind.HIDE:
        if target.hidden_at is not None:
            raise InvalidState(_("This is already hidden."))
        target.hidden_at = now
    else:
        if target.hidden_at is None:
            raise InvalidState(_("This is not hidden."))
        target.hidden_at = None
    row = ModerationAction(target_type=kind, target_id=target.id, kind=action, reason=reason,
                           actor_id=actor.id, created_at=now)
    db.session.add(row)
    resolved = _resolve_reports(kind, target.id, now=now)
    db.session.flush()
    record_audit(actor, f"moderation.{action.value}", kind.value, target.id,
                 process_id=proposal_of(target).process_id,
                 details={"reason": reason, "moderation_action_id": row.id,
                          "reports_resolved": resolved})
    return row


def hide(target_type: str | TargetType, target: Target, actor: User, reason: str, *,
         now: datetime) -> ModerationAction:
    return _moderate(target_type_of(target_type), target, actor, reason, ModerationKind.HIDE,
                     now=now)


def restore(target_type: str | TargetType, target: Target, actor: User, reason: str, *,
            now: datetime) -> ModerationAction:
    return _moderate(target_type_of(target_type), target, actor, reason, ModerationKind.RESTORE,
                     now=now)


def dismiss(target_type: str | TargetType, target: Target, actor: User, reason: str, *,
            now: datetime) -> int:
    """Close the open reports of a target without hiding it."""
    kind = target_type_of(target_type)
    reason = _check_reason(reason)
    resolved = _resolve_reports(kind, target.id, now=now)
    if not resolved:
        raise InvalidState(_("There is no open report on this."))
    record_audit(actor, "moderation.dismiss", kind.value, target.id,
                 process_id=proposal_of(target).process_id,
                 details={"reason": reason, "reports_resolved": resolved})
    return resolved


# ---------------------------------------------------------------- the queue

@dataclass
class ReportGroup:
    target_type: TargetType
    target_id: int
    count: int
    first_at: datetime
    target: Target | None = None
    reports: list[Report] = field(default_factory=list)

    @property
    def proposal(self) -> Proposal | None:
        return proposal_of(self.target) if self.target is not None else None


def open_report_count() -> int:
    grouped = (
        sa.select(Report.target_type, Report.target_id)
        .where(Report.resolved_at.is_(None))
        .group_by(Report.target_type, Report.target_id)
        .subquery()
    )
    return db.session.scalar(sa.select(sa.func.count()).select_from(grouped)) or 0


def open_report_groups(limit: int = QUEUE_LIMIT) -> list[ReportGroup]:
    """Open reports grouped by target, the longest-waiting first."""
    first_at = sa.func.min(Report.created_at)
    rows = db.session.execute(
        sa.select(Report.target_type, Report.target_id, sa.func.count(), first_at)
        .where(Report.resolved_at.is_(None))
        .group_by(Report.target_type, Report.target_id)
        .order_by(first_at, Report.target_type, Report.target_id)
        .limit(limit)
    ).all()
    groups = [ReportGroup(TargetType(t), i, n, at) for t, i, n, at in rows]
    ids = {kind: [g.target_id for g in groups if g.target_type == kind] for kind in TargetType}
    proposals = {p.id: p for p in db.session.scalars(
        sa.select(Proposal).where(Proposal.id.in_(ids[TargetType.PROPOSAL]))
        .options(selectinload(Proposal.author).selectinload(Participant.user))
    )} if ids[TargetType.PROPOSAL] else {}
    comments = {c.id: c for c in db.session.scalars(
        sa.select(Comment).where(Comment.id.in_(ids[TargetType.COMMENT]))
        .options(selectinload(Comment.proposal),
                 selectinload(Comment.author).selectinload(Participant.user))
    )} if ids[TargetType.COMMENT] else {}
    by_key: dict[tuple[TargetType, int], ReportGroup] = {}
    for group in groups:
        source = proposals if group.target_type == TargetType.PROPOSAL else comments
        group.target = source.get(group.target_id)
        by_key[(group.target_type, group.target_id)] = group
    for kind in TargetType:
        if not ids[kind]:
            continue
        for row in db.session.scalars(
            sa.select(Report)
            .where(Report.resolved_at.is_(None), Report.target_type == kind,
                   Report.target_id.in_(ids[kind]))
            .options(selectinload(Report.reporter))
            .order_by(Report.created_at, Report.id)
        ):
            by_key[(kind, row.target_id)].reports.append(row)
    return groups


# ---------------------------------------------------------------- the audit log

def audit_statement(*, action: str | None = None, actor_id: int | None = None) -> sa.Select:
    stmt = sa.select(AuditLog).options(selectinload(AuditLog.actor))
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if actor_id:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    return stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


def audit_actions() -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditLog.action).distinct().order_by(AuditLog.action)
    ))


def audit_actors() -> list[tuple[int, str]]:
    rows = db.session.execute(
        sa.select(User.id, User.display_name)
        .where(User.id.in_(sa.select(AuditLog.actor_id).where(AuditLog.actor_id.is_not(None))))
        .order_by(User.display_name, User.id)
    )
    return [(uid, name) for uid, name in rows]
