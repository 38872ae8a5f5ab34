"""Issue 13, the dashboard at a glance: each attendee share drawn with its Wilson 95% interval
against the population share (hidden with the share when it is suppressed), and each family's
chart first, its table behind a "See the figures" disclosure."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from flask import render_template_string
from flask_babel import force_locale, format_percent

from pvplatform.db import utcnow
from pvplatform.indicators.charts import (
    LABEL_WIDTH,
    PLOT_WIDTH,
    Bar,
    BarGroup,
    Series,
    grouped_bar_chart,
)
from pvplatform.indicators.dashboard import PERCENT, CategoryView, Figure
from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs
from pvplatform.indicators.funnel import attendee_share_rows
from pvplatform.indicators.overview import FAMILIES
from pvplatform.indicators.rows import IndicatorRow
from pvplatform.indicators.stats import wilson_interval
from pvplatform.indicators.suppression import PRIMARY, Cell, suppress
from pvplatform.participation.importer import import_package
from tests.examples import PULSE

SVG = "{http://www.w3.org/2000/svg}"
EN = {"Accept-Language": "en"}
JUNE = "2026-06-01T00:00:00Z"
K = 5  # the dashboard's k in the tests' configuration (PV_DASHBOARD_MIN_CELL's default)


def pct(value: float) -> str:
    """A share as the English dashboard prints it."""
    with force_locale("en"):
        return format_percent(value, "#,##0.#%")


# ---------------------------------------------------------------- the formula

@pytest.mark.parametrize(("successes", "trials", "expected"), [
    (0, 10, (0.0, 0.2775)),
    (5, 10, (0.2366, 0.7634)),
    (10, 10, (0.7225, 1.0)),
    (1, 1, (0.2065, 1.0)),
])
def test_wilson_interval_known_values(successes, trials, expected):
    low, high = wilson_interval(successes, trials)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == expected


@pytest.mark.parametrize(("successes", "trials"), [(1, 3), (7, 20), (81, 263), (499, 500)])
def test_wilson_bounds_are_the_shares_the_score_test_just_accepts(successes, trials):
    # Wilson's interval is every p with |p̂ - p| <= z·sqrt(p(1 - p)/n): its bounds solve the
    # equality, a characterisation independent of the closed form.
    z = 1.959964
    share = successes / trials
    for bound in wilson_interval(successes, trials, z):  # type: ignore[union-attr]
        assert (share - bound) ** 2 == pytest.approx(z * z * bound * (1 - bound) / trials,
                                                    abs=1e-12)


def test_wilson_interval_bounds_and_no_trials():
    assert wilson_interval(0, 0) is None
    assert wilson_interval(3, -1) is None
    assert wilson_interval(0, 10)[0] == 0.0  # type: ignore[index]
    assert wilson_interval(10, 10)[1] == 1.0  # type: ignore[index]  # exactly, not 0.999...
    # Symmetric: k of n mirrors n - k of n.
    low, high = wilson_interval(3, 17)  # type: ignore[misc]
    mirror_low, mirror_high = wilson_interval(14, 17)  # type: ignore[misc]
    assert low == pytest.approx(1 - mirror_high) and high == pytest.approx(1 - mirror_low)
    # A wider z gives a wider interval around the same share.
    narrow = wilson_interval(3, 17, z=1.0)
    assert narrow is not None and narrow[0] > low and narrow[1] < high


# ---------------------------------------------------------------- the engine's rows

def _by_key(rows: list[IndicatorRow]) -> dict[tuple[str, str, str], IndicatorRow]:
    return {(r.code, r.dimension, r.category): r for r in rows}


def test_each_share_has_its_interval_rows_with_the_same_n():
    rows = [
        IndicatorRow("representation_ratio", 0.8, 7, dimension="age", category="young"),
        IndicatorRow("representation_ratio", 1.1, 13, dimension="age", category="old"),
        IndicatorRow("dissimilarity", 0.1, 20, dimension="age"),
        IndicatorRow("representation_ratio", None, 0, dimension="zone", category="north"),
        IndicatorRow("dissimilarity", None, 0, dimension="zone"),
    ]
    by = _by_key(attendee_share_rows(rows))
    for category, a_c in (("young", 7), ("old", 13)):
        share = by[("attendee_share", "age", category)]
        low = by[("attendee_share_low", "age", category)]
        high = by[("attendee_share_high", "age", category)]
        expected = wilson_interval(a_c, 20)
        assert expected is not None
        assert (low.value, high.value) == (round(expected[0], 6), round(expected[1], 6))
        assert low.n == high.n == share.n == a_c
        assert low.value < share.value < high.value  # type: ignore[operator]
    # Nobody with a known category (A = 0): no share, no interval.
    assert by[("attendee_share", "zone", "north")].value is None
    assert by[("attendee_share_low", "zone", "north")].value is None
    assert by[("attendee_share_high", "zone", "north")].value is None


@pytest.fixture
def pulse(db):
    process = import_package(PULSE, now=utcnow())
    db.session.commit()
    return process


def _reading(process_id: int):
    inputs = gather_dashboard_inputs(process_id, datetime(2026, 6, 1, tzinfo=UTC))
    cells = suppress(inputs.rows + inputs.extra_rows, K)
    by = {(c.row.code, c.row.dimension, c.row.category): c for c in cells}
    return inputs, by


def test_the_engine_gives_intervals_that_suppression_hides_with_their_share(app, pulse):
    with app.test_request_context():
        inputs, by = _reading(pulse.id)
    known = {r.dimension: r.n for r in inputs.rows if r.code == "dissimilarity"}
    categories = [(r.dimension, r.category, r.n) for r in inputs.rows
                  if r.code == "representation_ratio"]
    assert categories
    hidden = 0
    for dimension, category, a_c in categories:
        expected = wilson_interval(a_c, known[dimension])
        assert expected is not None
        low = by[("attendee_share_low", dimension, category)]
        high = by[("attendee_share_high", dimension, category)]
        assert (low.row.value, high.row.value) == (round(expected[0], 6), round(expected[1], 6))
        share = by[("attendee_share", dimension, category)]
        assert low.suppressed == high.suppressed == share.suppressed
        hidden += share.suppressed
    assert hidden >= 2  # the process has a small category and its companion: the test bites


# ---------------------------------------------------------------- the presenter's cell

def _figure(code: str, value: float, n: int, reason: str = "") -> Figure:
    row = IndicatorRow(code, value, n, dimension="age", category="young")
    return Figure(Cell(row, reason), PERCENT, K)


def _category(share_reason: str = "", bound_reason: str = "") -> CategoryView:
    ratio = _figure("representation_ratio", 0.8, 12)
    return CategoryView(
        category="young", label="Young", population_share=0.3, population_text="30%",
        attendee_share=_figure("attendee_share", 0.24, 12, share_reason), attendees=ratio,
        ratio=ratio, band="ok", band_word="", band_short="", p_value=ratio, evidence="",
        evidence_tone="", active_ratio=ratio, active_count=ratio,
        share_low=_figure("attendee_share_low", 0.14, 12, bound_reason),
        share_high=_figure("attendee_share_high", 0.38, 12, bound_reason))


def test_a_suppressed_share_has_no_interval_whatever_its_bounds_say(app):
    with app.test_request_context(headers=EN):
        shown = _category()
        assert shown.interval == (0.14, 0.38)
        assert shown.interval_text == f"{pct(0.14)}–{pct(0.38)}"
        # The share hidden, its bounds left shown by mistake: still no interval.
        hidden = _category(share_reason=PRIMARY)
        assert hidden.interval is None and hidden.interval_text == "suppressed"
        assert _category(bound_reason=PRIMARY).interval is None
        # The table's cell, from the macro the representativeness table uses.
        cell = render_template_string(
            '{% import "indicators/_charts.html" as c with context %}{{ c.interval(cat) }}',
            cat=hidden)
        assert "suppressed" in cell and "is-suppressed" in cell and "%" not in cell
        cell = render_template_string(
            '{% import "indicators/_charts.html" as c with context %}{{ c.interval(cat) }}',
            cat=shown)
        assert html.unescape(cell).count(pct(0.14)) == 1 and pct(0.38) in html.unescape(cell)


# ---------------------------------------------------------------- the chart

def parse(markup: str) -> ET.Element:
    # Our own markup, built by the application: well-formed XML, or this raises.
    return ET.fromstring(markup)  # noqa: S314


def whiskers(root: ET.Element) -> list[list[float]]:
    """The x coordinates in each whisker's path (its ink, not its halo)."""
    found = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "chart-interval":
            ink = group.findall(f"{SVG}path")[-1]
            found.append([float(x) for x in re.findall(r"[MH](-?[\d.]+)", ink.get("d", ""))])
    return found


