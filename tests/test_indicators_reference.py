"""The engine against an independent reading of INDICATORS.md (version 2), on packages nobody
computed.

tests/reference_indicators.py computes the contract's rows in plain Python from a package's CSV
files; it is checked first on the three examples' expected files (tiny, pulse and edge process,
every file), on known values of its binomial code and on hand-computed figures, then compared
with the engine (package imported through the real importer) on generated packages at instants
chosen on and around their timestamps. A failure names the seed and instant:
`generate_package(folder, seed)` rebuilds the package.

The tests that need no engine have no "engine" in their names:
    pytest tests/test_indicators_reference.py -k "not engine"
(or -k "reference_matches or reach_every or known").
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.examples import EXAMPLES, expected_files
from tests.package_generator import (
    generate_package,
    on_threshold_overrides,
    threshold_package,
)
from tests.reference_indicators import (
    DEFAULT_THRESHOLDS,
    FLAG_KEYS,
    INDICATOR_KEYS,
    binomial_two_sided_p,
    binomial_two_sided_p_exact,
    figures,
    flag_rows,
    holm,
    indicator_and_flag_rows,
    indicator_rows,
    load_package,
    sign_test_p,
)

SEEDS = tuple(range(1, 21))
FLAG_CODES = ("under_representation", "over_representation", "stratum_not_reached",
              "high_no_show", "low_retention", "voice_concentration", "official_dominance",
              "unanswered_proposals", "unreasoned_rejection", "absent_invited_association",
              "value_duality", "value_eroding", "weak_value_weakened")
NUMBERS = ("value", "n", "p_value")


def _same_number(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-6 + 1e-12)


def _differences(got: list[dict], want: list[dict], keys: tuple[str, ...],
                 compared: tuple[str, ...], who: str = "engine") -> list[str]:
    """Readable lines for every row missing, extra or different (rows matched by their keys)."""
    def index(rows: list[dict]) -> dict[tuple, dict]:
        out: dict[tuple, dict] = {}
        for row in rows:
            out.setdefault(tuple(row[k] for k in keys), row)
        return out

    lines = []
    if len(index(got)) != len(got):
        lines.append(f"{who}: repeated keys")
    g, w = index(got), index(want)
    for key in sorted(set(g) | set(w)):
        name = "/".join(str(part) for part in key if part != "")
        if key not in g:
            lines.append(f"missing in {who}: {name} {_show(w[key], compared)}")
        elif key not in w:
            lines.append(f"extra in {who}:   {name} {_show(g[key], compared)}")
        else:
            wrong = [c for c in compared if not (
                _same_number(g[key].get(c, "absent"), w[key].get(c)) if c in NUMBERS
                else g[key].get(c, "absent") == w[key].get(c))]
            if wrong:
                lines.append(f"differs: {name} {who} {_show(g[key], wrong)} "
                             f"expected {_show(w[key], wrong)}")
    return lines


def _show(row: dict, columns: Any) -> str:
    return ", ".join(f"{c}={row.get(c, 'absent')!r}" for c in columns)


# ---------------------------------------------------------------- the reference itself

EXPECTED = [(name, path, at) for name, folder in EXAMPLES.items()
            for path, at in expected_files(folder)]


def test_reference_matches_every_expected_file_there_is():
    assert len(EXPECTED) == 14, [path.name for _name, path, _at in EXPECTED]


@pytest.mark.parametrize(("name", "path", "at"), EXPECTED,
                         ids=[f"{name}/{path.stem}" for name, path, _at in EXPECTED])
def test_reference_matches_expected(name, path, at):
    want = json.loads(path.read_text(encoding="utf-8"))
    kind = path.stem.split("-", 1)[0]
    folder = EXAMPLES[name]
    got = indicator_rows(folder, at) if kind == "indicators" else flag_rows(folder, at)
    keys = INDICATOR_KEYS if kind == "indicators" else FLAG_KEYS
    columns = tuple(c for c in want[0] if c not in keys)
    assert all(tuple(r) == tuple(want[0]) for r in want)
    if kind == "flags":
        assert "p_value" in columns and "message" not in columns
    assert [tuple(r[k] for k in keys) for r in got] == [tuple(r[k] for k in keys) for r in want]
    assert _differences(got, want, keys, columns, who="reference") == []
    assert all(set(r) == set(want[0]) for r in got)


# ---------------------------------------------------------------- known values of the tests

def test_known_binomial_values():
    # R: binom.test(c(682, 243), p = 3/4) gives p-value = 0.3825 (its documentation's example);
    # binom.test(3, 10) gives 0.3438 = 11/32.
    assert math.isclose(binomial_two_sided_p(682, 925, 0.75), 0.3825, abs_tol=5e-5)
    assert binomial_two_sided_p_exact(3, 10, Fraction(1, 2)) == Fraction(11, 32)
    assert math.isclose(binomial_two_sided_p(3, 10, 0.5), 11 / 32, rel_tol=1e-12)
    # Symmetric ties (P(X = 2) = P(X = 8) at 1/2): the tolerance keeps both tails.
    assert binomial_two_sided_p_exact(2, 10, Fraction(1, 2)) == Fraction(2 * (1 + 10 + 45),
                                                                         1024)
    # Log space against exact rationals, over every k of small N and awkward shares.
    for n in (1, 2, 5, 13, 40, 97):
        for share in (Fraction(1, 100), Fraction(3, 10), Fraction(1, 2), Fraction(19, 100),
                      Fraction(52, 100), Fraction(99, 100)):
            for k in range(n + 1):
                exact = float(binomial_two_sided_p_exact(k, n, share))
                got = binomial_two_sided_p(k, n, float(share))
                assert math.isclose(got, exact, rel_tol=1e-9, abs_tol=1e-300), (k, n, share)
    assert binomial_two_sided_p(0, 0, 0.3) == 1.0
    assert binomial_two_sided_p(7, 7, 1.0) == 1.0 and binomial_two_sided_p(6, 7, 1.0) == 0.0
    assert 0 <= binomial_two_sided_p(0, 500, 0.5) < 1e-100


def _tail_sum_by_recurrence(k: int, n: int, s: float) -> float:
    """A second way to the same sum for large n: probabilities relative to the mode, by the
    ratio P(j + 1) / P(j) = (n − j) / (j + 1) · s / (1 − s), normalised at the end."""
    mode = int((n + 1) * s)
    relative = {mode: 1.0}
    for j in range(mode, n):
        relative[j + 1] = relative[j] * (n - j) / (j + 1) * s / (1 - s)
        if relative[j + 1] < 1e-300:
            break
    for j in range(mode, 0, -1):
        relative[j - 1] = relative[j] * j / (n - j + 1) * (1 - s) / s
        if relative[j - 1] < 1e-300:
            break
    total = math.fsum(relative.values())
    limit = relative.get(k, 0.0) * (1 + 1e-7)
    return min(1.0, math.fsum(v for v in relative.values() if v <= limit) / total)


def test_known_binomial_values_at_large_n():
    """N = 100,000: products of probabilities underflow; the log-space sum must not."""
    n, s = 100_000, 0.3
    for k in (30_100, 29_800, 30_000, 29_000):
        got = binomial_two_sided_p(k, n, s)
        assert not math.isnan(got)
        assert math.isclose(got, _tail_sum_by_recurrence(k, n, s), rel_tol=1e-6), k
    # Moderate p, close to the normal approximation (z = 100 / sqrt(n s (1 - s)) ≈ 0.69).
    moderate = binomial_two_sided_p(30_100, n, s)
    z = 100 / math.sqrt(n * s * (1 - s))
    assert 0.4 < moderate < 0.6
    assert math.isclose(moderate, math.erfc(z / math.sqrt(2)), abs_tol=5e-3)
    assert binomial_two_sided_p(30_000, n, s) > 0.99
    assert 0 < binomial_two_sided_p(29_000, n, s) < 1e-10


def test_known_sign_test_and_holm_values():
    # R: binom.test(0, 6) p = 0.03125; binom.test(1, 9) p = 0.03906; binom.test(5, 10) p = 1.
    assert sign_test_p(0, 6) == 0.03125 and sign_test_p(6, 0) == 0.03125
    assert math.isclose(sign_test_p(1, 8), 20 / 512)
    assert sign_test_p(5, 5) == 1.0 and sign_test_p(0, 1) == 1.0
    assert sign_test_p(0, 0) is None
    assert sign_test_p(0, 5) == 0.0625  # five alike is not below 0.05
    # Holm: sorted ascending, ties by category code, running maximum, capped at 1.
    assert holm({"b": 0.01, "a": 0.04, "c": 0.03}) == pytest.approx(
        {"b": 0.03, "c": 0.06, "a": 0.06})
    assert holm({"z": 0.02, "y": 0.02, "x": 0.5}) == pytest.approx(
        {"y": 0.06, "z": 0.06, "x": 0.5})
    assert holm({"a": 0.6, "b": 0.7}) == {"a": 1.0, "b": 1.0}


# ---------------------------------------------------------------- hand-built thresholds

def _value(rows: list[dict], code: str, **keys: str) -> tuple[Any, Any]:
    found = [r for r in rows if r["code"] == code and all(r[k] == v for k, v in keys.items())]
    assert len(found) == 1, (code, keys)
    return found[0]["value"], found[0]["n"]


def _flag_tuples(flags: list[dict]) -> list[tuple]:
    return [(f["code"], f["severity"], f["dimension"], f["category"], f["group"],
             f["public_value"], f["association_id"], f["value"], f["p_value"]) for f in flags]


def test_reference_matches_hand_figures_of_the_threshold_package(tmp_path):
    """Computed by hand from threshold_package's docstring."""
    generated = threshold_package(tmp_path / "thresholds")
    instants = dict(generated.instants)
    rows, flags = indicator_and_flag_rows(generated.folder, instants["late"])

    assert _value(rows, "representation_ratio", dimension="d1", category="c1") == (0.5, 3)
    assert _value(rows, "representation_ratio", dimension="d2", category="c1") == (0.8, 8)
    assert _value(rows, "representation_ratio", dimension="d3", category="c1") == (2.0, 17)
    assert _value(rows, "representation_ratio", dimension="d4", category="c1") == (1.25, 22)
    assert _value(rows, "known_share", dimension="d3") == (round(25 / 33, 6), 33)
    assert _value(rows, "retention") == (0.3, 10)
    assert _value(rows, "no_show_rate", session_id="k2") == (0.3, 10)
    assert _value(rows, "no_show_rate", session_id="k3") == (0.0, 1)  # cancelled at its start
    assert _value(rows, "top10_share") == (0.5, 10)
    assert _value(rows, "internal_voice_share") == (0.5, 18)
    # Old enough: q1 (90 days), q2 (exactly 30), q3..q8; in time: q3, q4, q5 (exactly 30 days).
    assert _value(rows, "answered_within_30d_rate") == (0.375, 8)
    assert _value(rows, "perception_delta", group="internal", public_value="trust") == (0.5, 12)
    assert _value(rows, "perception_delta", group="external", public_value="trust") == (-0.5, 12)
    assert _value(rows, "perception_sign_p", group="internal", public_value="trust") == (
        0.03125, 6)
    assert _value(rows, "perception_baseline", group="external", public_value="legitimacy") == (
        2.5, 24)
    assert _value(rows, "perception_delta", group="external", public_value="legitimacy") == (
        -0.25, 24)
    # i13 answered trust 4 then 5, then "don't know" at the final wave: a respondent, no score.
    assert _value(rows, "perception_baseline", group="internal", public_value="trust") == (
        round(40 / 13, 6), 13)
    assert _value(rows, "perception_final", group="internal", public_value="trust") == (
        0.5 * 4 + 0.5 * 3, 12)
    assert _value(rows, "final_response_rate", group="internal") == (1.0, 13)
    assert _value(rows, "duality_count") == (1, 2)
    assert _value(rows, "speaking_time_share", group="internal") == (0.5, 600)
    # 33 attendees; e1, e2, e3 spoke 120, 150 and 30 s; i2 and i3 never attended.
    xs = sorted([120, 150, 30] + [0] * 30)
    gini = sum((2 * i - 33 - 1) * x for i, x in enumerate(xs, start=1)) / (33 * 300)
    assert _value(rows, "speaking_gini") == (round(gini, 6), 33)
    assert _value(rows, "reach_per_1000") == (None, 33)  # population unknown
    assert _value(rows, "representation_p", dimension="d3", category="c1") == (0.002904, 25)
    assert _flag_tuples(flags) == [
        ("absent_invited_association", "warning", "", "", "", "", "A1", 2, None),
        ("low_retention", "warning", "", "", "", "", "", 0.3, None),
        ("over_representation", "warning", "d3", "c1", "", "", "", 2.0, 0.002904),
        ("stratum_not_reached", "alert", "d5", "c1", "", "", "", 5.0, None),
        ("unanswered_proposals", "alert", "", "", "", "", "", 1, None),
        ("under_representation", "alert", "d5", "c1", "", "", "", 0.0, 0.02134),
        ("unreasoned_rejection", "warning", "", "", "", "", "", 1, None),
        ("value_duality", "alert", "", "", "", "trust", "", 1.0, 0.03125),
        ("value_eroding", "warning", "", "", "external", "trust", "", -0.5, 0.03125),
        ("weak_value_weakened", "alert", "", "", "external", "legitimacy", "", -0.25, 0.03125),
    ]

    # While e3's turn in k3 runs: not counted yet (570 s, under the 600 s minimum).
    rows, flags = indicator_and_flag_rows(generated.folder, instants["during-turn"])
    assert _value(rows, "speaking_time_share", group="internal") == (round(300 / 570, 6), 570)
    assert not [f for f in flags if f["code"] == "official_dominance"]

    # Version 1's figures exactly on the ratio thresholds, once alpha lets every ratio through:
    # strict comparisons, "compared as reported".
    late = instants["late"]
    _rows, flags = indicator_and_flag_rows(generated.folder, late, thresholds={"alpha": 1.01})
    representation = [t[:4] + (t[7],) for t in _flag_tuples(flags)
                      if t[0] in ("under_representation", "over_representation")]
    assert representation == [
        ("over_representation", "warning", "d1", "c2", 1.285714),
        ("over_representation", "warning", "d3", "c1", 2.0),
        ("over_representation", "warning", "d5", "c3", 1.44),
        ("under_representation", "warning", "d1", "c1", 0.5),
        ("under_representation", "warning", "d3", "c2", 0.581818),
        ("under_representation", "alert", "d5", "c1", 0.0),
    ]
    # Both official_dominance rows (contributions, speaking time) share the threshold: exactly
    # 0.5 raises nothing, a hair under raises both; 600 s is just enough for the speaking row.
    _rows, flags = indicator_and_flag_rows(generated.folder, late,
                                           thresholds={"official_share_warning": 0.499999})
    assert [(f["group"], f["value"]) for f in flags if f["code"] == "official_dominance"] == [
        ("", 0.5), ("internal", 0.5)]
    _rows, flags = indicator_and_flag_rows(generated.folder, late, thresholds={
        "official_share_warning": 0.499999, "official_min_speaking_seconds": 601})
    assert [(f["group"], f["value"]) for f in flags if f["code"] == "official_dominance"] == [
        ("", 0.5)]
    # duality_count keeps the defaults whatever the thresholds.
    rows, _flags = indicator_and_flag_rows(generated.folder, late, thresholds={"alpha": 0.01})
    assert _value(rows, "duality_count") == (1, 2)
    with pytest.raises(KeyError):
        flag_rows(generated.folder, late, thresholds={"duality_min_delta": 0.5})


