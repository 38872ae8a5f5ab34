"""Issue 12, City scale: the staff pages that list people (session management, the ledgers,
check-in) show one page of rows at a time, and the number of SQL statements a page sends does
not grow with the data.

Two worlds are built side by side: a small process and one ten times larger (invitations,
registrations, attendances and absence requests), with the same shape. Every page, opened as
staff, must send exactly as many statements on the large one as on the small one: a query per
row, or eager loading batched by the number of rows, shows up as a difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.core.statistics import refresh_statistics
from pvplatform.db import utcnow
from pvplatform.ledger import services as ledger_services
from pvplatform.ledger import views as ledger_views
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.ledger.services import LedgerList
from pvplatform.participation.models import Participant
from pvplatform.sessions import speaking
from pvplatform.sessions import views as session_views
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    Invitation,
    Registration,
    SpeakingTurn,
)
from tests.conftest import Factory, login

SMALL = 120
# Above 500 people per list, so that eager loading in batches of 500 (selectinload) would
# show up as an extra statement, as a query per row would.
LARGE = 10 * SMALL
DUMMY_HASH = "not-a-password-hash"


def text(response) -> str:
    return response.get_data(as_text=True)


def build_world(f: Factory, db, n: int, tag: str) -> dict:
    """A process with two past sessions and one running now, `n` people invited to each; about
    two thirds register, half attend (some without registering), some stop coming, a third of the
    first session's absent are asked why and half of them answer."""
    now = utcnow()
    process = f.process(title=f"Process {tag}")
    associations = [f.association(f"Association {tag} {k}") for k in range(2)]
    first = f.meeting(process, starts_at=now - timedelta(days=40), title=f"First {tag}")
    second = f.meeting(process, starts_at=now - timedelta(days=20), title=f"Second {tag}")
    today = f.meeting(process, starts_at=now - timedelta(minutes=30), capacity=None,
                      title=f"Today {tag}")
    with_account = n * 3 // 4
    user_ids = list(db.session.scalars(
        sa.insert(User).returning(User.id, sort_by_parameter_order=True),
        [{"email": f"{tag}-{i}@example.org", "password_hash": DUMMY_HASH,
          "display_name": f"Person {tag} {i:05d}", "role": Role.CITIZEN,
          "session_token": f"{tag}-{i}"} for i in range(with_account)]))
    people = list(db.session.scalars(
        sa.insert(Participant).returning(Participant.id, sort_by_parameter_order=True),
        [{"kind": "citizen", "user_id": user_ids[i] if i < with_account else None,
          "display_name": None if i < with_account else f"Person {tag} {i:05d}",
          "created_at": now - timedelta(days=60)} for i in range(n)]))
    invitations, registrations, attendances = [], [], []
    for m in (first, second, today):
        for i, pid in enumerate(people):
            invitations.append({"meeting_id": m.id, "participant_id": pid,
                                "invited_at": m.starts_at - timedelta(days=5)})
            registered = i % 3 != 0
            if registered:
                registrations.append({
                    "meeting_id": m.id, "participant_id": pid, "code": f"{tag}{m.id}X{i}",
                    "registered_at": m.starts_at - timedelta(days=2),
                    "cancelled_at": m.starts_at - timedelta(days=1) if i % 10 == 1 else None})
            # Everyone odd-numbered by 5 came to the first session only: they dropped out.
            came = i % 2 == 0 or (m is first and i % 5 == 1)
            if came:
                attendances.append({
                    "meeting_id": m.id, "participant_id": pid, "mode": AttendanceMode.IN_PERSON,
                    "checked_in_at": min(m.starts_at + timedelta(minutes=1),
                                         now - timedelta(minutes=20)) + timedelta(seconds=i),
                    "walk_in": not registered})
        for a in associations:
            invitations.append({"meeting_id": m.id, "association_id": a.id,
                                "invited_at": m.starts_at - timedelta(days=5)})
    db.session.execute(sa.insert(Invitation), invitations)
    db.session.execute(sa.insert(Registration), registrations)
    db.session.execute(sa.insert(Attendance), attendances)
    db.session.execute(sa.insert(AbsenceRequest), [
        {"meeting_id": first.id, "participant_id": pid, "kind": AbsenceKind.NOT_REGISTERED,
         "created_at": now - timedelta(days=30),
         "answered_at": now - timedelta(days=29) if i % 2 else None,
         "reason": AbsenceReason.OTHER if i % 2 else None,
         "other_text": "Trop loin" if i % 2 else None}
        for i, pid in enumerate(people) if i % 3 == 0])
    # Every attendee of today's session spoke once, a few twice; the last turn is running.
    speakers = [pid for i, pid in enumerate(people) if i % 2 == 0]
    turns = [(pid, k) for k, pid in enumerate(speakers)] + [
        (pid, len(speakers) + k) for k, pid in enumerate(speakers[::5])]
    db.session.execute(sa.insert(SpeakingTurn), [
        {"meeting_id": today.id, "participant_id": pid,
         "started_at": today.starts_at + timedelta(seconds=k),
         "ended_at": today.starts_at + timedelta(seconds=k + 1) if k else None}
        for pid, k in turns])
    # Sampled as a production database's would be (the importer samples after a bulk load):
    # statistics left from an emptied table make PostgreSQL plan these lists as a row or two.
    refresh_statistics([User, Participant, Invitation, Registration, Attendance,
                        AbsenceRequest, SpeakingTurn])
    db.session.commit()
    return {"process": process.id, "first": first.id, "today": today.id, "n": n,
            "people": people, "turns": len(turns), "tag": tag}


