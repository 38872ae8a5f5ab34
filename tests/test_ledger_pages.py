"""The staff ledger pages: figures equal to the indicator engine (and to the tiny example's
expected rows), lists of who whose lengths equal those figures, names, pagination, permissions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Association
from pvplatform.db import utcnow
from pvplatform.indicators import compute_indicators
from pvplatform.indicators.ledger import ledger_figures
from pvplatform.ledger import services, views
from pvplatform.ledger.services import LedgerList
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import Participant
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import Attendance, AttendanceMode, Invitation, Meeting, Registration
from tests.examples import TINY

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def text(response) -> str:
    return response.get_data(as_text=True)


def expected(day: str) -> list[dict]:
    return json.loads((TINY / "expected" / f"indicators-{day}.json").read_text(encoding="utf-8"))


def expected_value(rows: list[dict], code: str, session_id: str = "") -> dict:
    return next(r for r in rows if r["code"] == code and r["session_id"] == session_id)


def session_refs(db, process_id: int) -> dict[str, int]:
    return dict(db.session.execute(
        sa.select(Meeting.external_ref, Meeting.id).where(Meeting.process_id == process_id)).all())


@pytest.fixture
def tiny(db):
    process = import_package(TINY, now=utcnow())
    db.session.commit()
    return process


@pytest.fixture
def at_june(monkeypatch):
    """The pages compute as of now: pin now to the example's instant."""
    monkeypatch.setattr(views, "utcnow", lambda: JUNE)


@pytest.fixture
def staff(factory):
    return factory.user("staff")


# ---------------------------------------------------------------- the tiny example


@pytest.mark.parametrize(("as_of", "day"), [(MARCH, "2026-03-01"), (JUNE, "2026-06-01")])
def test_list_lengths_equal_the_engine_and_the_expected_rows(db, tiny, as_of, day):
    want = expected(day)
    figures = ledger_figures(tiny.id, as_of)
    # The figures are the engine's own rows.
    assert figures.rows == compute_indicators(tiny.id, as_of)
    refs = session_refs(db, tiny.id)
    invited = expected_value(want, "invited_not_registered")
    dropped = expected_value(want, "dropped_out")
    no_shows = expected_value(want, "registered_no_show")
    assert figures.invited_not_registered == invited["value"]
    assert figures.invitation_pairs == invited["n"]
    assert figures.dropped_out == dropped["value"]
    assert figures.registered_no_show == no_shows["value"]

    counts = services.list_counts(tiny.id, as_of)
    assert counts[LedgerList.INVITED_NOT_REGISTERED] == invited["value"]
    assert counts[LedgerList.NO_SHOWS] == no_shows["value"]
    assert counts[LedgerList.DROPPED_OUT] == dropped["value"]

    per_session = [r for r in want if r["code"] == "no_show_rate" and r["session_id"]]
    assert len(per_session) == figures.held_count
    for row in per_session:
        sid = refs[row["session_id"]]
        session = figures.session(sid)
        assert session.live_registrations == row["n"]
        assert session.no_show_rate == pytest.approx(row["value"], abs=1e-6)
        in_session = services.list_counts(tiny.id, as_of, sid)
        assert in_session[LedgerList.NO_SHOWS] == session.no_shows
        assert round(session.no_shows / session.live_registrations, 6) == pytest.approx(
            row["value"], abs=1e-6)
        # Attended = registered - no-shows + walk-ins, for every held session.
        assert session.attendees == (session.live_registrations - session.no_shows
                                     + in_session[LedgerList.WALK_INS])


def test_per_session_lists_add_up_to_the_process_lists(db, tiny):
    counts = services.list_counts(tiny.id, JUNE)
    sessions = session_refs(db, tiny.id).values()
    for which in (LedgerList.INVITED_NOT_REGISTERED, LedgerList.NO_SHOWS, LedgerList.WALK_INS,
                  LedgerList.ABSENT_ASSOCIATIONS):
        assert sum(services.list_counts(tiny.id, JUNE, sid)[which] for sid in sessions) \
            == counts[which], which


def test_dropped_out_are_the_people_the_definition_names(db, tiny):
    # Recomputed here by hand: attended a held session, none of the last two held ones.
    held = list(db.session.scalars(
        sa.select(Meeting.id).where(Meeting.process_id == tiny.id, Meeting.starts_at <= JUNE)
        .order_by(Meeting.starts_at)))
    last_two = set(held[-2:])
    attended: dict[int, set[int]] = {}
    for sid, pid in db.session.execute(
            sa.select(Attendance.meeting_id, Attendance.participant_id)
            .where(Attendance.meeting_id.in_(held), Attendance.checked_in_at <= JUNE)):
        attended.setdefault(pid, set()).add(sid)
    want = {pid for pid, sessions in attended.items() if not sessions & last_two}
    got = [p.id for p in db.session.scalars(
        services.list_statement(LedgerList.DROPPED_OUT, tiny.id, JUNE))]
    assert len(got) == len(set(got)) and set(got) == want
    # Below three held sessions nobody has dropped out, as the engine says.
    early = held_instant(db, tiny.id, 2)
    assert ledger_figures(tiny.id, early).dropped_out == 0
    assert services.list_counts(tiny.id, early)[LedgerList.DROPPED_OUT] == 0


