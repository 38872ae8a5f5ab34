"""Stored flags: refresh with history, automatic refresh on commit, acknowledgement,
per-process thresholds, staff notifications, `flask pv recompute`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.errors import InvalidState, NotFound, ValidationFailed
from pvplatform.indicators import DEFAULTS, mark_dirty, store
from pvplatform.indicators import thresholds as settings
from pvplatform.indicators.models import FlagEvent, FlagEventKind, FlagRecord, ProcessThreshold
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.notifications.services import render_message
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions.models import Attendance, Registration


@pytest.fixture(autouse=True)
def _english(db):
    """Messages read outside a request are in the town's language (French): read them in
    English here."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


def _rejected(db, process, author, *, rationale: str = "", days_ago: int = 5) -> Proposal:
    now = utcnow()
    proposal = Proposal(process_id=process.id, author_id=author.id, title="Idea",
                        state=ProposalState.REJECTED,
                        published_at=now - timedelta(days=days_ago + 2),
                        answered_at=now - timedelta(days=days_ago), answer_rationale=rationale)
    db.session.add(proposal)
    return proposal


def _records(db, process_id: int, code: str | None = None) -> list[FlagRecord]:
    statement = sa.select(FlagRecord).where(FlagRecord.process_id == process_id)
    if code:
        statement = statement.where(FlagRecord.code == code)
    return list(db.session.scalars(statement.order_by(FlagRecord.id)))


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _no_show_world(db, factory, *, registered: int = 10, came: int = 2):
    """A held session with `registered` live registrations of which `came` checked in."""
    process = factory.process()
    now = utcnow()
    meeting = factory.meeting(process, starts_at=now - timedelta(hours=3), capacity=None)
    for i in range(registered):
        person = factory.participant(kind="citizen", name=f"P{i}")
        db.session.add(Registration(meeting_id=meeting.id, participant_id=person.id,
                                    registered_at=now - timedelta(days=2)))
        if i < came:
            db.session.add(Attendance(meeting_id=meeting.id, participant_id=person.id,
                                      mode="in_person", checked_in_at=now - timedelta(hours=2)))
    db.session.commit()
    return process, meeting


# ---------------------------------------------------------------- refresh and history


def test_refresh_raises_then_clears_and_keeps_history(db, factory):
    process = factory.process()
    author = factory.participant(kind="citizen")
    proposal = _rejected(db, process, author)
    db.session.flush()
    now = utcnow()

    result = store.refresh_flags(process.id, now=now)
    assert [r.code for r in result.raised] == ["unreasoned_rejection"]
    assert result.cleared == [] and result.changed == []
    db.session.commit()
    record = store.active_flags(process.id)[0]
    assert record.severity == "warning" and record.value == 1.0
    assert record.first_raised_at == now and record.cleared_at is None
    # One proposal: a count below k, said as such.
    assert "fewer than 5 rejected proposals have no stated reason" in record.message_text

    # A second refresh with nothing new changes nothing.
    again = store.refresh_flags(process.id, now=now + timedelta(minutes=1))
    assert (again.raised, again.cleared, again.changed) == ([], [], [])
    db.session.commit()

    proposal.answer_rationale = "Too expensive for this year's budget."
    db.session.commit()  # the automatic refresh clears it
    assert store.active_flags(process.id) == []
    history = store.flag_history(process.id)
    assert [r.id for r in history] == [record.id]
    cleared = history[0]
    assert cleared.cleared_at is not None
    assert [e.kind for e in cleared.events] == [FlagEventKind.RAISED, FlagEventKind.CLEARED]
    assert cleared.message_text  # still readable
    assert store.flag_history(process.id, include_cleared=False) == []


def test_a_flag_that_comes_back_is_a_new_record_reraised(db, factory):
    process = factory.process()
    author = factory.participant(kind="citizen")
    proposal = _rejected(db, process, author)
    db.session.commit()
    first = _records(db, process.id)[0]
    proposal.answer_rationale = "Reasons."
    db.session.commit()
    proposal.answer_rationale = "  "
    db.session.commit()

    records = _records(db, process.id, "unreasoned_rejection")
    assert len(records) == 2
    old, new = records
    assert old.id == first.id and old.cleared_at is not None
    assert [e.kind for e in old.events] == [FlagEventKind.RAISED, FlagEventKind.CLEARED]
    assert new.cleared_at is None
    assert [e.kind for e in new.events] == [FlagEventKind.RERAISED]
    history = store.flag_history(process.id)
    assert [r.id for r in history] == [new.id, old.id]  # active first


