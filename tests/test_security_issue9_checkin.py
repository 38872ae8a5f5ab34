"""Check-in data quality (issue 9): a probable duplicate walk-in is not stored until staff say
whether it is the same person; walk-ins may give consented demographics at the desk or on
their own phone through a signed, expiring, one-time link (a QR code), for that attendance only.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Dimension,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.participation.services import participant_for
from pvplatform.sessions import services
from pvplatform.sessions.models import Attendance, MeetingFormat, Registration

TABLES = (Participant, Attendance, ParticipantAttribute, ConsentRecord, AttendanceSnapshot,
          AuditLog)
SECRET = "test-secret-key-not-for-production"


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def counts(db) -> dict[str, int]:
    db.session.expire_all()
    return {model.__tablename__: count(db, model) for model in TABLES}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def process(db, factory):
    process = factory.process()
    for position, (dimension, label, categories) in enumerate((
        ("age_band", "Age band", ("18-29", "30-44", "45-59", "60-74", "75+")),
        ("gender", "Gender", ("woman", "man", "other")),
        ("district", "District", ("centre", "north", "south")),
    )):
        db.session.add(Dimension(process_id=process.id, code=dimension, label=label,
                                 position=position))
        for category in categories:
            db.session.add(Stratum(process_id=process.id, dimension=dimension,
                                   category=category, label=f"{category} label",
                                   population_share=1 / len(categories)))
    db.session.commit()
    return process


@pytest.fixture
def meeting(factory, process):
    return factory.meeting(process, starts_at=utcnow() - timedelta(minutes=30),
                           format=MeetingFormat.IN_PERSON)


@pytest.fixture
def staff(factory):
    return factory.user("staff", name="Agent Accueil")


@pytest.fixture
def desk(client, staff, login_as, meeting):
    """Posts to the check-in of the meeting as staff."""
    login_as(staff)

    def post(data: dict):
        return client.post(f"/manage/sessions/{meeting.id}/checkin", data=data)

    return post


def walk_in(name: str, **extra) -> dict:
    return {"name": name, "kind": "citizen", "association": "", **extra}


def attendances_named(db, meeting, name: str) -> list[Attendance]:
    return list(db.session.scalars(
        sa.select(Attendance).join(Participant, Participant.id == Attendance.participant_id)
        .where(Attendance.meeting_id == meeting.id, Participant.display_name == name)))


# ---------------------------------------------------------------- (a) probable duplicates


@pytest.mark.parametrize("again", ["Éloïse Dupont", "eloise dupont", "  ELOÏSE   DUPONT ",
                                   "Eloise Dupont", "éloïsedupont"])
def test_same_name_again_warns_and_stores_nothing(db, desk, meeting, again):
    assert desk(walk_in("Éloïse Dupont")).status_code == 303
    before = counts(db)
    response = desk(walk_in(again))
    assert response.status_code == 409
    body = text(response)
    assert 'id="duplicate"' in body and "Éloïse Dupont" in body
    assert "is this the same person?" in body
    assert "Same person: store nothing new" in body
    assert "Different person: check in anyway" in body
    # The warning's second button posts the typed walk-in again, marked as another person.
    assert re.search(r'name="different_person" value="1"', body)
    assert f'<input type="hidden" name="name" value="{again}">' in body
    assert counts(db) == before


def test_a_registered_attendee_of_the_same_name_is_a_probable_duplicate_too(
        db, desk, factory, meeting):
    user = factory.user("citizen", name="Jean-Marc Lefèvre")
    registration = Registration(meeting_id=meeting.id, participant_id=participant_for(user).id)
    db.session.add(registration)
    db.session.commit()
    assert desk({"registration_id": registration.id}).status_code == 303
    before = counts(db)
    response = desk(walk_in("jean marc lefevre"))
    assert response.status_code == 409 and "Jean-Marc Lefèvre" in text(response)
    assert counts(db) == before


def test_other_names_and_other_sessions_are_no_duplicates(db, desk, factory, process, meeting,
                                                           staff):
    other = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=10),
                            format=MeetingFormat.IN_PERSON)
    services.check_in_walk_in(other, "Paul Martin", "citizen", None, by=staff, now=utcnow())
    db.session.commit()
    assert desk(walk_in("Paul Martin")).status_code == 303  # another session
    assert desk(walk_in("Paula Martin")).status_code == 303  # another name
    assert len(attendances_named(db, meeting, "Paul Martin")) == 1


def test_same_person_stores_nothing_and_keeps_the_existing_check_in(client, db, desk, meeting):
    assert desk(walk_in("Éloïse Dupont")).status_code == 303
    [existing] = attendances_named(db, meeting, "Éloïse Dupont")
    kept = (existing.id, existing.checked_in_at, existing.participant_id)
    warning = desk(walk_in("eloise dupont"))
    assert warning.status_code == 409
    assert f'name="same_person" value="{existing.id}"' in text(warning)
    before = counts(db)

    response = desk({"same_person": existing.id})
    assert response.status_code == 303
    assert counts(db) == before
    [still] = attendances_named(db, meeting, "Éloïse Dupont")
    assert (still.id, still.checked_in_at, still.participant_id) == kept
    page = text(client.get(response.headers["Location"]))
    assert "Nothing new was stored: Éloïse Dupont was already checked in" in page
    assert "that check-in is kept" in page


def test_same_person_must_name_a_check_in_of_this_session(db, desk, factory, process, meeting,
                                                          staff):
    other = factory.meeting(process, starts_at=utcnow() - timedelta(minutes=10),
                            format=MeetingFormat.IN_PERSON)
    foreign = services.check_in_walk_in(other, "Ailleurs", "citizen", None, by=staff,
                                        now=utcnow())
    db.session.commit()
    before = counts(db)
    for value in (foreign.id, 0, -1, 2**63, "x"):
        response = desk({"same_person": value})
        assert response.status_code == 422, value
    assert counts(db) == before


def test_different_person_checks_in_anyway(db, desk, meeting):
    assert desk(walk_in("Éloïse Dupont")).status_code == 303
    assert desk(walk_in("Eloise Dupont")).status_code == 409
    response = desk(walk_in("Eloise Dupont", different_person="1"))
    assert response.status_code == 303
    names = sorted(p.display_name for p in db.session.scalars(
        sa.select(Participant).where(Participant.user_id.is_(None))))
    assert names == ["Eloise Dupont", "Éloïse Dupont"]
    assert count(db, Attendance, Attendance.meeting_id == meeting.id,
                 Attendance.walk_in.is_(True)) == 2


def test_service_refuses_a_probable_duplicate_unless_told_otherwise(db, meeting, staff):
    services.check_in_walk_in(meeting, "Zoé Blanc", "citizen", None, by=staff, now=utcnow())
    with pytest.raises(services.ProbableDuplicate) as caught:
        services.check_in_walk_in(meeting, "zoe  blanc", "citizen", None, by=staff,
                                  now=utcnow())
    assert [a.participant.name for a in caught.value.duplicates] == ["Zoé Blanc"]
    services.check_in_walk_in(meeting, "zoe blanc", "citizen", None, by=staff, now=utcnow(),
                              different_person=True)
    assert count(db, Attendance) == 2


def test_name_key_ignores_case_accents_and_spaces():
    key = services.name_key
    assert key("Éloïse  Dupont-Roy") == key("eloise dupont roy") == key("ELOISEDUPONTROY")
    assert key("Ana") != key("Anna")
    assert key("---") == "---"  # a name of signs only does not match everyone


# ---------------------------------------------------------------- (b) demographics at the desk


def test_desk_form_offers_the_process_questions_with_the_paper_sheet_consent(client, staff,
                                                                              login_as, meeting):
    login_as(staff)
    body = text(client.get(f"/manage/sessions/{meeting.id}"))
    assert "The person agreed to give their demographics for this process" in body
    assert 'name="consent"' in body
    for code in ("age_band", "gender", "district"):
        assert f'name="dim_{code}"' in body
    assert "Prefer not to say" in body and "north label" in body


def test_desk_demographics_with_consent_store_attributes_consent_and_snapshot(db, desk,
                                                                              meeting):
    response = desk(walk_in("Jeanne Martin", consent="y", dim_age_band="60-74",
                            dim_gender="woman", dim_district=""))
    assert response.status_code == 303
    [attendance] = attendances_named(db, meeting, "Jeanne Martin")
    person = attendance.participant_id
    attributes = dict(db.session.execute(
        sa.select(ParticipantAttribute.dimension, ParticipantAttribute.category)
        .where(ParticipantAttribute.participant_id == person)).all())
    assert attributes == {"age_band": "60-74", "gender": "woman"}
    [consent] = db.session.scalars(sa.select(ConsentRecord)
                                   .where(ConsentRecord.participant_id == person))
    assert (consent.purpose, consent.text_version, consent.withdrawn_at) == (
        "demographics", services.DESK_CONSENT_VERSION, None)
    snapshot = dict(db.session.execute(
        sa.select(AttendanceSnapshot.dimension, AttendanceSnapshot.category)
        .where(AttendanceSnapshot.attendance_id == attendance.id)).all())
    # The indicator engine counts attendees' categories from these snapshots.
    assert snapshot == {"age_band": "60-74", "gender": "woman"}
    assert counted_attendees(meeting.process) == {("age_band", "60-74"): 1,
                                                  ("gender", "woman"): 1}


def test_desk_demographics_without_consent_store_nothing(db, desk, meeting):
    before = counts(db)
    response = desk(walk_in("Jeanne Martin", dim_age_band="60-74", dim_gender="woman"))
    assert response.status_code == 422
    assert "Tick the consent box" in text(response)
    assert counts(db) == before
    # Without answers, the walk-in is checked in and nothing else is stored.
    assert desk(walk_in("Jeanne Martin", dim_age_band="", consent="y")).status_code == 303
    assert count(db, Attendance) == 1
    assert count(db, ParticipantAttribute) == count(db, ConsentRecord) == 0
    assert count(db, AttendanceSnapshot) == 0


@pytest.mark.parametrize("bad", [{"dim_age_band": "99+"}, {"dim_gender": "x" * 200},
                                 {"dim_gender": "woman\x00"}])
def test_desk_demographics_outside_the_choices_are_refused(db, desk, bad):
    before = counts(db)
    response = desk(walk_in("Jeanne Martin", consent="y", **bad))
    assert response.status_code == 422
    assert counts(db) == before


# ---------------------------------------------------------------- (c) the phone link


@pytest.fixture
def walked_in(db, meeting, staff):
    attendance = services.check_in_walk_in(meeting, "Karim Benali", "citizen", None, by=staff,
                                           now=utcnow())
    db.session.commit()
    return attendance


def token_for(attendance, *, now=None) -> str:
    return services.walk_in_link_token(attendance, secret_key=SECRET, now=now or utcnow())


def answers(**extra) -> dict:
    return {"dim_age_band": "18-29", "dim_gender": "man", "dim_district": "north", **extra}


def counted_attendees(process) -> dict[tuple[str, str], int]:
    """What the indicator engine counts: external attendees per category (from snapshots)."""
    from pvplatform.indicators.facts import gather

    facts = gather(process.id, utcnow() + timedelta(minutes=1))
    return {(s.dimension, s.category): s.attendees for s in facts.strata if s.attendees}


def snapshot_of(db, attendance) -> dict[str, str]:
    return dict(db.session.execute(
        sa.select(AttendanceSnapshot.dimension, AttendanceSnapshot.category)
        .where(AttendanceSnapshot.attendance_id == attendance.id)).all())


def test_after_a_walk_in_staff_can_show_a_qr_code(client, db, desk, meeting):
    response = desk(walk_in("Karim Benali"))
    assert response.status_code == 303 and "walk_in=" in response.headers["Location"]
    [attendance] = attendances_named(db, meeting, "Karim Benali")
    qr_url = f"/manage/sessions/{meeting.id}/walk-ins/{attendance.id}/phone-link"
    assert qr_url in text(client.get(response.headers["Location"]))
    before = counts(db)
    page = client.get(qr_url)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    # Drawn by the server, as an SVG: no outside QR service is asked.
    assert re.search(r'<img src="data:image/svg\+xml;charset=utf-8,%3Csvg', body)
    # The link is on the configured public address, whatever Host the request came with.
    base = client.application.config["PV_BASE_URL"].rstrip("/")
    link = re.search(r'href="(' + re.escape(base) + r'/walk-in/[^"]+)"', body).group(1)
    assert counts(db) == before  # showing the code stores nothing
    assert client.get(link).status_code == 200


def test_the_qr_page_is_for_staff_only(client, db, factory, login_as, meeting, walked_in):
    url = f"/manage/sessions/{meeting.id}/walk-ins/{walked_in.id}/phone-link"
    assert "/auth/login" in client.get(url).headers.get("Location", "")
    for role in ("citizen", "elected", "evaluator", "association"):
        login_as(factory.user(role))
        assert client.get(url).status_code == 403, role
        client.post("/auth/logout")


def test_the_link_gives_demographics_once_for_that_attendance(client, db, meeting, walked_in):
    link = f"/walk-in/{token_for(walked_in)}"
    page = client.get(link)  # anonymous: no account needed
    assert page.status_code == 200
    body = text(page)
    assert meeting.title in body and 'name="consent"' in body and "Prefer not to say" in body
    assert page.headers["Cache-Control"] == "no-store"

    response = client.post(link, data=answers(consent="y"))
    assert response.status_code == 200
    assert "Your answers are saved" in text(response)
    person = walked_in.participant_id
    attributes = dict(db.session.execute(
        sa.select(ParticipantAttribute.dimension, ParticipantAttribute.category)
        .where(ParticipantAttribute.participant_id == person)).all())
    assert attributes == {"age_band": "18-29", "gender": "man", "district": "north"}
    [consent] = db.session.scalars(sa.select(ConsentRecord)
                                   .where(ConsentRecord.participant_id == person))
    assert consent.text_version == services.PHONE_CONSENT_VERSION
    assert snapshot_of(db, walked_in) == attributes
    assert counted_attendees(meeting.process) == {("age_band", "18-29"): 1,
                                                  ("gender", "man"): 1, ("district", "north"): 1}
    audit = db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "session.walk_in_demographics"))
    assert (audit.target_type, audit.target_id, audit.actor_id) == ("attendance", walked_in.id,
                                                                    None)
    assert "18-29" not in str(audit.details) and "north" not in str(audit.details)

    # Used once: refused plainly, to read as well as to change.
    before = counts(db)
    for again in (client.get(link), client.post(link, data=answers(consent="y",
                                                                   dim_gender="woman"))):
        assert again.status_code == 410
        assert "already been used" in text(again)
        assert 'name="consent"' not in text(again)
    assert counts(db) == before
    assert snapshot_of(db, walked_in)["gender"] == "man"


def test_the_link_without_consent_stores_no_answer(client, db, walked_in):
    link = f"/walk-in/{token_for(walked_in)}"
    before = counts(db)
    refused = client.post(link, data=answers())
    assert refused.status_code == 422 and "Tick the consent box" in text(refused)
    assert counts(db) == before
    # Declining (no answer, no consent) stores no answer, and spends the link.
    done = client.post(link, data={})
    assert done.status_code == 200 and "Nothing was stored" in text(done)
    assert count(db, ParticipantAttribute) == count(db, ConsentRecord) == 0
    assert count(db, AttendanceSnapshot) == 0
    assert client.get(link).status_code == 410


def test_the_link_expires_after_two_hours(client, db, walked_in):
    old = token_for(walked_in, now=utcnow() - timedelta(hours=2, minutes=1))
    before = counts(db)
    for response in (client.get(f"/walk-in/{old}"),
                     client.post(f"/walk-in/{old}", data=answers(consent="y"))):
        assert response.status_code == 410
        assert "This link has expired" in text(response)
    assert counts(db) == before
    fresh = token_for(walked_in, now=utcnow() - timedelta(hours=1, minutes=55))
    assert client.get(f"/walk-in/{fresh}").status_code == 200


def test_an_altered_or_foreign_link_is_refused(client, db, walked_in):
    token = token_for(walked_in)
    body, signature = token.rsplit(".", 1)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    forged = {
        "altered signature": f"{body}.{flipped}",
        "no signature": body,
        "garbage": "not-a-link",
        "very long": "a" * 2000,
        # Signed with the same key for another purpose (the paper sheet's confirm payload).
        "other purpose": URLSafeSerializer(SECRET, salt="pvplatform.sessions.paper-sheet")
        .dumps({"a": walked_in.id, "p": walked_in.participant_id, "e": 2**40}),
        "other key": URLSafeSerializer("another-key", salt=services.WALK_IN_LINK_SALT)
        .dumps({"a": walked_in.id, "p": walked_in.participant_id, "e": 2**40}),
    }
    before = counts(db)
    for label, bad in forged.items():
        for response in (client.get(f"/walk-in/{bad}"),
                         client.post(f"/walk-in/{bad}", data=answers(consent="y"))):
            assert response.status_code == 404, label
            assert "This link is not valid" in text(response), label
    assert counts(db) == before


def test_a_link_reaches_its_own_attendance_and_no_other(client, db, meeting, staff, factory,
                                                        walked_in):
    other = services.check_in_walk_in(meeting, "Autre Personne", "citizen", None, by=staff,
                                       now=utcnow())
    user = factory.user("citizen", name="Avec Compte")
    registered = Registration(meeting_id=meeting.id, participant_id=participant_for(user).id)
    db.session.add(registered)
    db.session.commit()
    with_account = services.check_in_registration(meeting, registered, by=staff, now=utcnow())
    db.session.commit()

    assert client.post(f"/walk-in/{token_for(walked_in)}",
                       data=answers(consent="y")).status_code == 200
    assert snapshot_of(db, other) == {} and snapshot_of(db, with_account) == {}
    assert count(db, ParticipantAttribute,
                 ParticipantAttribute.participant_id != walked_in.participant_id) == 0

    # Only walk-ins without an account get a link, and a token naming anything else is refused,
    # even when signed with the right key (the payload must match the attendance's person).
    with pytest.raises(services.InvalidState):
        token_for(with_account)
    serializer = URLSafeSerializer(SECRET, salt=services.WALK_IN_LINK_SALT)
    later = int((utcnow() + timedelta(hours=1)).timestamp())
    before = counts(db)
    for payload in ({"a": with_account.id, "p": with_account.participant_id, "e": later},
                    {"a": other.id, "p": walked_in.participant_id, "e": later},
                    {"a": other.id, "p": other.participant_id, "e": later, "x": 1},
                    {"a": str(other.id), "p": other.participant_id, "e": later},
                    {"a": 2**63, "p": other.participant_id, "e": later},
                    [other.id, other.participant_id, later]):
        response = client.post(f"/walk-in/{serializer.dumps(payload)}",
                               data=answers(consent="y"))
        assert response.status_code == 404, payload
    assert counts(db) == before


def test_an_evaluator_cannot_use_a_link(client, factory, login_as, walked_in, db):
    login_as(factory.user("evaluator"))
    link = f"/walk-in/{token_for(walked_in)}"
    before = counts(db)
    assert client.get(link).status_code == 403
    assert client.post(link, data=answers(consent="y")).status_code == 403
    assert counts(db) == before
