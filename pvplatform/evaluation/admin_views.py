"""The admin's pages on evaluators: grant and revoke access to a process and to its pseudonymised
microdata (a data-sharing agreement), and read the export audit."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth.models import User
from pvplatform.auth.permissions import can_manage_grants
from pvplatform.core.form_views import submit_form
from pvplatform.core.i18n import select_timezone, town_zone
from pvplatform.core.lookup import get_or_404
from pvplatform.core.pagination import page_arg
from pvplatform.db import utcnow
from pvplatform.evaluation import grants as grant_service
from pvplatform.evaluation.audit import CHANNEL_LABELS, COMMAND_LINE, FORMAT_LABELS, export_history
from pvplatform.evaluation.blueprint import admin_bp
from pvplatform.evaluation.forms import GrantFilterForm, GrantForm
from pvplatform.evaluation.models import EvaluatorGrant
from pvplatform.evaluation.workspace import (
    IN_FORCE,
    SCOPE_LABELS,
    STATUS_LABELS,
    end_of_day,
    grant_status,
    label,
    process_titles,
)
from pvplatform.extensions import db
from pvplatform.processes.models import Process

EXPORTS_PER_PAGE = 50


@admin_bp.before_request
@login_required
def _admins_only():
    if not can_manage_grants(current_user):
        abort(403)


@admin_bp.context_processor
def _labels() -> dict:
    return {"scope_label": lambda code: label(SCOPE_LABELS, code),
            "status_label": lambda code: label(STATUS_LABELS, code),
            "format_label": lambda code: label(FORMAT_LABELS, code),
            "channel_label": lambda code: label(CHANNEL_LABELS, code)}


def _grants_page(form: GrantForm, status: int = 200):
    titles = process_titles()
    filters = GrantFilterForm(formdata=request.args, processes=titles.items())
    process_id = filters.process_filter.data if filters.validate() else None
    if filters.process_filter.errors:
        status = max(status, 400)
    now = utcnow()
    rows = [(row, grant_status(row, now)) for row in grant_service.grants_of(process_id)]
    return render_template(
        "evaluation/grants.html", form=form, filters=filters, rows=rows, titles=titles,
        has_evaluators=bool(form.user_id.choices), has_processes=bool(titles),
        in_force=IN_FORCE, zone=select_timezone()), status


def _grant_form() -> GrantForm:
    return GrantForm(evaluators=grant_service.evaluators(), processes=process_titles().items())


@admin_bp.get("/evaluators")
def grants():
    return _grants_page(_grant_form())


@admin_bp.post("/evaluators/grants")
def grant():
    form = _grant_form()
    now = utcnow()

    def save() -> EvaluatorGrant:
        expires_at = (end_of_day(form.expires_on.data, town_zone())
                      if form.expires_on.data else None)
        return grant_service.grant(
            actor=current_user, evaluator=get_or_404(User, form.user_id.data),
            process=get_or_404(Process, form.process_id.data), scope=form.scope_value,
            expires_at=expires_at, purpose=form.purpose.data or "", now=now)

    outcome = submit_form(form, save)
    if not outcome.accepted:
        return _grants_page(form, outcome.status)
    row = outcome.result
    db.session.commit()
    flash(_("Access granted to %(name)s on “%(process)s”: %(access)s.",
            name=row.user.display_name, process=db.session.get(Process, row.process_id).title,
            access=label(SCOPE_LABELS, row.scope)), "success")
    return redirect(url_for("evaluation_admin.grants"))


@admin_bp.post("/evaluators/grants/<int:grant_id>/revoke")
def revoke(grant_id: int):
    row = get_or_404(EvaluatorGrant, grant_id)
    grant_service.revoke(actor=current_user, grant_row=row, now=utcnow())
    db.session.commit()
    flash(_("Access of %(name)s revoked: %(access)s.", name=row.user.display_name,
            access=label(SCOPE_LABELS, row.scope)), "success")
    return redirect(url_for("evaluation_admin.grants"))


@admin_bp.get("/exports")
def exports():
    return render_template("evaluation/exports.html",
                           pagination=export_history(page_arg(), EXPORTS_PER_PAGE),
                           command_line=COMMAND_LINE, zone=select_timezone())
