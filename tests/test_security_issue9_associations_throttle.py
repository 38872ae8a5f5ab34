"""Issue 9: sign-up had no throttling (35 accounts in seconds, each able to name an association).

Five accounts per client address and hour; the sixth sign-up from that address answers 429 with
a message saying why and when, while another address signs up as usual. Refused forms do not
count as accounts (a typo in a password costs nothing), but every form sent counts towards a
wider limit of attempts (each one says whether an e-mail has an account).

The default test app has rate limiting off; these tests build their own app with it on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from pvplatform.auth.models import Association, User
from pvplatform.extensions import db as _db
from pvplatform.extensions import limiter
from tests.conftest import discard_schema, make_app

GOOD = "a long and quiet river of stones"


@pytest.fixture
def limited_app() -> Iterator[Flask]:
    previous = limiter.enabled
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        _db.create_all()
        yield app
        _db.session.remove()
        discard_schema()
    limiter.enabled = previous


def sign_up(app: Flask, n: int, ip: str, **extra: str):
    """A new visitor (a fresh browser) signs up from `ip`."""
    client = app.test_client()
    data = {"email": f"person{n}@example.org", "display_name": f"Person {n}",
            "password": GOOD, "confirm": GOOD, "locale": "en", **extra}
    return client.post("/auth/register", data=data, environ_base={"REMOTE_ADDR": ip})


def accounts() -> int:
    _db.session.rollback()
    return _db.session.scalar(sa.select(sa.func.count()).select_from(User))


def test_sixth_sign_up_from_one_address_within_the_hour_is_refused(limited_app):
    for n in range(5):
        assert sign_up(limited_app, n, "203.0.113.7").status_code == 302
    assert accounts() == 5
    refused = sign_up(limited_app, 5, "203.0.113.7",
                      represents_association="y", new_association="Spam United")
    assert refused.status_code == 429
    body = refused.get_data(as_text=True)
    assert "Too many accounts were created from your connection in the last hour" in body
    retry_after = refused.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and 60 <= int(retry_after) <= 3600
    assert accounts() == 5
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Association)) == 0
    # Another address is not affected.
    assert sign_up(limited_app, 6, "198.51.100.23").status_code == 302
    assert accounts() == 6
    # The sign-up page itself still shows (GET is not limited).
    page = limited_app.test_client().get("/auth/register",
                                         environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert page.status_code == 200


def test_refused_forms_do_not_count_as_accounts(limited_app):
    for n in range(6):
        response = sign_up(limited_app, n, "203.0.113.8", confirm="not the same")
        assert response.status_code == 422
    for n in range(5):
        assert sign_up(limited_app, 10 + n, "203.0.113.8").status_code == 302
    assert sign_up(limited_app, 20, "203.0.113.8").status_code == 429
    assert accounts() == 5


def test_attempts_are_limited_too(limited_app):
    from pvplatform.auth.throttle import SIGNUP_ATTEMPT_LIMITS

    attempts = int(SIGNUP_ATTEMPT_LIMITS.split("/")[0])
    for n in range(attempts):
        assert sign_up(limited_app, n, "203.0.113.9", confirm="nope").status_code == 422
    assert sign_up(limited_app, 99, "203.0.113.9").status_code == 429
    assert accounts() == 0


def test_refusal_page_renders_for_a_french_visitor(limited_app):
    for n in range(5):
        sign_up(limited_app, n, "203.0.113.10")
    client = limited_app.test_client()
    refused = client.post("/auth/register", data={
        "email": "x@example.org", "display_name": "X", "password": GOOD, "confirm": GOOD,
        "locale": "fr"}, environ_base={"REMOTE_ADDR": "203.0.113.10"},
        headers={"Accept-Language": "fr"})
    assert refused.status_code == 429
    assert "<h1" in refused.get_data(as_text=True)
