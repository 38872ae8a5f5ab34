"""The pseudonymised microdata of one process: the `pv-process` data package of DATA.md.

What an evaluator needs to recompute every indicator, and nothing that names a person:
- participants are keyed pseudonyms, HMAC-SHA256 of their database id under a random key made
  for this export and never written anywhere (two exports cannot be linked, nobody can reverse
  one); every column pointing at a participant, and comment ids (a comment is public on the
  site, with its author's name), get the same treatment;
- no names, e-mails or free-text answers: no comment bodies, proposal bodies, pulse
  suggestions or absence texts. Proposal titles and answer rationales are public texts (a
  proposal hidden by moderation keeps its place but not its title); sessions, associations,
  proposals and the process keep their package ids (the database id when they have none), as
  in the indicator records.

With `as_of`, only what was recorded at or before that instant: later rows are left out, later
timestamps (a cancellation, an answer) emptied with what they carried (the rationale), and a
proposal answered later is "published", as it was then. Importing the package then gives the
engine's indicators and flags at `as_of`. Each attendee's categories are those the engine reads
at that instant (the snapshot of their latest attendance); other people's are their consented
answers.

Rows are read with SQL in batches and written as they arrive: no table is held in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from pvplatform.auth.models import Association
from pvplatform.core.csv_safe import csv_writer, write_csv_rows
from pvplatform.db import utcnow
from pvplatform.errors import NotFound
from pvplatform.extensions import db
from pvplatform.feedback.models import Perception, PublicValue
from pvplatform.indicators.engine import check_instant
from pvplatform.indicators.sets import ProcessSets
from pvplatform.participation.import_schema import TABLES, descriptor
from pvplatform.participation.models import (
    AttendanceSnapshot,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.processes.models import Process
from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote
from pvplatform.sessions.models import (
    Attendance,
    Invitation,
    Meeting,
    Registration,
    SpeakingTurn,
)

PACKAGE_NAME = "pv-process"
DESCRIPTOR = "datapackage.json"
BATCH = 2000
HIDDEN_TITLE = "[hidden by moderation]"

class ExportProgress(Protocol):
    def start(self, phase: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


def _reference(model: Any) -> Any:
    """The id a package (and the indicator records) know a row by."""
    return sa.func.coalesce(model.external_ref, sa.cast(model.id, sa.String))


class _Pseudonyms:
    """Keyed pseudonyms: the same person gets the same one within an export, and nothing
    outside it can recompute or reverse it (the key lives only in this object)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def __call__(self, prefix: str, value: int | None) -> str | None:
        if value is None:
            return None
        digest = hmac.new(self._key, f"{prefix}:{value}".encode(), hashlib.sha256).hexdigest()
        return prefix + digest[:24]


