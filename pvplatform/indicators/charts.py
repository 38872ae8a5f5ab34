"""Horizontal bar charts as inline SVG markup, built on the server (no script, no CDN).

The strict CSP forbids `style` attributes, so every visual property is an SVG presentation
attribute (fill, stroke, font-size...) or a CSS class of app.css. Each chart is an image with
its own title and description (`role="img"`), writes every value as text beside its bar, and
marks tones with patterns as well as colours: colour is never the only signal. The page puts a
data table right after each chart as its text alternative.

Builders take display-ready values (already suppressed and formatted by the presenter): a bar
without a value draws nothing and shows its text (for instance "suppressed").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
LABEL_WIDTH = 170
TEXT_WIDTH = 230
PLOT_WIDTH = WIDTH - LABEL_WIDTH - TEXT_WIDTH - 10
BAR_HEIGHT = 18
ROW_GAP = 10
FONT_SIZE = 12
LABEL_CHARS = 26
TEXT_CHAR_WIDTH = 6.5  # a character of the values' text at FONT_SIZE, about, in px

# Tone -> (fill colour, pattern): the pattern keeps tones apart without colour vision.
TONES: dict[str, tuple[str, str]] = {
    "neutral": ("#0b5cad", "solid"),
    "ok": ("#1c7c3a", "solid"),
    "warning": ("#9a5b00", "hatch"),
    "alert": ("#b3261e", "cross"),
    "reference": ("#5a6572", "dots"),
    "muted": ("#8a949f", "solid"),
    # Series of one chart (funnel steps, attendees): told apart by pattern and legend as well.
    "s-attendees": ("#0b5cad", "solid"),
    "s-active": ("#6a3d9a", "hatch"),
    "s-invited": ("#5a6572", "dots"),
    "s-registered": ("#0b5cad", "hatch"),
    "s-attended": ("#1c7c3a", "solid"),
    "s-walk-ins": ("#9a5b00", "cross"),
}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: nothing drawn (no data, or suppressed)
    text: str  # what the bar says in words, printed after it
    tone: str = "neutral"
    # (low, high): an interval drawn as a whisker over the bar (a share's 95% interval); the
    # bar's text should say it in words too. None: no whisker.
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class Series:
    name: str
    tone: str


@dataclass(frozen=True)
class BarGroup:
    label: str
    bars: tuple[Bar, ...]  # one per series, in the series' order


@dataclass(frozen=True)
class Marker:
    value: float
    label: str


def _shorten(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _patterns(chart_id: str, tones: set[str]) -> str:
    parts = []
    for tone in sorted(tones):
        colour, kind = TONES.get(tone, TONES["neutral"])
        pid = f"{chart_id}-{tone}"
        if kind == "solid":
            parts.append(f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">'
                         f'<rect width="8" height="8" fill="{colour}"/></pattern>')
        elif kind == "hatch":
            parts.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse"'
                         f' patternTransform="rotate(45)"><rect width="6" height="6"'
                         f' fill="{colour}"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff"'
                         f' stroke-width="2"/></pattern>')
        elif kind == "cross":
            parts.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse"'
                         f' patternTransform="rotate(45)"><rect width="6" height="6"'
                         f' fill="{colour}"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff"'
                         f' stroke-width="1.5"/><line x1="0" y1="3" x2="6" y2="3"'
                         f' stroke="#ffffff" stroke-width="1.5"/></pattern>')
        else:  # dots
            parts.append(f'<pattern id="{pid}" width="5" height="5" patternUnits="userSpaceOnUse">'
                         f'<rect width="5" height="5" fill="#ffffff"/><circle cx="2.5" cy="2.5"'
                         f' r="1.4" fill="{colour}"/></pattern>')
    return "<defs>" + "".join(parts) + "</defs>"


def _open(chart_id: str, title: str, desc: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" focusable="false"'
        f' aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {WIDTH} {height}"'
        f' width="100%" preserveAspectRatio="xMinYMin meet" font-size="{FONT_SIZE}"'
        f' font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )


def _scale(values: Sequence[float | None], scale_max: float | None,
           markers: Sequence[Marker]) -> float:
    """The value at the right end of the plot: a fixed scale (1 for shares) clips larger values
    (an arrow marks them), else the largest value or marker."""
    top = scale_max
    if top is None:
        top = max([v for v in values if v is not None] + [m.value for m in markers] + [0.0])
    return top if top > 0 else 1.0


def _bar(chart_id: str, bar: Bar, y: float, height: float, top: float) -> str:
    parts = []
    text_x = LABEL_WIDTH + 6
    if bar.value is not None and bar.value > 0:
        width = max(1.0, min(bar.value, top) / top * PLOT_WIDTH)
        tone = bar.tone if bar.tone in TONES else "neutral"
        colour = TONES[tone][0]
        parts.append(f'<rect class="chart-bar chart-bar-{tone}" x="{LABEL_WIDTH}" y="{y:.1f}"'
                     f' width="{width:.1f}" height="{height:.1f}" fill="url(#{chart_id}-{tone})"'
                     f' stroke="{colour}" stroke-width="1"/>')
        text_x = LABEL_WIDTH + width + 6
        if bar.value > top:  # clipped: an arrow says the bar goes on
            parts.append(f'<path d="M{LABEL_WIDTH + width - 6:.1f} {y:.1f} l6 {height / 2:.1f}'
                         f' l-6 {height / 2:.1f}z" fill="#ffffff"/>')
    anchor = ""
    if bar.interval is not None:
        # Drawn even without a bar: a share of 0 still has an interval above it.
        whisker, end = _whisker(bar.interval, y, height, top)
        parts.append(whisker)
        text_x = max(text_x, end + 6)
        # The text says the interval too, so it is long: when it would run off the chart,
        # it ends at the chart's edge instead, over the bar (its halo keeps it readable).
        if text_x + TEXT_CHAR_WIDTH * len(bar.text) > WIDTH - 4:
            text_x, anchor = WIDTH - 4, ' text-anchor="end"'
    # A white halo keeps the text readable where a marker line crosses it.
    parts.append(f'<text class="chart-value" x="{text_x:.1f}" y="{y + height / 2 + 4:.1f}"'
                 f'{anchor} fill="#1d2530" stroke="#ffffff" stroke-width="3"'
                 f' paint-order="stroke">{escape(bar.text)}</text>')
    return "".join(parts)


def _whisker(interval: tuple[float, float], y: float, height: float, top: float
             ) -> tuple[str, float]:
    """A horizontal line from low to high with a tick at each end, across the bar's middle;
    and its right end. Dark ink on a white halo, so it shows over the bar and beside it."""
    low, high = sorted(min(max(v, 0.0), top) for v in interval)
    x1 = LABEL_WIDTH + low / top * PLOT_WIDTH
    x2 = LABEL_WIDTH + high / top * PLOT_WIDTH
    return _whisker_at(x1, x2, y + height / 2, max(height / 2 - 1, 2.0)), x2


def _whisker_at(x1: float, x2: float, middle: float, tick: float, css: str = "chart-interval"
                ) -> str:
    d = (f"M{x1:.1f} {middle:.1f} H{x2:.1f} M{x1:.1f} {middle - tick:.1f} V{middle + tick:.1f}"
         f" M{x2:.1f} {middle - tick:.1f} V{middle + tick:.1f}")
    return (f'<g class="{css}"><path d="{d}" fill="none" stroke="#ffffff"'
            f' stroke-width="3" stroke-linecap="round"/><path d="{d}" fill="none"'
            f' stroke="#1d2530" stroke-width="1.5"/></g>')


def _markers(markers: Sequence[Marker], top: float, y0: float, y1: float) -> str:
    parts = []
    for marker in markers:
        if marker.value > top:
            continue
        x = LABEL_WIDTH + marker.value / top * PLOT_WIDTH
        parts.append(f'<line class="chart-marker" x1="{x:.1f}" y1="{y0 - 4:.1f}" x2="{x:.1f}"'
                     f' y2="{y1:.1f}" stroke="#1d2530" stroke-width="1"'
                     f' stroke-dasharray="3 3"/>'
                     f'<text x="{x:.1f}" y="{y0 - 8:.1f}" text-anchor="middle" font-size="10"'
                     f' fill="#1d2530">{escape(marker.label)}</text>')
    return "".join(parts)


def _axis(y0: float, y1: float) -> str:
    return (f'<line class="chart-axis" x1="{LABEL_WIDTH}" y1="{y0:.1f}" x2="{LABEL_WIDTH}"'
            f' y2="{y1:.1f}" stroke="#5a6572" stroke-width="1"/>')


def _label(text: str, y: float) -> str:
    return (f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{y:.1f}" text-anchor="end"'
            f' fill="#1d2530">{escape(_shorten(text))}</text>')


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar], *,
              scale_max: float | None = None, markers: Sequence[Marker] = ()) -> Markup:
    """One bar per row. `markers` draw labelled dashed lines (thresholds, parity at 1)."""
    top_margin = 26 if markers else 8
    height = top_margin + len(bars) * (BAR_HEIGHT + ROW_GAP) + 4
    top = _scale([b.value for b in bars], scale_max, markers)
    parts = [_open(chart_id, title, desc, height),
             _patterns(chart_id, {b.tone for b in bars if b.tone in TONES} or {"neutral"})]
    bottom = top_margin + len(bars) * (BAR_HEIGHT + ROW_GAP) - ROW_GAP + 4
    parts.append(_markers(markers, top, float(top_margin), bottom))
    y = float(top_margin)
    for bar in bars:
        parts.append(_label(bar.label, y + BAR_HEIGHT / 2 + 4))
        parts.append(_bar(chart_id, bar, y, BAR_HEIGHT, top))
        y += BAR_HEIGHT + ROW_GAP
    parts.append(_axis(top_margin - 4, bottom))
    parts.append("</svg>")
    # Safe markup: every text above went through escape().
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def grouped_bar_chart(chart_id: str, title: str, desc: str, series: Sequence[Series],
                      groups: Sequence[BarGroup], *, scale_max: float | None = None,
                      markers: Sequence[Marker] = (), interval_label: str = "") -> Markup:
    """Several bars per row (one per series, e.g. attendees beside the population), with a
    legend that names each series next to a swatch of its pattern. `interval_label`: what the
    bars' whiskers are ("95% interval"), named in the legend beside a sample whisker when a
    bar has one: the chart's description is not shown on the page."""
    legend_height = 24
    top_margin = legend_height + (26 if markers else 8)
    sub = BAR_HEIGHT - 4
    group_height = len(series) * sub + 2 * (len(series) - 1)
    height = top_margin + len(groups) * (group_height + ROW_GAP + 4) + 4
    top = _scale([b.value for g in groups for b in g.bars], scale_max, markers)
    tones = {s.tone for s in series} | {b.tone for g in groups for b in g.bars}
    parts = [_open(chart_id, title, desc, height),
             _patterns(chart_id, {t for t in tones if t in TONES} or {"neutral"})]
    x = float(LABEL_WIDTH)
    for item in series:
        tone = item.tone if item.tone in TONES else "neutral"
        parts.append(f'<rect x="{x:.1f}" y="4" width="14" height="14"'
                     f' fill="url(#{chart_id}-{tone})" stroke="{TONES[tone][0]}"/>'
                     f'<text x="{x + 20:.1f}" y="15" fill="#1d2530">{escape(item.name)}</text>')
        x += 30 + 7 * len(item.name)
    if interval_label and any(b.interval is not None for g in groups for b in g.bars):
        parts.append(_whisker_at(x, x + 14, 11, 6, "chart-interval-key")
                     + f'<text x="{x + 20:.1f}" y="15" fill="#1d2530">'
                     f'{escape(interval_label)}</text>')
    bottom = top_margin + len(groups) * (group_height + ROW_GAP + 4) - ROW_GAP
    parts.append(_markers(markers, top, float(top_margin), bottom))
    y = float(top_margin)
    for group in groups:
        parts.append(_label(group.label, y + group_height / 2 + 4))
        for i, bar in enumerate(group.bars):
            parts.append(_bar(chart_id, bar, y + i * (sub + 2), sub, top))
        y += group_height + ROW_GAP + 4
    parts.append(_axis(top_margin - 4, bottom))
    parts.append("</svg>")
    # Safe markup: every text above went through escape().
    return Markup("".join(parts))  # noqa: S704  # nosec B704


