"""Processes, phases, goals and local targets. No request context here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.processes.models import LocalTarget, Phase, PhaseKind, Process, SdgGoal

Openable = Literal["proposals", "comments", "votes"]
OPENABLES: tuple[Openable, ...] = ("proposals", "comments", "votes")

# The standard split of a process: (kind, share of the days, contributions open).
STANDARD_PHASES: tuple[tuple[PhaseKind, int, bool], ...] = (
    (PhaseKind.INFORMATION, 1, False),
    (PhaseKind.CO_CREATION, 3, True),
    (PhaseKind.REVIEW, 1, False),
    (PhaseKind.DECISION, 1, False),
    (PhaseKind.FOLLOW_UP, 2, False),
)

POPULATION_MAX = 2**31 - 1  # an INTEGER column on every database


# ---------------------------------------------------------------- reading

def current_phase(process: Process, *, today: date) -> Phase | None:
    """The phase whose dates include `today` (the latest-starting one if phases overlap)."""
    return db.session.scalar(
        sa.select(Phase)
        .where(Phase.process_id == process.id, Phase.starts_on <= today, Phase.ends_on >= today)
        .order_by(Phase.starts_on.desc(), Phase.id.desc())
        .limit(1)
    )


def is_open(process: Process, what: Openable, *, today: date) -> bool:
    """Whether proposals, comments or votes are open in the process's current phase."""
    phase = current_phase(process, today=today)
    if phase is None:
        return False
    return bool(getattr(phase, f"{what}_open"))


def is_running(process: Process, *, today: date) -> bool:
    return (process.starts_on is None or process.starts_on <= today) and (
        process.ends_on is None or process.ends_on >= today)


def open_now(phase: Phase | None) -> list[Openable]:
    """What a phase opens to contributions, in a fixed order."""
    if phase is None:
        return []
    return [what for what in OPENABLES if getattr(phase, f"{what}_open")]


def _with_details(stmt: sa.Select) -> sa.Select:
    return stmt.options(selectinload(Process.phases), selectinload(Process.goals))


def _running_clause(today: date) -> sa.ColumnElement[bool]:
    # A process without dates has no end: it counts as running.
    return sa.and_(
        sa.or_(Process.starts_on.is_(None), Process.starts_on <= today),
        sa.or_(Process.ends_on.is_(None), Process.ends_on >= today),
    )


def running_processes(*, today: date) -> list[Process]:
    """Processes running today; when none runs, the most recent one (so home is never empty
    while a process exists)."""
    running = list(db.session.scalars(_with_details(
        sa.select(Process).where(_running_clause(today))
        .order_by(Process.starts_on.desc().nulls_last(), Process.id.desc())
    )))
    if running:
        return running
    latest = db.session.scalars(_with_details(
        sa.select(Process)
        .order_by(Process.starts_on.desc().nulls_last(), Process.id.desc())
        .limit(1)
    )).first()
    return [latest] if latest is not None else []


def past_processes(*, today: date, exclude: Iterable[int] = ()) -> list[Process]:
    stmt = sa.select(Process).where(Process.ends_on < today)
    excluded = list(exclude)
    if excluded:
        stmt = stmt.where(Process.id.not_in(excluded))
    return list(db.session.scalars(stmt.order_by(Process.ends_on.desc(), Process.id.desc())))


def upcoming_processes(*, today: date, exclude: Iterable[int] = ()) -> list[Process]:
    stmt = sa.select(Process).where(Process.starts_on > today)
    excluded = list(exclude)
    if excluded:
        stmt = stmt.where(Process.id.not_in(excluded))
    return list(db.session.scalars(stmt.order_by(Process.starts_on.asc(), Process.id.asc())))


