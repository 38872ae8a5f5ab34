"""Cross-cutting pages: language switch and health check."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, session
from flask_login import current_user

from pvplatform.core.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_AGE
from pvplatform.core.redirects import safe_next
from pvplatform.extensions import db

bp = Blueprint("core", __name__)


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    response = redirect(safe_next(request.form.get("next")))
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        # Logging in or out starts a new session (session fixation): the choice made on this
        # browser is also kept in a cookie of its own, so that it outlives them.
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=LANGUAGE_COOKIE_AGE, httponly=True,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return response


@bp.get("/healthz")
def healthz():
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}
