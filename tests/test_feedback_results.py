"""The perceived public value results page: the engine's per-kind figures, the value x group
matrix with its verdicts and marks, response rates of those who left, session pulses, the voice
of people who did not take part, suppression at k, and who may see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from math import comb

import pytest
from flask_babel import force_locale
from sqlalchemy import event

from pvplatform.auth.models import Role
from pvplatform.feedback.models import Perception, PublicValue, Wave
from pvplatform.feedback.results import (
    CREATED,
    DESTROYED,
    HIDDEN,
    STABLE,
    TOO_FEW,
    perception_results,
)
from pvplatform.indicators import compute_flags, compute_indicators
from pvplatform.indicators.engine import (
    baseline_voices,
    compute_perceptions,
    final_response_by_departure,
    is_weak_weakened,
    perception_figures,
    perception_figures_by_kind,
    perception_rows,
)
from pvplatform.indicators.facts import gather_perceptions
from pvplatform.indicators.suppression import PRIMARY, SECONDARY
from pvplatform.indicators.thresholds import DEFAULTS
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.participation.import_sample import write_sample_package
from pvplatform.participation.importer import import_package
from pvplatform.participation.models import Dimension, Participant, Stratum
from pvplatform.sessions.models import Attendance, AttendanceMode, Meeting
from tests.examples import PULSE, TINY

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
K = 5
PERCEPTION_CODES = {"perception_baseline", "perception_final", "perception_delta",
                    "perception_improved_share", "perception_worsened_share",
                    "perception_sign_p", "baseline_response_rate", "final_response_rate",
                    "pulse_mean", "duality_count"}


def sign_p(worsened: int, improved: int) -> float:
    """The contract's sign test, by hand: 2 * min(P(X <= w), P(X >= w)), X ~ Bin(m, 1/2)."""
    m = worsened + improved
    lower = sum(comb(m, j) for j in range(worsened + 1)) / 2 ** m
    upper = sum(comb(m, j) for j in range(worsened, m + 1)) / 2 ** m
    return min(1.0, 2 * min(lower, upper))


def page_url(process_id: int, as_of: datetime | None = T) -> str:
    url = f"/manage/processes/{process_id}/perceptions"
    return url if as_of is None else f"{url}?as_of={as_of.isoformat().replace('+', '%2B')}"


def numbers(html: str) -> list[float]:
    text = re.sub(r"<[^>]+>", " ", html)
    return [float(n.replace(",", ".")) for n in re.findall(r"\d+(?:[.,]\d+)?", text)]


def td(html: str, value: str, column: str, figure: str) -> str:
    """The cell of a value's detail table (figure: baseline, delta, verdict...) or summary."""
    if figure == "summary":
        row = re.search(rf'<tr data-value="{value}">(.*?)</tr>', html, re.S)
        assert row, value
        scope = row.group(1)
    else:
        section = re.search(
            rf'<section[^>]*class="results-value" data-value="{value}">(.*?)</section>', html,
            re.S)
        assert section, value
        scope = section.group(1)
    cell = re.search(rf'<td data-column="{column}" data-figure="{figure}"[^>]*>(.*?)</td>',
                     scope, re.S)
    assert cell, (value, column, figure)
    return cell.group(1)


