"""Accounts: creation, authentication, roles. No request context here."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from pvplatform.auth.models import (
    Association,
    AssociationStatus,
    Role,
    User,
    new_session_token,
)
from pvplatform.auth.passwords import (
    hash_password,
    is_common_password,
    needs_rehash,
    verify_password,
)
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.extensions import db

MIN_PASSWORD = 12
MIN_PASSWORD_PRIVILEGED = 15
MAX_PASSWORD = 128
PRIVILEGED_ROLES = (Role.STAFF, Role.ELECTED, Role.EVALUATOR, Role.ADMIN)

# A login lasts at most this long, however active the person is (the idle limit is the session
# cookie's lifetime, PERMANENT_SESSION_LIFETIME); the remember-me cookie is bound by it too.
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
RESET_TOKEN_LIFETIME = timedelta(hours=1)
RESET_SALT = "pvplatform.password-reset"


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
    if is_common_password(password):
        raise ValidationFailed(
            str(_l("This password is among the most common ones: choose another. A short "
                   "sentence that only you would write works well.")),
            field="password",
        )
    if email:
        local = normalise_email(email).split("@", 1)[0]
        if len(local) >= 3 and local in password.casefold():
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


def session_identifier(user: User, logged_in_at: datetime) -> str:
    """What the session and the remember-me cookie carry: `id:session_token:login instant`.

    The token dies with logout and password change; the instant bounds the login to
    SESSION_ABSOLUTE_LIFETIME even for a cookie replayed from elsewhere (both are signed)."""
    return f"{user.get_id()}:{int(logged_in_at.timestamp())}"


def load_user(payload: str, *, now: datetime) -> User | None:
    """Flask-Login's loader: an old token or a login older than 12 hours is refused."""
    parts = (payload or "").split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1] or not parts[2].isdigit():
        return None
    ident, token, stamp = parts
    try:
        logged_in_at = datetime.fromtimestamp(int(stamp), UTC)
    except (OverflowError, OSError, ValueError):
        return None
    # A login "in the future" is forged or from a badly skewed clock: refused either way.
    if logged_in_at > now + timedelta(minutes=5) or now - logged_in_at > SESSION_ABSOLUTE_LIFETIME:
        return None
    user = db.session.get(User, int(ident)) if len(ident) < 19 else None  # below 2**63
    if user is None or not user.is_active or not hmac.compare_digest(user.session_token, token):
        return None
    return user


def reauthenticate(user: User, password: str) -> None:
    """For sensitive actions: the person at the keyboard proves again that it is them."""
    if not verify_password(user.password_hash, password):
        raise ValidationFailed(str(_l("The password is incorrect.")), field="password")


# ---------------------------------------------------------------- password reset

def _reset_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=RESET_SALT)


def _reset_fingerprint(user: User) -> str:
    """Changes with the password, the session token and the e-mail: a used link (the reset
    rotates the token), a password change, a logout or an e-mail change kill every link."""
    material = f"{user.password_hash or ''}|{user.session_token}|{user.email or ''}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def make_reset_token(user: User, *, secret_key: str, now: datetime) -> str:
    return _reset_serializer(secret_key).dumps(
        {"u": user.id, "f": _reset_fingerprint(user), "t": int(now.timestamp())})


def request_password_reset(email: str, *, secret_key: str, now: datetime
                           ) -> tuple[User, str] | None:
    """The account and a reset token, or None; the caller answers alike in both cases."""
    user = find_by_email(email)
    if user is None or not user.is_active:
        return None
    return user, make_reset_token(user, secret_key=secret_key, now=now)


def user_for_reset_token(token: str, *, secret_key: str, now: datetime) -> User | None:
    """The account a reset link is for, or None if it is forged, expired, used or stale."""
    if not token or len(token) > 500:
        return None
    try:
        data = _reset_serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    ident, fingerprint, issued = data.get("u"), data.get("f"), data.get("t")
    if not isinstance(ident, int) or not isinstance(issued, int) or not isinstance(fingerprint,
                                                                                   str):
        return None
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if issued_at > now + timedelta(minutes=5) or now - issued_at > RESET_TOKEN_LIFETIME:
        return None
    user = db.session.get(User, ident) if 0 < ident < 2**63 else None
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(_reset_fingerprint(user), fingerprint):
        return None
    return user


def reset_password(token: str, new_password: str, *, secret_key: str, now: datetime) -> User:
    """Sets a new password from a reset link and ends every session of the account."""
    user = user_for_reset_token(token, secret_key=secret_key, now=now)
    if user is None:
        raise InvalidState(str(_l("This link is invalid or has expired. Ask for a new one.")))
    check_password_policy(new_password, email=user.email, role=user.role)
    user.password_hash = hash_password(new_password)
    end_all_sessions(user)
    return user


# ---------------------------------------------------------------- e-mail change

def change_email(user: User, *, new_email: str, password: str, now: datetime) -> str | None:
    """Checks the password and moves the account to a new address; returns the old one."""
    from pvplatform.moderation.audit import record_audit

    reauthenticate(user, password)
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise ValidationFailed(str(_l("This is already your e-mail address.")), field="email")
    if find_by_email(new_email) is not None:
        raise ValidationFailed(str(_l("An account with this e-mail already exists.")),
                               field="email")
    old_email = user.email
    user.email = new_email
    row = record_audit(user, "account.email_change", "user", user.id)
    row.created_at = now
    return old_email


