"""Proposals, comments, votes, official answers and implementation updates. No request context:
every function takes the acting person and `now`, raises domain errors and never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import User
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.services import N_, notify
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Process, SdgGoal
from pvplatform.processes.services import is_open
from pvplatform.proposals.models import (
    ANSWER_STATES,
    Answer,
    Comment,
    ImplementationUpdate,
    Proposal,
    ProposalState,
    Vote,
)
from pvplatform.sessions.models import Meeting

VOTABLE_STATES = (ProposalState.PUBLISHED, ProposalState.EVALUATING)
ANSWERABLE_STATES = (ProposalState.PUBLISHED, ProposalState.EVALUATING, ProposalState.ACCEPTED,
                     ProposalState.REJECTED)
# An answer that closes the question; "evaluating" keeps the proposal in the review queue.
FINAL_STATES = (ProposalState.ACCEPTED, ProposalState.REJECTED)

ANSWER_MESSAGES = {
    ProposalState.EVALUATING: N_("Your proposal “%(title)s” is being evaluated."),
    ProposalState.ACCEPTED: N_("Your proposal “%(title)s” was accepted."),
    ProposalState.REJECTED: N_("Your proposal “%(title)s” was rejected."),
}
UPDATE_MESSAGE = N_("Your proposal “%(title)s” has a new implementation update (%(progress)s%%).")
SUPPORTER_NAMES = 5


def proposal_path(proposal_id: int) -> str:
    # Built by hand because notifications are also written from the CLI, outside any request.
    return f"/proposals/{proposal_id}"


# ---------------------------------------------------------------- reading

def goal_choices(process: Process) -> list[SdgGoal]:
    """The goals a proposal of this process may carry: the process's own, or all 17 if it has
    none."""
    if process.goals:
        return list(process.goals)
    return list(db.session.scalars(sa.select(SdgGoal).order_by(SdgGoal.number)))


def process_meetings(process: Process) -> list[Meeting]:
    return list(db.session.scalars(
        sa.select(Meeting).where(Meeting.process_id == process.id)
        .order_by(Meeting.starts_at, Meeting.id)
    ))


def tally_subquery() -> sa.Subquery:
    """Per proposal: support (sum of values), number of + and of - votes."""
    return (
        sa.select(
            Vote.proposal_id.label("proposal_id"),
            sa.func.sum(Vote.value).label("support"),
            sa.func.sum(sa.case((Vote.value == 1, 1), else_=0)).label("plus"),
            sa.func.sum(sa.case((Vote.value == -1, 1), else_=0)).label("minus"),
        )
        .group_by(Vote.proposal_id)
        .subquery("tally")
    )


@dataclass(frozen=True)
class Tally:
    plus: int = 0
    minus: int = 0

    @property
    def support(self) -> int:
        return self.plus - self.minus


def tallies(proposal_ids: Iterable[int]) -> dict[int, Tally]:
    ids = sorted(set(proposal_ids))
    if not ids:
        return {}
    tally = tally_subquery()
    rows = db.session.execute(
        sa.select(tally.c.proposal_id, tally.c.plus, tally.c.minus)
        .where(tally.c.proposal_id.in_(ids))
    )
    result = {pid: Tally() for pid in ids}
    for pid, plus, minus in rows:
        result[pid] = Tally(int(plus or 0), int(minus or 0))
    return result


def list_statement(process: Process, *, include_hidden: bool, goal: int | None = None,
                   state: str | None = None, meeting_id: int | None = None,
                   sort: str = "newest") -> sa.Select:
    """Published (or later) proposals of a process, filtered and sorted in SQL."""
    stmt = (
        sa.select(Proposal)
        .where(Proposal.process_id == process.id, Proposal.state != ProposalState.DRAFT,
               Proposal.published_at.is_not(None))
        .options(selectinload(Proposal.goals),
                 selectinload(Proposal.author).selectinload(Participant.user),
                 selectinload(Proposal.association))
    )
    if not include_hidden:
        stmt = stmt.where(Proposal.hidden_at.is_(None))
    if goal:
        stmt = stmt.where(Proposal.goals.any(SdgGoal.number == goal))
    if state:
        stmt = stmt.where(Proposal.state == ProposalState(state))
    if meeting_id:
        stmt = stmt.where(Proposal.meeting_id == meeting_id)
    if sort == "support":
        tally = tally_subquery()
        stmt = stmt.outerjoin(tally, tally.c.proposal_id == Proposal.id).order_by(
            sa.func.coalesce(tally.c.support, 0).desc(), Proposal.published_at.desc(),
            Proposal.id.desc())
    else:
        stmt = stmt.order_by(Proposal.published_at.desc(), Proposal.id.desc())
    return stmt


def drafts_of(process: Process, participant_id: int) -> list[Proposal]:
    return list(db.session.scalars(
        sa.select(Proposal)
        .where(Proposal.process_id == process.id, Proposal.author_id == participant_id,
               Proposal.state == ProposalState.DRAFT)
        .order_by(Proposal.created_at.desc(), Proposal.id.desc())
    ))


def comments_of(proposal: Proposal) -> list[Comment]:
    return list(db.session.scalars(
        sa.select(Comment).where(Comment.proposal_id == proposal.id)
        .options(selectinload(Comment.author).selectinload(Participant.user))
        .order_by(Comment.created_at, Comment.id)
    ))


def vote_of(proposal: Proposal, participant_id: int | None) -> Vote | None:
    if participant_id is None:
        return None
    return db.session.scalar(
        sa.select(Vote).where(Vote.proposal_id == proposal.id,
                              Vote.participant_id == participant_id)
    )


def review_statement() -> sa.Select:
    """Proposals waiting for a final answer, oldest first."""
    return (
        sa.select(Proposal)
        .where(Proposal.state.in_(VOTABLE_STATES), Proposal.published_at.is_not(None))
        .options(selectinload(Proposal.process),
                 selectinload(Proposal.author).selectinload(Participant.user))
        .order_by(Proposal.published_at, Proposal.id)
    )


def supporters(proposal_ids: Iterable[int], limit: int = SUPPORTER_NAMES) -> dict[int, list[str]]:
    """The first supporters' names of each proposal (earliest votes first), in one query."""
    ids = sorted(set(proposal_ids))
    if not ids:
        return {}
    name = sa.func.coalesce(User.display_name, Participant.display_name, "")
    ranked = (
        sa.select(
            Vote.proposal_id.label("proposal_id"),
            name.label("name"),
            sa.func.row_number().over(partition_by=Vote.proposal_id,
                                      order_by=(Vote.cast_at, Vote.id)).label("rank"),
        )
        .join(Participant, Participant.id == Vote.participant_id)
        .outerjoin(User, User.id == Participant.user_id)
        .where(Vote.proposal_id.in_(ids), Vote.value == 1)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(ranked.c.proposal_id, ranked.c.name)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.proposal_id, ranked.c.rank)
    )
    result: dict[int, list[str]] = {pid: [] for pid in ids}
    for pid, person in rows:
        result[pid].append(person or "?")
    return result


