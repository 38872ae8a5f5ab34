"""The aggregated data package (`pv-indicators`): the export tables as CSV files with a Table
Schema each, and the codebook, in a Frictionless Data Package that `frictionless validate`
accepts. `zip_folder` packs any package folder for a download."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from pvplatform.core.csv_safe import csv_writer, write_csv_rows
from pvplatform.evaluation.codebook import codebook_rows
from pvplatform.evaluation.tables import AggregateExport, Table, aggregate_tables
from pvplatform.evaluation.writers import write_table_csv

PACKAGE_NAME = "pv-indicators"
DESCRIPTOR = "datapackage.json"
CODEBOOK_COLUMNS = ("code", "family", "family_fr", "family_en", "description_fr",
                    "description_en")

# What each column holds (English, like the codes): the package explains itself to R and Python.
FIELD_DESCRIPTIONS = {
    "code": "The indicator, flag or ledger code (see the codebook resource).",
    "family": "The family of the code.",
    "dimension": "Demographic dimension, when the row is about one.",
    "category": "Category of the dimension, when the row is about one.",
    "group": "all, internal (managers and elected officials) or external (residents and "
             "associations).",
    "public_value": "Code of the public value, when the row is about one.",
    "session_id": "Session the row is about (see the sessions resource).",
    "association_id": "Association the flag is about.",
    "value": "The figure; empty when null or suppressed.",
    "n": "The count the figure rests on; empty when suppressed.",
    "p_value": "The evidence of a statistical flag; empty when none or suppressed.",
    "suppressed": "true when the figure is hidden because it rests on fewer than k people, or "
                  "could give such a count back.",
    "severity": "warning or alert.",
    "message": "What the flag says, with counts below k never stated.",
    "reason": "Absence reason code.",
}


def _schema(table: Table) -> dict[str, Any]:
    fields = []
    for column in table.columns:
        field: dict[str, Any] = {"name": column, "type": table.type_of(column)}
        if column in FIELD_DESCRIPTIONS:
            field["description"] = FIELD_DESCRIPTIONS[column]
        fields.append(field)
    return {"fields": fields}


def _resource(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource",
            "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "description": description, "schema": schema}


RESOURCE_DESCRIPTIONS = {
    "indicators": "The indicator rows of INDICATORS.md (version 2), suppressed at k.",
    "flags": "The risk flags raised as of the instant; value, p-value and details hidden when "
             "they rest on suppressed rows.",
    "ledger": "Absence reasons given by people invited who did not register or registered who "
              "did not come: per session, per reason, per category; suppressed at k.",
    "sessions": "The process's sessions (ids as in the other resources).",
    "codebook": "Every code with its family and a description in French and English.",
}


def _write_codebook(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv_writer(out)
        write_csv_rows(writer, [CODEBOOK_COLUMNS])
        write_csv_rows(writer, ((r.code, r.family, r.family_fr, r.family_en, r.description_fr,
                                 r.description_en) for r in codebook_rows()))


def write_export_package(export: AggregateExport, out_dir: Path) -> Path:
    """Writes the package of computed tables into `out_dir` (created if needed); returns the
    path of its datapackage.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    resources = []
    for table in export.tables:
        with (out_dir / f"{table.name}.csv").open("w", encoding="utf-8", newline="") as out:
            write_table_csv(table, out)
        resources.append(_resource(table.name, _schema(table),
                                   RESOURCE_DESCRIPTIONS.get(table.name, "")))
    _write_codebook(out_dir / "codebook.csv")
    resources.append(_resource(
        "codebook", {"fields": [{"name": c, "type": "string"} for c in CODEBOOK_COLUMNS]},
        RESOURCE_DESCRIPTIONS["codebook"]))
    descriptor = {
        "name": PACKAGE_NAME,
        "profile": "tabular-data-package",
        "title": f"{export.process_title}: indicators as of {export.as_of.isoformat()}",
        "description": (f"Aggregated figures of process {export.process_id} as of "
                        f"{export.as_of.isoformat()}, every figure resting on 1 to "
                        f"{export.k - 1} people suppressed (k = {export.k})."),
        "process_id": export.process_id,
        "as_of": export.as_of.isoformat(),
        "k": export.k,
        "resources": resources,
    }
    path = out_dir / DESCRIPTOR
    path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_aggregate_package(process_id: int, as_of: datetime, k: int, out_dir: Path, *,
                            locale: str = "en") -> Path:
    """The aggregated package of one process as of an instant, suppressed at k, written into
    `out_dir`; returns the path of its datapackage.json. Raises NotFound."""
    return write_export_package(aggregate_tables(process_id, as_of, k, locale=locale), out_dir)


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """Zips the files of a package folder (relative paths, the folder's name left out), file by
    file: nothing is held in memory whole."""
    folder = Path(folder)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return Path(zip_path)
