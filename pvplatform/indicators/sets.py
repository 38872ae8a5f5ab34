"""The sets every figure counts, as of an instant T: one definition for the engine and the
ledger pages, so that a list of people and the figure beside it cannot drift apart.

INDICATORS.md, vocabulary:
- held sessions: the process's sessions with `starts_at <= T`, ranked by `starts_at`, then by
  reference in plain string order (`k` = 1 for the first);
- attendances: checked in at or before T, in a held session (a walk-in is an attendee);
- live registrations: registered at or before T and not cancelled at or before T, a cancellation
  at or after the session's start not ending it (the person was expected and did not come);
- invitation pairs: distinct (session, participant) invited at or before T and before the
  session started (an invitation sent once a session has started cannot be taken up); the same
  rule for invitations addressed to an association;
- no-shows: live registrations of held sessions without an attendance;
- published proposals: `published_at <= T`.

Each set is offered twice: as a row condition (`is_live(Registration, starts_at)`) for the
ledger's lists, which load the rows themselves, and as a CTE of `ProcessSets` for the engine's
aggregates, built on the same conditions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from pvplatform.core.sql import binary_order
from pvplatform.proposals.models import Comment, Proposal, Vote
from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration


def is_live(registration: Any, starts_at: Any, as_of: datetime) -> Any:
    """The registration row is live as of T (`starts_at`: its session's start)."""
    return sa.and_(
        registration.registered_at <= as_of,
        sa.or_(registration.cancelled_at.is_(None),
               registration.cancelled_at > as_of,
               registration.cancelled_at >= starts_at),
    )


def is_invitation_pair(invitation: Any, starts_at: Any, as_of: datetime) -> Any:
    """The invitation row counts: sent at or before T and before its session started."""
    return sa.and_(invitation.invited_at <= as_of, invitation.invited_at < starts_at)


def is_checked_in(attendance: Any, as_of: datetime) -> Any:
    return attendance.checked_in_at <= as_of


def has_live_registration(meeting_id: Any, participant_id: Any, starts_at: Any,
                          as_of: datetime) -> Any:
    """EXISTS a live registration of that person for that session as of T."""
    reg = aliased(Registration)
    return sa.exists().where(reg.meeting_id == meeting_id, reg.participant_id == participant_id,
                             is_live(reg, starts_at, as_of))


def has_attended(meeting_id: Any, participant_id: Any, as_of: datetime) -> Any:
    """EXISTS an attendance of that person at that session as of T."""
    att = aliased(Attendance)
    return sa.exists().where(att.meeting_id == meeting_id, att.participant_id == participant_id,
                             is_checked_in(att, as_of))


def session_order(meeting: Any = Meeting) -> tuple[Any, Any]:
    """The engine's session order: start, then reference (package id, else database id)."""
    reference = sa.func.coalesce(meeting.external_ref, sa.cast(meeting.id, sa.String))
    return meeting.starts_at, binary_order(reference)


class ProcessSets:
    """The CTEs of one process as of T. Columns:

    held (id, title, starts_at, k) · att (attendance_id, pid, sid, checked_in_at, k) ·
    live (sid, pid, starts_at) · pairs (sid, pid) · association_pairs (aid, sid) ·
    published (id, author_id)
    """

    def __init__(self, process_id: int, as_of: datetime) -> None:
        self.process_id = process_id
        self.as_of = as_of
        # Sets computed once for a reading, by name (`facts.kept_sets`).
        self.kept: dict[str, sa.Table] = {}
        self.process_sessions = sa.select(Meeting.id).where(Meeting.process_id == process_id)
        self.held = (
            sa.select(
                Meeting.id.label("id"),
                Meeting.title.label("title"),
                Meeting.starts_at.label("starts_at"),
                sa.func.row_number().over(order_by=session_order()).label("k"),
            )
            .where(Meeting.process_id == process_id, Meeting.starts_at <= as_of)
            .cte("held")
        )
        self.att = (
            sa.select(
                Attendance.id.label("attendance_id"),
                Attendance.participant_id.label("pid"),
                Attendance.meeting_id.label("sid"),
                Attendance.checked_in_at.label("checked_in_at"),
                self.held.c.k.label("k"),
            )
            .join(self.held, self.held.c.id == Attendance.meeting_id)
            .where(is_checked_in(Attendance, as_of))
            .cte("att")
        )
        self.live = (
            sa.select(Registration.meeting_id.label("sid"),
                      Registration.participant_id.label("pid"),
                      Meeting.starts_at.label("starts_at"))
            .join(Meeting, Meeting.id == Registration.meeting_id)
            .where(Meeting.process_id == process_id,
                   is_live(Registration, Meeting.starts_at, as_of))
            .distinct()
            .cte("live")
        )
        self.pairs = (
            sa.select(Invitation.meeting_id.label("sid"), Invitation.participant_id.label("pid"))
            .join(Meeting, Meeting.id == Invitation.meeting_id)
            .where(Meeting.process_id == process_id, Invitation.participant_id.is_not(None),
                   is_invitation_pair(Invitation, Meeting.starts_at, as_of))
            .distinct()
            .cte("pairs")
        )
        self.association_pairs = (
            sa.select(Invitation.association_id.label("aid"),
                      Invitation.meeting_id.label("sid"))
            .join(Meeting, Meeting.id == Invitation.meeting_id)
            .where(Meeting.process_id == process_id, Invitation.association_id.is_not(None),
                   is_invitation_pair(Invitation, Meeting.starts_at, as_of))
            .distinct()
            .cte("association_pairs")
        )
        self.published = (
            sa.select(Proposal.id.label("id"), Proposal.author_id.label("author_id"))
            .where(Proposal.process_id == process_id, Proposal.published_at <= as_of)
            .cte("published")
        )

    def held_count(self) -> Any:
        return sa.select(sa.func.count()).select_from(self.held).scalar_subquery()

    def dropped_out(self) -> sa.Subquery:
        """Attendees who attended neither of the last two held sessions, with at least three
        held (`pid`, `last_k`: the rank of the last held session they attended)."""
        held_count = self.held_count()
        per_person = (
            sa.select(self.att.c.pid.label("pid"), sa.func.max(self.att.c.k).label("last_k"))
            .group_by(self.att.c.pid)
            .subquery()
        )
        return (
            sa.select(per_person.c.pid, per_person.c.last_k)
            .where(held_count >= 3, per_person.c.last_k <= held_count - 2)
            .subquery("dropped")
        )

    def active(self) -> sa.FromClause:
        """Active participants (`pid`): attendees, authors of published proposals, authors of
        comments written at or before T on them, and voters on them at or before T. Read from
        the temporary table of the reading when it keeps one (`kept["active"]`)."""
        table = self.kept.get("active")
        if table is not None:
            return table.alias("active")
        return self.active_query().subquery("active")

    def active_query(self) -> sa.CompoundSelect:
        """The active participants' ids, each once."""
        return sa.union(
            sa.select(self.att.c.pid.label("pid")),
            sa.select(self.published.c.author_id),
            sa.select(Comment.author_id)
            .join(self.published, self.published.c.id == Comment.proposal_id)
            .where(Comment.created_at <= self.as_of),
            sa.select(Vote.participant_id)
            .join(self.published, self.published.c.id == Vote.proposal_id)
            .where(Vote.cast_at <= self.as_of),
        )
