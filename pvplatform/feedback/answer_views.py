"""Answering surveys: the baseline and final waves, session pulses, walk-ins' links, my surveys.

No answer id travels in a URL or a form: a post writes the rows of the person signed in (or of
the person a survey link names), never anyone else's. Pages only read: no participant row is
made for a GET.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from pvplatform.auth import permissions
from pvplatform.core.form_views import show_domain_error
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, NotAllowed, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.feedback import answers, links, surveys
from pvplatform.feedback.answer_forms import (
    AnswerForm,
    Question,
    answer_form,
    answer_label,
    questions_of,
    submitted_answers,
    submitted_comment,
    survey_title,
)
from pvplatform.feedback.blueprint import bp
from pvplatform.feedback.models import Wave
from pvplatform.feedback.surveys import Survey
from pvplatform.participation.models import Participant
from pvplatform.participation.services import find_participant
from pvplatform.processes.models import Process
from pvplatform.sessions.models import Meeting

WAVE_SLUGS = {Wave.BASELINE.value: Wave.BASELINE, Wave.FINAL.value: Wave.FINAL}


def _locale() -> str:
    return str(get_locale())


def _require_answerer() -> None:
    if not permissions.can_answer_surveys(current_user):
        raise NotAllowed(_("Evaluators read the results; they do not answer surveys."))


def _participant() -> Participant:
    if request.method == "POST":
        return surveys.answering_participant(current_user)
    participant = find_participant(current_user)
    if participant is None:  # never offered anything: they would have a participant row
        raise NotAllowed(_("This survey was not offered to you."))
    return participant


def _private(body: Response | str, status: int | None = None, *,
             link: bool = False) -> Response:
    # One person's answers: neither the browser nor a proxy keeps a copy.
    response = make_response(body) if status is None else make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    if link:
        # The page's own address is a bearer link: it must not leak to other sites.
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def survey_url(survey: Survey) -> str:
    if survey.wave == Wave.SESSION and survey.meeting is not None:
        return url_for("feedback.answer_pulse", meeting_id=survey.meeting.id)
    return url_for("feedback.answer_wave", process_id=survey.process.id, wave=survey.wave.value)


@dataclass(frozen=True)
class Listed:
    """A survey as the person's pages show it."""

    status: answers.SurveyStatus
    title: str
    url: str
    answers: list[tuple[str, str]]  # (question, my answer), in the survey's order


def _listed(status: answers.SurveyStatus, locale: str) -> Listed:
    return Listed(status, survey_title(status.survey), survey_url(status.survey),
                  [(v.question(locale), answer_label(status.current, v.id))
                   for v in status.values])


@bp.app_template_global("surveys_waiting_for_me")
def surveys_waiting_for_me(process_id: int | None = None,
                           wave: str | None = None) -> list[Listed]:
    """For the person's pages (My space, the absence answer): their open surveys with a question
    still unanswered."""
    if not permissions.can_answer_surveys(current_user):
        return []
    participant = find_participant(current_user)
    if participant is None:
        return []
    chosen = WAVE_SLUGS.get(wave) if wave is not None else None
    if wave is not None and chosen is None:
        return []
    locale = _locale()
    return [_listed(s, locale) for s in answers.waiting_surveys(
        participant, now=utcnow(), process_id=process_id, wave=chosen)]


# ---------------------------------------------------------------- the survey page

def _save(form: AnswerForm, participant: Participant, survey: Survey,
          questions: list[Question]) -> int | None:
    """None once saved and committed; otherwise the status to show the page again with."""
    try:
        surveys.require_open(survey)  # before the form: a closed survey takes nothing at all
    except InvalidState as err:
        return show_domain_error(form, err)
    if not form.validate_on_submit():
        return 422
    try:
        answers.save_answers(participant, survey,
                             submitted_answers(form, questions, request.form), now=utcnow(),
                             comment=submitted_comment(form, request.form))
    except (InvalidState, ValidationFailed) as err:
        return show_domain_error(form, err)
    db.session.commit()
    return None


