"""A person's own demographics: consent, prefer not to say, change, withdrawal, and the ask after
registering. Tests read the tables."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.demographics import CONSENT_PURPOSE, CONSENT_TEXT_VERSION
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Dimension,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.participation.services import participant_for
from pvplatform.sessions import services as sessions

URL = "/me/demographics"


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _with_strata(db, process, dims=None) -> None:
    dims = dims or {"age_band": ("18-29", "30-44", "75+"), "gender": ("woman", "man", "other")}
    for position, (code, categories) in enumerate(dims.items()):
        db.session.add(Dimension(process_id=process.id, code=code, label=f"Q {code}",
                                 position=position))
        for category in categories:
            db.session.add(Stratum(process_id=process.id, dimension=code, category=category,
                                   label=f"L {category}",
                                   population_share=1 / len(categories)))
    db.session.commit()


@pytest.fixture
def process(db, factory):
    process = factory.process()
    _with_strata(db, process)
    return process


@pytest.fixture
def citizen(db, factory, login_as):
    user = factory.user("citizen")
    login_as(user)
    return user


def _attributes(db, participant_id: int) -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(
        sa.select(ParticipantAttribute.dimension, ParticipantAttribute.category)
        .where(ParticipantAttribute.participant_id == participant_id)
        .order_by(ParticipantAttribute.dimension)).all())


def _snapshots(db, attendance_id: int) -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(
        sa.select(AttendanceSnapshot.dimension, AttendanceSnapshot.category)
        .where(AttendanceSnapshot.attendance_id == attendance_id)
        .order_by(AttendanceSnapshot.dimension)).all())


def _answer(client, consent: bool = True, **answers: str):
    data = {f"dim_{k}": v for k, v in answers.items()}
    if consent:
        data["consent"] = "y"
    return client.post(URL, data=data)


def _checked_in(db, factory, process, user):
    """A past-ish attendance of `user`, checked in through the session services."""
    staff = factory.user("staff")
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1))
    person = participant_for(user)
    registration = sessions.register(meeting, person,
                                     now=meeting.starts_at - timedelta(days=2))
    attendance = sessions.check_in_registration(meeting, registration, by=staff, now=utcnow())
    db.session.commit()
    return attendance


# ---------------------------------------------------------------- the page

def test_page_explains_and_offers_prefer_not_to_say(db, client, process, citizen):
    response = client.get(URL)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("representativeness", "Only totals are shown", "staff never see individual",
                 "Taking part never depends on it", "Withdrawing deletes",
                 "Q age_band", "L 30-44", "Prefer not to say", 'name="consent"'):
        assert text in page, text
    assert page.count("Prefer not to say</option>") == 2
    assert "checked" not in page.split('name="consent"')[1][:80]  # never pre-ticked


def test_page_without_questions_shows_an_empty_state(db, client, factory, citizen):
    factory.process()
    page = client.get(URL).get_data(as_text=True)
    assert "No question at the moment" in page


def test_anonymous_is_sent_to_login(db, client, process):
    response = client.get(URL)
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
    response = client.post(URL, data={"dim_gender": "woman", "consent": "y"})
    assert response.status_code in (302, 303)
    assert _count(db, ParticipantAttribute) == 0


@pytest.mark.parametrize("role", ["evaluator", "admin"])
def test_roles_without_participation_get_403(db, client, factory, login_as, process, role):
    login_as(factory.user(role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"dim_gender": "woman", "consent": "y"}).status_code == 403
    assert client.post(URL + "/withdraw").status_code == 403
    assert _count(db, ParticipantAttribute) == 0


# ---------------------------------------------------------------- consent

def test_answers_with_consent_are_stored(db, client, process, citizen):
    response = _answer(client, age_band="30-44", gender="woman")
    assert response.status_code == 303
    person = participant_for(citizen)
    assert _attributes(db, person.id) == {"age_band": "30-44", "gender": "woman"}
    rows = db.session.scalars(sa.select(ParticipantAttribute)).all()
    assert all(r.consented_at is not None and r.updated_at is not None for r in rows)
    record = db.session.scalar(sa.select(ConsentRecord))
    assert (record.participant_id, record.purpose, record.text_version, record.withdrawn_at) == (
        person.id, CONSENT_PURPOSE, CONSENT_TEXT_VERSION, None)
    # The page shows them back to their owner.
    page = client.get(URL).get_data(as_text=True)
    assert 'value="30-44" selected' in page or 'selected value="30-44"' in page


def test_without_consent_nothing_is_stored(db, client, process, citizen):
    response = _answer(client, consent=False, age_band="30-44", gender="woman")
    assert response.status_code == 422
    assert "Tick the consent box" in response.get_data(as_text=True)
    assert _count(db, ParticipantAttribute) == 0
    assert _count(db, ConsentRecord) == 0


def test_consent_value_other_than_ticked_is_not_consent(db, client, process, citizen):
    response = client.post(URL, data={"dim_gender": "woman", "consent": ""})
    assert response.status_code == 422
    assert _count(db, ParticipantAttribute) == 0


def test_prefer_not_to_say_everywhere_stores_nothing(db, client, process, citizen):
    for consent in (True, False):
        response = _answer(client, consent=consent, age_band="", gender="")
        assert response.status_code == 303
    assert _count(db, ParticipantAttribute) == 0
    assert _count(db, ConsentRecord) == 0


def test_prefer_not_to_say_on_one_question_stores_only_the_other(db, client, process, citizen):
    _answer(client, age_band="", gender="other")
    assert _attributes(db, participant_for(citizen).id) == {"gender": "other"}


@pytest.mark.parametrize("answers", [
    {"gender": "robot"},                  # not a category of the process
    {"gender": "woman", "age_band": "99+"},
    {"gender": "prefer_not_to_say"},      # never a category
    {"age_band": "x" * 500},
])
def test_answers_outside_the_choices_are_refused(db, client, process, citizen, answers):
    response = _answer(client, **answers)
    assert response.status_code == 422
    assert _count(db, ParticipantAttribute) == 0
    assert _count(db, ConsentRecord) == 0


def test_categories_of_another_process_are_refused(db, client, factory, process, citizen):
    # An older, finished process asked other districts: they are not choices now.
    old = factory.process(title="Ancien", today=utcnow().date() - timedelta(days=2000))
    _with_strata(db, old, {"district": ("old_town",)})
    assert _answer(client, district="old_town").status_code in (303, 422)
    assert _count(db, ParticipantAttribute) == 0


def test_questions_union_running_processes(db, client, factory, process, citizen):
    newer = factory.process(title="Nouveau")
    newer.starts_on = process.starts_on + timedelta(days=1)
    db.session.commit()
    _with_strata(db, newer, {"gender": ("f", "m"), "district": ("centre", "east")})
    page = client.get(URL).get_data(as_text=True)
    # gender comes from the most recent process; age_band from the other one.
    assert "L f" in page and "L woman" not in page
    assert "L centre" in page and "L 30-44" in page
    assert _answer(client, gender="woman").status_code == 422
    assert _answer(client, gender="f", age_band="75+", district="east").status_code == 303
    assert _attributes(db, participant_for(citizen).id) == {
        "age_band": "75+", "district": "east", "gender": "f"}


# ---------------------------------------------------------------- change and snapshots

def test_change_updates_attributes_but_not_past_snapshots(db, client, factory, process, citizen):
    _answer(client, age_band="18-29", gender="woman")
    attendance = _checked_in(db, factory, process, citizen)
    assert _snapshots(db, attendance.id) == {"age_band": "18-29", "gender": "woman"}

    response = _answer(client, age_band="30-44", gender="")
    assert response.status_code == 303
    person = participant_for(citizen)
    assert _attributes(db, person.id) == {"age_band": "30-44"}
    assert _snapshots(db, attendance.id) == {"age_band": "18-29", "gender": "woman"}
    row = db.session.scalar(sa.select(ParticipantAttribute))
    assert row.updated_at >= row.consented_at
    # Consent was already given for this text: no second record.
    assert _count(db, ConsentRecord) == 1


def test_withdrawal_deletes_attributes_and_snapshots(db, client, factory, process, citizen):
    _answer(client, age_band="18-29", gender="woman")
    attendance = _checked_in(db, factory, process, citizen)
    # Someone else's data stays.
    other_user = factory.user("citizen")
    other = participant_for(other_user)
    db.session.add(ParticipantAttribute(participant_id=other.id, dimension="gender",
                                        category="man"))
    other_attendance = _checked_in(db, factory, process, other_user)
    db.session.commit()
    assert _snapshots(db, other_attendance.id) == {"gender": "man"}

    response = client.post(URL + "/withdraw")
    assert response.status_code == 303
    person = participant_for(citizen)
    assert _attributes(db, person.id) == {}
    assert _snapshots(db, attendance.id) == {}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AttendanceSnapshot)) == 1
    assert _attributes(db, other.id) == {"gender": "man"}
    record = db.session.scalar(sa.select(ConsentRecord).where(
        ConsentRecord.participant_id == person.id))
    assert record.withdrawn_at is not None
    # The attendance itself stays (taking part is not undone).
    from pvplatform.sessions.models import Attendance

    assert db.session.get(Attendance, attendance.id) is not None
    # Giving consent again is a new record.
    _answer(client, gender="man")
    records = db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert len(records) == 2 and records[1].withdrawn_at is None


def test_withdraw_without_anything_is_harmless(db, client, process, citizen):
    response = client.post(URL + "/withdraw")
    assert response.status_code == 303
    assert _count(db, ConsentRecord) == 0


def test_withdraw_is_offered_only_when_there_is_something(db, client, process, citizen):
    assert "/me/demographics/withdraw" not in client.get(URL).get_data(as_text=True)
    _answer(client, gender="woman")
    assert "/me/demographics/withdraw" in client.get(URL).get_data(as_text=True)


# ---------------------------------------------------------------- privacy

def test_reading_my_answers_is_audited_without_values(db, client, process, citizen):
    _answer(client, gender="woman")
    client.get(URL)
    rows = db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "demographics.read")).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.actor_id == citizen.id
    assert (row.target_type, row.target_id) == ("participant", participant_for(citizen).id)
    assert "woman" not in str(row.details)


def test_nobody_else_sees_my_answers(db, client, factory, login_as, process, citizen):
    _answer(client, gender="other", age_band="75+")
    client.post("/auth/logout")
    for role in ("citizen", "staff", "admin"):
        login_as(factory.user(role))
        for url in (URL, f"/manage/processes/{process.id}/demographics",
                    f"/manage/processes/{process.id}/reference", "/auth/me"):
            body = client.get(url).get_data(as_text=True)
            assert 'value="75+" selected' not in body
            assert 'selected value="75+"' not in body
        client.post("/auth/logout")
    # No route takes a participant id.
    from flask import current_app

    for rule in current_app.url_map.iter_rules():
        if rule.endpoint.startswith("participation."):
            assert not {"participant_id", "user_id"} & set(rule.arguments), rule


def test_bad_next_stays_on_the_site(db, client, process, citizen):
    response = client.post(URL, data={"dim_gender": "woman", "consent": "y",
                                      "next": "https://evil.example/"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(URL)
    response = client.post(URL, data={"dim_gender": "woman", "consent": "y",
                                      "next": "/x" * 400})
    assert response.status_code == 422


# ---------------------------------------------------------------- asked after registering

def test_registration_leads_to_the_question_once(db, client, factory, process, citizen):
    meeting = factory.meeting(process)
    response = client.post(f"/sessions/{meeting.id}/register")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(URL + "?next=")
    assert location.split("?next=", 1)[1].replace("%2F", "/") == f"/sessions/{meeting.id}"
    page = client.get(location).get_data(as_text=True)
    assert "Would you tell us a little about yourself?" in page
    assert f'value="/sessions/{meeting.id}"' in page
    response = client.post(URL, data={"dim_gender": "woman", "consent": "y",
                                      "next": f"/sessions/{meeting.id}"})
    assert response.headers["Location"].endswith(f"/sessions/{meeting.id}")
    second = factory.meeting(process)
    response = client.post(f"/sessions/{second.id}/register")
    assert response.headers["Location"].endswith(f"/sessions/{second.id}")


def test_registration_does_not_ask_after_a_withdrawal(db, client, factory, process, citizen):
    _answer(client, gender="woman")
    client.post(URL + "/withdraw")
    meeting = factory.meeting(process)
    response = client.post(f"/sessions/{meeting.id}/register")
    assert response.headers["Location"].endswith(f"/sessions/{meeting.id}")


def test_registration_does_not_ask_when_nothing_is_asked(db, client, factory, citizen):
    bare = factory.process(title="Sans questions")
    meeting = factory.meeting(bare)
    response = client.post(f"/sessions/{meeting.id}/register")
    assert response.headers["Location"].endswith(f"/sessions/{meeting.id}")


def test_my_space_links_to_the_page(db, client, process, citizen):
    assert URL in client.get("/auth/me").get_data(as_text=True)
