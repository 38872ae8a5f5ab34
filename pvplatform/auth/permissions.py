"""Every permission as a pure predicate over (user, object). Views answer 403 when one is false;
templates use the same predicates to hide what a person may not do. Anything not granted here is
denied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pvplatform.auth.models import Role

if TYPE_CHECKING:
    from pvplatform.proposals.models import Comment, Proposal

PARTICIPATING_ROLES = (Role.CITIZEN, Role.ASSOCIATION, Role.STAFF, Role.ELECTED)
MANAGING_ROLES = (Role.STAFF, Role.ADMIN)
ANSWERING_ROLES = (Role.ELECTED, Role.STAFF, Role.ADMIN)
# Evaluators only read: they take no part and write no participation or content data (reports,
# proposals, comments, votes, registrations, attendance, feedback, demographics, absence answers).
# No predicate granting such a write lets them through; their own account (profile, password,
# e-mail, language, notifications, data download, deletion) is all they change.
# Acting as oneself beyond taking part (reporting content, answering one's own absence question):
# the participants, and administrators (who may hold a participant row, and moderate anyway).
ACTING_ROLES = (*PARTICIPATING_ROLES, Role.ADMIN)


def _role(user: Any) -> Role | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "is_active", False):
        return None
    return user.role


def is_authenticated(user: Any) -> bool:
    return _role(user) is not None


def is_admin(user: Any) -> bool:
    return _role(user) == Role.ADMIN


def is_staff(user: Any) -> bool:
    return _role(user) in MANAGING_ROLES


def can_manage_users(user: Any) -> bool:
    return is_admin(user)


def can_create_process(user: Any) -> bool:
    return is_admin(user)


def can_manage_process(user: Any, process: Any = None) -> bool:  # noqa: ARG001
    return is_staff(user)


def can_manage_associations(user: Any) -> bool:
    """Approve or refuse associations and membership requests, revoke members, name contacts."""
    return is_staff(user)


def is_association_contact(user: Any, association: Any = None) -> bool:
    """The member an association designates as its contact (of an approved association; of
    `association` when given)."""
    own = getattr(user, "association", None)
    return (
        can_participate(user)
        and bool(getattr(user, "association_contact", False))
        and own is not None and own.is_approved
        and (association is None or own.id == getattr(association, "id", None))
    )


def can_decide_membership(user: Any, association: Any) -> bool:
    """Decide a request to join `association`: staff, or that association's contact."""
    return is_staff(user) or is_association_contact(user, association)


def can_speak_for_association(user: Any) -> bool:
    """Propose on behalf of an association: an approved member of an approved association."""
    own = getattr(user, "association", None)
    return can_participate(user) and own is not None and own.is_approved


def can_manage_sessions(user: Any, process: Any = None) -> bool:  # noqa: ARG001
    return is_staff(user)


def can_check_in(user: Any, meeting: Any = None) -> bool:  # noqa: ARG001
    return is_staff(user)


def can_use_walk_in_link(user: Any) -> bool:
    """Give a walk-in's demographics through the one-time link staff showed them: whoever holds
    the link, signed in or not (it names the attendance), but never an evaluator."""
    return _role(user) != Role.EVALUATOR


def can_participate(user: Any) -> bool:
    """Take part as a person: register, join, propose, comment, vote."""
    return _role(user) in PARTICIPATING_ROLES


def can_register_for(user: Any, meeting: Any = None) -> bool:  # noqa: ARG001
    return can_participate(user)


def can_propose(user: Any, process: Any = None) -> bool:  # noqa: ARG001
    return can_participate(user)


def can_edit_proposal(user: Any, proposal: Proposal, author_participant_id: int | None) -> bool:
    from pvplatform.proposals.models import ProposalState

    return (
        can_participate(user)
        and author_participant_id is not None
        and proposal.author_id == author_participant_id
        and proposal.state == ProposalState.DRAFT
    )


