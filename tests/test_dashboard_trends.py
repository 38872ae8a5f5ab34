"""Issue 13: the overview's key figures say how they moved since the start of the latest held
session. The earlier figure is the engine's reading as of that start through the same presenter
(checked here against both readings); a change of a count of people between 1 and k-1 is not
printed; the worker stores the base with the live snapshot and recomputes it only when the
session changes or the base ages, so that the live overview computes nothing."""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from pvplatform.db import utcnow
from pvplatform.indicators import snapshots
from pvplatform.indicators.dashboard import COUNT, PERCENT, RATE, RATIO, Figure
from pvplatform.indicators.dashboard_inputs import dashboard_from_inputs, gather_dashboard_inputs
from pvplatform.indicators.funnel import SessionLabel
from pvplatform.indicators.overview import duality_trend, session_date, trend_text
from pvplatform.indicators.suppression import PRIMARY, Cell
from pvplatform.jobs import refresh
from pvplatform.jobs.refresh import run_pending
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions.models import Attendance, AttendanceMode
from tests.conftest import login

EN = {"Accept-Language": "en"}
K = 5
SESSION = "Atelier mobilité"


def _attend(db, meeting, factory, people: int, *, at) -> None:
    for _ in range(people):
        db.session.add(Attendance(meeting_id=meeting.id, mode=AttendanceMode.IN_PERSON,
                                  participant_id=factory.participant(kind="citizen").id,
                                  checked_in_at=at))


def _proposals(db, process, author, *, published, answered: list) -> None:
    """One proposal per entry of `answered` (its answer instant, or None: unanswered)."""
    for when in answered:
        db.session.add(Proposal(
            process_id=process.id, author_id=author.id, title="Des bancs", body="Rue Haute.",
            state=ProposalState.ACCEPTED if when else ProposalState.PUBLISHED,
            published_at=published, answered_at=when,
            answer_rationale="Budget voté." if when else ""))


def _world(db, factory, *, before: int, after: int):
    """A session held ten days ago, then `SESSION` held three days ago: `before` people came to
    the first, `after` more to the second; ten proposals, two answered before the second
    session and five more after its start."""
    now = utcnow()
    process = factory.process()
    first = factory.meeting(process, starts_at=now - timedelta(days=10), title="Réunion publique")
    latest = factory.meeting(process, starts_at=now - timedelta(days=3), title=SESSION)
    _attend(db, first, factory, before, at=first.starts_at + timedelta(minutes=5))
    _attend(db, latest, factory, after, at=latest.starts_at + timedelta(minutes=5))
    author = factory.participant(kind="citizen")
    published = now - timedelta(days=12)
    _proposals(db, process, author, published=published,
               answered=[now - timedelta(days=5)] * 2 + [now - timedelta(days=1)] * 5
               + [None] * 3)
    db.session.commit()
    return process, latest


