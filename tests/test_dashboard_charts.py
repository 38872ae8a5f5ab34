"""Server-built SVG charts: accessible, escaped, no style attribute, colour never alone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pvplatform.indicators.charts import (
    PLOT_WIDTH,
    Bar,
    BarGroup,
    Marker,
    Series,
    bar_chart,
    grouped_bar_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # Our own markup, built in the test: well-formed XML, or this raises.
    return ET.fromstring(str(markup))  # noqa: S314


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if "chart-bar" in (r.get("class") or "")]


def test_bar_chart_is_an_image_with_title_description_and_texts():
    svg = bar_chart("chart-x", "Answers", "Share of proposals answered.", [
        Bar("Answered", 0.5, "50% (n = 12)", "ok"),
        Bar("Within 30 days", 0.25, "25% (n = 8)", "warning"),
        Bar("Reasons", None, "suppressed"),
    ], scale_max=1.0, markers=[Marker(0.5, "50%")])
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-x-title chart-x-desc"
    assert root.find(f"{SVG}title").text == "Answers"
    assert root.find(f"{SVG}title").get("id") == "chart-x-title"
    assert root.find(f"{SVG}desc").text == "Share of proposals answered."
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Answered", "50% (n = 12)", "25% (n = 8)", "suppressed", "50%"} <= set(texts)
    drawn = bars(root)
    assert len(drawn) == 2  # nothing drawn for a value that is suppressed
    assert float(drawn[0].get("width")) == PLOT_WIDTH / 2
    # Tones differ by pattern as well as colour.
    patterns = {p.get("id"): p for p in root.iter(f"{SVG}pattern")}
    assert drawn[0].get("fill") == "url(#chart-x-ok)"
    assert drawn[1].get("fill") == "url(#chart-x-warning)"
    assert patterns["chart-x-warning"].find(f"{SVG}line") is not None
    assert patterns["chart-x-ok"].find(f"{SVG}line") is None
    assert "style=" not in str(svg) and "<script" not in str(svg)


def test_labels_are_escaped_and_long_ones_shortened():
    evil = '<script>alert("x")</script> & a very long category label indeed'
    svg = bar_chart("c", evil, evil, [Bar(evil, 2.0, evil)])
    text = str(svg)
    assert "<script>" not in text and "&lt;script&gt;" in text
    root = parse(svg)
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    assert labels[0].endswith("…") and len(labels[0]) <= 26


def test_values_beyond_the_scale_are_cut_with_an_arrow():
    root = parse(bar_chart("r", "Ratio", "d", [Bar("a", 5.0, "5.00"), Bar("b", 1.0, "1.00")],
                           scale_max=2.5))
    drawn = bars(root)
    assert float(drawn[0].get("width")) == PLOT_WIDTH
    assert float(drawn[1].get("width")) == PLOT_WIDTH / 2.5
    assert len(list(root.iter(f"{SVG}path"))) == 1


def test_grouped_chart_has_a_legend_per_series():
    svg = grouped_bar_chart(
        "g", "Shares", "Attendees beside population",
        [Series("Attendees", "s-attendees"), Series("Population", "reference")],
        [BarGroup("18-29", (Bar("Attendees", 0.1, "10%", "s-attendees"),
                            Bar("Population", 0.2, "20%", "reference"))),
         BarGroup("30-44", (Bar("Attendees", None, "suppressed", "s-attendees"),
                            Bar("Population", 0.3, "30%", "reference")))],
        scale_max=1.0)
    root = parse(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("Attendees") == 1 and texts.count("Population") == 1  # the legend
    assert {"18-29", "30-44", "10%", "20%", "30%", "suppressed"} <= set(texts)
    assert len(bars(root)) == 3
    assert re.search(r'<pattern id="g-reference"', str(svg))


def test_empty_and_zero_charts_still_render():
    root = parse(bar_chart("z", "Nothing", "No data", [Bar("a", 0.0, "0"), Bar("b", None, "-")]))
    assert bars(root) == []
    root = parse(bar_chart("e", "Empty", "No rows", []))
    assert root.get("role") == "img"
