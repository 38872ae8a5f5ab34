"""Home page, process pages and process management (phases, goals, local targets)."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pvplatform.auth.permissions import can_create_process
from pvplatform.core.form_views import form_page, save_form, submit_form
from pvplatform.core.i18n import town_zone, utc_to_local
from pvplatform.core.lookup import get_or_404
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.processes import services
from pvplatform.processes.access import managed_process, require_process_manager
from pvplatform.processes.forms import (
    MEETING_FORMAT_LABELS,
    OPENABLE_LABELS,
    PHASE_KIND_LABELS,
    LocalTargetForm,
    NewProcessForm,
    PhaseForm,
    ProcessForm,
)
from pvplatform.processes.models import LocalTarget, Phase, Process, SdgGoal
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions.models import Meeting

bp = Blueprint("processes", __name__)

UPCOMING_SESSIONS_ON_HOME = 3
LATEST_PROPOSALS = 5

Part = TypeVar("Part", Phase, LocalTarget)


@bp.context_processor
def _labels() -> dict:
    return {
        "phase_kind_labels": PHASE_KIND_LABELS,
        "openable_labels": OPENABLE_LABELS,
        "meeting_format_labels": MEETING_FORMAT_LABELS,
    }


def _town_today() -> date:
    # Phases are calendar days in the town, not in UTC.
    return utc_to_local(utcnow(), town_zone()).date()


def _locale() -> str:
    return str(get_locale() or "en")


def _goal_choices() -> list[tuple[int, str]]:
    locale = _locale()
    goals = db.session.scalars(sa.select(SdgGoal).order_by(SdgGoal.number))
    return [(g.number, f"{g.number}. {g.title(locale)}") for g in goals]


def _managed_part(model: type[Part], part_id: int) -> Part:
    """A phase or local target of a process the current user manages, checked as in
    `managed_process`."""
    require_process_manager()
    part = get_or_404(model, part_id)
    require_process_manager(part.process)
    return part


# ---------------------------------------------------------------- public pages

@bp.get("/")
def home():
    today = _town_today()
    now = utcnow()
    featured = services.running_processes(today=today)
    items = []
    for process in featured:
        items.append({
            "process": process,
            "running": services.is_running(process, today=today),
            "current": services.current_phase(process, today=today),
            "sessions": list(db.session.scalars(
                sa.select(Meeting)
                .where(Meeting.process_id == process.id, Meeting.starts_at >= now)
                .order_by(Meeting.starts_at, Meeting.id)
                .limit(UPCOMING_SESSIONS_ON_HOME)
            )),
        })
    featured_ids = [p.id for p in featured]
    return render_template(
        "processes/home.html",
        items=items,
        past=services.past_processes(today=today, exclude=featured_ids),
        upcoming=services.upcoming_processes(today=today, exclude=featured_ids),
        open_now=services.open_now,
        today=today,
    )


@bp.get("/processes/<int:process_id>")
def detail(process_id: int):
    process = get_or_404(Process, process_id)
    today = _town_today()
    now = utcnow()
    upcoming = list(db.session.scalars(
        sa.select(Meeting)
        .where(Meeting.process_id == process.id, Meeting.starts_at >= now)
        .order_by(Meeting.starts_at, Meeting.id)
    ))
    past = list(db.session.scalars(
        sa.select(Meeting)
        .where(Meeting.process_id == process.id, Meeting.starts_at < now)
        .order_by(Meeting.starts_at.desc(), Meeting.id.desc())
    ))
    public = sa.and_(Proposal.process_id == process.id, Proposal.state != ProposalState.DRAFT,
                     Proposal.hidden_at.is_(None))
    proposal_count = db.session.scalar(sa.select(sa.func.count(Proposal.id)).where(public))
    proposals = list(db.session.scalars(
        sa.select(Proposal).where(public)
        .order_by(Proposal.published_at.desc().nulls_last(), Proposal.id.desc())
        .limit(LATEST_PROPOSALS)
    ))
    return render_template(
        "processes/detail.html",
        process=process,
        current=services.current_phase(process, today=today),
        open_now=services.open_now,
        targets=services.targets_by_goal(process),
        upcoming_sessions=upcoming,
        past_sessions=past,
        proposals=proposals,
        proposal_count=proposal_count,
        today=today,
    )


# ---------------------------------------------------------------- management: processes

@bp.get("/manage")
@login_required
def admin_list():
    require_process_manager()
    page = db.paginate(
        sa.select(Process).order_by(Process.starts_on.desc().nulls_last(), Process.id.desc()),
        per_page=50, error_out=False,
    )
    return render_template("processes/admin_list.html", page=page)


def _process_values(form: ProcessForm) -> dict:
    return {
        "title": form.title.data or "",
        "description": form.description.data or "",
        "municipality": form.municipality.data or "",
        "population": form.population.data,
        "starts_on": form.starts_on.data,
        "ends_on": form.ends_on.data,
        "goal_numbers": form.goals.data or [],
    }


@bp.route("/manage/processes/new", methods=["GET", "POST"])
@login_required
def create():
    if not can_create_process(current_user):
        abort(403)
    form = NewProcessForm(goal_choices=_goal_choices())
    outcome = submit_form(form, lambda: services.create_process(
        **_process_values(form), with_standard_phases=bool(form.standard_phases.data),
        actor=current_user, now=utcnow()))
    if outcome.accepted:
        process = outcome.result
        db.session.commit()
        flash(_("The process was created."), "success")
        return redirect(url_for("processes.detail", process_id=process.id))
    return form_page("processes/process_form.html", form, process=None)


@bp.route("/manage/processes/<int:process_id>/edit", methods=["GET", "POST"])
@login_required
def edit(process_id: int):
    process = managed_process(process_id)
    initial = {
        "title": process.title, "description": process.description,
        "municipality": process.municipality, "population": process.population,
        "starts_on": process.starts_on, "ends_on": process.ends_on,
        "goals": [g.number for g in process.goals],
    }
    form = ProcessForm(data=initial, goal_choices=_goal_choices())
    saved = save_form(
        form, lambda: services.update_process(process, **_process_values(form),
                                              actor=current_user, now=utcnow()),
        done=_("The process was saved."),
        back=url_for("processes.detail", process_id=process.id))
    if saved is not None:
        return saved
    return form_page("processes/process_form.html", form, process=process)


# ---------------------------------------------------------------- management: phases

def _phase_values(form: PhaseForm) -> dict:
    return {
        "kind": form.kind.data,
        "starts_on": form.starts_on.data,
        "ends_on": form.ends_on.data,
        "proposals_open": bool(form.proposals_open.data),
        "comments_open": bool(form.comments_open.data),
        "votes_open": bool(form.votes_open.data),
    }


def _phases_page(process: Process, form: PhaseForm, status: int = 200):
    phases = list(db.session.scalars(
        sa.select(Phase).where(Phase.process_id == process.id).order_by(Phase.starts_on, Phase.id)
    ))
    current = services.current_phase(process, today=_town_today())
    return render_template("processes/phases.html", process=process, phases=phases, form=form,
                           current=current, open_now=services.open_now), status


@bp.route("/manage/processes/<int:process_id>/phases", methods=["GET", "POST"])
@login_required
def phases(process_id: int):
    process = managed_process(process_id)
    form = PhaseForm()
    saved = save_form(
        form, lambda: services.add_phase(process, **_phase_values(form), actor=current_user,
                                         now=utcnow()),
        done=_("The phase was added."), back=url_for("processes.phases", process_id=process.id))
    if saved is not None:
        return saved
    return _phases_page(process, form, 422 if request.method == "POST" else 200)


@bp.route("/manage/phases/<int:phase_id>/edit", methods=["GET", "POST"])
@login_required
def edit_phase(phase_id: int):
    phase = _managed_part(Phase, phase_id)
    form = PhaseForm(obj=phase)
    saved = save_form(
        form, lambda: services.update_phase(phase, **_phase_values(form), actor=current_user,
                                            now=utcnow()),
        done=_("The phase was saved."),
        back=url_for("processes.phases", process_id=phase.process_id))
    if saved is not None:
        return saved
    return form_page("processes/phase_form.html", form, phase=phase, process=phase.process)


@bp.post("/manage/phases/<int:phase_id>/delete")
@login_required
def delete_phase(phase_id: int):
    phase = _managed_part(Phase, phase_id)
    process_id = phase.process_id
    services.delete_phase(phase, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("The phase was deleted."), "success")
    return redirect(url_for("processes.phases", process_id=process_id))


# ---------------------------------------------------------------- management: local targets

def _target_values(form: LocalTargetForm) -> dict:
    return {
        "goal_number": form.goal_number.data,
        "code": form.code.data or "",
        "title": form.title.data or "",
        "description": form.description.data or "",
    }


def _targets_page(process: Process, form: LocalTargetForm, status: int = 200):
    return render_template("processes/targets.html", process=process, form=form,
                           groups=services.targets_by_goal(process)), status


@bp.route("/manage/processes/<int:process_id>/targets", methods=["GET", "POST"])
@login_required
def targets(process_id: int):
    process = managed_process(process_id)
    form = LocalTargetForm(goal_choices=_goal_choices())
    saved = save_form(
        form, lambda: services.add_local_target(process, **_target_values(form),
                                                actor=current_user, now=utcnow()),
        done=_("The local target was added."),
        back=url_for("processes.targets", process_id=process.id))
    if saved is not None:
        return saved
    return _targets_page(process, form, 422 if request.method == "POST" else 200)


@bp.route("/manage/targets/<int:target_id>/edit", methods=["GET", "POST"])
@login_required
def edit_target(target_id: int):
    target = _managed_part(LocalTarget, target_id)
    form = LocalTargetForm(obj=target, goal_choices=_goal_choices())
    saved = save_form(
        form, lambda: services.update_local_target(target, **_target_values(form),
                                                   actor=current_user, now=utcnow()),
        done=_("The local target was saved."),
        back=url_for("processes.targets", process_id=target.process_id))
    if saved is not None:
        return saved
    return form_page("processes/target_form.html", form, target=target, process=target.process)


@bp.post("/manage/targets/<int:target_id>/delete")
@login_required
def delete_target(target_id: int):
    target = _managed_part(LocalTarget, target_id)
    process_id = target.process_id
    services.delete_local_target(target, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("The local target was deleted."), "success")
    return redirect(url_for("processes.targets", process_id=process_id))
