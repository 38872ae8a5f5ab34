"""The pseudonymised microdata package (issue 11): valid (acceptance 1), complete enough that
importing it gives the same indicators and flags (acceptance 3), and free of names, e-mails and
free-text answers."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pvplatform.core.csv_safe import neutralise, restore
from pvplatform.db import utcnow
from pvplatform.evaluation import microdata as microdata_module
from pvplatform.evaluation.microdata import HIDDEN_TITLE, write_microdata_package
from pvplatform.extensions import db as _db
from pvplatform.feedback.models import Perception, PublicValue, PulseComment
from pvplatform.indicators import compute_flags, compute_indicators
from pvplatform.indicators.present import flag_records, indicator_records
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import AttendanceSnapshot, ParticipantAttribute, Stratum
from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote
from pvplatform.sessions.models import Attendance, AttendanceMode, Registration
from tests.conftest import wipe_database
from tests.examples import EXAMPLES, INSTANTS, TINY


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def session_instants(package: Path) -> list[datetime]:
    """Before any session, between the second and third, after the last, 30 and 90 days
    later, and the instants of the example's expected files."""
    sessions = read(package / "sessions.csv")
    starts = sorted(datetime.fromisoformat(s["starts_at"]) for s in sessions)
    ends = [datetime.fromisoformat(s["ends_at"] or s["starts_at"]) for s in sessions]
    after = max(ends) + timedelta(hours=1)
    return [starts[0] - timedelta(days=1), starts[1] + (starts[2] - starts[1]) / 2, after,
            after + timedelta(days=30), after + timedelta(days=90),
            *(datetime.fromisoformat(t) for t in INSTANTS[package])]


def figures(process_id: int, instants: list[datetime]) -> list[tuple[list, list]]:
    return [(indicator_records(compute_indicators(process_id, at)),
             flag_records(compute_flags(process_id, at))) for at in instants]


def reimport(path: Path) -> int:
    """Into an empty database: the package alone must carry everything."""
    wipe_database()
    process = import_package(path.parent, now=utcnow())
    _db.session.commit()
    return process.id


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_round_trip_gives_the_same_indicators_and_flags(db, tmp_path, name):
    import frictionless

    package = EXAMPLES[name]
    process = import_package(package, now=utcnow())
    _db.session.commit()
    instants = session_instants(package)
    before = figures(process.id, instants)
    path = write_microdata_package(process.id, tmp_path / "micro")
    report = frictionless.validate(str(path))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]
    for table in ("participants", "votes", "perceptions", "attendances", "sessions"):
        assert len(read(path.parent / f"{table}.csv")) == len(read(package / f"{table}.csv"))
    # Drafts are their authors' own: only what was published leaves.
    published = [p["id"] for p in read(package / "proposals.csv") if p["published_at"]]
    assert [p["id"] for p in read(path.parent / "proposals.csv")] == published
    after = figures(reimport(path), instants)
    for at, (rows_before, flags_before), (rows_after, flags_after) in zip(
            instants, before, after, strict=True):
        assert rows_after == rows_before, at
        assert flags_after == flags_before, at
    assert any(flags for _rows, flags in before)


@pytest.mark.parametrize(("name", "when"), [
    ("tiny-process", "2026-03-01T00:00:00+00:00"),
    ("edge-process", "2026-02-21T17:40:00+01:00"),
    ("pulse-process", "2026-04-26T00:00:00+00:00"),
])
def test_an_export_as_of_an_instant_gives_that_instant(db, tmp_path, name, when):
    package = EXAMPLES[name]
    at = datetime.fromisoformat(when)
    process = import_package(package, now=utcnow())
    _db.session.commit()
    before = figures(process.id, [at])
    path = write_microdata_package(process.id, tmp_path / "micro", as_of=at)
    for file in path.parent.glob("*.csv"):
        if file.name == "sessions.csv":
            continue  # the calendar is a plan, known before it happens
        for row in read(file):
            for column, value in row.items():
                if column.endswith("_at") and value:
                    assert datetime.fromisoformat(value) <= at, (file.name, row)
    proposals = read(path.parent / "proposals.csv")
    assert all(datetime.fromisoformat(p["published_at"]) <= at for p in proposals)
    assert all(p["answer_rationale"] == "" for p in proposals if not p["answered_at"])
    assert figures(reimport(path), [at]) == before


