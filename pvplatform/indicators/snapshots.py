"""The dashboard from stored results: what the worker computed, keyed by the data version.

The live dashboard reads the snapshot the background worker stored with the flags (one JSON
row per process); it says when the figures were computed and whether changes are waiting. A
past instant is computed on demand once per data version and kept in this process's memory:
imports and paper sheets can change the past, and they move the version.

The data version of a process is the newest refresh request written for it: waiting ones, or
the newest the worker took into account (kept in the snapshot).

With the live snapshot the worker keeps the overview's trend base: the engine's inputs as of
the start of the latest held session, against which the key figures show their change. It is
computed again only when that session changes, when it is missing or of another format, or once
it is BASE_MAX_AGE old (a change of the past, such as an import, then reaches it): most
refreshes reuse it, and no page waits for it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from pvplatform.core.rows import put_row
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

T = TypeVar("T")

FORMAT = 5  # bumped when the payload's shape changes: older snapshots are then recomputed


@dataclass(frozen=True)
class StoredPhrase:
    """A flag message read back from a snapshot: rendered like a Phrase, at any k."""

    id: str
    plural: str | None
    params: dict[str, Any]

    def render(self, k: int | None = None, hidden: Any = None) -> str:
        return render_message(self.id, self.plural, self.params, k=k, hidden=hidden)

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


def snapshot_payload(inputs: DashboardInputs, base: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """What the live snapshot stores: the inputs, with the overview's trend base
    (`trend_base_payload`) if any. Made before the worker takes its lock."""
    payload = encode(inputs)
    if base is not None:
        payload[BASE_KEY] = base
    return payload


def store_snapshot(process_id: int, payload: dict[str, Any], *, computed_at: datetime,
                   version: int) -> None:
    """Keeps the worker's payload (`snapshot_payload`) as the process's live snapshot; the
    caller holds the process's refresh lock and commits."""
    put_row(DashboardSnapshot, {"process_id": process_id},
            {"data_version": version, "computed_at": computed_at, "payload": payload})


@dataclass(frozen=True)
class Live:
    inputs: DashboardInputs
    computed_at: datetime
    waiting: bool  # changes made since, not in these figures yet
    base: dict[str, Any] | None = None  # the stored trend base, decoded only by the overview


def live_snapshot(process_id: int) -> Live | None:
    row = db.session.get(DashboardSnapshot, process_id)
    if row is None:
        return None
    inputs = decode(row.payload)
    if inputs is None:
        return None
    waiting = db.session.scalar(sa.select(sa.exists().where(
        RefreshRequest.process_id == process_id))) or False
    return Live(inputs, row.computed_at, bool(waiting), row.payload.get(BASE_KEY))


# ---------------------------------------------------------------- the overview's trend base

BASE_KEY = "trend_base"
# How long the worker keeps a base whose session is still the latest held one. Inputs as of a
# past instant only change when the past is changed (imports, paper sheets, corrections):
# recomputing at every refresh would double the worker's cost for what rarely moves, never
# recomputing would leave such a change out of the trends until the next session.
BASE_MAX_AGE = timedelta(minutes=10)


def trend_session(inputs: DashboardInputs) -> SessionLabel | None:
    """The latest session held as of the reading's instant (started at or before it): the
    overview's key figures show their change since its start. None before the first."""
    held = [s for s in inputs.sessions if s.held]  # in the engine's order: by start
    return held[-1] if held else None


def _answers_for(stored: Mapping[str, Any] | None, session: SessionLabel) -> bool:
    """The stored base is the one of that session as it now stands (not moved since)."""
    if not stored or stored.get("session_id") != session.id:
        return False
    try:
        return datetime.fromisoformat(stored["starts_at"]) == session.starts_at
    except (KeyError, TypeError, ValueError):
        return False


def trend_base_payload(process_id: int, inputs: DashboardInputs, *, now: datetime,
                       compute: Callable[[int, datetime], DashboardInputs]
                       ) -> dict[str, Any] | None:
    """For the worker: the trend base to store with the live snapshot of `inputs`. The stored
    one when it still answers (same session and start, same format, younger than
    BASE_MAX_AGE), else `compute` (one reading of the engine) as of the session's start. None
    before the first session is held."""
    session = trend_session(inputs)
    if session is None:
        return None
    row = db.session.get(DashboardSnapshot, process_id)
    stored = (row.payload or {}).get(BASE_KEY) if row is not None else None
    if (stored is not None and _answers_for(stored, session)
            and (stored.get("inputs") or {}).get("format") == FORMAT):
        try:
            age = now - datetime.fromisoformat(stored["computed_at"])
        except (KeyError, TypeError, ValueError):
            age = BASE_MAX_AGE
        if age < BASE_MAX_AGE:
            return dict(stored)
    return {"session_id": session.id, "starts_at": session.starts_at.isoformat(),
            "computed_at": now.isoformat(),
            "inputs": encode(compute(process_id, session.starts_at))}


def data_version(process_id: int) -> int:
    """The newest refresh request of the process: waiting, or taken into account."""
    waiting = (sa.select(sa.func.max(RefreshRequest.id))
               .where(RefreshRequest.process_id == process_id).scalar_subquery())
    done = (sa.select(DashboardSnapshot.data_version)
            .where(DashboardSnapshot.process_id == process_id).scalar_subquery())
    return int(db.session.scalar(sa.select(sa.func.coalesce(waiting, done, 0))) or 0)


# ---------------------------------------------------------------- past instants


class Memo(Generic[T]):
    """A small least-recently-used memory of what was computed for a key that names its data
    version (past instants' inputs, the ledger's lists): a new version makes the older entries
    unreachable, and they age out."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], T] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> T | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: T) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


PAST: Memo[DashboardInputs] = Memo()


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
    base: dict[str, Any] | None = None  # the worker's stored trend base (live snapshots)


def reading_for(process_id: int, as_of: datetime, *, live: bool) -> Reading:
    """What a page about the process shows: the worker's stored figures for the present, a
    past instant computed once per data version, or (no worker: `PV_REFRESH` inline or off)
    a reading made for this view."""
    from pvplatform.indicators.autorefresh import BACKGROUND, refresh_mode

    if refresh_mode() != BACKGROUND:
        return Reading(gather_dashboard_inputs(process_id, as_of), None)
    if live and (snapshot := live_snapshot(process_id)) is not None:
        return Reading(snapshot.inputs, snapshot.computed_at, snapshot.waiting, snapshot.base)
    # A past instant, or a process the worker has not reached yet.
    return Reading(past_inputs(process_id, as_of, live=live), None)


def trend_base(process_id: int, reading: Reading, session: SessionLabel) -> DashboardInputs:
    """The engine's inputs as of the session's start, for the overview's trends: the base the
    worker stored with the live snapshot when it is this session's, else that past instant's
    reading (computed once per data version, like any past instant: a snapshot stored before
    the worker kept bases, a past instant asked for, or no worker)."""
    if reading.base is not None and _answers_for(reading.base, session):
        inputs = decode(reading.base.get("inputs") or {})
        if inputs is not None:
            return inputs
    return reading_for(process_id, session.starts_at, live=False).inputs
