"""Association management by staff: create, attach and detach members (audited)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Association, Role, User
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import Participant, ParticipantKind


def counts(db) -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Association, AuditLog)
    )


@pytest.fixture(params=["staff", "admin"])
def manager(request, factory, login_as):
    user = factory.user(request.param)
    login_as(user)
    return user


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "evaluator"])
def test_others_get_403(client, db, factory, login_as, role):
    association = factory.association()
    member = factory.user("association", association=association)
    login_as(factory.user(role))
    before = counts(db)
    for url in ("/admin/associations", f"/admin/associations/{association.id}"):
        assert client.get(url).status_code == 403
    for url, data in (
        ("/admin/associations", {"name": "X"}),
        (f"/admin/associations/{association.id}/members", {"email": "a@example.org"}),
        (f"/admin/associations/{association.id}/members/{member.id}/remove", {}),
    ):
        assert client.post(url, data=data).status_code == 403
    assert counts(db) == before


def test_list_shows_member_counts_and_empty_state(client, factory, manager):
    assert b"No association yet" in client.get("/admin/associations").data
    association = factory.association("Les Amis du Parc")
    factory.user("association", association=association)
    factory.user("association", association=association)
    page = client.get("/admin/associations").get_data(as_text=True)
    assert "Les Amis du Parc" in page and "<td>2</td>" in page


def test_create_association_is_audited(client, db, manager):
    response = client.post("/admin/associations",
                           data={"name": " Vélo  Villeneuve ", "description": "Pédaler."})
    assert response.status_code == 302
    association = db.session.scalars(sa.select(Association)).one()
    assert (association.name, association.description) == ("Vélo Villeneuve", "Pédaler.")
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert (audit.action, audit.actor_id, audit.target_id) == ("association.create", manager.id,
                                                               association.id)
    assert client.get(response.headers["Location"]).status_code == 200


@pytest.mark.parametrize("data", [
    {},
    {"name": ""},
    {"name": "N" * 2000},
    {"name": "Nul\x00"},
    {"name": "Ok", "description": "d" * 20000},
    {"name": "Ok", "description": "bad\x00"},
    {"name": "déjà là"},
    {"name": "DÉJÀ LÀ"},
])
def test_create_association_bad_input(client, db, factory, manager, data):
    factory.association("déjà là")
    before = counts(db)
    assert client.post("/admin/associations", data=data).status_code == 422
    assert counts(db) == before


def test_attach_citizen_makes_them_association_and_syncs(client, db, factory, manager):
    association = factory.association()
    citizen = factory.user("citizen", email="rep@example.org")
    participant = factory.participant(citizen)
    response = client.post(f"/admin/associations/{association.id}/members",
                           data={"email": "REP@example.org"})
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, citizen.id)
    assert (stored.role, stored.association_id) == (Role.ASSOCIATION, association.id)
    p = db.session.get(Participant, participant.id)
    assert (p.kind, p.association_id) == (ParticipantKind.ASSOCIATION, association.id)
    rows = db.session.scalars(sa.select(AuditLog)).all()
    assert [r.action for r in rows] == ["association.member_add"]
    assert rows[0].details["association_id"] == association.id
    assert b"rep@example.org" in client.get(f"/admin/associations/{association.id}").data


def test_attach_elected_keeps_their_role(client, db, factory, manager):
    association = factory.association()
    elected = factory.user("elected")
    assert client.post(f"/admin/associations/{association.id}/members",
                       data={"email": elected.email}).status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, elected.id)
    assert (stored.role, stored.association_id) == (Role.ELECTED, association.id)


def test_detach_member(client, db, factory, manager):
    association = factory.association()
    member = factory.user("association", association=association)
    participant = factory.participant(member)
    response = client.post(f"/admin/associations/{association.id}/members/{member.id}/remove")
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, member.id)
    assert (stored.role, stored.association_id) == (Role.CITIZEN, None)
    p = db.session.get(Participant, participant.id)
    assert (p.kind, p.association_id) == (ParticipantKind.CITIZEN, None)
    assert [r.action for r in db.session.scalars(sa.select(AuditLog))] == [
        "association.member_remove"]


@pytest.mark.parametrize(("data", "status"), [
    ({}, 422),
    ({"email": ""}, 422),
    ({"email": "x" * 2540 + "@example.org"}, 422),
    ({"email": "nul\x00@example.org"}, 422),
    ({"email": "nobody@example.org"}, 422),
    ({"email": "member@example.org"}, 409),
    ({"email": "elsewhere@example.org"}, 409),
])
def test_attach_bad_input(client, db, factory, manager, data, status):
    association = factory.association()
    factory.user("association", email="member@example.org", association=association)
    factory.user("association", email="elsewhere@example.org",
                 association=factory.association())
    before = counts(db)
    response = client.post(f"/admin/associations/{association.id}/members", data=data)
    assert response.status_code == status
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.association_id == association.id)) == 1


@pytest.mark.parametrize("ident", ["999999", str(2**31), str(2**63)])
def test_unknown_ids_are_404(client, db, factory, manager, ident):
    association = factory.association()
    member = factory.user("association", association=association)
    before = counts(db)
    assert client.get(f"/admin/associations/{ident}").status_code == 404
    assert client.post(f"/admin/associations/{ident}/members",
                       data={"email": member.email}).status_code == 404
    assert client.post(f"/admin/associations/{association.id}/members/{ident}/remove"
                       ).status_code == 404
    assert client.post(f"/admin/associations/{ident}/members/{member.id}/remove"
                       ).status_code == 404
    assert counts(db) == before


def test_detach_someone_not_a_member_is_404(client, db, factory, manager):
    association = factory.association()
    outsider = factory.user("association", association=factory.association())
    before = counts(db)
    assert client.post(f"/admin/associations/{association.id}/members/{outsider.id}/remove"
                       ).status_code == 404
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(User, outsider.id).association_id is not None
