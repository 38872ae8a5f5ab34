"""Speaking turns: who had the floor in a session, recorded by staff from its attendance list.

Until the live-room screens exist, staff record turns after the fact (or as they happen) from
the session's management page. The indicator engine counts the ended turns of held sessions
(speaking_time_share, speaking_gini, official_dominance).

No request context here: callers pass the acting user and `now` (aware UTC). Nothing commits;
the view commits once per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from pvplatform.auth.models import User
from pvplatform.core.pagination import Page, page_within
from pvplatform.core.sql import seconds_between
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.participation.models import Participant, ParticipantKind
from pvplatform.sessions.models import Attendance, Meeting, SpeakingTurn

# A turn must fall between the start of the session and this long after its end (sessions
# overrun, and the last questions are often taken after the official end)...
AFTER_END = timedelta(hours=2)
# ...or, for a session without an end (imported ones), this long after its start.
WITHOUT_END = timedelta(hours=24)
# The longest single turn the form accepts (a long presentation, not a whole session).
MAX_TURN_MINUTES = 300
# What the form proposes: a turn of this length, ending about now while the session runs.
DEFAULT_TURN = timedelta(minutes=2)
_MAX_ID = 2**31 - 1
# The most attendees the turn form offers at once; staff search by name for the others.
ATTENDEE_CHOICES = 100
# How many recorded turns the page lists at once, and how many speakers it names.
TURNS_PER_PAGE = 50
SPEAKERS_SHOWN = 50


@dataclass
class SpeakerTotal:
    participant: Participant
    turns: int = 0
    seconds: float = 0.0

    @property
    def internal(self) -> bool:
        return self.participant.kind.is_internal


@dataclass
class SpeakingSummary:
    """The recorded turns of one session, and the speaking time they add up to.

    Totals count ended turns only (as the indicators do); a running turn (an import's, without
    an end) is listed but not counted. A session may hold thousands of turns: `turns` is one
    page of them, latest first, and `speakers` the ones who spoke longest; the totals are
    everyone's."""

    turns: list[SpeakingTurn] = field(default_factory=list)
    speakers: list[SpeakerTotal] = field(default_factory=list)
    internal_seconds: float = 0.0
    external_seconds: float = 0.0
    running: int = 0
    silent_attendees: int = 0
    turn_count: int = 0
    speaker_count: int = 0
    turns_page: int = 1
    turns_per_page: int = TURNS_PER_PAGE

    @property
    def total_seconds(self) -> float:
        return self.internal_seconds + self.external_seconds

    def share(self, seconds: float) -> float | None:
        return seconds / self.total_seconds if self.total_seconds > 0 else None

    @property
    def turn_pages(self) -> Page:
        return Page(self.turns_page, self.turns_per_page, self.turn_count, self.turns)

    @property
    def speakers_not_shown(self) -> int:
        return self.speaker_count - len(self.speakers)


def turn_seconds(turn: SpeakingTurn) -> float | None:
    if turn.ended_at is None:
        return None
    return (turn.ended_at - turn.started_at).total_seconds()


def turn_window(meeting: Meeting) -> tuple[datetime, datetime]:
    """When a turn of this session may take place: from its start until 2 hours after its end
    (24 hours after its start when it has no end)."""
    if meeting.ends_at is not None:
        return meeting.starts_at, meeting.ends_at + AFTER_END
    return meeting.starts_at, meeting.starts_at + WITHOUT_END


def attendees(meeting: Meeting, *, search: str = "", chosen: int | None = None,
              limit: int = ATTENDEE_CHOICES) -> list[Participant]:
    """The people staff can give a turn to, by name: the session's attendees whose name contains
    `search` (all of them without one), at most `limit`, and the attendee `chosen` on a form
    being shown again even when the search no longer finds them.

    One statement whatever the size of the session: an online session of a big town may have
    thousands of attendees, more than a choice list can usefully hold."""
    name = sa.func.coalesce(User.display_name, Participant.display_name, "")
    stmt = (
        sa.select(Participant)
        .join(Attendance, Attendance.participant_id == Participant.id)
        .outerjoin(User, User.id == Participant.user_id)
        .where(Attendance.meeting_id == meeting.id)
        .options(contains_eager(Participant.user))
    )
    first: list[Any] = []
    if chosen is not None and 0 < chosen <= _MAX_ID:
        # A refused form keeps its choice, wherever the person sorts and whatever the search.
        first.append(sa.case((Participant.id == chosen, 0), else_=1))
    if search:
        found = sa.func.lower(name, type_=sa.String).contains(search.lower(), autoescape=True)
        stmt = stmt.where(sa.or_(found, Participant.id == chosen) if first else found)
    people = list(db.session.scalars(
        stmt.order_by(*first, sa.func.lower(name, type_=sa.String), Participant.id)
        .limit(limit)))
    # SQL lower() leaves accented capitals alone on SQLite: the final order is Python's.
    return sorted(people, key=lambda p: (p.name.casefold(), p.id))


