"""The process dashboard's presenter: engine rows in, display sections out, small cells suppressed.

Nothing here computes a figure: values come from the engine's rows (`compute_indicators_and_flags`
and the extra codes of `funnel`); this module only suppresses, formats and arranges them, and
builds the charts from the same, already suppressed, cells as the tables beside them.

`suppress(rows, k)` is the reusable small-cell rule of INDICATORS.md ("Privacy of what leaves
the platform"), for dashboards (k = 5) and, later, exports (k = 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import format_decimal, format_number, format_percent
from flask_babel import gettext as _
from markupsafe import Markup

from pvplatform.indicators import charts
from pvplatform.indicators.facts import AssociationAbsence
from pvplatform.indicators.funnel import DimensionInfo, SessionLabel, StratumInfo
from pvplatform.indicators.messages import (
    Hidden,
    evidence,
    flag_title,
    p_words,
    within_chance,
)
from pvplatform.indicators.rows import Group, IndicatorRow, Severity
from pvplatform.indicators.store import flag_key, render_flag_message
from pvplatform.indicators.suppression import (
    MIN_K,
    PRIMARY,
    Cell,
    current_k,
    flag_hidden,
    hidden_keys,
    suppress,
)
from pvplatform.indicators.suppression import get_field as _get
from pvplatform.indicators.thresholds import Thresholds
from pvplatform.participation.labels import NO_LABELS, ProcessLabels

# ---------------------------------------------------------------- formatted figures

PERCENT = "percent"
COUNT = "count"
DAYS = "days"
RATIO = "ratio"
DELTA = "delta"
INDEX = "index"  # a number between 0 and 1 that is not a share (Gini, dissimilarity)
MEAN = "mean"  # a mean score of a survey, 1 to 5
RATE = "rate"  # a number per 1,000 residents

# What n counts when it is not people: "seconds" prints it as speaking time in minutes.
SECONDS = "seconds"


def _format(value: Any, kind: str) -> str:
    if kind == PERCENT:
        return format_percent(value, "#,##0.#%")
    if kind == COUNT:
        return format_number(value)
    if kind == DAYS:
        return format_decimal(value, "#,##0.#")
    if kind == DELTA:
        text = format_decimal(value, "#,##0.00")
        return "+" + text if value > 0 else text
    if kind == RATE:
        # One decimal always: a rate, not a count of people.
        return _("%(value)s per 1,000 residents", value=format_decimal(value, "#,##0.0"))
    return format_decimal(value, "#,##0.00")


def minutes_text(seconds: int) -> str:
    """Speaking time in whole minutes, rounded ("less than a minute" below one)."""
    if 0 < seconds < 60:
        return _("less than a minute")
    return _("%(minutes)s min", minutes=format_number(round(seconds / 60)))


def p_text(p_value: float) -> str:
    """A p-value as the flags' evidence writes it (three decimals, "p < 0.001" below)."""
    if p_value < 0.001:
        return _("p < 0.001")
    return _("p = %(p)s", p=p_words(p_value))


def flag_evidence(p_value: float | None) -> str:
    """A flag's evidence in words, with its p-value ("" for a flag without a test)."""
    return "" if p_value is None else str(evidence(p_value))


BEYOND = "beyond"  # p below alpha: not what chance alone produces
WITHIN = "within"  # p at or above alpha: chance alone could produce it


@dataclass(frozen=True)
class Figure:
    """One figure of the dashboard with its n, ready to print."""

    cell: Cell | None  # None: the engine gave no such row
    kind: str
    k: int
    empty: str = ""  # what an empty (null, not suppressed) value says; "no data" by default
    n_kind: str = ""  # SECONDS: n is speaking time, printed in minutes

    @property
    def code(self) -> str:
        return "" if self.cell is None else str(_get(self.cell.row, "code") or "")

    @property
    def raw(self) -> float | None:
        """The value for charts and comparisons (None when suppressed or empty)."""
        if self.cell is None or self.cell.value is None:
            return None
        return float(self.cell.value)

    @property
    def suppressed(self) -> bool:
        return self.cell is not None and self.cell.suppressed

    @property
    def text(self) -> str:
        if self.cell is not None and self.cell.reason == PRIMARY and self.kind == COUNT:
            return f"< {self.k}"  # a count between 1 and k-1: its n is itself
        if self.suppressed:
            return _("suppressed")
        if self.raw is None:
            return self.empty or _("no data")
        return _format(self.cell.value, self.kind)  # type: ignore[union-attr]

    @property
    def n_text(self) -> str:
        if self.cell is None:
            return "—"
        if self.cell.reason == PRIMARY and self.n_kind != SECONDS:
            return f"< {self.k}"
        if self.cell.n is None:
            return _("suppressed")
        if self.n_kind == SECONDS:
            return minutes_text(self.cell.n or 0)
        return format_number(self.cell.n or 0)

    @property
    def n(self) -> int | None:
        return None if self.cell is None else self.cell.n

    @property
    def with_n(self) -> str:
        """The figure with its n, for chart labels."""
        if self.suppressed:
            return _("suppressed (n %(n)s)", n=self.n_text)
        return _("%(value)s (n = %(n)s)", value=self.text, n=self.n_text)


