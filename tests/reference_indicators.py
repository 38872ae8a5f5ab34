"""An independent, deliberately plain reading of INDICATORS.md (version 2), straight from a
data package.

Written from the contract text alone (not from pvplatform.indicators), to check the engine on
packages and instants nobody computed by hand. Everything is explicit Python over the CSV rows:
no cleverness, no shared code with the engine, no SciPy (the binomial and sign tests are written
out below). Rows come out in the shape of the examples' expected/*.json files: package ids for
sessions and associations, numbers rounded to 6 decimals, sorted by their keys.

    indicator_rows(package_dir, as_of) -> list[dict]
    flag_rows(package_dir, as_of, thresholds=None) -> list[dict]   (no message)
    indicator_and_flag_rows(package_dir, as_of, package=None, thresholds=None)

`thresholds` is an optional mapping of threshold name -> value laid over DEFAULT_THRESHOLDS
(unknown names are an error); duality_count always uses the defaults, as the contract says.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

INTERNAL_KINDS = {"manager", "elected"}
EXTERNAL_KINDS = {"citizen", "association"}
GROUPS = ("internal", "external")
DAY = 86400.0
SECOND = timedelta(seconds=1)

INDICATOR_KEYS = ("code", "dimension", "category", "group", "public_value", "session_id")
FLAG_KEYS = ("code", "dimension", "category", "group", "public_value", "session_id",
             "association_id")

# The contract's defaults, under the names the engine uses too.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "representation_min_attendees": 20,
    "representation_min_expected": 5.0,
    "under_representation_alert": 0.5,
    "under_representation_warning": 0.8,
    "over_representation_alert": 2.0,
    "over_representation_warning": 1.25,
    "no_show_min_registrations": 10,
    "no_show_warning": 0.30,
    "retention_min_attendees": 10,
    "retention_alert": 0.3,
    "retention_warning": 0.5,
    "voice_min_contributors": 10,
    "voice_top10_warning": 0.5,
    "official_min_contributions": 10,
    "official_share_warning": 0.5,
    "official_min_speaking_seconds": 600,
    "unanswered_alert_days": 90,
    "unanswered_warning_days": 30,
    "absent_association_sessions": 2,
    "duality_min_n": 5,
    "duality_delta": 0.5,
    "eroding_delta": -0.5,
    "eroding_min_n": 5,
    "alpha": 0.05,
    "weak_below": 3.0,
    "weak_delta": -0.25,
    "weak_min_n": 5,
}


def thresholds_with(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The defaults with `overrides` laid over them (a name the contract lacks is an error)."""
    merged = dict(DEFAULT_THRESHOLDS)
    for name, value in (overrides or {}).items():
        if name not in merged:
            raise KeyError(f"unknown threshold {name!r}")
        merged[name] = value
    return merged


# ---------------------------------------------------------------- the tests, by hand

TIE_TOLERANCE = 1e-7


def _log_binomial_pmf(j: int, n: int, s: float) -> float:
    """log P(X = j), X ~ Binomial(n, s), for 0 < s < 1."""
    return (math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
            + j * math.log(s) + (n - j) * math.log1p(-s))


def binomial_two_sided_p(k: int, n: int, s: float) -> float:
    """Exact two-sided p of k successes in n trials with probability s: the sum of P(X = j) over
    every j with P(X = j) <= P(X = k) * (1 + 1e-7), capped at 1. Log space, so that n of a
    hundred thousand neither underflows nor overflows."""
    assert 0 <= k <= n and 0 <= s <= 1
    if s == 0:
        return 1.0 if k == 0 else 0.0
    if s == 1:
        return 1.0 if k == n else 0.0
    limit = _log_binomial_pmf(k, n, s) + math.log1p(TIE_TOLERANCE)
    logs = [_log_binomial_pmf(j, n, s) for j in range(n + 1)]
    kept = [x for x in logs if x <= limit]
    if not kept:
        return 0.0
    top = max(kept)  # sum relative to the largest kept term, then scale back
    total = math.fsum(math.exp(x - top) for x in kept) * math.exp(top)
    return min(1.0, total)


def binomial_two_sided_p_exact(k: int, n: int, s: Fraction) -> Fraction:
    """The same sum in exact rational arithmetic (small n only): the known-value checks."""
    assert 0 <= k <= n
    pmf = [math.comb(n, j) * s ** j * (1 - s) ** (n - j) for j in range(n + 1)]
    limit = pmf[k] * (1 + Fraction(1, 10 ** 7))
    return min(Fraction(1), sum((p for p in pmf if p <= limit), Fraction(0)))


