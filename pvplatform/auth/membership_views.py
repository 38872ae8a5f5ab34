"""Joining an association: the person's requests (their space), the association's contact
deciding those of their association, staff deciding associations and every request.

Routes hang on the account blueprints (`auth`, `auth_admin`); services are in `auth.membership`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth import membership, permissions
from pvplatform.auth.admin_views import admin_bp
from pvplatform.auth.forms import ContactForm, DecisionForm, MembershipRequestForm
from pvplatform.auth.models import (
    Association,
    AssociationStatus,
    MembershipDecision,
    MembershipRequest,
    User,
)
from pvplatform.auth.views import bp
from pvplatform.core.form_views import submit_form
from pvplatform.core.forms import choice
from pvplatform.core.lookup import get_or_404
from pvplatform.core.redirects import safe_next
from pvplatform.db import utcnow
from pvplatform.errors import DomainError, InvalidState
from pvplatform.extensions import db


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


def status_labels() -> dict[str, str]:
    return {
        AssociationStatus.PENDING.value: _("waiting for approval"),
        AssociationStatus.APPROVED.value: _("approved"),
        AssociationStatus.REFUSED.value: _("refused"),
    }


def decision_labels() -> dict[str, str]:
    return {
        MembershipDecision.PENDING.value: _("waiting for a decision"),
        MembershipDecision.APPROVED.value: _("approved"),
        MembershipDecision.REFUSED.value: _("refused"),
        MembershipDecision.WITHDRAWN.value: _("withdrawn"),
    }


@dataclass
class MyMembership:
    """What "my space" says about associations: my membership, or my request and its fate."""

    association: Association | None
    is_contact: bool
    pending: MembershipRequest | None
    last: MembershipRequest | None  # the latest decided request, when no membership
    can_request: bool


def my_membership(user: Any) -> MyMembership | None:
    if not permissions.can_participate(user):
        return None
    association = user.association if user.association_id is not None else None
    pending = membership.pending_request_of(user)
    last = None
    if association is None and pending is None:
        latest = membership.latest_request_of(user)
        if latest is not None and latest.decision == MembershipDecision.REFUSED:
            last = latest
    return MyMembership(association=association,
                        is_contact=permissions.is_association_contact(user),
                        pending=pending, last=last,
                        can_request=association is None and pending is None)


def _template_helpers() -> dict:
    return {"my_membership": my_membership, "association_status_labels": status_labels,
            "membership_decision_labels": decision_labels}


bp.context_processor(_template_helpers)
admin_bp.context_processor(_template_helpers)


# ---------------------------------------------------------------- the person: my requests

def _request_form() -> MembershipRequestForm:
    form = MembershipRequestForm()
    form.association_id.choices = [
        choice("", _("Choose the association")),
        *(choice(str(i), name) for i, name in db.session.execute(
            membership.approved_associations())),
    ]
    return form


@bp.route("/me/association/request", methods=["GET", "POST"])
@login_required
def request_membership():
    _require(permissions.can_participate(current_user))
    form = _request_form()
    user = current_user._get_current_object()

    def ask() -> MembershipRequest:
        association = membership.approved_association(int(form.association_id.data))
        return membership.request_membership(
            user, association, now=utcnow(), link=url_for("auth.association_contact"))

    outcome = submit_form(form, ask, refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        flash(_("Your request is sent. You take part as a resident until the association's "
                "contact or the town hall approve it."), "success")
        return redirect(url_for("auth.my_space"))
    return render_template("auth/association_request.html", form=form,
                           mine=my_membership(user)), outcome.status


@bp.post("/me/association/request/withdraw")
@login_required
def withdraw_membership_request():
    _require(permissions.can_participate(current_user))
    membership.withdraw_request(current_user._get_current_object(), now=utcnow())
    db.session.commit()
    flash(_("Your request is withdrawn."), "success")
    return redirect(url_for("auth.my_space"))


@bp.post("/me/association/leave")
@login_required
def leave_association():
    _require(permissions.can_participate(current_user))
    user = current_user._get_current_object()
    association = user.association
    if association is None:
        raise InvalidState(_("You are not a member of an association."))
    membership.remove_member(association, user, actor=user, now=utcnow())
    db.session.commit()
    flash(_("You are no longer a member of %(association)s.", association=association.name),
          "success")
    return redirect(url_for("auth.my_space"))


# ---------------------------------------------------------------- the association's contact

def _contact_page(forms: dict[int, DecisionForm] | None = None, status: int = 200):
    association = current_user.association
    return render_template(
        "auth/association_contact.html", association=association,
        members=membership.members_of(association),
        requests=membership.pending_requests(association), forms=forms or {},
        blank=DecisionForm(formdata=None)), status


@bp.get("/me/association")
@login_required
def association_contact():
    _require(permissions.is_association_contact(current_user))
    return _contact_page()


@bp.post("/me/association/requests/<int:membership_request_id>")
@login_required
def contact_decision(membership_request_id: int):
    _require(permissions.is_association_contact(current_user))
    # Another association's request is not theirs to see: 404, as for any object of others.
    row = get_or_404(MembershipRequest, membership_request_id)
    if row.association_id != current_user.association_id:
        abort(404)
    _require(permissions.can_decide_membership(current_user, row.association))
    form, outcome = _decide(row)
    if outcome.accepted:
        return redirect(url_for("auth.association_contact"))
    return _contact_page({membership_request_id: form}, outcome.status)


def _decide(row: MembershipRequest) -> tuple[DecisionForm, Any]:
    """Submits the decision form on a request (staff's or the contact's); commits and says so
    when it is taken."""
    form = DecisionForm()
    name = row.user.display_name
    outcome = submit_form(form, lambda: membership.decide_request(
        row, approve=form.approves, actor=current_user._get_current_object(),
        reason=form.reason.data, now=utcnow(), link=url_for("auth.my_space")),
        refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        flash(_decided_message(form.approves, name), "success")
    return form, outcome


def _decided_message(approved: bool, name: str) -> str:
    if approved:
        return _("%(name)s is now a member of the association.", name=name)
    return _("The request of %(name)s is refused.", name=name)


# ---------------------------------------------------------------- staff

def _requests_page(forms: dict[int, DecisionForm] | None = None, status: int = 200):
    return render_template("admin/association_requests.html",
                           requests=membership.pending_requests(),
                           pending_associations=membership.pending_associations(),
                           forms=forms or {}, blank=DecisionForm(formdata=None)), status


@admin_bp.get("/association-requests")
@login_required
def membership_requests():
    _require(permissions.can_manage_associations(current_user))
    return _requests_page()


@admin_bp.post("/association-requests/<int:membership_request_id>")
@login_required
def decide_membership(membership_request_id: int):
    _require(permissions.can_manage_associations(current_user))
    row = get_or_404(MembershipRequest, membership_request_id)
    _require(permissions.can_decide_membership(current_user, row.association))
    form, outcome = _decide(row)
    if outcome.accepted:
        return redirect(safe_next(request.form.get("next"), "auth_admin.membership_requests"))
    return _requests_page({membership_request_id: form}, outcome.status)


@admin_bp.post("/associations/<int:association_id>/decide")
@login_required
def decide_association(association_id: int):
    from pvplatform.auth.admin_views import render_association

    _require(permissions.can_manage_associations(current_user))
    association = get_or_404(Association, association_id)
    form = DecisionForm()
    outcome = submit_form(form, lambda: membership.decide_association(
        association, approve=form.approves, actor=current_user._get_current_object(),
        reason=form.reason.data, now=utcnow(), link=url_for("auth.my_space")),
        refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        if form.approves:
            flash(_("The association %(name)s is approved.", name=association.name), "success")
        else:
            flash(_("The association %(name)s is refused.", name=association.name), "success")
        return redirect(url_for("auth_admin.association_detail", association_id=association.id))
    return render_association(get_or_404(Association, association_id),
                              status=outcome.status, decision_form=form)


@admin_bp.post("/associations/<int:association_id>/members/<int:user_id>/contact")
@login_required
def set_contact(association_id: int, user_id: int):
    _require(permissions.can_manage_associations(current_user))
    from pvplatform.auth.admin_views import render_association

    association = get_or_404(Association, association_id)
    user = get_or_404(User, user_id)
    form = ContactForm()
    if not form.validate_on_submit():
        return render_association(association, status=422, contact_form=form)
    contact = form.contact.data == "yes"
    membership.set_contact(association, user, contact=contact,
                           actor=current_user._get_current_object(), now=utcnow())
    db.session.commit()
    if contact:
        flash(_("%(name)s is now the contact of %(association)s.", name=user.display_name,
                association=association.name), "success")
    else:
        flash(_("%(name)s is no longer the contact of %(association)s.",
                name=user.display_name, association=association.name), "success")
    return redirect(url_for("auth_admin.association_detail", association_id=association.id))

