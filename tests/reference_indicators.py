"""An independent, deliberately plain reading of INDICATORS.md, straight from a data package.

Written from the contract text alone (not from pvplatform.indicators), to check the engine on
packages and instants nobody computed by hand. Everything is explicit Python over the CSV rows:
no cleverness, no shared code with the engine. Rows come out in the shape of the tiny example's
expected/*.json files: package ids for sessions and associations, numbers rounded to 6 decimals,
sorted by their keys.

    indicator_rows(package_dir, as_of) -> list[dict]
    flag_rows(package_dir, as_of) -> list[dict]   (default thresholds, no message)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

INTERNAL_KINDS = {"manager", "elected"}
EXTERNAL_KINDS = {"citizen", "association"}
DAY = 86400.0

INDICATOR_KEYS = ("code", "dimension", "category", "group", "public_value", "session_id")
FLAG_KEYS = ("code", "dimension", "category", "group", "public_value", "session_id",
             "association_id")


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


def _r6(value: float | None) -> float | None:
    if value is None:
        return None
    return round(float(value), 6) + 0.0


def _frac(numerator: float, denominator: float) -> float | None:
    if denominator == 0:
        return None
    return _r6(numerator / denominator)


@dataclass
class Package:
    process_id: str
    kinds: dict[str, str] = field(default_factory=dict)  # participant -> kind
    member_of: dict[str, str] = field(default_factory=dict)  # participant -> association
    associations: list[str] = field(default_factory=list)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (who, dim) -> cat
    strata: dict[str, dict[str, float]] = field(default_factory=dict)  # dim -> cat -> share
    values: list[str] = field(default_factory=list)
    sessions: dict[str, datetime] = field(default_factory=dict)  # id -> starts_at
    invitations: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    registrations: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)
    attendances: list[tuple[str, str, datetime]] = field(default_factory=list)
    proposals: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[tuple[str, str, datetime]] = field(default_factory=list)
    votes: list[tuple[str, str, datetime]] = field(default_factory=list)
    perceptions: list[tuple[str, str, str, int, datetime]] = field(default_factory=list)


def load_package(folder: Path | str) -> Package:
    folder = Path(folder)
    processes = _read(folder, "processes")
    assert len(processes) == 1
    pid = processes[0]["id"]
    package = Package(process_id=pid)
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
        if row["process_id"] == pid:
            package.perceptions.append((row["participant_id"], row["public_value"], row["wave"],
                                        int(row["score"]), _time(row["answered_at"])))
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


class Figures:
    """Every figure of the contract for one package at one instant (computed eagerly)."""

    def __init__(self, package: Package, as_of: datetime) -> None:
        assert as_of.tzinfo is not None
        T = as_of.astimezone(UTC)  # noqa: N806 - the contract's name
        p = package
        self.package = p
        self.T = T
        self.rows: list[dict[str, Any]] = []

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
        internal = {a for a in attendees if _group(p.kinds[a]) == "internal"}
        external = attendees - internal
        self._row("attendees", len(attendees), len(attendees), group="all")
        self._row("attendees", len(internal), len(internal), group="internal")
        self._row("attendees", len(external), len(external), group="external")

        # Invitations and registrations, as distinct (session, participant) pairs.
        invited = {(s, who) for s, who, _assoc, at in p.invitations if who and at <= T}
        live = {(s, who) for s, who, registered, cancelled in p.registrations
                if registered <= T and not (cancelled is not None and cancelled <= T)}
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

        # Demographics of external attendees.
        self.representation: dict[tuple[str, str], dict[str, Any]] = {}
        self.known_in: dict[str, int] = {}
        for dimension in sorted(p.strata):
            shares = p.strata[dimension]
            total = sum(shares.values())
            normalised = {c: share / total for c, share in shares.items()}
            counts = {c: 0 for c in shares}
            for who in external:
                category = p.attributes.get((who, dimension))
                if category in counts:
                    counts[category] += 1
            known = sum(counts.values())
            self.known_in[dimension] = known
            self._row("known_share", _frac(known, len(external)), len(external),
                      dimension=dimension)
            for category in sorted(shares):
                share = normalised[category]
                ratio = None
                if known and share > 0:
                    ratio = _r6((counts[category] / known) / share)
                self.representation[(dimension, category)] = {
                    "ratio": ratio, "a": counts[category], "A": known, "share": share}
                self._row("representation_ratio", ratio, counts[category], dimension=dimension,
                          category=category)
            if known:
                dissimilarity = _r6(0.5 * sum(abs(counts[c] / known - normalised[c])
                                              for c in shares))
                missing = sum(1 for c in shares if normalised[c] > 0 and counts[c] == 0)
            else:
                dissimilarity = missing = None
            self._row("dissimilarity", dissimilarity, known, dimension=dimension)
            self._row("strata_not_reached", missing, known, dimension=dimension)

        # Retention and attrition.
        if self.held:
            first, last = self.att[self.held[0]], self.att[self.held[-1]]
            self.retention = (_frac(len(first & last), len(first)), len(first))
        else:
            self.retention = (None, 0)
        self._row("retention", *self.retention)
        for previous, current in zip(self.held, self.held[1:], strict=False):
            before, now = self.att[previous], self.att[current]
            value = None if not before else _r6(1 - len(now & before) / len(before))
            self._row("attrition", value, len(before), session_id=current)

        # Contributions.
        published = {pid for pid, pr in p.proposals.items()
                     if pr["published_at"] is not None and pr["published_at"] <= T}
        contributions: dict[str, int] = {}
        for pid in published:
            author = p.proposals[pid]["author"]
            contributions[author] = contributions.get(author, 0) + 1
        for proposal, author, created in p.comments:
            if proposal in published and created <= T:
                contributions[author] = contributions.get(author, 0) + 1
        xs = sorted(contributions.values())
        n, total = len(xs), sum(xs)
        self.contributors, self.contributions = n, total
        gini = None
        if n and total:
            gini = _r6(sum((2 * i - n - 1) * x for i, x in enumerate(xs, start=1)) / (n * total))
        self._row("contribution_gini", gini, n)
        top = None
        if n and total:
            top = _r6(sum(sorted(xs, reverse=True)[:math.ceil(0.1 * n)]) / total)
        self.top10 = top
        self._row("top10_share", top, n)
        internal_total = sum(c for who, c in contributions.items()
                             if _group(p.kinds[who]) == "internal")
        self.internal_voice = _frac(internal_total, total)
        self._row("internal_voice_share", self.internal_voice, total)

        # Voters and active participants.
        voters = {who for proposal, who, cast in p.votes if proposal in published and cast <= T}
        active = attendees | set(contributions) | voters
        self._row("active_participants", len(active), len(active))

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

        # Perceptions: the latest answer at or before T per participant, value and wave.
        latest: dict[tuple[str, str, str], tuple[datetime, int]] = {}
        for who, value, wave, score, at in p.perceptions:
            if at > T:
                continue
            key = (who, value, wave)
            if key not in latest or at > latest[key][0]:
                latest[key] = (at, score)
        self.delta: dict[tuple[str, str], tuple[float | None, int]] = {}
        for value in p.values:
            differences: dict[str, list[int]] = {"internal": [], "external": []}
            for (who, v, wave), (_at, final) in latest.items():
                if v != value or wave != "final":
                    continue
                base = latest.get((who, value, "baseline"))
                if base is not None:
                    differences[_group(p.kinds[who])].append(final - base[1])
            for group, diffs in differences.items():
                mean = _r6(sum(diffs) / len(diffs)) if diffs else None
                self.delta[(group, value)] = (mean, len(diffs))
                self._row("perception_delta", mean, len(diffs), group=group, public_value=value)
        self.dual: list[str] = []
        for value in p.values:
            (di, ni), (de, ne) = self.delta[("internal", value)], self.delta[("external", value)]
            if (ni >= 5 and ne >= 5 and di is not None and de is not None and abs(di) >= 0.5
                    and abs(de) >= 0.5 and (di > 0) != (de > 0)):
                self.dual.append(value)
        self._row("duality_count", len(self.dual), len(p.values))

    def _row(self, code: str, value: Any, n: int, **keys: str) -> None:
        row = {"code": code, "dimension": "", "category": "", "group": "", "public_value": "",
               "session_id": "", "value": value, "n": n}
        row.update(keys)
        self.rows.append(row)


# ---------------------------------------------------------------- flags (default thresholds)

def _flags(f: Figures) -> list[dict[str, Any]]:
    p, T = f.package, f.T  # noqa: N806
    out: list[dict[str, Any]] = []

    def flag(code: str, severity: str, value: Any, **keys: str) -> None:
        row = {"code": code, "severity": severity, "dimension": "", "category": "", "group": "",
               "public_value": "", "session_id": "", "association_id": "", "value": value}
        row.update(keys)
        out.append(row)

    for (dimension, category), r in f.representation.items():
        expected = _r6(r["A"] * r["share"])
        if r["A"] < 20 or expected < 5:
            continue
        ratio = r["ratio"]
        keys = {"dimension": dimension, "category": category}
        if ratio < 0.5:
            flag("under_representation", "alert", ratio, **keys)
        elif ratio < 0.8:
            flag("under_representation", "warning", ratio, **keys)
        if ratio > 2.0:
            flag("over_representation", "alert", ratio, **keys)
        elif ratio > 1.25:
            flag("over_representation", "warning", ratio, **keys)
        if r["a"] == 0:
            flag("stratum_not_reached", "alert", expected, **keys)

    for session, (rate, registrations) in f.no_show.items():
        if registrations >= 10 and rate > 0.30:
            flag("high_no_show", "warning", rate, session_id=session)

    retention, first = f.retention
    if first >= 10:
        if retention < 0.3:
            flag("low_retention", "alert", retention)
        elif retention < 0.5:
            flag("low_retention", "warning", retention)

    if f.contributors >= 10 and f.top10 > 0.5:
        flag("voice_concentration", "warning", f.top10)
    if f.contributions >= 10 and f.internal_voice > 0.5:
        flag("official_dominance", "warning", f.internal_voice)

    def older_than(days: int) -> int:
        return sum(1 for pr in f.unanswered
                   if T - pr["published_at"] >= timedelta(seconds=days * DAY))

    if older_than(90):
        flag("unanswered_proposals", "alert", older_than(90))
    elif older_than(30):
        flag("unanswered_proposals", "warning", older_than(30))

    if f.unreasoned:
        flag("unreasoned_rejection", "warning", f.unreasoned)

    held_rank = {s: i for i, s in enumerate(f.held)}
    for association in p.associations:
        invited_to = {s for s, _who, assoc, at in p.invitations
                      if assoc == association and at <= T and s in held_rank}
        members = {who for who, a in p.member_of.items() if a == association}
        in_a_row = 0
        for session in sorted(invited_to, key=held_rank.__getitem__, reverse=True):
            if f.att[session] & members:
                break
            in_a_row += 1
        if in_a_row >= 2:
            flag("absent_invited_association", "warning", in_a_row, association_id=association)

    for value in f.dual:
        internal, external = f.delta[("internal", value)][0], f.delta[("external", value)][0]
        flag("value_duality", "alert", _r6(internal - external), public_value=value)
    for (group, value), (delta, n) in f.delta.items():
        if n >= 5 and delta <= -0.5:
            flag("value_eroding", "warning", delta, group=group, public_value=value)
    return out


# ---------------------------------------------------------------- entry points

def _sorted(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def indicator_rows(folder: Path | str, as_of: datetime,
                   package: Package | None = None) -> list[dict[str, Any]]:
    figures = Figures(package or load_package(folder), as_of)
    return _sorted(figures.rows, INDICATOR_KEYS)


def flag_rows(folder: Path | str, as_of: datetime,
              package: Package | None = None) -> list[dict[str, Any]]:
    figures = Figures(package or load_package(folder), as_of)
    return _sorted(_flags(figures), FLAG_KEYS)


def indicator_and_flag_rows(folder: Path | str, as_of: datetime,
                            package: Package | None = None
                            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    figures = Figures(package or load_package(folder), as_of)
    return _sorted(figures.rows, INDICATOR_KEYS), _sorted(_flags(figures), FLAG_KEYS)