def _raised(flags: list[dict], code: str, keys: dict[str, str]) -> bool:
    return any(f["code"] == code and all(f[k] == v for k, v in keys.items()) for f in flags)


def test_reference_matches_threshold_overrides_on_reported_figures(tmp_path):
    """on_threshold_overrides sits figures exactly on alpha, weak_below, weak_delta,
    eroding_delta and duality_delta: the reference raises or not as the contract's strict and
    non-strict comparisons say, on the threshold package and on generated ones."""
    generated = threshold_package(tmp_path / "thresholds")
    seen: set[str] = set()
    cases = [(generated.folder, dict(generated.instants)["late"])]
    for seed in SEEDS:
        package = generate_package(tmp_path / str(seed), seed)
        cases.append((package.folder, dict(package.instants)["late"]))
    for folder, at in cases:
        for case in on_threshold_overrides(folder, at):
            flags = flag_rows(folder, at, thresholds=case.overrides)
            assert _raised(flags, case.code, case.keys) == case.raised, (folder.name, case)
            seen.add(case.label.split(" ", 1)[0])
    assert {"alpha", "weak_below", "weak_delta", "eroding_delta", "duality_delta"} <= seen


# ---------------------------------------------------------------- generated packages

def _check_data_md(folder: Path) -> None:
    """The rules of DATA.md a generated package must respect."""
    def read(table: str) -> list[dict[str, str]]:
        path = folder / f"{table}.csv"
        if not path.exists():
            return []
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["name"] == "pv-process"
    listed = {r["name"] for r in descriptor["resources"]}
    assert listed == {p.stem for p in folder.glob("*.csv")}

    def unique(table: str, *columns: str) -> None:
        keys = [tuple(r[c] for c in columns) for r in read(table)]
        assert len(keys) == len(set(keys)), (table, columns)

    for table in ("processes", "participants", "sessions", "proposals", "comments",
                  "associations"):
        unique(table, "id")
    unique("public_values", "code")
    unique("strata", "process_id", "dimension", "category")
    unique("participant_attributes", "participant_id", "dimension")
    unique("votes", "proposal_id", "participant_id")
    people = {r["id"] for r in read("participants")}
    sessions = {r["id"] for r in read("sessions")}
    values = {r["code"] for r in read("public_values")}

    def moment(text: str) -> datetime:
        value = datetime.fromisoformat(text)
        assert value.tzinfo is not None, text
        return value

    for table in ("participants", "sessions", "invitations", "registrations", "attendances",
                  "proposals", "comments", "votes", "perceptions", "speaking_turns"):
        for row in read(table):
            for column, text in row.items():
                if column.endswith("_at") and text:
                    moment(text)
    for row in read("invitations"):
        assert bool(row["participant_id"]) != bool(row["association_id"]), row
    by_answer: set[tuple] = set()
    for row in read("perceptions"):
        assert row["participant_id"] in people and row["public_value"] in values
        assert row["score"] in ("", "1", "2", "3", "4", "5")
        if row["wave"] == "session":
            assert row["session_id"] in sessions, row
        session = row["session_id"] if row["wave"] == "session" else ""
        key = (row["participant_id"], row["public_value"], row["wave"], session,
               moment(row["answered_at"]))
        assert key not in by_answer, row
        by_answer.add(key)
    turns: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for row in read("speaking_turns"):
        assert row["session_id"] in sessions and row["participant_id"] in people
        started, ended = moment(row["started_at"]), moment(row["ended_at"])
        assert ended > started, row
        turns.setdefault((row["session_id"], row["participant_id"]), []).append(
            (started, ended))
    for spans in turns.values():
        spans.sort()
        for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
            assert e1 <= s2, spans


