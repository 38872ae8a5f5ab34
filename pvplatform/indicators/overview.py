"""The dashboard at a glance: is the process going well, and for whom?

Active flags by severity and a handful of key figures, each taken from the dashboard's own
figures (so already through the suppression rule) and leading to its family's page. Nothing is
computed here: the figures are the presenter's (`dashboard.build_dashboard`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pvplatform.indicators.dashboard import (
    BEYOND,
    WITHIN,
    CategoryView,
    Dashboard,
    Figure,
    FlagView,
)
from pvplatform.indicators.rows import Severity

# The families of figures, each on a page of its own, in the dashboard's order.
FAMILIES: dict[str, object] = {
    "funnel": _l("Participation funnel"),
    "representativeness": _l("Representativeness"),
    "online": _l("Online and offline"),
    "non-participation": _l("Non-participation"),
    "voice": _l("Equality of voice"),
    "responsiveness": _l("Responsiveness"),
    "public-value": _l("Perceived public value"),
}
ALL = "all"  # every family on one page (to print, and for reading side by side)
SHOWN_FLAGS = 6  # more go to the flags' page: the overview stays one screen


@dataclass(frozen=True)
class KeyFigure:
    label: str
    value: str
    detail: str  # what the figure rests on, or what it means, in a few words
    family: str  # the page it leads to
    suppressed: bool = False


@dataclass(frozen=True)
class Overview:
    alerts: int
    warnings: int
    flags: list[FlagView]  # the first SHOWN_FLAGS, alerts first
    more_flags: int
    figures: list[KeyFigure]


def _n_detail(figure: Figure, words: str) -> str:
    return _("%(what)s: %(n)s", what=words, n=figure.n_text) if figure.cell is not None else ""


def _worst_gap(d: Dashboard) -> tuple[CategoryView, str] | None:
    """The category least represented among attendees compared with the census (the lowest
    shown ratio below 1), with its dimension's label."""
    worst: tuple[CategoryView, str] | None = None
    for dimension in d.dimensions:
        for category in dimension.categories:
            ratio = category.ratio.raw
            if ratio is None or ratio >= 1:
                continue
            if worst is None or ratio < (worst[0].ratio.raw or 0):
                worst = (category, dimension.label)
    return worst


def build_overview(d: Dashboard) -> Overview:
    active = [f for f in d.flags if f.status != "outdated"]
    alerts = sum(1 for f in active if f.severity == Severity.ALERT)
    figures = [
        KeyFigure(_("Attendees"), d.voice["attendees"].text,
                  _("people who came to at least one session"), "funnel",
                  d.voice["attendees"].suppressed),
        KeyFigure(_("Active participants"), d.voice["active_participants"].text,
                  _("came, proposed, commented or voted"), "voice",
                  d.voice["active_participants"].suppressed),
        KeyFigure(_("Reach per 1,000 residents"), d.online["reach_per_1000"].text,
                  _("external active participants for every 1,000 residents"), "online",
                  d.online["reach_per_1000"].suppressed),
    ]
    gap = _worst_gap(d)
    if gap is None:
        figures.append(KeyFigure(_("Worst representation gap"), _("none below the census"),
                                 _("every category shown comes at least as often as its "
                                   "census share"), "representativeness"))
    else:
        category, dimension = gap
        chance = {BEYOND: _("beyond chance"), WITHIN: _("within chance")}.get(
            category.evidence_tone)
        figures.append(KeyFigure(
            _("Worst representation gap"),
            _("%(dimension)s: %(category)s", dimension=dimension, category=category.label),
            _("%(ratio)s of their census share, %(evidence)s", ratio=category.ratio.text,
              evidence=chance) if chance else
            _("%(ratio)s of their census share", ratio=category.ratio.text),
            "representativeness"))
    answer = d.responsiveness["answer_rate"]
    figures.append(KeyFigure(_("Answer rate"), answer.text,
                             _n_detail(answer, _("proposals to answer")),
                             "responsiveness", answer.suppressed))
    if d.perceptions:
        duality = d.duality_count
        weakened = sum(1 for p in d.perceptions
                       if p.external.raw is not None and p.external.raw < 0)
        figures.append(KeyFigure(
            _("Perceived public value"),
            _("%(count)s with a value duality", count=duality.text),
            _("%(weakened)s of %(values)s values weakened for residents",
              weakened=weakened, values=len(d.perceptions)),
            "public-value", duality.suppressed))
    return Overview(alerts=alerts, warnings=len(active) - alerts,
                    flags=active[:SHOWN_FLAGS], more_flags=max(0, len(active) - SHOWN_FLAGS),
                    figures=figures)