# ---------------------------------------------------------------- self-service

LOCALES = ("fr", "en")


def _normalise_name(name: str) -> str:
    return " ".join(name.split())


def find_association_by_name(name: str) -> Association | None:
    """An approved or pending association of this name (a refused one frees its name)."""
    wanted = _normalise_name(name).lower()
    return db.session.scalar(
        sa.select(Association)
        .where(sa.func.lower(Association.name) == wanted,
               Association.status != AssociationStatus.REFUSED)
        .order_by(Association.id)
        .limit(1)
    )


def register_account(*, email: str, password: str, display_name: str, locale: str | None,
                     now: datetime, association_id: int | None = None,
                     new_association_name: str | None = None, link: str = "") -> User:
    """Self-registration: always a citizen. Someone who says they represent an association
    asks to join it (an existing approved one, or a new one that waits for staff): they become
    its member only when staff or the association's contact approve (`auth.membership`).

    The role is decided here, never taken from the request.
    """
    from pvplatform.auth import membership

    if association_id is not None and new_association_name:
        raise ValidationFailed(
            str(_l("Choose an existing association or type a new name, not both.")),
            field="new_association",
        )
    if find_by_email(email) is not None:
        raise ValidationFailed(str(_l("An account with this e-mail already exists.")),
                               field="email")
    association: Association | None = None
    created_association = False
    if association_id is not None:
        # Only an approved association can be picked: a pending one is not in the list.
        association = membership.approved_association(association_id)
        if association is None:
            raise ValidationFailed(str(_l("This association does not exist.")),
                                   field="association_id")
    elif new_association_name:
        existing = find_association_by_name(new_association_name)
        if existing is not None and existing.is_approved:
            raise ValidationFailed(
                str(_l("This association is already registered: choose it in the list.")),
                field="new_association",
            )
        if existing is not None:
            raise ValidationFailed(
                str(_l("An association with this name is waiting for approval by the town "
                       "hall.")), field="new_association")
        association = Association(name=_normalise_name(new_association_name), created_at=now,
                                  status=AssociationStatus.PENDING)
        db.session.add(association)
        db.session.flush()
        created_association = True
    user = create_account(email=email, password=password, display_name=display_name,
                          role=Role.CITIZEN, actor=None)
    user.locale = locale if locale in LOCALES else None
    user.created_at = now
    if created_association and association is not None:
        from pvplatform.moderation.audit import record_audit

        row = record_audit(user, "association.create", "association", association.id,
                           details={"name": association.name, "via": "registration"})
        row.created_at = now
    if association is not None:
        membership.request_membership(user, association, now=now, link=link,
                                      _founding=created_association)
    return user


def update_profile(user: User, *, display_name: str, locale: str | None) -> None:
    user.display_name = display_name.strip()
    user.locale = locale if locale in LOCALES else None


def change_password(user: User, *, current_password: str, new_password: str) -> None:
    """Checks the current password, applies the policy, and ends every session of the user."""
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(str(_l("The current password is incorrect.")),
                               field="current_password")
    check_password_policy(new_password, email=user.email, role=user.role)
    if verify_password(user.password_hash, new_password):
        raise ValidationFailed(str(_l("The new password must differ from the current one.")),
                               field="password")
    user.password_hash = hash_password(new_password)
    end_all_sessions(user)


# ---------------------------------------------------------------- administration

def change_role(user: User, new_role: Role, *, actor: User, reason: str, now: datetime) -> None:
    from pvplatform.moderation.audit import record_audit
    from pvplatform.participation.services import sync_participant

    if user.deleted_at is not None:
        raise InvalidState(str(_l("This account has been deleted.")))
    if user.id == actor.id and new_role != Role.ADMIN:
        # Otherwise the last admin could lock everyone out of account management.
        raise InvalidState(str(_l("You cannot remove your own administrator role. "
                                  "Ask another administrator.")))
    if user.role == new_role:
        raise ValidationFailed(str(_l("This account already has this role.")), field="role")
    old_role = user.role
    user.role = new_role
    row = record_audit(actor, "user.role_change", "user", user.id,
                       details={"from": old_role.value, "to": new_role.value, "reason": reason})
    row.created_at = now
    sync_participant(user)


def create_association(*, name: str, description: str, actor: User, now: datetime
                       ) -> Association:
    from pvplatform.moderation.audit import record_audit

    if find_association_by_name(name) is not None:
        raise ValidationFailed(str(_l("An association with this name already exists.")),
                               field="name")
    # Staff create it: approved at once.
    association = Association(name=_normalise_name(name), description=description.strip(),
                              created_at=now, status=AssociationStatus.APPROVED)
    db.session.add(association)
    db.session.flush()
    row = record_audit(actor, "association.create", "association", association.id,
                       details={"name": association.name})
    row.created_at = now
    return association


def add_member(association: Association, *, email: str, actor: User, now: datetime) -> User:
    """Staff attach an account to an approved association (see `membership.add_member`)."""
    from pvplatform.auth import membership

    return membership.add_member(association, find_by_email(email), actor=actor, now=now)


def remove_member(association: Association, user: User, *, actor: User, now: datetime,
                  reason: str | None = None) -> None:
    """Staff revoke a membership (see `membership.remove_member`)."""
    from pvplatform.auth import membership

    membership.remove_member(association, user, actor=actor, now=now, reason=reason)
