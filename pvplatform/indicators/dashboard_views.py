"""The process dashboard: flags first, then the funnel, representativeness, non-participation,
voice, responsiveness and perceived public value (UX.md), current at every visit.

Every figure comes from one reading of the engine (`compute_indicators_and_flags`) plus the extra
codes of `funnel`; the presenter (`dashboard.py`) only suppresses, formats and draws them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth.permissions import can_manage_process, can_view_dashboard
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.indicators import store
from pvplatform.indicators.dashboard_inputs import dashboard_from_inputs
from pvplatform.indicators.overview import ALL, FAMILIES, build_overview
from pvplatform.indicators.snapshots import reading_for
from pvplatform.indicators.suppression import dashboard_k
from pvplatform.indicators.views import acknowledge_form, bp
from pvplatform.participation.labels import labels_of
from pvplatform.processes.models import Process

AS_OF_MAX_LENGTH = 40


def parse_as_of(raw: str | None) -> datetime | None:
    """?as_of=ISO 8601 with an offset (2026-03-01T00:00:00+00:00 or ...Z); None when absent.
    A naive or unreadable instant is refused (422): a dashboard must not guess a time zone."""
    if raw is None or raw == "":
        return None
    message = _("Give the instant as an ISO 8601 date and time with its offset, for example "
                "2026-03-01T00:00:00+01:00.")
    if len(raw) > AS_OF_MAX_LENGTH:
        raise ValidationFailed(message, field="as_of")
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(message, field="as_of") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(message, field="as_of")
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed(message, field="as_of") from None


def _page(process_id: int) -> tuple[Process, dict[str, Any]]:
    """The process and what its dashboard pages show, for the instant asked for (?as_of=) or
    the present (the worker's stored figures)."""
    process = get_or_404(Process, process_id)
    if not can_view_dashboard(current_user, process):
        abort(403)
    as_of = parse_as_of(request.args.get("as_of"))
    live = as_of is None
    if as_of is None:
        as_of = utcnow()

    reading = reading_for(process.id, as_of, live=live)
    inputs = reading.inputs
    # Stored flags (with their history and acknowledgement) describe the present: a dashboard
    # of another instant shows the flags computed for that instant instead.
    stored: list[Any] | None = None
    outdated: list[Any] = []
    if live:
        records = store.active_flags(process.id)
        raised = {(f.code, store.flag_key(f)) for f in inputs.flags}
        stored = [r for r in records if (r.code, r.key) in raised]
        outdated = [r for r in records if (r.code, r.key) not in raised]
    view = dashboard_from_inputs(inputs, k=dashboard_k(current_app.config), stored=stored,
                                 outdated=outdated, labels=labels_of(process.id))

    forms = {}
    if live and can_manage_process(current_user, process):
        forms = {record.id: acknowledge_form(record) for record in stored or []}
    # The ledger (who stayed away, and why) is another feature: linked when it is installed.
    ledger = "ledger.process_ledger" in current_app.view_functions
    return process, {"process": process, "d": view, "live": live, "forms": forms,
                     "ledger": ledger, "computed_at": reading.computed_at,
                     "waiting": reading.waiting, "families": FAMILIES,
                     "as_of_arg": None if live else as_of.isoformat()}


@bp.get("/manage/processes/<int:process_id>/dashboard")
@login_required
def dashboard(process_id: int):
    """At a glance: the active flags and a handful of key figures, the families one click
    away."""
    _process, context = _page(process_id)
    return render_template("indicators/overview.html", overview=build_overview(context["d"]),
                           family=None, **context)


@bp.get("/manage/processes/<int:process_id>/dashboard/<family>")
@login_required
def dashboard_family(process_id: int, family: str):
    """One family of figures (chart first, the figures behind a disclosure), or all of them."""
    if family not in FAMILIES and family != ALL:
        abort(404)
    _process, context = _page(process_id)
    return render_template("indicators/dashboard.html", family=family, **context)
