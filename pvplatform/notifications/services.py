"""In-app notifications, stored as a message id with parameters and rendered in the reader's
language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from pvplatform.extensions import db
from pvplatform.notifications.models import Notification
from pvplatform.participation.labels import term_text


def N_(message: str) -> str:
    """Marks a message id for extraction (`N_` is a default pybabel keyword); it is stored
    untranslated and translated when read."""
    return message


def render_message(message: str, params: dict[str, Any] | None) -> str:
    """A stored notification in the reader's language, a dimension or category by its label
    (`labels.Term`). A catalogue entry with wrong placeholders must not break the page: the
    untranslated text is shown instead."""
    params = {key: term_text(value) for key, value in (params or {}).items()}
    text = gettext(message)
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        try:
            return message % params
        except (KeyError, TypeError, ValueError):
            return message


def notify(user_id: int | None, kind: str, message: str, *, params: dict[str, Any] | None = None,
           link: str = "") -> Notification | None:
    if user_id is None:
        return None
    row = Notification(user_id=user_id, kind=kind, message=message, params=params or {},
                       link=link)
    db.session.add(row)
    return row


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    ) or 0


def list_statement(user_id: int) -> sa.Select:
    return (
        sa.select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )


def list_for(user_id: int, limit: int = 100) -> list[Notification]:
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user_id: int, *, now: datetime) -> int:
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return result.rowcount or 0
