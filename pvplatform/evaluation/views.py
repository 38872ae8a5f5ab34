"""The evaluator's workspace: the processes granted, each process's indicators, flags and ledger
figures, and its perception results, all suppressed at the export k, as of any instant. Nothing
here changes anything: every route is a GET."""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from pvplatform.auth.permissions import can_evaluate, can_export_microdata, can_open_evaluation
from pvplatform.core.i18n import town_zone
from pvplatform.core.instants import address_instant, picked_arguments, picker_context
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.evaluation.blueprint import bp
from pvplatform.evaluation.grants import active_grant
from pvplatform.evaluation.models import EvaluatorGrant, GrantScope
from pvplatform.evaluation.workspace import workspace_entries
from pvplatform.feedback.results import perception_results
from pvplatform.indicators.dashboard_inputs import dashboard_from_inputs, gather_dashboard_inputs
from pvplatform.indicators.suppression import export_k
from pvplatform.indicators.thresholds import thresholds_for
from pvplatform.ledger.forms import REASON_SHORT
from pvplatform.participation.labels import labels_of
from pvplatform.processes.models import Process


@bp.get("/")
@login_required
def index():
    if not can_open_evaluation(current_user):
        abort(403)
    now = utcnow()
    return render_template("evaluation/index.html", entries=workspace_entries(current_user, now),
                           k=export_k(current_app.config))


def readable(process_id: int, now: datetime) -> tuple[Process, EvaluatorGrant | None]:
    """The process and the read grant it is read under (None for an admin), if the person may
    read it as an evaluator (403 otherwise; 404 unknown). The downloads check the same."""
    process = get_or_404(Process, process_id)
    grant = active_grant(current_user, process.id, GrantScope.READ, now)
    if not can_evaluate(current_user, grant):
        abort(403)
    return process, grant


def _instant(endpoint: str, process_id: int) -> tuple[datetime, bool] | Response:
    """The instant of the page: ?as_of= (ISO 8601 with its offset), now when absent. The picker
    sends ?at= (the display zone's wall-clock time): answered with a redirect to the same page
    ?as_of=, an address that names the instant whatever the reader's time zone."""
    args = picked_arguments(request.args, town_zone())
    if args is not None:
        return redirect(url_for(endpoint, process_id=process_id, **args))
    as_of = address_instant(request.args.get("as_of"))
    if as_of is None:
        # To the second: the page and its downloads name the same instant.
        return utcnow().replace(microsecond=0), True
    return as_of, False


def _as_of_context(as_of: datetime, live: bool) -> dict:
    return picker_context(as_of, live, town_zone())


@bp.get("/processes/<int:process_id>")
@login_required
def process(process_id: int):
    now = utcnow()
    process, read_grant = readable(process_id, now)
    instant = _instant("evaluation.process", process.id)
    if isinstance(instant, Response):
        return instant
    as_of, live = instant
    view = dashboard_from_inputs(gather_dashboard_inputs(process.id, as_of),
                                 k=export_k(current_app.config), labels=labels_of(process.id))
    agreement = active_grant(current_user, process.id, GrantScope.MICRODATA, now)
    return render_template(
        "evaluation/process.html", process=process, d=view, forms={}, ledger=False,
        read_grant=read_grant,
        agreement=agreement, microdata=can_export_microdata(current_user, agreement),
        **_as_of_context(as_of, live))


@bp.get("/processes/<int:process_id>/perceptions")
@login_required
def perceptions(process_id: int):
    process, _grant = readable(process_id, utcnow())
    instant = _instant("evaluation.perceptions", process.id)
    if isinstance(instant, Response):
        return instant
    as_of, live = instant
    view = perception_results(process.id, as_of, k=export_k(current_app.config),
                              thresholds=thresholds_for(process.id), locale=str(get_locale()))
    # Read-only: no link to staff's survey management or to the ledger's person-level pages.
    return render_template("evaluation/perceptions.html", process=process, r=view,
                           ledger=False, surveys=False, reason_short=REASON_SHORT,
                           **_as_of_context(as_of, live))
