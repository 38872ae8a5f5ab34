"""Aggregated exports (issue 11): the tables, their suppression at k (acceptance 2), the
codebook, the CSV / JSON / XLSX writers, the aggregated data package (acceptance 1) and the
export audit."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import load_workbook

from pvplatform.db import utcnow
from pvplatform.evaluation import codebook
from pvplatform.evaluation.audit import COMMAND_LINE, export_history, record_export
from pvplatform.evaluation.labelled import labelled_columns
from pvplatform.evaluation.models import ExportChannel, ExportFormat, ExportRecord
from pvplatform.evaluation.package import write_aggregate_package, zip_folder
from pvplatform.evaluation.tables import (
    FLAG_COLUMNS,
    INDICATOR_COLUMNS,
    aggregate_tables,
    suppressed_message,
)
from pvplatform.evaluation.writers import write_csv, write_json, write_xlsx
from pvplatform.extensions import db as _db
from pvplatform.indicators.flags import compute_indicators_and_flags
from pvplatform.indicators.messages import Count
from pvplatform.indicators.present import indicator_records
from pvplatform.indicators.suppression import default_partition
from pvplatform.indicators.thresholds import thresholds_for
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import Participant, ParticipantAttribute, Stratum
from tests.examples import EXAMPLES, INSTANTS, TINY

DESIGN = Path("/work/shared/design/INDICATORS.md")
JUNE = datetime.fromisoformat("2026-06-01T00:00:00+00:00")


def load_example(package: Path) -> int:
    process = import_package(package, now=utcnow())
    _db.session.commit()
    return process.id


def instants_of(package: Path) -> list[datetime]:
    return [datetime.fromisoformat(text) for text in INSTANTS[package]]


def raw_n(process_id: int, as_of: datetime) -> dict[tuple, int]:
    """The engine's rows before suppression, by key (to know what a hidden cell held)."""
    rows, _flags = compute_indicators_and_flags(process_id, as_of, thresholds_for(process_id))
    return {tuple(r[k] or "" for k in INDICATOR_COLUMNS[:6]): r["n"]
            for r in indicator_records(rows)}


def key(row: dict) -> tuple:
    return tuple(row[k] or "" for k in INDICATOR_COLUMNS[:6])


# ---------------------------------------------------------------- suppression (acceptance 2)


def assert_no_small_figure(rows: list[dict], k: int) -> None:
    for row in rows:
        if row["suppressed"]:
            assert row["value"] is None and row["n"] is None, row
        elif row["code"] != "duality_count":
            assert not (row["n"] is not None and 1 <= row["n"] < k), row


def partitions(rows: list[dict]) -> list[list[dict]]:
    """The sets of rows that add up to a total a reader can know (the dimension's A, the
    attendees of everyone, the pooled registrations)."""
    groups: dict[object, list[dict]] = defaultdict(list)
    for row in rows:
        part = default_partition(row)
        if part is not None and part[0] in ("representation_ratio",
                                            "active_representation_ratio", "attendees",
                                            "no_show_rate"):
            groups[part].append(row)
    return list(groups.values())


def assert_no_recovery(rows: list[dict], raw: dict[tuple, int]) -> None:
    """Whatever the total (taken as known, the strictest case), the total minus the shown
    cells is never one hidden cell's n."""
    for members in partitions(rows):
        hidden = [raw[key(r)] for r in members if r["suppressed"]]
        if not hidden:
            continue
        assert len(hidden) != 1, members
        total = sum(raw[key(r)] for r in members)
        remaining = total - sum(r["n"] for r in members if not r["suppressed"])
        assert remaining not in hidden, members


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_no_figure_rests_on_a_small_count_and_none_comes_back_by_subtraction(db, name):
    package = EXAMPLES[name]
    process_id = load_example(package)
    suppressed_somewhere = False
    for at in instants_of(package):
        raw = raw_n(process_id, at)
        for k in (10, 5):
            export = aggregate_tables(process_id, at, k)
            rows = export.table("indicators").rows
            assert [key(r) for r in rows] == list(raw)  # every row, in the records' order
            assert_no_small_figure(rows, k)
            assert_no_recovery(rows, raw)
            suppressed_somewhere |= any(r["suppressed"] for r in rows)
            for row in rows:
                if not row["suppressed"]:
                    assert row["n"] == raw[key(row)]
    assert suppressed_somewhere  # the examples do exercise the rule


