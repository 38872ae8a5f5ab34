"""Random but valid process data packages (DATA.md), for checking the indicator engine.

`generate_package(folder, seed)` writes one package and returns the instants worth computing it
at. Everything comes from `random.Random(seed)`: a seed always gives the same package. The
shapes are chosen to reach the corners of INDICATORS.md: every kind, associations with and
without members, invitations to people and to associations (some repeated), registrations
cancelled before or after an instant and taken again, walk-ins, check-ins before, at and after
a session's start, sessions in the future, sessions starting at the same instant (their id
string order decides), strata whose shares do not sum to 1 (one may be 0), unknown and missing
categories, proposals in every state answered before or after an instant (some exactly 30 days
after publication), blank rationales, repeated perception answers, timestamps in several
offsets; and, for the larger packages, enough attendees, registrations and contributors for
each flag's threshold.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from pvplatform.participation.import_schema import TABLES, descriptor

BASE = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
OFFSETS = (timezone(timedelta(hours=1)), timezone(timedelta(hours=2)), UTC,
           timezone(timedelta(hours=-4)), timezone(timedelta(hours=5, minutes=30)))

DIMENSIONS = {
    "gender": ("woman", "man", "other"),
    "age_band": ("18-29", "30-44", "45-59", "60-74", "75+"),
    "district": ("centre", "north", "south", "east"),
    "housing": ("owner", "renter", "social_housing"),
}
UNKNOWN = ("prefer_not_to_say", "Woman", "unknown", "autre")  # not reference categories
VALUES = ("inclusiveness", "transparency", "responsiveness", "trust", "effectiveness",
          "legitimacy")
STATES = ("draft", "published", "evaluating", "accepted", "rejected", "withdrawn")


@dataclass
class GeneratedPackage:
    folder: Path
    seed: int
    size: int
    instants: list[tuple[str, datetime]] = field(default_factory=list)


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tables: dict[str, list[list[str]]] = {spec.name: [] for spec in TABLES}

    def ts(self, moment: datetime) -> str:
        zone = self.rng.choice(OFFSETS)
        text = moment.astimezone(zone).isoformat(
            timespec="microseconds" if moment.microsecond else "seconds")
        if zone is UTC and self.rng.random() < 0.7:
            text = text.replace("+00:00", "Z")
        return text

    def opt_ts(self, moment: datetime | None) -> str:
        return "" if moment is None else self.ts(moment)

    def add(self, table: str, *cells: object) -> None:
        self.tables[table].append(["" if c is None else str(c) for c in cells])

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "datapackage.json").write_text(json.dumps(descriptor(), indent=1),
                                                 encoding="utf-8")
        for spec in TABLES:
            rows = self.tables[spec.name]
            if spec.name not in ("processes", "sessions", "participants"):
                self.rng.shuffle(rows)  # file order must not matter
            with (folder / f"{spec.name}.csv").open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(spec.column_names)
                writer.writerows(rows)


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _size(rng: random.Random, seed: int) -> int:
    shape = seed % 4
    if shape == 0:
        return rng.randint(3, 8)
    if shape == 1:
        return rng.randint(12, 25)
    return rng.randint(40, 60)


def generate_package(folder: Path, seed: int) -> GeneratedPackage:
    rng = random.Random(seed)
    w = _Writer(rng)
    size = _size(rng, seed)
    big = size >= 40
    pid = rng.choice(("proc1", "P-2026", "agenda"))
    w.add("processes", pid, f"Process {seed}", "Villeneuve", rng.randint(1000, 90000),
          "2026-01-01", "2026-12-31")

    # ---------------------------------------------------------------- catalogue and strata
    values = rng.sample(VALUES, rng.randint(0 if seed % 7 == 3 else 1, len(VALUES)))
    for code in values:
        w.add("public_values", code, code.title(), "")
    dimension_count = 0 if seed % 11 == 5 else rng.randint(1, 3)
    dimensions = rng.sample(sorted(DIMENSIONS), dimension_count)
    shares: dict[str, dict[str, float]] = {}
    for dimension in dimensions:
        categories = DIMENSIONS[dimension]
        if rng.random() < 0.25:  # the census knows fewer categories than people answer
            categories = tuple(rng.sample(categories, rng.randint(1, len(categories))))
        style = rng.random()
        if style < 0.3:  # percentages, not summing to 100 exactly
            raw = {c: float(rng.randint(1, 60)) for c in categories}
        else:
            raw = {c: round(rng.uniform(0.02, 0.6), 3) for c in categories}
        if rng.random() < 0.25:
            raw[rng.choice(categories)] = 0.0
        if sum(raw.values()) <= 0:
            raw[categories[0]] = 1.0
        shares[dimension] = raw
        for category, share in raw.items():
            w.add("strata", pid, dimension, category, repr(share))

    # ---------------------------------------------------------------- people
    associations = [f"a{i}" for i in rng.sample(range(1, 40), rng.randint(0, 5))]
    for a in associations:
        w.add("associations", a, f"Association {a}")
    memberless = associations[-1] if associations and rng.random() < 0.6 else None
    can_join = [a for a in associations if a != memberless]
    people: list[str] = []
    kinds: dict[str, str] = {}
    number = rng.sample(range(1, 400), size)
    for i in range(size):
        who = f"p{number[i]}"
        kind = rng.choices(("citizen", "association", "manager", "elected"),
                           weights=(60, 15, 15, 10))[0]
        if i < 2:  # both groups in every package
            kind = ("citizen", "manager")[i]
        association = None
        if can_join and (kind == "association" and rng.random() < 0.85
                         or kind != "association" and rng.random() < 0.08):
            association = rng.choice(can_join)
        created = BASE - timedelta(days=rng.uniform(5, 60))
        w.add("participants", who, kind, association,
              w.opt_ts(_second(created)) if rng.random() < 0.9 else "")
        people.append(who)
        kinds[who] = kind

    # Skewed categories: some under-represented, some over, some never reached.
    answered_dimensions = list(dimensions)
    if rng.random() < 0.4:  # answers in a dimension without strata: ignored
        answered_dimensions += [d for d in sorted(DIMENSIONS) if d not in dimensions][:1]
    for dimension in answered_dimensions:
        categories = DIMENSIONS[dimension]
        reference = shares.get(dimension, {c: 1.0 for c in categories})
        skew = {c: rng.choice((0.0, 0.15, 0.5, 1.0, 1.0, 2.0, 4.0)) for c in categories}
        if not any(skew.values()):
            skew[categories[0]] = 1.0
        weights = [max(reference.get(c, 0.1), 0.01) * skew[c] + 1e-9 for c in categories]
        missing, unknown = rng.uniform(0, 0.2), rng.uniform(0, 0.15)
        for who in people:
            r = rng.random()
            if r < missing:
                continue
            if r < missing + unknown:
                w.add("participant_attributes", who, dimension, rng.choice(UNKNOWN))
            else:
                w.add("participant_attributes", who, dimension,
                      rng.choices(categories, weights=weights)[0])

    # ---------------------------------------------------------------- sessions
    session_count = rng.choice((0, 1, 2, 3, 4, 5, 6, 7)) if not big else rng.randint(4, 8)
    future = rng.randint(0, min(2, session_count))
    held_count = session_count - future
    # Ids whose plain string order is neither numeric nor alphabetical in a locale:
    # "10" < "9", "Z" < "a" < "é".
    prefix = ("", "s", "s", "S-", "séance-")[seed % 5]
    ids = [f"{rng.choice((prefix, prefix.upper(), 'é', 'z'))}{n}"
           for n in rng.sample(range(1, 30), session_count)]
    starts: dict[str, datetime] = {}
    moment = BASE + timedelta(days=rng.uniform(3, 10))
    order: list[str] = []
    for index, sid in enumerate(ids):
        if index and index < held_count and rng.random() < 0.3:
            # The same start as the previous session: a tie, settled by id string order.
            starts[sid] = starts[order[-1]]
            order.append(sid)
            continue
        if index == held_count:
            moment = moment + timedelta(days=rng.uniform(200, 260))
        elif index:
            moment = moment + timedelta(days=rng.uniform(4, 25))
        starts[sid] = _second(moment.replace(minute=rng.choice((0, 0, 30))))
        order.append(sid)
    session_rows = list(order)
    rng.shuffle(session_rows)  # database ids must not decide the order
    for sid in session_rows:
        fmt = rng.choice(("online", "in_person", "hybrid"))
        ends = starts[sid] + timedelta(hours=2) if rng.random() < 0.8 else None
        w.add("sessions", sid, pid, f"Session {sid}", fmt, w.ts(starts[sid]), w.opt_ts(ends),
              rng.choice(("", "", "30", "100")))
    future_sessions = set(order[held_count:])

    # ---------------------------------------------------------------- invitations, registrations
    engagement = {who: rng.choice((0.1, 0.3, 0.6, 0.9)) for who in people}
    invited: dict[str, set[str]] = {}
    live: dict[str, set[str]] = {}
    cancel_times: list[datetime] = []
    for sid in order:
        start = starts[sid]
        invite_share = rng.uniform(0.2, 0.8)
        invited[sid] = set()
        for who in people:
            if rng.random() < invite_share:
                at = _second(start - timedelta(days=rng.uniform(0.5, 20)))
                if rng.random() < 0.05:  # invited after the start (a late follow-up)
                    at = _second(start + timedelta(days=rng.uniform(0.1, 10)))
                w.add("invitations", sid, who, "", w.ts(at))
                invited[sid].add(who)
                if rng.random() < 0.06:  # invited twice: one pair
                    w.add("invitations", sid, who, "", w.ts(at + timedelta(days=1)))
        for a in associations:
            if rng.random() < 0.7:
                at = _second(start - timedelta(days=rng.uniform(1, 15)))
                if rng.random() < 0.1:
                    at = _second(start + timedelta(days=rng.uniform(0.1, 5)))
                w.add("invitations", sid, "", a, w.ts(at))
                if rng.random() < 0.15:  # invited twice as such: still one session
                    w.add("invitations", sid, "", a, w.ts(at - timedelta(days=2)))
        uptake = rng.uniform(0.3, 0.9)
        live[sid] = set()
        for who in people:
            chance = uptake if who in invited[sid] else 0.12
            if big:
                chance = min(1.0, chance + 0.15)
            if rng.random() >= chance:
                continue
            registered = _second(start - timedelta(days=rng.uniform(0.2, 12)))
            cancelled = None
            if rng.random() < 0.18:
                pick = rng.random()
                if pick < 0.2:
                    cancelled = start  # exactly at the start
                elif pick < 0.6:
                    cancelled = _second(registered + (start - registered) * rng.random())
                else:
                    cancelled = _second(start + timedelta(days=rng.uniform(0.01, 30)))
                if (sid not in future_sessions and cancelled == start) or who in invited[sid]:
                    cancel_times.append(cancelled)  # where "cancelled at or before T" counts
            w.add("registrations", sid, who, w.ts(registered), w.opt_ts(cancelled))
            if cancelled is not None and rng.random() < 0.35:
                again = _second(cancelled + timedelta(hours=rng.uniform(0.5, 48)))
                w.add("registrations", sid, who, w.ts(again), "")
                live[sid].add(who)
            elif cancelled is None or cancelled > start:
                live[sid].add(who)

    # ---------------------------------------------------------------- attendances
    check_ins: list[datetime] = []
    for sid in order:
        if sid in future_sessions:
            continue
        start = starts[sid]
        show = rng.choice((0.35, 0.6, 0.8, 0.95))
        walk_in = rng.uniform(0.0, 0.15)
        for who in people:
            if who in live[sid]:
                came = rng.random() < show * (0.5 + engagement[who])
            else:
                came = rng.random() < walk_in * (0.5 + engagement[who])
            if not came:
                continue
            minutes = rng.choice((0, rng.randint(-20, -1), rng.randint(1, 45)))
            if rng.random() < 0.03:  # entered afterwards from the paper sheet
                minutes = rng.randint(120, 3 * 24 * 60)
            at = start + timedelta(minutes=minutes, seconds=rng.choice((0, 0, 17, 17.25)))
            check_ins.append(at)
            w.add("attendances", sid, who, rng.choice(("online", "in_person")), w.ts(at))

    # ---------------------------------------------------------------- proposals and reactions
    moments: dict[str, list[datetime]] = {"comment": [], "vote": [], "perception": []}
    last_held = max((starts[s] for s in order if s not in future_sessions), default=BASE)
    span = (last_held - BASE).total_seconds() + 40 * 86400
    loud = rng.sample(people, min(len(people), rng.randint(1, 3)))
    official = [p for p in people if kinds[p] in ("manager", "elected")]
    officials_talk = rng.random() < 0.3

    def author() -> str:
        r = rng.random()
        if officials_talk and official and r < 0.6:
            return rng.choice(official)
        if r < 0.35:
            return rng.choice(loud)
        return rng.choice(people)

    proposal_count = rng.randint(0, max(2, size * 2 // 3))
    proposals: list[tuple[str, datetime | None, str, datetime | None]] = []
    pr_numbers = rng.sample(range(1, 999), proposal_count)
    for number_ in pr_numbers:
        prid = f"pr{number_}"
        state = rng.choice(STATES)
        published: datetime | None = BASE + timedelta(seconds=rng.uniform(-5, 1) * 86400
                                                      + rng.random() * span)
        if rng.random() < 0.7:
            published = _second(published)
        if (state == "draft" and rng.random() < 0.6
                or state == "withdrawn" and rng.random() < 0.3):
            published = None
        answered = None
        if published is not None:
            chance = {"accepted": 1.0, "rejected": 1.0, "evaluating": 0.3, "published": 0.15,
                      "withdrawn": 0.2, "draft": 0.0}[state]
            if rng.random() < chance:
                r = rng.random()
                if r < 0.12:
                    delay = timedelta(days=30)
                elif r < 0.15:
                    delay = timedelta(days=30, seconds=1)
                elif r < 0.18:  # a platform's own timestamps carry microseconds
                    delay = timedelta(days=30, microseconds=rng.choice((1, 400, 999)))
                else:
                    delay = timedelta(seconds=rng.randint(3600, 120 * 86400))
                answered = published + delay
        rationale = ""
        if state == "rejected":
            rationale = rng.choices(("", "   ", "\t\n", "\u202f", "\u3000\u2003",
                                     "Not within the town's powers.",
                                     "Déjà prévu au budget 2027, voir la délibération."),
                                    weights=(3, 1, 0.5, 0.5, 0.5, 3, 2.5))[0]
        elif answered is not None and rng.random() < 0.5:
            rationale = "Answered in the session minutes."
        session = rng.choice(order) if order and rng.random() < 0.7 else ""
        w.add("proposals", prid, pid, session, author(), f"Proposal {prid}",
              w.opt_ts(published), state, w.opt_ts(answered), rationale)
        proposals.append((prid, published, state, answered))

    for index in range(rng.randint(0, size * 3) if proposals else 0):
        prid, published, _state, _answered = rng.choice(proposals)
        if published is None or rng.random() < 0.05:
            created = BASE + timedelta(seconds=rng.random() * span)
        else:
            created = published + timedelta(seconds=rng.uniform(60, 60 * 86400))
        moments["comment"].append(_second(created))
        w.add("comments", f"c{index + 1}", prid, author(), w.ts(_second(created)))

    voted: set[tuple[str, str]] = set()
    for _ in range(rng.randint(0, size * 4) if proposals else 0):
        prid, published, _state, _answered = rng.choice(proposals)
        who = rng.choice(people)
        if (prid, who) in voted:
            continue
        voted.add((prid, who))
        if published is None or rng.random() < 0.05:
            cast = BASE + timedelta(seconds=rng.random() * span)
        else:
            cast = published + timedelta(seconds=rng.uniform(60, 40 * 86400))
        moments["vote"].append(_second(cast))
        w.add("votes", prid, who, rng.choice((1, -1)), w.ts(_second(cast)))

    # ---------------------------------------------------------------- perceptions
    drift = {(v, g): rng.choice((-2, -1, -1, 0, 1, 1, 2)) for v in values
             for g in ("internal", "external")}
    answered_keys: set[tuple[str, str, str, datetime]] = set()

    def perceive(who: str, value: str, wave: str, score: int, at: datetime) -> None:
        at = _second(at)
        if (who, value, wave, at) in answered_keys:
            return
        answered_keys.add((who, value, wave, at))
        moments["perception"].append(at)
        session = rng.choice(order) if order and rng.random() < 0.5 else ""
        w.add("perceptions", who, pid, value, wave, session, min(5, max(1, score)), w.ts(at))

    final_at = last_held + timedelta(days=1)
    respond = rng.uniform(0.4, 0.95)
    for who in people:
        if rng.random() > respond:
            continue
        group = "internal" if kinds[who] in ("manager", "elected") else "external"
        for value in values:
            base_score = rng.randint(2, 4)
            if rng.random() < 0.85:
                perceive(who, value, "baseline", rng.randint(1, 5),
                         BASE + timedelta(days=rng.uniform(0, 8)))
                # A second, later baseline answer: the latest one counts.
                perceive(who, value, "baseline", base_score,
                         BASE + timedelta(days=rng.uniform(8, 20)))
            if rng.random() < 0.3:
                perceive(who, value, "session", rng.randint(1, 5),
                         BASE + timedelta(days=rng.uniform(0, 60)))
            if rng.random() < 0.7:
                first = final_at + timedelta(days=rng.uniform(-30, 30))
                perceive(who, value, "final", rng.randint(1, 5), first)
                perceive(who, value, "final",
                         base_score + drift[(value, group)] + rng.choice((-1, 0, 0, 0, 1)),
                         first + timedelta(days=rng.uniform(0.01, 20)))

    w.write(folder)

    # ---------------------------------------------------------------- instants
    package = GeneratedPackage(folder=folder, seed=seed, size=size)
    held_starts = sorted({starts[s] for s in order if s not in future_sessions})
    first = min(starts.values(), default=BASE + timedelta(days=5))
    package.instants.append(("before", first - timedelta(hours=rng.uniform(1, 72))))
    boundary = _boundary(rng, seed, held_starts, cancel_times, check_ins, proposals, moments)
    package.instants.append(boundary)
    if len(held_starts) >= 2 and seed % 2:
        k = rng.randint(1, len(held_starts) - 1)
        middle = held_starts[k - 1] + (held_starts[k] - held_starts[k - 1]) / 2
        package.instants.append(("between", _second(middle)))
    package.instants.append(("late", last_held + timedelta(days=rng.uniform(20, 130))))
    return package


def _boundary(rng: random.Random, seed: int, held_starts: list[datetime],
              cancel_times: list[datetime], check_ins: list[datetime],
              proposals: list[tuple[str, datetime | None, str, datetime | None]],
              moments: dict[str, list[datetime]]) -> tuple[str, datetime]:
    """An instant exactly on some timestamp of the package, where `<= T` matters."""
    answered = [a for _p, _pub, _s, a in proposals if a is not None]
    published = [pub for _p, pub, _s, _a in proposals if pub is not None]
    choices = [
        ("session-start", held_starts),
        # At a held session's start, "cancelled at or before T" decides whether a registration
        # of a held session is live; elsewhere it matters for invited pairs (uptake).
        ("cancellation", [c for c in cancel_times if c in held_starts] or cancel_times),
        ("check-in", check_ins),
        ("answer", answered),
        ("published+30d", [p + timedelta(days=30) for p in published]),
        ("published+90d", [p + timedelta(days=90) for p in published]),
        ("published", published),
        ("comment", moments["comment"]),
        ("vote", moments["vote"]),
        ("perception", moments["perception"]),
    ]
    label, moments = choices[seed % len(choices)]
    if not moments:
        label, moments = next(((lbl, m) for lbl, m in choices if m),
                              ("fixed", [BASE + timedelta(days=40)]))
    return f"at-{label}", rng.choice(sorted(moments))


# ---------------------------------------------------------------- figures exactly on thresholds

def threshold_package(folder: Path) -> GeneratedPackage:
    """A hand-built package whose figures sit exactly on the flags' thresholds (in exact
    arithmetic; floating point lands a hair to either side), so that "compared as reported,
    rounded to 6 decimals", strict and non-strict comparisons and minimum counts all decide.

    At T = `late`: d1/c1 ratio 0.5 (warning, not alert), d2/c1 0.8 (nothing), d3/c1 2.0
    (warning, not alert), d4/c1 1.25 (nothing); retention 0.3 (warning, not alert); a session
    with exactly 10 registrations and 30 % no-shows (nothing); 10 contributors, top tenth 0.5
    and internal share 0.5 of 18 contributions (nothing); proposals published exactly 90 and
    30 days before T; answers exactly 30 days (and 30 days and 1 us) after publication; a
    rationale of narrow no-break spaces; an association invited as such to the last two held
    sessions without a member there; perception deltas of exactly +0.5 and -0.5 over 6 people;
    d5/c1 expects exactly 5 attendees (4.999999999999999 in floating point) and has none.
    """
    rng = random.Random(0)  # offsets and row order only
    w = _Writer(rng)
    start = datetime(2026, 2, 2, 18, 0, tzinfo=UTC)
    k1, k2, k3 = start, start + timedelta(days=14), start + timedelta(days=28)
    late = start + timedelta(days=60)
    pid = "thresholds"
    w.add("processes", pid, "Thresholds", "", "", "", "")
    for code in ("trust", "legitimacy"):
        w.add("public_values", code, code.title(), "")
    strata = {
        "d1": {"c1": 0.3, "c2": 0.35, "c3": 0.35},
        "d2": {"c1": 0.5, "c2": 0.41, "c3": 0.09},
        "d3": {"c1": 0.34, "c2": 0.55, "c3": 0.11},
        "d4": {"c1": 0.55, "c2": 0.34, "c3": 0.11},
        # Summed in category order, 0.06 + 0.08 + 0.1 = 0.24000000000000002: 20 known
        # attendees expect 4.999999999999999 of c1, reported (and compared) as 5.
        "d5": {"c1": 0.06, "c2": 0.08, "c3": 0.1},
    }
    for dimension, shares in strata.items():
        for category, share in shares.items():
            w.add("strata", pid, dimension, category, repr(share))
    for a in ("A1", "A2", "A3"):
        w.add("associations", a, f"Association {a}")
    externals = [f"e{i}" for i in range(1, 33)]
    internals = [f"i{i}" for i in range(1, 9)]
    for who in externals:
        w.add("participants", who, "citizen", "", "")
    for index, who in enumerate(internals):
        w.add("participants", who, ("manager", "elected")[index % 2], "", "")
    w.add("participants", "m1", "association", "A1", "")
    w.add("participants", "m2", "association", "A2", "")  # attends k3; no demographics
    # Known categories: d1 and d2 for e1..e20, d3 for e1..e25, d4 for all 32.
    plan = {
        "d1": ["c1"] * 3 + ["c2"] * 9 + ["c3"] * 8 + ["unknown"] * 4,
        "d2": ["c1"] * 8 + ["c2"] * 10 + ["c3"] * 2,
        "d3": ["c1"] * 17 + ["c2"] * 8 + ["C1"] * 2,
        "d4": ["c1"] * 22 + ["c2"] * 10,
        "d5": ["c2"] * 8 + ["c3"] * 12,
    }
    for dimension, categories in plan.items():
        for who, category in zip(externals, categories, strict=False):
            w.add("participant_attributes", who, dimension, category)
    for sid, at in (("k1", k1), ("k2", k2), ("k3", k3)):
        w.add("sessions", sid, pid, f"Session {sid}", "in_person", w.ts(at), "", "")

    def attend(sid: str, who: str, at: datetime) -> None:
        w.add("attendances", sid, who, "in_person", w.ts(at))

    for who in externals[:10]:  # the first held session: exactly 10
        attend("k1", who, k1 - timedelta(minutes=5))
    for who in externals[:10]:  # exactly 10 live registrations for k2, 3 no-shows
        w.add("invitations", "k2", who, "", w.ts(k2 - timedelta(days=7)))
        w.add("registrations", "k2", who, w.ts(k2 - timedelta(days=5)), "")
    w.add("registrations", "k2", "e11", w.ts(k2 - timedelta(days=5)), w.ts(k2))  # not live
    for who in externals[3:10]:
        attend("k2", who, k2)
    for who in externals[:3]:  # retention 3 / 10
        attend("k3", who, k3)
    for who in externals[10:]:
        attend("k3", who, k3 - timedelta(minutes=5))
    attend("k3", "m2", k3 + timedelta(seconds=1))
    for sid, at in (("k2", k2), ("k3", k3)):
        w.add("invitations", sid, "", "A1", w.ts(at - timedelta(days=10)))
    for sid, at in (("k1", k1), ("k2", k2), ("k3", k3)):
        w.add("invitations", sid, "", "A2", w.ts(at - timedelta(days=10)))
    w.add("invitations", "k3", "", "A3", w.ts(k3 - timedelta(days=10)))
    w.add("invitations", "k2", "", "A3", w.ts(late + timedelta(seconds=1)))  # after T

    # 9 proposals of one official, 9 comments of 9 residents: 18 contributions.
    early = start + timedelta(days=1)
    proposals = [
        ("q1", late - timedelta(days=90), "published", None, ""),
        ("q2", late - timedelta(days=30), "evaluating", None, ""),
        ("q3", early, "rejected", early + timedelta(days=3), "\u202f\u202f"),
        ("q4", early, "rejected", early + timedelta(days=4), "Outside the town's powers."),
        ("q5", early, "accepted", early + timedelta(days=30), "Done."),
        ("q6", early, "accepted", early + timedelta(days=30, microseconds=1), "Done."),
        ("q7", early, "evaluating", late, ""),
        ("q8", early, "published", late + timedelta(microseconds=1), ""),
        ("q9", late, "published", None, ""),
    ]
    for prid, published, state, answered, rationale in proposals:
        w.add("proposals", prid, pid, "", "i1", f"Proposal {prid}", w.ts(published), state,
              w.opt_ts(answered), rationale)
    for index, who in enumerate(externals[:9]):
        w.add("comments", f"c{index}", "q3", who, w.ts(early + timedelta(hours=index + 1)))
    w.add("comments", "c-late", "q3", "e30", w.ts(late + timedelta(seconds=1)))
    w.add("votes", "q4", "e31", "1", w.ts(late))

    def perceive(who: str, value: str, baseline: int, final: int) -> None:
        w.add("perceptions", who, pid, value, "baseline", "", baseline,
              w.ts(start - timedelta(days=1)))
        w.add("perceptions", who, pid, value, "final", "", final, w.ts(k3 + timedelta(days=1)))

    for who, final in zip(internals[:6], (4, 4, 4, 3, 3, 3), strict=True):
        perceive(who, "trust", 3, final)  # +0.5 over 6
    for who, final in zip(externals[:6], (2, 2, 2, 3, 3, 3), strict=True):
        perceive(who, "trust", 3, final)  # -0.5 over 6
    for who, final in zip(externals[:5], (2, 2, 2, 3, 3), strict=True):
        perceive(who, "legitimacy", 3, final)  # -0.6 over 5
    w.write(folder)
    package = GeneratedPackage(folder=folder, seed=0, size=len(externals) + len(internals) + 2)
    package.instants = [("before", k1 - timedelta(hours=1)), ("at-session-start", k3),
                        ("late", late)]
    return package
