"""Exclusion-risk flags of INDICATORS.md (version 2): what is wrong, for whom, how sure we are,
and what staff can do.

Thresholds are compared with the figures as reported (rounded to 6 decimals), so that a flag
never contradicts the number printed beside it. A flag that rests on a test (representation,
perception) fires only when the test's p-value, as reported, is below alpha, and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pvplatform.indicators.engine import (
    check_instant,
    duality_pairs,
    indicator_rows,
    is_duality,
    is_weak_weakened,
    perception_figures,
    representation,
    retention,
    speaking_n,
    speaking_share,
)
from pvplatform.indicators.facts import Facts, association_absences, gather
from pvplatform.indicators.messages import (
    PERCENT_PATTERN,
    SIGNED,
    Count,
    Guarded,
    Number,
    Phrase,
    evidence,
    phrase,
    plural_phrase,
)
from pvplatform.indicators.rows import FlagRow, Group, IndicatorRow, Severity, ratio, round6
from pvplatform.indicators.suppression import row_key
from pvplatform.indicators.thresholds import DEFAULTS, Thresholds
from pvplatform.participation.labels import Term, ValueTerm


def _group_label(group: Group) -> Phrase:
    if group == Group.INTERNAL:
        return phrase("managers and elected officials")
    return phrase("residents and associations")


def _value(facts: Facts, code: str) -> ValueTerm:
    # The code is stored; each reader reads the value's name in their own language.
    return ValueTerm(facts.process_id, code)


def _sign_cell(figure: Any) -> tuple[str, ...]:
    return row_key(IndicatorRow("perception_sign_p", None, 0, group=figure.group,
                                public_value=figure.public_value))


def _percent(value: float) -> Number:
    # Printed when read, in the reader's format ("36%", "36 %").
    return Number(value, PERCENT_PATTERN)


def _representation_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    for dim in representation(facts):
        if dim.known < t.representation_min_attendees:
            continue
        for cat in dim.categories:
            if cat.share is None or cat.ratio is None:
                continue
            expected = round6(dim.known * cat.share) or 0.0
            if expected < t.representation_min_expected:
                continue
            keys = {"dimension": dim.dimension, "category": cat.category}
            # Codes in the stored message, labels in each reader's language when it is read.
            cell = row_key(IndicatorRow("representation_ratio", None, 0, **keys))
            words = {"dimension": Term(facts.process_id, dim.dimension),
                     "category": Term(facts.process_id, dim.dimension, cat.category),
                     "ratio": Guarded(cat.ratio, cat.count, cell),
                     "count": Count(cat.count, cell),
                     "expected": Number(expected)}
            if cat.count == 0:
                # Five or more expected and none came: the absence is itself the evidence.
                flags.append(FlagRow("stratum_not_reached", Severity.ALERT, expected, phrase(
                    'No external attendee belongs to category "%(category)s" of '
                    "%(dimension)s, where about %(expected)s were expected. Contact this group "
                    "through the people and associations it trusts and offer a session that "
                    "suits it (time, place, childcare, accessibility).", **words), **keys))
            if cat.p_value is None or not cat.p_value < t.alpha:
                continue  # within what chance alone produces
            words["evidence"] = evidence(
                cat.p_value, row_key(IndicatorRow("representation_p", None, 0, **keys)))
            under = None
            if cat.ratio < t.under_representation_alert:
                under = Severity.ALERT
            elif cat.ratio < t.under_representation_warning:
                under = Severity.WARNING
            if under:
                flags.append(FlagRow("under_representation", under, cat.ratio, phrase(
                    'Category "%(category)s" of %(dimension)s is under-represented among '
                    "external attendees: %(count)s came where %(expected)s were expected "
                    "(ratio %(ratio)s; %(evidence)s). Reach them directly: targeted "
                    "invitations, relays through local associations, a session at another "
                    "time or place, childcare, an in-person session near them.", **words),
                    cat.p_value, **keys))
            over = None
            if cat.ratio > t.over_representation_alert:
                over = Severity.ALERT
            elif cat.ratio > t.over_representation_warning:
                over = Severity.WARNING
            if over:
                flags.append(FlagRow("over_representation", over, cat.ratio, phrase(
                    'Category "%(category)s" of %(dimension)s is over-represented among '
                    "external attendees: %(count)s came where %(expected)s were expected "
                    "(ratio %(ratio)s; %(evidence)s), so other voices weigh less. Invite the "
                    "under-represented groups first and vary times, places and formats.",
                    **words), cat.p_value, **keys))
    return flags


def _session_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    for session in facts.sessions:
        if session.live_registrations < t.no_show_min_registrations:
            continue
        rate = ratio(session.no_shows, session.live_registrations)
        if rate is not None and rate > t.no_show_warning:
            flags.append(FlagRow("high_no_show", Severity.WARNING, rate, phrase(
                '%(rate)s of the %(count)s people registered for the session "%(session)s" '
                "did not come. Ask them why (absence reasons), send reminders before the next "
                "sessions and check their time, place and access.",
                rate=_percent(rate), count=Count(session.live_registrations, row_key(
                    IndicatorRow("no_show_rate", None, 0, session_id=session.id))),
                session=session.title), session_id=session.id))
    value, first_attendees = retention(facts)
    if first_attendees >= t.retention_min_attendees and value is not None:
        severity = None
        if value < t.retention_alert:
            severity = Severity.ALERT
        elif value < t.retention_warning:
            severity = Severity.WARNING
        if severity:
            flags.append(FlagRow("low_retention", severity, value, phrase(
                "Only %(rate)s of the %(count)s people at the first session came back to a "
                "later one. Ask those who left why, report back on what became of their "
                "contributions, and consider other times, formats or childcare.",
                rate=_percent(value),
                count=Count(first_attendees, row_key(IndicatorRow("retention", None, 0))))))
    return flags


def _voice_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    top = ratio(facts.top_contributions, facts.contributions)
    if facts.contributors >= t.voice_min_contributors and top is not None and (
            top > t.voice_top10_warning):
        flags.append(FlagRow("voice_concentration", Severity.WARNING, top, phrase(
            "The most active tenth of contributors wrote %(share)s of all proposals and "
            "comments. Make room for other voices: small groups, speaking turns, written and "
            "online contributions, a facilitator who invites the quiet ones.",
            share=_percent(top))))
    internal = ratio(facts.internal_contributions, facts.contributions)
    if facts.contributions >= t.official_min_contributions and internal is not None and (
            internal > t.official_share_warning):
        flags.append(FlagRow("official_dominance", Severity.WARNING, internal, phrase(
            "Managers and elected officials wrote %(share)s of all proposals and comments: the "
            "process mostly hears the administration. Let residents and associations speak "
            "first, and keep officials to listening and answering.",
            share=_percent(internal))))
    speaking = speaking_share(facts, Group.INTERNAL)
    if speaking_n(facts) >= t.official_min_speaking_seconds and speaking is not None and (
            speaking > t.official_share_warning):
        flags.append(FlagRow("official_dominance", Severity.WARNING, speaking, phrase(
            "Managers and elected officials had the floor %(share)s of the speaking time in "
            "the sessions: residents mostly listened. Give residents and associations the "
            "first turns, time the interventions, and keep officials to short answers.",
            share=_percent(speaking)), group=Group.INTERNAL))
    return flags


def _answer_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    if facts.unanswered_long:
        flags.append(FlagRow("unanswered_proposals", Severity.ALERT, facts.unanswered_long,
                             plural_phrase(
            "%(num)s proposal published at least %(days)s days ago still has no answer. "
            "Answer it, even briefly, with the reasons and the next steps: silence tells "
            "participants their work was for nothing.",
            "%(num)s proposals published at least %(days)s days ago still have no answer. "
            "Answer them, even briefly, with the reasons and the next steps: silence tells "
            "participants their work was for nothing.",
            Count(facts.unanswered_long), days=t.unanswered_alert_days)))
    elif facts.unanswered_recent:
        flags.append(FlagRow("unanswered_proposals", Severity.WARNING, facts.unanswered_recent,
                             plural_phrase(
            "%(num)s proposal published at least %(days)s days ago still has no answer. "
            "Answer it, or tell its author when they will get one.",
            "%(num)s proposals published at least %(days)s days ago still have no answer. "
            "Answer them, or tell their authors when they will get one.",
            Count(facts.unanswered_recent), days=t.unanswered_warning_days)))
    unreasoned = facts.rejected - facts.rejected_with_rationale
    if unreasoned > 0:
        flags.append(FlagRow("unreasoned_rejection", Severity.WARNING, unreasoned, plural_phrase(
            "%(num)s rejected proposal has no stated reason. Add the reasons to the rejection "
            "so that its author understands the decision.",
            "%(num)s rejected proposals have no stated reason. Add the reasons to each "
            "rejection so that their authors understand the decision.", Count(unreasoned))))
    return flags


def _association_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    for absence in association_absences(facts.process_id, facts.as_of):
        if absence.sessions_in_a_row >= t.absent_association_sessions:
            flags.append(FlagRow(
                "absent_invited_association", Severity.WARNING, absence.sessions_in_a_row,
                phrase('No member of the association "%(name)s" came to the last %(count)s '
                       "sessions it was invited to. Call the association to understand why "
                       "and agree on a time, place or format that suits its members.",
                       name=absence.name, count=absence.sessions_in_a_row),
                association_id=absence.association_id))
    return flags


def _perception_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    figures = perception_figures(facts)
    for code, internal, external in duality_pairs(figures):
        if is_duality(internal, external, t):
            assert internal.delta is not None and external.delta is not None
            assert internal.sign_p is not None and external.sign_p is not None
            p_value = max(internal.sign_p, external.sign_p)
            flags.append(FlagRow("value_duality", Severity.ALERT,
                                 round6(internal.delta - external.delta), phrase(
                'Perceived "%(value)s" moved in opposite directions: %(internal)s for '
                "managers and elected officials, %(external)s for residents and "
                "associations (%(evidence)s). Discuss this gap openly with participants and "
                "check that the process delivers what residents expect of it.",
                value=_value(facts, code), internal=Number(internal.delta, SIGNED),
                external=Number(external.delta, SIGNED),
                evidence=evidence(p_value, _sign_cell(
                    internal if internal.sign_p >= external.sign_p else external))),
                p_value, public_value=code))
    for f in figures:
        if f.delta is None or f.sign_p is None or not f.sign_p < t.alpha:
            continue
        words = {"value": _value(facts, f.public_value), "delta": Number(-f.delta, "0.00"),
                 "group": _group_label(f.group),
                 "count": Count(f.n, row_key(IndicatorRow(
                     "perception_delta", None, 0, group=f.group, public_value=f.public_value))),
                 "evidence": evidence(f.sign_p, _sign_cell(f))}
        keys = {"group": f.group, "public_value": f.public_value}
        if f.n >= t.eroding_min_n and f.delta <= t.eroding_delta:
            flags.append(FlagRow("value_eroding", Severity.WARNING, f.delta, phrase(
                'Perceived "%(value)s" fell by %(delta)s points on average among %(group)s '
                "between the baseline and the final survey (%(count)s people; "
                "%(evidence)s): the process may be destroying public value. Look at what they "
                "said, and report back on what has changed.", **words), f.sign_p, **keys))
        if is_weak_weakened(f, t):
            flags.append(FlagRow("weak_value_weakened", Severity.ALERT, f.delta, phrase(
                'Perceived "%(value)s" was already weak for %(group)s '
                "(%(baseline)s out of 5 at the start) and fell by %(delta)s points "
                "(%(count)s people; %(evidence)s). The process is weakening what was fragile: "
                "talk with them about it, act on what they ask for and show the result.",
                baseline=Number(f.baseline, "0.0"), **words), f.sign_p, **keys))
    return flags


RULES: tuple[Callable[[Facts, Thresholds], list[FlagRow]], ...] = (
    _representation_flags, _session_flags, _voice_flags, _answer_flags, _association_flags,
    _perception_flags)


def flag_rows(facts: Facts, thresholds: Thresholds = DEFAULTS) -> list[FlagRow]:
    flags: list[FlagRow] = []
    for rule in RULES:
        flags.extend(rule(facts, thresholds))
    return flags


def compute_flags(process_id: int, as_of: datetime,
                  thresholds: Thresholds = DEFAULTS) -> list[FlagRow]:
    """The risk flags raised for one process as of an instant (raises NotFound)."""
    facts = gather(process_id, check_instant(as_of), alert_days=thresholds.unanswered_alert_days,
                   warning_days=thresholds.unanswered_warning_days)
    return flag_rows(facts, thresholds)


def compute_indicators_and_flags(process_id: int, as_of: datetime,
                                 thresholds: Thresholds = DEFAULTS
                                 ) -> tuple[list[IndicatorRow], list[FlagRow]]:
    """Both sets from one reading of the database (what a dashboard shows side by side)."""
    facts = gather(process_id, check_instant(as_of), alert_days=thresholds.unanswered_alert_days,
                   warning_days=thresholds.unanswered_warning_days)
    return indicator_rows(facts), flag_rows(facts, thresholds)
