"""Translations: the French catalogue is complete and consistent with the code, the compiled
catalogue is the one the site uses, and the language is chosen as the design says (French first,
the browser's English honoured, the language switch remembered)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import gettext, lazy_ngettext, ngettext

from pvplatform.extensions import babel as babel_ext

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "pvplatform" / "translations"
LANGS = ("fr", "en")
# Same keywords as the Makefile's `messages` target (pybabel's defaults plus these).
EXTRA_KEYWORDS = {"_l": None, "lazy_gettext": None, "_ln": (1, 2), "lazy_ngettext": (1, 2),
                  "phrase": None, "plural_phrase": (1, 2)}

# A printf placeholder as Python's % operator reads it: %(name)+.2f, %(byte)02x, %s, %%.
PLACEHOLDER = re.compile(
    r"%(?:\((\w+)\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?([diouxXeEfFgGcrsa%])")


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def load(lang: str):
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def placeholders(text: str) -> set[str]:
    """The named placeholders with their conversion, e.g. {"name:s", "n:d"}; `%%` is no
    placeholder."""
    return {f"{m.group(1)}:{m.group(2)}" for m in PLACEHOLDER.finditer(text)
            if m.group(2) != "%"}


def sample_values(text: str) -> dict[str, object]:
    return {m.group(1): ("x" if m.group(2) in "rsa" else 3)
            for m in PLACEHOLDER.finditer(text) if m.group(1)}


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogues(app):
    """The pages read the compiled catalogues (.mo, not committed). `make test` compiles them
    first; a bare pytest run compiles here any that is missing or older than its .po."""
    compiled = False
    for lang in LANGS:
        po, mo = po_path(lang), po_path(lang).with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            catalog = load(lang)
            with mo.open("wb") as f:
                write_mo(f, catalog)
            compiled = True
    if compiled:
        # Flask-Babel caches the catalogue it loaded per locale, maybe before the compilation.
        babel_ext.domain_instance.cache.clear()


# ---------------------------------------------------------------- (a) the French catalogue


def catalogue_problems(catalog) -> list[tuple[str, str]]:
    """(msgid, what is wrong) for each entry that is fuzzy, untranslated, or whose translation
    does not keep the placeholders of its msgid."""
    problems = []
    for message in catalog:
        if not message.id:
            continue
        label = message.id if isinstance(message.id, str) else message.id[0]
        if message.fuzzy:
            problems.append((label, "fuzzy: check the translation, then remove the flag"))
        if isinstance(message.id, str):
            pairs = [(message.id, message.string)]
        else:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if len(strings) != catalog.num_plurals:
                problems.append((label, f"{len(strings)} plural forms, not {catalog.num_plurals}"))
            # Form 0 is the singular; the other French forms are plurals.
            pairs = [(message.id[0] if i == 0 else message.id[1], text)
                     for i, text in enumerate(strings)]
        for source, text in pairs:
            if not text or not text.strip():
                problems.append((label, "not translated"))
            elif placeholders(text) != placeholders(source):
                problems.append((label, f"placeholders {sorted(placeholders(text))}, "
                                        f"not {sorted(placeholders(source))}"))
            elif placeholders(source):
                try:  # the % operator must accept it: a lone "%" (write "%%") breaks the page
                    text % sample_values(source)
                except (TypeError, ValueError, KeyError) as error:
                    problems.append((label, f"cannot be formatted: {error}"))
    return problems


FR = load("fr")
FR_MESSAGES = [m for m in FR if m.id]


def test_the_french_catalogue_is_complete_and_keeps_the_placeholders():
    assert len(FR_MESSAGES) > 500
    assert FR.locale is not None and FR.locale.language == "fr"
    assert catalogue_problems(FR) == []


def test_the_catalogue_check_finds_what_is_wrong():
    catalog = Catalog(locale="fr")
    catalog.add("Fine %(name)s", "Bien %(name)s")
    catalog.add("Untranslated", "")
    catalog.add("Fuzzy", "Flou", flags=["fuzzy"])
    catalog.add("Hello %(name)s", "Bonjour %(nom)s")
    catalog.add("%(n)s%% done", "%(n)s % fait")
    catalog.add(("%(num)d vote", "%(num)d votes"), ("%(num)d vote", "votes", "%(num)d votes"))
    found = catalogue_problems(catalog)
    assert [label for label, _why in found] == [
        "Untranslated", "Fuzzy", "Hello %(name)s", "%(n)s%% done", "%(num)d vote"]


def test_babel_checks_pass_on_the_french_catalogue():
    problems = [(m.id, [str(e) for e in errors]) for m, errors in FR.check() if errors]
    assert problems == []


def test_the_english_catalogue_needs_no_translation():
    en = load("en")
    assert {m.id for m in en if m.id} == {m.id for m in FR_MESSAGES}
    for message in en:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            if text:  # an English rewording must keep the placeholders too
                assert placeholders(text) <= placeholders(str(message.id))


# ---------------------------------------------------------------- (b) up to date with the code


@cache
def _extract_from_code() -> dict[str | tuple[str, ...], list[str]]:
    extract = pytest.importorskip("babel.messages.extract")
    frontend = pytest.importorskip("babel.messages.frontend")
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    try:
        with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
            method_map, options_map = parse(f)
        keywords = dict(extract.DEFAULT_KEYWORDS) | EXTRA_KEYWORDS
        found: dict[str | tuple[str, ...], list[str]] = {}
        for filename, lineno, message, _comments, _context in extract.extract_from_dir(
                str(ROOT), method_map, options_map, keywords=keywords):
            key = message if isinstance(message, str) else tuple(message)
            found.setdefault(key, []).append(f"{filename}:{lineno}")
    except (ImportError, ValueError) as error:  # no Jinja extractor registered, ...
        pytest.skip(f"babel cannot extract here: {error}")
    return found


def test_catalogues_are_up_to_date_with_the_code():
    found = _extract_from_code()
    assert len(found) > 500
    for lang in LANGS:
        known = {m.id if isinstance(m.id, str) else tuple(m.id) for m in load(lang) if m.id}
        missing = {key: where for key, where in found.items() if key not in known}
        assert not missing, (
            f"{len(missing)} messages not in the {lang} catalogue: run `make messages`, then "
            f"translate them in {po_path('fr').relative_to(ROOT)}: {missing}")


def test_no_source_folder_is_hidden_from_the_extraction():
    """pybabel skips folders whose name starts with "_" or ".": their strings would never
    reach the catalogues and stay English on French pages."""
    hidden = [str(path.relative_to(ROOT)) for base in ("templates", "pvplatform")
              for path in (ROOT / base).rglob("*")
              if path.is_dir() and path.name.startswith(("_", "."))
              and path.name != "__pycache__"]
    assert hidden == []


def test_extraction_reads_every_keyword_the_code_uses():
    found = _extract_from_code()
    assert "Home" in found  # {{ _("...") }} in a template
    assert "E-mail" in found  # _l in a form
    assert "Your proposal is published." in found  # _ in a view
    assert "You are invited to the session %(title)s." in found  # N_ in a service
    assert ("%(num)d proposal", "%(num)d proposals") in found  # ngettext in a template
    assert any(isinstance(k, tuple) and "rejected proposal" in k[0] for k in found)  # _ln


# ---------------------------------------------------------------- (c) the language of the pages


@pytest.fixture
def browser(client):
    """A client that sends no Accept-Language, like a bare browser or a crawler."""
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    return client


def test_home_is_french_by_default(browser, db):
    response = browser.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert ">Accueil<" in html and "Se connecter" in html
    assert ">Home<" not in html


def test_a_language_neither_french_nor_english_gets_french(browser, db):
    html = browser.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert ">Accueil<" in html


def test_home_is_english_when_the_browser_asks(browser, db):
    html = browser.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"}).get_data(
        as_text=True)
    assert '<html lang="en">' in html
    assert ">Home<" in html and ">Accueil<" not in html


def test_the_language_switch_is_remembered(browser, db):
    assert ">Accueil<" in browser.get("/").get_data(as_text=True)
    response = browser.post("/language", data={"lang": "en", "next": "/"})
    assert response.status_code in (302, 303)
    html = browser.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert ">Home<" in html  # the choice wins over the browser's language
    browser.post("/language", data={"lang": "fr"})
    assert ">Accueil<" in browser.get("/").get_data(as_text=True)


def test_an_unknown_language_is_ignored(browser, db):
    response = browser.post("/language", data={"lang": "xx", "next": "/"})
    assert response.status_code in (302, 303)
    assert ">Accueil<" in browser.get("/").get_data(as_text=True)


def test_a_logged_in_persons_language_is_their_preference(browser, factory, login_as, db):
    user = factory.user()
    user.locale = "en"
    db.session.commit()
    login_as(user)
    assert ">Home<" in browser.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_the_language_switch_outlives_logging_in_and_out(browser, factory, login_as, db):
    user = factory.user()  # an account whose preference is French
    user.locale = "fr"
    db.session.commit()
    browser.post("/language", data={"lang": "en", "next": "/"})
    login_as(user)  # a new session: nothing of the old one survives it, the cookie does
    assert ">Home<" in browser.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    browser.post("/auth/logout")
    assert ">Home<" in browser.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_the_switch_on_a_refused_form_comes_back_to_the_page_of_the_form(client, factory,
                                                                         login_as, db):
    from pvplatform.participation.services import participant_for
    from pvplatform.proposals.models import Proposal, ProposalState

    user = factory.user()
    process = factory.process()
    proposal = Proposal(process_id=process.id, author_id=participant_for(user).id, title="Bancs",
                        body="Place du marché.", state=ProposalState.PUBLISHED,
                        published_at=process.created_at)
    db.session.add(proposal)
    db.session.commit()
    login_as(user)
    page = f"/proposals/{proposal.id}"
    # The refused comment is answered at a URL that takes POST only: the switch must not
    # redirect there (405), but to the page the form was sent from.
    response = client.post(f"{page}/comments", data={"body": ""},
                           headers={"Referer": f"http://localhost{page}"})
    assert response.status_code == 422
    assert f'name="next" value="{page}"' in response.get_data(as_text=True)
    response = client.post(f"{page}/comments", data={"body": ""},
                           headers={"Referer": "https://elsewhere.example/x"})
    assert 'name="next" value="/"' in response.get_data(as_text=True)


def test_form_errors_are_french_by_default(browser, db):
    response = browser.post("/auth/register", data={"email": "", "display_name": "",
                                                    "password": "x", "confirm": "y"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Créer mon compte" in html
    assert "Les deux mots de passe ne sont pas identiques." in html


# ---------------------------------------------------------------- (d) the compiled catalogue


def test_the_compiled_french_catalogue_is_used(app):
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert gettext("Home") == "Accueil"
        assert gettext("The password must have at least %(n)d characters.", n=12) == (
            "Le mot de passe doit comporter au moins 12 caractères.")
        # French plural rule: 0 and 1 take the singular.
        assert ngettext("%(num)d proposal", "%(num)d proposals", 0) == "0 proposition"
        assert ngettext("%(num)d proposal", "%(num)d proposals", 1) == "1 proposition"
        assert ngettext("%(num)d proposal", "%(num)d proposals", 2) == "2 propositions"
        message = lazy_ngettext(
            "%(num)s rejected proposal has no stated reason. Add the reasons to the rejection "
            "so that its author understands the decision.",
            "%(num)s rejected proposals have no stated reason. Add the reasons to each "
            "rejection so that their authors understand the decision.", 3)
        assert str(message).startswith("3 propositions rejetées")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert gettext("Home") == "Home"
        assert ngettext("%(num)d proposal", "%(num)d proposals", 0) == "0 proposals"
        assert ngettext("%(num)d proposal", "%(num)d proposals", 1) == "1 proposal"
