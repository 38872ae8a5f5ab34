"""Security headers on every response, error pages included; requests the app cannot read are
refused before any view sees them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, request, session
from flask import Request as FlaskRequest
from werkzeug.exceptions import BadRequest

F = TypeVar("F", bound=Callable[..., Any])

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)

# Pages that show personal data must not be kept by browsers or proxies.
NO_STORE_PREFIXES = ("/auth/", "/admin/", "/me/", "/notifications")


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Deeper JSON is refused: nobody sends it in good faith, and recursion on it can exhaust the stack.
MAX_JSON_DEPTH = 32
_JSON_ATTR = "_pv_accepts_json"


def accepts_json(view: F) -> F:
    """Marks a view that reads a JSON body; every other state-changing view takes forms only."""
    setattr(view, _JSON_ATTR, True)
    return view


def _json_depth(value: Any) -> int:
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            depth = max(depth, level)
            if depth > MAX_JSON_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return depth


class SafeRequest(FlaskRequest):
    """get_json() that answers 400, never 500, to JSON too deep for the parser or the views."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            data = super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BadRequest("JSON nested too deeply") from None
        if data is not None and _json_depth(data) > MAX_JSON_DEPTH:
            if silent:
                return None
            raise BadRequest("JSON nested too deeply")
        return data

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise BadRequest("invalid JSON") from e


def _refuse_unreadable_bodies() -> None:
    if request.method not in STATE_CHANGING:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    # Forms are read from form bodies only: a JSON body would reach WTForms as arbitrary
    # structures (lists, nested objects) that its fields were never meant to coerce.
    if request.is_json and not getattr(view, _JSON_ATTR, False):
        abort(415)


def _must_not_be_stored(response: Response) -> bool:
    if request.endpoint == "static":
        return False
    if request.path.startswith(NO_STORE_PREFIXES) or "export" in (request.endpoint or ""):
        return True
    if response.headers.get("Content-Disposition", "").lower().startswith("attachment"):
        return True
    # Whatever a logged-in person sees may be personal: a shared computer's cache keeps none.
    return bool(session.get("_user_id"))


def init_security_headers(app: Flask) -> None:
    app.request_class = SafeRequest
    app.before_request(_refuse_unreadable_bodies)

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if _must_not_be_stored(response):
            headers["Cache-Control"] = "no-store"
        return response
