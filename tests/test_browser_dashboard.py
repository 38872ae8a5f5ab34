"""Issue 13 in Chromium: the dashboard at a glance on the demo fits one 1280×1000 screen and
reads on a 375 px phone without sideways scrolling; axe-core finds nothing serious on the
overview and the family pages in French and in English; a flag is acknowledged from the
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


def test_the_overview_fits_one_screen_and_every_page_passes_axe(demo):
    process_id, tour = demo
    for locale in ("fr-FR", "en-GB"):
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
        t.axe()
        families = page.get_by_role("navigation", name=_("Pages of the dashboard"))
        links = families.get_by_role("link")
        for i in range(1, links.count()):
            t.click(links.nth(i))
            t.axe()
        t.page.set_viewport_size({"width": 375, "height": 812})
        t.goto(f"/manage/processes/{process_id}/dashboard")
        assert _scroll_width(page) <= 375, f"the overview scrolls sideways in {locale}"
        t.axe()


def test_a_flag_is_acknowledged_from_the_overview(demo):
    process_id, tour = demo
    _ = translator("en")
    t = tour(locale="fr-FR", viewport={"width": 1280, "height": 1000})
    page = t.page
    t.goto("/")
    log_in(t, STAFF.email, STAFF.password, FR)
    t.click(page.get_by_role("button", name="English", exact=True))
    t.goto(f"/manage/processes/{process_id}/dashboard")
    first = page.locator(".overview-flag-list > li").first
    first.get_by_text(_("Acknowledge"), exact=False).first.click()
    first.get_by_label(_("Note"), exact=False).fill("Called the district association.")
    t.click(first.get_by_role("button", name=_("Acknowledge"), exact=True))
    assert page.url.endswith(f"/manage/processes/{process_id}/dashboard")
    assert _("acknowledged") in page.locator(".overview-flag-list").inner_text()