def test_derived_rows_are_hidden_with_the_count_they_give_back(db):
    process_id = load_example(TINY)
    rows = aggregate_tables(process_id, JUNE, 10).table("indicators").rows
    by_key = {key(r): r for r in rows}
    hidden_ratios = [r for r in rows if r["code"] == "representation_ratio" and r["suppressed"]]
    assert hidden_ratios
    for r in hidden_ratios:
        p = by_key[("representation_p", r["dimension"], r["category"], "", "", "")]
        assert p["suppressed"]  # its p-value would give the count back
        assert by_key[("dissimilarity", r["dimension"], "", "", "", "")]["suppressed"]
    for r in rows:
        if r["code"] == "perception_sign_p" and r["suppressed"]:
            for code in ("perception_improved_share", "perception_worsened_share"):
                assert by_key[(code, "", "", r["group"], r["public_value"], "")]["suppressed"]


def test_flags_never_state_a_small_count_nor_rest_on_hidden_rows(db):
    process_id = load_example(TINY)
    for k in (10, 5):
        export = aggregate_tables(process_id, JUNE, k)
        indicators = {key(r): r for r in export.table("indicators").rows}
        flags = export.table("flags").rows
        assert flags and list(flags[0]) == list(FLAG_COLUMNS)
        _rows, engine_flags = compute_indicators_and_flags(process_id, JUNE)
        small = {(f.code, f.dimension, f.category, str(f.group), f.public_value)
                 for f in engine_flags
                 for v in f.message.params.values() if isinstance(v, Count) and 1 <= v.n < k}
        for flag in flags:
            if flag["code"] in ("under_representation", "over_representation"):
                ratio = indicators[("representation_ratio", flag["dimension"],
                                    flag["category"], "", "", "")]
                assert flag["suppressed"] == ratio["suppressed"]
            if flag["suppressed"]:
                assert flag["value"] is None and flag["p_value"] is None
                with force_locale("en"):
                    assert flag["message"] == suppressed_message(flag["code"], k)
                assert not re.search(r"\b[1-9]\b", flag["message"].replace(str(k), ""))
            elif tuple(flag[c] for c in ("code", "dimension", "category", "group",
                                         "public_value")) in small:
                assert f"fewer than {k}" in flag["message"]
        if k == 10:
            assert any(f["suppressed"] for f in flags)


def test_unknown_process_and_naive_instant_are_refused(db):
    from pvplatform.errors import NotFound

    with pytest.raises(NotFound):
        aggregate_tables(12345, JUNE, 10)
    with pytest.raises(ValueError):
        aggregate_tables(1, JUNE.replace(tzinfo=None), 10)


# ---------------------------------------------------------------- ledger


@pytest.fixture
def absences(db, factory):
    """A process with 23 answered absence reasons over two sessions and two strata."""
    process = factory.process()
    for category, share in (("young", 0.4), ("old", 0.6)):
        db.session.add(Stratum(process_id=process.id, dimension="age", category=category,
                               population_share=share))
    meetings = [factory.meeting(process, starts_at=utcnow() - timedelta(days=d))
                for d in (20, 10)]
    now = utcnow()
    plan = ([(0, AbsenceReason.TIME, "young")] * 12 + [(0, AbsenceReason.CARE_DUTIES, "old")] * 3
            + [(1, AbsenceReason.TIME, "old")] * 6 + [(1, AbsenceReason.LANGUAGE, None)] * 2)
    for i, (m, reason, category) in enumerate(plan):
        person = Participant(kind="citizen", display_name=f"Absent {i}")
        db.session.add(person)
        db.session.flush()
        if category:
            db.session.add(ParticipantAttribute(participant_id=person.id, dimension="age",
                                                category=category))
        db.session.add(AbsenceRequest(meeting_id=meetings[m].id, participant_id=person.id,
                                      kind=AbsenceKind.NO_SHOW, answered_at=now, reason=reason,
                                      other_text=None))
    db.session.commit()
    return process, meetings