def _plain(fragment: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _figures(html: str) -> dict[str, str]:
    """Each key figure's text (label, value, change...), by label."""
    found = {}
    for item in re.findall(r'<li class="key-figure">(.*?)</li>', html, re.S):
        label = re.search(r'class="key-figure-label">(.*?)</p>', item, re.S).group(1)
        found[_plain(label)] = _plain(item)
    return found


def _trend(html: str, label: str) -> str:
    for item in re.findall(r'<li class="key-figure">(.*?)</li>', html, re.S):
        if _plain(re.search(r'class="key-figure-label">(.*?)</p>', item, re.S).group(1)) == label:
            found = re.search(r'class="key-figure-trend[^"]*">([^<]*)<', item)
            return htmllib.unescape(found.group(1)) if found else ""
    raise AssertionError(f"no key figure {label!r}")


def _since(html: str) -> str:
    """The sentence above the key figures that names the session the changes start from."""
    found = re.search(r'id="key-figures-since">(.*?)</p>', html, re.S)
    return " ".join(htmllib.unescape(found.group(1)).split()) if found else ""


def _day(app, meeting, now) -> str:
    with app.test_request_context(), force_locale("en"):
        return session_date(SessionLabel(meeting.id, meeting.title, meeting.starts_at, True),
                            now)


def _readings(app, process_id, since, now):
    """The presenter's dashboards at the session's start and now, from the engine."""
    with app.test_request_context(), force_locale("en"):
        then = dashboard_from_inputs(gather_dashboard_inputs(process_id, since), k=K)
        later = dashboard_from_inputs(gather_dashboard_inputs(process_id, now), k=K)
        return then, later


def _overview(app, client, db, factory, *, after: int):
    """8 attendees before the latest session, `after` more since: the latest session, the
    overview staff read, and the presenter's dashboards at the session's start and now."""
    process, latest = _world(db, factory, before=8, after=after)
    login(client, factory.user("staff"))
    html = client.get(f"/manage/processes/{process.id}/dashboard", headers=EN).get_data(
        as_text=True)
    return (latest, html, *_readings(app, process.id, latest.starts_at, utcnow()))


def test_each_key_figure_says_its_change_since_the_latest_session(app, client, db, factory):
    latest, html, then, now = _overview(app, client, db, factory, after=12)
    day = _day(app, latest, now)
    since = f"since {day}"
    # The session is named once, above the figures.
    assert _since(html) == f"Changes since the session “{SESSION}” ({day})."

    # The engine's figures at both instants, and the differences the page prints.
    attendees = now.voice["attendees"].raw - then.voice["attendees"].raw
    assert (then.voice["attendees"].raw, attendees) == (8, 12)
    assert _trend(html, "Attendees") == f"+{attendees:.0f} {since}"
    active = now.voice["active_participants"].raw - then.voice["active_participants"].raw
    assert active >= K
    assert _trend(html, "Active participants") == f"+{active:.0f} {since}"
    answer = now.responsiveness["answer_rate"].raw - then.responsiveness["answer_rate"].raw
    assert round(answer * 100) == 50  # 2 of 10 answered, then 7 of 10
    assert _trend(html, "Answer rate") == f"+{answer * 100:.0f} points {since}"
    # No population per category: no representation gap, hence no change of it.
    assert _trend(html, "Worst representation gap") == ""
    assert htmllib.unescape(html).count(SESSION) == 1


def test_a_small_change_of_a_count_of_people_is_not_printed(app, client, db, factory):
    latest, html, then, now = _overview(app, client, db, factory, after=3)
    assert now.voice["attendees"].raw - then.voice["attendees"].raw == 3
    assert _trend(html, "Attendees") == f"up by fewer than {K} since {_day(app, latest, now)}"
    # No number between 1 and k-1 for a count of people, in any key figure's change.
    for label in ("Attendees", "Active participants"):
        assert not re.search(r"[+-][1-4]\b", _trend(html, label)), _trend(html, label)
    # A rate moves in points: those may be printed, and the page's scan for small counts of
    # people (test_dashboard_boundaries) skips them; it reads the changes of people.
    assert _trend(html, "Answer rate").startswith("+50 points since")
    assert '<p class="key-figure-trend">up by fewer than' in html
    assert '<p class="key-figure-trend not-people">+50 points' in html


def test_no_change_is_shown_before_the_first_session_or_for_a_hidden_figure(client, db,
                                                                             factory):
    # Before any session: nothing to compare with, and the overview says so.
    process = factory.process()
    factory.meeting(process, starts_at=utcnow() + timedelta(days=2))
    login(client, factory.user("staff"))
    html = client.get(f"/manage/processes/{process.id}/dashboard", headers=EN).get_data(
        as_text=True)
    assert 'class="key-figure-trend' not in html
    assert "No session held yet" in html
    # Three attendees: the figure is suppressed, so is its change.
    small, _latest = _world(db, factory, before=0, after=3)
    html = client.get(f"/manage/processes/{small.id}/dashboard", headers=EN).get_data(
        as_text=True)
    assert _trend(html, "Attendees") == ""
    assert "No session held yet" not in html


def test_a_past_instant_compares_with_the_session_before_it(app, client, db, factory):
    process, latest = _world(db, factory, before=8, after=12)
    login(client, factory.user("staff"))
    # The day before the latest session: the changes are since the first one, whose eight
    # attendees checked in after its start.
    at = latest.starts_at - timedelta(days=1)
    html = client.get(f"/manage/processes/{process.id}/dashboard",
                      query_string={"as_of": at.isoformat()}, headers=EN).get_data(as_text=True)
    first_start = latest.starts_at - timedelta(days=7)  # see _world
    then, now = _readings(app, process.id, first_start, at)
    assert now.voice["attendees"].raw - then.voice["attendees"].raw == 8
    assert "“Réunion publique”" in _since(html) and SESSION not in html
    assert _trend(html, "Attendees").startswith("+8 since ")


def test_the_change_in_words(app):
    def fig(value, n, kind=COUNT, reason=""):
        return Figure(Cell({"code": "x", "value": value, "n": n}, reason), kind, K)

    with app.test_request_context(), force_locale("en"):
        day = "Nov 3"
        people = {"day": day, "k": K, "people": True}
        assert trend_text(fig(20, 20), fig(8, 8), **people) == "+12 since Nov 3"
        assert trend_text(fig(8, 8), fig(20, 20), **people) == "-12 since Nov 3"
        assert trend_text(fig(8, 8), fig(8, 8), **people) == "no change since Nov 3"
        assert trend_text(fig(9, 9), fig(8, 8), **people) == "up by fewer than 5 since Nov 3"
        assert trend_text(fig(6, 6), fig(10, 10), **people) == (
            "down by fewer than 5 since Nov 3")
        # Either figure hidden: no change at all (it would give the hidden one back).
        assert trend_text(fig(None, None, reason=PRIMARY), fig(8, 8), **people) == ""
        assert trend_text(fig(20, 20), fig(None, None, reason=PRIMARY), **people) == ""
        assert trend_text(fig(20, 20), None, **people) == ""
        # Not people (public values with a duality): a small change is printed.
        assert trend_text(fig(2, 2), fig(1, 1), day=day, k=K) == "+1 since Nov 3"
        # Rates in points, rates per 1,000 and ratios at their own precision.
        assert trend_text(fig(0.7, 10, PERCENT), fig(0.2, 10, PERCENT), day=day, k=K) == (
            "+50 points since Nov 3")
        assert trend_text(fig(0.555, 30, PERCENT), fig(0.573, 30, PERCENT), day=day, k=K) == (
            "-1.8 points since Nov 3")
        assert trend_text(fig(6.2, 300, RATE), fig(5.6, 280, RATE), day=day, k=K) == (
            "+0.6 since Nov 3")
        assert trend_text(fig(0.58, 40, RATIO), fig(0.59, 30, RATIO), day=day, k=K) == (
            "-0.01 since Nov 3")


def test_the_change_of_the_value_dualities_names_them(app):
    """Public values are not people: the change of the dualities names the values that
    appeared or ended, as the figure names them."""
    def reading(*dual, measured=True):
        values = [SimpleNamespace(public_value=code, name=code.title(), duality=code in dual)
                  for code in ("equity", "trust")] if measured else []
        return SimpleNamespace(perceptions=values)

    with app.test_request_context(), force_locale("en"):
        assert duality_trend(reading("trust"), reading(), "Nov 3") == "new since Nov 3"
        assert duality_trend(reading("trust", "equity"), reading("trust"), "Nov 3") == (
            "new since Nov 3: Equity")
        assert duality_trend(reading(), reading("trust"), "Nov 3") == "ended since Nov 3: Trust"
        assert duality_trend(reading("equity"), reading("trust"), "Nov 3") == (
            "since Nov 3, new: Equity; ended: Trust")
        assert duality_trend(reading("trust"), reading("trust"), "Nov 3") == (
            "no change since Nov 3")
        # No perception measured at the session's start: nothing to compare with.
        assert duality_trend(reading("trust"), reading(measured=False), "Nov 3") == ""


@pytest.fixture
def base_readings(monkeypatch):
    """Each reading of the engine the worker makes for a trend base (its session's start)."""
    calls: list = []
    real = refresh.compute_trend_base

    def counted(process_id, at):
        calls.append(at)
        return real(process_id, at)

    monkeypatch.setattr(refresh, "compute_trend_base", counted)
    return calls


def test_the_worker_stores_the_base_and_the_live_overview_reads_it(app, client, db, factory,
                                                                   background, base_readings,
                                                                   monkeypatch):
    process, latest = _world(db, factory, before=8, after=12)
    run_pending(process.id, now=utcnow())
    assert base_readings == [latest.starts_at]
    payload = db.session.get(snapshots.DashboardSnapshot, process.id).payload
    assert payload[snapshots.BASE_KEY]["session_id"] == latest.id

    def no_reading(*args, **kwargs):
        raise AssertionError("the live overview ran the engine")

    login(client, factory.user("staff"))
    with monkeypatch.context() as patch:
        patch.setattr(snapshots, "gather_dashboard_inputs", no_reading)
        html = client.get(f"/manage/processes/{process.id}/dashboard", headers=EN).get_data(
            as_text=True)
    assert "after the latest change" in html
    assert _trend(html, "Attendees").startswith("+12 since ")
    assert f"“{SESSION}”" in _since(html)

    # A change after the session's start: the stored base still answers, no second reading.
    author = factory.participant(kind="citizen")
    _proposals(db, process, author, published=utcnow(), answered=[None])
    db.session.commit()
    run_pending(process.id, now=utcnow())
    assert base_readings == [latest.starts_at]
    # Once it is BASE_MAX_AGE old, it is read again (a change of the past reaches it).
    _proposals(db, process, author, published=utcnow(), answered=[None])
    db.session.commit()
    run_pending(process.id, now=utcnow() + snapshots.BASE_MAX_AGE + timedelta(minutes=1))
    assert base_readings == [latest.starts_at] * 2
    # A newer session held: the base moves to its start.
    later = factory.meeting(process, starts_at=utcnow() + timedelta(hours=1), title="Atelier 3")
    db.session.commit()
    run_pending(process.id, now=utcnow() + timedelta(hours=2))
    assert base_readings == [latest.starts_at] * 2 + [later.starts_at]
    payload = db.session.get(snapshots.DashboardSnapshot, process.id).payload
    assert payload[snapshots.BASE_KEY]["session_id"] == later.id


def test_figures_are_those_of_a_page_at_the_sessions_start(client, db, factory, background):
    """The base is the dashboard as of the session's start: the picker at that instant shows
    the figures the changes start from."""
    process, latest = _world(db, factory, before=8, after=12)
    run_pending(process.id, now=utcnow())
    login(client, factory.user("staff"))
    then = _figures(client.get(f"/manage/processes/{process.id}/dashboard",
                               query_string={"as_of": latest.starts_at.isoformat()},
                               headers=EN).get_data(as_text=True))
    now = _figures(client.get(f"/manage/processes/{process.id}/dashboard",
                              headers=EN).get_data(as_text=True))
    assert then["Attendees"].startswith("Attendees 8 no change since")
    assert now["Attendees"].startswith("Attendees 20 +12 since")
