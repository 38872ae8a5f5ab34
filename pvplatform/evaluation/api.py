"""The read-only JSON API v1 (`/api/v1`), described by `openapi.py` at `/api/v1/openapi.json`.

Staff and admins read every process with figures suppressed at the dashboard k; an evaluator
reads the processes granted to them (an active read grant), suppressed at the export k. Every
figure comes from the engine (`session_funnel`, and `evaluation.tables.aggregate_tables` for
indicators and flags, the same tables as the downloads) and leaves through `suppress`. A
response carrying figures is recorded in the export audit (channel API).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request
from flask_babel import force_locale
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import Role, User
from pvplatform.core.i18n import town_zone
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.evaluation.api_auth import api_user
from pvplatform.evaluation.api_blueprint import api_bp
from pvplatform.evaluation.api_errors import ApiProblem
from pvplatform.evaluation.api_params import (
    PageArgs,
    as_of_arg,
    envelope,
    page_args,
    page_of,
    page_query,
)
from pvplatform.evaluation.api_serialize import (
    current_phases,
    flag_item,
    indicator_item,
    instant,
    phase_item,
    process_item,
    proposal_item,
    session_item,
)
from pvplatform.evaluation.audit import record_export
from pvplatform.evaluation.grants import active_clause, active_grant
from pvplatform.evaluation.models import (
    EvaluatorGrant,
    ExportChannel,
    ExportFormat,
    GrantScope,
)
from pvplatform.evaluation.openapi import document
from pvplatform.evaluation.tables import aggregate_tables
from pvplatform.extensions import db
from pvplatform.indicators.funnel import session_funnel
from pvplatform.indicators.messages import flag_title
from pvplatform.indicators.suppression import dashboard_k, export_k, suppress
from pvplatform.processes.models import Phase, Process
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.proposals.services import tallies
from pvplatform.sessions.models import Meeting


def respond(body: dict[str, Any]) -> Response:
    # The one commit of an API request: the token's last use and the export record.
    db.session.commit()
    return jsonify(body)


def _is_evaluator(user: User) -> bool:
    return user.role == Role.EVALUATOR


def role_k(user: User) -> int:
    """Evaluators read what leaves the platform (export k); staff and admins what dashboards
    show (dashboard k)."""
    config = current_app.config
    return export_k(config) if _is_evaluator(user) else dashboard_k(config)


def readable_process(user: User, process_id: int, now: datetime
                     ) -> tuple[Process, EvaluatorGrant | None]:
    """The process (404 when unknown) if the caller may read it: staff and admins any, an
    evaluator one they hold a read grant in force on (403 otherwise)."""
    process = get_or_404(Process, process_id)
    if not _is_evaluator(user):
        return process, None
    grant = active_grant(user, process.id, GrantScope.READ, now)
    if grant is None:
        raise ApiProblem(403)
    return process, grant


def _record_export(user: User, process: Process, grant: EvaluatorGrant | None, *, k: int,
                   as_of: datetime, now: datetime) -> None:
    record_export(actor=user, process=process, format=ExportFormat.JSON,
                  channel=ExportChannel.API, k=k, microdata=False, as_of=as_of, grant=grant,
                  now=now)


def _locale(user: User) -> str:
    """Flag messages and titles: the language the client asks for, else the owner's."""
    languages = current_app.config["LANGUAGES"]
    asked = request.accept_languages.best_match(languages) if request.accept_languages else None
    if asked:
        return asked
    if user.locale in languages:
        return str(user.locale)
    return str(current_app.config.get("BABEL_DEFAULT_LOCALE", languages[0]))


def _count(stmt: sa.Select) -> sa.Select:
    return sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())


# ---------------------------------------------------------------- the document


@api_bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


# ---------------------------------------------------------------- processes


@api_bp.get("/processes")
def processes() -> Response:
    user, now = api_user(), utcnow()
    args = page_args()
    ids = sa.select(Process.id)
    if _is_evaluator(user):
        ids = ids.where(Process.id.in_(
            sa.select(EvaluatorGrant.process_id).where(
                EvaluatorGrant.user_id == user.id, EvaluatorGrant.scope == GrantScope.READ,
                active_clause(now))))
    stmt = (sa.select(Process).where(Process.id.in_(ids)).options(selectinload(Process.goals))
            .order_by(Process.id))
    rows, total = page_query(stmt, _count(ids), args)
    current = current_phases((p.id for p in rows), now.astimezone(town_zone()).date())
    return respond(envelope([process_item(p, current.get(p.id)) for p in rows], args, total))


