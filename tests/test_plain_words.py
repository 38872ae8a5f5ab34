"""Plain words everywhere (issue 13): no page a person reads shows the code of a dimension or a
category that has a label, in French or in English.

The world is the tiny example (flags fire on age_band, district and housing), with every
dimension and category named in both languages through the staff pages, absence reasons per
group, a citizen who answered a question of a finished process, a stored snapshot for the
dashboard's background path, and the audit rows all that leaves. Codes were chosen so that they
cannot appear by accident; the visible text is what a reader sees or hears (text, aria-label,
title, alt), not attribute values such as name=, value=, id= or addresses.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import (
    Dimension,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import Meeting
from tests.examples import TINY
from tests.page_text import visible_text

LANGS = ("fr", "en")
FR, EN = 0, 1

# code -> (French label, English label): no label holds its code, even in another case.
DIMENSIONS = {
    "age_band": ("Tranche d'âge", "Age group"),
    "gender": ("Identité", "Identity"),
    "district": ("Quartier", "Neighbourhood"),
    "housing": ("Statut d'occupation", "Tenure"),
}
CATEGORIES = {
    ("age_band", "18-29"): ("18 à 29 ans", "18 to 29"),
    ("age_band", "30-44"): ("30 à 44 ans", "30 to 44"),
    ("age_band", "45-59"): ("45 à 59 ans", "45 to 59"),
    ("age_band", "60-74"): ("60 à 74 ans", "60 to 74"),
    ("age_band", "75+"): ("75 ans et plus", "75 and over"),
    ("gender", "woman"): ("Femme", "Female"),
    ("gender", "man"): ("Homme", "Male"),
    ("gender", "other"): ("Autre", "Another"),
    ("district", "centre"): ("Cœur de ville", "Downtown"),
    ("district", "north"): ("Nord", "Uptown"),
    ("district", "south"): ("Sud", "Riverside"),
    ("district", "east"): ("Est", "Eastside"),
    ("housing", "owner"): ("Propriétaire", "Freeholder"),
    ("housing", "renter"): ("Locataire", "Tenant"),
    ("housing", "social_housing"): ("Logement social", "Council flat"),
}
# A question of a finished process that a citizen answered (shown as "kept from earlier").
OLD_DIMENSION = ("household_kind", "Foyer", "Household")
OLD_CATEGORY = ("lone_parent", "Parent seul", "Single parent")

# "other" is an ordinary word of both languages: it is the one code not looked for.
CODES = (*DIMENSIONS, "18-29", "60-74", "woman", "man", "centre", "north", "south", "east",
         "owner", "renter", "social_housing", OLD_DIMENSION[0], OLD_CATEGORY[0])


def _code(code: str) -> re.Pattern[str]:
    # As it is stored, a whole word: a label may well be the code capitalised ("District").
    return re.compile(rf"(?<![\w-]){re.escape(code)}(?![\w-])")


def raw_codes(text: str) -> list[str]:
    """The codes written as they are in the text."""
    return [code for code in CODES if _code(code).search(text)]


def show(text: str, code: str) -> str:
    """Where a code appears, for the failure message."""
    match = _code(code).search(text)
    assert match is not None
    return text[max(0, match.start() - 80):match.end() + 80].replace("\n", " ")


# ---------------------------------------------------------------- the world


def _name_everything(client, process_id: int) -> None:
    """Staff name each dimension and category in both languages, on the pages made for it."""
    dimensions = _db.session.scalars(
        sa.select(Dimension).where(Dimension.process_id == process_id)).all()
    for dimension in dimensions:
        fr, en = DIMENSIONS[dimension.code]
        response = client.post(f"/manage/dimensions/{dimension.id}/edit", data={
            "label": fr, "label_en": en, "position": str(dimension.position)})
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    strata = _db.session.scalars(
        sa.select(Stratum).where(Stratum.process_id == process_id)).all()
    for stratum in strata:
        fr, en = CATEGORIES[(stratum.dimension, stratum.category)]
        response = client.post(f"/manage/categories/{stratum.id}/edit", data={
            "label": fr, "label_en": en, "population_share": str(stratum.population_share)})
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]


def _finished_process_question(client, factory) -> int:
    """A finished process that asked about the household, added through the staff pages, with
    the default questions too (their audit row lists codes)."""
    old = factory.process(title="Budget participatif 2025",
                          today=utcnow().date() - timedelta(days=400))
    code, fr, en = OLD_DIMENSION
    response = client.post(f"/manage/processes/{old.id}/demographics", data={
        "code": code, "label": fr, "label_en": en, "position": ""})
    assert response.status_code == 303
    dimension = _db.session.scalar(sa.select(Dimension).where(
        Dimension.process_id == old.id, Dimension.code == code))
    category, cat_fr, cat_en = OLD_CATEGORY
    prefix = f"c{dimension.id}"
    response = client.post(f"/manage/dimensions/{dimension.id}/categories", data={
        f"{prefix}-code": category, f"{prefix}-label": cat_fr, f"{prefix}-label_en": cat_en,
        f"{prefix}-population_share": "1"})
    assert response.status_code == 303
    assert client.post(f"/manage/processes/{old.id}/demographics/defaults").status_code == 303
    return old.id


def _absence_reasons(process_id: int) -> None:
    """Absent people of a held session gave their reasons (the ledger splits them per group)."""
    meeting = _db.session.scalar(sa.select(Meeting).where(
        Meeting.process_id == process_id).order_by(Meeting.starts_at.desc()).limit(1))
    people = _db.session.scalars(
        sa.select(Participant.id).join(ParticipantAttribute,
                                       ParticipantAttribute.participant_id == Participant.id)
        .where(ParticipantAttribute.dimension == "district").order_by(Participant.id)
        .limit(40)).all()
    reasons = list(AbsenceReason)
    now = utcnow()
    _db.session.add_all(
        AbsenceRequest(meeting_id=meeting.id, participant_id=pid, kind=AbsenceKind.NO_SHOW,
                       created_at=now, answered_at=now, reason=reasons[i % 3])
        for i, pid in enumerate(people))
    _db.session.commit()


def _stored_snapshot(process_id: int) -> None:
    """The worker's stored results, which the dashboard reads in the background mode."""
    from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs
    from pvplatform.indicators.snapshots import snapshot_payload, store_snapshot

    inputs = gather_dashboard_inputs(process_id, utcnow())
    store_snapshot(process_id, snapshot_payload(inputs), computed_at=inputs.as_of, version=1)
    _db.session.commit()


