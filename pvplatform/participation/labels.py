"""The words for the codes of demographic dimensions and categories, in the reader's language.

Staff name each dimension and category of a process in French (`label`, the reference) and in
English (`label_en`). Everything that shows a dimension or a category asks here: English reads
`label_en`, else `label`; French reads `label`, else `label_en`; the code itself only when nobody
named it (an imported category). Codes stay what is stored, filtered and exported to machines.

A page loads the labels of the processes it shows in one statement, kept for the rest of the
request, so that rows never query one by one. Stored texts (flag messages, notifications) keep a
`Term`, the codes, and become words when they are read, in the language of whoever reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import g, has_request_context
from flask_babel import get_locale

from pvplatform.extensions import db
from pvplatform.participation.models import Dimension, Stratum

_MEMO = "participation_labels"
TERM = "_term"
VALUE_TERM = "_value"


class Words(NamedTuple):
    fr: str | None
    en: str | None


def is_english(locale: str | None = None) -> bool:
    """The given locale, or the reader's (the site's language outside a request)."""
    if locale is None:
        current = get_locale()
        locale = current.language if current is not None else ""
    return locale.startswith("en")


def pick(words: Words | None, code: str, locale: str | None = None) -> str:
    """The words in the language asked (the reader's by default), else the other, else the
    code."""
    if words is None:
        return code
    first, second = (words.en, words.fr) if is_english(locale) else (words.fr, words.en)
    return first or second or code


@dataclass(frozen=True)
class ProcessLabels:
    """One process's dimensions (code -> words), categories ((dimension, code) -> words) and
    public values (code -> names)."""

    dimensions: Mapping[str, Words] = field(default_factory=dict)
    categories: Mapping[tuple[str, str], Words] = field(default_factory=dict)
    values: Mapping[str, Words] = field(default_factory=dict)

    def value(self, code: str, locale: str | None = None) -> str:
        return pick(self.values.get(code), code, locale)

    def value_names(self, locale: str | None = None) -> dict[str, str]:
        """Every public value's name in the reader's language, by code."""
        return {code: pick(words, code, locale) for code, words in self.values.items()}

    def dimension(self, code: str, locale: str | None = None) -> str:
        return pick(self.dimensions.get(code), code, locale)

    def category(self, dimension: str, code: str, locale: str | None = None) -> str:
        return pick(self.categories.get((dimension, code)), code, locale)

    def term(self, dimension: str, category: str | None = None,
             locale: str | None = None) -> str:
        """The category's label, or the dimension's when no category is given."""
        if category is None:
            return self.dimension(dimension, locale)
        return self.category(dimension, category, locale)


NO_LABELS = ProcessLabels()


def _load(process_ids: list[int]) -> dict[int, ProcessLabels]:
    from pvplatform.feedback.models import PublicValue

    found: dict[int, tuple[dict[str, Words], dict[tuple[str, str], Words],
                           dict[str, Words]]] = {pid: ({}, {}, {}) for pid in process_ids}
    rows = db.session.execute(sa.union_all(
        sa.select(sa.literal("d"), Dimension.process_id, Dimension.code, sa.literal(""),
                  Dimension.label, Dimension.label_en)
        .where(Dimension.process_id.in_(process_ids)),
        sa.select(sa.literal("c"), Stratum.process_id, Stratum.dimension, Stratum.category,
                  Stratum.label, Stratum.label_en)
        .where(Stratum.process_id.in_(process_ids)),
        sa.select(sa.literal("v"), PublicValue.process_id, PublicValue.code, sa.literal(""),
                  PublicValue.name, PublicValue.name_en)
        .where(PublicValue.process_id.in_(process_ids)),
    ))
    for kind, pid, code, category, label, label_en in rows:
        dimensions, categories, values = found[pid]
        words = Words(label or None, label_en or None)
        if kind == "d":
            dimensions[code] = words
        elif kind == "v":
            values[code] = words
        else:
            categories[(code, category)] = words
    return {pid: ProcessLabels(d, c, v) for pid, (d, c, v) in found.items()}


def _memo() -> dict[int, ProcessLabels]:
    # Kept for one request only (each request has its own `g`): labels edited by then are seen
    # at the next page, and a worker or a command reads them afresh every time.
    if has_request_context():
        return g.setdefault(_MEMO, {})
    return {}


def labels_for(process_ids: Iterable[int | None]) -> dict[int, ProcessLabels]:
    """The labels of several processes (one statement for those not loaded yet)."""
    wanted = sorted({pid for pid in process_ids if pid is not None})
    memo = _memo()
    missing = [pid for pid in wanted if pid not in memo]
    if missing:
        memo.update(_load(missing))
    return {pid: memo[pid] for pid in wanted}


def labels_of(process_id: int) -> ProcessLabels:
    return labels_for([process_id])[process_id]


def forget_labels(process_id: int) -> None:
    """After a change of labels: the rest of the request reads them again."""
    if has_request_context():
        g.get(_MEMO, {}).pop(process_id, None)


def latest_labels(dimensions: Iterable[str]) -> ProcessLabels:
    """Words for answers that no running process asks any more: each dimension named as the
    most recent process that has it names it (two statements)."""
    codes = sorted(set(dimensions))
    if not codes:
        return NO_LABELS
    owners = dict(db.session.execute(
        sa.select(Stratum.dimension, sa.func.max(Stratum.process_id))
        .where(Stratum.dimension.in_(codes)).group_by(Stratum.dimension)).all())
    loaded = labels_for(owners.values())
    dims: dict[str, Words] = {}
    cats: dict[tuple[str, str], Words] = {}
    for code, pid in owners.items():
        labels = loaded[pid]
        if code in labels.dimensions:
            dims[code] = labels.dimensions[code]
        cats.update({key: words for key, words in labels.categories.items() if key[0] == code})
    return ProcessLabels(dims, cats)


# ---------------------------------------------------------------- in stored texts


@dataclass(frozen=True)
class Term:
    """A dimension (no category) or a category of a process, as a parameter of a stored message:
    stored by its codes, read as its label in the reader's language."""

    process_id: int
    dimension: str
    category: str | None = None

    def to_json(self) -> dict[str, list[Any]]:
        return {TERM: [self.process_id, self.dimension, self.category]}

    def __str__(self) -> str:
        return labels_of(self.process_id).term(self.dimension, self.category)


@dataclass(frozen=True)
class ValueTerm:
    """A public value of a process's catalogue in a stored message: its code, read as its name
    in the reader's language."""

    process_id: int
    code: str

    def to_json(self) -> dict[str, list[Any]]:
        return {VALUE_TERM: [self.process_id, self.code]}

    def __str__(self) -> str:
        return labels_of(self.process_id).value(self.code)


def stored_term(value: Any) -> Term | ValueTerm | None:
    """The term a stored parameter holds (`Term.to_json`, `ValueTerm.to_json`), None for
    anything else."""
    if isinstance(value, dict) and set(value) == {VALUE_TERM}:
        parts = value[VALUE_TERM]
        if (isinstance(parts, list) and len(parts) == 2 and isinstance(parts[0], int)
                and isinstance(parts[1], str)):
            return ValueTerm(parts[0], parts[1])
        return None
    if not isinstance(value, dict) or set(value) != {TERM}:
        return None
    parts = value[TERM]
    if not (isinstance(parts, list) and len(parts) == 3 and isinstance(parts[0], int)
            and isinstance(parts[1], str) and (parts[2] is None or isinstance(parts[2], str))):
        return None
    return Term(parts[0], parts[1], parts[2])


def term_text(value: Any) -> Any:
    """A stored parameter as the reader reads it: a term becomes its label, the rest stays."""
    term = stored_term(value)
    return str(term) if term is not None else value
