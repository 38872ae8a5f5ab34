"""Issue 9, finding 2: a deleted account held seats and consents.

After deletion, registrations to sessions to come stayed live (staff still expected the person,
who held a seat), the consent record stayed active and the consented demographics remained.

Decided (pvplatform/privacy/services.py, `_release_participation`, and the deletion page): the
seats of sessions not started yet are given back (registration cancelled at the deletion), every
active consent is withdrawn, the demographic answers are deleted; what the indicators already
counted stays as a pseudonymous record: past registrations and attendances, and the categories
recorded at check-in (attendance snapshots) of sessions already started. Snapshots of sessions not
started yet were never counted and go. So every figure for an instant before the deletion is
unchanged — except, as the page says, the active_* figures of someone who never attended, whose
categories came from the answers that consent covered.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.indicators import compute_indicators
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.demographics import CONSENT_PURPOSE, CONSENT_TEXT_VERSION
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.participation.services import participant_for
from pvplatform.proposals.models import Proposal, ProposalState, Vote
from pvplatform.sessions import services as sessions
from pvplatform.sessions.models import Attendance, Registration
from tests.conftest import PASSWORD, FreshGlobalsClient, login

AGES = (("18-29", 0.3), ("30-59", 0.5), ("60+", 0.2))


class Town:
    """Léa attended a past session, is registered for one starting within the hour (full: two
    seats), checked in early at one starting in 90 minutes, has given consent and answers."""

    def __init__(self, factory) -> None:
        now = utcnow()
        self.process = factory.process()
        pid = self.process.id
        for category, share in AGES:
            _db.session.add(Stratum(process_id=pid, dimension="age_band", category=category,
                                    population_share=share))
        self.past = factory.meeting(self.process, starts_at=now - timedelta(days=10))
        self.soon = factory.meeting(self.process, starts_at=now + timedelta(hours=1), capacity=2)
        self.early = factory.meeting(self.process, starts_at=now + timedelta(minutes=90))
        self.lea = factory.user(email="lea@example.org", name="Léa Martin")
        self.other = factory.user(name="Paul Durand")
        self.staff = factory.user(Role.STAFF)
        self.newcomer = factory.user(name="Nina Petit")
        lea = self.lea_participant = participant_for(self.lea)
        paul = participant_for(self.other)
        walk_ins = [Participant(kind="citizen", display_name=f"Walk-in {n}") for n in range(4)]
        _db.session.add_all(walk_ins)
        _db.session.flush()
        ages = ["18-29", "30-59", "60+", "30-59", "18-29", "60+"]
        for person, age in zip([lea, paul, *walk_ins], ages, strict=True):
            _db.session.add(ParticipantAttribute(participant_id=person.id, dimension="age_band",
                                                 category=age))
            _db.session.add(Registration(meeting_id=self.past.id, participant_id=person.id,
                                         registered_at=self.past.starts_at - timedelta(days=3)))
            attendance = Attendance(meeting_id=self.past.id, participant_id=person.id,
                                    mode="in_person", checked_in_at=self.past.starts_at)
            _db.session.add(attendance)
            _db.session.flush()
            _db.session.add(AttendanceSnapshot(attendance_id=attendance.id,
                                               dimension="age_band", category=age))
        self.lea_past_registration = _db.session.scalar(sa.select(Registration).where(
            Registration.meeting_id == self.past.id, Registration.participant_id == lea.id))
        self.lea_soon = Registration(meeting_id=self.soon.id, participant_id=lea.id,
                                     registered_at=now - timedelta(days=1))
        _db.session.add_all([
            self.lea_soon,
            Registration(meeting_id=self.soon.id, participant_id=paul.id,
                         registered_at=now - timedelta(days=1)),
            Registration(meeting_id=self.early.id, participant_id=lea.id,
                         registered_at=now - timedelta(days=1)),
            ConsentRecord(participant_id=lea.id, purpose=CONSENT_PURPOSE,
                          given_at=now - timedelta(days=20), text_version=CONSENT_TEXT_VERSION),
        ])
        # Checked in early (check-in opens two hours before): a session nobody has counted yet.
        early = Attendance(meeting_id=self.early.id, participant_id=lea.id, mode="in_person",
                           checked_in_at=now - timedelta(minutes=5))
        _db.session.add(early)
        _db.session.flush()
        _db.session.add(AttendanceSnapshot(attendance_id=early.id, dimension="age_band",
                                           category="18-29"))
        self.lea_early_attendance = early
        proposal = Proposal(process_id=pid, author_id=paul.id, title="Des bancs", body="...",
                            state=ProposalState.PUBLISHED, published_at=now - timedelta(days=5))
        _db.session.add(proposal)
        _db.session.flush()
        _db.session.add(Vote(proposal_id=proposal.id, participant_id=lea.id, value=1,
                             cast_at=now - timedelta(days=4)))
        _db.session.commit()
        self.before_deletion = utcnow()


def count(model, *where) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def delete_lea(client, town: Town) -> None:
    login(client, town.lea)
    response = client.post("/me/delete", data={"password": PASSWORD, "understood": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    _db.session.expire_all()


def test_deletion_frees_future_seats_and_keeps_the_past(client, factory, db):
    town = Town(factory)
    lea_id = town.lea_participant.id
    past_before = (town.lea_past_registration.registered_at,
                   town.lea_past_registration.cancelled_at)
    assert sessions.capacity_left(town.soon) == 0
    delete_lea(client, town)

    # The seat of the session to come is free again, and someone else takes it.
    soon = db.session.get(Registration, town.lea_soon.id)
    assert soon.cancelled_at is not None
    assert sessions.live_registration_count(town.soon.id) == 1
    assert sessions.capacity_left(town.soon) == 1
    newcomer = FreshGlobalsClient(client.application, client.application.response_class)
    login(newcomer, town.newcomer)
    assert newcomer.post(f"/sessions/{town.soon.id}/register").status_code == 303
    assert count(Registration, Registration.meeting_id == town.early.id,
                 Registration.participant_id == lea_id, Registration.cancelled_at.is_(None)) == 0
    # Registrations of sessions already started are history: unchanged.
    past = db.session.get(Registration, town.lea_past_registration.id)
    assert (past.registered_at, past.cancelled_at) == past_before
    # Attendances all stay (pseudonymous); so does the snapshot of the one already counted.
    assert count(Attendance, Attendance.participant_id == lea_id) == 2
    lea_attendances = sa.select(Attendance.id).where(Attendance.participant_id == lea_id)
    kept = db.session.scalars(sa.select(AttendanceSnapshot.attendance_id).where(
        AttendanceSnapshot.attendance_id.in_(lea_attendances))).all()
    assert kept and town.lea_early_attendance.id not in kept
    assert count(Attendance, Attendance.meeting_id == town.past.id,
                 Attendance.participant_id == lea_id) == 1
    # Consent withdrawn (the record stays, as proof), answers gone.
    consent = db.session.scalars(sa.select(ConsentRecord)
                                 .where(ConsentRecord.participant_id == lea_id)).one()
    assert consent.withdrawn_at is not None
    assert count(ParticipantAttribute, ParticipantAttribute.participant_id == lea_id) == 0
    # Other people's records are untouched.
    assert count(ParticipantAttribute) == 5
    assert count(Registration, Registration.cancelled_at.is_not(None)) == 2
    # The deletion is audited with what it gave up (counts, no demographic value).
    audit = db.session.scalars(sa.select(AuditLog)
                               .where(AuditLog.action == "account.delete")).one()
    assert audit.details == {"participant_id": lea_id, "registrations_cancelled": 2,
                             "consents_withdrawn": 1, "attributes_deleted": 1,
                             "snapshots_deleted": 1}
    assert "18-29" not in str(audit.details)


def test_staff_no_longer_expect_the_deleted_person(app, client, factory, db):
    town = Town(factory)
    staff = FreshGlobalsClient(app, app.response_class)
    login(staff, town.staff)
    page = staff.get(f"/manage/sessions/{town.soon.id}").get_data(as_text=True)
    assert "2 / 2" in page
    assert f'name="registration_id" value="{town.lea_soon.id}"' in page  # a check-in button

    delete_lea(client, town)
    page = staff.get(f"/manage/sessions/{town.soon.id}").get_data(as_text=True)
    assert "1 / 2" in page and "1 seats left" in page
    # Not expected any more: no check-in button, the row says cancelled, with no name.
    assert f'name="registration_id" value="{town.lea_soon.id}"' not in page
    assert "Léa" not in page and "L&#39;a" not in page
    row = page.split(f"Deleted participant #{town.lea_participant.id}", 1)[1].split("</tr>")[0]
    assert "Cancelled on" in row
    listing = staff.get(f"/manage/processes/{town.process.id}/sessions").get_data(as_text=True)
    assert "1 / 2" in listing


def test_figures_before_the_deletion_do_not_change(client, factory, db):
    town = Town(factory)
    at = town.before_deletion
    before = compute_indicators(town.process.id, at)
    values = {(r.code, r.group, r.dimension): r.value for r in before if not r.category}
    assert values[("attendees", "all", "")] == 6 and values[("known_share", "", "age_band")] == 1
    delete_lea(client, town)
    assert compute_indicators(town.process.id, at) == before

    # The comparison has teeth: without Léa's snapshot of the past session the figures move.
    lea_attendances = sa.select(Attendance.id).where(
        Attendance.participant_id == town.lea_participant.id)
    db.session.execute(sa.delete(AttendanceSnapshot).where(
        AttendanceSnapshot.attendance_id.in_(lea_attendances)))
    assert compute_indicators(town.process.id, at) != before
    db.session.rollback()


def test_the_one_exception_said_on_the_page(client, factory, db):
    """Someone who voted without ever attending had the categories of their answers in the
    active_* figures; those answers are deleted, so there they count as unknown."""
    town = Town(factory)
    voter = factory.user(email="marc@example.org")
    participant = participant_for(voter)
    _db.session.add(ParticipantAttribute(participant_id=participant.id, dimension="age_band",
                                         category="60+"))
    proposal = _db.session.scalars(sa.select(Proposal)).one()
    _db.session.add(Vote(proposal_id=proposal.id, participant_id=participant.id, value=1,
                         cast_at=utcnow() - timedelta(days=1)))
    _db.session.commit()
    at = utcnow()

    def figures(prefix: str):
        return {(r.code, r.category): r.value for r in compute_indicators(town.process.id, at)
                if r.code.startswith(prefix)}

    attendees, active = figures("representation"), figures("active_")
    login(client, voter)
    assert client.post("/me/delete", data={"password": PASSWORD, "understood": "y"}
                       ).status_code == 302
    _db.session.expire_all()
    assert figures("representation") == attendees
    assert figures("active_") != active


def test_the_page_says_what_is_deleted_what_is_kept_and_why(client, factory):
    town = Town(factory)
    login(client, town.lea)
    page = client.get("/me/delete").get_data(as_text=True).replace("&#34;", '"')
    deleted, kept = page.split("What is kept", 1)
    assert "What is deleted" in deleted
    assert "sessions that have not started yet" in deleted and "seats" in deleted
    assert "consents are withdrawn" in deleted and "demographic questions" in deleted
    for kept_item in ("votes, proposals and comments", "answers to surveys",
                      "registrations and attendances of sessions that have already started",
                      "categories recorded when you were checked in",
                      "consents you gave"):
        assert kept_item in kept, kept_item
    assert "these figures do not change" in kept
    assert "count there as \"unknown\"" in kept
    assert "/me/demographics" in kept  # how to have the check-in categories deleted too


def test_an_account_without_participation_is_deleted_as_before(client, factory, db):
    admin = factory.user(Role.ADMIN)
    factory.user(Role.ADMIN)
    login(client, admin)
    page = client.get("/me/delete").get_data(as_text=True)
    assert "/me/demographics" not in page  # not a participant: nothing to withdraw there
    from tests.conftest import STAFF_PASSWORD

    response = client.post("/me/delete", data={"password": STAFF_PASSWORD, "understood": "y"})
    assert response.status_code == 302
    _db.session.expire_all()
    assert db.session.get(User, admin.id).deleted_at is not None
    audit = db.session.scalars(sa.select(AuditLog)
                               .where(AuditLog.action == "account.delete")).one()
    assert audit.details["participant_id"] is None
    assert audit.details["registrations_cancelled"] == 0
