"""Answering a survey one was offered: what it asks, what one has answered so far, and saving.

An answer is never changed in place: a changed answer is a new Perception row at `now`, so that
figures "as of" an earlier instant keep the answer that counted then (INDICATORS.md,
Perceptions: the latest answer at or before T counts). An answer without a score is "don't
know"; a question left blank stays unanswered, so that a survey can be finished later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Literal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from wtforms import ValidationError

from pvplatform.core.forms import clean_text, no_control_characters
from pvplatform.errors import NotAllowed, ValidationFailed
from pvplatform.extensions import db
from pvplatform.feedback import surveys
from pvplatform.feedback.models import (
    PULSE_TEXT_MAX,
    Perception,
    PublicValue,
    PulseComment,
    SessionPulse,
    SurveyInvitation,
    Wave,
)
from pvplatform.feedback.surveys import Survey
from pvplatform.participation.models import Participant

SKIP = "skip"  # a question left blank: nothing is stored for it
SCORES = range(1, 6)

Answer = int | None | Literal["skip"]


# ---------------------------------------------------------------- what a survey asks

def asked_values(survey: Survey) -> list[PublicValue]:
    """The questions, in the order people see them: the whole catalogue for the baseline and
    final waves, the values staff chose for a session's pulse."""
    if survey.wave == Wave.SESSION:
        pulse = db.session.scalar(sa.select(SessionPulse).where(
            SessionPulse.meeting_id == survey.invitation.meeting_id))
        if pulse is None:
            return []
        # Only values of the process's catalogue ever have answers (INDICATORS.md).
        return [v for v in pulse.values if v.process_id == survey.process.id]
    return list(db.session.scalars(
        sa.select(PublicValue).where(PublicValue.process_id == survey.process.id)
        .order_by(PublicValue.position, PublicValue.id)))


def _answers_statement(participant_id: int, survey: Survey) -> sa.Select:
    meeting_id = survey.invitation.meeting_id
    return (
        sa.select(Perception.public_value_id, Perception.score)
        .join(PublicValue, PublicValue.id == Perception.public_value_id)
        .where(Perception.participant_id == participant_id,
               Perception.wave == survey.wave,
               PublicValue.process_id == survey.process.id,
               (Perception.meeting_id == meeting_id) if meeting_id is not None
               else Perception.meeting_id.is_(None))
        .order_by(Perception.answered_at, Perception.id))


def current_answers(participant: Participant, survey: Survey) -> dict[int, int | None]:
    """value id -> the answer that counts now (a score, or None for "don't know"); questions
    never answered are absent."""
    latest: dict[int, int | None] = {}
    for value_id, score in db.session.execute(_answers_statement(participant.id, survey)):
        latest[value_id] = score  # in time order: the last one wins
    return latest


def pulse_comment(participant: Participant, survey: Survey) -> str:
    if survey.wave != Wave.SESSION:
        return ""
    return db.session.scalar(sa.select(PulseComment.text).where(
        PulseComment.meeting_id == survey.invitation.meeting_id,
        PulseComment.participant_id == participant.id)) or ""


@dataclass(frozen=True)
class SurveyStatus:
    """One survey a person was offered, with its questions and where they stand."""

    survey: Survey
    values: list[PublicValue]
    current: dict[int, int | None]

    @property
    def total(self) -> int:
        return len(self.values)

    @property
    def answered(self) -> int:
        return sum(1 for v in self.values if v.id in self.current)

    @property
    def waiting(self) -> bool:
        """Open, with a question still unanswered: worth a reminder on the person's pages."""
        return self.survey.open and self.answered < self.total


def status_of(participant: Participant, survey: Survey) -> SurveyStatus:
    return SurveyStatus(survey, asked_values(survey), current_answers(participant, survey))


def statuses_of(participant: Participant, *, now: datetime) -> list[SurveyStatus]:
    """Every survey the person was offered (newest first), with their answers."""
    return [status_of(participant, s) for s in surveys.surveys_of(participant, now=now)]


