"""Issue 9, finding 1: evaluators are read-only.

The evaluator account could file a report. Nothing an evaluator does may write participation or
content data (reports, proposals, comments, votes, registrations, attendance, demographics,
absence answers...); only their own account (tests/test_access_policy.py,
EVALUATOR_SELF_SERVICE) is theirs to change.

The hostile case is an evaluator who took part before their role changed: they own a
registration, a draft, a published proposal, a vote, demographic answers and an absence question,
so that every "my own object" route has something to act on. Every state-changing route of the
app (except the account's own) is sent a request that is valid for a participant — the control
run proves it changes data when a citizen sends it — and for the evaluator every table must stay
exactly as it was: its row count and every row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from pvplatform.auth import permissions
from pvplatform.auth.models import Role, User
from pvplatform.db import utcnow
from pvplatform.ledger.models import AbsenceKind, AbsenceRequest
from pvplatform.moderation.models import Report
from pvplatform.participation.demographics import CONSENT_PURPOSE, CONSENT_TEXT_VERSION
from pvplatform.participation.models import (
    ConsentRecord,
    Participant,
    ParticipantAttribute,
    ParticipantKind,
    Stratum,
)
from pvplatform.proposals.models import Proposal, ProposalState, Vote
from pvplatform.sessions.models import Meeting, MeetingFormat, Registration
from tests.conftest import STAFF_PASSWORD, FreshGlobalsClient, login, wipe_database
from tests.fuzz_corpus import form_fields, row_counts, state_changing_rules
from tests.route_params import build_world, url_for_rule
from tests.test_access_policy import ARGUMENT_OVERRIDES, EVALUATOR_SELF_SERVICE


def _evaluator_world(db) -> dict[str, Any]:
    """build_world(), and an evaluator who used to be a citizen, with records of their own."""
    world = build_world()
    now = utcnow()
    evaluator = db.session.get(User, world["users"]["evaluator"])
    me = Participant(user_id=evaluator.id, kind=ParticipantKind.CITIZEN)
    db.session.add(me)
    later = Meeting(process_id=world["process_id"], title="Atelier mobilités",
                    format=MeetingFormat.HYBRID, starts_at=now + timedelta(days=6),
                    ends_at=now + timedelta(days=6, hours=2), capacity=30,
                    location="Salle des fêtes", online_url="https://visio.example.org/b")
    # An online session open to join right now (they registered for it).
    live = Meeting(process_id=world["process_id"], title="Atelier en ligne",
                   format=MeetingFormat.ONLINE, starts_at=now - timedelta(minutes=5),
                   ends_at=now + timedelta(hours=2), online_url="https://visio.example.org/c")
    db.session.add_all([later, live])
    db.session.flush()
    draft = Proposal(process_id=world["process_id"], author_id=me.id, title="Mon brouillon",
                     body="Des bancs à l'ombre.", state=ProposalState.DRAFT)
    mine = Proposal(process_id=world["process_id"], author_id=me.id, title="Ma proposition",
                    body="Une piste cyclable.", state=ProposalState.PUBLISHED,
                    published_at=now - timedelta(days=1))
    db.session.add_all([
        draft, mine,
        Registration(meeting_id=world["meeting_id"], participant_id=me.id, registered_at=now),
        Registration(meeting_id=live.id, participant_id=me.id,
                     registered_at=now - timedelta(days=1)),
        Vote(proposal_id=world["proposal_id"], participant_id=me.id, value=-1),
        Stratum(process_id=world["process_id"], dimension="age_band", category="30-44",
                label="30-44 ans", population_share=0.0),
        ParticipantAttribute(participant_id=me.id, dimension="age_band", category="30-44"),
        ConsentRecord(participant_id=me.id, purpose=CONSENT_PURPOSE, given_at=now,
                      text_version=CONSENT_TEXT_VERSION),
    ])
    db.session.flush()
    absence = AbsenceRequest(meeting_id=world["meeting_id"], participant_id=me.id,
                             kind=AbsenceKind.NO_SHOW)
    db.session.add(absence)
    db.session.commit()
    return {**world, "my_draft_id": draft.id, "my_proposal_id": mine.id,
            "later_meeting_id": later.id, "live_meeting_id": live.id,
            "my_absence_id": absence.id}


def _participation_writes(w: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """endpoint -> (url, form data) a participant may send with effect on the evaluator's world."""
    proposal, comment = w["proposal_id"], w["comment_id"]
    return {
        "moderation.report": ("/reports", {"target_type": "comment", "target_id": str(comment),
                                           "reason": "Hors sujet"}),
        "proposals.create": (f"/processes/{w['process_id']}/proposals/new",
                             {"title": "Un jardin partagé", "body": "Derrière l'école.",
                              "publish": "Publish"}),
        "proposals.edit": (f"/proposals/{w['my_draft_id']}/edit",
                           {"title": "Brouillon changé", "body": "Autre texte.",
                            "save_draft": "Save as draft"}),
        "proposals.publish": (f"/proposals/{w['my_draft_id']}/publish", {}),
        "proposals.withdraw": (f"/proposals/{w['my_proposal_id']}/withdraw", {}),
        "proposals.comment": (f"/proposals/{proposal}/comments", {"body": "Bonne idée."}),
        "proposals.vote": (f"/proposals/{proposal}/vote", {"value": "1"}),
        "proposals.withdraw_vote": (f"/proposals/{proposal}/vote/withdraw", {}),
        "sessions.register": (f"/sessions/{w['later_meeting_id']}/register", {}),
        "sessions.cancel": (f"/sessions/{w['meeting_id']}/cancel", {}),
        "sessions.join": (f"/sessions/{w['live_meeting_id']}/join", {}),
        "participation.my_demographics": ("/me/demographics",
                                          {"dim_age_band": "18-29", "consent": "y"}),
        "participation.withdraw_demographics": ("/me/demographics/withdraw", {}),
        "ledger.answer": (f"/me/absence/{w['my_absence_id']}", {"reason": "time"}),
    }


