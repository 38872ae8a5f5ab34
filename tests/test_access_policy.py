"""Role x route: every endpoint of the app, for every role, against one policy table.

An endpoint missing from POLICY fails the test, so a new route cannot ship without a decision
about who may use it. Denied means 403 (or 404 for someone else's object, or a login redirect
for anonymous visitors) and no row changed.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD, STAFF_PASSWORD, FreshGlobalsClient, wipe_database
from tests.route_params import build_world, url_for_rule

ANON = "anonymous"
ROLES = (ANON, "citizen", "association", "staff", "elected", "evaluator", "admin")

ALL = frozenset(ROLES)
LOGGED_IN = ALL - {ANON}
PARTICIPANTS = frozenset({"citizen", "association", "staff", "elected"})
STAFF = frozenset({"staff", "admin"})
ANSWERING = frozenset({"elected", "staff", "admin"})
ADMIN = frozenset({"admin"})
AUTHOR = frozenset({"citizen"})  # the world's proposals and draft are the citizen's
CONTACT = frozenset({"association"})  # the world's association member is its contact
EVALUATING = frozenset({"evaluator", "admin"})
API_USERS = frozenset({"staff", "evaluator", "admin"})

POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("static", "GET"): ALL,
    ("core.healthz", "GET"): ALL,
    ("core.set_language", "POST"): ALL,
    # accounts
    ("auth.login", "GET"): ALL,
    ("auth.login", "POST"): ALL,
    ("auth.register", "GET"): ALL,
    ("auth.register", "POST"): ALL,
    ("auth.logout", "POST"): LOGGED_IN,
    ("auth.my_space", "GET"): LOGGED_IN,
    ("auth.edit_profile", "GET"): LOGGED_IN,
    ("auth.edit_profile", "POST"): LOGGED_IN,
    ("auth.change_password", "GET"): LOGGED_IN,
    ("auth.change_password", "POST"): LOGGED_IN,
    # account security and personal data (password reset, fresh login, GDPR)
    ("auth.reset_request", "GET"): ALL,
    ("auth.reset_request", "POST"): ALL,
    ("auth.reset_password", "GET"): ALL,
    ("auth.reset_password", "POST"): ALL,
    ("auth.reauth", "GET"): LOGGED_IN,
    ("auth.reauth", "POST"): LOGGED_IN,
    ("auth.change_email", "GET"): LOGGED_IN,
    ("auth.change_email", "POST"): LOGGED_IN,
    ("privacy.my_data", "GET"): LOGGED_IN,
    ("privacy.my_data", "POST"): LOGGED_IN,
    ("privacy.delete_account", "GET"): LOGGED_IN,
    ("privacy.delete_account", "POST"): LOGGED_IN,
    ("auth_admin.users", "GET"): ADMIN,
    ("auth_admin.user_detail", "GET"): ADMIN,
    ("auth_admin.create_user", "GET"): ADMIN,
    ("auth_admin.create_user", "POST"): ADMIN,
    ("auth_admin.change_role", "POST"): ADMIN,
    ("auth_admin.associations", "GET"): STAFF,
    ("auth_admin.create_association", "POST"): STAFF,
    ("auth_admin.association_detail", "GET"): STAFF,
    ("auth_admin.add_member", "POST"): STAFF,
    ("auth_admin.remove_member", "POST"): STAFF,
    # associations: approval of new ones and of members (the world's association member is its
    # contact, and a resident's request to join it waits)
    ("auth_admin.decide_association", "POST"): STAFF,
    ("auth_admin.set_contact", "POST"): STAFF,
    ("auth_admin.membership_requests", "GET"): STAFF,
    ("auth_admin.decide_membership", "POST"): STAFF,
    ("auth.request_membership", "GET"): PARTICIPANTS,
    ("auth.request_membership", "POST"): PARTICIPANTS,
    ("auth.withdraw_membership_request", "POST"): PARTICIPANTS,
    ("auth.leave_association", "POST"): PARTICIPANTS,
    ("auth.association_contact", "GET"): CONTACT,
    ("auth.contact_decision", "POST"): CONTACT,
    # processes
    ("processes.home", "GET"): ALL,
    ("processes.detail", "GET"): ALL,
    ("processes.admin_list", "GET"): STAFF,
    ("processes.create", "GET"): ADMIN,
    ("processes.create", "POST"): ADMIN,
    ("processes.edit", "GET"): STAFF,
    ("processes.edit", "POST"): STAFF,
    ("processes.phases", "GET"): STAFF,
    ("processes.phases", "POST"): STAFF,
    ("processes.edit_phase", "GET"): STAFF,
    ("processes.edit_phase", "POST"): STAFF,
    ("processes.delete_phase", "POST"): STAFF,
    ("processes.targets", "GET"): STAFF,
    ("processes.targets", "POST"): STAFF,
    ("processes.edit_target", "GET"): STAFF,
    ("processes.edit_target", "POST"): STAFF,
    ("processes.delete_target", "POST"): STAFF,
    # sessions
    ("sessions.detail", "GET"): ALL,
    ("sessions.register", "POST"): PARTICIPANTS,
    ("sessions.cancel", "POST"): PARTICIPANTS,
    ("sessions.join", "POST"): PARTICIPANTS,
    ("sessions.admin_list", "GET"): STAFF,
    ("sessions.create", "GET"): STAFF,
    ("sessions.create", "POST"): STAFF,
    ("sessions.edit", "GET"): STAFF,
    ("sessions.edit", "POST"): STAFF,
    ("sessions.manage", "GET"): STAFF,
    ("sessions.invite", "POST"): STAFF,
    ("sessions.checkin", "POST"): STAFF,
    ("sessions.close", "POST"): STAFF,
    ("sessions.record_turn", "POST"): STAFF,
    ("sessions.delete_turn", "POST"): STAFF,
    ("sessions.walk_in_qr", "GET"): STAFF,
    # a walk-in's one-time phone link (a valid token; anyone holding it, but no evaluator)
    ("sessions.walk_in_demographics", "GET"): ALL - {"evaluator"},
    ("sessions.walk_in_demographics", "POST"): ALL - {"evaluator"},
    ("login_unblock.unblock", "POST"): STAFF,
    # proposals
    ("proposals.index", "GET"): ALL,
    ("proposals.detail", "GET"): ALL,
    ("proposals.create", "GET"): PARTICIPANTS,
    ("proposals.create", "POST"): PARTICIPANTS,
    ("proposals.edit", "GET"): AUTHOR,
    ("proposals.edit", "POST"): AUTHOR,
    ("proposals.publish", "POST"): AUTHOR,
    ("proposals.withdraw", "POST"): AUTHOR,
    ("proposals.comment", "POST"): PARTICIPANTS,
    ("proposals.vote", "POST"): PARTICIPANTS,
    ("proposals.withdraw_vote", "POST"): PARTICIPANTS,
    ("proposals.review_queue", "GET"): ANSWERING,
    ("proposals.answer", "GET"): ANSWERING,
    ("proposals.answer", "POST"): ANSWERING,
    ("proposals.add_update", "POST"): ANSWERING,
    # moderation and notifications
    ("moderation.report", "POST"): PARTICIPANTS | ADMIN,  # never an evaluator: they only read
    ("moderation.queue", "GET"): STAFF,
    ("moderation.hide", "POST"): STAFF,
    ("moderation.restore", "POST"): STAFF,
    ("moderation.dismiss", "POST"): STAFF,
    ("moderation.audit_log", "GET"): STAFF,
    ("notifications.index", "GET"): LOGGED_IN,
    ("notifications.mark_read", "POST"): LOGGED_IN,
    # demographics and reference population
    ("participation.dimensions", "GET"): STAFF,
    ("participation.dimensions", "POST"): STAFF,
    ("participation.use_defaults", "POST"): STAFF,
    ("participation.edit_dimension", "GET"): STAFF,
    ("participation.edit_dimension", "POST"): STAFF,
    ("participation.delete_dimension", "POST"): STAFF,
    ("participation.add_category", "POST"): STAFF,
    ("participation.edit_category", "GET"): STAFF,
    ("participation.edit_category", "POST"): STAFF,
    ("participation.delete_category", "POST"): STAFF,
    ("participation.reference", "GET"): STAFF,
    ("participation.reference", "POST"): STAFF,
    ("participation.upload_reference", "POST"): STAFF,
    ("participation.my_demographics", "GET"): PARTICIPANTS,
    ("participation.my_demographics", "POST"): PARTICIPANTS,
    ("participation.withdraw_demographics", "POST"): PARTICIPANTS,
    # paper sign-in sheets and process import by upload
    ("sessions.paper_sheet", "GET"): STAFF,
    ("sessions.paper_sheet", "POST"): STAFF,
    ("sessions.paper_sheet_confirm", "POST"): STAFF,
    ("imports.upload", "GET"): ADMIN,
    ("imports.upload", "POST"): ADMIN,
    # indicators: stored flags, acknowledgement, per-process thresholds
    ("indicators.flags", "GET"): frozenset({"staff", "admin", "elected"}),
    ("indicators.acknowledge", "POST"): STAFF,
    ("indicators.thresholds", "GET"): STAFF,
    ("indicators.save_thresholds", "POST"): STAFF,
    ("indicators.reset_thresholds", "POST"): STAFF,
    # indicators: the process dashboard (elected officials read it, without acknowledging)
    ("indicators.dashboard", "GET"): frozenset({"staff", "admin", "elected"}),
    ("indicators.dashboards", "GET"): frozenset({"staff", "admin", "elected"}),
    ("indicators.dashboard_family", "GET"): frozenset({"staff", "admin", "elected"}),
    # ledger: who did not take part, absence reasons (the world's request is the citizen's)
    ("ledger.process_ledger", "GET"): STAFF,
    ("ledger.session_ledger", "GET"): STAFF,
    ("ledger.process_reasons", "GET"): STAFF,
    ("ledger.send_requests", "POST"): STAFF,
    ("ledger.answer", "GET"): AUTHOR,
    ("ledger.answer", "POST"): AUTHOR,
    # feedback: the catalogue, waves and pulses (staff); answering what one was offered (the
    # world's baseline is offered to the citizen, who registered, and to staff and elected
    # officials; its pulse to the citizen and the walk-in); the results (staff and elected)
    ("feedback.catalogue", "GET"): STAFF,
    ("feedback.catalogue", "POST"): STAFF,
    ("feedback.catalogue_defaults", "POST"): STAFF,
    ("feedback.value_edit", "GET"): STAFF,
    ("feedback.value_edit", "POST"): STAFF,
    ("feedback.value_move", "POST"): STAFF,
    ("feedback.value_retire", "POST"): STAFF,
    ("feedback.manage", "GET"): STAFF,
    ("feedback.wave_open", "POST"): STAFF,
    ("feedback.wave_close", "POST"): STAFF,
    ("feedback.wave_remind", "POST"): STAFF,
    ("feedback.pulse_manage", "GET"): STAFF,
    ("feedback.pulse_manage", "POST"): STAFF,
    ("feedback.pulse_remind", "POST"): STAFF,
    ("feedback.pulse_close", "POST"): STAFF,
    ("feedback.pulse_link", "GET"): STAFF,
    ("feedback.answer_wave", "GET"): frozenset({"citizen", "staff", "elected"}),
    ("feedback.answer_wave", "POST"): frozenset({"citizen", "staff", "elected"}),
    ("feedback.answer_pulse", "GET"): AUTHOR,
    ("feedback.answer_pulse", "POST"): AUTHOR,
    ("feedback.answer_link", "GET"): ALL - {"evaluator"},
    ("feedback.answer_link", "POST"): ALL - {"evaluator"},
    ("feedback.my_surveys", "GET"): PARTICIPANTS | ADMIN,
    ("feedback.results", "GET"): ANSWERING,
    # evaluation: the world's evaluator holds a read grant and a microdata agreement on the
    # process; admins read every process; everybody else is refused
    ("evaluation.index", "GET"): EVALUATING,
    ("evaluation.process", "GET"): EVALUATING,
    ("evaluation.perceptions", "GET"): EVALUATING,
    ("evaluation.export", "GET"): EVALUATING,
    ("evaluation.package", "GET"): EVALUATING,
    ("evaluation.microdata", "GET"): EVALUATING,
    ("evaluation_admin.grants", "GET"): ADMIN,
    ("evaluation_admin.grant", "POST"): ADMIN,
    ("evaluation_admin.revoke", "POST"): ADMIN,
    ("evaluation_admin.exports", "GET"): ADMIN,
    # personal API tokens (each role revokes its own) and the API, read with them
    ("api_tokens.index", "GET"): API_USERS,
    ("api_tokens.create", "POST"): API_USERS,
    ("api_tokens.revoke", "POST"): API_USERS,
}

# Evaluators read and take no part: the only writes the table may grant them are on their own
# account (signing in and out, profile, password, e-mail, language, notifications, their data,
# deleting the account). A new route that lets them write anything else fails
# test_evaluator_writes_only_their_own_account, whatever the table says.
EVALUATOR_SELF_SERVICE = frozenset({
    "auth.login", "auth.logout", "auth.reauth", "auth.register", "auth.reset_request",
    "auth.reset_password", "auth.edit_profile", "auth.change_password", "auth.change_email",
    "core.set_language", "notifications.mark_read", "privacy.my_data", "privacy.delete_account",
    "api_tokens.create", "api_tokens.revoke",
})

# Routes that act on someone's own object use the world's draft rather than its published proposal.
ARGUMENT_OVERRIDES = {
    "proposals.edit": {"proposal_id": "draft_id"},
    "proposals.publish": {"proposal_id": "draft_id"},
    "auth_admin.remove_member": {"user_id": "member_id"},
    "auth_admin.set_contact": {"user_id": "member_id"},
    "sessions.walk_in_demographics": {"token": "walk_in_token"},
    "feedback.answer_link": {"token": "survey_token"},
}

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _endpoints(app) -> list[tuple[object, str]]:
    pairs = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & set(METHODS)):
            pairs.append((rule, method))
    return sorted(pairs, key=lambda p: (p[0].endpoint, p[1]))


def _row_counts(db) -> tuple[int, ...]:
    parts = [sa.select(sa.func.count()).select_from(t) for t in db.metadata.sorted_tables]
    return tuple(db.session.execute(sa.union_all(*parts)).scalars())


def policy_for(endpoint: str, method: str) -> frozenset[str] | None:
    """The API is read with personal tokens: every route but its public document is for the
    roles that may hold one."""
    if endpoint.startswith("api_v1.") and method == "GET":
        return ALL if endpoint == "api_v1.openapi" else API_USERS
    return POLICY.get((endpoint, method))


def test_every_endpoint_is_in_the_policy_table(app):
    missing = [f"{rule.endpoint} {method}" for rule, method in _endpoints(app)
               if policy_for(rule.endpoint, method) is None]
    assert not missing, f"endpoints without a policy: {missing}"
    stale = set(POLICY) - {(r.endpoint, m) for r, m in _endpoints(app)}
    assert not stale, f"policy rows for endpoints that no longer exist: {sorted(stale)}"


def test_evaluator_writes_only_their_own_account(app):
    writes = sorted(f"{rule.endpoint} {method}" for rule, method in _endpoints(app)
                    if method != "GET" and "evaluator" in (policy_for(rule.endpoint, method) or ())
                    and rule.endpoint not in EVALUATOR_SELF_SERVICE)
    assert not writes, f"evaluators may only read, yet the policy lets them write: {writes}"


def _login(client, email: str, password: str) -> None:
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 302, email


@pytest.mark.parametrize("role", ROLES)
def test_role_against_every_route(app, db, role):
    problems: list[str] = []
    world = build_world()
    for rule, method in _endpoints(app):
        allowed = role in (policy_for(rule.endpoint, method) or frozenset())
        world["token_id"] = world["api_token_ids"]["admin" if role == ANON else role]
        url = url_for_rule(app, rule, world, ARGUMENT_OVERRIDES.get(rule.endpoint))
        if rule.endpoint == "static":
            url = "/static/css/app.css"
        client = FreshGlobalsClient(app, app.response_class, use_cookies=True)
        if role != ANON:
            password = PASSWORD if role in ("citizen", "association") else STAFF_PASSWORD
            _login(client, world["emails"][role], password)
        before = _row_counts(db)
        headers = {}
        if rule.endpoint.startswith("api_v1.") and role != ANON:
            headers["Authorization"] = f"Bearer {world['api_tokens'][role]}"
        response = client.open(url, method=method, data={}, headers=headers)
        status = response.status_code
        location = response.headers.get("Location", "")
        to_login = status in (301, 302, 303) and "/auth/login" in location
        where = f"{role} {method} {rule.endpoint} -> {status} {location}"
        if status >= 500:
            problems.append(f"server error: {where}")
        elif allowed:
            if status in (401, 403, 404) or to_login:
                problems.append(f"should be allowed: {where}")
        else:
            expected = to_login or status == 401 if role == ANON else status in (403, 404)
            if not expected:
                problems.append(f"should be denied: {where}")
            if _row_counts(db) != before:
                problems.append(f"denied request changed rows: {where}")
        if method != "GET" and allowed:
            # An allowed request may have changed the world: the next route gets a new one. A
            # denied one changed no row (checked above), so the world stays.
            db.session.rollback()
            wipe_database()
            world = build_world()
        elif method != "GET":
            db.session.rollback()
    assert not problems, "\n".join(problems)
