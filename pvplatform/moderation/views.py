"""Reports (participants and administrators, never evaluators), the moderation queue and
hide / restore (staff), and the read-only audit log."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth import permissions
from pvplatform.core.forms import choice
from pvplatform.core.pagination import page_arg
from pvplatform.core.redirects import safe_next
from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation import audit_labels, services
from pvplatform.moderation.audit_details import sentences_for
from pvplatform.moderation.forms import (
    TARGET_LABELS,
    AuditFilterForm,
    ModerationForm,
    ReportForm,
)
from pvplatform.moderation.models import TargetType

bp = Blueprint("moderation", __name__)

PER_PAGE = 50


def _detail_url(target: services.Target) -> str:
    proposal = services.proposal_of(target)
    anchor = f"comment-{target.id}" if target is not proposal else None
    return url_for("proposals.detail", proposal_id=proposal.id, _anchor=anchor)


@bp.app_template_filter("target_label")
def target_label(value: str) -> str:
    try:
        return str(TARGET_LABELS[TargetType(value)])
    except ValueError:
        return str(value)


# ---------------------------------------------------------------- reports

@bp.post("/reports")
@login_required
def report():
    if not permissions.can_report(current_user):
        abort(403)
    form = ReportForm()
    if form.validate():
        target = services.find_target(form.target_type.data, form.target_id.data)
        if not services.is_visible_to(target, current_user):
            abort(404)
        try:
            services.report(form.target_type.data, target.id, current_user, form.reason.data,
                            now=utcnow())
        except ValidationFailed as err:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, err.message]
        else:
            db.session.commit()
            flash(_("Thank you. The moderators will look at it."), "success")
            return redirect(_detail_url(target))
    return render_template("moderation/report.html", form=form), 422


# ---------------------------------------------------------------- hide, restore, dismiss

def _moderate(target_type: str, id: int, action: str):
    if not permissions.can_moderate(current_user):
        abort(403)
    kind = services.target_type_of(target_type)
    target = services.find_target(kind, id)
    form = ModerationForm()
    if form.validate():
        try:
            if action == "hide":
                services.hide(kind, target, current_user, form.reason.data, now=utcnow())
                message = _("Hidden. The reports on it are closed.")
            elif action == "restore":
                services.restore(kind, target, current_user, form.reason.data, now=utcnow())
                message = _("Restored: it is visible again.")
            else:
                services.dismiss(kind, target, current_user, form.reason.data, now=utcnow())
                message = _("The reports are closed; nothing was hidden.")
        except ValidationFailed as err:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, err.message]
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(safe_next(form.next.data, "moderation.queue"))
    return render_template("moderation/moderate.html", form=form, kind=kind, target=target,
                           action=action, detail_url=_detail_url(target)), 422


@bp.post("/moderation/<target_type>/<int:id>/hide")
@login_required
def hide(target_type: str, id: int):
    return _moderate(target_type, id, "hide")


@bp.post("/moderation/<target_type>/<int:id>/restore")
@login_required
def restore(target_type: str, id: int):
    return _moderate(target_type, id, "restore")


@bp.post("/moderation/<target_type>/<int:id>/dismiss")
@login_required
def dismiss(target_type: str, id: int):
    return _moderate(target_type, id, "dismiss")


# ---------------------------------------------------------------- pages

@bp.get("/moderation")
@login_required
def queue():
    if not permissions.can_moderate(current_user):
        abort(403)
    groups = services.open_report_groups()
    return render_template("moderation/queue.html", groups=groups,
                           total=services.open_report_count(), limit=services.QUEUE_LIMIT)


@bp.get("/audit")
@login_required
def audit_log():
    if not permissions.can_read_audit(current_user):
        abort(403)
    form = AuditFilterForm(formdata=request.args)
    form.action.choices = [choice("", _("All actions"))] + [
        choice(a, audit_labels.action_label(a)) for a in services.audit_actions()
    ]
    form.actor.choices = [choice(0, _("Anyone"))] + [
        choice(uid, name) for uid, name in services.audit_actors()
    ]
    status = 200
    if form.validate():
        stmt = services.audit_statement(action=form.action.data or None,
                                        actor_id=form.actor.data or None)
    else:
        status = 422
        stmt = services.audit_statement().where(sa.false())
    page = db.paginate(stmt, page=page_arg(), per_page=PER_PAGE, error_out=False)
    filters = {k: v for k, v in request.args.items() if k in ("action", "actor")}
    return render_template("moderation/audit_log.html", form=form, page=page,
                           filters=filters, audit_action=audit_labels.action_label,
                           audit_target=audit_labels.target_label,
                           audit_details=sentences_for(page.items)), status
