"""The dashboard at a glance: is the process going well, and for whom?

Active flags by severity and a handful of key figures, each taken from the dashboard's own
figures (so already through the suppression rule) and leading to its family's page. Nothing is
computed here: the figures are the presenter's (`dashboard.build_dashboard`).

Each key figure also says how it moved since the start of the latest held session: the earlier
figure is the presenter's too, from the engine's reading as of that start (the worker's stored
base, see `snapshots.trend_base`); only the difference of the two is taken here. A change of a
count of people is itself a count of people: between 1 and k-1 it is not printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel.dates import format_skeleton
from flask_babel import format_decimal, get_locale, get_timezone, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pvplatform.indicators.dashboard import (
    BEYOND,
    COUNT,
    PERCENT,
    RATE,
    RATIO,
    WITHIN,
    CategoryView,
    Dashboard,
    DimensionView,
    Figure,
    FlagView,
)
from pvplatform.indicators.funnel import SessionLabel
from pvplatform.indicators.rows import Severity
from pvplatform.indicators.suppression import is_small

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
SHOWN_FLAGS = 5  # more go to the flags' page: the overview stays one screen (with the picker
# and the key figures' changes since the latest session, a sixth pushed the demo past it)


@dataclass(frozen=True)
class KeyFigure:
    label: str
    value: str
    detail: str  # what the figure rests on, or what it means, in a few words
    family: str  # the page it leads to
    suppressed: bool = False
    trend: str = ""  # its change since the latest held session's start; "" when none is shown
    people: bool = False  # a count of people: its change, too, is never printed below k


@dataclass(frozen=True)
class Overview:
    alerts: int
    warnings: int
    flags: list[FlagView]  # the first SHOWN_FLAGS, alerts first
    more_flags: int
    figures: list[KeyFigure]
    no_session_yet: bool = False  # no session held at the instant: no change to show
    since: str = ""  # the session the changes start from, in a sentence


def _n_detail(figure: Figure, words: str) -> str:
    return _("%(what)s: %(n)s", what=words, n=figure.n_text) if figure.cell is not None else ""


def _worst_gap(d: Dashboard) -> tuple[CategoryView, DimensionView] | None:
    """The category least represented among attendees compared with the census (the lowest
    shown ratio below 1), with its dimension."""
    worst: tuple[CategoryView, DimensionView] | None = None
    for dimension in d.dimensions:
        for category in dimension.categories:
            ratio = category.ratio.raw
            if ratio is None or ratio >= 1:
                continue
            if worst is None or ratio < (worst[0].ratio.raw or 0):
                worst = (category, dimension)
    return worst


def _same_category(d: Dashboard | None, dimension: str, category: str) -> Figure | None:
    """The representation ratio of that category in another reading (None if it has none)."""
    for view in d.dimensions if d is not None else ():
        if view.dimension == dimension:
            for cat in view.categories:
                if cat.category == category:
                    return cat.ratio
    return None


# ---------------------------------------------------------------- trends

# How a change is printed, by the kind of figure: signed, at the figure's own precision (a
# percentage changes in points).
SIGNED = {COUNT: "+#,##0;-#,##0", PERCENT: "+#,##0.#;-#,##0.#", RATE: "+#,##0.#;-#,##0.#",
          RATIO: "+#,##0.00;-#,##0.00"}
DECIMALS = {COUNT: 0, PERCENT: 1, RATE: 1, RATIO: 2}


def session_date(session: SessionLabel, d: Dashboard) -> str:
    """The session's start day in the reader's language and the town's zone ("3 Nov"), with
    its year when that is not the year of `d`'s figures."""
    zone = get_timezone()
    year = session.starts_at.astimezone(zone).year != d.as_of.astimezone(zone).year
    return format_skeleton("yMMMd" if year else "MMMd", session.starts_at, tzinfo=zone,
                           locale=get_locale())


def trend_text(now: Figure, then: Figure | None, *, day: str, k: int,
               people: bool = False) -> str:
    """`now`'s change since `then` (the same figure as of the start of the session held on
    `day`), in words; "" when either is not shown (suppressed or empty). `people`: the figure
    counts people, so its change between 1 and k-1 is said without the number."""
    if then is None or now.suppressed or then.suppressed or now.raw is None or then.raw is None:
        return ""
    change = now.raw - then.raw
    if now.kind == PERCENT:
        change *= 100  # in percentage points
    change = round(change, DECIMALS.get(now.kind, 2))
    if change == 0:
        return _("no change since %(date)s", date=day)
    if people and is_small(abs(int(change)), k):
        if change > 0:
            return _("up by fewer than %(k)s since %(date)s", k=k, date=day)
        return _("down by fewer than %(k)s since %(date)s", k=k, date=day)
    signed = format_decimal(change, SIGNED.get(now.kind, SIGNED[RATIO]))
    if now.kind == PERCENT:
        # The plural's number is whole: "1 point", "2.5 points".
        return ngettext("%(change)s point since %(date)s", "%(change)s points since %(date)s",
                        1 if abs(change) == 1 else 2, change=signed, date=day)
    return _("%(change)s since %(date)s", change=signed, date=day)


