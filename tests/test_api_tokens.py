"""Personal API tokens (issue 11): created and revoked in the profile by staff, admins and
evaluators only; stored as a SHA-256 hash, shown once; a revoked or expired token, a deleted
account or a role that lost API access no longer opens the API."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.errors import NotAllowed, NotFound, ValidationFailed
from pvplatform.evaluation.models import ApiToken
from pvplatform.evaluation.token_views import expiry_instant, last_day_of
from pvplatform.evaluation.tokens import (
    MAX_ACTIVE_TOKENS,
    TokenCheck,
    authenticate,
    check_token,
    create_token,
    hash_token,
    revoke_token,
    tokens_of,
)
from pvplatform.moderation.models import AuditLog

URL = "/me/api-tokens/"
TOKEN_RE = re.compile(r'id="new-token-value">(pvp_[A-Za-z0-9_-]+)<')


def tokens(db) -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)))


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


# ---------------------------------------------------------------- who may hold tokens


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.ASSOCIATION, Role.ELECTED])
def test_roles_without_api_get_403_on_the_pages(client, factory, login_as, db, role):
    login_as(factory.user(role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"name": "mine"}).status_code == 403
    assert tokens(db) == []


def test_anonymous_visitors_are_sent_to_login(client, db):
    response = client.get(URL)
    assert response.status_code in (302, 303)
    assert "/auth/login" in response.headers["Location"]


def test_a_citizen_cannot_create_a_token_through_the_service(factory, db):
    with pytest.raises(NotAllowed):
        create_token(factory.user(Role.CITIZEN), "mine", expires_at=None, now=utcnow())


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN, Role.EVALUATOR])
def test_api_roles_see_the_page(client, factory, login_as, db, role):
    login_as(factory.user(role))
    response = client.get(URL)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Create a token" in response.get_data(as_text=True)


@pytest.mark.parametrize(("role", "linked"), [(Role.STAFF, True), (Role.CITIZEN, False)])
def test_my_space_links_to_the_page_for_api_roles(client, factory, login_as, db, role, linked):
    login_as(factory.user(role))
    response = client.get("/auth/me")
    assert response.status_code == 200
    assert (URL in response.get_data(as_text=True)) is linked


# ---------------------------------------------------------------- created, shown once, hashed


def test_a_token_is_shown_once_and_only_its_hash_is_stored(client, factory, login_as, db):
    staff = factory.user(Role.STAFF)
    login_as(staff)
    response = client.post(URL, data={"name": "R scripts"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    match = TOKEN_RE.search(html)
    assert match, html[:2000]
    raw = match.group(1)
    assert len(raw) >= 40
    [row] = tokens(db)
    assert row.user_id == staff.id and row.name == "R scripts" and row.scope == "read"
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:12] and raw.startswith("pvp_")
    # The token is nowhere in the database, nor in the audit trail.
    for column in ApiToken.__table__.columns:
        assert getattr(row, column.key) != raw
    details = db.session.scalars(sa.select(AuditLog.details)).all()
    assert raw not in repr(details)
    assert audit_actions(db) == ["api_token.create"]
    # Neither in a redirect, nor in a flash message: the next page does not show it.
    assert "Location" not in response.headers
    again = client.get(URL).get_data(as_text=True)
    assert raw not in again and row.prefix in again
    assert authenticate(raw, utcnow()).id == staff.id


def test_each_token_is_different(factory, db):
    staff = factory.user(Role.STAFF)
    now = utcnow()
    raws = {create_token(staff, f"t{i}", expires_at=None, now=now)[1] for i in range(5)}
    assert len(raws) == 5


@pytest.mark.parametrize(("data", "field"), [
    ({"name": ""}, "name"),
    ({"name": "x" * 81}, "name"),
    ({"name": "ok", "expires_on": "2001-01-01"}, "expires_on"),
    ({"name": "ok", "expires_on": "not a date"}, "expires_on"),
    ({"name": "ok", "expires_on": "9999-12-31"}, "expires_on"),
])
def test_bad_input_is_refused_on_the_form(client, factory, login_as, db, data, field):
    login_as(factory.user(Role.EVALUATOR))
    response = client.post(URL, data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert TOKEN_RE.search(html) is None
    assert tokens(db) == []


def test_an_end_date_works_through_that_day_in_the_town(app, db):
    now = utcnow()
    last_day = (now + timedelta(days=3)).date()
    with app.test_request_context():
        end = expiry_instant(last_day, now)
        assert end is not None and end > now
        assert end - now < timedelta(days=5)
        with pytest.raises(ValidationFailed):
            expiry_instant(date(now.year + 6, 1, 1), now)


def test_the_form_takes_an_end_date(app, client, factory, login_as, db):
    login_as(factory.user(Role.STAFF))
    last_day = (utcnow() + timedelta(days=30)).date()
    response = client.post(URL, data={"name": "until next month",
                                      "expires_on": last_day.isoformat()})
    assert response.status_code == 200
    [row] = tokens(db)
    assert row.expires_at is not None
    assert timedelta(days=29) < row.expires_at - utcnow() < timedelta(days=32)
    with app.test_request_context():
        assert last_day_of(row.expires_at) == last_day


def test_at_most_twenty_active_tokens(factory, db):
    staff = factory.user(Role.STAFF)
    now = utcnow()
    created = [create_token(staff, f"t{i}", expires_at=None, now=now)[0]
               for i in range(MAX_ACTIVE_TOKENS)]
    db.session.commit()
    with pytest.raises(ValidationFailed):
        create_token(staff, "one too many", expires_at=None, now=now)
    db.session.rollback()
    revoke_token(staff, created[0].id, now)
    create_token(staff, "room again", expires_at=None, now=now)
    db.session.commit()
    assert len(tokens_of(staff)) == MAX_ACTIVE_TOKENS + 1


# ---------------------------------------------------------------- revoked


def test_revoking_a_token_of_ones_own(client, factory, login_as, db):
    staff = factory.user(Role.STAFF)
    row, raw = create_token(staff, "old laptop", expires_at=None, now=utcnow())
    db.session.commit()
    login_as(staff)
    response = client.post(f"{URL}{row.id}/revoke")
    assert response.status_code == 303
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert authenticate(raw, utcnow()) is None
    assert check_token(raw, utcnow()).outcome == TokenCheck.INVALID
    assert audit_actions(db) == ["api_token.create", "api_token.revoke"]
    page = client.get(URL).get_data(as_text=True)
    assert "Revoked" in page and "is revoked" in page
    # Again: said so, nothing changes.
    assert client.post(f"{URL}{row.id}/revoke").status_code == 303
    assert audit_actions(db) == ["api_token.create", "api_token.revoke"]


def test_someone_elses_token_is_not_found(client, factory, login_as, db):
    owner, other = factory.user(Role.STAFF), factory.user(Role.EVALUATOR)
    row, raw = create_token(owner, "mine", expires_at=None, now=utcnow())
    db.session.commit()
    login_as(other)
    assert client.post(f"{URL}{row.id}/revoke").status_code == 404
    assert client.post(f"{URL}{row.id + 1000}/revoke").status_code == 404
    assert client.post(f"{URL}99999999999999999999/revoke").status_code == 404
    db.session.refresh(row)
    assert row.revoked_at is None
    assert authenticate(raw, utcnow()) is not None
    with pytest.raises(NotFound):
        revoke_token(other, row.id, utcnow())


# ---------------------------------------------------------------- what a token is worth


def test_an_expired_token_no_longer_works(factory, db):
    staff = factory.user(Role.STAFF)
    now = utcnow()
    _row, raw = create_token(staff, "a week", expires_at=now + timedelta(days=7), now=now)
    db.session.commit()
    assert authenticate(raw, now + timedelta(days=6)) is not None
    assert authenticate(raw, now + timedelta(days=7)) is None
    assert check_token(raw, now + timedelta(days=8)).outcome == TokenCheck.INVALID


def test_a_deleted_account_token_no_longer_works(factory, db):
    staff = factory.user(Role.STAFF)
    _row, raw = create_token(staff, "t", expires_at=None, now=utcnow())
    staff.deleted_at = utcnow()
    db.session.commit()
    assert authenticate(raw, utcnow()) is None
    assert check_token(raw, utcnow()).outcome == TokenCheck.INVALID


def test_a_role_that_lost_api_access_is_refused(factory, db):
    evaluator = factory.user(Role.EVALUATOR)
    _row, raw = create_token(evaluator, "t", expires_at=None, now=utcnow())
    evaluator.role = Role.CITIZEN
    db.session.commit()
    assert authenticate(raw, utcnow()) is None
    assert check_token(raw, utcnow()).outcome == TokenCheck.FORBIDDEN


@pytest.mark.parametrize("raw", ["", "x", "pvp_" + "a" * 300, "pvp_é", "pvp_a b", None, 42])
def test_garbage_is_no_token(factory, db, raw):
    assert check_token(raw, utcnow()).outcome == TokenCheck.INVALID


def test_last_use_is_written_at_most_once_a_minute(factory, db):
    staff = factory.user(Role.STAFF)
    now = utcnow()
    row, raw = create_token(staff, "t", expires_at=None, now=now)
    db.session.commit()
    first = check_token(raw, now)
    assert first.touched and row.last_used_at == now
    assert not check_token(raw, now + timedelta(seconds=30)).touched
    assert row.last_used_at == now
    later = now + timedelta(seconds=61)
    assert check_token(raw, later).touched and row.last_used_at == later


def test_the_hash_is_sha256_hex():
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
