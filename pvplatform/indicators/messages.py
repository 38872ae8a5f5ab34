"""What a flag says, stored as a message id with its parameters and rendered in each reader's
language, with counts of people that the suppression rule hides when they are small.

    phrase("%(count)s came", count=Count(4))         -> Phrase (singular)
    plural_phrase("%(num)s proposal", "%(num)s proposals", 3)
    str(p) / p.render(k)                             -> text in the current locale
    p.to_json() / Phrase.from_stored(id, plural, params)

`phrase` and `plural_phrase` are extraction keywords (Makefile, tests/test_i18n.py), so every
message id reaches the catalogues. Parameters are numbers, strings, nested phrases (a group's
label, the evidence sentence), `Count`s (people: "fewer than 5" when between 1 and k-1),
`Guarded` figures (hidden with the count they would give back) or `Term`s (a dimension or a
category: stored by its codes, read as its label in the reader's language).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

from pvplatform.indicators.suppression import current_k, is_small
from pvplatform.participation.labels import Term, stored_term

_MSGID, _PLURAL, _PARAMS, _COUNT, _GUARDED = "_msgid", "_plural", "_params", "_count", "_guarded"


@dataclass(frozen=True)
class Count:
    """A number of people: shown as "fewer than k" when it is between 1 and k-1."""

    n: int


@dataclass(frozen=True)
class Guarded:
    """A figure that would give a small count back (a ratio beside an expected count): shown
    only when that count may be."""

    text: str
    n: int


@dataclass(frozen=True)
class Phrase:
    id: str
    plural: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def render(self, k: int | None = None) -> str:
        return render_message(self.id, self.plural, encode_params(self.params), k=k)

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict[str, Any]:
        return {_MSGID: self.id, _PLURAL: self.plural, _PARAMS: encode_params(self.params)}


def phrase(message_id: str, **params: Any) -> Phrase:
    return Phrase(message_id, None, params)


def plural_phrase(singular: str, plural: str, num: int, **params: Any) -> Phrase:
    return Phrase(singular, plural, {**params, "num": num})


# ---------------------------------------------------------------- storage


def _encode(value: Any) -> Any:
    if isinstance(value, Phrase):
        return value.to_json()
    if isinstance(value, Count):
        return {_COUNT: int(value.n)}
    if isinstance(value, Guarded):
        return {_GUARDED: value.text, _COUNT: int(value.n)}
    if isinstance(value, Term):
        return value.to_json()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def encode_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON-safe parameters (what a FlagRecord stores)."""
    return {key: _encode(value) for key, value in (params or {}).items()}


def _decode(value: Any, k: int) -> Any:
    if (term := stored_term(value)) is not None:
        return str(term)
    if isinstance(value, dict):
        if _MSGID in value:
            return render_message(str(value[_MSGID]), value.get(_PLURAL),
                                  value.get(_PARAMS) or {}, k=k)
        if _GUARDED in value:
            n = int(value.get(_COUNT) or 0)
            return gettext("not shown") if is_small(n, k) else value[_GUARDED]
        if _COUNT in value:
            n = int(value[_COUNT])
            return gettext("fewer than %(k)s", k=k) if is_small(n, k) else n
    return value


def render_message(message: str, plural: str | None, params: Mapping[str, Any] | None, *,
                   k: int | None = None) -> str:
    """A stored message in the reader's language. A catalogue entry with wrong placeholders must
    not break the page: the untranslated text is shown instead."""
    k = current_k() if k is None else k
    values = {key: _decode(value, k) for key, value in (params or {}).items()}
    try:
        if plural is not None:
            num = values.pop("num", 0)
            if not isinstance(num, int):
                num = 2  # a hidden count ("fewer than 5") reads as a plural
            return ngettext(message, plural, num, **values)
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


def evidence(p_value: float) -> Phrase:
    """How sure a statistical flag is, in plain words."""
    if p_value < 0.001:
        return phrase("very unlikely to be chance: p < 0.001")
    if p_value < 0.01:
        return phrase("very unlikely to be chance: p = %(p)s", p=f"{p_value:.3f}")
    return phrase("unlikely to be chance: p = %(p)s", p=f"{p_value:.3f}")


def within_chance(p_value: float | None) -> str:
    """The words shown beside a category whose gap is not beyond chance."""
    if p_value is None:
        return ""
    return gettext("within chance: p = %(p)s", p=f"{p_value:.3f}")


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