def test_severity_change_is_an_event_and_escalation_drops_the_acknowledgement(db, factory):
    process = factory.process()
    author = factory.participant(kind="citizen")
    staff = factory.user(Role.STAFF)
    now = utcnow()
    proposal = Proposal(process_id=process.id, author_id=author.id, title="Idea",
                        state=ProposalState.PUBLISHED, published_at=now - timedelta(days=40))
    db.session.add(proposal)
    db.session.commit()
    record = store.active_flags(process.id)[0]
    assert (record.code, record.severity) == ("unanswered_proposals", "warning")
    store.acknowledge(record.id, actor=staff, note="We answer next week.", now=utcnow())
    db.session.commit()

    result = store.refresh_flags(process.id, now=now + timedelta(days=60))
    assert [r.id for r in result.changed] == [record.id] and not result.raised
    db.session.commit()
    record = db.session.get(FlagRecord, record.id)
    assert record.severity == "alert"
    assert record.acknowledged_at is None and record.acknowledgement_note is None
    kinds = [e.kind for e in record.events]
    assert kinds == [FlagEventKind.RAISED, FlagEventKind.ACKNOWLEDGED,
                     FlagEventKind.SEVERITY_CHANGED]
    assert record.events[-1].severity == "alert"
    # Staff are told of the escalation to alert.
    assert _count(db, Notification) >= 1


def test_flag_messages_are_stored_as_ids_with_parameters_and_rendered_per_reader(app, db):
    from flask_babel import force_locale

    from pvplatform.indicators.messages import (
        Count,
        encode_params,
        phrase,
        plural_phrase,
        render_message,
    )

    label = phrase("internal (managers and elected officials)")
    message = phrase("%(group)s fell by %(delta).2f", group=label, delta=0.75)
    params = encode_params(message.params)
    assert message.plural is None and params == {
        "group": {"_msgid": "internal (managers and elected officials)", "_plural": None,
                  "_params": {}}, "delta": 0.75}
    assert render_message(message.id, message.plural, params) == (
        "internal (managers and elected officials) fell by 0.75")
    many = plural_phrase("%(num)s proposal waits", "%(num)s proposals wait", 3, days=30)
    assert encode_params(many.params) == {"days": 30, "num": 3}
    assert render_message(many.id, many.plural, encode_params(many.params)) == "3 proposals wait"
    with force_locale("fr"):
        assert "interne" in render_message("%(group)s", None, {"group": {
            "_msgid": "internal (managers and elected officials)"}}).lower()
    # A broken parameter set never raises.
    assert render_message("%(missing)s here", None, {}) == "%(missing)s here"
    # A count of people between 1 and k-1 is never printed, whatever the sentence.
    few = phrase("%(count)s came", count=Count(4))
    assert few.render(k=5) == "fewer than 5 came"
    assert phrase("%(count)s came", count=Count(0)).render(k=5) == "0 came"
    assert phrase("%(count)s came", count=Count(12)).render(k=5) == "12 came"
    assert render_message(few.id, None, encode_params(few.params), k=3) == "4 came"


# ---------------------------------------------------------------- automatic refresh


def test_commit_refreshes_only_touched_processes_once(db, factory, monkeypatch):
    touched = factory.process(title="Touched")
    other = factory.process(title="Other")
    author = factory.participant(kind="citizen")
    calls: list[int] = []
    original = store.compute_current_flags

    def counting(process_id, now):
        calls.append(process_id)
        return original(process_id, now)

    monkeypatch.setattr(store, "compute_current_flags", counting)
    _rejected(db, touched, author)
    _rejected(db, touched, author, days_ago=8)
    db.session.commit()
    assert calls == [touched.id]
    assert [r.value for r in store.active_flags(touched.id)] == [2.0]
    assert store.active_flags(other.id) == []

    calls.clear()
    factory.user(Role.CITIZEN)  # unrelated rows: no refresh at all
    assert calls == []


