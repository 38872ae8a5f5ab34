"""Sessions and their participation ledger: invitations, registrations, attendance.

No request context here: callers pass the acting user or participant and `now` (aware UTC).
Nothing commits; the view commits once per request.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager, selectinload

from pvplatform.auth.models import Association, User
from pvplatform.core.lookup import valid_id
from pvplatform.errors import DomainError, InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.services import N_, notify
from pvplatform.participation import demographics
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
# A walk-in's own link to give their demographics on their phone (a QR code at the desk).
WALK_IN_LINK_LIFETIME = timedelta(hours=2)
WALK_IN_LINK_SALT = "pvplatform.sessions.walk-in-demographics"
# Its use is an audit row on the attendance (written by give_walk_in_demographics): a link
# whose attendance has one is spent.
WALK_IN_LINK_USED = "session.walk_in_demographics"
# What the person was told before consenting (ConsentRecord.text_version): at the desk, the
# paper sheet's question asked aloud by staff; on the phone, the page behind the link.
DESK_CONSENT_VERSION = "check-in-desk"
PHONE_CONSENT_VERSION = "walk-in-phone"


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


# ---------------------------------------------------------------- the staff lists of a session
# Each list joins the people it names rather than loading them afterwards: one statement per
# page whatever the number of rows (eager loading in batches grows with the page, and a lazy
# load is a statement per row).


def _contains(expression: Any, search: str) -> Any:
    return sa.func.lower(expression, type_=sa.String).contains(search.lower(), autoescape=True)


def registrations_statement(meeting_id: int, search: str = "") -> sa.Select:
    """The session's registrations, live ones first, in the order people registered; `search`
    finds part of a name, or a registration code however it is typed."""
    rows = (
        sa.select(Registration)
        .join(Registration.participant)
        .outerjoin(Participant.user)
        .where(Registration.meeting_id == meeting_id)
    )
    stmt = (
        rows.options(contains_eager(Registration.participant).contains_eager(Participant.user))
        .order_by(Registration.cancelled_at.is_not(None), Registration.registered_at,
                  Registration.id)
    )
    if search:
        name = sa.func.coalesce(User.display_name, Participant.display_name, "")
        stmt = stmt.where(Registration.id.in_(_found(
            rows, Registration.id,
            sa.or_(_contains(name, search), Registration.code == normalise_code(search)))))
    return stmt


def invitations_statement(meeting_id: int, search: str = "") -> sa.Select:
    """The session's invitations, of people and of associations, in the order they were sent;
    `search` finds part of the person's or the association's name."""
    rows = (
        sa.select(Invitation)
        .outerjoin(Invitation.participant)
        .outerjoin(Participant.user)
        .outerjoin(Invitation.association)
        .where(Invitation.meeting_id == meeting_id)
    )
    stmt = (
        rows.options(contains_eager(Invitation.participant).contains_eager(Participant.user),
                     contains_eager(Invitation.association))
        .order_by(Invitation.invited_at, Invitation.id)
    )
    if search:
        name = sa.func.coalesce(User.display_name, Participant.display_name, Association.name,
                                "")
        stmt = stmt.where(Invitation.id.in_(_found(rows, Invitation.id, _contains(name, search))))
    return stmt


def _found(rows: sa.Select, ident: Any, condition: Any) -> sa.Select:
    """The ids of a session list that a search finds, as a set for the list to keep. Filtering
    the list itself would have it walk the list-order index and read every row of the session
    in that order (random reads: 19 ms to 57 ms at city size); the set is found in the table's
    order, and the index walk only looks up each id in it. Not correlated with the list: the
    same tables, on their own."""
    return rows.with_only_columns(ident).where(condition).correlate(None)


def list_total(model: Any, meeting_id: int, search: str) -> int | None:
    """How many rows `registrations_statement` or `invitations_statement` lists without a
    search: a count of the session's rows alone (an index look-up), since their joins are to
    one person, account or association each and add no row. None with a search: the list's own
    count, which filters on the joined names, is the one."""
    if search:
        return None
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)
                             .where(model.meeting_id == meeting_id))


def recent_check_ins(meeting_id: int, limit: int) -> list[Attendance]:
    """The latest `limit` check-ins of the session, with who came and who checked them in."""
    by = aliased(User)
    return list(db.session.scalars(
        sa.select(Attendance)
        .join(Attendance.participant)
        .outerjoin(Participant.user)
        .outerjoin(by, by.id == Attendance.checked_in_by_id)
        .where(Attendance.meeting_id == meeting_id)
        .options(contains_eager(Attendance.participant).contains_eager(Participant.user),
                 contains_eager(Attendance.checked_in_by.of_type(by)))
        .order_by(Attendance.checked_in_at.desc(), Attendance.id.desc())
        .limit(limit)
    ))


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
    if not association.is_approved:
        # A pending association's "members" are requests nobody approved yet.
        raise InvalidState(str(_l("This association is not approved yet.")))
    invitation = _new_invitation(meeting, association.name, by=by, now=now,
                                 association_id=association.id)
    # Approved members only: `association_id` is set when a membership is approved.
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


def name_key(name: str | None) -> str:
    """A name as the duplicate check compares it: case, accents, spaces and punctuation aside
    ("Éloïse  Dupont-Roy" and "eloise dupont roy" are the same key)."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    key = "".join(c for c in kept if c.isalnum()).casefold()
    # A name of signs only keeps its signs (without spaces) rather than matching everyone.
    return key or "".join(kept.split()).casefold()


