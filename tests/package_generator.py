"""Random but valid process data packages (DATA.md), for checking the indicator engine.

`generate_package(folder, seed)` writes one package and returns the instants worth computing it
at. Everything comes from `random.Random(seed)`: a seed always gives the same package. The
shapes are chosen to reach the corners of INDICATORS.md (version 2): every kind, associations
with and without members, invitations to people and to associations (some repeated, some sent
at or after the session's start, which do not count), registrations cancelled before, at or
after their session's start (a cancellation from the start on leaves a no-show) or after an
instant, and taken again, walk-ins, check-ins before, at and after a session's start, sessions
in the future, sessions starting at the same instant (their id string order decides), strata
whose shares do not sum to 1 (one may be 0, with people in it), unknown and missing categories,
a population that may be unknown or 0, proposals in every state answered before or after an
instant (some exactly 30 days after publication), blank rationales, speaking turns (of people
who did not attend, still running at an instant, officials who hold the floor; the table may be
absent or empty), perceptions with "don't know" (empty) scores, several answers per key (the
latest counts, a later "don't know" replacing a score), final-wave respondents who only said
"don't know", session pulses with their session_id, changes strong enough for the sign test
(duality, erosion, weak values weakening) at some seeds, timestamps in several offsets; and, for
the larger packages, enough attendees, registrations and contributors for each flag's threshold.

`threshold_package(folder)` is hand-built so that figures sit exactly on the default thresholds;
`on_threshold_overrides(folder, at)` gives threshold overrides that put a package's own reported
figures exactly on alpha, weak_below, weak_delta... (and a hair beside them).

The package is written from DATA.md's table list below, not from the platform's import schema,
so that the generator stays independent of the code it checks.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

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

# DATA.md's tables: (column, Table Schema type, required), in DATA.md's order.
_TEXT, _TIME, _INT = "string", "datetime", "integer"
TABLES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "processes": (("id", _TEXT, True), ("title", _TEXT, True), ("municipality", _TEXT, False),
                  ("population", _INT, False), ("starts_on", "date", False),
                  ("ends_on", "date", False)),
    "public_values": (("code", _TEXT, True), ("name", _TEXT, True),
                      ("description", _TEXT, False)),
    "strata": (("process_id", _TEXT, True), ("dimension", _TEXT, True),
               ("category", _TEXT, True), ("population_share", "number", True)),
    "associations": (("id", _TEXT, True), ("name", _TEXT, True)),
    "participants": (("id", _TEXT, True), ("kind", _TEXT, True),
                     ("association_id", _TEXT, False), ("created_at", _TIME, False)),
    "participant_attributes": (("participant_id", _TEXT, True), ("dimension", _TEXT, True),
                               ("category", _TEXT, True)),
    "sessions": (("id", _TEXT, True), ("process_id", _TEXT, True), ("title", _TEXT, True),
                 ("format", _TEXT, True), ("starts_at", _TIME, True), ("ends_at", _TIME, False),
                 ("capacity", _INT, False)),
    "invitations": (("session_id", _TEXT, True), ("participant_id", _TEXT, False),
                    ("association_id", _TEXT, False), ("invited_at", _TIME, True)),
    "registrations": (("session_id", _TEXT, True), ("participant_id", _TEXT, True),
                      ("registered_at", _TIME, True), ("cancelled_at", _TIME, False)),
    "attendances": (("session_id", _TEXT, True), ("participant_id", _TEXT, True),
                    ("mode", _TEXT, True), ("checked_in_at", _TIME, True)),
    "proposals": (("id", _TEXT, True), ("process_id", _TEXT, True), ("session_id", _TEXT, False),
                  ("author_id", _TEXT, True), ("title", _TEXT, True),
                  ("published_at", _TIME, False), ("state", _TEXT, True),
                  ("answered_at", _TIME, False), ("answer_rationale", _TEXT, False)),
    "comments": (("id", _TEXT, True), ("proposal_id", _TEXT, True), ("author_id", _TEXT, True),
                 ("created_at", _TIME, True)),
    "votes": (("proposal_id", _TEXT, True), ("participant_id", _TEXT, True),
              ("value", _INT, True), ("cast_at", _TIME, True)),
    "perceptions": (("participant_id", _TEXT, True), ("process_id", _TEXT, True),
                    ("public_value", _TEXT, True), ("wave", _TEXT, True),
                    ("session_id", _TEXT, False), ("score", _INT, False),
                    ("answered_at", _TIME, True)),
    "speaking_turns": (("session_id", _TEXT, True), ("participant_id", _TEXT, True),
                       ("started_at", _TIME, True), ("ended_at", _TIME, True)),
}
ENUMS: dict[tuple[str, str], list[object]] = {
    ("participants", "kind"): ["citizen", "association", "manager", "elected"],
    ("sessions", "format"): ["online", "in_person", "hybrid"],
    ("attendances", "mode"): ["online", "in_person"],
    ("proposals", "state"): ["draft", "published", "evaluating", "accepted", "rejected",
                             "withdrawn"],
    ("votes", "value"): [1, -1],
    ("perceptions", "wave"): ["baseline", "session", "final"],
    ("perceptions", "score"): [1, 2, 3, 4, 5],
}


def descriptor(tables: list[str]) -> dict[str, object]:
    """datapackage.json for the tables written (DATA.md: one resource per table)."""
    resources = []
    for name in tables:
        fields = []
        for column, kind, required in TABLES[name]:
            entry: dict[str, object] = {"name": column, "type": kind}
            constraints: dict[str, object] = {}
            if required:
                constraints["required"] = True
            if (name, column) in ENUMS:
                constraints["enum"] = ENUMS[(name, column)]
            if constraints:
                entry["constraints"] = constraints
            fields.append(entry)
        resources.append({"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "encoding": "utf-8", "schema": {"fields": fields}})
    return {"name": "pv-process", "resources": resources}


@dataclass
class GeneratedPackage:
    folder: Path
    seed: int
    size: int
    instants: list[tuple[str, datetime]] = field(default_factory=list)


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tables: dict[str, list[list[str]]] = {name: [] for name in TABLES}
        self.absent: set[str] = set()  # tables left out of the package (speaking_turns may be)

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
        assert len(cells) == len(TABLES[table]), table
        self.tables[table].append(["" if c is None else str(c) for c in cells])

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        written = [name for name in TABLES if name not in self.absent]
        (folder / "datapackage.json").write_text(json.dumps(descriptor(written), indent=1),
                                                 encoding="utf-8")
        for name in written:
            rows = self.tables[name]
            if name not in ("processes", "sessions", "participants"):
                self.rng.shuffle(rows)  # file order must not matter
            with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow([column for column, _kind, _required in TABLES[name]])
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
    # The population may be unknown or 0: reach_per_1000 is then null.
    population = rng.choices((rng.randint(1000, 90000), "", 0), weights=(70, 15, 15))[0]
    w.add("processes", pid, f"Process {seed}", "Villeneuve", population,
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
        if rng.random() < 0.35:  # a census category nobody lives in (people may answer it)
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
    cancelled_late: dict[str, set[str]] = {}
    cancel_times: list[datetime] = []
    for sid in order:
        start = starts[sid]
        invite_share = rng.uniform(0.2, 0.8)
        invited[sid] = set()
        for who in people:
            if rng.random() < invite_share:
                at = _second(start - timedelta(days=rng.uniform(0.5, 20)))
                late_invite = rng.random()
                if late_invite < 0.05:  # invited after the start (a late follow-up): no pair
                    at = _second(start + timedelta(days=rng.uniform(0.1, 10)))
                elif late_invite < 0.08:  # exactly at the start: not before it, no pair
                    at = start
                elif late_invite < 0.1:  # a second before: a pair
                    at = start - timedelta(seconds=1)
                w.add("invitations", sid, who, "", w.ts(at))
                invited[sid].add(who)
                if rng.random() < 0.06:  # invited twice: one pair
                    w.add("invitations", sid, who, "", w.ts(at + timedelta(days=1)))
        for a in associations:
            if rng.random() < 0.7:
                at = _second(start - timedelta(days=rng.uniform(1, 15)))
                if rng.random() < 0.15:  # once the session started: not an invitation to it
                    at = rng.choice((start, _second(start + timedelta(days=rng.uniform(0.1, 5)))))
                w.add("invitations", sid, "", a, w.ts(at))
                if rng.random() < 0.15:  # invited twice as such: still one session
                    w.add("invitations", sid, "", a, w.ts(at - timedelta(days=2)))
        uptake = rng.uniform(0.3, 0.9)
        live[sid] = set()
        cancelled_late[sid] = set()
        for who in people:
            chance = uptake if who in invited[sid] else 0.12
            if big:
                chance = min(1.0, chance + 0.15)
            if rng.random() >= chance:
                continue
            registered = _second(start - timedelta(days=rng.uniform(0.2, 12)))
            cancelled = None
            if rng.random() < 0.2:
                pick = rng.random()
                if pick < 0.2:
                    cancelled = start  # exactly at the start: still a registration (a no-show)
                elif pick < 0.3:
                    cancelled = start - timedelta(seconds=1)  # just before: ended
                elif pick < 0.6:
                    cancelled = _second(registered + (start - registered) * rng.random())
                else:  # after the start: still a registration (a no-show)
                    cancelled = _second(start + timedelta(days=rng.uniform(0.01, 30)))
                if (sid not in future_sessions and abs(cancelled - start) <= timedelta(seconds=1)
                        or who in invited[sid]):
                    cancel_times.append(cancelled)  # where "cancelled at or before T" counts
            w.add("registrations", sid, who, w.ts(registered), w.opt_ts(cancelled))
            if cancelled is not None and rng.random() < 0.35:
                again = _second(cancelled + timedelta(hours=rng.uniform(0.5, 48)))
                w.add("registrations", sid, who, w.ts(again), "")
                live[sid].add(who)
            elif cancelled is None:
                live[sid].add(who)
            elif cancelled >= start:
                cancelled_late[sid].add(who)  # registered, but said they would not come

    # ---------------------------------------------------------------- attendances
    check_ins: list[datetime] = []
    came_to: dict[str, list[str]] = {}
    for sid in order:
        if sid in future_sessions:
            continue
        start = starts[sid]
        show = rng.choice((0.35, 0.6, 0.8, 0.95))
        walk_in = rng.uniform(0.0, 0.15)
        for who in people:
            if who in live[sid]:
                came = rng.random() < show * (0.5 + engagement[who])
            elif who in cancelled_late[sid]:
                came = rng.random() < 0.1
            else:
                came = rng.random() < walk_in * (0.5 + engagement[who])
            if not came:
                continue
            minutes = rng.choice((0, rng.randint(-20, -1), rng.randint(1, 45)))
            if rng.random() < 0.03:  # entered afterwards from the paper sheet
                minutes = rng.randint(120, 3 * 24 * 60)
            at = start + timedelta(minutes=minutes, seconds=rng.choice((0, 0, 17, 17.25)))
            check_ins.append(at)
            came_to.setdefault(sid, []).append(who)
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

    # ---------------------------------------------------------------- speaking turns
    internal_people = [p for p in people if kinds[p] in ("manager", "elected")]
    turn_style = rng.random()
    running: list[tuple[datetime, datetime]] = []  # (started, ended) of every turn
    if turn_style < 0.1:
        w.absent.add("speaking_turns")  # no turns recorded: the table may be absent
    elif turn_style >= 0.15:  # (else an empty table)
        officials_speak = rng.random() < 0.45
        for sid in order:
            if sid in future_sessions:
                continue
            present = list(came_to.get(sid, []))
            # Someone who did not check in (a guest expert, an official at the desk) may speak.
            absent = [p for p in people if p not in present]
            speakers = present + rng.sample(absent, min(len(absent), rng.choice((0, 0, 1, 2))))
            if not speakers:
                continue
            talking_officials = [p for p in speakers if p in internal_people]
            clock = starts[sid] + timedelta(minutes=rng.randint(1, 10))
            previous: tuple[str, datetime] | None = None
            for _turn in range(rng.randint(0, 6 + len(present))):
                if officials_speak and talking_officials and rng.random() < 0.5:
                    who = rng.choice(talking_officials)
                    seconds = rng.uniform(60, 420)
                else:
                    who = rng.choice(speakers)
                    seconds = rng.uniform(3, 150)
                if rng.random() < 0.5:  # whole seconds, else exact fractions of one
                    seconds = float(round(seconds))
                duration = timedelta(seconds=max(seconds, 1.0))
                started = clock
                if (previous is not None and previous[0] != who and rng.random() < 0.15
                        and clock - previous[1] > timedelta(seconds=2)):
                    # Talking over the previous speaker: turns of different people may
                    # overlap, never two turns of one person (clock is past every end so far).
                    started = previous[1] + (clock - previous[1]) / 2
                ended = started + duration
                w.add("speaking_turns", sid, who, w.ts(started), w.ts(ended))
                running.append((started, ended))
                previous = (who, started)
                clock = max(clock, ended) + timedelta(seconds=rng.choice((0, 0, 1.5, 5, 40)))

    # ---------------------------------------------------------------- perceptions
    drift = {(v, g): rng.choice((-2, -1, -1, 0, 1, 1, 2)) for v in values
             for g in ("internal", "external")}
    weak = {(v, g): False for v in values for g in ("internal", "external")}
    story = big and values and rng.random() < 0.7
    if story:  # changes the sign test can tell from chance
        dual = rng.choice(values)
        drift[(dual, "internal")], drift[(dual, "external")] = rng.choice(((1, -1), (2, -1),
                                                                          (1, -2), (-1, 1)))
        weakened = rng.choice(values)
        group = rng.choice(("internal", "external"))
        weak[(weakened, group)] = True
        drift[(weakened, group)] = rng.choice((-1, -1, -2))
    answered_keys: set[tuple[str, str, str, str, datetime]] = set()
    held_order = [s for s in order if s not in future_sessions]

    def perceive(who: str, value: str, wave: str, score: int | None, at: datetime,
                 session: str = "") -> None:
        at = _second(at)
        key = (who, value, wave, session if wave == "session" else "", at)
        if key in answered_keys:  # one answer per participant, value, wave (session), instant
            return
        answered_keys.add(key)
        moments["perception"].append(at)
        if wave != "session" and order and rng.random() < 0.3:
            session = rng.choice(order)  # ignored for baseline and final
        cell = "" if score is None else min(5, max(1, score))
        w.add("perceptions", who, pid, value, wave, session, cell, w.ts(at))

    def maybe_unknown(score: int, chance: float) -> int | None:
        return None if rng.random() < chance else score

    final_at = last_held + timedelta(days=1)
    respond = rng.uniform(0.4, 0.95)
    unsure = rng.choice((0.0, 0.05, 0.12))  # share of "don't know" answers
    only_unsure = set(rng.sample(people, min(len(people), rng.randint(0, 3))))
    for who in people:
        group = "internal" if kinds[who] in ("manager", "elected") else "external"
        keen = story and rng.random() < 0.9
        if not keen and rng.random() > respond:
            continue
        for value in values:
            weak_start = weak[(value, group)]  # already weak for them
            base_score = rng.choice((1, 2, 2, 3, 3)) if weak_start else rng.randint(2, 4)
            if keen or rng.random() < 0.85:
                if rng.random() < 0.8:
                    perceive(who, value, "baseline", maybe_unknown(rng.randint(1, 5), 0.2),
                             BASE + timedelta(days=rng.uniform(0, 8)))
                # A later baseline answer: the latest one counts ("don't know" included).
                perceive(who, value, "baseline", maybe_unknown(base_score, unsure),
                         BASE + timedelta(days=rng.uniform(8, 20)))
            for sid in held_order:  # pulses about a session, after it started
                if rng.random() >= (0.35 if who in came_to.get(sid, []) else 0.03):
                    continue
                at = starts[sid] + timedelta(hours=rng.uniform(0.5, 4))
                perceive(who, value, "session", maybe_unknown(rng.randint(1, 5), unsure), at,
                         sid)
                if rng.random() < 0.3:  # changed their mind later that day
                    perceive(who, value, "session", maybe_unknown(rng.randint(1, 5), 0.15),
                             at + timedelta(hours=rng.uniform(0.1, 5)), sid)
            if who in only_unsure:
                perceive(who, value, "final", None, final_at + timedelta(days=rng.uniform(0, 9)))
            elif keen or rng.random() < 0.7:
                first = final_at + timedelta(days=rng.uniform(-30, 30))
                if rng.random() < 0.6:
                    perceive(who, value, "final", maybe_unknown(rng.randint(1, 5), 0.2), first)
                score = base_score + drift[(value, group)]
                if not keen:
                    score += rng.choice((-1, 0, 0, 0, 1))
                perceive(who, value, "final", maybe_unknown(score, unsure),
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
    if running:  # during a turn (not counted yet), or exactly at a turn's end (counted)
        started, ended = rng.choice(running)
        if seed % 2 and ended - started > timedelta(seconds=2):
            package.instants.append(("during-turn", started + (ended - started) / 2))
        else:
            package.instants.append(("at-turn-end", ended))
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

    At T = `late`: d1/c1 ratio 0.5, d2/c1 0.8, d3/c1 2.0, d4/c1 1.25 (on the ratio thresholds;
    since version 2 only d3/c1 also has representation_p < alpha: a warning, not an alert);
    retention 0.3, k1's 10 attendees, 3 of them back at k3 only (warning, not alert); k2 with
    exactly 10 live registrations and 30 % no-shows (nothing; an 11th was cancelled a second
    before its start, and a k3 registration cancelled exactly at its start stays live); 10
    contributors, top tenth 0.5 and internal share 0.5 of 18 contributions (nothing); proposals
    published exactly 90 and 30 days before T; answers exactly 30 days (and 30 days and 1 us)
    after publication; a rationale of narrow no-break spaces; an association invited as such to
    the last two held sessions without a member there; d5/c1 expects exactly 5 attendees
    (4.999999999999999 in floating point) and has none. "trust" changes by exactly +0.5 for 12
    officials and -0.5 for 12 residents, 6 of each changing (sign test p = 0.03125 each: a
    duality, and an erosion exactly at -0.5), residents' baseline exactly 3.0 (not weak:
    weak_below is strict); "legitimacy" starts at 2.5 for 24 residents and changes by exactly
    -0.25 (weak_delta), 6 worsening (a weak value weakened); an official whose final answer,
    a "don't know", replaces a score; speaking turns of exactly 600 s at T (the minimum), half
    of them by officials who never attended (share exactly 0.5: nothing), with a residents'
    turn in k3 still running at `during-turn`; population unknown.
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
    internals = [f"i{i}" for i in range(1, 15)]
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
    for who in externals[10:20]:  # exactly 10 live registrations for k2, 3 no-shows
        w.add("invitations", "k2", who, "", w.ts(k2 - timedelta(days=7)))
        w.add("registrations", "k2", who, w.ts(k2 - timedelta(days=5)), "")
    # Cancelled a second before the start: not live. Cancelled at the start: still live (a
    # no-show if absent; e12 came to k3 all the same).
    w.add("registrations", "k2", "e21", w.ts(k2 - timedelta(days=5)),
          w.ts(k2 - timedelta(seconds=1)))
    w.add("registrations", "k3", "e12", w.ts(k3 - timedelta(days=5)), w.ts(k3))
    for who in externals[13:20]:
        attend("k2", who, k2)
    for who in externals[:3]:  # retention: 3 of k1's 10 came back (to k3 only)
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

    def perceive(who: str, value: str, baseline: int, final: int | None) -> None:
        w.add("perceptions", who, pid, value, "baseline", "", baseline,
              w.ts(start - timedelta(days=1)))
        w.add("perceptions", who, pid, value, "final", "", "" if final is None else final,
              w.ts(k3 + timedelta(days=1)))

    for index, who in enumerate(internals[:12]):
        perceive(who, "trust", 3, 4 if index < 6 else 3)  # +0.5 over 12, 6 improved
    for index, who in enumerate(externals[:12]):
        perceive(who, "trust", 3, 2 if index < 6 else 3)  # -0.5 over 12, 6 worsened
    for index, who in enumerate(externals[:24]):
        baseline = 2 if index % 2 else 3  # 2.5 over 24
        perceive(who, "legitimacy", baseline, baseline - 1 if index < 6 else baseline)
    # A later "don't know" replaces a score: respondent of the final wave, not matched.
    perceive(internals[12], "trust", 4, 5)
    w.add("perceptions", internals[12], pid, "trust", "final", "", "",
          w.ts(k3 + timedelta(days=2)))

    # Speaking: 600 s in all at T, 300 s of them by officials who never checked in.
    def turn(sid: str, who: str, started: datetime, seconds: float) -> None:
        w.add("speaking_turns", sid, who, w.ts(started),
              w.ts(started + timedelta(seconds=seconds)))

    turn("k1", "e1", k1 + timedelta(minutes=5), 120)
    turn("k1", "i2", k1 + timedelta(minutes=8), 200.5)
    turn("k2", "e2", k2 + timedelta(minutes=5), 150)
    turn("k2", "i3", k2 + timedelta(minutes=9), 99.5)
    turn("k3", "e3", k3 + timedelta(hours=1), 30)  # running at `during-turn`
    w.write(folder)
    package = GeneratedPackage(folder=folder, seed=0, size=len(externals) + len(internals) + 2)
    package.instants = [("before", k1 - timedelta(hours=1)), ("at-session-start", k3),
                        ("during-turn", k3 + timedelta(hours=1, seconds=10)),
                        ("late", late)]
    return package


# ---------------------------------------------------------------- thresholds on reported figures

@dataclass(frozen=True)
class OnThreshold:
    """Threshold overrides that put one of a package's reported figures exactly on a threshold
    (or a hair, 1e-6, to the other side), with what the contract then says of one flag row."""

    label: str
    overrides: dict[str, float]
    code: str
    keys: dict[str, str]
    raised: bool


def _r6(value: float) -> float:
    return round(value, 6) + 0.0


def on_threshold_overrides(folder: Path, at: datetime,
                           defaults: Mapping[str, float] | None = None) -> list[OnThreshold]:
    """Overrides (name -> value, the names of reference_indicators.DEFAULT_THRESHOLDS) that sit
    the package, at `at`, exactly on alpha (a representation_p, a perception_sign_p), on
    weak_below (a perception_baseline), weak_delta, eroding_delta and duality_delta (a
    perception_delta), each with its twin a hair to the other side. Strict comparisons ("<")
    then do not raise on the threshold, non-strict ones ("<=", ">=") do. Figures are taken from
    the reference's rows, as reported (rounded to 6 decimals)."""
    from tests.reference_indicators import DEFAULT_THRESHOLDS, figures, indicator_rows

    t = dict(defaults or DEFAULT_THRESHOLDS)
    rows = indicator_rows(folder, at)
    by_key = {(r["code"], r["dimension"], r["category"], r["group"], r["public_value"]): r
              for r in rows if not r["session_id"]}

    def row(code: str, dimension: str = "", category: str = "", group: str = "",
            value: str = "") -> dict:
        return by_key[(code, dimension, category, group, value)]

    out: list[OnThreshold] = []

    def pair(label: str, on: dict[str, float], past: dict[str, float], code: str,
             keys: dict[str, str], raised_on: bool) -> None:
        out.append(OnThreshold(f"{label} (on)", on, code, keys, raised_on))
        out.append(OnThreshold(f"{label} (past)", past, code, keys, not raised_on))

    # alpha on a representation_p, for a category beyond a ratio threshold.
    for (dimension, category), r in sorted(figures(folder, at).representation.items()):
        p_value, ratio = r["p"], r["ratio"]
        if (p_value is None or not 0 < p_value < 1 or ratio is None
                or r["A"] < t["representation_min_attendees"]
                or _r6(r["A"] * r["share"]) < t["representation_min_expected"]):
            continue
        if ratio < t["under_representation_warning"]:
            code = "under_representation"
        elif ratio > t["over_representation_warning"]:
            code = "over_representation"
        else:
            continue
        pair(f"alpha = representation_p {dimension}/{category}",
             {"alpha": p_value}, {"alpha": _r6(p_value + 1e-6)}, code,
             {"dimension": dimension, "category": category}, False)
        break

    # The perception family, on one group and value at a time.
    for r in rows:
        if r["code"] != "perception_delta" or r["value"] is None:
            continue
        group, value = r["group"], r["public_value"]
        keys = {"group": group, "public_value": value}
        delta, n = r["value"], r["n"]
        sign = row("perception_sign_p", group=group, value=value)["value"]
        baseline = row("perception_baseline", group=group, value=value)
        if sign is None or not 0 < sign < 1 or n < max(t["eroding_min_n"], t["weak_min_n"]):
            continue
        past_alpha = _r6(sign + 1e-6)
        if delta < 0 and not any(c.code == "value_eroding" for c in out):
            pair(f"alpha = perception_sign_p {group}/{value}",
                 {"alpha": sign, "eroding_delta": delta},
                 {"alpha": past_alpha, "eroding_delta": delta}, "value_eroding", keys, False)
            pair(f"eroding_delta = perception_delta {group}/{value}",
                 {"alpha": past_alpha, "eroding_delta": delta},
                 {"alpha": past_alpha, "eroding_delta": _r6(delta - 1e-6)},
                 "value_eroding", keys, True)
        if (delta < 0 and baseline["value"] is not None and baseline["n"] >= t["weak_min_n"]
                and not any(c.code == "weak_value_weakened" for c in out)):
            pair(f"weak_below = perception_baseline {group}/{value}",
                 {"alpha": past_alpha, "weak_delta": delta, "weak_below": baseline["value"]},
                 {"alpha": past_alpha, "weak_delta": delta,
                  "weak_below": _r6(baseline["value"] + 1e-6)},
                 "weak_value_weakened", keys, False)
            pair(f"weak_delta = perception_delta {group}/{value}",
                 {"alpha": past_alpha, "weak_delta": delta,
                  "weak_below": _r6(baseline["value"] + 1e-6)},
                 {"alpha": past_alpha, "weak_delta": _r6(delta - 1e-6),
                  "weak_below": _r6(baseline["value"] + 1e-6)},
                 "weak_value_weakened", keys, True)

    # duality_delta on the smaller |delta| of a value whose groups moved apart.
    for value in sorted({r["public_value"] for r in rows if r["code"] == "perception_delta"}):
        internal = row("perception_delta", group="internal", value=value)
        external = row("perception_delta", group="external", value=value)
        pi = row("perception_sign_p", group="internal", value=value)["value"]
        pe = row("perception_sign_p", group="external", value=value)["value"]
        di, de = internal["value"], external["value"]
        if (di is None or de is None or di == 0 or de == 0 or (di > 0) == (de > 0)
                or min(internal["n"], external["n"]) < t["duality_min_n"]
                or pi is None or pe is None or not (pi < 1 and pe < 1)):
            continue
        past_alpha = _r6(max(pi, pe) + 1e-6)
        smaller = min(abs(di), abs(de))
        pair(f"duality_delta = |perception_delta| {value}",
             {"alpha": past_alpha, "duality_delta": smaller},
             {"alpha": past_alpha, "duality_delta": _r6(smaller + 1e-6)},
             "value_duality", {"public_value": value}, True)
        pair(f"alpha = max perception_sign_p {value}",
             {"alpha": max(pi, pe), "duality_delta": smaller},
             {"alpha": past_alpha, "duality_delta": smaller},
             "value_duality", {"public_value": value}, False)
        break
    return out
