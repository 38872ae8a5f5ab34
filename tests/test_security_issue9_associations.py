"""Issue 9: anyone could join any association by naming it at sign-up, and a new association
showed in every list at once.

Now membership is asked and approved (by staff, or the member the association designates as its
contact), audited, revocable; until approved the person is a citizen, who neither speaks for the
association nor hears its invitations. An association named at sign-up waits for staff before it
appears anywhere.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth import membership
from pvplatform.auth.models import (
    Association,
    AssociationStatus,
    MembershipDecision,
    MembershipRequest,
    Role,
    User,
)
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import Participant, ParticipantKind
from pvplatform.participation.services import find_participant, participant_for
from pvplatform.proposals import services as proposal_services
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions import services as session_services
from pvplatform.sessions.models import Invitation
from tests.conftest import login

GOOD = "a long and quiet river of stones"


def signup(app, **fields):
    """A visitor signs up in their own browser; returns that browser (logged in)."""
    browser = app.test_client()
    data = {"email": "lea@example.org", "display_name": "Léa Martin", "password": GOOD,
            "confirm": GOOD, "locale": "en", **fields}
    response = browser.post("/auth/register", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    return browser


def user_by_email(db, email: str) -> User:
    db.session.expire_all()
    return db.session.scalars(sa.select(User).where(User.email == email)).one()


def browser_of(app, user: User, password: str | None = None):
    browser = app.test_client()
    login(browser, user, password)
    return browser


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


def notifications_of(db, user: User) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


@pytest.fixture
def club(factory) -> Association:
    return factory.association("Les Amis du Parc")


@pytest.fixture
def staff(factory) -> User:
    return factory.user("staff")


# ---------------------------------------------------------------- the finding

def test_signup_naming_an_existing_association_leaves_a_citizen_with_a_pending_request(
        app, db, club):
    browser = signup(app, represents_association="y", association_id=str(club.id))
    lea = user_by_email(db, "lea@example.org")
    assert (lea.role, lea.association_id) == (Role.CITIZEN, None)
    request = db.session.scalars(sa.select(MembershipRequest)).one()
    assert (request.user_id, request.association_id, request.decision, request.decided_at) == (
        lea.id, club.id, MembershipDecision.PENDING, None)
    page = browser.get("/auth/me").get_data(as_text=True)
    assert "waiting for a decision" in page and "Les Amis du Parc" in page
    # Her participant, once she takes part, is a resident's: no association for the indicators.
    participant = participant_for(lea)
    assert (participant.kind, participant.association_id) == (ParticipantKind.CITIZEN, None)


def test_pending_requester_cannot_propose_on_behalf_of_the_association(app, db, factory, club):
    process = factory.process()
    browser = signup(app, represents_association="y", association_id=str(club.id))
    form = browser.get(f"/processes/{process.id}/proposals/new")
    assert b"on_behalf" not in form.data
    browser.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Un jardin", "body": "Au bout de la rue.", "on_behalf": "y",
        "publish": "Publish"})
    proposal = db.session.scalars(sa.select(Proposal)).one()
    assert proposal.association_id is None
    # The service refuses too, whatever a form says.
    lea = user_by_email(db, "lea@example.org")
    with pytest.raises(ValidationFailed):
        proposal_services.create_proposal(process, participant_for(lea), lea, title="T",
                                          body="B", on_behalf=True, now=utcnow())
    db.session.rollback()


def test_pending_requester_does_not_receive_the_association_invitations(
        app, db, factory, club, staff):
    member = factory.user("association", association=club)
    signup(app, represents_association="y", association_id=str(club.id))
    lea = user_by_email(db, "lea@example.org")
    meeting = factory.meeting(factory.process())
    response = browser_of(app, staff).post(f"/manage/sessions/{meeting.id}/invite",
                                           data={"association_id": club.id})
    assert response.status_code in (302, 303)
    db.session.expire_all()
    assert [n.kind for n in notifications_of(db, member)] == ["session.invited"]
    assert [n.kind for n in notifications_of(db, lea)] == []
    assert not session_services.is_invited(meeting, participant_for(lea))
    assert session_services.is_invited(meeting, participant_for(member))


# ---------------------------------------------------------------- approval and refusal

def test_staff_approval_makes_a_member_audited_and_told(app, db, factory, club, staff):
    process = factory.process()
    browser = signup(app, represents_association="y", association_id=str(club.id))
    request = db.session.scalars(sa.select(MembershipRequest)).one()
    lea = user_by_email(db, "lea@example.org")
    participant = participant_for(lea)
    db.session.commit()
    staff_browser = browser_of(app, staff)
    listing = staff_browser.get("/admin/association-requests").get_data(as_text=True)
    assert "lea@example.org" in listing and "Les Amis du Parc" in listing
    response = staff_browser.post(f"/admin/association-requests/{request.id}",
                                  data={"decision": "approve", "reason": ""})
    assert response.status_code == 302
    lea = user_by_email(db, "lea@example.org")
    assert (lea.role, lea.association_id, lea.association_contact) == (
        Role.ASSOCIATION, club.id, False)
    participant = db.session.get(Participant, participant.id)
    assert (participant.kind, participant.association_id) == (ParticipantKind.ASSOCIATION,
                                                              club.id)
    request = db.session.get(MembershipRequest, request.id)
    assert (request.decision, request.decided_by_id) == (MembershipDecision.APPROVED, staff.id)
    assert request.decided_at is not None
    row = db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "association.member_approve")).one()
    assert (row.actor_id, row.target_type, row.target_id, row.details["association_id"]) == (
        staff.id, "user", lea.id, club.id)
    assert [n.kind for n in notifications_of(db, lea)] == ["association.membership"]
    # Now she speaks for the association.
    browser.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Un jardin", "body": "Au bout de la rue.", "on_behalf": "y",
        "publish": "Publish"})
    assert db.session.scalars(sa.select(Proposal)).one().association_id == club.id
    assert "You are a member of Les Amis du Parc" in browser.get("/auth/me").get_data(
        as_text=True)


def test_refusal_needs_a_reason_and_the_person_reads_it(app, db, club, staff):
    browser = signup(app, represents_association="y", association_id=str(club.id))
    request = db.session.scalars(sa.select(MembershipRequest)).one()
    staff_browser = browser_of(app, staff)
    before = audit_actions(db)
    response = staff_browser.post(f"/admin/association-requests/{request.id}",
                                  data={"decision": "refuse", "reason": "  "})
    assert response.status_code == 422
    assert "Give the reason" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(MembershipRequest, request.id).is_pending
    assert audit_actions(db) == before
    response = staff_browser.post(f"/admin/association-requests/{request.id}", data={
        "decision": "refuse", "reason": "Nobody at the club knows you."})
    assert response.status_code == 302
    lea = user_by_email(db, "lea@example.org")
    assert (lea.role, lea.association_id) == (Role.CITIZEN, None)
    assert audit_actions(db)[-1] == "association.member_refuse"
    [note] = notifications_of(db, lea)
    assert note.params["reason"] == "Nobody at the club knows you."
    page = browser.get("/auth/me").get_data(as_text=True)
    assert "was refused" in page and "Nobody at the club knows you." in page
    # Decided once: a second decision is refused.
    again = staff_browser.post(f"/admin/association-requests/{request.id}",
                               data={"decision": "approve"})
    assert again.status_code == 409


@pytest.mark.parametrize("data", [
    {}, {"decision": ""}, {"decision": "maybe"}, {"decision": "approve", "reason": "x" * 501},
    {"decision": "refuse", "reason": "nul\x00"},
])
def test_bad_decisions_change_nothing(app, db, club, staff, data):
    signup(app, represents_association="y", association_id=str(club.id))
    request = db.session.scalars(sa.select(MembershipRequest)).one()
    before = audit_actions(db)
    response = browser_of(app, staff).post(f"/admin/association-requests/{request.id}",
                                           data=data)
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(MembershipRequest, request.id).is_pending
    assert user_by_email(db, "lea@example.org").association_id is None
    assert audit_actions(db) == before


# ---------------------------------------------------------------- revocation

def test_revocation_undoes_membership(app, db, factory, club, staff):
    process = factory.process()
    member = factory.user("association", association=club, name="Marc")
    member.association_contact = True
    db.session.commit()
    participant = participant_for(member)
    draft = Proposal(process_id=process.id, author_id=participant.id, title="Brouillon",
                     body="...", state=ProposalState.DRAFT, association_id=club.id)
    db.session.add(draft)
    db.session.commit()
    response = browser_of(app, staff).post(
        f"/admin/associations/{club.id}/members/{member.id}/remove",
        data={"reason": "Left the club in June."})
    assert response.status_code == 302
    db.session.expire_all()
    member = db.session.get(User, member.id)
    assert (member.role, member.association_id, member.association_contact) == (
        Role.CITIZEN, None, False)
    participant = db.session.get(Participant, participant.id)
    assert (participant.kind, participant.association_id) == (ParticipantKind.CITIZEN, None)
    assert db.session.get(Proposal, draft.id).association_id is None
    row = db.session.scalars(sa.select(AuditLog)).one()
    assert (row.action, row.actor_id, row.details["reason"]) == (
        "association.member_remove", staff.id, "Left the club in June.")
    assert [n.kind for n in notifications_of(db, member)] == ["association.membership"]
    meeting = factory.meeting(process)
    session_services.invite_association(meeting, club, by=staff, now=utcnow())
    db.session.commit()
    assert notifications_of(db, member)[-1].kind == "association.membership"
    assert not session_services.is_invited(meeting, participant)


def test_a_member_may_leave_and_a_requester_may_withdraw(app, db, factory, club):
    member = factory.user("association", association=club)
    browser = browser_of(app, member)
    assert browser.post("/auth/me/association/leave").status_code == 302
    member = user_by_email(db, member.email)
    assert (member.role, member.association_id) == (Role.CITIZEN, None)
    assert browser.post("/auth/me/association/leave").status_code == 409
    # Then asks again, changes their mind.
    response = browser.post("/auth/me/association/request", data={"association_id": club.id})
    assert response.status_code == 302
    assert browser.post("/auth/me/association/request",
                        data={"association_id": club.id}).status_code == 409
    assert browser.post("/auth/me/association/request/withdraw").status_code == 302
    request = db.session.scalars(sa.select(MembershipRequest)).one()
    assert request.decision == MembershipDecision.WITHDRAWN
    assert browser.post("/auth/me/association/request/withdraw").status_code == 409
    assert audit_actions(db) == ["association.member_remove", "association.member_request",
                                 "association.member_withdraw"]


# ---------------------------------------------------------------- the association's contact

def test_designated_contact_decides_for_their_association_only(app, db, factory, club, staff):
    other = factory.association("Vélo Villeneuve")
    contact = factory.user("association", association=club, name="Marc")
    plain_member = factory.user("association", association=club)
    # Staff designate the contact (audited); the contact is told.
    response = browser_of(app, staff).post(
        f"/admin/associations/{club.id}/members/{contact.id}/contact", data={"contact": "yes"})
    assert response.status_code == 302
    assert audit_actions(db) == ["association.contact_set"]
    mine = signup(app, email="a@example.org", represents_association="y",
                  association_id=str(club.id))
    signup(app, email="b@example.org", represents_association="y",
           association_id=str(other.id))
    mine_request, other_request = db.session.scalars(
        sa.select(MembershipRequest).order_by(MembershipRequest.id)).all()
    contact = user_by_email(db, contact.email)
    assert [n.kind for n in notifications_of(db, contact)] == [
        "association.membership", "association.membership"]  # designated; a request came
    contact_browser = browser_of(app, contact)
    page = contact_browser.get("/auth/me/association").get_data(as_text=True)
    assert "a@example.org" in page and "b@example.org" not in page
    # Not theirs: another association's request is not found, and nothing changes.
    before = audit_actions(db)
    response = contact_browser.post(f"/auth/me/association/requests/{other_request.id}",
                                    data={"decision": "approve"})
    assert response.status_code == 404
    assert audit_actions(db) == before
    assert user_by_email(db, "b@example.org").association_id is None
    # A member who is not the contact decides nothing.
    member_browser = browser_of(app, plain_member)
    assert member_browser.get("/auth/me/association").status_code == 403
    assert member_browser.post(f"/auth/me/association/requests/{mine_request.id}",
                               data={"decision": "approve"}).status_code == 403
    # Theirs: approved.
    response = contact_browser.post(f"/auth/me/association/requests/{mine_request.id}",
                                    data={"decision": "approve"})
    assert response.status_code == 302
    joined = user_by_email(db, "a@example.org")
    assert (joined.role, joined.association_id) == (Role.ASSOCIATION, club.id)
    row = db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "association.member_approve")).one()
    assert (row.actor_id, row.target_id) == (contact.id, joined.id)
    assert "association.membership" in [n.kind for n in notifications_of(db, joined)]
    assert mine.get("/auth/me").status_code == 200


def test_contact_loses_the_power_with_the_flag(app, db, factory, club, staff):
    contact = factory.user("association", association=club)
    membership.set_contact(club, contact, contact=True, actor=staff, now=utcnow())
    db.session.commit()
    contact_browser = browser_of(app, contact)
    assert contact_browser.get("/auth/me/association").status_code == 200
    assert browser_of(app, staff).post(
        f"/admin/associations/{club.id}/members/{contact.id}/contact",
        data={"contact": "no"}).status_code == 302
    assert audit_actions(db)[-1] == "association.contact_unset"
    assert contact_browser.get("/auth/me/association").status_code == 403


# ---------------------------------------------------------------- new associations

def _names_in(html: str) -> bool:
    return "Jardins de la Gare" in html


def test_new_association_waits_for_approval_before_appearing_anywhere(app, db, factory, staff):
    factory.association("Les Amis du Parc")
    browser = signup(app, represents_association="y", new_association="Jardins de la Gare")
    association = db.session.scalars(
        sa.select(Association).where(Association.name == "Jardins de la Gare")).one()
    assert association.status == AssociationStatus.PENDING
    lea = user_by_email(db, "lea@example.org")
    assert (lea.role, lea.association_id) == (Role.CITIZEN, None)
    assert "waiting for approval" in browser.get("/auth/me").get_data(as_text=True)

    meeting = factory.meeting(factory.process())
    staff_browser = browser_of(app, staff)
    visitor = app.test_client()
    # The public list (sign-up), the request form, the invitation and walk-in pickers.
    assert not _names_in(visitor.get("/auth/register").get_data(as_text=True))
    assert "Les Amis du Parc" in visitor.get("/auth/register").get_data(as_text=True)
    assert not _names_in(browser.get("/auth/me/association/request").get_data(as_text=True))
    assert not _names_in(staff_browser.get(f"/manage/sessions/{meeting.id}").get_data(
        as_text=True))
    # Picked anyway by id: refused, nothing stored.
    assert visitor.post("/auth/register", data={
        "email": "x@example.org", "display_name": "X", "password": GOOD, "confirm": GOOD,
        "locale": "en", "represents_association": "y",
        "association_id": str(association.id)}).status_code == 422
    assert staff_browser.post(f"/manage/sessions/{meeting.id}/invite",
                              data={"association_id": association.id}).status_code == 422
    with pytest.raises(InvalidState):
        session_services.invite_association(meeting, association, by=staff, now=utcnow())
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0
    # The same name again at sign-up: told it waits.
    refused = visitor.post("/auth/register", data={
        "email": "y@example.org", "display_name": "Y", "password": GOOD, "confirm": GOOD,
        "locale": "en", "represents_association": "y", "new_association": "jardins de la gare"})
    assert refused.status_code == 422 and b"waiting for approval" in refused.data

    # Staff see it, approve it (audited): it appears, and its founder is its member.
    assert _names_in(staff_browser.get("/admin/association-requests").get_data(as_text=True))
    response = staff_browser.post(f"/admin/associations/{association.id}/decide",
                                  data={"decision": "approve"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Association, association.id).status == AssociationStatus.APPROVED
    lea = user_by_email(db, "lea@example.org")
    assert (lea.role, lea.association_id) == (Role.ASSOCIATION, association.id)
    decisions = ("association.approve", "association.member_approve")
    assert [a for a in audit_actions(db) if a in decisions] == list(decisions)
    assert [n.kind for n in notifications_of(db, lea)] == ["association.status"]
    assert _names_in(visitor.get("/auth/register").get_data(as_text=True))
    assert _names_in(staff_browser.get(f"/manage/sessions/{meeting.id}").get_data(as_text=True))


def test_refused_association_stays_hidden_and_its_founder_is_told(app, db, staff):
    browser = signup(app, represents_association="y", new_association="Jardins de la Gare")
    association = db.session.scalars(sa.select(Association)).one()
    staff_browser = browser_of(app, staff)
    assert staff_browser.post(f"/admin/associations/{association.id}/decide",
                              data={"decision": "refuse"}).status_code == 422
    response = staff_browser.post(f"/admin/associations/{association.id}/decide",
                                  data={"decision": "refuse", "reason": "Not in the town."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Association, association.id).status == AssociationStatus.REFUSED
    assert "association.refuse" in audit_actions(db)
    lea = user_by_email(db, "lea@example.org")
    assert (lea.role, lea.association_id) == (Role.CITIZEN, None)
    [note] = notifications_of(db, lea)
    assert note.params["reason"] == "Not in the town."
    assert not _names_in(app.test_client().get("/auth/register").get_data(as_text=True))
    assert "was refused" in browser.get("/auth/me").get_data(as_text=True)
    assert staff_browser.post(f"/admin/associations/{association.id}/decide",
                              data={"decision": "approve"}).status_code == 409


def test_staff_cannot_attach_members_to_a_pending_association(app, db, factory, staff):
    pending = factory.association("En attente", status=AssociationStatus.PENDING)
    citizen = factory.user("citizen", email="c@example.org")
    response = browser_of(app, staff).post(f"/admin/associations/{pending.id}/members",
                                           data={"email": "c@example.org"})
    assert response.status_code == 409
    assert user_by_email(db, citizen.email).association_id is None


def test_deleted_account_leaves_no_request_waiting(app, db, club):
    from pvplatform.privacy.services import delete_account

    signup(app, represents_association="y", association_id=str(club.id))
    lea = user_by_email(db, "lea@example.org")
    delete_account(lea, password=GOOD, now=utcnow())
    db.session.commit()
    assert membership.pending_requests(club) == []
    assert db.session.scalars(sa.select(MembershipRequest)).one().decision == (
        MembershipDecision.WITHDRAWN)


def test_participant_of_the_member_follows_every_change(db, factory, club, staff):
    """The indicator engine counts a participant in an association by its association_id."""
    citizen = factory.user("citizen")
    participant = participant_for(citizen)
    row = membership.request_membership(citizen, club, now=utcnow())
    db.session.flush()
    assert find_participant(citizen).association_id is None
    membership.decide_request(row, approve=True, actor=staff, reason="", now=utcnow())
    assert (participant.kind, participant.association_id) == (ParticipantKind.ASSOCIATION,
                                                              club.id)
    membership.remove_member(club, citizen, actor=staff, now=utcnow())
    assert (participant.kind, participant.association_id) == (ParticipantKind.CITIZEN, None)
    db.session.rollback()
