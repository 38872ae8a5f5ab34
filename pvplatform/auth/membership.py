"""Who speaks for an association: approved associations and approved members. No request
context here; nothing commits (the view commits once per request).

- An association named at sign-up is *pending*: it appears nowhere (sign-up list, pickers,
  invitations) until staff approve it, or refuse it with a reason.
- A person asks to join an association (at sign-up or from their space): a *request* waits in
  `association_requests` and the person stays a citizen. Staff decide any request; the member an
  association designates as its contact (`User.association_contact`) decides those of their own
  association. Only an approval sets `User.association_id` (and the participant's kind and
  association, which the indicators count by).
- Staff revoke a membership, and a member may leave: the person is a citizen again.

Every decision writes an audit row and tells the person concerned (a notification).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import (
    Association,
    AssociationStatus,
    MembershipDecision,
    MembershipRequest,
    Role,
    User,
)
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.services import N_, notify

MAX_REASON = 500

# Notification kinds (and their message ids, translated when read).
MEMBERSHIP_NOTICE = "association.membership"
ASSOCIATION_NOTICE = "association.status"


def _at(row: Any, now: datetime) -> None:
    """An audit row dated by the service's clock."""
    row.created_at = now


def _reason(reason: str | None, *, required: bool) -> str:
    text = " ".join((reason or "").split())
    if required and not text:
        raise ValidationFailed(str(_l("Give the reason: the person will read it.")),
                               field="reason")
    if len(text) > MAX_REASON:
        raise ValidationFailed(str(_l("The reason must have at most %(n)d characters.",
                                      n=MAX_REASON)), field="reason")
    return text


def _sync(user: User) -> None:
    from pvplatform.participation.services import sync_participant

    sync_participant(user)


# ---------------------------------------------------------------- reading

def approved_associations() -> sa.Select:
    """(id, name) of the associations anyone may see and pick, by name."""
    return (sa.select(Association.id, Association.name)
            .where(Association.status == AssociationStatus.APPROVED)
            .order_by(Association.name, Association.id))


def approved_association(association_id: int | None) -> Association | None:
    if association_id is None:
        return None
    association = db.session.get(Association, association_id)
    return association if association is not None and association.is_approved else None


def is_member(user: User | None, association: Association | None) -> bool:
    """An approved member of an approved association: speaks for it and hears its invitations."""
    return (user is not None and association is not None and association.is_approved
            and user.deleted_at is None and user.association_id == association.id)


def pending_request_of(user: User) -> MembershipRequest | None:
    return db.session.scalar(
        sa.select(MembershipRequest)
        .where(MembershipRequest.user_id == user.id,
               MembershipRequest.decision == MembershipDecision.PENDING))


def latest_request_of(user: User) -> MembershipRequest | None:
    return db.session.scalar(
        sa.select(MembershipRequest)
        .where(MembershipRequest.user_id == user.id)
        .order_by(MembershipRequest.requested_at.desc(), MembershipRequest.id.desc())
        .limit(1))


def pending_requests(association: Association | None = None) -> Sequence[MembershipRequest]:
    """Requests waiting for a decision, oldest first (of one association, or of all)."""
    query = (sa.select(MembershipRequest)
             .join(User, User.id == MembershipRequest.user_id)
             .options(selectinload(MembershipRequest.user),
                      selectinload(MembershipRequest.association))
             .where(MembershipRequest.decision == MembershipDecision.PENDING,
                    User.deleted_at.is_(None))
             .order_by(MembershipRequest.requested_at, MembershipRequest.id))
    if association is not None:
        query = query.where(MembershipRequest.association_id == association.id)
    return db.session.scalars(query).all()


def pending_associations() -> Sequence[Association]:
    """Associations created at sign-up that wait for staff, oldest first."""
    return db.session.scalars(
        sa.select(Association).where(Association.status == AssociationStatus.PENDING)
        .order_by(Association.created_at, Association.id)).all()


def members_of(association: Association) -> Sequence[User]:
    return db.session.scalars(
        sa.select(User)
        .where(User.association_id == association.id, User.deleted_at.is_(None))
        .order_by(User.display_name, User.id)).all()


def _contact_ids(association: Association) -> list[int]:
    return list(db.session.scalars(
        sa.select(User.id)
        .where(User.association_id == association.id, User.association_contact.is_(True),
               User.deleted_at.is_(None))
        .order_by(User.id)))


# ---------------------------------------------------------------- requests