def staff_urls(world: dict) -> list[str]:
    today, first, process = world["today"], world["first"], world["process"]
    urls = [
        f"/manage/sessions/{today}",
        f"/manage/sessions/{today}?ipage=2",
        f"/manage/sessions/{today}?tpage=2",
        f"/manage/sessions/{today}?q=person",
        f"/manage/sessions/{today}?speaker=person",
        f"/manage/processes/{process}/sessions",
        f"/manage/processes/{process}/absence-reasons",
    ]
    urls += [f"/manage/processes/{process}/ledger?list={w.value}" for w in LedgerList]
    urls += [f"/manage/sessions/{m}/ledger?list={w.value}" for m in (first, today)
             for w in LedgerList if w != LedgerList.DROPPED_OUT]
    return urls


@pytest.fixture
def worlds(db, client):
    f = Factory()
    staff = f.user("staff")
    small = build_world(f, db, SMALL, "s")
    large = build_world(f, db, LARGE, "l")
    login(client, staff)
    return small, large


@contextmanager
def statements(db) -> Iterator[list[str]]:
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):  # noqa: ARG001
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)


def counted_get(client, db, url: str) -> tuple[int, str]:
    db.session.expire_all()
    with statements(db) as seen:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(seen), text(response)


def test_statements_per_page_do_not_grow_with_the_data(client, db, worlds):
    small, large = worlds
    client.get(f"/manage/sessions/{small['today']}")  # warm up: the first page loads more
    differences = []
    for small_url, large_url in zip(staff_urls(small), staff_urls(large), strict=True):
        n_small, _ = counted_get(client, db, small_url)
        n_large, _ = counted_get(client, db, large_url)
        print(f"{n_small:3d} {n_large:3d}  {large_url}")
        if n_small != n_large:
            differences.append(f"{large_url}: {n_small} statements small, {n_large} large")
    assert not differences, "\n".join(differences)


# ---------------------------------------------------------------- one page at a time

def section(html: str, ident: str) -> str:
    start = html.index(f'<section id="{ident}"')
    return html[start:html.index("</section>", start)]


def table_rows(html: str) -> int:
    return html.count("<tr>") - html.count("<thead>")


def name(world: dict, i: int) -> str:
    return f"Person {world['tag']} {i:05d}"


def follow(client, html: str, rel: str = "next") -> str:
    """The page a pager link leads to (the link as the page prints it)."""
    link = re.search(rf'<a [^>]*rel="{rel}"[^>]*>', html).group(0)
    href = re.search(r'href="([^"]+)"', link).group(1).replace("&amp;", "&")
    response = client.get(href)
    assert response.status_code == 200, href
    return text(response)


@pytest.fixture
def large(db, client):
    f = Factory()
    staff = f.user("staff")
    world = build_world(f, db, LARGE, "l")
    login(client, staff)
    return world


