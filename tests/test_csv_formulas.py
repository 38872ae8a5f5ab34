"""Every CSV the platform writes neutralises cells a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from pvplatform.core.csv_safe import FORMULA_STARTS, csv_text, neutralise
from pvplatform.extensions import db
from pvplatform.participation.models import Dimension, Stratum

HOSTILE = ('=HYPERLINK("http://evil.example","clic")', "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx")


@pytest.mark.parametrize("text", HOSTILE)
def test_text_starting_a_formula_is_neutralised(text):
    assert text.startswith(FORMULA_STARTS)
    assert neutralise(text) == "'" + text
    rows = list(csv.reader(io.StringIO(csv_text(["h"], [[text]]), newline="")))
    assert rows[1][0] == "'" + text


def test_numbers_and_plain_text_are_left_alone():
    assert neutralise(-0.53) == -0.53
    assert neutralise(0) == 0
    assert neutralise("18-29") == "18-29"
    assert csv_text(["a", "b"], [[None, -1]]) == "a,b\r\n,-1\r\n"


def test_the_indicators_command_neutralises_imported_categories(runner, factory):
    process = factory.process()
    db.session.add(Dimension(process_id=process.id, code="=cmd", label="Hostile", position=0))
    for category in ('=HYPERLINK("http://evil.example")', "+cmd"):
        db.session.add(Stratum(process_id=process.id, dimension="=cmd", category=category,
                               label=category, population_share=0.5))
    db.session.commit()
    result = runner.invoke(args=["pv", "indicators", str(process.id), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output, newline="")))
    categories = {r["category"] for r in rows if r["code"] == "representation_ratio"}
    assert categories == {"'=HYPERLINK(\"http://evil.example\")", "'+cmd"}
    for row in rows:
        for cell in row.values():
            assert not (cell or "").startswith(FORMULA_STARTS), row
