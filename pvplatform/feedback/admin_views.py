"""Staff pages: the public values catalogue, survey waves, session pulses and reminders."""

from __future__ import annotations

from datetime import date

import segno
import sqlalchemy as sa
from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from pvplatform.auth import permissions
from pvplatform.core.base_url import external_url
from pvplatform.core.form_views import submit_form
from pvplatform.core.i18n import town_zone, utc_to_local
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db
from pvplatform.feedback import catalogue, pulses, reminders, surveys
from pvplatform.feedback.blueprint import bp
from pvplatform.feedback.forms import MoveForm, PulseForm, ValueForm
from pvplatform.feedback.links import SURVEY_LINK_LIFETIME, may_have_link, survey_link_token
from pvplatform.feedback.models import PublicValue, SurveyInvitation, Wave
from pvplatform.processes.models import Phase, PhaseKind, Process
from pvplatform.sessions.models import Meeting


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


def _locale() -> str:
    return str(get_locale() or "fr")


def _surveys_process(process_id: int) -> Process:
    """A process whose surveys the current user manages; refused before the lookup, so that the
    answer tells nothing of which ids exist."""
    _require(permissions.can_manage_surveys(current_user))
    process = get_or_404(Process, process_id)
    _require(permissions.can_manage_surveys(current_user, process))
    return process


def _managed_value(value_id: int) -> tuple[PublicValue, Process]:
    _require(permissions.can_manage_surveys(current_user))
    value = get_or_404(PublicValue, value_id)
    return value, _surveys_process(value.process_id)


def _managed_meeting(meeting_id: int) -> Meeting:
    _require(permissions.can_manage_surveys(current_user))
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_manage_surveys(current_user, meeting.process))
    return meeting


def _wave(name: str) -> Wave:
    if name not in {w.value for w in surveys.WAVES}:
        abort(404)
    return Wave(name)


def _town_today() -> date:
    return utc_to_local(utcnow(), town_zone()).date()


# ---------------------------------------------------------------- the catalogue

def _catalogue_page(process: Process, *, form: ValueForm | None = None,
                    error: str | None = None, status: int = 200):
    return render_template(
        "feedback/catalogue.html", process=process, values=catalogue.values_of(process.id),
        locked=catalogue.catalogue_locked(process.id), form=form or ValueForm(formdata=None),
        error=error, locale=_locale(),
    ), status


def _back_to_catalogue(process: Process) -> Response:
    return redirect(url_for("feedback.catalogue", process_id=process.id), 303)


@bp.route("/manage/processes/<int:process_id>/values", methods=["GET", "POST"],
          endpoint="catalogue")