# ---------------------------------------------------------------- privacy


@pytest.fixture
def live_process(db, factory):
    """A process run on the platform: accounts with names and e-mails, free texts everywhere."""
    process = factory.process()
    for category in ("18-29", "30-44"):
        _db.session.add(Stratum(process_id=process.id, dimension="age", category=category,
                                population_share=0.5))
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=3))
    value = PublicValue(process_id=process.id, code="trust", name="Confiance")
    _db.session.add(value)
    people = []
    for i in range(3):
        user = factory.user("citizen", email=f"secret.person{i}@mail.example",
                            name=f"Zorglub Namesake{i}")
        person = factory.participant(user)
        people.append(person)
        # The first one changed their answer after attending: the engine reads the snapshot.
        _db.session.add(ParticipantAttribute(participant_id=person.id, dimension="age",
                                             category="30-44" if i == 0 else "18-29"))
        _db.session.add(Registration(meeting_id=meeting.id, participant_id=person.id,
                                     registered_at=utcnow() - timedelta(days=5)))
    walk_in = factory.participant(name="Walkin Uniquename")
    attended = Attendance(meeting_id=meeting.id, participant_id=people[0].id,
                          mode=AttendanceMode.IN_PERSON, checked_in_at=utcnow() - timedelta(days=3))
    _db.session.add(attended)
    _db.session.flush()
    _db.session.add(AttendanceSnapshot(attendance_id=attended.id, dimension="age",
                                       category="18-29"))
    _db.session.add(Attendance(meeting_id=meeting.id, participant_id=walk_in.id,
                               mode=AttendanceMode.IN_PERSON, walk_in=True,
                               checked_in_at=utcnow() - timedelta(days=3)))
    now = utcnow()
    published = Proposal(process_id=process.id, author_id=people[0].id, title="Plus de bancs",
                         body="Body text Qwertyprivate", state=ProposalState.REJECTED,
                         published_at=now - timedelta(days=2), answered_at=now - timedelta(days=1),
                         answer_rationale="Budget insuffisant cette année.")
    hidden = Proposal(process_id=process.id, author_id=people[1].id,
                      title="Insult about Zorglub", state=ProposalState.PUBLISHED,
                      published_at=now - timedelta(days=2), hidden_at=now)
    draft = Proposal(process_id=process.id, author_id=people[2].id, title="Draft Secretidea",
                     state=ProposalState.DRAFT)
    _db.session.add_all([published, hidden, draft])
    _db.session.flush()
    _db.session.add(Comment(proposal_id=published.id, author_id=people[1].id,
                            body="Comment Asdfghprivate", created_at=now - timedelta(hours=5)))
    _db.session.add(Vote(proposal_id=published.id, participant_id=people[2].id, value=-1,
                         cast_at=now - timedelta(hours=4)))
    _db.session.add(Perception(participant_id=people[0].id, public_value_id=value.id,
                               wave="baseline", score=4, answered_at=now - timedelta(days=4)))
    _db.session.add(PulseComment(meeting_id=meeting.id, participant_id=people[0].id,
                                 text="Pulse Zxcvbprivate", written_at=now))
    _db.session.add(AbsenceRequest(meeting_id=meeting.id, participant_id=people[2].id,
                                   kind=AbsenceKind.NO_SHOW, answered_at=now,
                                   reason=AbsenceReason.OTHER, other_text="Absence Poiuyprivate"))
    _db.session.commit()
    return process


def package_text(path: Path) -> str:
    return "\n".join(f.read_text(encoding="utf-8") for f in sorted(path.parent.iterdir()))


