"""The perceived public value results page (value x group matrix, response rates, pulses)."""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user, login_required

from pvplatform.auth.permissions import (
    can_manage_sessions,
    can_manage_surveys,
    can_view_perceptions,
)
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.errors import DomainError, ValidationFailed
from pvplatform.feedback.blueprint import bp
from pvplatform.feedback.results import perception_results
from pvplatform.indicators.dashboard_views import parse_as_of
from pvplatform.indicators.suppression import dashboard_k
from pvplatform.indicators.thresholds import thresholds_for
from pvplatform.ledger.forms import REASON_SHORT
from pvplatform.processes.models import Process


@bp.get("/manage/processes/<int:process_id>/perceptions")
@login_required
def results(process_id: int):
    process = get_or_404(Process, process_id)
    if not can_view_perceptions(current_user, process):
        abort(403)
    try:
        as_of = parse_as_of(request.args.get("as_of"))
    except ValidationFailed as error:
        # A malformed address, not a refused form: 400 with the dashboard's explanation.
        raise DomainError(error.message, field="as_of") from None
    live = as_of is None
    view = perception_results(
        process.id, utcnow() if as_of is None else as_of,
        k=dashboard_k(current_app.config), thresholds=thresholds_for(process.id),
        locale=str(get_locale()))
    # The ledger (who stayed away, and why, in full) is staff's: linked when installed.
    ledger = ("ledger.process_reasons" in current_app.view_functions
              and can_manage_sessions(current_user, process))
    surveys = ("feedback.manage" in current_app.view_functions
               and can_manage_surveys(current_user, process))
    return render_template("feedback/results.html", process=process, r=view, live=live,
                           ledger=ledger, surveys=surveys, reason_short=REASON_SHORT)
