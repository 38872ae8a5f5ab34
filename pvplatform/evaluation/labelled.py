"""The aggregated tables as people read them in a spreadsheet (the CSV and XLSX downloads): the
codes stay in their columns, the keys that join tables and match the codebook, and beside the
dimension and the category their labels in the language of the download.

Machine formats (JSON, the data package, the API) keep the tables as they are: codes only.
"""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale, gettext

from pvplatform.evaluation.tables import AggregateExport, Table
from pvplatform.ledger.services import UNKNOWN

# code column -> the column of its label, written right after it
LABEL_COLUMNS = {"dimension": "dimension_label", "category": "category_label"}


def labelled_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for column in columns:
        out.append(column)
        if column in LABEL_COLUMNS:
            out.append(LABEL_COLUMNS[column])
    return tuple(out)


def labelled_table(export: AggregateExport, name: str) -> Table:
    """The table `name` with a label beside each dimension and category code."""
    table = export.table(name)
    if not any(column in LABEL_COLUMNS for column in table.columns):
        return table
    labels, locale = export.labels, export.locale
    with force_locale(locale):
        unknown = gettext("unknown")

    def words(row: dict[str, Any]) -> dict[str, Any]:
        dimension, category = row.get("dimension") or "", row.get("category") or ""
        if not category:
            category_label = ""
        elif category == UNKNOWN:
            category_label = unknown
        else:
            category_label = labels.category(dimension, category, locale)
        return {**row, "dimension_label": labels.dimension(dimension, locale) if dimension else "",
                "category_label": category_label}

    return Table(table.name, labelled_columns(table.columns), [words(r) for r in table.rows])
