"""CSV cells that a spreadsheet will not run.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets: a category named `=HYPERLINK(...)` in an imported package
would come out of a CSV download as a live link. Such text gets a leading apostrophe (OWASP's
advice), which spreadsheets show as text. Numbers are left alone: -0.53 is a figure, not a
formula.

The apostrophe is undone by `restore` when the platform reads its own CSV files back (an
exported data package imported again): a text that itself begins with apostrophes before a
formula character gets one more, so that restoring gives exactly the text written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(text: str) -> bool:
    return text.lstrip("'").startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The text `neutralise` was given: one leading apostrophe less before a formula start."""
    if isinstance(value, str) and value.startswith("'") and _formula_like(value):
        return value[1:]
    return value


def csv_writer(out: TextIO) -> Any:
    """A csv writer with RFC 4180 line ends, for `write_csv_rows`."""
    # RFC 4180 line ends: the writer then quotes a cell holding a lone carriage return.
    return csv.writer(out, lineterminator="\r\n")


def write_csv_rows(writer: Any, rows: Iterable[Sequence[Any]]) -> int:
    """Writes rows (header included, if it is among them) through `neutralise`, None as an
    empty cell; returns how many rows were written. For files written as rows arrive."""
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
        count += 1
    return count


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """One CSV document, every text cell neutralised, None written as an empty cell."""
    out = io.StringIO()
    writer = csv_writer(out)
    write_csv_rows(writer, [header])
    write_csv_rows(writer, rows)
    return out.getvalue()
