"""SECURITY.md, Privacy (GDPR): "Delete my account: identity blanked, sessions ended, the same
e-mail can register again; votes, attendance and aggregates stay as pseudonymous records, so
indicators do not change." (Issue 5, acceptance 5: before/after comparison of every indicator.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from pvplatform.auth.models import Role, User
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.feedback.models import Perception, PublicValue, Wave
from pvplatform.indicators import compute_indicators, compute_indicators_and_flags
from pvplatform.indicators.facts import association_absences
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.notifications.services import notify
from pvplatform.participation.models import (
    AttendanceSnapshot,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.participation.services import participant_for
from pvplatform.proposals.models import Answer, Comment, Proposal, ProposalState, Vote
from pvplatform.sessions.models import Attendance, Invitation, Registration
from tests.conftest import PASSWORD, STAFF_PASSWORD, login

CONFIRM = {"password": PASSWORD, "understood": "y"}


def is_logged_in(client) -> bool:
    g.pop("_login_user", None)
    return client.get("/auth/me").status_code == 200


def count(model, *where) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


class Town:
    """A process with held sessions, strata, invitations, proposals, answers, comments, votes and
    perceptions, in which Léa (the account to delete) takes part in everything."""

    def __init__(self, factory) -> None:
        now = utcnow()
        self.now = now
        self.process = factory.process()
        pid = self.process.id
        for category, share in (("18-29", 0.3), ("30-59", 0.5), ("60+", 0.2)):
            _db.session.add(Stratum(process_id=pid, dimension="age_band", category=category,
                                    population_share=share))
        self.sessions = [factory.meeting(self.process, starts_at=now - timedelta(days=d))
                         for d in (30, 20, 10)]
        self.future = factory.meeting(self.process, starts_at=now + timedelta(days=5))
        association = factory.association("Les Amis du Parc")
        self.lea = factory.user(email="lea@example.org", name="Léa Martin")
        users = [self.lea, factory.user(), factory.user(Role.ASSOCIATION, association=association),
                 factory.user(Role.STAFF)]
        self.official = factory.user(Role.ELECTED)
        people = [participant_for(u) for u in users]
        people += [Participant(kind="citizen", display_name=f"Walk-in {n}") for n in range(2)]
        _db.session.add_all(people)
        _db.session.flush()
        self.lea_participant = people[0]
        ages = ["18-29", "30-59", "60+", "30-59", "18-29", "60+"]
        value = PublicValue(process_id=pid, code="trust", name="Trust")
        _db.session.add(value)
        _db.session.flush()
        for i, person in enumerate(people):
            _db.session.add(ParticipantAttribute(participant_id=person.id, dimension="age_band",
                                                 category=ages[i]))
            for k, meeting in enumerate(self.sessions):
                _db.session.add(Invitation(meeting_id=meeting.id, participant_id=person.id,
                                           invited_at=meeting.starts_at - timedelta(days=9)))
                if (i + k) % 3 == 2 and i:
                    continue  # some people miss some sessions (Léa, i = 0, comes to all)
                _db.session.add(Registration(meeting_id=meeting.id, participant_id=person.id,
                                             registered_at=meeting.starts_at
                                             - timedelta(days=3)))
                attendance = Attendance(meeting_id=meeting.id, participant_id=person.id,
                                        mode="in_person",
                                        checked_in_at=meeting.starts_at + timedelta(minutes=i))
                _db.session.add(attendance)
                _db.session.flush()
                _db.session.add(AttendanceSnapshot(attendance_id=attendance.id,
                                                   dimension="age_band", category=ages[i]))
            _db.session.add_all([
                Perception(participant_id=person.id, public_value_id=value.id,
                           wave=Wave.BASELINE, score=1 + i % 3,
                           answered_at=self.sessions[0].starts_at),
                Perception(participant_id=person.id, public_value_id=value.id, wave=Wave.FINAL,
                           score=2 + i % 4, answered_at=self.sessions[-1].starts_at),
            ])
        _db.session.add(Registration(meeting_id=self.future.id,
                                     participant_id=self.lea_participant.id))
        proposals = []
        for i, person in enumerate(people[:4]):
            for n in range(2 if i == 0 else 1):
                proposals.append(Proposal(
                    process_id=pid, author_id=person.id, title=f"Idea {i}.{n}", body="...",
                    state=ProposalState.PUBLISHED,
                    published_at=now - timedelta(days=25 - 5 * i - n)))
        _db.session.add_all(proposals)
        _db.session.flush()
        self.lea_proposal = proposals[0]
        answered = proposals[0]
        answered.state = ProposalState.ACCEPTED
        answered.answered_at = answered.published_at + timedelta(days=4)
        answered.answer_rationale = "Yes, next spring."
        _db.session.add(Answer(proposal_id=answered.id, state=ProposalState.ACCEPTED,
                               rationale="Yes, next spring.", answered_by_id=self.official.id,
                               answered_at=answered.answered_at))
        for i, person in enumerate(people):
            for j, proposal in enumerate(proposals):
                if (i + j) % 2 == 0 and proposal.author_id != person.id:
                    _db.session.add(Vote(proposal_id=proposal.id, participant_id=person.id,
                                         value=1 if (i + j) % 4 else -1,
                                         cast_at=proposal.published_at + timedelta(hours=i)))
                if (i + j) % 3 == 0:
                    _db.session.add(Comment(proposal_id=proposal.id, author_id=person.id,
                                            body=f"Comment {i}.{j}",
                                            created_at=proposal.published_at
                                            + timedelta(hours=2 + i)))
        notify(self.lea.id, "test", "Your proposal was answered.")
        notify(users[1].id, "test", "Someone else's notification.")
        _db.session.commit()

    def figures(self):
        # After the deletion too: a change stamped at deletion time would show up here.
        as_of = self.now + timedelta(days=1)
        indicators, flags = compute_indicators_and_flags(self.process.id, as_of)
        return (indicators, flags, compute_indicators(self.process.id, self.now),
                association_absences(self.process.id, as_of))


@pytest.fixture
def town(factory) -> Town:
    return Town(factory)


class Person:
    """Léa alone, with a participant row and a notification: enough for the pages' behaviour."""

    def __init__(self, factory) -> None:
        self.lea = factory.user(email="lea@example.org", name="Léa Martin")
        self.lea_participant = factory.participant(self.lea)
        notify(self.lea.id, "test", "Your proposal was answered.")
        _db.session.commit()


