"""SECURITY.md, Accounts and sessions: "Passwords: at least 12 characters, up to 128, any Unicode,
refused if on a common-password list or containing the e-mail's local part; staff, elected,
evaluator and admin accounts at least 15. Hashed with Argon2id; no truncation"."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.auth.passwords import (
    COMMON_PASSWORDS_FILE,
    hash_password,
    is_common_password,
    verify_password,
)
from pvplatform.auth.services import check_password_policy
from pvplatform.errors import ValidationFailed
from tests.conftest import PASSWORD, STAFF_PASSWORD

GOOD = "the river bends near the old mill"


def refused(password: str, *, email: str = "lea@example.org", role: Role = Role.CITIZEN) -> str:
    with pytest.raises(ValidationFailed) as info:
        check_password_policy(password, email=email, role=role)
    return info.value.message


def accepted(password: str, *, email: str = "lea@example.org", role: Role = Role.CITIZEN
             ) -> None:
    check_password_policy(password, email=email, role=role)


# ---------------------------------------------------------------- length

def test_password_policy_at_least_12_characters(app):
    assert "at least 12" in refused("a" * 5 + "b" * 6)  # 11
    accepted("tall oak 123")  # 12


@pytest.mark.parametrize("role", [Role.STAFF, Role.ELECTED, Role.EVALUATOR, Role.ADMIN])
def test_password_policy_privileged_roles_need_15(app, role):
    assert "at least 15" in refused("tall oak 12345", role=role)  # 14
    accepted("tall oak 123456", role=role)  # 15


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.ASSOCIATION])
def test_password_policy_participants_need_12(app, role):
    accepted("tall oak 123", role=role)


def test_password_policy_at_most_128_characters(app):
    accepted("x7-" * 42 + "ab")  # 128
    assert "at most 128" in refused("x7-" * 42 + "abc")  # 129


def test_password_policy_any_unicode(db):
    for password in ("mot de passe très sûr", "пароль очень длинный", "パスワードはとても長いです",
                     "🔑🔑🔑 my emoji key 🔑🔑🔑", "كلمة سر طويلة جدا"):
        accepted(password)
        assert verify_password(hash_password(password), password)
        assert not verify_password(hash_password(password), password[:-1])


def test_password_policy_length_counts_characters_not_bytes(app):
    # 12 accented characters are 24 UTF-8 bytes: still 12 characters, accepted; 11 are not.
    accepted("é" * 6 + "à" * 6)
    assert "at least 12" in refused("é" * 11)


# ---------------------------------------------------------------- common passwords

def test_common_password_list_is_a_few_thousand_lowercase_entries():
    entries = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split()
    assert 3000 <= len(entries) <= 30000
    assert len(entries) == len(set(entries))
    assert all(e == e.casefold() for e in entries)
    for famous in ("123456", "password", "qwerty", "iloveyou", "qwertyuiop",
                   "1q2w3e4r5t6y", "qwerty123456", "azertyuiop"):
        assert is_common_password(famous), famous


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "1q2w3e4r5t6y",
                                      "PasswordPassword", "iloveyouiloveyou",
                                      "abcdefghijklmnopqrstuvwxyz"])
def test_password_policy_common_password_refused_case_insensitive(app, password):
    assert len(password) >= 12
    assert "most common" in refused(password)


def test_password_policy_common_password_refused_for_staff_too(app):
    assert "most common" in refused("qwertyuiopasdfghjkl", role=Role.ADMIN)


def test_password_policy_uncommon_long_password_accepted(app):
    accepted(GOOD)
    accepted(PASSWORD)
    accepted(STAFF_PASSWORD, role=Role.ADMIN)


# ---------------------------------------------------------------- e-mail local part

@pytest.mark.parametrize("password", ["marguerite-loves-the-town", "MARGUERITE 2030 agenda",
                                      "the town of Marguerite"])
def test_password_policy_email_local_part_refused(app, password):
    assert "must not contain your e-mail" in refused(password, email="Marguerite@Example.org")


def test_password_policy_other_words_of_the_email_are_fine(app):
    # The domain is not personal: "example" inside the password is not refused.
    accepted("an example of patience", email="marguerite@example.org")


# ---------------------------------------------------------------- hashing

def test_password_hashed_with_argon2id(client, db):
    response = client.post("/auth/register", data={
        "email": "new.person@example.org", "display_name": "New", "password": GOOD,
        "confirm": GOOD, "locale": "en"})
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new.person@example.org"))
    assert user.password_hash.startswith("$argon2id$")
    assert GOOD not in user.password_hash


def test_password_production_hasher_uses_library_defaults():
    from argon2 import PasswordHasher, Type

    from pvplatform.auth import passwords

    default = PasswordHasher()
    assert passwords._DEFAULT.type is Type.ID
    assert (passwords._DEFAULT.time_cost, passwords._DEFAULT.memory_cost) == (
        default.time_cost, default.memory_cost)


def test_password_no_truncation_100_characters_changed_tail_fails(db):
    password = "a long and winding sentence about the town square and its old plane trees!!"
    password = (password * 2)[:100]
    assert len(password) == 100
    stored = hash_password(password)
    assert verify_password(stored, password)
    assert not verify_password(stored, password[:-1] + "?")
    assert not verify_password(stored, password[:72])  # bcrypt would stop reading here
    assert not verify_password(stored, password[:99])


def test_password_no_truncation_through_login(client, factory):
    password = ("x" * 80) + "tail of twenty chars"
    assert len(password) == 100
    user = factory.user(password=password)
    changed = password[:-1] + "S"
    assert client.post("/auth/login", data={"email": user.email,
                                            "password": changed}).status_code == 422
    assert client.post("/auth/login", data={"email": user.email,
                                            "password": password}).status_code == 302


# ---------------------------------------------------------------- through the forms

@pytest.mark.parametrize(("password", "message"), [
    ("short pass", b"at least 12"),
    ("qwerty123456", b"most common"),
    ("new.person loves parks", b"must not contain your e-mail"),
    ("z" * 129, None),
])
def test_password_policy_on_registration(client, db, password, message):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    response = client.post("/auth/register", data={
        "email": "new.person@example.org", "display_name": "New", "password": password,
        "confirm": password, "locale": "en"})
    assert response.status_code == 422
    if message:
        assert message in response.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def test_password_policy_on_password_change(client, factory, login_as, db):
    user = factory.user()
    login_as(user)
    before = user.password_hash
    response = client.post("/auth/me/password", data={
        "current_password": PASSWORD, "password": "Qwerty123456", "confirm": "Qwerty123456"})
    assert response.status_code == 422
    assert b"most common" in response.data
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before