@pytest.mark.parametrize("k", [10, 5])
def test_the_ledger_counts_reasons_with_complementary_suppression(db, absences, k):
    process, meetings = absences
    rows = aggregate_tables(process.id, utcnow(), k).table("ledger").rows
    raw = {"time": 18, "care_duties": 3, "language": 2}
    total = next(r for r in rows if r["code"] == "absence_answers" and not any(
        r[c] for c in ("dimension", "category", "session_id")))
    assert total["n"] == 23 and not total["suppressed"]
    reasons = [r for r in rows if r["code"] == "absence_reason"]
    assert {r["reason"] for r in reasons} == {str(r) for r in AbsenceReason}
    hidden = [raw.get(r["reason"], 0) for r in reasons if r["suppressed"]]
    for r in reasons:
        assert r["suppressed"] or r["n"] == raw.get(r["reason"], 0)
        assert r["suppressed"] or not 1 <= r["n"] < k
    # Both small reasons are hidden; no hidden cell equals the total minus the shown ones.
    assert len(hidden) != 1
    remaining = 23 - sum(r["n"] for r in reasons if not r["suppressed"])
    assert remaining == sum(hidden)
    assert remaining not in [h for h in hidden if h] or len([h for h in hidden if h]) > 1
    # Per category of the dimension (unknown included), the same guarantee.
    per_category = {r["category"]: r for r in rows
                    if r["code"] == "absence_answers" and r["dimension"] == "age"}
    assert set(per_category) == {"young", "old", "unknown"}
    counts = {"young": 12, "old": 9, "unknown": 2}
    hidden = [counts[c] for c, r in per_category.items() if r["suppressed"]]
    assert len(hidden) != 1
    assert all(r["suppressed"] or r["n"] == counts[c] for c, r in per_category.items())
    per_session = [r for r in rows if r["code"] == "absence_answers" and r["session_id"]]
    assert len(per_session) == 2
    assert not any("Absent" in str(v) for r in rows for v in r.values())


# ---------------------------------------------------------------- codebook


def engine_codes(process_id: int, instants: list[datetime]) -> tuple[set[str], set[str]]:
    indicators, flags = set(), set()
    for at in instants:
        rows, raised = compute_indicators_and_flags(process_id, at)
        indicators |= {r.code for r in rows}
        flags |= {f.code for f in raised}
    return indicators, flags


def test_every_code_the_engine_emits_is_in_the_codebook(db):
    seen_indicators: set[str] = set()
    seen_flags: set[str] = set()
    for package in EXAMPLES.values():
        process_id = load_example(package)
        more = instants_of(package) + [JUNE + timedelta(days=90)]
        indicators, flags = engine_codes(process_id, more)
        seen_indicators |= indicators
        seen_flags |= flags
    assert seen_indicators <= set(codebook.INDICATOR_CODES), seen_indicators - set(
        codebook.INDICATOR_CODES)
    assert seen_flags <= set(codebook.FLAG_CODES)
    from pvplatform.indicators.messages import FLAG_TITLES

    assert set(FLAG_TITLES) == set(codebook.FLAG_CODES)


def contract_codes(text: str) -> set[str]:
    codes = set()
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line
        if section in ("## Indicator rows", "## Risk flags") and line.startswith("| "):
            first = line.split("|")[1].strip()
            if first in ("code",) or first.startswith("---"):
                continue
            codes |= {c.strip() for c in first.split(",") if c.strip()}
    return codes


def test_the_codebook_covers_the_contract_exactly():
    if not DESIGN.is_file():
        pytest.skip("the design folder is not next to the repository")
    codes = contract_codes(DESIGN.read_text(encoding="utf-8"))
    assert len(codes) > 40
    assert codes == set(codebook.INDICATOR_CODES) | set(codebook.FLAG_CODES)


def test_codebook_rows_in_both_languages(app):
    with app.test_request_context():
        rows = codebook.codebook_rows()
    assert [r.code for r in rows if r.family == "flags"] == list(codebook.FLAG_CODES)
    assert {r.code for r in rows} == set(codebook.ENTRIES)
    for row in rows:
        assert row.family in set(codebook.Family)
        assert row.description_en and row.description_fr and row.family_fr and row.family_en
        assert row.description_en.endswith(".")
    assert codebook.family_of("representation_p") == codebook.Family.REPRESENTATIVENESS
    assert codebook.family_of("nope") is None