def request_membership(user: User, association: Association | None, *, now: datetime,
                       link: str = "", _founding: bool = False) -> MembershipRequest:
    """`user` asks to join `association`; they stay a citizen until someone approves.

    Only an approved association can be asked (`_founding`: the sign-up that creates it)."""
    from pvplatform.participation.services import KIND_FOR_ROLE

    if user.deleted_at is not None or KIND_FOR_ROLE.get(user.role) is None:
        raise InvalidState(str(_l("This account cannot join an association.")))
    if association is None or not (association.is_approved or _founding):
        raise ValidationFailed(str(_l("Choose an association from the list.")),
                               field="association_id")
    if user.association_id is not None:
        raise InvalidState(str(_l("You are already a member of an association: leave it "
                                  "first.")))
    if pending_request_of(user) is not None:
        raise InvalidState(str(_l("You already have a request waiting for a decision: "
                                  "withdraw it first.")))
    row = MembershipRequest(user_id=user.id, association_id=association.id, requested_at=now)
    db.session.add(row)
    db.session.flush()
    _at(record_audit(user, "association.member_request", "user", user.id,
                     details={"association_id": association.id, "request_id": row.id}), now)
    for contact_id in _contact_ids(association):
        notify(contact_id, MEMBERSHIP_NOTICE,
               N_("%(name)s asks to join your association %(association)s."),
               params={"name": user.display_name, "association": association.name}, link=link)
    return row


def _close(row: MembershipRequest, decision: MembershipDecision, *, by: User, reason: str,
           now: datetime) -> None:
    """Ends a waiting request. The update says `AND decision = 'pending'`: of two decisions
    sent at once (two staff, or a withdrawal and an approval), one passes, the other is told."""
    closed = db.session.execute(
        sa.update(MembershipRequest)
        .where(MembershipRequest.id == row.id,
               MembershipRequest.decision == MembershipDecision.PENDING)
        .values(decision=decision, decided_at=now, decided_by_id=by.id, reason=reason))
    if closed.rowcount != 1:
        raise InvalidState(str(_l("This request has already been decided.")))


def withdraw_request(user: User, *, now: datetime) -> MembershipRequest:
    row = pending_request_of(user)
    if row is None:
        raise InvalidState(str(_l("You have no request waiting for a decision.")))
    _close(row, MembershipDecision.WITHDRAWN, by=user, reason="", now=now)
    _at(record_audit(user, "association.member_withdraw", "user", user.id,
                     details={"association_id": row.association_id, "request_id": row.id}),
        now)
    return row


def _join(user: User, association: Association) -> str:
    """Makes `user` a member; returns the role they had (a citizen becomes a representative)."""
    old_role = user.role
    user.association_id = association.id
    user.association_contact = False
    if user.role == Role.CITIZEN:
        user.role = Role.ASSOCIATION
    _sync(user)
    return old_role.value


def decide_request(row: MembershipRequest, *, approve: bool, actor: User, reason: str | None,
                   now: datetime, link: str = "", founder: bool = False) -> MembershipRequest:
    """Approves or refuses a waiting request. The caller has checked that `actor` may decide
    for this association (staff, or its contact: `permissions.can_decide_membership`).
    `founder`: the request of whoever named the association at sign-up, decided with it."""
    if not row.is_pending:
        raise InvalidState(str(_l("This request has already been decided.")))
    user, association = row.user, row.association
    reason_text = _reason(reason, required=not approve)
    if approve:
        if not association.is_approved and not founder:
            raise InvalidState(str(_l("The association itself is not approved yet.")))
        if user.deleted_at is not None:
            raise InvalidState(str(_l("This account has been deleted.")))
        if user.association_id is not None:
            raise InvalidState(str(_l("This person is already a member of an association.")))
    _close(row, MembershipDecision.APPROVED if approve else MembershipDecision.REFUSED,
           by=actor, reason=reason_text, now=now)
    if approve:
        old_role = _join(user, association)
        _at(record_audit(actor, "association.member_approve", "user", user.id,
                         details={"association_id": association.id, "request_id": row.id,
                                  "reason": reason_text, "from": old_role,
                                  "to": user.role.value}), now)
        if founder:
            notify(user.id, ASSOCIATION_NOTICE,
                   N_("The association %(association)s is approved and you are its member: "
                      "you can propose on its behalf."),
                   params={"association": association.name}, link=link)
        else:
            notify(user.id, MEMBERSHIP_NOTICE,
                   N_("You are now a member of %(association)s: you can propose on its "
                      "behalf."), params={"association": association.name}, link=link)
    else:
        _at(record_audit(actor, "association.member_refuse", "user", user.id,
                         details={"association_id": association.id, "request_id": row.id,
                                  "reason": reason_text}), now)
        if founder:
            notify(user.id, ASSOCIATION_NOTICE,
                   N_("The association %(association)s was not approved: %(reason)s"),
                   params={"association": association.name, "reason": reason_text}, link=link)
        else:
            notify(user.id, MEMBERSHIP_NOTICE,
                   N_("Your request to join %(association)s was refused: %(reason)s"),
                   params={"association": association.name, "reason": reason_text},
                   link=link)
    return row


