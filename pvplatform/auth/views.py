"""Login, logout, registration, profile; admin account management is in `admin_views`."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.orm import contains_eager, selectinload

from pvplatform.auth import permissions, services
from pvplatform.auth.admin_views import admin_bp
from pvplatform.auth.forms import (
    LoginForm,
    PasswordChangeForm,
    ProfileForm,
    RegisterForm,
    choice,
    role_label,
)
from pvplatform.auth.models import Association
from pvplatform.auth.view_helpers import show_domain_error
from pvplatform.core.lookup import valid_id
from pvplatform.core.redirects import safe_next
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db, login_manager

__all__ = ["admin_bp", "bp"]

bp = Blueprint("auth", __name__, url_prefix="/auth")

login_manager.login_view = "auth.login"
login_manager.login_message_category = "warning"
login_manager.user_loader(services.load_user)


@bp.context_processor
def _helpers() -> dict:
    return {"role_label": role_label}


def _start_session(user) -> None:
    # A fresh session on every login: nothing set before authentication survives it.
    session.clear()
    login_user(user)
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            session.clear()
            login_user(user, remember=bool(form.remember.data))
            session.permanent = True
            db.session.commit()
            return redirect(safe_next(form.next.data))
        form.form_errors.append(_("E-mail or password is incorrect."))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    services.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out."), "success")
    return redirect(url_for("processes.home"))


def _association_choices() -> list:
    rows = db.session.execute(
        sa.select(Association.id, Association.name).order_by(Association.name, Association.id)
    )
    return [choice("", _("Choose your association")), *(choice(str(i), name) for i, name in rows)]


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("auth.my_space"))
    form = RegisterForm()
    if request.method == "GET":
        form.locale.data = str(get_locale()) if str(get_locale()) in services.LOCALES else "fr"
    form.association_id.choices = _association_choices()
    status = 200
    if form.validate_on_submit():
        represents = bool(form.represents_association.data)
        try:
            user = services.register_account(
                email=form.email.data,
                password=form.password.data,
                display_name=form.display_name.data,
                locale=form.locale.data,
                now=utcnow(),
                association_id=valid_id(form.association_id.data) if represents else None,
                new_association_name=form.new_association.data if represents else None,
            )
        except DomainError as err:
            status = show_domain_error(form, err)
        else:
            db.session.commit()
            _start_session(user)
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(url_for("auth.my_space"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/register.html", form=form), status


@bp.get("/me")
@login_required
def my_space():
    from pvplatform.notifications.services import unread_count

    unread = unread_count(current_user.id)
    if not permissions.can_participate(current_user):
        return render_template("auth/profile.html", unread=unread)

    from pvplatform.participation.services import find_participant
    from pvplatform.proposals.models import Proposal, Vote
    from pvplatform.sessions.models import Meeting, Registration

    now = utcnow()
    participant = find_participant(current_user)
    upcoming, past, proposals, votes = [], [], [], []
    if participant is not None:
        registrations = db.session.scalars(
            sa.select(Registration)
            .join(Registration.meeting)
            .options(contains_eager(Registration.meeting))
            .where(Registration.participant_id == participant.id)
            .order_by(Meeting.starts_at, Registration.id)
        ).all()
        for registration in registrations:
            meeting = registration.meeting
            ended = (meeting.ends_at or meeting.starts_at) < now
            if registration.cancelled_at is None and not ended and meeting.closed_at is None:
                upcoming.append(registration)
            else:
                past.append(registration)
        past.reverse()  # most recent first
        proposals = db.session.scalars(
            sa.select(Proposal)
            .options(selectinload(Proposal.process))
            .where(Proposal.author_id == participant.id)
            .order_by(Proposal.created_at.desc(), Proposal.id.desc())
        ).all()
        votes = db.session.execute(
            sa.select(Vote, Proposal)
            .join(Proposal, Proposal.id == Vote.proposal_id)
            .where(Vote.participant_id == participant.id)
            .order_by(Vote.cast_at.desc(), Vote.id.desc())
        ).all()
    return render_template(
        "auth/my_space.html", upcoming=upcoming, past=past, proposals=proposals, votes=votes,
        unread=unread, proposal_states=_proposal_state_labels(),
    )


def _proposal_state_labels() -> dict[str, str]:
    return {
        "draft": _("Draft"),
        "published": _("Published"),
        "evaluating": _("Being evaluated"),
        "accepted": _("Accepted"),
        "rejected": _("Rejected"),
        "withdrawn": _("Withdrawn"),
    }


@bp.route("/me/profile", methods=["GET", "POST"])
@login_required
def edit_profile():
    if not permissions.is_authenticated(current_user):
        abort(403)
    form = ProfileForm(obj=current_user)
    if request.method == "GET" and current_user.locale not in services.LOCALES:
        form.locale.data = str(get_locale())
    if form.validate_on_submit():
        services.update_profile(current_user, display_name=form.display_name.data,
                                locale=form.locale.data)
        db.session.commit()
        # The language switch stores a choice in the session that would hide the new preference.
        session["lang"] = current_user.locale
        flash(_("Your profile is saved."), "success")
        return redirect(url_for("auth.my_space"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/edit_profile.html", form=form), status


@bp.route("/me/password", methods=["GET", "POST"])
@login_required
def change_password():
    if not permissions.is_authenticated(current_user):
        abort(403)
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_password(user, current_password=form.current_password.data,
                                     new_password=form.password.data)
        except DomainError as err:
            status = show_domain_error(form, err)
        else:
            db.session.commit()
            # Every other browser's cookie carries the old token; this one gets the new one.
            _start_session(user)
            flash(_("Your password is changed. You have been logged out everywhere else."),
                  "success")
            return redirect(url_for("auth.my_space"))
    elif request.method == "POST":
        status = 422
    min_length = (services.MIN_PASSWORD_PRIVILEGED
                  if current_user.role in services.PRIVILEGED_ROLES else services.MIN_PASSWORD)
    return render_template("auth/change_password.html", form=form, min_length=min_length), status
