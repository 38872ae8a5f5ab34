"""Rows as records for output: sessions and associations named by their package ids.

The engine works with database ids; readers (the CLI, exports, evaluators) know sessions and
associations by the package's identifiers when the process was imported, else by database id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from pvplatform.auth.models import Association
from pvplatform.core.csv_safe import csv_text
from pvplatform.extensions import db
from pvplatform.indicators.rows import FlagRow, IndicatorRow
from pvplatform.sessions.models import Meeting

INDICATOR_KEYS = ("code", "dimension", "category", "group", "public_value", "session_id",
                  "value", "n")
FLAG_KEYS = ("code", "severity", "dimension", "category", "group", "public_value", "session_id",
             "association_id", "value", "p_value", "message")


def _references(model: Any, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(model.id, model.external_ref).where(model.id.in_(wanted)))
    return {row_id: ref if ref else str(row_id) for row_id, ref in rows}


def _ref(refs: dict[int, str], value: int | None) -> str:
    if value is None:
        return ""
    return refs.get(value, str(value))


def indicator_records(rows: Sequence[IndicatorRow]) -> list[dict[str, Any]]:
    sessions = _references(Meeting, (r.session_id for r in rows))
    records = [{
        "code": r.code, "dimension": r.dimension, "category": r.category, "group": str(r.group),
        "public_value": r.public_value, "session_id": _ref(sessions, r.session_id),
        "value": r.value, "n": r.n,
    } for r in rows]
    records.sort(key=lambda d: tuple(d[k] for k in INDICATOR_KEYS[:6]))
    return records


def flag_records(rows: Sequence[FlagRow]) -> list[dict[str, Any]]:
    sessions = _references(Meeting, (r.session_id for r in rows))
    associations = _references(Association, (r.association_id for r in rows))
    records = [{
        "code": r.code, "severity": str(r.severity), "dimension": r.dimension,
        "category": r.category, "group": str(r.group), "public_value": r.public_value,
        "session_id": _ref(sessions, r.session_id),
        "association_id": _ref(associations, r.association_id),
        "value": r.value, "p_value": r.p_value, "message": str(r.message),
    } for r in rows]
    sort_keys = [k for k in FLAG_KEYS[:8] if k != "severity"]  # one row per key anyway
    records.sort(key=lambda d: tuple(d[k] for k in sort_keys))
    return records


def to_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False, indent=1)


def to_csv(records: list[dict[str, Any]], keys: Sequence[str]) -> str:
    return csv_text(keys, ([record[k] for k in keys] for record in records))