@api_bp.get("/processes/<int:process_id>")
def process(process_id: int) -> Response:
    user, now = api_user(), utcnow()
    row, _grant = readable_process(user, process_id, now)
    current = current_phases([row.id], now.astimezone(town_zone()).date())
    return respond(process_item(row, current.get(row.id)))


@api_bp.get("/processes/<int:process_id>/phases")
def phases(process_id: int) -> Response:
    user, now = api_user(), utcnow()
    row, _grant = readable_process(user, process_id, now)
    args = page_args()
    stmt = sa.select(Phase).where(Phase.process_id == row.id).order_by(Phase.starts_on, Phase.id)
    items, total = page_query(stmt, _count(stmt), args)
    current = current_phases([row.id], now.astimezone(town_zone()).date()).get(row.id)
    return respond(envelope([phase_item(p, current) for p in items], args, total))


@api_bp.get("/processes/<int:process_id>/sessions")
def sessions(process_id: int) -> Response:
    user, now = api_user(), utcnow()
    row, grant = readable_process(user, process_id, now)
    args = page_args()
    k = role_k(user)
    stmt = (sa.select(Meeting).where(Meeting.process_id == row.id)
            .order_by(Meeting.starts_at, Meeting.id))
    items, total = page_query(stmt, _count(stmt), args)
    # Suppressed as a whole (a session's figure may be hidden because of another's), then paged.
    funnel, labels = session_funnel(row.id, now)
    cells = {(cell.row.code, cell.row.session_id): cell for cell in suppress(funnel, k)}
    held = {label.id: label.held for label in labels}
    _record_export(user, row, grant, k=k, as_of=now, now=now)
    return respond(envelope([session_item(m, held.get(m.id, False), cells) for m in items],
                            args, total, as_of=instant(now), k=k))


@api_bp.get("/processes/<int:process_id>/proposals")
def proposals(process_id: int) -> Response:
    user, now = api_user(), utcnow()
    row, _grant = readable_process(user, process_id, now)
    args = page_args()
    # What the public list shows: published or later, never a draft nor a hidden proposal.
    public = sa.and_(Proposal.process_id == row.id, Proposal.state != ProposalState.DRAFT,
                     Proposal.published_at.is_not(None), Proposal.hidden_at.is_(None))
    stmt = (sa.select(Proposal).where(public)
            .options(selectinload(Proposal.author), selectinload(Proposal.goals),
                     selectinload(Proposal.answers), selectinload(Proposal.updates))
            .order_by(Proposal.published_at.desc(), Proposal.id.desc()))
    items, total = page_query(stmt, sa.select(sa.func.count(Proposal.id)).where(public), args)
    votes = tallies(p.id for p in items)
    return respond(envelope([proposal_item(p, votes[p.id]) for p in items], args, total))


# ---------------------------------------------------------------- indicators and flags


def _tables(process_id: int) -> tuple[Any, PageArgs, str]:
    user, now = api_user(), utcnow()
    row, grant = readable_process(user, process_id, now)
    as_of = as_of_arg(now)
    args = page_args()
    k = role_k(user)
    locale = _locale(user)
    export = aggregate_tables(row.id, as_of, k, locale=locale)
    _record_export(user, row, grant, k=k, as_of=as_of, now=now)
    return export, args, locale


@api_bp.get("/processes/<int:process_id>/indicators")
def indicators(process_id: int) -> Response:
    export, args, _locale_used = _tables(process_id)
    rows = export.table("indicators").rows
    return respond(envelope([indicator_item(r) for r in page_of(rows, args)], args, len(rows),
                            as_of=instant(export.as_of), k=export.k))


@api_bp.get("/processes/<int:process_id>/flags")
def flags(process_id: int) -> Response:
    export, args, locale = _tables(process_id)
    rows = export.table("flags").rows
    with force_locale(locale):
        items = [flag_item(r, flag_title(r["code"])) for r in page_of(rows, args)]
    return respond(envelope(items, args, len(rows), as_of=instant(export.as_of), k=export.k))
