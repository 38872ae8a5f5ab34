"""Votes: one row per participant and proposal, replaced on re-vote, withdrawn, refused closed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.participation.services import participant_for
from pvplatform.proposals import services
from pvplatform.proposals.models import Proposal, ProposalState, Vote
from tests.conftest import PASSWORD, make_app, seed_reference_data


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def make_proposal(process, user, *, state=ProposalState.PUBLISHED):
    proposal = Proposal(process_id=process.id, author_id=participant_for(user).id,
                        title="Un banc place du marché", body="Pour les anciens.", state=state,
                        published_at=utcnow())
    _db.session.add(proposal)
    _db.session.commit()
    return proposal


def votes_of(proposal) -> list[Vote]:
    _db.session.expire_all()
    return list(_db.session.scalars(sa.select(Vote).where(Vote.proposal_id == proposal.id)
                                    .order_by(Vote.id)))


def test_vote_then_change_then_withdraw(client, factory, login_as):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    voter = factory.user("citizen")
    login_as(voter)
    response = client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"})
    assert response.status_code == 302
    [vote] = votes_of(proposal)
    assert vote.value == 1
    first_cast = vote.cast_at
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Your vote: you support this proposal." in html
    assert "Withdraw my vote" in html and "Oppose" in html

    assert client.post(f"/proposals/{proposal.id}/vote", data={"value": "-1"}).status_code == 302
    [vote] = votes_of(proposal)
    assert vote.value == -1 and vote.cast_at >= first_cast
    assert client.post(f"/proposals/{proposal.id}/vote", data={"value": "-1"}).status_code == 302
    assert len(votes_of(proposal)) == 1
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Your vote: you oppose this proposal." in html

    assert client.post(f"/proposals/{proposal.id}/vote/withdraw").status_code == 302
    assert votes_of(proposal) == []
    # Withdrawing again is harmless.
    assert client.post(f"/proposals/{proposal.id}/vote/withdraw").status_code == 302
    assert votes_of(proposal) == []


def test_tally_shows_plus_and_minus(client, factory):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    values = [1, 1, 1, -1]
    for value in values:
        p = participant_for(factory.user("citizen"))
        _db.session.add(Vote(proposal_id=proposal.id, participant_id=p.id, value=value))
    _db.session.commit()
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Support: 2" in html and "3 for, 1 against" in html
    assert services.tallies([proposal.id])[proposal.id] == services.Tally(3, 1)


def test_database_refuses_a_duplicate_vote(factory, db):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    voter = participant_for(factory.user("citizen"))
    _db.session.add(Vote(proposal_id=proposal.id, participant_id=voter.id, value=1))
    _db.session.commit()
    _db.session.add(Vote(proposal_id=proposal.id, participant_id=voter.id, value=1))
    with pytest.raises(IntegrityError):
        _db.session.commit()
    _db.session.rollback()
    assert count(Vote) == 1


def test_cast_vote_falls_back_to_update_when_the_insert_loses_the_race(factory, db,
                                                                        monkeypatch):
    """Simulates the concurrent request: our read saw no vote, but the row exists by insert."""
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    voter = participant_for(factory.user("citizen"))
    _db.session.add(Vote(proposal_id=proposal.id, participant_id=voter.id, value=1))
    _db.session.commit()
    monkeypatch.setattr(services, "vote_of", lambda *_args: None)
    vote = services.cast_vote(proposal, voter, -1, now=utcnow())
    _db.session.commit()
    assert vote.value == -1
    assert [(v.participant_id, v.value) for v in votes_of(proposal)] == [(voter.id, -1)]


def test_votes_closed_is_409_and_nothing_stored(client, factory, login_as):
    process = factory.process(open_all=False)
    proposal = make_proposal(process, factory.user("citizen"))
    login_as(factory.user("citizen"))
    response = client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"})
    assert response.status_code == 409
    assert b"Votes are not open" in response.data
    assert count(Vote) == 0
    assert client.post(f"/proposals/{proposal.id}/vote/withdraw").status_code == 409
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Votes are not open in the current phase." in html
    assert 'name="value"' not in html


@pytest.mark.parametrize("state", [ProposalState.ACCEPTED, ProposalState.REJECTED,
                                   ProposalState.WITHDRAWN])
def test_votes_only_on_proposals_awaiting_a_decision(client, factory, login_as, state):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"), state=state)
    login_as(factory.user("citizen"))
    assert client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"}).status_code == 409
    assert count(Vote) == 0


def test_evaluating_proposal_accepts_votes(client, factory, login_as):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"), state=ProposalState.EVALUATING)
    login_as(factory.user("citizen"))
    assert client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"}).status_code == 302
    assert count(Vote) == 1


@pytest.mark.parametrize("value", ["2", "0", "abc", "", "-2", str(2**63), "1.0", "1\x00"])
def test_bad_vote_values_are_refused(client, factory, login_as, value):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    login_as(factory.user("citizen"))
    response = client.post(f"/proposals/{proposal.id}/vote", data={"value": value})
    assert response.status_code == 422
    assert count(Vote) == 0


def test_vote_needs_a_participating_role(client, factory, login_as):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    response = client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    for role in ("evaluator", "admin"):
        login_as(factory.user(role))
        assert client.post(f"/proposals/{proposal.id}/vote",
                           data={"value": "1"}).status_code == 403
        client.post("/auth/logout")
    assert count(Vote) == 0


def test_vote_on_unknown_or_hidden_proposal_is_404(client, factory, login_as):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    proposal.hidden_at = utcnow()
    _db.session.commit()
    login_as(factory.user("citizen"))
    assert client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"}).status_code == 404
    assert client.post("/proposals/99999/vote", data={"value": "1"}).status_code == 404
    assert count(Vote) == 0


def test_concurrent_identical_votes_leave_one_row(tmp_path):
    """Identical vote requests from several threads on file-backed SQLite: one row, no 5xx."""
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'votes.sqlite'}")
    with app.app_context():
        _db.create_all()
        seed_reference_data()
        from tests.conftest import Factory

        f = Factory()
        process = f.process()
        voter = f.user("citizen")
        proposal = make_proposal(process, f.user("citizen"))
        # Created beforehand so that the race is on the vote, not on the participant row.
        participant_for(voter)
        _db.session.commit()
        ids = (proposal.id, voter.email)
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker() -> None:
        client = app.test_client()
        client.post("/auth/login", data={"email": ids[1], "password": PASSWORD})
        start.wait()
        for _ in range(4):
            response = client.post(f"/proposals/{ids[0]}/vote", data={"value": "1"})
            with lock:
                statuses.append(response.status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with app.app_context():
        rows = _db.session.scalar(sa.select(sa.func.count()).select_from(Vote))
        _db.session.remove()
        _db.engine.dispose()
    assert rows == 1
    assert statuses == [302] * len(statuses), statuses


def test_cast_at_is_replaced_on_revote(factory, db):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    voter = participant_for(factory.user("citizen"))
    earlier = utcnow() - timedelta(hours=1)
    services.cast_vote(proposal, voter, 1, now=earlier)
    _db.session.commit()
    later = utcnow()
    services.cast_vote(proposal, voter, 1, now=later)
    _db.session.commit()
    [vote] = votes_of(proposal)
    assert abs((vote.cast_at - later).total_seconds()) < 1
