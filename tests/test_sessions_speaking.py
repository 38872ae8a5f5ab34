"""Speaking turns in the services: recorded from a session's attendance list, checked, deleted
with an audit row, and counted by the indicator engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.indicators import Group, compute_indicators
from pvplatform.indicators.models import FlagRecord
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.services import participant_for
from pvplatform.sessions import speaking
from pvplatform.sessions.models import Attendance, AttendanceMode, Meeting, SpeakingTurn


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@pytest.fixture(autouse=True)
def _request_context(app):
    # Error messages are translated: English here, the assertions read English text.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def attend(db, meeting: Meeting, participant) -> Attendance:
    attendance = Attendance(meeting_id=meeting.id, participant_id=participant.id,
                            mode=AttendanceMode.IN_PERSON, checked_in_at=meeting.starts_at)
    db.session.add(attendance)
    db.session.commit()
    return attendance


@pytest.fixture
def world(db, factory):
    process = factory.process()
    staff = factory.user("staff")
    now = utcnow()
    # Started an hour ago, ends in an hour.
    meeting = factory.meeting(process, starts_at=now - timedelta(hours=1), hours=2)
    official = participant_for(factory.user("elected", name="Élue Adjointe"))
    resident = factory.participant(factory.user("citizen", name="Camille Habitante"))
    attend(db, meeting, official)
    attend(db, meeting, resident)
    return {"process": process, "staff": staff, "meeting": meeting, "official": official,
            "resident": resident, "now": now}


def test_a_valid_turn_is_stored_with_who_recorded_it(db, world):
    meeting, staff, now = world["meeting"], world["staff"], world["now"]
    start = meeting.starts_at + timedelta(minutes=10)
    turn = speaking.record_turn(meeting, world["resident"], start, start + timedelta(seconds=95),
                                by=staff, now=now)
    db.session.commit()
    stored = db.session.get(SpeakingTurn, turn.id)
    assert stored.participant_id == world["resident"].id
    assert stored.meeting_id == meeting.id
    assert stored.started_at == start
    assert stored.ended_at == start + timedelta(seconds=95)
    assert stored.recorded_by_id == staff.id
    assert speaking.turn_seconds(stored) == 95


def test_turns_of_a_person_may_follow_each_other_and_others_may_overlap(db, world):
    meeting, staff, now = world["meeting"], world["staff"], world["now"]
    start = meeting.starts_at + timedelta(minutes=5)
    speaking.record_turn(meeting, world["resident"], start, start + timedelta(minutes=2),
                         by=staff, now=now)
    # Right after the first one ends: no overlap.
    speaking.record_turn(meeting, world["resident"], start + timedelta(minutes=2),
                         start + timedelta(minutes=3), by=staff, now=now)
    # Someone else at the same time: a turn is per person (people interrupt each other).
    speaking.record_turn(meeting, world["official"], start + timedelta(minutes=1),
                         start + timedelta(minutes=4), by=staff, now=now)
    db.session.commit()
    assert count(db, SpeakingTurn) == 3


def _refused(db, world, error, *, participant=None, meeting=None, start_minutes=10.0,
             seconds=60.0, now=None, text=""):
    meeting = meeting or world["meeting"]
    start = meeting.starts_at + timedelta(minutes=start_minutes)
    before = count(db, SpeakingTurn)
    with pytest.raises(error) as excinfo:
        speaking.record_turn(meeting, participant or world["resident"], start,
                             start + timedelta(seconds=seconds), by=world["staff"],
                             now=now or world["now"])
    db.session.rollback()
    assert count(db, SpeakingTurn) == before
    assert text in excinfo.value.message
    return excinfo.value


def test_no_turn_for_a_session_that_has_not_started(db, factory, world):
    future = factory.meeting(world["process"], starts_at=world["now"] + timedelta(hours=1))
    # Checked in early (check-in opens two hours before): still no turn before the start.
    attend(db, future, world["resident"])
    err = _refused(db, world, InvalidState, meeting=future, text="not started")
    assert err.status == 409


@pytest.mark.parametrize("seconds", [0, -30])
def test_the_end_must_come_after_the_start(db, world, seconds):
    err = _refused(db, world, ValidationFailed, seconds=seconds, text="end after it starts")
    assert err.status == 422 and err.field == "duration"


def test_no_turn_ending_in_the_future(db, world):
    # The session started an hour ago: a turn from 55 minutes in, lasting 10 minutes, ends
    # five minutes from now.
    _refused(db, world, ValidationFailed, start_minutes=55, seconds=600, text="future")


def test_the_turn_must_fall_within_the_session(db, factory, world):
    _refused(db, world, ValidationFailed, start_minutes=-5, text="between the start")
    past = factory.meeting(world["process"], starts_at=world["now"] - timedelta(hours=8),
                           hours=2)
    attend(db, past, world["resident"])
    # Ends 2 h 30 min after the end of the session (2 hours allowed).
    _refused(db, world, ValidationFailed, meeting=past, start_minutes=4 * 60 + 29,
             seconds=60, text="2 hours after its end")
    # Within the two hours after the end: accepted (the last questions run late).
    start = past.ends_at + timedelta(minutes=90)
    speaking.record_turn(past, world["resident"], start, start + timedelta(minutes=1),
                         by=world["staff"], now=world["now"])
    # A session without an end: within 24 hours of its start.
    open_ended = factory.meeting(world["process"], starts_at=world["now"] - timedelta(days=3))
    open_ended.ends_at = None
    db.session.commit()
    attend(db, open_ended, world["resident"])
    _refused(db, world, ValidationFailed, meeting=open_ended, start_minutes=25 * 60,
             text="24 hours")


def test_turns_of_one_person_must_not_overlap(db, world):
    meeting, staff, now = world["meeting"], world["staff"], world["now"]
    start = meeting.starts_at + timedelta(minutes=10)
    speaking.record_turn(meeting, world["resident"], start, start + timedelta(minutes=5),
                         by=staff, now=now)
    db.session.commit()
    for offset, seconds in ((4, 120), (-1, 90), (0, 300), (1, 60), (-2, 600)):
        err = _refused(db, world, InvalidState, start_minutes=10 + offset, seconds=seconds,
                       text="overlaps another turn of Camille Habitante")
        assert err.field == "started_at"
    assert count(db, SpeakingTurn) == 1


def test_a_running_turn_blocks_later_turns_of_the_same_person(db, world):
    meeting = world["meeting"]
    # Imports may store a turn without an end: the person still has the floor.
    db.session.add(SpeakingTurn(meeting_id=meeting.id, participant_id=world["resident"].id,
                                started_at=meeting.starts_at + timedelta(minutes=30)))
    db.session.commit()
    _refused(db, world, InvalidState, start_minutes=40, text="overlaps")
    speaking.record_turn(meeting, world["resident"], meeting.starts_at,
                         meeting.starts_at + timedelta(minutes=5), by=world["staff"],
                         now=world["now"])


def test_only_attendees_of_this_session_can_be_given_a_turn(db, factory, world):
    stranger = factory.participant(factory.user("citizen", name="Pas Venu"))
    err = _refused(db, world, ValidationFailed, participant=stranger, text="not checked in")
    assert err.field == "participant_id"
    # Checked in to another session of the process: not an attendee of this one.
    other = factory.meeting(world["process"], starts_at=world["now"] - timedelta(hours=1))
    attend(db, other, stranger)
    _refused(db, world, ValidationFailed, participant=stranger, text="not checked in")


def test_get_participant_refuses_unknown_ids(db, world):
    for bad in (None, 0, -1, 999_999, 2**63):
        with pytest.raises(ValidationFailed):
            speaking.get_participant(bad)
    assert speaking.get_participant(world["resident"].id) is world["resident"]


def test_delete_is_audited_and_limited_to_the_session(db, factory, world):
    meeting, staff, now = world["meeting"], world["staff"], world["now"]
    start = meeting.starts_at + timedelta(minutes=10)
    turn = speaking.record_turn(meeting, world["official"], start, start + timedelta(minutes=3),
                                by=staff, now=now)
    db.session.commit()
    other = factory.meeting(world["process"], starts_at=now - timedelta(hours=1))
    with pytest.raises(NotFound):
        speaking.get_turn(other, turn.id)
    for bad in (None, 0, 999_999, 2**63):
        with pytest.raises(NotFound):
            speaking.get_turn(meeting, bad)
    with pytest.raises(NotFound):
        speaking.delete_turn(other, turn, by=staff, now=now)

    turn_id = turn.id
    remover = factory.user("admin")
    speaking.delete_turn(meeting, speaking.get_turn(meeting, turn_id), by=remover, now=now)
    db.session.commit()
    assert db.session.get(SpeakingTurn, turn_id) is None
    row = db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "session.speaking_turn_delete"))
    assert row.actor_id == remover.id
    assert (row.target_type, row.target_id, row.process_id) == (
        "session", meeting.id, world["process"].id)
    assert row.details["turn_id"] == turn_id
    assert row.details["participant_id"] == world["official"].id
    assert row.details["recorded_by_id"] == staff.id
    assert row.details["started_at"] == start.isoformat()


def test_summary_totals_per_person_and_group(db, factory, world):
    meeting, staff, now = world["meeting"], world["staff"], world["now"]
    silent = factory.participant(factory.user("citizen", name="Muet"))
    attend(db, meeting, silent)
    start = meeting.starts_at
    for participant, minute, seconds in ((world["official"], 1, 300), (world["resident"], 7, 60),
                                         (world["official"], 9, 120)):
        begin = start + timedelta(minutes=minute)
        speaking.record_turn(meeting, participant, begin, begin + timedelta(seconds=seconds),
                             by=staff, now=now)
    db.session.commit()
    result = speaking.summary(meeting)
    assert len(result.turns) == 3
    assert result.internal_seconds == 420 and result.external_seconds == 60
    assert result.share(result.internal_seconds) == pytest.approx(420 / 480)
    assert [(s.participant.id, s.turns, s.seconds) for s in result.speakers] == [
        (world["official"].id, 2, 420), (world["resident"].id, 1, 60)]
    assert result.silent_attendees == 1


def test_default_start(db, factory, world):
    meeting, now = world["meeting"], world["now"]
    # While the session runs: a couple of minutes ago, to the minute.
    start = speaking.default_start(meeting, now)
    assert meeting.starts_at <= start <= now - timedelta(minutes=2)
    assert start.second == 0
    # Afterwards: the end of the latest turn, else the start of the session.
    started = (now - timedelta(hours=6)).replace(microsecond=0)
    past = factory.meeting(world["process"], starts_at=started, hours=2)
    attend(db, past, world["resident"])
    assert speaking.default_start(past, now) == past.starts_at
    begin = past.starts_at + timedelta(minutes=12)
    speaking.record_turn(past, world["resident"], begin, begin + timedelta(seconds=75),
                         by=world["staff"], now=now)
    assert speaking.default_start(past, now) == begin + timedelta(seconds=75)
    # A turn ending mid-second (imported): the next whole second, so as not to overlap it.
    later = begin + timedelta(minutes=5)
    speaking.record_turn(past, world["resident"], later,
                         later + timedelta(seconds=30, microseconds=400_000),
                         by=world["staff"], now=now)
    assert speaking.default_start(past, now) == later + timedelta(seconds=31)


def test_the_engine_counts_recorded_turns_and_flags_follow(db, world):
    """Recorded from the attendance list, turns reach speaking_time_share; the stored flags are
    refreshed at the commit (official_dominance on speaking time)."""
    meeting, staff, now = world["meeting"], world["staff"], world["now"]
    start = meeting.starts_at + timedelta(minutes=2)
    speaking.record_turn(meeting, world["official"], start, start + timedelta(minutes=12),
                         by=staff, now=now)
    later = start + timedelta(minutes=15)
    speaking.record_turn(meeting, world["resident"], later, later + timedelta(minutes=4),
                         by=staff, now=now)
    db.session.commit()
    rows = {r.group: r for r in compute_indicators(world["process"].id, utcnow())
            if r.code == "speaking_time_share"}
    assert rows[Group.INTERNAL].value == pytest.approx(0.75)
    assert rows[Group.EXTERNAL].value == pytest.approx(0.25)
    assert rows[Group.INTERNAL].n == 16 * 60
    flagged = db.session.scalar(sa.select(FlagRecord).where(
        FlagRecord.process_id == world["process"].id, FlagRecord.code == "official_dominance",
        FlagRecord.group == "internal", FlagRecord.cleared_at.is_(None)))
    assert flagged is not None and flagged.value == pytest.approx(0.75)

    # Deleting the official's turn clears it at the next commit.
    turn = db.session.scalar(sa.select(SpeakingTurn).where(
        SpeakingTurn.participant_id == world["official"].id))
    speaking.delete_turn(meeting, turn, by=staff, now=utcnow())
    db.session.commit()
    db.session.refresh(flagged)
    assert flagged.cleared_at is not None
