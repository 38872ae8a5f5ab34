"""GDPR rights of a person over their account: a copy of their data, and erasure.

Export walks the metadata rather than a hand-kept list, so a table added later is covered the
day it is created: every row with a foreign key to the person's user or participant row is theirs
(except columns listed in ACTED_ON_OTHERS), and so are rows of tables without any person column
that hang below one of those rows (the snapshot of an attendance, the goals of a proposal).

Deletion blanks the identity, gives up what the person still held for the future (seats in
sessions that have not started, consents, the consented demographic answers) and keeps the
pseudonymous record of what they already did (votes, attendances with the categories recorded at
check-in, contributions, past registrations, answers to surveys): the figures of every process up
to the deletion stay what they were (SECURITY.md, Privacy; details in `delete_account`).
"""

from __future__ import annotations

import base64
import enum
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.auth.models import Role, User
from pvplatform.auth.services import end_all_sessions, reauthenticate
from pvplatform.errors import InvalidState
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.participation.models import Participant

EXPORT_FORMAT = "pvplatform-personal-data/1"

USER_TABLE = "users"
PARTICIPANT_TABLE = "participants"

# Person columns recording what someone did to another person's row: that row is the other
# person's (an attendance checked in by a staff member is the attendee's, not the staff's).
ACTED_ON_OTHERS = frozenset({
    ("attendances", "checked_in_by_id"),
    ("invitations", "invited_by_id"),
    ("absence_requests", "created_by_id"),
    ("speaking_turns", "recorded_by_id"),
    ("association_requests", "decided_by_id"),
})
# Accountability records stay with the institution; their details name other people's objects.
NOT_EXPORTED = frozenset({"audit_log"})
# Never in an export, even one's own: a copy of these would let whoever gets the file log in.
SECRET_COLUMNS = frozenset({
    (USER_TABLE, "password_hash"),
    (USER_TABLE, "session_token"),
})
DEMOGRAPHIC_TABLES = frozenset({"participant_attributes", "attendance_snapshots"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _record(table: sa.Table, row: sa.Row) -> dict[str, Any]:
    return {
        column.name: _plain(row._mapping[column])
        for column in table.columns
        if (table.name, column.name) not in SECRET_COLUMNS
    }


# Columns that name a person by convention even where no foreign key says so.
NAMED_PERSON_COLUMNS = {"user_id": USER_TABLE, "participant_id": PARTICIPANT_TABLE}


def _person_columns(table: sa.Table) -> list[tuple[sa.Column, str]]:
    """(column, users|participants) for each column of `table` that points at a person row."""
    found: dict[str, tuple[sa.Column, str]] = {}
    for fk in table.foreign_keys:
        target = fk.column
        if target.table.name in (USER_TABLE, PARTICIPANT_TABLE) and target.name == "id":
            found[fk.parent.name] = (fk.parent, target.table.name)
    for name, kind in NAMED_PERSON_COLUMNS.items():
        if name in table.columns and name not in found:
            found[name] = (table.columns[name], kind)
    return [found[name] for name in sorted(found)]


def _ordered(table: sa.Table) -> list[sa.Column]:
    return list(table.primary_key.columns) or list(table.columns)


def _rows(table: sa.Table, condition: Any) -> list[dict[str, Any]]:
    return [_record(table, row) for row in
            db.session.execute(sa.select(table).where(condition).order_by(*_ordered(table)))]


def _personal_tables() -> list[sa.Table]:
    return [t for t in db.metadata.sorted_tables
            if t.name not in (USER_TABLE, PARTICIPANT_TABLE) and t.name not in NOT_EXPORTED]


def collect_personal_data(user: User) -> dict[str, list[dict[str, Any]]]:
    """Table name -> the person's rows in it (tables without any row are left out)."""
    participant_ids = list(db.session.scalars(
        sa.select(Participant.id).where(Participant.user_id == user.id).order_by(Participant.id)))
    ids = {USER_TABLE: [user.id], PARTICIPANT_TABLE: participant_ids}
    owned: dict[str, list[dict[str, Any]]] = {}
    tables = _personal_tables()
    for table in tables:
        conditions = [column.in_(ids[kind]) for column, kind in _person_columns(table)
                      if (table.name, column.name) not in ACTED_ON_OTHERS and ids[kind]]
        if conditions:
            rows = _rows(table, sa.or_(*conditions))
            if rows:
                owned[table.name] = rows
    # Rows that belong to no one by themselves but hang below one of the person's rows.
    for table in tables:
        if table.name in owned or _person_columns(table):
            continue
        conditions = []
        for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name):
            parent = fk.column
            parent_rows = owned.get(parent.table.name)
            if parent_rows and parent.name in parent_rows[0]:
                conditions.append(fk.parent.in_([r[parent.name] for r in parent_rows]))
        if conditions:
            rows = _rows(table, sa.or_(*conditions))
            if rows:
                owned[table.name] = rows
    return owned


def _survey_answers(participant_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """The person's survey answers and pulse suggestions in words: `records` has the same rows
    by id only, which tell a person nothing of what they were asked. Every answer is listed,
    the earlier ones too (a changed answer is a new row); "don't know" has an empty score."""
    from pvplatform.feedback.models import Perception, PublicValue, PulseComment
    from pvplatform.processes.models import Process
    from pvplatform.sessions.models import Meeting

    if not participant_ids:
        return {"perceptions": [], "pulse_suggestions": []}
    perceptions = db.session.execute(
        sa.select(Perception, PublicValue, Process.title, Meeting.title)
        .join(PublicValue, PublicValue.id == Perception.public_value_id)
        .join(Process, Process.id == PublicValue.process_id)
        .outerjoin(Meeting, Meeting.id == Perception.meeting_id)
        .where(Perception.participant_id.in_(participant_ids))
        .order_by(Perception.answered_at, Perception.id))
    suggestions = db.session.execute(
        sa.select(PulseComment, Meeting.title)
        .join(Meeting, Meeting.id == PulseComment.meeting_id)
        .where(PulseComment.participant_id.in_(participant_ids))
        .order_by(PulseComment.written_at, PulseComment.id))
    return {
        "perceptions": [
            {"process": process_title, "value_code": value.code, "value_name": value.name,
             "value_name_en": value.name_en, "wave": _plain(answer.wave),
             "session_id": answer.meeting_id, "session_title": session_title,
             "score": answer.score, "dont_know": answer.score is None,
             "answered_at": _plain(answer.answered_at)}
            for answer, value, process_title, session_title in perceptions],
        "pulse_suggestions": [
            {"session_id": comment.meeting_id, "session_title": session_title,
             "text": comment.text, "written_at": _plain(comment.written_at)}
            for comment, session_title in suggestions],
    }


def export_user_data(user: User, *, now: datetime) -> dict[str, Any]:
    """Everything stored about `user`, nothing about anyone else; audited in this transaction."""
    users = db.metadata.tables[USER_TABLE]
    participants = db.metadata.tables[PARTICIPANT_TABLE]
    account = _rows(users, users.c.id == user.id)
    participant_rows = _rows(participants, participants.c.user_id == user.id)
    association = None
    if user.association is not None:
        association = {"id": user.association.id, "name": user.association.name}
    records = collect_personal_data(user)
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "account": account[0] if account else None,
        "association": association,
        "participants": participant_rows,
        "records": records,
        "survey_answers": _survey_answers([p["id"] for p in participant_rows]),
    }
    row = record_audit(user, "privacy.export", "user", user.id,
                       details={"tables": sorted(records)})
    row.created_at = now
    demographics = sorted(DEMOGRAPHIC_TABLES & set(records))
    if demographics:
        row = record_audit(user, "demographics.read", "user", user.id,
                           details={"via": "privacy.export", "tables": demographics})
        row.created_at = now
    return data


# ---------------------------------------------------------------- deletion

def _other_active_admins(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(User)
        .where(User.role == Role.ADMIN, User.deleted_at.is_(None), User.id != user.id)
    ) or 0


@dataclass
class Released:
    """What a deleted account stopped holding (counts only: they go into the audit row)."""

    registrations_cancelled: int = 0
    consents_withdrawn: int = 0
    attributes_deleted: int = 0
    snapshots_deleted: int = 0


def _release_participation(participant: Participant, *, now: datetime) -> Released:
    """Gives up what the person held for the future; keeps what the indicators already counted.

    - Registrations to sessions that have not started (`starts_at > now`, as
      `sessions.services.is_started`) are cancelled at `now`: the seat goes back to others and
      staff no longer expect them. Registrations of sessions already started are history (a
      no-show is one) and stay as they are.
    - Every active consent record (any purpose) is withdrawn at `now`.
    - Their demographic answers (participant_attributes) are deleted: they were given under that
      consent, and a person who is gone has no profile.
    - Attendance snapshots, the categories copied at check-in, are the pseudonymous record the
      indicators count attendees by (INDICATORS.md: an attendee's categories are those of their
      latest snapshot at or before T). Those of sessions already started are kept, like votes, so
      that no figure up to now changes; those of sessions not started yet were never counted by
      any figure (a session counts once started) and are deleted.

    The one figure that moves, as the deletion page says: an active participant who never
    attended had the categories of their answers (INDICATORS.md); in the active_* figures they
    now count as "unknown", for any date (answers keep no history), as after a withdrawal of
    consent. Keeping answers given under a consent that is withdrawn is not an option.

    Unlike `participation.demographics.withdraw` (which deletes every snapshot and uses bulk
    statements), rows are changed through the ORM so that stored risk flags follow in this
    transaction (indicators.autorefresh). Someone who wants their past snapshots gone too can
    withdraw their consent first.
    """
    from pvplatform.participation.models import (
        AttendanceSnapshot,
        ConsentRecord,
        ParticipantAttribute,
    )
    from pvplatform.sessions.models import Attendance, Meeting, Registration

    not_started = sa.select(Meeting.id).where(Meeting.starts_at > now)
    released = Released()
    for registration in db.session.scalars(
            sa.select(Registration)
            .where(Registration.participant_id == participant.id,
                   Registration.cancelled_at.is_(None), Registration.meeting_id.in_(not_started))
            .order_by(Registration.id)).all():
        registration.cancelled_at = now
        released.registrations_cancelled += 1
    for consent in db.session.scalars(
            sa.select(ConsentRecord)
            .where(ConsentRecord.participant_id == participant.id,
                   ConsentRecord.withdrawn_at.is_(None))
            .order_by(ConsentRecord.id)).all():
        consent.withdrawn_at = now
        released.consents_withdrawn += 1
    for attribute in db.session.scalars(
            sa.select(ParticipantAttribute)
            .where(ParticipantAttribute.participant_id == participant.id)
            .order_by(ParticipantAttribute.id)).all():
        db.session.delete(attribute)
        released.attributes_deleted += 1
    for snapshot in db.session.scalars(
            sa.select(AttendanceSnapshot)
            .join(Attendance, Attendance.id == AttendanceSnapshot.attendance_id)
            .where(Attendance.participant_id == participant.id,
                   Attendance.meeting_id.in_(not_started))
            .order_by(AttendanceSnapshot.id)).all():
        db.session.delete(snapshot)
        released.snapshots_deleted += 1
    return released


def _withdraw_membership_request(user: User, *, now: datetime) -> None:
    """A request to join an association dies with the account (nobody is left to join)."""
    from pvplatform.auth.models import MembershipDecision, MembershipRequest

    for row in db.session.scalars(
            sa.select(MembershipRequest)
            .where(MembershipRequest.user_id == user.id,
                   MembershipRequest.decision == MembershipDecision.PENDING)).all():
        row.decision = MembershipDecision.WITHDRAWN
        row.decided_at = now
        row.decided_by_id = user.id


def delete_account(user: User, *, password: str, now: datetime) -> None:
    """Blanks the identity, ends every session and frees the e-mail; records stay pseudonymous.

    Kept: the participant row (kind and association: the groups indicators count in), votes,
    attendances and the demographic snapshots of sessions already started, registrations of
    sessions already started, proposals, comments, survey answers, reports, official answers and
    consent records (withdrawn: they prove what was consented, and when). Removed: e-mail, name,
    password, language, the link to an association, the notifications (messages to a person who
    is gone), and what `_release_participation` gives up: seats in sessions not started yet,
    active consents, demographic answers.
    """
    from pvplatform.notifications.models import Notification

    if user.deleted_at is not None:
        raise InvalidState(str(_l("This account has been deleted.")))
    reauthenticate(user, password)
    if user.role == Role.ADMIN and _other_active_admins(user) == 0:
        raise InvalidState(str(_l("You are the only administrator: give the role to someone "
                                  "else before deleting your account.")))
    participant = db.session.scalar(
        sa.select(Participant).where(Participant.user_id == user.id).order_by(Participant.id)
        .limit(1))
    released = Released()
    if participant is not None:
        participant.display_name = None
        released = _release_participation(participant, now=now)
        label = str(_l("Deleted participant #%(n)d", n=participant.id))
    else:
        label = str(_l("Deleted account #%(n)d", n=user.id))
    db.session.execute(sa.delete(Notification).where(Notification.user_id == user.id))
    user.email = None
    user.password_hash = None
    user.display_name = label
    user.locale = None
    user.association_id = None
    user.association_contact = False
    _withdraw_membership_request(user, now=now)
    user.deleted_at = now
    end_all_sessions(user)
    row = record_audit(user, "account.delete", "user", user.id,
                       details={"participant_id": participant.id if participant else None,
                                **asdict(released)})
    row.created_at = now
