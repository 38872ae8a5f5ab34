"""Small-cell suppression of the dashboard (`suppression.suppress`), reusable by exports."""

from __future__ import annotations

import pytest

from pvplatform.indicators.rows import IndicatorRow
from pvplatform.indicators.suppression import (
    PRIMARY,
    SECONDARY,
    dashboard_k,
    suppress,
)


def ratio_rows(counts: dict[str, int], dimension: str = "age") -> list[IndicatorRow]:
    return [IndicatorRow("representation_ratio", 1.0 if n else 0.0, n, dimension=dimension,
                         category=category) for category, n in counts.items()]


def reasons(cells) -> dict[str, str]:
    return {c.row.category or str(c.row.session_id or c.row.group): c.reason for c in cells}


def test_primary_suppression_hides_counts_between_one_and_k_minus_one():
    rows = [IndicatorRow("retention", 0.5, n) for n in (0, 1, 4, 5, 40)]
    cells = suppress(rows, 5)
    assert [c.reason for c in cells] == ["", PRIMARY, PRIMARY, "", ""]
    assert [c.value for c in cells] == [0.5, None, None, 0.5, 0.5]
    assert [c.n for c in cells] == [0, None, None, 5, 40]
    assert [c.suppressed for c in cells] == [False, True, True, False, False]


def test_one_small_category_hides_the_next_smallest_too():
    cells = suppress(ratio_rows({"18-29": 3, "30-44": 12, "45-59": 9, "60+": 30}), 5)
    assert reasons(cells) == {"18-29": PRIMARY, "30-44": "", "45-59": SECONDARY, "60+": ""}
    # What is left cannot give the small cell back by subtraction from the total.
    shown = [c for c in cells if not c.suppressed]
    assert {c.row.category for c in shown} == {"30-44", "60+"}


def test_next_smallest_prefers_a_non_zero_cell_then_the_rows_order():
    cells = suppress(ratio_rows({"a": 2, "b": 0, "c": 7, "d": 7}), 5)
    assert reasons(cells) == {"a": PRIMARY, "b": "", "c": SECONDARY, "d": ""}
    only_zeros = suppress(ratio_rows({"a": 2, "b": 0, "c": 0}), 5)
    assert reasons(only_zeros) == {"a": PRIMARY, "b": SECONDARY, "c": ""}


def test_two_small_categories_need_no_secondary_and_dimensions_are_apart():
    rows = ratio_rows({"a": 1, "b": 2, "c": 50}) + ratio_rows({"x": 3, "y": 40, "z": 60}, "home")
    got = reasons(suppress(rows, 5))
    assert got == {"a": PRIMARY, "b": PRIMARY, "c": "", "x": PRIMARY, "y": SECONDARY, "z": ""}


def test_sessions_and_groups_are_partitions_too():
    rows = [IndicatorRow("no_show_rate", 0.1, n, session_id=sid)
            for sid, n in ((1, 4), (2, 30), (3, 12))]
    rows.append(IndicatorRow("no_show_rate", 0.1, 46))  # pooled: the total, always shown
    rows += [IndicatorRow("attendees", n, n, group=g)
             for g, n in (("all", 90), ("internal", 3), ("external", 87))]
    got = {(c.row.code, c.row.session_id, c.row.group): c.reason for c in suppress(rows, 5)}
    assert got[("no_show_rate", 1, "")] == PRIMARY
    assert got[("no_show_rate", 3, "")] == SECONDARY
    assert got[("no_show_rate", 2, "")] == ""
    assert got[("no_show_rate", None, "")] == ""
    assert got[("attendees", None, "internal")] == PRIMARY
    assert got[("attendees", None, "external")] == SECONDARY
    assert got[("attendees", None, "all")] == ""


def test_dict_rows_as_exports_have_them():
    rows = [{"code": "representation_ratio", "dimension": "d", "category": c, "group": "",
             "public_value": "", "session_id": "", "value": 0.5, "n": n}
            for c, n in (("a", 3), ("b", 6), ("c", 8))]
    cells = suppress(rows, 10)
    assert [c.reason for c in cells] == [PRIMARY, PRIMARY, PRIMARY]
    cells = suppress(rows, 5)
    assert [c.reason for c in cells] == [PRIMARY, SECONDARY, ""]
    assert cells[2].value == 0.5 and cells[2].n == 8


def test_k_is_never_below_three_and_counts_of_no_people_stay():
    rows = [IndicatorRow("answer_rate", 1.0, 2), IndicatorRow("duality_count", 0, 4)]
    assert [c.reason for c in suppress(rows, 1)] == [PRIMARY, ""]
    assert [c.reason for c in suppress(rows, 0)] == [PRIMARY, ""]


@pytest.mark.parametrize(("configured", "k"), [
    ({}, 5), ({"PV_DASHBOARD_MIN_CELL": 10}, 10), ({"PV_DASHBOARD_MIN_CELL": 2}, 3),
    ({"PV_DASHBOARD_MIN_CELL": "7"}, 7), ({"PV_DASHBOARD_MIN_CELL": "many"}, 5),
])
def test_dashboard_k_comes_from_config(configured, k):
    assert dashboard_k(configured) == k
