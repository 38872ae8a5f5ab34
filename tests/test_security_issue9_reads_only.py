"""SECURITY.md, Requests: "GET never changes data", measured at the database: no page a person
opens (every GET route of the application, as each role) sends an INSERT, UPDATE or DELETE.

A page that wrote would queue behind any writer's lock (SQLite) and answer 503 while the
database is busy, where a page that only reads goes on reading (WAL).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from pvplatform.indicators.temporary import TEMPORARY_PREFIX
from tests.conftest import PASSWORD, STAFF_PASSWORD, FreshGlobalsClient
from tests.route_params import build_world, url_for_rule
from tests.test_access_policy import ARGUMENT_OVERRIDES, _endpoints

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# Reading someone's demographics is itself recorded (SECURITY.md, Votes and records: every
# demographics read writes one audit row), and so is every download that leaves the platform
# (the export audit, INDICATORS.md privacy): these pages write that row and nothing else.
AUDITED_READS = {
    "participation.my_demographics": "INSERT INTO audit_log",
    "evaluation.export": "INSERT INTO export_records",
    "evaluation.package": "INSERT INTO export_records",
    "evaluation.microdata": "INSERT INTO export_records",
}


# A write after a WITH clause ("WITH held AS (...) INSERT INTO ..." is how an INSERT ... SELECT
# with common table expressions may be sent).
WRITE_AFTER_WITH = re.compile(
    r"\)\s*(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|REPLACE\s+INTO)\b")
# The engine's temporary tables hold a set for one reading and vanish with its transaction.
INTO_TEMPORARY = re.compile(rf"\bINSERT\s+INTO\s+{TEMPORARY_PREFIX}", re.IGNORECASE)


def writes(statement: str) -> bool:
    upper = statement.lstrip().upper()
    if not (upper.startswith(WRITES)
            or (upper.startswith("WITH") and WRITE_AFTER_WITH.search(upper))):
        return False
    return not INTO_TEMPORARY.search(statement)


def test_write_detection():
    assert writes("INSERT INTO votes (a) VALUES (?)")
    assert writes("WITH held AS (SELECT 1) INSERT INTO votes (a) SELECT * FROM held")
    assert writes("update users set locale = ?")
    assert not writes("WITH held AS (SELECT 1) SELECT * FROM held")
    assert not writes("SELECT 'INSERT INTO x' FROM t")
    kept = TEMPORARY_PREFIX + "active"
    assert not writes("INSERT INTO " + kept + " (pid) SELECT 1")
    # Texts to classify, never sent to a database.
    with_cte = "WITH a AS (SELECT 1) INSERT INTO " + kept + " (pid) SELECT * FROM a"  # noqa: S608
    assert not writes(with_cte)


@pytest.mark.parametrize("role", ("anonymous", "citizen", "staff", "evaluator", "admin"))
def test_no_page_writes(app, db, role):
    world = build_world()
    client = FreshGlobalsClient(app, app.response_class, use_cookies=True)
    if role != "anonymous":
        password = PASSWORD if role == "citizen" else STAFF_PASSWORD
        response = client.post("/auth/login", data={"email": world["emails"][role],
                                                     "password": password})
        assert response.status_code == 302
    written: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if writes(statement):
            written.append(statement.split("\n")[0][:80])

    gets = [rule for rule, method in _endpoints(app)
            if method == "GET" and rule.endpoint != "static"]
    assert len(gets) > 50
    problems = []
    sa.event.listen(db.engine, "before_cursor_execute", watch)
    try:
        for rule in gets:
            url = url_for_rule(app, rule, world, ARGUMENT_OVERRIDES.get(rule.endpoint))
            written.clear()
            status = client.get(url).status_code
            if rule.endpoint in AUDITED_READS:
                audit = AUDITED_READS[rule.endpoint]
                written[:] = [w for w in written if not w.startswith(audit)]
            if written:
                problems.append(f"{role} GET {rule.endpoint} ({status}) wrote: {written[:3]}")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", watch)
    assert not problems, "\n".join(problems)
