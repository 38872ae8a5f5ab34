"""Bad input on the proposal and comment forms: 4xx, a readable message, nothing stored."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.participation.models import Participant
from pvplatform.participation.services import participant_for
from pvplatform.processes.models import Process, SdgGoal
from pvplatform.proposals.models import Comment, Proposal, ProposalState, proposal_goals


def counts() -> dict[str, int]:
    tables = {"proposals": Proposal, "comments": Comment}
    result = {name: _db.session.scalar(sa.select(sa.func.count()).select_from(model))
              for name, model in tables.items()}
    result["proposal_goals"] = _db.session.scalar(
        sa.select(sa.func.count()).select_from(proposal_goals))
    return result


GOOD = {"title": "Un titre", "body": "Un texte", "publish": "Publish"}


def _case(**changes):
    data = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


BAD_PROPOSALS = {
    "empty title": _case(title=""),
    "blank title": _case(title="   "),
    "missing title": _case(title=None),
    "long title": _case(title="x" * 201),
    "10x title": _case(title="x" * 2000),
    "NUL title": _case(title="Titre\x00"),
    "RTL override": _case(title="\u202eTitre"),
    "zero width": _case(title="Ti\u200btre"),
    "empty body": _case(body=""),
    "long body": _case(body="x" * 10_001),
    "10x body": _case(body="x" * 100_000),
    "NUL body": _case(body="Texte\x00"),
    "unknown goal": _case(goals="99"),
    "goal outside the process": _case(goals="1"),
    "goal not a number": _case(goals="abc"),
    "huge goal": _case(goals=str(2**63)),
    "unknown session": _case(meeting_id="999999"),
    "session not a number": _case(meeting_id="abc"),
    "negative session": _case(meeting_id="-1"),
    "huge session": _case(meeting_id=str(2**63)),
    "on behalf without association": _case(on_behalf="y"),
}


@pytest.mark.parametrize("data", list(BAD_PROPOSALS.values()), ids=list(BAD_PROPOSALS))
def test_bad_proposal_input_is_refused(client, factory, login_as, data):
    process = factory.process()
    login_as(factory.user("citizen"))
    before = counts()
    response = client.post(f"/processes/{process.id}/proposals/new", data=data)
    # "on behalf" without an association: the field does not exist, so it is ignored.
    if "on_behalf" in data:
        assert response.status_code == 302
        assert _db.session.scalar(sa.select(Proposal.association_id)) is None
        return
    assert response.status_code == 422, response.status_code
    assert b'class="error' in response.data
    assert counts() == before


def test_session_of_another_process_is_refused(client, factory, login_as):
    process = factory.process()
    elsewhere = factory.meeting(factory.process(title="Autre"))
    login_as(factory.user("citizen"))
    before = counts()
    response = client.post(f"/processes/{process.id}/proposals/new",
                           data=_case(meeting_id=str(elsewhere.id)))
    assert response.status_code == 422
    assert counts() == before


def test_process_without_goals_accepts_any_of_the_17(client, factory, login_as):
    process = factory.process()
    process.goals = []
    _db.session.commit()
    login_as(factory.user("citizen"))
    response = client.post(f"/processes/{process.id}/proposals/new",
                           data=_case(goals=["1", "17"]))
    assert response.status_code == 302
    proposal = _db.session.scalars(sa.select(Proposal)).one()
    assert [g.number for g in proposal.goals] == [1, 17]
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(SdgGoal)) == 17


def test_bad_input_on_edit_keeps_the_draft(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = Proposal(process_id=process.id, author_id=participant_for(author).id,
                        title="Original", body="Texte", state=ProposalState.DRAFT)
    _db.session.add(proposal)
    _db.session.commit()
    login_as(author)
    for data in (_case(title=""), _case(body="x" * 10_001), _case(goals="99"),
                 _case(meeting_id="999999")):
        response = client.post(f"/proposals/{proposal.id}/edit", data=data)
        assert response.status_code == 422
        _db.session.expire_all()
        assert proposal.title == "Original" and proposal.state == ProposalState.DRAFT


def test_extra_fields_are_ignored(client, factory, login_as):
    process = factory.process()
    other = factory.process(title="Autre")
    login_as(factory.user("citizen"))
    response = client.post(f"/processes/{process.id}/proposals/new", data=_case(
        state="accepted", author_id="1", process_id=str(other.id), hidden_at="x"))
    assert response.status_code == 302
    proposal = _db.session.scalars(sa.select(Proposal)).one()
    assert proposal.state == ProposalState.PUBLISHED and proposal.process_id == process.id


def test_service_refusal_rolls_back_everything(client, factory, login_as, monkeypatch):
    """A refusal by the service (after the form passed) re-renders with 422 and leaves no row,
    not even the participant created for a first proposal."""
    from pvplatform.errors import ValidationFailed
    from pvplatform.proposals import services

    def refuse(*_args, **_kwargs):
        raise ValidationFailed("This session is not one of this process.", field="meeting_id")

    monkeypatch.setattr(services, "_check_meeting", refuse)
    process = factory.process()
    login_as(factory.user("citizen"))
    response = client.post(f"/processes/{process.id}/proposals/new", data=GOOD)
    assert response.status_code == 422
    assert b"This session is not one of this process." in response.data
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Participant)) == 0
    assert counts()["proposals"] == 0


def test_service_checks_ids_itself(factory, db):
    """The service refuses unknown goals, sessions and associations without the form's help."""
    from pvplatform.errors import ValidationFailed
    from pvplatform.proposals import services

    process = factory.process()
    elsewhere = factory.meeting(factory.process(title="Autre"))
    user = factory.user("citizen")
    author = participant_for(user)
    for kwargs in ({"goal_numbers": [99]}, {"goal_numbers": [1]},
                   {"meeting_id": elsewhere.id}, {"meeting_id": 2**63},
                   {"on_behalf": True}, {"title": ""}, {"body": "x" * 10_001}):
        args = {"title": "Titre", "body": "Texte", **kwargs}
        with pytest.raises(ValidationFailed):
            services.create_proposal(process, author, user, now=utcnow(), **args)
        _db.session.rollback()
    assert counts()["proposals"] == 0


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001, "x" * 50_000, "Nul\x00", "\u202e"])
def test_bad_comments_are_refused(client, factory, login_as, body):
    process = factory.process()
    author = factory.user("citizen")
    proposal = Proposal(process_id=process.id, author_id=participant_for(author).id,
                        title="Titre", body="Texte", state=ProposalState.PUBLISHED,
                        published_at=utcnow())
    _db.session.add(proposal)
    _db.session.commit()
    login_as(factory.user("citizen"))
    before = counts()
    response = client.post(f"/proposals/{proposal.id}/comments", data={"body": body})
    assert response.status_code == 422
    assert b'class="error' in response.data
    assert counts() == before


def test_unknown_process_for_create_is_404(client, factory, login_as):
    login_as(factory.user("citizen"))
    assert client.get("/processes/999999/proposals/new").status_code == 404
    assert client.post("/processes/999999/proposals/new", data=GOOD).status_code == 404
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Process)) == 0
