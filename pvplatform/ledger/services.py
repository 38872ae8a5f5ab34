"""The non-participation ledger: who was invited and did not register, who registered and did
not come, who walked in, who dropped out, which invited associations sent nobody; and the
absence reasons people give, aggregated with small counts hidden.

The counts printed on the ledger pages come from the indicator engine
(`pvplatform.indicators.ledger`); the statements here list the people behind them, with the
engine's own definitions of the sets (`pvplatform.indicators.sets`: held sessions, live
registrations, invitation pairs, attendances as of T), so that a list's length equals the
engine's figure.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased, contains_eager

from pvplatform.auth.models import Association, User
from pvplatform.core.forms import clean_text
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.extensions import db
from pvplatform.indicators.ledger import dropped_out_subquery, held_sessions
from pvplatform.indicators.sets import (
    has_attended,
    has_live_registration,
    is_checked_in,
    is_invitation_pair,
    is_live,
)
from pvplatform.ledger.models import OTHER_TEXT_MAX, AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.moderation.audit import record_audit
from pvplatform.notifications.services import N_, notify
from pvplatform.participation.labels import NO_LABELS, ProcessLabels, labels_of
from pvplatform.participation.models import Participant, ParticipantAttribute, Stratum
from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration

# Figures resting on 1..k-1 people are hidden on staff screens (INDICATORS.md: k = 5 internally).
SMALL_COUNT = 5
UNKNOWN = "unknown"

ABSENCE_MESSAGES = {
    AbsenceKind.NO_SHOW: N_(
        'You registered for the session "%(title)s" but could not come. Tell us why in one '
        "click: it helps us organise the next sessions."),
    AbsenceKind.NOT_REGISTERED: N_(
        'You were invited to the session "%(title)s" and did not register. Tell us why in one '
        "click: it helps us organise the next sessions."),
}


class LedgerList(StrEnum):
    INVITED_NOT_REGISTERED = "invited_not_registered"
    NO_SHOWS = "no_shows"
    WALK_INS = "walk_ins"
    DROPPED_OUT = "dropped_out"
    ABSENT_ASSOCIATIONS = "absent_associations"


def answer_path(request_id: int) -> str:
    # Built by hand because requests may be created outside a request (the demo, the CLI).
    return f"/me/absence/{request_id}"


# ---------------------------------------------------------------- definitions shared by lists

def _live_registration(meeting_id: Any, participant_id: Any, as_of: datetime) -> Any:
    """A live registration of that person for that session as of T exists (`sets.is_live`)."""
    return has_live_registration(meeting_id, participant_id, Meeting.starts_at, as_of)


def _attended(meeting_id: Any, participant_id: Any, as_of: datetime) -> Any:
    return has_attended(meeting_id, participant_id, as_of)


def _sessions_of(process_id: int, meeting_id: int | None) -> Any:
    condition = Meeting.process_id == process_id
    if meeting_id is not None:
        condition = sa.and_(condition, Meeting.id == meeting_id)
    return condition


def _with_people(stmt: sa.Select, relationship: Any) -> sa.Select:
    # Joined rather than loaded afterwards: the page is one statement, whatever its length.
    return (
        stmt.join(relationship)
        .outerjoin(Participant.user)
        .options(contains_eager(relationship).contains_eager(Participant.user))
    )


def _first_per_pair(model: Any, partner: Any, *conditions: Any) -> sa.Select:
    """The lowest id of `model` per (session, partner) pair meeting the conditions: the
    engine counts pairs, so a repeated invitation or registration is listed once."""
    return (
        sa.select(sa.func.min(model.id))
        .join(Meeting, Meeting.id == model.meeting_id)
        .where(*conditions)
        .group_by(model.meeting_id, partner)
    )


def _people_of(model: Any, keys: sa.Select) -> sa.Select:
    """The rows of `model` whose ids `keys` selects, with session and person loaded."""
    stmt = (
        sa.select(model)
        .join(model.meeting)
        .options(contains_eager(model.meeting))
        .where(model.id.in_(keys))
        .order_by(Meeting.starts_at, Meeting.id, model.participant_id)
    )
    return _with_people(stmt, model.participant)


# ---------------------------------------------------------------- the lists
# Each list is defined once, by the ids of its rows (`*_keys`): the page loads the rows of those
# ids and the tab counts them, so a tab and its list cannot disagree.

def invited_not_registered_keys(process_id: int, as_of: datetime,
                                meeting_id: int | None = None) -> sa.Select:
    """One invitation per (session, participant) pair invited at or before T without a live
    registration as of T: the engine's invited_not_registered (sessions held or not)."""
    return _first_per_pair(
        Invitation, Invitation.participant_id,
        _sessions_of(process_id, meeting_id),
        Invitation.participant_id.is_not(None),
        is_invitation_pair(Invitation, Meeting.starts_at, as_of),
        ~_live_registration(Invitation.meeting_id, Invitation.participant_id, as_of),
    )


