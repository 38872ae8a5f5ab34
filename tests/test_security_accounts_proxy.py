"""Behind a reverse proxy every request comes from the proxy's address: the login throttle (per
account and address, and per address) must count the client named in X-Forwarded-For, and only
when TRUSTED_PROXIES says a proxy is there; otherwise an attacker would choose a new address per
guess with the header."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from tests.conftest import discard_schema, make_app

WRONG = "not the right password at all"
PROXY = "10.0.0.2"


@pytest.fixture
def app_with(request) -> Iterator[Flask]:
    previous = limiter.enabled
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                   TRUSTED_PROXIES=request.param)
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        discard_schema()
    limiter.enabled = previous


def guess(client, forwarded_for: str):
    return client.post("/auth/login",
                       data={"email": "someone@example.org", "password": WRONG},
                       environ_base={"REMOTE_ADDR": PROXY},
                       headers={"X-Forwarded-For": forwarded_for})


@pytest.mark.parametrize("app_with", [1], indirect=True)
def test_behind_a_trusted_proxy_each_client_has_its_own_count(app_with):
    client = app_with.test_client()
    for _ in range(5):
        assert guess(client, "203.0.113.7").status_code == 422
    assert guess(client, "203.0.113.7").status_code == 429
    # Another resident behind the same proxy is not locked out by the first one.
    assert guess(client, "203.0.113.8").status_code == 422


@pytest.mark.parametrize("app_with", [0], indirect=True)
def test_without_a_trusted_proxy_the_header_cannot_pick_a_new_address(app_with):
    client = app_with.test_client()
    for n in range(5):
        assert guess(client, f"198.51.100.{n}").status_code == 422
    assert guess(client, "198.51.100.99").status_code == 429
