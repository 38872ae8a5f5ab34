"""The dashboard and the flags page show the figures and the evidence of contract version 2
(INDICATORS.md): representation tests, active participants and reach, speaking time, the full
perception family, response rates, session pulses, retention's new meaning, flags' p-values;
every one of them suppressed at k like the rest of the dashboard."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from flask_babel import force_locale

from pvplatform.db import utcnow
from pvplatform.indicators import compute_indicators
from pvplatform.indicators.flags import compute_flags
from pvplatform.indicators.messages import evidence, within_chance
from pvplatform.participation.importer import import_package
from tests.examples import PULSE, TINY

JUNE = "2026-06-01T00:00:00Z"


def url(process_id: int, as_of: str | None = None) -> str:
    query = f"?as_of={as_of}" if as_of else ""
    return f"/manage/processes/{process_id}/dashboard/all{query}"


def words(p_value: float) -> str:
    """The flags' evidence wording for a p-value, as the page in English says it."""
    with force_locale("en"):
        return str(evidence(p_value))


def chance(p_value: float) -> str:
    """The "within chance" wording for a p-value, as the page in English says it."""
    with force_locale("en"):
        return within_chance(p_value)


def text(fragment: str) -> str:
    """What a reader sees of some markup: tags dropped, entities decoded, spaces folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def section(page: str, section_id: str) -> str:
    return page.split(f'id="{section_id}"')[1].split("</section>")[0]


def rows(fragment: str, attributes: str) -> list[str]:
    """The text of every table row whose <tr> carries these attributes ("": every row)."""
    start = rf"<tr {re.escape(attributes)}" if attributes else r"<tr\b"
    found = re.findall(rf"{start}[^>]*>(.*?)</tr>", fragment, re.S)
    assert found, attributes
    return [text(row) for row in found]


def evidence_row(page: str, dimension: str, category: str) -> str:
    """The category's row in the representation ratio table (the one with the evidence)."""
    part = page.split('id="representativeness"')[1].split('id="online"')[0]
    part = part.split(f"Representation ratio: {dimension}</caption>")[1].split("</table>")[0]
    (row,) = re.findall(rf'<tr data-category="{re.escape(category)}">(.*?)</tr>', part, re.S)
    return text(row)


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def pulse(db):
    process = import_package(PULSE, now=utcnow())
    db.session.commit()
    return process


@pytest.fixture
def june(client, login_as, staff, pulse) -> str:
    login_as(staff)
    response = client.get(url(pulse.id, JUNE))
    assert response.status_code == 200
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- representativeness

def test_each_category_has_its_evidence_beside_its_ratio(june):
    # representation_p 0.001448 (Holm): below alpha, the flags' wording.
    assert words(0.001448) in evidence_row(june, "age_band", "18-29")
    assert words(0.0) in evidence_row(june, "district", "east")
    # Off the expected range, but within chance (p 0.052272, 0.077933): shown as such.
    thirty = evidence_row(june, "age_band", "30-44")
    assert "0.68" in thirty and chance(0.052272) in thirty
    assert "under-represented, but within chance" in thirty and "warning" not in thirty
    north = evidence_row(june, "district", "north")
    assert "0.73" in north and chance(0.077933) in north
    assert chance(1.0) in evidence_row(june, "age_band", "45-59")
    assert "evidence" in june.split('id="representativeness"')[1].split("</section>")[0].lower()


def test_a_hidden_count_hides_its_p_value_too(june):
    # gender "other": 1 attendee (p = 1.0 would give the count back); "woman" hidden with it.
    for category in ("other", "woman"):
        row = evidence_row(june, "gender", category)
        assert "p =" not in row and "chance" not in row and "suppressed" in row
    # housing: social_housing rests on 4 attendees; renter is the next smallest.
    social = evidence_row(june, "housing", "social_housing")
    assert "< 5" in social and "0.15" not in social and "p <" not in social
    assert "0.86" not in evidence_row(june, "housing", "renter")


# ---------------------------------------------------------------- online and offline