def waiting_surveys(participant: Participant, *, now: datetime, process_id: int | None = None,
                    wave: Wave | None = None) -> list[SurveyStatus]:
    found = []
    for survey in surveys.surveys_of(participant, now=now):
        if not survey.open:
            continue
        if process_id is not None and survey.process.id != process_id:
            continue
        if wave is not None and survey.wave != wave:
            continue
        status = status_of(participant, survey)
        if status.waiting:
            found.append(status)
    return found


# ---------------------------------------------------------------- saving

def _checked_scores(answers: Mapping[object, object], asked: set[int]) -> dict[int, int | None]:
    scores: dict[int, int | None] = {}
    for key, answer in answers.items():
        # No answer id travels in a form: a value id names a question of this person's own
        # survey, and anything else is refused, not ignored.
        if type(key) is not int or key not in asked:
            raise ValidationFailed(str(_l("This question is not part of this survey. Reload "
                                          "the page and try again.")))
        if isinstance(answer, str) and answer == SKIP:
            continue
        if answer is None:
            scores[key] = None
        elif type(answer) is int and answer in SCORES:
            scores[key] = answer
        else:
            raise ValidationFailed(str(_l("Choose an answer from 1 to 5, or \"Don't know\".")))
    return scores


def _checked_comment(comment: object) -> str:
    if not isinstance(comment, str):
        raise ValidationFailed(str(_l("This text cannot be read.")), field="comment")
    text = clean_text(comment) or ""
    try:
        no_control_characters(None, SimpleNamespace(data=text))
    except ValidationError as err:
        raise ValidationFailed(str(err), field="comment") from None
    if len(text) > PULSE_TEXT_MAX:
        raise ValidationFailed(str(_l("At most %(max)d characters, please.",
                                      max=PULSE_TEXT_MAX)), field="comment")
    return text


def _lock(invitation: SurveyInvitation) -> None:
    """Two submits of the same survey at once (a double click, two tabs) queue here, so that
    the second sees what the first stored and adds nothing. On SQLite a writing request holds
    the write lock from its BEGIN already."""
    db.session.execute(sa.select(SurveyInvitation.id)
                       .where(SurveyInvitation.id == invitation.id).with_for_update())


def _store_comment(participant: Participant, meeting_id: int, text: str, now: datetime) -> None:
    row = db.session.scalar(sa.select(PulseComment).where(
        PulseComment.meeting_id == meeting_id, PulseComment.participant_id == participant.id))
    if not text:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        db.session.add(PulseComment(meeting_id=meeting_id, participant_id=participant.id,
                                    text=text, written_at=now))
    elif row.text != text:
        row.text = text
        row.written_at = now


def save_answers(participant: Participant, survey: Survey, answers: Mapping[object, object], *,
                 now: datetime, comment: str | None = None) -> int:
    """Stores the person's answers to their survey; returns how many answers changed.

    `answers` maps value ids to a score 1..5, None ("don't know") or SKIP (left blank). Only
    changed answers get a row. `comment` (pulses only) replaces the person's suggestion about
    the session; an empty one removes it, None leaves it as it is.
    """
    if survey.invitation.participant_id != participant.id:
        raise NotAllowed(str(_l("This survey was not offered to you.")))
    surveys.require_open(survey)
    scores = _checked_scores(answers, {v.id for v in asked_values(survey)})
    text = None
    if comment is not None:
        if survey.wave != Wave.SESSION:
            raise ValidationFailed(str(_l("Only the survey about a session takes a suggestion.")))
        text = _checked_comment(comment)
    _lock(survey.invitation)
    current = current_answers(participant, survey)
    changed = [(value_id, score) for value_id, score in scores.items()
               if value_id not in current or current[value_id] != score]
    if changed:
        meeting_id = survey.invitation.meeting_id
        with db.session.begin_nested() as savepoint:
            db.session.add_all(
                Perception(participant_id=participant.id, public_value_id=value_id,
                           wave=survey.wave, meeting_id=meeting_id, score=score,
                           answered_at=now)
                for value_id, score in changed)
            try:
                db.session.flush()
            except sa.exc.IntegrityError:
                # The same answers stored at this very instant by a twin submit: done already.
                savepoint.rollback()
                changed = []
    if text is not None:
        assert survey.invitation.meeting_id is not None
        _store_comment(participant, survey.invitation.meeting_id, text, now)
    return len(changed)
