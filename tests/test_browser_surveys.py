"""A citizen answers the baseline survey on a 360 px phone, with the keyboard only, in Debian's
Chromium: from My space to the survey, every question answered with Tab, the arrow keys and
Space, saved with Enter. CSRF and the CSP are on; every page reached is checked by
tests/browser.py's Tour (no console error or CSP violation, no sideways scrolling, a <main> and
an <h1>), and axe-core finds nothing serious on the survey page in French and in English.

As in test_browser_roles.py, the live server shares a file-backed SQLite database with the test;
the PostgreSQL pass of the suite leaves browser tests out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.browser import MOBILE, live_site, log_in, tours_on, translator
from tests.conftest import (
    PASSWORD,
    Factory,
)

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]

fr = translator("fr")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with live_site(tmp_path_factory.mktemp("browser-surveys")) as site:
        yield site


@pytest.fixture
def site(live):
    """The app (its context pushed, for building data and reading results) and a way to open
    tours, each in a fresh browser context."""
    with tours_on(live) as site:
        yield site


def focused(page) -> dict:
    """The element the keyboard is on, and whether its focus can be seen."""
    return page.evaluate(
        "(() => { const e = document.activeElement, s = getComputedStyle(e);"
        " return {tag: e.tagName, type: e.type || '', name: e.name || '', value: e.value || '',"
        " checked: !!e.checked, text: (e.innerText || '').trim(),"
        " outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; })()")


def tab_to_radio_group(page, name: str, limit: int = 60) -> dict:
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if now["type"] == "radio":
            assert now["name"] == name, f"the keyboard reached {now['name']} before {name}"
            return now
    raise AssertionError(f"Tab never reached the question {name}")


def choose(page, name: str, steps_down: int) -> dict:
    """On a question's first option (none chosen yet): Space chooses it, each arrow down moves
    to the next option and chooses it."""
    first = tab_to_radio_group(page, name)
    assert first["value"] == "1" and not first["checked"]
    assert first["outline"], "the focused option must show its focus"
    page.keyboard.press("Space")
    for _ in range(steps_down):
        page.keyboard.press("ArrowDown")
    now = focused(page)
    assert now["checked"] and now["outline"]
    return now


def test_a_citizen_answers_the_baseline_on_a_phone_with_the_keyboard(site):
    from pvplatform.feedback import surveys
    from pvplatform.feedback.defaults import DEFAULT_VALUES
    from pvplatform.feedback.models import Perception, PublicValue, Wave
    from pvplatform.participation.services import participant_for

    app, tour = site
    now = utcnow()
    f = Factory()
    staff = f.user("staff")
    citizen = f.user("citizen", email="camille@example.org", name="Camille Durand")
    process = f.process()
    values = [PublicValue(process_id=process.id, code=d.code, name=d.name, name_en=d.name_en,
                          statement=d.statement, statement_en=d.statement_en, position=i)
              for i, d in enumerate(DEFAULT_VALUES[:3])]
    _db.session.add_all(values)
    _db.session.commit()
    surveys.open_wave(process, Wave.BASELINE, by=staff, now=now - timedelta(minutes=5))
    person = participant_for(citizen)
    surveys.offer(process, person, Wave.BASELINE, now=now - timedelta(minutes=5))
    _db.session.commit()
    ids = {"person": person.id, "values": [v.id for v in values]}
    statements = [d.statement for d in DEFAULT_VALUES[:3]]
    _db.session.rollback()  # no transaction of the test may hold SQLite while the server writes

    t = tour(locale="fr-FR", viewport=MOBILE)
    page, _ = t.page, fr
    t.goto("/")
    log_in(t, "camille@example.org", PASSWORD, _)

    # My space calls to answer; the survey is one link away.
    t.click(page.get_by_role("navigation").get_by_role("link", name=_("My space")))
    awaited = page.get_by_role("region", name=_("Your view is awaited"))
    t.click(awaited.get_by_role("link", name=_("Survey at the start of %(process)s")
                                % {"process": process.title}))
    assert page.get_by_role("heading", level=1).inner_text().endswith(process.title)
    assert page.locator("html").get_attribute("lang") == "fr"
    legends = [text.strip() for text in page.locator("fieldset legend").all_inner_texts()]
    assert legends == statements
    t.axe()

    # Keyboard only: each question's options are reached with Tab, chosen with Space and the
    # arrow keys; Enter on the button saves.
    names = [f"value-{i}" for i in ids["values"]]
    assert choose(page, names[0], 3)["value"] == "4"
    assert choose(page, names[1], 5)["value"] == "dk"
    assert choose(page, names[2], 1)["value"] == "2"
    page.keyboard.press("Tab")
    button = focused(page)
    assert button["tag"] == "BUTTON" and button["text"] == _("Save my answers")
    assert button["outline"]
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    assert navigation.value is not None and navigation.value.status == 200
    t.check()
    assert _("Your answers are saved. You can change them until the survey closes.") in \
        t.flash_text()
    _db.session.rollback()
    stored = _db.session.execute(
        sa.select(Perception.public_value_id, Perception.score)
        .where(Perception.participant_id == ids["person"]).order_by(Perception.id)).all()
    assert [tuple(r) for r in stored] == [(ids["values"][0], 4), (ids["values"][1], None),
                                          (ids["values"][2], 2)]
    # The page shows the answers chosen, ready to be changed.
    assert page.locator(f"input[name='{names[0]}'][value='4']").is_checked()
    assert page.locator(f"input[name='{names[1]}'][value='dk']").is_checked()

    # The same page in English: the questions in English, and axe again.
    t.click(page.get_by_role("button", name="English"))
    assert page.locator("html").get_attribute("lang") == "en"
    legends = [text.strip() for text in page.locator("fieldset legend").all_inner_texts()]
    assert legends == [d.statement_en for d in DEFAULT_VALUES[:3]]
    assert page.get_by_role("heading", level=1).inner_text() == (
        f"Survey at the start of {process.title}")
    assert "3 of 3 questions answered" in t.main_text()
    t.axe()

    # My surveys, in English too.
    t.click(page.get_by_role("link", name="All my surveys"))
    assert "Change my answers" in t.main_text()
    t.axe()
