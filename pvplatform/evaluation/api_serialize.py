"""Rows as the API's JSON objects (the schemas of `openapi.py`, field for field).

Instants are RFC 3339 in UTC, days ISO dates; a figure the suppression rule hides is
`{"value": null, "suppressed": true}`. No person is named: a proposal says what kind of author
wrote it, never who.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from pvplatform.extensions import db
from pvplatform.indicators.suppression import Cell
from pvplatform.processes.models import Phase, Process
from pvplatform.proposals.models import Proposal
from pvplatform.proposals.services import Tally
from pvplatform.sessions.models import Meeting


def instant(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def number(value: Any) -> int | float | None:
    """A figure as JSON can carry it: no NaN or infinity (they are not figures anyway)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def count(value: Any) -> int | None:
    return int(value) if value is not None else None


# ---------------------------------------------------------------- processes and phases


def current_phases(process_ids: Iterable[int], today: date) -> dict[int, Phase]:
    """The phase of each process whose days include `today` (the latest-starting one when
    phases overlap, as `processes.services.current_phase` says), in one statement."""
    ids = sorted(set(process_ids))
    if not ids:
        return {}
    current: dict[int, Phase] = {}
    for phase in db.session.scalars(
            sa.select(Phase).where(Phase.process_id.in_(ids), Phase.starts_on <= today,
                                   Phase.ends_on >= today)
            .order_by(Phase.process_id, Phase.starts_on.desc(), Phase.id.desc())):
        current.setdefault(phase.process_id, phase)
    return current


def process_item(process: Process, current: Phase | None) -> dict[str, Any]:
    return {
        "id": process.id,
        "title": process.title,
        "description": process.description or "",
        "municipality": process.municipality or "",
        "population": process.population,
        "starts_on": day(process.starts_on),
        "ends_on": day(process.ends_on),
        "current_phase": str(current.kind) if current is not None else None,
        "goals": [goal.number for goal in process.goals],
        "created_at": instant(process.created_at),
    }


def phase_item(phase: Phase, current: Phase | None) -> dict[str, Any]:
    return {
        "id": phase.id,
        "kind": str(phase.kind),
        "starts_on": day(phase.starts_on),
        "ends_on": day(phase.ends_on),
        "proposals_open": bool(phase.proposals_open),
        "comments_open": bool(phase.comments_open),
        "votes_open": bool(phase.votes_open),
        "current": current is not None and current.id == phase.id,
    }


# ---------------------------------------------------------------- sessions


def figure(cell: Cell | None) -> dict[str, Any]:
    """A count of people as the suppression rule lets it out; no cell: not measured (yet)."""
    if cell is None:
        return {"value": None, "suppressed": False}
    return {"value": count(cell.value), "suppressed": cell.suppressed}


FUNNEL_FIELDS = (("invited", "session_invited"), ("registered", "session_registered"),
                 ("attended", "session_attended"))


def session_item(meeting: Meeting, held: bool,
                 cells: Mapping[tuple[str, int], Cell]) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "ref": meeting.external_ref or str(meeting.id),
        "title": meeting.title,
        "format": str(meeting.format),
        "starts_at": instant(meeting.starts_at),
        "ends_at": instant(meeting.ends_at),
        "capacity": meeting.capacity,
        "held": held,
        "participation": {name: figure(cells.get((code, meeting.id)))
                          for name, code in FUNNEL_FIELDS},
    }


# ---------------------------------------------------------------- proposals


def author_kind(proposal: Proposal) -> str:
    if proposal.association_id is not None:
        return "association"
    return str(proposal.author.kind)


def latest_answer(proposal: Proposal) -> dict[str, Any] | None:
    """The latest official answer; an imported proposal carries only its state, first answer
    date and reasons, with no history."""
    if proposal.answers:
        latest = proposal.answers[-1]
        return {"state": str(latest.state), "rationale": latest.rationale or "",
                "answered_at": instant(latest.answered_at)}
    if proposal.answered_at is not None:
        return {"state": str(proposal.state), "rationale": proposal.answer_rationale or "",
                "answered_at": instant(proposal.answered_at)}
    return None


def proposal_item(proposal: Proposal, tally: Tally) -> dict[str, Any]:
    return {
        "id": proposal.id,
        "title": proposal.title,
        "body": proposal.body or "",
        "state": str(proposal.state),
        "published_at": instant(proposal.published_at),
        "author_kind": author_kind(proposal),
        "goals": [goal.number for goal in proposal.goals],
        "votes": {"for": tally.plus, "against": tally.minus, "support": tally.support},
        "first_answered_at": instant(proposal.answered_at),
        "answer": latest_answer(proposal),
        "implementation_updates": [
            {"progress": update.progress, "body": update.body or "",
             "created_at": instant(update.created_at)}
            for update in proposal.updates
        ],
    }


# ---------------------------------------------------------------- indicators and flags


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def indicator_item(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "code": record["code"],
        "family": _text(record.get("family")),
        "dimension": _text(record["dimension"]),
        "category": _text(record["category"]),
        "group": _text(record["group"]),
        "public_value": _text(record["public_value"]),
        "session_id": _text(record["session_id"]),
        "value": number(record["value"]),
        "n": count(record["n"]),
        "suppressed": bool(record["suppressed"]),
    }


def flag_item(record: Mapping[str, Any], title: str) -> dict[str, Any]:
    return {
        "code": record["code"],
        "title": title,
        "severity": _text(record["severity"]),
        "dimension": _text(record["dimension"]),
        "category": _text(record["category"]),
        "group": _text(record["group"]),
        "public_value": _text(record["public_value"]),
        "session_id": _text(record["session_id"]),
        "association_id": _text(record["association_id"]),
        "value": number(record["value"]),
        "p_value": number(record["p_value"]),
        "message": _text(record["message"]),
        "suppressed": bool(record["suppressed"]),
    }