# ---------------------------------------------------------------- members

def add_member(association: Association, user: User | None, *, actor: User,
               now: datetime) -> User:
    """Staff attach an account directly: an approval without a request (or of its request)."""
    if user is None or not user.is_active:
        raise ValidationFailed(str(_l("No account uses this e-mail.")), field="email")
    if not association.is_approved:
        raise InvalidState(str(_l("Approve the association before attaching members.")))
    if user.association_id == association.id:
        raise InvalidState(str(_l("This person is already a member of this association.")))
    if user.association_id is not None:
        raise InvalidState(str(_l("This person already belongs to another association: "
                                  "detach them from it first.")))
    waiting = pending_request_of(user)
    if waiting is not None and waiting.association_id != association.id:
        raise InvalidState(str(_l("This person asked to join another association: decide "
                                  "that request first.")))
    if waiting is not None:
        _close(waiting, MembershipDecision.APPROVED, by=actor, reason="", now=now)
    old_role = _join(user, association)
    _at(record_audit(actor, "association.member_add", "user", user.id,
                     details={"association_id": association.id, "from": old_role,
                              "to": user.role.value}), now)
    notify(user.id, MEMBERSHIP_NOTICE,
           N_("You are now a member of %(association)s: you can propose on its behalf."),
           params={"association": association.name})
    return user


def remove_member(association: Association, user: User, *, actor: User, now: datetime,
                  reason: str | None = None) -> None:
    """Ends a membership (staff revoke it, or the member leaves): a citizen again, no longer
    the contact, and their drafts no longer speak for the association."""
    from pvplatform.participation.services import find_participant
    from pvplatform.proposals.models import Proposal, ProposalState

    if user.association_id != association.id:
        raise NotFound()
    reason_text = _reason(reason, required=False)
    old_role = user.role
    user.association_id = None
    user.association_contact = False
    if user.role == Role.ASSOCIATION:
        user.role = Role.CITIZEN
    _sync(user)
    participant = find_participant(user)
    drafts = 0
    if participant is not None:
        for draft in db.session.scalars(
                sa.select(Proposal)
                .where(Proposal.author_id == participant.id,
                       Proposal.association_id == association.id,
                       Proposal.state == ProposalState.DRAFT)
                .order_by(Proposal.id)).all():
            draft.association_id = None
            drafts += 1
    leaving = actor.id == user.id
    _at(record_audit(actor, "association.member_remove", "user", user.id,
                     details={"association_id": association.id, "reason": reason_text,
                              "drafts_detached": drafts, "via": "self" if leaving else "staff",
                              "from": old_role.value, "to": user.role.value}), now)
    if not leaving:
        notify(user.id, MEMBERSHIP_NOTICE,
               N_("You are no longer a member of %(association)s."),
               params={"association": association.name})


def set_contact(association: Association, user: User, *, contact: bool, actor: User,
                now: datetime) -> None:
    """Staff designate (or stop designating) a member as the association's contact."""
    if user.association_id != association.id or user.deleted_at is not None:
        raise NotFound()
    if user.association_contact == contact:
        return
    user.association_contact = contact
    details = {"association_id": association.id}
    if contact:
        _at(record_audit(actor, "association.contact_set", "user", user.id, details=details),
            now)
    else:
        _at(record_audit(actor, "association.contact_unset", "user", user.id,
                         details=details), now)
    if contact:
        notify(user.id, MEMBERSHIP_NOTICE,
               N_("You are now the contact of %(association)s: you decide the requests to "
                  "join it."), params={"association": association.name})


# ---------------------------------------------------------------- associations

def decide_association(association: Association, *, approve: bool, actor: User,
                       reason: str | None, now: datetime, link: str = "") -> Association:
    """Staff approve or refuse an association named at sign-up. Its founder's request (the
    only one a pending association can have: nobody else can pick it) follows the decision."""
    if association.status != AssociationStatus.PENDING:
        raise InvalidState(str(_l("This association has already been decided.")))
    reason_text = _reason(reason, required=not approve)
    # Conditional, like `_close`: of two staff deciding at once, one decides.
    decided = db.session.execute(
        sa.update(Association)
        .where(Association.id == association.id,
               Association.status == AssociationStatus.PENDING)
        .values(status=AssociationStatus.APPROVED if approve else AssociationStatus.REFUSED))
    if decided.rowcount != 1:
        raise InvalidState(str(_l("This association has already been decided.")))
    details = {"name": association.name, "reason": reason_text}
    if approve:
        _at(record_audit(actor, "association.approve", "association", association.id,
                         details=details), now)
    else:
        _at(record_audit(actor, "association.refuse", "association", association.id,
                         details=details), now)
    for row in pending_requests(association):
        decide_request(row, approve=approve, actor=actor, reason=reason_text, now=now,
                       link=link, founder=True)
    return association