def _corners(generated: Any, package: Any, at: datetime, rows: list[dict],
             flags: list[dict]) -> set[str]:
    """The version-2 corners a package reaches at one instant."""
    seen: set[str] = set()
    T = at.astimezone(UTC)  # noqa: N806 - the contract's name
    f = figures(generated.folder, at, package)
    starts = package.sessions
    held = set(f.held)

    def row(code: str, **keys: str) -> dict:
        found = [r for r in rows if r["code"] == code
                 and all(r[k] == v for k, v in keys.items())]
        assert found, code
        return found[0]

    # Speaking.
    for session, who, started, ended in package.turns:
        if session in held and started <= T < ended:
            seen.add("running turn")
        if session in held and ended == T:
            seen.add("turn ends at T")
        if session in held and ended <= T and who not in f.attendees:
            seen.add("speaker not attending")
    if not (generated.folder / "speaking_turns.csv").exists():
        seen.add("no turns table")
    elif not package.turns:
        seen.add("empty turns table")
    if any(fl["code"] == "official_dominance" and fl["group"] == "internal" for fl in flags):
        seen.add("official speaking row")
    internal_speaking = row("speaking_time_share", group="internal")
    if (internal_speaking["value"] is not None and internal_speaking["value"] > 0.5
            and internal_speaking["n"] < DEFAULT_THRESHOLDS["official_min_speaking_seconds"]):
        seen.add("too little speaking to flag")

    # Registrations and invitations.
    for session, _who, registered, cancelled in package.registrations:
        if registered <= T and cancelled is not None and starts[session] <= cancelled <= T:
            seen.add("cancelled at start" if cancelled == starts[session]
                     else "cancelled after start")
    valid = {(s, who or assoc) for s, who, assoc, when in package.invitations
             if when <= T and when < starts[s]}
    for session, who, assoc, when in package.invitations:
        if when <= T and when >= starts[session] and (session, who or assoc) not in valid:
            seen.add("association invited after start" if assoc else "invited after start")

    # Retention over any later session.
    if len(f.held) >= 3:
        first = f.att[f.held[0]]
        later = set().union(*(f.att[s] for s in f.held[1:]))
        if len(first & later) > len(first & f.att[f.held[-1]]):
            seen.add("retention beyond the last session")

    # Perceptions.
    answers: dict[tuple, list[tuple[datetime, int | None]]] = {}
    for who, value, wave, session, score, when in package.perceptions:
        if when <= T:
            answers.setdefault((who, value, wave, session), []).append((when, score))
    final_scores: dict[str, int] = {}
    final_respondents: set[str] = set()
    for (who, _value_code, wave, _session), history in answers.items():
        history.sort(key=lambda item: item[0])
        if history[-1][1] is None and any(s is not None for _w, s in history[:-1]):
            seen.add("don't know replaces a score")
        if history[-1][1] is not None and any(s is None for _w, s in history[:-1]):
            seen.add("score replaces don't know")
        if wave == "session" and len(history) > 1:
            seen.add("pulse answered again")
        if wave == "final":
            final_respondents.add(who)
            if history[-1][1] is not None:
                final_scores[who] = 1
    if final_respondents - set(final_scores):
        seen.add("final respondent with only don't know")
    if any(r["code"] == "pulse_mean" and r["n"] for r in rows):
        seen.add("pulse")
    for r in rows:
        if (r["code"] == "perception_delta" and r["value"] is not None and r["value"] <= -0.5
                and r["n"] >= 5):
            sign = row("perception_sign_p", group=r["group"], public_value=r["public_value"])
            if sign["value"] is None or sign["value"] >= DEFAULT_THRESHOLDS["alpha"]:
                seen.add("erosion without evidence")

    # Representation.
    for (_dimension, _category), r in f.representation.items():
        if r["share"] == 0 and r["a"] > 0:
            seen.add("people in a zero share")
        ratio = r["ratio"]
        if (r["A"] >= 20 and round(r["A"] * r["share"], 6) >= 5 and ratio is not None
                and (ratio < 0.8 or ratio > 1.25) and r["p"] >= DEFAULT_THRESHOLDS["alpha"]):
            seen.add("ratio without evidence")
    reach = row("reach_per_1000")
    if package.population is None:
        seen.add("population unknown")
    elif package.population == 0:
        seen.add("population zero")
    elif reach["value"] is not None:
        seen.add("reach")
    return seen


