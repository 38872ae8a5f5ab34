"""Staff ledger pages (who did not take part, per process and per session), the button that asks
absent people why, the aggregated reasons, and the participant's one-click answer."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, format_percent
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth import permissions
from pvplatform.auth.models import User
from pvplatform.core.base_url import external_url
from pvplatform.core.lookup import get_or_404
from pvplatform.core.mail import mail_enabled, send_mail
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db
from pvplatform.indicators.autorefresh import BACKGROUND, refresh_mode
from pvplatform.indicators.snapshots import Reading, reading_for
from pvplatform.ledger import list_pages, services
from pvplatform.ledger.forms import (
    REASON_CHOICES,
    REASON_LABELS,
    REASON_SHORT,
    AbsenceAnswerForm,
    SendRequestsForm,
)
from pvplatform.ledger.models import AbsenceRequest
from pvplatform.ledger.services import LedgerList
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Process
from pvplatform.sessions.models import Meeting

bp = Blueprint("ledger", __name__)
log = logging.getLogger(__name__)

PER_PAGE = 50

PROCESS_LISTS = tuple(LedgerList)
SESSION_LISTS = tuple(w for w in LedgerList if w != LedgerList.DROPPED_OUT)


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


@bp.app_template_filter("ledger_percent")
def ledger_percent(value: float | None) -> str:
    if value is None:
        return "–"
    return format_percent(value, "#,##0.#%")


def _chosen_list(allowed: tuple[LedgerList, ...]) -> LedgerList:
    raw = request.args.get("list", "", type=str)
    return next((w for w in allowed if w.value == raw), allowed[0])


def _lists(reading: Reading, process_id: int, meeting_id: int | None, allowed):
    """(chosen list, every tab's count, the page shown), at the instant of the figures beside
    them, kept for the next views while the data does not change (list_pages)."""
    which = _chosen_list(allowed)
    # With a worker, the instant of the figures stays until the data changes (a stored
    # snapshot, or the present computed once per data version): the lists are kept with it.
    as_of, keep = reading.inputs.as_of, refresh_mode() == BACKGROUND
    counts = list_pages.list_counts(process_id, as_of, meeting_id, keep=keep)
    page = list_pages.list_page(which, process_id, as_of, meeting_id, per_page=PER_PAGE,
                                keep=keep)
    return which, counts, page


# ---------------------------------------------------------------- staff: ledger pages


@bp.get("/manage/processes/<int:process_id>/ledger")
@login_required
def process_ledger(process_id: int):
    process = get_or_404(Process, process_id)
    _require(permissions.can_manage_sessions(current_user, process))
    now = utcnow()
    reading = reading_for(process.id, now, live=True)
    figures = reading.inputs.ledger(process.id)
    which, counts, page = _lists(reading, process.id, None, PROCESS_LISTS)
    last = {}
    if which == LedgerList.DROPPED_OUT:
        last = services.last_attended(process.id, reading.inputs.as_of,
                                      [p.id for p in page.items])
    return render_template(
        "ledger/process.html", process=process, figures=figures, which=which,
        lists=PROCESS_LISTS, counts=counts, page=page, last_attended=last,
        computed_at=reading.computed_at, waiting=reading.waiting,
    )


@bp.get("/manage/sessions/<int:meeting_id>/ledger")
@login_required
def session_ledger(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_manage_sessions(current_user, meeting.process))
    return _render_session(meeting)


def _render_session(meeting: Meeting, status: int = 200, error: str | None = None):
    now = utcnow()
    reading = reading_for(meeting.process_id, now, live=True)
    figures = reading.inputs.ledger(meeting.process_id)
    which, counts, page = _lists(reading, meeting.process_id, meeting.id, SESSION_LISTS)
    summary = services.reason_summary(meeting.process_id)
    return render_template(
        "ledger/session.html", meeting=meeting, process=meeting.process,
        figures=figures, session_figures=figures.session(meeting.id),
        held=meeting.starts_at <= now,
        over=(meeting.ends_at or meeting.starts_at) <= now,
        which=which, lists=SESSION_LISTS,
        counts=counts, page=page,
        summary=summary, requests_sent=summary.requests.get(meeting.id, 0),
        reason_short=REASON_SHORT, send_form=SendRequestsForm(formdata=None), error=error,
        computed_at=reading.computed_at, waiting=reading.waiting,
    ), status


@bp.get("/manage/processes/<int:process_id>/absence-reasons")
@login_required
def process_reasons(process_id: int):
    process = get_or_404(Process, process_id)
    _require(permissions.can_manage_sessions(current_user, process))
    return render_template("ledger/reasons.html", process=process,
                           summary=services.reason_summary(process.id),
                           reason_short=REASON_SHORT)


# ---------------------------------------------------------------- staff: ask why


@bp.post("/manage/sessions/<int:meeting_id>/absence-requests")
@login_required
def send_requests(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    _require(permissions.can_manage_sessions(current_user, meeting.process))
    form = SendRequestsForm()
    if not form.validate_on_submit():
        return _render_session(meeting, 422, _("The form has expired. Please try again."))
    try:
        created = services.create_absence_requests(meeting, by=current_user, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        return _render_session(meeting, err.status, err.message)
    asked = {row.participant_id: row.id for row in created}
    title = meeting.title
    db.session.commit()
    if created and mail_enabled():
        sent = _mail_requests(title, asked)
        flash(_("%(num)s people were asked why they did not come (%(mails)s by e-mail too).",
                num=len(created), mails=sent), "success")
    elif created:
        flash(_("%(num)s people were asked why they did not come.", num=len(created)),
              "success")
    else:
        flash(_("Nobody left to ask: everyone absent with an account has been asked already."),
              "warning")
    return redirect(url_for("ledger.session_ledger", meeting_id=meeting.id), 303)


def _mail_requests(title: str, asked: dict[int, int]) -> int:
    """After the commit, so that a slow server delays nothing stored. The first failure stops
    the round: the server is down or refusing, and each try would cost its timeout."""
    users = db.session.execute(
        sa.select(Participant.id, User)
        .join(User, User.id == Participant.user_id)
        .where(Participant.id.in_(list(asked)), User.deleted_at.is_(None))
        .order_by(Participant.id)
    ).all()
    sent = 0
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "fr")
    for participant_id, user in users:
        if not user.email:
            continue
        link = external_url("ledger.answer", absence_request_id=asked[participant_id])
        with force_locale(user.locale or default):
            subject = _("Why could you not come to %(title)s?", title=title)
            body = _("Hello %(name)s,\n\nWe would like to understand what kept you from the "
                     "session \"%(title)s\", so that the next ones suit more people. One click "
                     "is enough:\n\n%(link)s\n\nThank you.", name=user.display_name,
                     title=title, link=link)
        if not send_mail(user.email, subject, body):
            log.warning("absence request mails stopped after %s sent", sent)
            break
        sent += 1
    return sent


# ---------------------------------------------------------------- participant: one click


@bp.route("/me/absence/<int:absence_request_id>", methods=["GET", "POST"])
@login_required
def answer(absence_request_id: int):
    if not permissions.can_answer_absence(current_user):
        abort(403)
    row = get_or_404(AbsenceRequest, absence_request_id)
    row = services.request_for(row.id, current_user)
    if request.method == "GET":
        return _render_answer(row, AbsenceAnswerForm(formdata=None))
    form = AbsenceAnswerForm()
    if not form.validate_on_submit():
        return _render_answer(row, form, 422)
    try:
        services.answer_absence(row, user=current_user, reason=form.reason.data,
                                other_text=form.other_text.data, now=utcnow())
    except DomainError as err:
        db.session.rollback()
        form.form_errors.append(err.message)
        return _render_answer(row, form, err.status)
    db.session.commit()
    flash(_("Thank you: your answer is recorded. You can change it at any time on this page."),
          "success")
    return redirect(url_for("ledger.answer", absence_request_id=row.id), 303)


def _render_answer(row: AbsenceRequest, form: AbsenceAnswerForm, status: int = 200):
    return render_template("ledger/answer.html", row=row, meeting=row.meeting, form=form,
                           choices=REASON_CHOICES, labels=REASON_LABELS), status
