"""The reader's notifications, in the reader's language."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth import permissions
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.notifications import services
from pvplatform.notifications.models import Notification

bp = Blueprint("notifications", __name__)

PER_PAGE = 30
MAX_PAGE = 10_000


@bp.app_template_global("notification_text")
def notification_text(notification: Notification) -> str:
    return services.render_message(notification.message, notification.params)


@bp.app_template_test("site_path")
def is_site_path(link: str | None) -> bool:
    """Only same-site paths become links: a stored link never sends the reader elsewhere."""
    return bool(link) and link.startswith("/") and not link.startswith("//") \
        and "\\" not in link and all(ord(c) > 32 for c in link)


@bp.get("/notifications")
@login_required
def index():
    if not permissions.is_authenticated(current_user):
        abort(403)
    page = request.args.get("page", 1, type=int) or 1
    page = min(max(page, 1), MAX_PAGE)
    stmt = services.list_statement(current_user.id)
    result = db.paginate(stmt, page=page, per_page=PER_PAGE, error_out=False)
    return render_template("notifications/index.html", page=result,
                           unread=services.unread_count(current_user.id))


@bp.post("/notifications/read")
@login_required
def mark_read():
    if not permissions.is_authenticated(current_user):
        abort(403)
    count = services.mark_all_read(current_user.id, now=utcnow())
    db.session.commit()
    if count:
        flash(_("All your notifications are marked as read."), "success")
    return redirect(url_for(".index"))
