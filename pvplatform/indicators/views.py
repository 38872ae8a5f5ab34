"""Staff pages of the indicator feature: thresholds, flag history, acknowledgement.

The dashboard routes live in `dashboard_views.py` on the same blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth.permissions import can_manage_process, can_view_dashboard
from pvplatform.core.lookup import get_or_404
from pvplatform.core.redirects import safe_next
from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.indicators import store
from pvplatform.indicators import thresholds as settings
from pvplatform.indicators.dashboard import flag_evidence, group_word, p_text
from pvplatform.indicators.dashboard_inputs import reading_hidden
from pvplatform.indicators.forms import AcknowledgeForm, ThresholdsForm
from pvplatform.indicators.messages import flag_title
from pvplatform.indicators.models import FlagEventKind, FlagRecord
from pvplatform.indicators.rows import Severity
from pvplatform.indicators.snapshots import reading_for
from pvplatform.indicators.store import render_flag_message
from pvplatform.indicators.suppression import COUNT_FLAGS, dashboard_k, flag_hidden
from pvplatform.participation.labels import labels_of
from pvplatform.processes.models import Process

bp = Blueprint("indicators", __name__)

EVENT_LABELS: dict[str, Any] = {}
SEVERITY_LABELS: dict[str, Any] = {}


def _labels() -> None:
    # Built lazily so that they are translated in the reader's language.
    from flask_babel import lazy_gettext as _l

    EVENT_LABELS.update({
        FlagEventKind.RAISED: _l("Raised"),
        FlagEventKind.SEVERITY_CHANGED: _l("Severity changed"),
        FlagEventKind.CLEARED: _l("Cleared"),
        FlagEventKind.ACKNOWLEDGED: _l("Acknowledged"),
        FlagEventKind.RERAISED: _l("Raised again"),
    })
    SEVERITY_LABELS.update({Severity.ALERT: _l("Alert"), Severity.WARNING: _l("Warning")})


_labels()


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"flag_event_labels": EVENT_LABELS, "flag_severity_labels": SEVERITY_LABELS,
            "flag_title": flag_title, "flag_evidence": flag_evidence, "flag_p": p_text,
            "flag_group": group_word,
            "flag_number": lambda value: format_decimal(value, "#,##0.00#")}


def _require(allowed: bool) -> None:
    if not allowed:
        abort(403)


def _invalid(template: str, **context: Any):
    """A refused form: nothing of the attempt may stay in the session."""
    db.session.rollback()
    return render_template(template, **context), 422


# ---------------------------------------------------------------- thresholds


def _shown(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _thresholds_context(process: Process, form: ThresholdsForm) -> dict[str, Any]:
    hints = {spec.name: _("Default: %(value)s", value=_shown(spec.default))
             for spec in settings.THRESHOLD_SPECS}
    return {"process": process, "form": form, "hints": hints}


@bp.get("/manage/processes/<int:process_id>/thresholds")
@login_required
def thresholds(process_id: int):
    process = get_or_404(Process, process_id)
    _require(can_manage_process(current_user, process))
    current = settings.thresholds_for(process.id)
    form = ThresholdsForm(data={spec.name: _shown(getattr(current, spec.name))
                                for spec in settings.THRESHOLD_SPECS})
    return render_template("indicators/thresholds.html", **_thresholds_context(process, form))


@bp.post("/manage/processes/<int:process_id>/thresholds")
@login_required
def save_thresholds(process_id: int):
    process = get_or_404(Process, process_id)
    _require(can_manage_process(current_user, process))
    form = ThresholdsForm()
    if not form.validate_on_submit():
        return _invalid("indicators/thresholds.html", **_thresholds_context(process, form))
    values = {spec.name: form[spec.name].data for spec in settings.THRESHOLD_SPECS}
    try:
        settings.set_thresholds(process.id, values, actor=current_user, now=utcnow())
    except settings.ThresholdsInvalid as err:
        for name, message in err.errors.items():
            if name in form:
                form[name].errors = [*form[name].errors, message]
            else:
                form.form_errors.append(message)
        return _invalid("indicators/thresholds.html", **_thresholds_context(process, form))
    db.session.commit()
    flash(_("Thresholds saved; the flags have been recomputed."), "success")
    return redirect(url_for("indicators.thresholds", process_id=process.id))


@bp.post("/manage/processes/<int:process_id>/thresholds/reset")
@login_required
def reset_thresholds(process_id: int):
    process = get_or_404(Process, process_id)
    _require(can_manage_process(current_user, process))
    settings.reset_thresholds(process.id, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("Every threshold is back to its default; the flags have been recomputed."),
          "success")
    return redirect(url_for("indicators.thresholds", process_id=process.id))


# ---------------------------------------------------------------- flags


def acknowledge_form(record: FlagRecord, formdata: Any = None) -> AcknowledgeForm:
    """An acknowledgement form whose field ids are unique on a page listing many flags."""
    form = AcknowledgeForm(formdata=formdata)  # None: an empty form, not the request's data
    field_id = f"flag-{record.id}-note"
    form.note.id = field_id
    form.note.label.field_id = field_id
    return form


def _flags_page(process: Process, failed: tuple[int, AcknowledgeForm] | None = None):
    records = store.flag_history(process.id)
    may_acknowledge = can_manage_process(current_user, process)
    forms = {}
    if may_acknowledge:
        forms = {r.id: acknowledge_form(r) for r in records if r.cleared_at is None}
        if failed is not None:
            forms[failed[0]] = failed[1]
    active = [r for r in records if r.cleared_at is None]
    cleared = [r for r in records if r.cleared_at is not None]
    # Labels, never codes: the flags' dimensions, categories and public values by their names.
    terms = labels_of(process.id)
    labels = {"terms": terms, "value_names": terms.value_names()}
    # The messages leave out what the dashboard hides (the same reading, the same rule).
    k = dashboard_k(current_app.config)
    hidden = reading_hidden(reading_for(process.id, utcnow(), live=True).inputs, k)

    def concealed(record: FlagRecord) -> bool:
        return flag_hidden(record, hidden, k)

    def event_value_shown(record: FlagRecord, value: float | None) -> bool:
        """A past value that is a count (of proposals, of sessions) is in the message already
        and, as a bare number, would read as a count of people."""
        if value is None or concealed(record):
            return False
        return record.code not in COUNT_FLAGS | {"absent_invited_association"}

    return render_template("indicators/flags.html", process=process, active=active,
                           cleared=cleared, ack_forms=forms, may_acknowledge=may_acknowledge,
                           labels=labels, concealed=concealed,
                           event_value_shown=event_value_shown,
                           flag_message=lambda r: render_flag_message(r, k, hidden))


@bp.get("/manage/processes/<int:process_id>/flags")
@login_required
def flags(process_id: int):
    process = get_or_404(Process, process_id)
    _require(can_view_dashboard(current_user, process))
    return _flags_page(process)


def _back_to_dashboard(process_id: int) -> str:
    if "indicators.dashboard" in current_app.view_functions:
        return url_for("indicators.dashboard", process_id=process_id)
    return url_for("processes.admin_list")


@bp.post("/manage/flags/<int:flag_id>/acknowledge")
@login_required
def acknowledge(flag_id: int):
    record = get_or_404(FlagRecord, flag_id)
    process = get_or_404(Process, record.process_id)
    _require(can_manage_process(current_user, process))
    form = acknowledge_form(record, formdata=request.form)
    if not form.validate_on_submit():
        db.session.rollback()
        return _flags_page(process, failed=(record.id, form)), 422
    try:
        store.acknowledge(record.id, actor=current_user, note=form.note.data, now=utcnow())
    except ValidationFailed as err:
        form.note.errors = [*form.note.errors, err.message]
        db.session.rollback()
        return _flags_page(process, failed=(record.id, form)), 422
    db.session.commit()
    flash(_("Flag acknowledged."), "success")
    target = request.form.get("next") or request.args.get("next")
    if target:
        return redirect(safe_next(target))
    return redirect(_back_to_dashboard(process.id))
