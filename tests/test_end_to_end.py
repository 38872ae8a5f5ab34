"""A whole process driven through the test client, every role in turn, then the database read
back: it holds exactly what the people did, audit rows included."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from pvplatform.auth.models import User
from pvplatform.db import utcnow
from pvplatform.models import (
    Answer,
    Attendance,
    AuditLog,
    Comment,
    ImplementationUpdate,
    Invitation,
    Meeting,
    ModerationAction,
    Notification,
    Participant,
    Phase,
    Process,
    Proposal,
    ProposalState,
    Registration,
    Vote,
)
from tests.conftest import PASSWORD, FreshGlobalsClient, login

TOWN = ZoneInfo("Europe/Paris")


def _client(app, user: User | None = None, password: str | None = None):
    client = FreshGlobalsClient(app, app.response_class, use_cookies=True)
    if user is not None:
        login(client, user, password)
    return client


def _ok(response, *codes: int) -> None:
    expected = codes or (302, 303)
    assert response.status_code in expected, (response.status_code,
                                             response.get_data(as_text=True)[:800])


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_process_from_creation_to_accountability(app, db, factory):
    admin = factory.user("admin")
    staff = factory.user("staff")
    elected = factory.user("elected")
    neighbour = factory.user("citizen", name="Voisine")
    association = factory.association("Vélo Villeneuve")
    member = factory.user("association", association=association, name="Membre")
    today = utcnow().astimezone(TOWN).date()

    # The admin creates the process and its co-creation phase, open to everything.
    admin_client = _client(app, admin)
    _ok(admin_client.post("/manage/processes/new", data={
        "title": "Agenda 2030 de Villeneuve", "description": "Écrire ensemble l'Agenda 2030.",
        "municipality": "Villeneuve", "population": "48000",
        "starts_on": (today - timedelta(days=10)).isoformat(),
        "ends_on": (today + timedelta(days=120)).isoformat(), "goals": ["11", "13"],
    }))
    process = db.session.scalar(sa.select(Process))
    _ok(admin_client.post(f"/manage/processes/{process.id}/phases", data={
        "kind": "co_creation", "starts_on": (today - timedelta(days=10)).isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(), "proposals_open": "y",
        "comments_open": "y", "votes_open": "y",
    }))
    # ... and a hybrid session starting within the hour.
    starts = (utcnow() + timedelta(minutes=45)).astimezone(TOWN).replace(second=0, microsecond=0)
    _ok(admin_client.post(f"/manage/processes/{process.id}/sessions/new", data={
        "title": "Atelier mobilités", "format": "hybrid",
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (starts + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "location": "Salle des fêtes", "online_url": "https://visio.example.org/mobilites",
        "capacity": "40", "agenda": "Accueil, ateliers, restitution",
    }))
    meeting = db.session.scalar(sa.select(Meeting))

    # A resident signs up and registers for the session.
    citizen_client = _client(app)
    _ok(citizen_client.post("/auth/register", data={
        "email": "camille@example.org", "display_name": "Camille", "password": PASSWORD,
        "confirm": PASSWORD, "locale": "fr",
    }))
    camille = db.session.scalar(sa.select(User).where(User.email == "camille@example.org"))
    _ok(citizen_client.post(f"/sessions/{meeting.id}/register"))
    registration = db.session.scalar(sa.select(Registration))
    assert registration is not None and registration.cancelled_at is None

    # Staff check in the registrant by her code (typed loosely) and a walk-in without an account.
    staff_client = _client(app, staff)
    loose_code = " " + registration.code.lower()[:4] + " " + registration.code.lower()[4:]
    _ok(staff_client.post(f"/manage/sessions/{meeting.id}/checkin",
                          data={"code": loose_code, "mode": "in_person"}))
    _ok(staff_client.post(f"/manage/sessions/{meeting.id}/checkin",
                          data={"name": "Jean sans compte", "kind": "citizen"}))

    # The resident proposes, coming from the session.
    _ok(citizen_client.post(f"/processes/{process.id}/proposals/new", data={
        "title": "Une piste cyclable rue Haute", "body": "Séparée de la chaussée.",
        "goals": ["11"], "meeting_id": str(meeting.id), "publish": "y",
    }))
    proposal = db.session.scalar(sa.select(Proposal))
    assert proposal.state == ProposalState.PUBLISHED

    # Others comment and vote; the neighbour changes her mind once.
    neighbour_client = _client(app, neighbour)
    member_client = _client(app, member)
    _ok(neighbour_client.post(f"/proposals/{proposal.id}/comments", data={"body": "Oui !"}))
    _ok(member_client.post(f"/proposals/{proposal.id}/comments",
                           data={"body": "Hors sujet, achetez mon vélo"}))
    _ok(neighbour_client.post(f"/proposals/{proposal.id}/vote", data={"value": "-1"}))
    _ok(neighbour_client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"}))
    _ok(member_client.post(f"/proposals/{proposal.id}/vote", data={"value": "1"}))

    # An elected official answers with reasons; staff follow up on the implementation.
    elected_client = _client(app, elected)
    _ok(elected_client.post(f"/proposals/{proposal.id}/answer", data={
        "state": "accepted", "rationale": "Inscrite au plan vélo 2027.",
    }))
    _ok(staff_client.post(f"/proposals/{proposal.id}/updates", data={
        "progress": "20", "body": "Études lancées.",
    }))

    # A moderator hides the off-topic comment after a report.
    spam = db.session.scalar(sa.select(Comment).where(Comment.body.like("Hors sujet%")))
    _ok(neighbour_client.post("/reports", data={"target_type": "comment",
                                                "target_id": str(spam.id),
                                                "reason": "Publicité"}))
    _ok(staff_client.post(f"/moderation/comment/{spam.id}/hide",
                          data={"reason": "Publicité hors sujet"}))

    # The database holds exactly that.
    db.session.expire_all()
    assert _count(db, Process) == 1
    assert _count(db, Phase) == 1
    assert _count(db, Meeting) == 1
    assert _count(db, Invitation) == 0
    assert _count(db, Registration) == 1
    attendances = db.session.scalars(sa.select(Attendance).order_by(Attendance.id)).all()
    assert [(a.walk_in, a.mode.value, a.checked_in_by_id) for a in attendances] == [
        (False, "in_person", staff.id), (True, "in_person", staff.id)]
    camille_p = db.session.scalar(sa.select(Participant).where(Participant.user_id == camille.id))
    assert attendances[0].participant_id == camille_p.id
    walk_in = db.session.get(Participant, attendances[1].participant_id)
    assert walk_in.user_id is None and walk_in.display_name == "Jean sans compte"

    assert _count(db, Proposal) == 1
    assert proposal.author_id == camille_p.id and proposal.meeting_id == meeting.id
    assert [g.number for g in proposal.goals] == [11]
    assert proposal.state == ProposalState.ACCEPTED
    assert proposal.answered_at is not None
    assert proposal.answer_rationale == "Inscrite au plan vélo 2027."

    comments = db.session.scalars(sa.select(Comment).order_by(Comment.id)).all()
    assert [(c.body, c.hidden_at is not None) for c in comments] == [
        ("Oui !", False), ("Hors sujet, achetez mon vélo", True)]
    votes = db.session.execute(sa.select(Vote.participant_id, Vote.value)
                               .order_by(Vote.id)).all()
    neighbour_p = db.session.scalar(
        sa.select(Participant.id).where(Participant.user_id == neighbour.id))
    member_p = db.session.scalar(sa.select(Participant.id).where(Participant.user_id == member.id))
    assert sorted(votes) == sorted([(neighbour_p, 1), (member_p, 1)])

    answers = db.session.scalars(sa.select(Answer)).all()
    assert [(a.state, a.answered_by_id) for a in answers] == [(ProposalState.ACCEPTED, elected.id)]
    updates = db.session.scalars(sa.select(ImplementationUpdate)).all()
    assert [(u.progress, u.author_id) for u in updates] == [(20, staff.id)]
    actions = db.session.scalars(sa.select(ModerationAction)).all()
    assert [(a.kind.value, a.target_id, a.actor_id) for a in actions] == [
        ("hide", spam.id, staff.id)]

    audit = db.session.execute(
        sa.select(AuditLog.action, AuditLog.actor_id, AuditLog.target_type, AuditLog.target_id)
        .order_by(AuditLog.id)).all()
    assert [tuple(row) for row in audit] == [
        ("process.create", admin.id, "process", process.id),
        ("phase.create", admin.id, "phase", db.session.scalar(sa.select(Phase.id))),
        ("session.create", admin.id, "session", meeting.id),
        ("proposal.answer", elected.id, "proposal", proposal.id),
        ("proposal.implementation_update", staff.id, "proposal", proposal.id),
        ("moderation.hide", staff.id, "comment", spam.id),
    ]
    # The author heard back, in the app.
    kinds = db.session.scalars(sa.select(Notification.kind)
                               .where(Notification.user_id == camille.id)).all()
    assert len(kinds) >= 2