def sign_test_p(worsened: int, improved: int) -> float | None:
    """p = min(1, 2 * min(P(X <= w), P(X >= w))), X ~ Binomial(w + i, 1/2); None when w + i = 0.
    Exact integers: the tails are sums of binomial coefficients over 2^m."""
    m = worsened + improved
    if m == 0:
        return None
    lower = sum(math.comb(m, j) for j in range(worsened + 1))
    upper = sum(math.comb(m, j) for j in range(worsened, m + 1))
    return float(min(Fraction(1), Fraction(2 * min(lower, upper), 2 ** m)))


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm over the categories given: ascending p, ties by category code (plain string order);
    the j-th gets min(1, max over i <= j of (m - i + 1) * p_(i))."""
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    out: dict[str, float] = {}
    running = 0.0
    for i, (category, p) in enumerate(ordered, start=1):
        running = max(running, (m - i + 1) * p)
        out[category] = min(1.0, running)
    return out


# ---------------------------------------------------------------- reading the package

def _read(folder: Path, table: str) -> list[dict[str, str]]:
    path = folder / f"{table}.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _time(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    value = datetime.fromisoformat(raw)
    assert value.tzinfo is not None, raw
    return value.astimezone(UTC)


def _r6(value: float | Fraction | None) -> float | None:
    if value is None:
        return None
    return round(float(value), 6) + 0.0


def _frac(numerator: float, denominator: float) -> float | None:
    if denominator == 0:
        return None
    return _r6(Fraction(numerator) / Fraction(denominator))


@dataclass
class Package:
    process_id: str
    population: float | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # participant -> kind
    member_of: dict[str, str] = field(default_factory=dict)  # participant -> association
    associations: list[str] = field(default_factory=list)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (who, dim) -> cat
    strata: dict[str, dict[str, float]] = field(default_factory=dict)  # dim -> cat -> share
    values: list[str] = field(default_factory=list)
    sessions: dict[str, datetime] = field(default_factory=dict)  # id -> starts_at
    # (session, participant or "", association or "", invited_at)
    invitations: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    registrations: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)
    attendances: list[tuple[str, str, datetime]] = field(default_factory=list)
    proposals: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[tuple[str, str, datetime]] = field(default_factory=list)
    votes: list[tuple[str, str, datetime]] = field(default_factory=list)
    # (participant, value, wave, session ("" unless wave is session), score or None, answered_at)
    perceptions: list[tuple[str, str, str, str, int | None, datetime]] = field(
        default_factory=list)
    # (session, participant, started_at, ended_at)
    turns: list[tuple[str, str, datetime, datetime]] = field(default_factory=list)


def load_package(folder: Path | str) -> Package:
    folder = Path(folder)
    processes = _read(folder, "processes")
    assert len(processes) == 1
    pid = processes[0]["id"]
    population = (processes[0].get("population") or "").strip()
    package = Package(process_id=pid, population=float(population) if population else None)
    for row in _read(folder, "participants"):
        package.kinds[row["id"]] = row["kind"]
        if row.get("association_id"):
            package.member_of[row["id"]] = row["association_id"]
    package.associations = [row["id"] for row in _read(folder, "associations")]
    for row in _read(folder, "participant_attributes"):
        package.attributes[(row["participant_id"], row["dimension"])] = row["category"]
    for row in _read(folder, "strata"):
        if row["process_id"] == pid:
            package.strata.setdefault(row["dimension"], {})[row["category"]] = float(
                row["population_share"])
    package.values = [row["code"] for row in _read(folder, "public_values")]
    for row in _read(folder, "sessions"):
        if row["process_id"] == pid:
            package.sessions[row["id"]] = _time(row["starts_at"])
    for row in _read(folder, "invitations"):
        if row["session_id"] in package.sessions:
            package.invitations.append((row["session_id"], row.get("participant_id") or "",
                                        row.get("association_id") or "",
                                        _time(row["invited_at"])))
    for row in _read(folder, "registrations"):
        if row["session_id"] in package.sessions:
            package.registrations.append((row["session_id"], row["participant_id"],
                                          _time(row["registered_at"]),
                                          _time(row.get("cancelled_at"))))
    for row in _read(folder, "attendances"):
        if row["session_id"] in package.sessions:
            package.attendances.append((row["session_id"], row["participant_id"],
                                        _time(row["checked_in_at"])))
    for row in _read(folder, "proposals"):
        if row["process_id"] == pid:
            package.proposals[row["id"]] = {
                "author": row["author_id"], "state": row["state"],
                "published_at": _time(row.get("published_at")),
                "answered_at": _time(row.get("answered_at")),
                "rationale": row.get("answer_rationale") or "",
            }
    for row in _read(folder, "comments"):
        if row["proposal_id"] in package.proposals:
            package.comments.append((row["proposal_id"], row["author_id"],
                                     _time(row["created_at"])))
    for row in _read(folder, "votes"):
        if row["proposal_id"] in package.proposals:
            package.votes.append((row["proposal_id"], row["participant_id"],
                                  _time(row["cast_at"])))
    for row in _read(folder, "perceptions"):
        if row["process_id"] != pid:
            continue
        wave = row["wave"]
        session = row.get("session_id") or ""
        if wave == "session":
            assert session, "a session-wave answer needs its session_id"
        else:
            session = ""  # ignored for baseline and final
        score = (row.get("score") or "").strip()
        package.perceptions.append((row["participant_id"], row["public_value"], wave, session,
                                    int(score) if score else None, _time(row["answered_at"])))
    for row in _read(folder, "speaking_turns"):
        if row["session_id"] in package.sessions:
            started, ended = _time(row["started_at"]), _time(row["ended_at"])
            assert ended > started, row
            package.turns.append((row["session_id"], row["participant_id"], started, ended))
    return package


# ---------------------------------------------------------------- the figures as of T

def _group(kind: str) -> str:
    if kind in INTERNAL_KINDS:
        return "internal"
    assert kind in EXTERNAL_KINDS, kind
    return "external"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _gini(xs: list[int]) -> Fraction | None:
    """Σ_i (2i − n − 1)·x_i / (n·Σx), x ascending, i from 1 (exact over integers)."""
    xs = sorted(xs)
    n, total = len(xs), sum(xs)
    if not n or not total:
        return None
    return Fraction(sum((2 * i - n - 1) * x for i, x in enumerate(xs, start=1)), n * total)


class Figures:
    """Every figure of the contract for one package at one instant (computed eagerly)."""

    def __init__(self, package: Package, as_of: datetime) -> None:
        assert as_of.tzinfo is not None
        T = as_of.astimezone(UTC)  # noqa: N806 - the contract's name
        p = package
        self.package = p
        self.T = T
        self.rows: list[dict[str, Any]] = []

        def group_of(who: str) -> str:
            return _group(p.kinds[who])

        # Held sessions, by start then id in plain string order.
        self.held = sorted((s for s, start in p.sessions.items() if start <= T),
                           key=lambda s: (p.sessions[s], s))
        held = set(self.held)

        # Attendees per held session.
        self.att: dict[str, set[str]] = {s: set() for s in self.held}
        for session, who, checked in p.attendances:
            if session in held and checked <= T:
                self.att[session].add(who)
        attendees: set[str] = set()
        for people in self.att.values():
            attendees |= people
        self.attendees = attendees
        internal = {a for a in attendees if group_of(a) == "internal"}
        external = attendees - internal
        self._row("attendees", len(attendees), len(attendees), group="all")
        self._row("attendees", len(internal), len(internal), group="internal")
        self._row("attendees", len(external), len(external), group="external")

        # Invitation pairs: invited at or before T and before the session's start (a personal
        # invitation; one to an association counts only for the association rule).
        invited = {(s, who) for s, who, _assoc, at in p.invitations
                   if who and at <= T and at < p.sessions[s]}
        # Live registrations: registered at or before T, not cancelled at or before T, where a
        # cancellation at or after the session's start ends nothing (a no-show). A pair is live
        # when any of its registrations is.
        live = {(s, who) for s, who, registered, cancelled in p.registrations
                if registered <= T and not (cancelled is not None and cancelled <= T
                                            and cancelled < p.sessions[s])}
        taken = len(invited & live)
        self._row("uptake_rate", _frac(taken, len(invited)), len(invited))
        self._row("invited_not_registered", len(invited) - taken, len(invited))

        # No-shows over held sessions.
        self.no_show: dict[str, tuple[float | None, int]] = {}
        pooled_regs = pooled_absent = 0
        for s in self.held:
            regs = {who for session, who in live if session == s}
            absent = {who for who in regs if who not in self.att[s]}
            pooled_regs += len(regs)
            pooled_absent += len(absent)
            self.no_show[s] = (_frac(len(absent), len(regs)), len(regs))
            self._row("no_show_rate", _frac(len(absent), len(regs)), len(regs), session_id=s)
        self._row("no_show_rate", _frac(pooled_absent, pooled_regs), pooled_regs)
        self._row("registered_no_show", pooled_absent, pooled_regs)

        # Dropped out.
        if len(self.held) >= 3:
            recent = self.att[self.held[-1]] | self.att[self.held[-2]]
            dropped = len(attendees - recent)
        else:
            dropped = 0
        self._row("dropped_out", dropped, len(attendees))

        # Contributions, voters, active participants (needed by the active_* rows).
        published = {pid for pid, pr in p.proposals.items()
                     if pr["published_at"] is not None and pr["published_at"] <= T}
        contributions: dict[str, int] = {}
        for pid in published:
            author = p.proposals[pid]["author"]
            contributions[author] = contributions.get(author, 0) + 1
        for proposal, author, created in p.comments:
            if proposal in published and created <= T:
                contributions[author] = contributions.get(author, 0) + 1
        voters = {who for proposal, who, cast in p.votes if proposal in published and cast <= T}
        active = attendees | set(contributions) | voters
        self.active = active
        external_active = {who for who in active if group_of(who) == "external"}
        self._row("active_participants", len(active), len(active))

        # Demographics of external attendees, and of external active participants. For an
        # imported package both read participant_attributes.
        self.representation: dict[tuple[str, str], dict[str, Any]] = {}
        for dimension in sorted(p.strata):
            self._demographics(dimension, external, prefix="")
            self._demographics(dimension, external_active, prefix="active_")

        population = p.population
        reach = None
        if population:
            reach = _r6(Fraction(1000 * len(external_active)) / Fraction(population))
        self._row("reach_per_1000", reach, len(external_active))

        # Retention: first-session attendees back at any later held session.
        if self.held:
            first = self.att[self.held[0]]
            later: set[str] = set()
            for s in self.held[1:]:
                later |= self.att[s]
            value = _frac(len(first & later), len(first)) if len(self.held) >= 2 else None
            self.retention = (value, len(first))
        else:
            self.retention = (None, 0)
        self._row("retention", *self.retention)
        for previous, current in zip(self.held, self.held[1:], strict=False):
            before, now = self.att[previous], self.att[current]
            value = None if not before else _frac(len(before) - len(now & before), len(before))
            self._row("attrition", value, len(before), session_id=current)

        # Speaking time: turns of held sessions that ended at or before T, exact durations.
        spoken: dict[str, timedelta] = {}
        for session, who, started, ended in p.turns:
            if session in held and ended <= T:
                spoken[who] = spoken.get(who, timedelta(0)) + (ended - started)
        total = sum(spoken.values(), timedelta(0))
        self.speaking_seconds = total // SECOND  # rounded down once
        self.speaking_share: dict[str, float | None] = {}
        for group in GROUPS:
            mine = sum((d for who, d in spoken.items() if group_of(who) == group), timedelta(0))
            share = _r6(Fraction(mine // timedelta(microseconds=1),
                                 total // timedelta(microseconds=1))) if total else None
            self.speaking_share[group] = share
            self._row("speaking_time_share", share, self.speaking_seconds, group=group)
        micro = [spoken.get(who, timedelta(0)) // timedelta(microseconds=1) for who in attendees]
        self._row("speaking_gini", _r6(_gini(micro)) if total else None, len(attendees))

        # Contribution figures.
        xs = sorted(contributions.values())
        n, total_contributions = len(xs), sum(xs)
        self.contributors, self.contributions = n, total_contributions
        self._row("contribution_gini", _r6(_gini(xs)), n)
        top = None
        if n and total_contributions:
            top = _frac(sum(sorted(xs, reverse=True)[:math.ceil(0.1 * n)]), total_contributions)
        self.top10 = top
        self._row("top10_share", top, n)
        internal_total = sum(c for who, c in contributions.items()
                             if group_of(who) == "internal")
        self.internal_voice = _frac(internal_total, total_contributions)
        self._row("internal_voice_share", self.internal_voice, total_contributions)

        # Answers.
        asked = [pr for pid, pr in p.proposals.items()
                 if pid in published and pr["state"] != "withdrawn"]

        def is_answered(pr: dict[str, Any]) -> bool:
            return pr["answered_at"] is not None and pr["answered_at"] <= T

        answered = [pr for pr in asked if is_answered(pr)]
        unanswered = [pr for pr in asked if not is_answered(pr)]
        self._row("answer_rate", _frac(len(answered), len(asked)), len(asked))
        delays = [(pr["answered_at"] - pr["published_at"]).total_seconds() / DAY
                  for pr in answered]
        self._row("median_days_to_answer", _r6(_median(delays)) if delays else None,
                  len(delays))
        month = timedelta(seconds=30 * DAY)
        old_enough = [pr for pr in asked if T - pr["published_at"] >= month]
        in_time = [pr for pr in old_enough
                   if is_answered(pr) and pr["answered_at"] - pr["published_at"] <= month]
        self._row("answered_within_30d_rate", _frac(len(in_time), len(old_enough)),
                  len(old_enough))
        waits = [(T - pr["published_at"]).total_seconds() / DAY for pr in unanswered]
        self._row("oldest_unanswered_days", _r6(max(waits)) if waits else None, len(waits))
        rejected = [pr for pr in answered if pr["state"] == "rejected"]
        reasoned = [pr for pr in rejected if pr["rationale"].strip()]
        self._row("reasoned_rejection_rate", _frac(len(reasoned), len(rejected)), len(rejected))
        self.unanswered = unanswered
        self.unreasoned = len(rejected) - len(reasoned)

        self._perceptions(group_of)

    # ------------------------------------------------------------ demographics of one dimension

    def _demographics(self, dimension: str, people: set[str], prefix: str) -> None:
        p = self.package
        shares = p.strata[dimension]
        total = sum(shares.values())
        normalised = {c: share / total for c, share in shares.items()}
        counts = {c: 0 for c in shares}
        for who in people:
            category = p.attributes.get((who, dimension))
            if category in counts:
                counts[category] += 1
        known = sum(counts.values())
        self._row(f"{prefix}known_share", _frac(known, len(people)), len(people),
                  dimension=dimension)
        ratios: dict[str, float | None] = {}
        for category in sorted(shares):
            share = normalised[category]
            ratio = None
            if known and share > 0:
                ratio = _r6((counts[category] / known) / share)
            ratios[category] = ratio
            self._row(f"{prefix}representation_ratio", ratio, counts[category],
                      dimension=dimension, category=category)
        dissimilarity = None
        if known:
            dissimilarity = _r6(0.5 * sum(abs(counts[c] / known - normalised[c])
                                          for c in sorted(shares)))
        self._row(f"{prefix}dissimilarity", dissimilarity, known, dimension=dimension)
        if prefix:
            return
        missing = None
        if known:
            missing = sum(1 for c in shares if normalised[c] > 0 and counts[c] == 0)
        self._row("strata_not_reached", missing, known, dimension=dimension)
        corrected: dict[str, float] = {}
        if known:
            raw = {c: binomial_two_sided_p(counts[c], known, normalised[c])
                   for c in shares if normalised[c] > 0}
            corrected = holm(raw)
        for category in sorted(shares):
            p_value = _r6(corrected[category]) if category in corrected else None
            self._row("representation_p", p_value, known, dimension=dimension,
                      category=category)
            self.representation[(dimension, category)] = {
                "ratio": ratios[category], "a": counts[category], "A": known,
                "share": normalised[category], "p": p_value}

    # ------------------------------------------------------------ perceptions

    def _perceptions(self, group_of: Any) -> None:
        p, T = self.package, self.T
        catalogue = set(p.values)
        # The latest answer at or before T per participant, value, wave (and session).
        latest: dict[tuple[str, str, str, str], tuple[datetime, int | None]] = {}
        for who, value, wave, session, score, at in p.perceptions:
            if at > T or value not in catalogue:
                continue
            key = (who, value, wave, session)
            if key not in latest or at > latest[key][0]:
                latest[key] = (at, score)

        def scores(wave: str, value: str) -> dict[str, int]:
            return {who: score for (who, v, w, _s), (_at, score) in latest.items()
                    if v == value and w == wave and score is not None}

        self.delta: dict[tuple[str, str], tuple[float | None, int]] = {}
        self.sign: dict[tuple[str, str], tuple[float | None, int]] = {}
        self.baseline: dict[tuple[str, str], tuple[float | None, int]] = {}
        for value in p.values:
            base, final = scores("baseline", value), scores("final", value)
            for group in GROUPS:
                keys = {"group": group, "public_value": value}
                for code, wave_scores, store in (("perception_baseline", base, self.baseline),
                                                 ("perception_final", final, None)):
                    mine = [s for who, s in wave_scores.items() if group_of(who) == group]
                    mean = _frac(sum(mine), len(mine))
                    if store is not None:
                        store[(group, value)] = (mean, len(mine))
                    self._row(code, mean, len(mine), **keys)
                changes = [final[who] - base[who] for who in base
                           if who in final and group_of(who) == group]
                m = len(changes)
                delta = _frac(sum(changes), m)
                improved = sum(1 for c in changes if c > 0)
                worsened = sum(1 for c in changes if c < 0)
                self.delta[(group, value)] = (delta, m)
                self._row("perception_delta", delta, m, **keys)
                self._row("perception_improved_share", _frac(improved, m), m, **keys)
                self._row("perception_worsened_share", _frac(worsened, m), m, **keys)
                sign = _r6(sign_test_p(worsened, improved))
                self.sign[(group, value)] = (sign, worsened + improved)
                self._row("perception_sign_p", sign, worsened + improved, **keys)

        # Response rates: respondents (a score or "don't know") over the group's active
        # participants together with its respondents.
        for wave in ("baseline", "final"):
            respondents = {who for (who, _v, w, _s) in latest if w == wave}
            for group in GROUPS:
                answered = {who for who in respondents if group_of(who) == group}
                eligible = answered | {who for who in self.active if group_of(who) == group}
                self._row(f"{wave}_response_rate", _frac(len(answered), len(eligible)),
                          len(eligible), group=group)

        # Session pulses: every catalogue value x every held session.
        for value in p.values:
            for session in self.held:
                pulse = [score for (_who, v, w, s), (_at, score) in latest.items()
                         if v == value and w == "session" and s == session
                         and score is not None]
                self._row("pulse_mean", _frac(sum(pulse), len(pulse)), len(pulse),
                          public_value=value, session_id=session)

        self._row("duality_count", len(self.dual_values(DEFAULT_THRESHOLDS)), len(p.values))

    def dual_values(self, t: Mapping[str, float]) -> list[str]:
        """The public values where value_duality's condition holds under thresholds `t`."""
        out = []
        for value in self.package.values:
            (di, ni), (de, ne) = self.delta[("internal", value)], self.delta[("external", value)]
            pi, pe = self.sign[("internal", value)][0], self.sign[("external", value)][0]
            if (ni >= t["duality_min_n"] and ne >= t["duality_min_n"]
                    and di is not None and de is not None
                    and abs(di) >= t["duality_delta"] and abs(de) >= t["duality_delta"]
                    and (di > 0) != (de > 0) and di != 0 and de != 0
                    and pi is not None and pe is not None
                    and pi < t["alpha"] and pe < t["alpha"]):
                out.append(value)
        return out

    def _row(self, code: str, value: Any, n: int, **keys: str) -> None:
        row = {"code": code, "dimension": "", "category": "", "group": "", "public_value": "",
               "session_id": "", "value": value, "n": n}
        row.update(keys)
        self.rows.append(row)