def test_no_name_email_or_free_text_leaves_the_platform(db, tmp_path, live_process, monkeypatch):
    import frictionless

    from pvplatform.auth.models import User

    key = bytes(range(32))
    monkeypatch.setattr(microdata_module.secrets, "token_bytes", lambda n: key[:n])
    path = write_microdata_package(live_process.id, tmp_path / "micro")
    text = package_text(path)
    for user in _db.session.scalars(sa.select(User)):
        assert user.email not in text and user.display_name not in text
    for secret in ("Walkin Uniquename", "Qwertyprivate", "Asdfghprivate", "Zxcvbprivate",
                   "Poiuyprivate", "Secretidea", "Zorglub", "@mail.example", key.hex()):
        assert secret not in text, secret
    assert "Plus de bancs" in text and "Budget insuffisant cette année." in text
    proposals = read(path.parent / "proposals.csv")
    assert sorted(p["title"] for p in proposals) == sorted([HIDDEN_TITLE, "Plus de bancs"])
    participants = read(path.parent / "participants.csv")
    assert len(participants) == 4  # the three accounts and the walk-in
    assert all(len(p["id"]) == 25 and p["id"].startswith("p") for p in participants)
    attributes = read(path.parent / "participant_attributes.csv")
    assert sorted(a["category"] for a in attributes) == ["18-29"] * 3
    report = frictionless.validate(str(path))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_pseudonyms_change_from_one_export_to_the_next(db, tmp_path, live_process):
    first = read(write_microdata_package(live_process.id, tmp_path / "a").parent
                 / "participants.csv")
    second = read(write_microdata_package(live_process.id, tmp_path / "b").parent
                  / "participants.csv")
    assert len(first) == len(second) == 4
    assert not {p["id"] for p in first} & {p["id"] for p in second}
    votes = read(tmp_path / "a" / "votes.csv")
    assert votes[0]["participant_id"] in {p["id"] for p in first}
    assert votes[0]["value"] == "-1"  # a number, not neutralised text


def test_as_of_empties_what_came_later(db, tmp_path, live_process):
    at = utcnow() - timedelta(days=1, hours=12)  # after publication, before the answer
    path = write_microdata_package(live_process.id, tmp_path / "m", as_of=at)
    proposals = {p["title"]: p for p in read(path.parent / "proposals.csv")}
    assert proposals["Plus de bancs"]["state"] == "published"
    assert proposals["Plus de bancs"]["answered_at"] == ""
    assert proposals["Plus de bancs"]["answer_rationale"] == ""
    assert read(path.parent / "comments.csv") == []
    assert read(path.parent / "votes.csv") == []
    assert len(read(path.parent / "perceptions.csv")) == 1


def test_progress_follows_every_table(db, tmp_path, live_process):
    calls: list[tuple[str, int]] = []
    advanced: dict[str, int] = {}

    class Progress:
        def start(self, phase: str, total: int) -> None:
            calls.append((phase, total))
            advanced[phase] = 0

        def advance(self, count: int) -> None:
            advanced[calls[-1][0]] += count

    path = write_microdata_package(live_process.id, tmp_path / "m", progress=Progress())
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert [c[0] for c in calls] == [r["name"] for r in descriptor["resources"]]
    for phase, total in calls:
        assert advanced[phase] == total == len(read(path.parent / f"{phase}.csv"))


def test_unknown_process_is_not_found(db, tmp_path):
    from pvplatform.errors import NotFound

    with pytest.raises(NotFound):
        write_microdata_package(999, tmp_path / "m")


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", "'=x",
                                  "''+y", "'", "plain", "l'eau", "'quoted'", "18-29", ""])
def test_neutralised_text_is_restored_exactly(text):
    assert restore(neutralise(text)) == text
    assert not str(neutralise(text)).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_the_importer_restores_what_the_export_neutralised(db, tmp_path):
    import shutil

    package = tmp_path / "pkg"
    shutil.copytree(TINY, package)
    strata = (package / "strata.csv").read_text(encoding="utf-8")
    (package / "strata.csv").write_text(strata.replace(",east,", ",'+east,"), encoding="utf-8")
    attributes = (package / "participant_attributes.csv").read_text(encoding="utf-8")
    (package / "participant_attributes.csv").write_text(
        attributes.replace(",east\n", ",'+east\n"), encoding="utf-8")
    process = import_package(package, now=utcnow())
    _db.session.commit()
    categories = set(_db.session.scalars(sa.select(Stratum.category).where(
        Stratum.process_id == process.id)))
    assert "+east" in categories and "'+east" not in categories