class _Writer:
    def __init__(self, process_id: int, out_dir: Path, as_of: datetime | None,
                 progress: ExportProgress | None) -> None:
        self.process_id = process_id
        self.out_dir = out_dir
        self.as_of = as_of
        self.progress = progress
        self.pseudonym = _Pseudonyms()
        self.counts: dict[str, int] = {}

    # -- time

    def upto(self, column: Any) -> Any:
        """Recorded at or before the instant (always true without one)."""
        return column <= self.as_of if self.as_of is not None else sa.true()

    def then(self, value: datetime | None) -> datetime | None:
        """A timestamp as it was known at the instant: a later one is not yet there."""
        if value is None or self.as_of is None or value <= self.as_of:
            return value
        return None

    # -- writing

    def write(self, name: str, statement: sa.Select,
              row: Callable[[Any], Iterable[Any]]) -> None:
        spec = next(t for t in TABLES if t.name == name)
        if self.progress is not None:
            total = db.session.scalar(
                sa.select(sa.func.count()).select_from(statement.order_by(None).subquery()))
            self.progress.start(name, int(total or 0))
        count = 0
        path = self.out_dir / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv_writer(out)
            write_csv_rows(writer, [spec.column_names])
            result = db.session.execute(statement.execution_options(yield_per=BATCH))
            for batch in result.partitions():
                written = write_csv_rows(writer, ([_cell(v) for v in row(r)] for r in batch))
                count += written
                if self.progress is not None:
                    self.progress.advance(written)
        self.counts[name] = count

    # -- the rows of the process, as of the instant

    def invitations(self) -> sa.Select:
        return (sa.select(Invitation.meeting_id, Invitation.participant_id,
                          Invitation.association_id, Invitation.invited_at, Invitation.id)
                .join(Meeting, Meeting.id == Invitation.meeting_id)
                .where(Meeting.process_id == self.process_id, self.upto(Invitation.invited_at)))

    def registrations(self) -> sa.Select:
        return (sa.select(Registration.meeting_id, Registration.participant_id,
                          Registration.registered_at, Registration.cancelled_at, Registration.id)
                .join(Meeting, Meeting.id == Registration.meeting_id)
                .where(Meeting.process_id == self.process_id,
                       self.upto(Registration.registered_at)))

    def attendances(self) -> sa.Select:
        return (sa.select(Attendance.meeting_id, Attendance.participant_id, Attendance.mode,
                          Attendance.checked_in_at, Attendance.id)
                .join(Meeting, Meeting.id == Attendance.meeting_id)
                .where(Meeting.process_id == self.process_id,
                       self.upto(Attendance.checked_in_at)))

    def proposal_ids(self) -> sa.Select:
        """Published proposals: drafts are private to their authors, and the engine reads
        only what was published at the instant."""
        return sa.select(Proposal.id).where(
            Proposal.process_id == self.process_id, Proposal.published_at.is_not(None),
            self.upto(Proposal.published_at))

    def proposals(self) -> sa.Select:
        return (sa.select(Proposal.id, Proposal.meeting_id, Proposal.author_id, Proposal.title,
                          Proposal.published_at, Proposal.state, Proposal.answered_at,
                          Proposal.answer_rationale, Proposal.hidden_at, Proposal.external_ref)
                .where(Proposal.id.in_(self.proposal_ids())))

    def comments(self) -> sa.Select:
        return (sa.select(Comment.id, Comment.proposal_id, Comment.author_id,
                          Comment.created_at)
                .where(Comment.proposal_id.in_(self.proposal_ids()),
                       self.upto(Comment.created_at)))

    def votes(self) -> sa.Select:
        return (sa.select(Vote.proposal_id, Vote.participant_id, Vote.value, Vote.cast_at,
                          Vote.id)
                .where(Vote.proposal_id.in_(self.proposal_ids()), self.upto(Vote.cast_at)))

    def perceptions(self) -> sa.Select:
        return (sa.select(Perception.participant_id, PublicValue.code, Perception.wave,
                          Perception.meeting_id, Perception.score, Perception.answered_at,
                          Perception.id)
                .join(PublicValue, PublicValue.id == Perception.public_value_id)
                .where(PublicValue.process_id == self.process_id,
                       self.upto(Perception.answered_at)))

    def speaking_turns(self) -> sa.Select:
        # A turn counts once it has ended; one still running (or ending later) is not there.
        return (sa.select(SpeakingTurn.meeting_id, SpeakingTurn.participant_id,
                          SpeakingTurn.started_at, SpeakingTurn.ended_at, SpeakingTurn.id)
                .join(Meeting, Meeting.id == SpeakingTurn.meeting_id)
                .where(Meeting.process_id == self.process_id,
                       SpeakingTurn.ended_at.is_not(None), self.upto(SpeakingTurn.ended_at)))

    def people(self) -> sa.CompoundSelect:
        """Every participant a written row points at."""
        def pids(statement: sa.Select, column: Any) -> sa.Select:
            return statement.with_only_columns(column).where(column.is_not(None))

        return sa.union(
            pids(self.invitations(), Invitation.participant_id),
            pids(self.registrations(), Registration.participant_id),
            pids(self.attendances(), Attendance.participant_id),
            pids(self.proposals(), Proposal.author_id),
            pids(self.comments(), Comment.author_id),
            pids(self.votes(), Vote.participant_id),
            pids(self.perceptions(), Perception.participant_id),
            pids(self.speaking_turns(), SpeakingTurn.participant_id),
        )

    # -- the package

    def run(self) -> None:
        pid = self.process_id
        p = self.pseudonym
        process_ref = db.session.scalar(
            sa.select(_reference(Process)).where(Process.id == pid))
        if process_ref is None:
            raise NotFound()
        people = self.people().subquery("people")

        self.write("processes", sa.select(
            _reference(Process), Process.title, Process.municipality, Process.population,
            Process.starts_on, Process.ends_on).where(Process.id == pid),
            lambda r: (r[0], r[1], r[2] or None, r[3], r[4], r[5]))
        self.write("public_values", sa.select(
            PublicValue.code, PublicValue.name, PublicValue.description)
            .where(PublicValue.process_id == pid).order_by(PublicValue.code),
            lambda r: (r[0], r[1], r[2] or None))
        self.write("strata", sa.select(
            Stratum.dimension, Stratum.category, Stratum.population_share)
            .where(Stratum.process_id == pid).order_by(Stratum.id),
            lambda r: (process_ref, r[0], r[1], r[2]))

        members = (sa.select(Participant.association_id)
                   .where(Participant.id.in_(sa.select(people.c[0])),
                          Participant.association_id.is_not(None)))
        invited = self.invitations().with_only_columns(Invitation.association_id).where(
            Invitation.association_id.is_not(None))
        self.write("associations", sa.select(_reference(Association), Association.name)
                   .where(Association.id.in_(sa.union(members, invited)))
                   .order_by(Association.id),
                   lambda r: (r[0], r[1]))

        association = aliased(Association)
        self.write("participants", sa.select(
            Participant.id, Participant.kind, _reference(association), Participant.created_at)
            .outerjoin(association, association.id == Participant.association_id)
            .where(Participant.id.in_(sa.select(people.c[0])))
            .order_by(Participant.id),
            lambda r: (p("p", r[0]), str(r[1]), r[2], self.then(r[3])))
        self.write("participant_attributes", self.attributes(people),
                   lambda r: (p("p", r[0]), r[1], r[2]))

        session_ref = _reference(Meeting)
        self.write("sessions", sa.select(
            session_ref, Meeting.title, Meeting.format, Meeting.starts_at, Meeting.ends_at,
            Meeting.capacity).where(Meeting.process_id == pid)
            .order_by(Meeting.starts_at, Meeting.id),
            lambda r: (r[0], process_ref, r[1], str(r[2]), r[3], r[4], r[5]))

        def with_session(statement: sa.Select, meeting_id: Any) -> sa.Select:
            meeting = aliased(Meeting)
            return statement.add_columns(_reference(meeting)).outerjoin(
                meeting, meeting.id == meeting_id)

        assoc = aliased(Association)
        self.write("invitations",
                   with_session(self.invitations(), Invitation.meeting_id)
                   .add_columns(_reference(assoc))
                   .outerjoin(assoc, assoc.id == Invitation.association_id)
                   .order_by(Invitation.id),
                   lambda r: (r[5], p("p", r[1]), r[6] if r[2] is not None else None, r[3]))
        self.write("registrations",
                   with_session(self.registrations(), Registration.meeting_id)
                   .order_by(Registration.id),
                   lambda r: (r[5], p("p", r[1]), r[2], self.then(r[3])))
        self.write("attendances",
                   with_session(self.attendances(), Attendance.meeting_id)
                   .order_by(Attendance.id),
                   lambda r: (r[5], p("p", r[1]), str(r[2]), r[3]))
        self.write("proposals",
                   with_session(self.proposals(), Proposal.meeting_id).order_by(Proposal.id),
                   self.proposal_row(process_ref))
        proposal = aliased(Proposal)
        self.write("comments",
                   self.comments().add_columns(_reference(proposal))
                   .join(proposal, proposal.id == Comment.proposal_id).order_by(Comment.id),
                   lambda r: (p("c", r[0]), r[4], p("p", r[2]), r[3]))
        self.write("votes",
                   self.votes().add_columns(_reference(proposal))
                   .join(proposal, proposal.id == Vote.proposal_id).order_by(Vote.id),
                   lambda r: (r[5], p("p", r[1]), int(r[2]), r[3]))
        self.write("perceptions",
                   with_session(self.perceptions(), Perception.meeting_id)
                   .order_by(Perception.id),
                   lambda r: (p("p", r[0]), process_ref, r[1], str(r[2]), r[7], r[4], r[5]))
        self.write("speaking_turns",
                   with_session(self.speaking_turns(), SpeakingTurn.meeting_id)
                   .order_by(SpeakingTurn.id),
                   lambda r: (r[5], p("p", r[1]), r[2], r[3]))

    def proposal_row(self, process_ref: str) -> Callable[[Any], tuple[Any, ...]]:
        def row(r: Any) -> tuple[Any, ...]:
            (proposal_id, _meeting, author, title, published_at, state, answered_at,
             rationale, hidden_at, external_ref, session) = r
            answered = self.then(answered_at)
            state = str(state)
            if answered is None and answered_at is not None and (
                    state != ProposalState.WITHDRAWN):
                # Answered after the instant: then it was published, waiting for its answer.
                # (Withdrawn stays: the state has no date, and the engine leaves a withdrawn
                # proposal out at every instant.)
                state = ProposalState.PUBLISHED.value
                rationale = None
            return (external_ref or str(proposal_id), process_ref, session, self.pseudonym(
                "p", author), HIDDEN_TITLE if hidden_at is not None else title, published_at,
                state, answered, rationale)

        return row

    def attributes(self, people: sa.Subquery) -> sa.Select:
        """Attendees (as of the instant): the categories of their latest attendance snapshot,
        which the engine reads; everyone else: their consented answers."""
        scope = ProcessSets(self.process_id, self.as_of or utcnow())
        ranked = sa.select(
            scope.att.c.attendance_id, scope.att.c.pid,
            sa.func.row_number().over(
                partition_by=scope.att.c.pid,
                order_by=(scope.att.c.checked_in_at.desc(), scope.att.c.attendance_id.desc()),
            ).label("rn"),
        ).subquery()
        snapshots = (
            sa.select(ranked.c.pid.label("pid"), AttendanceSnapshot.dimension.label("dimension"),
                      AttendanceSnapshot.category.label("category"))
            .join(AttendanceSnapshot, AttendanceSnapshot.attendance_id == ranked.c.attendance_id)
            .where(ranked.c.rn == 1)
        )
        consented = (
            sa.select(ParticipantAttribute.participant_id, ParticipantAttribute.dimension,
                      ParticipantAttribute.category)
            .where(ParticipantAttribute.participant_id.in_(sa.select(people.c[0])),
                   ParticipantAttribute.participant_id.not_in(sa.select(scope.att.c.pid)))
        )
        both = sa.union_all(snapshots, consented).subquery()
        return sa.select(both.c.pid, both.c.dimension, both.c.category).order_by(
            both.c.pid, both.c.dimension)


def _cell(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too: ISO 8601, with the offset
        return value.isoformat()
    return value


def write_microdata_package(process_id: int, out_dir: Path, *, as_of: datetime | None = None,
                            progress: ExportProgress | None = None) -> Path:
    """Writes the pseudonymised `pv-process` package of one process into `out_dir` (created if
    needed); returns the path of its datapackage.json. Raises NotFound."""
    if as_of is not None:
        as_of = check_instant(as_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(process_id, out_dir, as_of, progress)
    writer.run()
    path = out_dir / DESCRIPTOR
    path.write_text(json.dumps(descriptor(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path