def held_instant(db, process_id: int, n: int) -> datetime:
    starts = list(db.session.scalars(
        sa.select(Meeting.starts_at).where(Meeting.process_id == process_id)
        .order_by(Meeting.starts_at)))
    return starts[n - 1] + timedelta(days=1)


def test_process_page_shows_the_engine_figures(client, db, tiny, staff, login_as, at_june):
    want = expected("2026-06-01")
    login_as(staff)
    response = client.get(f"/manage/processes/{tiny.id}/ledger")
    assert response.status_code == 200
    body = text(response)
    invited = expected_value(want, "invited_not_registered")
    no_shows = expected_value(want, "registered_no_show")
    dropped = expected_value(want, "dropped_out")
    assert f"{invited['value']} of {invited['n']} invitations" in body
    assert f"{no_shows['value']} of {no_shows['n']} registrations" in body
    assert re.search(rf"<dt>Dropped out</dt>\s*<dd>{dropped['value']}\b", body)
    # The tabs carry the lists' lengths, equal to the figures.
    assert f"Invited, not registered <span class=\"ledger-count\">({invited['value']})" in body
    assert f"Registered, absent <span class=\"ledger-count\">({no_shows['value']})" in body
    assert f"Dropped out <span class=\"ledger-count\">({dropped['value']})" in body
    # Imported people have no name: they show by number.
    assert "Participant #" in body
    # One row per person of the first page of the list, with pagination beyond.
    rows = body.split('id="ledger-list"')[1].count("<tr>") - 1
    assert rows == views.PER_PAGE
    assert "Page 1 of" in body
    last = -(-invited["value"] // views.PER_PAGE)
    page = text(client.get(f"/manage/processes/{tiny.id}/ledger?list=invited_not_registered"
                           f"&page={last}"))
    assert page.split('id="ledger-list"')[1].count("<tr>") - 1 == \
        invited["value"] - (last - 1) * views.PER_PAGE
    # The absent-association flags of the engine are listed.
    assert "No member of the association" in body


def test_every_list_renders(client, db, tiny, staff, login_as, at_june):
    login_as(staff)
    for which in LedgerList:
        response = client.get(f"/manage/processes/{tiny.id}/ledger?list={which.value}")
        assert response.status_code == 200
        assert f'list={which.value}#ledger-list" aria-current="page"' in text(response)


def test_session_page_shows_its_no_show_figures(client, db, tiny, staff, login_as, at_june):
    want = expected("2026-06-01")
    refs = session_refs(db, tiny.id)
    row = expected_value(want, "no_show_rate", "s3")
    login_as(staff)
    body = text(client.get(f"/manage/sessions/{refs['s3']}/ledger?list=no_shows"))
    no_shows = round(row["value"] * row["n"])
    assert f"{no_shows} of {row['n']} registrations" in body
    assert "no-show rate 36%" in body
    assert body.split('id="ledger-list"')[1].count("<tr>") - 1 == no_shows
    # Dropping out belongs to the process: no such tab on a session, unknown lists fall back.
    assert "list=dropped_out" not in body
    fallback = client.get(f"/manage/sessions/{refs['s3']}/ledger?list=dropped_out")
    assert fallback.status_code == 200


def test_lists_do_not_query_per_row(client, db, app, tiny, staff, login_as, at_june):
    login_as(staff)
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    urls = [f"/manage/processes/{tiny.id}/ledger?list={w.value}" for w in LedgerList]
    client.get(urls[0])
    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        per_page = {}
        for url in urls:
            db.session.expire_all()
            statements.clear()
            assert client.get(url).status_code == 200
            per_page[url] = len(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    # 50 rows each: a query per row would show as 50 more statements.
    assert max(per_page.values()) < 50, per_page


# ---------------------------------------------------------------- names and small worlds


def test_names_and_the_four_lists_of_a_session(client, db, factory, staff, login_as):
    process = factory.process()
    now = utcnow()
    meeting = factory.meeting(process, starts_at=now - timedelta(days=2))
    invited = factory.user("citizen", name="Inès Invitée")
    absent = factory.user("citizen", name="Arthur Absent")
    came = factory.user("citizen", name="Clara Venue")
    gone = factory.user("citizen", name="Compte Supprimé")
    association = factory.association("Les Amis du Parc")
    for user in (invited, gone):
        db.session.add(Invitation(meeting_id=meeting.id, participant_id=participant_for(user).id,
                                  invited_at=now - timedelta(days=5)))
    gone.deleted_at = now - timedelta(days=1)
    db.session.add(Invitation(meeting_id=meeting.id, association_id=association.id,
                              invited_at=now - timedelta(days=5)))
    for user in (absent, came):
        db.session.add(Registration(meeting_id=meeting.id,
                                    participant_id=participant_for(user).id,
                                    registered_at=now - timedelta(days=4)))
    walk_in = Participant(kind="citizen", display_name="Wassim Sans-Inscription")
    anonymous = Participant(kind="citizen")
    db.session.add_all([walk_in, anonymous])
    db.session.flush()
    for participant, is_walk_in in ((participant_for(came), False), (walk_in, True),
                                    (anonymous, True)):
        db.session.add(Attendance(meeting_id=meeting.id, participant_id=participant.id,
                                  mode=AttendanceMode.IN_PERSON, walk_in=is_walk_in,
                                  checked_in_at=meeting.starts_at))
    db.session.commit()

    login_as(staff)
    base = f"/manage/sessions/{meeting.id}/ledger"
    body = text(client.get(f"{base}?list=invited_not_registered"))
    assert "Inès Invitée" in body
    assert "Compte Supprimé" not in body
    assert f"Participant #{participant_for(gone).id}" in body
    body = text(client.get(f"{base}?list=no_shows"))
    assert "Arthur Absent" in body and "Clara Venue" not in body
    assert "1 of 2 registrations" in body and "no-show rate 50%" in body
    body = text(client.get(f"{base}?list=walk_ins"))
    assert "Wassim Sans-Inscription" in body and f"Participant #{anonymous.id}" in body
    assert "Clara Venue" not in body
    body = text(client.get(f"{base}?list=absent_associations"))
    assert "Les Amis du Parc" in body
    counts = services.list_counts(process.id, utcnow(), meeting.id)
    assert counts == {LedgerList.INVITED_NOT_REGISTERED: 2, LedgerList.NO_SHOWS: 1,
                      LedgerList.WALK_INS: 2, LedgerList.ABSENT_ASSOCIATIONS: 1}

    # A member turning up takes the association off the list.
    member = factory.user("association", association=db.session.get(Association,
                                                                     association.id))
    db.session.add(Attendance(meeting_id=meeting.id, participant_id=participant_for(member).id,
                              mode=AttendanceMode.IN_PERSON, walk_in=True,
                              checked_in_at=meeting.starts_at))
    db.session.commit()
    assert services.list_counts(process.id, utcnow(), meeting.id)[
        LedgerList.ABSENT_ASSOCIATIONS] == 0


def test_empty_process_shows_empty_states(client, db, factory, staff, login_as):
    process = factory.process()
    meeting = factory.meeting(process)  # next week: not held
    login_as(staff)
    body = text(client.get(f"/manage/processes/{process.id}/ledger"))
    assert "No session held yet" in body and "Nobody is in this list" in body
    body = text(client.get(f"/manage/sessions/{meeting.id}/ledger"))
    assert "Not held yet" in body
    assert "once the session is over" in body


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "evaluator"])
def test_ledger_pages_are_staff_only(client, db, factory, login_as, role):
    process = factory.process()
    meeting = factory.meeting(process)
    login_as(factory.user(role))
    for url in (f"/manage/processes/{process.id}/ledger",
                f"/manage/sessions/{meeting.id}/ledger",
                f"/manage/processes/{process.id}/absence-reasons"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/manage/sessions/{meeting.id}/absence-requests").status_code == 403


def test_anonymous_is_sent_to_login(client, db, factory):
    process = factory.process()
    response = client.get(f"/manage/processes/{process.id}/ledger")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("bad", ["999999", "0", str(2**63)])
def test_unknown_ids_are_404(client, db, factory, staff, login_as, bad):
    login_as(staff)
    for url in (f"/manage/processes/{bad}/ledger", f"/manage/sessions/{bad}/ledger",
                f"/manage/processes/{bad}/absence-reasons"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/manage/sessions/{bad}/absence-requests").status_code == 404


def test_bad_page_and_list_arguments_are_harmless(client, db, factory, staff, login_as):
    process = factory.process()
    login_as(staff)
    for query in ("page=-3", "page=abc", "page=99999999999", "list=%00", "list=" + "x" * 500):
        response = client.get(f"/manage/processes/{process.id}/ledger?{query}")
        assert response.status_code == 200, query