def duality_trend(d: Dashboard, base: Dashboard | None, day: str) -> str:
    """The public values whose duality appeared or ended since the session's start, named as
    the figure names them; "" when no perception was measured then."""
    if base is None or not base.perceptions:
        return ""
    now = {p.public_value: p.name for p in d.perceptions if p.duality}
    then = {p.public_value: p.name for p in base.perceptions if p.duality}
    added = ", ".join(name for code, name in now.items() if code not in then)
    ended = ", ".join(name for code, name in then.items() if code not in now)
    if added and ended:
        return _("since %(date)s, new: %(added)s; ended: %(ended)s", date=day, added=added,
                 ended=ended)
    if added and not then:
        return _("new since %(date)s", date=day)  # the figure names them all
    if added:
        return _("new since %(date)s: %(values)s", date=day, values=added)
    if ended:
        return _("ended since %(date)s: %(values)s", date=day, values=ended)
    return _("no change since %(date)s", date=day)


# ---------------------------------------------------------------- the overview


def build_overview(d: Dashboard, base: Dashboard | None = None,
                   since: SessionLabel | None = None) -> Overview:
    """`base`: the dashboard as of the start of `since`, the latest session held at `d`'s
    instant (both None before the first); each key figure then says its change since."""
    active = [f for f in d.flags if f.status != "outdated"]
    alerts = sum(1 for f in active if f.severity == Severity.ALERT)

    # The session is named once, above the figures; each change gives its day.
    day = session_date(since, d) if since is not None else ""

    def trend(now: Figure, then: Figure | None, *, people: bool = False) -> str:
        if base is None or since is None:
            return ""
        return trend_text(now, then, day=day, k=d.k, people=people)

    def pair(section: str, key: str) -> tuple[Figure, Figure | None]:
        figures = getattr(d, section)
        return figures[key], getattr(base, section)[key] if base is not None else None

    attendees, attendees_then = pair("voice", "attendees")
    active_now, active_then = pair("voice", "active_participants")
    reach, reach_then = pair("online", "reach_per_1000")
    figures = [
        KeyFigure(_("Attendees"), attendees.text,
                  _("people who came to at least one session"), "funnel",
                  attendees.suppressed, trend(attendees, attendees_then, people=True),
                  people=True),
        KeyFigure(_("Active participants"), active_now.text,
                  _("came, proposed, commented or voted"), "voice",
                  active_now.suppressed, trend(active_now, active_then, people=True),
                  people=True),
        KeyFigure(_("Reach per 1,000 residents"), reach.text,
                  _("external active participants for every 1,000 residents"), "online",
                  reach.suppressed, trend(reach, reach_then)),
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
            _("%(dimension)s: %(category)s", dimension=dimension.label,
              category=category.label),
            _("%(ratio)s of their census share, %(evidence)s", ratio=category.ratio.text,
              evidence=chance) if chance else
            _("%(ratio)s of their census share", ratio=category.ratio.text),
            "representativeness",
            trend=trend(category.ratio, _same_category(base, dimension.dimension,
                                                       category.category))))
    answer, answer_then = pair("responsiveness", "answer_rate")
    figures.append(KeyFigure(_("Answer rate"), answer.text,
                             _n_detail(answer, _("proposals to answer")),
                             "responsiveness", answer.suppressed,
                             trend(answer, answer_then)))
    if d.perceptions:
        duality = d.duality_count
        # Named rather than counted: a reader wants to know which values, and a count of
        # values would read like a count of people.
        weakened = [p.name for p in d.perceptions
                    if p.external.raw is not None and p.external.raw < 0]
        dual = [p.name for p in d.perceptions if p.duality]
        figures.append(KeyFigure(
            _("Perceived public value"),
            _("Value duality: %(values)s", values=", ".join(dual)) if dual
            else _("No value duality"),
            _("Weakened for residents: %(values)s", values=", ".join(weakened)) if weakened
            else _("No value weakened for residents"),
            "public-value", duality.suppressed,
            duality_trend(d, base, day) if since is not None else ""))
    return Overview(alerts=alerts, warnings=len(active) - alerts,
                    flags=active[:SHOWN_FLAGS], more_flags=max(0, len(active) - SHOWN_FLAGS),
                    figures=figures, no_session_yet=since is None,
                    since=_("Changes since the session “%(session)s” (%(date)s).",
                            session=since.title, date=day)
                    if since is not None and base is not None else "")
