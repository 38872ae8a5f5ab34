"""Replacing a row that holds a large value (a stored reading, a ledger's lists) without reading
it first: loading it through the session would decode the old JSON only to overwrite it, and the
worker writes such rows while it holds SQLite's write lock."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db


def put_row(model: Any, key: dict[str, Any], values: dict[str, Any]) -> None:
    """The row of `model` with that primary key now holds `values`: an UPDATE, or an INSERT when
    there is none. The caller holds a lock that keeps others from inserting that key meanwhile
    (the process's refresh lock); the caller commits."""
    where = [getattr(model, name) == value for name, value in key.items()]
    updated = db.session.execute(
        sa.update(model).where(*where).values(**values)
        .execution_options(synchronize_session=False)).rowcount
    if not updated:
        db.session.execute(sa.insert(model).values(**key, **values))