def test_active_participants_beside_attendees_and_reach(june):
    part = section(june, "online")
    assert "Who takes part online and offline" in part
    reach = rows(part, 'data-figure="reach_per_1000"')[0]
    assert "5.7 per 1,000 residents" in reach and "272" in reach
    assert "300" in rows(part, 'data-figure="active_participants"')[0]
    known = rows(part, 'data-figure="active_known_share"')[0]
    assert "85.6% (n = 208)" in known and "85.7% (n = 272)" in known  # age_band comes first
    young = rows(part, 'data-category="18-29"')[0]
    assert young.split() == ["18-29", "19%", "0.47", "16", "0.50", "22"]
    # housing: attendees' renter and social_housing are hidden; active participants' are not.
    assert rows(part, 'data-category="social_housing"')[0].split() == [
        "social_housing", "15%", "suppressed", "<", "5", "0.14", "5"]
    # gender "other": one active participant, hidden, and the next smallest with it.
    assert "1.15" in rows(part, 'data-category="man"')[0]
    assert rows(part, 'data-category="other"')[0].count("suppressed") == 2
    assert "0.88" not in rows(part, 'data-category="woman"')[0]
    assert part.count("<svg") == 4  # one chart per dimension, each followed by its table


# ---------------------------------------------------------------- voice

def test_speaking_time_shares_and_gini(june):
    part = section(june, "voice")
    internal = rows(part, 'data-figure="speaking_time_share"')
    assert "27.3%" in internal[0] and "244 min" in internal[0]  # 14,631 seconds
    assert "72.7%" in internal[1] and "244 min" in internal[1]
    gini = rows(part, 'data-figure="speaking_gini"')[0]
    assert "0.75" in gini and "229" in gini
    assert "From the speaking turns recorded in the sessions" in part
    assert "No speaking turns recorded yet" not in part
    assert "Internal speaking time" in part  # in the chart, beside the written voice


def test_no_speaking_turns_are_said_so(client, login_as, staff, db):
    tiny = import_package(TINY, now=utcnow())
    db.session.commit()
    login_as(staff)
    part = section(client.get(url(tiny.id, JUNE)).get_data(as_text=True), "voice")
    assert "No speaking turns recorded yet" in part
    assert 'data-figure="speaking_time_share"' not in part


# ---------------------------------------------------------------- perceived public value

def test_perception_baseline_final_change_and_sign_test(june):
    part = section(june, "public-value")
    internal = rows(part, 'data-value="trust" data-group="internal"')[0]
    assert "2.12 (n = 25)" in internal and "3.93 (n = 15)" in internal
    assert "+1.79 (n = 14)" in internal and "100%" in internal
    assert words(0.0) in internal
    external = rows(part, 'data-value="trust" data-group="external"')[0]
    assert "2.80 (n = 147)" in external and "2.11 (n = 91)" in external
    assert "-0.73 (n = 83)" in external and "57.8%" in external
    legitimacy = rows(part, 'data-value="legitimacy" data-group="external"')[0]
    assert "-0.12 (n = 112)" in legitimacy and chance(0.070394) in legitimacy
    # The value's label, never its code.
    assert ">Trust in institutions</th>" in part


def test_duality_is_highlighted_only_where_the_flag_is_raised(june, pulse):
    part = section(june, "public-value")
    matrix = part.split("</table>")[0]
    highlighted = re.findall(r'<tr class="dash-opposite">\s*<th scope="row">([^<]+)</th>(.*?)</tr>',
                             matrix, re.S)
    by_value = {name: text(cells) for name, cells in highlighted}
    assert "value duality" in by_value["Trust in institutions"]
    assert "value duality" in by_value["Responsiveness"]
    # Opposite directions, but not beyond chance for the officials: no duality.
    assert "value duality" not in by_value["Legitimacy"]
    assert "value duality" not in by_value["Transparency"]
    flagged = {f.public_value for f in compute_flags(pulse.id, datetime(2026, 6, 1, tzinfo=UTC))
               if f.code == "value_duality"}
    assert flagged == {"trust", "responsiveness"}
    assert "opposite directions): Responsiveness, Trust in institutions." in text(part)


def test_response_rates_per_wave_and_group(june):
    part = section(june, "public-value")
    rates = re.search(r"Who answered the surveys.*?</table>", part, re.S)
    assert rates
    lines = rows(rates.group(0), "")  # every row of that table
    internal = next(line for line in lines if line.startswith("Internal"))
    external = next(line for line in lines if line.startswith("External"))
    assert internal.count("96.4% (n = 28)") == 2
    assert external.count("58.8% (n = 272)") == 2


def test_session_pulses_per_value_and_held_session(june):
    table = june.split('id="pulses"')[1].split("</table>")[0]
    head = text(table.split("</thead>")[0])
    assert "Inclusiveness" in head and "Responsiveness" in head and "Transparency" in head
    assert "Trust" not in head  # never asked in a pulse
    first = next(line for line in rows(table, "") if line.startswith("Atelier 1"))
    assert first == "Atelier 1 2.68 (n = 40) 3.30 (n = 40) 3.22 (n = 37)"
    last = next(line for line in rows(table, "") if line.startswith("Atelier 6"))
    assert "1.50 (n = 18)" in last


