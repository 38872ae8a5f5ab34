"""SECURITY.md, Requests: "Hypothesis drives the JSON endpoints" (bad input: no 5xx).

Every state-changing route receives Hypothesis-generated JSON bodies (Content-Type
application/json), sent by a role the policy allows. Routes that read forms refuse JSON with a
415; a view marked `accepts_json` reads it through `SafeRequest`, which answers 400 to JSON that
is malformed or nested too deeply. /healthz, the one JSON answer, is read with JSON bodies too.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvplatform.core.security import MAX_JSON_DEPTH, accepts_json
from tests.conftest import make_app
from tests.fuzz_corpus import logged_in_client, role_for, state_changing_rules
from tests.route_params import build_world, url_for_rule

_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=50) | st.sampled_from(["admin", "-1", "NaN", "//evil.example",
                                                      "\x00", "\u202e", "9223372036854775808"]))
JSON_VALUES = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12) | st.sampled_from(
        ["title", "body", "role", "next", "value", "email", "password", "csrf_token"]),
        children, max_size=6),
    max_leaves=25,
)


@pytest.fixture
def json_world(app, db):
    """Built once for all the examples (a function-scoped fixture lives for the whole test)."""
    return {"world": build_world(), "clients": {}}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_json_bodies_on_every_route(app, db, json_world, data):
    from tests.test_access_policy import ARGUMENT_OVERRIDES

    world, clients = json_world["world"], json_world["clients"]
    targets = [(r, m) for r, m in state_changing_rules(app) if role_for(r.endpoint, m)]
    rule, method = data.draw(st.sampled_from(targets), label="route")
    role = role_for(rule.endpoint, method)
    if role not in clients:
        clients[role] = logged_in_client(app, world, role)
    url = url_for_rule(app, rule, world, ARGUMENT_OVERRIDES.get(rule.endpoint))
    body = data.draw(JSON_VALUES, label="body")
    response = clients[role].open(url, method=method, data=json.dumps(body),
                                  content_type="application/json")
    db.session.rollback()
    assert response.status_code < 500, (rule.endpoint, body, response.status_code)
    health = clients[role].get("/healthz", data=json.dumps(body),
                               content_type="application/json")
    assert health.status_code == 200


def test_json_endpoint_guards():
    """What a view marked `accepts_json` gets: parsed JSON, or a 400 before it runs."""
    app = make_app()
    seen = []

    @accepts_json
    def echo():
        from flask import request

        seen.append(request.get_json())
        return {"ok": True}

    app.add_url_rule("/test-json", "test_json", echo, methods=["POST"])
    app.add_url_rule("/test-form", "test_form", lambda: "form", methods=["POST"])
    client = app.test_client()
    assert client.post("/test-json", json={"a": [1, 2]}).status_code == 200
    assert seen == [{"a": [1, 2]}]
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    very_deep = "[" * 100_000 + "]" * 100_000
    for body in (deep, very_deep, "{not json", '{"a": NaN', "\xff\xfe"):
        response = client.post("/test-json", data=body, content_type="application/json")
        assert response.status_code == 400, body[:20]
        assert response.is_json and response.get_json()["message"]
    assert client.post("/test-form", json={"a": 1}).status_code == 415
    assert client.post("/test-form", data=b"{}",
                       content_type="application/vnd.api+json").status_code == 415
    assert client.post("/test-form", data={"a": "1"}).status_code == 200
