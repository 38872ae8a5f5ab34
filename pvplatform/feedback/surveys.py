"""Survey waves and who is asked: opening and closing the baseline and final waves, offering a
wave to a person (once, with a notification), and what a person may answer now.

A person may answer a wave or a pulse only when they were offered it (a `SurveyInvitation`) and
it is open; evaluators hold no participant row and are never offered anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Role, User
from pvplatform.errors import InvalidState, NotAllowed
from pvplatform.extensions import db
from pvplatform.feedback.models import SessionPulse, SurveyInvitation, SurveyWave, Wave
from pvplatform.indicators.sets import ProcessSets
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.models import Notification
from pvplatform.notifications.services import N_
from pvplatform.participation.models import Participant, ParticipantKind
from pvplatform.participation.services import participant_for
from pvplatform.processes.models import Process
from pvplatform.sessions.models import Meeting

WAVES = (Wave.BASELINE, Wave.FINAL)  # the waves staff open and close; pulses are per session
NOTIFICATION_KIND = "survey"
INTERNAL_ROLES = (Role.STAFF, Role.ELECTED)  # who stands for the administration and the council

OFFER_MESSAGES = {
    Wave.BASELINE: N_("How do you see public life in %(process)s today? Eight short questions, "
                      "two minutes: your answers tell whether the process creates value for "
                      "you."),
    Wave.FINAL: N_("The process %(process)s is reaching its end: how do you see public life "
                   "now? The same short questions as at the start; your answers count, "
                   "whether you took part to the end or not."),
    Wave.SESSION: N_("Three quick questions about the session \"%(session)s\": how was it "
                     "for you?"),
}
REMINDER_MESSAGES = {
    Wave.BASELINE: N_("Reminder: the short survey of %(process)s is still open. Your view "
                      "counts, even if you only came once."),
    Wave.FINAL: N_("Reminder: the closing survey of %(process)s is open until staff close it. "
                   "It takes two minutes."),
    Wave.SESSION: N_("Reminder: three quick questions about the session \"%(session)s\"."),
}


# ---------------------------------------------------------------- paths (no request needed)

def wave_path(process_id: int, wave: Wave | str) -> str:
    # Built by hand: offers are made outside requests too (the demo, the CLI, listeners).
    return f"/processes/{process_id}/survey/{Wave(wave).value}"


def pulse_path(meeting_id: int) -> str:
    return f"/sessions/{meeting_id}/pulse"


def survey_path(invitation: SurveyInvitation) -> str:
    if invitation.wave == Wave.SESSION:
        assert invitation.meeting_id is not None
        return pulse_path(invitation.meeting_id)
    return wave_path(invitation.process_id, invitation.wave)


# ---------------------------------------------------------------- waves

def wave_row(process_id: int, wave: Wave | str) -> SurveyWave | None:
    return db.session.scalar(sa.select(SurveyWave).where(
        SurveyWave.process_id == process_id, SurveyWave.wave == Wave(wave)))


def wave_is_open(process_id: int, wave: Wave | str, now: datetime) -> bool:
    row = wave_row(process_id, wave)
    return row is not None and row.is_open(now)


def catalogue_locked(process_id: int) -> bool:
    """The catalogue is fixed in substance once the baseline has been opened or any answer
    exists (an imported package, a pulse): later answers must be comparable with earlier ones."""
    from pvplatform.feedback.models import Perception, PublicValue

    baseline = sa.select(SurveyWave.id).where(SurveyWave.process_id == process_id,
                                              SurveyWave.wave == Wave.BASELINE)
    answers = (sa.select(Perception.id)
               .join(PublicValue, PublicValue.id == Perception.public_value_id)
               .where(PublicValue.process_id == process_id))
    pulses = (sa.select(SessionPulse.id).join(Meeting, Meeting.id == SessionPulse.meeting_id)
              .where(Meeting.process_id == process_id))
    return bool(db.session.scalar(sa.select(
        sa.or_(sa.exists(baseline), sa.exists(answers), sa.exists(pulses)))))


def _check_wave(wave: Wave | str) -> Wave:
    try:
        wave = Wave(wave)
    except ValueError:
        raise InvalidState(str(_l("There is no such survey."))) from None
    if wave not in WAVES:
        raise InvalidState(str(_l("There is no such survey.")))
    return wave


def _has_values(process_id: int) -> bool:
    from pvplatform.feedback.models import PublicValue

    return db.session.scalar(sa.select(sa.exists().where(
        PublicValue.process_id == process_id))) or False


def open_wave(process: Process, wave: Wave | str, *, by: User, now: datetime) -> int:
    """Opens (or reopens) a wave and offers it to the people it is for; returns how many were
    newly offered it. The final wave needs the baseline first: without it nothing compares."""
    wave = _check_wave(wave)
    if not _has_values(process.id):
        raise InvalidState(str(_l("Add at least one public value to the catalogue before "
                                  "opening a survey.")))
    if wave == Wave.FINAL and wave_row(process.id, Wave.BASELINE) is None:
        raise InvalidState(str(_l("Open the baseline survey first: the final survey is "
                                  "compared with it.")))
    row = wave_row(process.id, wave)
    if row is not None and row.is_open(now):
        raise InvalidState(str(_l("This survey is already open.")))
    reopened = row is not None
    if row is None:
        row = SurveyWave(process_id=process.id, wave=wave, opened_at=now, opened_by_id=by.id)
        db.session.add(row)
    else:
        row.closed_at = None
        row.closed_by_id = None
    db.session.flush()
    offered = offer_to_circle(process, wave, now=now)
    record_audit(by, "survey_reopened" if reopened else "survey_opened", "process", process.id,
                 process_id=process.id, details={"wave": wave.value, "offered": offered})
    return offered


def close_wave(process: Process, wave: Wave | str, *, by: User, now: datetime) -> None:
    wave = _check_wave(wave)
    row = wave_row(process.id, wave)
    if row is None or not row.is_open(now):
        raise InvalidState(str(_l("This survey is not open.")))
    row.closed_at = now
    row.closed_by_id = by.id
    record_audit(by, "survey_closed", "process", process.id, process_id=process.id,
                 details={"wave": wave.value})


# ---------------------------------------------------------------- offers

def _internal_participants() -> None:
    """Staff and elected officials answer for themselves: they get a participant row (as
    `participant_for` would give them on their first action)."""
    missing = db.session.scalars(
        sa.select(User).where(User.role.in_(INTERNAL_ROLES), User.deleted_at.is_(None),
                              ~sa.exists().where(Participant.user_id == User.id)))
    for user in missing:
        participant_for(user)
    db.session.flush()


def circle_statement(process: Process, wave: Wave, now: datetime) -> sa.Select:
    """The participant ids a wave is for as it opens. Baseline: everyone who has taken part or
    registered so far, and internal participants. Final: everyone who took part, including
    those who dropped out, the baseline's respondents (non-participants who answered it stay a
    comparison group), and internal participants."""
    from pvplatform.feedback.models import Perception, PublicValue

    s = ProcessSets(process.id, now)
    active = s.active()
    parts: list[sa.Select] = [
        sa.select(active.c.pid.label("pid")),
        sa.select(s.live.c.pid),
        sa.select(Participant.id).join(User, User.id == Participant.user_id)
        .where(User.role.in_(INTERNAL_ROLES), User.deleted_at.is_(None)),
    ]
    if wave == Wave.FINAL:
        parts.append(
            sa.select(Perception.participant_id)
            .join(PublicValue, PublicValue.id == Perception.public_value_id)
            .where(PublicValue.process_id == process.id, Perception.wave == Wave.BASELINE))
    return sa.union(*parts)


def offer_to_circle(process: Process, wave: Wave, *, now: datetime) -> int:
    """Offers the wave to everyone in its circle not offered it yet, in two statements (a city's
    final wave reaches tens of thousands of people)."""
    _internal_participants()
    circle = circle_statement(process, wave, now).subquery("circle")
    already = sa.exists().where(
        SurveyInvitation.process_id == process.id,
        SurveyInvitation.participant_id == circle.c.pid,
        SurveyInvitation.wave == wave,
        SurveyInvitation.meeting_id.is_(None))
    db.session.execute(
        sa.insert(SurveyInvitation).from_select(
            ["process_id", "participant_id", "wave", "offered_at"],
            sa.select(sa.literal(process.id), circle.c.pid, sa.literal(wave.value),
                      sa.literal(now, type_=SurveyInvitation.offered_at.type))
            .where(~already)))
    # The driver's rowcount of an INSERT ... SELECT is not reliable on SQLite: counted instead.
    count = db.session.scalar(sa.select(sa.func.count()).where(
        SurveyInvitation.process_id == process.id, SurveyInvitation.wave == wave,
        SurveyInvitation.meeting_id.is_(None), SurveyInvitation.offered_at == now)) or 0
    _notify_offered(process_id=process.id, wave=wave, meeting_id=None, now=now,
                    message=OFFER_MESSAGES[wave], params={"process": process.title},
                    link=wave_path(process.id, wave))
    return count


def _notify_offered(*, process_id: int, wave: Wave, meeting_id: int | None, now: datetime,
                    message: str, params: dict, link: str) -> None:
    """One notification to each person with an account offered the survey at `now`."""
    just_offered = (
        sa.select(Participant.user_id, sa.literal(NOTIFICATION_KIND), sa.literal(message),
                  sa.literal(params, type_=Notification.params.type), sa.literal(link),
                  sa.literal(now, type_=Notification.created_at.type))
        .select_from(SurveyInvitation)
        .join(Participant, Participant.id == SurveyInvitation.participant_id)
        .join(User, User.id == Participant.user_id)
        .where(SurveyInvitation.process_id == process_id, SurveyInvitation.wave == wave,
               (SurveyInvitation.meeting_id == meeting_id) if meeting_id is not None
               else SurveyInvitation.meeting_id.is_(None),
               SurveyInvitation.offered_at == now, User.deleted_at.is_(None),
               User.role != Role.EVALUATOR))
    db.session.execute(sa.insert(Notification).from_select(
        ["user_id", "kind", "message", "params", "link", "created_at"], just_offered))


def offer(process: Process, participant: Participant, wave: Wave, *, now: datetime,
          meeting: Meeting | None = None) -> SurveyInvitation | None:
    """Offers one person a wave (or, with `meeting`, that session's pulse) unless they were
    offered it already; returns the new invitation, or None."""
    meeting_id = meeting.id if meeting is not None else None
    exists = db.session.scalar(sa.select(SurveyInvitation.id).where(
        SurveyInvitation.process_id == process.id,
        SurveyInvitation.participant_id == participant.id,
        SurveyInvitation.wave == wave,
        (SurveyInvitation.meeting_id == meeting_id) if meeting_id is not None
        else SurveyInvitation.meeting_id.is_(None)))
    if exists is not None:
        return None
    # A concurrent offer of the same survey loses on the unique index, without failing the
    # change that triggered it.
    with db.session.begin_nested() as savepoint:
        invitation = SurveyInvitation(process_id=process.id, participant_id=participant.id,
                                      wave=wave, meeting_id=meeting_id, offered_at=now)
        db.session.add(invitation)
        try:
            db.session.flush()
        except sa.exc.IntegrityError:
            savepoint.rollback()
            return None
    user = participant.user
    if user is not None and user.is_active and user.role != Role.EVALUATOR:
        params = ({"session": meeting.title} if meeting is not None
                  else {"process": process.title})
        db.session.add(Notification(user_id=user.id, kind=NOTIFICATION_KIND,
                                    message=OFFER_MESSAGES[wave], params=params,
                                    link=survey_path(invitation), created_at=now))
    return invitation


def offer_open_waves(process: Process, participant: Participant, *, now: datetime) -> None:
    """A person's first registration, attendance or contribution: the open waves are offered
    to them (once)."""
    if participant.kind not in tuple(ParticipantKind):
        return
    for wave in WAVES:
        if wave_is_open(process.id, wave, now):
            offer(process, participant, wave, now=now)


# ---------------------------------------------------------------- what a person may answer

@dataclass(frozen=True)
class Survey:
    """One survey a person was offered: a wave of a process, or the pulse about a session."""

    invitation: SurveyInvitation
    process: Process
    meeting: Meeting | None
    open: bool

    @property
    def wave(self) -> Wave:
        return Wave(self.invitation.wave)

    @property
    def path(self) -> str:
        return survey_path(self.invitation)


def answering_participant(user: User) -> Participant:
    """The participant a user answers as; evaluators (and anonymous users) answer nothing."""
    if user is None or not getattr(user, "is_authenticated", False) \
            or user.role == Role.EVALUATOR:
        raise NotAllowed(str(_l("Evaluators read the results; they do not answer surveys.")))
    return participant_for(user)


def _is_open(invitation: SurveyInvitation, now: datetime) -> bool:
    if invitation.wave == Wave.SESSION:
        pulse = db.session.scalar(sa.select(SessionPulse).where(
            SessionPulse.meeting_id == invitation.meeting_id))
        return pulse is not None and pulse.is_open(now)
    return wave_is_open(invitation.process_id, invitation.wave, now)


def survey_for(participant: Participant, process: Process, wave: Wave, *, now: datetime,
               meeting: Meeting | None = None) -> Survey:
    """The survey this person may open; NotAllowed when they were never offered it (the same
    answer whether it exists or not, so that nothing is learnt by guessing ids)."""
    meeting_id = meeting.id if meeting is not None else None
    invitation = db.session.scalar(sa.select(SurveyInvitation).where(
        SurveyInvitation.process_id == process.id,
        SurveyInvitation.participant_id == participant.id,
        SurveyInvitation.wave == wave,
        (SurveyInvitation.meeting_id == meeting_id) if meeting_id is not None
        else SurveyInvitation.meeting_id.is_(None)))
    if invitation is None:
        raise NotAllowed(str(_l("This survey was not offered to you.")))
    return Survey(invitation, process, meeting, _is_open(invitation, now))


def require_open(survey: Survey) -> None:
    if not survey.open:
        raise InvalidState(str(_l("This survey is closed: answers are no longer taken. Thank "
                                  "you for your interest.")))


def surveys_of(participant: Participant, *, now: datetime) -> list[Survey]:
    """Every survey this person was offered, newest first."""
    # The wave or pulse each invitation is for comes with it: one statement, not one per row.
    rows = db.session.execute(
        sa.select(SurveyInvitation, Process, Meeting, SurveyWave, SessionPulse)
        .join(Process, Process.id == SurveyInvitation.process_id)
        .outerjoin(Meeting, Meeting.id == SurveyInvitation.meeting_id)
        .outerjoin(SurveyWave, sa.and_(SurveyWave.process_id == SurveyInvitation.process_id,
                                       SurveyWave.wave == SurveyInvitation.wave))
        .outerjoin(SessionPulse, SessionPulse.meeting_id == SurveyInvitation.meeting_id)
        .where(SurveyInvitation.participant_id == participant.id)
        .order_by(SurveyInvitation.offered_at.desc(), SurveyInvitation.id.desc())
    ).all()
    found = []
    for invitation, process, meeting, wave, pulse in rows:
        window = pulse if invitation.wave == Wave.SESSION else wave
        found.append(Survey(invitation, process, meeting,
                            window is not None and window.is_open(now)))
    return found


# ---------------------------------------------------------------- offers to many people at once

def _same_meeting(meeting_id: int | None) -> sa.ColumnElement[bool]:
    return (SurveyInvitation.meeting_id == meeting_id) if meeting_id is not None \
        else SurveyInvitation.meeting_id.is_(None)


def offer_to(process: Process, wave: Wave, people: sa.Select, *, now: datetime,
             meeting: Meeting | None = None) -> int:
    """Offers a wave (or, with `meeting`, that session's pulse) to the participant ids `people`
    selects, except those offered it already, with one notification each to those with an
    account; returns how many were newly offered. A few statements whatever the number of people
    (a paper sheet, a pulse to a crowded session).

    A concurrent offer of the same survey to the same person makes the batch lose on the unique
    index: it is then retried person by person, each losing alone (`offer`), so that the change
    that triggered it is never refused."""
    meeting_id = meeting.id if meeting is not None else None
    wanted = people.subquery("wanted")
    pid = next(iter(wanted.c))
    already = sa.exists().where(
        SurveyInvitation.process_id == process.id, SurveyInvitation.participant_id == pid,
        SurveyInvitation.wave == wave, _same_meeting(meeting_id))
    insert = sa.insert(SurveyInvitation).from_select(
        ["process_id", "participant_id", "wave", "meeting_id", "offered_at"],
        sa.select(sa.literal(process.id), pid, sa.literal(wave.value),
                  sa.literal(meeting_id, type_=sa.Integer),
                  sa.literal(now, type_=SurveyInvitation.offered_at.type))
        .where(pid.is_not(None), ~already).distinct())
    try:
        with db.session.begin_nested():
            db.session.execute(insert)
    except sa.exc.IntegrityError:
        participants = db.session.scalars(
            sa.select(Participant).where(Participant.id.in_(sa.select(pid)))).all()
        return sum(offer(process, p, wave, now=now, meeting=meeting) is not None
                   for p in participants)
    just_offered = sa.and_(
        SurveyInvitation.process_id == process.id, SurveyInvitation.wave == wave,
        _same_meeting(meeting_id), SurveyInvitation.offered_at == now,
        SurveyInvitation.participant_id.in_(sa.select(pid)))
    if meeting is not None:
        params, link = {"session": meeting.title}, pulse_path(meeting.id)
    else:
        params, link = {"process": process.title}, wave_path(process.id, wave)
    # Not twice to the same person: an `offer` at this same instant has notified them already.
    notified = sa.exists().where(
        Notification.user_id == User.id, Notification.kind == NOTIFICATION_KIND,
        Notification.link == link, Notification.created_at == now)
    db.session.execute(sa.insert(Notification).from_select(
        ["user_id", "kind", "message", "params", "link", "created_at"],
        sa.select(User.id, sa.literal(NOTIFICATION_KIND), sa.literal(OFFER_MESSAGES[wave]),
                  sa.literal(params, type_=Notification.params.type), sa.literal(link),
                  sa.literal(now, type_=Notification.created_at.type))
        .select_from(SurveyInvitation)
        .join(Participant, Participant.id == SurveyInvitation.participant_id)
        .join(User, User.id == Participant.user_id)
        .where(just_offered, User.deleted_at.is_(None), User.role != Role.EVALUATOR,
               ~notified)))
    return db.session.scalar(sa.select(sa.func.count()).select_from(SurveyInvitation)
                             .where(just_offered)) or 0


def offer_open_baseline(process: Process, people: sa.Select, *, now: datetime) -> int:
    """The baseline, if it is open, to the participant ids `people` selects (0 otherwise)."""
    if not wave_is_open(process.id, Wave.BASELINE, now):
        return 0
    return offer_to(process, Wave.BASELINE, people, now=now)


# ---------------------------------------------------------------- who answered

def wave_respondents(process_id: int, wave: Wave | str) -> sa.Select:
    """The participant ids with at least one answer in a baseline or final wave."""
    from pvplatform.feedback.models import Perception, PublicValue

    return (sa.select(Perception.participant_id)
            .join(PublicValue, PublicValue.id == Perception.public_value_id)
            .where(PublicValue.process_id == process_id, Perception.wave == Wave(wave))
            .distinct())


def pulse_respondents(meeting_id: int) -> sa.Select:
    """The participant ids who answered a session's pulse: a score, a "don't know" or a
    suggestion."""
    from pvplatform.feedback.models import Perception, PulseComment

    return sa.union(
        sa.select(Perception.participant_id.label("pid"))
        .where(Perception.wave == Wave.SESSION, Perception.meeting_id == meeting_id),
        sa.select(PulseComment.participant_id)
        .where(PulseComment.meeting_id == meeting_id))


@dataclass(frozen=True)
class WaveState:
    """A baseline or final wave as staff see it."""

    wave: Wave
    row: SurveyWave | None
    offered: int
    respondents: int
    reminded: int

    def is_open(self, now: datetime) -> bool:
        return self.row is not None and self.row.is_open(now)


def wave_state(process_id: int, wave: Wave | str) -> WaveState:
    wave = Wave(wave)
    invited = (sa.select(sa.func.count(), sa.func.count(SurveyInvitation.reminded_at))
               .where(SurveyInvitation.process_id == process_id,
                      SurveyInvitation.wave == wave, SurveyInvitation.meeting_id.is_(None)))
    offered, reminded = db.session.execute(invited).one()
    respondents = db.session.scalar(sa.select(sa.func.count()).select_from(
        wave_respondents(process_id, wave).subquery())) or 0
    return WaveState(wave, wave_row(process_id, wave), offered or 0, respondents, reminded or 0)
