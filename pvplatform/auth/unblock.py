"""Staff at a session lift the login wait of a participant (by e-mail) or of the room's
connection: a workshop must not stop because someone mistyped a password five times.

The form sits on the session management page (templates/sessions/_unblock.html); each use
writes an audit row, committed before the waits are lifted (they live in the rate-limit
storage, not in the database): an unblock is never done without its record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField
from wtforms.validators import Email, Length, Optional, ValidationError

from pvplatform.auth import permissions
from pvplatform.auth.forms import MAX_EMAIL
from pvplatform.auth.models import User
from pvplatform.auth.services import find_by_email
from pvplatform.auth.throttle import lift_login_waits
from pvplatform.core.form_views import show_domain_error
from pvplatform.core.forms import clean_text
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.sessions.models import Meeting

bp = Blueprint("login_unblock", __name__)

_FORM_KEY = "login_unblock_form"


def _ticked_or_not(form, field) -> None:  # noqa: ARG001
    """A tick box sends "y" (or nothing): "-1", "NaN"... are not a choice anyone made."""
    raw = (field.raw_data or [""])[0]
    if raw not in ("", "y", "on", "true", "1"):
        raise ValidationError(str(_l("Tick the box or leave it empty.")))


class UnblockForm(FlaskForm):
    # Prefixed names: the session page has other forms, and ids must stay unique on it.
    unblock_email = EmailField(_l("E-mail of the account"), filters=[clean_text],
                       validators=[Optional(), Length(max=MAX_EMAIL), Email()])
    unblock_room = BooleanField(_l("Also lift the wait for everyone on this room's connection"),
                                validators=[_ticked_or_not])


# ---------------------------------------------------------------- service (no request here)

def record_unblock(actor: Any, meeting: Meeting, *, email: str, room: bool,
                   now: datetime) -> User | None:
    """Checks what staff asked for and writes the audit row; the account, if one was named.
    The caller commits, then lifts the waits."""
    email = (email or "").strip()
    if not email and not room:
        raise ValidationFailed(str(_l("Type the person's e-mail address, or tick the box for "
                                      "this room's connection.")), field="unblock_email")
    user = None
    if email:
        user = find_by_email(email)
        if user is None or not user.is_active:
            raise ValidationFailed(str(_l("No account uses this e-mail.")),
                                   field="unblock_email")
    target = ("user", user.id) if user is not None else ("session", meeting.id)
    row = record_audit(actor, "login.unblock", *target, process_id=meeting.process_id,
                       details={"session_id": meeting.id, "account": user is not None,
                                "room_connection": bool(room)})
    row.created_at = now
    return user


# ---------------------------------------------------------------- view

def unblock_form() -> UnblockForm:
    """For the template: the form just refused (with its errors), or an empty one."""
    form = g.get(_FORM_KEY)
    return form if form is not None else UnblockForm(formdata=None)


@bp.app_context_processor
def _template_helpers() -> dict:
    return {"login_unblock_form": unblock_form}


def _manage_page_again(meeting: Meeting, form: UnblockForm, status: int):
    """The session page again, this form showing what was refused (the staff stay there)."""
    from pvplatform.sessions.views import _render_manage

    setattr(g, _FORM_KEY, form)
    return _render_manage(meeting, status=status)


@bp.post("/manage/sessions/<int:meeting_id>/unblock-login")
@login_required
def unblock(meeting_id: int):
    meeting = get_or_404(Meeting, meeting_id)
    # Whoever may check people in at the session may let them log in again.
    if not permissions.can_check_in(current_user, meeting):
        abort(403)
    form = UnblockForm()
    if not form.validate_on_submit():
        return _manage_page_again(meeting, form, 422)
    room = bool(form.unblock_room.data)
    try:
        user = record_unblock(current_user, meeting, email=form.unblock_email.data or "",
                              room=room, now=utcnow())
    except ValidationFailed as err:
        return _manage_page_again(meeting, form, show_domain_error(form, err))
    db.session.commit()
    lift_login_waits(user.email if user is not None else None, this_address=room)
    if user is not None and room:
        flash(_("%(name)s and everyone on this connection can log in again.",
                name=user.display_name), "success")
    elif user is not None:
        flash(_("%(name)s can log in again.", name=user.display_name), "success")
    else:
        flash(_("Everyone on this connection can log in again."), "success")
    return redirect(url_for("sessions.manage", meeting_id=meeting.id, _anchor="unblock-login"),
                    303)
