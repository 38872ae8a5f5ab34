"""Reading a process data package: its descriptor, then each CSV file by chunks of rows.

A chunk is a few thousand rows with their line numbers. Both passes of the import read the files
this way: the checks look at a whole chunk column by column, and the store writes it at once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l

from pvplatform.core.csv_safe import restore
from pvplatform.participation.import_errors import (
    DESCRIPTOR,
    ErrorList,
    PackageError,
    PackageInvalid,
)
from pvplatform.participation.import_schema import TABLES, Column, TableSpec

PACKAGE_NAME = "pv-process"
CHUNK = 5000

Chunk = tuple[list[int], list[list[str]]]  # the rows' first lines, and the rows' cells


@dataclass
class TableFile:
    """One CSV file of the package, its header read and checked."""

    spec: TableSpec
    reader: Any  # a csv reader, whose line_num says where the last row ended
    positions: tuple[int | None, ...]  # where each of the spec's columns is in a row, if at all
    width: int
    # The platform's exports neutralise formulas with an apostrophe (csv_safe); a file without
    # one has nothing to restore.
    apostrophes: bool

    def chunks(self, errors: ErrorList) -> Iterator[Chunk]:
        """The data rows, blank lines left out; a row the CSV reader cannot read is reported and
        ends the file, after the rows before it."""
        reader = self.reader
        lines: list[int] = []
        records: list[list[str]] = []
        start = reader.line_num + 1
        try:
            for record in reader:
                if record:
                    lines.append(start)
                    records.append(record)
                    if len(records) == CHUNK:
                        yield lines, records
                        lines, records = [], []
                start = reader.line_num + 1
        except csv.Error as exc:
            if records:
                yield lines, records
            errors.add(self.spec.name, start, _l("unreadable CSV: %(error)s", error=str(exc)))
            return
        if records:
            yield lines, records

    def columns(self, records: list[list[str]]) -> list[Sequence[str]]:
        """The chunk's cells column by column, in the spec's order (a missing optional column
        is a column of empty cells); every row must have the header's width."""
        by_position = list(zip(*records, strict=True))
        empty = ("",) * len(records)
        return [by_position[p] if p is not None else empty for p in self.positions]

    def restored(self, column: Column, cells: Sequence[str]) -> Sequence[str]:
        if self.apostrophes and column.type == "string":
            return list(map(restore, cells))
        return cells


class Package:
    def __init__(self, root: Path, errors: ErrorList) -> None:
        self.root = root.resolve()
        self.files: dict[str, Path] = {}
        self.digests: dict[str, bytes] = {}  # what was checked is what gets stored
        self.unreadable: set[str] = set()  # tables refused as a whole (encoding, header)
        self._read_descriptor(errors)

    def _read_descriptor(self, errors: ErrorList) -> None:
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

    def open(self, spec: TableSpec, errors: ErrorList) -> TableFile | None:
        """The table's file with its header checked, or None when it is absent or refused as a
        whole (reported)."""
        path = self.files.get(spec.name)
        if path is None:
            return None
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
            return None
        del data
        return self._table(spec, text, errors)

    def reopen(self, spec: TableSpec) -> TableFile | None:
        """The table's file again, for storing it: refused if it is not what was checked."""
        path = self.files.get(spec.name)
        if path is None:
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).digest() != self.digests.get(spec.name):
            # Changed between the check and the store: refuse rather than store unchecked rows.
            raise PackageInvalid([PackageError(spec.name, 0, str(_l(
                "the file changed while it was being imported")))])
        text = data.decode("utf-8")
        del data
        checked = self._table(spec, text, ErrorList())
        assert checked is not None  # the same bytes were read whole by the checks
        return checked

    def _table(self, spec: TableSpec, text: str, errors: ErrorList) -> TableFile | None:
        if text.startswith("\ufeff"):
            text = text[1:]
        apostrophes = "'" in text
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        del text
        try:
            header = next(reader)
        except StopIteration:
            errors.add(spec.name, 1, _l("the file is empty: a header row is expected"))
            self.unreadable.add(spec.name)
            return None
        except csv.Error as exc:
            errors.add(spec.name, 1, _l("unreadable CSV: %(error)s", error=str(exc)))
            self.unreadable.add(spec.name)
            return None
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
            return None
        return TableFile(spec, reader, tuple(positions.get(c.name) for c in spec.columns),
                         len(header), apostrophes)
