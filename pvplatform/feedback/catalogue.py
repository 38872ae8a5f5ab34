"""The public values catalogue of a process: staff add, edit, reorder and retire values until
the baseline opens (or any answer exists); after that only typo fixes of the wording are taken,
each audited with its before and after texts.

Why the lock: answers given before and after a change could no longer be compared, and the
final survey must ask the same questions, in the same order, as the baseline.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from pvplatform.core.forms import clean_text
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.feedback.defaults import DEFAULT_VALUES
from pvplatform.feedback.models import NAME_MAX, STATEMENT_MAX, PublicValue
from pvplatform.feedback.surveys import catalogue_locked
from pvplatform.moderation.audit import record_audit
from pvplatform.processes.models import Process

CODE_MAX = 64
# The texts of a value, in the order they are checked and audited.
TEXT_FIELDS = ("name", "statement", "name_en", "statement_en")
REQUIRED_FIELDS = ("name", "statement")
LIMITS = {"name": NAME_MAX, "name_en": NAME_MAX, "statement": STATEMENT_MAX,
          "statement_en": STATEMENT_MAX}

LOCKED_MESSAGE = _l(
    "The catalogue is fixed: the baseline survey has been opened (or answers exist). Adding, "
    "moving or retiring a value now would mean that answers given before and after the change "
    "could no longer be compared, and the final survey must ask the same questions in the same "
    "order. Only small corrections of wording (typos) are still possible.")


def _not_a_typo(allowed: int) -> str:
    return str(_l("The catalogue is fixed since the baseline survey opened: only a small "
                  "correction of a typo is possible here (at most %(max)s characters changed). "
                  "Rewriting the value would make the answers given before and after the "
                  "change impossible to compare.", max=allowed))


# ---------------------------------------------------------------- reading

def values_of(process_id: int) -> list[PublicValue]:
    return list(db.session.scalars(
        sa.select(PublicValue).where(PublicValue.process_id == process_id)
        .order_by(PublicValue.position, PublicValue.id)))


def has_values(process_id: int) -> bool:
    return bool(db.session.scalar(sa.select(sa.exists().where(
        PublicValue.process_id == process_id))))


# ---------------------------------------------------------------- typo fixes

def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest characters inserted, deleted or replaced to turn `a`
    into `b`."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def typo_allowance(old: str) -> int:
    """How many characters a typo fix of `old` may change: 2, or one in twelve of a longer
    text (6 for a statement of 80 characters): enough for a slip or a missing accent, too few
    to change what the sentence says."""
    return max(2, len(old) // 12)


def is_typo_fix(old: str | None, new: str | None) -> bool:
    """The rule for wording changes once the catalogue is fixed: a text unchanged, or changed by
    at most `typo_allowance(old)` characters (edit distance, on the cleaned texts). Filling an
    empty text or emptying one is never a typo fix: it changes what people read."""
    old, new = clean_text(old) or "", clean_text(new) or ""
    if old == new:
        return True
    if not old or not new:
        return False
    return edit_distance(old, new) <= typo_allowance(old)


# ---------------------------------------------------------------- checks

def _require_unlocked(process_id: int) -> None:
    if catalogue_locked(process_id):
        raise InvalidState(str(LOCKED_MESSAGE))


def _clean_texts(texts: dict[str, str | None]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for field in TEXT_FIELDS:
        value = clean_text(texts.get(field)) or ""
        if field in REQUIRED_FIELDS and not value:
            message = (_l("Give the value a name in French.") if field == "name"
                       else _l("Write the statement people rate, in French."))
            raise ValidationFailed(str(message), field=field)
        if len(value) > LIMITS[field]:
            raise ValidationFailed(str(_l("At most %(max)s characters.", max=LIMITS[field])),
                                   field=field)
        cleaned[field] = value
    return cleaned


def slug(text: str) -> str:
    """A code from a name: lower-case ASCII letters and digits joined by underscores."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "_".join(words)[:CODE_MAX].strip("_") or "value"


def _unique_code(process_id: int, name: str) -> str:
    base = slug(name)
    taken = set(db.session.scalars(sa.select(PublicValue.code).where(
        PublicValue.process_id == process_id,
        sa.or_(PublicValue.code == base, PublicValue.code.like(f"{base[:CODE_MAX - 5]}%")))))
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"_{n}"
        code = base[:CODE_MAX - len(suffix)] + suffix
        if code not in taken:
            return code
        n += 1


