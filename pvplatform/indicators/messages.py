"""What a flag says, stored as a message id with its parameters and rendered in each reader's
language, with counts of people that the suppression rule hides when they are small.

    phrase("%(count)s came", count=Count(4))         -> Phrase (singular)
    plural_phrase("%(num)s proposal", "%(num)s proposals", 3)
    str(p) / p.render(k)                             -> text in the current locale
    p.to_json() / Phrase.from_stored(id, plural, params)

`phrase` and `plural_phrase` are extraction keywords (Makefile, tests/test_i18n.py), so every
message id reaches the catalogues. Parameters are numbers, strings, nested phrases (a group's
label, the evidence sentence), `Count`s (people: "fewer than 5" when between 1 and k-1),
`Guarded` figures (hidden with the count they would give back), `PValue`s (a test's p, in the
reader's number format) or `Term`s and `ValueTerm`s (a dimension, a category, a public value:
stored by their codes, read in the reader's language).

A Count, Guarded or PValue may name the indicator row it repeats (`cell`, a
`suppression.row_key`): rendered with the reading's hidden rows (`hidden`), it is hidden exactly
where the dashboard hides that row, so that a message never shows what a table hides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import format_decimal, format_percent, get_translations, gettext, ngettext
from flask_babel import lazy_gettext as _l

from pvplatform.indicators.suppression import DERIVED, current_k, is_small
from pvplatform.participation.labels import Term, ValueTerm, stored_term

_MSGID, _PLURAL, _PARAMS, _COUNT, _GUARDED = "_msgid", "_plural", "_params", "_count", "_guarded"
_CELL, _P, _NUM, _FMT = "_cell", "_p", "_num", "_fmt"

Hidden = Mapping[tuple[str, ...], str]  # row_key -> suppression reason ("" when shown)


@dataclass(frozen=True)
class Count:
    """A number of people: shown as "fewer than k" when it is between 1 and k-1, and not shown
    when the row it repeats (`cell`) is hidden."""

    n: int
    cell: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Guarded:
    """A figure that would give a small count back (a ratio beside an expected count): shown
    only when that count may be, and its row (`cell`) is shown; `text` is a number, printed
    in the reader's format with `pattern` (a string stored by an older version as it is)."""

    text: float | str
    n: int
    cell: tuple[str, ...] | None = None
    pattern: str = "0.00"


PERCENT_PATTERN = "%"  # a share, printed with the reader's percent format
SIGNED = "+0.00;-0.00"  # a change, with its sign


@dataclass(frozen=True)
class Number:
    """A number that is not a count of people (an expected count, a ratio, a share, a change),
    printed in the reader's number format with `pattern` (PERCENT_PATTERN: a share)."""

    value: float
    pattern: str = "0.0"


@dataclass(frozen=True)
class PValue:
    """A test's p-value, printed with three decimals in the reader's number format; hidden with
    its row (`cell`), whose count it would give back."""

    p: float
    cell: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Phrase:
    id: str
    plural: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def render(self, k: int | None = None, hidden: Hidden | None = None) -> str:
        return render_message(self.id, self.plural, encode_params(self.params), k=k,
                              hidden=hidden)

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict[str, Any]:
        return {_MSGID: self.id, _PLURAL: self.plural, _PARAMS: encode_params(self.params)}


def phrase(message_id: str, **params: Any) -> Phrase:
    return Phrase(message_id, None, params)


def plural_phrase(singular: str, plural: str, num: int | Count, **params: Any) -> Phrase:
    return Phrase(singular, plural, {**params, "num": num})


# ---------------------------------------------------------------- storage


def _with_cell(data: dict[str, Any], cell: tuple[str, ...] | None) -> dict[str, Any]:
    return {**data, _CELL: list(cell)} if cell is not None else data


def _encode(value: Any) -> Any:
    if isinstance(value, Phrase):
        return value.to_json()
    if isinstance(value, Count):
        return _with_cell({_COUNT: int(value.n)}, value.cell)
    if isinstance(value, Guarded):
        return _with_cell({_GUARDED: value.text, _COUNT: int(value.n), _FMT: value.pattern},
                          value.cell)
    if isinstance(value, Number):
        return {_NUM: float(value.value), _FMT: value.pattern}
    if isinstance(value, PValue):
        return _with_cell({_P: float(value.p)}, value.cell)
    if isinstance(value, Term | ValueTerm):
        return value.to_json()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def encode_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON-safe parameters (what a FlagRecord stores)."""
    return {key: _encode(value) for key, value in (params or {}).items()}


def _cell_reason(value: dict[str, Any], hidden: Hidden | None) -> str | None:
    """The suppression reason of the row a parameter repeats ("" shown); None: no row named.
    Without the reading's hidden rows, or for a row it lacks, the row counts as hidden."""
    cell = value.get(_CELL)
    if not isinstance(cell, list):
        return None
    if hidden is None:
        return "unknown"
    return hidden.get(tuple(str(part) for part in cell), "missing")


