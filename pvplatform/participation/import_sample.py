"""A generated, valid process data package of any size: for tests and import benchmarks.

The figures are random but shaped like real processes (uneven demographics, a few loud
contributors, no-shows, walk-ins, cancelled registrations, officials who speak longer, session
pulses and a few "don't know" answers); the same seed gives the same package.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pvplatform.participation.import_schema import TABLES, descriptor

TOWN = timezone(timedelta(hours=1))
DIMENSIONS = {
    "age_band": (("18-29", 0.19, 0.5), ("30-44", 0.24, 0.8), ("45-59", 0.25, 1.0),
                 ("60-74", 0.20, 1.8), ("75+", 0.12, 1.2)),
    "gender": (("woman", 0.52, 1.0), ("man", 0.47, 1.0), ("other", 0.01, 0.5)),
    "district": (("centre", 0.30, 1.5), ("north", 0.25, 1.0), ("south", 0.25, 1.0),
                 ("east", 0.20, 0.4)),
    "housing": (("owner", 0.45, 1.6), ("renter", 0.40, 0.7), ("social_housing", 0.15, 0.2)),
}
VALUES = ("inclusiveness", "transparency", "responsiveness", "trust", "effectiveness",
          "legitimacy")
STATES = ("published", "evaluating", "accepted", "rejected", "withdrawn", "draft")


def _ts(value: datetime) -> str:
    return value.astimezone(TOWN).isoformat(timespec="seconds")


def _ts_exact(value: datetime) -> str:
    return value.astimezone(TOWN).isoformat(timespec="microseconds")


def write_sample_package(directory: Path, *, participants: int = 150, sessions: int = 6,
                         seed: int = 1,
                         start: datetime = datetime(2026, 1, 10, 17, 0, tzinfo=TOWN)
                         ) -> dict[str, int]:
    """Writes the package into `directory` (created if needed); returns rows per table."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[list[object]]] = {spec.name: [] for spec in TABLES}

    rows["processes"].append(["proc1", "Agenda 2030 locale", "Villeneuve", 48000, "2026-01-01",
                              "2026-12-31"])
    rows["public_values"] = [[code, code.title(), ""] for code in VALUES]
    for dimension, categories in DIMENSIONS.items():
        for category, share, _bias in categories:
            rows["strata"].append(["proc1", dimension, category, share])

    n_associations = max(2, participants // 200)
    rows["associations"] = [[f"a{i}", f"Association {i}"] for i in range(1, n_associations + 1)]
    kinds = []
    for i in range(1, participants + 1):
        draw = rng.random()
        kind = ("citizen" if draw < 0.85 else "association" if draw < 0.93
                else "manager" if draw < 0.97 else "elected")
        kinds.append(kind)
        association = f"a{rng.randint(1, n_associations)}" if kind == "association" else ""
        created = start - timedelta(days=rng.randint(5, 60))
        rows["participants"].append([f"p{i}", kind, association, _ts(created)])
        for dimension, categories in DIMENSIONS.items():
            if rng.random() < 0.2:
                continue  # not answered: unknown
            if rng.random() < 0.03:
                rows["participant_attributes"].append([f"p{i}", dimension, "prefer_not_to_say"])
                continue
            weights = [share * bias for _c, share, bias in categories]
            category = rng.choices([c for c, _s, _b in categories], weights)[0]
            rows["participant_attributes"].append([f"p{i}", dimension, category])

    session_starts = [start + timedelta(days=21 * k) for k in range(sessions)]
    for k, starts in enumerate(session_starts, start=1):
        rows["sessions"].append([f"s{k}", "proc1", f"Atelier {k}",
                                 ("hybrid", "in_person", "online")[k % 3], _ts(starts),
                                 _ts(starts + timedelta(hours=2)), ""])
        for a in range(1, n_associations + 1):
            rows["invitations"].append([f"s{k}", "", f"a{a}", _ts(starts - timedelta(days=10))])

    attended: set[tuple[int, int]] = set()
    # Interest decays over the sessions, as in real processes.
    for i in range(1, participants + 1):
        for k in rng.sample(range(1, sessions + 1), min(sessions, 2)):
            starts = session_starts[k - 1]
            rows["invitations"].append([f"s{k}", f"p{i}", "", _ts(starts - timedelta(days=14))])
            if rng.random() > 0.6 * (1 - 0.05 * k):
                continue
            registered = starts - timedelta(days=rng.randint(1, 12), hours=rng.randint(0, 23))
            cancelled = ""
            if rng.random() < 0.1:
                cancelled = _ts(registered + timedelta(hours=rng.randint(1, 48)))
            rows["registrations"].append([f"s{k}", f"p{i}", _ts(registered), cancelled])
            if not cancelled and rng.random() < 0.75:
                attended.add((k, i))
    for _ in range(participants // 20):  # walk-ins
        attended.add((rng.randint(1, sessions), rng.randint(1, participants)))
    for k, i in sorted(attended):
        check_in = session_starts[k - 1] + timedelta(minutes=rng.randint(-10, 15))
        rows["attendances"].append([f"s{k}", f"p{i}", rng.choice(("online", "in_person")),
                                    _ts(check_in)])
        # Some attendees take the floor, officials for longer; a person's turns follow each
        # other (no overlap), fractions of a second included.
        if rng.random() < 0.3:
            internal = kinds[i - 1] in ("manager", "elected")
            at = session_starts[k - 1] + timedelta(minutes=rng.randint(0, 60))
            for _turn in range(rng.randint(1, 3)):
                seconds = rng.uniform(60, 420) if internal else rng.uniform(15, 150)
                ended = at + timedelta(seconds=round(seconds, 2))
                rows["speaking_turns"].append([f"s{k}", f"p{i}", _ts_exact(at),
                                               _ts_exact(ended)])
                at = ended + timedelta(minutes=rng.randint(1, 20))
        # A short pulse about the session, "don't know" now and then.
        if rng.random() < 0.25:
            answered = session_starts[k - 1] + timedelta(hours=2, minutes=rng.randint(0, 600))
            for code in VALUES[:3]:
                score = "" if rng.random() < 0.08 else rng.randint(1, 5)
                rows["perceptions"].append([f"p{i}", "proc1", code, "session", f"s{k}", score,
                                            _ts(answered)])

    # A few loud voices: authors drawn with a heavy tail.
    loud = max(3, participants // 50)

    def author() -> int:
        return rng.randint(1, loud) if rng.random() < 0.4 else rng.randint(1, participants)

    n_proposals = participants // 30 + 3
    published_at: dict[int, datetime] = {}
    for j in range(1, n_proposals + 1):
        k = rng.randint(1, sessions)
        state = rng.choices(STATES, (30, 20, 15, 15, 5, 5))[0]
        published = session_starts[k - 1] + timedelta(hours=1, minutes=rng.randint(0, 59))
        published_value = "" if state == "draft" else _ts(published)
        answered = rationale = ""
        if state in ("evaluating", "accepted", "rejected") and rng.random() < 0.7:
            answered = _ts(published + timedelta(days=rng.randint(3, 80)))
            if rng.random() < 0.8:
                rationale = "Réponse argumentée de la commune."
        if state != "draft":
            published_at[j] = published
        rows["proposals"].append([f"pr{j}", "proc1", f"s{k}", f"p{author()}",
                                  f"Proposition {j}", published_value, state, answered,
                                  rationale])
    public = sorted(published_at)
    for c in range(1, participants // 2 + 1):
        j = rng.choice(public)
        when = published_at[j] + timedelta(days=rng.randint(0, 40),
                                           minutes=rng.randint(0, 900))
        rows["comments"].append([f"c{c}", f"pr{j}", f"p{author()}", _ts(when)])
    voted: set[tuple[int, int]] = set()
    for _ in range(participants * 3 // 2):
        j, i = rng.choice(public), rng.randint(1, participants)
        if (j, i) in voted:
            continue
        voted.add((j, i))
        when = published_at[j] + timedelta(days=rng.randint(0, 30),
                                           minutes=rng.randint(0, 900))
        rows["votes"].append([f"pr{j}", f"p{i}", rng.choice((1, 1, 1, -1)), _ts(when)])

    final_day = session_starts[-1] + timedelta(hours=2)
    for i in range(1, participants + 1):
        if rng.random() > 0.4:
            continue
        internal = kinds[i - 1] in ("manager", "elected")
        has_final = rng.random() < 0.6
        for code in VALUES:
            baseline = "" if rng.random() < 0.05 else rng.randint(1, 5)  # "don't know"
            rows["perceptions"].append([f"p{i}", "proc1", code, "baseline", "s1", baseline,
                                        _ts(start + timedelta(hours=2))])
            if has_final:
                drift = rng.choice((0, 0, 1)) if internal else rng.choice((0, -1, -1, 1))
                final = min(5, max(1, (baseline or 3) + drift))
                rows["perceptions"].append([f"p{i}", "proc1", code, "final",
                                            f"s{sessions}", final, _ts(final_day)])

    for spec in TABLES:
        with (directory / f"{spec.name}.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(spec.column_names)
            writer.writerows(rows[spec.name])
    (directory / "datapackage.json").write_text(json.dumps(descriptor(), indent=1),
                                                encoding="utf-8")
    return {name: len(table) for name, table in rows.items()}
