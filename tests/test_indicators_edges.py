"""Edge cases of INDICATORS.md on hand-made processes (factories and models, no package)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale

from pvplatform.auth.models import Association
from pvplatform.feedback.models import Perception, PublicValue
from pvplatform.indicators import DEFAULTS, Thresholds, compute_flags, compute_indicators
from pvplatform.participation.models import AttendanceSnapshot, Participant, Stratum
from pvplatform.proposals.models import Comment, Proposal, Vote
from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Process:
    """A small process built row by row, as of instant T."""

    def __init__(self, factory, db) -> None:
        self.factory = factory
        self.db = db
        self.process = factory.process(today=T.date())
        self.id = self.process.id

    def add(self, row):
        self.db.session.add(row)
        self.db.session.flush()
        return row

    def session(self, days: float, title: str | None = None) -> Meeting:
        return self.factory.meeting(self.process, starts_at=T + timedelta(days=days),
                                    title=title)

    def person(self, kind: str = "citizen", association: Association | None = None
               ) -> Participant:
        return self.factory.participant(kind=kind, association=association)

    def attend(self, meeting: Meeting, person: Participant, *, minutes: int = 0,
               categories: dict[str, str] | None = None) -> Attendance:
        attendance = self.add(Attendance(meeting_id=meeting.id, participant_id=person.id,
                                         mode="in_person",
                                         checked_in_at=meeting.starts_at
                                         + timedelta(minutes=minutes)))
        for dimension, category in (categories or {}).items():
            self.add(AttendanceSnapshot(attendance_id=attendance.id, dimension=dimension,
                                        category=category))
        return attendance

    def register(self, meeting: Meeting, person: Participant, *, days_before: int = 3,
                 cancelled: datetime | None = None) -> Registration:
        return self.add(Registration(meeting_id=meeting.id, participant_id=person.id,
                                     registered_at=meeting.starts_at
                                     - timedelta(days=days_before),
                                     cancelled_at=cancelled))

    def invite(self, meeting: Meeting, person: Participant | None = None,
               association: Association | None = None) -> Invitation:
        return self.add(Invitation(meeting_id=meeting.id,
                                   participant_id=person.id if person else None,
                                   association_id=association.id if association else None,
                                   invited_at=meeting.starts_at - timedelta(days=10)))

    def proposal(self, author: Participant, *, published_days_ago: float | None = 10,
                 state: str = "published", answered_after_days: float | None = None,
                 rationale: str | None = None) -> Proposal:
        published = None if published_days_ago is None else T - timedelta(
            days=published_days_ago)
        answered = None
        if answered_after_days is not None and published is not None:
            answered = published + timedelta(days=answered_after_days)
        return self.add(Proposal(process_id=self.id, author_id=author.id, title="Idea",
                                 state=state, published_at=published, answered_at=answered,
                                 answer_rationale=rationale))

    def comment(self, proposal: Proposal, author: Participant, days_ago: float = 1) -> Comment:
        return self.add(Comment(proposal_id=proposal.id, author_id=author.id, body="Yes",
                                created_at=T - timedelta(days=days_ago)))

    def stratum(self, dimension: str, category: str, share: float) -> None:
        self.add(Stratum(process_id=self.id, dimension=dimension, category=category,
                         population_share=share))

    def value(self, code: str) -> PublicValue:
        return self.add(PublicValue(process_id=self.id, code=code, name=code.title()))

    def perceive(self, person: Participant, value: PublicValue, wave: str, score: int | None,
                 days_ago: float, session: Meeting | None = None) -> None:
        self.add(Perception(participant_id=person.id, public_value_id=value.id, wave=wave,
                            meeting_id=session.id if session is not None else None,
                            score=score, answered_at=T - timedelta(days=days_ago)))

    def indicators(self, at: datetime = T) -> list:
        self.db.session.commit()
        return compute_indicators(self.id, at)

    def flags(self, at: datetime = T, thresholds: Thresholds = DEFAULTS) -> list:
        self.db.session.commit()
        return compute_flags(self.id, at, thresholds)


def row(rows, code, **keys):
    found = [r for r in rows if r.code == code
             and all(getattr(r, k) == v for k, v in keys.items())]
    assert len(found) == 1, (code, keys, found)
    return found[0]


def codes(rows, code):
    return [r for r in rows if r.code == code]


@pytest.fixture
def build(factory, db):
    return Process(factory, db)


def test_no_held_session(build):
    later = build.session(days=5)
    invited, registered = build.person(), build.person()
    build.invite(later, invited)
    build.invite(later, registered)
    build.register(later, registered, days_before=8)
    build.stratum("gender", "woman", 0.5)
    build.stratum("gender", "man", 0.5)
    rows = build.indicators()
    for group in ("all", "internal", "external"):
        assert (row(rows, "attendees", group=group).value, row(rows, "attendees",
                                                                group=group).n) == (0, 0)
    assert (row(rows, "retention").value, row(rows, "retention").n) == (None, 0)
    assert codes(rows, "attrition") == []
    assert [r.session_id for r in codes(rows, "no_show_rate")] == [None]
    assert (row(rows, "no_show_rate").value, row(rows, "no_show_rate").n) == (None, 0)
    assert (row(rows, "registered_no_show").value, row(rows, "registered_no_show").n) == (0, 0)
    assert (row(rows, "dropped_out").value, row(rows, "dropped_out").n) == (0, 0)
    # Invitations count for any session of the process, held or not.
    assert (row(rows, "uptake_rate").value, row(rows, "uptake_rate").n) == (0.5, 2)
    assert (row(rows, "invited_not_registered").value,
            row(rows, "invited_not_registered").n) == (1, 2)
    assert (row(rows, "known_share").value, row(rows, "known_share").n) == (None, 0)
    assert row(rows, "dissimilarity").value is None
    assert row(rows, "strata_not_reached").value is None
    assert row(rows, "active_participants").value == 0
    for code in ("contribution_gini", "top10_share", "internal_voice_share", "answer_rate",
                 "median_days_to_answer", "answered_within_30d_rate",
                 "oldest_unanswered_days", "reasoned_rejection_rate"):
        assert (row(rows, code).value, row(rows, code).n) == (None, 0), code
    assert (row(rows, "duality_count").value, row(rows, "duality_count").n) == (0, 0)
    assert build.flags() == []


def test_no_strata(build):
    meeting = build.session(days=-3)
    for _ in range(25):
        build.attend(meeting, build.person(), categories={"gender": "woman"})
    rows = build.indicators()
    for code in ("known_share", "representation_ratio", "dissimilarity", "strata_not_reached"):
        assert codes(rows, code) == [], code
    assert row(rows, "attendees", group="external").value == 25
    flag_codes = {f.code for f in build.flags()}
    assert not flag_codes & {"under_representation", "over_representation",
                             "stratum_not_reached"}


def test_all_demographics_unknown(build):
    build.stratum("gender", "woman", 52)  # shares are normalised: percentages work too
    build.stratum("gender", "man", 48)
    meeting = build.session(days=-3)
    for i in range(30):
        categories = {"gender": "prefer_not_to_say"} if i % 2 else {}
        build.attend(meeting, build.person(), categories=categories)
    rows = build.indicators()
    assert (row(rows, "known_share").value, row(rows, "known_share").n) == (0.0, 30)
    for category in ("woman", "man"):
        ratio = row(rows, "representation_ratio", category=category)
        assert (ratio.value, ratio.n) == (None, 0)
    assert (row(rows, "dissimilarity").value, row(rows, "dissimilarity").n) == (None, 0)
    assert (row(rows, "strata_not_reached").value,
            row(rows, "strata_not_reached").n) == (None, 0)
    assert not {f.code for f in build.flags()} & {"under_representation",
                                                  "stratum_not_reached"}


def test_representation_uses_latest_snapshot_and_external_attendees(build):
    build.stratum("gender", "woman", 0.5)
    build.stratum("gender", "man", 0.5)
    first, second = build.session(days=-10), build.session(days=-3)
    changed = build.person()
    build.attend(first, changed, categories={"gender": "woman"})
    build.attend(second, changed, categories={"gender": "man"})  # latest snapshot: man
    build.attend(second, build.person(), categories={"gender": "man"})
    build.attend(second, build.person(kind="manager"), categories={"gender": "woman"})
    rows = build.indicators()
    assert row(rows, "representation_ratio", category="man").n == 2
    assert row(rows, "representation_ratio", category="woman").n == 0
    assert row(rows, "representation_ratio", category="man").value == 2.0
    assert row(rows, "dissimilarity").value == 0.5
    assert row(rows, "strata_not_reached").value == 1
    # Before the second session, the first snapshot is the latest.
    earlier = build.indicators(at=T - timedelta(days=5))
    assert row(earlier, "representation_ratio", category="woman").n == 1


def test_one_session_only(build):
    held = build.session(days=-2)
    build.session(days=20)
    people = [build.person() for _ in range(3)]
    for person in people:
        build.attend(held, person)
    rows = build.indicators()
    # Nobody could come back yet: retention waits for a second held session.
    assert (row(rows, "retention").value, row(rows, "retention").n) == (None, 3)
    assert codes(rows, "attrition") == []
    assert (row(rows, "dropped_out").value, row(rows, "dropped_out").n) == (0, 3)
    assert [r.session_id for r in codes(rows, "no_show_rate")] in ([held.id, None],
                                                                    [None, held.id])


def test_retention_attrition_and_dropped_out_over_sessions(build):
    s1, s2, s3, s4 = (build.session(days=d) for d in (-30, -20, -10, -1))
    a, b, c, d = (build.person() for _ in range(4))
    for person in (a, b, c, d):
        build.attend(s1, person)
    build.attend(s2, a)
    build.attend(s2, b)
    build.attend(s3, a)
    build.attend(s4, c)
    rows = build.indicators()
    # a, b and c came back to some later session (c only to the last one); d never did.
    assert row(rows, "retention").value == 0.75
    assert row(rows, "attrition", session_id=s2.id).value == 0.5
    assert row(rows, "attrition", session_id=s3.id).value == 0.5
    assert row(rows, "attrition", session_id=s4.id).value == 1.0
    assert row(rows, "attrition", session_id=s4.id).n == 1
    # Neither s3 nor s4: b and d.
    assert (row(rows, "dropped_out").value, row(rows, "dropped_out").n) == (2, 4)


def test_same_start_sessions_are_ordered_by_plain_string_id(build):
    first = build.session(days=-5)
    second = build.session(days=-5)
    first.external_ref, second.external_ref = "s10", "s9"  # "s10" < "s9" as strings
    a, b = build.person(), build.person()
    build.attend(first, a)
    build.attend(second, a)
    build.attend(second, b)
    rows = build.indicators()
    # Held order: s10 (first) then s9.
    assert row(rows, "attrition", session_id=second.id).n == 1
    assert row(rows, "retention").n == 1


def test_withdrawn_proposal(build):
    a, b, c = build.person(), build.person(), build.person()
    withdrawn = build.proposal(a, state="withdrawn", published_days_ago=100)
    build.proposal(b, state="accepted", published_days_ago=50, answered_after_days=10)
    build.comment(withdrawn, c)
    rows = build.indicators()
    # Left out of what was asked...
    assert (row(rows, "answer_rate").value, row(rows, "answer_rate").n) == (1.0, 1)
    assert (row(rows, "oldest_unanswered_days").value,
            row(rows, "oldest_unanswered_days").n) == (None, 0)
    # ...but its author and commenter contributed.
    assert row(rows, "contribution_gini").n == 3
    assert row(rows, "internal_voice_share").n == 3
    assert row(rows, "active_participants").value == 3
    assert not [f for f in build.flags() if f.code == "unanswered_proposals"]


def test_draft_and_future_proposals_are_not_contributions(build):
    a, b = build.person(), build.person()
    build.proposal(a, published_days_ago=None, state="draft")
    future = build.proposal(b, published_days_ago=-3)
    build.add(Vote(proposal_id=future.id, participant_id=a.id, value=1,
                   cast_at=T - timedelta(days=1)))
    rows = build.indicators()
    assert row(rows, "contribution_gini").n == 0
    assert row(rows, "answer_rate").n == 0
    assert row(rows, "active_participants").value == 0


def test_cancelled_registration(build):
    held = build.session(days=-1)
    gone, came, absent, late = (build.person() for _ in range(4))
    for person in (gone, came, absent, late):
        build.invite(held, person)
    build.register(held, gone, cancelled=held.starts_at - timedelta(days=1))
    build.register(held, came)
    build.register(held, absent)
    build.register(held, late, cancelled=T + timedelta(days=1))  # cancelled after T: live
    build.attend(held, came)
    rows = build.indicators()
    per_session = row(rows, "no_show_rate", session_id=held.id)
    assert (per_session.value, per_session.n) == (0.666667, 3)
    assert (row(rows, "registered_no_show").value, row(rows, "registered_no_show").n) == (2, 3)
    assert (row(rows, "uptake_rate").value, row(rows, "uptake_rate").n) == (0.75, 4)
    assert row(rows, "invited_not_registered").value == 1
    # Re-registering after a cancellation makes the pair live again, counted once.
    build.register(held, gone, days_before=0)
    rows = build.indicators()
    assert row(rows, "uptake_rate").value == 1.0
    assert row(rows, "no_show_rate", session_id=held.id).n == 4


def test_walk_in(build):
    held = build.session(days=-1)
    registered, absent, walk_in = build.person(), build.person(), build.person()
    build.register(held, registered)
    build.register(held, absent)
    build.attend(held, registered)
    build.attend(held, walk_in)
    rows = build.indicators()
    assert row(rows, "attendees", group="all").value == 2
    pooled = row(rows, "no_show_rate", session_id=None)
    assert (pooled.value, pooled.n) == (0.5, 2)
    assert row(rows, "active_participants").value == 2
    # Checked in after T: not yet an attendee.
    late = build.person()
    build.attend(held, late, minutes=60 * 24 * 2)
    assert row(build.indicators(), "attendees", group="all").value == 2


def test_perceptions_with_a_baseline_only(build):
    trust = build.value("trust")
    people = [build.person() for _ in range(6)] + [build.person(kind="elected")
                                                   for _ in range(6)]
    for person in people:
        build.perceive(person, trust, "baseline", 4, days_ago=30)
        build.perceive(person, trust, "final", 1, days_ago=-2)  # answered after T
    rows = build.indicators()
    for group in ("internal", "external"):
        delta = row(rows, "perception_delta", group=group, public_value="trust")
        assert (delta.value, delta.n) == (None, 0)
    assert (row(rows, "duality_count").value, row(rows, "duality_count").n) == (0, 1)
    assert not [f for f in build.flags() if f.code.startswith("value_")]


def test_perceptions_latest_answer_counts_and_duality(build):
    trust = build.value("trust")
    build.value("legitimacy")
    held = build.session(days=-20)
    for i in range(8):
        citizen, official = build.person(), build.person(kind="manager")
        build.perceive(citizen, trust, "baseline", 2, days_ago=60)
        build.perceive(citizen, trust, "baseline", 4, days_ago=50)  # the latest baseline
        build.perceive(citizen, trust, "final", 3, days_ago=1)
        build.perceive(official, trust, "baseline", 2, days_ago=50)
        build.perceive(official, trust, "final", 3 if i else 2, days_ago=1)
        # A pulse about a session is not a wave compared.
        build.perceive(official, trust, "session", 5, days_ago=20, session=held)
    rows = build.indicators()
    external = row(rows, "perception_delta", group="external", public_value="trust")
    internal = row(rows, "perception_delta", group="internal", public_value="trust")
    assert (external.value, external.n) == (-1.0, 8)
    assert (internal.value, internal.n) == (0.875, 8)
    assert (row(rows, "perception_baseline", group="external", public_value="trust").value,
            row(rows, "perception_baseline", group="external", public_value="trust").n) == (
        4.0, 8)
    # 8 worsened of 8 changed: p = 2 / 2^8; 7 improved of 7: p = 2 / 2^7.
    assert row(rows, "perception_sign_p", group="external", public_value="trust").value == (
        0.007812)
    assert (row(rows, "perception_sign_p", group="internal", public_value="trust").value,
            row(rows, "perception_sign_p", group="internal", public_value="trust").n) == (
        0.015625, 7)
    assert row(rows, "perception_delta", group="external", public_value="legitimacy").n == 0
    assert (row(rows, "pulse_mean", public_value="trust", session_id=held.id).value,
            row(rows, "pulse_mean", public_value="trust", session_id=held.id).n) == (5.0, 8)
    assert (row(rows, "duality_count").value, row(rows, "duality_count").n) == (1, 2)
    flags = build.flags()
    duality = [f for f in flags if f.code == "value_duality"]
    assert [(f.public_value, f.value, f.p_value, f.severity) for f in duality] == [
        ("trust", 1.875, 0.015625, "alert")]
    eroding = [f for f in flags if f.code == "value_eroding"]
    assert [(f.group, f.public_value, f.value) for f in eroding] == [("external", "trust", -1.0)]
    with force_locale("en"):
        assert "Trust" in str(eroding[0].message)  # the value as staff named it
        # Read beside the figures, whose sign test is shown: its p-value is printed; read
        # without them, it is not (when unsure, suppress).
        cell = ("perception_sign_p", "", "", "external", "trust", "")
        delta = ("perception_delta", "", "", "external", "trust", "")
        shown = eroding[0].message.render(5, {cell: "", delta: ""})
        assert "very unlikely to be chance: p = 0.008" in shown
        assert "p = not shown" in str(eroding[0].message)


def test_perception_changes_within_chance_raise_nothing(build):
    """Five people falling by a point is what a coin gives one time in sixteen: no flag."""
    trust = build.value("trust")
    for _ in range(5):
        citizen, official = build.person(), build.person(kind="manager")
        build.perceive(citizen, trust, "baseline", 2, days_ago=50)
        build.perceive(citizen, trust, "final", 1, days_ago=1)
        build.perceive(official, trust, "baseline", 2, days_ago=50)
        build.perceive(official, trust, "final", 3, days_ago=1)
    rows = build.indicators()
    assert row(rows, "perception_sign_p", group="external", public_value="trust").value == 0.0625
    assert row(rows, "duality_count").value == 0
    assert not [f for f in build.flags()
                if f.code in ("value_duality", "value_eroding", "weak_value_weakened")]


def test_dont_know_replaces_an_earlier_score_and_still_responds(build):
    trust = build.value("trust")
    person = build.person()
    build.perceive(person, trust, "baseline", 4, days_ago=50)
    build.perceive(person, trust, "baseline", None, days_ago=40)  # "don't know" counts
    build.attend(build.session(days=-10), person)
    rows = build.indicators()
    baseline = row(rows, "perception_baseline", group="external", public_value="trust")
    assert (baseline.value, baseline.n) == (None, 0)
    rate = row(rows, "baseline_response_rate", group="external")
    assert (rate.value, rate.n) == (1.0, 1)
    earlier = build.indicators(at=T - timedelta(days=45))
    assert row(earlier, "perception_baseline", group="external", public_value="trust").value == (
        4.0)


def test_rejected_proposal_without_rationale(build):
    author = build.person()
    build.proposal(author, state="rejected", answered_after_days=3, rationale=None)
    build.proposal(author, state="rejected", answered_after_days=3, rationale=" \n\t ")
    build.proposal(author, state="rejected", answered_after_days=3, rationale="Too costly.")
    build.proposal(author, state="rejected", answered_after_days=30, rationale=None)  # after T
    rows = build.indicators()
    rate = row(rows, "reasoned_rejection_rate")
    assert (rate.value, rate.n) == (0.333333, 3)
    (flag,) = [f for f in build.flags() if f.code == "unreasoned_rejection"]
    assert (flag.severity, flag.value) == ("warning", 2)
    with force_locale("en"):
        # Two is a count below k = 5: said as such (the table hides it too).
        assert "fewer than 5 rejected proposals have no stated reason" in str(flag.message)


def test_answer_delays_and_the_30_day_boundary(build):
    author = build.person()
    build.proposal(author, published_days_ago=60, state="accepted", answered_after_days=30)
    build.proposal(author, published_days_ago=60, state="accepted",
                   answered_after_days=30 + 1 / 86400)
    build.proposal(author, published_days_ago=45, state="evaluating")
    build.proposal(author, published_days_ago=100, state="published")
    build.proposal(author, published_days_ago=10, state="published")  # too recent for 30d
    rows = build.indicators()
    assert (row(rows, "answer_rate").value, row(rows, "answer_rate").n) == (0.4, 5)
    within = row(rows, "answered_within_30d_rate")
    assert (within.value, within.n) == (0.25, 4)
    median = row(rows, "median_days_to_answer")
    assert (median.value, median.n) == (30.000006, 2)
    oldest = row(rows, "oldest_unanswered_days")
    assert (oldest.value, oldest.n) == (100.0, 3)
    (flag,) = [f for f in build.flags() if f.code == "unanswered_proposals"]
    assert (flag.severity, flag.value) == ("alert", 1)
    (flag,) = [f for f in build.flags(thresholds=Thresholds(unanswered_alert_days=120))
               if f.code == "unanswered_proposals"]
    assert (flag.severity, flag.value) == ("warning", 2)


def test_absent_invited_association_without_members(build):
    empty, active = Association(name="Empty club"), Association(name="Active club")
    build.add(empty)
    build.add(active)
    member = build.person(kind="association", association=active)
    sessions = [build.session(days=d) for d in (-30, -20, -10, 5)]
    for meeting in sessions:
        build.invite(meeting, association=empty)
        build.invite(meeting, association=active)
    build.attend(sessions[0], member)
    build.attend(sessions[1], member)
    flags = [f for f in build.flags() if f.code == "absent_invited_association"]
    assert [(f.association_id, f.value) for f in flags] == [(empty.id, 3)]
    # One absence in a row is not yet a flag.
    assert not [f for f in build.flags(at=T - timedelta(days=25))
                if f.code == "absent_invited_association"]


def test_voice_and_official_dominance_flags(build):
    loud = build.person(kind="elected")
    quiet = [build.person() for _ in range(9)]
    for _ in range(12):
        build.proposal(loud)
    for person in quiet:
        build.proposal(person)
    rows = build.indicators()
    assert row(rows, "top10_share").value == 0.571429  # ceil(10 / 10) = 1 contributor: 12/21
    assert row(rows, "contribution_gini").n == 10
    assert row(rows, "internal_voice_share").value == 0.571429
    found = {f.code: f for f in build.flags()}
    assert found["voice_concentration"].value == 0.571429
    assert found["official_dominance"].value == 0.571429


def test_high_no_show_and_low_retention_flags(build):
    first, last = build.session(days=-10), build.session(days=-1)
    people = [build.person() for _ in range(10)]
    for person in people:
        build.register(first, person)
        build.attend(first, person)
        build.register(last, person)
    build.attend(last, people[0])
    build.attend(last, people[1])
    found = {f.code: f for f in build.flags()}
    assert (found["low_retention"].severity, found["low_retention"].value) == ("alert", 0.2)
    (no_show,) = [f for f in build.flags() if f.code == "high_no_show"]
    assert (no_show.session_id, no_show.value) == (last.id, 0.8)


def test_unknown_process_and_naive_instant(build):
    from pvplatform.errors import NotFound

    with pytest.raises(NotFound):
        compute_indicators(build.id + 1000, T)
    with pytest.raises(ValueError):
        compute_indicators(build.id, T.replace(tzinfo=None))