def test_small_perception_and_pulse_cells_stay_hidden(client, login_as, staff, pulse, app):
    login_as(staff)
    before = app.config.get("PV_DASHBOARD_MIN_CELL")
    app.config["PV_DASHBOARD_MIN_CELL"] = 20
    try:
        page = client.get(url(pulse.id, JUNE)).get_data(as_text=True)
    finally:
        app.config["PV_DASHBOARD_MIN_CELL"] = before
    part = section(page, "public-value")
    perception = part.split("<caption>Perceived public value per group")[1].split("</table>")[0]
    internal = rows(perception, 'data-value="trust" data-group="internal"')[0]
    # 25 at the baseline stay; 15 at the final, 14 matched and 14 changed do not.
    assert "2.12 (n = 25)" in internal
    assert "3.93" not in internal and "1.79" not in internal and "100%" not in internal
    assert "p <" not in internal and "chance" not in internal
    assert internal.count("< 20") >= 2
    table = page.split('id="pulses"')[1].split("</table>")[0]
    last = next(line for line in rows(table, "") if line.startswith("Atelier 6"))
    assert "1.50" not in last and "< 20" in last  # inclusiveness: 18 people
    fourth = next(line for line in rows(table, "") if line.startswith("Atelier 4"))
    assert "2.46" not in fourth and "suppressed" in fourth  # the next smallest (24)
    assert "2.68 (n = 40)" in text(table)


# ---------------------------------------------------------------- retention

def test_retention_says_came_back_and_waits_for_a_second_session(client, login_as, staff,
                                                                  pulse):
    login_as(staff)
    june = client.get(url(pulse.id, JUNE)).get_data(as_text=True)
    (row,) = rows(june, 'data-figure="retention"')
    assert "came back to a later session" in row and "70.7%" in row and "92" in row
    retention = next(r for r in compute_indicators(pulse.id, datetime(2026, 1, 20, tzinfo=UTC))
                     if r.code == "retention")
    assert retention.value is None and retention.n == 92  # one session held
    january = client.get(url(pulse.id, "2026-01-20T00:00:00Z")).get_data(as_text=True)
    (row,) = rows(january, 'data-figure="retention"')
    assert "measured once a second session is held" in row and "92" in row
    assert "no data" not in row


# ---------------------------------------------------------------- flags

def flag_items(fragment: str) -> list[str]:
    return [text(item) for item in re.findall(r'<li class="dash-flag [^"]*">(.*?)</li>',
                                              fragment, re.S)]


def test_dashboard_flags_show_their_evidence(june):
    items = flag_items(section(june, "flags"))
    young = next(i for i in items if "age_band: 18-29" in i and "Under-represented" in i)
    assert "Evidence: " + words(0.001448) in young
    weak = [i for i in items if i.count("A weak public value is getting weaker")]
    assert len(weak) == 3
    assert all("Evidence: " + words(0.0) in i for i in weak)
    assert any("Group: external" in i and "Public value: Trust in institutions" in i
               for i in weak)
    duality = [i for i in items if "Public value perceived in opposite ways" in i]
    assert len(duality) == 2 and all("Evidence:" in i for i in duality)
    # Flags without a test have no evidence line.
    voice = next(i for i in items if "A few voices dominate" in i)
    assert "Evidence" not in voice and "p =" not in voice


def test_flags_page_shows_p_values_labels_and_the_new_flag(client, login_as, staff, pulse):
    login_as(staff)
    page = client.get(f"/manage/processes/{pulse.id}/flags").get_data(as_text=True)
    cards = [text(c) for c in re.findall(r'<li class="flag-card[^"]*">(.*?)</li>\s*(?=<li|</ul)',
                                         page, re.S)]
    assert cards
    weak = [c for c in cards if "A weak public value is getting weaker" in c]
    assert len(weak) == 3
    trust = next(c for c in weak if "Public value: Trust in institutions" in c)
    assert "Group: external (residents and associations)" in trust
    assert "Evidence: " + words(0.0) in trust
    assert "Raised ," in trust and "· p < 0.001" in trust  # the event's own p-value
    young = next(c for c in cards if "Under-represented category" in c and "18-29" in c)
    assert "Evidence: " + words(0.001448) in young and "· p = 0.001" in young
    unanswered = next(c for c in cards if "Proposals without an answer" in c)
    assert "Evidence" not in unanswered and "· p" not in unanswered
    assert "Public value: trust" not in page  # labels, not codes