def test_generated_packages_reach_every_flag(tmp_path):
    """The generator is worth something only if its packages respect DATA.md, raise every flag
    somewhere, at both severities, and reach the corners the contract spells out."""
    raised: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for seed in SEEDS:
        generated = generate_package(tmp_path / str(seed), seed)
        _check_data_md(generated.folder)
        package = load_package(generated.folder)
        starts = sorted(package.sessions.values())
        if len(starts) != len(set(starts)):
            seen.add("tied sessions")
        for label, at in generated.instants:
            seen.add(label)
            rows, flags = indicator_and_flag_rows(generated.folder, at, package)
            raised |= {(f["code"], f["severity"]) for f in flags}
            assert all(("p_value" in f) for f in flags)
            if any(r["code"] == "representation_ratio" and r["value"] is None and r["n"] == 0
                   and any(s["code"] == "known_share" and s["n"] for s in rows) for r in rows):
                seen.add("zero share")
            if any(r["code"] == "answered_within_30d_rate" and r["n"] for r in rows):
                seen.add("30 days")
            seen |= _corners(generated, package, at, rows, flags)
    codes = {code for code, _severity in raised}
    assert set(FLAG_CODES) <= codes, set(FLAG_CODES) - codes
    for code in ("under_representation", "over_representation", "low_retention",
                 "unanswered_proposals"):
        assert {(code, "alert"), (code, "warning")} <= raised, code
    wanted = {
        "before", "between", "late", "at-session-start", "at-cancellation", "at-check-in",
        "at-answer", "at-published+30d", "at-published+90d", "at-published", "at-comment",
        "at-vote", "at-perception", "during-turn", "at-turn-end", "tied sessions", "zero share",
        "30 days",
        # version 2
        "running turn", "turn ends at T", "speaker not attending", "no turns table",
        "empty turns table", "official speaking row", "too little speaking to flag",
        "cancelled at start", "cancelled after start", "invited after start",
        "association invited after start", "retention beyond the last session",
        "don't know replaces a score", "score replaces don't know", "pulse answered again",
        "final respondent with only don't know", "pulse", "erosion without evidence",
        "people in a zero share", "ratio without evidence", "population unknown",
        "population zero", "reach",
    }
    assert wanted <= seen, sorted(wanted - seen)