def targets_by_goal(process: Process) -> list[tuple[SdgGoal, list[LocalTarget]]]:
    targets = db.session.scalars(
        sa.select(LocalTarget)
        .where(LocalTarget.process_id == process.id)
        .options(selectinload(LocalTarget.goal))
        .order_by(LocalTarget.goal_number, LocalTarget.code, LocalTarget.id)
    )
    groups: list[tuple[SdgGoal, list[LocalTarget]]] = []
    for target in targets:
        if groups and groups[-1][0].number == target.goal_number:
            groups[-1][1].append(target)
        else:
            groups.append((target.goal, [target]))
    return groups


# ---------------------------------------------------------------- checks

def _goals(numbers: Iterable[int]) -> list[SdgGoal]:
    wanted = sorted(set(numbers))
    if not wanted:
        return []
    goals = list(db.session.scalars(
        sa.select(SdgGoal).where(SdgGoal.number.in_(wanted)).order_by(SdgGoal.number)
    ))
    if len(goals) != len(wanted):
        known = {g.number for g in goals}
        unknown = ", ".join(str(n) for n in wanted if n not in known)
        raise ValidationFailed(_("Unknown SDG goal: %(numbers)s.", numbers=unknown),
                               field="goals")
    return goals


def _check_process_fields(title: str, population: int | None,
                          starts_on: date | None, ends_on: date | None) -> None:
    if not title or not title.strip():
        raise ValidationFailed(_("A title is required."), field="title")
    if len(title) > 200:
        raise ValidationFailed(_("The title is too long."), field="title")
    if population is not None and not 0 <= population <= POPULATION_MAX:
        raise ValidationFailed(_("The population must be a positive number."),
                               field="population")
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationFailed(_("The end date must be on or after the start date."),
                               field="ends_on")


def _check_phase_dates(process: Process, starts_on: date, ends_on: date,
                       *, ignore: Phase | None = None) -> None:
    if ends_on < starts_on:
        raise ValidationFailed(_("The end date must be on or after the start date."),
                               field="ends_on")
    if process.starts_on and starts_on < process.starts_on:
        raise ValidationFailed(
            _("The phase must start on or after the start of the process (%(day)s).",
              day=process.starts_on.isoformat()), field="starts_on")
    if process.ends_on and ends_on > process.ends_on:
        raise ValidationFailed(
            _("The phase must end on or before the end of the process (%(day)s).",
              day=process.ends_on.isoformat()), field="ends_on")
    clash = db.session.scalars(
        sa.select(Phase)
        .where(Phase.process_id == process.id, Phase.starts_on <= ends_on,
               Phase.ends_on >= starts_on,
               Phase.id != (ignore.id if ignore is not None else -1))
        .order_by(Phase.starts_on, Phase.id)
        .limit(1)
    ).first()
    if clash is not None:
        raise ValidationFailed(
            _("These dates overlap another phase (%(start)s to %(end)s). Phases follow one "
              "another: change the dates of one of them first.",
              start=clash.starts_on.isoformat(), end=clash.ends_on.isoformat()),
            field="starts_on")


def standard_phases(starts_on: date | None, ends_on: date | None) -> list[Phase]:
    """The five standard phases covering the process's dates, in proportion to their share."""
    if starts_on is None or ends_on is None:
        raise ValidationFailed(
            _("The standard phases need both a start and an end date."), field="standard_phases")
    days = (ends_on - starts_on).days + 1
    if days < len(STANDARD_PHASES):
        raise ValidationFailed(
            _("The standard phases need at least %(n)s days.", n=len(STANDARD_PHASES)),
            field="standard_phases")
    total = sum(share for _kind, share, _open in STANDARD_PHASES)
    phases: list[Phase] = []
    start_offset = 0
    reached = 0
    for index, (kind, share, contributions) in enumerate(STANDARD_PHASES):
        reached += share
        remaining = len(STANDARD_PHASES) - index - 1
        # Every phase gets at least one day and leaves one for each phase after it.
        end_offset = round(days * reached / total) - 1
        end_offset = min(max(end_offset, start_offset), days - 1 - remaining)
        phases.append(Phase(
            kind=kind,
            starts_on=starts_on + timedelta(days=start_offset),
            ends_on=starts_on + timedelta(days=end_offset),
            proposals_open=contributions, comments_open=contributions, votes_open=contributions,
        ))
        start_offset = end_offset + 1
    return phases


