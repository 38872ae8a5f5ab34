"""Download my data carries my survey answers in words (value code and name, wave, session of a
pulse, score, empty for "don't know", when) and my suggestions after sessions; nobody else's."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.feedback import surveys
from pvplatform.feedback.models import PublicValue, SessionPulse, Wave, pulse_values
from tests.conftest import login

MINUTE = timedelta(minutes=1)


def download(client) -> dict:
    response = client.post("/me/data")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return json.loads(response.get_data(as_text=True))


def test_my_data_carries_my_perceptions_and_pulse_suggestions(app, factory):
    process = factory.process(title="Agenda Villeneuve")
    trust = PublicValue(process_id=process.id, code="trust", name="Confiance",
                        name_en="Trust", statement="J'ai confiance.", position=1)
    equity = PublicValue(process_id=process.id, code="equity", name="Équité", position=2)
    db.session.add_all([trust, equity])
    db.session.commit()
    staff = factory.user(Role.STAFF)
    meeting = factory.meeting(process, title="Atelier mobilités",
                              starts_at=utcnow() - timedelta(days=1))
    me, other = factory.user(name="Me"), factory.user(name="Other")
    mine, theirs = factory.participant(me), factory.participant(other)
    surveys.open_wave(process, Wave.BASELINE, by=staff, now=utcnow() - 5 * MINUTE)
    pulse = SessionPulse(meeting_id=meeting.id, sent_at=utcnow() - 5 * MINUTE,
                         closes_at=utcnow() + timedelta(days=3))
    db.session.add(pulse)
    db.session.flush()
    db.session.execute(pulse_values.insert(), [
        {"pulse_id": pulse.id, "public_value_id": trust.id, "position": 1}])
    for person in (mine, theirs):
        surveys.offer(process, person, Wave.BASELINE, now=utcnow() - 4 * MINUTE)
        surveys.offer(process, person, Wave.SESSION, now=utcnow() - 4 * MINUTE,
                      meeting=meeting)
    db.session.commit()

    for user, scores, text in ((me, ("2", "dk", "5"), "MY-SUGGESTION"),
                               (other, ("1", "1", "1"), "OTHER-SUGGESTION")):
        client = app.test_client()
        login(client, user)
        assert client.post(f"/processes/{process.id}/survey/baseline", data={
            f"value-{trust.id}": scores[0], f"value-{equity.id}": scores[1]}).status_code == 303
        assert client.post(f"/processes/{process.id}/survey/baseline", data={
            f"value-{trust.id}": "4", f"value-{equity.id}": scores[1]}).status_code == 303
        assert client.post(f"/sessions/{meeting.id}/pulse", data={
            f"value-{trust.id}": scores[2], "comment": text}).status_code == 303

    client = app.test_client()
    login(client, me)
    data = download(client)
    text = json.dumps(data, ensure_ascii=False)
    assert "OTHER-SUGGESTION" not in text
    perceptions = data["survey_answers"]["perceptions"]
    # Every answer, earlier ones too, in time order; "don't know" with an empty score.
    assert [(p["value_code"], p["value_name"], p["wave"], p["session_title"], p["score"],
             p["dont_know"]) for p in perceptions] == [
        ("trust", "Confiance", "baseline", None, 2, False),
        ("equity", "Équité", "baseline", None, None, True),
        ("trust", "Confiance", "baseline", None, 4, False),
        ("trust", "Confiance", "session", "Atelier mobilités", 5, False)]
    assert all(p["answered_at"] and p["process"] == "Agenda Villeneuve" for p in perceptions)
    assert perceptions[0]["value_name_en"] == "Trust"
    assert [(s["session_title"], s["text"]) for s in data["survey_answers"][
        "pulse_suggestions"]] == [("Atelier mobilités", "MY-SUGGESTION")]
    # The rows themselves, by id, are there too, and only mine.
    records = data["records"]
    assert {r["participant_id"] for r in records["perceptions"]} == {mine.id}
    assert [r["text"] for r in records["pulse_comments"]] == ["MY-SUGGESTION"]
    assert len(records["perceptions"]) == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(
        db.metadata.tables["perceptions"])) == 8


def test_my_data_without_any_answer_has_empty_survey_lists(app, factory):
    user = factory.user(Role.EVALUATOR)
    client = app.test_client()
    login(client, user)
    assert download(client)["survey_answers"] == {"perceptions": [], "pulse_suggestions": []}
    citizen = factory.user()
    factory.participant(citizen)
    client = app.test_client()
    login(client, citizen)
    assert download(client)["survey_answers"] == {"perceptions": [], "pulse_suggestions": []}
