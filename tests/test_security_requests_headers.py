"""SECURITY.md, Requests: "Security headers on every page and error page: a CSP without
unsafe-inline/unsafe-eval, HSTS in production, nosniff, frame-ancestors, Referrer-Policy;
`Cache-Control: no-store` on account and export pages", "`MAX_CONTENT_LENGTH` is set", and safe
`next` redirects."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import TooManyRequests

from config import ProductionConfig
from pvplatform import create_app
from tests.conftest import FreshGlobalsClient, make_app
from tests.fuzz_corpus import EVIL_NEXTS, logged_in_client, off_site
from tests.route_params import build_world, url_for_rule


def assert_security_headers(response, where: str = "") -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert csp, f"no CSP {where}"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    directives = dict(
        (d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip()
    )
    assert directives.get("frame-ancestors") == "'none'", where
    assert directives.get("default-src") == "'self'", where
    assert "script-src" in directives and "*" not in directives["script-src"], where
    assert directives.get("object-src") == "'none'", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("no-referrer", "strict-origin-when-cross-origin",
                                              "same-origin", "strict-origin"), where
    assert headers.get("X-Frame-Options") == "DENY", where


def test_headers_on_every_get_page(app, db):
    """Every GET rule of the app, as an admin (who sees the most pages) and anonymously."""
    from tests.test_access_policy import ARGUMENT_OVERRIDES

    world = build_world()
    clients = {"admin": logged_in_client(app, world, "admin"),
               "anonymous": FreshGlobalsClient(app, app.response_class, use_cookies=True)}
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        url = url_for_rule(app, rule, world, ARGUMENT_OVERRIDES.get(rule.endpoint))
        for who, client in clients.items():
            response = client.get(url)
            assert response.status_code < 500, (who, url, response.status_code)
            assert_security_headers(response, f"{who} {url} {response.status_code}")
            seen += 1
    assert seen > 40


@pytest.mark.parametrize("status", [403, 404, 405, 413, 429, 500])
def test_headers_on_error_pages(status, monkeypatch):
    app = make_app(MAX_CONTENT_LENGTH=4096)
    with app.app_context():
        from pvplatform.extensions import db

        db.create_all()
        client = app.test_client()
        if status == 403:
            response = client.get("/manage")  # anonymous: a login redirect; so as a citizen
            from tests.conftest import Factory, login

            login(client, Factory().user("citizen"))
            response = client.get("/manage")
        elif status == 404:
            response = client.get("/no/such/page")
        elif status == 405:
            response = client.get("/auth/logout")
        elif status == 413:
            response = client.post("/auth/login", data={"email": "a" * 10_000, "password": "x"})
        else:
            def fail():
                if status == 429:
                    raise TooManyRequests()
                raise RuntimeError("boom")

            monkeypatch.setitem(app.view_functions, "core.healthz", fail)
            response = client.get("/healthz", headers={"Accept": "text/html"})
        assert response.status_code == status
        assert_security_headers(response, str(status))
        body = response.get_data(as_text=True)
        assert "<h1" in body and str(status) in body, "the error page is the app's own"
        if status == 429:
            assert response.headers.get("Retry-After")
        if status == 500:
            assert "Traceback" not in body and "boom" not in body
        db.session.remove()
        db.engine.dispose()


def test_hsts_in_production_only():
    class Production(ProductionConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"
        SECRET_KEY = "production-like-test-key"  # noqa: S105
        PV_BASE_URL = "https://participation.town.example"

    production = create_app(Production).test_client().get(
        "/healthz", base_url="https://participation.town.example")
    assert production.status_code == 200
    hsts = production.headers.get("Strict-Transport-Security", "")
    assert hsts.startswith("max-age=")
    assert int(hsts.split("=", 1)[1].split(";")[0]) >= 31_536_000  # at least one year
    assert_security_headers(production, "production")
    development = make_app().test_client().get("/healthz")
    assert "Strict-Transport-Security" not in development.headers  # plain-HTTP local runs


def test_no_store_on_account_and_export_pages(app, db):
    world = build_world()
    admin = logged_in_client(app, world, "admin")
    citizen = logged_in_client(app, world, "citizen")
    pages = [(citizen, "/auth/me"), (citizen, "/auth/me/profile"),
             (citizen, "/auth/me/password"), (citizen, "/notifications"),
             (admin, "/admin/users"), (admin, f"/admin/users/{world['citizen_id']}")]
    # Every export and personal-data download the app has, whoever wrote it.
    for rule in app.url_map.iter_rules():
        name = rule.endpoint.lower()
        if "GET" in (rule.methods or ()) and any(w in name for w in ("export", "my_data",
                                                                     "download")):
            url = url_for_rule(app, rule, world)
            pages.append((citizen if "my_data" in name or ".me" in name else admin, url))
    for client, url in pages:
        response = client.get(url)
        assert response.status_code < 500, url
        assert "no-store" in response.headers.get("Cache-Control", ""), url
    # Public pages seen anonymously may be cached; static files always.
    anonymous = FreshGlobalsClient(app, app.response_class)
    assert "no-store" not in anonymous.get("/").headers.get("Cache-Control", "")
    assert "no-store" not in citizen.get("/static/css/app.css").headers.get("Cache-Control", "")


def test_max_content_length_is_set_and_refused_with_413(app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert isinstance(limit, int) and 0 < limit <= 64 * 1024 * 1024
    client = app.test_client()
    response = client.post("/auth/login", data={"email": "a" * (limit + 1), "password": "x"})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("target", EVIL_NEXTS)
def test_next_never_leaves_the_site(app, factory, target):
    user = factory.user("citizen")
    client = app.test_client()
    from tests.conftest import PASSWORD

    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD,
                                                "next": target})
    assert response.status_code == 302
    assert not off_site(response.headers["Location"]), response.headers["Location"]
    response = client.get(f"/auth/login?next={target}")
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert not off_site(response.headers["Location"])
    response = client.post("/language", data={"lang": "fr", "next": target})
    assert response.status_code == 302
    assert not off_site(response.headers["Location"]), response.headers["Location"]


def test_off_site_detector_can_fail():
    assert off_site("//evil.example") and off_site("/\\evil.example")
    assert off_site("https://evil.example/x") and off_site("javascript:alert(1)")
    assert off_site("\t//evil.example")
    assert not off_site("/proposals/1") and not off_site("http://localhost/auth/me")
