"""The evaluator's workspace: the processes granted, a process's figures and flags suppressed at the
export k (10), its perception results, the "as of" picker, the downloads offered, who may read."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from pvplatform.db import utcnow
from pvplatform.evaluation.models import EvaluatorGrant, GrantScope
from pvplatform.feedback.results import perception_results
from pvplatform.indicators import compute_flags, compute_indicators
from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs
from pvplatform.indicators.suppression import hidden_keys, suppress
from pvplatform.indicators.thresholds import thresholds_for
from pvplatform.participation.importer import import_package
from tests.examples import TINY

K = 10
MARCH = datetime(2026, 3, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)


def url(process_id: int, as_of: datetime | str | None = None, page: str = "") -> str:
    path = f"/evaluate/processes/{process_id}{page}"
    if as_of is None:
        return path
    text = as_of if isinstance(as_of, str) else as_of.isoformat()
    return f"{path}?as_of={quote(text)}"


def figure(page: str, code: str) -> tuple[str, str]:
    """(value, n) as printed in the first figure row of that code."""
    match = re.search(
        rf'<tr data-figure="{code}">\s*<th scope="row">[^<]*</th>\s*'
        r'<td><span class="dash-value[^"]*">([^<]*)</span></td>\s*'
        r'<td><span class="dash-n[^"]*">([^<]*)</span>', page)
    assert match, f"no figure row for {code}"
    return html.unescape(match.group(1)), html.unescape(match.group(2))


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def grant_row(db, user, process, scope=GrantScope.READ, *, expires_at=None, revoked_at=None,
              purpose="") -> EvaluatorGrant:
    """A grant written directly (an expired one cannot be made through the service)."""
    now = utcnow()
    if scope == GrantScope.MICRODATA and expires_at is None:
        expires_at = now + timedelta(days=30)
    row = EvaluatorGrant(user_id=user.id, process_id=process.id, scope=scope, purpose=purpose,
                         granted_at=now - timedelta(days=60), expires_at=expires_at,
                         revoked_at=revoked_at)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def tiny(db):
    process = import_package(TINY, now=utcnow())
    db.session.commit()
    return process


@pytest.fixture
def evaluator(factory):
    return factory.user("evaluator", name="Eva Luator")


@pytest.fixture
def granted(db, evaluator, tiny):
    return grant_row(db, evaluator, tiny)


# ---------------------------------------------------------------- the list of processes

def test_an_evaluator_without_grant_is_told_how_access_is_given(client, login_as, evaluator,
                                                                 tiny):
    login_as(evaluator)
    response = client.get("/evaluate/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="no-process"' in page and "an administrator grants access" in page
    assert tiny.title not in page
    assert 'href="/evaluate/"' in page  # the menu entry


def test_the_list_shows_each_grants_end_and_the_agreement(client, login_as, db, evaluator,
                                                          tiny, factory):
    other = factory.process(title="Budget participatif")
    factory.process(title="Not granted")
    ends = utcnow() + timedelta(days=40)
    grant_row(db, evaluator, tiny)
    grant_row(db, evaluator, other, expires_at=ends)
    grant_row(db, evaluator, other, GrantScope.MICRODATA, purpose="Thesis on turnout")
    grant_row(db, evaluator, tiny, GrantScope.MICRODATA, revoked_at=utcnow())  # no longer
    login_as(evaluator)
    page = client.get("/evaluate/").get_data(as_text=True)
    assert "Not granted" not in page
    rows = dict(re.findall(r'<tr data-process="(\d+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {str(tiny.id), str(other.id)}
    assert "Until revoked" in text_of(rows[str(tiny.id)])
    assert "No agreement" in text_of(rows[str(tiny.id)])
    assert "Agreement in force until" in text_of(rows[str(other.id)])
    assert f'href="/evaluate/processes/{other.id}"' in rows[str(other.id)]


def test_an_admin_reads_every_process(client, login_as, factory, tiny):
    login_as(factory.user("admin"))
    page = client.get("/evaluate/").get_data(as_text=True)
    assert tiny.title in page and "Administrator: every process" in page
    assert 'href="/admin/evaluators"' in page and 'href="/admin/exports"' in page


# ---------------------------------------------------------------- a process at k = 10

def test_figures_are_the_engines_suppressed_at_ten(client, login_as, evaluator, granted, tiny,
                                                   factory):
    login_as(evaluator)
    for at in (MARCH, JUNE):
        response = client.get(url(tiny.id, at))
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        rows = {r.code: r for r in compute_indicators(tiny.id, at)
                if not (r.dimension or r.public_value or r.group) and r.session_id is None}
        checked = hidden = 0
        for code in ("retention", "answer_rate", "uptake_rate", "internal_voice_share",
                     "top10_share", "answered_within_30d_rate", "reasoned_rejection_rate",
                     "dropped_out", "active_participants", "registered_no_show",
                     "invited_not_registered", "median_days_to_answer",
                     "oldest_unanswered_days"):
            r = rows[code]
            value, n = figure(page, code)
            if 1 <= r.n < K:
                assert (value, n) == ("suppressed", f"< {K}"), code
                hidden += 1
            elif value != "suppressed":  # complementary suppression may hide a large one too
                assert n == str(r.n), code
                checked += 1
        assert checked >= 8
        assert hidden >= 1  # tiny has a figure resting on 6 or 7 people at each instant
        # No count of people between 1 and k-1 is printed as an n anywhere on the page.
        for shown in re.findall(r'<span class="dash-n[^"]*">([^<]*)</span>', page):
            assert not re.fullmatch(r"[1-9]", html.unescape(shown).strip()), shown
        assert f"fewer than {K} people" in text_of(page)

    # The same figure on staff's dashboard (k = 5) is printed: the evaluator's k is what hides it.
    at = MARCH
    small = next(r for r in compute_indicators(tiny.id, at)
                 if r.code == "answered_within_30d_rate")
    assert 5 <= small.n < K
    login_as(factory.user("staff"))
    staff_page = client.get(f"/manage/processes/{tiny.id}/dashboard/responsiveness"
                            f"?as_of={quote(at.isoformat())}").get_data(as_text=True)
    assert figure(staff_page, "answered_within_30d_rate")[1] == str(small.n)


def test_flag_messages_speak_of_fewer_than_ten(client, login_as, evaluator, granted, tiny, app):
    login_as(evaluator)
    page = text_of(client.get(url(tiny.id, JUNE)).get_data(as_text=True))
    flags = compute_flags(tiny.id, JUNE)
    assert flags
    with app.test_request_context(headers={"Accept-Language": "en"}), force_locale("en"):
        # The messages at k = 10, without the figures of the rows the page hides.
        inputs = gather_dashboard_inputs(tiny.id, JUNE)
        hidden = hidden_keys(suppress([*inputs.rows, *inputs.extra_rows], K,
                                      held=[s.id for s in inputs.sessions if s.held]))
        assert any(hidden.values())
        for flag in flags:
            assert flag.message.render(K, hidden) in page
    assert "fewer than 5" not in page


def test_the_page_is_read_only_and_links_only_the_workspace(client, login_as, evaluator,
                                                            granted, tiny):
    login_as(evaluator)
    page = client.get(url(tiny.id)).get_data(as_text=True)
    main = page[page.index("<main"):page.index("</main>")]
    assert '<form method="post"' not in main
    assert "/manage/" not in main and "/ledger" not in main
    assert f'href="/evaluate/processes/{tiny.id}/perceptions"' in main
    assert "Acknowledge" not in main


def test_the_picker_changes_the_instant(client, login_as, evaluator, granted, tiny):
    login_as(evaluator)
    # 1 March 2026, 01:00 in Paris is midnight UTC; the picker's address names it with its offset.
    response = client.get(f"/evaluate/processes/{tiny.id}?at=2026-03-01T01:00")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert datetime.fromisoformat(query["as_of"][0]) == MARCH
    march = client.get(response.headers["Location"]).get_data(as_text=True)
    june = client.get(url(tiny.id, JUNE)).get_data(as_text=True)
    assert 'value="2026-03-01T01:00"' in march and 'value="2026-06-01T02:00"' in june
    assert f'data-as-of="{MARCH.isoformat()}"' in march
    assert "Mar 1, 2026" in text_of(march) and "Europe/Paris" in text_of(march)
    assert figure(march, "dropped_out") != figure(june, "dropped_out")
    # The perception results (and the downloads: see below) name the page's instant.
    assert f'/perceptions?as_of={quote(MARCH.isoformat(), safe=":")}"' in march
    # An emptied picker goes back to now.
    back = client.get(f"/evaluate/processes/{tiny.id}?at=")
    assert back.status_code == 302 and "as_of" not in back.headers["Location"]


@pytest.mark.parametrize("query", ["as_of=yesterday", "as_of=2026-03-01T00:00:00",
                                   "as_of=" + "9" * 50, "at=2026-13-01T00:00", "at=soon",
                                   "at=9999-12-31T23:59", "at=0001-01-01T00:00"])
def test_a_bad_instant_is_a_bad_request(client, login_as, evaluator, granted, tiny, query):
    login_as(evaluator)
    for page in ("", "/perceptions"):
        response = client.get(f"/evaluate/processes/{tiny.id}{page}?{query}")
        assert response.status_code == 400, query
        assert "Give the" in text_of(response.get_data(as_text=True)) or \
            "between the years" in response.get_data(as_text=True)


# ---------------------------------------------------------------- perceptions at k = 10

def test_perceptions_are_the_results_at_ten(client, login_as, evaluator, granted, tiny, app,
                                             factory):
    login_as(evaluator)
    response = client.get(url(tiny.id, JUNE, "/perceptions"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    main = page[page.index("<main"):page.index("</main>")]
    with app.test_request_context(), force_locale("en"):
        expected = perception_results(tiny.id, JUNE, k=K, thresholds=thresholds_for(tiny.id),
                                      locale="en")
        staff_view = perception_results(tiny.id, JUNE, k=5, thresholds=thresholds_for(tiny.id),
                                        locale="en")
    assert expected.k == K
    assert f"fewer than {K} people" in text_of(main)
    respondents = re.search(r'id="inactive-respondents">(.*?)</p>', main, re.S).group(1)
    assert expected.voice.respondents.text in html.unescape(respondents)
    # No "n = 7": a count of people between 1 and k-1 is never printed...
    small = [n for n in re.findall(r"n = (\d+)", text_of(main)) if 1 <= int(n) < K]
    assert not small, small
    # ...while staff's page of the same instant (k = 5) prints some.
    assert staff_view.k == 5
    login_as(factory.user("staff"))
    staff_page = text_of(client.get(f"/manage/processes/{tiny.id}/perceptions?as_of="
                                    f"{quote(JUNE.isoformat())}").get_data(as_text=True))
    assert [n for n in re.findall(r"n = (\d+)", staff_page) if 5 <= int(n) < K]
    login_as(evaluator)
    # Read-only: no survey management, no person-level ledger, no staff dashboard.
    assert "/manage/" not in main and "/ledger" not in main
    assert '<form method="post"' not in main
    assert f'href="/evaluate/processes/{tiny.id}?as_of=' in main


# ---------------------------------------------------------------- downloads offered

def test_downloads_name_the_instant_and_microdata_needs_an_agreement(client, login_as, db,
                                                                      evaluator, granted, tiny):
    login_as(evaluator)
    page = client.get(url(tiny.id, MARCH)).get_data(as_text=True)
    as_of = quote(MARCH.isoformat(), safe=":")
    for path in ("export.xlsx?", "export.json?", "package.zip?", "export.csv?table=indicators&amp;",
                 "export.csv?table=flags&amp;", "export.csv?table=ledger&amp;"):
        assert f'href="/evaluate/processes/{tiny.id}/{path}as_of={as_of}"' in page, path
    assert 'id="no-agreement"' in page
    assert "microdata.zip" not in page

    # An expired agreement opens nothing; one in force shows its purpose, its end and the link.
    grant_row(db, evaluator, tiny, GrantScope.MICRODATA, expires_at=utcnow() - timedelta(days=1),
              purpose="Old study")
    assert "microdata.zip" not in client.get(url(tiny.id, MARCH)).get_data(as_text=True)
    grant_row(db, evaluator, tiny, GrantScope.MICRODATA, purpose="Thesis on turnout")
    page = client.get(url(tiny.id, MARCH)).get_data(as_text=True)
    assert 'id="agreement"' in page and "Thesis on turnout" in page
    assert f'href="/evaluate/processes/{tiny.id}/microdata.zip?as_of={as_of}"' in page


def test_every_download_link_answers_a_file(client, login_as, db, evaluator, granted, tiny):
    from pvplatform.evaluation.models import ExportRecord

    grant_row(db, evaluator, tiny, GrantScope.MICRODATA, purpose="Thesis on turnout")
    login_as(evaluator)
    page = client.get(url(tiny.id, MARCH)).get_data(as_text=True)
    links = [html.unescape(href) for href in re.findall(
        r'href="(/evaluate/processes/\d+/(?:export\.\w+|package\.zip|microdata\.zip)[^"]*)"',
        page)]
    assert len(links) == 8
    for link in links:
        response = client.get(link)
        assert response.status_code == 200, link
        assert response.headers["Content-Disposition"].startswith("attachment"), link
    records = db.session.scalars(sa.select(ExportRecord)).all()
    assert len(records) == 8 and {r.as_of for r in records} == {MARCH}


# ---------------------------------------------------------------- who may read

def test_without_a_grant_in_force_the_process_is_closed(client, login_as, db, evaluator, tiny,
                                                        factory):
    login_as(evaluator)
    pages = (url(tiny.id), url(tiny.id, page="/perceptions"))
    assert all(client.get(p).status_code == 403 for p in pages)
    other = factory.process(title="Other")
    grant_row(db, evaluator, other)  # a grant on another process opens nothing here
    assert all(client.get(p).status_code == 403 for p in pages)
    expired = grant_row(db, evaluator, tiny, expires_at=utcnow() - timedelta(minutes=1))
    assert all(client.get(p).status_code == 403 for p in pages)
    revoked = grant_row(db, evaluator, tiny, revoked_at=utcnow() - timedelta(minutes=1))
    assert all(client.get(p).status_code == 403 for p in pages)
    # The control: the same grant in force opens both pages.
    expired.expires_at = utcnow() + timedelta(days=1)
    db.session.commit()
    assert all(client.get(p).status_code == 200 for p in pages)
    expired.revoked_at = utcnow()
    db.session.commit()
    assert revoked.revoked_at is not None
    assert all(client.get(p).status_code == 403 for p in pages)
    assert client.get(url(tiny.id + 1000)).status_code == 404


@pytest.mark.parametrize("role", ["citizen", "association", "staff", "elected"])
def test_other_roles_are_refused(client, login_as, db, factory, tiny, role):
    user = factory.user(role)
    login_as(user)
    for path in ("/evaluate/", url(tiny.id), url(tiny.id, page="/perceptions")):
        assert client.get(path).status_code == 403, path
    page = client.get("/").get_data(as_text=True)
    assert 'href="/evaluate/"' not in page and 'href="/admin/evaluators"' not in page


def test_anonymous_people_are_sent_to_log_in(client, tiny):
    for path in ("/evaluate/", url(tiny.id), url(tiny.id, page="/perceptions")):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_the_pages_change_nothing(client, login_as, db, evaluator, granted, tiny):
    from pvplatform.indicators.models import FlagRecord
    from pvplatform.moderation.models import AuditLog

    def counts():
        return [db.session.scalar(sa.select(sa.func.count()).select_from(m))
                for m in (FlagRecord, AuditLog, EvaluatorGrant)]

    before = counts()
    login_as(evaluator)
    for path in ("/evaluate/", url(tiny.id), url(tiny.id, JUNE, "/perceptions")):
        assert client.get(path).status_code == 200
    assert counts() == before
