"""Managing processes, phases and local targets: permissions, happy paths, bad input."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from pvplatform.processes.models import LocalTarget, Phase, PhaseKind, Process

TABLES = (Process, Phase, LocalTarget, AuditLog)


@pytest.fixture(autouse=True)
def _english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def counts(db) -> dict[str, int]:
    return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in TABLES}


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


def process_form(**overrides) -> dict:
    data = {
        "title": "Agenda 2030 de Bourg",
        "description": "Writing our local agenda together.",
        "municipality": "Bourg",
        "population": "12000",
        "starts_on": "2030-01-01",
        "ends_on": "2030-12-31",
        "goals": ["3", "11"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def admin(factory, login_as):
    user = factory.user("admin")
    login_as(user)
    return user


@pytest.fixture
def staff(factory, login_as):
    user = factory.user("staff")
    login_as(user)
    return user


# ---------------------------------------------------------------- permissions

MANAGE_GETS = [
    "/manage",
    "/manage/processes/new",
    "/manage/processes/{p}/edit",
    "/manage/processes/{p}/phases",
    "/manage/processes/{p}/targets",
    "/manage/phases/{ph}/edit",
]


@pytest.mark.parametrize("url", MANAGE_GETS)
def test_anonymous_is_sent_to_login(client, factory, url):
    process = factory.process()
    response = client.get(url.format(p=process.id, ph=process.phases[0].id))
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "evaluator"])
@pytest.mark.parametrize("url", MANAGE_GETS)
def test_non_staff_get_403(client, factory, login_as, role, url):
    process = factory.process()
    login_as(factory.user(role))
    assert client.get(url.format(p=process.id, ph=process.phases[0].id)).status_code == 403


@pytest.mark.parametrize("role", ["citizen", "elected"])
def test_non_staff_posts_are_refused_and_store_nothing(client, db, factory, login_as, role):
    process = factory.process()
    phase = process.phases[0]
    target = LocalTarget(process_id=process.id, goal_number=11, code="T1", title="Target")
    db.session.add(target)
    db.session.commit()
    login_as(factory.user(role))
    before = counts(db)
    posts = [
        ("/manage/processes/new", process_form()),
        (f"/manage/processes/{process.id}/edit", process_form(title="Hijacked")),
        (f"/manage/processes/{process.id}/phases",
         {"kind": "review", "starts_on": "2030-01-01", "ends_on": "2030-01-02"}),
        (f"/manage/phases/{phase.id}/edit",
         {"kind": "review", "starts_on": "2030-01-01", "ends_on": "2030-01-02"}),
        (f"/manage/phases/{phase.id}/delete", {}),
        (f"/manage/processes/{process.id}/targets",
         {"goal_number": "1", "code": "X", "title": "X"}),
        (f"/manage/targets/{target.id}/edit", {"goal_number": "1", "code": "X", "title": "X"}),
        (f"/manage/targets/{target.id}/delete", {}),
    ]
    for url, data in posts:
        assert client.post(url, data=data).status_code == 403, url
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(Process, process.id).title != "Hijacked"


def test_staff_cannot_create_but_can_edit(client, db, factory, staff):
    process = factory.process()
    assert client.get("/manage/processes/new").status_code == 403
    before = counts(db)
    assert client.post("/manage/processes/new", data=process_form()).status_code == 403
    assert counts(db) == before

    html = client.get("/manage").get_data(as_text=True)
    assert process.title in html
    assert "/manage/processes/new" not in html
    assert f"/manage/processes/{process.id}/sessions" in html

    response = client.post(f"/manage/processes/{process.id}/edit",
                           data=process_form(title="Renamed", starts_on="", ends_on="",
                                             goals=["5"]))
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    process = db.session.get(Process, process.id)
    assert process.title == "Renamed"
    assert [g.number for g in process.goals] == [5]
    assert audit_actions(db)[-1] == "process.update"


def test_admin_list_shows_new_button(client, factory, admin):
    factory.process(title="Listed process")
    html = client.get("/manage").get_data(as_text=True)
    assert "Listed process" in html and "/manage/processes/new" in html


# ---------------------------------------------------------------- creating processes

def test_admin_creates_process_with_goals_and_standard_phases(client, db, admin):
    assert client.get("/manage/processes/new").status_code == 200
    response = client.post("/manage/processes/new",
                           data=process_form(standard_phases="y", goals=["11", "3", "13"]))
    assert response.status_code == 302, response.get_data(as_text=True)
    process = db.session.scalars(sa.select(Process)).one()
    assert response.headers["Location"].endswith(f"/processes/{process.id}")
    assert process.title == "Agenda 2030 de Bourg"
    assert process.municipality == "Bourg"
    assert process.population == 12000
    assert (process.starts_on, process.ends_on) == (date(2030, 1, 1), date(2030, 12, 31))
    assert [g.number for g in process.goals] == [3, 11, 13]
    phases = process.phases
    assert [p.kind for p in phases] == [PhaseKind.INFORMATION, PhaseKind.CO_CREATION,
                                        PhaseKind.REVIEW, PhaseKind.DECISION,
                                        PhaseKind.FOLLOW_UP]
    assert phases[0].starts_on == process.starts_on
    assert phases[-1].ends_on == process.ends_on
    for earlier, later in zip(phases, phases[1:], strict=False):
        assert later.starts_on == earlier.ends_on + timedelta(days=1)
    assert [(p.proposals_open, p.comments_open, p.votes_open) for p in phases] == [
        (False, False, False), (True, True, True), (False, False, False),
        (False, False, False), (False, False, False)]
    audit = db.session.scalars(sa.select(AuditLog)).one()
    assert (audit.action, audit.target_id, audit.actor_id) == ("process.create", process.id,
                                                               admin.id)


def test_admin_creates_process_without_phases_or_dates(client, db, admin):
    response = client.post("/manage/processes/new",
                           data={"title": "Minimal"})
    assert response.status_code == 302
    process = db.session.scalars(sa.select(Process)).one()
    assert process.phases == [] and process.goals == [] and process.population is None


def test_standard_phases_need_dates(client, db, admin):
    before = counts(db)
    response = client.post("/manage/processes/new",
                           data=process_form(starts_on="", ends_on="", standard_phases="y"))
    assert response.status_code == 422
    assert "need both a start and an end date" in response.get_data(as_text=True)
    assert counts(db) == before


def test_standard_phases_need_five_days(client, db, admin):
    before = counts(db)
    response = client.post("/manage/processes/new",
                           data=process_form(starts_on="2030-01-01", ends_on="2030-01-03",
                                             standard_phases="y"))
    assert response.status_code == 422
    assert counts(db) == before


BAD_PROCESS_INPUT = [
    {"title": ""},
    {"title": "   "},
    {"title": "x" * 2000},
    {"title": "x" * 201},
    {"title": "Bad\x00title"},
    {"title": "Sneaky\u202etitle"},
    {"description": "x" * 10_001},
    {"municipality": "m" * 121},
    {"population": "-1"},
    {"population": "abc"},
    {"population": str(2**63)},
    {"population": "1.5"},
    {"starts_on": "2030-02-01", "ends_on": "2030-01-01"},
    {"starts_on": "not a date"},
    {"ends_on": "2030-13-45"},
    {"goals": ["99"]},
    {"goals": ["0"]},
    {"goals": ["abc"]},
    {"goals": ["11", str(2**63)]},
]


@pytest.mark.parametrize("bad", BAD_PROCESS_INPUT)
def test_create_refuses_bad_input(client, db, admin, bad):
    before = counts(db)
    response = client.post("/manage/processes/new", data=process_form(**bad))
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert counts(db) == before


@pytest.mark.parametrize("bad", BAD_PROCESS_INPUT)
def test_edit_refuses_bad_input(client, db, factory, admin, bad):
    process = factory.process(title="Untouched")
    before = counts(db)
    response = client.post(f"/manage/processes/{process.id}/edit",
                           data=process_form(**{"starts_on": "", "ends_on": "", **bad}))
    assert response.status_code == 422
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(Process, process.id).title == "Untouched"


def test_edit_refuses_dates_that_cut_off_phases(client, db, factory, admin):
    process = factory.process(title="Untouched")
    today = utcnow().date()
    before = counts(db)
    response = client.post(
        f"/manage/processes/{process.id}/edit",
        data=process_form(title="Changed", starts_on=(today - timedelta(days=10)).isoformat(),
                          ends_on=(today + timedelta(days=300)).isoformat()))
    assert response.status_code == 422
    assert "change the phases first" in response.get_data(as_text=True)
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(Process, process.id).title == "Untouched"


def test_edit_form_is_prefilled(client, factory, staff):
    process = factory.process(title="Prefilled title")
    html = client.get(f"/manage/processes/{process.id}/edit").get_data(as_text=True)
    assert 'value="Prefilled title"' in html
    checked = re.findall(r'<input checked[^>]*value="(\d+)"', html)
    assert checked == ["11", "13"]


@pytest.mark.parametrize("ident", ["0", str(2**63), "999999"])
def test_unknown_ids_are_404(client, db, staff, ident):
    assert client.get(f"/manage/processes/{ident}/edit").status_code == 404
    assert client.get(f"/manage/processes/{ident}/phases").status_code == 404
    assert client.get(f"/manage/processes/{ident}/targets").status_code == 404
    assert client.get(f"/manage/phases/{ident}/edit").status_code == 404
    assert client.post(f"/manage/phases/{ident}/delete").status_code == 404
    assert client.get(f"/manage/targets/{ident}/edit").status_code == 404
    assert client.post(f"/manage/targets/{ident}/delete").status_code == 404


def test_negative_ids_are_not_routable(client, db, staff):
    assert client.get("/manage/processes/-1/edit").status_code == 404
    assert client.post("/manage/phases/-1/delete").status_code == 404


def test_delete_routes_refuse_get(client, factory, staff):
    process = factory.process()
    assert client.get(f"/manage/phases/{process.phases[0].id}/delete").status_code == 405


# ---------------------------------------------------------------- phases

@pytest.fixture
def dated_process(db):
    process = Process(title="Dated", starts_on=date(2030, 1, 1), ends_on=date(2030, 12, 31))
    process.phases = [Phase(kind=PhaseKind.INFORMATION, starts_on=date(2030, 1, 1),
                            ends_on=date(2030, 1, 31))]
    db.session.add(process)
    db.session.commit()
    return process


def phase_form(**overrides) -> dict:
    data = {"kind": "co_creation", "starts_on": "2030-02-01", "ends_on": "2030-05-31",
            "proposals_open": "y", "votes_open": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_staff_adds_edits_and_deletes_a_phase(client, db, staff, dated_process):
    url = f"/manage/processes/{dated_process.id}/phases"
    assert client.get(url).status_code == 200
    response = client.post(url, data=phase_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    phase = db.session.scalars(sa.select(Phase).where(Phase.kind == PhaseKind.CO_CREATION)).one()
    assert (phase.proposals_open, phase.comments_open, phase.votes_open) == (True, False, True)
    assert (phase.starts_on, phase.ends_on) == (date(2030, 2, 1), date(2030, 5, 31))

    html = client.get(url).get_data(as_text=True)
    assert "Co-creation" in html and "proposals, votes" in html

    edit = f"/manage/phases/{phase.id}/edit"
    assert client.get(edit).status_code == 200
    response = client.post(edit, data=phase_form(kind="review", ends_on="2030-03-01",
                                                 proposals_open=None, votes_open=None,
                                                 comments_open="y"))
    assert response.status_code == 302
    db.session.expire_all()
    phase = db.session.get(Phase, phase.id)
    assert (phase.kind, phase.ends_on) == (PhaseKind.REVIEW, date(2030, 3, 1))
    assert (phase.proposals_open, phase.comments_open, phase.votes_open) == (False, True, False)

    assert client.post(f"/manage/phases/{phase.id}/delete").status_code == 302
    assert db.session.get(Phase, phase.id) is None
    assert audit_actions(db) == ["phase.create", "phase.update", "phase.delete"]


BAD_PHASES = [
    ({"starts_on": "2030-03-01", "ends_on": "2030-02-01"}, None),       # out of order
    ({"starts_on": "2030-01-15", "ends_on": "2030-02-15"}, "overlap"),  # overlaps information
    ({"starts_on": "2029-12-01", "ends_on": "2030-02-15"}, "start of the process"),
    ({"starts_on": "2030-12-01", "ends_on": "2031-01-15"}, "end of the process"),
    ({"kind": "party"}, None),
    ({"kind": ""}, None),
    ({"starts_on": ""}, None),
    ({"ends_on": "yesterday"}, None),
]


@pytest.mark.parametrize(("bad", "message"), BAD_PHASES)
def test_bad_phases_are_refused(client, db, staff, dated_process, bad, message):
    before = counts(db)
    response = client.post(f"/manage/processes/{dated_process.id}/phases",
                           data=phase_form(**bad))
    assert response.status_code == 422
    if message:
        assert message in response.get_data(as_text=True)
    assert counts(db) == before


@pytest.mark.parametrize(("bad", "message"), BAD_PHASES)
def test_bad_phase_edits_are_refused(client, db, staff, dated_process, bad, message):
    phase = Phase(process_id=dated_process.id, kind=PhaseKind.REVIEW,
                  starts_on=date(2030, 6, 1), ends_on=date(2030, 6, 30))
    db.session.add(phase)
    db.session.commit()
    before = counts(db)
    response = client.post(f"/manage/phases/{phase.id}/edit", data=phase_form(**bad))
    assert response.status_code == 422
    if message:
        assert message in response.get_data(as_text=True)
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(Phase, phase.id).starts_on == date(2030, 6, 1)


def test_phase_may_keep_its_own_dates_when_edited(client, db, staff, dated_process):
    phase = dated_process.phases[0]
    response = client.post(f"/manage/phases/{phase.id}/edit",
                           data=phase_form(kind="information", starts_on="2030-01-01",
                                           ends_on="2030-01-31"))
    assert response.status_code == 302


def test_phases_of_undated_process_are_free(client, db, staff):
    process = Process(title="Undated")
    db.session.add(process)
    db.session.commit()
    response = client.post(f"/manage/processes/{process.id}/phases",
                           data=phase_form(starts_on="2001-01-01", ends_on="2001-01-02"))
    assert response.status_code == 302


# ---------------------------------------------------------------- local targets

def target_form(**overrides) -> dict:
    data = {"goal_number": "11", "code": "11.2.a", "title": "Safe cycle lanes",
            "description": "To every school by 2030."}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_staff_manages_local_targets(client, db, factory, staff):
    process = factory.process()
    url = f"/manage/processes/{process.id}/targets"
    assert client.get(url).status_code == 200
    assert client.post(url, data=target_form()).status_code == 302
    target = db.session.scalars(sa.select(LocalTarget)).one()
    assert (target.goal_number, target.code, target.title) == (11, "11.2.a", "Safe cycle lanes")
    html = client.get(url).get_data(as_text=True)
    assert "Safe cycle lanes" in html and "Sustainable cities and communities" in html
    html = client.get(f"/processes/{process.id}").get_data(as_text=True)
    assert "Safe cycle lanes" in html

    edit = f"/manage/targets/{target.id}/edit"
    assert client.get(edit).status_code == 200
    assert client.post(edit, data=target_form(goal_number="13", title="Trees")).status_code == 302
    db.session.expire_all()
    target = db.session.get(LocalTarget, target.id)
    assert (target.goal_number, target.title) == (13, "Trees")

    assert client.post(f"/manage/targets/{target.id}/delete").status_code == 302
    assert db.session.get(LocalTarget, target.id) is None
    assert audit_actions(db) == ["local_target.create", "local_target.update",
                                 "local_target.delete"]


BAD_TARGETS = [
    {"goal_number": "18"},
    {"goal_number": "0"},
    {"goal_number": "abc"},
    {"goal_number": str(2**63)},
    {"goal_number": ""},
    {"code": ""},
    {"code": "c" * 21},
    {"code": "EXISTING"},
    {"title": ""},
    {"title": "t" * 201},
    {"title": "t" * 2000},
    {"title": "nul\x00byte"},
    {"description": "d" * 10_001},
]


@pytest.mark.parametrize("bad", BAD_TARGETS)
def test_bad_targets_are_refused(client, db, factory, staff, bad):
    process = factory.process()
    db.session.add(LocalTarget(process_id=process.id, goal_number=1, code="EXISTING",
                               title="Already there"))
    db.session.commit()
    before = counts(db)
    response = client.post(f"/manage/processes/{process.id}/targets", data=target_form(**bad))
    assert response.status_code == 422
    assert counts(db) == before


@pytest.mark.parametrize("bad", BAD_TARGETS)
def test_bad_target_edits_are_refused(client, db, factory, staff, bad):
    process = factory.process()
    db.session.add(LocalTarget(process_id=process.id, goal_number=1, code="EXISTING",
                               title="Already there"))
    target = LocalTarget(process_id=process.id, goal_number=2, code="MINE", title="Mine")
    db.session.add(target)
    db.session.commit()
    before = counts(db)
    response = client.post(f"/manage/targets/{target.id}/edit", data=target_form(**bad))
    assert response.status_code == 422
    assert counts(db) == before
    db.session.expire_all()
    assert db.session.get(LocalTarget, target.id).code == "MINE"


def test_same_code_allowed_in_another_process(client, db, factory, staff):
    first = factory.process(title="First")
    second = factory.process(title="Second")
    db.session.add(LocalTarget(process_id=first.id, goal_number=1, code="T1", title="One"))
    db.session.commit()
    response = client.post(f"/manage/processes/{second.id}/targets", data=target_form(code="T1"))
    assert response.status_code == 302
