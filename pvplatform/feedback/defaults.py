"""The public values a new catalogue starts from: the values co-creation is expected to create
(and may destroy), each a plain statement people rate from 1 (strongly disagree) to 5 (strongly
agree), or "don't know". Stored as data, in French and English, so staff can edit them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefaultValue:
    code: str
    name: str  # French
    name_en: str
    statement: str  # French
    statement_en: str


DEFAULT_VALUES: tuple[DefaultValue, ...] = (
    DefaultValue(
        "inclusiveness", "Inclusion", "Inclusiveness",
        "Les habitants de tous les quartiers et de tous les milieux peuvent peser sur les "
        "décisions de la commune.",
        "Residents of every neighbourhood and background can influence the town's decisions."),
    DefaultValue(
        "transparency", "Transparence", "Transparency",
        "Je peux savoir ce que la commune décide, et pourquoi.",
        "I can find out what the town decides, and why."),
    DefaultValue(
        "responsiveness", "Réactivité", "Responsiveness",
        "Quand des habitants font une proposition, la commune y répond.",
        "When residents make a proposal, the town answers it."),
    DefaultValue(
        "trust", "Confiance dans les institutions", "Trust in institutions",
        "J'ai confiance dans la mairie et le conseil municipal pour agir dans l'intérêt de "
        "tous.",
        "I trust the town hall and the council to act in everyone's interest."),
    DefaultValue(
        "effectiveness", "Efficacité", "Effectiveness",
        "Ce que la commune entreprend aboutit à des résultats concrets.",
        "What the town undertakes leads to concrete results."),
    DefaultValue(
        "legitimacy", "Légitimité des décisions", "Legitimacy of decisions",
        "Les décisions prises à l'issue de la démarche sont légitimes, même quand je ne suis "
        "pas d'accord.",
        "Decisions taken at the end of the process are legitimate, even when I disagree."),
    DefaultValue(
        "accountability", "Redevabilité", "Accountability",
        "Les élus rendent compte de ce qu'ils font des avis des habitants.",
        "Elected officials report back on what they do with residents' views."),
    DefaultValue(
        "equity", "Équité", "Equity",
        "Les besoins de tous les habitants sont traités avec la même attention.",
        "The needs of all residents receive the same attention."),
)