def is_attendee(meeting: Meeting, participant: Participant) -> bool:
    return db.session.scalar(
        sa.select(Attendance.id).where(Attendance.meeting_id == meeting.id,
                                       Attendance.participant_id == participant.id)
    ) is not None


def get_participant(participant_id: int | None) -> Participant:
    """The participant a form names (whether they attended is `record_turn`'s to check)."""
    participant = None
    if participant_id is not None and 0 < participant_id <= _MAX_ID:
        participant = db.session.get(Participant, participant_id)
    if participant is None:
        raise ValidationFailed(
            str(_l("Choose a person from the attendance list of this session.")),
            field="participant_id")
    return participant


def default_start(meeting: Meeting, now: datetime) -> datetime:
    """What the form proposes as the start of the next turn: while the session runs, a couple of
    minutes ago; afterwards, the end of the latest recorded turn (turns are usually typed in
    order from notes), else the start of the session."""
    start, _end = turn_window(meeting)
    if now < start:
        return start
    session_end = meeting.ends_at or start + WITHOUT_END
    if now <= session_end:
        return max(start, (now - DEFAULT_TURN).replace(second=0, microsecond=0))
    latest = db.session.scalar(
        sa.select(sa.func.max(SpeakingTurn.ended_at)).where(SpeakingTurn.meeting_id == meeting.id)
    )
    if latest is not None and start <= latest <= now - DEFAULT_TURN:
        # To the next whole second: the form shows seconds, and the next turn must not start
        # before this one ends (an imported turn may end mid-second).
        whole = latest.replace(microsecond=0)
        return whole if whole == latest else whole + timedelta(seconds=1)
    return start


def _overlapping(meeting: Meeting, participant: Participant, started_at: datetime,
                 ended_at: datetime) -> SpeakingTurn | None:
    # Two turns overlap when each starts before the other ends; a running turn (no end yet)
    # lasts until further notice.
    return db.session.scalar(
        sa.select(SpeakingTurn)
        .where(
            SpeakingTurn.meeting_id == meeting.id,
            SpeakingTurn.participant_id == participant.id,
            SpeakingTurn.started_at < ended_at,
            sa.or_(SpeakingTurn.ended_at.is_(None), SpeakingTurn.ended_at > started_at),
        )
        .order_by(SpeakingTurn.started_at, SpeakingTurn.id)
        .limit(1)
    )


def record_turn(meeting: Meeting, participant: Participant, started_at: datetime,
                ended_at: datetime, *, by: User, now: datetime) -> SpeakingTurn:
    """Records that `participant` had the floor from `started_at` to `ended_at` (aware times).

    Refused, with nothing stored: for a session that has not started, a person who is not checked
    in to it, an end not after the start, a turn ending in the future or outside the session's
    window, and a turn overlapping another turn of the same person in this session."""
    if now < meeting.starts_at:
        raise InvalidState(
            str(_l("This session has not started yet: speaking turns can be recorded once it "
                   "has started.")))
    if not is_attendee(meeting, participant):
        raise ValidationFailed(
            str(_l("%(name)s is not checked in to this session: only attendees can be given a "
                   "speaking turn.", name=participant.name)), field="participant_id")
    if started_at.tzinfo is None or ended_at.tzinfo is None:
        raise ValidationFailed(str(_l("Times must carry a time zone.")), field="started_at")
    if ended_at <= started_at:
        raise ValidationFailed(str(_l("A turn must end after it starts.")), field="duration")
    if ended_at - started_at > timedelta(minutes=MAX_TURN_MINUTES):
        raise ValidationFailed(
            str(_l("A turn lasts at most %(minutes)s minutes.", minutes=MAX_TURN_MINUTES)),
            field="duration")
    if ended_at > now:
        raise ValidationFailed(
            str(_l("This turn would end in the future: record it once it has ended.")),
            field="started_at")
    window_start, window_end = turn_window(meeting)
    if started_at < window_start or ended_at > window_end:
        message = (_l("A turn must take place between the start of the session and 2 hours "
                      "after its end.") if meeting.ends_at is not None else
                   _l("A turn must take place within 24 hours of the start of the session."))
        raise ValidationFailed(str(message), field="started_at")
    # Serialises the check and the insert per session on PostgreSQL (SQLite has one writer).
    db.session.execute(sa.select(Meeting.id).where(Meeting.id == meeting.id).with_for_update())
    if _overlapping(meeting, participant, started_at, ended_at) is not None:
        raise InvalidState(
            str(_l("This turn overlaps another turn of %(name)s in this session: check the "
                   "times.", name=participant.name)), field="started_at")
    turn = SpeakingTurn(meeting_id=meeting.id, participant_id=participant.id,
                        started_at=started_at, ended_at=ended_at, recorded_by_id=by.id)
    db.session.add(turn)
    try:
        db.session.flush()
    except IntegrityError:
        raise InvalidState(
            str(_l("This turn overlaps another turn of %(name)s in this session: check the "
                   "times.", name=participant.name)), field="started_at") from None
    return turn