def no_shows_keys(process_id: int, as_of: datetime, meeting_id: int | None = None) -> sa.Select:
    """One live registration per (held session, participant) pair without an attendance as of T:
    the numerator of the engine's no_show_rate."""
    return _first_per_pair(
        Registration, Registration.participant_id,
        _sessions_of(process_id, meeting_id),
        Meeting.starts_at <= as_of,
        is_live(Registration, Meeting.starts_at, as_of),
        ~_attended(Registration.meeting_id, Registration.participant_id, as_of),
    )


def walk_ins_keys(process_id: int, as_of: datetime, meeting_id: int | None = None) -> sa.Select:
    """Attendances of held sessions (as of T) without a live registration: with the no-shows,
    attended = registered - no-shows + walk-ins holds for every held session."""
    return (
        sa.select(Attendance.id)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(
            _sessions_of(process_id, meeting_id),
            Meeting.starts_at <= as_of,
            Attendance.checked_in_at <= as_of,
            ~_live_registration(Attendance.meeting_id, Attendance.participant_id, as_of),
        )
    )


def dropped_out_keys(process_id: int, as_of: datetime) -> sa.Select:
    """The people the engine's dropped_out counts (with at least 3 held sessions: attended
    before, absent from the last two)."""
    return sa.select(dropped_out_subquery(process_id, as_of).c.pid)


def absent_associations_keys(process_id: int, as_of: datetime,
                             meeting_id: int | None = None) -> sa.Select:
    """One invitation per (held session, association) invited as such at or before T when no
    member of the association attended that session (members: participants whose
    association_id is the association, as in the engine's absent_invited_association)."""
    member = aliased(Participant)
    # From the association's members to their attendance (by session and person), not from the
    # session's attendances to their association: a look-up per member rather than a scan of a
    # whole session per invitation (seconds at city size).
    attendance = aliased(Attendance)
    member_attended = sa.exists().where(
        attendance.meeting_id == Invitation.meeting_id,
        attendance.participant_id == member.id,
        is_checked_in(attendance, as_of),
    ).correlate_except(attendance)  # the invitation is two levels up: say so explicitly
    member_present = sa.exists().where(
        member.association_id == Invitation.association_id, member_attended)
    return _first_per_pair(
        Invitation, Invitation.association_id,
        _sessions_of(process_id, meeting_id),
        Meeting.starts_at <= as_of,
        Invitation.association_id.is_not(None),
        is_invitation_pair(Invitation, Meeting.starts_at, as_of),
        ~member_present,
    )


def _walk_ins_rows(keys: Any) -> sa.Select:
    stmt = (
        sa.select(Attendance)
        .join(Attendance.meeting)
        .options(contains_eager(Attendance.meeting))
        .where(Attendance.id.in_(keys))
        .order_by(Meeting.starts_at, Meeting.id, Attendance.checked_in_at, Attendance.id)
    )
    return _with_people(stmt, Attendance.participant)


def _dropped_out_rows(keys: Any) -> sa.Select:
    return (
        sa.select(Participant)
        .outerjoin(Participant.user)
        .options(contains_eager(Participant.user))
        .where(Participant.id.in_(keys))
        .order_by(Participant.id)
    )


