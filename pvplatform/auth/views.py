"""Login, logout, registration, profile; admin account management is in `admin_views`."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy.orm import contains_eager, selectinload

from pvplatform.auth import permissions, services
from pvplatform.auth.admin_views import admin_bp
from pvplatform.auth.forms import (
    EmailChangeForm,
    LoginForm,
    PasswordChangeForm,
    ProfileForm,
    ReauthForm,
    RegisterForm,
    ResetPasswordForm,
    ResetRequestForm,
    role_label,
)
from pvplatform.auth.membership import approved_associations
from pvplatform.auth.models import User
from pvplatform.auth.session_policy import load_user, mark_fresh, start_session
from pvplatform.auth.throttle import (
    begin_login_attempt,
    lift_login_waits,
    mark_account_created,
    password_check_limits,
    reset_link_limits,
    reset_request_limits,
    retry_message,
    signup_limits,
)
from pvplatform.auth.view_helpers import sensitive_account_page
from pvplatform.core import mail
from pvplatform.core.base_url import external_url
from pvplatform.core.form_views import form_page, submit_form
from pvplatform.core.forms import choice
from pvplatform.core.lookup import valid_id
from pvplatform.core.redirects import safe_next
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db, login_manager
from pvplatform.notifications.services import N_

__all__ = ["admin_bp", "bp"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

login_manager.login_view = "auth.login"
login_manager.login_message_category = "warning"
# Translated when flashed, in the visitor's language (N_ only marks it for extraction).
login_manager.login_message = N_("Please log in to access this page.")
login_manager.localize_callback = _
login_manager.user_loader(load_user)


@bp.context_processor
def _helpers() -> dict:
    return {"role_label": role_label}


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        # Failed attempts only are counted, per (account, address) and per address.
        attempt = begin_login_attempt(form.email.data)
        if attempt.refused:
            form.form_errors.append(retry_message(attempt.retry_after))
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(attempt.retry_after)
            return response
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            attempt.succeeded()
            start_session(user, remember=bool(form.remember.data))
            db.session.commit()
            return redirect(safe_next(form.next.data))
        attempt.failed()
        form.form_errors.append(_("E-mail or password is incorrect."))
    return form_page("auth/login.html", form)


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
    # Approved associations only: one named at sign-up appears once staff approve it.
    rows = db.session.execute(approved_associations())
    return [choice("", _("Choose your association")), *(choice(str(i), name) for i, name in rows)]


@bp.route("/register", methods=["GET", "POST"])
@signup_limits
def register():
    if current_user.is_authenticated:
        return redirect(url_for("auth.my_space"))
    form = RegisterForm()
    if request.method == "GET":
        form.locale.data = str(get_locale()) if str(get_locale()) in services.LOCALES else "fr"
    form.association_id.choices = _association_choices()

    def register_account() -> User:
        represents = bool(form.represents_association.data)
        return services.register_account(
            email=form.email.data,
            password=form.password.data,
            display_name=form.display_name.data,
            locale=form.locale.data,
            now=utcnow(),
            association_id=valid_id(form.association_id.data) if represents else None,
            new_association_name=form.new_association.data if represents else None,
            link=url_for("auth.association_contact"),
        )

    outcome = submit_form(form, register_account, refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        mark_account_created()
        start_session(outcome.result)
        if form.represents_association.data:
            flash(_("Welcome! Your account is ready. Your request to represent the association "
                    "is waiting for a decision: until then you take part as a resident."),
                  "success")
        else:
            flash(_("Welcome! Your account is ready."), "success")
        return redirect(url_for("auth.my_space"))
    return render_template("auth/register.html", form=form), outcome.status


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
    return form_page("auth/edit_profile.html", form)


@bp.route("/me/password", methods=["GET", "POST"])
@sensitive_account_page(checks_password=True)
def change_password():
    form = PasswordChangeForm()
    user = current_user._get_current_object()
    outcome = submit_form(form, lambda: services.change_password(
        user, current_password=form.current_password.data, new_password=form.password.data,
    ), refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        # Every other browser's cookie carries the old token; this one gets the new one.
        start_session(user)
        flash(_("Your password is changed. You have been logged out everywhere else."),
              "success")
        return redirect(url_for("auth.my_space"))
    min_length = (services.MIN_PASSWORD_PRIVILEGED
                  if current_user.role in services.PRIVILEGED_ROLES else services.MIN_PASSWORD)
    return render_template("auth/change_password.html", form=form,
                           min_length=min_length), outcome.status


# ---------------------------------------------------------------- fresh login

@bp.route("/reauth", methods=["GET", "POST"])
@login_required
@password_check_limits
def reauth():
    """Confirms the password before a sensitive action, then goes back to it."""
    if not permissions.is_authenticated(current_user):
        abort(403)
    form = ReauthForm(next=request.args.get("next", ""))
    outcome = submit_form(form, lambda: services.reauthenticate(current_user, form.password.data),
                          refusals=DomainError)
    if outcome.accepted:
        mark_fresh()
        return redirect(safe_next(form.next.data, "auth.my_space"))
    return render_template("auth/reauth.html", form=form), outcome.status


# ---------------------------------------------------------------- e-mail change

@bp.route("/me/email", methods=["GET", "POST"])
@sensitive_account_page(checks_password=True)
def change_email():
    form = EmailChangeForm()
    user = current_user._get_current_object()
    outcome = submit_form(form, lambda: services.change_email(
        user, new_email=form.email.data, password=form.password.data, now=utcnow(),
    ), refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        old_email = outcome.result
        if old_email:
            # The owner learns of a change made with a stolen session and password.
            with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
                mail.send_mail(old_email, _("Your e-mail address was changed"), _(
                    "The e-mail address of your account was changed to %(email)s. If you "
                    "did not do this, reset your password and contact the town hall.",
                    email=user.email))
        flash(_("Your e-mail address is changed."), "success")
        return redirect(url_for("auth.my_space"))
    return render_template("auth/change_email.html", form=form), outcome.status


# ---------------------------------------------------------------- password reset

def _send_reset_link(user: User, token: str) -> None:
    # From PV_BASE_URL, never from the Host header: the link carries a valid token.
    link = external_url("auth.reset_password", token=token)
    if not mail.mail_enabled():
        if current_app.config.get("LOG_MAIL_LINKS"):
            log.info("no mail server: password reset link for account %s: %s", user.id, link)
        return
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = _("Reset your password")
        body = _("Someone, hopefully you, asked to reset the password of your account. Open "
                 "this link within one hour to choose a new password:\n\n%(link)s\n\nIf it "
                 "was not you, ignore this message: your password stays as it is.", link=link)
    mail.send_mail(user.email or "", subject, body)


@bp.route("/reset", methods=["GET", "POST"])
@reset_request_limits
def reset_request():
    """Asks for a reset link. Known and unknown addresses get the same answer."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        found = services.request_password_reset(
            form.email.data, secret_key=current_app.config["SECRET_KEY"], now=utcnow())
        if found is not None:
            _send_reset_link(*found)
        return render_template("auth/reset_sent.html")
    return form_page("auth/reset_request.html", form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@reset_link_limits
def reset_password(token: str):
    """Sets a new password from a mailed link; every session of the account ends."""
    secret_key = current_app.config["SECRET_KEY"]
    now = utcnow()
    user = services.user_for_reset_token(token, secret_key=secret_key, now=now)
    if user is None:
        # Forged, expired, already used or outdated by a password change: one answer for all.
        return render_template("auth/reset_invalid.html"), 400
    form = ResetPasswordForm()
    outcome = submit_form(form, lambda: services.reset_password(
        token, form.password.data, secret_key=secret_key, now=now,
    ), refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        # The mailbox's owner chose a new password: failed logins of the old one are forgotten.
        lift_login_waits(outcome.result.email, this_address=False)
        logout_user()
        session.clear()
        flash(_("Your password is changed and every session of your account has ended. "
                "Log in with the new password."), "success")
        return redirect(url_for("auth.login"))
    min_length = (services.MIN_PASSWORD_PRIVILEGED
                  if user.role in services.PRIVILEGED_ROLES else services.MIN_PASSWORD)
    return render_template("auth/reset_password.html", form=form, token=token,
                           min_length=min_length), outcome.status
