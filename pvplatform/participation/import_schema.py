"""The tables of the process data package as DATA.md fixes them, and the parsing of their cells.

The platform's own schema is the reference, not the `schema` inside a package's datapackage.json:
a package cannot loosen a rule by declaring a column optional or an enum wider.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

ID_MAX = 200  # the width of every external_ref column
CODE_MAX = 64  # dimensions, categories and public value codes
TITLE_MAX = 200
TEXT_MAX = 10_000

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Control characters break CSV round trips and terminals; bidi overrides disguise text.
_BAD_IN_LINE = re.compile("[\x00-\x1f\x7f\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_BAD_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u202a-\u202e\u2060"
                          "\u2066-\u2069\ufeff]")


class CellError(ValueError):
    """A cell that cannot be read; the message is the reason shown to whoever fixes the file."""

    def __init__(self, reason: object) -> None:
        super().__init__(str(reason))
        self.reason = str(reason)


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser
    required: bool = False
    type: str = "string"  # the Table Schema type written in datapackage.json
    enum: tuple[object, ...] = ()

    def parse_many(self, cells: Sequence[str]) -> Sequence[Any] | None:
        """The values of a column of cells (None for an empty one), or None when any cell
        would be refused: then each is to be read alone, for its own reason."""
        if "" not in cells:
            return self.parse.many(cells)
        if self.required:
            return None
        present = [raw for raw in cells if raw]
        values = self.parse.many(present) if present else ()
        if values is None:
            return None
        found = iter(values)
        return [next(found) if raw else None for raw in cells]


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


# ---------------------------------------------------------------- cell parsers

class Parser(ABC):
    """Reads one kind of cell: `__call__` one cell (or raises CellError with the reason), `many`
    a column of non-empty cells at once, answering None when any of them would be refused (the
    caller then reads them one by one, to report each reason where it belongs)."""

    schema_type = "string"  # the Table Schema type written in datapackage.json

    @abstractmethod
    def __call__(self, raw: str) -> Any: ...

    def many(self, cells: Sequence[str]) -> Sequence[Any] | None:
        try:
            return [self(raw) for raw in cells]
        except CellError:
            return None


class Text(Parser):
    def __init__(self, max_length: int, *, multiline: bool = False) -> None:
        self.max_length = max_length
        self.bad = _BAD_IN_TEXT if multiline else _BAD_IN_LINE

    def __call__(self, raw: str) -> str:
        if len(raw) > self.max_length:
            raise CellError(_l("longer than %(max)s characters", max=self.max_length))
        if self.bad.search(raw):
            raise CellError(_l("contains control or invisible characters"))
        return raw

    def many(self, cells: Sequence[str]) -> Sequence[str] | None:
        # One search over the column: the comma joining the cells is no bad character.
        if max(map(len, cells), default=0) > self.max_length or self.bad.search(",".join(cells)):
            return None
        return cells


class Integer(Parser):
    schema_type = "integer"

    def __init__(self, *, minimum: int | None = None) -> None:
        self.minimum = minimum

    def __call__(self, raw: str) -> int:
        if not _INTEGER.fullmatch(raw) or len(raw) > 18:
            raise CellError(_l('"%(value)s" is not a whole number', value=raw[:40]))
        value = int(raw)
        if self.minimum is not None and value < self.minimum:
            raise CellError(_l("%(value)s is below the minimum %(min)s", value=value,
                               min=self.minimum))
        return value


class Number(Parser):
    schema_type = "number"

    def __init__(self, *, minimum: float | None = None) -> None:
        self.minimum = minimum

    def __call__(self, raw: str) -> float:
        if not _NUMBER.fullmatch(raw):
            raise CellError(_l('"%(value)s" is not a number (write it like 0.25)', value=raw[:40]))
        value = float(raw)
        if not math.isfinite(value):
            raise CellError(_l('"%(value)s" is not a finite number', value=raw[:40]))
        if self.minimum is not None and value < self.minimum:
            raise CellError(_l("%(value)s is below the minimum %(min)s", value=raw[:40],
                               min=self.minimum))
        return value


class Choice(Parser):
    def __init__(self, *allowed: str, convert: Callable[[str], object] = str) -> None:
        self.values = {raw: convert(raw) for raw in allowed}
        self.same = all(value == raw for raw, value in self.values.items())
        self.listing = ", ".join(allowed)

    def __call__(self, raw: str) -> object:
        if raw not in self.values:
            raise CellError(_l('"%(value)s" is not one of: %(allowed)s', value=raw[:40],
                               allowed=self.listing))
        return self.values[raw]

    def many(self, cells: Sequence[str]) -> Sequence[object] | None:
        if not self.values.keys() >= set(cells):
            return None
        return cells if self.same else list(map(self.values.__getitem__, cells))


def convert_distinct(convert: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """`convert` of each value, called once per distinct value: cells repeat a lot (the answers
    of one survey submission share their instant, the invitations of one mailing theirs)."""
    distinct = set(values)
    if len(distinct) == len(values):
        return list(map(convert, values))
    converted = {value: convert(value) for value in distinct}
    return list(map(converted.__getitem__, values))


def _instant(raw: str) -> datetime:
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:  # fromisoformat gives a fixed offset or none: never an unknown one
        raise ValueError(raw)
    return value.astimezone(UTC)


class Timestamp(Parser):
    """An ISO 8601 instant with its offset, returned in UTC; a naive time is ambiguous."""

    schema_type = "datetime"

    def __call__(self, raw: str) -> datetime:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise CellError(_l('"%(value)s" is not an ISO 8601 timestamp (for instance '
                               "2026-03-14T18:30:00+01:00)", value=raw[:40])) from None
        if value.tzinfo is None or value.utcoffset() is None:
            raise CellError(_l('the timestamp "%(value)s" has no UTC offset: add it, as in '
                               "2026-03-14T18:30:00+01:00 or 2026-03-14T17:30:00Z",
                               value=raw[:40]))
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise CellError(_l('"%(value)s" is out of range', value=raw[:40])) from None

    def many(self, cells: Sequence[str]) -> Sequence[datetime] | None:
        try:
            return convert_distinct(_instant, cells)
        except (ValueError, OverflowError):
            return None


class CalendarDate(Parser):
    schema_type = "date"

    def __call__(self, raw: str) -> date:
        if not _DATE.fullmatch(raw):
            raise CellError(_l('"%(value)s" is not a date written YYYY-MM-DD', value=raw[:40]))
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise CellError(_l('"%(value)s" is not a valid date', value=raw[:40])) from None


identifier = Text(ID_MAX)
code = Text(CODE_MAX)
title = Text(TITLE_MAX)
long_text = Text(TEXT_MAX, multiline=True)
timestamp = Timestamp()
calendar_date = CalendarDate()


KINDS = ("citizen", "association", "manager", "elected")
FORMATS = ("online", "in_person", "hybrid")
MODES = ("online", "in_person")
STATES = ("draft", "published", "evaluating", "accepted", "rejected", "withdrawn")
WAVES = ("baseline", "session", "final")


def _c(name: str, parse: Parser, required: bool = False,
       type: str | None = None, enum: tuple[object, ...] = ()) -> Column:  # noqa: A002
    return Column(name, parse, required, type or parse.schema_type, enum)


def _int(name: str, parse: Parser, required: bool = False,
         enum: tuple[object, ...] = ()) -> Column:
    return _c(name, parse, required, "integer", enum)


TABLES: tuple[TableSpec, ...] = (
    TableSpec("processes", (
        _c("id", identifier, True), _c("title", title, True), _c("municipality", Text(120)),
        _int("population", Integer(minimum=0)), _c("starts_on", calendar_date),
        _c("ends_on", calendar_date),
    )),
    TableSpec("public_values", (
        _c("code", code, True), _c("name", title, True), _c("description", long_text),
    )),
    TableSpec("strata", (
        _c("process_id", identifier, True), _c("dimension", code, True),
        _c("category", code, True), _c("population_share", Number(minimum=0.0), True),
    )),
    TableSpec("associations", (_c("id", identifier, True), _c("name", title, True))),
    TableSpec("participants", (
        _c("id", identifier, True), _c("kind", Choice(*KINDS), True, enum=KINDS),
        _c("association_id", identifier), _c("created_at", timestamp),
    )),
    TableSpec("participant_attributes", (
        _c("participant_id", identifier, True), _c("dimension", code, True),
        _c("category", code, True),
    )),
    TableSpec("sessions", (
        _c("id", identifier, True), _c("process_id", identifier, True), _c("title", title, True),
        _c("format", Choice(*FORMATS), True, enum=FORMATS), _c("starts_at", timestamp, True),
        _c("ends_at", timestamp), _int("capacity", Integer(minimum=1)),
    )),
    TableSpec("invitations", (
        _c("session_id", identifier, True), _c("participant_id", identifier),
        _c("association_id", identifier), _c("invited_at", timestamp, True),
    )),
    TableSpec("registrations", (
        _c("session_id", identifier, True), _c("participant_id", identifier, True),
        _c("registered_at", timestamp, True), _c("cancelled_at", timestamp),
    )),
    TableSpec("attendances", (
        _c("session_id", identifier, True), _c("participant_id", identifier, True),
        _c("mode", Choice(*MODES), True, enum=MODES), _c("checked_in_at", timestamp, True),
    )),
    TableSpec("proposals", (
        _c("id", identifier, True), _c("process_id", identifier, True),
        _c("session_id", identifier), _c("author_id", identifier, True),
        _c("title", title, True), _c("published_at", timestamp),
        _c("state", Choice(*STATES), True, enum=STATES), _c("answered_at", timestamp),
        _c("answer_rationale", long_text),
    )),
    TableSpec("comments", (
        _c("id", identifier, True), _c("proposal_id", identifier, True),
        _c("author_id", identifier, True), _c("created_at", timestamp, True),
    )),
    TableSpec("votes", (
        _c("proposal_id", identifier, True), _c("participant_id", identifier, True),
        _int("value", Choice("1", "-1", convert=int), True, enum=(1, -1)),
        _c("cast_at", timestamp, True),
    )),
    TableSpec("perceptions", (
        _c("participant_id", identifier, True), _c("process_id", identifier, True),
        _c("public_value", code, True), _c("wave", Choice(*WAVES), True, enum=WAVES),
        _c("session_id", identifier),
        # Empty for "don't know".
        _int("score", Choice("1", "2", "3", "4", "5", convert=int), enum=(1, 2, 3, 4, 5)),
        _c("answered_at", timestamp, True),
    )),
    TableSpec("speaking_turns", (
        _c("session_id", identifier, True), _c("participant_id", identifier, True),
        _c("started_at", timestamp, True), _c("ended_at", timestamp, True),
    )),
)

TABLES_BY_NAME = {t.name: t for t in TABLES}


PRIMARY_KEYS: dict[str, list[str]] = {
    "processes": ["id"], "public_values": ["code"],
    "strata": ["process_id", "dimension", "category"], "associations": ["id"],
    "participants": ["id"], "participant_attributes": ["participant_id", "dimension"],
    "sessions": ["id"], "proposals": ["id"], "comments": ["id"],
    "votes": ["proposal_id", "participant_id"],
}
FOREIGN_KEYS: dict[str, list[tuple[str, str, str]]] = {
    # table -> (column, referenced resource, referenced column)
    "strata": [("process_id", "processes", "id")],
    "participants": [("association_id", "associations", "id")],
    "participant_attributes": [("participant_id", "participants", "id")],
    "sessions": [("process_id", "processes", "id")],
    "invitations": [("session_id", "sessions", "id"), ("participant_id", "participants", "id"),
                    ("association_id", "associations", "id")],
    "registrations": [("session_id", "sessions", "id"),
                      ("participant_id", "participants", "id")],
    "attendances": [("session_id", "sessions", "id"), ("participant_id", "participants", "id")],
    "proposals": [("process_id", "processes", "id"), ("session_id", "sessions", "id"),
                  ("author_id", "participants", "id")],
    "comments": [("proposal_id", "proposals", "id"), ("author_id", "participants", "id")],
    "votes": [("proposal_id", "proposals", "id"), ("participant_id", "participants", "id")],
    "perceptions": [("participant_id", "participants", "id"), ("process_id", "processes", "id"),
                    ("session_id", "sessions", "id"),
                    ("public_value", "public_values", "code")],
    "speaking_turns": [("session_id", "sessions", "id"),
                       ("participant_id", "participants", "id")],
}


def descriptor() -> dict[str, Any]:
    """datapackage.json of a package written by the platform: DATA.md's tables, types, required
    columns, enums, primary and foreign keys (what `frictionless validate` checks)."""
    resources = []
    for spec in TABLES:
        fields = []
        for column in spec.columns:
            entry: dict[str, Any] = {"name": column.name, "type": column.type}
            constraints: dict[str, Any] = {}
            if column.required:
                constraints["required"] = True
            if column.enum:
                constraints["enum"] = list(column.enum)
            if constraints:
                entry["constraints"] = constraints
            fields.append(entry)
        schema: dict[str, Any] = {"fields": fields}
        if spec.name in PRIMARY_KEYS:
            schema["primaryKey"] = PRIMARY_KEYS[spec.name]
        if spec.name in FOREIGN_KEYS:
            schema["foreignKeys"] = [
                {"fields": column, "reference": {"resource": resource, "fields": target}}
                for column, resource, target in FOREIGN_KEYS[spec.name]]
        resources.append({"name": spec.name, "path": f"{spec.name}.csv",
                          "profile": "tabular-data-resource", "format": "csv",
                          "encoding": "utf-8", "schema": schema})
    return {"name": "pv-process", "resources": resources}