class World:
    """A process built row by row, answers dated before T."""

    def __init__(self, factory, db) -> None:
        self.factory = factory
        self.db = db
        self.process = factory.process(today=T.date())
        self.position = 0

    def value(self, code: str, name: str, name_en: str = "") -> PublicValue:
        self.position += 1
        value = PublicValue(process_id=self.process.id, code=code, name=name,
                            name_en=name_en, statement=f"{name} : d'accord ?",
                            statement_en=f"{name_en or name}: agree?",
                            position=self.position)
        self.db.session.add(value)
        self.db.session.commit()
        return value

    def people(self, kind: str, n: int) -> list[Participant]:
        people = [Participant(kind=kind, display_name=f"{kind} {i}") for i in range(n)]
        self.db.session.add_all(people)
        self.db.session.commit()
        return people

    def session(self, days_before: float, title: str) -> Meeting:
        return self.factory.meeting(self.process, starts_at=T - timedelta(days=days_before),
                                    title=title)

    def attend(self, people: list[Participant], meeting: Meeting) -> None:
        self.db.session.add_all(
            Attendance(meeting_id=meeting.id, participant_id=p.id, mode=AttendanceMode.IN_PERSON,
                       checked_in_at=meeting.starts_at + timedelta(minutes=5))
            for p in people)
        self.db.session.commit()

    def answer(self, people: list[Participant], value: PublicValue, wave: Wave,
               scores: list[int | None], *, days_before: float = 20,
               session: Meeting | None = None) -> None:
        assert len(people) == len(scores)
        at = (session.starts_at + timedelta(hours=3) if session is not None
              else T - timedelta(days=days_before))
        self.db.session.add_all(
            Perception(participant_id=p.id, public_value_id=value.id, wave=wave,
                       meeting_id=session.id if session is not None else None, score=s,
                       answered_at=at)
            for p, s in zip(people, scores, strict=True))
        self.db.session.commit()

    def matched(self, people: list[Participant], value: PublicValue, baseline: list[int],
                final: list[int]) -> None:
        self.answer(people, value, Wave.BASELINE, baseline, days_before=100)
        self.answer(people, value, Wave.FINAL, final, days_before=5)

    def results(self, k: int = K, thresholds=DEFAULTS, locale: str = "en"):
        # Words (verdicts, evidence) in the reader's language, as a request would have it.
        with force_locale(locale):
            return perception_results(self.process.id, T, k=k, thresholds=thresholds,
                                      locale=locale)


@pytest.fixture
def world(factory, db) -> World:
    return World(factory, db)


@pytest.fixture
def staff(factory):
    return factory.user(Role.STAFF)


def opposite_world(world: World) -> dict:
    """Trust: six internal people (three managers, three elected) lose, seven external people
    (six residents, one association) gain; fairness: seven residents, weak at the start, lose."""
    managers, elected = world.people("manager", 3), world.people("elected", 3)
    citizens, association = world.people("citizen", 6), world.people("association", 1)
    fairness = world.value("fairness", "Équité", "Fairness")
    trust = world.value("trust", "Confiance", "Trust")
    world.matched(managers, trust, [4, 4, 4], [2, 2, 3])
    world.matched(elected, trust, [3, 4, 4], [2, 2, 2])
    world.matched(citizens, trust, [2, 2, 2, 3, 2, 2], [3, 4, 3, 4, 3, 3])
    world.matched(association, trust, [2], [3])
    world.matched(citizens + association, fairness, [2] * 7, [1, 1, 1, 1, 1, 1, 2])
    return {"trust": trust, "fairness": fairness}


# ---------------------------------------------------------------- hand-computed figures

def test_hand_computed_cells_labels_and_marks(world):
    opposite_world(world)
    r = world.results()
    assert [v.code for v in r.values] == ["fairness", "trust"]  # the catalogue's order
    assert [v.label for v in r.values] == ["Fairness", "Trust"]
    assert [c.key for c in r.columns] == ["internal", "external", "manager", "elected",
                                          "citizen", "association"]
    trust = r.values[1]

    internal = trust.cell("internal")
    assert internal.baseline.raw == round(23 / 6, 6) and internal.baseline.n == 6
    assert internal.final.raw == round(13 / 6, 6) and internal.final.n == 6
    assert internal.delta.raw == round(-10 / 6, 6) and internal.delta.n == 6
    assert internal.improved.raw == 0.0 and internal.worsened.raw == 1.0
    assert sign_p(6, 0) == 0.03125
    assert internal.sign_p.raw == round(sign_p(6, 0), 6)
    assert internal.verdict == DESTROYED
    assert "p = 0.031" in internal.evidence

    external = trust.cell("external")
    assert external.baseline.raw == round(15 / 7, 6) and external.baseline.n == 7
    assert external.final.raw == round(23 / 7, 6)
    assert external.delta.raw == round(8 / 7, 6) and external.delta.n == 7
    assert external.improved.raw == 1.0 and external.worsened.raw == 0.0
    assert external.sign_p.raw == round(sign_p(0, 7), 6) == 0.015625
    assert external.verdict == CREATED

    # Three managers, three elected: too few; one association: too few, and the residents'
    # six, which the external group's seven would give back, hidden too.
    for key in ("manager", "elected", "association"):
        cell = trust.cell(key)
        assert cell.delta.cell.reason == PRIMARY and cell.verdict == TOO_FEW, key
    residents = trust.cell("citizen")
    assert residents.delta.cell.reason == SECONDARY and residents.verdict == HIDDEN
    assert residents.baseline.suppressed and residents.final.suppressed
    assert residents.improved.suppressed and residents.sign_p.suppressed
    assert residents.evidence == "suppressed"

    assert trust.duality and "p = 0.031" in trust.duality_evidence
    fairness = r.values[0]
    weak = fairness.cell("external")
    assert weak.baseline.raw == 2.0 and weak.delta.raw == round(-6 / 7, 6)
    assert weak.sign_p.raw == round(sign_p(6, 0), 6)
    assert weak.verdict == DESTROYED and weak.weak
    assert not fairness.duality
    assert fairness.cell("internal").verdict == TOO_FEW  # nobody internal answered
    assert not any(c.weak for c in trust.cells)
    # The six residents' fairness is weak and weakened too, but their cell is hidden (the
    # association's one answer): no mark betrays it.
    residents_fairness = next(f for f in perception_figures_by_kind(
        compute_perceptions(world.process.id, T))
        if f.kind == "citizen" and f.public_value == "fairness")
    assert is_weak_weakened(residents_fairness, DEFAULTS)
    assert not fairness.cell("citizen").weak and fairness.cell("citizen").verdict == HIDDEN