class Figures:
    """Cells by key; `get` wraps one in a Figure (a missing row is an empty figure)."""

    def __init__(self, cells: Sequence[Cell], k: int) -> None:
        self.k = k
        self._cells = {_key(c.row): c for c in cells}

    def get(self, code: str, kind: str, *, empty: str = "", n_kind: str = "",
            **keys: Any) -> Figure:
        key = (code, keys.get("dimension", ""), keys.get("category", ""),
               str(keys.get("group", "")), keys.get("public_value", ""),
               keys.get("session_id"))
        return Figure(self._cells.get(key), kind, self.k, empty, n_kind)


def evidence_words(p: Figure, alpha: float, *, hidden: bool = False) -> tuple[str, str]:
    """(words, tone) of a test's p-value beside its figure: beyond chance (the flags' wording)
    below alpha, "within chance" otherwise, "—" without a test. `hidden`: the figure it tests
    is suppressed, and so is its p-value, which would give the hidden count back."""
    if hidden or p.suppressed:
        return _("suppressed"), ""
    if p.raw is None:
        return "—", ""
    if p.raw < alpha:
        return str(evidence(p.raw)), BEYOND
    return within_chance(p.raw), WITHIN


def _key(row: Any) -> tuple[Any, ...]:
    return (_get(row, "code"), _get(row, "dimension") or "", _get(row, "category") or "",
            str(_get(row, "group") or ""), _get(row, "public_value") or "",
            _get(row, "session_id"))


# ---------------------------------------------------------------- sections

@dataclass
class FlagView:
    code: str
    title: str
    severity: str
    severity_word: str
    icon: str
    message: str
    concerns: list[str]
    record_id: int | None = None  # a stored flag: it can be acknowledged
    first_raised_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledgement_note: str | None = None
    p_value: float | None = None  # the evidence of a statistical flag
    evidence: str = ""  # that evidence in words, with its p-value
    # "": stored and still raised by the figures; UNRECORDED: raised by the figures, stored at
    # the next refresh; OUTDATED: stored, no longer raised, cleared at the next refresh.
    status: str = ""


UNRECORDED = "unrecorded"
OUTDATED = "outdated"


@dataclass
class SessionFunnelView:
    title: str
    starts_at: datetime
    held: bool
    invited: Figure
    registered: Figure
    attended: Figure
    walk_ins: Figure
    no_show_rate: Figure