def probable_duplicates(meeting: Meeting, name: str) -> list[Attendance]:
    """The attendances of this session whose person bears the same name (see `name_key`)."""
    key = name_key(name)
    if not key:
        return []
    rows = db.session.execute(
        sa.select(Attendance.id, User.display_name, Participant.display_name)
        .join(Participant, Participant.id == Attendance.participant_id)
        .outerjoin(User, User.id == Participant.user_id)
        .where(Attendance.meeting_id == meeting.id)
    ).all()
    ids = [row[0] for row in rows if name_key(row[1] if row[1] is not None else row[2]) == key]
    if not ids:
        return []
    return list(db.session.scalars(
        sa.select(Attendance).where(Attendance.id.in_(ids))
        .options(selectinload(Attendance.participant).selectinload(Participant.user))
        .order_by(Attendance.checked_in_at, Attendance.id)
    ))


class ProbableDuplicate(InvalidState):
    """Someone of the same name is already checked in: nothing is stored until staff say
    whether this is the same person."""

    def __init__(self, name: str, duplicates: list[Attendance]) -> None:
        self.duplicates = duplicates
        super().__init__(str(_l(
            "Someone named %(name)s is already checked in to this session. Nothing was "
            "stored: is this the same person?", name=duplicates[0].participant.name
            if duplicates else name)))


def walk_in_questions(meeting: Meeting) -> list[demographics.Question]:
    """The demographic questions of the session's process, with their categories."""
    return demographics.questions_for([meeting.process])


def check_in_walk_in(meeting: Meeting, name: str, kind: ParticipantKind | str,
                     association_id: int | None, *, by: User, now: datetime,
                     answers: Mapping[str, str | None] | None = None, consent: bool = False,
                     questions: Sequence[demographics.Question] | None = None,
                     different_person: bool = False) -> Attendance:
    """Creates a participant without an account and checks them in. `answers` (dimension ->
    category, "" or None for "prefer not to say") are stored only with `consent`, as the
    person's answers and with this attendance. Unless `different_person`, a name already
    checked in to this session is refused with ProbableDuplicate."""
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
    association = db.session.get(Association, association_id) if association_id else None
    if association_id is not None and (association is None or not association.is_approved):
        raise ValidationFailed(str(_l("This association does not exist.")), field="association")
    answers = dict(answers or {})
    if questions is None:
        questions = walk_in_questions(meeting) if answers else []
    given = demographics.walk_in_answers(answers, questions)
    if given and not consent:
        raise ValidationFailed(
            str(_l("Tick the consent box if the person agreed to give their demographics, or "
                   "leave the answers on \"Prefer not to say\".")), field="consent")
    if not different_person:
        duplicates = probable_duplicates(meeting, name)
        if duplicates:
            raise ProbableDuplicate(name, duplicates)
    participant = create_walk_in(name, kind=kind, association_id=association_id)
    if given:
        # Before the attendance: its snapshot copies the answers stored here.
        demographics.save_walk_in_answers(participant, given, answers,
                                          text_version=DESK_CONSENT_VERSION, now=now)
    return _record_attendance(meeting, participant, mode=AttendanceMode.IN_PERSON, by=by, now=now,
                              walk_in=True)


def same_person(meeting: Meeting, attendance_id: int | None) -> Attendance:
    """Staff said a probable duplicate is the person already checked in: nothing is stored,
    the existing attendance stays as it is. Only checks that it is one of this session's."""
    attendance = db.session.get(Attendance, attendance_id) if attendance_id else None
    if attendance is None or attendance.meeting_id != meeting.id:
        raise ValidationFailed(str(_l("This check-in does not exist in this session.")))
    return attendance


def join_online(meeting: Meeting, participant: Participant, *, now: datetime) -> str:
    """The link to open for a registered participant (or one already present), from 15 minutes
    before the start to the end. Attendance is recorded only from the start: a click before it
    opens the room but says nothing about who took part."""
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
        if is_started(meeting, now):
            _record_attendance(meeting, participant, mode=AttendanceMode.ONLINE, by=None,
                               now=now, walk_in=False)
    return meeting.online_url


