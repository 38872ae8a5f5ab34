"""GDPR rights of a person over their account: a copy of their data, and erasure.

Export walks the metadata rather than a hand-kept list, so a table added later is covered the
day it is created: every row with a foreign key to the person's user or participant row is theirs
(except columns listed in ACTED_ON_OTHERS), and so are rows of tables without any person column
that hang below one of those rows (the snapshot of an attendance, the goals of a proposal).

Deletion blanks the identity and keeps the pseudonymous participation records (votes,
attendances and their snapshots, contributions, registrations, answers to surveys, consents):
every indicator of every process stays what it was (SECURITY.md, Privacy).
"""

from __future__ import annotations

import base64
import enum
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


def delete_account(user: User, *, password: str, now: datetime) -> None:
    """Blanks the identity, ends every session and frees the e-mail; records stay pseudonymous.

    Kept: the participant row (kind and association: the groups indicators count in), votes,
    registrations, attendances and their demographic snapshots, proposals, comments, survey
    answers, consents, reports and official answers. Removed: e-mail, name, password,
    language, the link to an association, and the notifications (messages to a person who is
    gone).
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
    if participant is not None:
        participant.display_name = None
        label = str(_l("Deleted participant #%(n)d", n=participant.id))
    else:
        label = str(_l("Deleted account #%(n)d", n=user.id))
    db.session.execute(sa.delete(Notification).where(Notification.user_id == user.id))
    user.email = None
    user.password_hash = None
    user.display_name = label
    user.locale = None
    user.association_id = None
    user.deleted_at = now
    end_all_sessions(user)
    row = record_audit(user, "account.delete", "user", user.id,
                       details={"participant_id": participant.id if participant else None})
    row.created_at = now
