"""Cross-cutting pages: language switch and health check."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, session
from flask_login import current_user

from pvplatform.core.redirects import safe_next
from pvplatform.extensions import db

bp = Blueprint("core", __name__)


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next")))


@bp.get("/healthz")
def healthz():
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}
