"""Sessions and their participation ledger: invitations, registrations, attendance.

No request context here: callers pass the acting user or participant and `now` (aware UTC).
Nothing commits; the view commits once per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from pvplatform.auth.models import Association, User
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.services import N_, notify
from pvplatform.participation.models import (
    AttendanceSnapshot,
    Participant,
    ParticipantAttribute,
    ParticipantKind,
)
from pvplatform.participation.services import create_walk_in
from pvplatform.processes.models import Process
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    Invitation,
    Meeting,
    MeetingFormat,
    Registration,
    new_registration_code,
)

JOIN_OPENS_BEFORE = timedelta(minutes=15)
CHECK_IN_OPENS_BEFORE = timedelta(hours=2)
CHECK_IN_CLOSES_AFTER = timedelta(hours=24)
# Imported sessions may lack an end; treat them as lasting this long.
DEFAULT_DURATION = timedelta(hours=2)
CODE_MAX = 16
WALK_IN_KINDS = (ParticipantKind.CITIZEN, ParticipantKind.ASSOCIATION)
NEEDS_LOCATION = (MeetingFormat.IN_PERSON, MeetingFormat.HYBRID)
NEEDS_URL = (MeetingFormat.ONLINE, MeetingFormat.HYBRID)


# ---------------------------------------------------------------- small helpers


def is_safe_online_url(url: str | None) -> bool:
    """Only absolute http(s) links with a host: never javascript:, data:, relative or odd URLs."""
    if not url or len(url) > 500:
        return False
    if any(ord(c) <= 32 or c in "\\\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def meeting_end(meeting: Meeting) -> datetime:
    return meeting.ends_at or (meeting.starts_at + DEFAULT_DURATION)


def is_started(meeting: Meeting, now: datetime) -> bool:
    return now >= meeting.starts_at


def join_window_open(meeting: Meeting, now: datetime) -> bool:
    return (
        meeting.format in NEEDS_URL
        and meeting.closed_at is None
        and meeting.starts_at - JOIN_OPENS_BEFORE <= now <= meeting_end(meeting)
    )


def check_in_window_open(meeting: Meeting, now: datetime) -> bool:
    return (
        meeting.closed_at is None
        and meeting.starts_at - CHECK_IN_OPENS_BEFORE
        <= now
        <= meeting_end(meeting) + CHECK_IN_CLOSES_AFTER
    )


def normalise_code(code: str) -> str:
    return re.sub(r"[\s-]+", "", code or "").upper()


def live_registration_count(meeting_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Registration)
        .where(Registration.meeting_id == meeting_id, Registration.cancelled_at.is_(None))
    ) or 0


def attendance_count(meeting_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Attendance)
        .where(Attendance.meeting_id == meeting_id)
    ) or 0


def capacity_left(meeting: Meeting) -> int | None:
    if meeting.capacity is None:
        return None
    return max(0, meeting.capacity - live_registration_count(meeting.id))


def live_registration(meeting: Meeting, participant: Participant) -> Registration | None:
    return db.session.scalar(
        sa.select(Registration).where(
            Registration.meeting_id == meeting.id,
            Registration.participant_id == participant.id,
            Registration.cancelled_at.is_(None),
        )
    )


def attendance_of(meeting: Meeting, participant: Participant) -> Attendance | None:
    return db.session.scalar(
        sa.select(Attendance).where(
            Attendance.meeting_id == meeting.id, Attendance.participant_id == participant.id
        )
    )


def is_invited(meeting: Meeting, participant: Participant) -> bool:
    who = Invitation.participant_id == participant.id
    if participant.association_id is not None:
        who = sa.or_(who, Invitation.association_id == participant.association_id)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Invitation)
        .where(Invitation.meeting_id == meeting.id, who)
    ) > 0


def _lock_meeting(meeting: Meeting) -> None:
    # Serialises registrations per session on PostgreSQL so that two people cannot both take the
    # last seat; SQLite already allows one writer at a time.
    db.session.execute(sa.select(Meeting.id).where(Meeting.id == meeting.id).with_for_update())


def _refuse_if_closed(meeting: Meeting) -> None:
    if meeting.closed_at is not None:
        raise InvalidState(str(_l("This session is closed.")))


# ---------------------------------------------------------------- creating and editing


@dataclass
class MeetingData:
    title: str
    format: MeetingFormat
    starts_at: datetime
    ends_at: datetime
    location: str = ""
    online_url: str = ""
    capacity: int | None = None
    agenda: str = ""


def _check_meeting_data(data: MeetingData) -> None:
    if not data.title or not data.title.strip():
        raise ValidationFailed(str(_l("A title is required.")), field="title")
    if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
        raise ValidationFailed(str(_l("Times must carry a time zone.")), field="starts_at")
    if data.ends_at <= data.starts_at:
        raise ValidationFailed(str(_l("The end must be after the start.")), field="ends_at")
    if data.format in NEEDS_LOCATION and not (data.location or "").strip():
        raise ValidationFailed(
            str(_l("A place is required for a session held in person.")), field="location"
        )
    if data.format in NEEDS_URL and not data.online_url:
        raise ValidationFailed(
            str(_l("An online link is required for an online session.")), field="online_url"
        )
    if data.online_url and not is_safe_online_url(data.online_url):
        raise ValidationFailed(
            str(_l("The online link must be a web address starting with http:// or https://.")),
            field="online_url",
        )
    if data.capacity is not None and not 1 <= data.capacity <= 100_000:
        raise ValidationFailed(
            str(_l("The capacity must be between 1 and 100000.")), field="capacity"
        )


def _apply(meeting: Meeting, data: MeetingData) -> None:
    meeting.title = data.title.strip()
    meeting.format = data.format
    meeting.starts_at = data.starts_at
    meeting.ends_at = data.ends_at
    meeting.location = (data.location or "").strip()
    # A link is kept only when the format uses it, so an in-person session never leaks an old one.
    meeting.online_url = data.online_url if data.format in NEEDS_URL else ""
    meeting.capacity = data.capacity
    meeting.agenda = data.agenda or ""


def create_meeting(process: Process, data: MeetingData, *, by: User, now: datetime) -> Meeting:
    _check_meeting_data(data)
    meeting = Meeting(process_id=process.id, created_at=now)
    _apply(meeting, data)
    db.session.add(meeting)
    db.session.flush()
    record_audit(by, "session.create", "session", meeting.id, process_id=process.id,
                 details={"title": meeting.title, "starts_at": meeting.starts_at.isoformat()})
    return meeting


def _compared_fields(meeting: Meeting) -> dict[str, Any]:
    """What the audit row of an edit compares, as plain values."""
    return {
        "title": meeting.title,
        "format": str(meeting.format),
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat() if meeting.ends_at else None,
        "location": meeting.location,
        "online_url": meeting.online_url,
        "capacity": meeting.capacity,
        "agenda": meeting.agenda,
    }


def update_meeting(meeting: Meeting, data: MeetingData, *, by: User, now: datetime) -> Meeting:  # noqa: ARG001
    _check_meeting_data(data)
    before = _compared_fields(meeting)
    _apply(meeting, data)
    after = _compared_fields(meeting)
    changed = sorted(k for k in after if after[k] != before[k])
    db.session.flush()
    record_audit(by, "session.update", "session", meeting.id, process_id=meeting.process_id,
                 details={"changed": changed})
    return meeting


def close_meeting(meeting: Meeting, minutes: str, *, by: User, now: datetime) -> Meeting:
    if meeting.closed_at is not None:
        raise InvalidState(str(_l("This session is already closed.")))
    if now < meeting.starts_at:
        raise InvalidState(str(_l("A session can only be closed once it has started.")))
    minutes = (minutes or "").strip()
    if not minutes:
        raise ValidationFailed(str(_l("The minutes are required.")), field="minutes")
    meeting.minutes = minutes
    meeting.closed_at = now
    record_audit(by, "session.close", "session", meeting.id, process_id=meeting.process_id,
                 details={"attendance": attendance_count(meeting.id)})
    return meeting


# ---------------------------------------------------------------- invitations


def _new_invitation(meeting: Meeting, name: str, *, by: User, now: datetime,
                    **invitee: int) -> Invitation:
    """An invitation of the one invitee named by `participant_id=` or `association_id=`;
    refused for a closed session, or for an invitee (called `name`) invited already."""
    _refuse_if_closed(meeting)
    exists = db.session.scalar(
        sa.select(Invitation.id).filter_by(meeting_id=meeting.id, **invitee)
    )
    if exists is not None:
        raise InvalidState(str(_l("%(name)s is already invited.", name=name)))
    invitation = Invitation(meeting_id=meeting.id, invited_at=now, invited_by_id=by.id, **invitee)
    db.session.add(invitation)
    return invitation


def invite_participant(meeting: Meeting, participant: Participant, *, by: User, now: datetime,
                       link: str = "") -> Invitation:
    invitation = _new_invitation(meeting, participant.name, by=by, now=now,
                                 participant_id=participant.id)
    notify(participant.user_id, "session.invited", N_("You are invited to the session %(title)s."),
           params={"title": meeting.title}, link=link)
    return invitation


def invite_association(meeting: Meeting, association: Association, *, by: User, now: datetime,
                       link: str = "") -> Invitation:
    invitation = _new_invitation(meeting, association.name, by=by, now=now,
                                 association_id=association.id)
    member_ids = db.session.scalars(
        sa.select(User.id)
        .where(User.association_id == association.id, User.deleted_at.is_(None))
        .order_by(User.id)
    )
    for user_id in member_ids:
        notify(user_id, "session.invited",
               N_("Your association %(association)s is invited to the session %(title)s."),
               params={"title": meeting.title, "association": association.name}, link=link)
    return invitation


# ---------------------------------------------------------------- registrations


def register(meeting: Meeting, participant: Participant, *, now: datetime) -> Registration:
    _refuse_if_closed(meeting)
    if is_started(meeting, now):
        raise InvalidState(str(_l("Registration is closed: this session has already started.")))
    _lock_meeting(meeting)
    if live_registration(meeting, participant) is not None:
        raise InvalidState(str(_l("You are already registered for this session.")))
    if meeting.capacity is not None and live_registration_count(meeting.id) >= meeting.capacity:
        raise InvalidState(str(_l("This session is full.")))
    code = new_registration_code()
    while db.session.scalar(sa.select(Registration.id).where(Registration.code == code)):
        code = new_registration_code()
    registration = Registration(meeting_id=meeting.id, participant_id=participant.id,
                                registered_at=now, code=code)
    db.session.add(registration)
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent request registered the same person first; the error handler rolls back.
        raise InvalidState(str(_l("You are already registered for this session."))) from None
    return registration


def cancel_registration(meeting: Meeting, participant: Participant, *,
                        now: datetime) -> Registration:
    registration = live_registration(meeting, participant)
    if registration is None:
        raise InvalidState(str(_l("You have no registration to cancel for this session.")))
    _refuse_if_closed(meeting)
    if is_started(meeting, now):
        raise InvalidState(
            str(_l("This session has already started: "
                   "the registration can no longer be cancelled."))
        )
    registration.cancelled_at = now
    return registration


# ---------------------------------------------------------------- attendance


def snapshot_attributes(attendance: Attendance) -> list[AttendanceSnapshot]:
    """Copies the attendee's consented categories now, so later profile changes don't rewrite
    who was in the room."""
    rows = db.session.execute(
        sa.select(ParticipantAttribute.dimension, ParticipantAttribute.category)
        .where(ParticipantAttribute.participant_id == attendance.participant_id)
        .order_by(ParticipantAttribute.dimension)
    ).all()
    snapshots = [
        AttendanceSnapshot(attendance_id=attendance.id, dimension=dim, category=cat)
        for dim, cat in rows
    ]
    db.session.add_all(snapshots)
    return snapshots


def _check_in_window(meeting: Meeting, now: datetime) -> None:
    if meeting.closed_at is not None:
        raise InvalidState(str(_l("This session is closed: check-in is no longer possible.")))
    if now < meeting.starts_at - CHECK_IN_OPENS_BEFORE:
        raise InvalidState(str(_l("Check-in opens 2 hours before the start of the session.")))
    if now > meeting_end(meeting) + CHECK_IN_CLOSES_AFTER:
        raise InvalidState(str(_l("Check-in closed 24 hours after the end of the session.")))


def _mode_for(meeting: Meeting, mode: AttendanceMode | str | None) -> AttendanceMode:
    if meeting.format == MeetingFormat.ONLINE:
        allowed = (AttendanceMode.ONLINE,)
    elif meeting.format == MeetingFormat.IN_PERSON:
        allowed = (AttendanceMode.IN_PERSON,)
    else:
        allowed = (AttendanceMode.IN_PERSON, AttendanceMode.ONLINE)
    if mode in (None, ""):
        return allowed[0]
    try:
        chosen = AttendanceMode(mode)
    except ValueError:
        chosen = None
    if chosen not in allowed:
        raise ValidationFailed(str(_l("This attendance mode does not fit the session's format.")),
                               field="mode")
    return chosen


def _record_attendance(meeting: Meeting, participant: Participant, *, mode: AttendanceMode,
                       by: User | None, now: datetime, walk_in: bool) -> Attendance:
    attendance = Attendance(meeting_id=meeting.id, participant_id=participant.id, mode=mode,
                            checked_in_at=now, checked_in_by_id=by.id if by else None,
                            walk_in=walk_in)
    db.session.add(attendance)
    try:
        db.session.flush()
    except IntegrityError:
        raise InvalidState(
            str(_l("%(name)s is already checked in.", name=participant.name))
        ) from None
    snapshot_attributes(attendance)
    return attendance


def check_in_registration(meeting: Meeting, registration: Registration, *, by: User,
                          mode: AttendanceMode | str | None = None, now: datetime) -> Attendance:
    if registration.meeting_id != meeting.id:
        raise ValidationFailed(str(_l("This registration does not belong to this session.")),
                               field="registration_id")
    _check_in_window(meeting, now)
    chosen = _mode_for(meeting, mode)
    participant = registration.participant
    if registration.cancelled_at is not None:
        raise InvalidState(
            str(_l("The registration of %(name)s was cancelled: add them as a walk-in or "
                   "ask them to register again.", name=participant.name))
        )
    if attendance_of(meeting, participant) is not None:
        raise InvalidState(str(_l("%(name)s is already checked in.", name=participant.name)))
    return _record_attendance(meeting, participant, mode=chosen, by=by, now=now, walk_in=False)


def find_registration_by_code(meeting: Meeting, code: str) -> Registration | None:
    code = normalise_code(code)
    if not code or len(code) > CODE_MAX:
        return None
    return db.session.scalar(
        sa.select(Registration).where(Registration.meeting_id == meeting.id,
                                      Registration.code == code)
    )


def check_in_by_code(meeting: Meeting, code: str, *, by: User,
                     mode: AttendanceMode | str | None = None, now: datetime) -> Attendance:
    _check_in_window(meeting, now)
    registration = find_registration_by_code(meeting, code)
    if registration is None:
        raise ValidationFailed(
            str(_l("No registration of this session has this code. Check it and try again.")),
            field="code",
        )
    return check_in_registration(meeting, registration, by=by, mode=mode, now=now)


def check_in_walk_in(meeting: Meeting, name: str, kind: ParticipantKind | str,
                     association_id: int | None, *, by: User, now: datetime) -> Attendance:
    _check_in_window(meeting, now)
    if meeting.format == MeetingFormat.ONLINE:
        raise InvalidState(str(_l("Walk-ins can only be added to sessions held in person.")))
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(str(_l("A name of at most 120 characters is required.")),
                               field="name")
    try:
        kind = ParticipantKind(kind)
    except ValueError:
        kind = None
    if kind not in WALK_IN_KINDS:
        raise ValidationFailed(str(_l("Choose citizen or association.")), field="kind")
    if association_id is not None and db.session.get(Association, association_id) is None:
        raise ValidationFailed(str(_l("This association does not exist.")), field="association")
    participant = create_walk_in(name, kind=kind, association_id=association_id)
    return _record_attendance(meeting, participant, mode=AttendanceMode.IN_PERSON, by=by, now=now,
                              walk_in=True)


def join_online(meeting: Meeting, participant: Participant, *, now: datetime) -> str:
    """Records the online attendance of a registered participant and returns the link to open."""
    if meeting.format not in NEEDS_URL:
        raise InvalidState(str(_l("This session is held in person only.")))
    _refuse_if_closed(meeting)
    if not is_safe_online_url(meeting.online_url):
        raise InvalidState(str(_l("This session has no online link yet.")))
    if not join_window_open(meeting, now):
        raise InvalidState(
            str(_l("You can join from 15 minutes before the start until the end of the session."))
        )
    if attendance_of(meeting, participant) is None:
        if live_registration(meeting, participant) is None:
            raise InvalidState(str(_l("Only people registered for this session can join it.")))
        _record_attendance(meeting, participant, mode=AttendanceMode.ONLINE, by=None, now=now,
                           walk_in=False)
    return meeting.online_url


def get_registration(meeting: Meeting, registration_id: int | None) -> Registration:
    registration = db.session.get(Registration, registration_id) if registration_id else None
    if registration is None or registration.meeting_id != meeting.id:
        raise ValidationFailed(str(_l("This registration does not exist.")),
                               field="registration_id")
    return registration