# ---------------------------------------------------------------- flags

def _flags(f: Figures, thresholds: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    p, T = f.package, f.T  # noqa: N806
    t = thresholds_with(thresholds)
    out: list[dict[str, Any]] = []

    def flag(code: str, severity: str, value: Any, p_value: float | None = None,
             **keys: str) -> None:
        row = {"code": code, "severity": severity, "dimension": "", "category": "", "group": "",
               "public_value": "", "session_id": "", "association_id": "", "value": value,
               "p_value": p_value}
        row.update(keys)
        out.append(row)

    for (dimension, category), r in f.representation.items():
        expected = _r6(r["A"] * r["share"])
        if r["A"] < t["representation_min_attendees"] or expected < t[
                "representation_min_expected"]:
            continue
        keys = {"dimension": dimension, "category": category}
        if r["a"] == 0:
            flag("stratum_not_reached", "alert", expected, **keys)
        ratio, p_value = r["ratio"], r["p"]
        if ratio is None or p_value is None or not p_value < t["alpha"]:
            continue
        if ratio < t["under_representation_alert"]:
            flag("under_representation", "alert", ratio, p_value, **keys)
        elif ratio < t["under_representation_warning"]:
            flag("under_representation", "warning", ratio, p_value, **keys)
        if ratio > t["over_representation_alert"]:
            flag("over_representation", "alert", ratio, p_value, **keys)
        elif ratio > t["over_representation_warning"]:
            flag("over_representation", "warning", ratio, p_value, **keys)

    for session, (rate, registrations) in f.no_show.items():
        if registrations >= t["no_show_min_registrations"] and rate > t["no_show_warning"]:
            flag("high_no_show", "warning", rate, session_id=session)

    retention, first = f.retention
    if first >= t["retention_min_attendees"] and retention is not None:
        if retention < t["retention_alert"]:
            flag("low_retention", "alert", retention)
        elif retention < t["retention_warning"]:
            flag("low_retention", "warning", retention)

    if f.contributors >= t["voice_min_contributors"] and f.top10 > t["voice_top10_warning"]:
        flag("voice_concentration", "warning", f.top10)
    if (f.contributions >= t["official_min_contributions"]
            and f.internal_voice > t["official_share_warning"]):
        flag("official_dominance", "warning", f.internal_voice)
    speaking = f.speaking_share["internal"]
    if (f.speaking_seconds >= t["official_min_speaking_seconds"] and speaking is not None
            and speaking > t["official_share_warning"]):
        flag("official_dominance", "warning", speaking, group="internal")

    def older_than(days: float) -> int:
        return sum(1 for pr in f.unanswered
                   if T - pr["published_at"] >= timedelta(seconds=days * DAY))

    if older_than(t["unanswered_alert_days"]):
        flag("unanswered_proposals", "alert", older_than(t["unanswered_alert_days"]))
    elif older_than(t["unanswered_warning_days"]):
        flag("unanswered_proposals", "warning", older_than(t["unanswered_warning_days"]))

    if f.unreasoned:
        flag("unreasoned_rejection", "warning", f.unreasoned)

    held_rank = {s: i for i, s in enumerate(f.held)}
    for association in p.associations:
        invited_to = {s for s, _who, assoc, at in p.invitations
                      if assoc == association and at <= T and at < p.sessions[s]
                      and s in held_rank}
        members = {who for who, a in p.member_of.items() if a == association}
        in_a_row = 0
        for session in sorted(invited_to, key=held_rank.__getitem__, reverse=True):
            if f.att[session] & members:
                break
            in_a_row += 1
        if in_a_row >= t["absent_association_sessions"]:
            flag("absent_invited_association", "warning", in_a_row, association_id=association)

    for value in f.dual_values(t):
        internal, external = f.delta[("internal", value)][0], f.delta[("external", value)][0]
        larger = max(f.sign[("internal", value)][0], f.sign[("external", value)][0])
        flag("value_duality", "alert", _r6(internal - external), larger, public_value=value)
    for (group, value), (delta, n) in f.delta.items():
        sign = f.sign[(group, value)][0]
        if delta is None or sign is None or not sign < t["alpha"]:
            continue
        keys = {"group": group, "public_value": value}
        if n >= t["eroding_min_n"] and delta <= t["eroding_delta"]:
            flag("value_eroding", "warning", delta, sign, **keys)
        baseline, baseline_n = f.baseline[(group, value)]
        if (baseline is not None and baseline < t["weak_below"]
                and baseline_n >= t["weak_min_n"]
                and n >= t["weak_min_n"] and delta <= t["weak_delta"]):
            flag("weak_value_weakened", "alert", delta, sign, **keys)
    return out


# ---------------------------------------------------------------- entry points

def _sorted(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def figures(folder: Path | str, as_of: datetime, package: Package | None = None) -> Figures:
    return Figures(package or load_package(folder), as_of)


def indicator_rows(folder: Path | str, as_of: datetime,
                   package: Package | None = None) -> list[dict[str, Any]]:
    return _sorted(figures(folder, as_of, package).rows, INDICATOR_KEYS)


def flag_rows(folder: Path | str, as_of: datetime, package: Package | None = None,
              thresholds: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    return _sorted(_flags(figures(folder, as_of, package), thresholds), FLAG_KEYS)


def indicator_and_flag_rows(folder: Path | str, as_of: datetime,
                            package: Package | None = None,
                            thresholds: Mapping[str, float] | None = None
                            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    computed = figures(folder, as_of, package)
    return (_sorted(computed.rows, INDICATOR_KEYS),
            _sorted(_flags(computed, thresholds), FLAG_KEYS))
