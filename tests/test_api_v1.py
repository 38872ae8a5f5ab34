"""The read-only JSON API v1 (issue 11): personal tokens only (no session cookie), staff and
admins read every process, evaluators those with a read grant in force; figures suppressed at
the role's k; published proposals only; pagination; one JSON error shape; rate limits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pvplatform.auth.models import Role, User
from pvplatform.db import utcnow
from pvplatform.evaluation import grants
from pvplatform.evaluation.models import (
    EvaluatorGrant,
    ExportChannel,
    ExportFormat,
    ExportRecord,
    GrantScope,
)
from pvplatform.evaluation.openapi import document
from pvplatform.evaluation.tokens import create_token, revoke_token
from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from pvplatform.indicators.suppression import NOT_ABOUT_PEOPLE
from pvplatform.participation.importer import import_package
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions.models import Registration
from tests.conftest import Factory, discard_schema, make_app
from tests.examples import TINY

API = "/api/v1"
AS_OF = "2026-06-01T00:00:00+00:00"
AS_OF_QUERY = "2026-06-01T00:00:00%2B00:00"


@pytest.fixture
def tiny(db):
    process = import_package(TINY, now=utcnow())
    db.session.commit()
    return process


@pytest.fixture
def people(factory) -> dict[str, User]:
    return {role: factory.user(role) for role in
            ("admin", "staff", "evaluator", "citizen", "elected")}


def bearer(user: User, **kwargs: Any) -> dict[str, str]:
    _row, raw = create_token(user, "tests", expires_at=kwargs.get("expires_at"), now=utcnow())
    _db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def give_read(people: dict[str, User], process: Any, **kwargs: Any) -> EvaluatorGrant:
    row = grants.grant(actor=people["admin"], evaluator=people["evaluator"], process=process,
                       scope=kwargs.get("scope", GrantScope.READ),
                       expires_at=kwargs.get("expires_at"), purpose=kwargs.get("purpose", ""),
                       now=utcnow())
    _db.session.commit()
    return row


def error_of(response) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == response.status_code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def every_item(client, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items, page = [], f"{url}{'&' if '?' in url else '?'}per_page=100"
    while page:
        response = client.get(page, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        items.extend(body["items"])
        page = body["next"]
    return items


def process_urls(process_id: int) -> list[str]:
    base = f"{API}/processes/{process_id}"
    return [base, f"{base}/phases", f"{base}/sessions", f"{base}/proposals",
            f"{base}/indicators", f"{base}/flags"]


# ---------------------------------------------------------------- who gets in


def test_the_document_is_public(client, db):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
                                    "Bearer pvp_not_a_token", "Token pvp_x"])
def test_no_valid_token_is_a_401_json(client, people, tiny, header):
    headers = {"Authorization": header} if header is not None else {}
    for url in [f"{API}/processes", *process_urls(tiny.id), f"{API}/processes/999999"]:
        response = client.get(url, headers=headers)
        assert response.status_code == 401, url
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Cache-Control"] == "no-store"
        assert error_of(response)["code"] == "unauthorized"


def test_a_session_cookie_alone_opens_nothing(client, people, tiny, login_as):
    login_as(people["staff"])
    assert client.get("/auth/me").status_code == 200  # logged in indeed
    response = client.get(f"{API}/processes")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    # With the token, the same client reads: the token decides, not the cookie.
    assert client.get(f"{API}/processes", headers=bearer(people["staff"])).status_code == 200


def test_the_scheme_name_is_case_insensitive(client, people, tiny):
    raw = bearer(people["staff"])["Authorization"].split(" ", 1)[1]
    response = client.get(f"{API}/processes", headers={"Authorization": f"bearer {raw}"})
    assert response.status_code == 200


def test_revoked_and_expired_tokens_are_401(client, people, tiny):
    staff = people["staff"]
    row, raw = create_token(staff, "revoked", expires_at=None, now=utcnow())
    _db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"{API}/processes", headers=headers).status_code == 200
    revoke_token(staff, row.id, utcnow())
    _db.session.commit()
    assert client.get(f"{API}/processes", headers=headers).status_code == 401

    expiring, raw = create_token(staff, "expired", expires_at=utcnow() + timedelta(hours=1),
                                 now=utcnow())
    _db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"{API}/processes", headers=headers).status_code == 200
    expiring.expires_at = utcnow() - timedelta(seconds=1)
    _db.session.commit()
    response = client.get(f"{API}/processes", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_token_of_a_role_without_api_access_is_403(client, people, tiny):
    evaluator = people["evaluator"]
    give_read(people, tiny)
    headers = bearer(evaluator)
    assert client.get(f"{API}/processes/{tiny.id}", headers=headers).status_code == 200
    evaluator.role = Role.CITIZEN  # an admin changed the role after the token was made
    _db.session.commit()
    for url in [f"{API}/processes", *process_urls(tiny.id)]:
        response = client.get(url, headers=headers)
        assert response.status_code == 403, url
        assert error_of(response)["code"] == "forbidden"


def test_a_deleted_account_token_is_401(client, people, tiny):
    headers = bearer(people["staff"])
    people["staff"].deleted_at = utcnow()
    _db.session.commit()
    assert client.get(f"{API}/processes", headers=headers).status_code == 401


def test_the_token_records_its_last_use(client, people, tiny):
    headers = bearer(people["staff"])
    assert client.get(f"{API}/processes", headers=headers).status_code == 200
    from pvplatform.evaluation.models import ApiToken

    [row] = _db.session.scalars(sa.select(ApiToken)).all()
    _db.session.refresh(row)
    assert row.last_used_at is not None


# ---------------------------------------------------------------- evaluators: grants


def test_staff_and_admins_read_every_process(client, people, tiny, factory):
    other = factory.process(title="Budget participatif")
    for role in ("staff", "admin"):
        headers = bearer(people[role])
        ids = {p["id"] for p in every_item(client, f"{API}/processes", headers)}
        assert ids == {tiny.id, other.id}
        for url in process_urls(other.id):
            assert client.get(url, headers=headers).status_code == 200, url


def test_an_evaluator_reads_only_the_processes_granted(client, people, tiny, factory):
    other = factory.process(title="Budget participatif")
    headers = bearer(people["evaluator"])
    assert every_item(client, f"{API}/processes", headers) == []
    for url in process_urls(tiny.id):
        response = client.get(url, headers=headers)
        assert response.status_code == 403, url
        assert error_of(response)["code"] == "forbidden"
    give_read(people, tiny)
    assert [p["id"] for p in every_item(client, f"{API}/processes", headers)] == [tiny.id]
    for url in process_urls(tiny.id):
        assert client.get(url, headers=headers).status_code == 200, url
    for url in process_urls(other.id):
        assert client.get(url, headers=headers).status_code == 403, url
    # An unknown process is not found, for them too.
    response = client.get(f"{API}/processes/{other.id + 100}", headers=headers)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_microdata_agreement_alone_is_no_read_grant(client, people, tiny):
    give_read(people, tiny, scope=GrantScope.MICRODATA,
              expires_at=utcnow() + timedelta(days=30), purpose="Étude")
    headers = bearer(people["evaluator"])
    assert client.get(f"{API}/processes/{tiny.id}", headers=headers).status_code == 403


def test_an_expired_or_revoked_grant_stops_working(client, people, tiny):
    headers = bearer(people["evaluator"])
    row = give_read(people, tiny, expires_at=utcnow() + timedelta(days=1))
    assert client.get(f"{API}/processes/{tiny.id}/indicators",
                      headers=headers).status_code == 200
    row.granted_at = utcnow() - timedelta(days=10)
    row.expires_at = utcnow() - timedelta(seconds=1)
    _db.session.commit()
    for url in process_urls(tiny.id):
        assert client.get(url, headers=headers).status_code == 403, url
    assert every_item(client, f"{API}/processes", headers) == []

    again = give_read(people, tiny)
    assert client.get(f"{API}/processes/{tiny.id}", headers=headers).status_code == 200
    grants.revoke(actor=people["admin"], grant_row=again, now=utcnow())
    _db.session.commit()
    assert client.get(f"{API}/processes/{tiny.id}", headers=headers).status_code == 403


# ---------------------------------------------------------------- content


def test_drafts_and_hidden_proposals_are_never_listed(client, people, tiny):
    author = _db.session.scalar(sa.select(Proposal.author_id).where(
        Proposal.process_id == tiny.id).limit(1))
    draft = Proposal(process_id=tiny.id, author_id=author, title="Brouillon secret",
                     state=ProposalState.DRAFT)
    hidden = Proposal(process_id=tiny.id, author_id=author, title="Masquée",
                      state=ProposalState.PUBLISHED, published_at=utcnow(),
                      hidden_at=utcnow())
    shown = Proposal(process_id=tiny.id, author_id=author, title="Visible",
                     state=ProposalState.PUBLISHED, published_at=utcnow())
    _db.session.add_all([draft, hidden, shown])
    _db.session.commit()
    give_read(people, tiny)
    for role in ("staff", "evaluator"):
        items = every_item(client, f"{API}/processes/{tiny.id}/proposals", bearer(people[role]))
        ids = {p["id"] for p in items}
        assert shown.id in ids
        assert draft.id not in ids and hidden.id not in ids
        assert all(p["state"] != "draft" for p in items)
        # Authors are a kind, never a person.
        assert all(set(p) >= {"author_kind", "votes"} and "author" not in p for p in items)
        assert "Brouillon secret" not in repr(items) and "Masquée" not in repr(items)


def test_proposals_carry_their_answer_and_updates(client, people, tiny):
    items = every_item(client, f"{API}/processes/{tiny.id}/proposals", bearer(people["staff"]))
    answered = [p for p in items if p["answer"] is not None]
    assert answered, "the tiny process has answered proposals"
    for p in answered:
        assert {"state", "rationale", "answered_at"} == set(p["answer"])
    assert {p["votes"]["support"] for p in items} != {0}


def test_phases_and_the_process(client, people, factory):
    process = factory.process()
    response = client.get(f"{API}/processes/{process.id}", headers=bearer(people["staff"]))
    body = response.get_json()
    assert body["id"] == process.id and body["title"] == process.title
    assert body["current_phase"] == "co_creation"
    assert body["goals"] == [11, 13]
    phases = client.get(f"{API}/processes/{process.id}/phases",
                        headers=bearer(people["staff"])).get_json()["items"]
    assert [p["kind"] for p in phases] == ["information", "co_creation", "review"]
    assert [p["current"] for p in phases] == [False, True, False]


def _small_session(factory, process, registrations: int):
    meeting = factory.meeting(process, title="Petit atelier")
    for _ in range(registrations):
        participant = factory.participant(kind="citizen")
        _db.session.add(Registration(meeting_id=meeting.id, participant_id=participant.id))
    _db.session.commit()
    return meeting


def test_session_figures_are_suppressed_at_the_roles_k(client, people, tiny, factory):
    meeting = _small_session(factory, tiny, 7)
    give_read(people, tiny)

    def sessions(role: str) -> dict[int, dict[str, Any]]:
        response = client.get(f"{API}/processes/{tiny.id}/sessions?per_page=100",
                              headers=bearer(people[role]))
        assert response.status_code == 200
        body = response.get_json()
        assert body["k"] == (10 if role == "evaluator" else 5)
        return {s["id"]: s for s in body["items"]}

    staff = sessions("staff")[meeting.id]
    assert staff["participation"]["registered"] == {"value": 7, "suppressed": False}
    assert staff["held"] is False
    assert staff["participation"]["attended"] == {"value": None, "suppressed": False}
    evaluator = sessions("evaluator")
    assert evaluator[meeting.id]["participation"]["registered"] == {"value": None,
                                                                     "suppressed": True}
    for session in evaluator.values():
        for figure in session["participation"].values():
            assert figure["value"] is None or not 1 <= figure["value"] < 10, session


@pytest.mark.parametrize(("role", "k"), [("evaluator", 10), ("staff", 5)])
def test_no_indicator_rests_on_1_to_k_minus_1_people(client, people, tiny, role, k):
    give_read(people, tiny)
    headers = bearer(people[role])
    items = every_item(client, f"{API}/processes/{tiny.id}/indicators?as_of={AS_OF_QUERY}",
                       headers)
    assert items
    hidden = [i for i in items if i["suppressed"]]
    assert hidden, "the tiny process has small cells"
    assert all(i["value"] is None and i["n"] is None for i in hidden)
    for item in items:
        if not item["suppressed"] and item["code"] not in NOT_ABOUT_PEOPLE:
            assert item["n"] is None or not 1 <= item["n"] < k, item


def test_evaluators_see_more_suppressed_than_staff(client, people, tiny):
    give_read(people, tiny)
    url = f"{API}/processes/{tiny.id}/indicators?as_of={AS_OF_QUERY}"
    staff = every_item(client, url, bearer(people["staff"]))
    evaluator = every_item(client, url, bearer(people["evaluator"]))
    assert len(staff) == len(evaluator)
    assert sum(i["suppressed"] for i in evaluator) > sum(i["suppressed"] for i in staff)


def test_flags_resting_on_hidden_rows_show_no_figure(client, people, tiny):
    give_read(people, tiny)
    items = every_item(client, f"{API}/processes/{tiny.id}/flags?as_of={AS_OF_QUERY}",
                       bearer(people["evaluator"]))
    assert any(flag["suppressed"] for flag in items), "the tiny process has such flags"
    for flag in items:
        assert flag["title"] and flag["message"]
        if flag["suppressed"]:
            assert flag["value"] is None and flag["p_value"] is None
        assert "fewer than 5" not in flag["message"]  # rendered at the evaluator's k


def test_flag_messages_follow_accept_language(client, people, tiny):
    headers = bearer(people["staff"])
    url = f"{API}/processes/{tiny.id}/flags?as_of={AS_OF_QUERY}&per_page=100"
    english = client.get(url, headers={**headers, "Accept-Language": "en"}).get_json()
    french = client.get(url, headers={**headers, "Accept-Language": "fr"}).get_json()
    assert [f["code"] for f in english["items"]] == [f["code"] for f in french["items"]]
    assert [f["title"] for f in english["items"]] != [f["title"] for f in french["items"]]


def test_figures_read_through_the_api_are_in_the_export_audit(client, people, tiny):
    grant_row = give_read(people, tiny)
    url = f"{API}/processes/{tiny.id}/indicators?as_of=2026-06-01T02:00:00%2B02:00"
    assert client.get(url, headers=bearer(people["evaluator"])).status_code == 200
    [record] = _db.session.scalars(sa.select(ExportRecord)).all()
    assert record.user_id == people["evaluator"].id and record.process_id == tiny.id
    assert record.channel == ExportChannel.API and record.format == ExportFormat.JSON
    assert record.k == 10 and record.microdata is False and record.grant_id == grant_row.id
    assert record.as_of.isoformat() == AS_OF
    # A refused request records nothing.
    grants.revoke(actor=people["admin"], grant_row=grant_row, now=utcnow())
    _db.session.commit()
    assert client.get(url, headers=bearer(people["evaluator"])).status_code == 403
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 1


# ---------------------------------------------------------------- parameters and errors


def test_pagination(client, people, factory):
    ids = [factory.process(title=f"P{i}").id for i in range(3)]
    headers = bearer(people["staff"])
    first = client.get(f"{API}/processes?per_page=2", headers=headers).get_json()
    assert [p["id"] for p in first["items"]] == ids[:2]
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 3)
    assert first["previous"] is None
    assert first["next"] == f"{API}/processes?page=2&per_page=2"
    second = client.get(first["next"], headers=headers).get_json()
    assert [p["id"] for p in second["items"]] == ids[2:]
    assert second["next"] is None
    assert second["previous"] == f"{API}/processes?page=1&per_page=2"
    beyond = client.get(f"{API}/processes?page=50&per_page=2", headers=headers)
    assert beyond.status_code == 200
    body = beyond.get_json()
    assert body["items"] == [] and body["total"] == 3 and body["next"] is None
    assert body["previous"] == f"{API}/processes?page=2&per_page=2"
    default = client.get(f"{API}/processes", headers=headers).get_json()
    assert default["per_page"] == 20 and len(default["items"]) == 3


def test_links_keep_the_instant(client, people, tiny):
    body = client.get(f"{API}/processes/{tiny.id}/indicators?as_of=2026-06-01T00:00:00Z"
                      f"&per_page=5", headers=bearer(people["staff"])).get_json()
    assert "as_of=2026-06-01T00:00:00Z" in body["next"]
    assert body["as_of"] == AS_OF


@pytest.mark.parametrize("query", [
    "page=0", "page=-1", "page=abc", "page=1.5", "page=", "page=10001",
    "page=99999999999999999999999", "per_page=0", "per_page=101", "per_page=x",
    "per_page=%EF%BC%95",  # a full-width 5
])
def test_bad_page_parameters_are_400(client, people, tiny, query):
    headers = bearer(people["staff"])
    for url in (f"{API}/processes", f"{API}/processes/{tiny.id}/proposals",
                f"{API}/processes/{tiny.id}/flags"):
        response = client.get(f"{url}?{query}", headers=headers)
        assert response.status_code == 400, (url, query)
        assert error_of(response)["code"] == "bad_request"


@pytest.mark.parametrize("value", [
    "2026-06-01", "2026-06-01T00:00:00", "yesterday", "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z", "2026-06-01T24:00:00Z", "2026-06-01T00:00:00+24:00",
    "2026-06-01T00:00:60Z", "\uff12026-06-01T00:00:00Z", "2026-06-01T00:00:00Z" + "0" * 40, "",
])
def test_a_bad_instant_is_400(client, people, tiny, value):
    from urllib.parse import quote

    response = client.get(f"{API}/processes/{tiny.id}/indicators?as_of={quote(value)}",
                          headers=bearer(people["staff"]))
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("as_of")


@pytest.mark.parametrize(("value", "echo"), [
    ("2026-06-01T02:00:00%2B02:00", AS_OF),
    ("2026-06-01t00:00:00.000000z", AS_OF),
    ("0001-01-01T00:00:00%2B01:00", "1900-01-01T00:00:00+00:00"),
    ("9999-12-31T23:59:59-23:59", "9000-01-01T00:00:00+00:00"),
])
def test_any_rfc3339_instant_is_read(client, people, tiny, value, echo):
    response = client.get(f"{API}/processes/{tiny.id}/flags?as_of={value}",
                          headers=bearer(people["staff"]))
    assert response.status_code == 200
    assert response.get_json()["as_of"] == echo


def test_unknown_parameters_are_ignored(client, people, tiny):
    response = client.get(f"{API}/processes?sort=title&filter=%27%3B--&page=1",
                          headers=bearer(people["staff"]))
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/processes/0", "/processes/99999999999999999999",
                                  "/processes/abc/phases", "/nothing-here", "/processes/7/x"])
def test_not_found_is_json(client, people, tiny, path):
    response = client.get(f"{API}{path}", headers=bearer(people["staff"]))
    assert response.status_code == 404
    assert response.is_json
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_api_only_reads(client, people, tiny, method):
    response = client.open(f"{API}/processes", method=method, headers=bearer(people["staff"]))
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_server_error_is_json_too(app, client, people, tiny, monkeypatch):
    import pvplatform.evaluation.api as api

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "aggregate_tables", boom)
    response = client.get(f"{API}/processes/{tiny.id}/flags", headers=bearer(people["staff"]))
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "server_error" and error["error_id"]
    assert "boom" not in response.get_data(as_text=True)


# ---------------------------------------------------------------- the document


def _flask_paths(app: Flask) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_v1."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix(API)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                out.add((path, method.lower()))
    return out


def test_every_route_is_in_the_document_and_back(app):
    doc = document()
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert _flask_paths(app) == documented
    for path, ops in doc["paths"].items():
        for op in ops.values():
            names = {p["$ref"].rsplit("/", 1)[1] for p in op.get("parameters", [])}
            in_path = set(re.findall(r"{(\w+)}", path))
            assert ("ProcessId" in names) == (in_path == {"process_id"}), path


def test_every_reference_of_the_document_resolves():
    doc = document()

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert node, ref


# ---------------------------------------------------------------- rate limits


@pytest.fixture
def limited_app() -> Iterator[Flask]:
    previous = limiter.enabled
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                   PV_API_RATE_LIMIT="3/minute")
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        discard_schema()
    # The limiter object is shared by every app of the process: leave it as it was.
    limiter.enabled = previous


def test_too_many_requests_is_a_json_429_per_token(limited_app):
    f = Factory()
    staff, admin = f.user(Role.STAFF), f.user(Role.ADMIN)
    client = limited_app.test_client()
    headers = bearer(staff)
    for _ in range(3):
        assert client.get(f"{API}/processes", headers=headers).status_code == 200
    response = client.get(f"{API}/processes", headers=headers)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert error_of(response)["code"] == "too_many_requests"
    # Another token has its own count.
    assert client.get(f"{API}/processes", headers=bearer(admin)).status_code == 200
    # Made-up tokens are counted too (per token string, and per address).
    for _ in range(3):
        client.get(f"{API}/processes", headers={"Authorization": "Bearer pvp_guess"})
    assert client.get(f"{API}/processes",
                      headers={"Authorization": "Bearer pvp_guess"}).status_code == 429