def test_rollback_drops_pending_refresh(db, factory, monkeypatch):
    process = factory.process()
    author = factory.participant(kind="citizen")
    _rejected(db, process, author)
    db.session.flush()
    db.session.rollback()
    calls: list[int] = []
    monkeypatch.setattr(store, "compute_current_flags",
                        lambda pid, now: calls.append(pid) or [])
    factory.user(Role.CITIZEN)
    assert calls == []
    assert _count(db, FlagRecord) == 0


def test_engine_failure_does_not_refuse_the_change(db, factory, monkeypatch, caplog):
    process = factory.process()
    author = factory.participant(kind="citizen")

    def broken(process_id, now):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(store, "compute_current_flags", broken)
    _rejected(db, process, author)
    db.session.commit()
    assert _count(db, Proposal) == 1 and _count(db, FlagRecord) == 0
    assert "flag refresh failed" in caplog.text


def test_mark_dirty_refreshes_a_process_changed_outside_the_orm(db, factory):
    process = factory.process()
    author = factory.participant(kind="citizen")
    now = utcnow()
    db.session.execute(sa.insert(Proposal).values(
        process_id=process.id, author_id=author.id, title="Bulk", body="",
        state=ProposalState.REJECTED, created_at=now, published_at=now - timedelta(days=3),
        answered_at=now - timedelta(days=1), answer_rationale=None))
    db.session.commit()
    assert store.active_flags(process.id) == []  # a Core insert leaves no hint
    mark_dirty(process.id)
    db.session.commit()
    assert [r.code for r in store.active_flags(process.id)] == ["unreasoned_rejection"]


def test_auto_refresh_can_be_switched_off(app, db, factory):
    process = factory.process()
    author = factory.participant(kind="citizen")
    app.config["FLAGS_AUTO_REFRESH"] = False
    try:
        _rejected(db, process, author)
        db.session.commit()
        assert store.active_flags(process.id) == []
    finally:
        app.config["FLAGS_AUTO_REFRESH"] = True


# ---------------------------------------------------------------- notifications


def test_alert_notifies_staff_and_admins_only(db, factory):
    staff = factory.user(Role.STAFF)
    admin = factory.user(Role.ADMIN)
    citizen = factory.user(Role.CITIZEN)
    elected = factory.user(Role.ELECTED)
    gone = factory.user(Role.STAFF)
    gone.deleted_at = utcnow()
    db.session.commit()
    process = factory.process(title="Agenda")
    author = factory.participant(kind="citizen")
    now = utcnow()
    db.session.add(Proposal(process_id=process.id, author_id=author.id, title="Old",
                            state=ProposalState.PUBLISHED,
                            published_at=now - timedelta(days=100)))
    db.session.commit()
    notes = list(db.session.scalars(sa.select(Notification).order_by(Notification.user_id)))
    assert [n.user_id for n in notes] == [staff.id, admin.id]
    assert {n.user_id for n in notes}.isdisjoint({citizen.id, elected.id, gone.id})
    assert notes[0].kind == "flag.alert"
    assert notes[0].link == f"/manage/processes/{process.id}/flags"
    text = render_message(notes[0].message, notes[0].params)
    assert "Agenda" in text and "answer" in text


def test_an_alert_names_its_public_value_in_the_readers_language(app, db, factory):
    """A notification stores the value's code and reads its name, in French or in English."""
    from flask_babel import force_locale

    from pvplatform.feedback.models import PublicValue
    from pvplatform.indicators.messages import phrase
    from pvplatform.indicators.rows import FlagRow, Severity

    staff = factory.user(Role.STAFF)
    process = factory.process(title="Agenda")
    db.session.add(PublicValue(process_id=process.id, code="confiance_inst",
                               name="Confiance dans les institutions",
                               name_en="Trust in institutions"))
    db.session.commit()
    flag = FlagRow("value_duality", Severity.ALERT, 1.0, phrase("Duality."), 0.01,
                   public_value="confiance_inst")
    store.sync_flags(process.id, [flag], now=utcnow())
    db.session.commit()
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == staff.id))
    with app.test_request_context(), force_locale("en"):
        assert "Trust in institutions" in render_message(note.message, note.params)
    with app.test_request_context(), force_locale("fr"):
        text = render_message(note.message, note.params)
        assert "Confiance dans les institutions" in text and "confiance_inst" not in text