def _number(value: Any, pattern: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if pattern == PERCENT_PATTERN:
            return format_percent(value)
        return format_decimal(value, pattern if isinstance(pattern, str) else "0.00")
    return str(value)


def p_words(p: float) -> str:
    """A p-value with three decimals, in the reader's number format."""
    return format_decimal(p, "0.000")


def _decode(value: Any, k: int, hidden: Hidden | None) -> Any:
    if (term := stored_term(value)) is not None:
        return str(term)
    if isinstance(value, dict):
        if _MSGID in value:
            return render_message(str(value[_MSGID]), value.get(_PLURAL),
                                  value.get(_PARAMS) or {}, k=k, hidden=hidden)
        reason = _cell_reason(value, hidden)
        if _GUARDED in value:
            n = int(value.get(_COUNT) or 0)
            if is_small(n, k) or reason:
                return gettext("not shown")
            return _number(value[_GUARDED], value.get(_FMT))
        if _NUM in value:
            return _number(value[_NUM], value.get(_FMT))
        if _COUNT in value:
            n = int(value[_COUNT])
            if is_small(n, k):
                return gettext("fewer than %(k)s", k=k)
            # A row hidden only for its value (DERIVED) still shows its count.
            if reason and reason != DERIVED:
                return gettext("a number not shown")
            return n
        if _P in value:
            return gettext("not shown") if reason else p_words(float(value[_P]))
    return value


def render_message(message: str, plural: str | None, params: Mapping[str, Any] | None, *,
                   k: int | None = None, hidden: Hidden | None = None) -> str:
    """A stored message in the reader's language. A catalogue entry with wrong placeholders must
    not break the page: the untranslated text is shown instead. `hidden`: the reading's rows
    and their suppression reasons, for the parameters that repeat a row."""
    k = current_k() if k is None else k
    values = {key: _decode(value, k, hidden) for key, value in (params or {}).items()}
    try:
        if plural is not None:
            shown = values.pop("num", 0)
            # A hidden count ("fewer than 5") reads as a plural, and is printed as it is said.
            if isinstance(shown, int):
                return ngettext(message, plural, shown, **values)
            return get_translations().ngettext(message, plural, 2) % {**values, "num": shown}
        return gettext(message, **values) if values else gettext(message)
    except (KeyError, TypeError, ValueError):
        try:
            if plural is not None:
                chosen = message if values.get("num", 0) == 1 else plural
                return chosen % values
            return message % values if values else message
        except (KeyError, TypeError, ValueError):
            return message


# ---------------------------------------------------------------- evidence


def evidence(p_value: float, cell: tuple[str, ...] | None = None) -> Phrase:
    """How sure a statistical flag is, in plain words; `cell`: the p-value's row."""
    if p_value < 0.001:
        return phrase("very unlikely to be chance: p < 0.001")
    if p_value < 0.01:
        return phrase("very unlikely to be chance: p = %(p)s", p=PValue(p_value, cell))
    return phrase("unlikely to be chance: p = %(p)s", p=PValue(p_value, cell))


def within_chance(p_value: float | None) -> str:
    """The words shown beside a category whose gap is not beyond chance."""
    if p_value is None:
        return ""
    return gettext("within chance: p = %(p)s", p=p_words(p_value))


# ---------------------------------------------------------------- titles

FLAG_TITLES: dict[str, Any] = {
    "under_representation": _l("Under-represented category"),
    "over_representation": _l("Over-represented category"),
    "stratum_not_reached": _l("Category not reached"),
    "high_no_show": _l("Many registered people did not come"),
    "low_retention": _l("Participants do not come back"),
    "voice_concentration": _l("A few voices dominate"),
    "official_dominance": _l("Officials dominate the contributions"),
    "unanswered_proposals": _l("Proposals without an answer"),
    "unreasoned_rejection": _l("Rejections without reasons"),
    "absent_invited_association": _l("Invited association absent"),
    "value_duality": _l("Public value perceived in opposite ways"),
    "value_eroding": _l("Public value eroding"),
    "weak_value_weakened": _l("A weak public value is getting weaker"),
}


def flag_title(code: str) -> str:
    """A short human title for a flag code, in the reader's language."""
    title = FLAG_TITLES.get(code)
    return str(title) if title is not None else code