def test_marks_need_every_count_behind_them_at_k(world):
    opposite_world(world)
    r = world.results(k=10)
    trust, fairness = r.values[1], r.values[0]
    assert not trust.duality  # six and seven people: fewer than 10
    assert not fairness.cell("external").weak
    assert trust.cell("internal").verdict == TOO_FEW
    assert trust.cell("internal").delta.suppressed


def test_page_shows_the_matrix(world, staff, client, login_as):
    opposite_world(world)
    login_as(staff)
    response = client.get(page_url(world.process.id))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Value destroyed" in td(html, "trust", "internal", "summary")
    assert "−1.67" in td(html, "trust", "internal", "delta") or \
        "-1.67" in td(html, "trust", "internal", "delta")
    assert "3.83" in td(html, "trust", "internal", "baseline")
    created = td(html, "trust", "external", "summary")
    assert "Value created" in created and "+1.14" in created and "n = 7" in created
    assert "p = 0.016" in td(html, "trust", "external", "evidence")
    assert "Value duality" in html
    assert "Weak value weakened" in td(html, "fairness", "external", "verdict")
    # The residents' cell is hidden so that the association's one answer stays hidden: no
    # figure of theirs appears, in numbers or in words.
    for figure in ("summary", "baseline", "final", "delta", "improved", "worsened",
                   "evidence", "verdict"):
        for column in ("citizen", "association", "manager", "elected"):
            cell = td(html, "trust", column, figure)
            assert not [n for n in numbers(cell) if n != K], (column, figure, cell)
    assert "Not shown" in td(html, "trust", "citizen", "verdict")
    assert "Not enough answers" in td(html, "trust", "association", "verdict")
    # Column heads in the contract's order, in plain words.
    heads = re.findall(r'<abbr title="[^"]*">([^<]+)</abbr>', html)
    assert heads[:6] == ["Internal", "External", "Managers", "Elected officials", "Residents",
                         "Associations"]


# ---------------------------------------------------------------- one source of truth

def test_page_figures_equal_the_engine_rows(db, staff, client, login_as):
    from pvplatform.db import utcnow

    process = import_package(PULSE, now=utcnow())
    db.session.commit()
    at = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [r for r in compute_indicators(process.id, at) if r.code in PERCEPTION_CODES]
    facts = gather_perceptions(process.id, at)
    assert perception_rows(facts) == rows
    by_key = {(r.code, r.group, r.public_value, r.session_id): r for r in rows}

    r = perception_results(process.id, at, k=K, thresholds=DEFAULTS, locale="en")
    checked = 0
    for value in r.values:
        for cell in value.cells[:2]:
            group = cell.column.group
            for code, figure in (("perception_baseline", cell.baseline),
                                 ("perception_final", cell.final),
                                 ("perception_delta", cell.delta),
                                 ("perception_improved_share", cell.improved),
                                 ("perception_worsened_share", cell.worsened),
                                 ("perception_sign_p", cell.sign_p)):
                row = by_key[(code, group, value.code, None)]
                if figure.suppressed:
                    assert 1 <= row.n < K or code == "perception_sign_p", (code, row)
                    continue
                assert figure.raw == row.value and figure.n == row.n, (code, row)
                checked += 1
    for response, group in zip(r.responses, ("internal", "external"), strict=True):
        for code, figure in (("baseline_response_rate", response.baseline),
                             ("final_response_rate", response.final)):
            row = by_key[(code, group, "", None)]
            assert figure.suppressed or (figure.raw == row.value and figure.n == row.n)
    pulses = [f for row in r.pulses.rows for f in row.figures if not f.suppressed]
    assert pulses and all(
        any(rw.code == "pulse_mean" and rw.value == f.raw and rw.n == f.n for rw in rows)
        for f in pulses)
    assert checked > 20

    # The kinds add up to their groups.
    kind_figures = perception_figures_by_kind(facts)
    for group_f in perception_figures(facts):
        kinds = [f for f in kind_figures
                 if f.group == group_f.group and f.public_value == group_f.public_value]
        assert len(kinds) == 2
        assert sum(f.n for f in kinds) == group_f.n
        assert sum(f.baseline_n for f in kinds) == group_f.baseline_n
        assert sum(f.final_n for f in kinds) == group_f.final_n

    login_as(staff)
    assert client.get(page_url(process.id, at)).status_code == 200


