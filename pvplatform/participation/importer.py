"""Import of a whole process from a data package (DATA.md): all of it, or nothing.

Two passes over the CSV files. The first reads every row and checks everything (columns, values,
enums, timestamps, references, repeated keys) while keeping only the package ids, so that a
refused package costs no database work and a large one no memory for its rows. The second reads
the files again and stores them with bulk inserts in the caller's transaction (the caller
commits), mapping package ids to new rows whose `external_ref` is the package id.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Association, AssociationStatus
from pvplatform.core.csv_safe import restore
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.feedback.models import Perception, PublicValue
from pvplatform.participation.import_bulk import BulkWriter
from pvplatform.participation.import_schema import TABLES, TABLES_BY_NAME, CellError, TableSpec
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

PACKAGE_NAME = "pv-process"
DESCRIPTOR = "datapackage.json"
MAX_REPORTED_ERRORS = 1000
CHUNK = 5000
_PAIR = 1 << 32  # packs two row ordinals into one int key: far less memory than tuples

INVALID = object()  # a cell already reported as unreadable: not to be reported again


@dataclass(frozen=True)
class PackageError:
    table: str
    line: int  # 1 is the header row; 0 for the package as a whole
    reason: str
    column: str | None = None

    @property
    def file(self) -> str:
        return DESCRIPTOR if self.table == DESCRIPTOR else f"{self.table}.csv"

    def __str__(self) -> str:
        if not self.line:
            return str(_l("%(file)s: %(reason)s", file=self.file, reason=self.reason))
        if self.column:
            return str(_l("%(file)s, line %(line)s, column %(column)s: %(reason)s",
                          file=self.file, line=self.line, column=self.column, reason=self.reason))
        return str(_l("%(file)s, line %(line)s: %(reason)s", file=self.file, line=self.line,
                      reason=self.reason))


class PackageInvalid(ValidationFailed):
    """The package was refused; `errors` says where and why. Nothing of it was stored."""

    def __init__(self, errors: list[PackageError], total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = total if total is not None else len(self.errors)
        super().__init__(str(_l(
            "The data package was refused (%(count)s errors); nothing was stored.",
            count=self.total)))


class ImportProgress(Protocol):
    def start(self, phase: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class _NoProgress:
    def start(self, phase: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


class _Errors:
    def __init__(self) -> None:
        self.items: list[PackageError] = []
        self.total = 0

    def add(self, table: str, line: int, reason: object, column: str | None = None) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(PackageError(table, line, str(reason), column))

    def __bool__(self) -> bool:
        return self.total > 0

    def refuse(self) -> PackageInvalid:
        return PackageInvalid(self.items, self.total)


# ---------------------------------------------------------------- reading the package

class _Package:
    def __init__(self, root: Path, errors: _Errors) -> None:
        self.root = root.resolve()
        self.files: dict[str, Path] = {}
        self.digests: dict[str, bytes] = {}  # what was checked is what gets stored
        self.unreadable: set[str] = set()  # tables refused as a whole (encoding, header)
        self._read_descriptor(errors)

    def _read_descriptor(self, errors: _Errors) -> None:
        path = self.root / DESCRIPTOR
        if not path.is_file():
            errors.add(DESCRIPTOR, 0, _l("the folder has no datapackage.json"))
            return
        try:
            descriptor = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            errors.add(DESCRIPTOR, 0, _l("the file is not UTF-8 text"))
            return
        except json.JSONDecodeError as exc:
            errors.add(DESCRIPTOR, exc.lineno, _l("not valid JSON: %(error)s", error=exc.msg))
            return
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("resources"), list):
            errors.add(DESCRIPTOR, 0, _l("a data package needs a list of resources"))
            return
        if descriptor.get("name") != PACKAGE_NAME:
            errors.add(DESCRIPTOR, 0, _l('the package name must be "%(name)s"', name=PACKAGE_NAME))
        known = {spec.name for spec in TABLES}
        for resource in descriptor["resources"]:
            if not isinstance(resource, dict) or resource.get("name") not in known:
                continue  # other resources may travel with the package; they are not ours
            name = resource["name"]
            if name in self.files:
                errors.add(DESCRIPTOR, 0, _l('the resource "%(name)s" is listed twice', name=name))
                continue
            file = self._resolve(resource.get("path"))
            if file is None:
                errors.add(DESCRIPTOR, 0, _l(
                    'the resource "%(name)s" must have a path to a CSV file inside the package '
                    "folder", name=name))
                continue
            if not file.is_file():
                errors.add(name, 0, _l("the file %(path)s is missing", path=resource["path"]))
                continue
            self.files[name] = file
        if "processes" not in self.files and not errors:
            errors.add("processes", 0, _l("the package has no processes table"))

    def _resolve(self, relative: object) -> Path | None:
        # A package is untrusted: no URLs, no absolute paths, nothing outside its folder.
        if not isinstance(relative, str) or not relative or "://" in relative:
            return None
        candidate = Path(relative)
        if candidate.is_absolute():
            return None
        resolved = (self.root / candidate).resolve()
        if not resolved.is_relative_to(self.root):
            return None
        return resolved

    def size(self, name: str) -> int:
        path = self.files.get(name)
        return path.stat().st_size if path else 0

    def rows(self, spec: TableSpec, errors: _Errors) -> Iterator[tuple[int, dict[str, Any], bool]]:
        """Yields (line, values, ok) per data row; values of unreadable cells are INVALID."""
        path = self.files.get(spec.name)
        if path is None:
            return
        data = path.read_bytes()
        self.digests[spec.name] = hashlib.sha256(data).digest()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            errors.add(spec.name, line, _l(
                "the file is not UTF-8: byte 0x%(byte)02x cannot be read (save the file as "
                "UTF-8 and import it again)", byte=data[exc.start]))
            self.unreadable.add(spec.name)
            return
        del data
        if text.startswith("\ufeff"):
            text = text[1:]
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            errors.add(spec.name, 1, _l("the file is empty: a header row is expected"))
            self.unreadable.add(spec.name)
            return
        except csv.Error as exc:
            errors.add(spec.name, 1, _l("unreadable CSV: %(error)s", error=str(exc)))
            self.unreadable.add(spec.name)
            return
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            if name in positions:
                errors.add(spec.name, 1, _l('the column "%(column)s" appears twice', column=name))
            positions[name] = index
        missing = [name for name in spec.required if name not in positions]
        for name in missing:
            errors.add(spec.name, 1, _l('the required column "%(column)s" is missing',
                                        column=name))
        if missing or len(positions) != len(header):
            self.unreadable.add(spec.name)
            return
        columns = [(column, positions.get(column.name)) for column in spec.columns]
        width = len(header)
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                errors.add(spec.name, start, _l("unreadable CSV: %(error)s", error=str(exc)))
                return
            line, start = start, reader.line_num + 1
            if not record:
                continue
            if len(record) != width:
                errors.add(spec.name, line, _l(
                    "%(found)s fields where the header has %(expected)s",
                    found=len(record), expected=width))
                yield line, {}, False
                continue
            values: dict[str, Any] = {}
            ok = True
            for column, position in columns:
                raw = record[position] if position is not None else ""
                if raw == "":
                    values[column.name] = None
                    if column.required:
                        errors.add(spec.name, line, _l("a value is required"), column.name)
                        ok = False
                    continue
                if column.type == "string":
                    raw = restore(raw)  # the platform's own exports neutralise formulas
                try:
                    values[column.name] = column.parse(raw)
                except CellError as exc:
                    values[column.name] = INVALID
                    errors.add(spec.name, line, exc.reason, column.name)
                    ok = False
            yield line, values, ok


# ---------------------------------------------------------------- first pass: checks

class _Checker:
    """Checks references and repeated keys, remembering only ids (as row ordinals)."""

    def __init__(self, errors: _Errors, unreadable: set[str]) -> None:
        self.errors = errors
        # References into a table refused as a whole are not reported once per row.
        self.unreadable = unreadable
        self.ids: dict[str, dict[str, int]] = {
            "processes": {}, "public_values": {}, "associations": {}, "participants": {},
            "sessions": {}, "proposals": {}, "comments": {},
        }
        self.keys: dict[str, set[Any]] = {}
        self.strata_sums: dict[str, list[Any]] = {}
        # (session, participant) -> [(started, ended, line)]
        self.turns: dict[int, list[tuple[datetime, datetime, int]]] = {}
        self.counts: dict[str, int] = {}
        self.first_process_line = 0

    # -- helpers
    def _new_id(self, table: str, line: int, column: str, value: Any) -> None:
        if value is None or value is INVALID:
            return
        ids = self.ids[table]
        if value in ids:
            self.errors.add(table, line, _l('the id "%(value)s" appears more than once',
                                            value=value), column)
            return
        ids[value] = len(ids)

    def _ref(self, table: str, line: int, column: str, value: Any, target: str) -> int | None:
        if value is None or value is INVALID:
            return None
        ordinal = self.ids[target].get(value)
        if ordinal is None and target not in self.unreadable:
            self.errors.add(table, line, _l(
                'unknown %(column)s "%(value)s": there is no such id in %(target)s.csv',
                column=column, value=value, target=target), column)
        return ordinal

    def _unique(self, table: str, line: int, key: Any, reason: Callable[[], object]) -> None:
        seen = self.keys.setdefault(table, set())
        if key in seen:
            self.errors.add(table, line, reason())  # built only when needed: rows are many
        else:
            seen.add(key)

    # -- tables
    def check_table(self, table: str, rows: Iterator[tuple[int, dict[str, Any], bool]]) -> None:
        handler = getattr(self, f"_{table}")
        count = 0
        for line, values, _ok in rows:
            if values:  # a row of the wrong width has no values to check further
                count += 1
                self.counts[table] = count
                handler(table, line, values)
        if table == "processes" and not count and not any(
                e.table == "processes" for e in self.errors.items):
            # Reported first: every reference to the process would fail after it.
            self.errors.add(table, 1, _l("the package holds no process: one row is needed"))

    def _processes(self, t: str, line: int, v: dict[str, Any]) -> None:
        if not self.first_process_line:
            self.first_process_line = line
        self._new_id(t, line, "id", v.get("id"))
        if self.counts[t] == 2:
            self.errors.add(t, line, _l("a package holds exactly one process; this is a second"))
        starts, ends = v.get("starts_on"), v.get("ends_on")
        if starts not in (None, INVALID) and ends not in (None, INVALID) and starts > ends:
            self.errors.add(t, line, _l("ends_on is before starts_on"), "ends_on")

    def _public_values(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._new_id(t, line, "code", v.get("code"))

    def _strata(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._ref(t, line, "process_id", v.get("process_id"), "processes")
        dimension, category, share = v.get("dimension"), v.get("category"), v.get(
            "population_share")
        if dimension in (None, INVALID) or category in (None, INVALID):
            return
        self._unique(t, line, (dimension, category), lambda: _l(
            'a second row for category "%(category)s" of dimension "%(dimension)s"',
            category=category, dimension=dimension))
        total = self.strata_sums.setdefault(dimension, [0.0, line])
        if isinstance(share, float):
            total[0] += share

    def _associations(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._new_id(t, line, "id", v.get("id"))

    def _participants(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._new_id(t, line, "id", v.get("id"))
        self._ref(t, line, "association_id", v.get("association_id"), "associations")

    def _participant_attributes(self, t: str, line: int, v: dict[str, Any]) -> None:
        who = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        dimension = v.get("dimension")
        if who is not None and dimension not in (None, INVALID):
            self._unique(t, line, (who, dimension), lambda: _l(
                'a second answer of participant "%(participant)s" in dimension "%(dimension)s"',
                participant=v["participant_id"], dimension=dimension))

    def _sessions(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._new_id(t, line, "id", v.get("id"))
        self._ref(t, line, "process_id", v.get("process_id"), "processes")
        starts, ends = v.get("starts_at"), v.get("ends_at")
        if starts not in (None, INVALID) and ends not in (None, INVALID) and ends < starts:
            self.errors.add(t, line, _l("ends_at is before starts_at"), "ends_at")

    def _invitations(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        person, association = v.get("participant_id"), v.get("association_id")
        if (person is None) == (association is None):
            self.errors.add(t, line, _l(
                "an invitation names exactly one of participant_id and association_id"))
        self._ref(t, line, "participant_id", person, "participants")
        self._ref(t, line, "association_id", association, "associations")

    def _registrations(self, t: str, line: int, v: dict[str, Any]) -> None:
        session = self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        person = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        registered, cancelled = v.get("registered_at"), v.get("cancelled_at")
        if isinstance(registered, datetime) and isinstance(cancelled, datetime) and (
                cancelled < registered):
            self.errors.add(t, line, _l("cancelled_at is before registered_at"), "cancelled_at")
        if session is not None and person is not None and cancelled is None:
            # The ledger keeps cancelled registrations, but a person has one live one at most.
            self._unique(t, line, session * _PAIR + person, lambda: _l(
                'a second registration, not cancelled, of participant "%(participant)s" to '
                'session "%(session)s"', participant=v["participant_id"],
                session=v["session_id"]))

    def _attendances(self, t: str, line: int, v: dict[str, Any]) -> None:
        session = self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        person = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        if session is not None and person is not None:
            self._unique(t, line, session * _PAIR + person, lambda: _l(
                'a second attendance of participant "%(participant)s" at session "%(session)s"',
                participant=v["participant_id"], session=v["session_id"]))

    def _proposals(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._new_id(t, line, "id", v.get("id"))
        self._ref(t, line, "process_id", v.get("process_id"), "processes")
        self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        self._ref(t, line, "author_id", v.get("author_id"), "participants")

    def _comments(self, t: str, line: int, v: dict[str, Any]) -> None:
        self._new_id(t, line, "id", v.get("id"))
        self._ref(t, line, "proposal_id", v.get("proposal_id"), "proposals")
        self._ref(t, line, "author_id", v.get("author_id"), "participants")

    def _votes(self, t: str, line: int, v: dict[str, Any]) -> None:
        proposal = self._ref(t, line, "proposal_id", v.get("proposal_id"), "proposals")
        person = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        if proposal is not None and person is not None:
            self._unique(t, line, proposal * _PAIR + person, lambda: _l(
                'a second vote of participant "%(participant)s" on proposal "%(proposal)s"',
                participant=v["participant_id"], proposal=v["proposal_id"]))

    def _perceptions(self, t: str, line: int, v: dict[str, Any]) -> None:
        person = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        self._ref(t, line, "process_id", v.get("process_id"), "processes")
        value = self._ref(t, line, "public_value", v.get("public_value"), "public_values")
        session = self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        wave, answered = v.get("wave"), v.get("answered_at")
        if wave == "session" and v.get("session_id") is None:
            self.errors.add(t, line, _l("a session-wave answer must name the session it is "
                                        "about"), "session_id")
            return
        if wave != "session":
            session = None  # the session column means nothing for the baseline and final
        if person is not None and value is not None and wave not in (None, INVALID) and (
                isinstance(answered, datetime)) and (wave != "session" or session is not None):
            self._unique(t, line, (person * _PAIR + value, wave, session, answered), lambda: _l(
                'a second answer of participant "%(participant)s" about "%(value)s" in wave '
                '"%(wave)s" at the same instant', participant=v["participant_id"],
                value=v["public_value"], wave=wave))

    def _speaking_turns(self, t: str, line: int, v: dict[str, Any]) -> None:
        session = self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        person = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        started, ended = v.get("started_at"), v.get("ended_at")
        if not isinstance(started, datetime) or not isinstance(ended, datetime):
            return
        if ended <= started:
            self.errors.add(t, line, _l("the turn ends before it starts (ended_at must be after "
                                        "started_at)"), "ended_at")
            return
        if session is not None and person is not None:
            self.turns.setdefault(session * _PAIR + person, []).append((started, ended, line))

    def _check_turn_overlaps(self) -> None:
        """Turns of one participant in one session may not overlap (DATA.md)."""
        for turns in self.turns.values():
            turns.sort()
            latest_end = None
            for started, ended, line in turns:
                if latest_end is not None and started < latest_end:
                    self.errors.add("speaking_turns", line, _l(
                        "this turn overlaps an earlier turn of the same participant in the "
                        "same session"), "started_at")
                latest_end = ended if latest_end is None else max(latest_end, ended)

    def finish(self) -> None:
        self._check_turn_overlaps()
        for dimension, (total, line) in sorted(self.strata_sums.items()):
            if total <= 0:
                self.errors.add("strata", line, _l(
                    'the population shares of dimension "%(dimension)s" sum to 0; they must sum '
                    "to more than 0", dimension=dimension), "population_share")


# ---------------------------------------------------------------- second pass: storing

def _utc_timestamp(raw: str) -> datetime:
    return datetime.fromisoformat(raw).astimezone(UTC)


# Cells were checked by the first pass, on the same bytes: plain conversions suffice.
_TRUSTED: dict[str, Callable[[str], Any] | None] = {
    "string": restore, "integer": int, "number": float, "datetime": _utc_timestamp,
    "date": date.fromisoformat,
}


class _Store:
    def __init__(self, package: _Package, *, now: datetime, progress: ImportProgress) -> None:
        self.package = package
        self.now = now
        self.progress = progress
        self.process_id = 0
        self.ids: dict[str, dict[str, int]] = {}
        self.registrations: dict[int, list[tuple[datetime, datetime | None]]] = {}

    def _rows(self, name: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a checked table as tuples in DATA.md's column order."""
        spec = TABLES_BY_NAME[name]
        path = self.package.files.get(name)
        if path is None:
            return
        data = path.read_bytes()
        if hashlib.sha256(data).digest() != self.package.digests.get(name):
            # Changed between the check and the store: refuse rather than store unchecked rows.
            raise PackageInvalid([PackageError(name, 0, str(_l(
                "the file changed while it was being imported")))])
        text = data.decode("utf-8")
        del data
        if text.startswith("\ufeff"):
            text = text[1:]
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        positions = {column: index for index, column in enumerate(next(reader))}
        plan = [(positions.get(c.name), _TRUSTED[c.type]) for c in spec.columns]
        for record in reader:
            if not record:
                continue
            values = []
            for position, convert in plan:
                raw = record[position] if position is not None else ""
                if raw == "":
                    values.append(None)
                else:
                    values.append(convert(raw) if convert else raw)
            yield tuple(values)

    def _load(self, name: str, model: Any, columns: Sequence[str],
              build: Callable[[tuple[Any, ...]], tuple[Any, ...]], *,
              id_index: int | None = None) -> None:
        """Streams a table into `model` by chunks of rows built by `build` (values of `columns`).

        With id_index (the package id's position in the CSV row), the new rows' ids are read
        back (RETURNING, in order) to map package ids to database ids.
        """
        table: sa.Table = model.__table__
        writer = BulkWriter(table, columns) if id_index is None else None
        ids = self.ids.setdefault(name, {})
        chunk: list[tuple[Any, ...]] = []
        refs: list[str] = []
        for row in self._rows(name):
            chunk.append(build(row))
            if id_index is not None:
                refs.append(row[id_index])
            if len(chunk) >= CHUNK:
                self._flush(table, columns, writer, chunk, refs, ids)
                chunk, refs = [], []
        self._flush(table, columns, writer, chunk, refs, ids)

    def _flush(self, table: sa.Table, columns: Sequence[str], writer: BulkWriter | None,
               chunk: list[tuple[Any, ...]], refs: list[str], ids: dict[str, int]) -> None:
        if not chunk:
            return
        self.progress.advance(len(chunk))
        if writer is not None:
            writer.write(chunk)
            return
        statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        new_ids = db.session.execute(
            statement, [dict(zip(columns, row, strict=True)) for row in chunk]).scalars()
        ids.update(zip(refs, new_ids, strict=True))

    def _walk_in(self, session: int, person: int, checked_in_at: datetime) -> bool:
        for registered, cancelled in self.registrations.get(session * _PAIR + person, ()):
            if registered <= checked_in_at and (cancelled is None or cancelled > checked_in_at):
                return False
        return True

    def run(self) -> int:
        now = self.now
        # Rows arrive as tuples in the column order of import_schema.TABLES.
        ref, title, municipality, population, starts_on, ends_on = next(self._rows("processes"))
        self.process_id = db.session.execute(
            sa.insert(Process).returning(Process.id),
            {"title": title, "description": "", "municipality": municipality or "",
             "population": population, "starts_on": starts_on, "ends_on": ends_on,
             "created_at": now, "external_ref": ref},
        ).scalar_one()
        self.progress.advance(1)
        pid = self.process_id

        self._load("public_values", PublicValue, ("process_id", "code", "name", "description"),
                   lambda r: (pid, r[0], r[1], r[2] or ""), id_index=0)
        self._load("strata", Stratum,
                   ("process_id", "dimension", "category", "label", "population_share"),
                   lambda r: (pid, r[1], r[2], None, r[3]))
        # Staff then edit the imported reference population as if they had typed it: each
        # dimension gets its row, labelled with its code until they name it.
        codes = db.session.scalars(
            sa.select(Stratum.dimension).where(Stratum.process_id == pid)
            .group_by(Stratum.dimension).order_by(sa.func.min(Stratum.id))).all()
        if codes:
            db.session.execute(sa.insert(Dimension), [
                {"process_id": pid, "code": code, "label": code, "position": position,
                 "placeholder_shares": False} for position, code in enumerate(codes)])
        # The municipality's own data: its associations are approved.
        self._load("associations", Association,
                   ("name", "description", "created_at", "external_ref", "status"),
                   lambda r: (r[1], "", now, r[0], AssociationStatus.APPROVED.value),
                   id_index=0)
        associations = self.ids["associations"]

        def opt(ids: dict[str, int], ref: str | None) -> int | None:
            return ids[ref] if ref else None

        self._load("participants", Participant,
                   ("kind", "user_id", "display_name", "association_id", "created_at",
                    "external_ref"),
                   lambda r: (r[1], None, None, opt(associations, r[2]), r[3] or now, r[0]),
                   id_index=0)
        people = self.ids["participants"]
        self._load("participant_attributes", ParticipantAttribute,
                   ("participant_id", "dimension", "category", "consented_at", "updated_at"),
                   lambda r: (people[r[0]], r[1], r[2], now, now))
        self._load("sessions", Meeting,
                   ("process_id", "title", "format", "starts_at", "ends_at", "location",
                    "online_url", "capacity", "agenda", "minutes", "closed_at", "created_at",
                    "external_ref"),
                   lambda r: (pid, r[2], r[3], r[4], r[5], "", "", r[6], "", "", None, now,
                              r[0]),
                   id_index=0)
        sessions = self.ids["sessions"]
        self._load("invitations", Invitation,
                   ("meeting_id", "participant_id", "association_id", "invited_at",
                    "invited_by_id"),
                   lambda r: (sessions[r[0]], opt(people, r[1]), opt(associations, r[2]), r[3],
                              None))

        def registration(r: tuple[Any, ...]) -> tuple[Any, ...]:
            session, person = sessions[r[0]], people[r[1]]
            self.registrations.setdefault(session * _PAIR + person, []).append((r[2], r[3]))
            # Longer than the 8-character door codes: a million imported rows must not collide.
            return (session, person, r[2], r[3], secrets.token_hex(8))

        self._load("registrations", Registration,
                   ("meeting_id", "participant_id", "registered_at", "cancelled_at", "code"),
                   registration)

        def attendance(r: tuple[Any, ...]) -> tuple[Any, ...]:
            session, person = sessions[r[0]], people[r[1]]
            return (session, person, r[2], r[3], None, self._walk_in(session, person, r[3]))

        self._load("attendances", Attendance,
                   ("meeting_id", "participant_id", "mode", "checked_in_at", "checked_in_by_id",
                    "walk_in"),
                   attendance)
        self.registrations = {}
        self._snapshot_attributes()

        self._load("proposals", Proposal,
                   ("process_id", "meeting_id", "author_id", "association_id", "title", "body",
                    "state", "created_at", "published_at", "withdrawn_at", "answered_at",
                    "answer_rationale", "hidden_at", "external_ref"),
                   lambda r: (pid, opt(sessions, r[2]), people[r[3]], None, r[4], "", r[6],
                              r[5] or now, r[5], None, r[7], r[8], None, r[0]),
                   id_index=0)
        proposals = self.ids["proposals"]
        self._load("comments", Comment,
                   ("proposal_id", "author_id", "body", "created_at", "hidden_at",
                    "external_ref"),
                   lambda r: (proposals[r[1]], people[r[2]], "", r[3], None, r[0]))
        self._load("votes", Vote, ("proposal_id", "participant_id", "value", "cast_at"),
                   lambda r: (proposals[r[0]], people[r[1]], r[2], r[3]))
        values = self.ids["public_values"]
        self._load("perceptions", Perception,
                   ("participant_id", "public_value_id", "wave", "meeting_id", "score",
                    "answered_at"),
                   lambda r: (people[r[0]], values[r[2]], r[3],
                              opt(sessions, r[4]) if r[3] == "session" else None, r[5], r[6]))
        self._load("speaking_turns", SpeakingTurn,
                   ("meeting_id", "participant_id", "started_at", "ended_at", "recorded_by_id"),
                   lambda r: (sessions[r[0]], people[r[1]], r[2], r[3], None))
        return pid

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