def last_attended(process_id: int, as_of: datetime,
                  participant_ids: Sequence[int]) -> dict[int, str]:
    """participant id -> title of the last held session they attended (one page at a time)."""
    if not participant_ids:
        return {}
    titles = {h.k: h.title for h in held_sessions(process_id, as_of)}
    dropped = dropped_out_subquery(process_id, as_of)
    rows = db.session.execute(
        sa.select(dropped.c.pid, dropped.c.last_k).where(dropped.c.pid.in_(participant_ids))
    ).all()
    return {pid: titles.get(int(k), "") for pid, k in rows}


def _absent_associations_rows(keys: Any) -> sa.Select:
    return (
        sa.select(Invitation)
        .join(Invitation.meeting)
        .join(Invitation.association)
        .options(contains_eager(Invitation.meeting), contains_eager(Invitation.association))
        .where(Invitation.id.in_(keys))
        .order_by(Meeting.starts_at, Meeting.id, Association.name, Association.id)
    )


def _lists_for(meeting_id: int | None) -> list[LedgerList]:
    # Dropping out is a property of the process, not of one session.
    return [w for w in LedgerList if not (meeting_id is not None and w == LedgerList.DROPPED_OUT)]


_KEYS = {
    LedgerList.INVITED_NOT_REGISTERED: invited_not_registered_keys,
    LedgerList.NO_SHOWS: no_shows_keys,
    LedgerList.WALK_INS: walk_ins_keys,
    LedgerList.ABSENT_ASSOCIATIONS: absent_associations_keys,
}
def list_keys(which: LedgerList, process_id: int, as_of: datetime,
              meeting_id: int | None = None) -> sa.Select:
    if which not in _lists_for(meeting_id):
        raise NotFound()
    if which == LedgerList.DROPPED_OUT:
        return dropped_out_keys(process_id, as_of)
    return _KEYS[which](process_id, as_of, meeting_id)


_ROWS = {
    LedgerList.INVITED_NOT_REGISTERED: lambda keys: _people_of(Invitation, keys),
    LedgerList.NO_SHOWS: lambda keys: _people_of(Registration, keys),
    LedgerList.WALK_INS: _walk_ins_rows,
    LedgerList.ABSENT_ASSOCIATIONS: _absent_associations_rows,
    LedgerList.DROPPED_OUT: _dropped_out_rows,
}


def list_statement(which: LedgerList, process_id: int, as_of: datetime,
                   meeting_id: int | None = None) -> sa.Select:
    """Every row of a list, in the order its pages show them."""
    return _ROWS[which](list_keys(which, process_id, as_of, meeting_id))


def list_rows(which: LedgerList, ids: Sequence[int]) -> sa.Select:
    """The rows of a list with these ids (one page of it), in the list's order."""
    return _ROWS[which](list(ids))


def ordered_ids_statement(which: LedgerList, process_id: int, as_of: datetime,
                          meeting_id: int | None = None) -> sa.Select:
    """The ids of a list in the order its page shows them (the order of `list_statement`),
    without loading the rows: a page is then a slice of them."""
    keys = list_keys(which, process_id, as_of, meeting_id)
    if which == LedgerList.DROPPED_OUT:
        return sa.select(Participant.id).where(Participant.id.in_(keys)).order_by(Participant.id)
    if which == LedgerList.WALK_INS:
        return (sa.select(Attendance.id).join(Meeting, Meeting.id == Attendance.meeting_id)
                .where(Attendance.id.in_(keys))
                .order_by(Meeting.starts_at, Meeting.id, Attendance.checked_in_at,
                          Attendance.id))
    if which == LedgerList.ABSENT_ASSOCIATIONS:
        return (sa.select(Invitation.id).join(Meeting, Meeting.id == Invitation.meeting_id)
                .join(Association, Association.id == Invitation.association_id)
                .where(Invitation.id.in_(keys))
                .order_by(Meeting.starts_at, Meeting.id, Association.name, Association.id))
    model = Invitation if which == LedgerList.INVITED_NOT_REGISTERED else Registration
    return (sa.select(model.id).join(Meeting, Meeting.id == model.meeting_id)
            .where(model.id.in_(keys))
            .order_by(Meeting.starts_at, Meeting.id, model.participant_id))