def get_registration(meeting: Meeting, registration_id: int | None) -> Registration:
    registration = db.session.get(Registration, registration_id) if registration_id else None
    if registration is None or registration.meeting_id != meeting.id:
        raise ValidationFailed(str(_l("This registration does not exist.")),
                               field="registration_id")
    return registration


# ---------------------------------------------------------------- a walk-in's own link


class WalkInLinkRefused(DomainError):
    """The phone link of a walk-in cannot be used: `reason` is "invalid", "expired" or "used"."""

    status = 404

    def __init__(self, reason: str) -> None:
        self.reason = reason
        if reason != "invalid":
            self.status = 410
        messages = {
            "expired": _l("This link has expired: it worked for 2 hours after the check-in. "
                          "Nothing was stored. Ask the staff at the desk for a new one."),
            "used": _l("This link has already been used: it works only once. Nothing more "
                       "was stored."),
            "invalid": _l("This link is not valid: check that it was copied whole, or ask the "
                          "staff at the desk for a new one."),
        }
        super().__init__(str(messages.get(reason, messages["invalid"])))


def may_have_walk_in_link(attendance: Attendance) -> bool:
    """Only walk-ins without an account: people with one give their demographics on their own
    profile page, which a link must not reach."""
    return attendance.walk_in and attendance.participant.user_id is None


def _link_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=WALK_IN_LINK_SALT)


def walk_in_link_token(attendance: Attendance, *, secret_key: str, now: datetime) -> str:
    """A signed token naming this attendance and its person, valid for WALK_IN_LINK_LIFETIME,
    good for this one purpose (its own salt) and, once used, for nothing."""
    if not may_have_walk_in_link(attendance):
        raise InvalidState(str(_l("Only walk-ins without an account get a link to give their "
                                  "demographics on their phone.")))
    expires = int((now + WALK_IN_LINK_LIFETIME).timestamp())
    return _link_serializer(secret_key).dumps(
        {"a": attendance.id, "p": attendance.participant_id, "e": expires})


def walk_in_link_used(attendance: Attendance) -> bool:
    return db.session.scalar(
        sa.select(AuditLog.id).where(AuditLog.action == WALK_IN_LINK_USED,
                                     AuditLog.target_type == "attendance",
                                     AuditLog.target_id == attendance.id).limit(1)
    ) is not None


def attendance_for_link(token: str, *, secret_key: str, now: datetime) -> Attendance:
    """The attendance a walk-in's link names; WalkInLinkRefused for anything else: a token
    that is altered, signed for another purpose, expired, already used, or whose attendance
    no longer is that person's walk-in check-in."""
    if not token or len(token) > 400:
        raise WalkInLinkRefused("invalid")
    try:
        payload = _link_serializer(secret_key).loads(token)
    except BadSignature:
        raise WalkInLinkRefused("invalid") from None
    if not isinstance(payload, dict) or set(payload) != {"a", "p", "e"} \
            or not all(type(payload[k]) is int for k in ("a", "p", "e")):
        raise WalkInLinkRefused("invalid")
    ident = valid_id(payload["a"])
    attendance = db.session.get(Attendance, ident) if ident is not None else None
    if attendance is None or attendance.participant_id != payload["p"] \
            or not may_have_walk_in_link(attendance):
        raise WalkInLinkRefused("invalid")
    if walk_in_link_used(attendance):
        raise WalkInLinkRefused("used")
    if now.timestamp() > payload["e"]:
        raise WalkInLinkRefused("expired")
    return attendance


def give_walk_in_demographics(attendance: Attendance, answers: Mapping[str, str | None], *,
                              consent: bool, now: datetime) -> demographics.SaveResult:
    """What a walk-in gave through their link, for that attendance only: with consent, their
    answers, a consent record and the attendance's snapshot; without, nothing. Either way the
    link is spent (an audit row without any value)."""
    # Two submits of one link at once: the second waits here, then finds the link spent.
    db.session.execute(sa.select(Attendance.id).where(Attendance.id == attendance.id)
                       .with_for_update())
    if walk_in_link_used(attendance):
        raise WalkInLinkRefused("used")
    meeting = attendance.meeting
    questions = walk_in_questions(meeting)
    given = demographics.walk_in_answers(answers, questions)
    if given and not consent:
        raise ValidationFailed(
            str(_l("Tick the consent box to save your answers, or choose \"Prefer not to say\".")),
            field="consent")
    result = demographics.SaveResult(0, 0, False)
    if given:
        result = demographics.save_walk_in_answers(
            attendance.participant, given, [q.code for q in questions],
            text_version=PHONE_CONSENT_VERSION, now=now, attendance_id=attendance.id)
    record_audit(None, "session.walk_in_demographics", "attendance", attendance.id,
                 process_id=meeting.process_id,
                 details={"session": meeting.id, "consent": bool(given),
                          "answers": len(given)})
    return result
