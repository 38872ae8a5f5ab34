"""Download my data (JSON) and delete my account. Both need a fresh login."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from pvplatform.auth import permissions
from pvplatform.auth.session_policy import fresh_login_required
from pvplatform.auth.throttle import password_check_limits
from pvplatform.auth.view_helpers import show_domain_error
from pvplatform.db import utcnow
from pvplatform.errors import DomainError
from pvplatform.extensions import db
from pvplatform.privacy import services
from pvplatform.privacy.forms import DeleteAccountForm, DownloadForm

bp = Blueprint("privacy", __name__, url_prefix="/me")


@bp.after_request
def _no_store(response: Response) -> Response:
    # Personal data: neither the browser nor a proxy keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/data", methods=["GET", "POST"])
@login_required
@fresh_login_required
def my_data():
    if not permissions.is_authenticated(current_user):
        abort(403)
    form = DownloadForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("privacy/my_data.html", form=form), 400
        now = utcnow()
        user = current_user._get_current_object()
        data = services.export_user_data(user, now=now)
        db.session.commit()
        body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
        response = Response(body, mimetype="application/json")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="my-data-{now:%Y-%m-%d}.json"')
        return response
    return render_template("privacy/my_data.html", form=form)


@bp.route("/delete", methods=["GET", "POST"])
@login_required
@password_check_limits
@fresh_login_required
def delete_account():
    if not permissions.is_authenticated(current_user):
        abort(403)
    form = DeleteAccountForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.delete_account(user, password=form.password.data, now=utcnow())
        except DomainError as err:
            status = show_domain_error(form, err)
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash(_("Your account is deleted. Thank you for taking part."), "success")
            return redirect(url_for("processes.home"))
    elif request.method == "POST":
        status = 422
    return render_template("privacy/delete_account.html", form=form), status
