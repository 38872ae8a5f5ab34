"""Stored flags follow the data without anyone pressing "recompute".

Every flush is watched: rows of the models behind the flags (registrations, check-ins,
proposals, answers, perceptions...) that are inserted, changed or deleted leave a hint (the
process, or the session / proposal / ... they belong to) in `session.info`. Right before the
transaction commits, the hints are turned into process ids (a few queries for all of them), and
then, by `PV_REFRESH`:
- `background` (the default): a refresh request per touched process is written in the same
  transaction, and once it has committed a job asks a worker to refresh (`pvplatform.jobs`): no
  request waits for the indicators;
- `inline`: `store.refresh_flags` runs once per touched process inside the same transaction,
  the flags committed with the change that moved them or not at all (tests, and a deployment
  without a worker);
- `off`: nothing (`flask pv recompute` from cron).

No service has to remember anything, except writers that bypass the ORM (the importer's bulk
inserts), which call `mark_dirty(process_id)`.

After the commit, e-mails queued by the refresh (alerts to staff) are sent; a rollback drops
both the hints and the queued e-mails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.util import identity_key

log = logging.getLogger(__name__)

HINTS_KEY = "pv_flag_hints"
MAIL_KEY = "pv_flag_mail"
ENQUEUE_KEY = "pv_refresh_jobs"
CONFIG_KEY = "FLAGS_AUTO_REFRESH"
MODE_KEY = "PV_REFRESH"
BACKGROUND, INLINE, OFF = "background", "inline", "off"

# Hint kinds: what a changed row tells about its process.
PROCESS, MEETING, PROPOSAL, ATTENDANCE, PUBLIC_VALUE, PARTICIPANT = (
    "process", "meeting", "proposal", "attendance", "public_value", "participant")


def _hints(session: Session) -> dict[str, set[int]]:
    return session.info.setdefault(HINTS_KEY, {})


def _hint(session: Session, kind: str, value: Any) -> None:
    if isinstance(value, int):
        _hints(session).setdefault(kind, set()).add(value)


def mark_dirty(process_id: int, session: Session | None = None) -> None:
    """Asks for the process's flags to be refreshed before the current transaction commits.

    For writers that bypass the ORM (bulk inserts); ORM changes are detected automatically."""
    if session is None:
        from pvplatform.extensions import db

        session = db.session()
    _hint(session, PROCESS, process_id)


def mark_participant_dirty(participant_id: int, session: Session | None = None) -> None:
    """The same for a bulk change of one person's categories: every process they took part in."""
    if session is None:
        from pvplatform.extensions import db

        session = db.session()
    _hint(session, PARTICIPANT, participant_id)


def queue_mail(session: Session, to: str, subject: str, body: str) -> None:
    """An e-mail to send once the transaction has committed (never for a rolled-back change)."""
    session.info.setdefault(MAIL_KEY, []).append((to, subject, body))


def _note(session: Session, objects: Iterable[Any], *, deleted: bool = False) -> None:
    from pvplatform.feedback.models import Perception, PublicValue
    from pvplatform.indicators.models import ProcessThreshold
    from pvplatform.participation.models import (
        AttendanceSnapshot,
        Participant,
        ParticipantAttribute,
        Stratum,
    )
    from pvplatform.proposals.models import Answer, Comment, Proposal, Vote
    from pvplatform.sessions.models import (
        Attendance,
        Invitation,
        Meeting,
        Registration,
        SpeakingTurn,
    )

    for obj in objects:
        if isinstance(obj, Meeting | Proposal | Stratum | PublicValue | ProcessThreshold):
            _hint(session, PROCESS, obj.process_id)
        elif isinstance(obj, Registration | Attendance | Invitation | SpeakingTurn):
            _hint_parent(session, Meeting, MEETING, obj.meeting_id)
        elif isinstance(obj, Answer | Comment | Vote):
            _hint_parent(session, Proposal, PROPOSAL, obj.proposal_id)
        elif isinstance(obj, AttendanceSnapshot):
            _hint(session, ATTENDANCE, obj.attendance_id)
        elif isinstance(obj, Perception):
            _hint(session, PUBLIC_VALUE, obj.public_value_id)
        elif isinstance(obj, ParticipantAttribute):
            _hint(session, PARTICIPANT, obj.participant_id)
        elif isinstance(obj, Participant) and not deleted:
            # Only who they are counts (internal/external, association), not their name; a new
            # participant has no data yet.
            state = sa.inspect(obj)
            if not state.pending and (state.attrs.kind.history.has_changes()
                    or state.attrs.association_id.history.has_changes()):
                _hint(session, PARTICIPANT, obj.id)


def _hint_parent(session: Session, model: type, kind: str, parent_id: Any) -> None:
    # The request usually loaded the session or proposal it changes: its process is known
    # without a query at commit (a vote's path is short).
    parent = session.identity_map.get(identity_key(model, parent_id)) \
        if isinstance(parent_id, int) else None
    if parent is not None and parent not in session.deleted:
        _hint(session, PROCESS, parent.process_id)
    else:
        _hint(session, kind, parent_id)


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:  # noqa: ARG001
    # Deleted rows are read before they go; new ones after the flush, once their foreign keys
    # are set (an object may have been attached through a relationship only).
    if session.deleted:
        _note(session, list(session.deleted), deleted=True)