def test_kind_columns(world):
    value = world.value("trust", "Confiance", "Trust")
    managers, elected = world.people("manager", 5), world.people("elected", 5)
    citizens, associations = world.people("citizen", 5), world.people("association", 5)
    world.matched(managers, value, [3] * 5, [4] * 5)  # +1, all improved
    world.matched(elected, value, [3] * 5, [4, 4, 2, 4, 4])  # +0.6, one worsened
    world.matched(citizens, value, [4] * 5, [2] * 5)  # -2
    world.matched(associations, value, [2] * 5, [3, 1, 3, 1, 3])  # +0.2
    facts = compute_perceptions(world.process.id, T)
    assert facts.perception_by_kind[("manager", "trust")].change_sum == 5
    assert facts.perception_by_kind[("elected", "trust")].worsened == 1
    r = world.results()
    trust = r.values[0]
    manager = trust.cell("manager")
    assert manager.delta.raw == 1.0 and manager.delta.n == 5
    assert manager.sign_p.raw == round(sign_p(0, 5), 6) == 0.0625
    assert manager.verdict == STABLE  # five rises out of five: p = 0.0625, within chance
    assert trust.cell("elected").delta.raw == 0.6
    assert trust.cell("elected").sign_p.raw == round(sign_p(1, 4), 6) == 0.375
    assert trust.cell("citizen").delta.raw == -2.0
    assert trust.cell("citizen").verdict == STABLE
    association = trust.cell("association")
    assert association.delta.raw == 0.2
    assert association.improved.raw == 0.6 and association.worsened.raw == 0.4
    assert association.sign_p.raw == 1.0
    internal, external = trust.cell("internal"), trust.cell("external")
    assert internal.delta.raw == 0.8 and internal.delta.n == 10
    assert internal.sign_p.raw == round(sign_p(1, 9), 6) == 0.021484
    assert internal.verdict == CREATED
    assert external.delta.raw == -0.9
    assert external.sign_p.raw == round(sign_p(7, 3), 6) == 0.34375
    assert external.verdict == STABLE
    assert not any(c.delta.suppressed for c in trust.cells)


# ---------------------------------------------------------------- suppression at k

def test_k_boundary(world, staff, client, login_as):
    safety = world.value("safety", "Sécurité", "Safety")
    world.matched(world.people("manager", K - 1), safety, [3] * (K - 1), [4] * (K - 1))
    world.matched(world.people("citizen", K), safety, [3] * K, [3, 3, 4, 4, 4])
    r = world.results()
    internal, external = r.values[0].cell("internal"), r.values[0].cell("external")
    assert internal.delta.cell.reason == PRIMARY and internal.baseline.suppressed
    assert internal.verdict == TOO_FEW and internal.evidence == "suppressed"
    assert external.delta.raw == 0.6 and external.delta.n == K
    assert not external.delta.suppressed and external.verdict == STABLE
    assert not external.baseline.suppressed and external.baseline.n == K

    login_as(staff)
    html = client.get(page_url(world.process.id)).get_data(as_text=True)
    for column in ("internal", "manager"):
        for figure in ("summary", "baseline", "final", "delta", "improved", "worsened",
                       "evidence", "verdict"):
            cell = td(html, "safety", column, figure)
            small = [n for n in numbers(cell) if 1 <= n < K]
            assert not small, (column, figure, cell)
    assert "Not enough answers" in td(html, "safety", "internal", "verdict")
    shown = td(html, "safety", "external", "delta")
    assert "+0.60" in shown and f"n = {K}" in shown
    assert "Figures resting on fewer than 5 people" in html