def list_counts(process_id: int, as_of: datetime, meeting_id: int | None = None
                ) -> dict[LedgerList, int]:
    """The length of every list (the tabs show them beside the engine's figures), all in one
    statement: a count of each list's ids, not of its rows joined to sessions and people."""
    lists = _lists_for(meeting_id)
    counts = sa.union_all(*(
        # The list's name written into the SQL (a fixed word): an untyped parameter in a UNION
        # is one PostgreSQL may refuse to guess a type for.
        sa.select(sa.literal_column(f"'{w.value}'", sa.String).label("list"),
                  sa.func.count().label("n"))
        .select_from(list_keys(w, process_id, as_of, meeting_id).subquery())
        for w in lists))
    found = {name: int(n) for name, n in db.session.execute(counts)}
    return {w: found.get(w.value, 0) for w in lists}


# ---------------------------------------------------------------- absence requests

def absent_people(meeting: Meeting, now: datetime) -> list[tuple[int, int, AbsenceKind]]:
    """(participant id, user id, kind) of the people to ask: registrants who did not come and
    invitees who did not register (and did not come either), with an active account and not
    asked yet for this session."""
    already = sa.select(AbsenceRequest.participant_id).where(
        AbsenceRequest.meeting_id == meeting.id)
    reachable = sa.and_(User.deleted_at.is_(None), Participant.id.not_in(already))
    no_shows = (
        sa.select(Participant.id, User.id)
        .join(User, User.id == Participant.user_id)
        .join(Registration, Registration.participant_id == Participant.id)
        .where(
            Registration.meeting_id == meeting.id,
            is_live(Registration, meeting.starts_at, now),
            ~_attended(meeting.id, Participant.id, now),
            reachable,
        )
        .distinct()
        .order_by(Participant.id)
    )
    not_registered = (
        sa.select(Participant.id, User.id)
        .join(User, User.id == Participant.user_id)
        .join(Invitation, Invitation.participant_id == Participant.id)
        .where(
            Invitation.meeting_id == meeting.id,
            is_invitation_pair(Invitation, meeting.starts_at, now),
            ~has_live_registration(meeting.id, Participant.id, meeting.starts_at, now),
            ~_attended(meeting.id, Participant.id, now),
            reachable,
        )
        .distinct()
        .order_by(Participant.id)
    )
    people = [(pid, uid, AbsenceKind.NO_SHOW) for pid, uid in db.session.execute(no_shows)]
    people += [(pid, uid, AbsenceKind.NOT_REGISTERED)
               for pid, uid in db.session.execute(not_registered)]
    return people


def create_absence_requests(meeting: Meeting, *, by: User, now: datetime
                            ) -> list[AbsenceRequest]:
    """Asks each absent invitee and registrant of a session that is over why they stayed away
    (an in-app notification each); people already asked are skipped."""
    over_at = meeting.ends_at or meeting.starts_at
    if over_at > now:
        raise InvalidState(str(_l("This session is not over yet: ask for absence reasons once "
                                  "it has ended.")))
    created: list[tuple[AbsenceRequest, int]] = []
    for participant_id, user_id, kind in absent_people(meeting, now):
        row = AbsenceRequest(meeting_id=meeting.id, participant_id=participant_id, kind=kind,
                             created_at=now, created_by_id=by.id)
        db.session.add(row)
        created.append((row, user_id))
    if not created:
        return []
    db.session.flush()
    for row, user_id in created:
        notify(user_id, "absence.request", ABSENCE_MESSAGES[row.kind],
               params={"title": meeting.title}, link=answer_path(row.id))
    audit = record_audit(by, "absence.request", "session", meeting.id,
                         process_id=meeting.process_id, details={"requests": len(created)})
    audit.created_at = now
    # The people asked are part of the process's story too: their view at the start counts.
    from pvplatform.feedback.surveys import offer_open_baseline

    offer_open_baseline(meeting.process, sa.select(AbsenceRequest.participant_id).where(
        AbsenceRequest.meeting_id == meeting.id, AbsenceRequest.created_at == now), now=now)
    return [row for row, _ in created]