@pytest.fixture
def world(client, factory, login_as):
    # Staff exist before the import: the alerts it raises reach them as notifications.
    staff = factory.user("staff", name="Agente Durand")
    admin = factory.user("admin", name="Admin Roux")
    citizen = factory.user("citizen", name="Habitante Leroy")
    process = import_package(TINY, now=utcnow())
    _db.session.commit()
    login_as(staff)
    _name_everything(client, process.id)
    old_id = _finished_process_question(client, factory)
    client.post("/auth/logout")
    participant = participant_for(citizen)
    _db.session.add(ParticipantAttribute(participant_id=participant.id,
                                         dimension=OLD_DIMENSION[0], category=OLD_CATEGORY[0]))
    _db.session.commit()
    _absence_reasons(process.id)
    _stored_snapshot(process.id)
    meeting_id = _db.session.scalar(sa.select(Meeting.id).where(
        Meeting.process_id == process.id).order_by(Meeting.starts_at).limit(1))
    return {"process": process.id, "old": old_id, "meeting": meeting_id, "staff": staff,
            "admin": admin, "citizen": citizen}


def _pages(world) -> dict[str, list[str]]:
    pid, mid = world["process"], world["meeting"]
    return {
        "staff": [
            f"/manage/processes/{pid}/dashboard",
            f"/manage/processes/{pid}/flags",
            f"/manage/processes/{pid}/ledger",
            f"/manage/sessions/{mid}/ledger",
            f"/manage/processes/{pid}/absence-reasons",
            f"/manage/processes/{pid}/perceptions",
            f"/manage/sessions/{mid}",
            "/audit",
            "/notifications",
        ],
        "admin": [
            f"/evaluate/processes/{pid}",
            f"/evaluate/processes/{pid}/perceptions",
        ],
        "citizen": ["/me/demographics"],
    }


