"""The process dashboard: flags first, then the funnel, representativeness, non-participation,
voice, responsiveness and perceived public value (UX.md), current at every visit.

Every figure comes from one reading of the engine (`compute_indicators_and_flags`) plus the extra
codes of `funnel`; the presenter (`dashboard.py`) only suppresses, formats and draws them.

Every page reads the instant the evaluator's pages read (`core.instants`): ?as_of=, set with the
same "as of" picker (?at=, answered with a redirect to ?as_of=).
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from pvplatform.auth.permissions import can_manage_process, can_view_dashboard
from pvplatform.core.i18n import town_zone
from pvplatform.core.instants import parse_as_of, picked_arguments, picker_context
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.indicators import store
from pvplatform.indicators.dashboard_inputs import dashboard_from_inputs
from pvplatform.indicators.overview import ALL, FAMILIES, build_overview
from pvplatform.indicators.snapshots import reading_for, trend_base, trend_session
from pvplatform.indicators.suppression import dashboard_k
from pvplatform.indicators.views import acknowledge_form, bp
from pvplatform.participation.labels import labels_of
from pvplatform.processes.models import Process


def _page(process_id: int, *, trends: bool = False) -> dict[str, Any] | Response:
    """What the process's dashboard pages show, for the instant asked for (?as_of=) or the
    present (the worker's stored figures); a redirect when the picker was sent. `trends`: the
    overview's key figures say their change since the latest held session's start."""
    process = get_or_404(Process, process_id)
    if not can_view_dashboard(current_user, process):
        abort(403)
    picked = picked_arguments(request.args, town_zone())
    if picked is not None:
        return redirect(url_for(request.endpoint or "indicators.dashboard",
                                **(request.view_args or {}), **picked))
    as_of = parse_as_of(request.args.get("as_of"))
    live = as_of is None
    if as_of is None:
        as_of = utcnow()

    k = dashboard_k(current_app.config)
    labels = labels_of(process.id)
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
    # The overview (trends) draws no chart: its figures lead to the families' pages.
    view = dashboard_from_inputs(inputs, k=k, stored=stored, outdated=outdated, labels=labels,
                                 draw_charts=not trends)

    context: dict[str, Any] = {}
    if trends:
        # The same engine and presenter as of the latest held session's start: the overview
        # only takes the differences.
        since = trend_session(inputs)
        base = None if since is None else dashboard_from_inputs(
            trend_base(process.id, reading, since), k=k, labels=labels, draw_charts=False)
        context["overview"] = build_overview(view, base, since)

    forms = {}
    if live and can_manage_process(current_user, process):
        forms = {record.id: acknowledge_form(record) for record in stored or []}
    # The ledger (who stayed away, and why) is another feature: linked when it is installed.
    ledger = "ledger.process_ledger" in current_app.view_functions
    # The picker names the instant of the figures shown (the worker's, for the present).
    return {**context, "process": process, "d": view, "forms": forms, "ledger": ledger,
            "computed_at": reading.computed_at, "waiting": reading.waiting,
            "families": FAMILIES, **picker_context(view.as_of, live, town_zone())}


@bp.get("/manage/processes/<int:process_id>/dashboard")
@login_required
def dashboard(process_id: int):
    """At a glance: the active flags and a handful of key figures with their change since the
    latest session, the families one click away."""
    context = _page(process_id, trends=True)
    if isinstance(context, Response):
        return context
    return render_template("indicators/overview.html", family=None, **context)


@bp.get("/manage/processes/<int:process_id>/dashboard/<family>")
@login_required
def dashboard_family(process_id: int, family: str):
    """One family of figures (chart first, the figures behind a disclosure), or all of them."""
    if family not in FAMILIES and family != ALL:
        abort(404)
    context = _page(process_id)
    if isinstance(context, Response):
        return context
    return render_template("indicators/dashboard.html", family=family, **context)
