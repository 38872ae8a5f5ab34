"""Session pulses: three questions (chosen by staff among the catalogue) and "what would have
made it better?", sent once to the attendees of a held session, walk-ins included.

Each person is asked about a session once: sending again only reaches attendees checked in
since (late check-ins, paper sheets), and the questions of a sent pulse never change (its
answers are compared with each other). The suggestions are for staff only, shown without names
and only once k people answered, so that nobody's words can be told apart.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.feedback import surveys
from pvplatform.feedback.catalogue import values_of
from pvplatform.feedback.models import (
    PublicValue,
    PulseComment,
    SessionPulse,
    SurveyInvitation,
    Wave,
    pulse_values,
)
from pvplatform.indicators.suppression import current_k
from pvplatform.moderation.audit import record_audit
from pvplatform.participation.models import Participant
from pvplatform.sessions.models import Attendance, Meeting

PULSE_SIZE = 3
PULSE_LIFETIME = timedelta(days=14)


# ---------------------------------------------------------------- reading

def pulse_of(meeting_id: int) -> SessionPulse | None:
    return db.session.scalar(sa.select(SessionPulse).where(SessionPulse.meeting_id == meeting_id))


def is_held(meeting: Meeting, now: datetime) -> bool:
    return meeting.starts_at <= now


def attendees(meeting_id: int, now: datetime) -> sa.Select:
    """The participant ids checked in to the session at or before `now` (walk-ins too)."""
    return sa.select(Attendance.participant_id).where(Attendance.meeting_id == meeting_id,
                                                      Attendance.checked_in_at <= now)


def _count(statement: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0


def pulse_size(catalogue_size: int) -> int:
    """Three values, or all of them when the catalogue has fewer."""
    return min(PULSE_SIZE, catalogue_size)


def default_choice(values: Sequence[PublicValue]) -> list[int]:
    return [v.id for v in values[:PULSE_SIZE]]


def _invited(meeting_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(SurveyInvitation.wave == Wave.SESSION,
                   SurveyInvitation.meeting_id == meeting_id)


def _not_asked(meeting_id: int, now: datetime) -> sa.Select:
    asked = sa.exists().where(_invited(meeting_id),
                              SurveyInvitation.participant_id == Attendance.participant_id)
    return attendees(meeting_id, now).where(~asked)


@dataclass(frozen=True)
class PulseState:
    """A session's pulse as the staff page shows it."""

    pulse: SessionPulse | None
    attendees: int
    offered: int
    not_asked: int
    respondents: int
    reminded: int
    k: int

    def is_open(self, now: datetime) -> bool:
        return self.pulse is not None and self.pulse.is_open(now)

    @property
    def suggestions_shown(self) -> bool:
        return self.respondents >= self.k


def pulse_state(meeting: Meeting, now: datetime) -> PulseState:
    offered, reminded = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(SurveyInvitation.reminded_at))
        .where(_invited(meeting.id))).one()
    return PulseState(
        pulse=pulse_of(meeting.id), attendees=_count(attendees(meeting.id, now)),
        offered=offered or 0, not_asked=_count(_not_asked(meeting.id, now)),
        respondents=_count(surveys.pulse_respondents(meeting.id)), reminded=reminded or 0,
        k=current_k())


def walk_ins_offered(meeting_id: int) -> list[tuple[SurveyInvitation, Participant]]:
    """People without an account asked about the session: staff show each a QR code of their
    own link."""
    return [(invitation, participant) for invitation, participant in db.session.execute(
        sa.select(SurveyInvitation, Participant)
        .join(Participant, Participant.id == SurveyInvitation.participant_id)
        .where(_invited(meeting_id), Participant.user_id.is_(None))
        .order_by(Participant.display_name, Participant.id))]


