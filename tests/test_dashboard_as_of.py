"""Issue 13: staff's dashboard has the evaluator's "as of" picker. The overview and every family
page send ?at= (the town's wall-clock time) and answer with a redirect to the same page ?as_of=;
the pages name that instant, keep it in the links between them, and go back to now; bad input is
a clear 4xx. One module reads instants for both (core.instants), one macro draws the picker."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from pvplatform.core import instants
from pvplatform.db import utcnow
from pvplatform.errors import DomainError, ValidationFailed
from pvplatform.evaluation import views as evaluation_views
from pvplatform.evaluation import workspace
from pvplatform.indicators import dashboard_views
from pvplatform.indicators.overview import FAMILIES
from pvplatform.sessions.models import Attendance, AttendanceMode
from tests.conftest import login

EN = {"Accept-Language": "en"}
PARIS = ZoneInfo("Europe/Paris")
MARCH = datetime(2026, 3, 1, tzinfo=UTC)  # 01:00 in Paris
PAGES = ["", *(f"/{family}" for family in FAMILIES), "/all"]


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def process(db, factory):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=2))
    for _ in range(6):
        db.session.add(Attendance(meeting_id=meeting.id, mode=AttendanceMode.IN_PERSON,
                                  participant_id=factory.participant(kind="citizen").id))
    db.session.commit()
    return process


# ---------------------------------------------------------------- one module, one macro

def test_the_instant_helpers_are_shared():
    # The evaluator's pages and staff's dashboard read instants with the same functions.
    for name in ("parse_as_of", "picked_arguments", "picker_context"):
        assert getattr(dashboard_views, name) is getattr(instants, name)
    for name in ("address_instant", "picked_arguments", "picker_context"):
        assert getattr(evaluation_views, name) is getattr(instants, name)
    assert workspace.end_of_day is instants.end_of_day
    assert workspace.FIRST_YEAR == instants.FIRST_YEAR


def test_the_instant_helpers_without_a_request(app):
    with app.app_context():
        assert instants.picker_instant("2026-03-01T01:00", PARIS) == MARCH
        assert instants.picker_value(MARCH, PARIS) == "2026-03-01T01:00"
        assert instants.picked_arguments({"at": "2026-03-01T01:00"}, PARIS) == {
            "as_of": MARCH.isoformat()}
        assert instants.picked_arguments({"at": " "}, PARIS) == {}
        assert instants.picked_arguments({"as_of": MARCH.isoformat()}, PARIS) is None
        assert instants.parse_as_of("2026-03-01T01:00:00+01:00") == MARCH
        assert instants.parse_as_of("") is None
        with pytest.raises(ValidationFailed):
            instants.parse_as_of("2026-03-01T00:00:00")  # no offset: never guessed
        with pytest.raises(DomainError):
            instants.address_instant("yesterday")
        with pytest.raises(DomainError):
            instants.picker_instant("9999-12-31T23:59", PARIS)
        context = instants.picker_context(MARCH, False, PARIS)
        assert context["as_of_arg"] == MARCH.isoformat()
        assert (context["picker_value"], context["zone"]) == ("2026-03-01T01:00",
                                                             "Europe/Paris")
        # A grant "until" 1 March ends at midnight in Paris.
        assert instants.end_of_day(MARCH.date(), PARIS) == datetime(2026, 3, 1, 23, tzinfo=UTC)


# ---------------------------------------------------------------- the picker on every page

@pytest.mark.parametrize("page", PAGES)
def test_every_dashboard_page_has_the_picker(client, factory, process, page):
    login(client, factory.user("staff"))
    base = f"/manage/processes/{process.id}/dashboard{page}"
    # The picker's wall-clock time of the town: a redirect to the same page ?as_of=.
    response = client.get(f"{base}?at=2026-03-01T01:00", headers=EN)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == base
    assert datetime.fromisoformat(parse_qs(location.query)["as_of"][0]) == MARCH

    march = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert '<form method="get" action="' + base + '"' in march
    assert 'name="at" value="2026-03-01T01:00"' in march
    assert f'data-as-of="{MARCH.isoformat()}"' in march
    assert "Mar 1, 2026" in _text(march) and "Europe/Paris" in _text(march)
    assert "(the instant asked for)" in _text(march)
    assert f'<a href="{base}">See the figures now</a>' in march
    # Every link between the overview and the family pages keeps the instant.
    as_of = quote(MARCH.isoformat(), safe=":")
    links = re.findall(rf'href="(/manage/processes/{process.id}/dashboard[^"]*)"', march)
    between = [link for link in links if link != base]
    assert len(between) >= len(FAMILIES)
    assert all(link.endswith(f"?as_of={as_of}") for link in between), between
    # An emptied picker goes back to now.
    back = client.get(f"{base}?at=", headers=EN)
    assert back.status_code == 302 and urlsplit(back.headers["Location"]).query == ""
    now = client.get(base, headers=EN).get_data(as_text=True)
    assert "current at every visit" in _text(now) and 'id="as-of-at"' in now
    assert "?as_of=" not in now


@pytest.mark.parametrize("query", ["at=2026-13-01T00:00", "at=soon", "at=9999-12-31T23:59",
                                   "at=0001-01-01T00:00", "at=" + "9" * 50])
def test_a_bad_picker_value_is_a_clear_bad_request(client, factory, process, query):
    login(client, factory.user("staff"))
    for page in ("", "/voice", "/all"):
        response = client.get(f"/manage/processes/{process.id}/dashboard{page}?{query}",
                              headers=EN)
        assert response.status_code == 400, (page, query)
        text = _text(response.get_data(as_text=True))
        assert "Give the date and time" in text or "between the years" in text


@pytest.mark.parametrize("as_of", ["yesterday", "2026-03-01T00:00:00", "9" * 50,
                                   "2026-03-01T00:00:00+25:00"])
def test_a_bad_address_is_refused_not_a_server_error(client, factory, process, as_of):
    login(client, factory.user("staff"))
    for page in ("", "/funnel"):
        response = client.get(f"/manage/processes/{process.id}/dashboard{page}",
                              query_string={"as_of": as_of}, headers=EN)
        assert response.status_code == 422, (page, as_of)
        assert "ISO 8601" in response.get_data(as_text=True)


def test_the_picker_is_for_those_who_read_the_dashboard(client, factory, process):
    # A redirect would tell nothing, but a person who may not read the page gets no answer.
    login(client, factory.user("citizen"))
    response = client.get(f"/manage/processes/{process.id}/dashboard?at=2026-03-01T01:00")
    assert response.status_code == 403


def test_the_evaluator_and_the_dashboard_draw_the_same_picker(client, factory, process, db):
    from pvplatform.evaluation.models import EvaluatorGrant, GrantScope

    evaluator = factory.user("evaluator")
    db.session.add(EvaluatorGrant(user_id=evaluator.id, process_id=process.id,
                                  scope=GrantScope.READ, purpose="",
                                  granted_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    query = {"as_of": MARCH.isoformat()}
    login(client, evaluator)
    evaluation = client.get(f"/evaluate/processes/{process.id}", query_string=query,
                            headers=EN).get_data(as_text=True)
    client.post("/auth/logout")
    login(client, factory.user("staff"))
    dashboard = client.get(f"/manage/processes/{process.id}/dashboard", query_string=query,
                           headers=EN).get_data(as_text=True)

    def picker(page: str) -> str:
        form = re.search(r'<form method="get" action="[^"]*" class="([^"]*)" id="as-of-form">'
                         r'(.*?)</form>', page, re.S)
        assert form, "no picker"
        return form.group(1) + re.sub(r"\s+", " ", form.group(2))

    assert picker(evaluation) == picker(dashboard)
