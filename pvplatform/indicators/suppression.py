"""The one suppression rule: what may be shown at k (INDICATORS.md, privacy).

A figure resting on 1..k-1 people is not shown, in tables, charts or sentences; where hiding one
cell of a total could be undone by subtraction, the next smallest is hidden too. k is 5 on staff
dashboards (PV_DASHBOARD_MIN_CELL), 10 for exports, and never below 3.

The rule is applied to every figure of a reading at once, so that it is consistent across the
places that show them: rows that rest on the same count of people under different codes (a
session's registrations and its no-show rate's n) are shown or hidden together, rows whose value
would give a hidden count back (a category's p-value) lose their value with it, and a flag's
message hides what the figures it rests on hide (`flag_hidden`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pvplatform.indicators.rows import Group, IndicatorRow

MIN_K = 3  # the contract's floor: a smaller k would make suppression meaningless
DEFAULT_DASHBOARD_K = 5

# Codes whose n counts no person nor anything a person did (duality_count: public values of the
# catalogue): nothing to protect, nothing to suppress.
NOT_ABOUT_PEOPLE = frozenset({"duality_count"})

# Codes whose value is itself a number of people (or of their invitations) while their n is a
# larger base: a value between 1 and k-1 is a small count, hidden like one.
VALUE_COUNTS = frozenset({"registered_no_show", "invited_not_registered", "dropped_out"})

PRIMARY = "small"  # resting on 1 to k-1 people
SECONDARY = "secondary"  # hidden so that a small cell cannot be recovered by subtraction
DERIVED = "derived"  # its value would give a hidden count back; its n (not small) is shown


# ---------------------------------------------------------------- suppression

def get_field(row: Any, key: str) -> Any:
    if type(row) is dict:  # the common case first: an ABC check costs more than the lookup
        return row.get(key)
    if isinstance(row, Mapping):
        return row.get(key)
    return getattr(row, key, None)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def default_partition(row: Any) -> Hashable | None:
    """Rows that add up to a reported total, so that hiding one alone would not hide it.

    Categories of a dimension (their total is A), sessions of one per-session code (the pooled
    no-show rate's n is the sum of the sessions'), and the internal and external attendees (their
    sum is the "all" row). Other rows stand alone (None)."""
    code = get_field(row, "code")
    keys = {k: get_field(row, k) for k in ("dimension", "category", "group", "public_value",
                                      "session_id")}
    if not _blank(keys["category"]):
        return (code, keys["dimension"], keys["group"], keys["public_value"],
                keys["session_id"])
    if not _blank(keys["session_id"]):
        return (code, "by-session", keys["dimension"], keys["group"], keys["public_value"])
    if code == "attendees" and keys["group"] in (Group.INTERNAL, Group.EXTERNAL):
        return (code, "by-group")
    return None


@dataclass(frozen=True)
class Cell:
    """A row as it may be shown: `value` is None when suppressed, `n` too unless the row is
    hidden only for what its value would give back (DERIVED)."""

    row: Any
    reason: str = ""  # "", PRIMARY, SECONDARY or DERIVED

    @property
    def suppressed(self) -> bool:
        return bool(self.reason)

    @property
    def value(self) -> Any:
        return None if self.reason else get_field(self.row, "value")

    @property
    def n(self) -> int | None:
        return None if self.reason in (PRIMARY, SECONDARY) else get_field(self.row, "n")


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value)


def row_key(row: Any) -> tuple[str, ...]:
    """A row's identity: code, dimension, category, group, public value, session (as text)."""
    if type(row) is IndicatorRow:  # the dashboard's rows, a few hundred per view: no lookups
        session = row.session_id
        return (row.code, row.dimension or "", row.category or "", str(row.group or ""),
                row.public_value or "", "" if session is None or session == "" else str(session))
    return tuple(_text(get_field(row, k)) for k in
                 ("code", "dimension", "category", "group", "public_value", "session_id"))


