"""Account and association management: administrators manage accounts, staff associations."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from pvplatform.auth import permissions, services
from pvplatform.auth.forms import (
    AdminCreateUserForm,
    AssociationForm,
    ContactForm,
    DecisionForm,
    MemberForm,
    RevokeForm,
    RoleChangeForm,
    UserFilterForm,
    role_label,
)
from pvplatform.auth.models import (
    Association,
    AssociationStatus,
    MembershipDecision,
    MembershipRequest,
    Role,
    User,
)
from pvplatform.core.form_views import show_domain_error, submit_form
from pvplatform.core.lookup import get_or_404
from pvplatform.core.pagination import page_arg
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db

admin_bp = Blueprint("auth_admin", __name__, url_prefix="/admin")

PER_PAGE = 25


@admin_bp.context_processor
def _helpers() -> dict:
    return {"role_label": role_label}


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


# ---------------------------------------------------------------- accounts (admin)

@admin_bp.get("/users")
@login_required
def users():
    _require(permissions.can_manage_users(current_user))
    filters = UserFilterForm(formdata=request.args)
    status = 200
    query = sa.select(User).options(selectinload(User.association))
    if filters.validate():
        if filters.role.data:
            query = query.where(User.role == Role(filters.role.data))
        if filters.q.data:
            needle = filters.q.data.lower()
            query = query.where(
                sa.or_(
                    sa.func.lower(User.email).contains(needle, autoescape=True),
                    sa.func.lower(User.display_name).contains(needle, autoescape=True),
                )
            )
    else:
        status = 422
        query = query.where(sa.false())
    pagination = db.paginate(query.order_by(User.id), page=page_arg(), per_page=PER_PAGE,
                             error_out=False)
    args = {k: v for k, v in (("q", filters.q.data), ("role", filters.role.data)) if v}
    return render_template("admin/users.html", pagination=pagination, filters=filters,
                           args=args), status


@admin_bp.route("/users/new", methods=["GET", "POST"])
@login_required
def create_user():
    _require(permissions.can_manage_users(current_user))
    form = AdminCreateUserForm()
    outcome = submit_form(form, lambda: services.create_account(
        email=form.email.data, password=form.password.data,
        display_name=form.display_name.data, role=Role(form.role.data), actor=current_user,
    ), refusals=DomainError)
    if outcome.accepted:
        user = outcome.result
        db.session.commit()
        flash(_("The account of %(name)s is created.", name=user.display_name), "success")
        return redirect(url_for("auth_admin.user_detail", user_id=user.id))
    return render_template("admin/user_new.html", form=form), outcome.status


def _render_user(user: User, form: RoleChangeForm, status: int = 200):
    from pvplatform.moderation.models import AuditLog

    history = db.session.scalars(
        sa.select(AuditLog)
        .options(selectinload(AuditLog.actor))
        .where(AuditLog.target_type == "user", AuditLog.target_id == user.id)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(50)
    ).all()
    return render_template("admin/user_detail.html", user=user, form=form,
                           history=history), status


@admin_bp.get("/users/<int:user_id>")
@login_required
def user_detail(user_id: int):
    _require(permissions.can_manage_users(current_user))
    user = get_or_404(User, user_id)
    return _render_user(user, RoleChangeForm(role=user.role.value))


@admin_bp.post("/users/<int:user_id>/role")
@login_required
def change_role(user_id: int):
    _require(permissions.can_manage_users(current_user))
    user = get_or_404(User, user_id)
    form = RoleChangeForm()
    if not form.validate_on_submit():
        return _render_user(user, form, 422)
    try:
        services.change_role(user, Role(form.role.data), actor=current_user,
                             reason=form.reason.data, now=utcnow())
    except DomainError as err:
        status = show_domain_error(form, err)
        # The rollback expired the user; reload it so the page shows what is stored.
        return _render_user(get_or_404(User, user_id), form, status)
    db.session.commit()
    flash(_("The role of %(name)s is now: %(role)s.", name=user.display_name,
            role=role_label(user.role)), "success")
    return redirect(url_for("auth_admin.user_detail", user_id=user.id))


# ---------------------------------------------------------------- associations (staff)

def _association_list(form: AssociationForm, status: int = 200):
    pagination = db.paginate(
        sa.select(Association).order_by(Association.name, Association.id),
        page=page_arg(), per_page=PER_PAGE, error_out=False,
    )
    ids = [association.id for association in pagination.items]
    # One grouped query for the page instead of one count per association.
    counts: dict[int, int] = {}
    if ids:
        counts = {
            association_id: n
            for association_id, n in db.session.execute(
                sa.select(User.association_id, sa.func.count(User.id))
                .where(User.association_id.in_(ids))
                .group_by(User.association_id)
            )
        }
    waiting = db.session.scalar(
        sa.select(sa.func.count()).select_from(MembershipRequest)
        .join(User, User.id == MembershipRequest.user_id)
        .where(MembershipRequest.decision == MembershipDecision.PENDING,
               User.deleted_at.is_(None))) or 0
    pending_associations = db.session.scalar(
        sa.select(sa.func.count()).select_from(Association)
        .where(Association.status == AssociationStatus.PENDING)) or 0
    return render_template("admin/associations.html", pagination=pagination, form=form,
                           counts=counts, waiting=waiting,
                           pending_associations=pending_associations), status


@admin_bp.get("/associations")
@login_required
def associations():
    _require(permissions.can_manage_associations(current_user))
    return _association_list(AssociationForm())


@admin_bp.post("/associations")
@login_required
def create_association():
    _require(permissions.can_manage_associations(current_user))
    form = AssociationForm()
    if not form.validate_on_submit():
        return _association_list(form, 422)
    try:
        association = services.create_association(
            name=form.name.data, description=form.description.data or "",
            actor=current_user, now=utcnow(),
        )
    except DomainError as err:
        return _association_list(form, show_domain_error(form, err))
    db.session.commit()
    flash(_("The association %(name)s is created.", name=association.name), "success")
    return redirect(url_for("auth_admin.association_detail", association_id=association.id))


def render_association(association: Association, *, status: int = 200,
                       form: MemberForm | None = None, decision_form: DecisionForm | None = None,
                       contact_form: ContactForm | None = None):
    """The association's page: its status (and the decision while pending), members, requests
    waiting for a decision; a refused form is shown again with its errors."""
    from pvplatform.auth import membership

    members = db.session.scalars(
        sa.select(User)
        .where(User.association_id == association.id)
        .order_by(User.display_name, User.id)
    ).all()
    if contact_form is not None and contact_form.errors:
        flash(_("Choose whether the member is the association's contact."), "error")
    return render_template(
        "admin/association_detail.html", association=association, members=members,
        form=form or MemberForm(formdata=None), requests=membership.pending_requests(association),
        association_form=decision_form or DecisionForm(formdata=None),
        blank=DecisionForm(formdata=None)), status


def _render_association(association: Association, form: MemberForm, status: int = 200):
    return render_association(association, status=status, form=form)


@admin_bp.get("/associations/<int:association_id>")
@login_required
def association_detail(association_id: int):
    _require(permissions.can_manage_associations(current_user))
    association = get_or_404(Association, association_id)
    return _render_association(association, MemberForm())


@admin_bp.post("/associations/<int:association_id>/members")
@login_required
def add_member(association_id: int):
    _require(permissions.can_manage_associations(current_user))
    association = get_or_404(Association, association_id)
    form = MemberForm()
    if not form.validate_on_submit():
        return _render_association(association, form, 422)
    try:
        user = services.add_member(association, email=form.email.data, actor=current_user,
                                   now=utcnow())
    except DomainError as err:
        status = show_domain_error(form, err)
        return _render_association(get_or_404(Association, association_id), form, status)
    db.session.commit()
    flash(_("%(name)s is now a member of %(association)s.", name=user.display_name,
            association=association.name), "success")
    return redirect(url_for("auth_admin.association_detail", association_id=association.id))


@admin_bp.post("/associations/<int:association_id>/members/<int:user_id>/remove")
@login_required
def remove_member(association_id: int, user_id: int):
    _require(permissions.can_manage_associations(current_user))
    association = get_or_404(Association, association_id)
    user = get_or_404(User, user_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        flash(_("The reason is too long or contains characters that are not allowed."), "error")
        return _render_association(association, MemberForm(formdata=None), 422)
    services.remove_member(association, user, actor=current_user, now=utcnow(),
                           reason=form.reason.data)
    db.session.commit()
    flash(_("%(name)s is no longer a member of %(association)s.", name=user.display_name,
            association=association.name), "success")
    return redirect(url_for("auth_admin.association_detail", association_id=association.id))
