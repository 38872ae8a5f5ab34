"""The example packages, imported, give the contract's expected rows at every instant of their
expected files (14 files: tiny-process, pulse-process and edge-process), through the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from tests.examples import EXAMPLES, TINY, expected_files

INSTANTS = ("2026-03-01", "2026-06-01")
CASES = [pytest.param(package, path, at, id=f"{name}/{path.stem}")
         for name, package in EXAMPLES.items() for path, at in expected_files(package)]


def expected(kind: str, day: str, package: Path = TINY) -> list[dict]:
    return json.loads((package / "expected" / f"{kind}-{day}.json").read_text(encoding="utf-8"))


def same_number(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-6 + 1e-12)


def assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for key, value in w.items():
            if key in ("value", "n", "p_value"):
                assert same_number(g[key], value), (w, g)
            else:
                assert g[key] == value, (w, g)


def _import(runner, package: Path) -> str:
    result = runner.invoke(args=["pv", "import", str(package)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def tiny_process(db, runner) -> str:
    return _import(runner, TINY)


def test_all_fourteen_expected_files_are_checked():
    assert len(CASES) == 14


@pytest.mark.parametrize(("package", "path", "at"), CASES)
def test_commands_equal_the_expected_files(db, runner, package, path, at):
    process = _import(runner, package)
    kind = path.stem.split("-", 1)[0]
    result = runner.invoke(args=["pv", kind, process, "--as-of", at.isoformat()])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    want = json.loads(path.read_text(encoding="utf-8"))
    if kind == "flags":
        assert all(list(row) == [*want[0], "message"] for row in got)  # keys, in order
        assert all(row["message"] for row in got)
    else:
        assert [list(row) for row in got] == [list(row) for row in want]
    assert_rows_equal(got, want)


def test_csv_format_has_the_same_rows(runner, tiny_process):
    day = INSTANTS[1]
    result = runner.invoke(args=["pv", "indicators", tiny_process, "--as-of",
                                 f"{day}T02:00:00+02:00", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    want = expected("indicators", day)
    assert list(rows[0]) == list(want[0])
    assert len(rows) == len(want)
    for row, w in zip(rows, want, strict=True):
        assert row["code"] == w["code"] and row["session_id"] == w["session_id"]
        assert (row["value"] == "") == (w["value"] is None)
        if w["value"] is not None:
            assert same_number(row["value"], w["value"])

    flags = runner.invoke(args=["pv", "flags", tiny_process, "--as-of",
                                f"{day}T00:00:00+00:00", "--format", "csv"])
    assert flags.exit_code == 0
    assert flags.stdout.splitlines()[0] == ("code,severity,dimension,category,group,"
                                            "public_value,session_id,association_id,value,"
                                            "p_value,message")
    assert len(flags.stdout.strip().splitlines()) == 1 + len(expected("flags", day))


def test_commands_refuse_bad_input(runner, tiny_process):
    naive = runner.invoke(args=["pv", "indicators", tiny_process, "--as-of",
                                "2026-03-01T00:00:00"])
    assert naive.exit_code != 0 and "offset" in naive.output
    garbage = runner.invoke(args=["pv", "flags", tiny_process, "--as-of", "yesterday"])
    assert garbage.exit_code != 0
    unknown = runner.invoke(args=["pv", "indicators", "999999"])
    assert unknown.exit_code != 0 and "999999" in unknown.output
    huge = runner.invoke(args=["pv", "flags", str(2**63)])
    assert huge.exit_code != 0


def test_default_instant_is_now(runner, tiny_process):
    result = runner.invoke(args=["pv", "indicators", tiny_process])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    # Long after the tiny process: all six sessions held.
    assert len([r for r in rows if r["code"] == "no_show_rate" and r["session_id"]]) == 6