def _everything(db) -> dict[str, list[tuple]]:
    """Every row of every table (the world is small)."""
    db.session.expire_all()
    return {
        t.name: [tuple(r) for r in db.session.execute(
            sa.select(t).order_by(*(t.primary_key.columns or t.columns)))]
        for t in db.metadata.sorted_tables
    }


def _fresh(db) -> dict[str, Any]:
    db.session.rollback()
    wipe_database()
    return _evaluator_world(db)


def _client(app, email: str):
    client = FreshGlobalsClient(app, app.response_class, use_cookies=True)
    response = client.post("/auth/login", data={"email": email, "password": STAFF_PASSWORD})
    assert response.status_code == 302, email
    return client


def _plausible() -> dict[str, str]:
    """A value in every form field of the app: a staff form reaches its validation."""
    return {name: ("Texte" if info.text else "1") for name, info in form_fields().items()}


def test_evaluator_writes_nothing_on_any_route(app, db):
    world = _fresh(db)
    writes = _participation_writes(world)
    assert sorted(writes) == sorted(PARTICIPATION_ENDPOINTS)
    evaluator = _client(app, world["emails"]["evaluator"])
    problems: list[str] = []
    walked = 0
    for rule, method in state_changing_rules(app):
        if rule.endpoint in EVALUATOR_SELF_SERVICE:
            continue
        walked += 1
        if rule.endpoint in writes:
            url, data = writes[rule.endpoint]
            attempts = [data, {}]
        else:
            url = url_for_rule(app, rule, world, ARGUMENT_OVERRIDES.get(rule.endpoint))
            attempts = [_plausible(), {}]
        for data in attempts:
            counts, rows = row_counts(db), _everything(db)
            response = evaluator.open(url, method=method, data=data)
            db.session.rollback()
            where = f"evaluator {method} {rule.endpoint} {sorted(data)} -> {response.status_code}"
            if response.status_code not in (403, 404):
                problems.append(f"not refused: {where}")
            if row_counts(db) != counts:
                problems.append(f"row counts changed: {where}")
            after = _everything(db)
            changed = sorted(name for name in rows if rows[name] != after[name])
            if changed:
                problems.append(f"rows changed in {changed}: {where}")
                world = _fresh(db)  # the next route starts from the world as it was
                writes = _participation_writes(world)
                evaluator = _client(app, world["emails"]["evaluator"])
                break
    assert walked >= 40, walked
    assert not problems, "\n".join(problems)


PARTICIPATION_ENDPOINTS = (
    "ledger.answer", "moderation.report", "participation.my_demographics",
    "participation.withdraw_demographics", "proposals.comment", "proposals.create",
    "proposals.edit", "proposals.publish", "proposals.vote", "proposals.withdraw",
    "proposals.withdraw_vote", "sessions.cancel", "sessions.join", "sessions.register",
)


@pytest.mark.parametrize("endpoint", PARTICIPATION_ENDPOINTS)
def test_the_same_requests_from_a_citizen_write(app, db, endpoint):
    """The control: the requests above are not refused for being malformed. The same person
    with the citizen role changes data with each of them."""
    world = _fresh(db)
    url, data = _participation_writes(world)[endpoint]
    user = db.session.get(User, world["users"]["evaluator"])
    user.role = Role.CITIZEN
    db.session.commit()
    client = _client(app, world["emails"]["evaluator"])
    before = _everything(db)
    response = client.post(url, data=data)
    assert response.status_code in (302, 303), (endpoint, response.status_code,
                                                response.get_data(as_text=True)[:300])
    assert _everything(db) != before, endpoint


def test_evaluator_files_no_report_and_sees_no_report_button(client, db):
    world = _fresh(db)
    evaluator = db.session.get(User, world["users"]["evaluator"])
    assert not permissions.can_report(evaluator)
    assert not permissions.can_answer_absence(evaluator)
    login(client, evaluator, STAFF_PASSWORD)
    page = client.get(f"/proposals/{world['proposal_id']}").get_data(as_text=True)
    assert "Report this comment" not in page and "Report this proposal" not in page
    for target_type, target_id in (("comment", world["comment_id"]),
                                   ("proposal", world["proposal_id"])):
        response = client.post("/reports", data={"target_type": target_type,
                                                 "target_id": str(target_id),
                                                 "reason": "Je signale"})
        assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)
                             .where(Report.reporter_id == evaluator.id)) == 0
    # Their own absence question: neither the form nor an answer.
    assert client.get(f"/me/absence/{world['my_absence_id']}").status_code == 403
    # Administrators still report (they moderate anyway); participants of course.
    for role in ("admin", "citizen", "association", "staff", "elected"):
        assert permissions.can_report(db.session.get(User, world["users"][role])), role


def test_report_service_refuses_an_evaluator(db):
    from pvplatform.errors import NotAllowed
    from pvplatform.moderation import services

    world = _fresh(db)
    evaluator = db.session.get(User, world["users"]["evaluator"])
    with pytest.raises(NotAllowed):
        services.report("comment", world["comment_id"], evaluator, "Hors sujet", now=utcnow())
    db.session.rollback()