def test_known_rules_of_data_md_hold_in_the_threshold_package(tmp_path):
    _check_data_md(threshold_package(tmp_path / "thresholds").folder)


# ---------------------------------------------------------------- the engine against it

def _engine_rows(process_id: int, at: datetime, overrides: dict[str, float] | None = None
                 ) -> tuple[list[dict], list[dict]]:
    """As `flask pv indicators` and `flask pv flags` compute them. Imported here, not at the top:
    the reference's own tests above must run whatever state the engine is in."""
    import dataclasses

    from pvplatform.indicators import compute_flags, compute_indicators
    from pvplatform.indicators.present import flag_records, indicator_records
    from pvplatform.indicators.thresholds import DEFAULTS

    thresholds = dataclasses.replace(DEFAULTS, **overrides) if overrides else DEFAULTS
    return (indicator_records(compute_indicators(process_id, at)),
            flag_records(compute_flags(process_id, at, thresholds)))


def _import(folder: Path) -> Any:
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.participation.importer import import_package

    process = import_package(folder, now=utcnow())
    db.session.commit()
    return process


def _compare(label: str, at: datetime, got_rows: list[dict], got_flags: list[dict],
             want_rows: list[dict], want_flags: list[dict]) -> list[str]:
    lines = _differences(got_rows, want_rows, INDICATOR_KEYS, ("value", "n"))
    lines += _differences(got_flags, want_flags, FLAG_KEYS, ("severity", "value", "p_value"))
    if [tuple(r[k] for k in INDICATOR_KEYS) for r in got_rows] != [
            tuple(r[k] for k in INDICATOR_KEYS) for r in want_rows]:
        lines.append("indicator rows not in key order")
    lines += [f"flag without a message: {f['code']}" for f in got_flags if not f.get("message")]
    if lines:
        return [f"{label} ({at.astimezone(UTC).isoformat()}):\n  " + "\n  ".join(lines)]
    return []