def _alphabetical(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def suggestions(meeting_id: int, state: PulseState) -> list[str] | None:
    """The suggestions' texts, without names and in alphabetical order (not in the order they
    came: that would hint at who wrote which); None below k respondents."""
    if not state.suggestions_shown:
        return None
    texts = db.session.scalars(sa.select(PulseComment.text)
                               .where(PulseComment.meeting_id == meeting_id))
    return sorted((t for t in texts if t and t.strip()), key=lambda t: (_alphabetical(t), t))


@dataclass(frozen=True)
class SessionPulseRow:
    """One held session on the surveys page."""

    meeting: Meeting
    pulse: SessionPulse | None
    attendees: int
    offered: int
    respondents: int


def _per_meeting(statement: sa.Select) -> dict[int, int]:
    return {meeting_id: n for meeting_id, n in db.session.execute(statement)}


def held_sessions(process_id: int, now: datetime) -> list[SessionPulseRow]:
    """The process's sessions that have started, newest first, with their pulse's figures, in
    four statements whatever their number."""
    rows = db.session.execute(
        sa.select(Meeting, SessionPulse)
        .outerjoin(SessionPulse, SessionPulse.meeting_id == Meeting.id)
        .where(Meeting.process_id == process_id, Meeting.starts_at <= now)
        .order_by(Meeting.starts_at.desc(), Meeting.id.desc())).all()
    if not rows:
        return []
    held = sa.select(Meeting.id).where(Meeting.process_id == process_id,
                                       Meeting.starts_at <= now)
    came = _per_meeting(
        sa.select(Attendance.meeting_id, sa.func.count())
        .where(Attendance.meeting_id.in_(held), Attendance.checked_in_at <= now)
        .group_by(Attendance.meeting_id))
    asked = _per_meeting(
        sa.select(SurveyInvitation.meeting_id, sa.func.count())
        .where(SurveyInvitation.wave == Wave.SESSION, SurveyInvitation.meeting_id.in_(held))
        .group_by(SurveyInvitation.meeting_id))
    from pvplatform.feedback.models import Perception

    answers = sa.union(
        sa.select(Perception.meeting_id.label("mid"), Perception.participant_id.label("pid"))
        .where(Perception.wave == Wave.SESSION, Perception.meeting_id.in_(held)),
        sa.select(PulseComment.meeting_id, PulseComment.participant_id)
        .where(PulseComment.meeting_id.in_(held))).subquery("answers")
    answered = _per_meeting(sa.select(answers.c.mid, sa.func.count()).group_by(answers.c.mid))
    return [SessionPulseRow(meeting, pulse, came.get(meeting.id, 0), asked.get(meeting.id, 0),
                            answered.get(meeting.id, 0)) for meeting, pulse in rows]


# ---------------------------------------------------------------- sending

def _check_sendable(meeting: Meeting, now: datetime) -> list[PublicValue]:
    if not is_held(meeting, now):
        raise InvalidState(str(_l("The pulse can be sent once the session has started: it asks "
                                  "the people who came how it went.")))
    values = values_of(meeting.process_id)
    if not values:
        raise InvalidState(str(_l("The process has no public values yet: add them to the "
                                  "catalogue first, the pulse asks about three of them.")))
    if _count(attendees(meeting.id, now)) == 0:
        raise InvalidState(str(_l("Nobody is checked in to this session: the pulse only goes "
                                  "to the people who came.")))
    return values


def _check_choice(values: Sequence[PublicValue], value_ids: Sequence[int]) -> list[PublicValue]:
    wanted = pulse_size(len(values))
    chosen_ids = set(value_ids)
    chosen = [v for v in values if v.id in chosen_ids]
    if len(chosen) != len(chosen_ids) or len(chosen) != wanted:
        if wanted < PULSE_SIZE:
            message = _l("The catalogue has fewer than three values: the pulse asks about all "
                         "of them. Tick them all.")
        else:
            message = _l("Choose exactly three values: the pulse stays short.")
        raise ValidationFailed(str(message), field="values")
    return chosen


def send_pulse(meeting: Meeting, value_ids: Sequence[int], *, by: Any, now: datetime) -> int:
    """Creates the session's pulse with the chosen values (in the catalogue's order), open for
    fourteen days, and offers it to every attendee; returns how many were asked."""
    values = _check_sendable(meeting, now)
    if pulse_of(meeting.id) is not None:
        raise InvalidState(str(_l("The pulse of this session was sent already; its questions "
                                  "cannot change. Use \"Ask attendees not asked yet\" for "
                                  "people checked in since.")))
    chosen = _check_choice(values, value_ids)
    pulse = SessionPulse(meeting_id=meeting.id, sent_at=now, sent_by_id=getattr(by, "id", None),
                         closes_at=now + PULSE_LIFETIME)
    db.session.add(pulse)
    db.session.flush()
    db.session.execute(sa.insert(pulse_values), [
        {"pulse_id": pulse.id, "public_value_id": v.id, "position": position}
        for position, v in enumerate(chosen, start=1)])
    offered = surveys.offer_to(meeting.process, Wave.SESSION, attendees(meeting.id, now),
                               now=now, meeting=meeting)
    record_audit(by, "pulse.send", "session", meeting.id, process_id=meeting.process_id,
                 details={"values": [v.name for v in chosen], "asked": offered})
    return offered


def ask_new_attendees(meeting: Meeting, *, by: Any, now: datetime) -> int:
    """The sent pulse, with its questions, to the attendees not asked yet; returns how many."""
    _check_sendable(meeting, now)
    pulse = pulse_of(meeting.id)
    if pulse is None:
        raise InvalidState(str(_l("The pulse of this session has not been sent yet.")))
    if not pulse.is_open(now):
        raise InvalidState(str(_l("This pulse is closed: nobody else can be asked.")))
    offered = surveys.offer_to(meeting.process, Wave.SESSION, attendees(meeting.id, now),
                               now=now, meeting=meeting)
    if offered:
        record_audit(by, "pulse.send_more", "session", meeting.id,
                     process_id=meeting.process_id, details={"asked": offered})
    return offered


def close_pulse(meeting: Meeting, *, by: Any, now: datetime) -> None:
    pulse = pulse_of(meeting.id)
    if pulse is None or not pulse.is_open(now):
        raise InvalidState(str(_l("This pulse is not open.")))
    pulse.closes_at = max(now, pulse.sent_at)
    record_audit(by, "pulse.close", "session", meeting.id, process_id=meeting.process_id,
                 details={"closed_at": pulse.closes_at.isoformat()})
