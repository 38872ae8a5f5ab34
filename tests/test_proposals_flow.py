"""Proposals: list, detail, create / edit / publish / withdraw, comments."""

from __future__ import annotations

import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.participation.services import participant_for
from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def make_proposal(process, user, *, title="Des arbres rue Haute", body="Planter 20 arbres.",
                  state=ProposalState.PUBLISHED, goals=(), meeting=None, hidden=False):
    author = participant_for(user)
    proposal = Proposal(process_id=process.id, author_id=author.id, title=title, body=body,
                        state=state, meeting_id=meeting.id if meeting else None,
                        published_at=None if state == ProposalState.DRAFT else utcnow(),
                        hidden_at=utcnow() if hidden else None)
    if goals:
        proposal.goals = [g for g in process.goals if g.number in goals]
    _db.session.add(proposal)
    _db.session.commit()
    return proposal


# ---------------------------------------------------------------- create, edit, publish

def test_citizen_creates_and_publishes_a_proposal(client, factory, login_as):
    process = factory.process()
    meeting = factory.meeting(process)
    user = factory.user("citizen", name="Alice Martin")
    login_as(user)
    page = client.get(f"/processes/{process.id}/proposals/new")
    assert page.status_code == 200
    assert b"Save as draft" in page.data and b"Publish" in page.data
    assert b"on_behalf" not in page.data  # no association, no checkbox
    response = client.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Un parc au centre", "body": "Ligne 1\nLigne 2 <b>gras</b>",
        "goals": ["11", "13"], "meeting_id": str(meeting.id), "publish": "Publish",
    })
    assert response.status_code == 302
    proposal = _db.session.scalars(sa.select(Proposal)).one()
    assert proposal.state == ProposalState.PUBLISHED
    assert proposal.published_at is not None
    assert proposal.meeting_id == meeting.id
    assert [g.number for g in proposal.goals] == [11, 13]
    detail = client.get(f"/proposals/{proposal.id}")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert "Un parc au centre" in html and "Alice Martin" in html
    assert "&lt;b&gt;gras&lt;/b&gt;" in html and "<b>gras</b>" not in html
    assert meeting.title in html
    assert "Support" in html and "Oppose" in html
    listing = client.get(f"/processes/{process.id}/proposals")
    assert listing.status_code == 200 and b"Un parc au centre" in listing.data


def test_draft_is_private_then_published(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    login_as(author)
    response = client.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Brouillon", "body": "À finir", "save_draft": "Save as draft"})
    assert response.status_code == 302
    proposal = _db.session.scalars(sa.select(Proposal)).one()
    assert proposal.state == ProposalState.DRAFT and proposal.published_at is None
    assert client.get(f"/proposals/{proposal.id}").status_code == 200
    listing = client.get(f"/processes/{process.id}/proposals").get_data(as_text=True)
    assert "My drafts" in listing
    # Edit the draft.
    assert client.get(f"/proposals/{proposal.id}/edit").status_code == 200
    response = client.post(f"/proposals/{proposal.id}/edit",
                           data={"title": "Brouillon v2", "body": "Fini", "goals": ["11"]})
    assert response.status_code == 302
    _db.session.refresh(proposal)
    assert proposal.title == "Brouillon v2" and proposal.state == ProposalState.DRAFT
    # Someone else: 404 on the draft and its edit page, even staff.
    other = factory.user("citizen")
    staff = factory.user("staff")
    for intruder in (other, staff):
        client.post("/auth/logout")
        login_as(intruder)
        assert client.get(f"/proposals/{proposal.id}").status_code == 404
        assert client.get(f"/proposals/{proposal.id}/edit").status_code == 404
        assert client.post(f"/proposals/{proposal.id}/publish").status_code == 404
        assert client.post(f"/proposals/{proposal.id}/withdraw").status_code == 404
    client.post("/auth/logout")
    assert client.get(f"/proposals/{proposal.id}").status_code == 404
    # The author publishes.
    login_as(author)
    assert client.post(f"/proposals/{proposal.id}/publish").status_code == 302
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.PUBLISHED and proposal.published_at is not None
    assert client.get(f"/proposals/{proposal.id}/edit").status_code == 409
    assert client.post(f"/proposals/{proposal.id}/publish").status_code == 409


def test_association_member_proposes_on_behalf_of_the_association(client, factory, login_as):
    process = factory.process()
    association = factory.association("Les Amis du Parc")
    user = factory.user("association", association=association)
    login_as(user)
    page = client.get(f"/processes/{process.id}/proposals/new")
    assert b"Les Amis du Parc" in page.data
    client.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Jardins partagés", "body": "Dans chaque quartier.", "on_behalf": "y",
        "publish": "Publish"})
    proposal = _db.session.scalars(sa.select(Proposal)).one()
    assert proposal.association_id == association.id
    assert b"Les Amis du Parc" in client.get(f"/proposals/{proposal.id}").data