def test_manage_page_shows_one_page_of_each_list(client, large):
    world = large
    url = f"/manage/sessions/{world['today']}"
    html = text(client.get(url))
    assert len(html) < 400_000  # 3.6 MB at city size before the lists were paginated

    invitations = section(html, "invitations")
    per_page = session_views.INVITATIONS_PER_PAGE
    assert invitations.count("<li>") == per_page
    # Everyone invited is counted, the associations too.
    assert f"{LARGE + 2} invitations in all." in invitations
    assert name(world, 0) in invitations and name(world, per_page) not in invitations
    second = section(follow(client, invitations), "invitations")
    assert second.count("<li>") == per_page
    assert name(world, per_page) in second and name(world, 0) not in second
    assert "Page 2 of" in second

    registrations = section(html, "registrations")
    live = [i for i in range(LARGE) if i % 3 and i % 10 != 1]
    per_page = session_views.REGISTRATIONS_PER_PAGE
    assert table_rows(registrations) == per_page
    assert name(world, live[0]) in registrations
    assert name(world, live[per_page]) not in registrations
    second = section(follow(client, registrations), "registrations")
    assert table_rows(second) == per_page
    assert name(world, live[per_page]) in second and name(world, live[0]) not in second

    attendance = section(html, "attendance")
    assert table_rows(attendance) == session_views.RECENT_CHECK_INS

    turns = section(html, "speaking")
    per_page = speaking.TURNS_PER_PAGE
    assert f"{world['turns']} turns, the latest first." in turns
    recorded = turns[turns.index("Recorded turns"):]
    assert table_rows(recorded) == per_page
    by_person = turns[turns.index("Speaking time by person"):turns.index("Recorded turns")]
    assert table_rows(by_person) == speaking.SPEAKERS_SHOWN
    assert "other speakers are not listed" in by_person
    second = section(follow(client, turns), "speaking")
    second = second[second.index("Recorded turns"):]
    assert table_rows(second) == per_page
    first_ids = set(re.findall(r'name="turn_id" value="(\d+)"', recorded))
    second_ids = set(re.findall(r'name="turn_id" value="(\d+)"', second))
    assert len(second_ids) == per_page and not first_ids & second_ids


@pytest.mark.parametrize("value", ["0", "-1", "abc", "99999999999", "1.5", "", "%00"])
def test_bad_page_arguments_give_the_first_page(client, large, value):
    world = large
    for param in ("page", "ipage", "tpage"):
        response = client.get(f"/manage/sessions/{world['today']}?{param}={value}")
        assert response.status_code == 200, (param, value)
        html = text(response)
        assert name(world, 0) in section(html, "invitations")
        assert name(world, 2) in section(html, "registrations")  # the first live one
    for which in ("invited_not_registered", "dropped_out"):
        response = client.get(f"/manage/processes/{world['process']}/ledger?list={which}"
                              f"&page={value}")
        assert response.status_code == 200, (which, value)
        assert "Page 1 of" in text(response)


def test_one_page_argument_keeps_the_others(client, large):
    world = large
    html = text(client.get(f"/manage/sessions/{world['today']}?page=2&q=person"))
    invitations = section(html, "invitations")
    href = re.search(r'<a href="([^"]+)" rel="next"', invitations).group(1)
    assert "ipage=2" in href and "page=2" in href.replace("ipage=2", "") and "q=person" in href


def test_invitations_are_searched_with_the_registrations(client, large):
    world = large
    url = f"/manage/sessions/{world['today']}"
    invitations = section(text(client.get(f"{url}?q={name(world, 61)}")), "invitations")
    assert invitations.count("<li>") == 1 and name(world, 61) in invitations
    assert "1 invitation matches" in invitations
    invitations = section(text(client.get(f"{url}?q=association l 1")), "invitations")
    assert invitations.count("<li>") == 1 and "Association l 1" in invitations
    invitations = section(text(client.get(f"{url}?q=nobody-by-that-name")), "invitations")
    assert "No invitation matches" in invitations


