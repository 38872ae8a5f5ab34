"""Reminders: one notification to each person with an account who was offered a survey (a wave,
or a session's pulse) and has not answered it yet, at most once per survey and person, ever.
Several hundred thousand invitations are handled in three statements, not a loop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Role, User
from pvplatform.errors import InvalidState
from pvplatform.extensions import db
from pvplatform.feedback import surveys
from pvplatform.feedback.models import SurveyInvitation, Wave
from pvplatform.feedback.pulses import pulse_of
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Process
from pvplatform.sessions.models import Meeting


def _remind(*, process_id: int, wave: Wave, meeting_id: int | None, answered: sa.Select,
            message: str, params: dict, link: str, now: datetime) -> int:
    """Marks the invitations to remind (`reminded_at` = now), then notifies their people; the
    mark is what keeps a second reminder from reaching them."""
    same_survey = sa.and_(
        SurveyInvitation.process_id == process_id, SurveyInvitation.wave == wave,
        (SurveyInvitation.meeting_id == meeting_id) if meeting_id is not None
        else SurveyInvitation.meeting_id.is_(None))
    reachable = (sa.select(Participant.id).join(User, User.id == Participant.user_id)
                 .where(User.deleted_at.is_(None), User.role != Role.EVALUATOR))
    db.session.execute(
        sa.update(SurveyInvitation)
        .where(same_survey, SurveyInvitation.reminded_at.is_(None),
               SurveyInvitation.participant_id.in_(reachable),
               SurveyInvitation.participant_id.not_in(answered))
        .values(reminded_at=now)
        .execution_options(synchronize_session=False))
    reminded_now = sa.and_(same_survey, SurveyInvitation.reminded_at == now)
    db.session.execute(sa.insert(Notification).from_select(
        ["user_id", "kind", "message", "params", "link", "created_at"],
        sa.select(Participant.user_id, sa.literal(surveys.NOTIFICATION_KIND),
                  sa.literal(message), sa.literal(params, type_=Notification.params.type),
                  sa.literal(link), sa.literal(now, type_=Notification.created_at.type))
        .select_from(SurveyInvitation)
        .join(Participant, Participant.id == SurveyInvitation.participant_id)
        .where(reminded_now)))
    return db.session.scalar(sa.select(sa.func.count()).select_from(SurveyInvitation)
                             .where(reminded_now)) or 0


def remind_wave(process: Process, wave: Wave | str, *, by: Any, now: datetime) -> int:
    """Reminds the people offered an open baseline or final wave who have not answered it;
    returns how many were reminded."""
    try:
        wave = Wave(wave)
    except ValueError:
        raise InvalidState(str(_l("There is no such survey."))) from None
    if wave not in surveys.WAVES:
        raise InvalidState(str(_l("There is no such survey.")))
    if not surveys.wave_is_open(process.id, wave, now):
        raise InvalidState(str(_l("This survey is not open: a reminder could only lead to a "
                                  "closed survey.")))
    count = _remind(process_id=process.id, wave=wave, meeting_id=None,
                    answered=surveys.wave_respondents(process.id, wave),
                    message=surveys.REMINDER_MESSAGES[wave], params={"process": process.title},
                    link=surveys.wave_path(process.id, wave), now=now)
    if count:
        record_audit(by, "survey.remind", "process", process.id, process_id=process.id,
                     details={"wave": wave.value, "reminded": count})
    return count


def remind_pulse(meeting: Meeting, *, by: Any, now: datetime) -> int:
    """Reminds the attendees asked about the session who have not answered its pulse."""
    pulse = pulse_of(meeting.id)
    if pulse is None:
        raise InvalidState(str(_l("The pulse of this session has not been sent yet.")))
    if not pulse.is_open(now):
        raise InvalidState(str(_l("This pulse is closed: a reminder could only lead to a "
                                  "closed survey.")))
    answered = sa.select(surveys.pulse_respondents(meeting.id).subquery().c.pid)
    count = _remind(process_id=meeting.process_id, wave=Wave.SESSION, meeting_id=meeting.id,
                    answered=answered, message=surveys.REMINDER_MESSAGES[Wave.SESSION],
                    params={"session": meeting.title}, link=surveys.pulse_path(meeting.id),
                    now=now)
    if count:
        record_audit(by, "pulse.remind", "session", meeting.id, process_id=meeting.process_id,
                     details={"reminded": count})
    return count
