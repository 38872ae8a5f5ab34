"""Sessions: the participation ledger in the services (registrations, check-in, join, close)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import AttendanceSnapshot, Participant, ParticipantAttribute
from pvplatform.sessions import services
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    Invitation,
    Meeting,
    MeetingFormat,
    Registration,
)


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@pytest.fixture(autouse=True)
def _request_context(app):
    # Error messages are translated, and the locale selector reads the request (English here:
    # the assertions read English text, and the site is French first).
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def world(factory):
    process = factory.process()
    staff = factory.user("staff")
    citizen = factory.user("citizen")
    return {
        "process": process,
        "staff": staff,
        "citizen": citizen,
        "participant": factory.participant(citizen),
    }


# ---------------------------------------------------------------- registrations


def test_register_cancel_and_register_again_keeps_the_ledger(db, factory, world):
    meeting = factory.meeting(world["process"])
    p = world["participant"]
    now = utcnow()
    first = services.register(meeting, p, now=now)
    db.session.commit()
    services.cancel_registration(meeting, p, now=now + timedelta(minutes=1))
    db.session.commit()
    second = services.register(meeting, p, now=now + timedelta(minutes=2))
    db.session.commit()

    rows = db.session.scalars(
        sa.select(Registration).where(Registration.meeting_id == meeting.id)
        .order_by(Registration.id)
    ).all()
    assert [r.id for r in rows] == [first.id, second.id]
    assert rows[0].cancelled_at is not None
    assert rows[1].cancelled_at is None
    assert rows[0].code != rows[1].code
    assert services.live_registration_count(meeting.id) == 1


def test_register_twice_is_refused(db, factory, world):
    meeting = factory.meeting(world["process"])
    services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    with pytest.raises(InvalidState):
        services.register(meeting, world["participant"], now=utcnow())
    db.session.rollback()
    assert count(db, Registration) == 1


def test_live_registration_is_unique_in_the_database(db, factory, world):
    meeting = factory.meeting(world["process"])
    p = world["participant"]
    db.session.add(Registration(meeting_id=meeting.id, participant_id=p.id))
    db.session.commit()
    db.session.add(Registration(meeting_id=meeting.id, participant_id=p.id))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_full_session_refuses_and_cancelled_seats_free_up(db, factory, world):
    meeting = factory.meeting(world["process"], capacity=2)
    others = [factory.participant(factory.user("citizen")) for _ in range(2)]
    for p in others:
        services.register(meeting, p, now=utcnow())
    db.session.commit()
    with pytest.raises(InvalidState, match="full"):
        services.register(meeting, world["participant"], now=utcnow())
    db.session.rollback()
    assert services.live_registration_count(meeting.id) == 2

    services.cancel_registration(meeting, others[0], now=utcnow())
    services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    assert services.live_registration_count(meeting.id) == 2
    assert services.capacity_left(meeting) == 0


def test_register_after_start_or_when_closed_is_refused(db, factory, world):
    started = factory.meeting(world["process"], starts_at=utcnow() - timedelta(minutes=1))
    with pytest.raises(InvalidState):
        services.register(started, world["participant"], now=utcnow())
    closed = factory.meeting(world["process"])
    closed.closed_at = utcnow()
    db.session.commit()
    with pytest.raises(InvalidState):
        services.register(closed, world["participant"], now=utcnow())
    db.session.rollback()
    assert count(db, Registration) == 0


def test_cancel_needs_a_live_registration_before_start(db, factory, world):
    meeting = factory.meeting(world["process"])
    with pytest.raises(InvalidState):
        services.cancel_registration(meeting, world["participant"], now=utcnow())
    services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    with pytest.raises(InvalidState):
        services.cancel_registration(meeting, world["participant"],
                                     now=meeting.starts_at + timedelta(seconds=1))
    db.session.rollback()
    assert services.live_registration_count(meeting.id) == 1


# ---------------------------------------------------------------- check-in


def _in_window(meeting: Meeting):
    return meeting.starts_at + timedelta(minutes=5)


def test_check_in_from_the_list(db, factory, world):
    meeting = factory.meeting(world["process"])
    reg = services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    att = services.check_in_registration(meeting, reg, by=world["staff"], mode=None,
                                         now=_in_window(meeting))
    db.session.commit()
    assert att.mode == AttendanceMode.IN_PERSON
    assert att.checked_in_by_id == world["staff"].id
    assert att.walk_in is False
    assert att.participant_id == world["participant"].id


def test_check_in_by_code_ignores_case_and_spaces(db, factory, world):
    meeting = factory.meeting(world["process"])
    reg = services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    typed = f" {reg.code[:4].lower()} {reg.code[4:].lower()} "
    att = services.check_in_by_code(meeting, typed, by=world["staff"], mode="online",
                                    now=_in_window(meeting))
    db.session.commit()
    assert att.participant_id == world["participant"].id
    assert att.mode == AttendanceMode.ONLINE  # the factory's meeting is hybrid


def test_unknown_code_or_code_of_another_session_is_refused(db, factory, world):
    meeting = factory.meeting(world["process"])
    other = factory.meeting(world["process"])
    reg = services.register(other, world["participant"], now=utcnow())
    db.session.commit()
    for code in ("NOPE1234", reg.code, "", "x" * 500):
        with pytest.raises(ValidationFailed):
            services.check_in_by_code(meeting, code, by=world["staff"], now=_in_window(meeting))
    db.session.rollback()
    assert count(db, Attendance) == 0


def test_walk_in_creates_a_participant_without_login(db, factory, world):
    meeting = factory.meeting(world["process"])
    assoc = factory.association()
    att = services.check_in_walk_in(meeting, "  Jeanne Martin ", "association", assoc.id,
                                    by=world["staff"], now=_in_window(meeting))
    db.session.commit()
    person = db.session.get(Participant, att.participant_id)
    assert person.user_id is None
    assert person.display_name == "Jeanne Martin"
    assert person.association_id == assoc.id
    assert att.walk_in is True
    assert att.mode == AttendanceMode.IN_PERSON
    assert att.checked_in_by_id == world["staff"].id


def test_walk_in_refuses_bad_kind_and_unknown_association(db, factory, world):
    meeting = factory.meeting(world["process"])
    now = _in_window(meeting)
    with pytest.raises(ValidationFailed):
        services.check_in_walk_in(meeting, "A", "manager", None, by=world["staff"], now=now)
    with pytest.raises(ValidationFailed):
        services.check_in_walk_in(meeting, "A", "citizen", 99999, by=world["staff"], now=now)
    with pytest.raises(ValidationFailed):
        services.check_in_walk_in(meeting, " ", "citizen", None, by=world["staff"], now=now)
    db.session.rollback()
    assert count(db, Participant, Participant.user_id.is_(None)) == 0


def test_double_check_in_is_refused(db, factory, world):
    meeting = factory.meeting(world["process"])
    reg = services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    services.check_in_registration(meeting, reg, by=world["staff"], now=_in_window(meeting))
    db.session.commit()
    with pytest.raises(InvalidState, match="already checked in"):
        services.check_in_by_code(meeting, reg.code, by=world["staff"], now=_in_window(meeting))
    db.session.rollback()
    assert count(db, Attendance) == 1


def test_cancelled_registration_cannot_check_in(db, factory, world):
    meeting = factory.meeting(world["process"])
    reg = services.register(meeting, world["participant"], now=utcnow())
    services.cancel_registration(meeting, world["participant"], now=utcnow())
    db.session.commit()
    with pytest.raises(InvalidState):
        services.check_in_registration(meeting, reg, by=world["staff"], now=_in_window(meeting))


def test_check_in_window_and_closed_session(db, factory, world):
    meeting = factory.meeting(world["process"], hours=2)
    reg = services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    too_early = meeting.starts_at - timedelta(hours=2, minutes=1)
    too_late = meeting.ends_at + timedelta(hours=24, minutes=1)
    for now in (too_early, too_late):
        with pytest.raises(InvalidState):
            services.check_in_registration(meeting, reg, by=world["staff"], now=now)
    # The edges are inside the window.
    services.check_in_registration(meeting, reg, by=world["staff"],
                                   now=meeting.starts_at - timedelta(hours=2))
    db.session.rollback()

    meeting.closed_at = utcnow()
    db.session.commit()
    with pytest.raises(InvalidState, match="closed"):
        services.check_in_registration(meeting, reg, by=world["staff"], now=_in_window(meeting))
    with pytest.raises(InvalidState, match="closed"):
        services.check_in_walk_in(meeting, "B", "citizen", None, by=world["staff"],
                                  now=_in_window(meeting))
    db.session.rollback()
    assert count(db, Attendance) == 0


def test_mode_must_fit_the_format(db, factory, world):
    meeting = factory.meeting(world["process"], format=MeetingFormat.IN_PERSON)
    reg = services.register(meeting, world["participant"], now=utcnow())
    db.session.commit()
    with pytest.raises(ValidationFailed):
        services.check_in_registration(meeting, reg, by=world["staff"], mode="online",
                                       now=_in_window(meeting))
    with pytest.raises(ValidationFailed):
        services.check_in_registration(meeting, reg, by=world["staff"], mode="teleport",
                                       now=_in_window(meeting))
    db.session.rollback()
    assert count(db, Attendance) == 0


def test_snapshot_is_copied_and_unaffected_by_later_changes(db, factory, world):
    meeting = factory.meeting(world["process"])
    p = world["participant"]
    db.session.add_all([
        ParticipantAttribute(participant_id=p.id, dimension="age", category="18-29"),
        ParticipantAttribute(participant_id=p.id, dimension="district", category="north"),
    ])
    reg = services.register(meeting, p, now=utcnow())
    db.session.commit()
    att = services.check_in_registration(meeting, reg, by=world["staff"], now=_in_window(meeting))
    db.session.commit()

    attribute = db.session.scalar(
        sa.select(ParticipantAttribute).where(ParticipantAttribute.dimension == "age")
    )
    attribute.category = "30-44"
    db.session.execute(sa.delete(ParticipantAttribute).where(
        ParticipantAttribute.dimension == "district"))
    db.session.commit()

    snap = db.session.execute(
        sa.select(AttendanceSnapshot.dimension, AttendanceSnapshot.category)
        .where(AttendanceSnapshot.attendance_id == att.id)
        .order_by(AttendanceSnapshot.dimension)
    ).all()
    assert [tuple(r) for r in snap] == [("age", "18-29"), ("district", "north")]


# ---------------------------------------------------------------- joining online


def test_join_window(db, factory, world):
    p = world["participant"]
    soon = factory.meeting(world["process"], starts_at=utcnow() + timedelta(minutes=10))
    later = factory.meeting(world["process"], starts_at=utcnow() + timedelta(minutes=20))
    for m in (soon, later):
        services.register(m, p, now=utcnow())
    db.session.commit()

    # Before the start the link opens, but nobody is counted present yet.
    assert services.join_online(soon, p, now=utcnow()) == soon.online_url
    assert count(db, Attendance, Attendance.meeting_id == soon.id) == 0
    started = soon.starts_at + timedelta(minutes=1)
    assert services.join_online(soon, p, now=started) == soon.online_url
    # Joining again (a second tab) keeps one attendance.
    assert services.join_online(soon, p, now=started) == soon.online_url
    db.session.commit()
    att = db.session.scalar(sa.select(Attendance).where(Attendance.meeting_id == soon.id))
    assert att.mode == AttendanceMode.ONLINE and att.checked_in_by_id is None
    assert count(db, Attendance, Attendance.meeting_id == soon.id) == 1

    with pytest.raises(InvalidState, match="15 minutes"):
        services.join_online(later, p, now=utcnow())
    with pytest.raises(InvalidState):
        services.join_online(later, p, now=later.ends_at + timedelta(seconds=1))
    db.session.rollback()
    assert count(db, Attendance, Attendance.meeting_id == later.id) == 0


def test_join_needs_online_format_registration_and_safe_link(db, factory, world):
    p = world["participant"]
    start = utcnow() + timedelta(minutes=5)
    in_person = factory.meeting(world["process"], starts_at=start, format=MeetingFormat.IN_PERSON)
    not_registered = factory.meeting(world["process"], starts_at=start)
    bad_link = factory.meeting(world["process"], starts_at=start)
    services.register(in_person, p, now=utcnow())
    services.register(bad_link, p, now=utcnow())
    bad_link.online_url = "javascript:alert(1)"
    db.session.commit()
    for m in (in_person, not_registered, bad_link):
        with pytest.raises(InvalidState):
            services.join_online(m, p, now=utcnow())
    db.session.rollback()
    assert count(db, Attendance) == 0


@pytest.mark.parametrize("url,ok", [
    ("https://visio.example.org/room?x=1", True),
    ("http://example.org", True),
    ("javascript:alert(1)", False),
    ("JAVASCRIPT:alert(1)", False),
    ("data:text/html,hi", False),
    ("//evil.example.org", False),
    ("/relative", False),
    ("https://", False),
    ("https://exa mple.org", False),
    ("https://example.org/\x00", False),
    ("ftp://example.org", False),
    ("https://" + "a" * 600 + ".org", False),
    ("", False),
])
def test_safe_online_url(url, ok):
    assert services.is_safe_online_url(url) is ok


# ---------------------------------------------------------------- create, invite, close


def _data(**over):
    start = utcnow() + timedelta(days=3)
    values = dict(title="Atelier", format=MeetingFormat.HYBRID, starts_at=start,
                  ends_at=start + timedelta(hours=2), location="Mairie",
                  online_url="https://visio.example.org/x", capacity=20, agenda="")
    values.update(over)
    return services.MeetingData(**values)


def test_create_meeting_checks_its_data(db, world):
    staff, process = world["staff"], world["process"]
    bad = [
        _data(online_url="javascript:alert(1)"),
        _data(format=MeetingFormat.ONLINE, online_url=""),
        _data(format=MeetingFormat.IN_PERSON, location=" "),
        _data(ends_at=utcnow()),
        _data(capacity=0),
        _data(title=" "),
    ]
    for data in bad:
        with pytest.raises(ValidationFailed):
            services.create_meeting(process, data, by=staff, now=utcnow())
        db.session.rollback()
    assert count(db, Meeting) == 0
    meeting = services.create_meeting(process, _data(format=MeetingFormat.IN_PERSON), by=staff,
                                      now=utcnow())
    db.session.commit()
    assert meeting.online_url == ""  # an in-person session keeps no link
    assert count(db, AuditLog, AuditLog.action == "session.create") == 1


def test_invitations_refuse_duplicates(db, factory, world):
    meeting = factory.meeting(world["process"])
    assoc = factory.association()
    services.invite_participant(meeting, world["participant"], by=world["staff"], now=utcnow())
    services.invite_association(meeting, assoc, by=world["staff"], now=utcnow())
    db.session.commit()
    with pytest.raises(InvalidState):
        services.invite_participant(meeting, world["participant"], by=world["staff"],
                                    now=utcnow())
    with pytest.raises(InvalidState):
        services.invite_association(meeting, assoc, by=world["staff"], now=utcnow())
    db.session.rollback()
    assert count(db, Invitation) == 2
    assert services.is_invited(meeting, world["participant"])


def test_close_writes_one_audit_row_and_refuses_twice(db, factory, world):
    meeting = factory.meeting(world["process"], starts_at=utcnow() - timedelta(hours=3))
    future = factory.meeting(world["process"])
    with pytest.raises(InvalidState):
        services.close_meeting(future, "Notes", by=world["staff"], now=utcnow())
    services.close_meeting(meeting, "  Notes of the day ", by=world["staff"], now=utcnow())
    db.session.commit()
    assert meeting.closed_at is not None and meeting.minutes == "Notes of the day"
    with pytest.raises(InvalidState):
        services.close_meeting(meeting, "Again", by=world["staff"], now=utcnow())
    db.session.rollback()
    assert count(db, AuditLog, AuditLog.action == "session.close") == 1
