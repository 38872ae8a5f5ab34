"""The platform's public address, and the host names it answers to.

Links that leave the application (in e-mails, in anything read later or elsewhere) are built
from PV_BASE_URL, never from the request: the Host header is chosen by whoever sends the
request, and a password-reset link built from it would carry a valid token to their server.
Requests naming another host are refused (Flask's TRUSTED_HOSTS, a 400), so that nothing else
built from `request.host` can be pointed elsewhere either.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.exceptions import SecurityError

DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"
# Development and tests also answer on the machine's own names (the test client says
# "localhost", the browser tests' live server "127.0.0.1:<port>"; ports are not compared).
LOCAL_HOSTS = ("localhost", "127.0.0.1")


class BaseUrlError(RuntimeError):
    """The configuration cannot give safe links: the application refuses to start."""


def _check(url: str) -> str:
    """The URL without a trailing slash, or BaseUrlError saying what is wrong with it."""
    example = "https://participation.town.example"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number below 65536
    except ValueError as err:
        raise BaseUrlError(f"PV_BASE_URL={url!r} is not a valid URL ({err}); "
                           f"write the platform's public address, e.g. {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise BaseUrlError(f"PV_BASE_URL={url!r} must be an absolute http:// or https:// "
                           f"address, e.g. {example}")
    if parts.username is not None or parts.password is not None or parts.query \
            or parts.fragment or any(c.isspace() for c in url):
        raise BaseUrlError(f"PV_BASE_URL={url!r} must be a plain address (no user name, "
                           f"query, fragment or spaces), e.g. {example}")
    return url.rstrip("/")


def resolve_base_url(config: dict) -> str:
    """PV_BASE_URL from the configuration; without it, production refuses to start and
    development and tests use SERVER_NAME or the local development address."""
    url = str(config.get("PV_BASE_URL") or "").strip()
    if url:
        return _check(url)
    if config.get("PV_BASE_URL_REQUIRED"):
        raise BaseUrlError(
            "PV_BASE_URL is not set. In production it must be the platform's public address "
            "(e.g. PV_BASE_URL=https://participation.town.example): password-reset links and "
            "e-mails are built from it, never from the request's Host header.")
    server_name = str(config.get("SERVER_NAME") or "").strip()
    if server_name:
        scheme = config.get("PREFERRED_URL_SCHEME") or "http"
        root = str(config.get("APPLICATION_ROOT") or "/").rstrip("/")
        return _check(f"{scheme}://{server_name}{root}")
    return DEVELOPMENT_BASE_URL


def trusted_hosts(config: dict, base_url: str) -> list[str]:
    """The host of the base URL, PV_TRUSTED_HOSTS (comma-separated; `.town.example` also
    accepts its subdomains), and in development and tests the machine's own names."""
    hosts = [urlsplit(base_url).hostname or ""]
    extra = config.get("PV_TRUSTED_HOSTS") or ""
    if isinstance(extra, str):
        extra = extra.split(",")
    hosts.extend(str(h).strip() for h in extra)
    if not config.get("PV_BASE_URL_REQUIRED"):
        hosts.extend(LOCAL_HOSTS)
    unique: list[str] = []
    for host in hosts:
        host = host.lower()
        if host and host not in unique:
            unique.append(host)
    return unique


def _refuse_unknown_host() -> Response | None:
    """Flask records an untrusted Host as the request's routing error; it is answered here,
    before anything (CSRF, the error page's links) tries to read the host again."""
    if not isinstance(request.routing_exception, SecurityError):
        return None
    title = escape(_("Unknown address"))
    message = escape(_("This platform does not answer at this address. Use its usual "
                       "address."))
    lang = escape(str(get_locale()))
    body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{title}</title></head><body><h1>{title}</h1><p>{message}</p></body></html>")
    return Response(body, status=400, mimetype="text/html")


def init_base_url(app: Flask) -> None:
    """Checks PV_BASE_URL (BaseUrlError: the app does not start) and sets TRUSTED_HOSTS.
    Called first in create_app, so that the unknown-host answer runs before other hooks."""
    base_url = resolve_base_url(app.config)
    app.config["PV_BASE_URL"] = base_url
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config, base_url)
    app.before_request(_refuse_unknown_host)


def absolute_url(path: str) -> str:
    """A site path ("/manage/...", as stored in notifications) as a link for an e-mail."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError("a site path starts with a single /")
    return current_app.config["PV_BASE_URL"] + path


def external_url(endpoint: str, **values: object) -> str:
    """`url_for(endpoint, **values)` on the configured base URL, whatever the request's Host
    (and also outside a request, from the command line or a commit hook)."""
    parts = urlsplit(current_app.config["PV_BASE_URL"])
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/",
                                       url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)
