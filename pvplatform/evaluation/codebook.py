"""What every code of an export means: its family and one sentence, in French and English.

The codes are those of INDICATORS.md (version 2): the indicator rows of the engine and its risk
flags. Exports carry codes (the vocabulary R and Python scripts read); this codebook goes with
them (the README sheet of the XLSX, the codebook resource of the aggregated package) so that a
reader never has to guess what a code stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

LOCALES = ("fr", "en")


class Family(StrEnum):
    FUNNEL = "funnel"
    REPRESENTATIVENESS = "representativeness"
    NON_PARTICIPATION = "non_participation"
    VOICE = "voice"
    RESPONSIVENESS = "responsiveness"
    PERCEIVED_VALUE = "perceived_value"
    FLAGS = "flags"


FAMILY_LABELS: dict[Family, Any] = {
    Family.FUNNEL: _l("Participation funnel"),
    Family.REPRESENTATIVENESS: _l("Representativeness"),
    Family.NON_PARTICIPATION: _l("Non-participation"),
    Family.VOICE: _l("Equality of voice"),
    Family.RESPONSIVENESS: _l("Responsiveness"),
    Family.PERCEIVED_VALUE: _l("Perceived public value"),
    Family.FLAGS: _l("Risk flags"),
}

# The indicator families, in the order of the dashboard and of the XLSX sheets.
INDICATOR_FAMILIES = (Family.FUNNEL, Family.REPRESENTATIVENESS, Family.NON_PARTICIPATION,
                      Family.VOICE, Family.RESPONSIVENESS, Family.PERCEIVED_VALUE)


@dataclass(frozen=True)
class CodeEntry:
    code: str
    family: Family
    description: Any  # a lazy_gettext message id (English)


def _entries(family: Family, items: dict[str, Any]) -> list[CodeEntry]:
    return [CodeEntry(code, family, text) for code, text in items.items()]


INDICATOR_ENTRIES = [
    *_entries(Family.FUNNEL, {
        "attendees": _l("Distinct people who attended at least one held session, for everyone "
                        "and per group (internal: managers and elected officials; external: "
                        "residents and associations)."),
        "active_participants": _l("People who attended, wrote a proposal or a comment, or voted "
                                  "in the process."),
        "uptake_rate": _l("Share of the invitations (session and person) followed by a "
                          "registration that is still valid."),
        "reach_per_1000": _l("External active participants per 1,000 residents of the area the "
                             "process serves."),
    }),
    *_entries(Family.REPRESENTATIVENESS, {
        "known_share": _l("Share of the external attendees whose category is known in the "
                          "dimension."),
        "representation_ratio": _l("Share of a category among external attendees divided by "
                                   "its share of the population (1: as in the population)."),
        "representation_p": _l("Probability that chance alone gives a gap this large between "
                               "the attendees and the population (exact binomial test, Holm "
                               "correction within the dimension)."),
        "dissimilarity": _l("Share of the external attendees who would have to change category "
                            "for the attendees to mirror the population (0: identical)."),
        "strata_not_reached": _l("Number of categories of the population with no external "
                                 "attendee."),
        "active_known_share": _l("Share of the external active participants whose category is "
                                 "known in the dimension."),
        "active_representation_ratio": _l("Representation ratio computed over the external "
                                          "active participants instead of the attendees."),
        "active_dissimilarity": _l("Dissimilarity index computed over the external active "
                                   "participants instead of the attendees."),
    }),
    *_entries(Family.NON_PARTICIPATION, {
        "invited_not_registered": _l("Invitations (session and person) without a valid "
                                     "registration."),
        "no_show_rate": _l("Share of the valid registrations to held sessions without an "
                           "attendance, per session and for all sessions."),
        "registered_no_show": _l("Valid registrations to held sessions without an attendance, "
                                 "all sessions together."),
        "dropped_out": _l("Attendees who came to neither of the last two held sessions (once "
                          "three sessions are held)."),
        "retention": _l("Share of the first session's attendees who came back to at least one "
                        "later session."),
        "attrition": _l("Share of the previous session's attendees who did not come to this "
                        "session."),
    }),
    *_entries(Family.VOICE, {
        "contribution_gini": _l("Gini index of the number of contributions per contributor (0: "
                                "all equal, 1: one voice)."),
        "top10_share": _l("Share of the contributions written by the tenth of contributors who "
                          "wrote most."),
        "internal_voice_share": _l("Share of the contributions written by managers and elected "
                                   "officials."),
        "speaking_time_share": _l("Share of the speaking time recorded in held sessions taken "
                                  "by the group."),
        "speaking_gini": _l("Gini index of the speaking time over the attendees, silent ones "
                            "included."),
    }),
    *_entries(Family.RESPONSIVENESS, {
        "answer_rate": _l("Share of the published proposals (not withdrawn) with an official "
                          "answer."),
        "median_days_to_answer": _l("Median number of days between the publication of a "
                                    "proposal and its official answer."),
        "answered_within_30d_rate": _l("Share of the proposals published at least 30 days ago "
                                       "that were answered within 30 days."),
        "oldest_unanswered_days": _l("Days since the publication of the oldest proposal still "
                                     "without an answer."),
        "reasoned_rejection_rate": _l("Share of the rejected proposals whose answer gives "
                                      "reasons."),
    }),
    *_entries(Family.PERCEIVED_VALUE, {
        "perception_baseline": _l("Mean score (1 to 5) of the public value in the baseline "
                                  "survey, per group."),
        "perception_final": _l("Mean score (1 to 5) of the public value in the final survey, "
                               "per group."),
        "perception_delta": _l("Mean change of score between the baseline and the final survey "
                               "of the people who answered both."),
        "perception_improved_share": _l("Share of the people who answered both surveys whose "
                                        "score rose."),
        "perception_worsened_share": _l("Share of the people who answered both surveys whose "
                                        "score fell."),
        "perception_sign_p": _l("Probability that chance alone gives this balance of rises and "
                                "falls (sign test)."),
        "baseline_response_rate": _l("Share of the group's active participants and respondents "
                                     "who answered the baseline survey."),
        "final_response_rate": _l("Share of the group's active participants and respondents "
                                  "who answered the final survey."),
        "pulse_mean": _l("Mean score (1 to 5) given to the public value in the short survey "
                         "after a session."),
        "duality_count": _l("Number of public values perceived in opposite ways by the two "
                            "groups."),
    }),
]

FLAG_ENTRIES = _entries(Family.FLAGS, {
    "under_representation": _l("A category is clearly under-represented among the attendees, "
                               "beyond chance."),
    "over_representation": _l("A category is clearly over-represented among the attendees, "
                              "beyond chance."),
    "stratum_not_reached": _l("A category expected to send at least five people has no "
                              "attendee."),
    "high_no_show": _l("Too many of the people registered to a session did not come (more than "
                       "the process's threshold, three in ten by default)."),
    "low_retention": _l("Few attendees of the first session came back to a later one."),
    "voice_concentration": _l("The tenth of contributors who write most write more than half "
                              "of the contributions."),
    "official_dominance": _l("Managers and elected officials wrote more than half of the "
                             "contributions, or took more than half of the speaking time."),
    "unanswered_proposals": _l("Proposals have waited more than 30 (warning) or 90 days "
                               "(alert) for an answer."),
    "unreasoned_rejection": _l("Proposals were rejected without reasons."),
    "absent_invited_association": _l("An association invited to several sessions in a row sent "
                                     "nobody."),
    "value_duality": _l("The two groups' perceptions of a public value moved in opposite "
                        "directions, beyond chance."),
    "value_eroding": _l("A group's perception of a public value fell, beyond chance."),
    "weak_value_weakened": _l("A public value already weak for a group weakened further, "
                              "beyond chance."),
})

# The ledger table's codes (absence reasons, from the ledger's service).
LEDGER_ENTRIES = _entries(Family.NON_PARTICIPATION, {
    "absence_requests": _l("Questions sent to absent people (invited and not registered, or "
                           "registered and absent) asking why, per session and in total."),
    "absence_answers": _l("Absent people who gave a reason, in total, per session and per "
                          "category of each dimension (unknown: no consented answer)."),
    "absence_reason": _l("Absent people who gave this reason."),
})

ENTRIES: dict[str, CodeEntry] = {e.code: e for e in (*INDICATOR_ENTRIES, *FLAG_ENTRIES,
                                                     *LEDGER_ENTRIES)}
INDICATOR_CODES = tuple(e.code for e in INDICATOR_ENTRIES)
FLAG_CODES = tuple(e.code for e in FLAG_ENTRIES)


def family_of(code: str) -> Family | None:
    entry = ENTRIES.get(code)
    return entry.family if entry else None


def family_label(family: Family | str, locale: str | None = None) -> str:
    label = FAMILY_LABELS.get(Family(family))
    if locale is None:
        return str(label)
    with force_locale(locale):
        return str(label)


def describe(code: str, locale: str | None = None) -> str:
    """The one-sentence description of a code, in `locale` (the current one when None)."""
    entry = ENTRIES.get(code)
    if entry is None:
        return ""
    if locale is None:
        return str(entry.description)
    with force_locale(locale):
        return str(entry.description)


@dataclass(frozen=True)
class CodebookRow:
    code: str
    family: str
    family_fr: str
    family_en: str
    description_fr: str
    description_en: str


def codebook_rows() -> list[CodebookRow]:
    """Every code with its family and description in French and English (indicators in the
    families' order, the ledger's codes, then the flags)."""
    texts: dict[str, dict[str, tuple[str, str]]] = {}
    for locale in LOCALES:
        with force_locale(locale):
            texts[locale] = {code: (str(FAMILY_LABELS[e.family]), str(e.description))
                             for code, e in ENTRIES.items()}
    order = [*(e for f in INDICATOR_FAMILIES for e in INDICATOR_ENTRIES if e.family == f),
             *LEDGER_ENTRIES, *FLAG_ENTRIES]
    return [CodebookRow(e.code, str(e.family), texts["fr"][e.code][0], texts["en"][e.code][0],
                        texts["fr"][e.code][1], texts["en"][e.code][1]) for e in order]