def key(code: str, *, dimension: str = "", category: str = "", group: str = "",
        public_value: str = "", session_id: Any = "") -> tuple[str, ...]:
    return (code, dimension, category, str(group), public_value, _text(session_id))


# Codes whose n is the same count of people as another code's, by the keys that name it: shown
# or hidden together wherever they appear (a count shown in one place and hidden in another
# would be no secret). {code: (count's name, keys that identify it)}
SAME_COUNT: dict[str, tuple[str, tuple[str, ...]]] = {
    "dropped_out": ("attendees/all", ()),
    "speaking_gini": ("attendees/all", ()),
    "known_share": ("attendees/external", ()),
    "reach_per_1000": ("active/external", ()),
    "active_known_share": ("active/external", ()),
    "representation_ratio": ("a_c", ("dimension", "category")),
    "attendee_share": ("a_c", ("dimension", "category")),
    "attendee_share_low": ("a_c", ("dimension", "category")),
    "attendee_share_high": ("a_c", ("dimension", "category")),
    "active_representation_ratio": ("active a_c", ("dimension", "category")),
    "active_share": ("active a_c", ("dimension", "category")),
    "active_share_low": ("active a_c", ("dimension", "category")),
    "active_share_high": ("active a_c", ("dimension", "category")),
    "dissimilarity": ("A", ("dimension",)),
    "strata_not_reached": ("A", ("dimension",)),
    "representation_p": ("A", ("dimension",)),
    "active_dissimilarity": ("active A", ("dimension",)),
    "uptake_rate": ("invitation pairs", ()),
    "invited_not_registered": ("invitation pairs", ()),
    "registered_no_show": ("registrations", ("session_id",)),
    "no_show_rate": ("registrations", ("session_id",)),
    "session_registered": ("registrations", ("session_id",)),
    "session_attended": ("session attendees", ("session_id",)),
    "contribution_gini": ("contributors", ()),
    "top10_share": ("contributors", ()),
    "perception_delta": ("matched", ("group", "public_value")),
    "perception_improved_share": ("matched", ("group", "public_value")),
    "perception_worsened_share": ("matched", ("group", "public_value")),
}


_FIELDS = {"dimension": 1, "category": 2, "group": 3, "public_value": 4, "session_id": 5}


def same_count(row: Any, held: Sequence[Any] = ()) -> Hashable | None:
    """The count of people a row's n is, when another code shows the same count; `held`: the
    held sessions' ids in order (attrition of session k and retention rest on the attendees of
    session k-1 and of the first session)."""
    return _same_count(row_key(row), [_text(s) for s in held])


def _same_count(key: tuple[str, ...], order: list[str]) -> Hashable | None:
    code = key[0]
    if code == "attendees":
        return ("attendees/" + key[3],)
    if code == "active_participants":
        return ("active/all",)
    if code == "retention":
        return ("session attendees", order[0]) if order else None
    if code == "attrition":
        session = key[5]
        if session in order and order.index(session) > 0:
            return ("session attendees", order[order.index(session) - 1])
        return None
    found = SAME_COUNT.get(code)
    if found is None:
        return None
    name, fields = found
    return (name, *(key[_FIELDS[f]] for f in fields))


# Rows whose value gives back the n of another row (the one they derive from) lose their value
# with it: the p-value of a category's count, a dimension's dissimilarity (with the shown ratios
# it makes a second equation for two hidden counts), and the improved and worsened shares, whose
# sum times n is the sign test's hidden m. (source code, derived codes, keys that must match)
DERIVED_FROM = (
    ("representation_ratio", ("representation_p",), ("dimension", "category")),
    ("representation_ratio", ("dissimilarity", "strata_not_reached"), ("dimension",)),
    ("active_representation_ratio", ("active_dissimilarity",), ("dimension",)),
    ("perception_sign_p", ("perception_improved_share", "perception_worsened_share"),
     ("group", "public_value")),
)