# Pages that name the process's dimensions: each must show them in the reader's language.
NAMING_PAGES = ("/dashboard", "/flags", "/absence-reasons", "/perceptions",
                "/evaluate/processes/", "/me/demographics")


def _read(client, login_as, user, lang: str, urls: list[str]) -> dict[str, str]:
    login_as(user)
    client.post("/language", data={"lang": lang, "next": "/"})
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        pages[url] = visible_text(response.get_data(as_text=True))
    client.post("/auth/logout")
    return pages


@pytest.mark.parametrize("lang", LANGS)
def test_no_page_shows_a_code_that_has_a_label(client, login_as, world, lang):
    found = {}
    for role, urls in _pages(world).items():
        for url, text in _read(client, login_as, world[role], lang, urls).items():
            for code in raw_codes(text):
                found.setdefault(url, []).append(f"{code!r} in …{show(text, code)}…")
            if any(part in url for part in NAMING_PAGES):
                label = DIMENSIONS["district"][EN if lang == "en" else FR]
                if "/me/demographics" in url:
                    label = OLD_DIMENSION[2 if lang == "en" else 1]
                if label not in text:
                    found.setdefault(url, []).append(f"no {label!r}")
    assert not found, "\n".join(f"{url}: {where}" for url, hits in found.items()
                                 for where in hits)


@pytest.mark.parametrize("lang", LANGS)
def test_the_dashboard_from_stored_results_speaks_plain_words(client, login_as, world, app,
                                                              monkeypatch, lang):
    """The background mode reads the worker's snapshot: its stored flag messages keep codes,
    and rendering turns them into the reader's words."""
    from pvplatform.indicators.snapshots import live_snapshot

    monkeypatch.setitem(app.config, "PV_REFRESH", "background")
    assert live_snapshot(world["process"]) is not None
    url = f"/manage/processes/{world['process']}/dashboard"
    text = _read(client, login_as, world["staff"], lang, [url])[url]
    assert raw_codes(text) == [], [show(text, c) for c in raw_codes(text)]
    # The under-representation message of the east, from the stored payload.
    said = (r'Category "Eastside" of Neighbourhood is under-represented' if lang == "en"
            else r"«\s*Est\s*»\s*\(Quartier\) est sous-représentée")
    assert re.search(said, text), said


@pytest.mark.parametrize("lang", LANGS)
def test_the_evaluators_csv_names_dimensions_and_categories(client, login_as, world, lang):
    """The CSV tables people open in a spreadsheet: the codes stay in their key columns, and
    beside them the labels in the reader's language; messages speak plain words."""
    login_as(world["admin"])
    client.post("/language", data={"lang": lang, "next": "/"})
    which = EN if lang == "en" else FR
    for table in ("flags", "ledger", "indicators"):
        response = client.get(f"/evaluate/processes/{world['process']}/export.csv",
                              query_string={"table": table})
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
        assert rows and "dimension_label" in rows[0] and "category_label" in rows[0], table
        with_dimension = [r for r in rows if r["dimension"]]
        assert with_dimension, table
        for row in with_dimension:
            assert row["dimension_label"] == DIMENSIONS[row["dimension"]][which], row
            if row["category"] and row["category"] != "unknown":
                assert row["category_label"] == CATEGORIES[
                    (row["dimension"], row["category"])][which], row
        for row in rows:
            words = " ".join(row.get(c) or "" for c in ("message", "dimension_label",
                                                         "category_label"))
            assert raw_codes(words) == [], (table, row)
    client.post("/auth/logout")


