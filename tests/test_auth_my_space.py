"""My space: what a participant registered for, proposed and voted, and nobody else's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pvplatform.db import utcnow
from pvplatform.notifications.services import notify
from pvplatform.proposals.models import Proposal, ProposalState, Vote
from pvplatform.sessions.models import Registration


@pytest.fixture
def linked(app):
    missing = [e for e in ("sessions.detail", "proposals.detail") if e not in app.view_functions]
    if missing:
        pytest.fail(f"endpoints missing: {missing}")


def test_empty_states(client, factory, login_as):
    login_as(factory.user(name="Nina Nouvelle"))
    page = client.get("/auth/me").get_data(as_text=True)
    assert "Nina Nouvelle" in page
    assert "No session coming up" in page
    assert "No proposal yet" in page
    assert "No vote yet" in page


def test_registrations_proposals_votes_and_notifications(client, db, factory, login_as, linked):
    user = factory.user()
    me = factory.participant(user)
    someone = factory.participant(factory.user())
    process = factory.process()
    soon = factory.meeting(process, title="Atelier mobilité",
                           starts_at=utcnow() + timedelta(days=2))
    before = factory.meeting(process, title="Atelier passé",
                             starts_at=utcnow() - timedelta(days=10))
    cancelled = factory.meeting(process, title="Atelier annulé",
                                starts_at=utcnow() + timedelta(days=5))
    not_mine = factory.meeting(process, title="Atelier des autres")
    reg = Registration(meeting_id=soon.id, participant_id=me.id, code="ABCD2345")
    db.session.add_all([
        reg,
        Registration(meeting_id=before.id, participant_id=me.id, code="PAST2345"),
        Registration(meeting_id=cancelled.id, participant_id=me.id, code="CANC2345",
                     cancelled_at=utcnow()),
        Registration(meeting_id=not_mine.id, participant_id=someone.id, code="OTHR2345"),
    ])
    draft = Proposal(process_id=process.id, author_id=me.id, title="Mon brouillon secret")
    published = Proposal(process_id=process.id, author_id=me.id, title="Des bancs publics",
                         state=ProposalState.PUBLISHED, published_at=utcnow())
    theirs = Proposal(process_id=process.id, author_id=someone.id, title="Leur brouillon")
    voted = Proposal(process_id=process.id, author_id=someone.id, title="Une piste cyclable",
                     state=ProposalState.PUBLISHED, published_at=utcnow())
    db.session.add_all([draft, published, theirs, voted])
    db.session.flush()
    db.session.add_all([Vote(proposal_id=voted.id, participant_id=me.id, value=1),
                        Vote(proposal_id=published.id, participant_id=someone.id, value=-1)])
    notify(user.id, "test", "Hello")
    notify(user.id, "test", "Again")
    db.session.commit()

    login_as(user)
    response = client.get("/auth/me")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for expected in ("Atelier mobilité", "ABCD2345", "Atelier passé", "Atelier annulé",
                     "Mon brouillon secret", "Des bancs publics", "Une piste cyclable",
                     f"/sessions/{soon.id}", f"/proposals/{draft.id}", "2 unread"):
        assert expected in page, expected
    for absent in ("Atelier des autres", "OTHR2345", "Leur brouillon", "CANC2345"):
        assert absent not in page, absent
    upcoming, past = page.split("Past and cancelled", 1)
    assert "Atelier mobilité" in upcoming and "Atelier passé" not in upcoming
    assert "Atelier passé" in past and "Atelier annulé" in past


@pytest.mark.parametrize("role", ["evaluator", "admin"])
def test_non_participants_get_a_simple_profile(client, factory, login_as, role):
    login_as(factory.user(role, name="Eva Luation"))
    response = client.get("/auth/me")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Eva Luation" in page
    assert "My proposals" not in page
