"""Login, logout, registration, profile; admin account management is in `admin_views`."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from pvplatform.auth import services
from pvplatform.auth.forms import LoginForm
from pvplatform.core.redirects import safe_next
from pvplatform.extensions import db, login_manager

bp = Blueprint("auth", __name__, url_prefix="/auth")
admin_bp = Blueprint("auth_admin", __name__, url_prefix="/admin")

login_manager.login_view = "auth.login"
login_manager.login_message_category = "warning"
login_manager.user_loader(services.load_user)


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


# Placeholders replaced by the accounts feature.
@bp.route("/register")
def register():
    return "", 501


@bp.route("/me")
def my_space():
    return "", 501


@admin_bp.route("/users")
def users():
    return "", 501
