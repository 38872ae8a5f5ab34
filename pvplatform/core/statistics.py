"""The planner's statistics after a bulk load.

PostgreSQL plans with the row counts it last sampled. A table sampled while (nearly) empty and
then filled in one go is planned as if it still held a row or two until autovacuum comes by:
nested loops over thousands of rows, a ledger list taking minutes instead of milliseconds, an
indicator reading 35 s instead of 3 s. Whoever loads rows in bulk samples them again at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db


def refresh_statistics(models: Iterable[Any]) -> None:
    """ANALYZE the tables of these models on PostgreSQL (it samples, and runs in the current
    transaction); nothing to do on SQLite, whose planner does not rely on sampled counts."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        db.session.execute(sa.text(f"ANALYZE {model.__table__.name}"))