def test_the_grouped_chart_draws_a_whisker_from_low_to_high():
    root = parse(str(grouped_bar_chart(
        "w", "Shares", "Attendees beside population",
        [Series("Attendees", "s-attendees"), Series("Population", "reference")],
        [BarGroup("18-29", (Bar("Attendees", 0.32, "32% (21%–45%)", "s-attendees",
                                interval=(0.21, 0.45)),
                            Bar("Population", 0.2, "20%", "reference"))),
         BarGroup("30-44", (Bar("Attendees", 0.0, "0% (0%–28%)", "s-attendees",
                                interval=(0.0, 0.28)),
                            Bar("Population", 0.3, "30%", "reference"))),
         BarGroup("45-59", (Bar("Attendees", None, "suppressed", "s-attendees"),
                            Bar("Population", 0.5, "50%", "reference")))],
        scale_max=1.0)))
    drawn = whiskers(root)
    assert len(drawn) == 2  # none for the suppressed bar
    for (low, high), xs in zip(((0.21, 0.45), (0.0, 0.28)), drawn, strict=True):
        assert min(xs) == pytest.approx(LABEL_WIDTH + low * PLOT_WIDTH, abs=0.05)
        assert max(xs) == pytest.approx(LABEL_WIDTH + high * PLOT_WIDTH, abs=0.05)
    # The value's text comes after the whisker's end, not under it.
    texts = {t.text: float(t.get("x", 0)) for t in root.iter(f"{SVG}text")}
    assert texts["32% (21%–45%)"] > LABEL_WIDTH + 0.45 * PLOT_WIDTH
    # A chart without intervals is drawn as before.
    plain = parse(str(grouped_bar_chart("p", "t", "d", [Series("A", "s-attendees")],
                                        [BarGroup("x", (Bar("A", 0.5, "50%", "s-attendees"),))],
                                        scale_max=1.0)))
    assert whiskers(plain) == [] and 'class="chart-interval"' not in ET.tostring(plain).decode()


