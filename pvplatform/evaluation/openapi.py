"""The OpenAPI 3.1 document of the JSON API v1, written by hand so that it says exactly what the
routes of `api.py` answer (tests check both ways, and schemathesis checks every response).

Enumerations come from the models' own enums, so that a new state or format cannot drift away
from the document.
"""

from __future__ import annotations

from typing import Any

from pvplatform.evaluation.api_params import PAGE_MAX, PER_PAGE_DEFAULT, PER_PAGE_MAX
from pvplatform.indicators.rows import Severity
from pvplatform.participation.models import ParticipantKind
from pvplatform.processes.models import PhaseKind
from pvplatform.proposals.models import ProposalState
from pvplatform.sessions.models import MeetingFormat

VERSION = "1.0.0"
ID_MAX = 2**31 - 1


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema or null (JSON Schema 2020-12, as OpenAPI 3.1 has it)."""
    kind = schema["type"]
    out = {**schema, "type": [kind, "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": list(properties),
                              "properties": properties, "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
INSTANT = {"type": "string", "format": "date-time"}
DAY = {"type": "string", "format": "date"}
KEY = {"type": "string", "description": "Empty when the row has no such key."}


def _page(item: str, *, with_figures: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "items": {"type": "array", "items": _ref(item)},
        "page": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
        "per_page": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX},
        "total": {"type": "integer", "minimum": 0},
        "next": {"type": ["string", "null"],
                 "description": "The address of the next page, null on the last one."},
        "previous": {"type": ["string", "null"],
                     "description": "The address of the previous page, null on the first."},
    }
    if with_figures:
        properties["as_of"] = {**INSTANT, "description": "The instant the figures describe."}
        properties["k"] = {"type": "integer", "minimum": 3, "description":
                           "Figures resting on 1 to k-1 people are suppressed."}
    return _object(properties)


SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "examples": ["not_found"]},
            "message": STRING,
            "error_id": {"type": "string", "description": "Quote it when reporting a 500."},
        },
        "additionalProperties": False,
    }}),
    "Process": _object({
        "id": INTEGER,
        "title": STRING,
        "description": STRING,
        "municipality": STRING,
        "population": _nullable(INTEGER),
        "starts_on": _nullable(DAY),
        "ends_on": _nullable(DAY),
        "current_phase": _nullable({"type": "string", "enum": [k.value for k in PhaseKind]}),
        "goals": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 17},
                  "description": "The Sustainable Development Goals the process targets."},
        "created_at": INSTANT,
    }),
    "Phase": _object({
        "id": INTEGER,
        "kind": {"type": "string", "enum": [k.value for k in PhaseKind]},
        "starts_on": DAY,
        "ends_on": DAY,
        "proposals_open": BOOLEAN,
        "comments_open": BOOLEAN,
        "votes_open": BOOLEAN,
        "current": {"type": "boolean", "description": "Today (in the town) is in this phase."},
    }),
    "Figure": _object({
        "value": {"type": ["integer", "null"], "minimum": 0},
        "suppressed": {"type": "boolean", "description":
                       "True when the figure rests on 1 to k-1 people (or would give such a "
                       "figure back): value is then null."},
    }, "A count of people. Null and not suppressed: not measured (a session not held yet)."),
    "Session": _object({
        "id": INTEGER,
        "ref": {"type": "string", "description":
                "The session's identifier in indicator and flag rows (its package id when "
                "the process was imported)."},
        "title": STRING,
        "format": {"type": "string", "enum": [f.value for f in MeetingFormat]},
        "starts_at": INSTANT,
        "ends_at": _nullable(INSTANT),
        "capacity": _nullable({"type": "integer", "minimum": 1}),
        "held": BOOLEAN,
        "participation": _object({"invited": _ref("Figure"), "registered": _ref("Figure"),
                                  "attended": _ref("Figure")}),
    }),
    "Answer": _object({
        "state": {"type": "string", "enum": [s.value for s in ProposalState]},
        "rationale": STRING,
        "answered_at": INSTANT,
    }, "The latest official answer."),
    "ImplementationUpdate": _object({
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "body": STRING,
        "created_at": INSTANT,
    }),
    "Proposal": _object({
        "id": INTEGER,
        "title": STRING,
        "body": STRING,
        "state": {"type": "string", "enum": [s.value for s in ProposalState
                                             if s != ProposalState.DRAFT]},
        "published_at": INSTANT,
        "author_kind": {"type": "string", "enum": [k.value for k in ParticipantKind],
                        "description": "Who wrote it, as a kind of author; never who."},
        "goals": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 17}},
        "votes": _object({"for": {"type": "integer", "minimum": 0},
                          "against": {"type": "integer", "minimum": 0},
                          "support": INTEGER}),
        "first_answered_at": {**_nullable(INSTANT), "description":
                              "When it was first answered (what responsiveness counts)."},
        "answer": {"anyOf": [_ref("Answer"), {"type": "null"}]},
        "implementation_updates": {"type": "array", "items": _ref("ImplementationUpdate")},
    }),
    "Indicator": _object({
        "code": {"type": "string", "description": "A code of INDICATORS.md."},
        "family": STRING,
        "dimension": KEY,
        "category": KEY,
        "group": KEY,
        "public_value": KEY,
        "session_id": {"type": "string", "description": "The session's `ref`; empty if none."},
        "value": {"type": ["number", "null"]},
        "n": {"type": ["integer", "null"], "minimum": 0},
        "suppressed": BOOLEAN,
    }, "One indicator row; value and n are null when suppressed."),
    "Flag": _object({
        "code": STRING,
        "title": STRING,
        "severity": {"type": "string", "enum": [s.value for s in Severity]},
        "dimension": KEY,
        "category": KEY,
        "group": KEY,
        "public_value": KEY,
        "session_id": KEY,
        "association_id": KEY,
        "value": {"type": ["number", "null"]},
        "p_value": {"type": ["number", "null"]},
        "message": {"type": "string", "description":
                    "What is wrong and what to do; counts of 1 to k-1 people are not stated."},
        "suppressed": {"type": "boolean", "description":
                       "The flag rests on a suppressed row: its value, p-value and details "
                       "are not shown."},
    }),
    "ProcessPage": _page("Process"),
    "PhasePage": _page("Phase"),
    "SessionPage": _page("Session", with_figures=True),
    "ProposalPage": _page("Proposal"),
    "IndicatorPage": _page("Indicator", with_figures=True),
    "FlagPage": _page("Flag", with_figures=True),
}

PARAMETERS: dict[str, Any] = {
    "ProcessId": {"name": "process_id", "in": "path", "required": True,
                  "schema": {"type": "integer", "minimum": 1, "maximum": ID_MAX}},
    "Page": {"name": "page", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 1}},
    "PerPage": {"name": "per_page", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX,
                           "default": PER_PAGE_DEFAULT}},
    "AsOf": {"name": "as_of", "in": "query", "required": False,
             "description": "The instant the figures describe (RFC 3339, with its offset); "
                            "now when absent.",
             "schema": {"type": "string", "format": "date-time", "maxLength": 40}},
}


def _error(description: str, header: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if header is not None:
        response["headers"] = {header: {"required": True, "schema": STRING}}
    return response


RESPONSES: dict[str, Any] = {
    "BadRequest": _error("A query parameter is malformed or out of range."),
    "Unauthorized": _error("No token, or an unknown, revoked or expired one.",
                           "WWW-Authenticate"),
    "Forbidden": _error("The token's owner may not read this (a role without API access, "
                        "or an evaluator without a read grant in force on the process)."),
    "NotFound": _error("No such process."),
    "TooManyRequests": _error("Too many requests: wait for Retry-After seconds.",
                              "Retry-After"),
}


def _operation(operation_id: str, summary: str, schema: str, *,
               parameters: tuple[str, ...] = (), process: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK",
                "content": {"application/json": {"schema": _ref(schema)}}},
    }
    if parameters:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    responses["403"] = {"$ref": "#/components/responses/Forbidden"}
    if process:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    responses["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    names = (("ProcessId",) if process else ()) + parameters
    return {"get": {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [{"$ref": f"#/components/parameters/{name}"} for name in names],
        "responses": responses,
    }}


PAGED = ("Page", "PerPage")


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pvplatform: read-only API",
            "version": VERSION,
            "description": (
                "Processes, phases, sessions with their aggregate participation, published "
                "proposals with their answers, and the indicators and risk flags of "
                "INDICATORS.md. Authenticate with a personal token (profile, API tokens): "
                "`Authorization: Bearer <token>`. Staff and administrators read every process, "
                "evaluators the processes granted to them. Figures resting on 1 to k-1 people "
                "are null with `suppressed: true` (k = 10 for evaluators, 5 for staff). Lists "
                "are paginated (`page`, `per_page`); errors are "
                "`{\"error\": {\"status\", \"code\", \"message\"}}`."),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document (no token needed)",
                "security": [],
                "responses": {
                    "200": {"description": "The OpenAPI 3.1 document",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    "429": {"$ref": "#/components/responses/TooManyRequests"},
                },
            }},
            "/processes": _operation("listProcesses", "The processes the token may read",
                                     "ProcessPage", parameters=PAGED, process=False),
            "/processes/{process_id}": _operation("getProcess", "One process", "Process"),
            "/processes/{process_id}/phases": _operation(
                "listPhases", "The phases of a process", "PhasePage", parameters=PAGED),
            "/processes/{process_id}/sessions": _operation(
                "listSessions", "The sessions of a process, with aggregate participation now",
                "SessionPage", parameters=PAGED),
            "/processes/{process_id}/proposals": _operation(
                "listProposals", "The published proposals, their answers and implementation",
                "ProposalPage", parameters=PAGED),
            "/processes/{process_id}/indicators": _operation(
                "listIndicators", "The indicator rows as of an instant, suppressed at k",
                "IndicatorPage", parameters=("AsOf", *PAGED)),
            "/processes/{process_id}/flags": _operation(
                "listFlags", "The risk flags as of an instant, suppressed at k", "FlagPage",
                parameters=("AsOf", *PAGED)),
        },
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A personal API token, created in the profile."}},
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": RESPONSES,
        },
    }