@pytest.fixture
def person(factory) -> Person:
    return Person(factory)


def delete_through_the_page(client, user: User, password: str = PASSWORD) -> None:
    login(client, user, password)
    page = client.get("/me/delete")
    assert page.status_code == 200 and b"Delete my account" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    response = client.post("/me/delete", data={"password": password, "understood": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_delete_account_indicators_do_not_change(client, town, db):
    before = town.figures()
    values = {row.code: row.value for row in before[0] if not row.dimension and not row.group}
    assert values["active_participants"] == 6 and values["uptake_rate"]
    delete_through_the_page(client, town.lea)
    db.session.expire_all()
    assert db.session.get(User, town.lea.id).deleted_at is not None
    assert town.figures() == before

    # The comparison has teeth: without Léa's votes and attendances the figures move.
    db.session.execute(sa.delete(Vote).where(Vote.participant_id == town.lea_participant.id))
    lea_attendances = sa.select(Attendance.id).where(
        Attendance.participant_id == town.lea_participant.id)
    db.session.execute(sa.delete(AttendanceSnapshot).where(
        AttendanceSnapshot.attendance_id.in_(lea_attendances)))
    db.session.execute(sa.delete(Attendance).where(
        Attendance.participant_id == town.lea_participant.id))
    assert town.figures() != before
    db.session.rollback()


def test_delete_account_identity_blanked(client, town, db):
    lea_id, participant_id = town.lea.id, town.lea_participant.id
    old_token = town.lea.session_token
    delete_through_the_page(client, town.lea)
    db.session.expire_all()
    user = db.session.get(User, lea_id)
    assert user.email is None and user.password_hash is None and user.locale is None
    assert user.display_name == f"Deleted participant #{participant_id}"
    assert "Léa" not in user.display_name
    assert user.deleted_at is not None and user.session_token != old_token
    assert not user.is_active
    # Her records stay, pseudonymous.
    assert count(Vote, Vote.participant_id == participant_id) > 0
    assert count(Attendance, Attendance.participant_id == participant_id) == 3
    assert count(Proposal, Proposal.author_id == participant_id) == 2
    assert count(Registration, Registration.participant_id == participant_id) == 4
    # Notifications are messages to a person who is gone; other people's stay.
    assert count(Notification, Notification.user_id == lea_id) == 0
    assert count(Notification) == 1
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "account.delete")
                               ).all()
    assert [(a.actor_id, a.target_id) for a in audit] == [(lea_id, lea_id)]
    assert "lea@example.org" not in str(audit[0].details)


