"""SECURITY.md, Requests: "Bad input on every form and JSON endpoint (...): a 4xx with a readable
message, no 5xx, every table's row count unchanged."

Every state-changing rule of `app.url_map` receives every case of tests/fuzz_corpus.py, sent by a
role the policy table allows (so the request reaches the form, not a 403). A route that changes
rows even for an empty body (a one-button action such as "register for this session") takes no
input to refuse: for it, and for the cases that may be valid by chance, only "no 5xx" holds.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from tests.conftest import wipe_database
from tests.fuzz_corpus import (
    CASES,
    form_fields,
    logged_in_client,
    no_audit_changes,  # noqa: F401 - a fixture
    off_site,
    role_for,
    row_counts,
    send,
    state_changing_rules,
)
from tests.route_params import build_world, url_for_rule

# Values of the corpus that are a legitimate answer on one route.
VALID_THERE = {("proposals.vote", "minus_one"): "-1 is a vote against"}
# Routes whose purpose is to set a role: role=admin there is the form's own field.
ROLE_SETTING = {"auth_admin.change_role", "auth_admin.create_user"}


ADMINS = sa.select(sa.func.count()).select_from(User).where(User.role == Role.ADMIN)


def _admins(db) -> int:
    return db.session.scalar(ADMINS)


def _fresh_world(db) -> dict:
    from flask import current_app

    db.session.rollback()
    wipe_database()
    # The world is set up, not tested: no indicator refresh on each of its many commits.
    saved = current_app.config.get("FLAGS_AUTO_REFRESH", True)
    current_app.config["FLAGS_AUTO_REFRESH"] = False
    try:
        return build_world()
    finally:
        current_app.config["FLAGS_AUTO_REFRESH"] = saved


def _readable(response) -> bool:
    """A refusal says something: an HTML page with a heading or a JSON message."""
    body = response.get_data(as_text=True)
    if response.is_json:
        return bool((response.get_json(silent=True) or {}).get("message"))
    return "<h1" in body or "<h2" in body or 'role="alert"' in body or "error" in body


SHARDS = 3  # the walk in parts, which the test workers share


@pytest.mark.usefixtures("no_audit_changes")
@pytest.mark.parametrize("shard", range(SHARDS))
def test_fuzz_corpus_on_every_state_changing_route(app, db, shard):
    """Also: no request of the walk updates or deletes an audit row (SQL captured). Each shard
    walks every SHARDS-th route of the policy table."""
    from tests.test_access_policy import ARGUMENT_OVERRIDES

    fields = form_fields()
    assert len(fields) > 20, "the forms of the app were not found"
    problems: list[str] = []
    world = _fresh_world(db)
    dirty = False
    routes = 0
    walked = [(rule, method) for rule, method in state_changing_rules(app)
              if role_for(rule.endpoint, method) is not None]
    # not in the policy table: tests/test_access_policy.py fails for it
    for rule, method in walked[shard::SHARDS]:
        role = role_for(rule.endpoint, method)
        routes += 1
        if dirty:  # the previous route changed the world: each route starts from a clean one
            world, dirty = _fresh_world(db), False
        overrides = ARGUMENT_OVERRIDES.get(rule.endpoint)
        url = url_for_rule(app, rule, world, overrides)
        client = logged_in_client(app, world, role)

        # The control: does an empty request change rows? Then the route has no input to refuse.
        before = row_counts(db)
        control = client.open(url, method=method, data={})
        takes_no_input = row_counts(db) != before
        if control.status_code >= 500:
            problems.append(f"{rule.endpoint} {method} empty body -> {control.status_code}")
        if takes_no_input:
            world = _fresh_world(db)
            url = url_for_rule(app, rule, world, overrides)
            client = logged_in_client(app, world, role)

        before, admins = row_counts(db), _admins(db)
        for case in CASES:
            request = case.build(fields)
            for _attempt in range(2):
                response = send(client, url, method, request)
                db.session.rollback()
                location = response.headers.get("Location", "")
                if role != "anonymous" and "/auth/login" in location:
                    # An earlier case ended the login (logout, password change): log in again
                    # and resend, so that the case reaches the form.
                    client = logged_in_client(app, world, role)
                    before = row_counts(db)
                    continue
                break
            where = f"{role} {method} {rule.endpoint} [{case.name}] -> {response.status_code}"
            after = row_counts(db)
            changed = after != before
            # An accepted request may have changed state without changing counts.
            dirty = dirty or changed or response.status_code < 400
            if response.status_code >= 500:
                problems.append(f"server error: {where}")
            elif case.invalid and not takes_no_input \
                    and (rule.endpoint, case.name) not in VALID_THERE:
                if changed:
                    problems.append(f"rows changed: {where}")
                if 400 <= response.status_code < 500 and not _readable(response):
                    problems.append(f"refusal without a message: {where}")
            if location and off_site(location):
                problems.append(f"redirect off site to {location!r}: {where}")
            if response.status_code < 400 and rule.endpoint not in ROLE_SETTING \
                    and _admins(db) != admins:
                problems.append(f"an extra field made an admin: {where}")
            before = after
        dirty = dirty or control.status_code < 400
    assert routes * SHARDS >= 20, f"only {routes} state-changing routes walked in a shard"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", [c for c in CASES if c.invalid], ids=lambda c: c.name)
def test_invalid_case_is_refused_by_a_real_form(client, factory, login_as, case):
    """The corpus can fail: on the proposal form each invalid case is refused with a 4xx."""
    from pvplatform.extensions import db
    from tests.fuzz_corpus import row_counts as counts

    process = factory.process()
    login_as(factory.user("citizen"))
    before = counts(db)
    response = send(client, f"/processes/{process.id}/proposals/new", "POST",
                    case.build(form_fields()))
    assert 400 <= response.status_code < 500, response.status_code
    assert counts(db) == before