# ---------------------------------------------------------------- line chart (trends)

# Lines are told apart by colour, by the shape of their points and by their dash pattern, and
# the legend shows all three: colour is never the only signal.
LINE_COLOURS = ("#0b5cad", "#b3261e", "#1c7c3a", "#6a3d9a", "#9a5b00", "#00677f", "#8e2f6b",
                "#5a6572")
LINE_SHAPES = ("circle", "square", "triangle", "diamond", "triangle-down", "cross")
LINE_DASHES = ("", "7 4", "2 3", "9 3 2 3")
LINE_LEFT = 44
LINE_RIGHT = 24
LINE_PLOT_HEIGHT = 200
LINE_LABEL_CHARS = 20
LEGEND_ROW = 22


@dataclass(frozen=True)
class TrendSeries:
    name: str
    values: tuple[float | None, ...]  # one per point of the x axis; None draws nothing there


def _line_style(i: int) -> tuple[str, str, str]:
    """(colour, shape, dash) of the i-th series: all three change from one series to the
    next, and combine differently past their own lengths."""
    return (LINE_COLOURS[i % len(LINE_COLOURS)], LINE_SHAPES[i % len(LINE_SHAPES)],
            LINE_DASHES[(i + i // len(LINE_SHAPES)) % len(LINE_DASHES)])


def _point(shape: str, x: float, y: float, colour: str, size: float = 5.0) -> str:
    common = f'fill="{colour}" stroke="#ffffff" stroke-width="1"'
    if shape == "square":
        return (f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}"'
                f' height="{2 * size:.1f}" {common}/>')
    if shape == "triangle":
        return (f'<path d="M{x:.1f} {y - size - 1:.1f} l{size + 1:.1f} {2 * size + 1:.1f}'
                f' h{-2 * size - 2:.1f}z" {common}/>')
    if shape == "triangle-down":
        return (f'<path d="M{x:.1f} {y + size + 1:.1f} l{size + 1:.1f} {-2 * size - 1:.1f}'
                f' h{-2 * size - 2:.1f}z" {common}/>')
    if shape == "diamond":
        return (f'<path d="M{x:.1f} {y - size - 1:.1f} l{size + 1:.1f} {size + 1:.1f}'
                f' l{-size - 1:.1f} {size + 1:.1f} l{-size - 1:.1f} {-size - 1:.1f}z"'
                f' {common}/>')
    if shape == "cross":
        return (f'<path d="M{x - size:.1f} {y - size:.1f} L{x + size:.1f} {y + size:.1f}'
                f' M{x - size:.1f} {y + size:.1f} L{x + size:.1f} {y - size:.1f}"'
                f' stroke="{colour}" stroke-width="3" fill="none"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" {common}/>'


def _legend(series: Sequence[TrendSeries]) -> tuple[str, int]:
    """The legend (a swatch of line and point, then the name), wrapped in rows; its height."""
    parts = []
    x, y = float(LINE_LEFT), 4.0
    for i, item in enumerate(series):
        colour, shape, dash = _line_style(i)
        width = 40 + 7 * len(_shorten(item.name))
        if x + width > WIDTH and x > LINE_LEFT:
            x, y = float(LINE_LEFT), y + LEGEND_ROW
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x:.1f}" y1="{y + 8:.1f}" x2="{x + 26:.1f}" y2="{y + 8:.1f}"'
                     f' stroke="{colour}" stroke-width="2"{dashes}/>'
                     + _point(shape, x + 13, y + 8, colour, 4.0)
                     + f'<text x="{x + 32:.1f}" y="{y + 12:.1f}" fill="#1d2530">'
                     f'{escape(_shorten(item.name))}</text>')
        x += width
    return "".join(parts), int(y + LEGEND_ROW)


def line_chart(chart_id: str, title: str, desc: str, points: Sequence[str],
               series: Sequence[TrendSeries], *, scale_min: float = 1.0,
               scale_max: float = 5.0) -> Markup:
    """One line per series across the points of the x axis (sessions, in order), on a fixed
    scale with a labelled gridline at every whole value. A missing value (no data, or
    suppressed) breaks the line; a lone value is drawn as a point."""
    legend, legend_height = _legend(series)
    top = legend_height + 10
    bottom_labels = 86
    height = top + LINE_PLOT_HEIGHT + bottom_labels
    plot_width = WIDTH - LINE_LEFT - LINE_RIGHT
    span = (scale_max - scale_min) or 1.0

    def y_of(value: float) -> float:
        clipped = min(max(value, scale_min), scale_max)
        return top + LINE_PLOT_HEIGHT * (1 - (clipped - scale_min) / span)

    # The first label, slanted to the left of its point, must not run off the chart: about
    # 6.5 px a character at this font size, times cos 35°.
    first = LINE_LEFT + 16
    if points:
        first = max(first, 0.82 * 6.5 * len(_shorten_to(points[0], LINE_LABEL_CHARS)) + 4)
    last = WIDTH - LINE_RIGHT - 16

    def x_of(i: int) -> float:
        if len(points) <= 1:
            return max(first, LINE_LEFT + plot_width / 2)
        return first + i * (last - first) / (len(points) - 1)

    parts = [_open(chart_id, title, desc, height), legend]
    tick = scale_min
    while tick <= scale_max + 1e-9:
        y = y_of(tick)
        parts.append(f'<line class="chart-grid" x1="{LINE_LEFT}" y1="{y:.1f}"'
                     f' x2="{WIDTH - LINE_RIGHT}" y2="{y:.1f}" stroke="#d5dae0"'
                     f' stroke-width="1"/>'
                     f'<text x="{LINE_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end"'
                     f' fill="#1d2530">{escape(f"{tick:g}")}</text>')
        tick += 1.0
    parts.append(f'<line class="chart-axis" x1="{LINE_LEFT}" y1="{top:.1f}" x2="{LINE_LEFT}"'
                 f' y2="{top + LINE_PLOT_HEIGHT:.1f}" stroke="#5a6572" stroke-width="1"/>')
    for i, label in enumerate(points):
        x = x_of(i)
        y = top + LINE_PLOT_HEIGHT + 14
        parts.append(f'<text class="chart-label" x="{x:.1f}" y="{y:.1f}" text-anchor="end"'
                     f' transform="rotate(-35 {x:.1f} {y:.1f})" fill="#1d2530">'
                     f'{escape(_shorten_to(label, LINE_LABEL_CHARS))}</text>')
    for i, item in enumerate(series):
        colour, shape, dash = _line_style(i)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[tuple[float, float]] = []
        runs: list[list[tuple[float, float]]] = []
        for j, value in enumerate(item.values[:len(points)]):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append((x_of(j), y_of(value)))
        if run:
            runs.append(run)
        for segment in runs:
            if len(segment) > 1:
                coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
                parts.append(f'<polyline class="chart-line" points="{coords}" fill="none"'
                             f' stroke="{colour}" stroke-width="2"{dashes}/>')
            parts.extend(_point(shape, x, y, colour) for x, y in segment)
    parts.append("</svg>")
    # Safe markup: every text above went through escape().
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def _shorten_to(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


__all__ = ["Bar", "BarGroup", "Marker", "Series", "TrendSeries", "bar_chart",
           "grouped_bar_chart", "line_chart"]
