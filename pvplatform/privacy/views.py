"""Download my data (JSON) and delete my account. Both need a fresh login."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from pvplatform.auth.view_helpers import sensitive_account_page
from pvplatform.core.form_views import submit_form
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
@sensitive_account_page(checks_password=False)
def my_data():
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
@sensitive_account_page(checks_password=True)
def delete_account():
    form = DeleteAccountForm()
    user = current_user._get_current_object()
    outcome = submit_form(form, lambda: services.delete_account(
        user, password=form.password.data, now=utcnow(),
    ), refusals=DomainError)
    if outcome.accepted:
        db.session.commit()
        logout_user()
        session.clear()
        flash(_("Your account is deleted. Thank you for taking part."), "success")
        return redirect(url_for("processes.home"))
    return render_template("privacy/delete_account.html", form=form), outcome.status