@login_required
def catalogue_page(process_id: int):
    process = _surveys_process(process_id)
    form = ValueForm()
    outcome = submit_form(form, lambda: catalogue.add_value(
        process, form.texts(), by=current_user, now=utcnow()), refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        flash(_("The value was added to the catalogue."), "success")
        return _back_to_catalogue(process)
    return _catalogue_page(process, form=form, status=outcome.status)


@bp.post("/manage/processes/<int:process_id>/values/defaults")
@login_required
def catalogue_defaults(process_id: int):
    process = _surveys_process(process_id)
    try:
        values = catalogue.use_defaults(process, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _catalogue_page(process, error=err.message, status=err.status)
    db.session.commit()
    flash(ngettext("%(num)s suggested value was added: adapt the wording to your town if you "
                   "wish, before the baseline survey opens.",
                   "%(num)s suggested values were added: adapt their wording to your town if "
                   "you wish, before the baseline survey opens.", len(values)), "success")
    return _back_to_catalogue(process)


@bp.route("/manage/values/<int:value_id>/edit", methods=["GET", "POST"])
@login_required
def value_edit(value_id: int):
    value, process = _managed_value(value_id)
    form = ValueForm(obj=value)
    outcome = submit_form(form, lambda: catalogue.edit_value(
        value, form.texts(), by=current_user, now=utcnow()), refusals=DomainError)
    if outcome.accepted:
        edit = outcome.result
        db.session.commit()
        if edit is None or not edit.changed:
            flash(_("Nothing was changed."), "success")
        elif edit.correction:
            flash(_("The correction was saved; the audit log keeps the text it replaced."),
                  "success")
        else:
            flash(_("The value was saved."), "success")
        return _back_to_catalogue(process)
    return render_template("feedback/value_form.html", form=form, value=value, process=process,
                           locked=catalogue.catalogue_locked(process.id),
                           locale=_locale()), outcome.status


@bp.post("/manage/values/<int:value_id>/move")
@login_required
def value_move(value_id: int):
    value, process = _managed_value(value_id)
    form = MoveForm()
    if not form.validate_on_submit():
        return _catalogue_page(process, error=_("Choose whether to move the value up or down."),
                               status=422)
    try:
        catalogue.move_value(value, form.direction.data, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _catalogue_page(process, error=err.message, status=err.status)
    db.session.commit()
    return _back_to_catalogue(process)


@bp.post("/manage/values/<int:value_id>/retire")
@login_required
def value_retire(value_id: int):
    value, process = _managed_value(value_id)
    label = value.label(_locale())
    try:
        catalogue.retire_value(value, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _catalogue_page(process, error=err.message, status=err.status)
    db.session.commit()
    flash(_("\"%(name)s\" was removed from the catalogue.", name=label), "success")
    return _back_to_catalogue(process)


# ---------------------------------------------------------------- survey waves

def _follow_up_started(process: Process) -> bool:
    return bool(db.session.scalar(sa.select(sa.exists().where(
        Phase.process_id == process.id, Phase.kind == PhaseKind.FOLLOW_UP,
        Phase.starts_on <= _town_today()))))


def _manage_page(process: Process, *, error: str | None = None, status: int = 200):
    now = utcnow()
    waves = [surveys.wave_state(process.id, wave) for wave in surveys.WAVES]
    final = waves[1]
    return render_template(
        "feedback/manage.html", process=process, waves=waves, now=now, error=error,
        has_values=catalogue.has_values(process.id),
        prompt_final=final.row is None and _follow_up_started(process),
        sessions=pulses.held_sessions(process.id, now),
    ), status


@bp.get("/manage/processes/<int:process_id>/surveys")
@login_required
def manage(process_id: int):
    return _manage_page(_surveys_process(process_id))


def _back_to_manage(process: Process) -> Response:
    return redirect(url_for("feedback.manage", process_id=process.id), 303)


@bp.post("/manage/processes/<int:process_id>/surveys/<wave>/open")
@login_required
def wave_open(process_id: int, wave: str):
    process = _surveys_process(process_id)
    chosen = _wave(wave)
    try:
        offered = surveys.open_wave(process, chosen, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _manage_page(process, error=err.message, status=err.status)
    db.session.commit()
    flash(ngettext("The survey is open: %(num)s person was asked to answer it.",
                   "The survey is open: %(num)s people were asked to answer it.", offered),
          "success")
    return _back_to_manage(process)


@bp.post("/manage/processes/<int:process_id>/surveys/<wave>/close")
@login_required
def wave_close(process_id: int, wave: str):
    process = _surveys_process(process_id)
    chosen = _wave(wave)
    try:
        surveys.close_wave(process, chosen, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _manage_page(process, error=err.message, status=err.status)
    db.session.commit()
    flash(_("The survey is closed: answers are no longer taken. You can reopen it."),
          "success")
    return _back_to_manage(process)


@bp.post("/manage/processes/<int:process_id>/surveys/<wave>/remind")
@login_required
def wave_remind(process_id: int, wave: str):
    process = _surveys_process(process_id)
    chosen = _wave(wave)
    try:
        count = reminders.remind_wave(process, chosen, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _manage_page(process, error=err.message, status=err.status)
    db.session.commit()
    _flash_reminded(count)
    return _back_to_manage(process)


def _flash_reminded(count: int) -> None:
    if count:
        flash(ngettext("%(num)s person was reminded.", "%(num)s people were reminded.", count),
              "success")
    else:
        flash(_("Nobody to remind: everyone with an account has answered or was reminded "
                "already (once per person)."), "success")


# ---------------------------------------------------------------- session pulses

def _value_choices(values: list[PublicValue], locale: str) -> list[tuple[int, str]]:
    # The statement as people will read it: the name alone does not say what is asked.
    return [(v.id, f"{v.label(locale)}: {v.question(locale)}") for v in values]


def _pulse_page(meeting: Meeting, *, form: PulseForm | None = None, error: str | None = None,
                status: int = 200):
    now = utcnow()
    locale = _locale()
    state = pulses.pulse_state(meeting, now)
    values = catalogue.values_of(meeting.process_id)
    if form is None:
        form = PulseForm(formdata=None, value_choices=_value_choices(values, locale),
                         data={"values": pulses.default_choice(values)})
    return render_template(
        "feedback/pulse_manage.html", meeting=meeting, process=meeting.process, state=state,
        now=now, started=pulses.is_held(meeting, now), values=values, form=form, error=error,
        size=pulses.pulse_size(len(values)), locale=locale,
        walk_ins=pulses.walk_ins_offered(meeting.id) if state.pulse is not None else [],
        suggestions=pulses.suggestions(meeting.id, state) if state.pulse is not None else None,
    ), status


@bp.route("/manage/sessions/<int:meeting_id>/pulse", methods=["GET", "POST"])
@login_required
def pulse_manage(meeting_id: int):
    meeting = _managed_meeting(meeting_id)
    now = utcnow()
    if pulses.pulse_of(meeting.id) is not None:
        return _ask_new_attendees(meeting)
    locale = _locale()
    form = PulseForm(value_choices=_value_choices(catalogue.values_of(meeting.process_id),
                                                  locale))
    outcome = submit_form(form, lambda: pulses.send_pulse(
        meeting, form.values.data or [], by=current_user, now=now), refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        flash(ngettext("The pulse was sent: %(num)s attendee was asked.",
                       "The pulse was sent: %(num)s attendees were asked.", outcome.result or 0),
              "success")
        return _back_to_pulse(meeting)
    if outcome.status == 200:  # a GET
        return _pulse_page(meeting)
    return _pulse_page(meeting, form=form, status=outcome.status)


def _ask_new_attendees(meeting: Meeting):
    if request.method != "POST":
        return _pulse_page(meeting)
    try:
        count = pulses.ask_new_attendees(meeting, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _pulse_page(meeting, error=err.message, status=err.status)
    db.session.commit()
    if count:
        flash(ngettext("%(num)s attendee not asked yet was asked.",
                       "%(num)s attendees not asked yet were asked.", count), "success")
    else:
        flash(_("Every attendee was asked already."), "success")
    return _back_to_pulse(meeting)


def _back_to_pulse(meeting: Meeting) -> Response:
    return redirect(url_for("feedback.pulse_manage", meeting_id=meeting.id), 303)


@bp.post("/manage/sessions/<int:meeting_id>/pulse/remind")
@login_required
def pulse_remind(meeting_id: int):
    meeting = _managed_meeting(meeting_id)
    try:
        count = reminders.remind_pulse(meeting, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _pulse_page(meeting, error=err.message, status=err.status)
    db.session.commit()
    _flash_reminded(count)
    return _back_to_pulse(meeting)


@bp.post("/manage/sessions/<int:meeting_id>/pulse/close")
@login_required
def pulse_close(meeting_id: int):
    meeting = _managed_meeting(meeting_id)
    try:
        pulses.close_pulse(meeting, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _pulse_page(meeting, error=err.message, status=err.status)
    db.session.commit()
    flash(_("The pulse is closed: answers are no longer taken."), "success")
    return _back_to_pulse(meeting)


@bp.get("/manage/sessions/<int:meeting_id>/pulse/link/<int:invitation_id>")
@login_required
def pulse_link(meeting_id: int, invitation_id: int):
    """Staff show a walk-in without an account a QR code of their own link to the pulse.
    Showing it stores nothing: the link is signed, not kept."""
    meeting = _managed_meeting(meeting_id)
    invitation = get_or_404(SurveyInvitation, invitation_id)
    if invitation.wave != Wave.SESSION or invitation.meeting_id != meeting.id \
            or not may_have_link(invitation):
        abort(404)
    now = utcnow()
    pulse = pulses.pulse_of(meeting.id)
    is_open = pulse is not None and pulse.is_open(now)
    link = qr_svg = None
    if is_open:
        token = survey_link_token(invitation, secret_key=current_app.config["SECRET_KEY"],
                                  now=now)
        link = external_url("feedback.answer_link", token=token)
        # Drawn here from the link alone (no outside service sees it), as a data: image so that
        # no markup of ours is built from it.
        qr_svg = segno.make(link, error="m").svg_data_uri(scale=6, dark="#000", light="#fff")
    response = make_response(render_template(
        "feedback/pulse_link.html", meeting=meeting, invitation=invitation,
        participant=invitation.participant, is_open=is_open, link=link, qr_svg=qr_svg,
        expires_at=min(now + SURVEY_LINK_LIFETIME, pulse.closes_at) if is_open and pulse
        else None))
    # The page holds a bearer link: no browser or proxy keeps it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
