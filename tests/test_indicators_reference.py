"""The engine against an independent reading of INDICATORS.md, on packages nobody computed.

tests/reference_indicators.py computes the contract's rows in plain Python from a package's CSV
files; it is checked first on the tiny example's expected files, then compared with the engine
(package imported through the real importer) on generated packages at instants chosen on and
around their timestamps. A failure names the seed and instant: `generate_package(folder, seed)`
rebuilds the package.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from pvplatform.db import utcnow
from pvplatform.indicators import compute_flags, compute_indicators
from pvplatform.indicators.present import flag_records, indicator_records
from pvplatform.participation.importer import import_package
from tests.examples import TINY
from tests.package_generator import generate_package, threshold_package
from tests.reference_indicators import (
    FLAG_KEYS,
    INDICATOR_KEYS,
    flag_rows,
    indicator_and_flag_rows,
    indicator_rows,
    load_package,
)

SEEDS = tuple(range(1, 21))
FLAG_CODES = ("under_representation", "over_representation", "stratum_not_reached",
              "high_no_show", "low_retention", "voice_concentration", "official_dominance",
              "unanswered_proposals", "unreasoned_rejection", "absent_invited_association",
              "value_duality", "value_eroding")


def _same_number(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-6 + 1e-12)


def _differences(got: list[dict], want: list[dict], keys: tuple[str, ...],
                 compared: tuple[str, ...]) -> list[str]:
    """Readable lines for every row missing, extra or different (rows matched by their keys)."""
    def index(rows: list[dict]) -> dict[tuple, dict]:
        out: dict[tuple, dict] = {}
        for row in rows:
            out.setdefault(tuple(row[k] for k in keys), row)
        return out

    lines = []
    if len(index(got)) != len(got):
        lines.append("engine: repeated keys")
    g, w = index(got), index(want)
    for key in sorted(set(g) | set(w)):
        name = "/".join(str(part) for part in key if part != "")
        if key not in g:
            lines.append(f"missing in engine: {name} {_show(w[key], compared)}")
        elif key not in w:
            lines.append(f"extra in engine:   {name} {_show(g[key], compared)}")
        else:
            wrong = [c for c in compared if not (
                _same_number(g[key][c], w[key][c]) if c in ("value", "n")
                else g[key][c] == w[key][c])]
            if wrong:
                lines.append(f"differs: {name} engine {_show(g[key], wrong)} "
                             f"reference {_show(w[key], wrong)}")
    return lines


def _show(row: dict, columns: Any) -> str:
    return ", ".join(f"{c}={row[c]!r}" for c in columns)


# ---------------------------------------------------------------- the reference itself

@pytest.mark.parametrize("name", ("indicators-2026-03-01", "indicators-2026-06-01",
                                  "flags-2026-03-01", "flags-2026-06-01"))
def test_reference_matches_the_tiny_example(name):
    kind, day = name.split("-", 1)
    want = json.loads((TINY / "expected" / f"{name}.json").read_text(encoding="utf-8"))
    at = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    compute = indicator_rows if kind == "indicators" else flag_rows
    got = compute(TINY, at)
    keys = INDICATOR_KEYS if kind == "indicators" else FLAG_KEYS
    columns = tuple(want[0])
    assert [tuple(r[k] for k in keys) for r in got] == [tuple(r[k] for k in keys) for r in want]
    assert _differences(got, want, keys, columns) == []


def test_generated_packages_reach_every_flag(tmp_path):
    """The generator is worth something only if its packages raise every flag somewhere, at both
    severities, and reach the corners the contract spells out."""
    raised: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for seed in SEEDS:
        generated = generate_package(tmp_path / str(seed), seed)
        package = load_package(generated.folder)
        starts = sorted(package.sessions.values())
        if len(starts) != len(set(starts)):
            seen.add("tied sessions")
        for label, at in generated.instants:
            seen.add(label)
            rows, flags = indicator_and_flag_rows(generated.folder, at, package)
            raised |= {(f["code"], f["severity"]) for f in flags}
            if any(r["code"] == "representation_ratio" and r["value"] is None and r["n"] == 0
                   and any(s["code"] == "known_share" and s["n"] for s in rows) for r in rows):
                seen.add("zero share")
            if any(r["code"] == "answered_within_30d_rate" and r["n"] for r in rows):
                seen.add("30 days")
    codes = {code for code, _severity in raised}
    assert set(FLAG_CODES) <= codes, set(FLAG_CODES) - codes
    for code in ("under_representation", "over_representation", "low_retention",
                 "unanswered_proposals"):
        assert {(code, "alert"), (code, "warning")} <= raised, code
    assert {"before", "between", "late", "at-session-start", "at-cancellation", "at-check-in",
            "at-answer", "at-published+30d", "at-published+90d", "at-published", "at-comment",
            "at-vote", "at-perception", "tied sessions", "zero share", "30 days"} <= seen, seen


# ---------------------------------------------------------------- the engine against it

@pytest.mark.parametrize("seed", (*SEEDS, "thresholds"), ids=lambda s: f"seed-{s}")
def test_engine_equals_reference_on_generated_packages(db, tmp_path, seed):
    if seed == "thresholds":
        generated = threshold_package(tmp_path / "thresholds")
    else:
        generated = generate_package(tmp_path / f"package-{seed}", seed)
    package = load_package(generated.folder)
    process = import_package(generated.folder, now=utcnow())
    db.session.commit()
    failures = []
    for label, at in generated.instants:
        # As `flask pv indicators` and `flask pv flags` compute them (default thresholds).
        got_rows = indicator_records(compute_indicators(process.id, at))
        got_flags = flag_records(compute_flags(process.id, at))
        want_rows, want_flags = indicator_and_flag_rows(generated.folder, at, package)
        lines = _differences(got_rows, want_rows, INDICATOR_KEYS, ("value", "n"))
        lines += _differences(got_flags, want_flags, FLAG_KEYS, ("severity", "value"))
        if [tuple(r[k] for k in INDICATOR_KEYS) for r in got_rows] != [
                tuple(r[k] for k in INDICATOR_KEYS) for r in want_rows]:
            lines.append("indicator rows not in key order")
        lines += [f"flag without a message: {f['code']}" for f in got_flags if not f["message"]]
        if lines:
            failures.append(f"seed {seed}, {label} ({at.astimezone(UTC).isoformat()}):\n  "
                            + "\n  ".join(lines))
    assert not failures, "\n".join(failures)


def test_reference_on_figures_exactly_at_thresholds(tmp_path):
    """Computed by hand from threshold_package's docstring."""
    generated = threshold_package(tmp_path / "thresholds")
    late = dict(generated.instants)["late"]
    rows, flags = indicator_and_flag_rows(generated.folder, late)

    def value(code: str, **keys: str) -> Any:
        found = [r for r in rows if r["code"] == code
                 and all(r[k] == v for k, v in keys.items())]
        assert len(found) == 1, (code, keys)
        return found[0]["value"], found[0]["n"]

    assert value("representation_ratio", dimension="d1", category="c1") == (0.5, 3)
    assert value("representation_ratio", dimension="d2", category="c1") == (0.8, 8)
    assert value("representation_ratio", dimension="d3", category="c1") == (2.0, 17)
    assert value("representation_ratio", dimension="d4", category="c1") == (1.25, 22)
    assert value("known_share", dimension="d3") == (round(25 / 33, 6), 33)
    assert value("retention") == (0.3, 10)
    assert value("no_show_rate", session_id="k2") == (0.3, 10)
    assert value("top10_share") == (0.5, 10)
    assert value("internal_voice_share") == (0.5, 18)
    # Old enough: q1 (90 days), q2 (exactly 30), q3..q8; in time: q3, q4, q5 (exactly 30 days).
    assert value("answered_within_30d_rate") == (0.375, 8)
    assert value("perception_delta", group="internal", public_value="trust") == (0.5, 6)
    assert value("perception_delta", group="external", public_value="trust") == (-0.5, 6)
    assert value("duality_count") == (1, 2)
    assert [(f["code"], f["severity"], f["dimension"], f["category"], f["group"],
             f["public_value"], f["association_id"], f["value"]) for f in flags] == [
        ("absent_invited_association", "warning", "", "", "", "", "A1", 2),
        ("low_retention", "warning", "", "", "", "", "", 0.3),
        ("over_representation", "warning", "d1", "c2", "", "", "", 1.285714),
        ("over_representation", "warning", "d3", "c1", "", "", "", 2.0),
        ("over_representation", "warning", "d5", "c3", "", "", "", 1.44),
        ("stratum_not_reached", "alert", "d5", "c1", "", "", "", 5.0),
        ("unanswered_proposals", "alert", "", "", "", "", "", 1),
        ("under_representation", "warning", "d1", "c1", "", "", "", 0.5),
        ("under_representation", "warning", "d3", "c2", "", "", "", 0.581818),
        ("under_representation", "alert", "d5", "c1", "", "", "", 0.0),
        ("unreasoned_rejection", "warning", "", "", "", "", "", 1),
        ("value_duality", "alert", "", "", "", "trust", "", 1.0),
        ("value_eroding", "warning", "", "", "external", "legitimacy", "", -0.6),
        ("value_eroding", "warning", "", "", "external", "trust", "", -0.5),
    ]