# ---------------------------------------------------------------- writers


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_json_and_xlsx_carry_the_same_suppressed_tables(db, tmp_path):
    process_id = load_example(TINY)
    export = aggregate_tables(process_id, JUNE, 10)
    write_csv(export, "indicators", tmp_path / "i.csv")
    rows = read_csv(tmp_path / "i.csv")
    # The download people open: the codes, and beside them the labels.
    assert list(rows[0]) == list(labelled_columns(INDICATOR_COLUMNS))
    assert len(rows) == len(export.table("indicators").rows)
    assert {r["suppressed"] for r in rows} == {"true", "false"}
    assert all(r["value"] == r["n"] == "" for r in rows if r["suppressed"] == "true")
    assert (tmp_path / "i.csv").read_bytes().count(b"\r\n") == len(rows) + 1

    stream = io.BytesIO()
    write_json(export, stream)
    document = json.loads(stream.getvalue())
    assert document["process"] == {"id": process_id, "title": "Agenda 2030 locale"}
    assert document["as_of"] == JUNE.isoformat() and document["k"] == 10
    assert set(document["tables"]) == {"indicators", "flags", "ledger", "sessions"}
    assert len(document["tables"]["indicators"]) == len(rows)
    assert document["tables"]["sessions"][0]["id"] == "s1"

    write_xlsx(export, tmp_path / "e.xlsx")
    book = load_workbook(tmp_path / "e.xlsx")
    families = [str(f) for f in codebook.INDICATOR_FAMILIES]
    assert book.sheetnames == ["README", *families, "flags", "ledger", "sessions"]
    in_sheets = sum(book[f].max_row - 1 for f in families)
    assert in_sheets == len(rows)
    readme = [[c.value for c in row if c.value is not None]
              for row in book["README"].iter_rows()]
    assert ["k", 10] in readme
    header = readme.index(["code", "family", "famille", "family (English)", "français",
                           "English"])
    listed = {row[0]: row for row in readme[header + 1:]}
    assert set(listed) == set(codebook.ENTRIES)
    assert all(len(row) == 6 for row in listed.values())
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"


def test_aggregate_package_passes_frictionless(db, tmp_path):
    import frictionless

    process_id = load_example(TINY)
    path = write_aggregate_package(process_id, JUNE, 10, tmp_path / "pkg")
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert descriptor["name"] == "pv-indicators" and descriptor["k"] == 10
    names = [r["name"] for r in descriptor["resources"]]
    assert names == ["indicators", "flags", "ledger", "sessions", "codebook"]
    types = {f["name"]: f["type"] for f in descriptor["resources"][0]["schema"]["fields"]}
    assert types["value"] == "number" and types["n"] == "integer"
    assert types["suppressed"] == "boolean"
    sessions = descriptor["resources"][3]["schema"]["fields"]
    assert {f["name"]: f["type"] for f in sessions}["starts_at"] == "datetime"
    report = frictionless.validate(str(path))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    cli = Path(sys.executable).with_name("frictionless")
    result = subprocess.run([str(cli), "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    archive = zip_folder(tmp_path / "pkg", tmp_path / "pkg.zip")
    import zipfile

    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == sorted(
            ["datapackage.json", *(f"{n}.csv" for n in names)])


# ---------------------------------------------------------------- audit


def test_exports_are_recorded_and_listed_newest_first(db, factory):
    process = factory.process(title="Budget participatif")
    admin = factory.user("admin", name="Ada Admin")
    now = utcnow()
    first = record_export(actor=admin, process=process, format=ExportFormat.XLSX,
                          channel=ExportChannel.WEB, k=10, microdata=False, as_of=now,
                          now=now - timedelta(minutes=5))
    second = record_export(actor=None, process=process, format=ExportFormat.MICRODATA,
                           channel=ExportChannel.CLI, k=10, microdata=True, as_of=now, now=now)
    db.session.commit()
    assert first.actor_label.startswith("Ada Admin <") and first.user_id == admin.id
    assert first.process_title == "Budget participatif" and first.k == 10
    assert second.actor_label == COMMAND_LINE and second.user_id is None
    assert second.k is None and second.microdata
    page = export_history(1, 1)
    assert page.total == 2 and page.pages == 2 and [r.id for r in page.rows] == [second.id]
    assert [r.id for r in export_history(2, 1).rows] == [first.id]
    assert export_history(3, 1).rows == []
    # The audit outlives the process.
    db.session.delete(process)
    db.session.commit()
    kept = db.session.scalars(sa.select(ExportRecord)).all()
    assert len(kept) == 2 and all(r.process_title == "Budget participatif" for r in kept)
