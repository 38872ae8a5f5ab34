"""Who calls the API: the owner of the personal token in `Authorization: Bearer <token>`, and
nobody else. A session cookie never authenticates here, so a logged-in browser cannot use the API
(which also keeps it out of CSRF's way: it only reads).

Rate limits (Flask-Limiter's storage: the application's database by default, shared by every
worker and instance): per token (PV_API_RATE_LIMIT, 120 a minute by default) and per client
address (PV_API_ADDRESS_RATE_LIMIT, 600 a minute: a flood of made-up tokens is limited too). A
breach answers 429 with Retry-After.
"""

from __future__ import annotations

from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address

from pvplatform.auth.models import User
from pvplatform.db import utcnow
from pvplatform.evaluation.api_blueprint import api_bp
from pvplatform.evaluation.api_errors import ApiProblem, unauthorized
from pvplatform.evaluation.models import ApiToken
from pvplatform.evaluation.tokens import RAW_MAX_LENGTH, TokenCheck, check_token, hash_token
from pvplatform.extensions import csrf, limiter

PUBLIC_ENDPOINTS = frozenset({"api_v1.openapi"})
RATE_PER_KEY = "120/minute"
RATE_PER_ADDRESS = "600/minute"


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _token_key() -> str:
    raw = bearer_token(request.headers.get("Authorization"))
    if raw is not None and len(raw) <= RAW_MAX_LENGTH:
        return "api-token:" + hash_token(raw)
    return "api-address:" + (get_remote_address() or "unknown")


def _address_key() -> str:
    return "api-any:" + (get_remote_address() or "unknown")


limiter.limit(lambda: current_app.config.get("PV_API_RATE_LIMIT", RATE_PER_KEY),
              key_func=_token_key)(api_bp)
limiter.limit(lambda: current_app.config.get("PV_API_ADDRESS_RATE_LIMIT", RATE_PER_ADDRESS),
              key_func=_address_key)(api_bp)
# Nothing under /api/v1 changes state, and no cookie authenticates there.
csrf.exempt(api_bp)


@api_bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    raw = bearer_token(request.headers.get("Authorization"))
    if raw is None:
        raise unauthorized()
    result = check_token(raw, utcnow())
    if result.outcome == TokenCheck.INVALID:
        raise unauthorized()
    if result.outcome == TokenCheck.FORBIDDEN:
        raise ApiProblem(403)
    # last_used_at, when it changed, is committed with the answer (`respond`).
    g.api_user = result.user
    g.api_token = result.token


@api_bp.after_request
def _not_stored(response: Response) -> Response:
    if request.endpoint not in PUBLIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def api_user() -> User:
    return g.api_user


def api_token() -> ApiToken:
    return g.api_token
