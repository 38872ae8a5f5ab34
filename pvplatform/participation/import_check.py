"""The first pass of the import: every cell, reference and repeated key of a package, checked.

Only ids are remembered (as row ordinals), never rows: a refused package costs no database work
and a large one no memory for its rows.

A chunk of rows is first checked column by column (the fast path: a few calls per column, not
per cell). That path only answers "nothing wrong here": as soon as anything in the chunk looks
wrong, the chunk is checked again row by row, cell by cell (the slow path), which alone reports
errors, so that the messages and their order are those of a row-by-row reading. The fast path
changes the checker's state only once it has found the whole chunk right, and then exactly as
the slow path would have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from pvplatform.core.csv_safe import restore
from pvplatform.participation.import_errors import ErrorList
from pvplatform.participation.import_read import Chunk, TableFile
from pvplatform.participation.import_schema import CellError

PAIR = 1 << 32  # packs two row ordinals into one int key: far less memory than tuples

INVALID = object()  # a cell already reported as unreadable: not to be reported again

Columns = list[Sequence[Any]]


class Checker:
    """Checks references and repeated keys, remembering only ids (as row ordinals)."""

    def __init__(self, errors: ErrorList, unreadable: set[str]) -> None:
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

    # -- reading a table
    def check_table(self, table: str, file: TableFile | None) -> None:
        if file is not None:
            fast = self._FAST.get(table)
            for chunk in file.chunks(self.errors):
                if fast is None or not self._check_fast(file, chunk, fast):
                    self._check_slow(file, chunk)
        if table == "processes" and not self.counts.get(table) and not any(
                e.table == "processes" for e in self.errors.items):
            # Reported first: every reference to the process would fail after it.
            self.errors.add(table, 1, _l("the package holds no process: one row is needed"))

    def _check_fast(self, file: TableFile, chunk: Chunk,
                    handler: Callable[[Checker, str, list[int], Columns], bool]) -> bool:
        lines, records = chunk
        if set(map(len, records)) != {file.width}:
            return False
        values: Columns = []
        for column, cells in zip(file.spec.columns, file.columns(records), strict=True):
            parsed = column.parse_many(file.restored(column, cells))
            if parsed is None:
                return False
            values.append(parsed)
        table = file.spec.name
        if not handler(self, table, lines, values):
            return False
        self.counts[table] = self.counts.get(table, 0) + len(records)
        return True

    def _check_slow(self, file: TableFile, chunk: Chunk) -> None:
        """Row by row, cell by cell: every error reported where it is."""
        spec, errors = file.spec, self.errors
        table = spec.name
        handler = getattr(self, f"_{table}")
        columns = list(zip(spec.columns, file.positions, strict=True))
        for line, record in zip(*chunk, strict=True):
            if len(record) != file.width:
                errors.add(table, line, _l(
                    "%(found)s fields where the header has %(expected)s",
                    found=len(record), expected=file.width))
                continue  # a row of the wrong width has no values to check further
            values: dict[str, Any] = {}
            for column, position in columns:
                raw = record[position] if position is not None else ""
                if raw == "":
                    values[column.name] = None
                    if column.required:
                        errors.add(table, line, _l("a value is required"), column.name)
                    continue
                if column.type == "string":
                    raw = restore(raw)  # the platform's own exports neutralise formulas
                try:
                    values[column.name] = column.parse(raw)
                except CellError as exc:
                    values[column.name] = INVALID
                    errors.add(table, line, exc.reason, column.name)
            self.counts[table] = self.counts.get(table, 0) + 1
            handler(table, line, values)

    # -- the slow path's tables, one row at a time
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
            self._unique(t, line, session * PAIR + person, lambda: _l(
                'a second registration, not cancelled, of participant "%(participant)s" to '
                'session "%(session)s"', participant=v["participant_id"],
                session=v["session_id"]))

    def _attendances(self, t: str, line: int, v: dict[str, Any]) -> None:
        session = self._ref(t, line, "session_id", v.get("session_id"), "sessions")
        person = self._ref(t, line, "participant_id", v.get("participant_id"), "participants")
        if session is not None and person is not None:
            self._unique(t, line, session * PAIR + person, lambda: _l(
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
            self._unique(t, line, proposal * PAIR + person, lambda: _l(
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
            self._unique(t, line, (person * PAIR + value, wave, session, answered), lambda: _l(
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
            self.turns.setdefault(session * PAIR + person, []).append((started, ended, line))

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

    # -- the fast path's tables, a chunk at a time: True when the whole chunk is right

    def _ordinals(self, target: str, cells: Sequence[Any]) -> list[int] | None:
        """The ordinals of required references, or None if any is unknown."""
        ids = self.ids[target]
        try:
            return list(map(ids.__getitem__, cells))
        except KeyError:
            return None

    def _known(self, target: str, cells: Sequence[Any]) -> bool:
        """Whether every optional reference (None for none) is known."""
        present = set(cells)
        present.discard(None)
        return self.ids[target].keys() >= present

    def _new_ids_fast(self, table: str, cells: Sequence[Any]) -> bool:
        ids = self.ids[table]
        new = dict.fromkeys(cells)
        if len(new) != len(cells) or not ids.keys().isdisjoint(new):
            return False
        ids.update(zip(cells, range(len(ids), len(ids) + len(cells)), strict=True))
        return True

    def _unique_fast(self, table: str, keys: list[Any]) -> bool:
        seen = self.keys.setdefault(table, set())
        new = set(keys)
        if len(new) != len(keys) or not seen.isdisjoint(new):
            return False
        seen.update(new)
        return True

    def _participants_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        ids, _kind, association, _created = v
        return self._known("associations", association) and self._new_ids_fast(t, ids)

    def _participant_attributes_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        who = self._ordinals("participants", v[0])
        return who is not None and self._unique_fast(t, list(zip(who, v[1], strict=True)))

    def _invitations_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        sessions, people, associations, _invited = v
        return (self._ordinals("sessions", sessions) is not None
                and not any((person is None) == (association is None)
                            for person, association in zip(people, associations, strict=True))
                and self._known("participants", people)
                and self._known("associations", associations))

    def _registrations_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        sessions = self._ordinals("sessions", v[0])
        people = self._ordinals("participants", v[1])
        registered, cancelled = v[2], v[3]
        if sessions is None or people is None or any(
                c is not None and c < r for r, c in zip(registered, cancelled, strict=True)):
            return False
        return self._unique_fast(t, [
            session * PAIR + person
            for session, person, c in zip(sessions, people, cancelled, strict=True)
            if c is None])

    def _pairs_fast(self, t: str, first: str, second: str, v: Columns) -> bool:
        left, right = self._ordinals(first, v[0]), self._ordinals(second, v[1])
        return left is not None and right is not None and self._unique_fast(
            t, [a * PAIR + b for a, b in zip(left, right, strict=True)])

    def _attendances_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        return self._pairs_fast(t, "sessions", "participants", v)

    def _votes_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        return self._pairs_fast(t, "proposals", "participants", v)

    def _proposals_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        return (self._ordinals("processes", v[1]) is not None
                and self._known("sessions", v[2])
                and self._ordinals("participants", v[3]) is not None
                and self._new_ids_fast(t, v[0]))

    def _comments_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        return (self._ordinals("proposals", v[1]) is not None
                and self._ordinals("participants", v[2]) is not None
                and self._new_ids_fast(t, v[0]))

    def _perceptions_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        people_refs, processes, values_refs, waves, sessions, _score, answered = v
        people = self._ordinals("participants", people_refs)
        values = self._ordinals("public_values", values_refs)
        if (people is None or values is None or self._ordinals("processes", processes) is None
                or not self._known("sessions", sessions)):
            return False
        session_ids = self.ids["sessions"]
        keys = []
        for person, value, wave, session, at in zip(people, values, waves, sessions, answered,
                                                    strict=True):
            if wave != "session":
                session_key = None  # the session column means nothing for the baseline and final
            elif session is None:
                return False
            else:
                session_key = session_ids[session]
            keys.append((person * PAIR + value, wave, session_key, at))
        return self._unique_fast(t, keys)

    def _speaking_turns_fast(self, t: str, lines: list[int], v: Columns) -> bool:
        sessions = self._ordinals("sessions", v[0])
        people = self._ordinals("participants", v[1])
        started, ended = v[2], v[3]
        if sessions is None or people is None or any(
                e <= s for s, e in zip(started, ended, strict=True)):
            return False
        turns = self.turns
        for session, person, s, e, line in zip(sessions, people, started, ended, lines,
                                               strict=True):
            turns.setdefault(session * PAIR + person, []).append((s, e, line))
        return True

    # The tables read fast; the others are a few rows long.
    _FAST: dict[str, Callable[[Checker, str, list[int], Columns], bool]] = {
        "participants": _participants_fast,
        "participant_attributes": _participant_attributes_fast,
        "invitations": _invitations_fast,
        "registrations": _registrations_fast,
        "attendances": _attendances_fast,
        "proposals": _proposals_fast,
        "comments": _comments_fast,
        "votes": _votes_fast,
        "perceptions": _perceptions_fast,
        "speaking_turns": _speaking_turns_fast,
    }