def get_turn(meeting: Meeting, turn_id: int | None) -> SpeakingTurn:
    turn = None
    if turn_id is not None and 0 < turn_id <= _MAX_ID:
        turn = db.session.get(SpeakingTurn, turn_id)
    if turn is None or turn.meeting_id != meeting.id:
        raise NotFound(str(_l("This speaking turn does not exist (it may have been deleted "
                              "already).")), field="turn_id")
    return turn


def delete_turn(meeting: Meeting, turn: SpeakingTurn, *, by: User, now: datetime) -> None:  # noqa: ARG001
    """Deletes a wrongly recorded turn; the audit row keeps what it was and who recorded it."""
    if turn.meeting_id != meeting.id:
        raise NotFound(str(_l("This speaking turn does not exist (it may have been deleted "
                              "already).")), field="turn_id")
    record_audit(by, "session.speaking_turn_delete", "session", meeting.id,
                 process_id=meeting.process_id,
                 details={
                     "turn_id": turn.id,
                     "participant_id": turn.participant_id,
                     "started_at": turn.started_at.isoformat(),
                     "ended_at": turn.ended_at.isoformat() if turn.ended_at else None,
                     "recorded_by_id": turn.recorded_by_id,
                 })
    db.session.delete(turn)
    db.session.flush()


def summary(meeting: Meeting, *, turns_page: int = 1, per_page: int = TURNS_PER_PAGE,
            speakers_shown: int = SPEAKERS_SHOWN) -> SpeakingSummary:
    """The session's speaking time added up in SQL (per group, and for the `speakers_shown`
    who spoke longest), with page `turns_page` of its turns, latest first: a fixed number of
    statements however many turns the session holds."""
    ended = SpeakingTurn.ended_at.is_not(None)
    seconds = seconds_between(SpeakingTurn.ended_at, SpeakingTurn.started_at)
    result = SpeakingSummary(turns_per_page=per_page)
    per_kind = db.session.execute(
        sa.select(Participant.kind,
                  sa.func.count(),
                  sa.func.count(sa.case((ended, 1))),
                  sa.func.count(sa.distinct(sa.case((ended, SpeakingTurn.participant_id)))),
                  sa.func.sum(sa.case((ended, seconds))))
        .join(Participant, Participant.id == SpeakingTurn.participant_id)
        .where(SpeakingTurn.meeting_id == meeting.id)
        .group_by(Participant.kind)
    ).all()
    for kind, turns, ended_turns, speakers, total in per_kind:
        result.turn_count += int(turns)
        result.running += int(turns) - int(ended_turns)
        result.speaker_count += int(speakers)
        if ParticipantKind(kind).is_internal:
            result.internal_seconds += float(total or 0.0)
        else:
            result.external_seconds += float(total or 0.0)

    name = sa.func.lower(sa.func.coalesce(User.display_name, Participant.display_name, ""),
                         type_=sa.String)
    longest = db.session.execute(
        sa.select(Participant, sa.func.count(), sa.func.sum(seconds))
        .join(SpeakingTurn, SpeakingTurn.participant_id == Participant.id)
        .outerjoin(Participant.user)
        .options(contains_eager(Participant.user))
        .where(SpeakingTurn.meeting_id == meeting.id, ended)
        .group_by(Participant.id, User.id)
        .order_by(sa.func.sum(seconds).desc(), name, Participant.id)
        .limit(speakers_shown)
    ).all()
    result.speakers = sorted(
        (SpeakerTotal(p, int(n), float(total or 0.0)) for p, n, total in longest),
        key=lambda t: (-t.seconds, t.participant.name.casefold(), t.participant.id))

    result.turns_page = page_within(turns_page, result.turn_count, per_page)
    if result.turn_count:
        result.turns = list(db.session.scalars(
            sa.select(SpeakingTurn)
            .join(SpeakingTurn.participant)
            .outerjoin(Participant.user)
            .where(SpeakingTurn.meeting_id == meeting.id)
            .options(contains_eager(SpeakingTurn.participant).contains_eager(Participant.user))
            .order_by(SpeakingTurn.started_at.desc(), SpeakingTurn.id.desc())
            .limit(per_page).offset((result.turns_page - 1) * per_page)))
    result.silent_attendees = int(db.session.scalar(
        sa.select(sa.func.count()).select_from(Attendance).where(
            Attendance.meeting_id == meeting.id,
            Attendance.participant_id.not_in(
                sa.select(SpeakingTurn.participant_id).where(
                    SpeakingTurn.meeting_id == meeting.id, ended)))) or 0)
    return result
