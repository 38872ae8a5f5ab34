"""The table behind the `database://` rate-limit storage (pvplatform.core.ratelimit_storage)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from pvplatform.db import UTCDateTime
from pvplatform.extensions import db

# Longer keys are shortened to a prefix and a digest (ratelimit_storage.stored_key): Flask-Limiter
# keys carry what was typed in a form (an e-mail up to 254 characters) besides the route.
KEY_MAX = 255


class RateLimitCounter(db.Model):
    """One counter of a fixed window: failed logins, reset requests, API calls... keyed by
    Flask-Limiter or the login lockout. Written only through the storage, each statement in its
    own transaction, never by the ORM session of a request."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(sa.String(KEY_MAX), primary_key=True)
    # BigInteger: an account's lockout generation grows by the current epoch at every unblock.
    count: Mapped[int] = mapped_column(sa.BigInteger)
    # Indexed for the sweep of expired rows; a row past it reads as absent.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