# ---------------------------------------------------------------- checks

def _check_goals(process: Process, numbers: Sequence[int]) -> list[SdgGoal]:
    allowed = {g.number: g for g in goal_choices(process)}
    wanted = sorted(set(numbers))
    unknown = [n for n in wanted if n not in allowed]
    if unknown:
        raise ValidationFailed(
            _("Unknown SDG goal for this process: %(numbers)s.",
              numbers=", ".join(str(n) for n in unknown)), field="goals")
    return [allowed[n] for n in wanted]


def _check_meeting(process: Process, meeting_id: int | None) -> int | None:
    if not meeting_id:
        return None
    meeting = db.session.get(Meeting, meeting_id) if 0 < meeting_id < 2**31 else None
    if meeting is None or meeting.process_id != process.id:
        raise ValidationFailed(_("This session is not one of this process."), field="meeting_id")
    return meeting.id


def _check_text(value: str | None, maximum: int, field: str, required: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(required, field=field)
    if len(value) > maximum or "\x00" in value:
        raise ValidationFailed(_("This text is too long or contains characters that are not "
                                 "allowed."), field=field)
    return value


def _require_open(process: Process, what: str, *, now: datetime) -> None:
    if not is_open(process, what, today=now.date()):  # type: ignore[arg-type]
        messages = {
            "proposals": _("Proposals are not open in the current phase of this process."),
            "comments": _("Comments are not open in the current phase of this process."),
            "votes": _("Votes are not open in the current phase of this process."),
        }
        raise InvalidState(messages[what])


def require_proposals_open(process: Process, *, now: datetime) -> None:
    _require_open(process, "proposals", now=now)


def _association_for(user: User, on_behalf: bool) -> int | None:
    """Only an approved member of an approved association speaks for it (auth.membership)."""
    from pvplatform.auth.membership import is_member

    if not on_behalf:
        return None
    if user.association_id is None or not is_member(user, user.association):
        raise ValidationFailed(_("You are not a member of an association."), field="on_behalf")
    return user.association_id


# ---------------------------------------------------------------- proposals

def create_proposal(process: Process, author: Participant, user: User, *, title: str, body: str,
                    goal_numbers: Sequence[int] = (), meeting_id: int | None = None,
                    on_behalf: bool = False, publish: bool = False, now: datetime) -> Proposal:
    require_proposals_open(process, now=now)
    proposal = Proposal(
        process_id=process.id,
        author_id=author.id,
        title=_check_text(title, 200, "title", _("A title is required.")),
        body=_check_text(body, 10_000, "body", _("The text of the proposal is required.")),
        meeting_id=_check_meeting(process, meeting_id),
        association_id=_association_for(user, on_behalf),
        state=ProposalState.DRAFT,
        created_at=now,
    )
    proposal.goals = _check_goals(process, goal_numbers)
    db.session.add(proposal)
    if publish:
        _publish(proposal, now=now)
    db.session.flush()
    return proposal


def update_draft(proposal: Proposal, user: User, *, title: str, body: str,
                 goal_numbers: Sequence[int] = (), meeting_id: int | None = None,
                 on_behalf: bool = False, publish: bool = False, now: datetime) -> Proposal:
    if proposal.state != ProposalState.DRAFT:
        raise InvalidState(_("Only a draft can be edited."))
    process = proposal.process
    proposal.title = _check_text(title, 200, "title", _("A title is required."))
    proposal.body = _check_text(body, 10_000, "body", _("The text of the proposal is required."))
    proposal.meeting_id = _check_meeting(process, meeting_id)
    proposal.association_id = _association_for(user, on_behalf)
    proposal.goals = _check_goals(process, goal_numbers)
    if publish:
        publish_proposal(proposal, now=now)
    return proposal


def _publish(proposal: Proposal, *, now: datetime) -> None:
    proposal.state = ProposalState.PUBLISHED
    proposal.published_at = now


def publish_proposal(proposal: Proposal, *, now: datetime) -> Proposal:
    if proposal.state != ProposalState.DRAFT:
        raise InvalidState(_("Only a draft can be published."))
    require_proposals_open(proposal.process, now=now)
    _publish(proposal, now=now)
    return proposal


def withdraw_proposal(proposal: Proposal, *, now: datetime) -> Proposal:
    if proposal.state not in (ProposalState.DRAFT, ProposalState.PUBLISHED):
        raise InvalidState(_("Only a draft or a published proposal without an answer can be "
                             "withdrawn."))
    proposal.state = ProposalState.WITHDRAWN
    proposal.withdrawn_at = now
    return proposal


# ---------------------------------------------------------------- comments and votes

def _require_public(proposal: Proposal) -> None:
    if proposal.state in (ProposalState.DRAFT, ProposalState.WITHDRAWN) \
            or proposal.published_at is None or proposal.hidden_at is not None:
        raise InvalidState(_("This proposal is not open to contributions."))


def add_comment(proposal: Proposal, author: Participant, body: str, *, now: datetime) -> Comment:
    _require_public(proposal)
    _require_open(proposal.process, "comments", now=now)
    comment = Comment(proposal_id=proposal.id, author_id=author.id,
                      body=_check_text(body, 5_000, "body", _("The comment is empty.")),
                      created_at=now)
    db.session.add(comment)
    db.session.flush()
    return comment


def _require_votable(proposal: Proposal, *, now: datetime) -> None:
    if proposal.state not in VOTABLE_STATES or proposal.hidden_at is not None:
        raise InvalidState(_("Votes are only possible on published proposals awaiting a "
                             "decision."))
    _require_open(proposal.process, "votes", now=now)


def cast_vote(proposal: Proposal, voter: Participant, value: int, *, now: datetime) -> Vote:
    """One row per voter and proposal whatever the concurrency: the unique constraint decides.

    The INSERT runs in a savepoint; if a concurrent request (or an earlier vote) already holds
    the row, the constraint refuses it, the savepoint alone is rolled back and the value is
    replaced instead.
    """
    if value not in (1, -1):
        raise ValidationFailed(_("A vote is either +1 (support) or -1 (oppose)."), field="value")
    _require_votable(proposal, now=now)
    existing = vote_of(proposal, voter.id)
    if existing is not None:
        existing.value = value
        existing.cast_at = now
        return existing
    try:
        with db.session.begin_nested():
            vote = Vote(proposal_id=proposal.id, participant_id=voter.id, value=value,
                        cast_at=now)
            db.session.add(vote)
        return vote
    except IntegrityError:
        pass
    changed = db.session.execute(
        sa.update(Vote)
        .where(Vote.proposal_id == proposal.id, Vote.participant_id == voter.id)
        .values(value=value, cast_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        # The other request withdrew the vote between our two statements.
        raise InvalidState(_("Your vote could not be recorded. Please try again."))
    vote = db.session.scalars(
        sa.select(Vote)
        .where(Vote.proposal_id == proposal.id, Vote.participant_id == voter.id)
        .execution_options(populate_existing=True)
    ).one()
    return vote


def withdraw_vote(proposal: Proposal, voter: Participant, *, now: datetime) -> bool:
    _require_votable(proposal, now=now)
    result = db.session.execute(
        sa.delete(Vote).where(Vote.proposal_id == proposal.id, Vote.participant_id == voter.id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


# ---------------------------------------------------------------- answers and follow-up

def answer_proposal(proposal: Proposal, actor: User, *, state: ProposalState | str,
                    rationale: str | None, now: datetime) -> Answer:
    try:
        state = ProposalState(state)
    except ValueError:
        raise ValidationFailed(_("Unknown answer."), field="state") from None
    if state not in ANSWER_STATES:
        raise ValidationFailed(_("Unknown answer."), field="state")
    if proposal.state not in ANSWERABLE_STATES or proposal.published_at is None:
        raise InvalidState(_("Only a published proposal can be answered."))
    rationale = (rationale or "").strip()
    if state in FINAL_STATES and not rationale:
        raise ValidationFailed(_("Give the reasons for accepting or rejecting."),
                               field="rationale")
    if len(rationale) > 10_000 or "\x00" in rationale:
        raise ValidationFailed(_("The reasons are too long or contain characters that are not "
                                 "allowed."), field="rationale")
    previous = proposal.state
    answer = Answer(proposal_id=proposal.id, state=state, rationale=rationale,
                    answered_by_id=actor.id, answered_at=now)
    db.session.add(answer)
    proposal.state = state
    if proposal.answered_at is None:
        proposal.answered_at = now
    proposal.answer_rationale = rationale
    db.session.flush()
    record_audit(actor, "proposal.answer", "proposal", proposal.id, process_id=proposal.process_id,
                 details={"answer_id": answer.id, "state": state.value,
                          "previous_state": previous.value})
    notify(_author_user_id(proposal), "proposal.answer", ANSWER_MESSAGES[state],
           params={"title": proposal.title}, link=proposal_path(proposal.id))
    return answer


def add_implementation_update(proposal: Proposal, actor: User, *, progress: Any, body: str,
                              now: datetime) -> ImplementationUpdate:
    if proposal.state != ProposalState.ACCEPTED:
        raise InvalidState(_("Implementation updates are only for accepted proposals."))
    if isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100:
        raise ValidationFailed(_("Progress is a whole number from 0 to 100."), field="progress")
    update = ImplementationUpdate(
        proposal_id=proposal.id, progress=progress, author_id=actor.id, created_at=now,
        body=_check_text(body, 10_000, "body", _("Say what happened.")),
    )
    db.session.add(update)
    db.session.flush()
    record_audit(actor, "proposal.implementation_update", "proposal", proposal.id,
                 process_id=proposal.process_id,
                 details={"update_id": update.id, "progress": progress})
    notify(_author_user_id(proposal), "proposal.update", UPDATE_MESSAGE,
           params={"title": proposal.title, "progress": progress},
           link=proposal_path(proposal.id))
    return update


def _author_user_id(proposal: Proposal) -> int | None:
    author = db.session.get(Participant, proposal.author_id)
    return author.user_id if author is not None else None