def test_the_audit_log_writes_details_as_sentences(client, login_as, world):
    """Every shape of details the code writes reads as words: no list or dict notation, no
    True or None, codes of roles, waves and flags by their names, changes as before → after."""
    from pvplatform.moderation.audit import record_audit

    staff, pid = world["staff"], world["process"]
    key = '["district","east","","",null,null]'
    rows = [
        ("user.role_change", "user", {"from": "citizen", "to": "staff", "reason": "Agente"}),
        ("thresholds.update", "process", {"from": {"alpha": 0.05, "weak_below": 3.0},
                                          "to": {"alpha": 0.01, "weak_below": 3.0}}),
        ("process.create", "process", {"title": "Agenda", "goals": [11, 13],
                                       "standard_phases": True}),
        ("api_token.create", "api_token", {"name": "R", "prefix": "pvp_ab",
                                           "expires_at": None}),
        ("flag.acknowledge", "flag", {"code": "under_representation", "key": key,
                                      "severity": "warning", "note": "Vu"}),
        ("survey_opened", "process", {"wave": "baseline", "offered": 12}),
        ("session.update", "session", {"changed": ["starts_at", "title"]}),
        ("dimension.delete", "dimension", {"code": "gone_question", "label": "Question partie",
                                           "label_en": "Gone question"}),
    ]
    for action, target, details in rows:
        record_audit(staff, action, target, 1, process_id=pid, details=details)
    _db.session.commit()
    for lang in LANGS:
        login_as(staff)
        client.post("/language", data={"lang": lang, "next": "/"})
        html = client.get("/audit").get_data(as_text=True)
        client.post("/auth/logout")
        cells = [visible_text(c).strip() for c in re.findall(
            r'<td class="audit-details">(.*?)</td>', html, re.S)]
        assert len(cells) >= len(rows)
        for cell in cells:
            assert not re.search(r"[\[\]{}]|\bTrue\b|\bNone\b|\bFalse\b", cell), cell
            assert raw_codes(cell) == [], cell
        text = " ".join(cells)
        assert "under_representation" not in text and "gone_question" not in text
        if lang == "en":
            assert "Role: Citizen → Staff" in text
            assert "0.05 → 0.01" in text and "Under-represented category" in text
            assert "Neighbourhood: Eastside" in text and "Gone question" in text
            assert "baseline survey" in text and "standard phases: yes" in text
        else:
            assert "Question partie" in text and "Quartier" in text


# ---------------------------------------------------------------- the lookup


def test_a_label_falls_back_to_the_other_language_then_to_the_code(app):
    from flask_babel import force_locale

    from pvplatform.participation.labels import ProcessLabels, Words

    labels = ProcessLabels(
        {"both": Words("Quartier", "Neighbourhood"), "french": Words("Quartier", None),
         "english": Words(None, "Neighbourhood")},
        {("both", "north"): Words("Nord", "Uptown"), ("both", "bare"): Words(None, None)})
    with app.test_request_context(), force_locale("en"):
        assert [labels.dimension(c) for c in ("both", "french", "english", "imported")] == [
            "Neighbourhood", "Quartier", "Neighbourhood", "imported"]
        assert labels.category("both", "north") == "Uptown"
        assert labels.category("both", "bare") == "bare"  # nothing else exists
        assert labels.category("both", "north", "fr") == "Nord"
    with app.test_request_context(), force_locale("fr"):
        assert [labels.dimension(c) for c in ("both", "french", "english", "imported")] == [
            "Quartier", "Quartier", "Neighbourhood", "imported"]
        assert labels.term("both", "north") == "Nord" and labels.term("both") == "Quartier"


def test_an_imported_process_reads_its_codes_until_staff_name_them(db):
    """The importer names an imported dimension by its code and leaves categories unnamed:
    the lookup then gives the code, the only word there is."""
    from pvplatform.participation.labels import labels_of

    process = import_package(TINY, now=utcnow())
    _db.session.commit()
    labels = labels_of(process.id)
    assert labels.dimension("district", "en") == "district"
    assert labels.category("district", "north", "fr") == "north"


@pytest.mark.parametrize("page", ["dashboard", "flags", "absence-reasons", "perceptions"])
def test_a_page_reads_the_labels_in_one_statement(client, login_as, world, page):
    """However many dimensions, categories and flags a page shows, their words come from one
    statement."""
    login_as(world["staff"])
    url = f"/manage/processes/{world['process']}/{page}"
    client.get(url)
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):  # noqa: ARG001
        seen.append(statement)

    _db.session.expire_all()
    sa.event.listen(_db.engine, "before_cursor_execute", listen)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(_db.engine, "before_cursor_execute", listen)
    assert len([s for s in seen if "label_en" in s]) == 1, page
