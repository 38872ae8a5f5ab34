"""An evaluator's visit in Debian's Chromium (acceptance 7 of issue 11): log in, open "Evaluation"
from the menu, open the process, change the "as of" instant with the picker from the keyboard,
download the spreadsheet and the aggregated data package, read the perception results; axe-core
finds nothing serious or critical on the index, the workspace and the perception results, in
French and in English, nor on the admin's grants page.

As in test_browser_roles.py, the live server shares a file-backed SQLite database with the test;
CSRF and the CSP are on, and every page reached is checked by tests/browser.py's Tour.
"""

from __future__ import annotations

import zipfile
from datetime import timedelta

import pytest

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.browser import DESKTOP, live_site, log_in, tours_on, translator
from tests.conftest import STAFF_PASSWORD, Factory
from tests.examples import TINY

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

fr = translator("fr")
MARCH_UTC = "2026-03-01T00:00:00+00:00"
MARCH_IN_PARIS = "2026-03-01T01:00"  # the same instant on the picker (Europe/Paris, winter)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with live_site(tmp_path_factory.mktemp("browser-evaluator")) as site:
        yield site


@pytest.fixture
def site(live):
    """The app (its context pushed, for building data and reading results) and a way to open
    tours, each in a fresh browser context."""
    with tours_on(live) as site:
        yield site


def world() -> dict:
    from pvplatform.evaluation.models import EvaluatorGrant, GrantScope
    from pvplatform.participation.importer import import_package

    now = utcnow()
    process = import_package(TINY, now=now)
    f = Factory()
    evaluator = f.user("evaluator", name="Eva Luator")
    admin = f.user("admin", name="Ada Admin")
    _db.session.add(EvaluatorGrant(user_id=evaluator.id, process_id=process.id,
                                   scope=GrantScope.READ, granted_by_id=admin.id,
                                   granted_at=now - timedelta(days=1)))
    _db.session.commit()
    return {"process": process.id, "title": process.title, "evaluator": evaluator.email,
            "admin": admin.email}


def test_an_evaluator_reads_a_past_instant_and_downloads_it(site, tmp_path):
    from openpyxl import load_workbook

    _app, tour = site
    w = world()
    t = tour(locale="fr-FR", viewport=DESKTOP)
    page, _ = t.page, fr
    t.goto("/")
    log_in(t, w["evaluator"], STAFF_PASSWORD, _)

    nav = page.get_by_role("navigation", name=_("Main navigation"))
    t.click(nav.get_by_role("link", name=_("Evaluation"), exact=True))
    assert page.locator("html").get_attribute("lang") == "fr"
    t.axe()
    t.click(page.get_by_role("main").get_by_role("link", name=w["title"]))
    assert page.get_by_role("heading", level=1).inner_text() == w["title"]
    t.axe()

    # The picker: type the date and time, submit.
    page.get_by_label(_("Figures as of"), exact=True).fill(MARCH_IN_PARIS)
    t.click(page.get_by_role("button", name=_("Show the figures at this instant")))
    assert page.locator("#as-of-instant").get_attribute("data-as-of") == MARCH_UTC
    assert page.get_by_label(_("Figures as of"), exact=True).input_value() == MARCH_IN_PARIS
    assert "2026" in page.locator("#as-of-instant").inner_text()
    assert "as_of=2026-03-01T00" in page.url

    # The spreadsheet of this instant opens, and so does the aggregated data package.
    downloads = page.locator("#download-links")
    with page.expect_download() as download:
        downloads.get_by_role("link", name=_("Indicators and flags (spreadsheet, XLSX)")).click()
    xlsx = tmp_path / "figures.xlsx"
    download.value.save_as(xlsx)
    workbook = load_workbook(xlsx, read_only=True)
    assert len(workbook.sheetnames) >= 2  # one sheet per family and the README
    workbook.close()
    with page.expect_download() as download:
        downloads.get_by_role("link", name=_("Aggregated data package (ZIP)")).click()
    package = tmp_path / "package.zip"
    download.value.save_as(package)
    with zipfile.ZipFile(package) as archive:
        assert any(name.rsplit("/", 1)[-1] == "datapackage.json" for name in archive.namelist())
    t.check()

    # The perception results of the same instant.
    t.click(page.locator("#perception-results-link").get_by_role("link"))
    assert page.locator("#as-of-instant").get_attribute("data-as-of") == MARCH_UTC
    t.axe()

    # The same pages in English.
    t.click(page.get_by_role("button", name="English"))
    assert page.locator("html").get_attribute("lang") == "en"
    t.axe()
    t.click(page.get_by_role("main").get_by_role("link", name=w["title"]))
    assert page.locator("#as-of-instant").get_attribute("data-as-of") == MARCH_UTC
    t.axe()
    t.click(page.get_by_role("banner").get_by_role("link", name="Evaluation", exact=True))
    t.axe()
    assert w["title"] in t.main_text()


def test_the_admins_grants_page_passes_axe(site):
    _app, tour = site
    w = world()
    t = tour(locale="fr-FR", viewport=DESKTOP)
    page, _ = t.page, fr
    t.goto("/")
    log_in(t, w["admin"], STAFF_PASSWORD, _)
    nav = page.get_by_role("navigation", name=_("Main navigation"))
    t.click(nav.get_by_role("link", name=_("Evaluators"), exact=True))
    assert "Eva Luator" in t.main_text()
    t.axe()
