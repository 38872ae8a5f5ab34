"""Account administration: list, create, change role (audited), and who may do it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Association, Role, User
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import Participant, ParticipantKind
from pvplatform.participation.services import participant_for

STRONG = "a strong staff password, long"


def counts(db) -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Association, AuditLog)
    )


@pytest.fixture
def admin(factory, login_as):
    user = factory.user("admin", name="Ada Admin")
    login_as(user)
    return user


@pytest.mark.parametrize("role", ["citizen", "association", "staff", "elected", "evaluator"])
@pytest.mark.parametrize("url", ["/admin/users", "/admin/users/new", "/admin/users/1"])
def test_non_admins_get_403(client, factory, login_as, role, url):
    login_as(factory.user(role))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", ["citizen", "staff"])
def test_non_admin_cannot_change_roles_or_create(client, db, factory, login_as, role):
    target = factory.user()
    login_as(factory.user(role))
    before = counts(db)
    assert client.post(f"/admin/users/{target.id}/role",
                       data={"role": "admin", "reason": "please"}).status_code == 403
    assert client.post("/admin/users/new", data={
        "email": "new@example.org", "display_name": "New", "role": "admin",
        "password": STRONG, "confirm": STRONG}).status_code == 403
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(User, target.id).role == Role.CITIZEN


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_list_filter_and_search(client, factory, admin):
    factory.user("citizen", name="Zoé Dupont", email="zoe@example.org")
    factory.user("staff", name="Sam Agent", email="sam@mairie.example.org")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Zoé Dupont" in page and "Sam Agent" in page
    page = client.get("/admin/users?role=staff").get_data(as_text=True)
    assert "Sam Agent" in page and "Zoé Dupont" not in page
    page = client.get("/admin/users?q=MAIRIE").get_data(as_text=True)
    assert "Sam Agent" in page and "Zoé Dupont" not in page
    page = client.get("/admin/users?q=zoé").get_data(as_text=True)
    assert "Zoé Dupont" in page and "Sam Agent" not in page
    page = client.get("/admin/users?q=%25").get_data(as_text=True)  # a literal %, not a wildcard
    assert "Zoé Dupont" not in page


def test_list_is_paginated(client, db, admin):
    db.session.add_all(User(email=f"p{n}@example.org", display_name=f"Person {n:02d}")
                       for n in range(30))
    db.session.commit()
    first = client.get("/admin/users").get_data(as_text=True)
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert "Person 00" in first and "Person 29" not in first
    assert "Person 29" in second and "Person 00" not in second


@pytest.mark.parametrize("query", ["role=superuser", "q=" + "x" * 2540, "q=a%00b",
                                   "role=admin%00"])
def test_list_bad_filters_are_422(client, admin, query):
    assert client.get(f"/admin/users?{query}").status_code == 422


@pytest.mark.parametrize("page", ["0", "-1", "abc", str(2**63)])
def test_list_bad_page_falls_back_to_a_valid_page(client, admin, page):
    # Out-of-range pages are clamped (first or last allowed page), never a 500.
    assert client.get(f"/admin/users?page={page}").status_code == 200


@pytest.mark.parametrize("user_id", ["999999", str(2**31), str(2**63)])
def test_unknown_user_is_404(client, db, admin, user_id):
    before = counts(db)
    assert client.get(f"/admin/users/{user_id}").status_code == 404
    assert client.post(f"/admin/users/{user_id}/role",
                       data={"role": "staff", "reason": "x"}).status_code == 404
    assert counts(db) == before


def test_admin_creates_an_account_for_any_role(client, db, admin):
    response = client.post("/admin/users/new", data={
        "email": "Elu@Mairie.example.org", "display_name": "Élu Un", "role": "elected",
        "password": STRONG, "confirm": STRONG, "role_extra": "ignored"})
    assert response.status_code == 302
    user = db.session.scalars(sa.select(User).where(User.email == "elu@mairie.example.org")).one()
    assert user.role == Role.ELECTED
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert (audit.action, audit.actor_id, audit.target_id) == ("account.create", admin.id,
                                                               user.id)
    assert client.get(response.headers["Location"]).status_code == 200


@pytest.mark.parametrize(("overrides", "message"), [
    ({"password": "only 14 chars!", "confirm": "only 14 chars!"}, b"at least 15"),
    ({"role": "superuser"}, None),
    ({"role": ""}, None),
    ({"email": ""}, None),
    ({"email": "e" * 2540 + "@example.org"}, None),
    ({"email": "new\x00@example.org"}, None),
    ({"display_name": ""}, None),
    ({"display_name": "D" * 1200}, None),
    ({"display_name": "Nul\x00"}, None),
    ({"password": "p" * 1280, "confirm": "p" * 1280}, None),
    ({"confirm": "different but long enough"}, b"do not match"),
    ({"email": "taken@example.org"}, b"already exists"),
])
def test_admin_create_bad_input(client, db, factory, admin, overrides, message):
    factory.user(email="taken@example.org")
    data = {"email": "new@example.org", "display_name": "New Person", "role": "staff",
            "password": STRONG, "confirm": STRONG}
    data.update(overrides)
    before = counts(db)
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 422
    if message:
        assert message in response.data
    assert counts(db) == before


def test_role_change_writes_exactly_one_audit_row_and_syncs_participant(client, db, factory,
                                                                        admin):
    target = factory.user("citizen")
    participant = factory.participant(target)
    assert participant.kind == ParticipantKind.CITIZEN
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    response = client.post(f"/admin/users/{target.id}/role",
                           data={"role": "staff", "reason": "Hired by the town hall"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, target.id).role == Role.STAFF
    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "user.role_change")
                              ).all()
    assert len(rows) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before + 1
    row = rows[0]
    assert (row.actor_id, row.target_type, row.target_id) == (admin.id, "user", target.id)
    assert row.details == {"from": "citizen", "to": "staff", "reason": "Hired by the town hall"}
    assert db.session.get(Participant, participant.id).kind == ParticipantKind.MANAGER


def test_admin_cannot_remove_their_own_admin_role(client, db, admin):
    before = counts(db)
    response = client.post(f"/admin/users/{admin.id}/role",
                           data={"role": "citizen", "reason": "oops"})
    assert response.status_code in (409, 422)
    assert b"your own administrator role" in response.data
    db.session.expire_all()
    assert db.session.get(User, admin.id).role == Role.ADMIN
    assert counts(db) == before


def test_another_admin_can_be_demoted(client, db, factory, admin):
    other = factory.user("admin")
    assert client.post(f"/admin/users/{other.id}/role",
                       data={"role": "staff", "reason": "Left the IT team"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, other.id).role == Role.STAFF


@pytest.mark.parametrize("data", [
    {},
    {"role": "staff"},
    {"role": "staff", "reason": ""},
    {"role": "staff", "reason": "   "},
    {"role": "staff", "reason": "r" * 5000},
    {"role": "staff", "reason": "nul\x00"},
    {"role": "superuser", "reason": "x"},
    {"role": "citizen", "reason": "already citizen"},
])
def test_role_change_bad_input(client, db, factory, admin, data):
    target = factory.user("citizen")
    participant_for(target)
    db.session.commit()
    before = counts(db)
    response = client.post(f"/admin/users/{target.id}/role", data=data)
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, target.id).role == Role.CITIZEN
    assert counts(db) == before