def test_warning_does_not_notify(db, factory):
    factory.user(Role.STAFF)
    process = factory.process()
    author = factory.participant(kind="citizen")
    _rejected(db, process, author)
    db.session.commit()
    assert len(store.active_flags(process.id)) == 1
    assert _count(db, Notification) == 0


def test_alert_e_mail_is_sent_after_commit_when_mail_is_configured(app, db, factory,
                                                                   monkeypatch):
    from pvplatform.core import mail

    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send_mail", lambda to, subject, body: sent.append(
        (to, subject, body)) or True)
    staff = factory.user(Role.STAFF)
    process = factory.process(title="Agenda")
    author = factory.participant(kind="citizen")
    app.config["MAIL_SERVER"] = "smtp.example.org"
    try:
        db.session.add(Proposal(process_id=process.id, author_id=author.id, title="Old",
                                state=ProposalState.PUBLISHED,
                                published_at=utcnow() - timedelta(days=100)))
        db.session.flush()
        assert sent == []
        db.session.commit()
    finally:
        app.config["MAIL_SERVER"] = ""
    assert len(sent) == 1
    to, subject, body = sent[0]
    assert to == staff.email
    assert "Agenda" in subject
    assert f"/manage/processes/{process.id}/flags" in body


def test_no_e_mail_without_mail_server(db, factory, monkeypatch):
    from pvplatform.core import mail

    sent: list = []
    monkeypatch.setattr(mail, "send_mail", lambda *a: sent.append(a))
    factory.user(Role.STAFF)
    process = factory.process()
    author = factory.participant(kind="citizen")
    db.session.add(Proposal(process_id=process.id, author_id=author.id, title="Old",
                            state=ProposalState.PUBLISHED,
                            published_at=utcnow() - timedelta(days=100)))
    db.session.commit()
    assert sent == [] and _count(db, Notification) == 1


def test_send_mail_does_nothing_without_server_and_logs_failures(app, monkeypatch, caplog):
    from pvplatform.core import mail

    with app.app_context():
        assert mail.send_mail("a@example.org", "Subject", "Body") is False

        class Broken:
            def __init__(self, *args, **kwargs):
                raise OSError("connection refused")

        monkeypatch.setattr(mail.smtplib, "SMTP", Broken)
        app.config["MAIL_SERVER"] = "smtp.invalid"
        try:
            assert mail.send_mail("a@example.org", "Subject", "Body") is False
        finally:
            app.config["MAIL_SERVER"] = ""
    assert "mail not sent" in caplog.text


# ---------------------------------------------------------------- acknowledgement


def test_acknowledge_writes_event_and_audit_row(db, factory):
    staff = factory.user(Role.STAFF)
    process = factory.process()
    author = factory.participant(kind="citizen")
    _rejected(db, process, author)
    db.session.commit()
    record = store.active_flags(process.id)[0]
    now = utcnow()
    store.acknowledge(record.id, actor=staff, note="  Asked the council to add reasons. ",
                      now=now)
    db.session.commit()
    record = db.session.get(FlagRecord, record.id)
    assert record.acknowledged_at == now and record.acknowledged_by_id == staff.id
    assert record.acknowledgement_note == "Asked the council to add reasons."
    event = record.events[-1]
    assert (event.kind, event.actor_id, event.note) == (
        FlagEventKind.ACKNOWLEDGED, staff.id, "Asked the council to add reasons.")
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert (audit.action, audit.target_type, audit.target_id, audit.process_id) == (
        "flag.acknowledge", "flag", record.id, process.id)
    assert audit.actor_id == staff.id and audit.details["code"] == "unreasoned_rejection"


