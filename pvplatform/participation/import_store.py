"""The second pass of the import: a checked package stored with bulk inserts.

Rows go in by chunks, column by column, in the caller's transaction (the caller commits). Package
ids are mapped to new rows whose `external_ref` is the package id; the ids of the rows that
others refer to are taken before they are inserted (`reserve_ids`), so none is read back.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from pvplatform.auth.models import Association, AssociationStatus
from pvplatform.extensions import db
from pvplatform.feedback.models import Perception, PublicValue
from pvplatform.participation.import_bulk import BulkWriter, Same, Values, reserve_ids
from pvplatform.participation.import_check import PAIR
from pvplatform.participation.import_errors import ErrorList
from pvplatform.participation.import_read import Package
from pvplatform.participation.import_schema import TABLES_BY_NAME, Column, convert_distinct
from pvplatform.participation.models import (
    AttendanceSnapshot,
    Dimension,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Comment, Proposal, Vote
from pvplatform.sessions.models import (
    Attendance,
    Invitation,
    Meeting,
    Registration,
    SpeakingTurn,
)


class Advancing(Protocol):
    def advance(self, count: int) -> None: ...


def _utc_timestamp(raw: str) -> datetime:
    return datetime.fromisoformat(raw).astimezone(UTC)


# Cells were checked by the first pass, on the same bytes: plain conversions suffice.
_TRUSTED: dict[str, Callable[[str], Any] | None] = {
    "string": None, "integer": int, "number": float, "datetime": _utc_timestamp,
    "date": date.fromisoformat,
}


def _trusted(column: Column, cells: Sequence[str]) -> Sequence[Any]:
    """A column of checked cells as values, None for an empty cell."""
    convert = _TRUSTED[column.type]
    if convert is None:
        return [raw or None for raw in cells] if "" in cells else cells
    if "" in cells:
        return convert_distinct(lambda raw: convert(raw) if raw else None, cells)
    return convert_distinct(convert, cells)


def _refs(ids: dict[str, int], refs: Sequence[str]) -> list[int]:
    return list(map(ids.__getitem__, refs))


def _optional_refs(ids: dict[str, int], refs: Sequence[str | None]) -> list[int | None]:
    return [ids[ref] if ref is not None else None for ref in refs]


def _or(values: Sequence[Any], default: Any) -> Sequence[Any]:
    if None not in values:
        return values
    return [default if value is None else value for value in values]


class Store:
    def __init__(self, package: Package, counts: dict[str, int], *, now: datetime,
                 progress: Advancing) -> None:
        self.package = package
        self.counts = counts  # rows per table, as the checks counted them
        self.now = now
        self.progress = progress
        self.process_id = 0
        self.ids: dict[str, dict[str, int]] = {}
        self.registrations: dict[int, list[tuple[datetime, datetime | None]]] = {}

    def _chunks(self, name: str) -> Iterator[tuple[list[Sequence[Any]], int]]:
        """The rows of a checked table by chunks, as columns of values in DATA.md's order."""
        file = self.package.reopen(TABLES_BY_NAME[name])
        if file is None:
            return
        errors = ErrorList()
        for _lines, records in file.chunks(errors):
            yield [_trusted(column, file.restored(column, cells))
                   for column, cells in zip(file.spec.columns, file.columns(records),
                                            strict=True)], len(records)
        if errors:  # the bytes were read whole by the checks: never, but not silently
            raise errors.refuse()

    def _load(self, name: str, model: Any, columns: Sequence[str],
              build: Callable[[list[Sequence[Any]]], Sequence[Values]], *,
              keyed: bool = False) -> None:
        """Streams a table into `model`: `build` gives the values of `columns` for a chunk.

        `keyed`: others refer to these rows by their package id (the table's first column):
        their ids are reserved and the package ids mapped to them.
        """
        table: sa.Table = model.__table__
        ids = self.ids.setdefault(name, {})
        reserved: Sequence[int] = reserve_ids(table, self.counts.get(name, 0)) if keyed else ()
        writer = BulkWriter(table, ("id", *columns) if keyed else columns)
        taken = 0
        for values, count in self._chunks(name):
            stored = build(values)
            if keyed:
                new_ids = reserved[taken:taken + count]
                taken += count
                ids.update(zip(values[0], new_ids, strict=True))
                stored = (new_ids, *stored)
            writer.write(stored, count)
            self.progress.advance(count)

    def _walk_ins(self, sessions: list[int], people: list[int],
                  checked_in: Sequence[datetime]) -> list[bool]:
        """Whether each attendee came without a registration live at check-in."""
        found = self.registrations
        walk_ins = []
        for session, person, at in zip(sessions, people, checked_in, strict=True):
            walk_ins.append(not any(
                registered <= at and (cancelled is None or cancelled > at)
                for registered, cancelled in found.get(session * PAIR + person, ())))
        return walk_ins

    def run(self) -> int:
        now = self.now
        # Inserting the process first also takes SQLite's write lock, which reserve_ids needs.
        columns, _count = next(self._chunks("processes"))
        ref, title, municipality, population, starts_on, ends_on = (c[0] for c in columns)
        self.process_id = db.session.execute(
            sa.insert(Process).returning(Process.id),
            {"title": title, "description": "", "municipality": municipality or "",
             "population": population, "starts_on": starts_on, "ends_on": ends_on,
             "created_at": now, "external_ref": ref},
        ).scalar_one()
        self.progress.advance(1)
        pid = Same(self.process_id)
        empty, none, at_now = Same(""), Same(None), Same(now)

        # Columns arrive in the order of import_schema.TABLES.
        self._load("public_values", PublicValue, ("process_id", "code", "name", "description"),
                   lambda v: (pid, v[0], v[1], _or(v[2], "")), keyed=True)
        self._load("strata", Stratum,
                   ("process_id", "dimension", "category", "label", "population_share"),
                   lambda v: (pid, v[1], v[2], none, v[3]))
        # Staff then edit the imported reference population as if they had typed it: each
        # dimension gets its row, labelled with its code until they name it.
        codes = db.session.scalars(
            sa.select(Stratum.dimension).where(Stratum.process_id == self.process_id)
            .group_by(Stratum.dimension).order_by(sa.func.min(Stratum.id))).all()
        if codes:
            db.session.execute(sa.insert(Dimension), [
                {"process_id": self.process_id, "code": code, "label": code,
                 "position": position, "placeholder_shares": False}
                for position, code in enumerate(codes)])
        # The municipality's own data: its associations are approved.
        self._load("associations", Association,
                   ("name", "description", "created_at", "external_ref", "status"),
                   lambda v: (v[1], empty, at_now, v[0], Same(AssociationStatus.APPROVED.value)),
                   keyed=True)
        associations = self.ids["associations"]
        self._load("participants", Participant,
                   ("kind", "user_id", "display_name", "association_id", "created_at",
                    "external_ref"),
                   lambda v: (v[1], none, none, _optional_refs(associations, v[2]),
                              _or(v[3], now), v[0]),
                   keyed=True)
        people = self.ids["participants"]
        self._load("participant_attributes", ParticipantAttribute,
                   ("participant_id", "dimension", "category", "consented_at", "updated_at"),
                   lambda v: (_refs(people, v[0]), v[1], v[2], at_now, at_now))
        self._load("sessions", Meeting,
                   ("process_id", "title", "format", "starts_at", "ends_at", "location",
                    "online_url", "capacity", "agenda", "minutes", "closed_at", "created_at",
                    "external_ref"),
                   lambda v: (pid, v[2], v[3], v[4], v[5], empty, empty, v[6], empty, empty,
                              none, at_now, v[0]),
                   keyed=True)
        sessions = self.ids["sessions"]
        self._load("invitations", Invitation,
                   ("meeting_id", "participant_id", "association_id", "invited_at",
                    "invited_by_id"),
                   lambda v: (_refs(sessions, v[0]), _optional_refs(people, v[1]),
                              _optional_refs(associations, v[2]), v[3], none))

        def registrations(v: list[Sequence[Any]]) -> Sequence[Values]:
            meetings, persons = _refs(sessions, v[0]), _refs(people, v[1])
            found = self.registrations
            for session, person, registered, cancelled in zip(meetings, persons, v[2], v[3],
                                                              strict=True):
                found.setdefault(session * PAIR + person, []).append((registered, cancelled))
            # Longer than the 8-character door codes: a million imported rows must not collide.
            door_codes = [secrets.token_hex(8) for _ in meetings]
            return (meetings, persons, v[2], v[3], door_codes)

        self._load("registrations", Registration,
                   ("meeting_id", "participant_id", "registered_at", "cancelled_at", "code"),
                   registrations)

        def attendances(v: list[Sequence[Any]]) -> Sequence[Values]:
            meetings, persons = _refs(sessions, v[0]), _refs(people, v[1])
            return (meetings, persons, v[2], v[3], none, self._walk_ins(meetings, persons, v[3]))

        self._load("attendances", Attendance,
                   ("meeting_id", "participant_id", "mode", "checked_in_at", "checked_in_by_id",
                    "walk_in"),
                   attendances)
        self.registrations = {}
        self._snapshot_attributes()

        self._load("proposals", Proposal,
                   ("process_id", "meeting_id", "author_id", "association_id", "title", "body",
                    "state", "created_at", "published_at", "withdrawn_at", "answered_at",
                    "answer_rationale", "hidden_at", "external_ref"),
                   lambda v: (pid, _optional_refs(sessions, v[2]), _refs(people, v[3]), none,
                              v[4], empty, v[6], _or(v[5], now), v[5], none, v[7], v[8], none,
                              v[0]),
                   keyed=True)
        proposals = self.ids["proposals"]
        self._load("comments", Comment,
                   ("proposal_id", "author_id", "body", "created_at", "hidden_at",
                    "external_ref"),
                   lambda v: (_refs(proposals, v[1]), _refs(people, v[2]), empty, v[3], none,
                              v[0]))
        self._load("votes", Vote, ("proposal_id", "participant_id", "value", "cast_at"),
                   lambda v: (_refs(proposals, v[0]), _refs(people, v[1]), v[2], v[3]))
        values = self.ids["public_values"]

        def perceptions(v: list[Sequence[Any]]) -> Sequence[Values]:
            # A session means something only for a pulse (the session wave).
            meetings = [sessions[session] if wave == "session" else None
                        for wave, session in zip(v[3], v[4], strict=True)]
            return (_refs(people, v[0]), _refs(values, v[2]), v[3], meetings, v[5], v[6])

        self._load("perceptions", Perception,
                   ("participant_id", "public_value_id", "wave", "meeting_id", "score",
                    "answered_at"),
                   perceptions)
        self._load("speaking_turns", SpeakingTurn,
                   ("meeting_id", "participant_id", "started_at", "ended_at", "recorded_by_id"),
                   lambda v: (_refs(sessions, v[0]), _refs(people, v[1]), v[2], v[3], none))
        return self.process_id

    def _snapshot_attributes(self) -> None:
        """Each attendance keeps a copy of the attendee's categories, as a live check-in does."""
        attendance = Attendance.__table__
        attribute = ParticipantAttribute.__table__
        meeting = Meeting.__table__
        source = (
            sa.select(attendance.c.id, attribute.c.dimension, attribute.c.category)
            .join(meeting, meeting.c.id == attendance.c.meeting_id)
            .join(attribute, attribute.c.participant_id == attendance.c.participant_id)
            .where(meeting.c.process_id == self.process_id)
        )
        db.session.execute(AttendanceSnapshot.__table__.insert().from_select(
            ["attendance_id", "dimension", "category"], source))


IMPORTED_MODELS = (Process, PublicValue, Stratum, Association, Participant,
                   ParticipantAttribute, Meeting, Invitation, Registration, Attendance,
                   AttendanceSnapshot, Proposal, Comment, Vote, Perception, SpeakingTurn)