def request_for(request_id: int, user: User) -> AbsenceRequest:
    """The request if it is addressed to this user; anyone else's is not found."""
    row = db.session.get(AbsenceRequest, request_id)
    if row is None or row.participant is None or row.participant.user_id is None or \
            row.participant.user_id != getattr(user, "id", None):
        raise NotFound()
    return row


def answer_absence(row: AbsenceRequest, *, user: User, reason: str, other_text: str | None,
                   now: datetime) -> AbsenceRequest:
    """Records the reason; a second answer replaces the first."""
    if row.participant.user_id != getattr(user, "id", None):
        raise NotFound()
    try:
        code = AbsenceReason(reason)
    except ValueError:
        raise ValidationFailed(str(_l("Choose one of the reasons.")), field="reason") from None
    text = clean_text(other_text) or None
    if text is not None and len(text) > OTHER_TEXT_MAX:
        raise ValidationFailed(str(_l("At most %(max)s characters.", max=OTHER_TEXT_MAX)),
                               field="other_text")
    row.reason = code
    # Free text only goes with "other": a stale text must not follow a later choice.
    row.other_text = text if code == AbsenceReason.OTHER else None
    row.answered_at = now
    return row


# ---------------------------------------------------------------- aggregated reasons

Key = tuple[Hashable, ...]


def suppress(values: dict[Key, int], equations: Iterable[tuple[Sequence[Key], Key]],
             k: int = SMALL_COUNT) -> set[Key]:
    """The figures to hide: those between 1 and k-1 (primary), then, while some total shown
    beside its parts would give a hidden figure back by subtraction, one more per such sum (the
    smallest non-zero part shown, or else the total)."""
    hidden = {key for key, v in values.items() if 0 < v < k}
    equations = [(list(parts), whole) for parts, whole in equations]
    changed = True
    while changed:
        changed = False
        for parts, whole in equations:
            unknown = [p for p in [*parts, whole] if p in hidden]
            if len(unknown) != 1:
                continue
            shown = [p for p in parts if p not in hidden and values.get(p, 0) > 0]
            if shown:
                hidden.add(min(shown, key=lambda p: (values[p], str(p))))
            elif whole not in hidden:
                hidden.add(whole)
            else:  # a total hidden beside parts that are all 0: it is 0, nothing to protect
                continue
            changed = True
    return hidden


@dataclass
class ReasonSummary:
    """Counts of answered reasons per session, in total and per stratum; `hidden` keys are shown
    as suppressed. Keys: ("s", session id, reason), ("srow", session id), ("reason", reason),
    ("all",), ("d", dimension, category, reason), ("drow", dimension, category). Pages name
    dimensions and categories with `labels`."""

    sessions: list[tuple[int, str]]
    requests: dict[int, int]  # session id -> requests sent
    dimensions: dict[str, list[str]]  # dimension -> categories (strata, then "unknown")
    values: dict[Key, int]
    hidden: set[Key]
    other_texts: list[str] = field(default_factory=list)
    k: int = SMALL_COUNT
    labels: ProcessLabels = NO_LABELS

    def shown(self, *key: Hashable) -> int | None:
        """The figure, or None when it must not be shown."""
        if key in self.hidden:
            return None
        return self.values.get(key, 0)

    @property
    def reasons(self) -> list[AbsenceReason]:
        return list(AbsenceReason)

    @property
    def answered(self) -> int:
        return self.values.get(("all",), 0)

    @property
    def sent(self) -> int:
        return sum(self.requests.values())