def suppress(rows: Iterable[Any], k: int, *,
             partition: Callable[[Any], Hashable | None] = default_partition,
             exempt: frozenset[str] = NOT_ABOUT_PEOPLE,
             held: Sequence[Any] = ()) -> list[Cell]:
    """Small-cell suppression, in the rows' order.

    Primary: a row whose n is between 1 and k-1 is suppressed (a 0 is shown: nobody to protect),
    unless its code is in `exempt` (an n that counts no people); so is a row whose value is a
    count of people (VALUE_COUNTS) between 1 and k-1.
    Secondary: within a partition (rows adding up to a reported total, see default_partition),
    when exactly one row is suppressed, the next smallest is suppressed too (smallest n first,
    a non-zero n before a zero, ties in the rows' order), so that subtracting the shown rows
    from the total gives only the sum of two hidden cells. With two or more suppressed, the
    total minus the others is already a sum of hidden cells. Rows resting on the same count
    (`same_count`, `held`: the held sessions in order) are hidden together.
    Derived: a row whose value would give a hidden row's count back (DERIVED_FROM) loses its
    value. The three steps repeat until nothing changes: hiding a row for one reason can make
    another step hide more.

    Rows are IndicatorRow objects or dicts with the same keys (code, dimension, category,
    group, public_value, session_id, value, n). k below the contract's floor of 3 counts as 3.
    """
    rows = list(rows)
    k = max(int(k), MIN_K)
    keys = [row_key(row) for row in rows]
    ns = [get_field(row, "n") or 0 for row in rows]
    reasons = []
    for row, key_, n in zip(rows, keys, ns, strict=True):
        code = key_[0]
        small = 1 <= n < k and code not in exempt
        if code in VALUE_COUNTS:
            value = get_field(row, "value") or 0
            small = small or 1 <= value < k
        reasons.append(PRIMARY if small else "")

    def hidden(i: int) -> bool:  # its n is hidden (a DERIVED row still shows its n)
        return reasons[i] in (PRIMARY, SECONDARY)

    def order(i: int) -> tuple[int, int, int]:
        return (0 if ns[i] > 0 else 1, ns[i], i)

    partitions: dict[Hashable, list[int]] = defaultdict(list)
    counts: dict[Hashable, list[int]] = defaultdict(list)
    held_order = [_text(s) for s in held]
    for i, row in enumerate(rows):
        if (part := partition(row)) is not None:
            partitions[part].append(i)
        if (count := _same_count(keys[i], held_order)) is not None:
            counts[count].append(i)
    derived: list[tuple[list[int], list[int]]] = []
    for source, codes, fields in DERIVED_FROM:
        sources: dict[tuple[str, ...], list[int]] = defaultdict(list)
        targets: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, key_ in enumerate(keys):
            if key_[0] == source:
                sources[tuple(key_[_FIELDS[f]] for f in fields)].append(i)
            elif key_[0] in codes:
                targets[tuple(key_[_FIELDS[f]] for f in fields)].append(i)
        derived += [(members, targets[ident]) for ident, members in sources.items()]

    changed = True
    while changed:
        changed = False
        for members in counts.values():
            if any(hidden(i) for i in members):
                for i in members:
                    if not hidden(i):
                        reasons[i], changed = SECONDARY, True
        for members in partitions.values():
            shut = [i for i in members if hidden(i)]
            shown = [i for i in members if not hidden(i)]
            if len(shut) == 1 and shown:
                reasons[min(shown, key=order)], changed = SECONDARY, True
        for sources, targets in derived:
            if any(hidden(i) for i in sources):
                for i in targets:
                    if not reasons[i]:
                        reasons[i], changed = DERIVED, True
    return [Cell(row, reason) for row, reason in zip(rows, reasons, strict=True)]


def hidden_keys(cells: Iterable[Cell]) -> dict[tuple[str, ...], str]:
    """Each row's identity (`row_key`) and why it is hidden ("" when it is shown)."""
    return {row_key(c.row): c.reason for c in cells}


# ---------------------------------------------------------------- flags


