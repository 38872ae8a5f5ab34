"""The process dashboard: the engine's figures, suppressed small cells, charts with tables,
permissions, ?as_of, empty states."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from babel.numbers import format_decimal, format_percent

from pvplatform.db import utcnow
from pvplatform.indicators import compute_flags, compute_indicators
from pvplatform.indicators.funnel import attendee_share_rows, session_funnel
from pvplatform.indicators.models import FlagRecord
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import AttendanceSnapshot, Participant, Stratum
from pvplatform.sessions.models import Attendance, Registration
from tests.examples import TINY

INSTANTS = {"2026-03-01": datetime(2026, 3, 1, tzinfo=UTC),
            "2026-06-01": datetime(2026, 6, 1, tzinfo=UTC)}


def url(process_id: int, as_of: str | None = None) -> str:
    query = f"?as_of={quote(as_of)}" if as_of is not None else ""
    return f"/manage/processes/{process_id}/dashboard/all{query}"


def figure(page: str, code: str) -> tuple[str, str]:
    """(value, n) as printed in the first figure row of that code."""
    match = re.search(
        rf'<tr data-figure="{code}">\s*<th scope="row">[^<]*</th>\s*'
        r'<td><span class="dash-value[^"]*">([^<]*)</span></td>\s*'
        r'<td><span class="dash-n[^"]*">([^<]*)</span>', page)
    assert match, f"no figure row for {code}"
    return html.unescape(match.group(1)), html.unescape(match.group(2))


def table_row(page: str, header: str) -> str:
    """The cells of every table row headed `header` (a category has a row in two tables)."""
    cells = re.findall(rf'<th scope="row">{re.escape(header)}</th>(.*?)</tr>', page, re.S)
    assert cells, header
    return html.unescape(re.sub(r"<[^>]+>", " ", " | ".join(cells)))


def percent(value: float) -> str:
    return format_percent(value, "#,##0.#%", locale="en")


def number(value: float) -> str:
    return format_decimal(value, "#,##0.#", locale="en")


@pytest.fixture
def tiny(db):
    process = import_package(TINY, now=utcnow())
    db.session.commit()
    return process


@pytest.fixture
def staff(factory):
    return factory.user("staff")


# ---------------------------------------------------------------- the engine's figures

@pytest.mark.parametrize("day", sorted(INSTANTS))
def test_dashboard_prints_the_engines_figures(client, login_as, staff, tiny, day):
    login_as(staff)
    response = client.get(url(tiny.id, f"{day}T00:00:00Z"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = {(r.code, r.dimension, r.category, str(r.group), r.public_value, r.session_id): r
            for r in compute_indicators(tiny.id, INSTANTS[day])}

    def row(code, **keys):
        return rows[(code, keys.get("dimension", ""), keys.get("category", ""),
                     keys.get("group", ""), keys.get("public_value", ""), keys.get("session_id"))]

    def shown(r, text):
        if 1 <= r.n < 5:  # resting on fewer than 5: suppressed, whatever the engine says
            return ("suppressed", "< 5")
        return (text, str(r.n))

    checked = 0
    for code in ("retention", "answer_rate", "uptake_rate", "internal_voice_share",
                 "top10_share", "answered_within_30d_rate", "reasoned_rejection_rate"):
        r = row(code)
        assert figure(page, code) == shown(r, percent(r.value)), code
        checked += r.n >= 5
    for code in ("median_days_to_answer", "oldest_unanswered_days"):
        r = row(code)
        assert figure(page, code) == shown(r, number(r.value)), code
    for code in ("dropped_out", "active_participants", "registered_no_show",
                 "invited_not_registered"):
        r = row(code)
        assert figure(page, code) == shown(r, format_decimal(r.value, locale="en")), code
    gini = row("contribution_gini")
    assert figure(page, "contribution_gini") == shown(
        gini, format_decimal(gini.value, "#,##0.00", locale="en"))
    pooled = row("no_show_rate")
    assert figure(page, "no_show_rate") == shown(pooled, percent(pooled.value))
    assert checked >= 5  # most figures rest on enough people to be printed
    known = row("known_share", dimension="district")
    assert f"{percent(known.value)}" in page
    east = row("representation_ratio", dimension="district", category="east")
    assert format_decimal(east.value, "#,##0.00", locale="en") in table_row(page, "east")


def test_funnel_rows_agree_with_the_engine(db, tiny):
    at = INSTANTS["2026-03-01"]
    rows = compute_indicators(tiny.id, at)
    funnel, sessions = session_funnel(tiny.id, at)
    by = {(r.code, r.session_id): r for r in rows + funnel}
    held = [s for s in sessions if s.held]
    assert [s.title for s in held] == ["Atelier 1", "Atelier 2", "Atelier 3"]
    assert len(sessions) == 6
    for previous, session in zip(held, held[1:], strict=False):
        assert by[("session_attended", previous.id)].value == by[("attrition", session.id)].n
    for s in held:
        registered = by[("session_registered", s.id)].value
        no_show = by[("no_show_rate", s.id)]
        assert registered == no_show.n
        no_shows = round(no_show.value * no_show.n)
        assert by[("session_attended", s.id)].value == (
            registered - no_shows + by[("session_walk_ins", s.id)].value)
    assert sum(by[("session_invited", s.id)].value for s in sessions) <= next(
        r.n for r in rows if r.code == "uptake_rate")
    assert ("session_attended", sessions[-1].id) not in by  # not held yet
    # The attendee share rests on the ratio's own count.
    shares = attendee_share_rows(rows)
    ratios = {(r.dimension, r.category): r for r in rows if r.code == "representation_ratio"}
    assert len([s for s in shares if s.code == "attendee_share"]) == len(ratios)
    assert all(s.n == ratios[(s.dimension, s.category)].n for s in shares)


def test_statements_do_not_grow_with_sessions_or_rows(client, login_as, staff, tiny, db):
    login_as(staff)
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        # Transaction control depends on the connection's state, not on the data.
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK",
                                                      "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    counts = []
    for day in sorted(INSTANTS):  # 3 then 6 held sessions, more proposals and perceptions
        seen.clear()
        db.session.expire_all()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get(url(tiny.id, f"{day}T00:00:00Z")).status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
    assert counts[0] < 60, counts


def test_perceived_value_matrix_highlights_opposite_signs(client, login_as, staff, tiny):
    login_as(staff)
    page = client.get(url(tiny.id, "2026-06-01T00:00:00+00:00")).get_data(as_text=True)
    trust = re.search(r'<tr class="dash-opposite">\s*<th scope="row">Trust in institutions</th>'
                      r'(.*?)</tr>', page, re.S)
    assert trust, "opposite directions are highlighted"
    text = html.unescape(re.sub(r"<[^>]+>", " ", trust.group(1)))
    assert "+0.57" in text and "-0.52" in text and "n = 7" in text and "n = 54" in text
    assert "Opposite directions" in text
    # Contract v2: the officials' rise rests on 4 changed scores (sign test p = 0.125), within
    # chance: opposite directions, but no value duality.
    assert "value duality" not in text and "▲" not in text
    assert not any(f.code == "value_duality" for f in compute_flags(tiny.id,
                                                                    INSTANTS["2026-06-01"]))
    assert "opposite directions): none." in page  # no value in duality, named
    assert "Legitimacy" in page and '<tr class="dash-opposite">\n                <th scope="row">' \
        'Legitimacy' not in page


def test_charts_are_images_followed_by_their_table(client, login_as, staff, tiny):
    login_as(staff)
    page = client.get(url(tiny.id, "2026-06-01T00:00:00Z")).get_data(as_text=True)
    charts = re.findall(r"<svg\b[^>]*>", page)
    assert len(charts) >= 4
    assert all('role="img"' in tag and "aria-labelledby" in tag for tag in charts)
    assert page.count("<svg") == page.count("</svg>") == page.count("<title id=")
    after = re.findall(r"</svg>\s*(?:</div>\s*)?(?:<details class=\"figures\">\s*<summary>[^<]*"
                       r"</summary>\s*)?(?:<div class=\"table-wrap\"[^>]*>\s*)?<table", page)
    assert len(after) == len(charts)
    assert re.search(r"<caption>[^<]+</caption>", page)
    # No inline style, script or event handler anywhere in the page (strict CSP).
    assert " style=" not in page
    assert all(re.search(r'\bsrc="', tag) for tag in re.findall(r"<script\b[^>]*>", page))
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", page)
    assert not re.search(r"\son[a-z]+=", page)


# ---------------------------------------------------------------- suppression

def test_small_categories_are_suppressed_with_the_next_smallest(client, login_as, staff,
                                                                 factory, db):
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    process = factory.process(today=at.date())
    meeting = factory.meeting(process, starts_at=at - timedelta(days=2))
    for category, share in (("north", 0.25), ("south", 0.25), ("centre", 0.5)):
        db.session.add(Stratum(process_id=process.id, dimension="district", category=category,
                               population_share=share))
    for category, count in (("north", 3), ("south", 8), ("centre", 20)):
        people = [Participant(kind="citizen", display_name=f"{category} {i}")
                  for i in range(count)]
        db.session.add_all(people)
        db.session.flush()
        attendances = [Attendance(meeting_id=meeting.id, participant_id=person.id,
                                  mode="in_person", checked_in_at=meeting.starts_at)
                       for person in people]
        db.session.add_all(attendances)
        db.session.flush()
        db.session.add_all(AttendanceSnapshot(attendance_id=a.id, dimension="district",
                                              category=category) for a in attendances)
    db.session.commit()
    rows = {(r.code, r.category): r for r in compute_indicators(process.id, at)}
    assert rows[("representation_ratio", "north")].n == 3

    login_as(staff)
    response = client.get(url(process.id, at.isoformat()))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    north, south, centre = (table_row(page, c) for c in ("north", "south", "centre"))
    assert "< 5" in north and "suppressed" in north
    assert "suppressed" in south and " 8 " not in south
    north_ratio = format_decimal(rows[("representation_ratio", "north")].value, "#,##0.00",
                                 locale="en")
    south_ratio = format_decimal(rows[("representation_ratio", "south")].value, "#,##0.00",
                                 locale="en")
    assert north_ratio not in page.split('id="representativeness"')[1].split("</section>")[0]
    assert south_ratio not in south
    assert "20" in centre and "suppressed" not in centre
    assert format_decimal(rows[("representation_ratio", "centre")].value, "#,##0.00",
                          locale="en") in page
    assert 'id="suppression-note"' in page
    assert "fewer than 5 people" in page


def test_k_comes_from_the_configuration(client, login_as, staff, tiny, app):
    login_as(staff)
    before = app.config.get("PV_DASHBOARD_MIN_CELL")
    app.config["PV_DASHBOARD_MIN_CELL"] = 12
    try:
        page = client.get(url(tiny.id, "2026-03-01T00:00:00Z")).get_data(as_text=True)
    finally:
        app.config["PV_DASHBOARD_MIN_CELL"] = before
    assert "fewer than 12 people" in page
    assert "< 12" in table_row(page, "30-44")  # n = 10 at that instant


# ---------------------------------------------------------------- permissions and flags

def test_elected_read_without_acknowledging(client, login_as, factory, tiny, db):
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FlagRecord)) > 0
    login_as(factory.user("elected"))
    response = client.get(url(tiny.id))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Risk flags" in page and "dash-flag-alert" in page
    assert "/acknowledge" not in page and "<textarea" not in page
    assert "/thresholds" not in page


def test_staff_acknowledge_from_the_dashboard(client, login_as, staff, tiny, db):
    login_as(staff)
    page = client.get(url(tiny.id)).get_data(as_text=True)
    actions = re.findall(r'action="(/manage/flags/(\d+)/acknowledge)"', page)
    assert actions
    path, flag_id = actions[0]
    audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    response = client.post(path, data={"note": "Invitations sent through the youth club.",
                                       "next": url(tiny.id)})
    assert response.status_code in (302, 303)
    assert response.headers["Location"].endswith(url(tiny.id))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == audits + 1
    page = client.get(url(tiny.id)).get_data(as_text=True)
    assert "Invitations sent through the youth club." in page
    assert "Acknowledged by" in page


def test_flags_show_severity_in_words_and_for_whom(client, login_as, staff, tiny):
    login_as(staff)
    at = INSTANTS["2026-06-01"]
    page = client.get(url(tiny.id, "2026-06-01T00:00:00Z")).get_data(as_text=True)
    flags = compute_flags(tiny.id, at)
    section = page.split('id="flags"')[1].split("</section>")[0]
    assert section.count('<li class="dash-flag ') == len(flags)
    assert section.count(">Alert</span>") + section.count("> Alert</span>") == sum(
        1 for f in flags if f.severity == "alert")
    assert "For whom:" in section and "age_band: 18-29" in section
    assert "Public value: Trust in institutions" in section
    # An instant other than now shows the computed flags: nothing to acknowledge there.
    assert "/acknowledge" not in section
    first_alert = section.index("dash-flag-alert")
    assert first_alert < section.index("dash-flag-warning")


@pytest.mark.parametrize("role", ["citizen", "association", "evaluator"])
def test_other_roles_are_refused(client, login_as, factory, role):
    process = factory.process()
    login_as(factory.user(role))
    assert client.get(url(process.id)).status_code == 403
    assert client.get(url(process.id, "2026-03-01T00:00:00Z")).status_code == 403


def test_anonymous_visitors_are_sent_to_login(client, factory):
    response = client.get(url(factory.process().id))
    assert response.status_code in (302, 303)
    assert "/auth/login" in response.headers["Location"]


def test_unknown_process_is_not_found(client, login_as, staff, db):
    login_as(staff)
    assert client.get(url(999999)).status_code == 404
    assert client.get(f"/manage/processes/{2**63}/dashboard").status_code == 404


def test_bad_instants_are_refused(client, login_as, staff, factory):
    process = factory.process()
    login_as(staff)
    for as_of in ("2026-03-01T00:00:00", "2026-03-01", "yesterday", "2026-13-01T00:00:00Z",
                  "\x00", "2026-03-01T00:00:00+25:00", "9" * 500):
        response = client.get(url(process.id, as_of))
        assert response.status_code == 422, as_of
        assert "ISO 8601" in response.get_data(as_text=True)
    assert client.get(url(process.id, "")).status_code == 200  # an empty field: now


def test_instants_with_an_offset_are_read_in_utc(client, login_as, staff, tiny):
    login_as(staff)
    utc = client.get(url(tiny.id, "2026-03-01T00:00:00Z")).get_data(as_text=True)
    paris = client.get(url(tiny.id, "2026-03-01T01:00:00+01:00")).get_data(as_text=True)
    assert figure(utc, "retention") == figure(paris, "retention")
    assert "Mar 1, 2026" in utc  # in the town's time zone (Europe/Paris: 01:00)


# ---------------------------------------------------------------- links and empty states

def test_process_pages_link_the_dashboard(client, login_as, factory, db):
    process = factory.process()
    target = f'href="/manage/processes/{process.id}/dashboard"'  # the overview
    login_as(factory.user("staff"))
    assert target in client.get("/manage").get_data(as_text=True)
    assert target in client.get(f"/processes/{process.id}").get_data(as_text=True)
    client.post("/auth/logout")
    login_as(factory.user("elected"))
    assert target in client.get(f"/processes/{process.id}").get_data(as_text=True)
    client.post("/auth/logout")
    login_as(factory.user("citizen"))
    assert target not in client.get(f"/processes/{process.id}").get_data(as_text=True)


def test_a_process_without_data_shows_empty_states(client, login_as, staff, factory):
    process = factory.process()
    login_as(staff)
    response = client.get(url(process.id))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No risk flag at this instant" in page
    assert "No session yet" in page
    assert "No reference population" in page
    assert "No association invited" in page
    assert "No public value catalogue" in page
    assert figure(page, "answer_rate") == ("no data", "0")
    assert figure(page, "retention") == ("measured once a second session is held", "0")
    assert "No speaking turns recorded yet" in page
    assert " style=" not in page


def test_the_dashboard_follows_a_check_in(client, login_as, staff, factory, db):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1))
    people = [Participant(kind="citizen", display_name=f"P{i}") for i in range(6)]
    db.session.add_all(people)
    db.session.flush()
    for person in people:
        db.session.add(Registration(meeting_id=meeting.id, participant_id=person.id,
                                    registered_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    login_as(staff)
    before = client.get(url(process.id)).get_data(as_text=True)
    assert figure(before, "active_participants") == ("0", "0")
    for person in people:
        db.session.add(Attendance(meeting_id=meeting.id, participant_id=person.id,
                                  mode="in_person", checked_in_at=utcnow()))
    db.session.commit()
    after = client.get(url(process.id)).get_data(as_text=True)
    assert figure(after, "active_participants") == ("6", "6")
    assert "Not held yet" not in after


def test_live_flags_ahead_of_or_behind_the_stored_ones(client, login_as, staff, factory, db,
                                                       app):
    from pvplatform.proposals.models import Proposal, ProposalState

    process = factory.process()
    app.config["FLAGS_AUTO_REFRESH"] = False  # as if only time had moved since the refresh
    try:
        author = Participant(kind="citizen", display_name="Author")
        db.session.add(author)
        db.session.flush()
        db.session.add(Proposal(
            process_id=process.id, author_id=author.id, title="Un parc", body="Au nord.",
            state=ProposalState.REJECTED, published_at=utcnow() - timedelta(days=10),
            answered_at=utcnow() - timedelta(days=1), answer_rationale="  "))
        db.session.add(FlagRecord(process_id=process.id, code="voice_concentration",
                                  severity="warning", key='["","","","",null,null]',
                                  value=0.7, message="A few voices.", params={}))
        db.session.flush()  # the hints of this flush are dropped by the commit, not kept
        db.session.commit()
    finally:
        app.config["FLAGS_AUTO_REFRESH"] = True
    login_as(staff)
    page = client.get(url(process.id)).get_data(as_text=True)
    section = page.split('id="flags"')[1].split("</section>")[0]
    assert "Rejections without reasons" in section
    assert "enters the flag history at the next refresh" in section
    assert "no longer raise this flag" in section
    assert "/acknowledge" not in section  # neither can be acknowledged from here


def test_the_dashboard_speaks_french(client, login_as, staff, tiny):
    login_as(staff)
    response = client.get(url(tiny.id, "2026-06-01T00:00:00Z"),
                          headers={"Accept-Language": "fr"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Tableau de bord" in page and "Entonnoir de participation" in page
    retention = next(r for r in compute_indicators(tiny.id, INSTANTS["2026-06-01"])
                     if r.code == "retention")
    assert figure(page, "retention")[0] == format_percent(retention.value, "#,##0.#%",
                                                          locale="fr")
    assert "," in figure(page, "retention")[0]  # a French decimal comma
