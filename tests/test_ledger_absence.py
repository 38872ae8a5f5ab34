"""Absence reasons: who is asked, the one-click answer, refusals, aggregation with small counts
hidden, and the e-mail that goes with the question when mail is configured."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import url_for

from pvplatform.core import mail
from pvplatform.db import utcnow
from pvplatform.ledger import services
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import Participant, ParticipantAttribute, Stratum
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import Attendance, AttendanceMode, Invitation, Registration


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def world(db, factory):
    """A session that ended yesterday: an invitee who did not register, one who came anyway, a
    registrant who did not come, one who came, one who cancelled, a walk-in without an account,
    a registrant without an account."""
    process = factory.process()
    now = utcnow()
    meeting = factory.meeting(process, starts_at=now - timedelta(days=1, hours=3))
    people = {name: factory.user("citizen", name=name) for name in
              ("invitee", "invitee_came", "no_show", "came", "cancelled")}
    parts = {name: participant_for(user) for name, user in people.items()}
    before = meeting.starts_at - timedelta(days=3)
    for name in ("invitee", "invitee_came", "no_show"):
        db.session.add(Invitation(meeting_id=meeting.id, participant_id=parts[name].id,
                                  invited_at=before))
    for name in ("no_show", "came", "cancelled"):
        db.session.add(Registration(meeting_id=meeting.id, participant_id=parts[name].id,
                                    registered_at=before,
                                    cancelled_at=before + timedelta(hours=1)
                                    if name == "cancelled" else None))
    no_account = Participant(kind="citizen", display_name="Sans Compte")
    db.session.add(no_account)
    db.session.flush()
    db.session.add(Registration(meeting_id=meeting.id, participant_id=no_account.id,
                                registered_at=before))
    for name in ("invitee_came", "came"):
        db.session.add(Attendance(meeting_id=meeting.id, participant_id=parts[name].id,
                                  mode=AttendanceMode.IN_PERSON, checked_in_at=meeting.starts_at,
                                  walk_in=name == "invitee_came"))
    db.session.commit()
    return {"process": process, "meeting": meeting, "users": people, "parts": parts,
            "no_account": no_account}


def send(client, meeting):
    return client.post(f"/manage/sessions/{meeting.id}/absence-requests")


# ---------------------------------------------------------------- asking


def test_requests_go_to_absent_invitees_and_registrants(client, db, world, staff, login_as):
    login_as(staff)
    response = send(client, world["meeting"])
    assert response.status_code == 303
    rows = {r.participant_id: r for r in db.session.scalars(sa.select(AbsenceRequest))}
    parts = world["parts"]
    assert {pid: r.kind for pid, r in rows.items()} == {
        parts["invitee"].id: AbsenceKind.NOT_REGISTERED,
        # Invited and registered, then absent: a no-show.
        parts["no_show"].id: AbsenceKind.NO_SHOW,
    }
    assert all(r.reason is None and r.answered_at is None for r in rows.values())
    # One notification each, pointing at the answer page.
    notes = list(db.session.scalars(sa.select(Notification).where(
        Notification.kind == "absence.request").order_by(Notification.user_id)))
    assert sorted(n.user_id for n in notes) == sorted(
        [world["users"]["invitee"].id, world["users"]["no_show"].id])
    by_user = {n.user_id: n for n in notes}
    for pid, row in rows.items():
        note = by_user[db.session.get(Participant, pid).user_id]
        assert note.link == f"/me/absence/{row.id}"
        assert note.params == {"title": world["meeting"].title}
    assert count(db, AuditLog, AuditLog.action == "absence.request") == 1
    assert "2 people were asked" in text(client.get(response.headers["Location"]))

    # Asking again adds nobody.
    send(client, world["meeting"])
    assert count(db, AbsenceRequest) == 2
    assert count(db, Notification, Notification.kind == "absence.request") == 2


def test_the_notification_reads_in_the_language_of_the_reader(client, db, world, staff,
                                                              login_as):
    login_as(staff)
    send(client, world["meeting"])
    login_as(world["users"]["no_show"])
    body = text(client.get("/notifications"))
    assert "You registered for the session" in body and world["meeting"].title in body
    body = text(client.get("/notifications", headers={"Accept-Language": "fr"}))
    assert "You registered for the session" not in body


def test_no_request_before_the_session_is_over(client, db, factory, staff, login_as):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1), hours=2)
    user = factory.user("citizen")
    db.session.add(Registration(meeting_id=meeting.id, participant_id=participant_for(user).id,
                                registered_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    login_as(staff)
    response = send(client, meeting)
    assert response.status_code == 409
    assert "not over yet" in text(response)
    assert count(db, AbsenceRequest) == 0 and count(db, Notification) == 0


def test_deleted_accounts_are_not_asked(db, world, staff):
    world["users"]["invitee"].deleted_at = utcnow()
    db.session.commit()
    created = services.create_absence_requests(world["meeting"], by=staff, now=utcnow())
    assert [r.participant_id for r in created] == [world["parts"]["no_show"].id]


# ---------------------------------------------------------------- answering


@pytest.fixture
def asked(db, world, staff):
    services.create_absence_requests(world["meeting"], by=staff, now=utcnow())
    db.session.commit()
    row = db.session.scalar(sa.select(AbsenceRequest).where(
        AbsenceRequest.participant_id == world["parts"]["no_show"].id))
    return row, world["users"]["no_show"]


def test_one_click_answer_then_a_new_answer_replaces_it(client, db, asked, login_as):
    row, owner = asked
    login_as(owner)
    url = f"/me/absence/{row.id}"
    page = text(client.get(url))
    assert "Why could you not come?" in page
    assert page.count('name="reason"') == len(AbsenceReason)  # eight buttons and "other"
    assert 'name="other_text"' in page

    response = client.post(url, data={"reason": "care_duties"})
    assert response.status_code == 303
    db.session.refresh(row)
    assert row.reason == AbsenceReason.CARE_DUTIES and row.answered_at is not None
    assert "Childcare or care duties" in text(client.get(url))

    response = client.post(url, data={"reason": "other", "other_text": "  Mon bus était en "
                                                                       "grève.  "})
    assert response.status_code == 303
    db.session.refresh(row)
    assert row.reason == AbsenceReason.OTHER and row.other_text == "Mon bus était en grève."
    # Text goes with "other" only.
    client.post(url, data={"reason": "time", "other_text": "ignored"})
    db.session.refresh(row)
    assert row.reason == AbsenceReason.TIME and row.other_text is None
    assert count(db, AbsenceRequest) == 2


@pytest.mark.parametrize("data", [
    {},
    {"reason": ""},
    {"reason": "weather"},
    {"reason": ["time", "place"], "other_text": "x"},
    {"reason": "other", "other_text": "x" * 501},
    {"reason": "other", "other_text": "bad\x00text"},
    {"reason": "other", "other_text": "hidden\u202etext"},
])
def test_bad_answers_are_422_and_store_nothing(client, db, asked, login_as, data):
    row, owner = asked
    login_as(owner)
    response = client.post(f"/me/absence/{row.id}", data=data)
    if data.get("reason") == ["time", "place"]:
        # A browser never sends two; WTForms takes the first, which is valid.
        assert response.status_code == 303
        return
    assert response.status_code == 422
    db.session.refresh(row)
    assert row.reason is None and row.answered_at is None and row.other_text is None


def test_other_text_at_the_limit_is_accepted(client, db, asked, login_as):
    row, owner = asked
    login_as(owner)
    assert client.post(f"/me/absence/{row.id}",
                       data={"reason": "other", "other_text": "é" * 500}).status_code == 303
    db.session.refresh(row)
    assert row.other_text == "é" * 500


def test_someone_elses_request_is_404(client, db, asked, world, factory, login_as):
    row, _owner = asked
    for user in (world["users"]["invitee"], factory.user("staff"), factory.user("admin")):
        login_as(user)
        assert client.get(f"/me/absence/{row.id}").status_code == 404
        assert client.post(f"/me/absence/{row.id}", data={"reason": "time"}).status_code == 404
    db.session.refresh(row)
    assert row.reason is None


def test_answer_page_needs_a_login_and_a_real_id(client, db, asked, login_as):
    row, owner = asked
    response = client.get(f"/me/absence/{row.id}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    login_as(owner)
    for bad in ("999999", "0", str(2**63)):
        assert client.get(f"/me/absence/{bad}").status_code == 404


def test_the_service_refuses_what_the_form_would(db, asked, world):
    row, owner = asked
    with pytest.raises(services.ValidationFailed):
        services.answer_absence(row, user=owner, reason="weather", other_text=None,
                                now=utcnow())
    with pytest.raises(services.ValidationFailed):
        services.answer_absence(row, user=owner, reason="other", other_text="x" * 501,
                                now=utcnow())
    with pytest.raises(services.NotFound):
        services.answer_absence(row, user=world["users"]["came"], reason="time",
                                other_text=None, now=utcnow())


def test_answer_path_is_the_answer_route(app, db, asked):
    row, _owner = asked
    with app.test_request_context():
        assert services.answer_path(row.id) == url_for("ledger.answer",
                                                       absence_request_id=row.id)


# ---------------------------------------------------------------- aggregation


def test_suppression_hides_small_counts_and_what_totals_would_give_back():
    values = {("a",): 7, ("b",): 2, ("c",): 6, ("t",): 15}
    hidden = services.suppress(values, [([("a",), ("b",), ("c",)], ("t",))])
    # b is small; c (the smallest other part) goes too, or 15 - 7 - 6 would give b back.
    assert hidden == {("b",), ("c",)}
    # Zeros are shown; a small total hides with its only part.
    values = {("a",): 3, ("b",): 0, ("t",): 3}
    assert services.suppress(values, [([("a",), ("b",)], ("t",))]) == {("a",), ("t",)}
    # Nothing small: nothing hidden.
    values = {("a",): 5, ("b",): 9, ("t",): 14}
    assert services.suppress(values, [([("a",), ("b",)], ("t",))]) == set()
    # Through two tables sharing a total.
    values = {("x",): 6, ("y",): 8, ("p",): 1, ("q",): 13, ("t",): 14}
    hidden = services.suppress(values, [([("x",), ("y",)], ("t",)),
                                        ([("p",), ("q",)], ("t",))])
    assert ("p",) in hidden and ("q",) in hidden and ("t",) not in hidden


def answer_many(db, meeting, reasons_by_category, staff):
    """Adds answered requests: {(category or None): {reason: n}} for the age_band dimension."""
    for category, reasons in reasons_by_category.items():
        for reason, n in reasons.items():
            for _ in range(n):
                participant = Participant(kind="citizen", display_name="X")
                db.session.add(participant)
                db.session.flush()
                if category is not None:
                    db.session.add(ParticipantAttribute(participant_id=participant.id,
                                                        dimension="age_band",
                                                        category=category))
                db.session.add(AbsenceRequest(
                    meeting_id=meeting.id, participant_id=participant.id,
                    kind=AbsenceKind.NO_SHOW, created_by_id=staff.id, reason=reason,
                    answered_at=utcnow()))
    db.session.commit()


def test_reasons_per_session_and_stratum_with_small_counts_hidden(client, db, factory, staff,
                                                                   login_as):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=3),
                              title="Atelier mobilité")
    for category, share in (("18-29", 0.3), ("30-59", 0.5), ("60+", 0.2)):
        db.session.add(Stratum(process_id=process.id, dimension="age_band", category=category,
                               population_share=share))
    answer_many(db, meeting, {
        "18-29": {"care_duties": 6, "time": 2},
        "30-59": {"care_duties": 5, "time": 7, "place": 6},
        "60+": {"care_duties": 7, "time": 8, "place": 5},
        None: {"time": 5},
        "retired": {"time": 1},  # outside the reference categories: unknown
    }, staff)
    summary = services.reason_summary(process.id)
    assert summary.answered == 52
    assert summary.dimensions == {"age_band": ["18-29", "30-59", "60+", "unknown"]}
    assert summary.values[("d", "age_band", "unknown", AbsenceReason.TIME)] == 6
    # Every count of the session (and process) table is large enough to show.
    assert summary.shown("srow", meeting.id) == 52
    assert summary.shown("reason", AbsenceReason.CARE_DUTIES) == 18
    assert summary.shown("s", meeting.id, AbsenceReason.TIME) == 23
    assert summary.shown("s", meeting.id, AbsenceReason.PLACE) == 11
    assert summary.shown("s", meeting.id, AbsenceReason.LANGUAGE) == 0
    # Per stratum: 2 is hidden, and so is 6 beside it (8 - 6 would give it back), and so on
    # through each row and column; what cannot be worked out stays shown.
    assert summary.shown("d", "age_band", "18-29", AbsenceReason.TIME) is None
    assert summary.shown("d", "age_band", "18-29", AbsenceReason.CARE_DUTIES) is None
    assert summary.shown("d", "age_band", "60+", AbsenceReason.TIME) == 8
    assert summary.shown("d", "age_band", "30-59", AbsenceReason.TIME) == 7
    assert summary.shown("d", "age_band", "60+", AbsenceReason.LANGUAGE) == 0
    assert_not_derivable(summary)

    login_as(staff)
    body = text(client.get(f"/manage/processes/{process.id}/absence-reasons"))
    assert "Atelier mobilité" in body and "age_band" in body and "18-29" in body
    assert "Care duties" in body and '<abbr class="suppressed"' in body
    session_page = text(client.get(f"/manage/sessions/{meeting.id}/ledger"))
    assert "Care duties</th>" in session_page and "<td>18</td>" in session_page


def assert_not_derivable(summary):
    """No shown total minus its shown parts gives back exactly one hidden figure."""
    reasons = list(AbsenceReason)
    lines = []
    for sid, _title in summary.sessions:
        lines.append(([("s", sid, r) for r in reasons], ("srow", sid)))
    for dimension, categories in summary.dimensions.items():
        for category in categories:
            lines.append(([("d", dimension, category, r) for r in reasons],
                          ("drow", dimension, category)))
        for r in reasons:
            lines.append(([("d", dimension, c, r) for c in categories], ("reason", r)))
    for parts, whole in lines:
        unknown = [k for k in [*parts, whole] if k in summary.hidden]
        assert len(unknown) != 1, (parts, whole, unknown)


def test_other_texts_show_only_with_enough_answers(client, db, factory, staff, login_as):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=3))
    answer_many(db, meeting, {None: {"other": 4}}, staff)
    db.session.execute(sa.update(AbsenceRequest).values(other_text="Grève des bus"))
    db.session.commit()
    login_as(staff)
    url = f"/manage/processes/{process.id}/absence-reasons"
    assert "Grève des bus" not in text(client.get(url))
    answer_many(db, meeting, {None: {"other": 1, "time": 5}}, staff)
    db.session.execute(sa.update(AbsenceRequest).where(AbsenceRequest.reason == "other")
                       .values(other_text="Grève des bus"))
    db.session.commit()
    assert text(client.get(url)).count("Grève des bus") == 5


def test_reasons_page_empty_state(client, db, factory, staff, login_as):
    process = factory.process()
    login_as(staff)
    body = text(client.get(f"/manage/processes/{process.id}/absence-reasons"))
    assert "No absence question sent yet" in body


# ---------------------------------------------------------------- e-mail


class FakeSMTP:
    sent: list = []
    opened: list = []
    fail = False

    def __init__(self, host, port, timeout):
        if FakeSMTP.fail:
            raise OSError("connection refused")
        FakeSMTP.opened.append((host, port, timeout))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self):
        pass

    def login(self, *args):
        pass

    def send_message(self, message):
        FakeSMTP.sent.append(message)


@pytest.fixture
def smtp(monkeypatch):
    FakeSMTP.sent, FakeSMTP.opened, FakeSMTP.fail = [], [], False
    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    return FakeSMTP


def test_send_mail_does_nothing_without_a_server(app, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    with app.app_context():
        assert mail.send_mail("a@example.org", "Subject", "Body") is False
    assert smtp.opened == []


def test_send_mail_uses_a_short_timeout_and_one_line_headers(app, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "mail.example.org:2525")
    with app.app_context():
        assert mail.send_mail("a@example.org", "Hello\r\nBcc: x@evil.example", "Body") is True
    host, port, timeout = smtp.opened[0]
    assert (host, port) == ("mail.example.org", 2525) and timeout <= 10
    message = smtp.sent[0]
    assert message["Subject"] == "Hello Bcc: x@evil.example" and message["Bcc"] is None


def test_send_mail_failure_is_logged_without_the_body(app, smtp, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "mail.example.org")
    smtp.fail = True
    with app.app_context(), caplog.at_level(logging.INFO):
        assert mail.send_mail("a@example.org", "Subject", "secret-link-123") is False
    assert "OSError" in caplog.text and "secret-link-123" not in caplog.text


def test_requests_are_mailed_when_mail_is_configured(client, app, db, world, staff, login_as,
                                                     smtp, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "mail.example.org")
    login_as(staff)
    response = send(client, world["meeting"])
    assert response.status_code == 303
    assert "(2 by e-mail too)" in text(client.get(response.headers["Location"]))
    assert sorted(m["To"] for m in smtp.sent) == sorted(
        [world["users"]["invitee"].email, world["users"]["no_show"].email])
    row = db.session.scalar(sa.select(AbsenceRequest).where(
        AbsenceRequest.participant_id == world["parts"]["no_show"].id))
    bodies = [m.get_content() for m in smtp.sent]
    assert any(f"/me/absence/{row.id}" in body for body in bodies)


def test_a_mail_server_down_does_not_fail_the_request(client, app, db, world, staff, login_as,
                                                      smtp, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "mail.example.org")
    smtp.fail = True
    login_as(staff)
    response = send(client, world["meeting"])
    assert response.status_code == 303
    assert count(db, AbsenceRequest) == 2  # stored, notified in the app, mail or not
    assert count(db, Notification, Notification.kind == "absence.request") == 2
