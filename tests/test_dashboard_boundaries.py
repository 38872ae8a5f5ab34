"""Issue 13, acceptance 1: one suppression rule, applied everywhere.

A process whose counts of people sit on k-1, k and k+1 in every family (tests/
boundary_package.py) is rendered on every dashboard page (the overview, each family's page, all
families on one, the flags page, the dashboards menu) in French and English, at present and at a
past instant. No page shows a number between 1 and k-1, in its text, its charts' SVG text or
its accessible labels; and a figure hidden in one place is hidden in every other.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pvplatform.db import utcnow
from pvplatform.indicators import store
from pvplatform.indicators.dashboard_inputs import (
    dashboard_from_inputs,
    gather_dashboard_inputs,
    reading_hidden,
)
from pvplatform.indicators.overview import FAMILIES
from pvplatform.indicators.suppression import PRIMARY, SECONDARY, row_key, same_count
from pvplatform.participation.importer import import_package
from pvplatform.participation.labels import labels_of
from tests import page_text
from tests.boundary_package import LAST_HELD, S2, K, boundary_package

NOT_PEOPLE = "not-people"  # the class of an element whose number counts flags or sessions


def visible_text(page: str) -> str:
    """What a reader gets of the page, but for the inside of an element that declares its
    number counts no people (`class="not-people"`: flags, sessions)."""
    return page_text.visible_text(page, skip_class=NOT_PEOPLE)


MONTHS = (r"janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc|jan|feb|mar|apr|may|jun|"
          r"jul|aug|sep|oct|nov|dec")
NOT_COUNTS = [
    # Dates and times, as Babel writes them in both languages.
    re.compile(rf"\b\d{{1,2}}(?:er)?\s+(?:{MONTHS})\w*\.?(?:\s+\d{{4}})?", re.I),
    re.compile(rf"\b(?:{MONTHS})\w*\.?\s+\d{{1,2}}\b,?", re.I),
    re.compile(r"\b\d{1,2}[:h]\d{2}(?:\s*[AP]M)?", re.I),
    re.compile(r"\b\d{1,4}[/-]\d{1,2}[/-]\d{1,4}\b"),
    # The association that stayed away: a number of sessions, which are public, not of people.
    re.compile(r"(?:the last|aux) \d+ (?:sessions|dernières séances)"),
    # The scales the figures are read on: Gini and dissimilarity from 0 to 1, survey scores
    # from 1 to 5, a representation ratio of 1.
    re.compile(r"\(0\s?: [^,()]+, 1\s?: [^()]+\)"),
    re.compile(r"\b1 (?:to|à) 5\b"),
    re.compile(r"(?:ratio of|ratio de) 1\b|: 1 (?:means|signifie)"),
]
# A whole number standing alone: not part of a decimal, a percentage or a larger number.
STANDALONE = re.compile(r"(?<![\d.,])(\d+)(?![\d]|[.,]\d|\s?%)")


def small_numbers(text: str, k: int) -> list[str]:
    # Thousands separators (a space, a no-break or narrow no-break space, a comma) join the
    # groups of a number that does not start with 0 (0,001 is a decimal).
    text = re.sub(r"\b[1-9]\d{0,2}(?:[\s\u00a0\u202f,]\d{3})+\b",
                  lambda m: re.sub(r"[\s\u00a0\u202f,]", "", m.group(0)), text)
    for pattern in NOT_COUNTS:
        text = pattern.sub(" ", text)
    found = []
    for match in STANDALONE.finditer(text):
        if 1 <= int(match.group(1)) < k:
            found.append(text[max(0, match.start() - 60):match.end() + 40])
    return found


@pytest.fixture
def process(db, tmp_path: Path):
    found = import_package(boundary_package(tmp_path / "package"), now=utcnow())
    db.session.commit()
    store.refresh_flags(found.id, now=utcnow())
    db.session.commit()
    return found


@pytest.fixture
def staff(factory):
    return factory.user("staff", name="Agente de la mairie")  # no digit in the menu


def pages(process_id: int) -> list[str]:
    base = f"/manage/processes/{process_id}"
    past = S2 + (LAST_HELD - S2) / 2
    as_of = "?as_of=" + past.isoformat().replace("+", "%2B")
    return ([f"{base}/dashboard", f"{base}/dashboard/all", f"{base}/flags",
             "/manage/dashboards", f"{base}/dashboard{as_of}", f"{base}/dashboard/all{as_of}"]
            + [f"{base}/dashboard/{family}" for family in FAMILIES])


def test_the_package_sits_on_the_boundaries(process):
    """The fixture does what it says: counts at k-1, k and k+1, hidden for both reasons."""
    inputs = gather_dashboard_inputs(process.id, utcnow())
    rows = [*inputs.rows, *inputs.extra_rows]
    counts = {r.n for r in rows if r.code not in ("duality_count", "speaking_time_share")}
    assert {K - 1, K, K + 1} <= counts
    hidden = reading_hidden(inputs, K)
    reasons = set(hidden.values())
    assert {PRIMARY, SECONDARY} <= reasons
    codes = {f.code for f in inputs.flags}
    assert {"under_representation", "unanswered_proposals", "unreasoned_rejection",
            "value_eroding", "low_retention", "absent_invited_association",
            "official_dominance"} <= codes
    # A flag resting on a count hidden only to protect another (the adult category: k).
    adult = ("representation_ratio", "age", "adult", "", "", "")
    assert hidden[adult] == SECONDARY


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_page_shows_a_count_between_one_and_k_minus_one(client, login_as, staff, process,
                                                           language):
    login_as(staff)
    for url in pages(process.id):
        response = client.get(url, headers={"Accept-Language": language})
        assert response.status_code == 200, url
        leaks = small_numbers(visible_text(response.get_data(as_text=True)), K)
        assert not leaks, (url, leaks)


def test_the_checker_finds_a_small_count():
    """The scan is not blind: it finds what the pages must not show."""
    assert small_numbers("Inscrits : 4 (n = 4)", K)
    assert small_numbers('<text x="3">Jeunes : 3</text>', K)
    assert not small_numbers("moins de 5 · 1 000 habitants · 4,2 % · 0,42 · 3 déc. 2026", K)
    assert not small_numbers("p < 0,001 · 12 345 · 0,30", K)
    assert not small_numbers("Dec 3, 2026, 4:05 PM · 12 · 4.5", K)


def test_a_figure_is_hidden_everywhere_or_nowhere(app, process):
    """Rows that rest on the same count are hidden together, and the presenter shows each
    figure as hidden wherever it appears: a session's registrations and its no-show rate's n,
    the external attendees and each dimension's known share, a category's count in its table
    and in its flag."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        inputs = gather_dashboard_inputs(process.id, utcnow())
        rows = [*inputs.rows, *inputs.extra_rows]
        hidden = reading_hidden(inputs, K)
        held = [s.id for s in inputs.sessions if s.held]
        by_count: dict[object, set[bool]] = {}
        for row in rows:
            count = same_count(row, held)
            if count is not None:
                by_count.setdefault(count, set()).add(
                    hidden[row_key(row)] in (PRIMARY, SECONDARY))
        assert by_count and all(len(states) == 1 for states in by_count.values()), by_count

        d = dashboard_from_inputs(inputs, k=K, labels=labels_of(process.id))
        for session in d.sessions:
            if session.held:
                assert session.registered.suppressed == (session.no_show_rate.n is None)
        external = d.voice["attendees_external"].suppressed
        assert external  # 4 internal attendees: the external count goes with them
        assert all(dim.known_share.n is None for dim in d.dimensions)
        assert d.online["attendees_external"].suppressed == external

        categories = {c.category: c for dim in d.dimensions for c in dim.categories}
        flags = {(f.code, tuple(f.concerns)): f for f in d.flags}
        adult = categories["adult"]
        assert adult.attendees.suppressed and adult.attendee_share.suppressed
        adult_flag = next(f for (code, _), f in flags.items()
                          if code == "under_representation" and "adult" in f.message.lower())
        assert "a number not shown came" in adult_flag.message
        assert adult_flag.p_value is None and "not shown" in adult_flag.evidence
        renter = categories["renter"]
        assert not renter.attendees.suppressed
        renter_flag = next(f for f in d.flags
                           if f.code == "under_representation" and "renter" in f.message.lower())
        assert f"{renter.attendees.n_text} came" in renter_flag.message


def test_alert_e_mails_hide_what_the_dashboard_hides(app, db, factory, tmp_path, monkeypatch):
    """The alerts' e-mails, sent when the import raises them, read the figures like the
    dashboard: a shown count is printed, one hidden to protect another is not."""
    from pvplatform.core import mail

    sent: list[str] = []
    monkeypatch.setattr(mail, "send_mail", lambda to, subject, body: sent.append(body) or True)
    factory.user("staff", name="Agente de la mairie")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.org")
    import_package(boundary_package(tmp_path / "package"), now=utcnow())
    db.session.commit()
    assert sent
    body = sent[0]
    # The staff account reads French (the site's language): decimals with a comma.
    externals = "sous-représentée parmi les participant·es externes\xa0:"
    assert (f"«\xa0renter\xa0» (home) est {externals} 6 sont venu·es alors qu'on en attendait "
            "20,0 (ratio 0,30") in body
    assert f"«\xa0adult\xa0» (age) est {externals} un nombre non affiché sont venu·es" in body
    assert "p = non affiché" in body and "p < 0,001" in body
    assert not small_numbers(body.split("/manage/")[0], K)