def test_complementary_suppression_within_a_group(world):
    value = world.value("trust", "Confiance", "Trust")
    world.matched(world.people("elected", 2), value, [3, 3], [4, 4])
    world.matched(world.people("manager", 8), value, [3] * 8, [4] * 8)
    world.matched(world.people("citizen", 9), value, [3] * 9, [2] * 9)
    r = world.results()
    trust = r.values[0]
    assert trust.cell("elected").delta.cell.reason == PRIMARY
    assert trust.cell("manager").delta.cell.reason == SECONDARY
    assert trust.cell("manager").baseline.suppressed and trust.cell("manager").final.suppressed
    assert trust.cell("manager").verdict == HIDDEN
    # The group itself is shown, and the other group's kinds are untouched (nobody is an
    # association: a 0 gives nothing away).
    assert trust.cell("internal").delta.n == 10 and not trust.cell("internal").delta.suppressed
    assert trust.cell("citizen").delta.raw == -1.0
    assert trust.cell("association").delta.n == 0 and trust.cell("association").verdict == TOO_FEW


# ---------------------------------------------------------------- response rates

def test_leavers_who_answered_less_raise_the_warning(world, staff, client, login_as):
    value = world.value("trust", "Confiance", "Trust")
    first, second, third = (world.session(30, "Atelier A"), world.session(20, "Atelier B"),
                            world.session(10, "Atelier C"))
    leavers, stayers = world.people("citizen", 10), world.people("citizen", 10)
    world.attend(leavers, first)
    world.attend(stayers, second)
    world.attend(stayers, third)
    world.answer(leavers[:5], value, Wave.FINAL, [3] * 5, days_before=2)
    world.answer(stayers[:9], value, Wave.FINAL, [4] * 9, days_before=2)

    facts = compute_perceptions(world.process.id, T)
    left, stayed = final_response_by_departure(facts)
    assert (left.respondents, left.eligible, stayed.respondents, stayed.eligible) == \
        (5, 10, 9, 10)
    r = world.results()
    assert r.departure.left.raw == 0.5 and r.departure.stayed.raw == 0.9
    assert r.departure.warning
    assert r.responses[1].final.raw == 0.7 and r.responses[1].final.n == 20

    login_as(staff)
    html = client.get(page_url(world.process.id)).get_data(as_text=True)
    assert 'id="departure-warning"' in html and "50%" in html and "90%" in html


def test_leavers_warning_hidden_when_few(world):
    value = world.value("trust", "Confiance", "Trust")
    first, second, third = (world.session(30, "A"), world.session(20, "B"),
                            world.session(10, "C"))
    leavers, stayers = world.people("citizen", 3), world.people("citizen", 10)
    world.attend(leavers, first)
    world.attend(stayers, third)
    world.answer(stayers[:9], value, Wave.FINAL, [4] * 9, days_before=2)
    r = world.results()
    assert r.departure.left.cell.reason == PRIMARY
    assert r.departure.stayed.suppressed  # ten minus three would give the three back
    assert not r.departure.warning and not r.departure.measured
    assert second.id  # held, nobody came


def test_response_rate_hidden_when_few_respondents(world):
    value = world.value("trust", "Confiance", "Trust")
    session = world.session(10, "A")
    people = world.people("citizen", 12)
    world.attend(people, session)
    world.answer(people[:2], value, Wave.BASELINE, [3, 4], days_before=5)
    r = world.results()
    external = r.responses[1]
    assert external.baseline.suppressed  # 2 of 12: the rate would give the two back
    assert external.final.raw == 0.0 and external.final.n == 12


# ---------------------------------------------------------------- pulses

