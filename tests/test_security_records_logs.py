"""SECURITY.md, Votes and records: "Logs never contain passwords, cookies or demographic values;
a 500 shows a generic page with an error id that is in the log."

Every log record of the process is cleaned when it is created (pvplatform/core/logging.py), so
these tests read what any handler would receive: pytest's own capture, at DEBUG, with
SQLAlchemy's statement log switched on (the most talkative source of values).
"""

from __future__ import annotations

import logging
import re

import pytest

from pvplatform.core.logging import REDACTED, redact
from tests.conftest import PASSWORD, STAFF_PASSWORD
from tests.route_params import build_world
from tests.test_security_records_audit import _form_on

NEW_PASSWORD = "a long new passphrase, only mine 42"


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy's statement log prints bound parameters: the values most likely to leak.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    return caplog


def _cookies(client) -> list[str]:
    return [c.value for c in client._cookies.values()] if hasattr(client, "_cookies") else []


def test_no_password_cookie_or_csrf_token_in_logs(app, db, all_logs):
    client = app.test_client()
    # Registration, then a failed and a successful login, then a password change.
    response = client.post("/auth/register", data={
        "email": "new.person@example.org", "display_name": "New Person", "password": PASSWORD,
        "confirm": PASSWORD, "locale": "en"})
    assert response.status_code == 302
    client.post("/auth/logout")
    assert client.post("/auth/login", data={"email": "new.person@example.org",
                                            "password": PASSWORD + " typo"}).status_code == 422
    assert client.post("/auth/login", data={"email": "new.person@example.org",
                                            "password": PASSWORD}).status_code == 302
    response = client.post("/auth/me/password", data={
        "current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code in (200, 302)
    client.get("/auth/me", headers={"X-CSRFToken": "a-csrf-token-value-123456"})
    cookies = _cookies(client)
    text = all_logs.text
    assert all_logs.records, "nothing was logged: the test would prove nothing"
    for secret in (PASSWORD, NEW_PASSWORD, "a-csrf-token-value-123456", *cookies):
        assert secret not in text, secret[:12]


def test_no_demographic_value_in_logs(app, db, all_logs):
    world = build_world()
    from tests.fuzz_corpus import logged_in_client

    staff = logged_in_client(app, world, "staff")
    staff.post(f"/manage/processes/{world['process_id']}/demographics/defaults")
    citizen = logged_in_client(app, world, "citizen")
    fields = _form_on(citizen, "/me/demographics", "/me/demographics")
    assert fields is not None, "no demographics form"
    answers = {k: v for k, v in fields.items() if k not in ("csrf_token", "next", "consent")}
    assert answers, "the default questions were not set up"
    # The longest choice codes: a short one ("f") would be found anywhere in any log.
    chosen = {}
    for name in answers:
        options = _options(citizen, name)
        if options:
            chosen[name] = max(options, key=len)
    assert chosen
    all_logs.clear()
    response = citizen.post("/me/demographics", data={**fields, **chosen, "consent": "y"})
    assert response.status_code in (200, 302, 303)
    citizen.get("/me/demographics")  # a read, audited
    citizen.post("/me/data", data={"password": PASSWORD})  # an export that includes them
    text = all_logs.text
    assert all_logs.records
    for value in chosen.values():
        if len(value) >= 4:
            assert value not in text, value


def _options(client, select_name: str) -> list[str]:
    body = client.get("/me/demographics").get_data(as_text=True)
    match = re.search(rf'<select[^>]*name="{re.escape(select_name)}"[^>]*>(.*?)</select>', body,
                      re.S)
    if not match:
        return []
    return [v for v in re.findall(r'<option[^>]*value="([^"]*)"', match.group(1)) if v]


def test_500_page_is_generic_with_an_error_id_found_in_the_log(app, all_logs, monkeypatch):
    def broken():
        raise RuntimeError(f"failed while handling password={STAFF_PASSWORD} for someone")

    monkeypatch.setitem(app.view_functions, "core.healthz", broken)
    response = app.test_client().get("/healthz", headers={"Accept": "text/html"})
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    match = re.search(r"<code>([0-9a-zA-Z-]{8,64})</code>", body)
    assert match, body[:500]
    error_id = match.group(1)
    assert "Traceback" not in body and "RuntimeError" not in body and STAFF_PASSWORD not in body
    errors = [r for r in all_logs.records if r.levelno >= logging.ERROR]
    assert any(error_id in r.getMessage() for r in errors)
    assert all(getattr(r, "request_id", None) == error_id for r in errors)
    assert response.headers.get("X-Request-ID") == error_id
    assert STAFF_PASSWORD not in all_logs.text  # the exception's own message is cleaned
    assert "RuntimeError" in all_logs.text  # while the traceback stays useful


def test_json_500_carries_the_error_id_too(app, monkeypatch):
    monkeypatch.setitem(app.view_functions, "core.healthz",
                        lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    response = app.test_client().get("/healthz", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.get_json()["error_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("text, secret", [
    ("email=a@b.org&password=hunter2hunter2&remember=y", "hunter2hunter2"),
    ("{'password': 'hunter2 with spaces', 'email': 'a@b.org'}", "hunter2 with spaces"),
    ('{"new_password": "s3cr3t-value", "confirm": "s3cr3t-value"}', "s3cr3t-value"),
    ("Cookie: session=eyJhbGciOi.abc; remember_token=42|xyz", "eyJhbGciOi"),
    ("Set-Cookie: session=eyJhbGciOi.abc; HttpOnly", "eyJhbGciOi"),
    ("csrf_token=IjQ2ZDk1YjM4ZjE", "IjQ2ZDk1YjM4ZjE"),
    ("answers: {'age_band': '65_plus', 'gender': 'woman'}", "65_plus"),
    ("dimension=income_band category=under_1500", "under_1500"),
    ("(sqlite3.IntegrityError) NOT NULL\n[SQL: INSERT INTO x VALUES (?)]\n"
     "[parameters: ('woman_65_plus',)]\n(Background on this error at: https://sqlalche.me)",
     "woman_65_plus"),
])
def test_redaction(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned and REDACTED in cleaned


def test_redaction_keeps_ordinary_text():
    for text in ("GET /processes/3/proposals?page=2 200", "message: vote recorded",
                 "sessions=4 usage=low", "proposal 12 answered by user 3"):
        assert redact(text) == text


def test_records_from_any_logger_are_cleaned(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("posted %s", {"password": "p4ssw0rd-leak"})
    try:
        raise ValueError("password=p4ssw0rd-leak2")
    except ValueError:
        logging.getLogger("other").exception("failed")
    assert "p4ssw0rd-leak" not in caplog.text
    assert "p4ssw0rd-leak2" not in caplog.text
