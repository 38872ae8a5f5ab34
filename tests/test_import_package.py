"""Importing a process data package (DATA.md): whole, twice, and refused when broken."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from pvplatform.db import utcnow
from pvplatform.feedback.models import Perception, PublicValue
from pvplatform.participation.demographics import dimensions_of
from pvplatform.participation.importer import PackageInvalid, import_package
from pvplatform.participation.models import (
    AttendanceSnapshot,
    Dimension,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Comment, Proposal, Vote
from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration
from tests.examples import TINY

TABLE_MODELS = {
    "processes": Process,
    "public_values": PublicValue,
    "strata": Stratum,
    "participants": Participant,
    "participant_attributes": ParticipantAttribute,
    "sessions": Meeting,
    "invitations": Invitation,
    "registrations": Registration,
    "attendances": Attendance,
    "proposals": Proposal,
    "comments": Comment,
    "votes": Vote,
    "perceptions": Perception,
}


@pytest.fixture(autouse=True)
def english(db):
    # Reasons are checked in English, whatever the site's default language.
    with force_locale("en"):
        yield


def csv_rows(name: str, root: Path = TINY) -> int:
    with (root / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def all_counts(db) -> dict[str, int]:
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


def test_tiny_package_gives_exact_row_counts(db):
    from pvplatform.auth.models import Association

    process = import_package(TINY, now=utcnow())
    db.session.commit()
    assert process.external_ref == "proc1"
    assert process.title == "Agenda 2030 locale"
    assert process.population == 48000
    for name, model in TABLE_MODELS.items():
        assert count(db, model) == csv_rows(name), name
    assert count(db, Association) == csv_rows("associations")
    # One snapshot per attendance and known attribute of the attendee.
    with (TINY / "participant_attributes.csv").open(encoding="utf-8") as f:
        per_person: dict[str, int] = {}
        for row in csv.DictReader(f):
            per_person[row["participant_id"]] = per_person.get(row["participant_id"], 0) + 1
    with (TINY / "attendances.csv").open(encoding="utf-8") as f:
        expected = sum(per_person.get(row["participant_id"], 0) for row in csv.DictReader(f))
    assert count(db, AttendanceSnapshot) == expected


def test_import_maps_ids_and_keeps_values(db):
    process = import_package(TINY, now=utcnow())
    db.session.commit()
    session = db.session.scalar(sa.select(Meeting).where(Meeting.external_ref == "s1",
                                                         Meeting.process_id == process.id))
    assert session is not None and session.title == "Atelier 1"
    # 2026-01-10T17:00:00+01:00 is stored in UTC.
    assert session.starts_at.isoformat() == "2026-01-10T16:00:00+00:00"
    author = db.session.scalar(sa.select(Participant).where(Participant.external_ref == "p119"))
    pr1 = db.session.scalar(sa.select(Proposal).where(Proposal.external_ref == "pr1"))
    assert pr1.author_id == author.id and pr1.meeting_id == session.id
    assert pr1.state == "rejected" and pr1.answer_rationale is None
    member = db.session.scalar(sa.select(Participant).where(Participant.external_ref == "p2"))
    assert member.association.external_ref == "a4"
    codes = set(db.session.scalars(sa.select(PublicValue.code)
                                   .where(PublicValue.process_id == process.id)))
    assert "legitimacy" in codes and len(codes) == 6


def test_walk_ins_are_marked(db, tmp_path):
    package = copy_package(tmp_path)
    # p150 has no registration for s1: arriving anyway makes a walk-in.
    append_row(package, "attendances", ["s1", "p150", "in_person", "2026-01-10T17:05:00+01:00"])
    process = import_package(package, now=utcnow())
    walk_in = db.session.scalar(
        sa.select(Attendance).join(Participant, Participant.id == Attendance.participant_id)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Participant.external_ref == "p150", Meeting.external_ref == "s1",
               Meeting.process_id == process.id))
    assert walk_in.walk_in is True
    registered = db.session.scalar(
        sa.select(Attendance).join(Participant, Participant.id == Attendance.participant_id)
        .where(Participant.external_ref == "p2").order_by(Attendance.id).limit(1))
    assert registered.walk_in is False


def test_imported_strata_become_dimensions_staff_can_edit(db):
    process = import_package(TINY, now=utcnow())
    db.session.commit()
    with (TINY / "strata.csv").open(encoding="utf-8") as f:
        codes = list(dict.fromkeys(row["dimension"] for row in csv.DictReader(f)))
    rows = db.session.scalars(sa.select(Dimension).where(Dimension.process_id == process.id)
                              .order_by(Dimension.position)).all()
    assert [(d.code, d.label) for d in rows] == [(code, code) for code in codes]
    # Every dimension on the staff page has its row, with every category of the package.
    views = dimensions_of(process)
    assert all(v.dimension is not None for v in views)
    assert sum(len(v.categories) for v in views) == csv_rows("strata")


def test_importing_twice_gives_two_independent_processes(db):
    first = import_package(TINY, now=utcnow())
    second = import_package(TINY, now=utcnow())
    db.session.commit()
    assert first.id != second.id
    assert count(db, Process) == 2
    assert count(db, Participant) == 2 * csv_rows("participants")
    for process in (first, second):
        people = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(Attendance.participant_id)))
            .join(Meeting, Meeting.id == Attendance.meeting_id)
            .where(Meeting.process_id == process.id))
        assert people > 0
    # No attendance of one process points at a participant of the other.
    crossing = db.session.scalar(
        sa.select(sa.func.count()).select_from(Attendance)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(Vote, Vote.participant_id == Attendance.participant_id)
        .join(Proposal, Proposal.id == Vote.proposal_id)
        .where(Proposal.process_id != Meeting.process_id))
    assert crossing == 0


def test_import_command_prints_the_new_process_id(db, runner):
    result = runner.invoke(args=["pv", "import", str(TINY)])
    assert result.exit_code == 0, result.output
    process_id = int(result.stdout.strip().splitlines()[-1])
    assert db.session.get(Process, process_id).external_ref == "proc1"


# ---------------------------------------------------------------- broken packages

def copy_package(tmp_path: Path) -> Path:
    target = tmp_path / "package"
    shutil.copytree(TINY, target, ignore=shutil.ignore_patterns("expected"))
    return target


def append_row(package: Path, table: str, row: list[str]) -> int:
    """Appends a row; returns its line number."""
    path = package / f"{table}.csv"
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + ",".join(row) + "\n", encoding="utf-8")
    return text.count("\n") + 1


def replace_in_line(package: Path, table: str, line: int, old: str, new: str) -> None:
    path = package / f"{table}.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    assert old in lines[line - 1], (table, line, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("\n".join(lines), encoding="utf-8")


def first_line(table: str) -> str:
    return (TINY / f"{table}.csv").read_text(encoding="utf-8").split("\n")[1]


def vote_for_unknown_proposal(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "votes", ["pr999", "p1", "1", "2026-02-01T10:00:00+01:00"])
    return "votes", line, "pr999"


def duplicate_vote(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "votes", first_line("votes").split(","))
    return "votes", line, "second vote"


def naive_timestamp(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "attendances", 2, "2026-01-10T17:03:00+01:00", "2026-01-10T17:03:00")
    return "attendances", 2, "no UTC offset"


def unknown_kind(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "participants", 2, "citizen", "resident")
    return "participants", 2, "resident"


def missing_required_column(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "attendances", 1, "mode", "modus")
    return "attendances", 1, "mode"


def invitation_with_both(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "invitations", 2, "s1,,a1", "s1,p1,a1")
    return "invitations", 2, "exactly one"


def invitation_with_neither(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "invitations", 2, "s1,,a1", "s1,,")
    return "invitations", 2, "exactly one"


def non_utf8_file(p: Path) -> tuple[str, int, str]:
    path = p / "proposals.csv"
    data = path.read_bytes().replace(b"Proposition 3,", b"Propositi\xe9 3,", 1)
    path.write_bytes(data)
    return "proposals", 4, "UTF-8"


def share_not_a_number(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "strata", 2, "0.19", "19%")
    return "strata", 2, "not a number"


def repeated_stratum(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "strata", ["proc1", "age_band", "18-29", "0.1"])
    return "strata", line, "second row"


def repeated_attribute(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "participant_attributes", ["p1", "gender", "woman"])
    return "participant_attributes", line, "second answer"


def repeated_perception(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "perceptions", first_line("perceptions").split(","))
    return "perceptions", line, "same instant"


def shares_summing_to_zero(p: Path) -> tuple[str, int, str]:
    for line in (7, 8, 9):
        path = p / "strata.csv"
        lines = path.read_text(encoding="utf-8").split("\n")
        parts = lines[line - 1].split(",")
        assert parts[1] == "gender"
        parts[3] = "0"
        lines[line - 1] = ",".join(parts)
        path.write_text("\n".join(lines), encoding="utf-8")
    return "strata", 7, "sum to 0"


def negative_share(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "strata", 2, "0.19", "-0.19")
    return "strata", 2, "below the minimum"


def second_process(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "processes", ["proc2", "Another", "", "", "", ""])
    return "processes", line, "exactly one process"


def no_process(p: Path) -> tuple[str, int, str]:
    (p / "processes.csv").write_text("id,title,municipality,population,starts_on,ends_on\n",
                                     encoding="utf-8")
    return "processes", 1, "no process"


def missing_required_value(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "sessions", 2, "Atelier 1", "")
    return "sessions", 2, "required"


def score_out_of_range(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "perceptions", 2, ",s1,1,", ",s1,6,")
    return "perceptions", 2, "not one of"


def comment_on_unknown_proposal(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "comments", ["c999", "pr999", "p1", "2026-02-01T10:00:00+01:00"])
    return "comments", line, "pr999"


def unknown_public_value(p: Path) -> tuple[str, int, str]:
    replace_in_line(p, "perceptions", 2, "inclusiveness", "happiness")
    return "perceptions", 2, "happiness"


def wrong_number_of_fields(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "votes", ["pr1", "p1"])
    return "votes", line, "fields"


def resource_outside_the_folder(p: Path) -> tuple[str, int, str]:
    path = p / "datapackage.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"votes.csv"', '"../votes.csv"'),
                    encoding="utf-8")
    return "datapackage.json", 0, "inside the package folder"


BROKEN: list[Callable[[Path], tuple[str, int, str]]] = [
    vote_for_unknown_proposal, duplicate_vote, naive_timestamp, unknown_kind,
    missing_required_column, invitation_with_both, invitation_with_neither, non_utf8_file,
    share_not_a_number, repeated_stratum, repeated_attribute, repeated_perception,
    shares_summing_to_zero, negative_share, second_process, no_process, missing_required_value,
    score_out_of_range, comment_on_unknown_proposal, unknown_public_value,
    wrong_number_of_fields, resource_outside_the_folder,
]


@pytest.mark.parametrize("breakage", BROKEN, ids=[b.__name__ for b in BROKEN])
def test_broken_package_is_refused_and_nothing_stored(db, tmp_path, breakage):
    assert_refused(db, copy_package(tmp_path), breakage)


def assert_refused(db, package: Path, breakage: Callable[[Path], tuple[str, int, str]]) -> None:
    """The broken package is refused with the table, line and reason, and nothing is stored."""
    table, line, fragment = breakage(package)
    before = all_counts(db)
    with pytest.raises(PackageInvalid) as caught:
        import_package(package, now=utcnow())
    db.session.rollback()
    errors = caught.value.errors
    assert any(e.table == table and e.line == line and fragment in str(e) for e in errors), [
        str(e) for e in errors]
    assert all_counts(db) == before


def test_naive_timestamp_message_names_file_line_and_column(db, tmp_path):
    package = copy_package(tmp_path)
    naive_timestamp(package)
    with pytest.raises(PackageInvalid) as caught:
        import_package(package, now=utcnow())
    (error,) = caught.value.errors
    assert error.column == "checked_in_at"
    text = str(error)
    assert "attendances.csv" in text and "line 2" in text and "checked_in_at" in text


def test_every_error_of_a_package_is_reported(db, tmp_path):
    package = copy_package(tmp_path)
    vote_for_unknown_proposal(package)
    unknown_kind(package)
    naive_timestamp(package)
    with pytest.raises(PackageInvalid) as caught:
        import_package(package, now=utcnow())
    assert {e.table for e in caught.value.errors} == {"votes", "participants", "attendances"}


def test_import_command_lists_errors_and_exits_non_zero(db, runner, tmp_path):
    package = copy_package(tmp_path)
    vote_for_unknown_proposal(package)
    before = all_counts(db)
    result = runner.invoke(args=["pv", "import", str(package)])
    assert result.exit_code != 0
    assert "votes.csv, line 576" in result.output and "pr999" in result.output
    assert all_counts(db) == before


def test_a_folder_without_descriptor_is_refused(db, tmp_path):
    with pytest.raises(PackageInvalid) as caught:
        import_package(tmp_path, now=utcnow())
    assert caught.value.errors[0].table == "datapackage.json"


def test_generated_package_imports(db, tmp_path):
    from pvplatform.participation.import_sample import write_sample_package

    counts = write_sample_package(tmp_path / "sample", participants=300, sessions=5, seed=3)
    process = import_package(tmp_path / "sample", now=utcnow())
    assert count(db, Participant) == counts["participants"]
    assert count(db, Vote) == counts["votes"]
    assert count(db, Perception) == counts["perceptions"]
    assert process.external_ref == "proc1"


def test_an_unreadable_file_is_reported_once_not_in_every_reference(db, tmp_path):
    package = copy_package(tmp_path)
    non_utf8_file(package)
    with pytest.raises(PackageInvalid) as caught:
        import_package(package, now=utcnow())
    assert [(e.table, e.line) for e in caught.value.errors] == [("proposals", 4)]


# ---------------------------------------------------------------- contract version 2 tables

def test_dont_know_pulses_and_speaking_turns_are_imported(db):
    from pvplatform.sessions.models import SpeakingTurn
    from tests.examples import EDGE

    process = import_package(EDGE, now=utcnow())
    db.session.commit()
    assert count(db, SpeakingTurn) == csv_rows("speaking_turns", EDGE)
    assert count(db, Perception) == csv_rows("perceptions", EDGE)
    with (EDGE / "perceptions.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    dont_know = sum(1 for r in rows if r["score"] == "")
    pulses = sum(1 for r in rows if r["wave"] == "session")
    assert dont_know and pulses
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Perception).where(
        Perception.score.is_(None))) == dont_know
    # A pulse keeps the session it is about; the baseline and final waves have none.
    by_wave = dict(db.session.execute(
        sa.select(Perception.wave, sa.func.count(Perception.meeting_id))
        .group_by(Perception.wave)).all())
    assert by_wave == {"baseline": 0, "final": 0, "session": pulses}
    turn = db.session.scalars(sa.select(SpeakingTurn).order_by(SpeakingTurn.id)).first()
    assert turn.meeting.process_id == process.id
    assert (turn.ended_at - turn.started_at).total_seconds() == 38.25


def copy_edge(tmp_path: Path) -> Path:
    from tests.examples import EDGE

    target = tmp_path / "edge"
    shutil.copytree(EDGE, target, ignore=shutil.ignore_patterns("expected"))
    return target


def session_wave_without_session(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "perceptions", ["p2", "proc1", "trust", "session", "", "4",
                                         "2026-01-10T19:30:00+01:00"])
    return "perceptions", line, "must name the session"


def turn_ending_before_it_starts(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "speaking_turns", ["s1", "p2", "2026-01-10T18:00:00+01:00",
                                            "2026-01-10T17:59:00+01:00"])
    return "speaking_turns", line, "ends before it starts"


def overlapping_turns(p: Path) -> tuple[str, int, str]:
    append_row(p, "speaking_turns", ["s1", "p2", "2026-01-10T18:30:00+01:00",
                                     "2026-01-10T18:32:00+01:00"])
    line = append_row(p, "speaking_turns", ["s1", "p2", "2026-01-10T18:31:00+01:00",
                                            "2026-01-10T18:33:00+01:00"])
    return "speaking_turns", line, "overlaps"


def turn_of_unknown_participant(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "speaking_turns", ["s1", "p99999", "2026-01-10T18:30:00+01:00",
                                            "2026-01-10T18:32:00+01:00"])
    return "speaking_turns", line, "p99999"


def repeated_pulse(p: Path) -> tuple[str, int, str]:
    line = append_row(p, "perceptions", ["p2", "proc1", "trust", "session", "s1", "4",
                                         "2026-01-10T19:30:00+01:00"])
    line = append_row(p, "perceptions", ["p2", "proc1", "trust", "session", "s1", "",
                                         "2026-01-10T19:30:00+01:00"])
    return "perceptions", line, "same instant"


BROKEN_V2: list[Callable[[Path], tuple[str, int, str]]] = [
    session_wave_without_session, turn_ending_before_it_starts, overlapping_turns,
    turn_of_unknown_participant, repeated_pulse,
]


@pytest.mark.parametrize("breakage", BROKEN_V2, ids=[b.__name__ for b in BROKEN_V2])
def test_broken_v2_rows_are_refused_with_table_line_and_reason(db, tmp_path, breakage):
    assert_refused(db, copy_edge(tmp_path), breakage)


def test_pulses_about_two_sessions_at_one_instant_are_two_answers(db, tmp_path):
    package = copy_edge(tmp_path)
    for session in ("s1", "s2"):
        append_row(package, "perceptions", ["p2", "proc1", "trust", "session", session, "4",
                                            "2026-03-30T19:30:00+02:00"])
    import_package(package, now=utcnow())
    db.session.commit()