def reason_summary(process_id: int, *, k: int = SMALL_COUNT) -> ReasonSummary:
    """Answered absence reasons of a process: per session, per stratum of every dimension, with
    one suppression over all the tables, since each shares totals with the others."""
    sessions = [(sid, title) for sid, title in db.session.execute(
        sa.select(Meeting.id, Meeting.title)
        .where(Meeting.process_id == process_id,
               sa.exists().where(AbsenceRequest.meeting_id == Meeting.id))
        .order_by(Meeting.starts_at, Meeting.id))]
    requests = {sid: int(n) for sid, n in db.session.execute(
        sa.select(AbsenceRequest.meeting_id, sa.func.count())
        .join(Meeting, Meeting.id == AbsenceRequest.meeting_id)
        .where(Meeting.process_id == process_id)
        .group_by(AbsenceRequest.meeting_id))}
    answered = sa.and_(Meeting.process_id == process_id, AbsenceRequest.reason.is_not(None))
    per_session = db.session.execute(
        sa.select(AbsenceRequest.meeting_id, AbsenceRequest.reason, sa.func.count())
        .join(Meeting, Meeting.id == AbsenceRequest.meeting_id)
        .where(answered)
        .group_by(AbsenceRequest.meeting_id, AbsenceRequest.reason)
    ).all()

    strata = db.session.execute(
        sa.select(Stratum.dimension, Stratum.category)
        .where(Stratum.process_id == process_id)
        .order_by(Stratum.dimension, Stratum.category)
    ).all()
    dimensions: dict[str, list[str]] = {}
    for dimension, category in strata:
        dimensions.setdefault(dimension, []).append(category)
    for categories in dimensions.values():
        categories.append(UNKNOWN)
    dims = sa.select(Stratum.dimension.label("dimension")).where(
        Stratum.process_id == process_id).distinct().subquery("dims")
    known = aliased(Stratum)
    # A consented answer counts when it is one of the dimension's reference categories
    # (INDICATORS.md: known); anything else, or no answer, is unknown.
    per_stratum = db.session.execute(
        sa.select(dims.c.dimension, known.category, AbsenceRequest.reason, sa.func.count())
        .select_from(AbsenceRequest)
        .join(Meeting, Meeting.id == AbsenceRequest.meeting_id)
        .join(dims, sa.true())
        .outerjoin(ParticipantAttribute, sa.and_(
            ParticipantAttribute.participant_id == AbsenceRequest.participant_id,
            ParticipantAttribute.dimension == dims.c.dimension))
        .outerjoin(known, sa.and_(
            known.process_id == process_id,
            known.dimension == dims.c.dimension,
            known.category == ParticipantAttribute.category))
        .where(answered)
        .group_by(dims.c.dimension, known.category, AbsenceRequest.reason)
    ).all() if dimensions else []

    values: dict[Key, int] = {}

    def add(key: Key, n: int) -> None:
        values[key] = values.get(key, 0) + n

    for sid, reason, n in per_session:
        add(("s", sid, AbsenceReason(reason)), int(n))
        add(("srow", sid), int(n))
        add(("reason", AbsenceReason(reason)), int(n))
        add(("all",), int(n))
    for dimension, category, reason, n in per_stratum:
        category = category if category is not None else UNKNOWN
        add(("d", dimension, category, AbsenceReason(reason)), int(n))
        add(("drow", dimension, category), int(n))

    reasons = list(AbsenceReason)
    equations: list[tuple[list[Key], Key]] = []
    for sid, _title in sessions:
        equations.append(([("s", sid, r) for r in reasons], ("srow", sid)))
    for r in reasons:
        equations.append(([("s", sid, r) for sid, _ in sessions], ("reason", r)))
    equations.append(([("srow", sid) for sid, _ in sessions], ("all",)))
    equations.append(([("reason", r) for r in reasons], ("all",)))
    for dimension, categories in dimensions.items():
        for category in categories:
            equations.append(([("d", dimension, category, r) for r in reasons],
                              ("drow", dimension, category)))
        for r in reasons:
            equations.append(([("d", dimension, c, r) for c in categories], ("reason", r)))
        equations.append(([("drow", dimension, c) for c in categories], ("all",)))
    hidden = suppress(values, equations, k)

    other_texts: list[str] = []
    if ("reason", AbsenceReason.OTHER) not in hidden and \
            values.get(("reason", AbsenceReason.OTHER), 0) >= k:
        # Without names or sessions, in alphabetical order: what else keeps people away.
        other_texts = list(db.session.scalars(
            sa.select(AbsenceRequest.other_text)
            .join(Meeting, Meeting.id == AbsenceRequest.meeting_id)
            .where(answered, AbsenceRequest.reason == AbsenceReason.OTHER,
                   AbsenceRequest.other_text.is_not(None))
            .order_by(AbsenceRequest.other_text)))
    return ReasonSummary(sessions, requests, dimensions, values, hidden, other_texts, k,
                         labels_of(process_id))