def _next_position(process_id: int) -> int:
    highest = db.session.scalar(sa.select(sa.func.max(PublicValue.position))
                                .where(PublicValue.process_id == process_id))
    return (highest or 0) + 1


# ---------------------------------------------------------------- changes

def add_value(process: Process, texts: dict[str, str | None], *, by: Any,
              now: datetime) -> PublicValue:
    _require_unlocked(process.id)
    cleaned = _clean_texts(texts)
    value = PublicValue(process_id=process.id, code=_unique_code(process.id, cleaned["name"]),
                        position=_next_position(process.id), **cleaned)
    db.session.add(value)
    db.session.flush()
    record_audit(by, "public_value.create", "public_value", value.id, process_id=process.id,
                 details={"name": value.name, "statement": value.statement})
    return value


def use_defaults(process: Process, *, by: Any, now: datetime) -> list[PublicValue]:
    """Starts an empty catalogue from the suggested values, in their order (positions 1..8)."""
    _require_unlocked(process.id)
    if has_values(process.id):
        raise InvalidState(str(_l("The catalogue already has values: the suggested ones only "
                                  "start an empty catalogue. Add the ones you miss one by "
                                  "one.")))
    values = [PublicValue(process_id=process.id, code=d.code, name=d.name, name_en=d.name_en,
                          statement=d.statement, statement_en=d.statement_en, position=i)
              for i, d in enumerate(DEFAULT_VALUES, start=1)]
    db.session.add_all(values)
    db.session.flush()
    record_audit(by, "public_value.defaults", "process", process.id, process_id=process.id,
                 details={"values": [v.name for v in values]})
    return values


@dataclass(frozen=True)
class Edit:
    """What an edit changed: (field, before, after) for each text that changed."""

    changes: tuple[tuple[str, str, str], ...]
    correction: bool  # made once the catalogue was fixed: typo fixes only

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def edit_value(value: PublicValue, texts: dict[str, str | None], *, by: Any,
               now: datetime) -> Edit:
    """Changes the wording of a value (never its code). Once the catalogue is fixed each text
    may only get a typo fix (`is_typo_fix`); every change is audited with before and after."""
    cleaned = _clean_texts(texts)
    locked = catalogue_locked(value.process_id)
    if locked:
        for field in TEXT_FIELDS:
            old = getattr(value, field) or ""
            if not is_typo_fix(old, cleaned[field]):
                raise ValidationFailed(_not_a_typo(typo_allowance(clean_text(old) or "")),
                                       field=field)
    changes = tuple((field, getattr(value, field) or "", cleaned[field]) for field in TEXT_FIELDS
                    if (getattr(value, field) or "") != cleaned[field])
    for field, _before, after in changes:
        setattr(value, field, after)
    # One row per text changed, each with the text it replaced: the log tells exactly what
    # people read before and after.
    for field, before, after in changes:
        record_audit(by, "public_value.correct" if locked else "public_value.update",
                     "public_value", value.id, process_id=value.process_id,
                     details={"value": value.name, "field": field, "before": before,
                              "after": after})
    return Edit(changes, locked)


def move_value(value: PublicValue, direction: str, *, by: Any, now: datetime) -> bool:
    """Swaps the value with its neighbour above ("up") or below ("down"); False at either end.
    Positions are renumbered 1..n on the way, whatever they were (an import's gaps)."""
    if direction not in ("up", "down"):
        raise ValidationFailed(str(_l("Choose whether to move the value up or down.")),
                               field="direction")
    _require_unlocked(value.process_id)
    values = values_of(value.process_id)
    index = next(i for i, v in enumerate(values) if v.id == value.id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(values):
        return False
    values[index], values[other] = values[other], values[index]
    for position, v in enumerate(values, start=1):
        v.position = position
    record_audit(by, "public_value.move", "public_value", value.id, process_id=value.process_id,
                 details={"value": value.name, "position": value.position,
                          "order": [v.name for v in values]})
    return True


def retire_value(value: PublicValue, *, by: Any, now: datetime) -> None:
    """Removes a value from the catalogue (nobody was asked about it yet: the catalogue is not
    fixed); the others close ranks."""
    _require_unlocked(value.process_id)
    process_id = value.process_id
    record_audit(by, "public_value.retire", "public_value", value.id, process_id=process_id,
                 details={"name": value.name, "statement": value.statement})
    db.session.delete(value)
    db.session.flush()
    for position, v in enumerate(values_of(process_id), start=1):
        v.position = position