@dataclass
class CategoryView:
    category: str
    label: str
    population_share: float | None
    population_text: str
    attendee_share: Figure
    attendees: Figure
    ratio: Figure
    band: str  # chart tone: ok, warning, alert, muted
    band_word: str
    band_short: str  # the band in a few words, for the chart
    p_value: Figure  # representation_p (Holm-corrected exact binomial test)
    evidence: str  # the test in words: beyond chance (with p), within chance, or "—"
    evidence_tone: str  # BEYOND, WITHIN or ""
    active_ratio: Figure  # the same ratio over external active participants
    active_count: Figure  # their count in the category
    # The bounds of the attendee share's Wilson 95% interval (attendee_share_low/_high).
    share_low: Figure | None = None
    share_high: Figure | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The share's 95% interval, None when there is none to show. Its bounds give the
        category's count back roughly: hidden whenever the share is, whatever their own cells
        say (suppress() hides them together, as they have the share's n)."""
        if self.share_low is None or self.share_high is None or self.attendee_share.suppressed:
            return None
        low, high = self.share_low.raw, self.share_high.raw
        if low is None or high is None or self.share_low.suppressed or self.share_high.suppressed:
            return None
        return low, high

    @property
    def interval_text(self) -> str:
        """The interval in words for the table ("21%–45%"), "suppressed" with the share."""
        if self.attendee_share.suppressed:
            return _("suppressed")
        interval = self.interval
        if interval is None:
            return "—"
        return _("%(low)s–%(high)s", low=_share_text(interval[0]),
                 high=_share_text(interval[1]))


@dataclass
class DimensionView:
    dimension: str
    label: str
    placeholder_shares: bool
    known: Figure  # A, as the n of dissimilarity
    known_share: Figure
    dissimilarity: Figure
    strata_not_reached: Figure
    categories: list[CategoryView]
    active_known: Figure  # external active participants known in the dimension
    active_known_share: Figure
    active_dissimilarity: Figure
    share_chart: Markup | None = None
    ratio_chart: Markup | None = None
    active_chart: Markup | None = None


@dataclass
class PerceptionGroupView:
    """One group's baseline and final survey of a public value."""

    group: str
    label: str
    baseline: Figure
    final: Figure
    delta: Figure  # n: matched participants (answered both)
    improved: Figure
    worsened: Figure
    sign_p: Figure
    evidence: str  # the sign test in words
    evidence_tone: str


@dataclass
class PerceptionView:
    public_value: str
    name: str
    internal: Figure
    external: Figure
    opposite: bool  # both shown, moved in opposite directions
    duality: bool  # the contract's value_duality condition holds (a flag is raised)
    direction: str
    groups: list[PerceptionGroupView]


@dataclass
class ResponseView:
    label: str  # the group in words
    baseline: Figure
    final: Figure


@dataclass
class PulseView:
    """Session pulses: the mean score of each pulsed value after each held session."""

    values: list[str]  # labels of the public values asked about in a pulse, in column order
    sessions: list[tuple[str, list[Figure]]]  # (session title, one figure per value)


@dataclass
class AbsenceView:
    name: str
    sessions_in_a_row: int
    flagged: bool


@dataclass
class Dashboard:
    as_of: datetime
    k: int
    flags: list[FlagView]
    sessions: list[SessionFunnelView]
    funnel_chart: Markup | None
    pooled: dict[str, Figure]
    dimensions: list[DimensionView]
    non_participation: dict[str, Figure]
    attrition: list[tuple[str, Figure]]
    absences: list[AbsenceView]
    voice: dict[str, Figure]
    voice_chart: Markup | None
    online: dict[str, Figure]
    speaking: dict[str, Figure]
    speaking_recorded: bool  # any speaking turn counted (held sessions ended at T)
    responsiveness: dict[str, Figure]
    responsiveness_chart: Markup | None
    perceptions: list[PerceptionView]
    duality_count: Figure
    responses: list[ResponseView]
    pulses: PulseView
    alpha: float
    any_suppressed: bool = False

    @property
    def alpha_text(self) -> str:
        return format_decimal(self.alpha, "0.####")


def _severity(severity: str) -> tuple[str, str]:
    if severity == Severity.ALERT:
        return _("Alert"), "▲"
    return _("Warning"), "●"


def group_word(group: str) -> str:
    return {
        Group.INTERNAL: _("internal (managers and elected officials)"),
        Group.EXTERNAL: _("external (residents and associations)"),
        Group.ALL: _("everyone"),
    }.get(group, group)


def _concerns(flag: Any, sessions: Mapping[int, str], associations: Mapping[int, str],
              labels: ProcessLabels, values: Mapping[str, str]) -> list[str]:
    words = []
    dimension, category = _get(flag, "dimension"), _get(flag, "category")
    if dimension:
        name = labels.dimension(dimension)
        words.append(_("%(dimension)s: %(category)s", dimension=name,
                       category=labels.category(dimension, category))
                     if category else _("Dimension: %(dimension)s", dimension=name))
    session_id = _get(flag, "session_id")
    if session_id is not None:
        words.append(_("Session: %(title)s",
                       title=sessions.get(session_id, _("deleted session"))))
    association_id = _get(flag, "association_id")
    if association_id is not None:
        words.append(_("Association: %(name)s",
                       name=associations.get(association_id, _("deleted association"))))
    group = _get(flag, "group")
    if group:
        words.append(_("Group: %(group)s", group=group_word(str(group))))
    value = _get(flag, "public_value")
    if value:
        words.append(_("Public value: %(name)s", name=values.get(value, value)))
    if not words:
        words.append(_("The whole process"))
    return words


def flag_views(flags: Sequence[Any], *, sessions: Mapping[int, str],
               associations: Mapping[int, str], labels: ProcessLabels,
               values: Mapping[str, str], status: str = "", k: int | None = None,
               hidden: Hidden | None = None) -> list[FlagView]:
    """Flags (engine FlagRow or stored FlagRecord), alerts first; their messages state no count
    of people between 1 and k-1 (k: the application's dashboard k when None), nor a figure of
    a row `hidden` hides (the reading's rows and their suppression reasons; without it, every
    figure that repeats a row is hidden)."""
    k_shown = current_k() if k is None else k
    views = []
    for flag in flags:
        severity = str(_get(flag, "severity"))
        word, icon = _severity(severity)
        stored = hasattr(flag, "first_raised_at")
        if stored:
            message = render_flag_message(flag, k, hidden)
        elif hasattr(flag.message, "render"):
            message = flag.message.render(k, hidden)
        else:
            message = str(flag.message)
        acknowledged_by = getattr(flag, "acknowledged_by", None) if stored else None
        p_value = _get(flag, "p_value")
        concealed = flag_hidden(flag, hidden, k_shown)
        views.append(FlagView(
            code=flag.code, title=flag_title(flag.code), severity=severity,
            severity_word=word, icon=icon, message=message,
            concerns=_concerns(flag, sessions, associations, labels, values),
            record_id=flag.id if stored else None,
            first_raised_at=flag.first_raised_at if stored else None,
            acknowledged_at=getattr(flag, "acknowledged_at", None),
            acknowledged_by=getattr(acknowledged_by, "display_name", None),
            acknowledgement_note=getattr(flag, "acknowledgement_note", None),
            p_value=None if concealed else p_value,
            evidence=(_("beyond chance (its p-value is not shown: it would reveal a small "
                        "count)") if concealed and p_value is not None
                      else flag_evidence(p_value)),
            status=status,
        ))
    views.sort(key=lambda v: (0 if v.severity == Severity.ALERT else 1))
    return views


def _band(ratio: Figure, t: Thresholds, evidence_tone: str = "") -> tuple[str, str, str]:
    """(tone, words, short words) of a representation ratio in the flag bands. A ratio outside
    the expected range whose test says chance alone could produce it (WITHIN) is shown as such,
    in a muted tone: no flag is raised on it."""
    if ratio.suppressed:
        return "muted", _("suppressed"), _("suppressed")
    value = ratio.raw
    if value is None:
        return "muted", _("no data"), _("no data")
    under = value < t.under_representation_warning
    over = value > t.over_representation_warning
    if evidence_tone == WITHIN and (under or over):
        if under:
            return ("muted", _("under-represented, but within chance"),
                    _("under, within chance"))
        return "muted", _("over-represented, but within chance"), _("over, within chance")
    if value < t.under_representation_alert:
        return "alert", _("alert: strongly under-represented"), _("alert, under")
    if under:
        return "warning", _("warning: under-represented"), _("warning, under")
    if value > t.over_representation_alert:
        return "alert", _("alert: strongly over-represented"), _("alert, over")
    if over:
        return "warning", _("warning: over-represented"), _("warning, over")
    return "ok", _("in the expected range"), _("in range")


def _share_text(value: float | None) -> str:
    return _("no data") if value is None else format_percent(value, "#,##0.#%")


def _dimensions(fig: Figures, rows: Sequence[IndicatorRow], strata: Mapping[tuple[str, str],
                StratumInfo], t: Thresholds, dimensions_info: Mapping[str, DimensionInfo],
                labels: ProcessLabels, draw_charts: bool = True) -> list[DimensionView]:
    dimensions = []
    names = sorted({r.dimension for r in rows if r.code == "known_share"})
    for dimension in names:
        categories = []
        for row in rows:
            if row.code != "representation_ratio" or row.dimension != dimension:
                continue
            keys = {"dimension": dimension, "category": row.category}
            info = strata.get((dimension, row.category), StratumInfo(None))
            ratio = fig.get("representation_ratio", RATIO, **keys)
            p_value = fig.get("representation_p", INDEX, **keys)
            # The p-value of a hidden count would give the count back: hidden with it.
            words, tone = evidence_words(p_value, t.alpha, hidden=ratio.suppressed)
            band, word, short = _band(ratio, t, tone)
            categories.append(CategoryView(
                category=row.category, label=labels.category(dimension, row.category),
                population_share=info.share,
                population_text=_share_text(info.share),
                attendee_share=fig.get("attendee_share", PERCENT, **keys),
                attendees=fig.get("representation_ratio", COUNT, **keys),
                ratio=ratio, band=band, band_word=word, band_short=short,
                p_value=p_value, evidence=words, evidence_tone=tone,
                active_ratio=fig.get("active_representation_ratio", RATIO, **keys),
                active_count=fig.get("active_representation_ratio", COUNT, **keys),
                share_low=fig.get("attendee_share_low", PERCENT, **keys),
                share_high=fig.get("attendee_share_high", PERCENT, **keys),
            ))
        placeholder = dimensions_info.get(dimension, DimensionInfo(False)).placeholder_shares
        view = DimensionView(
            dimension=dimension, label=labels.dimension(dimension),
            placeholder_shares=placeholder,
            known=fig.get("dissimilarity", COUNT, dimension=dimension),
            known_share=fig.get("known_share", PERCENT, dimension=dimension),
            dissimilarity=fig.get("dissimilarity", INDEX, dimension=dimension),
            strata_not_reached=fig.get("strata_not_reached", COUNT, dimension=dimension),
            categories=categories,
            active_known=fig.get("active_dissimilarity", COUNT, dimension=dimension),
            active_known_share=fig.get("active_known_share", PERCENT, dimension=dimension),
            active_dissimilarity=fig.get("active_dissimilarity", INDEX, dimension=dimension),
        )
        if categories and draw_charts:
            view.share_chart = _share_chart(view)
            view.ratio_chart = _ratio_chart(view, t)
            view.active_chart = _active_chart(view)
        dimensions.append(view)
    return dimensions


def _chart_id(*parts: str) -> str:
    cleaned = "-".join("".join(ch if ch.isalnum() else "_" for ch in p) for p in parts)
    return "chart-" + cleaned


def _share_chart(view: DimensionView) -> Markup:
    attendees = _("External attendees")
    population = _("Population")
    level = _share_text(0.95)  # "95%", "95 %": the interval's confidence level, localised
    groups = []
    for cat in view.categories:
        interval = cat.interval  # None where the share is suppressed: no whisker, no bounds
        if cat.attendee_share.suppressed:
            share_text = _("suppressed")
        elif interval is not None:
            share_text = _("%(value)s of attendees (%(level)s interval %(low)s–%(high)s)",
                           value=cat.attendee_share.text, level=level,
                           low=_share_text(interval[0]), high=_share_text(interval[1]))
        else:
            share_text = _("%(value)s of attendees", value=cat.attendee_share.text)
        groups.append(charts.BarGroup(cat.label, (
            charts.Bar(attendees, cat.attendee_share.raw, share_text, "s-attendees",
                       interval=interval),
            charts.Bar(population, cat.population_share,
                       _("%(value)s of the population", value=cat.population_text),
                       "reference"),
        )))
    return charts.grouped_bar_chart(
        _chart_id("share", view.dimension),
        _("Attendee share beside population share: %(dimension)s", dimension=view.label),
        _("For each category of %(dimension)s, the share of the external attendees whose "
          "category is known, beside the category's share of the population. The table "
          "below gives the same figures.", dimension=view.label)
        + " " + _("The line with end ticks over each attendee bar is the range in which the "
                  "true share lies with %(level)s confidence: where the population share "
                  "falls outside it, the gap is not chance alone.", level=level),
        [charts.Series(attendees, "s-attendees"), charts.Series(population, "reference")],
        groups, scale_max=1.0,
        interval_label=_("%(level)s interval of attendees", level=level))


RATIO_SCALE = 2.5


def _ratio_chart(view: DimensionView, t: Thresholds) -> Markup:
    bars = [charts.Bar(cat.label, cat.ratio.raw,
                       cat.ratio.text if cat.ratio.raw is None
                       else f"{cat.ratio.text} · {cat.band_short}", cat.band)
            for cat in view.categories]
    # Ratios with a decimal always (1.0, 2.0): on a dashboard a whole number is a count.
    markers = [charts.Marker(value, format_decimal(value, "#,##0.0#"))
               for value in sorted({t.under_representation_alert,
                                    t.under_representation_warning, 1.0,
                                    t.over_representation_warning,
                                    t.over_representation_alert})]
    return charts.bar_chart(
        _chart_id("ratio", view.dimension),
        _("Representation ratio: %(dimension)s", dimension=view.label),
        _("Representation ratio of each category of %(dimension)s: 1 means attendees mirror the "
          "population; dashed lines mark the warning and alert bands. Bars beyond "
          "%(max)s are cut and marked with an arrow. The table below gives the same figures.",
          dimension=view.label, max=format_decimal(RATIO_SCALE)),
        bars, scale_max=RATIO_SCALE, markers=markers)


def _active_chart(view: DimensionView) -> Markup:
    attendees = _("External attendees")
    active = _("External active participants")
    groups = [charts.BarGroup(cat.label, (
        charts.Bar(attendees, cat.ratio.raw, cat.ratio.text, "s-attendees"),
        charts.Bar(active, cat.active_ratio.raw, cat.active_ratio.text, "s-active"),
    )) for cat in view.categories]
    return charts.grouped_bar_chart(
        _chart_id("active", view.dimension),
        _("Representation ratio of attendees and of active participants: %(dimension)s",
          dimension=view.label),
        _("For each category of %(dimension)s, the representation ratio of the external "
          "attendees beside that of all external active participants (who attended, "
          "contributed online or voted): 1 means they mirror the population. Bars beyond "
          "%(max)s are cut and marked with an arrow. The table below gives the same figures.",
          dimension=view.label, max=format_decimal(RATIO_SCALE)),
        [charts.Series(attendees, "s-attendees"), charts.Series(active, "s-active")],
        groups, scale_max=RATIO_SCALE,
        markers=[charts.Marker(1.0, format_decimal(1.0, "#,##0.0"))])


def _funnel_chart(sessions: Sequence[SessionFunnelView]) -> Markup | None:
    if not sessions:
        return None
    names = [(_("Invited"), "s-invited"), (_("Registered"), "s-registered"),
             (_("Attended"), "s-attended"), (_("Walk-ins"), "s-walk-ins")]
    groups = []
    for session in sessions:
        figures = (session.invited, session.registered, session.attended, session.walk_ins)
        groups.append(charts.BarGroup(session.title, tuple(
            charts.Bar(name, figure.raw, f"{name}: {figure.text}", tone)
            for (name, tone), figure in zip(names, figures, strict=True)
        )))
    return charts.grouped_bar_chart(
        "chart-funnel", _("Participation funnel per session"),
        _("For each session: people invited, registered, attended, and walk-ins (attendees "
          "without a registration). The table below gives the same figures."),
        [charts.Series(name, tone) for name, tone in names], groups)


def _rates_chart(chart_id: str, title: str, desc: str, items: Sequence[tuple[str, Figure]],
                 marker: float | None = None) -> Markup:
    bars = [charts.Bar(label, figure.raw, figure.with_n) for label, figure in items]
    markers = [charts.Marker(marker, format_percent(marker))] if marker is not None else []
    return charts.bar_chart(chart_id, title, desc, bars, scale_max=1.0, markers=markers)


def _group_short(group: str) -> str:
    """A group in a few words, for table rows (the flags say it in full)."""
    if group == Group.INTERNAL:
        return _("Internal: managers and elected officials")
    return _("External: residents and associations")


def _pulses(fig: Figures, rows: Sequence[IndicatorRow], sessions: Sequence[SessionLabel],
            public_values: Mapping[str, str]) -> PulseView:
    """Held sessions by public values asked about in a pulse (values never asked left out)."""
    asked = sorted({r.public_value for r in rows if r.code == "pulse_mean" and r.n > 0})
    held = [s for s in sessions if s.held]
    return PulseView(
        values=[public_values.get(code, code) for code in asked],
        sessions=[(s.title, [fig.get("pulse_mean", MEAN, public_value=code, session_id=s.id)
                             for code in asked]) for s in held])


def build_dashboard(*, as_of: datetime, k: int, rows: Sequence[IndicatorRow],
                    extra_rows: Sequence[IndicatorRow], sessions: Sequence[SessionLabel],
                    flags: Sequence[Any], thresholds: Thresholds,
                    strata: Mapping[tuple[str, str], StratumInfo],
                    public_values: Mapping[str, str],
                    absences: Sequence[AssociationAbsence],
                    associations: Mapping[int, str],
                    stored: Sequence[Any] | None = None,
                    outdated: Sequence[Any] = (),
                    dimensions: Mapping[str, DimensionInfo] | None = None,
                    labels: ProcessLabels | None = None,
                    draw_charts: bool = True) -> Dashboard:
    """`flags` are the engine's flags for the same instant as the rows. `stored`, when given,
    are the stored active flags the engine still raises (shown with their history and
    acknowledgement instead of their computed twin); `outdated` the stored ones it no longer
    raises. `labels` name dimensions and categories in the reader's language (without, their
    codes are shown)."""
    labels = labels or NO_LABELS
    # Public values by their names in the reader's language (the reading keeps the French).
    public_values = {**public_values, **labels.value_names()}
    all_rows = list(rows) + list(extra_rows)
    cells = suppress(all_rows, k, held=[s.id for s in sessions if s.held])
    hidden = hidden_keys(cells)
    fig = Figures(cells, k)
    session_titles = {s.id: s.title for s in sessions}

    funnel = []
    for s in sessions:
        funnel.append(SessionFunnelView(
            title=s.title, starts_at=s.starts_at, held=s.held,
            invited=fig.get("session_invited", COUNT, session_id=s.id),
            registered=fig.get("session_registered", COUNT, session_id=s.id),
            attended=fig.get("session_attended", COUNT, session_id=s.id),
            walk_ins=fig.get("session_walk_ins", COUNT, session_id=s.id),
            no_show_rate=fig.get("no_show_rate", PERCENT, session_id=s.id),
        ))
    held = [s for s in funnel if s.held]
    pooled = {
        "uptake_rate": fig.get("uptake_rate", PERCENT),
        "invited_not_registered": fig.get("invited_not_registered", COUNT),
        "no_show_rate": fig.get("no_show_rate", PERCENT),
        "registered_no_show": fig.get("registered_no_show", COUNT),
    }

    non_participation = {
        "registered_no_show": pooled["registered_no_show"],
        "no_show_rate": pooled["no_show_rate"],
        "invited_not_registered": pooled["invited_not_registered"],
        "dropped_out": fig.get("dropped_out", COUNT),
        # Null until a second session is held: a fact about the calendar, not missing data.
        "retention": fig.get("retention", PERCENT, empty=(
            _("measured once a second session is held") if len(held) < 2 else "")),
    }
    with_attrition = {r.session_id for r in rows if r.code == "attrition"}
    attrition = [(s.title, fig.get("attrition", PERCENT, session_id=s.id))
                 for s in sessions if s.id in with_attrition]
    flagged = {_get(f, "association_id") for f in flags
               if _get(f, "code") == "absent_invited_association"}
    absence_views = [AbsenceView(a.name, a.sessions_in_a_row, a.association_id in flagged)
                     for a in sorted(absences, key=lambda a: (-a.sessions_in_a_row, a.name))]

    voice = {
        "active_participants": fig.get("active_participants", COUNT),
        "attendees": fig.get("attendees", COUNT, group=Group.ALL),
        "attendees_internal": fig.get("attendees", COUNT, group=Group.INTERNAL),
        "attendees_external": fig.get("attendees", COUNT, group=Group.EXTERNAL),
        "contribution_gini": fig.get("contribution_gini", INDEX),
        "top10_share": fig.get("top10_share", PERCENT),
        "internal_voice_share": fig.get("internal_voice_share", PERCENT),
    }
    speaking = {
        "internal": fig.get("speaking_time_share", PERCENT, n_kind=SECONDS,
                            group=Group.INTERNAL),
        "external": fig.get("speaking_time_share", PERCENT, n_kind=SECONDS,
                            group=Group.EXTERNAL),
        "gini": fig.get("speaking_gini", INDEX),
    }
    # No share without a second of speech: a suppressed share rests on a few seconds of it.
    speaking_recorded = any(f.suppressed or f.raw is not None
                            for f in (speaking["internal"], speaking["external"]))
    voice_chart = None if not draw_charts else _rates_chart(
        "chart-voice", _("Equality of voice"),
        _("Share of all proposals and comments written by the most active tenth of "
          "contributors, and by managers and elected officials, and share of the speaking "
          "time in the sessions taken by managers and elected officials; the dashed line marks "
          "one half. The tables below give the same figures."),
        [(_("Most active tenth"), voice["top10_share"]),
         (_("Internal participants"), voice["internal_voice_share"]),
         (_("Internal speaking time"), speaking["internal"])],
        marker=0.5)
    online = {
        "active_participants": voice["active_participants"],
        "attendees_external": voice["attendees_external"],
        "reach_per_1000": fig.get("reach_per_1000", RATE,
                                  empty=_("unknown: the population of the process is not set")),
    }

    responsiveness = {
        "answer_rate": fig.get("answer_rate", PERCENT),
        "median_days_to_answer": fig.get("median_days_to_answer", DAYS),
        "answered_within_30d_rate": fig.get("answered_within_30d_rate", PERCENT),
        "oldest_unanswered_days": fig.get("oldest_unanswered_days", DAYS),
        "reasoned_rejection_rate": fig.get("reasoned_rejection_rate", PERCENT),
    }
    responsiveness_chart = None if not draw_charts else _rates_chart(
        "chart-responsiveness", _("Responsiveness"),
        _("Share of proposals answered, of proposals answered within 30 days, and of "
          "rejections that state their reasons. The table below gives the same figures."),
        [(_("Answered"), responsiveness["answer_rate"]),
         (_("Answered within 30 days"), responsiveness["answered_within_30d_rate"]),
         (_("Rejections with reasons"), responsiveness["reasoned_rejection_rate"])])

    duality_values = {_get(f, "public_value") for f in flags if _get(f, "code") == "value_duality"}
    perceptions = []
    for code in sorted({r.public_value for r in rows if r.code == "perception_delta"}):
        internal = fig.get("perception_delta", DELTA, group=Group.INTERNAL, public_value=code)
        external = fig.get("perception_delta", DELTA, group=Group.EXTERNAL, public_value=code)
        opposite = (internal.raw is not None and external.raw is not None
                    and internal.raw * external.raw < 0)
        duality = code in duality_values
        if duality:
            direction = _("Opposite directions: value duality")
        elif opposite:
            direction = _("Opposite directions")
        elif internal.raw is None or external.raw is None:
            direction = _("Not measured in both groups")
        else:
            direction = _("Same direction, or no change")
        groups = []
        for group in (Group.INTERNAL, Group.EXTERNAL):
            keys = {"group": group, "public_value": code}
            sign_p = fig.get("perception_sign_p", INDEX, **keys)
            words, tone = evidence_words(sign_p, thresholds.alpha)
            groups.append(PerceptionGroupView(
                group=str(group), label=_group_short(group),
                baseline=fig.get("perception_baseline", MEAN, **keys),
                final=fig.get("perception_final", MEAN, **keys),
                delta=fig.get("perception_delta", DELTA, **keys),
                improved=fig.get("perception_improved_share", PERCENT, **keys),
                worsened=fig.get("perception_worsened_share", PERCENT, **keys),
                sign_p=sign_p, evidence=words, evidence_tone=tone))
        perceptions.append(PerceptionView(code, public_values.get(code, code), internal,
                                          external, opposite, duality, direction, groups))
    responses = [
        ResponseView(_group_short(group),
                     fig.get("baseline_response_rate", PERCENT, group=group),
                     fig.get("final_response_rate", PERCENT, group=group))
        for group in (Group.INTERNAL, Group.EXTERNAL)
        if any(r.code == "baseline_response_rate" for r in rows)]
    pulses = _pulses(fig, rows, sessions, public_values)

    names = {"k": k, "sessions": session_titles, "associations": associations,
             "labels": labels, "values": public_values, "hidden": hidden}
    if stored is None:
        shown_flags = flag_views(flags, **names)
    else:
        recorded = {(r.code, r.key) for r in stored}
        unrecorded = [f for f in flags if (f.code, flag_key(f)) not in recorded]
        shown_flags = (flag_views(stored, **names)
                       + flag_views(unrecorded, **names, status=UNRECORDED)
                       + flag_views(outdated, **names, status=OUTDATED))
        shown_flags.sort(key=lambda v: (0 if v.severity == Severity.ALERT else 1))
    dashboard = Dashboard(
        as_of=as_of, k=max(k, MIN_K),
        flags=shown_flags,
        sessions=funnel, funnel_chart=_funnel_chart(held) if draw_charts else None, pooled=pooled,
        dimensions=_dimensions(fig, rows, strata, thresholds, dimensions or {}, labels,
                               draw_charts),
        non_participation=non_participation, attrition=attrition, absences=absence_views,
        voice=voice, voice_chart=voice_chart, online=online, speaking=speaking,
        speaking_recorded=speaking_recorded,
        responsiveness=responsiveness, responsiveness_chart=responsiveness_chart,
        perceptions=perceptions,
        duality_count=fig.get("duality_count", COUNT),
        responses=responses, pulses=pulses, alpha=thresholds.alpha,
        any_suppressed=any(c.suppressed for c in cells),
    )
    return dashboard
