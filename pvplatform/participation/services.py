"""Participants: the person behind a login, and people who take part without one."""

from __future__ import annotations

import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.errors import NotAllowed
from pvplatform.extensions import db
from pvplatform.participation.models import Participant, ParticipantKind

KIND_FOR_ROLE = {
    Role.CITIZEN: ParticipantKind.CITIZEN,
    Role.ASSOCIATION: ParticipantKind.ASSOCIATION,
    Role.STAFF: ParticipantKind.MANAGER,
    Role.ADMIN: ParticipantKind.MANAGER,
    Role.ELECTED: ParticipantKind.ELECTED,
}


def find_participant(user: User) -> Participant | None:
    return db.session.scalar(sa.select(Participant).where(Participant.user_id == user.id))


def participant_for(user: User) -> Participant:
    """The user's participant, created on first need and kept in step with role and association."""
    kind = KIND_FOR_ROLE.get(user.role)
    if kind is None:
        raise NotAllowed()
    participant = find_participant(user)
    if participant is None:
        participant = Participant(user_id=user.id, kind=kind, association_id=user.association_id)
        db.session.add(participant)
        db.session.flush()
    else:
        participant.kind = kind
        participant.association_id = user.association_id
    return participant


def sync_participant(user: User) -> None:
    """After a role or association change: the voice is measured in the group it now belongs to."""
    participant = find_participant(user)
    if participant is None:
        return
    kind = KIND_FOR_ROLE.get(user.role)
    if kind is not None:
        participant.kind = kind
    participant.association_id = user.association_id


def create_walk_in(name: str, *, kind: ParticipantKind = ParticipantKind.CITIZEN,
                   association_id: int | None = None) -> Participant:
    participant = Participant(kind=kind, display_name=name, association_id=association_id)
    db.session.add(participant)
    db.session.flush()
    return participant