@pytest.mark.parametrize("note", ["", "   ", "x" * 1001])
def test_acknowledge_refuses_bad_notes(db, factory, note):
    staff = factory.user(Role.STAFF)
    process = factory.process()
    _rejected(db, process, factory.participant(kind="citizen"))
    db.session.commit()
    record = store.active_flags(process.id)[0]
    with pytest.raises(ValidationFailed):
        store.acknowledge(record.id, actor=staff, note=note, now=utcnow())
    db.session.rollback()
    assert _count(db, AuditLog) == 0 and _count(db, FlagEvent) == 1


def test_acknowledge_refuses_cleared_and_unknown_flags(db, factory):
    staff = factory.user(Role.STAFF)
    process = factory.process()
    proposal = _rejected(db, process, factory.participant(kind="citizen"))
    db.session.commit()
    record = store.active_flags(process.id)[0]
    proposal.answer_rationale = "Reasons."
    db.session.commit()
    with pytest.raises(InvalidState):
        store.acknowledge(record.id, actor=staff, note="Late", now=utcnow())
    for bad in (0, -1, 2**63, record.id + 1000):
        with pytest.raises(NotFound):
            store.acknowledge(bad, actor=staff, note="Note", now=utcnow())


# ---------------------------------------------------------------- thresholds


def test_thresholds_default_then_own_values(db, factory):
    process = factory.process()
    assert settings.thresholds_for(process.id) == DEFAULTS
    staff = factory.user(Role.STAFF)
    result = settings.set_thresholds(process.id, {"no_show_warning": "0,9",
                                               "no_show_min_registrations": 5},
                                  actor=staff, now=utcnow())
    db.session.commit()
    assert result.no_show_warning == 0.9 and result.no_show_min_registrations == 5
    mine = settings.thresholds_for(process.id)
    assert mine == result and isinstance(mine.no_show_min_registrations, int)
    assert settings.thresholds_for(factory.process().id) == DEFAULTS
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert audit.action == "thresholds.update" and audit.process_id == process.id
    assert audit.details == {
        "from": {"no_show_min_registrations": 10, "no_show_warning": 0.3},
        "to": {"no_show_min_registrations": 5, "no_show_warning": 0.9}}

    # Back to the default: the row goes, the change is audited.
    settings.reset_thresholds(process.id, actor=staff, now=utcnow())
    db.session.commit()
    assert settings.thresholds_for(process.id) == DEFAULTS
    assert _count(db, ProcessThreshold) == 0
    assert _count(db, AuditLog) == 2
    # Saving the same values again is not a change: no audit row.
    settings.reset_thresholds(process.id, actor=staff, now=utcnow())
    db.session.commit()
    assert _count(db, AuditLog) == 2


def test_thresholds_change_is_used_by_the_refresh(db, factory):
    staff = factory.user(Role.STAFF)
    process, _meeting = _no_show_world(db, factory, registered=10, came=2)
    assert [r.code for r in store.active_flags(process.id)] == ["high_no_show"]
    settings.set_thresholds(process.id, {"no_show_warning": 0.9}, actor=staff, now=utcnow())
    db.session.commit()  # the change of threshold refreshes the flags on its own
    assert store.active_flags(process.id) == []
    assert [e.kind for e in _records(db, process.id)[0].events] == [
        FlagEventKind.RAISED, FlagEventKind.CLEARED]


def test_evidence_and_weak_value_thresholds_are_the_processs_own_and_audited(db, factory):
    """alpha, duality_delta, weak_below and weak_delta are set per process like the others:
    audited, and used by the next refresh (a flag resting on p = 0.0377 goes at alpha 0.01)."""
    from pvplatform.participation.importer import import_package
    from tests.examples import TINY

    staff = factory.user(Role.STAFF)
    process = import_package(TINY, now=datetime(2030, 1, 1, tzinfo=UTC))
    db.session.commit()
    march = datetime(2026, 3, 1, tzinfo=UTC)

    def raised() -> set[tuple[str, str]]:
        return {(f.code, f.category) for f in store.compute_current_flags(process.id, march)}

    assert ("over_representation", "centre") in raised()
    settings.set_thresholds(process.id, {"alpha": "0,01", "duality_delta": 0.8,
                                         "weak_below": 2.5, "weak_delta": -0.5},
                            actor=staff, now=utcnow())
    db.session.commit()
    mine = settings.thresholds_for(process.id)
    assert (mine.alpha, mine.duality_delta, mine.weak_below, mine.weak_delta) == (
        0.01, 0.8, 2.5, -0.5)
    assert ("over_representation", "centre") not in raised()
    assert ("over_representation", "owner") in raised()  # p = 0.000008: still beyond chance
    audit = db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "thresholds.update").order_by(AuditLog.id.desc())).first()
    assert audit.details["to"] == {"alpha": 0.01, "duality_delta": 0.8, "weak_below": 2.5,
                                   "weak_delta": -0.5}
    assert audit.details["from"]["alpha"] == 0.05


