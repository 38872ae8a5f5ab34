"""Exclusion-risk flags of INDICATORS.md: what is wrong, for whom, and what staff can do.

Thresholds are compared with the figures as reported (rounded to 6 decimals), so that a flag
never contradicts the number printed beside it.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _ln

from pvplatform.indicators.engine import (
    check_instant,
    duality_pairs,
    indicator_rows,
    is_duality,
    perceptions,
    representation,
)
from pvplatform.indicators.facts import Facts, association_absences, gather
from pvplatform.indicators.rows import FlagRow, Group, IndicatorRow, Severity, ratio, round6
from pvplatform.indicators.thresholds import DEFAULTS, Thresholds

_GROUP_LABELS = {
    Group.INTERNAL: _l("internal (managers and elected officials)"),
    Group.EXTERNAL: _l("external (residents and associations)"),
}


def _percent(value: float) -> str:
    return f"{value:.0%}"


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
            words = {"dimension": dim.dimension, "category": cat.category,
                     "ratio": f"{cat.ratio:.2f}", "count": cat.attendees,
                     "expected": f"{expected:.1f}"}
            under = None
            if cat.ratio < t.under_representation_alert:
                under = Severity.ALERT
            elif cat.ratio < t.under_representation_warning:
                under = Severity.WARNING
            if under:
                flags.append(FlagRow("under_representation", under, cat.ratio, _l(
                    'Category "%(category)s" of %(dimension)s is under-represented among '
                    "external attendees: %(count)s came where %(expected)s were expected "
                    "(ratio %(ratio)s). Reach them directly: targeted invitations, relays "
                    "through local associations, a session at another time or place, "
                    "childcare, an in-person session near them.", **words), **keys))
            over = None
            if cat.ratio > t.over_representation_alert:
                over = Severity.ALERT
            elif cat.ratio > t.over_representation_warning:
                over = Severity.WARNING
            if over:
                flags.append(FlagRow("over_representation", over, cat.ratio, _l(
                    'Category "%(category)s" of %(dimension)s is over-represented among '
                    "external attendees: %(count)s came where %(expected)s were expected "
                    "(ratio %(ratio)s), so other voices weigh less. Invite the "
                    "under-represented groups first and vary times, places and formats.",
                    **words), **keys))
            if cat.attendees == 0:
                flags.append(FlagRow("stratum_not_reached", Severity.ALERT, expected, _l(
                    'No external attendee belongs to category "%(category)s" of '
                    "%(dimension)s, where about %(expected)s were expected. Contact this group "
                    "through the people and associations it trusts and offer a session that "
                    "suits it (time, place, childcare, accessibility).", **words), **keys))
    return flags


def _session_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    for session in facts.sessions:
        if session.live_registrations < t.no_show_min_registrations:
            continue
        rate = ratio(session.no_shows, session.live_registrations)
        if rate is not None and rate > t.no_show_warning:
            flags.append(FlagRow("high_no_show", Severity.WARNING, rate, _l(
                '%(rate)s of the %(count)s people registered for the session "%(session)s" '
                "did not come. Ask them why (absence reasons), send reminders before the next "
                "sessions and check their time, place and access.",
                rate=_percent(rate), count=session.live_registrations, session=session.title),
                session_id=session.id))
    if facts.sessions:
        first, last = facts.sessions[0], facts.sessions[-1]
        retention = ratio(last.overlap_first, first.attendees)
        if first.attendees >= t.retention_min_attendees and retention is not None:
            severity = None
            if retention < t.retention_alert:
                severity = Severity.ALERT
            elif retention < t.retention_warning:
                severity = Severity.WARNING
            if severity:
                flags.append(FlagRow("low_retention", severity, retention, _l(
                    "Only %(rate)s of the %(count)s people at the first session were at the "
                    "last one. Ask those who left why, report back on what became of their "
                    "contributions, and consider other times, formats or childcare.",
                    rate=_percent(retention), count=first.attendees)))
    return flags


def _voice_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    top = ratio(facts.top_contributions, facts.contributions)
    if facts.contributors >= t.voice_min_contributors and top is not None and (
            top > t.voice_top10_warning):
        flags.append(FlagRow("voice_concentration", Severity.WARNING, top, _l(
            "The most active tenth of contributors wrote %(share)s of all proposals and "
            "comments. Make room for other voices: small groups, speaking turns, written and "
            "online contributions, a facilitator who invites the quiet ones.",
            share=_percent(top))))
    internal = ratio(facts.internal_contributions, facts.contributions)
    if facts.contributions >= t.official_min_contributions and internal is not None and (
            internal > t.official_share_warning):
        flags.append(FlagRow("official_dominance", Severity.WARNING, internal, _l(
            "Managers and elected officials wrote %(share)s of all proposals and comments: the "
            "process mostly hears the administration. Let residents and associations speak "
            "first, and keep officials to listening and answering.",
            share=_percent(internal))))
    return flags


def _answer_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    if facts.unanswered_long:
        flags.append(FlagRow("unanswered_proposals", Severity.ALERT, facts.unanswered_long, _ln(
            "%(num)s proposal published at least %(days)s days ago still has no answer. "
            "Answer it, even briefly, with the reasons and the next steps: silence tells "
            "participants their work was for nothing.",
            "%(num)s proposals published at least %(days)s days ago still have no answer. "
            "Answer them, even briefly, with the reasons and the next steps: silence tells "
            "participants their work was for nothing.",
            facts.unanswered_long, days=t.unanswered_alert_days)))
    elif facts.unanswered_recent:
        flags.append(FlagRow("unanswered_proposals", Severity.WARNING, facts.unanswered_recent,
                             _ln("%(num)s proposal published at least %(days)s days ago "
                                 "still has no answer. Answer it, or tell its author when "
                                 "they will get one.",
                                 "%(num)s proposals published at least %(days)s days ago "
                                 "still have no answer. Answer them, or tell their authors "
                                 "when they will get one.",
                                 facts.unanswered_recent, days=t.unanswered_warning_days)))
    unreasoned = facts.rejected - facts.rejected_with_rationale
    if unreasoned > 0:
        flags.append(FlagRow("unreasoned_rejection", Severity.WARNING, unreasoned, _ln(
            "%(num)s rejected proposal has no stated reason. Add the reasons to the rejection "
            "so that its author understands the decision.",
            "%(num)s rejected proposals have no stated reason. Add the reasons to each "
            "rejection so that their authors understand the decision.", unreasoned)))
    return flags


def _association_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    for absence in association_absences(facts.process_id, facts.as_of):
        if absence.sessions_in_a_row >= t.absent_association_sessions:
            flags.append(FlagRow(
                "absent_invited_association", Severity.WARNING, absence.sessions_in_a_row, _l(
                    'No member of the association "%(name)s" came to the last %(count)s '
                    "sessions it was invited to. Call the association to understand why and "
                    "agree on a time, place or format that suits its members.",
                    name=absence.name, count=absence.sessions_in_a_row),
                association_id=absence.association_id))
    return flags


def _perception_flags(facts: Facts, t: Thresholds) -> list[FlagRow]:
    flags = []
    figures = perceptions(facts)
    for code, internal, external in duality_pairs(figures):
        if is_duality(internal, external, min_n=t.duality_min_n, min_delta=t.duality_min_delta):
            assert internal.delta is not None and external.delta is not None
            gap = round6(internal.delta - external.delta)
            flags.append(FlagRow("value_duality", Severity.ALERT, gap, _l(
                'Perceived "%(value)s" moved in opposite directions: %(internal)+.2f for '
                "managers and elected officials, %(external)+.2f for residents and "
                "associations. Discuss this gap openly with participants and check that the "
                "process delivers what residents expect of it.",
                value=code, internal=internal.delta, external=external.delta),
                public_value=code))
    for figure in figures:
        if figure.delta is not None and figure.n >= t.eroding_min_n and (
                figure.delta <= t.eroding_delta):
            flags.append(FlagRow("value_eroding", Severity.WARNING, figure.delta, _l(
                'Perceived "%(value)s" fell by %(delta).2f points on average among %(group)s '
                "participants between the baseline and the final survey (%(count)s people): "
                "the process may be destroying public value. Look at what they said, and "
                "report back on what has changed.", value=figure.public_value,
                delta=-figure.delta, group=_GROUP_LABELS[figure.group], count=figure.n),
                group=figure.group, public_value=figure.public_value))
    return flags


def flag_rows(facts: Facts, thresholds: Thresholds = DEFAULTS) -> list[FlagRow]:
    flags: list[FlagRow] = []
    for rule in (_representation_flags, _session_flags, _voice_flags, _answer_flags,
                 _association_flags, _perception_flags):
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