# ---------------------------------------------------------------- processes

def create_process(*, title: str, description: str = "", municipality: str = "",
                   population: int | None = None, starts_on: date | None = None,
                   ends_on: date | None = None, goal_numbers: Sequence[int] = (),
                   with_standard_phases: bool = False, actor: Any, now: datetime) -> Process:
    _check_process_fields(title, population, starts_on, ends_on)
    goals = _goals(goal_numbers)
    phases = standard_phases(starts_on, ends_on) if with_standard_phases else []
    process = Process(title=title, description=description or "",
                      municipality=municipality or "", population=population,
                      starts_on=starts_on, ends_on=ends_on, created_at=now)
    process.goals = goals
    process.phases = phases
    db.session.add(process)
    db.session.flush()
    record_audit(actor, "process.create", "process", process.id, process_id=process.id,
                 details={"title": title, "goals": [g.number for g in goals],
                          "standard_phases": bool(with_standard_phases)})
    return process


def update_process(process: Process, *, title: str, description: str = "",
                   municipality: str = "", population: int | None = None,
                   starts_on: date | None = None, ends_on: date | None = None,
                   goal_numbers: Sequence[int] = (), actor: Any, now: datetime) -> Process:  # noqa: ARG001
    _check_process_fields(title, population, starts_on, ends_on)
    goals = _goals(goal_numbers)
    phases = list(db.session.scalars(
        sa.select(Phase).where(Phase.process_id == process.id).order_by(Phase.starts_on)
    ))
    if starts_on and phases and phases[0].starts_on < starts_on:
        raise ValidationFailed(
            _("A phase starts on %(day)s, before this date: change the phases first.",
              day=phases[0].starts_on.isoformat()), field="starts_on")
    if ends_on and phases:
        last_end = max(p.ends_on for p in phases)
        if last_end > ends_on:
            raise ValidationFailed(
                _("A phase ends on %(day)s, after this date: change the phases first.",
                  day=last_end.isoformat()), field="ends_on")
    before = {"title": process.title, "starts_on": _iso(process.starts_on),
              "ends_on": _iso(process.ends_on), "goals": [g.number for g in process.goals]}
    process.title = title
    process.description = description or ""
    process.municipality = municipality or ""
    process.population = population
    process.starts_on = starts_on
    process.ends_on = ends_on
    process.goals = goals
    record_audit(actor, "process.update", "process", process.id, process_id=process.id,
                 details={"before": before,
                          "after": {"title": title, "starts_on": _iso(starts_on),
                                    "ends_on": _iso(ends_on),
                                    "goals": [g.number for g in goals]}})
    return process


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# ---------------------------------------------------------------- phases

def _phase_kind(kind: PhaseKind | str) -> PhaseKind:
    try:
        return PhaseKind(kind)
    except ValueError:
        raise ValidationFailed(_("Unknown kind of phase."), field="kind") from None


def _phase_details(phase: Phase) -> dict[str, Any]:
    return {"kind": phase.kind.value, "starts_on": _iso(phase.starts_on),
            "ends_on": _iso(phase.ends_on), "proposals_open": phase.proposals_open,
            "comments_open": phase.comments_open, "votes_open": phase.votes_open}


def add_phase(process: Process, *, kind: PhaseKind | str, starts_on: date, ends_on: date,
              proposals_open: bool = False, comments_open: bool = False,
              votes_open: bool = False, actor: Any, now: datetime) -> Phase:  # noqa: ARG001
    kind = _phase_kind(kind)
    _check_phase_dates(process, starts_on, ends_on)
    phase = Phase(process_id=process.id, kind=kind, starts_on=starts_on, ends_on=ends_on,
                  proposals_open=bool(proposals_open), comments_open=bool(comments_open),
                  votes_open=bool(votes_open))
    db.session.add(phase)
    db.session.flush()
    record_audit(actor, "phase.create", "phase", phase.id, process_id=process.id,
                 details=_phase_details(phase))
    return phase