def test_the_speaker_choice_is_bounded_and_searchable(client, app, db, large):
    world = large
    url = f"/manage/sessions/{world['today']}"
    choices = section(text(client.get(url)), "speaking")
    options = re.findall(r'<option[^>]* value="(\d+)"', choices)
    assert len(options) == speaking.ATTENDEE_CHOICES + 1  # and "Choose a person"
    assert 'id="speaker"' in choices and "people are checked in" in choices
    # An attendee past the first hundred by name is found by searching.
    wanted = world["people"][1100]
    assert f'value="{wanted}"' not in choices
    found = section(text(client.get(f"{url}?speaker={name(world, 1100)}")), "speaking")
    assert re.findall(r'<option[^>]* value="(\d+)"', found) == ["0", str(wanted)]
    nobody = section(text(client.get(f"{url}?speaker=nobody-by-that-name")), "speaking")
    assert "No attendee matches" in nobody

    # A refused turn keeps the person chosen, wherever they sort.
    start = utcnow() + timedelta(hours=1)  # in the future: refused
    local = start.astimezone(ZoneInfo(app.config["PV_TIMEZONE"])).strftime("%Y-%m-%dT%H:%M:%S")
    response = client.post(f"{url}/speaking-turns", data={
        "turn_participant": str(wanted), "turn_start": local, "turn_minutes": "1",
        "turn_seconds": "0"})
    assert response.status_code == 422
    assert f'<option selected value="{wanted}">' in section(text(response), "speaking")


# ---------------------------------------------------------------- the ledgers

def test_tab_counts_are_one_statement_and_equal_the_lists(db, worlds):
    _small, large = worlds
    now = utcnow()
    for meeting_id in (None, large["first"]):
        with statements(db) as seen:
            counts = ledger_services.list_counts(large["process"], now, meeting_id)
        assert len(seen) == 1
        for which, n in counts.items():
            rows = db.session.execute(ledger_services.list_statement(
                which, large["process"], now, meeting_id)).unique().all()
            assert n == len(rows), which
    assert counts[LedgerList.INVITED_NOT_REGISTERED] > ledger_views.PER_PAGE


@pytest.mark.parametrize("which", list(LedgerList))
def test_ledger_lists_are_paginated(client, large, which):
    world = large
    url = f"/manage/processes/{world['process']}/ledger?list={which.value}"
    html = text(client.get(url))
    listed = section(html, "ledger-list")
    count = int(re.search(r'aria-current="page">[^<]*<span class="ledger-count">\((\d+)\)',
                          listed).group(1))
    assert table_rows(listed) == min(count, ledger_views.PER_PAGE)
    if count > ledger_views.PER_PAGE:
        second = section(follow(client, listed), "ledger-list")
        assert "Page 2 of" in second
        assert table_rows(second) == min(count - ledger_views.PER_PAGE, ledger_views.PER_PAGE)
        assert second.split("<tbody>")[1] != listed.split("<tbody>")[1]


def test_a_list_in_page_order_is_the_list_statements_order(db, large):
    """A page is a slice of the ordered ids: the same rows, in the same order, as the list."""
    now = utcnow()
    for meeting_id in (None, large["first"]):
        for which in ledger_services._lists_for(meeting_id):
            ids = list(db.session.scalars(ledger_services.ordered_ids_statement(
                which, large["process"], now, meeting_id)))
            rows = db.session.scalars(ledger_services.list_statement(
                which, large["process"], now, meeting_id)).unique().all()
            assert ids == [row.id for row in rows], which
            page = db.session.scalars(ledger_services.list_rows(which, ids[50:100])).unique()
            assert [row.id for row in page] == ids[50:100], which


