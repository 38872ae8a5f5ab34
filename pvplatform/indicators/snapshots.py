"""The dashboard from stored results: what the worker computed, keyed by the data version.

The live dashboard reads the snapshot the background worker stored with the flags (one JSON
row per process); it says when the figures were computed and whether changes are waiting. A
past instant is computed on demand once per data version and kept in this process's memory:
imports and paper sheets can change the past, and they move the version.

The data version of a process is the newest refresh request written for it: waiting ones, or
the newest the worker took into account (kept in the snapshot).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db
from pvplatform.indicators.dashboard_inputs import DashboardInputs, gather_dashboard_inputs
from pvplatform.indicators.facts import AssociationAbsence
from pvplatform.indicators.funnel import DimensionInfo, SessionLabel, StratumInfo
from pvplatform.indicators.ledger import SessionFigures
from pvplatform.indicators.messages import render_message
from pvplatform.indicators.models import DashboardSnapshot
from pvplatform.indicators.rows import FlagRow, IndicatorRow, Severity
from pvplatform.indicators.thresholds import Thresholds
from pvplatform.jobs.models import RefreshRequest

FORMAT = 3  # bumped when the payload's shape changes: older snapshots are then recomputed


@dataclass(frozen=True)
class StoredPhrase:
    """A flag message read back from a snapshot: rendered like a Phrase, at any k."""

    id: str
    plural: str | None
    params: dict[str, Any]

    def render(self, k: int | None = None) -> str:
        return render_message(self.id, self.plural, self.params, k=k)

    def __str__(self) -> str:
        return self.render()


# ---------------------------------------------------------------- encoding


def encode(inputs: DashboardInputs) -> dict[str, Any]:
    def flag(row: FlagRow) -> dict[str, Any]:
        data = asdict(row)
        data["message"] = row.message.to_json()
        data["severity"] = str(row.severity)
        return data

    return {
        "format": FORMAT,
        "as_of": inputs.as_of.isoformat(),
        "rows": [asdict(r) for r in inputs.rows],
        "extra_rows": [asdict(r) for r in inputs.extra_rows],
        "flags": [flag(f) for f in inputs.flags],
        "sessions": [{**asdict(s), "starts_at": s.starts_at.isoformat()}
                     for s in inputs.sessions],
        "thresholds": asdict(inputs.thresholds),
        "strata": [[dim, cat, asdict(info)] for (dim, cat), info in inputs.strata.items()],
        "public_values": inputs.public_values,
        "absences": [asdict(a) for a in inputs.absences],
        "dimensions": {code: asdict(info) for code, info in inputs.dimensions.items()},
        "held": [asdict(h) for h in inputs.held],
    }


def decode(payload: dict[str, Any]) -> DashboardInputs | None:
    """The inputs of a payload; None for a payload of another format."""
    if payload.get("format") != FORMAT:
        return None

    def flag(data: dict[str, Any]) -> FlagRow:
        message = data.pop("message")
        return FlagRow(**{**data, "severity": Severity(data["severity"]),
                          "message": StoredPhrase(message["_msgid"], message.get("_plural"),
                                                  message.get("_params") or {})})

    return DashboardInputs(
        as_of=datetime.fromisoformat(payload["as_of"]),
        rows=[IndicatorRow(**r) for r in payload["rows"]],
        extra_rows=[IndicatorRow(**r) for r in payload["extra_rows"]],
        flags=[flag(dict(f)) for f in payload["flags"]],
        sessions=[SessionLabel(**{**s, "starts_at": datetime.fromisoformat(s["starts_at"])})
                  for s in payload["sessions"]],
        thresholds=Thresholds(**payload["thresholds"]),
        strata={(dim, cat): StratumInfo(**info) for dim, cat, info in payload["strata"]},
        public_values=dict(payload["public_values"]),
        absences=[AssociationAbsence(**a) for a in payload["absences"]],
        dimensions={code: DimensionInfo(**info) for code, info in payload["dimensions"].items()},
        held=[SessionFigures(**h) for h in payload["held"]],
    )


# ---------------------------------------------------------------- the live snapshot


def store_snapshot(process_id: int, inputs: DashboardInputs, *, version: int) -> None:
    """Keeps the worker's inputs as the process's live snapshot (the caller commits)."""
    row = db.session.get(DashboardSnapshot, process_id)
    if row is None:
        row = DashboardSnapshot(process_id=process_id)
        db.session.add(row)
    row.data_version = version
    row.computed_at = inputs.as_of
    row.payload = encode(inputs)


@dataclass(frozen=True)
class Live:
    inputs: DashboardInputs
    computed_at: datetime
    waiting: bool  # changes made since, not in these figures yet


def live_snapshot(process_id: int) -> Live | None:
    row = db.session.get(DashboardSnapshot, process_id)
    if row is None:
        return None
    inputs = decode(row.payload)
    if inputs is None:
        return None
    waiting = db.session.scalar(sa.select(sa.exists().where(
        RefreshRequest.process_id == process_id))) or False
    return Live(inputs, row.computed_at, bool(waiting))


def data_version(process_id: int) -> int:
    """The newest refresh request of the process: waiting, or taken into account."""
    waiting = (sa.select(sa.func.max(RefreshRequest.id))
               .where(RefreshRequest.process_id == process_id).scalar_subquery())
    done = (sa.select(DashboardSnapshot.data_version)
            .where(DashboardSnapshot.process_id == process_id).scalar_subquery())
    return int(db.session.scalar(sa.select(sa.func.coalesce(waiting, done, 0))) or 0)


# ---------------------------------------------------------------- past instants


class _Memo:
    """A small least-recently-used memory of past instants' inputs, per (process, instant,
    data version): a new version makes the older entries unreachable, and they age out."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], DashboardInputs] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> DashboardInputs | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: DashboardInputs) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


PAST = _Memo()


LIVE = "live"


def past_inputs(process_id: int, as_of: datetime, *, live: bool = False) -> DashboardInputs:
    """The inputs of a past (or any asked-for) instant: computed once per data version. `live`:
    the present of a process the worker has not reached yet, computed once per data version
    too (at the first view's instant) rather than at every view."""
    version = data_version(process_id)
    key = (process_id, LIVE if live else as_of, version)
    found = PAST.get(key)
    if found is None:
        found = gather_dashboard_inputs(process_id, as_of)
        PAST.put(key, found)
    return found


# ---------------------------------------------------------------- what a page reads


@dataclass(frozen=True)
class Reading:
    inputs: DashboardInputs
    computed_at: datetime | None  # None: computed for this page view
    waiting: bool = False


def reading_for(process_id: int, as_of: datetime, *, live: bool) -> Reading:
    """What a page about the process shows: the worker's stored figures for the present, a
    past instant computed once per data version, or (no worker: `PV_REFRESH` inline or off)
    a reading made for this view."""
    from pvplatform.indicators.autorefresh import BACKGROUND, refresh_mode

    if refresh_mode() != BACKGROUND:
        return Reading(gather_dashboard_inputs(process_id, as_of), None)
    if live and (snapshot := live_snapshot(process_id)) is not None:
        return Reading(snapshot.inputs, snapshot.computed_at, snapshot.waiting)
    # A past instant, or a process the worker has not reached yet.
    return Reading(past_inputs(process_id, as_of, live=live), None)
