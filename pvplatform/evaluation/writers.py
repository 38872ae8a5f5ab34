"""The aggregated tables written as CSV, JSON and XLSX, to a file or a binary stream.

CSV goes through `core.csv_safe` (RFC 4180, formula-like text neutralised). XLSX is written by
openpyxl in write-only mode (rows go to disk as they come) with every text as a typed string
cell: a category named `=HYPERLINK(...)` stays text, never a formula.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pvplatform.core.csv_safe import csv_writer, write_csv_rows
from pvplatform.evaluation.codebook import INDICATOR_FAMILIES, codebook_rows
from pvplatform.evaluation.labelled import labelled_table
from pvplatform.evaluation.tables import AggregateExport, Table

Target = Path | str | BinaryIO


def plain(value: Any) -> Any:
    """A cell as CSV and JSON write it: booleans as true/false, instants in ISO 8601."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# ---------------------------------------------------------------- CSV


def write_table_csv(table: Table, out: TextIO) -> None:
    """One table as CSV into a text stream opened with newline=""."""
    writer = csv_writer(out)
    write_csv_rows(writer, [table.columns])
    write_csv_rows(writer, ([plain(row.get(c)) for c in table.columns] for row in table.rows))


@contextmanager
def _text(target: Target) -> Iterator[TextIO]:
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8", newline="") as out:
            yield out
    else:
        wrapper = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
        try:
            yield wrapper
        finally:
            wrapper.flush()
            wrapper.detach()  # the caller's stream stays open


def write_csv(export: AggregateExport, table: str, target: Target) -> None:
    """One table as people download it: with labels beside the codes (`labelled`)."""
    with _text(target) as out:
        write_table_csv(labelled_table(export, table), out)


# ---------------------------------------------------------------- JSON


def json_document(export: AggregateExport) -> dict[str, Any]:
    return {
        "process": {"id": export.process_id, "title": export.process_title},
        "as_of": export.as_of.isoformat(),
        "k": export.k,
        "tables": {t.name: [{c: plain_json(row.get(c)) for c in t.columns} for row in t.rows]
                   for t in export.tables},
    }


def plain_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def write_json(export: AggregateExport, target: Target) -> None:
    with _text(target) as out:
        json.dump(json_document(export), out, ensure_ascii=False, indent=1)


# ---------------------------------------------------------------- XLSX


def _cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
        # openpyxl makes any text beginning with "=" a formula: this one is text, always.
        cell.data_type = "s"
        return cell
    return WriteOnlyCell(sheet, value=value)


def _append(sheet: Any, values: list[Any]) -> None:
    sheet.append([_cell(sheet, v) for v in values])


def _table_sheet(workbook: Workbook, title: str, rows: list[dict[str, Any]],
                 columns: tuple[str, ...]) -> None:
    sheet = workbook.create_sheet(title)
    _append(sheet, list(columns))
    for row in rows:
        _append(sheet, [row.get(c) for c in columns])


def _readme_sheet(workbook: Workbook, export: AggregateExport) -> None:
    sheet = workbook.create_sheet("README")
    with force_locale(export.locale):
        _append(sheet, [_("Process"), export.process_title])
        _append(sheet, [_("Process id"), export.process_id])
        _append(sheet, [_("As of"), export.as_of.isoformat()])
        _append(sheet, ["k", export.k])
        _append(sheet, [_("Suppression"), _(
            "A figure resting on fewer than %(k)s people is not shown (value and n empty, "
            "suppressed true); where one hidden cell could be recovered from a total, another "
            "is hidden too.", k=export.k)])
        _append(sheet, [])
    _append(sheet, ["code", "family", "famille", "family (English)", "français", "English"])
    for row in codebook_rows():
        _append(sheet, [row.code, row.family, row.family_fr, row.family_en, row.description_fr,
                        row.description_en])


def write_xlsx(export: AggregateExport, target: Target) -> None:
    """README first, then one sheet per indicator family, the flags, the ledger and the
    sessions, with labels beside the codes (`labelled`)."""
    workbook = Workbook(write_only=True)
    _readme_sheet(workbook, export)
    indicators = labelled_table(export, "indicators")
    columns = tuple(c for c in indicators.columns if c != "family")
    for family in INDICATOR_FAMILIES:
        rows = [r for r in indicators.rows if r.get("family") == family]
        _table_sheet(workbook, str(family), rows, columns)
    for name in ("flags", "ledger", "sessions"):
        table = labelled_table(export, name)
        _table_sheet(workbook, name, table.rows, table.columns)
    workbook.save(target)


FORMATS: dict[str, tuple[str, str]] = {
    # format -> (mimetype, file extension)
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def write_export(export: AggregateExport, fmt: str, target: Target, *,
                 table: str = "indicators") -> None:
    if fmt == "csv":
        write_csv(export, table, target)
    elif fmt == "json":
        write_json(export, target)
    elif fmt == "xlsx":
        write_xlsx(export, target)
    else:
        raise ValueError(f"unknown format {fmt!r}")