@pytest.mark.parametrize("seed", (*SEEDS, "thresholds"), ids=lambda s: f"seed-{s}")
def test_engine_equals_reference_on_generated_packages(db, tmp_path, seed):
    if seed == "thresholds":
        generated = threshold_package(tmp_path / "thresholds")
    else:
        generated = generate_package(tmp_path / f"package-{seed}", seed)
    package = load_package(generated.folder)
    process = _import(generated.folder)
    failures = []
    for label, at in generated.instants:
        got_rows, got_flags = _engine_rows(process.id, at)
        want_rows, want_flags = indicator_and_flag_rows(generated.folder, at, package)
        failures += _compare(f"seed {seed}, {label}", at, got_rows, got_flags, want_rows,
                             want_flags)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("seed", ("thresholds", 3, 11, 15, 18, 19), ids=lambda s: f"seed-{s}")
def test_engine_equals_reference_with_thresholds_on_reported_figures(db, tmp_path, seed):
    """Thresholds set exactly to figures the reference reports (and a hair beside them): the
    engine must compare the figures as reported, strictly or not as the contract says."""
    if seed == "thresholds":
        generated = threshold_package(tmp_path / "thresholds")
    else:
        generated = generate_package(tmp_path / f"package-{seed}", seed)
    package = load_package(generated.folder)
    process = _import(generated.folder)
    at = dict(generated.instants)["late"]
    cases = on_threshold_overrides(generated.folder, at)
    assert cases
    failures = []
    for case in cases:
        got_rows, got_flags = _engine_rows(process.id, at, case.overrides)
        want_rows, want_flags = indicator_and_flag_rows(generated.folder, at, package,
                                                        thresholds=case.overrides)
        failures += _compare(f"seed {seed}, {case.label} {case.overrides}", at, got_rows,
                             got_flags, want_rows, want_flags)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("seed", (2, 7, 10, 16), ids=lambda s: f"seed-{s}")
