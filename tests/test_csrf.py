"""Every state-changing route refuses a request without a valid CSRF token, with CSRF on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.extensions import db as _db
from tests.conftest import (
    STAFF_PASSWORD,
    app_on_file,
    csrf_token_from,
)
from tests.route_params import url_for_rule

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def csrf_app(tmp_path):
    with app_on_file(tmp_path / "csrf.sqlite", WTF_CSRF_ENABLED=True) as app:
        yield app


def _row_counts() -> dict[str, int]:
    return {
        t.name: _db.session.scalar(sa.select(sa.func.count()).select_from(t))
        for t in _db.metadata.sorted_tables
    }


def _login(client, email: str, password: str) -> None:
    token = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/login", data={"email": email, "password": password,
                                                "csrf_token": token})
    assert response.status_code == 302


def test_login_without_token_is_refused(csrf_app):
    from tests.conftest import Factory

    with csrf_app.app_context():
        user = Factory().user("admin")
        email = user.email
    client = csrf_app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": STAFF_PASSWORD})
    assert response.status_code == 400


def test_every_state_changing_route_needs_a_valid_token(csrf_app):
    from tests.route_params import build_world

    with csrf_app.app_context():
        world = build_world()
        admin_email = world["admin_email"]
    client = csrf_app.test_client()
    _login(client, admin_email, STAFF_PASSWORD)
    other = csrf_app.test_client()
    _login(other, admin_email, STAFF_PASSWORD)
    other_token = csrf_token_from(other.get("/auth/me/profile").get_data(as_text=True)) or "x"

    checked = 0
    for rule in csrf_app.url_map.iter_rules():
        methods = (rule.methods or set()) & STATE_CHANGING
        if not methods or rule.endpoint == "static":
            continue
        url = url_for_rule(csrf_app, rule, world)
        for method in sorted(methods):
            with csrf_app.app_context():
                before = _row_counts()
            for token in (None, "not-a-token", other_token):
                data = {} if token is None else {"csrf_token": token}
                response = client.open(url, method=method, data=data)
                assert response.status_code == 400, (rule.endpoint, method, token,
                                                     response.status_code)
            with csrf_app.app_context():
                assert _row_counts() == before, rule.endpoint
            checked += 1
    assert checked >= 10