def update_phase(phase: Phase, *, kind: PhaseKind | str, starts_on: date, ends_on: date,
                 proposals_open: bool = False, comments_open: bool = False,
                 votes_open: bool = False, actor: Any, now: datetime) -> Phase:  # noqa: ARG001
    kind = _phase_kind(kind)
    _check_phase_dates(phase.process, starts_on, ends_on, ignore=phase)
    before = _phase_details(phase)
    phase.kind = kind
    phase.starts_on = starts_on
    phase.ends_on = ends_on
    phase.proposals_open = bool(proposals_open)
    phase.comments_open = bool(comments_open)
    phase.votes_open = bool(votes_open)
    record_audit(actor, "phase.update", "phase", phase.id, process_id=phase.process_id,
                 details={"before": before, "after": _phase_details(phase)})
    return phase


def delete_phase(phase: Phase, *, actor: Any, now: datetime) -> None:  # noqa: ARG001
    record_audit(actor, "phase.delete", "phase", phase.id, process_id=phase.process_id,
                 details=_phase_details(phase))
    db.session.delete(phase)


# ---------------------------------------------------------------- local targets

def _check_target(process: Process, goal_number: int, code: str, title: str,
                  *, ignore: LocalTarget | None = None) -> str:
    if goal_number is None:
        raise ValidationFailed(_("Choose a goal."), field="goal_number")
    try:
        _goals([goal_number])
    except ValidationFailed as err:
        raise ValidationFailed(err.message, field="goal_number") from None
    code = (code or "").strip()
    if not code:
        raise ValidationFailed(_("A code is required."), field="code")
    if len(code) > 20:
        raise ValidationFailed(_("The code is too long."), field="code")
    if not title or not title.strip():
        raise ValidationFailed(_("A title is required."), field="title")
    if len(title) > 200:
        raise ValidationFailed(_("The title is too long."), field="title")
    taken = db.session.scalar(
        sa.select(LocalTarget.id).where(
            LocalTarget.process_id == process.id, LocalTarget.code == code,
            LocalTarget.id != (ignore.id if ignore is not None else -1))
    )
    if taken is not None:
        raise ValidationFailed(
            _("The code %(code)s is already used by another target of this process.", code=code),
            field="code")
    return code


def add_local_target(process: Process, *, goal_number: int, code: str, title: str,
                     description: str = "", actor: Any, now: datetime) -> LocalTarget:  # noqa: ARG001
    code = _check_target(process, goal_number, code, title)
    target = LocalTarget(process_id=process.id, goal_number=goal_number, code=code,
                         title=title, description=description or "")
    db.session.add(target)
    db.session.flush()
    record_audit(actor, "local_target.create", "local_target", target.id,
                 process_id=process.id, details={"goal": goal_number, "code": code})
    return target


def update_local_target(target: LocalTarget, *, goal_number: int, code: str, title: str,
                        description: str = "", actor: Any, now: datetime) -> LocalTarget:  # noqa: ARG001
    code = _check_target(target.process, goal_number, code, title, ignore=target)
    before = {"goal": target.goal_number, "code": target.code}
    target.goal_number = goal_number
    target.code = code
    target.title = title
    target.description = description or ""
    record_audit(actor, "local_target.update", "local_target", target.id,
                 process_id=target.process_id,
                 details={"before": before, "after": {"goal": goal_number, "code": code}})
    return target


def delete_local_target(target: LocalTarget, *, actor: Any, now: datetime) -> None:  # noqa: ARG001
    record_audit(actor, "local_target.delete", "local_target", target.id,
                 process_id=target.process_id,
                 details={"goal": target.goal_number, "code": target.code})
    db.session.delete(target)