def can_withdraw_proposal(user: Any, proposal: Proposal, author_participant_id: int | None) -> bool:
    from pvplatform.proposals.models import ProposalState

    return (
        can_participate(user)
        and author_participant_id is not None
        and proposal.author_id == author_participant_id
        and proposal.state in (ProposalState.DRAFT, ProposalState.PUBLISHED)
    )


def can_comment(user: Any, proposal: Any = None) -> bool:  # noqa: ARG001
    return can_participate(user)


def can_vote(user: Any, proposal: Any = None) -> bool:  # noqa: ARG001
    return can_participate(user)


def can_answer(user: Any, proposal: Any = None) -> bool:  # noqa: ARG001
    return _role(user) in ANSWERING_ROLES


def can_post_update(user: Any, proposal: Any = None) -> bool:  # noqa: ARG001
    return _role(user) in ANSWERING_ROLES


def can_report(user: Any) -> bool:
    return _role(user) in ACTING_ROLES


def can_answer_absence(user: Any, absence_request: Any = None) -> bool:  # noqa: ARG001
    """Answer "why did you not come?" (the view checks that the question is theirs)."""
    return _role(user) in ACTING_ROLES


def can_moderate(user: Any, process: Any = None) -> bool:  # noqa: ARG001
    return is_staff(user)


def can_read_audit(user: Any) -> bool:
    return is_staff(user)


def can_see_hidden(user: Any, target: Proposal | Comment | None = None) -> bool:  # noqa: ARG001
    return is_staff(user)


def can_view_dashboard(user: Any, process: Any = None) -> bool:  # noqa: ARG001
    return _role(user) in (Role.STAFF, Role.ADMIN, Role.ELECTED)


def can_manage_surveys(user: Any, process: Any = None) -> bool:  # noqa: ARG001
    """Keep the public values catalogue, open and close survey waves, send pulses and
    reminders, read the pulses' private suggestions."""
    return is_staff(user)


def can_answer_surveys(user: Any) -> bool:
    """Answer the surveys one was offered, for oneself (the view checks the offer): the four
    kinds of participants; evaluators never answer."""
    return _role(user) in PARTICIPATING_ROLES or _role(user) == Role.ADMIN


def can_view_perceptions(user: Any, process: Any = None) -> bool:
    """The perceived public value results (value x group matrix, pulses): staff and elected
    officials; evaluators read them through their own access."""
    return can_view_dashboard(user, process)


def can_manage_grants(user: Any) -> bool:
    """Grant and revoke evaluators' access and data-sharing agreements; read the export audit."""
    return is_admin(user)


def _grant_in_force(grant: Any) -> bool:
    from pvplatform.db import utcnow

    return grant is not None and grant.is_active(utcnow())


def can_open_evaluation(user: Any) -> bool:
    """The evaluation workspace's list of processes: evaluators (with or without a grant: the
    page says how access is given) and admins. Reading one process needs `can_evaluate`."""
    return _role(user) in (Role.EVALUATOR, Role.ADMIN)


def can_evaluate(user: Any, grant: Any = None) -> bool:
    """Read a process's indicators, flags, ledger figures and perception results suppressed at
    the export k, and download them: an evaluator holding a read grant in force on it (the view
    passes the grant it found), or an admin."""
    role = _role(user)
    return role == Role.ADMIN or (role == Role.EVALUATOR and _grant_in_force(grant))


def can_export_microdata(user: Any, agreement: Any = None) -> bool:
    """Download a process's pseudonymised microdata: an evaluator with a data-sharing agreement
    in force on it, or an admin."""
    role = _role(user)
    return role == Role.ADMIN or (role == Role.EVALUATOR and _grant_in_force(agreement))


def can_use_api(user: Any) -> bool:
    """Hold personal read-only API tokens and read the JSON API: staff, admins and evaluators
    (an evaluator reads only the processes granted to them)."""
    return _role(user) in (Role.STAFF, Role.ADMIN, Role.EVALUATOR)


# Exposed to templates as `can.<name>(...)`.
TEMPLATE_PREDICATES = {
    name: obj
    for name, obj in list(globals().items())
    if (name.startswith("can_") or name.startswith("is_")) and callable(obj)
}
