"""Real-browser helpers: Debian's Chromium driven by Playwright against a live threaded server.

Skips with a clear reason when Chromium or Playwright is missing locally; under CI=true a missing
browser is a failure, not a skip. `Tour` (test_browser_roles.py) is one person's visit in a fresh
browser context, every page checked on arrival; `Tour.axe` runs axe-core on the current page.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def live_site(folder) -> Iterator[tuple]:
    """(app, base URL, browser): the app on a file-backed SQLite database in `folder` (the server
    runs in another thread), with CSRF on and static files cached as a front server would, and
    one Chromium for the module's tours."""
    from tests.conftest import ensure_compiled_catalogues, make_app, seed_reference_data

    require_browser()
    ensure_compiled_catalogues()  # the server reads the .mo files
    app = make_app(WTF_CSRF_ENABLED=True,
                   SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'site.sqlite'}",
                   SEND_FILE_MAX_AGE_DEFAULT=3600)
    from pvplatform.extensions import db

    with app.app_context():
        db.create_all()
        seed_reference_data()
    with live_server(app) as base, chromium_browser() as browser:
        yield app, base, browser
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def require_browser() -> None:
    missing = None
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright is not installed (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)


@contextmanager
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium_page(locale: str = "fr-FR"):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(locale=locale, viewport={"width": 390, "height": 844})
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            yield page, problems
        finally:
            browser.close()


# ---------------------------------------------------------------- role tours (test_browser_roles)

MOBILE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
# axe-core findings of these impacts fail a test ("minor" and "moderate" ones do not).
AXE_FAILING_IMPACTS = ("serious", "critical")


def translator(locale: str):
    """gettext over the language's catalogue, so that a test names buttons and links the way the
    page in that language shows them (the msgid itself, in English, when untranslated). Read from
    the .po: importing a test module writes no file."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    path = (Path(__file__).resolve().parent.parent / "pvplatform" / "translations" / locale
            / "LC_MESSAGES" / "messages.po")
    with path.open("rb") as f:
        catalog = read_po(f)

    def gettext(message: str) -> str:
        entry = catalog.get(message)
        if entry is None or entry.fuzzy or not isinstance(entry.string, str) or not entry.string:
            return message
        return entry.string

    return gettext


@contextmanager
def chromium_browser():
    """One browser for a whole module; each test opens its own context (cookies, storage)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Tour:
    """One person's visit in a fresh browser context. Every page reached through it is checked:
    no console error (a CSP violation is one), no uncaught script error, one <main>, an <h1>,
    and the HTTP status the step expects. Confirmation dialogs are answered yes, and kept."""

    def __init__(self, browser, base: str, *, locale: str = "fr-FR",
                 viewport: dict[str, int] | None = None) -> None:
        self.base = base
        self.context = browser.new_context(locale=locale, viewport=viewport or DESKTOP)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", self._on_dialog)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def close(self) -> None:
        self.context.close()

    # -- moving around

    def goto(self, path: str, status: int = 200):
        response = self.page.goto(self.base + path)
        return self._arrived(response, status, f"GET {path}")

    def click(self, locator, status: int = 200):
        """Clicks a link or a submit button and waits for the page it leads to."""
        with self.page.expect_navigation() as navigation:
            locator.click()
        return self._arrived(navigation.value, status, f"click on {locator}")

    def _arrived(self, response, status: int, what: str):
        assert response is not None, f"{what}: no response"
        if status >= 400 and response.status == status:
            self.forgive(status)
        assert response.status == status, (
            f"{what}: HTTP {response.status} at {self.page.url}, expected {status}\n"
            + self.page.locator("main").inner_text()[:800])
        self.check()
        return response

    def forgive(self, status: int) -> None:
        """Chromium logs an error page (403, 404, 422 on a refused form) as a failed load; when
        the step expects that status, that one line is not a problem."""
        expected = f"Failed to load resource: the server responded with a status of {status} "
        self.problems = [p for p in self.problems if expected not in p]

    def check(self) -> None:
        page = self.page
        page.wait_for_load_state("load")
        # One round trip for the structure and the width.
        mains, h1s, width, window = page.evaluate(
            "[document.querySelectorAll('main').length, document.querySelectorAll('h1').length,"
            " document.documentElement.scrollWidth, window.innerWidth]")
        assert not self.problems, "\n".join(self.problems)
        assert mains == 1, f"{page.url}: {mains} <main> elements"
        assert h1s >= 1, f"{page.url}: no <h1>"
        # On a phone nothing may push the page sideways (wide tables scroll in their own box).
        assert width <= window, f"{page.url}: {width} px wide in a {window} px window"

    # -- reading

    def main_text(self) -> str:
        return self.page.locator("main").inner_text()

    def flash_text(self) -> str:
        return self.page.locator("[role=status]").inner_text()

    # -- accessibility

    def axe(self) -> None:
        """axe-core on the current page; serious or critical findings fail, with their nodes."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        failing = [v for v in results.response["violations"]
                   if v.get("impact") in AXE_FAILING_IMPACTS]
        lines = []
        for v in failing:
            targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])][:5]
            lines.append(f"{v['impact']} {v['id']}: {v['help']} -> {targets}")
        assert not failing, f"axe on {self.page.url}:\n" + "\n".join(lines)
        self.check()  # axe itself must not trip the CSP


def english(message: str) -> str:
    return message


@contextmanager
def tours_on(live) -> Iterator[tuple]:
    """(app, tour) for one test: the app's context pushed on an empty database (for building
    data and reading results) and `tour(**kwargs)`, which opens a visit in a fresh browser
    context; every visit is closed and the database emptied afterwards."""
    from tests.conftest import wipe_database

    app, base, browser = live
    tours: list[Tour] = []

    def tour(**kwargs) -> Tour:
        t = Tour(browser, base, **kwargs)
        tours.append(t)
        return t

    with app.app_context():
        wipe_database()
        yield app, tour
        for t in tours:
            t.close()
        wipe_database()


def log_in(t: Tour, email: str, password: str, _=english) -> None:
    """Logs in through the banner's link; `_` translates the labels of the tour's language."""
    page = t.page
    t.click(page.get_by_role("banner").get_by_role("link", name=_("Log in"), exact=True))
    page.get_by_label(_("E-mail"), exact=True).fill(email)
    page.get_by_label(_("Password"), exact=True).fill(password)
    t.click(page.get_by_role("main").get_by_role("button", name=_("Log in")))
    assert page.get_by_role("button", name=_("Log out")).is_visible()
