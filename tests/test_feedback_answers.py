"""Answering surveys through the pages: every kind of participant answers the baseline and the
final for themselves, the latest answer counts, nobody reads or changes anyone else's answers,
evaluators and anonymous visitors answer nothing, closed surveys take nothing, and bad input is
refused without storing anything."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.feedback import answers, links, surveys
from pvplatform.feedback.models import (
    Perception,
    PublicValue,
    PulseComment,
    SessionPulse,
    SurveyInvitation,
    Wave,
    pulse_values,
)
from pvplatform.indicators.engine import compute_indicators
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.participation.models import Participant
from tests.conftest import login

MINUTE = timedelta(minutes=1)


# ---------------------------------------------------------------- data built directly

def catalogue(process, codes=("trust", "equity", "transparency")) -> list[PublicValue]:
    """The values in the order they are asked; created in the reverse order, so that the page
    follows the positions, not the ids."""
    values = [PublicValue(process_id=process.id, code=code, name=f"FR-{code}",
                          name_en=f"EN-{code}", statement=f"Énoncé {code}.",
                          statement_en=f"Statement {code}.", position=i)
              for i, code in reversed(list(enumerate(codes)))]
    db.session.add_all(values)
    db.session.commit()
    return sorted(values, key=lambda v: v.position)


def open_wave(process, wave, *, at=None) -> None:
    staff = db.session.scalar(sa.select(User).where(User.role == Role.STAFF).order_by(User.id))
    surveys.open_wave(process, wave, by=staff, now=at or utcnow() - 5 * MINUTE)
    db.session.commit()


def offered(process, participant, wave, *, meeting=None, at=None) -> None:
    surveys.offer(process, participant, wave, now=at or utcnow() - 4 * MINUTE, meeting=meeting)
    db.session.commit()


def pulse(meeting, values, *, closes_in=timedelta(days=7)) -> SessionPulse:
    now = utcnow()
    row = SessionPulse(meeting_id=meeting.id, sent_at=now - 5 * MINUTE, closes_at=now + closes_in)
    db.session.add(row)
    db.session.flush()
    # Positions given against the ids' order: the page follows the positions.
    db.session.execute(pulse_values.insert(), [
        {"pulse_id": row.id, "public_value_id": v.id, "position": 10 - i}
        for i, v in enumerate(reversed(values))])
    db.session.commit()
    return row


def stored(participant_id: int | None = None) -> list[tuple]:
    db.session.expire_all()
    statement = sa.select(Perception.participant_id, Perception.public_value_id, Perception.wave,
                          Perception.meeting_id, Perception.score).order_by(Perception.id)
    if participant_id is not None:
        statement = statement.where(Perception.participant_id == participant_id)
    return [tuple(r) for r in db.session.execute(statement)]


def wave_url(process, wave="baseline") -> str:
    return f"/processes/{process.id}/survey/{wave}"


def field(value) -> str:
    return f"value-{value.id}"


def client_for(app, user):
    c = app.test_client()
    login(c, user)
    return c


def checked_values(html: str) -> set[tuple[str, str]]:
    """(field name, value) of every radio button shown chosen."""
    found = set()
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="radio"' in tag and "checked" in tag:
            name = re.search(r'name="([^"]+)"', tag).group(1)
            value = re.search(r'value="([^"]+)"', tag).group(1)
            found.add((name, value))
    return found


@pytest.fixture
def setting(factory):
    process = factory.process()
    values = catalogue(process)
    factory.user(Role.STAFF, name="Opening Staff")
    return process, values


def _mean(process, code: str, group: str, indicator: str = "perception_baseline"):
    rows = compute_indicators(process.id, utcnow())
    [row] = [r for r in rows if r.code == indicator and r.public_value == code
             and r.group == group]
    return row.value, row.n


# ---------------------------------------------------------------- every kind, both waves

@pytest.mark.parametrize("role,kind,group", [
    (Role.CITIZEN, "citizen", "external"),
    (Role.ASSOCIATION, "association", "external"),
    (Role.STAFF, "manager", "internal"),
    (Role.ELECTED, "elected", "internal"),
])
def test_each_kind_answers_baseline_and_final_through_the_pages(app, factory, setting, role,
                                                                kind, group):
    process, (first, second, third) = setting
    association = factory.association() if role == Role.ASSOCIATION else None
    user = factory.user(role, association=association)
    person = factory.participant(user)
    assert person.kind == kind
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    client = client_for(app, user)

    page = client.get(wave_url(process))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # One fieldset per question, in catalogue order, in the reader's language.
    assert [m for m in re.findall(r"<legend>([^<]+)</legend>", html)] == [
        "Statement trust.", "Statement equity.", "Statement transparency."]
    assert "0 of 3 questions answered" in html
    assert page.headers["Cache-Control"] == "no-store"

    saved = client.post(wave_url(process), data={field(first): "2", field(second): "dk",
                                                 field(third): "5"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(wave_url(process))
    follow = client.get(saved.headers["Location"])
    assert ("Your answers are saved. You can change them until the survey closes."
            in follow.get_data(as_text=True))
    assert "3 of 3 questions answered" in follow.get_data(as_text=True)
    assert checked_values(follow.get_data(as_text=True)) == {
        (field(first), "2"), (field(second), "dk"), (field(third), "5")}
    assert stored(person.id) == [
        (person.id, first.id, Wave.BASELINE, None, 2),
        (person.id, second.id, Wave.BASELINE, None, None),
        (person.id, third.id, Wave.BASELINE, None, 5)]

    # The final wave, later in the process: the same questions, answered the same way.
    staff = db.session.scalar(sa.select(User).where(User.role == Role.STAFF).order_by(User.id))
    surveys.close_wave(process, Wave.BASELINE, by=staff, now=utcnow() - 3 * MINUTE)
    db.session.commit()
    open_wave(process, Wave.FINAL, at=utcnow() - 2 * MINUTE)
    offered(process, person, Wave.FINAL, at=utcnow() - 2 * MINUTE)
    assert client.post(wave_url(process, "final"),
                       data={field(first): "4", field(second): "3"}).status_code == 303
    assert stored(person.id)[3:] == [
        (person.id, first.id, Wave.FINAL, None, 4),
        (person.id, second.id, Wave.FINAL, None, 3)]
    assert _mean(process, "trust", group, "perception_delta") == (2.0, 1)


def test_changing_an_answer_adds_a_row_and_the_latest_counts(app, factory, setting):
    process, (first, second, _third) = setting
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    client = client_for(app, user)

    assert client.post(wave_url(process), data={field(first): "2",
                                                field(second): "4"}).status_code == 303
    assert _mean(process, "trust", "external") == (2.0, 1)
    # Changing one answer only: one new row, the unchanged one is not written again.
    assert client.post(wave_url(process), data={field(first): "5",
                                                field(second): "4"}).status_code == 303
    rows = stored(person.id)
    assert [(r[1], r[4]) for r in rows] == [(first.id, 2), (second.id, 4), (first.id, 5)]
    assert _mean(process, "trust", "external") == (5.0, 1)
    # The earlier answer stays for figures "as of" before the change.
    times = sorted(db.session.scalars(sa.select(Perception.answered_at)
                                      .where(Perception.public_value_id == first.id)))
    earlier = [r for r in compute_indicators(process.id, times[0])
               if r.code == "perception_baseline" and r.public_value == "trust"
               and r.group == "external"]
    assert earlier[0].value == 2.0
    # A later "don't know" replaces the score: a respondent without a score.
    assert client.post(wave_url(process), data={field(first): "dk"}).status_code == 303
    assert stored(person.id)[-1][4] is None
    assert _mean(process, "trust", "external") == (None, 0)
    assert _mean(process, "equity", "external") == (4.0, 1)


def test_unanswered_questions_stay_unanswered_and_can_be_finished_later(app, factory, setting):
    process, (first, second, third) = setting
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    client = client_for(app, user)

    assert client.post(wave_url(process), data={field(second): "3"}).status_code == 303
    assert [(r[1], r[4]) for r in stored(person.id)] == [(second.id, 3)]
    page = client.get(wave_url(process)).get_data(as_text=True)
    assert "1 of 3 questions answered" in page
    # Posting the page again as shown (the chosen answer kept, the rest still blank) adds nothing.
    assert client.post(wave_url(process), data={field(second): "3"}).status_code == 303
    assert len(stored(person.id)) == 1
    assert client.post(wave_url(process), data={field(first): "1", field(second): "3",
                                                field(third): "dk"}).status_code == 303
    assert len(stored(person.id)) == 3


# ---------------------------------------------------------------- nobody else's answers

def test_two_users_neither_reads_nor_changes_the_others_answers(app, factory, setting):
    process, (first, second, third) = setting
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=1))
    ana_user, ben_user = factory.user(name="Ana"), factory.user(name="Ben")
    ana, ben = factory.participant(ana_user), factory.participant(ben_user)
    open_wave(process, Wave.BASELINE)
    offered(process, ana, Wave.BASELINE)
    offered(process, ben, Wave.BASELINE)
    pulse(meeting, [first, second])
    offered(process, ana, Wave.SESSION, meeting=meeting)
    ana_client, ben_client = client_for(app, ana_user), client_for(app, ben_user)
    assert ana_client.post(wave_url(process), data={
        field(first): "1", field(second): "2", field(third): "dk"}).status_code == 303
    assert ana_client.post(f"/sessions/{meeting.id}/pulse", data={
        field(first): "5", "comment": "ANA-SUGGESTION"}).status_code == 303
    ana_rows = stored(ana.id)

    # Ben's own baseline page shows none of Ana's answers.
    page = ben_client.get(wave_url(process)).get_data(as_text=True)
    assert checked_values(page) == set() and "0 of 3 questions answered" in page
    assert "ANA-SUGGESTION" not in ben_client.get("/me/surveys").get_data(as_text=True)
    # Ana's pulse was not offered to Ben: refused, to read and to post.
    assert ben_client.get(f"/sessions/{meeting.id}/pulse").status_code == 403
    refused = ben_client.post(f"/sessions/{meeting.id}/pulse", data={field(first): "1",
                                                                     "comment": "BEN"})
    assert refused.status_code == 403
    assert "ANA-SUGGESTION" not in refused.get_data(as_text=True)
    # Ben posting the baseline writes Ben's rows; there is no way to name Ana's.
    assert ben_client.post(wave_url(process), data={
        field(first): "5", field(second): "5", "participant_id": str(ana.id),
        "id": str(ana_rows[0][0])}).status_code == 303
    assert stored(ana.id) == ana_rows
    assert [(r[1], r[4]) for r in stored(ben.id)] == [(first.id, 5), (second.id, 5)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PulseComment)) == 1
    # Guessing: a process or session that does not exist, a wave that does not exist.
    assert ben_client.get(wave_url(process, "session")).status_code == 404
    assert ben_client.get("/processes/999999/survey/baseline").status_code == 404
    assert ben_client.get("/sessions/999999/pulse").status_code == 404


def test_a_survey_not_offered_is_refused_the_same_whether_it_is_open_or_not(app, factory,
                                                                           setting):
    process, (first, _second, _third) = setting
    user = factory.user()
    participant = factory.participant(user)
    client = client_for(app, user)
    assert client.get(wave_url(process)).status_code == 403  # no wave at all
    open_wave(process, Wave.BASELINE)
    assert client.get(wave_url(process)).status_code == 403  # open, not offered to them
    assert client.post(wave_url(process), data={field(first): "3"}).status_code == 403
    assert stored() == []
    offered(process, participant, Wave.BASELINE)
    assert client.get(wave_url(process)).status_code == 200


def test_a_page_makes_no_participant_row(app, factory, setting):
    process, _values = setting
    open_wave(process, Wave.BASELINE)
    admin = factory.user(Role.ADMIN)
    client = client_for(app, admin)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Participant))
    assert client.get(wave_url(process)).status_code == 403
    assert client.get("/me/surveys").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Participant)) == count


# ---------------------------------------------------------------- who may answer at all

def test_anonymous_visitors_are_sent_to_log_in(client, factory, setting):
    process, (first, _s, _t) = setting
    meeting = factory.meeting(process)
    for path in (wave_url(process), f"/sessions/{meeting.id}/pulse", "/me/surveys"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    for path in (wave_url(process), f"/sessions/{meeting.id}/pulse"):
        response = client.post(path, data={field(first): "3"})
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert stored() == []


def test_evaluators_answer_nothing(app, factory, setting):
    process, (first, _s, _t) = setting
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=1))
    pulse(meeting, [first])
    open_wave(process, Wave.BASELINE)
    walk_in = factory.participant(name="Walk-in")
    offered(process, walk_in, Wave.BASELINE)
    invitation = db.session.scalar(sa.select(SurveyInvitation).where(
        SurveyInvitation.participant_id == walk_in.id))
    token = links.survey_link_token(invitation, secret_key=app.config["SECRET_KEY"],
                                    now=utcnow())
    evaluator = factory.user(Role.EVALUATOR)
    client = client_for(app, evaluator)
    for path in (wave_url(process), wave_url(process, "final"),
                 f"/sessions/{meeting.id}/pulse", f"/survey-link/{token}", "/me/surveys"):
        assert client.get(path).status_code == 403, path
    for path in (wave_url(process), f"/sessions/{meeting.id}/pulse", f"/survey-link/{token}"):
        response = client.post(path, data={field(first): "3"})
        assert response.status_code == 403, path
        assert "they do not answer surveys" in response.get_data(as_text=True)
    assert stored() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Participant).where(
        Participant.user_id == evaluator.id)) == 0


# ---------------------------------------------------------------- closed surveys

def test_a_closed_wave_shows_my_answers_and_refuses_new_ones(app, factory, setting):
    process, (first, second, _third) = setting
    staff = factory.user(Role.STAFF)
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE, at=utcnow() - 10 * MINUTE)
    offered(process, person, Wave.BASELINE, at=utcnow() - 10 * MINUTE)
    db.session.add(Perception(participant_id=person.id, public_value_id=first.id,
                              wave=Wave.BASELINE, score=4, answered_at=utcnow() - 8 * MINUTE))
    surveys.close_wave(process, Wave.BASELINE, by=staff, now=utcnow() - MINUTE)
    db.session.commit()
    client = client_for(app, user)

    page = client.get(wave_url(process))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "This survey is closed" in html and 'type="radio"' not in html
    assert "4 – Agree" in html and "Not answered" in html

    refused = client.post(wave_url(process), data={field(first): "1", field(second): "2"})
    assert refused.status_code == 409
    assert ("This survey is closed: answers are no longer taken."
            in refused.get_data(as_text=True))
    assert [(r[1], r[4]) for r in stored(person.id)] == [(first.id, 4)]


def test_a_closed_pulse_refuses_answers_and_suggestions(app, factory, setting):
    process, (first, _second, _third) = setting
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=8))
    user = factory.user()
    person = factory.participant(user)
    row = pulse(meeting, [first])
    row.closes_at = utcnow() - MINUTE
    db.session.commit()
    offered(process, person, Wave.SESSION, meeting=meeting)
    client = client_for(app, user)
    response = client.post(f"/sessions/{meeting.id}/pulse", data={field(first): "3",
                                                                  "comment": "Late"})
    assert response.status_code == 409
    assert stored() == [] and db.session.scalar(
        sa.select(sa.func.count()).select_from(PulseComment)) == 0


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("score", ["0", "6", "x", "", "3.5", "-1", "dk2"])
def test_bad_scores_are_refused_without_storing(app, factory, setting, score):
    process, (first, second, _third) = setting
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    client = client_for(app, user)
    response = client.post(wave_url(process), data={field(second): "3", field(first): score})
    if score == "":
        # An empty choice is a question left blank, not an error.
        assert response.status_code == 303
        assert [(r[1], r[4]) for r in stored()] == [(second.id, 3)]
    else:
        assert 400 <= response.status_code < 500
        assert stored() == []


def test_questions_the_survey_does_not_ask_are_refused(app, factory, setting):
    process, (first, second, _third) = setting
    elsewhere = factory.process(title="Another process")
    [foreign] = catalogue(elsewhere, codes=("foreign",))
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=1))
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    pulse(meeting, [first])
    offered(process, person, Wave.SESSION, meeting=meeting)
    client = client_for(app, user)

    for data in ({field(first): "3", field(foreign): "4"},
                 {field(first): "3", "value-abc": "4"},
                 {field(first): "3", "value-99999999999": "4"}):
        response = client.post(wave_url(process), data=data)
        assert response.status_code in (400, 422), data
    # The pulse asks one value of the catalogue, not the others.
    response = client.post(f"/sessions/{meeting.id}/pulse",
                           data={field(first): "3", field(second): "4"})
    assert response.status_code in (400, 422)
    assert "This question is not part of this survey." in response.get_data(as_text=True)
    assert stored() == []


def test_the_service_refuses_what_the_survey_does_not_ask(factory, setting):
    process, (first, _second, _third) = setting
    person = factory.participant(factory.user())
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    survey = surveys.survey_for(person, process, Wave.BASELINE, now=utcnow())
    for bad in ({first.id: 0}, {first.id: 6}, {first.id: "3"}, {first.id: True},
                {str(first.id): 3}, {first.id + 1000: 3}):
        with pytest.raises(ValidationFailed):
            answers.save_answers(person, survey, bad, now=utcnow())
    with pytest.raises(ValidationFailed):  # a suggestion belongs to a session's pulse
        answers.save_answers(person, survey, {first.id: 3}, now=utcnow(), comment="Hi")
    db.session.rollback()
    assert stored() == []


def test_twin_submits_at_the_same_instant_store_once(factory, setting, monkeypatch):
    process, (first, second, _third) = setting
    person = factory.participant(factory.user())
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    survey = surveys.survey_for(person, process, Wave.BASELINE, now=utcnow())
    now = utcnow()
    assert answers.save_answers(person, survey, {first.id: 3, second.id: None}, now=now) == 2
    assert answers.save_answers(person, survey, {first.id: 3, second.id: None}, now=now) == 0
    # A twin that read before the first one stored (as two databases sessions would):
    # the unique index refuses its rows, and it counts as done instead of failing.
    monkeypatch.setattr(answers, "current_answers", lambda *_a, **_k: {})
    assert answers.save_answers(person, survey, {first.id: 3, second.id: None}, now=now) == 0
    db.session.commit()
    assert len(stored(person.id)) == 2


# ---------------------------------------------------------------- pulses

def test_a_pulse_asks_its_values_and_keeps_the_suggestion_private(app, factory, setting):
    process, (first, second, third) = setting
    meeting = factory.meeting(process, title="Atelier vélo",
                              starts_at=utcnow() - timedelta(days=1))
    user = factory.user()
    person = factory.participant(user)
    pulse(meeting, [third, first])
    offered(process, person, Wave.SESSION, meeting=meeting)
    client = client_for(app, user)
    url = f"/sessions/{meeting.id}/pulse"

    page = client.get(url).get_data(as_text=True)
    assert re.findall(r"<legend>([^<]+)</legend>", page) == [
        "Statement transparency.", "Statement trust."]
    assert "What would have made this session better?" in page
    assert "Only the staff organising the sessions read it" in page
    assert client.post(url, data={field(third): "4", field(first): "dk",
                                  "comment": "  More chairs.  "}).status_code == 303
    assert stored(person.id) == [(person.id, third.id, Wave.SESSION, meeting.id, 4),
                                 (person.id, first.id, Wave.SESSION, meeting.id, None)]
    assert db.session.scalars(sa.select(PulseComment.text)).all() == ["More chairs."]
    assert "More chairs." in client.get(url).get_data(as_text=True)
    # Replaced, then removed by an empty box; the answers stay as they were.
    assert client.post(url, data={field(third): "4", field(first): "dk",
                                  "comment": "Shorter talks."}).status_code == 303
    db.session.expire_all()
    assert db.session.scalars(sa.select(PulseComment.text)).all() == ["Shorter talks."]
    assert client.post(url, data={field(third): "4", field(first): "dk",
                                  "comment": ""}).status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PulseComment)) == 0
    assert len(stored(person.id)) == 2
    # Too long, or with hidden characters: refused, nothing changes.
    for bad in ("x" * 1001, "a\x00b", "a\u202eb"):
        response = client.post(url, data={field(third): "1", "comment": bad})
        assert response.status_code == 422
    assert len(stored(person.id)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PulseComment)) == 0
    # The pulse's figure follows the latest answers about that session.
    [row] = [r for r in compute_indicators(process.id, utcnow())
             if r.code == "pulse_mean" and r.public_value == "transparency"
             and r.session_id == meeting.id]
    assert (row.value, row.n) == (4.0, 1)


# ---------------------------------------------------------------- walk-ins' links

def test_a_walk_in_answers_through_their_link_without_logging_in(app, client, factory, setting):
    process, (first, second, _third) = setting
    open_wave(process, Wave.BASELINE)
    walk_in = factory.participant(name="Chloé Passante")
    offered(process, walk_in, Wave.BASELINE)
    invitation = db.session.scalar(sa.select(SurveyInvitation).where(
        SurveyInvitation.participant_id == walk_in.id))
    token = links.survey_link_token(invitation, secret_key=app.config["SECRET_KEY"],
                                    now=utcnow())
    url = f"/survey-link/{token}"

    page = client.get(url)
    assert page.status_code == 200 and 'type="radio"' in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    saved = client.post(url, data={field(first): "4", field(second): "dk"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(url)
    assert stored(walk_in.id) == [(walk_in.id, first.id, Wave.BASELINE, None, 4),
                                  (walk_in.id, second.id, Wave.BASELINE, None, None)]
    assert "2 of 3 questions answered" in client.get(url).get_data(as_text=True)

    # Altered, or expired: not found, with a message, nothing stored.
    tampered = client.post(f"/survey-link/{token[:-3]}abc", data={field(first): "1"})
    assert tampered.status_code == 404
    assert "This survey link is not valid." in tampered.get_data(as_text=True)
    old = links.survey_link_token(invitation, secret_key=app.config["SECRET_KEY"],
                                  now=utcnow() - timedelta(days=15))
    expired = client.get(f"/survey-link/{old}")
    assert expired.status_code == 404 and "expired" in expired.get_data(as_text=True)
    assert len(stored()) == 2


# ---------------------------------------------------------------- my surveys, my space, ledger

def test_my_surveys_lists_open_and_closed_surveys_with_my_answers(app, factory, setting):
    process, (first, second, third) = setting
    staff = factory.user(Role.STAFF)
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE, at=utcnow() - 20 * MINUTE)
    offered(process, person, Wave.BASELINE, at=utcnow() - 20 * MINUTE)
    db.session.add(Perception(participant_id=person.id, public_value_id=second.id,
                              wave=Wave.BASELINE, score=2, answered_at=utcnow() - 15 * MINUTE))
    surveys.close_wave(process, Wave.BASELINE, by=staff, now=utcnow() - 10 * MINUTE)
    db.session.commit()
    open_wave(process, Wave.FINAL, at=utcnow() - 5 * MINUTE)
    offered(process, person, Wave.FINAL, at=utcnow() - 5 * MINUTE)
    client = client_for(app, user)

    page = client.get("/me/surveys")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    open_part, closed_part = html.split("Closed surveys", 1)
    assert f'href="{wave_url(process, "final")}"' in open_part
    assert "0 of 3 questions answered" in open_part and ">Answer<" in open_part
    assert "Survey at the start of" in closed_part and "2 – Disagree" in closed_part
    assert 'type="radio"' not in html

    client.post(wave_url(process, "final"), data={field(first): "3"})
    html = client.get("/me/surveys").get_data(as_text=True)
    assert "Change my answers" in html and "1 of 3 questions answered" in html


def test_my_space_calls_to_answer_an_open_survey(app, factory, setting):
    process, values = setting
    user = factory.user()
    person = factory.participant(user)
    client = client_for(app, user)
    assert "Your view is awaited" not in client.get("/auth/me").get_data(as_text=True)
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    page = client.get("/auth/me").get_data(as_text=True)
    assert "Your view is awaited" in page and f'href="{wave_url(process)}"' in page
    assert 'href="/me/surveys"' in page
    client.post(wave_url(process), data={field(v): "3" for v in values})
    assert "Your view is awaited" not in client.get("/auth/me").get_data(as_text=True)


def test_the_absence_answer_invites_to_the_open_baseline(app, factory, setting):
    process, values = setting
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=2))
    user = factory.user()
    person = factory.participant(user)
    row = AbsenceRequest(meeting_id=meeting.id, participant_id=person.id,
                         kind=AbsenceKind.NOT_REGISTERED, answered_at=utcnow(),
                         reason=AbsenceReason.TIME)
    db.session.add(row)
    db.session.commit()
    client = client_for(app, user)
    invite = "Your view counts even if you did not come"
    assert invite not in client.get(f"/me/absence/{row.id}").get_data(as_text=True)
    open_wave(process, Wave.BASELINE)
    # Open, but not offered to them: nothing to answer.
    assert invite not in client.get(f"/me/absence/{row.id}").get_data(as_text=True)
    offered(process, person, Wave.BASELINE)
    page = client.get(f"/me/absence/{row.id}").get_data(as_text=True)
    assert invite in page and f'href="{wave_url(process)}"' in page
    client.post(wave_url(process), data={field(v): "dk" for v in values})
    assert invite not in client.get(f"/me/absence/{row.id}").get_data(as_text=True)


def test_the_survey_page_speaks_french(app, factory, setting):
    process, (first, _second, _third) = setting
    user = factory.user()
    person = factory.participant(user)
    open_wave(process, Wave.BASELINE)
    offered(process, person, Wave.BASELINE)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    login(client, user)
    html = client.get(wave_url(process)).get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "<legend>Énoncé trust.</legend>" in html


def test_require_open_is_what_the_service_checks(factory, setting):
    process, (first, _second, _third) = setting
    person = factory.participant(factory.user())
    open_wave(process, Wave.BASELINE, at=utcnow() - 5 * MINUTE)
    offered(process, person, Wave.BASELINE)
    survey = surveys.survey_for(person, process, Wave.BASELINE, now=utcnow() - 30 * MINUTE)
    assert not survey.open
    with pytest.raises(InvalidState):
        answers.save_answers(person, survey, {first.id: 3}, now=utcnow())


# ---------------------------------------------------------------- twin submits, really at once

def _database_backends() -> list:
    # The PostgreSQL run of the suite tests PostgreSQL; the SQLite run tests SQLite.
    return [pytest.param("sqlite", id="sqlite-wal", marks=pytest.mark.sqlite_only),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres_only)]


@pytest.fixture
def served(request, tmp_path):
    """(app, port) of the app behind a threaded server on a database of its own, so that
    concurrent requests race in separate connections and transactions."""
    import os
    import threading
    import uuid

    from werkzeug.serving import make_server

    from tests.conftest import make_app, seed_reference_data

    admin = name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'answers.sqlite'}"
    else:
        base = os.environ["PV_TEST_DATABASE_URL"]
        name = f"pv_answers_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    app = make_app(SQLALCHEMY_DATABASE_URI=url, FLAGS_AUTO_REFRESH=False,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 10, "max_overflow": 4}
                   if url.startswith("postgresql") else {})
    with app.app_context():
        db.create_all()
        seed_reference_data()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _http(port: int, path: str, form: dict, cookie: str | None = None):
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("POST", path, body=urlencode(form), headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.parametrize("served", _database_backends(), indirect=True)
def test_identical_submits_at_once_store_each_answer_once(served):
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import PASSWORD, Factory

    app, port = served
    with app.app_context():
        f = Factory()
        f.user(Role.STAFF)
        user = f.user(email="twin@example.org")
        process = f.process()
        first, second, _third = catalogue(process)
        person = f.participant(user)
        open_wave(process, Wave.BASELINE)
        offered(process, person, Wave.BASELINE)
        ids = (process.id, first.id, second.id, person.id)
    login = _http(port, "/auth/login", {"email": "twin@example.org", "password": PASSWORD})
    assert login.status == 302
    cookie = re.match(r"(session=[^;]+)", login.getheader("Set-Cookie", "")).group(1)
    form = {f"value-{ids[1]}": "4", f"value-{ids[2]}": "dk"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(
            lambda _i: _http(port, f"/processes/{ids[0]}/survey/baseline", form, cookie).status,
            range(24)))
    assert set(statuses) == {303}, statuses
    with app.app_context():
        rows = db.session.execute(sa.select(Perception.public_value_id, Perception.score)
                                  .where(Perception.participant_id == ids[3])
                                  .order_by(Perception.public_value_id)).all()
        assert sorted(tuple(r) for r in rows) == sorted([(ids[1], 4), (ids[2], None)])
