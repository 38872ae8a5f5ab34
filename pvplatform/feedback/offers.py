"""The open waves of a process are offered to a person at their first registration, attendance
(walk-ins included) or contribution (a published proposal, a comment), whichever feature
stored it: no service has to remember.

Every flush notes who did what where (in `session.info`, in memory: no query); right before
the transaction commits, one query finds the open waves of the processes concerned, and only
when there are some are the people offered them, a few statements for all of them
(`surveys.offer_to`), inside the same transaction. A unit of work without such rows costs
nothing.

An offer never refuses the change that caused it: a failure is logged and the offer skipped
(the person is still offered the wave when it is reopened, or at their next action).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from pvplatform.proposals.models import Comment, Proposal, ProposalState
from pvplatform.sessions.models import Attendance, Registration

log = logging.getLogger(__name__)

HINTS_KEY = "pv_offer_hints"

# What a row says about where the person took part.
MEETING, PROPOSAL, PROCESS = "meeting", "proposal", "process"


def _hints(session: Session) -> set[tuple[str, int, int]]:
    return session.info.setdefault(HINTS_KEY, set())


def _hint(session: Session, kind: str, where: Any, participant_id: Any) -> None:
    if isinstance(where, int) and isinstance(participant_id, int):
        _hints(session).add((kind, where, participant_id))


def _published_now(proposal: Proposal, *, new: bool) -> bool:
    if proposal.state == ProposalState.DRAFT:
        return False
    if new:
        return True
    history = sa.inspect(proposal).attrs.state.history
    return history.has_changes() and ProposalState.DRAFT in (history.deleted or ())


def _after_flush(session: Session, flush_context: Any) -> None:  # noqa: ARG001
    for obj in session.new:
        if isinstance(obj, Registration | Attendance):
            _hint(session, MEETING, obj.meeting_id, obj.participant_id)
        elif isinstance(obj, Comment):
            _hint(session, PROPOSAL, obj.proposal_id, obj.author_id)
        elif isinstance(obj, Proposal) and _published_now(obj, new=True):
            _hint(session, PROCESS, obj.process_id, obj.author_id)
    for obj in session.dirty:
        # A draft published later: its first public contribution.
        if isinstance(obj, Proposal) and _published_now(obj, new=False):
            _hint(session, PROCESS, obj.process_id, obj.author_id)


def _where(hints: set[tuple[str, int, int]], kind: str) -> list[int]:
    return sorted({where for k, where, _ in hints if k == kind})


def offer_for_hints(session: Session, hints: set[tuple[str, int, int]]) -> None:
    """One query when no wave is open; otherwise a few statements per open wave."""
    from pvplatform.db import utcnow
    from pvplatform.feedback import surveys
    from pvplatform.feedback.models import SurveyWave, Wave
    from pvplatform.participation.models import Participant
    from pvplatform.processes.models import Process
    from pvplatform.sessions.models import Meeting

    now = utcnow()
    meetings, proposals = _where(hints, MEETING), _where(hints, PROPOSAL)
    parts: list[sa.Select] = []
    if _where(hints, PROCESS):
        parts.append(sa.select(Process.id).where(Process.id.in_(_where(hints, PROCESS))))
    if meetings:
        parts.append(sa.select(Meeting.process_id).where(Meeting.id.in_(meetings)))
    if proposals:
        parts.append(sa.select(Proposal.process_id).where(Proposal.id.in_(proposals)))
    open_waves = session.execute(
        sa.select(SurveyWave.process_id, SurveyWave.wave)
        .where(SurveyWave.process_id.in_(sa.union(*parts)),
               SurveyWave.wave.in_(surveys.WAVES), SurveyWave.opened_at <= now,
               sa.or_(SurveyWave.closed_at.is_(None), SurveyWave.closed_at > now))
        .order_by(SurveyWave.process_id, SurveyWave.wave)).all()
    if not open_waves:
        return
    process_of: dict[tuple[str, int], int] = {
        (PROCESS, pid): pid for pid in _where(hints, PROCESS)}
    if meetings:
        process_of.update(((MEETING, ref), pid) for ref, pid in session.execute(
            sa.select(Meeting.id, Meeting.process_id).where(Meeting.id.in_(meetings))))
    if proposals:
        process_of.update(((PROPOSAL, ref), pid) for ref, pid in session.execute(
            sa.select(Proposal.id, Proposal.process_id).where(Proposal.id.in_(proposals))))
    people: dict[int, set[int]] = {}
    for kind, ref, participant_id in hints:
        process_id = process_of.get((kind, ref))
        if process_id is not None:
            people.setdefault(process_id, set()).add(participant_id)
    # In a savepoint: a failed offer is dropped whole, and the change that caused it stays.
    try:
        with session.begin_nested():
            for process_id, wave in open_waves:
                process = session.get(Process, process_id)
                if process is None or not people.get(process_id):
                    continue
                surveys.offer_to(process, Wave(wave),
                                 sa.select(Participant.id)
                                 .where(Participant.id.in_(sorted(people[process_id]))),
                                 now=now)
    except sa.exc.SQLAlchemyError:
        log.exception("survey offers skipped for this change")


def _before_commit(session: Session) -> None:
    # Savepoints commit too (and fire this): only the outermost commit offers, once.
    if session.in_nested_transaction():
        return
    if session.new or session.dirty:
        session.flush()  # the last changes leave their hints
    hints = session.info.pop(HINTS_KEY, None)
    if hints and has_app_context():
        offer_for_hints(session, hints)


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(HINTS_KEY, None)


_LISTENERS = (
    ("after_flush", _after_flush),
    ("before_commit", _before_commit),
    ("after_soft_rollback", _after_soft_rollback),
)


def install(session_class: type[Session] | None = None) -> None:
    """Listens on the sessions of Flask-SQLAlchemy (once, whatever the number of apps)."""
    if session_class is None:
        from flask_sqlalchemy.session import Session as FlaskSession

        session_class = FlaskSession
    for name, listener in _LISTENERS:
        if not event.contains(session_class, name, listener):
            event.listen(session_class, name, listener)