@pytest.mark.parametrize("values", [
    {"no_show_warning": "abc"},
    {"no_show_warning": ""},
    {"no_show_warning": "nan"},
    {"no_show_warning": "inf"},
    {"no_show_warning": 1.5},
    {"no_show_warning": -0.1},
    {"no_show_warning": True},
    {"under_representation_alert": 11},
    {"no_show_min_registrations": "2.5"},
    {"no_show_min_registrations": -1},
    {"absent_association_sessions": 0},
    {"eroding_delta": 0.5},
    {"alpha": 0},
    {"alpha": 0.9},
    {"weak_below": 6},
    {"weak_delta": 0.25},
    {"duality_delta": -1},
    {"under_representation_alert": 0.9},  # above the warning band (0.8)
    {"over_representation_warning": 2.5},  # above the alert band (2.0)
    {"under_representation_warning": 1.3},  # above the over-representation warning (1.25)
    {"retention_alert": 0.5},  # not below the warning (0.5)
    {"unanswered_warning_days": 90},  # not before the alert (90)
    {"not_a_threshold": 1},
])
def test_invalid_thresholds_are_refused_and_nothing_is_stored(db, factory, values):
    staff = factory.user(Role.STAFF)
    process = factory.process()
    with pytest.raises(settings.ThresholdsInvalid) as caught:
        settings.set_thresholds(process.id, {"no_show_min_registrations": 3, **values},
                             actor=staff, now=utcnow())
    assert caught.value.status == 422 and caught.value.errors
    db.session.rollback()
    assert _count(db, ProcessThreshold) == 0 and _count(db, AuditLog) == 0


def test_thresholds_of_an_unknown_process(db, factory):
    staff = factory.user(Role.STAFF)
    with pytest.raises(NotFound):
        settings.set_thresholds(12345, {"no_show_warning": 0.5}, actor=staff, now=utcnow())


def test_every_threshold_has_a_spec_with_its_default_in_range():
    for spec in settings.THRESHOLD_SPECS:
        assert spec.minimum <= spec.default <= spec.maximum, spec.name
        assert isinstance(spec.default, int) == spec.integer, spec.name
    for lower, upper in settings.ORDERED_PAIRS:
        assert getattr(DEFAULTS, lower) < getattr(DEFAULTS, upper)


# ---------------------------------------------------------------- import and CLI


def test_import_stores_the_flags_of_the_package(app, db):
    from pvplatform.participation.importer import import_package
    from tests.examples import TINY

    process = import_package(TINY, now=datetime(2030, 1, 1, tzinfo=UTC))
    db.session.commit()
    stored = {(r.code, r.key) for r in store.active_flags(process.id)}
    computed = {(r.code, store.flag_key(r))
                for r in store.compute_current_flags(process.id, utcnow())}
    assert stored == computed


def test_recompute_command_refreshes_running_processes(app, db, factory, monkeypatch):
    today = utcnow().date()
    running = factory.process(title="Running")
    finished = factory.process(title="Finished", today=today - timedelta(days=400))
    author = factory.participant(kind="citizen")
    for process in (running, finished):
        db.session.execute(sa.insert(Proposal).values(
            process_id=process.id, author_id=author.id, title="Bulk", body="",
            state=ProposalState.REJECTED, created_at=utcnow(),
            published_at=utcnow() - timedelta(days=3),
            answered_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["pv", "recompute"])
    assert result.exit_code == 0, result.output
    assert f"process {running.id}: 1 raised, 0 cleared, 0 changed, 1 active" in result.output
    assert f"process {finished.id}" not in result.output
    assert [r.code for r in store.active_flags(running.id)] == ["unreasoned_rejection"]
    assert store.active_flags(finished.id) == []

    again = app.test_cli_runner().invoke(args=["pv", "recompute"])
    assert f"process {running.id}: 0 raised, 0 cleared, 0 changed, 1 active" in again.output

    def broken(process_id, now):
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "compute_current_flags", broken)
    failed = app.test_cli_runner().invoke(args=["pv", "recompute"])
    assert failed.exit_code != 0 and "boom" in failed.output