def _after_flush(session: Session, flush_context: Any) -> None:  # noqa: ARG001
    changed = list(session.new) + [o for o in session.dirty if session.is_modified(o)]
    if changed:
        _note(session, changed)


def process_ids_from_hints(session: Session, hints: dict[str, set[int]]) -> set[int]:
    from pvplatform.feedback.models import PublicValue
    from pvplatform.proposals.models import Comment, Proposal, Vote
    from pvplatform.sessions.models import Attendance, Meeting

    ids = set(hints.get(PROCESS, ()))

    def add(statement: sa.Select) -> None:
        ids.update(pid for pid in session.scalars(statement) if pid is not None)

    if hints.get(MEETING):
        add(sa.select(Meeting.process_id).where(Meeting.id.in_(sorted(hints[MEETING]))))
    if hints.get(PROPOSAL):
        add(sa.select(Proposal.process_id).where(Proposal.id.in_(sorted(hints[PROPOSAL]))))
    if hints.get(PUBLIC_VALUE):
        add(sa.select(PublicValue.process_id)
            .where(PublicValue.id.in_(sorted(hints[PUBLIC_VALUE]))))
    if hints.get(ATTENDANCE):
        add(sa.select(Meeting.process_id).join(Attendance, Attendance.meeting_id == Meeting.id)
            .where(Attendance.id.in_(sorted(hints[ATTENDANCE]))))
    if hints.get(PARTICIPANT):
        wanted = sorted(hints[PARTICIPANT])
        add(sa.select(Meeting.process_id).join(Attendance, Attendance.meeting_id == Meeting.id)
            .where(Attendance.participant_id.in_(wanted)).distinct())
        add(sa.select(Proposal.process_id).where(Proposal.author_id.in_(wanted)).distinct())
        # Voters and commenters count among active participants, with their categories.
        add(sa.select(Proposal.process_id).join(Vote, Vote.proposal_id == Proposal.id)
            .where(Vote.participant_id.in_(wanted)).distinct())
        add(sa.select(Proposal.process_id).join(Comment, Comment.proposal_id == Proposal.id)
            .where(Comment.author_id.in_(wanted)).distinct())
    return ids


def refresh_mode() -> str:
    if not has_app_context() or not current_app.config.get(CONFIG_KEY, True):
        return OFF
    mode = current_app.config.get(MODE_KEY, BACKGROUND)
    return mode if mode in (BACKGROUND, INLINE, OFF) else BACKGROUND


def _before_commit(session: Session) -> None:
    if not session.info.get(HINTS_KEY) and not session.new and not session.dirty and (
            not session.deleted):
        return
    mode = refresh_mode()
    if mode == OFF:
        session.info.pop(HINTS_KEY, None)
        return
    # Flush now so that the last changes leave their hints and the engine reads them.
    session.flush()
    hints = session.info.pop(HINTS_KEY, None)
    if not hints:
        return
    from pvplatform.db import utcnow
    from pvplatform.indicators.store import compute_current_flags, lock_for_refresh, sync_flags
    from pvplatform.processes.models import Process

    wanted = process_ids_from_hints(session, hints)
    if not wanted:
        return
    loaded = [session.identity_map.get(identity_key(Process, pid)) for pid in sorted(wanted)]
    if all(p is not None and p not in session.deleted for p in loaded):
        existing: Iterable[int] = sorted(wanted)  # in the session, so in the database
    else:
        existing = session.scalars(
            sa.select(Process.id).where(Process.id.in_(sorted(wanted))).order_by(Process.id))
    now = utcnow()
    if mode == BACKGROUND:
        from pvplatform.jobs.refresh import request_refresh

        process_ids = list(existing)
        request_refresh(session, process_ids, now)
        session.info.setdefault(ENQUEUE_KEY, set()).update(process_ids)
        return
    for process_id in list(existing):
        lock_for_refresh(process_id)
        try:
            rows = compute_current_flags(process_id, now)
        except Exception:
            # The engine only reads: a bug in it must not refuse someone's check-in. The flags
            # catch up at the next change or at `flask pv recompute`.
            log.exception("flag refresh failed for process %s", process_id)
            continue
        sync_flags(process_id, rows, now=now)
    # The refresh's own rows (flags, events, notifications) are not hints: nothing loops.
    session.info.pop(HINTS_KEY, None)


def _after_commit(session: Session) -> None:
    jobs = session.info.pop(ENQUEUE_KEY, None)
    if jobs and has_app_context():
        from pvplatform.jobs.queue import enqueue_refresh

        enqueue_refresh(jobs)
    mails = session.info.pop(MAIL_KEY, None)
    if not mails:
        return
    from pvplatform.core.mail import send_mail
    for to, subject, body in mails:
        try:
            send_mail(to, subject, body)
        except Exception:  # the change is committed: a mail problem must not turn it into a 500
            log.exception("alert e-mail not sent")


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(HINTS_KEY, None)
        session.info.pop(MAIL_KEY, None)
        session.info.pop(ENQUEUE_KEY, None)


_LISTENERS = (
    ("before_flush", _before_flush),
    ("after_flush", _after_flush),
    ("before_commit", _before_commit),
    ("after_commit", _after_commit),
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
