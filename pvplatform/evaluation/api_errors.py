"""Every error under /api/v1 is JSON of one shape:

    {"error": {"status": 404, "code": "not_found", "message": "..."}}

Errors the API raises itself (`ApiProblem`: 400, 401, 403) carry their headers
(`WWW-Authenticate`); the others (routing 404 and 405, a 429 from the limiter, a 500) go through
the application's handlers, which take this shape from `pvplatform.errors.JSON_ERROR_BODIES`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_babel import lazy_gettext as _l

from pvplatform.errors import JSON_ERROR_BODIES
from pvplatform.evaluation.api_blueprint import api_bp

API_PREFIX = "/api/v1"

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
}

MESSAGES = {
    401: _l("Send a valid personal API token: Authorization: Bearer <token>."),
    403: _l("This token may not read this."),
}


def error_body(status: int, message: str, error_id: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "code": ERROR_CODES.get(status, "error"),
                             "message": message}
    if error_id:
        error["error_id"] = error_id
    return {"error": error}


class ApiProblem(Exception):
    """A refusal of the API with its status, message and headers."""

    def __init__(self, status: int, message: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or str(MESSAGES.get(status, ""))
        self.headers = headers or {}


def unauthorized() -> ApiProblem:
    return ApiProblem(401, headers={"WWW-Authenticate": 'Bearer realm="pvplatform"'})


def bad_parameter(name: str, message: str) -> ApiProblem:
    return ApiProblem(400, f"{name}: {message}")


@api_bp.errorhandler(ApiProblem)
def _problem(err: ApiProblem) -> Response:
    response = jsonify(error_body(err.status, err.message))
    response.status_code = err.status
    response.headers.update(err.headers)
    return response


JSON_ERROR_BODIES[API_PREFIX] = error_body