def resting_rows(code: str, *, dimension: str = "", category: str = "", group: str = "",
                 public_value: str = "", session_id: Any = ""
                 ) -> list[tuple[str, ...]] | None:
    """The indicator rows a flag's figures rest on; None for a flag that rests on no count of
    people (an association's absences are counted in sessions)."""
    dim, cat, grp, value = dimension or "", category or "", str(group or ""), public_value or ""
    if code in ("under_representation", "over_representation", "stratum_not_reached"):
        return [key("representation_ratio", dimension=dim, category=cat),
                key("representation_p", dimension=dim, category=cat)]
    if code == "high_no_show":
        return [key("no_show_rate", session_id=session_id)]
    if code == "low_retention":
        return [key("retention")]
    if code == "voice_concentration":
        return [key("top10_share")]
    if code == "official_dominance":
        if grp:
            return [key("speaking_time_share", group=grp)]
        return [key("internal_voice_share")]
    if code == "unanswered_proposals":
        return [key("oldest_unanswered_days")]
    if code == "unreasoned_rejection":
        return [key("reasoned_rejection_rate")]
    if code == "absent_invited_association":
        return None
    if code == "value_duality":
        return [key(c, group=g, public_value=value)
                for g in ("internal", "external")
                for c in ("perception_delta", "perception_sign_p")]
    if code == "value_eroding":
        return [key(c, group=grp, public_value=value)
                for c in ("perception_delta", "perception_sign_p")]
    if code == "weak_value_weakened":
        return [key(c, group=grp, public_value=value)
                for c in ("perception_baseline", "perception_delta", "perception_sign_p")]
    return [("unknown flag",)]  # a flag this module does not know: hidden, to be safe


# Flags whose value is itself a count (of proposals): hidden when small, like any count.
COUNT_FLAGS = frozenset({"unanswered_proposals", "unreasoned_rejection"})


def flag_hidden(flag: Any, hidden: Mapping[tuple[str, ...], bool] | None, k: int) -> bool:
    """Whether a flag's figures (counts, ratio, p-value) must be hidden: its value is a small
    count, or a figure it rests on is hidden. `flag`: a FlagRow, a FlagRecord or a dict.
    Without `hidden` (no reading of the figures at hand), or when a row it rests on is missing,
    it is hidden: when unsure, suppress."""
    code = get_field(flag, "code")
    value = get_field(flag, "value")
    if code in COUNT_FLAGS and value is not None and is_small(int(value), k):
        return True
    keys = resting_rows(code, dimension=get_field(flag, "dimension") or "",
                        category=get_field(flag, "category") or "",
                        group=get_field(flag, "group") or "",
                        public_value=get_field(flag, "public_value") or "",
                        session_id=get_field(flag, "session_id"))
    if keys is None:
        return False
    if hidden is None:
        return True
    return any(hidden.get(k_, True) for k_ in keys)


def dashboard_k(config: Mapping[str, Any]) -> int:
    """k for dashboards: PV_DASHBOARD_MIN_CELL (default 5), never below 3."""
    try:
        k = int(config.get("PV_DASHBOARD_MIN_CELL", DEFAULT_DASHBOARD_K))
    except (TypeError, ValueError):
        k = DEFAULT_DASHBOARD_K
    return max(k, MIN_K)


DEFAULT_EXPORT_K = 10


def export_k(config: Mapping[str, Any]) -> int:
    """k for what leaves the platform (evaluator pages, downloads, the evaluator API):
    PV_EXPORT_MIN_CELL (default 10), never below 3."""
    try:
        k = int(config.get("PV_EXPORT_MIN_CELL", DEFAULT_EXPORT_K))
    except (TypeError, ValueError):
        k = DEFAULT_EXPORT_K
    return max(k, MIN_K)


def current_k() -> int:
    """The dashboard k of the running application (5 outside one)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return DEFAULT_DASHBOARD_K
    return dashboard_k(current_app.config)


def is_small(n: int | None, k: int) -> bool:
    """A count of people that may not be shown at k: between 1 and k-1."""
    return n is not None and 1 <= n < max(int(k), MIN_K)
