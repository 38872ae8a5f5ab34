"""Logs without secrets, and a request id that ties a request's log lines to its error page.

Redaction happens when a log record is created (a log record factory), not in one handler:
gunicorn's, the test runner's or any handler added later receives records that are already
clean. What is redacted: the values of password, cookie, session, token and CSRF keys, of
demographic keys (our dimensions and category answers), `Cookie:` / `Set-Cookie:` headers, and
the bound parameters SQLAlchemy prints in its error messages and its statement log (they may
hold any of these).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from typing import Any

from flask import Flask, g, has_request_context, request

REDACTED = "[redacted]"

# Keys whose values never reach a log. Demographic dimensions are listed by the words they use in
# forms and data packages (DATA.md); `category` / `dimension` cover ParticipantAttribute rows.
SECRET_KEYS = (
    "password", "passwd", "pwd", "new_password", "current_password", "confirm",
    "csrf_token", "csrf", "cookie", "set-cookie", "session", "remember_token", "session_token",
    "token", "secret", "secret_key", "authorization", "api_key",
)
DEMOGRAPHIC_KEYS = (
    "demographics", "dimension", "category", "categories", "gender", "sex", "age", "age_band",
    "age_group", "birth_year", "year_of_birth", "income", "income_band", "education",
    "disability", "nationality", "ethnicity", "origin", "occupation", "employment",
    "neighbourhood", "neighborhood", "district", "household", "tenure",
)
_KEYS = "|".join(re.escape(k) for k in sorted(SECRET_KEYS + DEMOGRAPHIC_KEYS, key=len,
                                              reverse=True))

# key=value (form bodies, query strings), key: value, 'key': 'value' and "key": "value" (dicts,
# JSON). The value ends at a separator typical of each notation.
_PAIR_RE = re.compile(
    rf"""(?ix)
    (?<![\w-])
    (?P<key>["']?(?:\w+[_-])?(?:{_KEYS})(?:[_-][\w-]+)?["']?)   # a key word, maybe prefixed
    (?P<sep>\s*[=:]\s*)
    (?P<value>
        "(?:[^"\\]|\\.)*"                          # a double-quoted value
      | '(?:[^'\\]|\\.)*'                          # a single-quoted value
      | [^\s&,;)}}\]]+                             # a bare value
    )
    """
)
_HEADER_RE = re.compile(r"(?im)^(\s*(?:set-)?cookie\s*:\s*).*$")
# SQLAlchemy's statement log (echo) prints the bound parameters on their own line:
# "[generated in 0.0001s] ('woman', '65_plus')".
_ENGINE_PARAMS_RE = re.compile(r"^(\[[^\]]*\]\s*)[(\[{].*$", re.S)
_SQL_PARAMS_RE = re.compile(r"\[parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.S)


def redact(text: str) -> str:
    if not text:
        return text
    text = _SQL_PARAMS_RE.sub(f"[parameters: {REDACTED}]", text)
    text = _PAIR_RE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)
    return _HEADER_RE.sub(lambda m: m.group(1) + REDACTED, text)


def current_request_id() -> str:
    if has_request_context():
        rid = g.get("request_id")
        if rid is None:
            rid = g.request_id = uuid.uuid4().hex[:12]
        return rid
    return "-"


class RedactingFilter(logging.Filter):
    """Cleans a record in place; usable on a handler too, and idempotent."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pv_redacted", False):
            return True
        record._pv_redacted = True
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is, minus args
            message = str(record.msg)
        if record.name.startswith("sqlalchemy.engine"):
            message = _ENGINE_PARAMS_RE.sub(rf"\1{REDACTED}", message)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()
_installed = False


def install_record_factory() -> None:
    """Every record created anywhere in the process goes through the redacting filter."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def init_logging(app: Flask) -> None:
    install_record_factory()
    # A no-op when the host (gunicorn, pytest) already configured the root logger.
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format=LOG_FORMAT)

    @app.before_request
    def _assign_request_id() -> None:
        # An id from a proxy is kept when it looks like one, so logs can be matched end to end.
        incoming = request.headers.get("X-Request-ID", "")
        if re.fullmatch(r"[A-Za-z0-9-]{8,64}", incoming):
            g.request_id = incoming
        else:
            g.request_id = uuid.uuid4().hex[:12]

    @app.after_request
    def _echo_request_id(response):
        response.headers.setdefault("X-Request-ID", current_request_id())
        return response
