"""A hand-built package whose counts of people sit on k-1, k and k+1 (k = 5) in every family of
the dashboard, for the suppression test (tests/test_dashboard_boundaries.py).

At any instant after `LAST_HELD` (the dashboard's present), with k = 5:
- funnel: sessions invite 4, 5 and 6 people and register the same; walk-ins 40, 6 and 1;
  a future session has 12 invited and 4 registered;
- representativeness: external attendees of "age" are 4 (young), 5 (adult), 6 (senior) and 25
  (older) against shares 0.35, 0.35, 0.1, 0.2 (young and adult strongly under-represented with
  evidence: the young count is small, the adult one hidden with it); "home" has 6 renters
  against half of the town (a flag whose count may be shown); 4 internal attendees;
- online: 4 residents who only voted;
- non-participation: an association invited to the last two held sessions, none of its
  members came; retention 11 of 44;
- voice: 6 contributors, 8 contributions (1 by an official), 600 s of speech;
- responsiveness: 6 asked proposals, 4 answered, 2 rejections without reasons, 2 unanswered for
  over 90 days;
- perceived value: "trust" matched for 4 officials (improved) and 6 residents (worsened: an
  erosion), "legitimacy" matched for 5 residents; session pulses from 4 and 6 people.
Session titles and names carry no digit, so that any digit on a page is a figure.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.package_generator import _Writer

K = 5
START = datetime(2026, 6, 10, 17, 0, tzinfo=UTC)
S1, S2, S3 = START, START + timedelta(days=14), START + timedelta(days=28)
LAST_HELD = S3
FUTURE = datetime(2027, 6, 10, 17, 0, tzinfo=UTC)
PUBLISHED = START + timedelta(days=35)


def boundary_package(folder: Path) -> Path:
    w = _Writer(random.Random(7))
    pid = "boundaries"
    w.add("processes", pid, "Agenda des quartiers", "Villebourg", "10000", "", "")
    w.add("public_values", "trust", "Confiance", "")
    w.add("public_values", "legitimacy", "Légitimité", "")
    for dimension, shares in (("age", {"young": 0.35, "adult": 0.35, "senior": 0.1,
                                       "older": 0.2}),
                              ("home", {"renter": 0.5, "owner": 0.5})):
        for category, share in shares.items():
            w.add("strata", pid, dimension, category, repr(share))
    w.add("associations", "assoc", "Amicale des jardins")

    externals = [f"e{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(44)]  # no digits
    internals = ["officiala", "officialb", "officialc", "officiald"]
    for who in externals:
        w.add("participants", who, "citizen", "", "")
    for who in internals:
        w.add("participants", who, "manager", "", "")
    w.add("participants", "member", "association", "assoc", "")
    ages = ["young"] * 4 + ["adult"] * 5 + ["senior"] * 6 + ["older"] * 25 + ["young"] * 4
    for index, (who, age) in enumerate(zip(externals, ages, strict=True)):
        w.add("participant_attributes", who, "age", age)
        w.add("participant_attributes", who, "home", "renter" if index < 6 else "owner")

    sessions = (("atelier", S1, "Atelier des quartiers"), ("forum", S2, "Forum du centre"),
                ("marche", S3, "Marche exploratoire"), ("bilan", FUTURE, "Bilan public"))
    for sid, at, title in sessions:
        w.add("sessions", sid, pid, title, "in_person", w.ts(at), "", "")

    def invite_and_register(sid: str, at: datetime, invited: list[str],
                            registered: list[str]) -> None:
        for who in invited:
            w.add("invitations", sid, who, "", w.ts(at - timedelta(days=7)))
        for who in registered:
            w.add("registrations", sid, who, w.ts(at - timedelta(days=5)), "")

    def attend(sid: str, at: datetime, people: list[str]) -> None:
        for who in people:
            w.add("attendances", sid, who, "in_person", w.ts(at - timedelta(minutes=5)))

    invite_and_register("atelier", S1, externals[:4], externals[:4])
    attend("atelier", S1, externals[:40] + internals)
    invite_and_register("forum", S2, externals[:5], externals[:5])
    attend("forum", S2, externals[:3] + externals[5:11])
    invite_and_register("marche", S3, externals[:6], externals[:6])
    attend("marche", S3, externals[:7])
    invite_and_register("bilan", FUTURE, externals[:12], externals[:4])
    for sid, at in (("forum", S2), ("marche", S3)):
        w.add("invitations", sid, "", "assoc", w.ts(at - timedelta(days=10)))

    answered = PUBLISHED + timedelta(days=5)
    proposals = (("pa", externals[0], "accepted", answered, "Fait."),
                 ("pb", externals[0], "rejected", answered, ""),
                 ("pc", externals[0], "rejected", answered, ""),
                 ("pd", internals[0], "rejected", answered, "Hors des compétences."),
                 ("pe", externals[1], "published", None, ""),
                 ("pf", externals[1], "published", None, ""))
    for prid, author, state, at, rationale in proposals:
        w.add("proposals", prid, pid, "", author, f"Proposition {prid}", w.ts(PUBLISHED), state,
              w.opt_ts(at), rationale)
    for index, who in enumerate(externals[2:5]):
        w.add("comments", f"c{chr(97 + index)}", "pa", who,
              w.ts(PUBLISHED + timedelta(hours=index + 1)))
    for who in externals[40:]:
        w.add("votes", "pa", who, "1", w.ts(PUBLISHED + timedelta(days=1)))

    w.add("speaking_turns", "atelier", internals[0], w.ts(S1 + timedelta(minutes=5)),
          w.ts(S1 + timedelta(minutes=5, seconds=400)))
    w.add("speaking_turns", "atelier", externals[0], w.ts(S1 + timedelta(minutes=15)),
          w.ts(S1 + timedelta(minutes=15, seconds=200)))

    def perceive(who: str, value: str, baseline: int, final: int) -> None:
        w.add("perceptions", who, pid, value, "baseline", "", baseline,
              w.ts(START - timedelta(days=1)))
        w.add("perceptions", who, pid, value, "final", "", final,
              w.ts(S3 + timedelta(days=1)))

    for who in internals:
        perceive(who, "trust", 3, 4)
    for who in externals[:6]:
        perceive(who, "trust", 4, 2)
    for who in externals[:5]:
        perceive(who, "legitimacy", 2, 1)
    for sid, at, people in (("forum", S2, externals[:4]), ("marche", S3, externals[:6])):
        for who in people:
            w.add("perceptions", who, pid, "trust", "session", sid, 3,
                  w.ts(at + timedelta(hours=3)))
    w.write(folder)
    return folder