def test_delete_account_contributions_show_no_name(client, town, db):
    delete_through_the_page(client, town.lea)
    page = client.get(f"/proposals/{town.lea_proposal.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Léa Martin" not in text and "L&#39;a Martin" not in text
    assert f"Deleted participant #{town.lea_participant.id}" in text


def test_delete_account_sessions_ended(app, client, person):
    laptop = app.test_client()
    laptop.post("/auth/login", data={"email": "lea@example.org", "password": PASSWORD,
                                     "remember": "y"})
    remember = laptop.get_cookie("remember_token").value
    assert is_logged_in(laptop)
    delete_through_the_page(client, person.lea)
    assert not is_logged_in(client)
    assert not is_logged_in(laptop)
    replay = app.test_client()
    replay.set_cookie("remember_token", remember)
    assert not is_logged_in(replay)
    assert client.post("/auth/login", data={"email": "lea@example.org",
                                            "password": PASSWORD}).status_code == 422


def test_delete_account_same_email_can_register_again(client, person, db):
    delete_through_the_page(client, person.lea)
    response = client.post("/auth/register", data={
        "email": "lea@example.org", "display_name": "Léa again", "password": PASSWORD,
        "confirm": PASSWORD, "locale": "fr"})
    assert response.status_code == 302
    again = db.session.scalar(sa.select(User).where(User.email == "lea@example.org"))
    assert again is not None and again.id != person.lea.id
    # The new account starts empty: nothing of the deleted one comes back.
    login(client, again)
    assert client.get("/auth/me").status_code == 200
    data = client.post("/me/data").get_json()
    assert data["participants"] == [] and data["records"] == {}


@pytest.mark.parametrize(("data", "message"), [
    ({"password": "not my password at all", "understood": "y"}, b"password is incorrect"),
    ({"password": PASSWORD}, b"Tick this box"),
    ({"understood": "y"}, None),
    ({"password": "", "understood": "y"}, None),
    ({"password": "p" * 1290, "understood": "y"}, None),
    ({"password": "nul\x00byte", "understood": "y"}, None),
    ({}, None),
])
def test_delete_account_bad_input_changes_nothing(client, person, db, data, message):
    from tests.test_access_policy import _row_counts

    login(client, person.lea)
    before = _row_counts(db)
    response = client.post("/me/delete", data=data)
    assert response.status_code == 422
    if message:
        assert message in response.data
    db.session.expire_all()
    user = db.session.get(User, person.lea.id)
    assert user.email == "lea@example.org" and user.deleted_at is None
    assert _row_counts(db) == before
    assert is_logged_in(client)


def test_delete_account_last_admin_refused(client, factory, db):
    admin = factory.user(Role.ADMIN)
    login(client, admin, STAFF_PASSWORD)
    response = client.post("/me/delete", data={"password": STAFF_PASSWORD, "understood": "y"})
    assert response.status_code == 409
    assert b"only administrator" in response.data
    db.session.expire_all()
    assert db.session.get(User, admin.id).deleted_at is None


def test_delete_account_admin_with_another_admin(client, factory, db):
    factory.user(Role.ADMIN)
    admin = factory.user(Role.ADMIN)
    delete_through_the_page(client, admin, STAFF_PASSWORD)
    db.session.expire_all()
    user = db.session.get(User, admin.id)
    assert user.deleted_at is not None
    assert user.display_name == f"Deleted account #{admin.id}"  # no participant row


def test_delete_account_needs_fresh_login_and_login(client, factory, monkeypatch):
    from pvplatform.auth import session_policy

    assert client.post("/me/delete", data=CONFIRM).status_code == 302
    user = factory.user()
    login(client, user)
    moment = utcnow() + timedelta(minutes=11)
    monkeypatch.setattr(session_policy, "utcnow", lambda: moment)
    response = client.post("/me/delete", data=CONFIRM)
    assert response.status_code == 302 and "/auth/reauth" in response.headers["Location"]
    _db.session.expire_all()
    assert _db.session.get(User, user.id).deleted_at is None