def _answer_page(participant: Participant, survey: Survey, *, action: str,
                 link: bool = False) -> Response:
    locale = _locale()
    status = answers.status_of(participant, survey)
    questions = questions_of(status.values, locale)
    pulse = survey.wave == Wave.SESSION
    code = 200
    if request.method == "POST":
        form = answer_form(questions, pulse=pulse)
        refused = _save(form, participant, survey, questions)
        if refused is None:
            flash(_("Your answers are saved. You can change them until the survey closes."),
                  "success")
            return _private(redirect(action, 303), link=link)
        code = refused
        status = answers.status_of(participant, survey)  # what is stored, after the rollback
    else:
        form = answer_form(questions, pulse=pulse, current=status.current,
                           comment=answers.pulse_comment(participant, survey), formdata=None)
    return _private(render_template(
        "feedback/answer.html", survey=survey, listed=_listed(status, locale), status=status,
        questions=questions, form=form, action=action, via_link=link,
        comment=answers.pulse_comment(participant, survey) if pulse else "",
        min_group=current_app.config.get("PV_DASHBOARD_MIN_CELL", 5),
    ), code, link=link)


@bp.route("/processes/<int:process_id>/survey/<wave>", methods=["GET", "POST"])
@login_required
def answer_wave(process_id: int, wave: str):
    _require_answerer()
    chosen = WAVE_SLUGS.get(wave)
    if chosen is None:
        raise NotFound()
    process = get_or_404(Process, process_id)
    participant = _participant()
    survey = surveys.survey_for(participant, process, chosen, now=utcnow())
    return _answer_page(participant, survey, action=url_for(
        "feedback.answer_wave", process_id=process.id, wave=chosen.value))


@bp.route("/sessions/<int:meeting_id>/pulse", methods=["GET", "POST"])
@login_required
def answer_pulse(meeting_id: int):
    _require_answerer()
    meeting = get_or_404(Meeting, meeting_id)
    participant = _participant()
    survey = surveys.survey_for(participant, meeting.process, Wave.SESSION, now=utcnow(),
                                meeting=meeting)
    return _answer_page(participant, survey,
                        action=url_for("feedback.answer_pulse", meeting_id=meeting.id))


@bp.route("/survey-link/<token>", methods=["GET", "POST"])
def answer_link(token: str):
    """A person without an account answers the one survey their link names, signed in or not
    (whoever holds the link answers for that person), never an evaluator."""
    if not permissions.can_use_walk_in_link(current_user):
        raise NotAllowed(_("Evaluators read the results; they do not answer surveys."))
    now = utcnow()
    try:
        invitation = links.invitation_for_link(
            token, secret_key=current_app.config["SECRET_KEY"], now=now)
    except links.SurveyLinkRefused as err:
        db.session.rollback()
        return _private(render_template("feedback/answer.html", refused=err), err.status,
                        link=True)
    process = db.session.get(Process, invitation.process_id)
    meeting = (db.session.get(Meeting, invitation.meeting_id)
               if invitation.meeting_id is not None else None)
    if process is None:  # gone with its invitation in between: nothing to answer
        raise NotFound()
    survey = surveys.survey_for(invitation.participant, process, Wave(invitation.wave), now=now,
                                meeting=meeting)
    return _answer_page(invitation.participant, survey,
                        action=url_for("feedback.answer_link", token=token), link=True)


# ---------------------------------------------------------------- my surveys

@bp.get("/me/surveys")
@login_required
def my_surveys():
    _require_answerer()
    participant = find_participant(current_user)
    locale = _locale()
    listed = ([_listed(s, locale) for s in answers.statuses_of(participant, now=utcnow())]
              if participant is not None else [])
    return _private(render_template(
        "feedback/my_surveys.html",
        open_surveys=[item for item in listed if item.status.survey.open],
        closed_surveys=[item for item in listed if not item.status.survey.open]))
