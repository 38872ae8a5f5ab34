"""The profile page of personal API tokens (`/me/api-tokens/`): list, create, revoke.

A new token is shown once, on the page answered to the form that created it: never in a URL,
a flash message or anything else that outlives the response.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from pvplatform.auth.permissions import can_use_api
from pvplatform.core.form_views import submit_form
from pvplatform.core.i18n import town_zone
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.evaluation.api_blueprint import tokens_bp
from pvplatform.evaluation.models import ApiToken
from pvplatform.evaluation.token_forms import TokenForm
from pvplatform.evaluation.tokens import (
    MAX_ACTIVE_TOKENS,
    create_token,
    revoke_token,
    tokens_of,
)
from pvplatform.extensions import db

# A far end date is a typo more often than a plan; and year 9999 would not fit a datetime.
EXPIRY_MAX_YEARS = 5

STATE_LABELS = {
    "active": _l("Active"),
    "expired": _l("Expired"),
    "revoked": _l("Revoked"),
}


def _require_api_user() -> None:
    if not can_use_api(current_user):
        abort(403)


def expiry_instant(last_day: date | None, now: datetime) -> datetime | None:
    """A token chosen to work "until" a day works through that whole day in the town."""
    if last_day is None:
        return None
    today = now.astimezone(town_zone()).date()
    if last_day > today + timedelta(days=366 * EXPIRY_MAX_YEARS):
        raise ValidationFailed(_("Choose a day within %(n)s years.", n=EXPIRY_MAX_YEARS),
                               field="expires_on")
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=town_zone())
    return end.astimezone(now.tzinfo)


def last_day_of(expires_at: datetime | None) -> date | None:
    """The last day, in the town, on which a token works (what the form asked for)."""
    if expires_at is None:
        return None
    return (expires_at.astimezone(town_zone()) - timedelta(microseconds=1)).date()


def state_of(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _page(form: TokenForm, *, status: int = 200, new_token: str | None = None,
          new_row: ApiToken | None = None) -> Response:
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for token in tokens_of(current_user):
        state = state_of(token, now)
        rows.append({"token": token, "state": state, "state_label": STATE_LABELS[state],
                     "last_day": last_day_of(token.expires_at)})
    response = make_response(render_template(
        "evaluation/api_tokens.html", form=form, tokens=rows, new_token=new_token,
        new_row=new_row, max_tokens=MAX_ACTIVE_TOKENS, expiry_years=EXPIRY_MAX_YEARS), status)
    # The page may carry a token shown once: no browser or proxy may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@tokens_bp.get("/")
@login_required
def index() -> Response:
    _require_api_user()
    return _page(TokenForm())


@tokens_bp.post("/")
@login_required
def create() -> Response:
    _require_api_user()
    form = TokenForm()
    user = current_user._get_current_object()
    now = utcnow()
    outcome = submit_form(form, lambda: create_token(
        user, form.name.data or "", expires_at=expiry_instant(form.expires_on.data, now),
        now=now))
    if not outcome.accepted or outcome.result is None:
        return _page(form, status=outcome.status)
    db.session.commit()
    row, raw = outcome.result
    return _page(TokenForm(formdata=None), new_token=raw, new_row=row)


@tokens_bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> Response:
    _require_api_user()
    user = current_user._get_current_object()
    try:
        row = revoke_token(user, token_id, utcnow())
    except InvalidState as err:
        db.session.rollback()
        flash(err.message, "warning")
    else:
        db.session.commit()
        flash(_("The token “%(name)s” is revoked: it no longer opens the API.", name=row.name),
              "success")
    return redirect(url_for("api_tokens.index"), 303)