def test_the_lists_are_scanned_once_per_reading(client, db, large, background):
    """With the worker's stored figures, the tabs and pages of a list are computed once for
    that reading: another visit, or the next page, reads ids kept in memory; a change to the
    process brings a new reading, and the lists follow it."""
    from pvplatform.jobs.refresh import run_pending
    from pvplatform.ledger import list_pages

    list_pages.COUNTS.clear()
    list_pages.IDS.clear()
    process = large["process"]
    url = f"/manage/processes/{process}/ledger?list={LedgerList.WALK_INS.value}"
    from pvplatform.indicators.autorefresh import mark_dirty

    mark_dirty(process)
    db.session.commit()
    run_pending(process, now=utcnow())
    with statements(db) as first:
        before = text(client.get(url))
    with statements(db) as again:
        assert text(client.get(url)) == before
    with statements(db) as second_page:
        client.get(url + "&page=2")
    assert len(again) < len(first) and len(second_page) == len(again)
    # No anti-join of the attendances with the registrations: the walk-ins are not searched again.
    assert not any("registrations" in s for s in again + second_page)

    count = int(re.search(r'aria-current="page">[^<]*<span class="ledger-count">\((\d+)\)',
                          section(before, "ledger-list")).group(1))
    walk_in = large["people"][LARGE - 3]  # not registered, did not come today
    db.session.add(Attendance(meeting_id=large["today"], participant_id=walk_in,
                              mode=AttendanceMode.IN_PERSON, walk_in=True,
                              checked_in_at=utcnow()))
    db.session.commit()
    run_pending(process, now=utcnow())
    after = section(text(client.get(url)), "ledger-list")
    assert re.search(rf'<span class="ledger-count">\({count + 1}\)', after)


def test_the_worker_takes_the_process_lists_with_the_figures(client, db, large, background):
    """The first view of the process ledger after a refresh reads the lists the worker took with
    the figures (one statement, no list scanned), and shows every tab and page as a scan would;
    lists taken at another instant than the figures are not used."""
    from pvplatform.indicators.autorefresh import mark_dirty
    from pvplatform.jobs.refresh import run_pending
    from pvplatform.ledger import list_pages
    from pvplatform.ledger.models import LedgerListSnapshot

    def forget() -> None:
        list_pages.COUNTS.clear()
        list_pages.IDS.clear()

    process = large["process"]
    mark_dirty(process)
    db.session.commit()
    run_pending(process, now=utcnow())
    base = f"/manage/processes/{process}/ledger"
    urls = [f"{base}?list={w.value}{page}" for w in LedgerList for page in ("", "&page=2")]
    shown = {}
    for url in urls:
        forget()
        with statements(db) as first:
            shown[url] = section(text(client.get(url)), "ledger-list")
        with statements(db) as again:
            client.get(url)
        extra = [s for s in first if s not in again]
        assert len(first) == len(again) + 1, url
        assert len(extra) == 1 and "ledger_list_snapshots" in extra[0], url
    assert any(table_rows(html) for html in shown.values())

    # Lists of an older instant: the page scans, and shows the same.
    row = db.session.get(LedgerListSnapshot, process)
    row.as_of = row.as_of - timedelta(seconds=1)
    db.session.commit()
    for url in urls:
        forget()
        with statements(db) as first:
            assert section(text(client.get(url)), "ledger-list") == shown[url], url
        with statements(db) as again:
            client.get(url)
        assert len(first) > len(again) + 1, url


def test_the_session_lists_are_counted_without_their_joins(db, large):
    from pvplatform.sessions import services as session_services

    for model, statement in ((Invitation, session_services.invitations_statement),
                             (Registration, session_services.registrations_statement)):
        listed = db.session.scalar(sa.select(sa.func.count()).select_from(
            statement(large["today"]).subquery()))
        assert session_services.list_total(model, large["today"], "") == listed > 0
        assert session_services.list_total(model, large["today"], "person") is None


@pytest.mark.sqlite_only
def test_a_page_of_a_session_list_is_read_off_an_index_not_sorted(db, large):
    """The session screen's lists are read in their order from an index: a page of 50 does not
    sort every row of the session first (SQLite says "USE TEMP B-TREE FOR ORDER BY" when it
    would)."""
    from pvplatform.sessions import services as session_services

    today = large["today"]
    turns = (sa.select(SpeakingTurn).where(SpeakingTurn.meeting_id == today)
             .order_by(SpeakingTurn.started_at.desc(), SpeakingTurn.id.desc()))
    check_ins = (sa.select(Attendance).where(Attendance.meeting_id == today)
                 .order_by(Attendance.checked_in_at.desc(), Attendance.id.desc()))
    for stmt in (session_services.invitations_statement(today),
                 session_services.registrations_statement(today), check_ins, turns):
        sql = str(stmt.limit(50).compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = " / ".join(row[3] for row in db.session.execute(
            sa.text("EXPLAIN QUERY PLAN " + sql)))
        assert "TEMP B-TREE" not in plan, plan
