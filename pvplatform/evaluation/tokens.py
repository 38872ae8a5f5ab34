"""Personal read-only API tokens: created and revoked by their owner, stored as a SHA-256 hash,
shown once. No request context here; the caller commits.

A token is `pvp_` and 43 URL-safe characters (256 random bits): a lookup by its hash is enough,
since nobody can aim at a stored hash by choosing the token. `prefix` (its first characters) lets
the owner tell their tokens apart without the token ever being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from pvplatform.auth.models import User
from pvplatform.auth.permissions import can_use_api
from pvplatform.errors import InvalidState, NotAllowed, NotFound, ValidationFailed
from pvplatform.evaluation.models import TOKEN_NAME_MAX, ApiToken
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit

TOKEN_PREFIX = "pvp_"  # noqa: S105 - a marker that tells our tokens apart, no secret
PREFIX_LENGTH = 12  # "pvp_" and 8 characters: enough to tell tokens apart, useless to guess one
MAX_ACTIVE_TOKENS = 20
# Longer strings are not tokens of ours: refused before hashing anything.
RAW_MAX_LENGTH = 200
# `last_used_at` is written at most once a minute per token: not one write per request.
LAST_USED_STEP = timedelta(minutes=1)
_ID_MAX = 2**31 - 1


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _active_clause(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(ApiToken.revoked_at.is_(None),
                   sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))


def tokens_of(user: Any) -> list[ApiToken]:
    """The person's tokens, active, expired or revoked, newest first."""
    user_id = getattr(user, "id", None)
    if user_id is None:
        return []
    return list(db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def active_count(user: Any, now: datetime) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(ApiToken)
        .where(ApiToken.user_id == user.id, _active_clause(now))) or 0


def create_token(user: Any, name: str, *, expires_at: datetime | None,
                 now: datetime) -> tuple[ApiToken, str]:
    """A new read-only token; returns the row and the token itself, which is never stored and
    cannot be shown again."""
    if not can_use_api(user):
        raise NotAllowed()
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_l("Give the token a name."), field="name")
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationFailed(_l("The name is too long (at most %(n)s characters).",
                                  n=TOKEN_NAME_MAX), field="name")
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(_l("The end date must be in the future."), field="expires_on")
    if active_count(user, now) >= MAX_ACTIVE_TOKENS:
        raise ValidationFailed(_l("You already have %(n)s active tokens: revoke one you no "
                                  "longer use first.", n=MAX_ACTIVE_TOKENS))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(raw),
                   prefix=raw[:PREFIX_LENGTH], scope="read", created_at=now,
                   expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    record_audit(user, "api_token.create", "api_token", row.id,
                 details={"name": name, "prefix": row.prefix,
                          "expires_at": expires_at.isoformat() if expires_at else None})
    return row, raw


def revoke_token(user: Any, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the person's own tokens. Anybody else's, or an unknown id, is not found
    alike: the answer never tells whether a token exists."""
    user_id = getattr(user, "id", None)
    if user_id is None or not isinstance(token_id, int) or not 0 < token_id <= _ID_MAX:
        raise NotFound()
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.id == token_id,
                                                      ApiToken.user_id == user_id))
    if row is None:
        raise NotFound()
    if row.revoked_at is not None:
        raise InvalidState(_l("This token was already revoked."))
    row.revoked_at = now
    record_audit(user, "api_token.revoke", "api_token", row.id,
                 details={"name": row.name, "prefix": row.prefix})
    return row


# ---------------------------------------------------------------- authentication


class TokenCheck(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # unknown, revoked or expired, or its owner's account is gone
    FORBIDDEN = "forbidden"  # a live token whose owner's role may no longer use the API


@dataclass(frozen=True)
class Authentication:
    outcome: TokenCheck
    user: User | None = None
    token: ApiToken | None = None
    touched: bool = False  # last_used_at changed: the caller commits


def _plausible(raw: object) -> bool:
    return (isinstance(raw, str) and 0 < len(raw) <= RAW_MAX_LENGTH
            and raw.isascii() and raw.isprintable() and " " not in raw)


def check_token(raw: object, now: datetime) -> Authentication:
    """What a token presented to the API is worth at `now`."""
    if not _plausible(raw):
        return Authentication(TokenCheck.INVALID)
    assert isinstance(raw, str)
    digest = hash_token(raw)
    row = db.session.scalar(sa.select(ApiToken).options(joinedload(ApiToken.user))
                            .where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return Authentication(TokenCheck.INVALID)
    user = row.user
    if not row.is_active(now) or user is None or not user.is_active:
        return Authentication(TokenCheck.INVALID)
    if not can_use_api(user):
        return Authentication(TokenCheck.FORBIDDEN, user, row)
    touched = row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP
    if touched:
        row.last_used_at = now
    return Authentication(TokenCheck.VALID, user, row, touched)


def authenticate(raw: object, now: datetime) -> User | None:
    """The owner of a valid token, or None (unknown, revoked, expired, deleted account, or a
    role that may no longer use the API)."""
    result = check_token(raw, now)
    return result.user if result.outcome == TokenCheck.VALID else None