def test_flags_command_still_prints_computed_rows(app, db, factory):
    import json

    process = factory.process()
    _rejected(db, process, factory.participant(kind="citizen"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["pv", "flags", str(process.id)])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["code"] for r in rows] == ["unreasoned_rejection"]


@pytest.mark.postgres_only  # row locks are a PostgreSQL matter
def test_simultaneous_commits_do_not_duplicate_a_flag(app, db, factory, monkeypatch):
    """Two changes committed at the same moment both refresh the process: the second waits
    for the first and updates its record instead of inserting a duplicate."""
    import threading
    import time

    process = factory.process()
    author = factory.participant(kind="citizen")
    process_id, author_id = process.id, author.id
    original = store.compute_current_flags

    def slow(pid, now):
        rows = original(pid, now)
        time.sleep(0.3)  # widen the window in which the two transactions overlap
        return rows

    monkeypatch.setattr(store, "compute_current_flags", slow)
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def change(i: int) -> None:
        with app.app_context():
            now = utcnow()
            db.session.add(Proposal(process_id=process_id, author_id=author_id, title=f"I{i}",
                                    state=ProposalState.REJECTED,
                                    published_at=now - timedelta(days=5),
                                    answered_at=now - timedelta(days=2), answer_rationale=""))
            db.session.flush()
            barrier.wait()
            try:
                db.session.commit()
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(repr(err))
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=change, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    records = _records(db, process_id)
    assert [(r.code, r.value, r.cleared_at) for r in records] == [
        ("unreasoned_rejection", 2.0, None)]


def test_stored_flags_keep_their_evidence_in_their_history(app, db):
    """p_value is stored with the record and with each event, so that the history says how sure
    the platform was when it raised (and later cleared) a flag."""
    from pvplatform.participation.importer import import_package
    from tests.examples import PULSE

    process = import_package(PULSE, now=datetime(2030, 1, 1, tzinfo=UTC))
    db.session.commit()
    march = datetime(2026, 3, 1, tzinfo=UTC)
    store.refresh_flags(process.id, now=march)
    db.session.commit()
    computed = {(f.code, store.flag_key(f)): f for f in store.compute_flags(process.id, march)}
    records = store.active_flags(process.id)
    statistical = [r for r in records if r.code in ("under_representation",
                                                    "over_representation")]
    assert statistical
    for record in records:
        want = computed[(record.code, record.key)].p_value
        assert record.p_value == want
        # Raised at the import's refresh (as of its own instant), with the evidence of then.
        assert (record.events[0].p_value is None) == (want is None)
    assert all(r.p_value is not None and r.p_value < 0.05 for r in statistical)
    assert all(r.p_value is None for r in records if r.code == "unanswered_proposals")


def test_a_ratio_that_would_give_a_small_count_back_is_not_shown(app):
    from pvplatform.indicators.messages import Count, Guarded, phrase

    message = phrase("%(count)s came (ratio %(ratio)s)", count=Count(4),
                     ratio=Guarded("0.15", 4))
    assert message.render(k=5) == "fewer than 5 came (ratio not shown)"
    assert message.render(k=3) == "4 came (ratio 0.15)"


def test_withdrawing_demographics_asks_for_a_refresh_of_the_persons_processes(db, factory):
    """The withdrawal deletes in bulk, which the ORM events do not see: it says so itself."""
    from pvplatform.indicators.autorefresh import HINTS_KEY, PARTICIPANT
    from pvplatform.participation.demographics import withdraw

    person = factory.participant(kind="citizen")
    db.session.commit()
    withdraw(person, now=utcnow())
    assert person.id in db.session.info.get(HINTS_KEY, {}).get(PARTICIPANT, set())
    db.session.rollback()
