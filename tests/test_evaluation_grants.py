"""The admin's pages on evaluators: granting and revoking access (read, and microdata under a
data-sharing agreement) through the form, the audit rows, the refusals, the export audit, and
that nobody else may open them."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.evaluation.models import (
    EvaluatorGrant,
    ExportChannel,
    ExportFormat,
    ExportRecord,
    GrantScope,
)
from pvplatform.moderation.models import AuditLog


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def admin(factory):
    return factory.user("admin", name="Ada Admin")


@pytest.fixture
def evaluator(factory):
    return factory.user("evaluator", name="Eva Luator", email="eva@university.example")


@pytest.fixture
def process(factory):
    return factory.process(title="Agenda 2030")


def in_a_month() -> date:
    return (utcnow() + timedelta(days=30)).astimezone(ZoneInfo("Europe/Paris")).date()


def test_the_form_offers_evaluators_by_name_and_email(client, login_as, admin, evaluator,
                                                      process, factory):
    factory.user("citizen", name="Not An Evaluator")
    login_as(admin)
    response = client.get("/admin/evaluators")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Eva Luator (eva@university.example)" in page
    assert "Not An Evaluator" not in page
    assert "Read access to the figures" in page
    assert "Pseudonymised microdata (data-sharing agreement)" in page
    assert 'href="/admin/evaluators"' in page and 'href="/admin/exports"' in page  # the menu


def test_without_an_evaluator_account_the_page_says_how_to_make_one(client, login_as, admin,
                                                                    process):
    login_as(admin)
    page = client.get("/admin/evaluators").get_data(as_text=True)
    assert 'id="no-evaluator"' in page and 'href="/admin/users"' in page
    assert 'id="grant-form"' not in page


def test_admin_grants_read_access_then_revokes_it(client, login_as, db, admin, evaluator,
                                                  process):
    login_as(admin)
    response = client.post("/admin/evaluators/grants", data={
        "user_id": evaluator.id, "process_id": process.id, "scope": "read", "expires_on": "",
        "purpose": ""})
    assert response.status_code == 302
    row = db.session.scalars(sa.select(EvaluatorGrant)).one()
    assert (row.user_id, row.process_id, row.scope) == (evaluator.id, process.id,
                                                        GrantScope.READ)
    assert row.expires_at is None and row.granted_by_id == admin.id
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "evaluation.grant")
                               ).one()
    assert audit.actor_id == admin.id and audit.target_id == row.id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Access granted to Eva Luator" in text_of(page)
    assert f'data-grant="{row.id}" data-status="in-force"' in page

    # The evaluator now reads the process.
    login_as(evaluator)
    assert client.get(f"/evaluate/processes/{process.id}").status_code == 200

    login_as(admin)
    response = client.post(f"/admin/evaluators/grants/{row.id}/revoke")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(EvaluatorGrant, row.id).revoked_at is not None
    assert count(db, EvaluatorGrant) == 1  # revoking keeps the row
    revoked = db.session.scalars(sa.select(AuditLog)
                                 .where(AuditLog.action == "evaluation.revoke")).one()
    assert revoked.target_id == row.id and revoked.actor_id == admin.id
    page = client.get("/admin/evaluators").get_data(as_text=True)
    assert f'data-grant="{row.id}" data-status="revoked"' in page
    assert f"/admin/evaluators/grants/{row.id}/revoke" not in page  # nothing left to revoke
    # A second revocation is refused, and writes nothing.
    assert client.post(f"/admin/evaluators/grants/{row.id}/revoke").status_code == 409
    assert count(db, AuditLog) == 2

    login_as(evaluator)
    assert client.get(f"/evaluate/processes/{process.id}").status_code == 403


def test_a_microdata_agreement_ends_at_the_end_of_its_last_day(client, login_as, db, admin,
                                                                evaluator, process):
    login_as(admin)
    last = in_a_month()
    response = client.post("/admin/evaluators/grants", data={
        "user_id": evaluator.id, "process_id": process.id, "scope": "microdata",
        "expires_on": last.isoformat(), "purpose": "  Thesis on turnout  "})
    assert response.status_code == 302
    row = db.session.scalars(sa.select(EvaluatorGrant)).one()
    assert row.scope == GrantScope.MICRODATA and row.purpose == "Thesis on turnout"
    paris = ZoneInfo("Europe/Paris")
    assert row.expires_at == datetime.combine(last + timedelta(days=1), datetime.min.time(),
                                              tzinfo=paris).astimezone(UTC)
    page = client.get("/admin/evaluators").get_data(as_text=True)
    assert "Thesis on turnout" in page


@pytest.mark.parametrize("fields, message", [
    ({"expires_on": "", "purpose": "Thesis"}, "needs an end date"),
    ({"purpose": ""}, "needs its purpose"),
    ({"expires_on": "", "purpose": ""}, "needs an end date"),
])
def test_a_microdata_agreement_needs_an_end_and_a_purpose(client, login_as, db, admin, evaluator,
                                                          process, fields, message):
    login_as(admin)
    data = {"user_id": evaluator.id, "process_id": process.id, "scope": "microdata",
            "expires_on": in_a_month().isoformat(), "purpose": "Thesis", **fields}
    response = client.post("/admin/evaluators/grants", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'class="error"' in page
    assert count(db, EvaluatorGrant) == 0 and count(db, AuditLog) == 0


@pytest.mark.parametrize("fields, message", [
    ({"user_id": "999999"}, "Not a valid choice"),
    ({"user_id": "abc"}, ""),
    ({"process_id": "999999"}, "Not a valid choice"),
    ({"scope": "everything"}, "Not a valid choice"),
    ({"expires_on": "tomorrow"}, "Not a valid date"),
    ({"expires_on": "9999-12-31"}, "between the years"),
    ({"expires_on": "2020-01-01"}, "must be in the future"),
    ({"purpose": "x" * 1001}, ""),
])
def test_bad_input_is_refused_and_nothing_stored(client, login_as, db, admin, evaluator, process,
                                                 fields, message):
    login_as(admin)
    data = {"user_id": evaluator.id, "process_id": process.id, "scope": "read",
            "expires_on": "", "purpose": "", **fields}
    response = client.post("/admin/evaluators/grants", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(db, EvaluatorGrant) == 0 and count(db, AuditLog) == 0


def test_the_list_filters_by_process_and_tells_status(client, login_as, db, admin, evaluator,
                                                      process, factory):
    other = factory.process(title="Budget participatif")
    now = utcnow()
    rows = [
        EvaluatorGrant(user_id=evaluator.id, process_id=process.id, scope=GrantScope.READ,
                       granted_at=now - timedelta(days=90), granted_by_id=admin.id,
                       expires_at=now - timedelta(days=1)),
        EvaluatorGrant(user_id=evaluator.id, process_id=other.id, scope=GrantScope.MICRODATA,
                       granted_at=now - timedelta(days=2), granted_by_id=admin.id,
                       expires_at=now + timedelta(days=9), purpose="Audit of the budget"),
    ]
    db.session.add_all(rows)
    db.session.commit()
    login_as(admin)
    page = client.get("/admin/evaluators").get_data(as_text=True)
    assert f'data-grant="{rows[0].id}" data-status="expired"' in page
    assert f'data-grant="{rows[1].id}" data-status="in-force"' in page
    assert "Expired" in page and "In force" in page and "by Ada Admin" in page
    page = client.get(f"/admin/evaluators?process_filter={other.id}").get_data(as_text=True)
    assert f'data-grant="{rows[1].id}"' in page and f'data-grant="{rows[0].id}"' not in page
    assert client.get("/admin/evaluators?process_filter=abc").status_code == 400


def test_the_export_audit_lists_exports_newest_first(client, login_as, db, admin, evaluator,
                                                     process):
    now = utcnow()
    db.session.add_all([
        ExportRecord(created_at=now - timedelta(hours=2), user_id=evaluator.id,
                     actor_label="Eva Luator", process_id=process.id, process_title="Agenda 2030",
                     format=ExportFormat.XLSX, channel=ExportChannel.WEB, k=10,
                     as_of=datetime(2026, 3, 1, tzinfo=UTC)),
        ExportRecord(created_at=now - timedelta(hours=1), user_id=None,
                     actor_label="command line",
                     process_id=process.id, process_title="Agenda 2030",
                     format=ExportFormat.MICRODATA, channel=ExportChannel.CLI, k=None,
                     microdata=True, as_of=now),
    ])
    db.session.commit()
    login_as(admin)
    response = client.get("/admin/exports")
    assert response.status_code == 200
    text = text_of(response.get_data(as_text=True))
    assert text.index("Pseudonymised microdata package") < text.index("Spreadsheet (XLSX)")
    assert "Command line" in text and "Web download" in text and "Eva Luator" in text
    assert "The server's command line" in text
    assert "not aggregated" in text and "Mar 1, 2026" in text
    assert client.get("/admin/exports?page=999").status_code == 200


def test_the_export_audit_is_paginated(client, login_as, db, admin, process):
    now = utcnow()
    db.session.add_all(
        ExportRecord(created_at=now - timedelta(minutes=i), actor_label=f"Person {i}",
                     process_id=process.id, process_title="Agenda 2030",
                     format=ExportFormat.CSV, channel=ExportChannel.API, k=10, as_of=now)
        for i in range(60))
    db.session.commit()
    login_as(admin)
    first = text_of(client.get("/admin/exports").get_data(as_text=True))
    assert "Person 0 " in first and "Person 59" not in first and "60 exports" in first
    page = client.get("/admin/exports?page=2").get_data(as_text=True)
    assert "Person 59" in text_of(page) and 'rel="prev"' in page and 'rel="next"' not in page


def test_the_export_audit_is_empty_at_first(client, login_as, admin):
    login_as(admin)
    page = client.get("/admin/exports").get_data(as_text=True)
    assert "Nothing exported yet" in page


@pytest.mark.parametrize("role", ["citizen", "association", "staff", "elected", "evaluator"])
def test_only_admins_open_these_pages(client, login_as, db, factory, evaluator, process, role):
    grant = EvaluatorGrant(user_id=evaluator.id, process_id=process.id, scope=GrantScope.READ)
    db.session.add(grant)
    db.session.commit()
    login_as(evaluator if role == "evaluator" else factory.user(role))
    assert client.get("/admin/evaluators").status_code == 403
    assert client.get("/admin/exports").status_code == 403
    assert client.post("/admin/evaluators/grants", data={
        "user_id": evaluator.id, "process_id": process.id, "scope": "microdata",
        "expires_on": in_a_month().isoformat(), "purpose": "x"}).status_code == 403
    assert client.post(f"/admin/evaluators/grants/{grant.id}/revoke").status_code == 403
    db.session.expire_all()
    assert count(db, EvaluatorGrant) == 1 and db.session.get(EvaluatorGrant,
                                                             grant.id).revoked_at is None


def test_anonymous_people_are_sent_to_log_in(client, process):
    for path in ("/admin/evaluators", "/admin/exports"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    response = client.post("/admin/evaluators/grants", data={})
    assert response.status_code in (302, 400)  # to log in, or refused for lack of CSRF


def test_unknown_grant_is_not_found(client, login_as, admin):
    login_as(admin)
    assert client.post("/admin/evaluators/grants/4242/revoke").status_code == 404
