"""Proposals pages: list, detail, create / edit / publish / withdraw, comments, votes, the review
queue, official answers and implementation updates."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from pvplatform.auth import permissions
from pvplatform.core.form_views import form_page, save_form, show_domain_error, submit_form
from pvplatform.core.lookup import get_or_404
from pvplatform.core.pagination import page_arg
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.participation.services import find_participant, participant_for
from pvplatform.processes.models import Process
from pvplatform.processes.services import is_open
from pvplatform.proposals import services
from pvplatform.proposals.forms import (
    NO_ID,
    STATE_LABELS,
    AnswerForm,
    CommentForm,
    ProposalFilterForm,
    ProposalForm,
    UpdateForm,
    VoteForm,
    choice,
)
from pvplatform.proposals.models import (
    ANSWER_STATES,
    Answer,
    ImplementationUpdate,
    Proposal,
    ProposalState,
)

bp = Blueprint("proposals", __name__)

PER_PAGE = 20


@bp.app_template_filter("proposal_state")
def proposal_state_label(state: Any) -> str:
    try:
        return str(STATE_LABELS[ProposalState(state)])
    except ValueError:
        return str(state)


# ---------------------------------------------------------------- helpers

def _my_participant_id() -> int | None:
    if not current_user.is_authenticated:
        return None
    participant = find_participant(current_user)
    return participant.id if participant is not None else None


def _load_visible(proposal_id: int) -> Proposal:
    """A proposal the current user may see: drafts only by their author, hidden ones by staff."""
    proposal = get_or_404(Proposal, proposal_id)
    if proposal.state == ProposalState.DRAFT or proposal.published_at is None:
        my_id = _my_participant_id()
        if my_id is None or proposal.author_id != my_id:
            raise NotFound()
    elif proposal.hidden_at is not None and not permissions.can_see_hidden(current_user,
                                                                           proposal):
        raise NotFound()
    return proposal


def _goal_label(goal: Any) -> str:
    return f"{goal.number}. {goal.title(str(get_locale()))}"


def _setup_proposal_form(form: ProposalForm, process: Process) -> None:
    form.goals.choices = [choice(g.number, _goal_label(g))
                          for g in services.goal_choices(process)]
    form.meeting_id.choices = [choice(NO_ID, _("Not from a session"))] + [
        choice(m.id, m.title) for m in services.process_meetings(process)
    ]
    association = current_user.association
    if association is None or not permissions.can_speak_for_association(current_user):
        del form.on_behalf
    else:
        form.on_behalf.label.text = _("On behalf of my association, %(name)s",
                                      name=association.name)


def _proposal_fields(form: ProposalForm) -> dict[str, Any]:
    return {
        "title": form.title.data,
        "body": form.body.data,
        "goal_numbers": form.goals.data or [],
        "meeting_id": form.meeting_id.data or None,
        "on_behalf": bool(form.on_behalf.data) if "on_behalf" in form else False,
        "publish": bool(form.publish.data),
    }


def _done_message(proposal: Proposal) -> str:
    if proposal.state == ProposalState.PUBLISHED:
        return _("Your proposal is published.")
    return _("Your draft is saved. Only you can see it until you publish it.")


# ---------------------------------------------------------------- list and detail

@bp.get("/processes/<int:process_id>/proposals")
def index(process_id: int):
    process = get_or_404(Process, process_id)
    staff = permissions.can_see_hidden(current_user)
    form = ProposalFilterForm(formdata=request.args)
    form.goal.choices = [choice(NO_ID, _("All goals"))] + [
        choice(g.number, _goal_label(g)) for g in services.goal_choices(process)
    ]
    form.session.choices = [choice(NO_ID, _("All sessions"))] + [
        choice(m.id, m.title) for m in services.process_meetings(process)
    ]
    status = 200
    if form.validate():
        stmt = services.list_statement(
            process, include_hidden=staff, goal=form.goal.data or None,
            state=form.state.data or None, meeting_id=form.session.data or None,
            sort=form.sort.data,
        )
    else:
        status = 422
        stmt = services.list_statement(process, include_hidden=staff).where(sa.false())
    page = db.paginate(stmt, page=page_arg(), per_page=PER_PAGE, error_out=False)
    tallies = services.tallies(p.id for p in page.items)
    my_id = _my_participant_id()
    drafts = services.drafts_of(process, my_id) if my_id is not None else []
    filters = {k: v for k, v in request.args.items() if k in ("goal", "state", "session", "sort")}
    now = utcnow()
    return render_template(
        "proposals/index.html", process=process, form=form, page=page, tallies=tallies,
        drafts=drafts, filters=filters,
        proposals_open=is_open(process, "proposals", today=now.date()),
    ), status


def _render_detail(proposal: Proposal, *, comment_form: CommentForm | None = None,
                   update_form: UpdateForm | None = None, status: int = 200):
    now = utcnow()
    my_id = _my_participant_id()
    process = proposal.process
    answers = list(db.session.scalars(
        sa.select(Answer).where(Answer.proposal_id == proposal.id)
        .options(selectinload(Answer.answered_by))
        .order_by(Answer.answered_at, Answer.id)
    ))
    updates = list(db.session.scalars(
        sa.select(ImplementationUpdate).where(ImplementationUpdate.proposal_id == proposal.id)
        .options(selectinload(ImplementationUpdate.author))
        .order_by(ImplementationUpdate.created_at, ImplementationUpdate.id)
    ))
    public = proposal.state not in (ProposalState.DRAFT, ProposalState.WITHDRAWN) \
        and proposal.hidden_at is None
    votes_open = is_open(process, "votes", today=now.date())
    comments_open = is_open(process, "comments", today=now.date())
    return render_template(
        "proposals/detail.html",
        proposal=proposal,
        process=process,
        tally=services.tallies([proposal.id])[proposal.id],
        my_vote=services.vote_of(proposal, my_id),
        my_participant_id=my_id,
        comments=services.comments_of(proposal),
        answers=answers,
        updates=updates,
        votes_open=votes_open,
        comments_open=comments_open,
        may_vote=(permissions.can_vote(current_user, proposal) and votes_open
                  and proposal.state in services.VOTABLE_STATES and proposal.hidden_at is None),
        may_comment=permissions.can_comment(current_user, proposal) and comments_open and public,
        may_update=(permissions.can_post_update(current_user, proposal)
                    and proposal.state == ProposalState.ACCEPTED),
        may_answer=(permissions.can_answer(current_user, proposal)
                    and proposal.state in services.ANSWERABLE_STATES),
        may_edit=permissions.can_edit_proposal(current_user, proposal, my_id),
        may_withdraw=permissions.can_withdraw_proposal(current_user, proposal, my_id),
        comment_form=comment_form or CommentForm(formdata=None),
        update_form=update_form or UpdateForm(formdata=None),
    ), status


@bp.get("/proposals/<int:proposal_id>")
def detail(proposal_id: int):
    return _render_detail(_load_visible(proposal_id))


# ---------------------------------------------------------------- authoring

@bp.route("/processes/<int:process_id>/proposals/new", methods=["GET", "POST"])
@login_required
def create(process_id: int):
    process = get_or_404(Process, process_id)
    if not permissions.can_propose(current_user, process):
        abort(403)
    services.require_proposals_open(process, now=utcnow())
    form = ProposalForm()
    _setup_proposal_form(form, process)
    outcome = submit_form(form, lambda: services.create_proposal(
        process, participant_for(current_user), current_user, now=utcnow(),
        **_proposal_fields(form),
    ))
    if outcome.accepted:
        proposal = outcome.result
        db.session.commit()
        flash(_done_message(proposal), "success")
        return redirect(url_for(".detail", proposal_id=proposal.id))
    return form_page("proposals/form.html", form, process=process, proposal=None)


def _load_own_draft(proposal_id: int) -> Proposal:
    proposal = _load_visible(proposal_id)
    my_id = _my_participant_id()
    if my_id is None or proposal.author_id != my_id:
        abort(403)
    if proposal.state != ProposalState.DRAFT:
        raise InvalidState(_("Only a draft can be changed."))
    return proposal


@bp.route("/proposals/<int:proposal_id>/edit", methods=["GET", "POST"])
@login_required
def edit(proposal_id: int):
    if not permissions.can_participate(current_user):
        abort(403)
    proposal = _load_own_draft(proposal_id)
    if request.method == "GET":
        form = ProposalForm(obj=proposal)
        form.goals.data = [g.number for g in proposal.goals]
        form.meeting_id.data = proposal.meeting_id or NO_ID
        form.on_behalf.data = proposal.association_id is not None
    else:
        form = ProposalForm()
    _setup_proposal_form(form, proposal.process)
    if submit_form(form, lambda: services.update_draft(
            proposal, current_user, now=utcnow(), **_proposal_fields(form))).accepted:
        db.session.commit()
        # After the commit: publishing may be part of the change.
        flash(_done_message(proposal), "success")
        return redirect(url_for(".detail", proposal_id=proposal.id))
    return form_page("proposals/form.html", form, process=proposal.process, proposal=proposal)


@bp.post("/proposals/<int:proposal_id>/publish")
@login_required
def publish(proposal_id: int):
    if not permissions.can_participate(current_user):
        abort(403)
    proposal = _load_own_draft(proposal_id)
    services.publish_proposal(proposal, now=utcnow())
    db.session.commit()
    flash(_("Your proposal is published."), "success")
    return redirect(url_for(".detail", proposal_id=proposal.id))


@bp.post("/proposals/<int:proposal_id>/withdraw")
@login_required
def withdraw(proposal_id: int):
    if not permissions.can_participate(current_user):
        abort(403)
    proposal = _load_visible(proposal_id)
    my_id = _my_participant_id()
    if my_id is None or proposal.author_id != my_id:
        abort(403)
    services.withdraw_proposal(proposal, now=utcnow())
    db.session.commit()
    flash(_("Your proposal is withdrawn."), "success")
    return redirect(url_for(".detail", proposal_id=proposal.id))


# ---------------------------------------------------------------- comments and votes

@bp.post("/proposals/<int:proposal_id>/comments")
@login_required
def comment(proposal_id: int):
    proposal = _load_visible(proposal_id)
    if not permissions.can_comment(current_user, proposal):
        abort(403)
    form = CommentForm()
    if not form.validate():
        return _render_detail(proposal, comment_form=form, status=422)
    try:
        row = services.add_comment(proposal, participant_for(current_user), form.body.data,
                                   now=utcnow())
    except ValidationFailed as err:
        show_domain_error(form, err)
        return _render_detail(proposal, comment_form=form, status=422)
    db.session.commit()
    flash(_("Your comment is published."), "success")
    return redirect(url_for(".detail", proposal_id=proposal.id, _anchor=f"comment-{row.id}"))


@bp.post("/proposals/<int:proposal_id>/vote")
@login_required
def vote(proposal_id: int):
    proposal = _load_visible(proposal_id)
    if not permissions.can_vote(current_user, proposal):
        abort(403)
    form = VoteForm()
    if not form.validate():
        raise ValidationFailed(_("A vote is either +1 (support) or -1 (oppose)."))
    row = services.cast_vote(proposal, participant_for(current_user), form.value.data,
                             now=utcnow())
    message = _("Your vote is recorded: you support this proposal.") if row.value == 1 else \
        _("Your vote is recorded: you oppose this proposal.")
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".detail", proposal_id=proposal.id, _anchor="support"))


@bp.post("/proposals/<int:proposal_id>/vote/withdraw")
@login_required
def withdraw_vote(proposal_id: int):
    proposal = _load_visible(proposal_id)
    if not permissions.can_vote(current_user, proposal):
        abort(403)
    removed = services.withdraw_vote(proposal, participant_for(current_user), now=utcnow())
    db.session.commit()
    flash(_("Your vote is withdrawn.") if removed else _("You had not voted on this proposal."),
          "success" if removed else "info")
    return redirect(url_for(".detail", proposal_id=proposal.id, _anchor="support"))


# ---------------------------------------------------------------- review, answers, follow-up

@bp.get("/review")
@login_required
def review_queue():
    if not permissions.can_answer(current_user):
        abort(403)
    stmt = services.review_statement()
    if not permissions.can_see_hidden(current_user):
        stmt = stmt.where(Proposal.hidden_at.is_(None))
    page = db.paginate(stmt, page=page_arg(), per_page=PER_PAGE, error_out=False)
    ids = [p.id for p in page.items]
    return render_template("proposals/review_queue.html", page=page,
                           tallies=services.tallies(ids), supporters=services.supporters(ids),
                           supporter_limit=services.SUPPORTER_NAMES)


@bp.route("/proposals/<int:proposal_id>/answer", methods=["GET", "POST"])
@login_required
def answer(proposal_id: int):
    if not permissions.can_answer(current_user):
        abort(403)
    proposal = _load_visible(proposal_id)
    if not permissions.can_answer(current_user, proposal):
        abort(403)
    if proposal.state not in services.ANSWERABLE_STATES:
        raise InvalidState(_("Only a published proposal can be answered."))
    default = proposal.state if proposal.state in ANSWER_STATES else ProposalState.EVALUATING
    form = AnswerForm(state=default.value)
    saved = save_form(
        form, lambda: services.answer_proposal(proposal, current_user, state=form.state.data,
                                               rationale=form.rationale.data, now=utcnow()),
        done=_("The answer is published and the author is notified."),
        back=url_for(".detail", proposal_id=proposal.id, _anchor="answers"))
    if saved is not None:
        return saved
    tally = services.tallies([proposal.id])[proposal.id]
    return form_page("proposals/answer.html", form, proposal=proposal, tally=tally)


@bp.post("/proposals/<int:proposal_id>/updates")
@login_required
def add_update(proposal_id: int):
    if not permissions.can_post_update(current_user):
        abort(403)
    proposal = _load_visible(proposal_id)
    if not permissions.can_post_update(current_user, proposal):
        abort(403)
    if proposal.state != ProposalState.ACCEPTED:
        raise InvalidState(_("Implementation updates are only for accepted proposals."))
    form = UpdateForm()
    if not form.validate():
        return _render_detail(proposal, update_form=form, status=422)
    try:
        services.add_implementation_update(proposal, current_user, progress=form.progress.data,
                                           body=form.body.data, now=utcnow())
    except ValidationFailed as err:
        show_domain_error(form, err)
        return _render_detail(proposal, update_form=form, status=422)
    db.session.commit()
    flash(_("The implementation update is published and the author is notified."), "success")
    return redirect(url_for(".detail", proposal_id=proposal.id, _anchor="implementation"))