def test_a_long_text_near_the_right_edge_stays_in_the_chart():
    root = parse(str(grouped_bar_chart(
        "e", "t", "d", [Series("A", "s-attendees")],
        [BarGroup("x", (Bar("A", 0.97, "97% of attendees (95% interval 90.1%–99.2%)",
                            "s-attendees", interval=(0.901, 0.992)),))], scale_max=1.0)))
    (value,) = [t for t in root.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert value.get("text-anchor") == "end" and float(value.get("x", 0)) <= 720


def share_chart(page: str, dimension: str) -> ET.Element:
    start = page.index(f'aria-labelledby="chart-share-{dimension}-title')
    start = page.rindex("<svg", 0, start)
    return parse(page[start:page.index("</svg>", start) + len("</svg>")])


def groups_of(root: ET.Element) -> dict[str, list[ET.Element]]:
    """Each category's label and the elements drawn after it, up to the next label."""
    groups: dict[str, list[ET.Element]] = {}
    current: list[ET.Element] | None = None
    for element in root.iter():
        if element.tag == f"{SVG}text" and element.get("class") == "chart-label":
            current = groups.setdefault(element.text or "", [])
        elif current is not None:
            current.append(element)
    return groups


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def representativeness(client, login_as, staff, pulse) -> str:
    login_as(staff)
    response = client.get(f"/manage/processes/{pulse.id}/dashboard/representativeness"
                          f"?as_of={JUNE}", headers=EN)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_share_chart_shows_each_interval_in_lines_and_words(app, pulse,
                                                                representativeness):
    with app.test_request_context(headers=EN):
        inputs, by = _reading(pulse.id)
    dimensions = sorted({r.dimension for r in inputs.rows if r.code == "representation_ratio"})
    shown = hidden = 0
    for dimension in dimensions:
        root = share_chart(representativeness, dimension)
        desc = root.find(f"{SVG}desc")
        assert desc is not None and "95% confidence" in (desc.text or "")
        texts = [t.text or "" for t in root.iter(f"{SVG}text")]
        assert "95% interval of attendees" in texts  # the legend names the whisker
        for r in inputs.rows:
            if r.code != "representation_ratio" or r.dimension != dimension:
                continue
            share = by[("attendee_share", dimension, r.category)]
            low = by[("attendee_share_low", dimension, r.category)].row.value
            high = by[("attendee_share_high", dimension, r.category)].row.value
            words = (f"{pct(share.row.value)} of attendees (95% interval "
                     f"{pct(low)}–{pct(high)})")
            if share.suppressed:
                hidden += 1
                assert words not in texts
                assert not any(f"{pct(low)}–" in t or f"–{pct(high)}" in t for t in texts)
            else:
                shown += 1
                assert words in texts
        drawn = whiskers(root)
        assert len(drawn) == sum(
            1 for r in inputs.rows if r.code == "representation_ratio"
            and r.dimension == dimension and not by[("attendee_share", dimension,
                                                     r.category)].suppressed)
        # A suppressed category's group holds no whisker.
        for elements in groups_of(root).values():
            if any(e.text == "suppressed" for e in elements):
                assert not any(e.get("class") == "chart-interval" for e in elements)
    assert shown and hidden


def test_the_share_table_has_a_95_interval_column(app, pulse, representativeness):
    with app.test_request_context(headers=EN):
        inputs, by = _reading(pulse.id)
    page = html.unescape(representativeness)
    checked = set()
    for r in inputs.rows:
        if r.code != "representation_ratio":
            continue
        table = page.split(f"Attendee share and population share: {r.dimension}<")[1]
        table = table.split("</table>")[0]
        assert "<th scope=\"col\">95% interval</th>" in table
        (row,) = re.findall(rf'<tr data-category="{re.escape(r.category)}">(.*?)</tr>', table,
                            re.S)
        share = by[("attendee_share", r.dimension, r.category)]
        low = by[("attendee_share_low", r.dimension, r.category)].row.value
        high = by[("attendee_share_high", r.dimension, r.category)].row.value
        if share.suppressed:
            assert "–" not in row and row.count("suppressed") >= 2
        else:
            assert f'<span class="dash-interval">{pct(low)}–{pct(high)}</span>' in row
        checked.add(share.suppressed)
    assert checked == {True, False}


# ---------------------------------------------------------------- "See the figures"

def test_each_family_puts_its_chart_first_and_its_table_behind_a_disclosure(client, login_as,
                                                                           staff, pulse):
    login_as(staff)
    disclosed = 0
    for family in FAMILIES:
        page = client.get(f"/manage/processes/{pulse.id}/dashboard/{family}?as_of={JUNE}",
                          headers=EN).get_data(as_text=True)
        main = page[page.index("<main"):page.index("</main>")]
        charts = main.count("<svg")
        disclosures = re.findall(
            r'</svg>\s*</div>\s*<details class="figures">\s*<summary>See the figures</summary>'
            r"(.*?)</details>", main, re.S)
        # Every chart is followed by its table, behind the disclosure; a table without a
        # chart stays in sight.
        assert len(disclosures) == charts, family
        assert all("<table" in d and "<caption>" in d for d in disclosures), family
        assert main.count('<details class="figures">') == charts, family
        disclosed += charts
    assert disclosed >= 4