def test_withdraw_own_proposal(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = make_proposal(process, author)
    other = factory.user("citizen")
    login_as(other)
    assert client.post(f"/proposals/{proposal.id}/withdraw").status_code == 403
    client.post("/auth/logout")
    login_as(author)
    assert client.post(f"/proposals/{proposal.id}/withdraw").status_code == 302
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.WITHDRAWN and proposal.withdrawn_at is not None
    # Withdrawn: no second withdrawal, no more votes or comments.
    assert client.post(f"/proposals/{proposal.id}/withdraw").status_code == 409
    assert client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"}).status_code == 409
    assert client.post(f"/proposals/{proposal.id}/comments",
                       data={"body": "Dommage"}).status_code == 409
    assert count(Vote) == 0 and count(Comment) == 0


def test_withdraw_a_draft(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = make_proposal(process, author, state=ProposalState.DRAFT)
    login_as(author)
    assert client.post(f"/proposals/{proposal.id}/withdraw").status_code == 302
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.WITHDRAWN
    # A draft withdrawn before publication never becomes public.
    client.post("/auth/logout")
    assert client.get(f"/proposals/{proposal.id}").status_code == 404


def test_proposals_closed_refuses_creation(client, factory, login_as):
    process = factory.process(open_all=False)
    login_as(factory.user("citizen"))
    page = client.get(f"/processes/{process.id}/proposals/new")
    assert page.status_code == 409
    assert b"not open" in page.data
    response = client.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Trop tard", "body": "Fermé", "publish": "Publish"})
    assert response.status_code == 409
    assert count(Proposal) == 0


def test_publish_refused_when_proposals_close(client, factory, login_as, db):
    process = factory.process()
    author = factory.user("citizen")
    proposal = make_proposal(process, author, state=ProposalState.DRAFT)
    for phase in process.phases:
        phase.proposals_open = False
    _db.session.commit()
    login_as(author)
    assert client.post(f"/proposals/{proposal.id}/publish").status_code == 409
    _db.session.refresh(proposal)
    assert proposal.state == ProposalState.DRAFT


def test_create_needs_login_and_a_participating_role(client, factory, login_as):
    process = factory.process()
    response = client.get(f"/processes/{process.id}/proposals/new")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    login_as(factory.user("evaluator"))
    assert client.get(f"/processes/{process.id}/proposals/new").status_code == 403
    assert client.post(f"/processes/{process.id}/proposals/new",
                       data={"title": "x", "body": "y"}).status_code == 403
    assert count(Proposal) == 0


def test_unknown_ids_are_404(client, factory):
    factory.process()
    for url in ("/proposals/999", "/proposals/0", f"/proposals/{2**63}",
                "/processes/999/proposals"):
        assert client.get(url).status_code == 404, url


# ---------------------------------------------------------------- list

def test_list_filters_sorts_and_hides(client, factory, login_as):
    process = factory.process()
    meeting = factory.meeting(process)
    users = [factory.user("citizen") for _ in range(3)]
    old = make_proposal(process, users[0], title="Vieille idée", goals=(11,), meeting=meeting)
    new = make_proposal(process, users[1], title="Nouvelle idée", goals=(13,))
    make_proposal(process, users[2], title="Idée cachée", hidden=True)
    make_proposal(process, users[2], title="Idée brouillon", state=ProposalState.DRAFT)
    make_proposal(process, users[2], title="Idée acceptée", state=ProposalState.ACCEPTED)
    voters = [participant_for(u) for u in users]
    _db.session.add_all([Vote(proposal_id=old.id, participant_id=p.id, value=1) for p in voters])
    _db.session.add(Vote(proposal_id=new.id, participant_id=voters[0].id, value=-1))
    _db.session.commit()
    url = f"/processes/{process.id}/proposals"

    html = client.get(url).get_data(as_text=True)
    assert "Vieille idée" in html and "Nouvelle idée" in html and "Idée acceptée" in html
    assert "Idée cachée" not in html and "Idée brouillon" not in html
    assert html.index("Idée acceptée") < html.index("Vieille idée")  # newest first

    html = client.get(url, query_string={"sort": "support"}).get_data(as_text=True)
    assert html.index("Vieille idée") < html.index("Idée acceptée") < html.index("Nouvelle idée")

    html = client.get(url, query_string={"goal": "13"}).get_data(as_text=True)
    assert "Nouvelle idée" in html and "Vieille idée" not in html

    html = client.get(url, query_string={"session": str(meeting.id)}).get_data(as_text=True)
    assert "Vieille idée" in html and "Nouvelle idée" not in html

    html = client.get(url, query_string={"state": "accepted"}).get_data(as_text=True)
    assert "Idée acceptée" in html and "Vieille idée" not in html

    for bad in ({"goal": "99"}, {"goal": "abc"}, {"state": "draft"}, {"session": "999"},
                {"sort": "evil"}, {"session": str(2**63)}):
        response = client.get(url, query_string=bad)
        assert response.status_code == 422, bad
    assert client.get(url, query_string={"page": "abc"}).status_code == 200
    assert client.get(url, query_string={"page": str(2**63)}).status_code == 200

    login_as(factory.user("staff"))
    html = client.get(url).get_data(as_text=True)
    assert "Idée cachée" in html and "Hidden by moderation" in html


def test_list_pagination(client, factory):
    process = factory.process()
    user = factory.user("citizen")
    for i in range(25):
        make_proposal(process, user, title=f"Idée numéro {i:02d}")
    url = f"/processes/{process.id}/proposals"
    first = client.get(url).get_data(as_text=True)
    second = client.get(url, query_string={"page": 2}).get_data(as_text=True)
    assert "Idée numéro 24" in first and "Idée numéro 00" not in first
    assert "Idée numéro 00" in second and "Next page" in first


def test_hidden_proposal_is_404_for_non_staff(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = make_proposal(process, author, hidden=True)
    assert client.get(f"/proposals/{proposal.id}").status_code == 404
    login_as(author)
    assert client.get(f"/proposals/{proposal.id}").status_code == 404
    client.post("/auth/logout")
    login_as(factory.user("staff"))
    response = client.get(f"/proposals/{proposal.id}")
    assert response.status_code == 200 and b"Hidden by moderation" in response.data


# ---------------------------------------------------------------- comments

def test_comment_happy_path_and_closed(client, factory, login_as):
    process = factory.process()
    author = factory.user("citizen")
    proposal = make_proposal(process, author)
    login_as(factory.user("citizen", name="Bob Commentateur"))
    response = client.post(f"/proposals/{proposal.id}/comments",
                           data={"body": "Très bonne idée <script>x</script>"})
    assert response.status_code == 302
    assert count(Comment) == 1
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Bob Commentateur" in html and "&lt;script&gt;" in html

    closed = factory.process(title="Fermé", open_all=False)
    other = make_proposal(closed, author)
    response = client.post(f"/proposals/{other.id}/comments", data={"body": "Trop tard"})
    assert response.status_code == 409
    assert count(Comment) == 1
    assert b"Comments are not open" in client.get(f"/proposals/{other.id}").data


def test_comment_needs_login(client, factory):
    process = factory.process()
    proposal = make_proposal(process, factory.user("citizen"))
    response = client.post(f"/proposals/{proposal.id}/comments", data={"body": "Anonyme"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert count(Comment) == 0


def test_pages_carry_working_csrf_tokens(tmp_path):
    """With CSRF on, the tokens our templates render (form, vote buttons, report) are accepted."""
    from tests.conftest import (
        PASSWORD,
        Factory,
        csrf_token_from,
        make_app,
        seed_reference_data,
    )

    app = make_app(WTF_CSRF_ENABLED=True,
                   SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'csrf.sqlite'}")
    with app.app_context():
        _db.create_all()
        seed_reference_data()
        f = Factory()
        process = f.process()
        user = f.user("citizen")
        ids = (process.id, user.email)
    client = app.test_client()
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    client.post("/auth/login", data={"email": ids[1], "password": PASSWORD,
                                     "csrf_token": token})
    page = client.get(f"/processes/{ids[0]}/proposals/new").get_data(as_text=True)
    token = csrf_token_from(page)
    assert token
    response = client.post(f"/processes/{ids[0]}/proposals/new", data={
        "title": "Avec jeton", "body": "Texte", "publish": "Publish", "csrf_token": token})
    assert response.status_code == 302
    detail_url = response.headers["Location"]
    detail = client.get(detail_url).get_data(as_text=True)
    token = csrf_token_from(detail)
    proposal_id = int(detail_url.rstrip("/").rsplit("/", 1)[1])
    assert client.post(f"/proposals/{proposal_id}/vote",
                       data={"value": "1", "csrf_token": token}).status_code == 302
    assert client.post("/reports", data={"target_type": "proposal",
                                         "target_id": str(proposal_id), "reason": "Test",
                                         "csrf_token": token}).status_code == 302
    assert client.post(f"/proposals/{proposal_id}/vote",
                       data={"value": "1"}).status_code == 400
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == 1
        _db.session.remove()
        _db.engine.dispose()
