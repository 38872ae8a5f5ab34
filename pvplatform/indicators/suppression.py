"""The one suppression rule: what may be shown at k (INDICATORS.md, privacy).

A figure resting on 1..k-1 people is not shown, in tables, charts or sentences; where hiding one
cell of a total could be undone by subtraction, the next smallest is hidden too. k is 5 on staff
dashboards (PV_DASHBOARD_MIN_CELL), 10 for exports, and never below 3.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pvplatform.indicators.rows import Group

MIN_K = 3  # the contract's floor: a smaller k would make suppression meaningless
DEFAULT_DASHBOARD_K = 5

# Codes whose n counts no person nor anything a person did (duality_count: public values of the
# catalogue): nothing to protect, nothing to suppress.
NOT_ABOUT_PEOPLE = frozenset({"duality_count"})

PRIMARY = "small"  # resting on 1 to k-1 people
SECONDARY = "secondary"  # hidden so that a small cell cannot be recovered by subtraction


# ---------------------------------------------------------------- suppression

def get_field(row: Any, key: str) -> Any:
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
    """A row as it may be shown: `value` and `n` are None when suppressed."""

    row: Any
    reason: str = ""  # "", PRIMARY or SECONDARY

    @property
    def suppressed(self) -> bool:
        return bool(self.reason)

    @property
    def value(self) -> Any:
        return None if self.reason else get_field(self.row, "value")

    @property
    def n(self) -> int | None:
        return None if self.reason else get_field(self.row, "n")


def suppress(rows: Iterable[Any], k: int, *,
             partition: Callable[[Any], Hashable | None] = default_partition,
             exempt: frozenset[str] = NOT_ABOUT_PEOPLE) -> list[Cell]:
    """Small-cell suppression, in the rows' order.

    Primary: a row whose n is between 1 and k-1 is suppressed (a 0 is shown: nobody to protect),
    unless its code is in `exempt` (an n that counts no people).
    Secondary: within a partition (rows adding up to a reported total, see default_partition),
    when exactly one row is suppressed, the next smallest is suppressed too (smallest n first,
    a non-zero n before a zero, ties in the rows' order), so that subtracting the shown rows
    from the total gives only the sum of two hidden cells. With two or more suppressed, the
    total minus the others is already a sum of hidden cells.

    Rows are IndicatorRow objects or dicts with the same keys (code, dimension, category,
    group, public_value, session_id, value, n). k below the contract's floor of 3 counts as 3.
    """
    rows = list(rows)
    k = max(int(k), MIN_K)
    reasons = []
    for row in rows:
        n = get_field(row, "n") or 0
        small = 1 <= n < k and get_field(row, "code") not in exempt
        reasons.append(PRIMARY if small else "")
    partitions: dict[Hashable, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        key = partition(row)
        if key is not None:
            partitions[key].append(i)
    for members in partitions.values():
        hidden = [i for i in members if reasons[i]]
        shown = [i for i in members if not reasons[i]]
        if len(hidden) == 1 and shown:
            def order(i: int) -> tuple[int, int, int]:
                n = get_field(rows[i], "n") or 0
                return (0 if n > 0 else 1, n, i)

            reasons[min(shown, key=order)] = SECONDARY
    return [Cell(row, reason) for row, reason in zip(rows, reasons, strict=True)]


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