def test_pulse_trend_session_by_session(world, staff, client, login_as):
    trust = world.value("trust", "Confiance", "Trust")
    fairness = world.value("fairness", "Équité", "Fairness")
    # Created out of order: the trend follows the sessions' dates.
    third = world.session(5, "Atelier trois")
    first = world.session(25, "Atelier un")
    second = world.session(15, "Atelier deux")
    people = world.people("citizen", 7)
    world.answer(people[:5], trust, Wave.SESSION, [3, 3, 4, 4, 5], session=first)
    world.answer(people[:6], trust, Wave.SESSION, [4] * 6, session=second)
    world.answer(people, trust, Wave.SESSION, [5, 5, 5, 5, 4, 4, 4], session=third)
    world.answer(people[:5], fairness, Wave.SESSION, [2] * 5, session=first)
    world.answer(people[:2], fairness, Wave.SESSION, [1, 1], session=second)
    world.answer(people[:6], fairness, Wave.SESSION, [3] * 6, session=third)

    r = world.results()
    assert r.pulses.sessions == ["Atelier un", "Atelier deux", "Atelier trois"]
    trend = {row.label: row.figures for row in r.pulses.rows}
    assert [f.raw for f in trend["Trust"]] == [3.8, 4.0, round(32 / 7, 6)]
    assert [f.n for f in trend["Trust"]] == [5, 6, 7]
    # Two answers after the second session: hidden, and so is the next smallest (the dashboard
    # suppresses the same way).
    assert trend["Fairness"][1].cell.reason == PRIMARY
    assert trend["Fairness"][0].suppressed and trend["Fairness"][2].raw == 3.0
    chart = str(r.pulses.chart)
    assert "<polyline" in chart and 'role="img"' in chart and "Atelier deux" in chart
    assert "Trust" in chart and "Fairness" in chart

    login_as(staff)
    html = client.get(page_url(world.process.id)).get_data(as_text=True)
    details = re.search(r"<details class=\"results-figures\">(.*?)</details>", html, re.S)
    assert details and "See the figures" in details.group(1)
    assert "4.57" in details.group(1) and "3.80" in details.group(1)
    assert html.index("Atelier un") < html.index("Atelier deux") < html.index("Atelier trois")


# ---------------------------------------------------------------- non-participants' voice

def absence_reasons(world: World, session: Meeting, people: list[Participant]) -> None:
    """An age dimension named by staff, and the people's answers to the absence question."""
    world.db.session.add_all([
        Dimension(process_id=world.process.id, code="age", label="Age group"),
        Stratum(process_id=world.process.id, dimension="age", category="young",
                label="Under 30", population_share=0.4),
        Stratum(process_id=world.process.id, dimension="age", category="old",
                label="30 and over", population_share=0.6),
        *(AbsenceRequest(meeting_id=session.id, participant_id=p.id,
                         kind=AbsenceKind.NOT_REGISTERED, created_at=T - timedelta(days=9),
                         answered_at=T - timedelta(days=8), reason=AbsenceReason.TIME)
          for p in people)])
    world.db.session.commit()


def test_non_participants_voice(world, staff, client, login_as):
    value = world.value("trust", "Confiance", "Trust")
    session = world.session(10, "Atelier")
    active, absent = world.people("citizen", 6), world.people("citizen", 5)
    world.attend(active, session)
    world.answer(active, value, Wave.BASELINE, [4, 4, 4, 3, 4, 5], days_before=30)
    world.answer(absent, value, Wave.BASELINE, [2, 2, 3, 2, 1], days_before=30)
    absence_reasons(world, session, absent)

    facts = compute_perceptions(world.process.id, T)
    voice = baseline_voices(facts)[0]
    assert (voice.inactive, voice.inactive_n, voice.active, voice.active_n) == \
        (2.0, 5, 4.0, 6)
    assert facts.inactive_baseline_respondents == 5
    r = world.results()
    row = r.voice.values[0]
    assert row.inactive.raw == 2.0 and row.active.raw == 4.0
    assert r.voice.respondents.text == "5"
    assert r.voice.reasons.shown("all") == 5

    login_as(staff)
    html = client.get(page_url(world.process.id)).get_data(as_text=True)
    table = re.search(r'<table class="dash-table" id="voice-table">(.*?)</table>', html, re.S)
    assert table and "2.00" in table.group(1) and "4.00" in table.group(1)
    assert "Why people stayed away" in html
    reasons = re.search(r'<table class="dash-table ledger-reasons">(.*?)</table>', html, re.S)
    assert reasons, html
    reasons = reasons.group(1)
    # Staff's words for the dimension and its categories, never their codes.
    assert "Age group" in reasons and "Under 30" in reasons and "30 and over" in reasons
    assert ">young<" not in reasons and ">age<" not in reasons
    unknown = re.search(r'<th scope="row">unknown</th>(.*?)</tr>', reasons, re.S)
    assert unknown and unknown.group(1).count(">5<") == 2  # time, and all answers


