"""Demographics: staff define the dimensions and the reference population of a process; people
give (or change, or withdraw) their own answers with consent. No route takes a participant id:
a person only ever reaches their own answers, and staff pages never show anyone's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from pvplatform.auth import permissions
from pvplatform.core.form_views import form_page, save_form, show_domain_error
from pvplatform.core.i18n import town_zone, utc_to_local
from pvplatform.core.lookup import get_or_404
from pvplatform.core.redirects import safe_next
from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.participation import demographics as demo
from pvplatform.participation.forms import (
    NEXT_MAX,
    CategoryEditForm,
    CategoryForm,
    DimensionEditForm,
    DimensionForm,
    ReferenceUploadForm,
    answer_field_name,
    demographics_form,
    reference_form,
    share_field_name,
)
from pvplatform.participation.labels import labels_of, latest_labels
from pvplatform.participation.models import Dimension, ParticipantAttribute, Stratum
from pvplatform.participation.services import find_participant, participant_for
from pvplatform.processes.access import managed_process, require_process_manager
from pvplatform.processes.models import Process

bp = Blueprint("participation", __name__)

CSV_MAX_BYTES = 1024 * 1024

Part = TypeVar("Part", Dimension, Stratum)


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


def _managed_part(model: type[Part], part_id: int) -> tuple[Part, Process]:
    """A dimension or category and its process, checked as in `managed_process`."""
    require_process_manager()
    part = get_or_404(model, part_id)
    process = get_or_404(Process, part.process_id)
    require_process_manager(process)
    return part, process


def _town_today() -> date:
    return utc_to_local(utcnow(), town_zone()).date()


def _category_prefix(dimension_id: int) -> str:
    return f"c{dimension_id}"


# ---------------------------------------------------------------- staff: dimensions

def _save_then_dimensions(form: FlaskForm, process: Process, save: Callable[[], object],
                          done: str) -> Response | None:
    """Staff forms of this section go back to the process's dimensions once saved (None: show
    the form again)."""
    return save_form(form, save, done=done, code=303,
                     back=url_for("participation.dimensions", process_id=process.id))


def _manage_page(process: Process, *, form: DimensionForm | None = None,
                 category_form: tuple[int, CategoryForm] | None = None, status: int = 200):
    views = demo.dimensions_of(process)
    category_forms: dict[int, CategoryForm] = {}
    for view in views:
        if view.dimension is None:
            continue
        if category_form is not None and category_form[0] == view.dimension.id:
            category_forms[view.dimension.id] = category_form[1]
        else:
            category_forms[view.dimension.id] = CategoryForm(
                prefix=_category_prefix(view.dimension.id), formdata=None)
    return render_template(
        "participation/demographics_manage.html", process=process, views=views,
        form=form or DimensionForm(formdata=None), category_forms=category_forms,
        tolerance=demo.SHARE_TOLERANCE,
    ), status


@bp.route("/manage/processes/<int:process_id>/demographics", methods=["GET", "POST"])
@login_required
def dimensions(process_id: int):
    process = managed_process(process_id)
    form = DimensionForm()
    saved = _save_then_dimensions(
        form, process, lambda: demo.add_dimension(
            process, code=form.code.data or "", label=form.label.data or "",
            label_en=form.label_en.data, position=form.position.data, actor=current_user,
            now=utcnow()),
        _("The dimension was added. Add its categories with their census shares."))
    if saved is not None:
        return saved
    if request.method == "POST":
        return _manage_page(process, form=form, status=422)
    return _manage_page(process)


@bp.post("/manage/processes/<int:process_id>/demographics/defaults")
@login_required
def use_defaults(process_id: int):
    process = managed_process(process_id)
    created = demo.use_defaults(process, actor=current_user, now=utcnow())
    db.session.commit()
    if created:
        labels = labels_of(process.id)
        flash(_("Default dimensions added: %(codes)s. Their shares are equal for now: replace "
                "them with the census figures of your town.",
                codes=", ".join(labels.dimension(code) for code in created)), "warning")
    else:
        flash(_("Nothing to add: this process already has the default dimensions."), "success")
    return redirect(url_for("participation.dimensions", process_id=process.id), 303)


@bp.route("/manage/dimensions/<int:dimension_id>/edit", methods=["GET", "POST"])
@login_required
def edit_dimension(dimension_id: int):
    dimension, process = _managed_part(Dimension, dimension_id)
    form = DimensionEditForm(obj=dimension)
    saved = _save_then_dimensions(
        form, process, lambda: demo.update_dimension(
            dimension, label=form.label.data or "", label_en=form.label_en.data,
            position=form.position.data, actor=current_user, now=utcnow()),
        _("The dimension was saved."))
    if saved is not None:
        return saved
    return form_page("participation/demographics_dimension.html", form,
                     dimension=dimension, process=process, labels=labels_of(process.id))


@bp.post("/manage/dimensions/<int:dimension_id>/delete")
@login_required
def delete_dimension(dimension_id: int):
    dimension, process = _managed_part(Dimension, dimension_id)
    demo.delete_dimension(dimension, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("The dimension and its categories were deleted."), "success")
    return redirect(url_for("participation.dimensions", process_id=process.id), 303)


@bp.post("/manage/dimensions/<int:dimension_id>/categories")
@login_required
def add_category(dimension_id: int):
    dimension, process = _managed_part(Dimension, dimension_id)
    form = CategoryForm(prefix=_category_prefix(dimension.id))
    saved = _save_then_dimensions(
        form, process, lambda: demo.add_category(
            dimension, code=form.code.data or "", label=form.label.data,
            label_en=form.label_en.data, population_share=form.population_share.data,
            actor=current_user, now=utcnow()),
        _("The category was added."))
    if saved is not None:
        return saved
    return _manage_page(process, category_form=(dimension.id, form), status=422)


@bp.route("/manage/categories/<int:stratum_id>/edit", methods=["GET", "POST"])
@login_required
def edit_category(stratum_id: int):
    stratum, process = _managed_part(Stratum, stratum_id)
    form = CategoryEditForm(obj=stratum)
    saved = _save_then_dimensions(
        form, process, lambda: demo.update_category(
            stratum, label=form.label.data, label_en=form.label_en.data,
            population_share=form.population_share.data, actor=current_user, now=utcnow()),
        _("The category was saved."))
    if saved is not None:
        return saved
    return form_page("participation/demographics_category.html", form,
                     stratum=stratum, process=process, labels=labels_of(process.id))


@bp.post("/manage/categories/<int:stratum_id>/delete")
@login_required
def delete_category(stratum_id: int):
    stratum, process = _managed_part(Stratum, stratum_id)
    demo.delete_category(stratum, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("The category was deleted."), "success")
    return redirect(url_for("participation.dimensions", process_id=process.id), 303)


# ---------------------------------------------------------------- staff: reference population

def _reference_page(process: Process, *, form: FlaskForm | None = None,
                    upload: ReferenceUploadForm | None = None, errors: list[str] | None = None,
                    status: int = 200):
    views = demo.dimensions_of(process)
    strata = [s for v in views for s in v.categories]
    return render_template(
        "participation/reference.html", process=process, views=views,
        form=form or reference_form(strata, labels_of(process.id), formdata=None,
                                    data={share_field_name(s): s.population_share
                                          for s in strata}),
        upload=upload or ReferenceUploadForm(formdata=None), errors=errors or [],
        share_field_name=share_field_name, tolerance=demo.SHARE_TOLERANCE,
        columns=demo.CSV_COLUMNS,
    ), status


@bp.route("/manage/processes/<int:process_id>/reference", methods=["GET", "POST"])
@login_required
def reference(process_id: int):
    process = managed_process(process_id)
    if request.method == "GET":
        return _reference_page(process)
    strata = [s for v in demo.dimensions_of(process) for s in v.categories]
    form = reference_form(strata, labels_of(process.id))
    if not form.validate_on_submit():
        return _reference_page(process, form=form, status=422)
    rows = [(None, s.dimension, s.category, form[share_field_name(s)].data) for s in strata]
    try:
        shares = demo.check_reference(process, rows)
        demo.set_reference_population(process, shares, source="form", actor=current_user,
                                      now=utcnow())
    except demo.ReferenceRefused as err:
        db.session.rollback()
        return _reference_page(process, form=form, errors=err.errors, status=422)
    db.session.commit()
    flash(_("The reference population was saved."), "success")
    return redirect(url_for("participation.reference", process_id=process.id), 303)


@bp.post("/manage/processes/<int:process_id>/reference/upload")
@login_required
def upload_reference(process_id: int):
    process = managed_process(process_id)
    upload = ReferenceUploadForm()
    if not upload.validate_on_submit():
        return _reference_page(process, upload=upload, status=422)
    data = upload.file.data.read(CSV_MAX_BYTES + 1)
    try:
        if len(data) > CSV_MAX_BYTES:
            raise demo.ReferenceRefused([_("The file is larger than 1 MB: a census file has one "
                                           "line per category.")])
        rows = demo.read_reference_csv(data)
        shares = demo.check_reference(process, rows)
        dimensions = demo.set_reference_population(process, shares, source="csv",
                                                   actor=current_user, now=utcnow())
    except demo.ReferenceRefused as err:
        db.session.rollback()
        return _reference_page(process, upload=upload, errors=err.errors, status=422)
    db.session.commit()
    labels = labels_of(process.id)
    flash(_("The reference population was saved from the file (%(dimensions)s).",
            dimensions=", ".join(labels.dimension(code) for code in dimensions)), "success")
    return redirect(url_for("participation.reference", process_id=process.id), 303)


# ---------------------------------------------------------------- participants: my demographics

def _my_page(form: FlaskForm, questions: list[demo.Question], *, participant: Any,
             others: dict[str, str] | None = None, status: int = 200):
    consent = demo.active_consent(participant)
    has_answers = participant is not None and db.session.scalar(
        sa.select(sa.func.count()).select_from(ParticipantAttribute)
        .where(ParticipantAttribute.participant_id == participant.id)) > 0
    others = others or {}
    return render_template(
        "participation/demographics_me.html", form=form, questions=questions,
        answer_field_name=answer_field_name, consent=consent, has_answers=has_answers,
        others=others, other_labels=latest_labels(others),
        back=safe_next(form.next.data, "auth.my_space"),
    ), status


@bp.route("/me/demographics", methods=["GET", "POST"])
@login_required
def my_demographics():
    _require(permissions.can_participate(current_user))
    now = utcnow()
    questions = demo.questions_for_today(_town_today())
    if request.method == "GET":
        participant = find_participant(current_user)  # a GET never creates the participant
        answers = demo.read_answers(participant, actor=current_user, now=now)
        db.session.commit()  # the audit row of that read
        asked = {q.code for q in questions}
        others = {d: c for d, c in answers.items() if d not in asked}
        next_url = request.args.get("next", "", type=str)[:NEXT_MAX]
        form = demographics_form(questions, answers, next=next_url)
        return _my_page(form, questions, participant=participant, others=others)
    form = demographics_form(questions)
    participant = find_participant(current_user)
    if not form.validate_on_submit():
        return _my_page(form, questions, participant=participant, status=422)
    answers = {q.code: form[answer_field_name(q.code)].data or None for q in questions}
    if any(answers.values()):
        participant = participant_for(current_user)
    result = None
    if participant is not None:
        try:
            result = demo.save_answers(participant, answers, consent=bool(form.consent.data),
                                       questions=questions, now=now)
        except ValidationFailed as err:
            show_domain_error(form, err)
            return _my_page(form, questions, participant=find_participant(current_user),
                            status=422)
    db.session.commit()
    if any(answers.values()):
        flash(_("Thank you: your answers are saved. You can change or withdraw them at any "
                "time."), "success")
    elif result is not None and result.removed:
        flash(_("Your answers were removed: \"Prefer not to say\" is stored as nothing."),
              "success")
    else:
        flash(_("Nothing was stored. Taking part never depends on these questions."), "success")
    return redirect(safe_next(form.next.data, "participation.my_demographics"), 303)


@bp.post("/me/demographics/withdraw")
@login_required
def withdraw_demographics():
    _require(permissions.can_participate(current_user))
    participant = find_participant(current_user)
    if participant is not None:
        demo.withdraw(participant, now=utcnow())
    db.session.commit()
    flash(_("Your consent is withdrawn and your answers are deleted, including the copies kept "
            "with your past attendances."), "success")
    return redirect(url_for("participation.my_demographics"), 303)
