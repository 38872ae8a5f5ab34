"""Acceptance 5: schemathesis, run against /api/v1/openapi.json, finds no 5xx and no response
that breaks the document (status codes, content types, bodies, headers), with a staff token and
with an evaluator's token holding a read grant, on the tiny example process.

Every generated request (mostly unknown process ids: 404) is sent with both tokens, and again on
the real process and on one the evaluator may not read (403), so that the bodies full of figures
are checked too. CI replays a fixed sequence (the Hypothesis profile of tests/conftest.py).

The world lives in an app of its own for the whole module: importing the example once, not once
per operation.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.evaluation import grants
from pvplatform.evaluation.models import GrantScope
from pvplatform.evaluation.openapi import document
from pvplatform.evaluation.tokens import create_token
from pvplatform.extensions import db as _db
from pvplatform.participation.importer import import_package
from tests.conftest import Factory, make_app, seed_reference_data
from tests.examples import TINY

# The app of this module: the document is read from it, and every request goes to it (WSGI).
# Its world lives for the whole module while xdist runs other modules' tests in between: on its
# own SQLite file, never in the worker's PostgreSQL database that those tests empty and refill
# (the API's behaviour on PostgreSQL is tested by tests/test_api_v1.py).
_FOLDER = Path(tempfile.mkdtemp(prefix="pv-schemathesis-"))
APP = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{_FOLDER / 'api.sqlite'}")
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@pytest.fixture(scope="module")
def api_world() -> Iterator[dict[str, Any]]:
    app = APP
    with app.app_context():
        _db.create_all()
        seed_reference_data()
        f = Factory()
        process = import_package(TINY, now=utcnow())
        other = f.process(title="Un processus sans accès")
        admin, staff, evaluator = f.user(Role.ADMIN), f.user(Role.STAFF), f.user(Role.EVALUATOR)
        grants.grant(actor=admin, evaluator=evaluator, process=process, scope=GrantScope.READ,
                     expires_at=None, purpose="", now=utcnow())
        tokens = {user.role.value: create_token(user, "schemathesis", expires_at=None,
                                                now=utcnow())[1]
                  for user in (staff, evaluator)}
        _db.session.commit()
        yield {"process_ids": (process.id, other.id),
               "tokens": list(tokens.values())}
        _db.session.remove()
        _db.engine.dispose()
    shutil.rmtree(_FOLDER, ignore_errors=True)


def test_the_app_serves_the_document_tested():
    served = APP.test_client().get("/api/v1/openapi.json").get_json()
    assert served == json.loads(json.dumps(document()))
    # Every operation is run, but the document itself (schemathesis leaves out its source).
    assert {op.ok().label for op in schema.get_all_operations()} == {
        f"GET {path}" for path in document()["paths"] if path != "/openapi.json"}


def _negated(case, location: ParameterLocation) -> bool:
    info = case.meta.components.get(location) if case.meta is not None else None
    return info is not None and info.mode.is_negative


def _send(case, token: str) -> None:
    """The case as generated, with a real token in place of the generated one, unless the
    headers are the invalid part of the case (the negative tests of authentication)."""
    if "Authorization" in (case.headers or {}) and not _negated(case, ParameterLocation.HEADER):
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    else:
        case.call_and_validate()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_document(case, api_world):
    for token in api_world["tokens"]:
        _send(case, token)
    path = case.path_parameters or {}
    if "process_id" in path and not _negated(case, ParameterLocation.PATH):
        # Drawn ids rarely exist: the process with figures, and one the evaluator may not read.
        for process_id in api_world["process_ids"]:
            case.path_parameters = {**path, "process_id": process_id}
            for token in api_world["tokens"]:
                _send(case, token)
