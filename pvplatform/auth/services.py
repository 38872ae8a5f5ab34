"""Accounts: creation, authentication, roles. No request context here."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Role, User, new_session_token
from pvplatform.auth.passwords import hash_password, needs_rehash, verify_password
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db

MIN_PASSWORD = 12
MIN_PASSWORD_PRIVILEGED = 15
MAX_PASSWORD = 128
PRIVILEGED_ROLES = (Role.STAFF, Role.ELECTED, Role.EVALUATOR, Role.ADMIN)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def check_password_policy(password: str, *, email: str | None, role: Role) -> None:
    minimum = MIN_PASSWORD_PRIVILEGED if role in PRIVILEGED_ROLES else MIN_PASSWORD
    if len(password) < minimum:
        raise ValidationFailed(
            str(_l("The password must have at least %(n)d characters.", n=minimum)),
            field="password",
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(
            str(_l("The password must have at most %(n)d characters.", n=MAX_PASSWORD)),
            field="password",
        )
    if email:
        local = normalise_email(email).split("@", 1)[0]
        if len(local) >= 3 and local in password.lower():
            raise ValidationFailed(
                str(_l("The password must not contain your e-mail address.")), field="password"
            )


def create_account(*, email: str, password: str, display_name: str, role: Role,
                   actor: User | None, association_id: int | None = None) -> User:
    email = normalise_email(email)
    if find_by_email(email) is not None:
        raise ValidationFailed(str(_l("An account with this e-mail already exists.")),
                               field="email")
    check_password_policy(password, email=email, role=role)
    user = User(email=email, password_hash=hash_password(password),
                display_name=display_name.strip(), role=role, association_id=association_id)
    db.session.add(user)
    db.session.flush()
    if actor is not None or role in PRIVILEGED_ROLES:
        from pvplatform.moderation.audit import record_audit

        record_audit(actor, "account.create", "user", user.id, details={"role": role.value})
    return user


def authenticate(email: str, password: str) -> User | None:
    user = find_by_email(email)
    if user is None or not user.is_active:
        verify_password(None, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def end_all_sessions(user: User) -> None:
    """Every cookie issued before now stops working."""
    user.session_token = new_session_token()


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the cookie carries `id:session_token`; an old token is refused."""
    ident, _, token = (user_id or "").partition(":")
    if not ident.isdigit() or not token:
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.is_active or user.session_token != token:
        return None
    return user
