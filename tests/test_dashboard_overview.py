"""Issue 13: the dashboard opens at a glance (flags by severity, key figures leading to their
family's page); each family has a page of its own; the overview and the family pages read the
worker's stored figures in a number of statements that does not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.indicators.overview import FAMILIES
from pvplatform.jobs.refresh import run_pending
from pvplatform.proposals.models import Proposal, ProposalState
from pvplatform.sessions.models import Attendance, AttendanceMode
from tests.conftest import login

EN = {"Accept-Language": "en"}


def _rejected(process, author) -> Proposal:
    now = utcnow()
    return Proposal(process_id=process.id, author_id=author.id, title="Idée",
                    state=ProposalState.REJECTED, published_at=now - timedelta(days=7),
                    answered_at=now - timedelta(days=5), answer_rationale="")


def _world(db, factory, *, people: int, rejected: int):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=3))
    for _ in range(people):
        db.session.add(Attendance(meeting_id=meeting.id, mode=AttendanceMode.IN_PERSON,
                                  participant_id=factory.participant(kind="citizen").id))
    author = factory.participant(kind="citizen")
    db.session.add_all([_rejected(process, author) for _ in range(rejected)])
    db.session.commit()
    return process



def test_the_overview_shows_flags_and_key_figures_leading_to_families(client, db, factory):
    process = _world(db, factory, people=3, rejected=2)
    login(client, factory.user("staff"))
    html = client.get(f"/manage/processes/{process.id}/dashboard", headers=EN).get_data(
        as_text=True)
    flags = html[html.index('id="overview-flags"'):html.index('id="overview-figures"')]
    assert "Rejections without reasons" in flags
    assert "1 warning" in flags and "alert" not in flags
    for label in ("Attendees", "Active participants", "Reach per 1,000 residents",
                  "Worst representation gap", "Answer rate"):
        assert label in html, label
    # Three attendees: below k, the key figure says so instead of the count.
    key = html[html.index("Key figures"):]
    assert "&lt; 5" in key and ">3<" not in key
    for family in FAMILIES:
        assert f'href="/manage/processes/{process.id}/dashboard/{family}"' in html
    # Staff acknowledge from the overview; elected officials read it.
    assert "/acknowledge" in html
    client.post("/auth/logout")
    login(client, factory.user("elected"))
    html = client.get(f"/manage/processes/{process.id}/dashboard", headers=EN).get_data(
        as_text=True)
    assert "Key figures" in html and "/acknowledge" not in html


def test_each_family_has_its_page(client, db, factory):
    process = _world(db, factory, people=6, rejected=1)
    login(client, factory.user("staff"))
    base = f"/manage/processes/{process.id}/dashboard"
    for family in FAMILIES:
        html = client.get(f"{base}/{family}", headers=EN).get_data(as_text=True)
        assert f'id="{family}"' in html, family
        others = [f for f in FAMILIES if f != family]
        assert not any(f'<h2 id="{other}"' in html for other in others), family
        assert 'aria-current="page"' in html
    everything = client.get(f"{base}/all", headers=EN).get_data(as_text=True)
    assert all(f'<h2 id="{f}"' in everything for f in FAMILIES)
    assert client.get(f"{base}/nothing-here").status_code == 404
    assert client.get(f"{base}/voice?as_of=yesterday").status_code in (400, 422)


def test_statements_do_not_grow_with_the_data(app, client, db, factory, background):
    from pvplatform.extensions import db as _db

    small = _world(db, factory, people=2, rejected=1)
    large = _world(db, factory, people=40, rejected=9)
    for process in (small, large):
        run_pending(process.id, now=utcnow())
    login(client, factory.user("staff"))

    def statements(url: str) -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        sa.event.listen(_db.engine, "before_cursor_execute", count)
        try:
            response = client.get(url, headers=EN)
            assert response.status_code == 200, url
            assert "after the latest change" in response.get_data(as_text=True), url
        finally:
            sa.event.remove(_db.engine, "before_cursor_execute", count)
        return len(seen)

    client.get(f"/manage/processes/{small.id}/dashboard")  # warm up
    for page in ("", *(f"/{family}" for family in FAMILIES), "/all"):
        assert statements(f"/manage/processes/{small.id}/dashboard{page}") == statements(
            f"/manage/processes/{large.id}/dashboard{page}"), page
    # The overview's changes since the session come with the worker's snapshot: no statement.
    html = client.get(f"/manage/processes/{large.id}/dashboard", headers=EN).get_data(
        as_text=True)
    assert 'class="key-figure-trend">+40 since' in html
