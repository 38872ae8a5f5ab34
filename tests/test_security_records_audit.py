"""SECURITY.md, Votes and records: "Every moderation action, answer, role change, threshold
change, export and demographics read writes one append-only audit row (actor, action, target,
time) in the same transaction; no route updates or deletes audit rows." And, from Faults: "An
exception inside a transaction (e.g. the audit insert fails) leaves neither the change nor its
audit row."

"No route updates or deletes audit rows" is also checked on every request of the fuzz walk
(every state-changing route, tests/test_security_requests_fuzz.py) and of the XSS walk (every
page): the `no_audit_changes` fixture captures the SQL they send.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from pvplatform.moderation import audit as audit_module
from pvplatform.moderation.models import AuditLog, AuditLogIsAppendOnly
from tests.conftest import PASSWORD
from tests.fuzz_corpus import audit_log_changes, logged_in_client
from tests.route_params import build_world


def _audit_rows(db) -> list[AuditLog]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)))


class _FormReader(HTMLParser):
    """The fields of the forms of a page, as a browser would submit them unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append((a.get("action") or "", {}))
        elif not self.forms:
            return
        fields = self.forms[-1][1]
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            fields[a["name"]] = a.get("value") or ""
        elif tag == "textarea" and a.get("name"):
            fields[a["name"]] = ""
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select \
                and (self._select not in fields or "selected" in a):
            fields[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def _form_on(client, url: str, action_suffix: str) -> dict[str, str] | None:
    reader = _FormReader()
    reader.feed(client.get(url).get_data(as_text=True))
    for action, fields in reader.forms:
        if action.endswith(action_suffix):
            return fields
    return None


# ---------------------------------------------------------------- the audited actions

@dataclass
class Audited:
    name: str
    action_prefix: str
    run: Callable  # (app, world) -> response
    changed: Callable  # (db, world) -> bool: is the change stored?
    endpoint: str


def _hide(app, world):
    client = logged_in_client(app, world, "staff")
    return client.post(f"/moderation/comment/{world['comment_id']}/hide",
                       data={"reason": "Insulting"})


def _hidden(db, world):
    from pvplatform.proposals.models import Comment

    return db.session.get(Comment, world["comment_id"]).hidden_at is not None


def _answer(app, world):
    client = logged_in_client(app, world, "elected")
    return client.post(f"/proposals/{world['proposal_id']}/answer",
                       data={"state": "accepted", "rationale": "Budget found for 2027."})


def _answered(db, world):
    from pvplatform.proposals.models import Answer

    return db.session.scalar(sa.select(sa.func.count()).select_from(Answer)
                             .where(Answer.proposal_id == world["proposal_id"])) > 0


def _change_role(app, world):
    client = logged_in_client(app, world, "admin")
    return client.post(f"/admin/users/{world['citizen_id']}/role",
                       data={"role": "staff", "reason": "Joins the town hall team."})


def _role_changed(db, world):
    from pvplatform.auth.models import Role, User

    return db.session.get(User, world["citizen_id"]).role == Role.STAFF


def _thresholds(app, world):
    client = logged_in_client(app, world, "staff")
    page = f"/manage/processes/{world['process_id']}/thresholds"
    fields = _form_on(client, page, "/thresholds")
    assert fields is not None, "no threshold form on the thresholds page"
    numeric = [k for k, v in fields.items() if k != "csrf_token" and v.replace(".", "").isdigit()]
    assert numeric, fields
    key = numeric[0]
    fields[key] = str(int(float(fields[key])) + 1) if "." not in fields[key] else \
        str(round(float(fields[key]) / 2, 3))
    world["_threshold_field"] = (key, fields[key])
    return client.post(page, data=fields)


def _thresholds_changed(db, world):
    from pvplatform.indicators.models import ProcessThreshold

    return db.session.scalar(sa.select(sa.func.count()).select_from(ProcessThreshold)) > 0


def _export(app, world):
    client = logged_in_client(app, world, "citizen")
    return client.post("/me/data", data={"password": PASSWORD})


def _exported(db, world):  # noqa: ARG001 - an export stores nothing but its audit row
    return True


def _read_demographics(app, world):
    client = logged_in_client(app, world, "citizen")
    return client.get("/me/demographics")


AUDITED = [
    Audited("moderation action", "moderation.", _hide, _hidden, "moderation.hide"),
    Audited("answer", "proposal.answer", _answer, _answered, "proposals.answer"),
    Audited("role change", "user.role", _change_role, _role_changed, "auth_admin.change_role"),
    Audited("threshold change", "threshold", _thresholds, _thresholds_changed,
            "indicators.save_thresholds"),
    Audited("export", "privacy.export", _export, _exported, "privacy.my_data"),
    Audited("demographics read", "demographics.read", _read_demographics, _exported,
            "participation.my_demographics"),
]


def _require(app, audited: Audited) -> None:
    if audited.endpoint not in app.view_functions:
        pytest.fail(f"{audited.endpoint} does not exist")


@pytest.mark.parametrize("audited", AUDITED, ids=lambda a: a.name)
def test_action_writes_one_audit_row(app, db, audited):
    _require(app, audited)
    world = build_world()
    before = _audit_rows(db)
    with audit_log_changes(db.engine) as changes:
        response = audited.run(app, world)
    assert response.status_code in (200, 302, 303), response.status_code
    assert audited.changed(db, world)
    new = _audit_rows(db)[len(before):]
    mine = [row for row in new if row.action.startswith(audited.action_prefix)]
    assert len(mine) == 1, [r.action for r in new]
    row = mine[0]
    assert row.actor_id is not None and row.target_type and row.created_at is not None
    assert not changes


@pytest.mark.parametrize("failure", ["insert fails", "raises"])
@pytest.mark.parametrize("audited", [a for a in AUDITED if a.name != "demographics read"
                                     and a.name != "export"], ids=lambda a: a.name)
def test_failed_audit_leaves_neither_change_nor_row(app, db, monkeypatch, audited, failure):
    _require(app, audited)
    world = build_world()
    before = len(_audit_rows(db))
    original = audit_module.record_audit

    def failing(*args, **kwargs):
        if failure == "raises":
            raise RuntimeError("the audit log is unavailable")
        row = original(*args, **kwargs)
        row.action = None  # NOT NULL: the INSERT itself fails, at flush or commit
        return row

    # Services import record_audit by name: replace it wherever it was imported.
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("pvplatform") \
                and getattr(module, "record_audit", None) is original:
            monkeypatch.setattr(module, "record_audit", failing)
    response = audited.run(app, world)
    assert response.status_code >= 400, "the failure must not look like a success"
    assert response.status_code != 500 or "Traceback" not in response.get_data(as_text=True)
    db.session.rollback()
    assert not audited.changed(db, world), "the change was stored without its audit row"
    assert len(_audit_rows(db)) == before


def test_orm_refuses_to_update_or_delete_audit_rows(db, factory):
    from pvplatform.moderation.audit import record_audit

    admin = factory.user("admin")
    row = record_audit(admin, "test.action", "user", admin.id)
    db.session.commit()
    row.action = "test.rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditLog, row.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditLog, row.id).action == "test.action"


def test_capture_of_audit_statements_can_fail(app, db, factory):
    """The SQL capture used by the walks sees an UPDATE of audit_log sent during a request."""
    from pvplatform.extensions import db as _db

    with audit_log_changes(db.engine) as changes, app.test_request_context("/"):
        _db.session.execute(sa.text("UPDATE audit_log SET action = action WHERE id = 0"))
        _db.session.rollback()
    assert changes


def test_account_deletion_keeps_the_audit_rows(app, db):
    """The one route most tempted to touch audit rows: deleting the account of an actor."""
    assert "privacy.delete_account" in app.view_functions
    from pvplatform.auth.models import User
    from pvplatform.moderation.audit import record_audit

    world = build_world()
    citizen = db.session.get(User, world["citizen_id"])
    record_audit(citizen, "test.before_deletion", "user", citizen.id)
    db.session.commit()
    before = [(r.id, r.actor_id, r.action, r.target_id) for r in _audit_rows(db)]
    client = logged_in_client(app, world, "citizen")
    fields = _form_on(client, "/me/delete", "/me/delete") or {}
    fields.update({"password": PASSWORD, "understood": "y"})
    with audit_log_changes(db.engine) as changes:
        response = client.post("/me/delete", data=fields)
    assert response.status_code in (200, 302, 303)
    assert db.session.get(User, world["citizen_id"]).deleted_at is not None or \
        db.session.get(User, world["citizen_id"]).email is None
    after = [(r.id, r.actor_id, r.action, r.target_id) for r in _audit_rows(db)]
    assert after[:len(before)] == before
    assert not changes
