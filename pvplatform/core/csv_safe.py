"""CSV cells that a spreadsheet will not run.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets: a category named `=HYPERLINK(...)` in an imported package
would come out of a CSV download as a live link. Such text gets a leading apostrophe (OWASP's
advice), which spreadsheets show as text. Numbers are left alone: -0.53 is a figure, not a
formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """One CSV document, every text cell neutralised, None written as an empty cell."""
    out = io.StringIO()
    # RFC 4180 line ends: the writer then quotes a cell holding a lone carriage return.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return out.getvalue()
