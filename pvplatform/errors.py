"""Domain errors raised by services, and the handlers that turn every error into a 4xx/5xx page.

Services raise these without knowing about HTTP; the handlers roll the transaction back so a
failed request never leaves a half-stored change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from pvplatform.core.logging import current_request_id
from pvplatform.core.sqlite import reads_only_from_now
from pvplatform.extensions import db

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message or self.default_message())
        self.message = str(message or self.default_message())
        self.field = field

    def default_message(self) -> str:
        return str(_l("This request cannot be carried out."))


class NotFound(DomainError):
    status = 404

    def default_message(self) -> str:
        return str(_l("This page or item does not exist."))


class NotAllowed(DomainError):
    status = 403

    def default_message(self) -> str:
        return str(_l("You are not allowed to do this."))


class InvalidState(DomainError):
    status = 409

    def default_message(self) -> str:
        return str(_l("This action is not possible in the current state."))


class ValidationFailed(DomainError):
    status = 422


def wants_json() -> bool:
    if request.is_json or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]


# An API with an error shape of its own (the JSON API v1) registers it here for its URL prefix,
# so that routing errors (404, 405) and server errors under that prefix take the shape too.
JSON_ERROR_BODIES: dict[str, Callable[[int, str, str | None], dict[str, Any]]] = {}


def _api_error_body(status: int, message: str, error_id: str | None) -> dict[str, Any] | None:
    for prefix, body in JSON_ERROR_BODIES.items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return body(status, message, error_id)
    return None


def error_response(status: int, title: str, message: str, error_id: str | None = None):
    api_body = _api_error_body(status, message, error_id)
    if api_body is not None:
        return jsonify(api_body), status
    if wants_json():
        body = {"error": title, "message": message, "status": status}
        if error_id:
            body["error_id"] = error_id
        return jsonify(body), status
    return (
        render_template(
            "errors/error.html", status=status, title=title, message=message, error_id=error_id
        ),
        status,
    )


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the rollback itself must never mask the original error
        log.exception("rollback failed")
    # What follows (the error page) only reads: on SQLite it must not queue for the write lock.
    reads_only_from_now()


BUSY_MARKERS = ("locked", "busy", "could not serialize", "deadlock detected", "lock timeout",
                "could not obtain lock", "statement timeout")
BUSY_PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>503</title>"
             "</head><body><h1>503</h1><p>The platform is busy. Please try again in a few "
             "seconds.</p></body></html>")


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(err: DomainError):
        _rollback()
        titles = {
            403: _l("Not allowed"),
            404: _l("Not found"),
            409: _l("Not possible now"),
            422: _l("Invalid input"),
        }
        title = str(titles.get(err.status, _l("Bad request")))
        return error_response(err.status, title, err.message)

    @app.errorhandler(HTTPException)
    def handle_http_error(err: HTTPException):
        _rollback()
        messages = {
            400: _l("The request could not be understood. If you submitted a form, reload the "
                    "page and try again."),
            403: _l("You are not allowed to see this page."),
            404: _l("This page does not exist."),
            405: _l("This address does not accept this kind of request."),
            413: _l("The file or form you sent is too large."),
            415: _l("This address accepts forms only, not this kind of content."),
            429: _l("Too many attempts. Please wait a moment and try again."),
        }
        titles = {
            400: _l("Bad request"),
            403: _l("Not allowed"),
            404: _l("Not found"),
            405: _l("Method not allowed"),
            413: _l("Too large"),
            415: _l("Unsupported content"),
            429: _l("Too many requests"),
        }
        message = str(messages.get(err.code or 500, err.description or ""))
        if err.code == 429 and getattr(getattr(err, "limit", None), "error_message", None):
            message = str(err.description)  # a limit that says why (sign-up: accounts per hour)
        title = str(titles.get(err.code or 500, err.name))
        response = error_response(err.code or 500, title, message)
        if err.code == 405 and getattr(err, "valid_methods", None):
            # RFC 9110: a 405 names the methods the address accepts.
            resp = app.make_response(response)
            resp.headers["Allow"] = ", ".join(err.valid_methods)
            return resp
        if err.code == 429:
            resp, status = response
            resp = app.make_response((resp, status))
            resp.headers["Retry-After"] = "60"
            return resp
        return response

    @app.errorhandler(IntegrityError)
    def handle_integrity_error(err: IntegrityError):
        _rollback()
        log.info("integrity error refused: %s", err.orig.__class__.__name__)
        return error_response(
            409, str(_l("Conflict")), str(_l("This change conflicts with existing data."))
        )

    @app.errorhandler(OperationalError)
    def handle_operational_error(err: OperationalError):
        _rollback()
        text = str(err.orig).lower()
        if any(marker in text for marker in BUSY_MARKERS):
            log.warning("database busy, answered 503: %s", err.orig)
            try:
                resp = app.make_response(
                    error_response(
                        503,
                        str(_l("Busy")),
                        str(_l("The platform is busy. Please try again in a few seconds.")),
                    )
                )
            except Exception:  # noqa: BLE001 - the page itself could not read the database
                _rollback()
                resp = app.make_response((BUSY_PAGE, 503))
            resp.headers["Retry-After"] = "2"
            return resp
        return handle_unexpected(err)

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        _rollback()
        # The request id: every log line of this request carries it, not only this one.
        error_id = current_request_id()
        log.error("unexpected error %s on %s %s", error_id, request.method, request.path,
                  exc_info=err)
        return error_response(
            500,
            str(_l("Server error")),
            str(_l("Something went wrong on our side. The error has been logged.")),
            error_id,
        )