def test_non_participants_voice_hidden_when_few(world):
    value = world.value("trust", "Confiance", "Trust")
    session = world.session(10, "Atelier")
    active, absent = world.people("citizen", 8), world.people("citizen", 2)
    world.attend(active, session)
    world.answer(active, value, Wave.BASELINE, [4] * 8, days_before=30)
    world.answer(absent, value, Wave.BASELINE, [1, 2], days_before=30)
    r = world.results()
    row = r.voice.values[0]
    assert row.inactive.cell.reason == PRIMARY
    assert row.active.suppressed  # the groups' baseline total would give the two back
    assert r.voice.respondents.text == f"< {K}"


# ---------------------------------------------------------------- engine

def test_weak_predicate_is_the_flag_condition(world):
    values = opposite_world(world)
    flags = compute_flags(world.process.id, T)
    facts = compute_perceptions(world.process.id, T)
    weak = {(f.group, f.public_value) for f in perception_figures(facts)
            if is_weak_weakened(f, DEFAULTS)}
    raised = {(f.group, f.public_value) for f in flags if f.code == "weak_value_weakened"}
    assert weak == raised == {("external", values["fairness"].code)}


def test_group_figures_unchanged_by_kinds(world):
    opposite_world(world)
    full = [r for r in compute_indicators(world.process.id, T) if r.code in PERCEPTION_CODES]
    assert perception_rows(compute_perceptions(world.process.id, T)) == full


def _statements(db, call) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        seen.append(statement)

    db.session.expire_all()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_gather_perceptions_statement_count_does_not_depend_on_data_size(db, tmp_path):
    from pvplatform.db import utcnow

    tiny = import_package(TINY, now=utcnow())
    pulse = import_package(PULSE, now=utcnow())
    write_sample_package(tmp_path / "big", participants=300, sessions=8, seed=3)
    big = import_package(tmp_path / "big", now=utcnow())
    db.session.commit()
    early, late = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    counts = {_statements(db, lambda p=p, at=at: gather_perceptions(p.id, at))
              for p in (tiny, pulse, big) for at in (early, late)}
    assert len(counts) == 1, counts
    whole = _statements(db, lambda: compute_indicators(big.id, late))
    assert counts.pop() < whole
    facts = gather_perceptions(big.id, late)
    assert facts.perception_by_kind and facts.baseline_by_activity


def test_line_chart_tells_series_apart_and_breaks_at_gaps(app):
    from pvplatform.indicators.charts import TrendSeries, line_chart

    with app.app_context():
        svg = str(line_chart("c-test", "Pulses", "Scores per session", ["A", "B", "C", "D"], [
            TrendSeries("Trust", (3.0, 4.0, None, 4.5)),
            TrendSeries("Fairness <&>", (2.0, 2.5, 3.0, 3.5)),
        ]))
    assert 'role="img"' in svg and "<title id=\"c-test-title\">Pulses</title>" in svg
    assert "Fairness &lt;&amp;&gt;" in svg  # escaped
    # Trust: a line through A and B, then a lone point at D; Fairness: one line through four.
    assert svg.count("<polyline") == 2
    lines = re.findall(r'<polyline[^>]*points="([^"]+)"[^>]*stroke="(#[0-9a-f]+)"'
                       r'(?: stroke-width="2")?( stroke-dasharray="[^"]+")?', svg)
    assert [len(p.split()) for p, _c, _d in lines] == [2, 4]
    assert lines[0][1] != lines[1][1] and lines[0][2] != lines[1][2]  # colour and dashes differ
    assert "<circle" in svg and "<rect" in svg  # and the shapes of their points
    # Scores 1 to 5 labelled on the axis, sessions named below.
    assert all(f">{n}</text>" in svg for n in range(1, 6))
    assert all(f">{name}</text>" in svg for name in "ABCD")


# ---------------------------------------------------------------- the page

def test_empty_states(world, staff, client, login_as):
    login_as(staff)
    html = client.get(page_url(world.process.id)).get_data(as_text=True)
    assert "Staff set up the public values catalogue in Surveys" in html
    world.value("trust", "Confiance", "Trust")
    html = client.get(page_url(world.process.id)).get_data(as_text=True)
    assert 'id="no-answers"' in html and "No answers yet" in html
    assert "Non-participants&#39; voice" in html or "Non-participants' voice" in html


