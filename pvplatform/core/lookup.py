"""Fetching rows by id from URLs: out-of-range ids are simply not found (never a 500)."""

from __future__ import annotations

from typing import TypeVar

from pvplatform.errors import NotFound
from pvplatform.extensions import db

T = TypeVar("T")

_MAX_ID = 2**31 - 1  # the widest id any of our integer primary keys can hold on every database


def get_or_404(model: type[T], ident: int | str | None) -> T:
    try:
        key = int(ident)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NotFound() from None
    if key <= 0 or key > _MAX_ID:
        raise NotFound()
    row = db.session.get(model, key)
    if row is None:
        raise NotFound()
    return row


def valid_id(ident: object) -> int | None:
    """An id from a form or query string, or None when it cannot be one."""
    try:
        key = int(ident)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return key if 0 < key <= _MAX_ID else None
