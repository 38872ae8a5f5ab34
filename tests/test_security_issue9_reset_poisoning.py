"""Issue 9, finding 1: password-reset poisoning.

A reset requested with `Host: evil.example` produced a link to evil.example carrying a valid
token. Links in e-mails now come from the configured PV_BASE_URL (required in production), and
requests for a host that is not trusted are refused before any view runs."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

import config
from config import ProductionConfig
from pvplatform import create_app
from pvplatform.auth.models import Role
from pvplatform.core import mail
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.participation.services import participant_for
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions.models import Registration
from tests.conftest import Factory, discard_schema, login, make_app

BASE = "https://participation.town.example"
RESET_LINK = re.compile(r"https?://[^\s]+/auth/reset/[A-Za-z0-9_.\-]+")


@pytest.fixture
def outbox(app, monkeypatch) -> list[tuple[str, str, str]]:
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send_mail", lambda to, subject, body: sent.append(
        (to, subject, body)) or True)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.org")
    return sent


@pytest.fixture
def town_base(app, monkeypatch) -> str:
    monkeypatch.setitem(app.config, "PV_BASE_URL", BASE)
    return BASE


def production(**settings) -> type:
    class Production(ProductionConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        SECRET_KEY = "production-like-test-key"  # noqa: S105

    for key, value in settings.items():
        setattr(Production, key, value)
    return Production


# ---------------------------------------------------------------- the attack

@pytest.mark.parametrize("host", ["evil.example", "evil.example:443", "localhost.evil.example",
                                  "127.0.0.1.evil.example"])
def test_reset_request_for_a_foreign_host_is_refused_and_sends_nothing(client, factory, outbox,
                                                                       caplog, host):
    user = factory.user(email="lea@example.org")
    with caplog.at_level(logging.DEBUG):
        response = client.post("/auth/reset", data={"email": user.email},
                               headers={"Host": host})
    assert response.status_code == 400
    assert outbox == []
    assert "evil.example" not in response.get_data(as_text=True)
    assert "/auth/reset/" not in caplog.text


def test_reset_link_comes_from_the_base_url_whatever_the_host(client, factory, outbox,
                                                              town_base):
    user = factory.user(email="lea@example.org")
    for host in ("localhost", "127.0.0.1:5000"):
        outbox.clear()
        assert client.post("/auth/reset", data={"email": user.email},
                           headers={"Host": host}).status_code == 200
        links = RESET_LINK.findall(outbox[0][2])
        assert len(links) == 1 and links[0].startswith(f"{town_base}/auth/reset/"), links
    # The link works on the platform.
    assert client.get(links[0][len(town_base):]).status_code == 200


def test_development_log_shows_the_base_url_link_not_the_host(app, client, factory, caplog,
                                                              monkeypatch, town_base):
    user = factory.user(email="lea@example.org")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    monkeypatch.setitem(app.config, "LOG_MAIL_LINKS", True)
    with caplog.at_level(logging.INFO):
        client.post("/auth/reset", data={"email": user.email}, headers={"Host": "localhost"})
    links = RESET_LINK.findall(caplog.text)
    assert links and all(link.startswith(f"{town_base}/auth/reset/") for link in links)


@pytest.fixture
def proxied_app() -> Iterator[Flask]:
    app = make_app(TRUSTED_PROXIES=1, PV_BASE_URL=BASE)
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        discard_schema()


def test_forwarded_host_from_a_trusted_proxy_is_checked_too(proxied_app, monkeypatch):
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send_mail", lambda *a: sent.append(a) or True)
    proxied_app.config["MAIL_SERVER"] = "smtp.example.org"
    Factory().user(email="lea@example.org")
    client = proxied_app.test_client()
    refused = client.post("/auth/reset", data={"email": "lea@example.org"},
                          headers={"X-Forwarded-Host": "evil.example",
                                   "X-Forwarded-For": "203.0.113.5"})
    assert refused.status_code == 400 and sent == []
    accepted = client.post("/auth/reset", data={"email": "lea@example.org"},
                           headers={"X-Forwarded-Host": "participation.town.example",
                                    "X-Forwarded-Proto": "https",
                                    "X-Forwarded-For": "203.0.113.5"})
    assert accepted.status_code == 200
    assert RESET_LINK.findall(sent[0][2])[0].startswith(f"{BASE}/auth/reset/")


def test_unknown_host_answer_is_a_readable_page_with_security_headers(client):
    from tests.test_security_requests_headers import assert_security_headers

    for method, path in (("GET", "/"), ("GET", "/no/such/page"), ("POST", "/auth/login")):
        response = client.open(path, method=method, headers={"Host": "evil.example"})
        assert response.status_code == 400, path
        body = response.get_data(as_text=True)
        assert "<h1>" in body and "evil.example" not in body
        assert_security_headers(response, f"unknown host {path}")


# ---------------------------------------------------------------- other mailed links

def test_absence_request_mails_link_to_the_base_url(app, client, db, factory, monkeypatch,
                                                    outbox, town_base):
    staff = factory.user("staff")
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=1, hours=3))
    absent = factory.user("citizen", email="absent@example.org")
    db.session.add(Registration(meeting_id=meeting.id, participant_id=participant_for(absent).id,
                                registered_at=meeting.starts_at - timedelta(days=3)))
    db.session.commit()
    from pvplatform.ledger import views as ledger_views

    monkeypatch.setattr(ledger_views, "send_mail", mail.send_mail)  # the outbox
    login(client, staff)
    response = client.post(f"/manage/sessions/{meeting.id}/absence-requests",
                           headers={"Host": "localhost"})
    assert response.status_code == 303
    assert [to for to, _s, _b in outbox] == ["absent@example.org"]
    assert re.search(rf"{re.escape(town_base)}/me/absence/\d+", outbox[0][2]), outbox[0][2]
    assert "localhost" not in outbox[0][2]


def test_flag_alert_mail_links_to_the_base_url(app, db, factory, monkeypatch, outbox):
    staff = factory.user(Role.STAFF)
    process = factory.process(title="Agenda")
    author = factory.participant(kind="citizen")
    db.session.add(Proposal(process_id=process.id, author_id=author.id, title="Old",
                            state=ProposalState.PUBLISHED,
                            published_at=utcnow() - timedelta(days=100)))
    db.session.commit()
    assert [to for to, _s, _b in outbox] == [staff.email]
    # The tests' default base URL: an absolute link, not a bare path, in an e-mail.
    assert f"http://127.0.0.1:5000/manage/processes/{process.id}/flags" in outbox[0][2]


def test_external_urls_outside_a_request_and_under_a_path_prefix(app, monkeypatch):
    from pvplatform.core.base_url import absolute_url, external_url

    with app.app_context():
        monkeypatch.setitem(app.config, "PV_BASE_URL", "https://town.example/participer")
        assert external_url("auth.reset_password", token="abc") == \
            "https://town.example/participer/auth/reset/abc"
        assert absolute_url("/manage/processes/3/flags") == \
            "https://town.example/participer/manage/processes/3/flags"
        with pytest.raises(ValueError):
            absolute_url("//evil.example/x")


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize("value", [
    "", "   ", "participation.town.example", "ftp://participation.town.example", "https://",
    "https://user:secret@participation.town.example", "https://participation.town.example/?a=1",
    "https://participation.town.example/#top", "https://participation.town.example:99999",
    "javascript:alert(1)", "https://participation town.example",
])
def test_production_refuses_to_start_without_a_valid_base_url(value):
    from pvplatform.core.base_url import BaseUrlError

    with pytest.raises(BaseUrlError, match="PV_BASE_URL"):
        create_app(production(PV_BASE_URL=value))


def test_production_trusts_only_the_base_url_host_and_the_listed_ones():
    app = create_app(production(PV_BASE_URL=f"{BASE}/",
                                PV_TRUSTED_HOSTS=" pv.town.example, .mairie.example ,"))
    assert app.config["PV_BASE_URL"] == BASE
    assert app.config["TRUSTED_HOSTS"] == ["participation.town.example", "pv.town.example",
                                           ".mairie.example"]
    client = app.test_client()
    for host, status in [("participation.town.example", 200), ("pv.town.example", 200),
                         ("www.mairie.example", 200), ("localhost", 400), ("127.0.0.1", 400),
                         ("evil.example", 400), ("participation.town.example.evil.example", 400),
                         ("evilmairie.example", 400)]:
        response = client.get("/healthz", headers={"Host": host},
                              base_url="https://participation.town.example")
        assert response.status_code == status, host


def test_development_and_tests_default_to_the_local_address():
    app = make_app()
    assert app.config["PV_BASE_URL"] == "http://127.0.0.1:5000"
    assert {"localhost", "127.0.0.1"} <= set(app.config["TRUSTED_HOSTS"])
    named = make_app(SERVER_NAME="pv.local:8080", PREFERRED_URL_SCHEME="https")
    assert named.config["PV_BASE_URL"] == "https://pv.local:8080"
    assert "pv.local" in named.config["TRUSTED_HOSTS"]


def test_base_url_and_trusted_hosts_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PV_BASE_URL", BASE)
    monkeypatch.setenv("PV_TRUSTED_HOSTS", "pv.town.example")
    try:
        reloaded = importlib.reload(config)
        assert reloaded.Config.PV_BASE_URL == BASE
        assert reloaded.Config.PV_TRUSTED_HOSTS == "pv.town.example"
        assert reloaded.ProductionConfig.PV_BASE_URL_REQUIRED is True
        assert reloaded.DevelopmentConfig.PV_BASE_URL_REQUIRED is False
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_no_mailed_or_notified_link_is_built_from_the_request_host():
    """Code that sends e-mail or notifications builds its links with pvplatform.core.base_url,
    never with url_for(..., _external=True), request.host_url or request.url_root."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "pvplatform"
    pattern = re.compile(r"_external\s*=\s*True|request\.(host_url|url_root|host\b)")
    senders = re.compile(r"\b(send_mail|queue_mail|notify)\(")
    checked, offenders = 0, []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if not senders.search(text) or path.name in ("mail.py", "base_url.py"):
            continue
        checked += 1
        offenders += [f"{path.relative_to(root)}:{n}: {line.strip()}"
                      for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert checked >= 5 and offenders == []


def test_nothing_is_stored_for_a_request_to_an_unknown_host(client, db):
    from pvplatform.auth.models import User

    users = sa.select(sa.func.count()).select_from(User)
    before = db.session.scalar(users)
    response = client.post("/auth/register", headers={"Host": "evil.example"},
                           data={"email": "new@example.org",
                                 "password": "a long enough sentence here",
                                 "confirm": "a long enough sentence here",
                                 "display_name": "New", "locale": "fr"})
    assert response.status_code == 400
    assert db.session.scalar(users) == before
