"""Review queue, official answers and implementation updates."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.participation.services import participant_for
from pvplatform.proposals.models import (
    Answer,
    ImplementationUpdate,
    Proposal,
    ProposalState,
    Vote,
)


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def counts() -> dict[str, int]:
    return {m.__name__: count(m) for m in (Answer, ImplementationUpdate, AuditLog, Notification,
                                           Proposal)}


def make_proposal(process, user, *, title="Une piste cyclable", state=ProposalState.PUBLISHED,
                  published_days_ago=0):
    proposal = Proposal(process_id=process.id, author_id=participant_for(user).id, title=title,
                        body="Entre la gare et le lycée.", state=state,
                        published_at=utcnow() - timedelta(days=published_days_ago))
    _db.session.add(proposal)
    _db.session.commit()
    return proposal


# ---------------------------------------------------------------- review queue

def test_review_queue_oldest_first_with_supporters(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    old = make_proposal(process, author, title="Ancienne proposition", published_days_ago=20)
    new = make_proposal(process, author, title="Récente proposition", published_days_ago=1)
    make_proposal(process, author, title="Déjà acceptée", state=ProposalState.ACCEPTED)
    make_proposal(process, author, title="En évaluation", state=ProposalState.EVALUATING,
                  published_days_ago=5)
    make_proposal(process, author, title="Retirée", state=ProposalState.WITHDRAWN)
    names = ["Anne", "Bruno", "Chloé", "David", "Emma", "Farid", "Gaëlle"]
    for name in names:
        p = participant_for(factory.user("citizen", name=name))
        _db.session.add(Vote(proposal_id=old.id, participant_id=p.id, value=1))
    p = participant_for(factory.user("citizen", name="Opposant"))
    _db.session.add(Vote(proposal_id=old.id, participant_id=p.id, value=-1))
    _db.session.commit()

    login_as(factory.user("elected"))
    response = client.get("/review")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.index("Ancienne proposition") < html.index("En évaluation") \
        < html.index("Récente proposition")
    assert "Déjà acceptée" not in html and "Retirée" not in html
    assert "7 supporters" in html and "Anne" in html and "and 2 others" in html
    assert "Opposant" not in html
    assert f"/proposals/{new.id}/answer" in html


@pytest.mark.parametrize("role", ["citizen", "association", "evaluator"])
def test_review_queue_refused_to_others(client, factory, login_as, role):
    login_as(factory.user(role))
    assert client.get("/review").status_code == 403


def test_review_queue_needs_login(client):
    response = client.get("/review")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_review_queue_empty_state(client, factory, login_as):
    login_as(factory.user("staff"))
    assert b"No proposal is waiting" in client.get("/review").data


# ---------------------------------------------------------------- answers

def test_elected_answers_then_answers_again(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = make_proposal(process, author)
    elected = factory.user("elected", name="Mme la Maire")
    login_as(elected)
    assert client.get(f"/proposals/{proposal.id}/answer").status_code == 200
    response = client.post(f"/proposals/{proposal.id}/answer",
                           data={"state": "evaluating", "rationale": ""})
    assert response.status_code == 302
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.EVALUATING
    first_answered_at = proposal.answered_at
    assert first_answered_at is not None
    audit = _db.session.scalars(sa.select(AuditLog)).one()
    assert (audit.action, audit.target_type, audit.target_id, audit.actor_id) == (
        "proposal.answer", "proposal", proposal.id, elected.id)
    note = _db.session.scalars(sa.select(Notification)).one()
    assert note.user_id == author.id and note.link == f"/proposals/{proposal.id}"

    response = client.post(f"/proposals/{proposal.id}/answer", data={
        "state": "accepted", "rationale": "Budget voté au conseil du 12 mars."})
    assert response.status_code == 302
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.ACCEPTED
    assert proposal.answered_at == first_answered_at
    assert proposal.answer_rationale == "Budget voté au conseil du 12 mars."
    assert count(Answer) == 2 and count(AuditLog) == 2 and count(Notification) == 2
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Budget voté au conseil du 12 mars." in html and "Accepted" in html
    assert "Mme la Maire" in html

    # The author reads the notification in their language.
    client.post("/auth/logout")
    login_as(author)
    html = client.get("/notifications").get_data(as_text=True)
    assert "Your proposal “Une piste cyclable” was accepted." in html
    assert "is being evaluated" in html


def test_staff_and_admin_can_answer(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    for role in ("staff", "admin"):
        proposal = make_proposal(process, author)
        login_as(factory.user(role))
        response = client.post(f"/proposals/{proposal.id}/answer",
                               data={"state": "rejected", "rationale": "Hors compétence."})
        assert response.status_code == 302, role
        client.post("/auth/logout")
    assert count(Answer) == 2


@pytest.mark.parametrize("role", ["citizen", "association", "evaluator"])
def test_answer_refused_to_others(client, factory, login_as, role):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    login_as(factory.user(role))
    before = counts()
    assert client.get(f"/proposals/{proposal.id}/answer").status_code == 403
    response = client.post(f"/proposals/{proposal.id}/answer",
                           data={"state": "accepted", "rationale": "Oui"})
    assert response.status_code == 403
    assert counts() == before


@pytest.mark.parametrize("data", [
    {"state": "rejected", "rationale": ""},
    {"state": "rejected", "rationale": "   "},
    {"state": "accepted"},
    {"state": "withdrawn", "rationale": "x"},
    {"state": "draft", "rationale": "x"},
    {"state": "", "rationale": "x"},
    {"state": "accepted", "rationale": "x" * 100_001},
    {"state": "accepted", "rationale": "Oui\x00"},
    {"state": "accepted", "rationale": "Oui\u202e"},
])
def test_bad_answers_are_refused(client, factory, login_as, data):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    login_as(factory.user("elected"))
    before = counts()
    response = client.post(f"/proposals/{proposal.id}/answer", data=data)
    assert response.status_code == 422
    assert counts() == before
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.PUBLISHED and proposal.answered_at is None


def test_answer_refused_on_draft_and_withdrawn(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    draft = make_proposal(process, author, state=ProposalState.DRAFT)
    withdrawn = make_proposal(process, author, state=ProposalState.WITHDRAWN)
    login_as(factory.user("elected"))
    before = counts()
    assert client.post(f"/proposals/{draft.id}/answer",
                       data={"state": "accepted", "rationale": "x"}).status_code == 404
    assert client.post(f"/proposals/{withdrawn.id}/answer",
                       data={"state": "accepted", "rationale": "x"}).status_code == 409
    assert client.post("/proposals/999999/answer",
                       data={"state": "accepted", "rationale": "x"}).status_code == 404
    assert counts() == before


# ---------------------------------------------------------------- implementation updates

def _accepted(process, author):
    return make_proposal(process, author, state=ProposalState.ACCEPTED)


def test_implementation_update_on_accepted_proposal(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = _accepted(process, author)
    staff = factory.user("staff")
    login_as(staff)
    response = client.post(f"/proposals/{proposal.id}/updates",
                           data={"progress": "40", "body": "Travaux commencés."})
    assert response.status_code == 302
    update = _db.session.scalars(sa.select(ImplementationUpdate)).one()
    assert (update.progress, update.author_id) == (40, staff.id)
    audit = _db.session.scalars(sa.select(AuditLog)).one()
    assert audit.action == "proposal.implementation_update"
    note = _db.session.scalars(sa.select(Notification)).one()
    assert note.user_id == author.id
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert '<progress id="progress-bar" class="progress" max="100" value="40">' in html
    assert "Travaux commencés." in html
    client.post("/auth/logout")
    login_as(author)
    assert "new implementation update (40%)" in client.get("/notifications").get_data(
        as_text=True)


def test_elected_can_post_updates(client, factory, login_as):
    process = factory.process()
    proposal = _accepted(process, factory.user("citizen"))
    login_as(factory.user("elected"))
    assert client.post(f"/proposals/{proposal.id}/updates",
                       data={"progress": "100", "body": "Terminé."}).status_code == 302
    assert count(ImplementationUpdate) == 1


@pytest.mark.parametrize("state", [ProposalState.PUBLISHED, ProposalState.EVALUATING,
                                   ProposalState.REJECTED, ProposalState.WITHDRAWN])
def test_update_only_on_accepted(client, factory, login_as, state):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"), state=state)
    login_as(factory.user("staff"))
    before = counts()
    response = client.post(f"/proposals/{proposal.id}/updates",
                           data={"progress": "10", "body": "Début."})
    assert response.status_code == 409
    assert counts() == before


@pytest.mark.parametrize("data", [
    {"progress": "101", "body": "Trop"},
    {"progress": "-1", "body": "Moins"},
    {"progress": "x", "body": "Pas un nombre"},
    {"progress": "", "body": "Vide"},
    {"progress": "50.5", "body": "Décimal"},
    {"progress": str(2**63), "body": "Énorme"},
    {"progress": "50", "body": ""},
    {"progress": "50", "body": "x" * 100_001},
    {"progress": "50", "body": "Nul\x00"},
])
def test_bad_updates_are_refused(client, factory, login_as, data):
    process = factory.process()
    proposal = _accepted(process, factory.user("citizen"))
    login_as(factory.user("staff"))
    before = counts()
    response = client.post(f"/proposals/{proposal.id}/updates", data=data)
    assert response.status_code == 422
    assert counts() == before


@pytest.mark.parametrize("role", ["citizen", "association", "evaluator"])
def test_updates_refused_to_others(client, factory, login_as, role):
    process = factory.process()
    proposal = _accepted(process, factory.user("citizen"))
    login_as(factory.user(role))
    response = client.post(f"/proposals/{proposal.id}/updates",
                           data={"progress": "10", "body": "Début."})
    assert response.status_code == 403
    assert count(ImplementationUpdate) == 0
