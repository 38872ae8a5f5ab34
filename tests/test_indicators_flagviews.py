"""Staff pages of stored flags: check-ins through the UI move flags with no manual step
(acceptance 3), flag history, acknowledgement, thresholds page, permissions."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.indicators import store
from pvplatform.indicators import thresholds as settings
from pvplatform.indicators.messages import evidence
from pvplatform.indicators.models import FlagEvent, FlagEventKind, FlagRecord, ProcessThreshold
from pvplatform.moderation.models import AuditLog
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import Participant, ParticipantAttribute, Stratum
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions import services as session_services
from pvplatform.sessions.models import Registration


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _active(process_id: int) -> dict[tuple[str, str], FlagRecord]:
    return {(r.code, r.category): r for r in store.active_flags(process_id)}


class RunningProcess:
    """A running process whose session started an hour ago (check-in open), with strata by age
    (half young, half old) and registered external participants who gave their age."""

    def __init__(self, db, factory, *, old: int = 20, young: int = 10) -> None:
        self.db = db
        self.process = factory.process()
        now = utcnow()
        self.meeting = factory.meeting(self.process, starts_at=now - timedelta(hours=1),
                                       capacity=None)
        db.session.add_all([
            Stratum(process_id=self.process.id, dimension="age", category="young",
                    population_share=0.5),
            Stratum(process_id=self.process.id, dimension="age", category="old",
                    population_share=0.5),
        ])
        self.registrations: dict[str, list[Registration]] = {"old": [], "young": []}
        for category, count in (("old", old), ("young", young)):
            for i in range(count):
                person = Participant(kind="citizen", display_name=f"{category} {i}")
                db.session.add(person)
                db.session.flush()
                db.session.add(ParticipantAttribute(participant_id=person.id, dimension="age",
                                                    category=category))
                registration = Registration(meeting_id=self.meeting.id,
                                            participant_id=person.id,
                                            registered_at=now - timedelta(days=3))
                db.session.add(registration)
                self.registrations[category].append(registration)
        db.session.commit()

    def check_in_directly(self, registration: Registration, staff) -> None:
        session_services.check_in_registration(self.meeting, registration, by=staff,
                                               mode="in_person", now=utcnow())
        self.db.session.commit()


def test_checking_attendees_in_through_the_ui_raises_and_clears_flags(
        db, factory, client, login_as):
    """Acceptance 3: no one presses "recompute"."""
    staff = factory.user(Role.STAFF)
    # Contract v2: a representation flag needs evidence (Holm-corrected exact binomial test
    # below 0.05). 10 young among 30 is within chance (p = 0.197); 20 among 60 is not (0.027).
    world = RunningProcess(db, factory, old=40, young=20)
    for registration in world.registrations["old"][:19]:
        world.check_in_directly(registration, staff)
    pid = world.process.id
    # 19 known attendees: below the 20 a dimension needs before representation is judged.
    assert not {code for code, _cat in _active(pid)} & {
        "under_representation", "stratum_not_reached", "over_representation"}

    login_as(staff)
    twentieth = world.registrations["old"][19]
    response = client.post(f"/manage/sessions/{world.meeting.id}/checkin",
                           data={"registration_id": twentieth.id, "mode": "in_person"})
    assert response.status_code in (302, 303)
    active = _active(pid)
    assert active[("under_representation", "young")].severity == "alert"
    assert active[("under_representation", "young")].value == 0.0
    assert active[("stratum_not_reached", "young")].value == 10.0
    assert active[("over_representation", "old")].severity == "warning"
    # Staff are told of the alerts.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == staff.id, Notification.kind == "flag.alert")) == 2

    # The first young attendee clears "not reached"; the record stays with its history.
    not_reached_id = active[("stratum_not_reached", "young")].id
    first_young = world.registrations["young"][0]
    response = client.post(f"/manage/sessions/{world.meeting.id}/checkin",
                           data={"registration_id": first_young.id, "mode": "in_person"})
    assert response.status_code in (302, 303)
    active = _active(pid)
    assert ("stratum_not_reached", "young") not in active
    cleared = db.session.get(FlagRecord, not_reached_id)
    assert cleared.cleared_at is not None
    assert [e.kind for e in cleared.events] == [FlagEventKind.RAISED, FlagEventKind.CLEARED]
    assert active[("under_representation", "young")].severity == "alert"

    # Enough young attendees: the alert becomes a warning, the history says so.
    for registration in world.registrations["old"][20:]:
        world.check_in_directly(registration, staff)
    assert _active(pid)[("under_representation", "young")].severity == "alert"
    for registration in world.registrations["young"][1:]:
        client.post(f"/manage/sessions/{world.meeting.id}/checkin",
                    data={"registration_id": registration.id, "mode": "in_person"})
    active = _active(pid)
    under = active[("under_representation", "young")]
    assert under.severity == "warning" and under.value == pytest.approx(0.666667)
    assert [e.kind for e in under.events] == [FlagEventKind.RAISED,
                                              FlagEventKind.SEVERITY_CHANGED]
    assert under.p_value == pytest.approx(0.026979)
    assert under.events[0].p_value < 0.001

    page = client.get(f"/manage/processes/{pid}/flags")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Under-represented category" in html and "Category not reached" in html
    # The evidence of the flag, and of each event of its history; none for "not reached".
    card = unescape(html.split("Under-represented category")[1].split('<li class="flag-card')[0])
    assert f"Evidence:</strong> {evidence(under.p_value)}" in card
    assert "p = 0.027" in card
    assert "· p < 0.001" in card
    not_reached = html.split("Category not reached")[1].split('<li class="flag-card')[0]
    assert "Evidence:" not in not_reached and "· p " not in not_reached
    assert html.index("Active flags") < html.index("Cleared flags") < html.index(
        "Category not reached")


def _flagged_process(db, factory):
    process = factory.process(title="Agenda")
    author = factory.participant(kind="citizen")
    now = utcnow()
    db.session.add(Proposal(process_id=process.id, author_id=author.id, title="Idea",
                            state=ProposalState.REJECTED, published_at=now - timedelta(days=5),
                            answered_at=now - timedelta(days=2), answer_rationale=""))
    db.session.commit()
    record = store.active_flags(process.id)[0]
    return process, record


# ---------------------------------------------------------------- flag history page


def test_flag_page_empty_state(db, factory, client, login_as):
    process = factory.process()
    login_as(factory.user(Role.STAFF))
    html = client.get(f"/manage/processes/{process.id}/flags").get_data(as_text=True)
    assert "No active flag" in html and "No cleared flag yet" in html


def test_elected_officials_read_flags_but_cannot_acknowledge(db, factory, client, login_as):
    process, record = _flagged_process(db, factory)
    login_as(factory.user(Role.ELECTED))
    page = client.get(f"/manage/processes/{process.id}/flags")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Rejections without reasons" in html
    assert f"/manage/flags/{record.id}/acknowledge" not in html
    response = client.post(f"/manage/flags/{record.id}/acknowledge", data={"note": "Seen"})
    assert response.status_code == 403
    assert _count(db, AuditLog) == 0


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.ASSOCIATION, Role.EVALUATOR])
def test_others_may_not_see_flags_or_thresholds(db, factory, client, login_as, role):
    process, record = _flagged_process(db, factory)
    login_as(factory.user(role))
    assert client.get(f"/manage/processes/{process.id}/flags").status_code == 403
    assert client.get(f"/manage/processes/{process.id}/thresholds").status_code == 403
    assert client.post(f"/manage/processes/{process.id}/thresholds",
                       data={"no_show_warning": "0.9"}).status_code == 403
    assert client.post(f"/manage/processes/{process.id}/thresholds/reset").status_code == 403
    assert client.post(f"/manage/flags/{record.id}/acknowledge",
                       data={"note": "x"}).status_code == 403
    assert _count(db, AuditLog) == 0 and _count(db, ProcessThreshold) == 0


def test_anonymous_visitors_are_sent_to_login(db, factory, client):
    process, record = _flagged_process(db, factory)
    for response in (client.get(f"/manage/processes/{process.id}/flags"),
                     client.get(f"/manage/processes/{process.id}/thresholds"),
                     client.post(f"/manage/flags/{record.id}/acknowledge", data={"note": "x"})):
        assert response.status_code in (302, 303) and "/auth/login" in response.location


def test_unknown_ids_are_404(db, factory, client, login_as):
    login_as(factory.user(Role.STAFF))
    for url in ("/manage/processes/999/flags", "/manage/processes/999/thresholds",
                f"/manage/processes/{2**63}/flags"):
        assert client.get(url).status_code == 404
    assert client.post("/manage/flags/999/acknowledge", data={"note": "x"}).status_code == 404
    assert client.post(f"/manage/flags/{2**63}/acknowledge",
                       data={"note": "x"}).status_code == 404
    assert client.post("/manage/processes/999/thresholds/reset").status_code == 404


# ---------------------------------------------------------------- acknowledgement


def test_acknowledge_through_the_page(db, factory, client, login_as):
    process, record = _flagged_process(db, factory)
    staff = factory.user(Role.STAFF)
    login_as(staff)
    html = client.get(f"/manage/processes/{process.id}/flags").get_data(as_text=True)
    assert f'id="flag-{record.id}-note"' in html and f'for="flag-{record.id}-note"' in html
    response = client.post(f"/manage/flags/{record.id}/acknowledge",
                           data={"note": "We asked the council for its reasons.",
                                 "next": f"/manage/processes/{process.id}/flags"})
    assert response.status_code == 302
    assert response.location.endswith(f"/manage/processes/{process.id}/flags")
    record = db.session.get(FlagRecord, record.id)
    assert record.acknowledged_by_id == staff.id
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert audit.action == "flag.acknowledge" and audit.target_id == record.id
    html = client.get(f"/manage/processes/{process.id}/flags").get_data(as_text=True)
    assert "We asked the council for its reasons." in html and "Acknowledged by" in html


def test_acknowledge_goes_back_to_the_dashboard_by_default(app, db, factory, client, login_as):
    process, record = _flagged_process(db, factory)
    login_as(factory.user(Role.ADMIN))
    response = client.post(f"/manage/flags/{record.id}/acknowledge", data={"note": "Seen."})
    assert response.status_code == 302
    if "indicators.dashboard" in app.view_functions:
        with app.test_request_context():
            from flask import url_for

            expected = url_for("indicators.dashboard", process_id=process.id)
    else:
        expected = "/manage/processes"
    assert response.location.endswith(expected)
    # An off-site `next` is ignored.
    _p, other = _flagged_process(db, factory)
    response = client.post(f"/manage/flags/{other.id}/acknowledge",
                           data={"note": "Seen.", "next": "https://evil.example/"})
    assert "evil" not in response.location


@pytest.mark.parametrize("data", [{}, {"note": ""}, {"note": "   "}, {"note": "x" * 1001},
                                  {"note": "bad\x00char"}, {"note": "rtl\u202eoverride"}])
def test_acknowledge_bad_notes_are_refused(db, factory, client, login_as, data):
    process, record = _flagged_process(db, factory)
    login_as(factory.user(Role.STAFF))
    response = client.post(f"/manage/flags/{record.id}/acknowledge", data=data)
    assert response.status_code == 422
    assert f'id="flag-{record.id}-note"' in response.get_data(as_text=True)
    assert _count(db, AuditLog) == 0 and _count(db, FlagEvent) == 1
    assert db.session.get(FlagRecord, record.id).acknowledged_at is None


def test_acknowledge_a_cleared_flag_is_refused(db, factory, client, login_as):
    process, record = _flagged_process(db, factory)
    proposal = db.session.scalars(sa.select(Proposal)).one()
    proposal.answer_rationale = "Reasons."
    db.session.commit()
    login_as(factory.user(Role.STAFF))
    response = client.post(f"/manage/flags/{record.id}/acknowledge", data={"note": "Late"})
    assert response.status_code == 409
    assert _count(db, AuditLog) == 0


# ---------------------------------------------------------------- thresholds page


def _thresholds_form(**changes) -> dict[str, str]:
    data = {spec.name: str(spec.default) for spec in settings.THRESHOLD_SPECS}
    data.update({k: str(v) for k, v in changes.items()})
    return data


def test_thresholds_page_shows_defaults_and_saves(db, factory, client, login_as):
    staff = factory.user(Role.STAFF)
    world = RunningProcess(db, factory, old=10, young=0)
    for registration in world.registrations["old"][:2]:
        world.check_in_directly(registration, staff)
    pid = world.process.id
    assert ("high_no_show", "") in _active(pid)
    login_as(staff)
    page = client.get(f"/manage/processes/{pid}/thresholds")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="no_show_warning"' in html and 'value="0.3"' in html
    assert "Default: 0.3" in html and "Reset to the defaults" in html

    response = client.post(f"/manage/processes/{pid}/thresholds",
                           data=_thresholds_form(no_show_warning="0.9"))
    assert response.status_code == 302
    assert settings.thresholds_for(pid).no_show_warning == 0.9
    assert ("high_no_show", "") not in _active(pid)  # recomputed at once
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert audit.details == {"from": {"no_show_warning": 0.3}, "to": {"no_show_warning": 0.9}}
    html = client.get(f"/manage/processes/{pid}/thresholds").get_data(as_text=True)
    assert 'value="0.9"' in html

    response = client.post(f"/manage/processes/{pid}/thresholds/reset")
    assert response.status_code == 302
    assert settings.thresholds_for(pid).no_show_warning == 0.3
    assert ("high_no_show", "") in _active(pid)
    assert _count(db, AuditLog) == 2 and _count(db, ProcessThreshold) == 0


@pytest.mark.parametrize("changes, field", [
    ({"no_show_warning": ""}, "no_show_warning"),
    ({"no_show_warning": "abc"}, "no_show_warning"),
    ({"no_show_warning": "1.5"}, "no_show_warning"),
    ({"no_show_warning": "9" * 40}, "no_show_warning"),
    ({"no_show_min_registrations": "2.5"}, "no_show_min_registrations"),
    ({"no_show_min_registrations": "-3"}, "no_show_min_registrations"),
    ({"under_representation_alert": "0.9"}, "under_representation_warning"),
    ({"retention_warning": "0.2"}, "retention_warning"),
    ({"duality_min_n": "5\x00"}, "duality_min_n"),
])
def test_invalid_thresholds_are_refused_with_422(db, factory, client, login_as, changes,
                                                  field):
    process = factory.process()
    login_as(factory.user(Role.STAFF))
    response = client.post(f"/manage/processes/{process.id}/thresholds",
                           data=_thresholds_form(**changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert _count(db, ProcessThreshold) == 0 and _count(db, AuditLog) == 0


def test_thresholds_form_with_missing_fields_is_refused(db, factory, client, login_as):
    process = factory.process()
    login_as(factory.user(Role.STAFF))
    response = client.post(f"/manage/processes/{process.id}/thresholds", data={})
    assert response.status_code == 422
    assert _count(db, ProcessThreshold) == 0 and _count(db, AuditLog) == 0
