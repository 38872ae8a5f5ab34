"""The survey core: opening waves offers them once to the people they are for, with one
notification each; nobody answers what they were not offered."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, NotAllowed
from pvplatform.extensions import db
from pvplatform.feedback import surveys
from pvplatform.feedback.models import PublicValue, SurveyInvitation, Wave
from pvplatform.notifications.models import Notification
from pvplatform.sessions.models import Registration


def _catalogue(process) -> None:
    db.session.add(PublicValue(process_id=process.id, code="trust", name="Confiance",
                               statement="J'ai confiance dans la mairie.", position=1))
    db.session.commit()


def _invited(process, wave) -> set[int]:
    return set(db.session.scalars(sa.select(SurveyInvitation.participant_id).where(
        SurveyInvitation.process_id == process.id, SurveyInvitation.wave == wave)))


def test_baseline_goes_to_registrants_and_internal_people_once(factory):
    process = factory.process()
    _catalogue(process)
    staff = factory.user(Role.STAFF)
    elected = factory.user(Role.ELECTED)
    factory.user(Role.EVALUATOR)
    citizen = factory.participant(factory.user())
    bystander = factory.participant(factory.user())
    meeting = factory.meeting(process)
    db.session.add(Registration(meeting_id=meeting.id, participant_id=citizen.id))
    db.session.commit()
    now = utcnow()

    offered = surveys.open_wave(process, Wave.BASELINE, by=staff, now=now)
    db.session.commit()
    invited = _invited(process, Wave.BASELINE)
    assert offered == 3 and citizen.id in invited and bystander.id not in invited
    notified = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.kind == surveys.NOTIFICATION_KIND)))
    assert notified == {staff.id, elected.id, citizen.user_id}

    # Offering again (a later action, a reopened wave) adds nobody twice.
    assert surveys.offer(process, citizen, Wave.BASELINE, now=now) is None
    surveys.close_wave(process, Wave.BASELINE, by=staff, now=now + timedelta(seconds=1))
    assert surveys.open_wave(process, Wave.BASELINE, by=staff,
                             now=now + timedelta(seconds=2)) == 0
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 3
    assert surveys.catalogue_locked(process.id)

    survey = surveys.survey_for(citizen, process, Wave.BASELINE, now=now + timedelta(seconds=3))
    assert survey.open
    with pytest.raises(NotAllowed):
        surveys.survey_for(bystander, process, Wave.BASELINE, now=now)


def test_final_needs_the_baseline_and_a_catalogue(factory):
    process = factory.process()
    staff = factory.user(Role.STAFF)
    with pytest.raises(InvalidState):
        surveys.open_wave(process, Wave.BASELINE, by=staff, now=utcnow())
    _catalogue(process)
    with pytest.raises(InvalidState):
        surveys.open_wave(process, Wave.FINAL, by=staff, now=utcnow())
    with pytest.raises(InvalidState):
        surveys.open_wave(process, "session", by=staff, now=utcnow())


def test_evaluators_answer_nothing(factory):
    evaluator = factory.user(Role.EVALUATOR)
    with pytest.raises(NotAllowed):
        surveys.answering_participant(evaluator)
