"""Issue 13 in Chromium: the dashboard at a glance on the demo fits one 1280×1000 screen; every
dashboard page (the overview, each family, all of them) reads on a 375 px phone without sideways
scrolling, and axe-core finds nothing serious on any of them at 1280 and 375 px in French and in
English; the "as of" picker keeps its instant across the pages; a flag is acknowledged from the
overview."""

from __future__ import annotations

import pytest

from pvplatform.demo import DEMO_LOGINS, load_demo
from pvplatform.extensions import db as _db
from tests.browser import live_site, log_in, tours_on, translator

pytestmark = pytest.mark.browser

STAFF = next(login for login in DEMO_LOGINS if login.role == "staff")
FR = translator("fr")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with live_site(tmp_path_factory.mktemp("browser-dashboard")) as site:
        yield site


@pytest.fixture
def demo(live):
    with tours_on(live) as (app, tour):
        process = load_demo(echo=lambda _line: None)
        _db.session.commit()
        yield process.id, tour


def _scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _staff_in_english(tour):
    """The demo's staff account (it reads French), switched to English from the banner."""
    t = tour(locale="fr-FR", viewport={"width": 1280, "height": 1000})
    t.goto("/")
    log_in(t, STAFF.email, STAFF.password, FR)
    t.click(t.page.get_by_role("button", name="English", exact=True))
    return t


@pytest.mark.parametrize("locale", ("fr-FR", "en-GB"))
def test_the_overview_fits_one_screen_and_every_page_passes_axe(demo, locale):
    """One visit per language: the overview fits 1280×1000; then every dashboard page (the
    overview, each family, all of them, the dashboards menu's page and the flags page) at 1280
    and at 375 px, axe-clean, without sideways scrolling on the phone."""
    process_id, tour = demo
    _ = translator(locale[:2])
    # The demo's staff account reads French: English through the language switch.
    t = tour(locale="fr-FR", viewport={"width": 1280, "height": 1000})
    page = t.page
    t.goto("/")
    log_in(t, STAFF.email, STAFF.password, FR)
    if locale == "en-GB":
        t.click(page.get_by_role("button", name="English", exact=True))
    nav = page.get_by_role("navigation", name=_("Main navigation"))
    t.click(nav.get_by_role("link", name=_("Dashboards"), exact=True))
    t.click(page.locator(f'tr[data-process="{process_id}"] th a'))
    assert page.url.endswith(f"/manage/processes/{process_id}/dashboard")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 1000, f"the overview is {height} px high in {locale}"
    text = t.main_text()
    assert _("Risk flags") in text and _("Key figures") in text
    # The demo's sessions are held: the key figures say how they moved since the latest.
    assert page.locator(".key-figure-trend").count() >= 3
    # Every page of the dashboard, from its own navigation.
    families = page.get_by_role("navigation", name=_("Pages of the dashboard"))
    paths = families.get_by_role("link").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    assert len(paths) == 9 and paths[0] == f"/manage/processes/{process_id}/dashboard"
    # And the two pages around it: the menu's list of dashboards and the flags in full.
    paths += ["/manage/dashboards", f"/manage/processes/{process_id}/flags"]
    # Every page is checked before failing, so that one run lists all that is wrong.
    problems = []
    for width, height in ((1280, 1000), (375, 812)):
        page.set_viewport_size({"width": width, "height": height})
        for path in paths:
            try:
                t.goto(path)  # Tour.check: no script error, nothing wider than the window
                assert _scroll_width(page) <= width, f"{path} scrolls sideways"
                t.axe()
            except AssertionError as error:
                problems.append(f"{path} at {width} px: {error}")
    assert not problems, f"in {locale}:\n" + "\n".join(problems)


def test_the_picker_of_the_dashboard_keeps_its_instant(demo):
    """The "as of" picker, from the keyboard, on a family page: the same page at that instant,
    and the links to the other pages keep it."""
    process_id, tour = demo
    _ = translator("en")
    t = _staff_in_english(tour)
    page = t.page
    t.goto(f"/manage/processes/{process_id}/dashboard/voice")
    page.get_by_label(_("Figures as of"), exact=True).fill("2026-03-01T01:00")
    page.get_by_label(_("Figures as of"), exact=True).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    t.check()
    assert "/dashboard/voice?as_of=2026-03-01T00" in page.url
    assert page.locator("#as-of-instant").get_attribute("data-as-of") == (
        "2026-03-01T00:00:00+00:00")
    assert page.get_by_label(_("Figures as of"), exact=True).input_value() == "2026-03-01T01:00"
    families = page.get_by_role("navigation", name=_("Pages of the dashboard"))
    t.click(families.get_by_role("link", name=_("At a glance")))
    assert page.url.endswith(
        f"/manage/processes/{process_id}/dashboard?as_of=2026-03-01T00:00:00%2B00:00")
    assert _("See the figures now") in t.main_text()
    t.click(page.get_by_role("link", name=_("See the figures now")))
    assert page.url.endswith(f"/manage/processes/{process_id}/dashboard")


def test_a_flag_is_acknowledged_from_the_overview(demo):
    process_id, tour = demo
    _ = translator("en")
    t = _staff_in_english(tour)
    page = t.page
    t.goto(f"/manage/processes/{process_id}/dashboard")
    first = page.locator(".overview-flag-list > li").first
    first.get_by_text(_("Acknowledge"), exact=False).first.click()
    first.get_by_label(_("Note"), exact=False).fill("Called the district association.")
    t.click(first.get_by_role("button", name=_("Acknowledge"), exact=True))
    assert page.url.endswith(f"/manage/processes/{process_id}/dashboard")
    assert _("acknowledged") in page.locator(".overview-flag-list").inner_text()
