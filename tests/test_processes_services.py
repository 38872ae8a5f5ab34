"""Unit tests of processes.services: current phase, what is open, standard phases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.errors import ValidationFailed
from pvplatform.moderation.models import AuditLog
from pvplatform.processes import services
from pvplatform.processes.models import Phase, PhaseKind, Process


@pytest.fixture(autouse=True)
def _request(app):
    # Domain error messages are translated, and the locale is chosen per request.
    with app.test_request_context():
        yield


@pytest.fixture
def process(db):
    process = Process(title="P", starts_on=date(2030, 1, 1), ends_on=date(2030, 12, 31))
    process.phases = [
        Phase(kind=PhaseKind.INFORMATION, starts_on=date(2030, 1, 1), ends_on=date(2030, 1, 31)),
        Phase(kind=PhaseKind.CO_CREATION, starts_on=date(2030, 2, 1), ends_on=date(2030, 5, 31),
              proposals_open=True, comments_open=True, votes_open=False),
        Phase(kind=PhaseKind.DECISION, starts_on=date(2030, 7, 1), ends_on=date(2030, 7, 31),
              votes_open=True),
    ]
    db.session.add(process)
    db.session.commit()
    return process


@pytest.mark.parametrize(("day", "kind"), [
    (date(2029, 12, 31), None),
    (date(2030, 1, 1), PhaseKind.INFORMATION),
    (date(2030, 1, 31), PhaseKind.INFORMATION),
    (date(2030, 2, 1), PhaseKind.CO_CREATION),
    (date(2030, 5, 31), PhaseKind.CO_CREATION),
    (date(2030, 6, 15), None),  # a gap between phases
    (date(2030, 7, 31), PhaseKind.DECISION),
    (date(2031, 1, 1), None),
])
def test_current_phase(process, day, kind):
    phase = services.current_phase(process, today=day)
    assert (phase.kind if phase else None) == kind


def test_current_phase_prefers_latest_start_when_overlapping(db, process):
    extra = Phase(process_id=process.id, kind=PhaseKind.REVIEW, starts_on=date(2030, 5, 1),
                  ends_on=date(2030, 5, 10))
    db.session.add(extra)
    db.session.commit()
    assert services.current_phase(process, today=date(2030, 5, 5)).id == extra.id


def test_current_phase_ignores_other_processes(db, process):
    other = Process(title="Other")
    other.phases = [Phase(kind=PhaseKind.REVIEW, starts_on=date(2030, 1, 1),
                          ends_on=date(2030, 12, 31))]
    db.session.add(other)
    db.session.commit()
    assert services.current_phase(process, today=date(2030, 6, 15)) is None


@pytest.mark.parametrize(("day", "proposals", "comments", "votes"), [
    (date(2030, 1, 15), False, False, False),
    (date(2030, 3, 1), True, True, False),
    (date(2030, 6, 15), False, False, False),
    (date(2030, 7, 15), False, False, True),
    (date(2032, 1, 1), False, False, False),
])
def test_is_open(process, day, proposals, comments, votes):
    assert services.is_open(process, "proposals", today=day) is proposals
    assert services.is_open(process, "comments", today=day) is comments
    assert services.is_open(process, "votes", today=day) is votes


def test_open_now(process):
    assert services.open_now(None) == []
    assert services.open_now(process.phases[1]) == ["proposals", "comments"]
    assert services.open_now(process.phases[2]) == ["votes"]


@pytest.mark.parametrize(("start", "end"), [
    (date(2030, 1, 1), date(2030, 1, 5)),
    (date(2030, 1, 1), date(2030, 1, 6)),
    (date(2030, 1, 1), date(2030, 1, 13)),
    (date(2030, 1, 1), date(2030, 12, 31)),
    (date(2030, 3, 7), date(2033, 2, 11)),
])
def test_standard_phases_cover_the_dates_without_gaps(start, end):
    phases = services.standard_phases(start, end)
    assert [p.kind for p in phases] == [kind for kind, _share, _open in services.STANDARD_PHASES]
    assert phases[0].starts_on == start and phases[-1].ends_on == end
    for phase in phases:
        assert phase.starts_on <= phase.ends_on
    for earlier, later in zip(phases, phases[1:], strict=False):
        assert later.starts_on == earlier.ends_on + timedelta(days=1)


def test_standard_phases_refuse_short_or_undated():
    with pytest.raises(ValidationFailed) as err:
        services.standard_phases(date(2030, 1, 1), date(2030, 1, 4))
    assert err.value.field == "standard_phases"
    with pytest.raises(ValidationFailed):
        services.standard_phases(None, date(2030, 1, 4))


def test_create_process_checks_before_storing(db, factory):
    admin = factory.user("admin")
    with pytest.raises(ValidationFailed) as err:
        services.create_process(title="T", goal_numbers=[11, 42], actor=admin, now=utcnow())
    assert err.value.field == "goals"
    with pytest.raises(ValidationFailed) as err:
        services.create_process(title="T", population=-5, actor=admin, now=utcnow())
    assert err.value.field == "population"
    with pytest.raises(ValidationFailed) as err:
        services.create_process(title="T", starts_on=date(2030, 2, 1),
                                ends_on=date(2030, 1, 1), actor=admin, now=utcnow())
    assert err.value.field == "ends_on"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Process)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0


def test_create_process_does_not_commit(db, factory):
    admin = factory.user("admin")
    services.create_process(title="Not committed", goal_numbers=[1], actor=admin, now=utcnow())
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Process)) == 0


def test_running_and_past_processes(db):
    today = date(2030, 6, 1)
    running = Process(title="Running", starts_on=date(2030, 1, 1), ends_on=date(2030, 12, 31))
    past = Process(title="Past", starts_on=date(2029, 1, 1), ends_on=date(2029, 12, 31))
    future = Process(title="Future", starts_on=date(2031, 1, 1), ends_on=date(2031, 12, 31))
    db.session.add_all([running, past, future])
    db.session.commit()
    assert [p.title for p in services.running_processes(today=today)] == ["Running"]
    assert [p.title for p in services.past_processes(today=today, exclude=[running.id])] == [
        "Past"]
    assert [p.title for p in services.upcoming_processes(today=today)] == ["Future"]
    # Nothing runs: the most recent one is shown.
    assert [p.title for p in services.running_processes(today=date(2032, 1, 1))] == ["Future"]
    assert services.is_running(running, today=today)
    assert not services.is_running(past, today=today)