@pytest.mark.parametrize("role,status", [
    (Role.STAFF, 200), (Role.ADMIN, 200), (Role.ELECTED, 200),
    (Role.CITIZEN, 403), (Role.ASSOCIATION, 403), (Role.EVALUATOR, 403),
])
def test_access(world, factory, client, login_as, role, status):
    opposite_world(world)
    login_as(factory.user(role))
    assert client.get(page_url(world.process.id)).status_code == status


def test_anonymous_is_sent_to_login(world, client):
    response = client.get(page_url(world.process.id))
    assert response.status_code in (302, 303)
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("raw", ["yesterday", "2026-03-01T00:00:00", "2026-13-01T00:00:00Z",
                                 "x" * 100])
def test_bad_as_of_is_a_400(world, staff, client, login_as, raw):
    login_as(staff)
    response = client.get(f"/manage/processes/{world.process.id}/perceptions",
                          query_string={"as_of": raw})
    assert response.status_code == 400
    assert "ISO 8601" in response.get_data(as_text=True)


def test_unknown_process_is_a_404(staff, client, login_as):
    login_as(staff)
    assert client.get(page_url(999999)).status_code == 404


def test_now_without_as_of(world, staff, client, login_as):
    opposite_world(world)
    login_as(staff)
    response = client.get(page_url(world.process.id, None))
    assert response.status_code == 200
    assert "current at every visit" in response.get_data(as_text=True)


def test_dashboard_links_to_the_results(world, staff, client, login_as):
    world.value("trust", "Confiance", "Trust")
    login_as(staff)
    page = f"/manage/processes/{world.process.id}/dashboard/public-value"
    html = client.get(page).get_data(as_text=True)
    assert f'href="/manage/processes/{world.process.id}/perceptions"' in html
    html = client.get(page, query_string={"as_of": T.isoformat()}).get_data(as_text=True)
    assert f"/manage/processes/{world.process.id}/perceptions?as_of=" in html


def test_french_labels(world, staff, client, login_as):
    opposite_world(world)
    r = world.results(locale="fr")
    assert [v.label for v in r.values] == ["Équité", "Confiance"]


# ---------------------------------------------------------------- in a browser

@pytest.mark.browser
def test_page_in_a_browser_on_a_phone_passes_axe(tmp_path):
    """At 360 px: nothing pushes the page sideways, axe finds nothing serious, and the figures
    behind the chart open from the keyboard."""
    from pvplatform.extensions import db as _db
    from tests.browser import MOBILE, Tour, chromium_browser, live_server, require_browser
    from tests.conftest import (
        STAFF_PASSWORD,
        Factory,
        discard_schema,
        ensure_compiled_catalogues,
        make_app,
        seed_reference_data,
    )

    require_browser()
    ensure_compiled_catalogues()
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'results.sqlite'}",
                   WTF_CSRF_ENABLED=False)
    with app.app_context():
        _db.create_all()
        seed_reference_data()
        factory = Factory()
        world = World(factory, _db)
        values = opposite_world(world)
        first, second = world.session(20, "Atelier du printemps"), world.session(10, "Atelier")
        people = world.people("citizen", 6)
        world.attend(people, first)
        world.answer(people, values["trust"], Wave.SESSION, [3, 4, 4, 5, 3, 4], session=first)
        world.answer(people, values["trust"], Wave.SESSION, [4, 4, 4, 5, 3, 4], session=second)
        absence_reasons(world, second, world.people("citizen", 7))
        staff = factory.user(Role.STAFF)
        email, process_id = staff.email, world.process.id
        try:
            with live_server(app) as base, chromium_browser() as browser:
                t = Tour(browser, base, locale="en-GB", viewport=MOBILE)
                page = t.page
                t.goto("/auth/login")
                page.get_by_label("E-mail", exact=True).fill(email)
                page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
                t.click(page.get_by_role("main").get_by_role("button", name="Log in"))
                t.goto(page_url(process_id))
                assert "Value created" in t.main_text()
                assert "Under 30" in t.main_text()
                t.axe()
                summary = page.locator("details.results-figures summary")
                summary.focus()
                page.keyboard.press("Enter")
                assert page.locator("#pulse-table").is_visible()
                t.axe()
                # The same page in French, axe again.
                t.click(page.get_by_role("button", name="Français"))
                assert page.locator("html").get_attribute("lang") == "fr"
                assert "Valeur créée" in t.main_text()
                t.axe()
                t.close()
        finally:
            _db.session.remove()
            discard_schema()
            _db.engine.dispose()
