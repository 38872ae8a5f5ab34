"""Public pages of the processes feature: home and process page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pvplatform.db import utcnow
from pvplatform.processes.models import LocalTarget, Process
from pvplatform.proposals.models import Proposal, ProposalState


@pytest.fixture(autouse=True)
def _english(client):
    # Assertions read English text; French is the default locale.
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def test_home_without_process_shows_empty_state(client, db):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "No participatory process yet" in html
    assert "/manage/processes/new" not in html


def test_home_empty_state_offers_creation_to_admin(client, factory, login_as):
    login_as(factory.user("admin"))
    html = client.get("/").get_data(as_text=True)
    assert "/manage/processes/new" in html


def test_home_shows_running_process(client, factory):
    process = factory.process(title="Agenda 2030 de Villeneuve")
    factory.meeting(process, title="Atelier mobilité")
    factory.meeting(process, title="Atelier passé", starts_at=utcnow() - timedelta(days=3))
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Agenda 2030 de Villeneuve" in html
    assert "Villeneuve" in html
    # Timeline with the current phase marked in words, not only by colour.
    assert "Co-creation" in html and "Information" in html and "Review" in html
    assert 'aria-current="step"' in html
    assert "Open now:" in html and "proposals, comments, votes" in html
    # Goals 11 and 13 as icons with names.
    assert "sdg-icon sdg-11" in html and "Sustainable cities and communities" in html
    assert "sdg-13" in html and "Climate action" in html
    # Only upcoming sessions are listed.
    assert "Atelier mobilité" in html
    assert "Atelier passé" not in html
    assert f"/processes/{process.id}" in html


def test_home_limits_next_sessions_to_three(client, factory):
    process = factory.process()
    for i in range(5):
        factory.meeting(process, title=f"Session-{i}",
                        starts_at=utcnow() + timedelta(days=1 + i))
    html = client.get("/").get_data(as_text=True)
    assert [f"Session-{i}" in html for i in range(5)] == [True, True, True, False, False]


def test_home_says_when_nothing_is_open(client, factory):
    factory.process(open_all=False)
    html = client.get("/").get_data(as_text=True)
    assert "Open now:" not in html
    assert "closed" in html


def test_home_lists_past_processes(client, db, factory):
    factory.process(title="Running one")
    today = utcnow().date()
    old = Process(title="Old agenda", starts_on=today - timedelta(days=800),
                  ends_on=today - timedelta(days=400))
    db.session.add(old)
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Running one" in html
    assert "Past processes" in html and "Old agenda" in html


def test_home_falls_back_to_latest_process(client, db):
    today = utcnow().date()
    db.session.add_all([
        Process(title="Older", starts_on=today - timedelta(days=900),
                ends_on=today - timedelta(days=800)),
        Process(title="Most recent", starts_on=today - timedelta(days=300),
                ends_on=today - timedelta(days=10)),
    ])
    db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Latest process" in html
    assert html.index("Most recent") < html.index("Older")


def test_process_page_shows_everything(client, db, factory):
    process = factory.process(title="Agenda 2030 de Villeneuve")
    db.session.add(LocalTarget(process_id=process.id, goal_number=11, code="11.A",
                               title="Cycle lanes to every school"))
    author = factory.participant(name="Walk-in author")
    db.session.add_all([
        Proposal(process_id=process.id, author_id=author.id, title="Public proposal",
                 state=ProposalState.PUBLISHED, published_at=utcnow()),
        Proposal(process_id=process.id, author_id=author.id, title="Secret draft",
                 state=ProposalState.DRAFT),
        Proposal(process_id=process.id, author_id=author.id, title="Hidden one",
                 state=ProposalState.PUBLISHED, published_at=utcnow(), hidden_at=utcnow()),
    ])
    db.session.commit()
    factory.meeting(process, title="Coming workshop")
    factory.meeting(process, title="Earlier workshop", starts_at=utcnow() - timedelta(days=10))

    response = client.get(f"/processes/{process.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Agenda 2030 de Villeneuve" in html
    assert "Co-writing the local 2030 Agenda." in html
    assert "48000 inhabitants" in html
    assert "sdg-icon sdg-11" in html and "Climate action" in html
    assert "11.A" in html and "Cycle lanes to every school" in html
    assert "Co-creation" in html and "Decision" not in html
    assert "Open now:" in html
    assert html.index("Coming workshop") < html.index("Earlier workshop")
    assert "Hybrid" in html or "In person and online" in html
    assert "Public proposal" in html
    assert "Secret draft" not in html and "Hidden one" not in html
    assert "1 proposal so far." in html
    # No management links for the public.
    assert f"/manage/processes/{process.id}/edit" not in html


def test_process_page_shows_manage_links_to_staff(client, factory, login_as):
    process = factory.process()
    login_as(factory.user("staff"))
    html = client.get(f"/processes/{process.id}").get_data(as_text=True)
    assert f"/manage/processes/{process.id}/edit" in html
    assert f"/manage/processes/{process.id}/phases" in html


def test_process_page_empty_states(client, db):
    process = Process(title="Bare process")
    db.session.add(process)
    db.session.commit()
    html = client.get(f"/processes/{process.id}").get_data(as_text=True)
    assert "No session yet" in html
    assert "No phase planned yet." in html
    assert "No local target yet." in html
    assert "No SDG goal chosen yet." in html


def test_process_page_in_french(client, factory):
    process = factory.process()
    client.post("/language", data={"lang": "fr"})
    html = client.get(f"/processes/{process.id}").get_data(as_text=True)
    assert "Villes et communautés durables" in html


@pytest.mark.parametrize("ident", ["0", "-1", str(2**63), "999999", "abc"])
def test_unknown_process_is_404(client, db, ident):
    assert client.get(f"/processes/{ident}").status_code == 404
