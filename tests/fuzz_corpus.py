"""The bad inputs of SECURITY.md, and the XSS payloads, as data shared by the security tests.

A fuzz case turns the app's form fields into a request body. Field names and their maximum
lengths are read from every FlaskForm of the app, so a new form is fuzzed without listing it.
`invalid` marks the cases no form may accept: after them every table's row count must be
unchanged. The others (a maximum-length text, a lone surrogate that decodes to U+FFFD, a plausible
form with `role=admin`) may be valid by chance: for them the test only demands no 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import Length

EVIL_NEXT = "//evil.example"
# Redirect targets that must never leave the site (login, language switch, any `next`).
EVIL_NEXTS = (
    "//evil.example",
    "https://evil.example",
    "http://evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    " //evil.example",
    "\t//evil.example",
    "https:evil.example",
)

DEFAULT_MAX = 200  # for text fields whose form declares no Length (the case still hits them)

BIG_INT = str(2**63)


# ---------------------------------------------------------------- form fields of the app

@dataclass
class FieldInfo:
    name: str
    text: bool = False  # a string field in at least one form
    typed: bool = False  # a number, choice, date or flag in at least one form
    # The smallest and largest Length(max=...) among the forms with a field of this name.
    max_length: int | None = None
    largest_max: int | None = None


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def form_fields() -> dict[str, FieldInfo]:
    """Every field name of every FlaskForm the app has imported, with what kind it is."""
    fields: dict[str, FieldInfo] = {}
    for form_cls in _subclasses(FlaskForm):
        if not form_cls.__module__.startswith("pvplatform"):
            continue
        for name in dir(form_cls):
            unbound = getattr(form_cls, name, None)
            if not isinstance(unbound, UnboundField):
                continue
            info = fields.setdefault(name, FieldInfo(name))
            cls = unbound.field_class
            # Strings (text, e-mail, URL, hidden, password) are text; numbers, choices, dates
            # and flags are typed.
            if issubclass(cls, StringField):
                info.text = True
            else:
                info.typed = True
            validators = list(unbound.kwargs.get("validators") or [])
            if len(unbound.args) > 1 and isinstance(unbound.args[1], list | tuple):
                validators.extend(unbound.args[1])
            for validator in validators:
                if isinstance(validator, Length) and validator.max and validator.max > 0:
                    info.max_length = min(info.max_length or validator.max, validator.max)
                    info.largest_max = max(info.largest_max or 0, validator.max)
    fields.pop("csrf_token", None)
    fields.pop("submit", None)
    return fields


# ---------------------------------------------------------------- fuzz cases

@dataclass
class Request:
    """What the test client sends: form data, or a raw body with its content type."""

    data: dict[str, str] | bytes | str
    content_type: str | None = None


@dataclass
class FuzzCase:
    name: str
    invalid: bool
    build: Callable[[dict[str, FieldInfo]], Request]
    notes: str = field(default="")


def _each(fields: dict[str, FieldInfo], text: Callable[[FieldInfo], str],
          typed: Callable[[FieldInfo], str] | None = None) -> dict[str, str]:
    data = {}
    for info in fields.values():
        # A name that is text in some form gets the text value: a number is valid text.
        if info.typed and not info.text and typed is not None:
            data[info.name] = typed(info)
        else:
            data[info.name] = text(info)
    data["next"] = EVIL_NEXT
    return data


def _limit(info: FieldInfo) -> int:
    return info.max_length or DEFAULT_MAX


def _over(info: FieldInfo) -> int:
    """Longer than the largest maximum: too long for every form that has this field."""
    return info.largest_max or DEFAULT_MAX


def _form(builder: Callable[[dict[str, FieldInfo]], dict[str, str]]
          ) -> Callable[[dict[str, FieldInfo]], Request]:
    return lambda fields: Request(builder(fields))


def _raw_surrogates(fields: dict[str, FieldInfo]) -> Request:
    # Percent-encoded and literal UTF-8 encodings of U+D800: not valid UTF-8 in either form.
    body = urlencode({name: "x" for name in fields})
    body = body.replace("=x", "=a%ED%A0%80b")
    return Request(body.encode() + b"&title=\xed\xa0\x80&next=%2F%2Fevil.example",
                   "application/x-www-form-urlencoded")


def _deep_json(fields: dict[str, FieldInfo]) -> Request:  # noqa: ARG001
    return Request("[" * 10_000 + "]" * 10_000, "application/json")


def _json_object(fields: dict[str, FieldInfo]) -> Request:
    return Request(json.dumps({name: {"nested": [1, None, "x"]} for name in fields}),
                   "application/json")


def _text_plain(fields: dict[str, FieldInfo]) -> Request:
    return Request(urlencode({name: "x" for name in fields}), "text/plain")


def _xml(fields: dict[str, FieldInfo]) -> Request:  # noqa: ARG001
    return Request('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                   "<a>&e;</a>", "application/xml")


def _plausible(info: FieldInfo) -> str:
    return "Fuzz text" if info.text else "1"


def _extra_fields(fields: dict[str, FieldInfo]) -> Request:
    data = _each(fields, _plausible, _plausible)
    data.update({"role": "admin", "is_admin": "1", "admin": "true", "user_id": "1",
                 "author_id": "1", "participant_id": "1", "state": "accepted",
                 "hidden_at": "2020-01-01", "id": "1"})
    return Request(data)


# The cases that may be valid by chance come last: an accepted one may change the world (close
# a session, withdraw a proposal) and the invalid ones should meet the form, not a 409.
CASES: list[FuzzCase] = [
    FuzzCase("empty", True, _form(lambda f: _each(f, lambda i: "", lambda i: ""))),
    FuzzCase("max_plus_1", True, _form(lambda f: _each(f, lambda i: "a" * (_over(i) + 1)))),
    FuzzCase("ten_times_max", True, _form(lambda f: _each(f, lambda i: "a" * (_over(i) * 10)))),
    FuzzCase("nul_byte", True, _form(lambda f: _each(f, lambda i: "ab\x00cd"))),
    FuzzCase("rtl_override", True, _form(lambda f: _each(f, lambda i: "abc\u202edcba"))),
    FuzzCase("zero_width", True, _form(lambda f: _each(f, lambda i: "ab\u200bcd\ufeff"))),
    # Numbers go to typed fields; text fields are left empty so that no text form is valid.
    FuzzCase("two_pow_63", True, _form(lambda f: _each(f, lambda i: "", lambda i: BIG_INT))),
    FuzzCase("minus_one", True, _form(lambda f: _each(f, lambda i: "", lambda i: "-1"))),
    FuzzCase("nan", True, _form(lambda f: _each(f, lambda i: "", lambda i: "NaN"))),
    FuzzCase("infinity", True, _form(lambda f: _each(f, lambda i: "", lambda i: "1e999"))),
    FuzzCase("deep_json", True, _deep_json),
    FuzzCase("json_object", True, _json_object),
    FuzzCase("wrong_content_type_text", True, _text_plain),
    FuzzCase("wrong_content_type_xml", True, _xml),
    FuzzCase("max", False, _form(lambda f: _each(f, lambda i: "a" * _limit(i)))),
    FuzzCase("lone_surrogate_bytes", False, _raw_surrogates,
             "undecodable bytes become U+FFFD: a valid character"),
    FuzzCase("extra_fields_role_admin", False, _extra_fields),
]


# ---------------------------------------------------------------- XSS payloads

MARK = "PVX"  # every payload carries it, so a page can be searched for what it shows
XSS_PAYLOADS: list[str] = [
    f"<script>alert('{MARK}1')</script>",
    f"<img src=x onerror=alert('{MARK}2')>",
    f"<svg onload=alert('{MARK}3')>",
    f"<svg><script>alert('{MARK}4')</script></svg>",
    f"\"><script>alert('{MARK}5')</script>",
    f"' onmouseover='alert(\"{MARK}6\")' x='",
    f"\" onfocus=\"alert('{MARK}7')\" autofocus=\"",
    f"javascript:alert('{MARK}8')",
    f"<a href=\"javascript:alert('{MARK}9')\">click</a>",
    f"{MARK}10{{{{7*7}}}}",
    f"{MARK}11{{% raw %}}{{{{ config }}}}",
    f"</textarea><script>alert('{MARK}12')</script>",
    f"</title><script>alert('{MARK}13')</script>",
    f"<iframe src=\"javascript:alert('{MARK}14')\"></iframe>",
    f"<body onload=alert('{MARK}15')>",
    f"<details open ontoggle=alert('{MARK}16')>",
    f"<math><mtext><table><mglyph><style><img src=x onerror=alert('{MARK}17')>",
    f"<div style=\"background:url(javascript:alert('{MARK}18'))\">",
    f"<<script>alert('{MARK}19');//<</script>",
    f"${{alert('{MARK}20')}}<!--",
    f"data:text/html,<script>alert('{MARK}21')</script>",
]
# What a payload must never turn into on a page: the evaluated template expression.
TEMPLATE_EVALUATED = f"{MARK}1049"


# ---------------------------------------------------------------- walking the app's routes

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Who sends the fuzz: anonymous when allowed (login, register), else the first allowed role.
ROLE_PREFERENCE = ("anonymous", "citizen", "staff", "admin", "elected", "association",
                   "evaluator")


def state_changing_rules(app) -> list[tuple[object, str]]:
    pairs = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            pairs.append((rule, method))
    return sorted(pairs, key=lambda p: (p[0].endpoint, p[1]))


def role_for(endpoint: str, method: str) -> str | None:
    from tests.test_access_policy import POLICY

    allowed = POLICY.get((endpoint, method))
    if not allowed:
        return None
    return next((role for role in ROLE_PREFERENCE if role in allowed), None)


def logged_in_client(app, world: dict, role: str):
    from tests.conftest import PASSWORD, STAFF_PASSWORD, FreshGlobalsClient

    client = FreshGlobalsClient(app, app.response_class, use_cookies=True)
    if role != "anonymous":
        password = PASSWORD if role in ("citizen", "association") else STAFF_PASSWORD
        response = client.post("/auth/login", data={"email": world["emails"][role],
                                                    "password": password})
        assert response.status_code == 302, f"login as {role} failed"
    return client


_COUNTS: dict[int, object] = {}


def row_counts(db) -> tuple[int, ...]:
    """The row count of every table, in one statement (built once: it runs thousands of times)."""
    import sqlalchemy as sa

    tables = db.metadata.sorted_tables
    key = hash(tuple(t.name for t in tables))
    if key not in _COUNTS:
        _COUNTS[key] = sa.union_all(
            *[sa.select(sa.literal(i).label("i"), sa.func.count().label("n")).select_from(t)
              for i, t in enumerate(tables)])
    rows = db.session.execute(_COUNTS[key]).all()
    # UNION ALL does not promise an order: put each count back in its table's place.
    return tuple(n for _, n in sorted(rows))


def send(client, url: str, method: str, request: Request):
    if isinstance(request.data, dict):
        return client.open(url, method=method, data=request.data)
    return client.open(url, method=method, data=request.data, content_type=request.content_type)


def off_site(location: str) -> bool:
    """A Location that leaves the site (the test client's host is localhost)."""
    from urllib.parse import urlsplit

    # Browsers read a backslash as a slash, and drop tabs and newlines from URLs.
    cleaned = "".join(c for c in location if c not in "\t\r\n").strip().replace("\\", "/")
    parts = urlsplit(cleaned)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return True
    return bool(parts.netloc) and parts.hostname not in ("localhost", "127.0.0.1")


# ---------------------------------------------------------------- audit rows stay as written

_AUDIT_WRITE_RE = re.compile(
    r"^\s*(?:UPDATE|DELETE\s+FROM|REPLACE\s+INTO|INSERT\s+OR\s+REPLACE\s+INTO|TRUNCATE)"
    r"\s+(?:TABLE\s+)?[\"`]?audit_log\b", re.IGNORECASE)


@contextmanager
def audit_log_changes(engine) -> Iterator[list[str]]:
    """Collects every statement a request sends that would change or remove audit rows."""
    from flask import has_request_context
    from sqlalchemy import event

    found: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if has_request_context() and _AUDIT_WRITE_RE.search(statement):
            found.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", listener)


@pytest.fixture
def no_audit_changes(db):
    """For a test that walks routes: none of its requests may change or delete an audit row."""
    with audit_log_changes(db.engine) as found:
        yield found
    assert not found, f"requests changed audit rows: {found[:5]}"
