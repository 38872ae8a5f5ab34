"""Self-registration: citizens and associations' representatives, and every refusal."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import (
    Association,
    AssociationStatus,
    MembershipDecision,
    MembershipRequest,
    Role,
    User,
)
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import Participant

GOOD = "a long and quiet river of stones"


def counts(db) -> tuple[int, int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Association, AuditLog, Participant)
    )


def form(**overrides) -> dict[str, str]:
    data = {"email": "Lea.Martin@Example.org", "display_name": "Léa Martin",
            "password": GOOD, "confirm": GOOD, "locale": "en"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def only_user(db) -> User:
    return db.session.scalars(sa.select(User)).one()


def test_register_page_renders(client, db):
    response = client.get("/auth/register")
    assert response.status_code == 200
    assert b"I represent an association" in response.data


def test_register_citizen_logs_in_and_lands_in_my_space(client, db):
    response = client.post("/auth/register", data=form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/me")
    user = only_user(db)
    assert user.email == "lea.martin@example.org"
    assert user.role == Role.CITIZEN
    assert user.association_id is None
    assert user.locale == "en"
    assert user.password_hash and GOOD not in user.password_hash
    page = client.get("/auth/me")
    assert page.status_code == 200
    assert "Léa Martin" in page.get_data(as_text=True)


def test_register_with_existing_association(client, db, factory):
    """A request to join, not a membership: the person stays a citizen until someone approves
    (tests/test_security_issue9_associations*.py)."""
    association = factory.association("Vélo Villeneuve")
    response = client.post("/auth/register", data=form(
        represents_association="y", association_id=str(association.id)))
    assert response.status_code == 302
    user = only_user(db)
    assert user.role == Role.CITIZEN
    assert user.association_id is None
    request = db.session.scalars(sa.select(MembershipRequest)).one()
    assert (request.user_id, request.association_id, request.decision) == (
        user.id, association.id, MembershipDecision.PENDING)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Association)) == 1


def test_register_with_new_association(client, db):
    response = client.post("/auth/register", data=form(
        represents_association="y", new_association="  Jardins   partagés "))
    assert response.status_code == 302
    user = only_user(db)
    association = db.session.scalars(sa.select(Association)).one()
    assert association.name == "Jardins partagés"
    assert association.status == AssociationStatus.PENDING
    assert user.role == Role.CITIZEN and user.association_id is None
    audit = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)).all()
    assert [(a.action, a.actor_id) for a in audit] == [
        ("association.create", user.id), ("association.member_request", user.id)]
    assert audit[0].target_id == association.id


def test_role_injection_is_ignored(client, db):
    response = client.post("/auth/register", data=form(role="admin", association_id=""))
    assert response.status_code == 302
    assert only_user(db).role == Role.CITIZEN


def test_duplicate_email_is_refused_and_nothing_stored(client, db, factory):
    factory.user(email="lea.martin@example.org")
    before = counts(db)
    response = client.post("/auth/register", data=form(email="LEA.martin@example.org"))
    assert response.status_code == 422
    assert b"already exists" in response.data
    assert counts(db) == before


def test_duplicate_email_with_new_association_stores_no_association(client, db, factory):
    factory.user(email="lea.martin@example.org")
    before = counts(db)
    response = client.post("/auth/register", data=form(
        represents_association="y", new_association="Nouvelle asso"))
    assert response.status_code == 422
    assert counts(db) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short pass", "confirm": "short pass"}, b"at least 12"),
        ({"password": "x" * 129, "confirm": "x" * 129}, b"128"),
        ({"password": "y" * 1280, "confirm": "y" * 1280}, b"128"),
        ({"password": "lea.martin is my name", "confirm": "lea.martin is my name"},
         b"must not contain your e-mail"),
        ({"confirm": GOOD + "!"}, b"do not match"),
        ({"password": "", "confirm": ""}, None),
        ({"password": GOOD + "\x00", "confirm": GOOD + "\x00"}, None),
        ({"email": ""}, None),
        ({"email": "not-an-email"}, None),
        ({"email": "a" * 2540 + "@example.org"}, None),
        ({"email": "lea\x00@example.org"}, None),
        ({"display_name": ""}, None),
        ({"display_name": "   "}, None),
        ({"display_name": "L" * 1200}, None),
        ({"display_name": "Léa\x00"}, None),
        ({"display_name": "Léa\u202eniraM"}, None),
        ({"locale": "de"}, None),
        ({"locale": ""}, None),
        ({"represents_association": "y"}, b"one of the two"),
        ({"represents_association": "y", "association_id": "999999"}, None),
        ({"represents_association": "y", "association_id": "abc"}, None),
        ({"represents_association": "y", "association_id": str(2**63)}, None),
        ({"represents_association": "y", "new_association": "A" * 2000}, None),
        ({"represents_association": "y", "new_association": "Asso\x00"}, None),
        ({"new_association": "Asso sans case"}, b"Tick this box"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(client, db, overrides, message):
    before = counts(db)
    response = client.post("/auth/register", data=form(**overrides))
    assert response.status_code == 422, response.status_code
    if message:
        assert message in response.data
    assert counts(db) == before


def test_both_existing_and_new_association_is_refused(client, db, factory):
    association = factory.association()
    before = counts(db)
    response = client.post("/auth/register", data=form(
        represents_association="y", association_id=str(association.id),
        new_association="Autre"))
    assert response.status_code == 422
    assert counts(db) == before


def test_new_association_with_existing_name_is_refused(client, db, factory):
    factory.association("Jardins partagés")
    before = counts(db)
    response = client.post("/auth/register", data=form(
        represents_association="y", new_association="jardins PARTAGÉS"))
    assert response.status_code == 422
    assert b"already registered" in response.data
    assert counts(db) == before


def test_logged_in_person_is_sent_to_my_space(client, factory, login_as):
    login_as(factory.user())
    response = client.get("/auth/register")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/me")