def test_ledger_lists_count_what_the_reference_counts(db, tmp_path, seed):
    """The ledger pages list people with the engine's set definitions: each list's length is
    the reference's figure (pooled, and per held session for the no-shows)."""
    import sqlalchemy as sa

    from pvplatform.ledger.services import LedgerList, list_counts
    from pvplatform.sessions.models import Meeting

    generated = generate_package(tmp_path / f"package-{seed}", seed)
    package = load_package(generated.folder)
    process = _import(generated.folder)
    sessions = dict(db.session.execute(
        sa.select(Meeting.external_ref, Meeting.id).where(Meeting.process_id == process.id)).all())
    failures = []
    for label, at in generated.instants:
        rows, _flags = indicator_and_flag_rows(generated.folder, at, package)
        want = {(r["code"], r["session_id"]): r for r in rows}
        counts = list_counts(process.id, at)
        pairs = {
            LedgerList.INVITED_NOT_REGISTERED: want[("invited_not_registered", "")]["value"],
            LedgerList.NO_SHOWS: want[("registered_no_show", "")]["value"],
            LedgerList.DROPPED_OUT: want[("dropped_out", "")]["value"],
        }
        failures += [f"{label}: {which} lists {counts[which]}, reference {value}"
                     for which, value in pairs.items() if counts[which] != value]
        for (code, session), row in want.items():
            if code != "no_show_rate" or not session:
                continue
            listed = list_counts(process.id, at, sessions[session])[LedgerList.NO_SHOWS]
            no_shows = round((row["value"] or 0) * row["n"])
            if listed != no_shows:
                failures.append(f"{label}: session {session} lists {listed} no-shows, "
                                f"reference {no_shows}")
    assert not failures, "\n".join(failures)