# ---------------------------------------------------------------- entry point

_IMPORTED_MODELS = (Process, PublicValue, Stratum, Association, Participant,
                    ParticipantAttribute, Meeting, Invitation, Registration, Attendance,
                    AttendanceSnapshot, Proposal, Comment, Vote, Perception, SpeakingTurn)


def _refresh_statistics() -> None:
    """PostgreSQL plans with the row counts it last sampled: right after a bulk load, before
    autovacuum comes by, the indicator queries would otherwise pick nested loops over a
    million rows (seen: 35 s instead of 3 s). ANALYZE samples, and runs in the transaction."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for model in _IMPORTED_MODELS:
        db.session.execute(sa.text(f"ANALYZE {model.__table__.name}"))

def import_package(path: Path, *, now: datetime,
                   progress: ImportProgress | None = None) -> Process:
    """Checks the whole package, then stores it as a new process; raises PackageInvalid.

    Nothing is committed here: the caller commits (or rolls back) the transaction.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    progress = progress or _NoProgress()
    now = now.astimezone(UTC)
    # Millions of short-lived, acyclic objects: the cyclic collector would rescan the large
    # id maps again and again for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import(Path(path), now=now, progress=progress)
    finally:
        if collecting:
            gc.enable()


def _import(path: Path, *, now: datetime, progress: ImportProgress) -> Process:
    errors = _Errors()
    package = _Package(path, errors)
    if errors:
        raise errors.refuse()
    progress.start("check", sum(package.size(spec.name) for spec in TABLES))
    checker = _Checker(errors, package.unreadable)
    for spec in TABLES:
        checker.check_table(spec.name, package.rows(spec, errors))
        progress.advance(package.size(spec.name))
    checker.finish()
    if errors:
        raise errors.refuse()
    total_rows = sum(checker.counts.values())
    del checker  # its id sets can be large; the store pass builds its own maps
    progress.start("store", total_rows)
    store = _Store(package, now=now, progress=progress)
    process_id = store.run()
    _refresh_statistics()
    # Bulk inserts bypass the ORM events that refresh stored flags: ask for it explicitly.
    from pvplatform.indicators.autorefresh import mark_dirty

    mark_dirty(process_id)
    process = db.session.get(Process, process_id)
    assert process is not None
    return process
