"""The demo: Villeneuve-sur-Loire (a fictional French town) co-writes its local 2030 Agenda.

Its surveys of perceived public value show the platform's point at once: the process creates
value for some and destroys it for others (trust rises among officials and falls among
residents; inclusiveness, already weak for residents, weakens), while most values hold.

`flask pv demo` builds it directly with the models, in one transaction. The content is
deterministic (a seeded random generator, dates relative to the moment of loading) so that
screenshots, tests and indicator figures look alike from one machine to the next; only secrets
(session tokens, registration codes) come from their usual secure defaults.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app

from pvplatform.auth.models import Association, AssociationStatus, Role, User
from pvplatform.auth.passwords import hash_password
from pvplatform.db import utcnow
from pvplatform.evaluation.models import EvaluatorGrant, GrantScope
from pvplatform.extensions import db
from pvplatform.feedback.defaults import DEFAULT_VALUES
from pvplatform.feedback.models import (
    Perception,
    PublicValue,
    PulseComment,
    SessionPulse,
    SurveyInvitation,
    SurveyWave,
    Wave,
    pulse_values,
)
from pvplatform.feedback.surveys import (
    NOTIFICATION_KIND,
    OFFER_MESSAGES,
    REMINDER_MESSAGES,
    pulse_path,
    wave_path,
)
from pvplatform.moderation.models import AuditLog, ModerationAction, ModerationKind, Report
from pvplatform.moderation.models import TargetType as ReportTarget
from pvplatform.notifications.models import Notification
from pvplatform.notifications.services import notify
from pvplatform.participation.models import (
    AttendanceSnapshot,
    Dimension,
    Participant,
    ParticipantAttribute,
    ParticipantKind,
    Stratum,
)
from pvplatform.participation.services import KIND_FOR_ROLE, participant_for
from pvplatform.processes.models import LocalTarget, Phase, PhaseKind, Process, SdgGoal
from pvplatform.processes.sdg_data import SDG_GOALS
from pvplatform.proposals.models import (
    Answer,
    Comment,
    ImplementationUpdate,
    Proposal,
    ProposalState,
    Vote,
)
from pvplatform.proposals.services import ANSWER_MESSAGES, UPDATE_MESSAGE, proposal_path
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    Invitation,
    Meeting,
    MeetingFormat,
    Registration,
    SpeakingTurn,
)

DEMO_REF = "demo"
TOWN = "Villeneuve-sur-Loire"
DOMAIN = "villeneuve.example"
SEED = 2030

Echo = Callable[[str], None]


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    email: str
    password: str
    name: str
    hint: str


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    # The passwords follow the platform's policy (length, no e-mail inside).
    DemoLogin(Role.ADMIN, f"admin@{DOMAIN}", "demo-pilotage-2030", "Nadia Benali",
              "create processes and accounts, set roles"),
    DemoLogin(Role.STAFF, f"staff@{DOMAIN}", "demo-agent-mairie-2030", "Julien Marchand",
              "sessions, invitations, check-in, moderation, audit log"),
    DemoLogin(Role.ELECTED, f"elu@{DOMAIN}", "demo-conseil-2030-pv", "Hélène Carpentier",
              "review queue: answer proposals, implementation updates"),
    DemoLogin(Role.EVALUATOR, f"evaluation@{DOMAIN}", "demo-mesure-2030-pv",
              "Thomas Nguyen", "read-only evaluation of the process"),
    DemoLogin(Role.CITIZEN, f"citoyenne@{DOMAIN}", "demo-habitante-2030", "Sophie Lemaire",
              "register for a session, propose, comment, vote"),
    DemoLogin(Role.ASSOCIATION, f"association@{DOMAIN}", "demo-jardins-2030",
              "Karim Haddad", "propose on behalf of Les Jardins partagés de l'Est"),
)

# ----------------------------------------------------------------------------- demographics
# Census shares of the town (fictional, plausible) and how much more or less likely each group
# is to take part: real processes over-represent older owners from the centre.
# The questions asked, in French and English: dimension -> (label, English label).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "age_band": ("Votre tranche d'âge", "Your age band"),
    "gender": ("Votre genre", "Your gender"),
    "district": ("Votre quartier", "Your neighbourhood"),
    "housing": ("Votre logement", "Your housing"),
}
STRATA: dict[str, tuple[tuple[str, str, str, float, float], ...]] = {
    # dimension: (category, label, English label, population share, weight among participants)
    "age_band": (
        ("18-29", "18-29 ans", "18 to 29", 0.19, 0.07),
        ("30-44", "30-44 ans", "30 to 44", 0.24, 0.18),
        ("45-59", "45-59 ans", "45 to 59", 0.25, 0.27),
        ("60-74", "60-74 ans", "60 to 74", 0.21, 0.32),
        ("75+", "75 ans et plus", "75 and over", 0.11, 0.16),
    ),
    "gender": (
        ("woman", "Femme", "Woman", 0.52, 0.53),
        ("man", "Homme", "Man", 0.47, 0.45),
        ("other", "Autre", "Other", 0.01, 0.02),
    ),
    "district": (
        ("centre", "Centre-ville", "Town centre", 0.22, 0.42),
        ("north", "Quartier Nord", "North side", 0.26, 0.24),
        ("south", "Quartier Sud", "South side", 0.24, 0.22),
        ("east", "Quartier Est", "East side", 0.28, 0.12),
    ),
    "housing": (
        ("owner", "Propriétaire", "Owner", 0.52, 0.0),
        ("renter", "Locataire", "Tenant", 0.30, 0.0),
        ("social_housing", "Logement social", "Social housing", 0.18, 0.0),
    ),
}
HOUSING_BY_AGE = {  # owner, renter, social_housing
    "18-29": (0.12, 0.66, 0.22),
    "30-44": (0.40, 0.42, 0.18),
    "45-59": (0.62, 0.24, 0.14),
    "60-74": (0.78, 0.13, 0.09),
    "75+": (0.80, 0.10, 0.10),
}
CONSENT_RATE = 0.72

WOMEN = ("Sophie", "Marie", "Nathalie", "Isabelle", "Catherine", "Sylvie", "Anne", "Christine",
         "Valérie", "Sandrine", "Françoise", "Martine", "Monique", "Julie", "Camille", "Léa",
         "Chloé", "Emma", "Inès", "Manon", "Aïcha", "Fatou", "Yasmina", "Brigitte", "Odile",
         "Colette", "Josiane", "Laura", "Pauline", "Élodie", "Mélanie", "Claire", "Agnès")
MEN = ("Jean", "Pierre", "Michel", "Philippe", "Alain", "Patrick", "Nicolas", "Christophe",
       "Daniel", "Bernard", "Éric", "Laurent", "Frédéric", "Olivier", "Thierry", "Lucas",
       "Hugo", "Théo", "Mathis", "Yanis", "Mohamed", "Moussa", "Karim", "Gérard", "Jacques",
       "René", "Antoine", "Romain", "Kevin", "Bruno", "Denis", "Marc", "Serge")
OTHER = ("Camille", "Dominique", "Claude", "Sacha", "Alex", "Charlie", "Morgan")
SURNAMES = ("Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
            "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David",
            "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine",
            "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc",
            "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier",
            "Garcia", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel",
            "Mathieu", "Gautier", "Masson", "Diallo", "Traoré", "Benali", "Nguyen", "Da Silva",
            "Ferreira", "Kaya", "Rahmani", "Bouvier", "Collet")

# ----------------------------------------------------------------------------- process content
PROCESS_TITLE = "Agenda 2030 de Villeneuve-sur-Loire"
PROCESS_DESCRIPTION = (
    "Villeneuve-sur-Loire écrit son Agenda 2030 local avec ses habitantes et ses habitants. "
    "Pendant la phase de co-création, chacun peut déposer des propositions, les commenter et "
    "les soutenir, en ligne ou lors des ateliers dans les quartiers. Les élus répondent à "
    "chaque proposition publiée et rendent compte de la mise en œuvre des propositions "
    "retenues.\n\n"
    "Cinq objectifs de développement durable guident la démarche : la santé et le bien-être, "
    "l'énergie propre, une ville durable, l'action pour le climat et la vie terrestre."
)
POPULATION = 23_850
GOALS = (3, 7, 11, 13, 15)
LOCAL_TARGETS = (
    (7, "VSL-7.1", "30 % d'énergies renouvelables dans les bâtiments communaux",
     "Couvrir 30 % de la consommation des bâtiments communaux par des énergies renouvelables "
     "produites localement d'ici 2030."),
    (11, "VSL-11.1", "Un arrêt de bus ou une piste cyclable à moins de 300 m",
     "Aucun habitant à plus de 300 mètres d'un arrêt de transport en commun ou d'un "
     "aménagement cyclable continu d'ici 2030."),
    (13, "VSL-13.1", "-40 % d'émissions de gaz à effet de serre",
     "Réduire de 40 % les émissions de gaz à effet de serre du territoire par rapport à 2015."),
    (15, "VSL-15.1", "5 000 arbres et deux îlots de fraîcheur par quartier",
     "Planter 5 000 arbres et créer au moins deux îlots de fraîcheur dans chaque quartier."),
)
# kind, first day, last day (relative to today), proposals/comments/votes open
PHASES = (
    (PhaseKind.INFORMATION, -75, -41, False),
    (PhaseKind.CO_CREATION, -40, 30, True),
    (PhaseKind.REVIEW, 31, 75, False),
    (PhaseKind.DECISION, 76, 120, False),
    (PhaseKind.FOLLOW_UP, 121, 400, False),
)
ASSOCIATIONS = (
    ("Vélo Villeneuve", "Association d'usagers du vélo au quotidien."),
    ("Les Jardins partagés de l'Est", "Jardins collectifs et compostage au quartier Est."),
    ("Loire Nature Environnement", "Protection de la faune, de la flore et des zones humides."),
    ("Comité de quartier Nord", "Habitantes et habitants du quartier Nord."),
)
ASSO_VELO, ASSO_JARDINS, ASSO_NATURE, ASSO_NORD = range(4)


@dataclass(frozen=True)
class SessionSpec:
    title: str
    format: MeetingFormat
    day: int  # relative to today, in the town's calendar
    start: time
    hours: float
    capacity: int
    location: str
    agenda: str
    minutes: str
    associations: tuple[int, ...]  # invited as a whole
    registrations: int  # how many people try to register
    walk_ins: int  # people without an account who came anyway


VISIO = "https://visio.villeneuve.example/agenda2030"
SESSIONS = (
    SessionSpec(
        "Réunion publique de lancement de l'Agenda 2030", MeetingFormat.IN_PERSON, -60,
        time(18, 30), 2, 120, "Salle des fêtes, place de la Mairie",
        "1. Accueil par la maire\n2. Pourquoi un Agenda 2030 local ?\n"
        "3. Calendrier de la démarche\n4. Questions et premières idées",
        "Une cinquantaine de personnes présentes. Présentation des cinq objectifs retenus et du "
        "calendrier. Les échanges ont surtout porté sur les mobilités et la chaleur en été. "
        "Plusieurs participants regrettent l'horaire, peu compatible avec la vie de famille.",
        (ASSO_VELO, ASSO_JARDINS, ASSO_NATURE, ASSO_NORD), 48, 6),
    SessionSpec(
        "Atelier climat et énergie (ODD 7 et 13)", MeetingFormat.HYBRID, -38, time(18, 30), 2.5,
        60, "Maison des associations, 12 rue des Tanneurs",
        "1. Le bilan carbone de la commune\n2. Ateliers en petits groupes\n"
        "3. Restitution et priorités",
        "Quatre groupes (bâtiments, éclairage, mobilités, énergie citoyenne). Douze idées "
        "retenues pour être déposées comme propositions. Connexion à distance instable pendant "
        "vingt minutes.",
        (ASSO_VELO, ASSO_NATURE), 52, 2),
    SessionSpec(
        "Atelier en ligne : santé et bien-être (ODD 3)", MeetingFormat.ONLINE, -24,
        time(12, 30), 1.5, 100, "",
        "1. Accès aux soins dans la commune\n2. Sport et alimentation\n3. Isolement des aînés",
        "Atelier à l'heure du déjeuner pour toucher les actifs. Les propositions portent sur "
        "les cantines, les parcours sportifs et la prévention pour les seniors isolés.",
        (), 55, 0),
    SessionSpec(
        "Balade urbaine et atelier nature en ville (ODD 11 et 15)", MeetingFormat.IN_PERSON,
        -10, time(10, 0), 3, 40, "Départ : parvis de la médiathèque de l'Est",
        "1. Balade commentée dans le quartier Est\n2. Atelier cartographie des îlots de "
        "chaleur\n3. Pique-nique partagé",
        "Balade de deux heures avec les Jardins partagés de l'Est. Forte présence d'habitants "
        "du quartier venus sans inscription. Repérage de six lieux pour des îlots de fraîcheur.",
        (ASSO_JARDINS, ASSO_NATURE), 36, 7),
    SessionSpec(
        "Atelier hybride : mobilités et quartiers", MeetingFormat.HYBRID, 6, time(18, 30), 2,
        80, "Centre social du quartier Nord, 3 allée des Tilleuls",
        "1. Retour sur les propositions mobilité\n2. Priorisation par quartier\n"
        "3. Prochaines étapes", "", (ASSO_VELO, ASSO_NORD), 40, 0),
    SessionSpec(
        "Forum de restitution des propositions", MeetingFormat.IN_PERSON, 20, time(14, 0), 3,
        150, "Salle des fêtes, place de la Mairie",
        "1. Présentation des propositions et des premières réponses\n2. Stands par objectif\n"
        "3. Échanges avec les élus", "", (ASSO_VELO, ASSO_JARDINS, ASSO_NATURE, ASSO_NORD),
        44, 0),
)
HELD = 4  # the first four sessions are in the past


@dataclass(frozen=True)
class SpeakingPlan:
    """Who has the floor in a held session, and for how long (minutes unless said otherwise).

    The lead official opens (and a second one presents, when there is one), then residents take
    the floor, each turn often followed by an official's answer; the lead official closes. Group
    work, a walk or a break is a pause: nobody has the floor of the whole room."""

    opening: tuple[float, float]
    presentation: tuple[float, float]  # a second official; (0, 0): none
    pause: float  # minutes without plenary turns after the opening
    reporters: int  # residents reporting back on the group work after the pause (long turns)
    answer_rate: float  # how often an official answers a resident's turn
    resident: tuple[float, float]  # seconds
    answer: tuple[float, float]  # seconds
    speakers: float  # share of the external attendees who take the floor at all


SPEAKING_PLANS = (
    # The kick-off meeting: the mayor's speech and the services' presentation, then questions
    # that officials answer at length; residents mostly listen.
    SpeakingPlan((16, 22), (18, 25), 0, 0, 0.85, (35, 140), (90, 240), 0.3),
    # The climate workshop: a short opening, group work, the groups' reporters, a discussion in
    # which officials still answer most remarks.
    SpeakingPlan((8, 12), (6, 10), 70, 4, 0.7, (40, 120), (60, 200), 0.3),
    # The lunchtime online workshop: a brief introduction and a lively discussion.
    SpeakingPlan((6, 9), (0, 0), 0, 0, 0.35, (45, 150), (45, 120), 0.45),
    # The walk: the service's guide opens, the walk itself, then residents' mapping reports.
    SpeakingPlan((10, 15), (0, 0), 100, 3, 0.6, (40, 130), (60, 180), 0.35),
)


@dataclass(frozen=True)
class ProposalSpec:
    title: str
    body: str
    goals: tuple[int, ...]
    session: int | None
    state: ProposalState
    association: int | None = None
    # Official answers in order: (state, rationale); the last one is the current state.
    answers: tuple[tuple[ProposalState, str], ...] = ()
    updates: tuple[tuple[int, str], ...] = ()
    author: str | None = None  # "citizen" / "association": the demo logins


A, R, E = ProposalState.ACCEPTED, ProposalState.REJECTED, ProposalState.EVALUATING
EVAL_TECH = ("Les services techniques étudient la faisabilité et le coût. Réponse définitive "
             "attendue à la fin de la phase d'examen.")
PROPOSALS = (
    ProposalSpec(
        "Des pistes cyclables continues entre le quartier Est et le centre",
        "Aujourd'hui les pistes s'arrêtent au rond-point des Acacias. Nous proposons un "
        "itinéraire continu et séparé de la circulation jusqu'à la gare et au centre-ville.",
        (11, 13), 1, A, ASSO_VELO,
        ((E, EVAL_TECH),
         (A, "Retenue : l'itinéraire est inscrit au plan vélo 2026-2028 et financé à 60 % par "
             "la région. Les travaux commencent par le tronçon Acacias-Gare.")),
        ((15, "Études de tracé terminées, concertation avec les riverains en cours."),
         (40, "Premier tronçon (Acacias-Gare) en travaux depuis trois semaines."))),
    ProposalSpec(
        "Des panneaux solaires sur le toit du gymnase Jean-Moulin",
        "Le toit du gymnase est plat, bien orienté et vient d'être refait. Une installation "
        "photovoltaïque couvrirait une bonne partie de la consommation du gymnase et de l'école.",
        (7, 13), 1, A, None,
        ((E, EVAL_TECH),
         (A, "Retenue : l'étude de structure est favorable. 420 m² de panneaux seront posés "
             "en 2026, pour environ 35 % de la consommation du site.")),
        ((20, "Étude de structure validée, appel d'offres publié."),)),
    ProposalSpec(
        "Un réseau de jardins partagés dans chaque quartier",
        "Les jardins de l'Est ont une liste d'attente de quarante familles. Nous proposons "
        "d'ouvrir un jardin partagé par quartier sur des terrains communaux inutilisés.",
        (15, 3, 11), 3, A, ASSO_JARDINS,
        ((A, "Retenue : deux terrains sont identifiés (Nord et Sud). La commune prend en "
             "charge la clôture et l'arrivée d'eau, l'association l'animation."),),
        ((10, "Convention avec l'association en cours de rédaction."),),
        "association"),
    ProposalSpec(
        "Créer des îlots de fraîcheur dans les cours d'école",
        "Les cours d'école sont entièrement goudronnées et dépassent 45 °C en juin. Désimper"
        "méabiliser, planter des arbres et installer des fontaines protégerait les enfants.",
        (13, 3, 11), 1, A, None,
        ((A, "Retenue : deux cours par an seront transformées à partir de 2026, en commençant "
             "par les écoles Jules-Ferry et Louise-Michel."),),
        ((25, "Ateliers de conception avec les enfants de l'école Jules-Ferry terminés."),
         (45, "Travaux de la cour Jules-Ferry programmés pendant les vacances d'été.")),
        "citizen"),
    ProposalSpec(
        "Une navette électrique gratuite le samedi vers le marché",
        "Beaucoup de personnes âgées du quartier Nord renoncent au marché du samedi faute de "
        "transport. Une navette gratuite le samedi matin relierait les quartiers au marché.",
        (11, 7), 0, R, None,
        ((R, "Non retenue sous cette forme : la ligne 2 sera prolongée jusqu'au marché le "
             "samedi dès septembre, ce qui répond au besoin sans nouveau véhicule."),)),
    ProposalSpec(
        "Rénover l'éclairage public en LED et l'éteindre de 1 h à 5 h",
        "L'éclairage public représente près d'un tiers de la facture d'électricité de la "
        "commune. Passer aux LED et éteindre au cœur de la nuit économiserait énergie et argent.",
        (7, 13), 1, A, None,
        ((E, EVAL_TECH),
         (A, "Retenue : extinction de 1 h à 5 h dans les quartiers résidentiels dès cet "
             "automne, remplacement en LED de 300 points lumineux par an.")),
        ((30, "Extinction nocturne effective dans les quartiers Nord et Sud."),
         (55, "Extinction étendue au quartier Est ; 180 points lumineux remplacés."),
         (70, "Premier bilan : -38 % de consommation sur les secteurs concernés."))),
    ProposalSpec(
        "Planter une haie bocagère le long de la rocade",
        "Une haie de deux kilomètres le long de la rocade réduirait le bruit, abriterait les "
        "oiseaux et relierait le bois des Noues aux jardins de l'Est.",
        (15, 13), 3, E, None, ((E, EVAL_TECH),)),
    ProposalSpec(
        "Ouvrir une maison de santé dans le quartier Est",
        "Le quartier Est n'a plus de médecin généraliste depuis deux ans. Une maison de santé "
        "pluridisciplinaire y attirerait des soignants.",
        (3,), 2, E, None,
        ((E, "La commune a sollicité l'agence régionale de santé ; une réunion avec des "
             "professionnels intéressés est prévue le mois prochain."),)),
    ProposalSpec(
        "Des parcours sportifs en accès libre sur les bords de Loire",
        "Quelques agrès, un parcours balisé et des panneaux d'exercices permettraient à "
        "chacun de faire du sport gratuitement au bord du fleuve.",
        (3, 11), 2, A, None,
        ((A, "Retenue : un parcours de 2,5 km avec huit agrès sera installé au printemps."),),
        ((60, "Agrès commandés, balisage posé."),)),
    ProposalSpec(
        "Interdire les voitures dans tout le centre-ville",
        "Le centre est saturé et bruyant. Une interdiction totale des voitures rendrait la "
        "ville aux piétons.",
        (11, 13), 0, R, None,
        ((R, "Non retenue : une interdiction totale pénaliserait les personnes à mobilité "
             "réduite et les commerces. La commune étudie plutôt l'extension de la zone "
             "piétonne le samedi."),)),
    ProposalSpec(
        "Un composteur collectif au pied de chaque immeuble",
        "Un tiers de nos poubelles est composé de déchets organiques. Des composteurs "
        "collectifs animés par des référents réduiraient les déchets et nourriraient les "
        "jardins.",
        (13, 15, 11), 3, E, None, ((E, EVAL_TECH),)),
    ProposalSpec(
        "Cantines scolaires : 50 % de produits bio et locaux",
        "Les cantines servent chaque jour 1 800 repas. Augmenter la part de produits bio et "
        "locaux soutiendrait les agriculteurs du territoire et la santé des enfants.",
        (3, 13), 2, A, None,
        ((A, "Retenue : le prochain marché de restauration scolaire exigera 50 % de produits "
             "durables dont 30 % bio, avec des lots réservés aux producteurs locaux."),),
        ((35, "Nouveau cahier des charges adopté en conseil municipal."),)),
    ProposalSpec(
        "Une permanence « rénovation énergétique » pour les locataires",
        "Les aides à la rénovation sont pensées pour les propriétaires. Une permanence "
        "mensuelle aiderait les locataires à faire valoir leurs droits auprès des bailleurs.",
        (7, 11), 1, E, None,
        ((E, "Proposition transmise à l'espace France Rénov' de l'agglomération, qui étudie "
             "une permanence mensuelle au centre social."),)),
    ProposalSpec(
        "Des bancs et des fontaines à eau tous les 300 mètres",
        "Pour que les personnes âgées et les familles puissent marcher en ville même quand il "
        "fait chaud, il faut pouvoir s'asseoir et boire régulièrement.",
        (3, 11), None, ProposalState.PUBLISHED, author="citizen"),
    ProposalSpec(
        "Protéger la zone humide des Noues",
        "La zone humide des Noues abrite des espèces protégées et limite les inondations. "
        "Nous demandons son classement et l'abandon du projet de lotissement voisin.",
        (15,), 3, E, ASSO_NATURE,
        ((E, "La commune a commandé un inventaire écologique ; la révision du plan local "
             "d'urbanisme en tiendra compte."),)),
    ProposalSpec(
        "Une application pour signaler les dépôts sauvages",
        "Une application mobile permettrait de photographier et localiser les dépôts "
        "sauvages pour que les services interviennent plus vite.",
        (11, 15), None, R, None, ((R, ""),)),
    ProposalSpec(
        "Un parking-relais à l'entrée nord",
        "Un parking-relais relié au centre par le bus éviterait aux habitants des villages "
        "voisins d'entrer en voiture.",
        (11,), 0, R, None,
        ((R, "Non retenue : le terrain envisagé est en zone inondable. L'agglomération étudie "
             "un parking-relais à la gare, plus adapté."),)),
    ProposalSpec(
        "Subventionner l'achat de vélos à assistance électrique",
        "Une aide de 300 € pour l'achat d'un vélo électrique encouragerait les trajets "
        "domicile-travail à vélo.",
        (11, 13, 7), 1, R, None,
        ((R, "Non retenue : une aide régionale existe déjà ; la commune la fera mieux "
             "connaître et financera plutôt des abris vélos sécurisés."),)),
    ProposalSpec(
        "Un festival annuel de la transition",
        "Un grand festival chaque printemps ferait connaître les initiatives locales.",
        (11, 13), None, R, None, ((R, ""),)),
    ProposalSpec(
        "Des ateliers de prévention santé pour les seniors isolés",
        "Des ateliers d'activité physique adaptée, de nutrition et de mémoire, proposés dans "
        "les résidences seniors et au centre social, rompraient l'isolement.",
        (3,), 2, E, None,
        ((E, "Le centre communal d'action sociale prépare un programme avec la caisse de "
             "retraite ; le financement sera connu à l'automne."),)),
    ProposalSpec(
        "Récupérer l'eau de pluie des bâtiments communaux",
        "Des cuves de récupération sur les bâtiments communaux serviraient à l'arrosage des "
        "espaces verts et des jardins partagés.",
        (13, 15), None, ProposalState.PUBLISHED),
    ProposalSpec(
        "Des rues scolaires fermées aux voitures aux heures d'entrée",
        "Fermer la rue de l'école à la circulation quinze minutes le matin et le soir "
        "sécuriserait les enfants et réduirait la pollution devant les écoles.",
        (3, 11), 1, ProposalState.PUBLISHED),
    ProposalSpec(
        "Un conseil des jeunes pour l'Agenda 2030",
        "Les 15-25 ans sont peu présents dans les ateliers. Un conseil des jeunes, avec un "
        "budget, leur donnerait une vraie place.",
        (11,), 2, ProposalState.PUBLISHED),
    ProposalSpec(
        "Végétaliser les parkings de la zone commerciale",
        "Les parkings de la zone commerciale sont des îlots de chaleur. Des arbres et des "
        "revêtements perméables y feraient baisser la température.",
        (13, 15, 11), 3, ProposalState.PUBLISHED),
    ProposalSpec(
        "Une centrale solaire citoyenne sur l'ancienne décharge",
        "Le site de l'ancienne décharge ne peut rien accueillir d'autre. Une centrale solaire "
        "financée par les habitants produirait l'électricité de mille foyers.",
        (7, 13), 1, ProposalState.PUBLISHED),
    ProposalSpec(
        "Sécuriser les traversées piétonnes de l'avenue de la Gare",
        "Les traversées de l'avenue sont dangereuses : voitures rapides, passages mal éclairés. "
        "Nous demandons des plateaux surélevés et un meilleur éclairage.",
        (3, 11), None, ProposalState.PUBLISHED, ASSO_NORD),
    ProposalSpec(
        "Un refuge pour la biodiversité dans chaque parc",
        "Laisser une partie de chaque parc en prairie fleurie, avec des nichoirs et des hôtels "
        "à insectes, favoriserait la biodiversité.",
        (15,), 3, ProposalState.PUBLISHED, ASSO_JARDINS, author="association"),
    ProposalSpec(
        "Une vélo-école pour les adultes",
        "Beaucoup d'adultes n'osent pas circuler à vélo. Des cours gratuits, encadrés par "
        "l'association, leur permettraient de se lancer.",
        (3, 11, 13), 1, ProposalState.PUBLISHED, ASSO_VELO),
    ProposalSpec(
        "Des téléconsultations accompagnées à la médiathèque",
        "Un poste de téléconsultation, avec l'aide d'un médiateur, à la médiathèque faciliterait "
        "l'accès aux médecins pour ceux qui n'ont pas internet.",
        (3,), 2, ProposalState.PUBLISHED),
    ProposalSpec(
        "Moins arroser les espaces verts grâce à des plantes adaptées",
        "Remplacer les massifs gourmands en eau par des plantes adaptées à la sécheresse "
        "économiserait l'eau potable.",
        (13, 15), None, ProposalState.PUBLISHED),
    ProposalSpec(
        "Une ressourcerie dans l'ancienne caserne",
        "Une ressourcerie collecterait, réparerait et revendrait meubles et objets, avec des "
        "emplois d'insertion.",
        (11, 13), 0, ProposalState.PUBLISHED),
    ProposalSpec(
        "Des horaires de bus adaptés au travail de nuit",
        "Les salariés de l'hôpital et de la zone logistique finissent après le dernier bus. "
        "Un service tardif le soir leur éviterait de prendre la voiture.",
        (11,), 2, ProposalState.PUBLISHED),
    ProposalSpec(
        "Un plan canicule avec des salles rafraîchies ouvertes à tous",
        "Pendant les vagues de chaleur, ouvrir des salles rafraîchies dans chaque quartier, "
        "avec un accueil, protégerait les plus fragiles.",
        (3, 13), None, ProposalState.PUBLISHED),
    ProposalSpec(
        "Moins d'écrans publicitaires lumineux en ville",
        "Les écrans publicitaires consomment beaucoup et éblouissent. La commune pourrait les "
        "limiter dans son règlement local de publicité.",
        (7, 13), None, ProposalState.PUBLISHED),
    ProposalSpec(
        "Un skatepark derrière la salle des fêtes",
        "Les jeunes n'ont pas de lieu pour le skate et la trottinette.",
        (3, 11), None, ProposalState.WITHDRAWN),
    ProposalSpec(
        "Chauffer la piscine avec la chaleur de la station d'épuration",
        "La station d'épuration rejette de l'eau tiède toute l'année : une pompe à chaleur "
        "pourrait chauffer la piscine voisine.",
        (7, 13), 1, ProposalState.WITHDRAWN),
    ProposalSpec(
        "Une fête des voisins de l'Agenda 2030",
        "Un moment convivial dans chaque rue pour parler de l'Agenda 2030.",
        (11,), None, ProposalState.WITHDRAWN),
    ProposalSpec(
        "Des toilettes publiques accessibles près du marché",
        "Il n'y a aucune toilette publique accessible autour de la place du marché.",
        (3, 11), None, ProposalState.DRAFT, author="citizen"),
    ProposalSpec(
        "Un verger communal sur le terrain des Acacias",
        "Planter un verger ouvert à tous, dont les fruits seraient cueillis librement.",
        (15, 3), None, ProposalState.DRAFT),
    ProposalSpec(
        "Des abris vélos sécurisés à la gare",
        "Sans abri fermé, beaucoup n'osent pas laisser leur vélo à la gare toute la journée.",
        (11, 13), None, ProposalState.DRAFT),
    ProposalSpec(
        "Éteindre les vitrines des commerces la nuit",
        "Rappeler aux commerces l'obligation d'éteindre leurs vitrines la nuit.",
        (7, 13), None, ProposalState.DRAFT),
)

COMMENTS = (
    "Très bonne idée, je soutiens.",
    "Il faudrait penser aux personnes à mobilité réduite.",
    "Quel serait le coût pour la commune ?",
    "Dans notre rue, le problème est exactement celui-là.",
    "Pourquoi ne pas commencer par un essai dans un quartier ?",
    "Je suis d'accord, à condition de prévoir l'entretien.",
    "Ça existe déjà dans la commune voisine et ça marche bien.",
    "Attention à ne pas oublier les quartiers périphériques.",
    "Les enfants de l'école en parlent depuis longtemps.",
    "Je ne suis pas convaincu, il y a d'autres priorités.",
    "Il faudrait associer les commerçants du centre.",
    "Bonne proposition, mais le calendrier me semble trop long.",
    "Je peux donner un coup de main si un collectif se monte.",
    "Et pour les personnes qui n'ont pas internet ?",
    "C'est une vraie question de santé publique.",
    "L'association est prête à participer.",
    "On en a parlé à l'atelier, plusieurs habitants étaient pour.",
    "Il faudrait des chiffres avant de décider.",
    "Excellente idée pour les soirées d'été.",
    "Merci pour cette proposition détaillée.",
)
STAFF_COMMENT = ("Merci pour cette proposition : le service concerné en prend connaissance et "
                 "une réponse officielle sera publiée pendant la phase d'examen.")
MICRODATA_PURPOSE = ("Évaluation à mi-parcours de la démarche par le service évaluation des "
                     "politiques publiques : représentativité et valeur publique perçue.")
RUDE_COMMENT = "Encore une idée de bobos du centre-ville, vous n'avez rien d'autre à faire ?"

# Absence reasons the demo's absent people give (ledger): who did not register mostly did not
# know in time or could not make the hour; who registered and stayed away, time and care duties.
ABSENCE_WEIGHTS: dict[str, tuple[tuple[str, float], ...]] = {
    "no_show": (("time", 0.24), ("care_duties", 0.22), ("place", 0.1), ("not_informed", 0.04),
                ("not_interested", 0.04), ("accessibility", 0.06), ("language", 0.03),
                ("online_only", 0.09), ("other", 0.18)),
    "not_registered": (("not_informed", 0.26), ("time", 0.24), ("not_interested", 0.14),
                       ("care_duties", 0.1), ("place", 0.08), ("online_only", 0.07),
                       ("accessibility", 0.03), ("language", 0.02), ("other", 0.06)),
}
ABSENCE_OTHER_TEXTS = (
    "J'étais malade ce jour-là.",
    "Je travaille en horaires décalés le samedi.",
    "Pas de bus pour rentrer après 21 h depuis le quartier Est.",
    "J'avais un autre engagement associatif le même soir.",
    "Trop de réunions en ce moment, je lis les comptes rendus.",
)

# ----------------------------------------------------------------------------- perceived value
# The survey calendar (days relative to today, the town's hours). The baseline opens a week before
# the kick-off and stays open until the absentees of the lunchtime workshop, asked why they stayed
# away, have had a few days to answer it as well; the final wave opened once the last workshop
# was over and is still open.
BASELINE_OPENS = (-67, time(9, 0))
BASELINE_REMINDED = (-45, time(10, 0))
BASELINE_CLOSES = (-17, time(18, 0))
FINAL_OPENS = (-8, time(9, 0))
FINAL_REMINDED = (-3, time(10, 0))
PULSE_OPEN = timedelta(days=14)  # as the pulse service sends them
PULSE_REMINDED = timedelta(days=2)
SCORES = (1, 2, 3, 4, 5)
CHANGES = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class ValueStory:
    """How the demo's people perceive one public value: weights of the baseline scores (1..5)
    and of the change to the final wave (-2..+2), external and internal people apart, and how
    often each group answers "don't know"."""

    external: tuple[float, ...]
    internal: tuple[float, ...]
    external_change: tuple[float, ...]
    internal_change: tuple[float, ...]
    dont_know: tuple[float, float]  # external, internal


VALUE_STORIES: dict[str, ValueStory] = {
    # Already weak for residents (the evening hours, the east district reached late) and
    # weakening: the demo's weak_value_weakened. Officials see it improve a little.
    "inclusiveness": ValueStory((0.12, 0.37, 0.32, 0.15, 0.04), (0, 0.05, 0.30, 0.50, 0.15),
                               (0.03, 0.47, 0.45, 0.05, 0), (0, 0.05, 0.65, 0.30, 0),
                               (0.05, 0)),
    # Minutes, answers and implementation updates are published: better for everyone.
    "transparency": ValueStory((0.08, 0.25, 0.37, 0.24, 0.06), (0, 0.05, 0.25, 0.50, 0.20),
                               (0, 0.06, 0.52, 0.36, 0.06), (0, 0, 0.60, 0.40, 0),
                               (0.06, 0)),
    # Slightly down over the waves; the pulses tell the story session by session.
    "responsiveness": ValueStory((0.06, 0.20, 0.38, 0.28, 0.08), (0, 0.05, 0.30, 0.45, 0.20),
                                 (0.04, 0.24, 0.52, 0.18, 0.02), (0, 0.05, 0.60, 0.35, 0),
                                 (0.08, 0)),
    # The point of the demo, value_duality: officials, who hold the floor and see the process
    # as theirs, trust the institutions more; residents, whose proposals wait, trust them
    # less. Officials' baseline stops at 4 so that each of them can rise.
    "trust": ValueStory((0.05, 0.15, 0.33, 0.35, 0.12), (0, 0.10, 0.50, 0.40, 0),
                        (0.25, 0.48, 0.22, 0.05, 0), (0, 0, 0, 0.80, 0.20),
                        (0.04, 0)),
    "effectiveness": ValueStory((0.07, 0.22, 0.38, 0.26, 0.07), (0, 0.10, 0.35, 0.45, 0.10),
                                (0.02, 0.12, 0.62, 0.21, 0.03), (0, 0.05, 0.70, 0.25, 0),
                                (0.12, 0.05)),
    "legitimacy": ValueStory((0.05, 0.16, 0.36, 0.33, 0.10), (0, 0, 0.20, 0.55, 0.25),
                             (0.02, 0.11, 0.61, 0.22, 0.04), (0, 0.05, 0.75, 0.20, 0),
                             (0.10, 0)),
    # Weak at first, improving with the implementation updates: weak alone raises nothing.
    "accountability": ValueStory((0.10, 0.27, 0.35, 0.22, 0.06), (0, 0.05, 0.30, 0.50, 0.15),
                                 (0.01, 0.10, 0.56, 0.28, 0.05), (0, 0, 0.70, 0.30, 0),
                                 (0.12, 0.05)),
    "equity": ValueStory((0.07, 0.22, 0.37, 0.27, 0.07), (0, 0.10, 0.35, 0.45, 0.10),
                         (0.02, 0.14, 0.62, 0.19, 0.03), (0, 0.10, 0.75, 0.15, 0),
                         (0.07, 0)),
}
# People who never took part, in a session or online, were not touched by the process: their
# views drift both ways.
COMPARISON_CHANGE = (0.02, 0.14, 0.68, 0.14, 0.02)
# Those who came once or twice and stopped coming left disappointed, more than the others.
DROPOUT_VALUES = ("inclusiveness", "responsiveness", "trust")
DROPOUT_DROP = 0.35
# Session pulses: the same three questions after every held session (in the catalogue's order,
# as the pulse service asks them). Inclusiveness rises as sessions move to lunchtime and to the
# east district; transparency improves slowly; responsiveness sinks while the workshops'
# proposals wait for answers. Officials rate their sessions higher.
PULSE_STORY: dict[str, tuple[float, ...]] = {
    "inclusiveness": (2.5, 2.8, 3.1, 3.5),
    "transparency": (3.2, 3.3, 3.5, 3.7),
    "responsiveness": (3.7, 3.3, 2.8, 2.4),
}
PULSE_INTERNAL_BONUS = 0.4
PULSE_SUGGESTIONS = (
    ("Un horaire plus tôt, ou une garde d'enfants, nous aurait permis de venir en famille.",
     "Merci pour la présentation. Un peu plus de temps pour les questions de la salle, peut-être ?",
     "Au fond de la salle on entendait mal : un micro qui circule aiderait beaucoup."),
    ("Les petits groupes étaient très bien animés, merci. Dommage pour la connexion à distance.",
     "Recevoir les chiffres du bilan carbone avant l'atelier nous aurait aidés à préparer.",
     "J'aimerais savoir ce que deviennent les douze idées retenues ce soir."),
    ("L'horaire de midi est parfait pour moi, à refaire !",
     "Un résumé écrit après l'atelier serait utile pour celles et ceux qui entendent mal.",
     "Nos propositions du premier atelier n'ont toujours pas de réponse, c'est décourageant."),
    ("Très belle balade, merci ! Un point d'eau aurait été bienvenu avec la chaleur.",
     "Quelques chaises pour les plus âgés pendant l'atelier cartographie, ce serait bien.",
     "Enfin un atelier dans notre quartier. On attend maintenant des réponses concrètes."),
)


# ----------------------------------------------------------------------------- the builder

@dataclass(eq=False)
class Person:
    participant: Participant
    user: User | None
    joined_at: datetime
    # True demographics drive behaviour; only consented answers (`stored`) reach the database.
    traits: dict[str, str]
    stored: dict[str, str] = field(default_factory=dict)
    engagement: float = 0.5  # propensity to register and to come back
    prefers_online: bool = False
    attended: list[int] = field(default_factory=list)

    @property
    def external(self) -> bool:
        return not self.participant.kind.is_internal

    @property
    def role(self) -> Role | None:
        return self.user.role if self.user is not None else None


@dataclass(eq=False)
class Trail:
    """What a person's survey offers depend on: their registrations, check-ins and first act
    online (a published proposal, a comment or a vote)."""

    registrations: list[tuple[datetime, datetime | None, datetime]] = field(
        default_factory=list)  # registered, cancelled, the session's start
    checked_in: list[datetime] = field(default_factory=list)
    online: datetime | None = None

    def in_circle(self, at: datetime) -> bool:
        """Active or with a live registration at `at`: the circle a wave opening reaches."""
        if any(t <= at for t in self.checked_in) or (self.online is not None
                                                     and self.online <= at):
            return True
        return any(registered <= at and (cancelled is None or cancelled > at
                                         or cancelled >= starts)
                   for registered, cancelled, starts in self.registrations)

    def first_step(self, after: datetime, before: datetime) -> datetime | None:
        """The first registration, check-in or act online in (after, before): the moment an
        open wave is offered to someone who joins while it runs."""
        steps = [t for t in (*(r for r, _, _ in self.registrations), *self.checked_in,
                             self.online) if t is not None and after < t < before]
        return min(steps, default=None)


@dataclass(eq=False)
class SurveyRows:
    """The demo's survey rows, gathered and then written in a few bulk inserts: hundreds of
    invitations, answers and notifications would otherwise cost a flush each."""

    process: Process
    values: dict[str, PublicValue]
    now: datetime
    rng: random.Random
    unread: tuple[User | None, ...]  # whose notifications stay unread unless they answered
    invitations: list[dict[str, Any]] = field(default_factory=list)
    perceptions: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    pulses: list[SessionPulse] = field(default_factory=list)
    suggestions: list[PulseComment] = field(default_factory=list)
    reminded: Counter[tuple[Wave, int | None]] = field(default_factory=Counter)

    def offer(self, person: Person, wave: Wave, offered: datetime, answered: datetime | None,
              *, reminded: datetime, meeting: Meeting | None = None) -> None:
        """The invitation, its one reminder (to people with an address who had not answered
        by then) and their notifications, as the survey services leave them."""
        if person.user is None or not offered < reminded <= self.now or (
                answered is not None and answered <= reminded):
            reminder: datetime | None = None
        else:
            reminder = reminded
            self.reminded[(wave, meeting.id if meeting is not None else None)] += 1
        self.invitations.append({
            "process_id": self.process.id, "participant_id": person.participant.id,
            "wave": wave, "meeting_id": meeting.id if meeting is not None else None,
            "offered_at": offered, "reminded_at": reminder})
        if person.user is None:
            return
        if meeting is not None:
            params, link = {"session": meeting.title}, pulse_path(meeting.id)
        else:
            params, link = {"process": self.process.title}, wave_path(self.process.id, wave)
        for messages, sent in ((OFFER_MESSAGES, offered), (REMINDER_MESSAGES, reminder)):
            if sent is None:
                continue
            read_at = answered
            if read_at is None and person.user not in self.unread and self.rng.random() < 0.5:
                read_at = sent + timedelta(hours=self.rng.uniform(1, 48))
                read_at = read_at if read_at <= self.now else None
            self.notifications.append({
                "user_id": person.user.id, "kind": NOTIFICATION_KIND, "message": messages[wave],
                "params": params, "link": link, "created_at": sent, "read_at": read_at})

    def answer(self, person: Person, wave: Wave, at: datetime,
               scores: dict[str, int | None], *, meeting: Meeting | None = None) -> None:
        self.perceptions.extend(
            {"participant_id": person.participant.id, "public_value_id": self.values[code].id,
             "wave": wave, "meeting_id": meeting.id if meeting is not None else None,
             "score": score, "answered_at": at}
            for code, score in scores.items())

    def write(self) -> None:
        db.session.add_all([*self.pulses, *self.suggestions])
        db.session.flush()
        db.session.execute(sa.insert(pulse_values), [
            {"pulse_id": pulse.id, "public_value_id": self.values[code].id, "position": position}
            for pulse in self.pulses for position, code in enumerate(PULSE_STORY, start=1)])
        for model, rows in ((SurveyInvitation, self.invitations),
                            (Perception, self.perceptions),
                            (Notification, self.notifications)):
            if rows:
                db.session.execute(sa.insert(model), rows)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())


class _Builder:
    def __init__(self, *, now: datetime, zone: ZoneInfo) -> None:
        self.rng = random.Random(SEED)
        self.zone = zone
        self.today = now.astimezone(zone).date()
        # Everything is placed relative to the start of the town's day of loading, not to the
        # exact minute: the sessions sit at fixed local hours, so anchoring the rest to the
        # minute would make the content depend on the time of day the demo was loaded.
        self.now = min(now, datetime.combine(self.today, time(0), tzinfo=zone).astimezone(UTC))
        self.hashes: dict[str, str] = {}
        self.logins: dict[Role, User] = {}
        self.people: list[Person] = []
        self.staff_users: list[User] = []
        self.elected_users: list[User] = []
        self.associations: list[Association] = []
        self.meetings: list[Meeting] = []
        self.used_emails: set[str] = set()
        self.audit: list[AuditLog] = []
        self.attendances: list[tuple[Attendance, Person]] = []

    # ---------------------------------------------------------------- helpers
    def at(self, day: int, at: time) -> datetime:
        """The town's wall-clock time `at` on `today + day`, in UTC."""
        local = datetime.combine(self.today + timedelta(days=day), at, tzinfo=self.zone)
        return local.astimezone(UTC)

    def days_ago(self, low: float, high: float) -> datetime:
        return self.now - timedelta(days=self.rng.uniform(low, high))

    def between(self, start: datetime, end: datetime) -> datetime:
        if end <= start:
            return start
        return start + (end - start) * self.rng.random()

    def password_hash(self, password: str) -> str:
        # Argon2 is slow on purpose: hash each distinct password once.
        if password not in self.hashes:
            self.hashes[password] = hash_password(password)
        return self.hashes[password]

    def pick(self, options: Sequence[tuple[str, float]]) -> str:
        return self.rng.choices([name for name, _ in options],
                                weights=[weight for _, weight in options], k=1)[0]

    def traits(self, *, younger: bool = False, district: str | None = None) -> dict[str, str]:
        age_options = [(c, w) for c, _, _, _, w in STRATA["age_band"]]
        if younger:  # the walk-ins of the east-district walk
            age_options = [(c, w * (2.0 if i < 2 else 0.7))
                           for i, (c, w) in enumerate(age_options)]
        age = self.pick(age_options)
        gender = self.pick([(c, w) for c, _, _, _, w in STRATA["gender"]])
        district = district or self.pick([(c, w) for c, _, _, _, w in STRATA["district"]])
        housing_weights = list(HOUSING_BY_AGE[age])
        if district == "east":
            housing_weights[2] *= 2.5  # most of the social housing is in the east district
        housing = self.pick(list(zip(("owner", "renter", "social_housing"), housing_weights,
                                     strict=True)))
        return {"age_band": age, "gender": gender, "district": district, "housing": housing}

    def name_for(self, gender: str) -> tuple[str, str]:
        first = self.rng.choice({"woman": WOMEN, "man": MEN}.get(gender, OTHER))
        return first, self.rng.choice(SURNAMES)

    def email_for(self, first: str, last: str) -> str:
        base = f"{_slug(first)}.{_slug(last)}"
        email, n = f"{base}@habitants.{DOMAIN}", 1
        while email in self.used_emails:
            n += 1
            email = f"{base}{n}@habitants.{DOMAIN}"
        self.used_emails.add(email)
        return email

    def consent(self, person: Person) -> None:
        if self.rng.random() >= CONSENT_RATE:
            return
        # Some dimensions are left blank ("prefer not to say").
        person.stored = {dim: cat for dim, cat in person.traits.items()
                         if self.rng.random() < 0.93}

    def store_attributes(self, people: Sequence[Person]) -> None:
        for person in people:
            db.session.add_all(
                ParticipantAttribute(participant_id=person.participant.id, dimension=dimension,
                                     category=category, consented_at=person.joined_at,
                                     updated_at=person.joined_at)
                for dimension, category in person.stored.items())

    def weighted_sample(self, pool: Sequence[Person], weight: Callable[[Person], float],
                        k: int) -> list[Person]:
        chosen: list[Person] = []
        candidates = list(pool)
        weights = [max(weight(p), 1e-6) for p in candidates]
        for _ in range(min(k, len(candidates))):
            i = self.rng.choices(range(len(candidates)), weights=weights, k=1)[0]
            chosen.append(candidates.pop(i))
            weights.pop(i)
        return chosen

    def internal(self, role: Role) -> list[Person]:
        return [p for p in self.people if p.role == role and not p.external]

    # ---------------------------------------------------------------- steps
    def build(self) -> Process:
        process = self.process()
        self.accounts(process)
        self.participants(process)
        self.sessions(process)
        self.ledger()
        self.speaking_turns()
        proposals = self.proposals(process)
        self.votes_and_comments(proposals)
        self.moderation(process, proposals)
        self.absence_reasons()
        self.perceived_value(process)
        self.evaluation_access(process)
        db.session.add_all(self.audit)
        return process

    def process(self) -> Process:
        self.ensure_goals()
        first_day, last_day = PHASES[0][1], PHASES[-1][2]
        process = Process(
            title=PROCESS_TITLE, description=PROCESS_DESCRIPTION, municipality=TOWN,
            population=POPULATION, starts_on=self.today + timedelta(days=first_day),
            ends_on=self.today + timedelta(days=last_day), external_ref=DEMO_REF,
            created_at=self.at(first_day - 20, time(9, 0)),
        )
        process.phases = [
            Phase(kind=kind, starts_on=self.today + timedelta(days=start),
                  ends_on=self.today + timedelta(days=end), proposals_open=is_open,
                  comments_open=is_open, votes_open=is_open)
            for kind, start, end, is_open in PHASES
        ]
        process.goals = list(db.session.scalars(
            sa.select(SdgGoal).where(SdgGoal.number.in_(GOALS)).order_by(SdgGoal.number)))
        process.local_targets = [
            LocalTarget(goal_number=goal, code=code, title=title, description=description)
            for goal, code, title, description in LOCAL_TARGETS
        ]
        db.session.add(process)
        db.session.flush()
        for position, (dimension, (label, label_en)) in enumerate(DIMENSIONS.items()):
            db.session.add(Dimension(process_id=process.id, code=dimension, label=label,
                                     label_en=label_en, position=position))
        for dimension, rows in STRATA.items():
            db.session.add_all(
                Stratum(process_id=process.id, dimension=dimension, category=category,
                        label=label, label_en=label_en, population_share=share)
                for category, label, label_en, share, _ in rows)
        return process

    def ensure_goals(self) -> None:
        # The first migration ships them; a database built otherwise may lack them.
        known = set(db.session.scalars(sa.select(SdgGoal.number)))
        db.session.add_all(SdgGoal(number=n, title_en=en, title_fr=fr, color=color)
                           for n, en, fr, color in SDG_GOALS if n not in known)
        db.session.flush()

    def accounts(self, process: Process) -> None:
        self.associations = [Association(name=name, description=description,
                                         created_at=self.days_ago(400, 900),
                                         status=AssociationStatus.APPROVED)
                             for name, description in ASSOCIATIONS]
        db.session.add_all(self.associations)
        db.session.flush()
        internal_since = process.created_at - timedelta(days=5)
        for login in DEMO_LOGINS:
            user = User(email=login.email, password_hash=self.password_hash(login.password),
                        display_name=login.name, role=login.role, locale="fr",
                        created_at=internal_since)
            if login.role == Role.ASSOCIATION:
                # An approved member, and the contact who decides the requests to join.
                user.association_id = self.associations[ASSO_JARDINS].id
                user.association_contact = True
            if login.role in (Role.CITIZEN, Role.ASSOCIATION):
                user.created_at = self.at(-64, time(20, 15))
            self.logins[login.role] = user
            self.used_emails.add(login.email)
        db.session.add_all(self.logins.values())
        self.staff_users = [self.logins[Role.STAFF]]
        self.elected_users = [self.logins[Role.ELECTED]]
        # Colleagues who take part without a demo login (no password: they cannot log in).
        for role, names, users in (
                (Role.STAFF, ("Claire Dumas", "Olivier Petitjean", "Amina Sow"),
                 self.staff_users),
                (Role.ELECTED, ("Bernard Lacombe", "Fatima Zerrouki", "Pascal Renaud"),
                 self.elected_users)):
            for name in names:
                first, last = name.split(" ", 1)
                user = User(email=f"{_slug(first)}.{_slug(last)}@mairie.{DOMAIN}",
                            display_name=name, role=role, locale="fr",
                            created_at=internal_since)
                users.append(user)
                db.session.add(user)
        db.session.flush()
        admin = self.logins[Role.ADMIN]
        for user in [*self.staff_users, *self.elected_users, self.logins[Role.EVALUATOR]]:
            self.audit.append(AuditLog(actor_id=admin.id, action="account.create",
                                       target_type="user", target_id=user.id,
                                       details={"role": user.role.value},
                                       created_at=user.created_at))

    def participants(self, process: Process) -> None:
        rng = self.rng
        # user, joined at, true demographics, engagement, prefers online
        pending: list[tuple[User, datetime, dict[str, str], float, bool]] = []

        # Internal participants: the administration and the council are measured too.
        for user in [*self.staff_users, *self.elected_users]:
            traits = self.traits()
            traits["age_band"] = rng.choice(("30-44", "45-59", "45-59", "60-74"))
            pending.append((user, user.created_at, traits,
                            0.9 if user.role == Role.STAFF else 0.6, False))
        # The two demo people, fixed so that their pages have something to show and to try.
        pending.append((self.logins[Role.CITIZEN], self.logins[Role.CITIZEN].created_at,
                        {"age_band": "30-44", "gender": "woman", "district": "north",
                         "housing": "renter"}, 0.8, False))
        pending.append((self.logins[Role.ASSOCIATION],
                        self.logins[Role.ASSOCIATION].created_at,
                        {"age_band": "45-59", "gender": "man", "district": "east",
                         "housing": "renter"}, 0.8, False))
        # Association members: older and well established, the usual pattern.
        for index, assoc in enumerate(self.associations):
            for _ in range(2 if index == ASSO_JARDINS else 3):
                traits = self.traits(district={ASSO_JARDINS: "east", ASSO_NORD: "north"}
                                     .get(index))
                first, last = self.name_for(traits["gender"])
                joined = self.between(process.created_at, self.at(-62, time(12, 0)))
                user = User(email=self.email_for(first, last), display_name=f"{first} {last}",
                            role=Role.ASSOCIATION, association_id=assoc.id, locale="fr",
                            created_at=joined)
                pending.append((user, joined, traits, rng.uniform(0.6, 0.9), False))
        # Citizens with an account: about half joined around the kick-off meeting.
        for _ in range(118):
            traits = self.traits()
            first, last = self.name_for(traits["gender"])
            if rng.random() < 0.45:
                joined = self.between(process.created_at, self.at(-61, time(12, 0)))
            else:
                joined = self.days_ago(2, 60)
            # Young people, renters and the east district drop out more (so they stay rarer).
            engagement = rng.betavariate(2, 2.5)
            if traits["age_band"] == "18-29" or traits["district"] == "east":
                engagement *= 0.6
            if traits["housing"] != "owner":
                engagement *= 0.85
            user = User(email=self.email_for(first, last), display_name=f"{first} {last[0]}.",
                        role=Role.CITIZEN, locale="en" if rng.random() < 0.1 else "fr",
                        created_at=joined)
            young = traits["age_band"] in ("18-29", "30-44")
            pending.append((user, joined, traits, engagement,
                            rng.random() < (0.6 if young else 0.2)))
        db.session.add_all(user for user, *_ in pending)
        db.session.flush()

        named = {*self.logins.values(), *self.staff_users, *self.elected_users}
        for user, joined, traits, engagement, online in pending:
            if user in named:
                participant = participant_for(user)
            else:
                # The crowd in one batch, with the mapping participant_for applies (one query
                # and one flush per person would make up most of the loading time).
                participant = Participant(user_id=user.id, kind=KIND_FOR_ROLE[user.role],
                                          association_id=user.association_id)
                db.session.add(participant)
            participant.created_at = joined
            self.people.append(Person(participant=participant, user=user, joined_at=joined,
                                      traits=traits, engagement=engagement,
                                      prefers_online=online))
        db.session.flush()
        self.citizen = next(p for p in self.people if p.user is self.logins[Role.CITIZEN])
        self.representative = next(p for p in self.people
                                   if p.user is self.logins[Role.ASSOCIATION])
        for person in self.people:
            if person in (self.citizen, self.representative):
                person.stored = dict(person.traits)
            else:
                self.consent(person)
        self.store_attributes(self.people)

    def sessions(self, process: Process) -> None:
        for index, spec in enumerate(SESSIONS):
            starts_at = self.at(spec.day, spec.start)
            ends_at = starts_at + timedelta(hours=spec.hours)
            held = index < HELD
            self.meetings.append(Meeting(
                process_id=process.id, title=spec.title, format=spec.format,
                starts_at=starts_at, ends_at=ends_at, location=spec.location,
                online_url=VISIO if spec.format != MeetingFormat.IN_PERSON else "",
                capacity=spec.capacity, agenda=spec.agenda,
                minutes=spec.minutes if held else "",
                closed_at=ends_at + timedelta(days=1, hours=self.rng.uniform(1, 20))
                if held else None,
                created_at=min(starts_at - timedelta(days=self.rng.uniform(25, 35)),
                               self.now - timedelta(days=self.rng.uniform(6, 9))),
            ))
        db.session.add_all(self.meetings)
        db.session.flush()

    def registration_weight(self, person: Person, index: int, invited: set[int],
                            invited_associations: set[int]) -> float:
        spec = SESSIONS[index]
        weight = person.engagement
        if person.participant.id in invited or \
                person.participant.association_id in invited_associations:
            weight *= 1.8
        if spec.format == MeetingFormat.ONLINE and person.prefers_online:
            weight *= 1.8
        if spec.format == MeetingFormat.IN_PERSON and person.prefers_online:
            weight *= 0.6
        if index == 3 and person.traits["district"] == "east":
            weight *= 2.5  # the walk takes place in the east district
        if person.attended and len(person.attended) < index // 2:
            weight *= 0.4  # came once or twice, then dropped out
        return weight

    def ledger(self) -> None:
        """Invitations, registrations, attendances and their snapshots, session by session."""
        rng = self.rng
        attendances: list[tuple[Attendance, Person]] = []
        demo_people = (self.citizen, self.representative)
        for index, (spec, meeting) in enumerate(zip(SESSIONS, self.meetings, strict=True)):
            held = index < HELD
            staff = self.staff_users[index % len(self.staff_users)]
            invited_at = max(min(meeting.starts_at - timedelta(days=rng.uniform(16, 20)),
                                 self.now - timedelta(days=rng.uniform(2, 4))),
                             meeting.created_at + timedelta(hours=2))
            # People with an account: walk-ins left no address to invite or register them by.
            eligible = [p for p in self.people if p.user is not None
                        and p.joined_at < meeting.starts_at - timedelta(days=1)]

            # Invitations: associations as a whole, internal people, and (after the first
            # session) most of the people who came before.
            for assoc_index in spec.associations:
                db.session.add(Invitation(meeting_id=meeting.id,
                                          association_id=self.associations[assoc_index].id,
                                          invited_at=invited_at, invited_by_id=staff.id))
            invited = [p for p in eligible
                       if not p.external or (p.attended and rng.random() < 0.7)]
            for person in invited:
                db.session.add(Invitation(
                    meeting_id=meeting.id, participant_id=person.participant.id,
                    invited_at=max(invited_at, person.joined_at), invited_by_id=staff.id))
            invited_ids = {p.participant.id for p in invited}
            invited_assocs = {self.associations[i].id for i in spec.associations}

            pool = [p for p in eligible if p.external and p not in demo_people]
            registrants = self.weighted_sample(
                pool, lambda p, i=index, ids=invited_ids, a=invited_assocs:
                self.registration_weight(p, i, ids, a), spec.registrations)
            if index in (0, 1, 3, 4):  # the demo citizen's history, and a session to come
                registrants.append(self.citizen)
            if index in (1, 3, 5):
                registrants.append(self.representative)
            registrants += rng.sample(self.internal(Role.ELECTED), 2 if index in (0, 5) else 1)
            if spec.format != MeetingFormat.ONLINE:
                registrants += self.internal(Role.STAFF)[:2]  # they run the session

            live: list[Person] = []
            latest = min(meeting.starts_at - timedelta(hours=2), self.now)
            cancel_by = min(meeting.starts_at, self.now)
            for person in registrants:
                registered_at = self.between(max(person.joined_at, invited_at
                                                 - timedelta(days=3)), latest)
                registration = Registration(meeting_id=meeting.id,
                                            participant_id=person.participant.id,
                                            registered_at=registered_at)
                db.session.add(registration)
                if person.external and person not in demo_people and \
                        rng.random() < 0.11 and registered_at < cancel_by:
                    registration.cancelled_at = self.between(registered_at, cancel_by)
                    if rng.random() < 0.25:
                        # Changed their mind again: a new row, the ledger keeps both.
                        db.session.add(Registration(
                            meeting_id=meeting.id, participant_id=person.participant.id,
                            registered_at=self.between(registration.cancelled_at,
                                                       cancel_by)))
                        live.append(person)
                else:
                    live.append(person)
            if held:
                attendances += self.attend(index, meeting, eligible, live, staff)
        db.session.flush()
        self.attendances = attendances
        self.store_attributes([p for p in self.people if p.user is None])
        for attendance, person in attendances:
            db.session.add_all(
                AttendanceSnapshot(attendance_id=attendance.id, dimension=dimension,
                                   category=category)
                for dimension, category in person.stored.items())

    def attend(self, index: int, meeting: Meeting, eligible: list[Person], live: list[Person],
               staff: User) -> list[tuple[Attendance, Person]]:
        """No-shows, registered people who came, and others who walked in."""
        rng = self.rng
        spec = SESSIONS[index]
        demo_people = (self.citizen, self.representative)
        comers: list[tuple[Person | None, bool]] = []
        for person in live:
            show = 0.93 if not person.external else 0.55 + 0.4 * person.engagement
            if person.traits["age_band"] == "18-29":
                show -= 0.15
            if person in demo_people or rng.random() < show:
                comers.append((person, False))
        if spec.format != MeetingFormat.ONLINE:
            live_ids = {p.participant.id for p in live}
            unregistered = [p for p in eligible if p.external and p not in demo_people
                            and p.participant.id not in live_ids]
            comers += [(p, True) for p in rng.sample(unregistered, 3)]
            comers += [(None, True)] * spec.walk_ins  # people without an account
        rows: list[tuple[Attendance, Person]] = []
        for person, walk_in in comers[:spec.capacity]:
            online = spec.format == MeetingFormat.ONLINE or (
                spec.format == MeetingFormat.HYBRID and person is not None
                and person.prefers_online and not walk_in)
            if online:
                checked_in_at = meeting.starts_at + timedelta(minutes=rng.uniform(-5, 15))
            else:
                checked_in_at = meeting.starts_at + timedelta(minutes=rng.uniform(-20, 30))
            if person is None:
                person = self.walk_in(checked_in_at, east=index == 3)
            attendance = Attendance(
                meeting_id=meeting.id, participant=person.participant,
                mode=AttendanceMode.ONLINE if online else AttendanceMode.IN_PERSON,
                checked_in_at=checked_in_at,
                # Joining online records itself; at the door a staff member checks people in.
                checked_in_by_id=None if online else staff.id, walk_in=walk_in)
            db.session.add(attendance)
            rows.append((attendance, person))
            person.attended.append(index)
        return rows

    def speaking_turns(self) -> None:
        """Who had the floor in the held sessions, as staff recorded it from the attendance
        lists: officials take a large share of the time (the kick-off above all), residents'
        turns are shorter, many attendees never speak. One person at a time has the floor, so
        nobody's turns overlap; nobody speaks before checking in. A generator of its own, so
        that the rest of the demo stays as it was."""
        rng = random.Random(SEED + 2)
        present: dict[int, list[tuple[Attendance, Person]]] = {}
        for attendance, person in self.attendances:
            present.setdefault(attendance.meeting_id, []).append((attendance, person))
        turns: list[SpeakingTurn] = []
        for index, plan in enumerate(SPEAKING_PLANS[:HELD]):
            meeting = self.meetings[index]
            assert meeting.ends_at is not None
            staff = self.staff_users[index % len(self.staff_users)]
            arrived = {id(p): a.checked_in_at for a, p in present.get(meeting.id, [])}
            officials = sorted((p for _, p in present.get(meeting.id, []) if not p.external),
                               key=lambda p: (p.role != Role.ELECTED, arrived[id(p)]))
            externals = [p for _, p in present.get(meeting.id, []) if p.external]
            # Who takes the floor at all, and how readily: the young less often.
            weights = [(0.3 + p.engagement) * (0.5 if p.traits["age_band"] == "18-29" else 1.0)
                       for p in externals]
            speakers: list[Person] = []
            for _ in range(min(len(externals), max(3, round(plan.speakers * len(externals))))):
                i = rng.choices(range(len(externals)), weights=weights, k=1)[0]
                speakers.append(externals.pop(i))
                weights.pop(i)
            talkative = {id(p): rng.uniform(0.3, 1.0) for p in speakers}
            clock = meeting.starts_at + timedelta(minutes=rng.uniform(2, 6))
            closing_at = meeting.ends_at - timedelta(minutes=rng.uniform(6, 10))

            def turn(person: Person, seconds: float, at: datetime,
                     meeting: Meeting = meeting, staff: User = staff,
                     arrived: dict[int, datetime] = arrived) -> datetime:
                start = max(at, arrived[id(person)] + timedelta(seconds=30))
                end = start + timedelta(seconds=round(seconds))
                turns.append(SpeakingTurn(meeting_id=meeting.id,
                                          participant_id=person.participant.id,
                                          started_at=start, ended_at=end,
                                          recorded_by_id=staff.id))
                return end + timedelta(seconds=rng.randint(3, 20))

            def official_at(at: datetime, officials: list[Person] = officials,
                            arrived: dict[int, datetime] = arrived) -> Person | None:
                here = [p for p in officials if arrived[id(p)] <= at]
                return rng.choice(here) if here else None

            def resident_at(at: datetime, speakers: list[Person] = speakers,
                            talkative: dict[int, float] = talkative,
                            arrived: dict[int, datetime] = arrived) -> Person | None:
                here = [p for p in speakers if arrived[id(p)] <= at]
                if not here:
                    return None
                return rng.choices(here, weights=[talkative[id(p)] for p in here], k=1)[0]

            lead = officials[0] if officials else None
            if lead is not None:
                clock = turn(lead, 60 * rng.uniform(*plan.opening), clock)
                if len(officials) > 1 and plan.presentation[1] > 0:
                    clock = turn(officials[1], 60 * rng.uniform(*plan.presentation), clock)
            clock += timedelta(minutes=plan.pause)
            for _ in range(plan.reporters):
                reporter = resident_at(clock)
                if reporter is not None:
                    clock = turn(reporter, 60 * rng.uniform(3, 6), clock)
            while clock < closing_at - timedelta(minutes=4):
                resident = resident_at(clock)
                if resident is None:
                    break
                clock = turn(resident, rng.uniform(*plan.resident), clock)
                official = official_at(clock)
                if official is not None and rng.random() < plan.answer_rate:
                    clock = turn(official, rng.uniform(*plan.answer), clock)
            if lead is not None:
                turn(lead, 60 * rng.uniform(3, 5), max(clock, closing_at))
        db.session.add_all(turns)

    def walk_in(self, checked_in_at: datetime, *, east: bool) -> Person:
        traits = self.traits(younger=east, district="east" if east else None)
        first, last = self.name_for(traits["gender"])
        participant = Participant(kind=ParticipantKind.CITIZEN,
                                  display_name=f"{first} {last[0]}.",
                                  created_at=checked_in_at)
        db.session.add(participant)
        person = Person(participant=participant, user=None, joined_at=checked_in_at,
                        traits=traits, engagement=0.2)
        # Walk-ins fill in the paper form at the door; fewer of them answer its questions.
        if self.rng.random() < 0.65:
            person.stored = dict(traits)
        self.people.append(person)
        return person

    def proposals(self, process: Process) -> list[tuple[Proposal, ProposalSpec]]:
        rng = self.rng
        co_creation_start = self.at(PHASES[1][1], time(8, 0))
        answerers = [*self.elected_users[:2], self.staff_users[0]]
        contributors = [p for p in self.people
                        if p.user is not None and p.external and p.attended]
        latest_answer = self.now - timedelta(days=1)
        proposals: list[tuple[Proposal, ProposalSpec]] = []
        for number, spec in enumerate(PROPOSALS):
            author = self.proposal_author(spec, contributors)
            if spec.session:  # written up after the session it came from
                created_at = self.meetings[spec.session].ends_at + timedelta(
                    days=rng.uniform(0.2, 4))
            elif spec.session == 0:  # the kick-off preceded the co-creation phase
                created_at = co_creation_start + timedelta(days=rng.uniform(0.1, 3))
            elif spec.answers:  # answered: published early enough to have been examined
                created_at = self.between(co_creation_start, self.now - timedelta(days=20))
            else:
                created_at = self.between(co_creation_start, self.now - timedelta(days=2))
            created_at = max(created_at, author.joined_at + timedelta(hours=1))
            proposal = Proposal(
                process_id=process.id, author_id=author.participant.id,
                meeting_id=self.meetings[spec.session].id if spec.session is not None else None,
                association_id=self.associations[spec.association].id
                if spec.association is not None else None,
                title=spec.title, body=spec.body, state=spec.state, created_at=created_at)
            proposal.goals = [g for g in process.goals if g.number in spec.goals]
            if spec.state != ProposalState.DRAFT:
                proposal.published_at = min(created_at + timedelta(hours=rng.uniform(0.2, 30)),
                                            self.now - timedelta(hours=3))
            if spec.state == ProposalState.WITHDRAWN:
                assert proposal.published_at is not None
                proposal.withdrawn_at = self.between(proposal.published_at + timedelta(days=1),
                                                     self.now - timedelta(hours=2))
            answered_at: datetime | None = None
            for step, (state, rationale) in enumerate(spec.answers):
                assert proposal.published_at is not None
                if answered_at is None:
                    answered_at = self.between(
                        proposal.published_at + timedelta(days=4),
                        min(proposal.published_at + timedelta(days=12), latest_answer))
                else:
                    answered_at = self.between(answered_at + timedelta(days=2),
                                               max(answered_at + timedelta(days=3),
                                                   latest_answer - timedelta(days=3)))
                actor = answerers[(number + step) % len(answerers)]
                proposal.answers.append(Answer(state=state, rationale=rationale,
                                               answered_by_id=actor.id,
                                               answered_at=answered_at))
                # The proposal keeps the first answer's date and the latest answer's reasons.
                proposal.answered_at = proposal.answered_at or answered_at
                proposal.answer_rationale = rationale or None
            if spec.updates:
                assert answered_at is not None
                times = sorted(self.between(answered_at + timedelta(hours=6),
                                            self.now - timedelta(hours=6))
                               for _ in spec.updates)
                proposal.updates = [
                    ImplementationUpdate(progress=progress, body=body,
                                         author_id=self.staff_users[0].id, created_at=created)
                    for (progress, body), created in zip(spec.updates, times, strict=True)]
            db.session.add(proposal)
            proposals.append((proposal, spec))
        db.session.flush()
        for proposal, _spec in proposals:
            self.answer_trail(proposal)
        return proposals

    def answer_trail(self, proposal: Proposal) -> None:
        """The audit rows and notifications that answering and reporting progress leave, with
        the same actions, details and messages as the proposal services."""
        author_user = next((p.user for p in self.people
                            if p.participant.id == proposal.author_id), None)
        demo_users = (self.citizen.user, self.representative.user)
        previous = ProposalState.PUBLISHED
        events: list[tuple[datetime, str, str, dict]] = []
        for answer in proposal.answers:
            self.audit.append(AuditLog(
                actor_id=answer.answered_by_id, action="proposal.answer",
                target_type="proposal", target_id=proposal.id, process_id=proposal.process_id,
                details={"answer_id": answer.id, "state": answer.state.value,
                         "previous_state": previous.value},
                created_at=answer.answered_at))
            previous = answer.state
            events.append((answer.answered_at, "proposal.answer",
                           ANSWER_MESSAGES[answer.state], {"title": proposal.title}))
        for update in proposal.updates:
            self.audit.append(AuditLog(
                actor_id=update.author_id, action="proposal.implementation_update",
                target_type="proposal", target_id=proposal.id, process_id=proposal.process_id,
                details={"update_id": update.id, "progress": update.progress},
                created_at=update.created_at))
            events.append((update.created_at, "proposal.update", UPDATE_MESSAGE,
                           {"title": proposal.title, "progress": update.progress}))
        if author_user is None:
            return
        for when, kind, message, params in events:
            row = notify(author_user.id, kind, message, params=params,
                         link=proposal_path(proposal.id))
            if row is not None:
                row.created_at = when
                # Other people have read theirs; the demo logins find theirs unread.
                if author_user not in demo_users:
                    row.read_at = when + timedelta(hours=self.rng.uniform(2, 60))

    def absence_reasons(self) -> None:
        """The staff asked the absent people of the last two held sessions why; most answered.
        A generator of its own, so that the rest of the demo stays as it was."""
        from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
        from pvplatform.ledger.services import ABSENCE_MESSAGES, absent_people, answer_path

        rng = random.Random(SEED + 1)
        demo_users = {self.citizen.user, self.representative.user}
        users = {p.user.id: p.user for p in self.people if p.user is not None}
        db.session.flush()
        for index in range(max(HELD - 2, 0), HELD):
            meeting = self.meetings[index]
            staff = self.staff_users[index % len(self.staff_users)]
            asked_at = (meeting.ends_at or meeting.starts_at) + timedelta(days=1, hours=2)
            rows = []
            for participant_id, user_id, kind in absent_people(meeting, asked_at):
                row = AbsenceRequest(meeting_id=meeting.id, participant_id=participant_id,
                                     kind=kind, created_at=asked_at, created_by_id=staff.id)
                user = users.get(user_id)
                # The demo logins find their question still open.
                if user not in demo_users and rng.random() < 0.7:
                    reasons, weights = zip(*ABSENCE_WEIGHTS[kind], strict=True)
                    row.reason = AbsenceReason(rng.choices(reasons, weights=weights, k=1)[0])
                    row.answered_at = asked_at + timedelta(hours=rng.uniform(1, 72))
                    if row.reason == AbsenceReason.OTHER:
                        row.other_text = rng.choice(ABSENCE_OTHER_TEXTS)
                db.session.add(row)
                rows.append((row, user))
            db.session.flush()
            for row, user in rows:
                note = notify(user.id if user else None, "absence.request",
                              ABSENCE_MESSAGES[AbsenceKind(row.kind)],
                              params={"title": meeting.title}, link=answer_path(row.id))
                if note is not None:
                    note.created_at = asked_at
                    if row.answered_at is not None:
                        note.read_at = row.answered_at
            if rows:
                self.audit.append(AuditLog(
                    actor_id=staff.id, action="absence.request", target_type="session",
                    target_id=meeting.id, process_id=meeting.process_id,
                    details={"requests": len(rows)}, created_at=asked_at))

    # ---------------------------------------------------------------- perceived public value
    def perceived_value(self, process: Process) -> None:
        """The public values catalogue, the baseline and final waves, the session pulses: who
        was offered what, when, and what they answered. Generators of their own, so that the
        rest of the demo stays as it was, and so that scores (drawn per person, answered or not)
        do not shift when who answers does."""
        rng = random.Random(SEED + 3)
        values = self.catalogue(process)
        trails = self.trails(process)
        scores = self.latent_scores(trails)
        demo_people = (self.citizen, self.representative)
        staff = self.logins[Role.STAFF]
        survey = SurveyRows(process=process, values=values, now=self.now, rng=rng,
                            unread=(self.citizen.user, self.representative.user))

        # The baseline: offered as it opens to everyone taking part or registered, and to the
        # officials; then to each newcomer at their first step while it is open.
        opens, closes = self.at(*BASELINE_OPENS), self.at(*BASELINE_CLOSES)
        reminder = self.at(*BASELINE_REMINDED)
        asked_why = self.asked_why(process, trails, closes)
        baseline: dict[Person, datetime] = {}  # respondents, when they answered
        at_opening = 0
        for person in self.people:
            trail = trails[person.participant.id]
            asked = asked_why.get(person.participant.id)
            if not person.external or trail.in_circle(opens):
                offered: datetime | None = opens
                at_opening += 1
            else:
                offered = trail.first_step(opens, closes) or asked
            if offered is None:
                continue
            answered = None
            if offered < closes - timedelta(hours=2):
                if not person.external or person in demo_people:
                    answered = self.answer_time(rng, offered, closes, reminder=reminder)
                elif asked is not None:
                    # Never came, asked why, and answered the survey the message pointed to:
                    # the comparison group of people the sessions did not touch.
                    if rng.random() < 0.75:
                        answered = self.answer_time(rng, max(asked, offered), closes)
                elif person.user is None:
                    # A walk-in answers at the desk, on their phone, or never.
                    if rng.random() < 0.3:
                        answered = offered + timedelta(minutes=rng.uniform(3, 40))
                elif rng.random() < 0.45 + 0.4 * person.engagement:
                    answered = self.answer_time(rng, offered, closes, reminder=reminder)
            survey.offer(person, Wave.BASELINE, offered, answered, reminded=reminder)
            if answered is not None:
                baseline[person] = answered
                survey.answer(person, Wave.BASELINE, answered,
                              {code: pair[0] for code, pair in scores[person].items()})
        db.session.add(SurveyWave(process_id=process.id, wave=Wave.BASELINE, opened_at=opens,
                                  opened_by_id=staff.id, closed_at=closes,
                                  closed_by_id=staff.id))
        self.audit.append(AuditLog(
            actor_id=staff.id, action="survey_opened", target_type="process",
            target_id=process.id, process_id=process.id,
            details={"wave": Wave.BASELINE.value, "offered": at_opening}, created_at=opens))
        self.wave_reminder(process, survey, Wave.BASELINE, reminder)
        self.audit.append(AuditLog(
            actor_id=staff.id, action="survey_closed", target_type="process",
            target_id=process.id, process_id=process.id,
            details={"wave": Wave.BASELINE.value}, created_at=closes))

        # The final wave, still open: everyone who took part (those who dropped out too), the
        # baseline's respondents and the officials. Fewer answer, those who stopped coming
        # fewer still; the demo logins find it waiting for them.
        opens, reminder = self.at(*FINAL_OPENS), self.at(*FINAL_REMINDED)
        at_opening = 0
        last_two = {HELD - 2, HELD - 1}
        silent_official = self.elected_users[-1]
        for person in self.people:
            trail = trails[person.participant.id]
            if not person.external or person in baseline or trail.in_circle(opens):
                offered = opens
                at_opening += 1
            else:
                offered = trail.first_step(opens, self.now)
            if offered is None:
                continue
            if not person.external:
                chance = 0.0 if person.user is silent_official else 1.0
            elif person in demo_people or person.user is None:
                chance = 0.0  # walk-ins left no address; the demo logins may answer it
            else:
                # Who answered once answers again more readily.
                answered_before = person in baseline
                if not person.attended:
                    chance = 0.55 if answered_before else 0.08
                elif not last_two & set(person.attended):
                    chance = 0.45 if answered_before else 0.05
                else:
                    chance = (0.7 if answered_before else 0.12) + 0.2 * person.engagement
            answered = None
            if offered < self.now - timedelta(hours=2) and rng.random() < chance:
                answered = self.answer_time(rng, offered, self.now, reminder=reminder)
            survey.offer(person, Wave.FINAL, offered, answered, reminded=reminder)
            if answered is not None:
                survey.answer(person, Wave.FINAL, answered,
                              {code: pair[1] for code, pair in scores[person].items()})
        db.session.add(SurveyWave(process_id=process.id, wave=Wave.FINAL, opened_at=opens,
                                  opened_by_id=staff.id))
        self.audit.append(AuditLog(
            actor_id=staff.id, action="survey_opened", target_type="process",
            target_id=process.id, process_id=process.id,
            details={"wave": Wave.FINAL.value, "offered": at_opening}, created_at=opens))
        self.wave_reminder(process, survey, Wave.FINAL, reminder)

        self.pulses(survey)
        survey.write()

    def wave_reminder(self, process: Process, survey: SurveyRows, wave: Wave,
                      at: datetime) -> None:
        """The audit row of the wave's one reminder, as the reminder service leaves it."""
        if survey.reminded[(wave, None)]:
            self.audit.append(AuditLog(
                actor_id=self.logins[Role.STAFF].id, action="survey.remind",
                target_type="process", target_id=process.id, process_id=process.id,
                details={"wave": wave.value, "reminded": survey.reminded[(wave, None)]},
                created_at=at))

    def catalogue(self, process: Process) -> dict[str, PublicValue]:
        values = {
            value.code: PublicValue(process_id=process.id, code=value.code, name=value.name,
                                    name_en=value.name_en, statement=value.statement,
                                    statement_en=value.statement_en, position=position)
            for position, value in enumerate(DEFAULT_VALUES, start=1)}
        db.session.add_all(values.values())
        db.session.flush()
        return values

    def trails(self, process: Process) -> defaultdict[int, Trail]:
        """Per participant id, what survey offers follow: registrations, check-ins and the first
        act online, as the indicator engine counts them (on published proposals)."""
        trails: defaultdict[int, Trail] = defaultdict(Trail)
        for pid, registered, cancelled, starts in db.session.execute(
                sa.select(Registration.participant_id, Registration.registered_at,
                          Registration.cancelled_at, Meeting.starts_at)
                .join(Meeting, Meeting.id == Registration.meeting_id)
                .where(Meeting.process_id == process.id)):
            trails[pid].registrations.append((registered, cancelled, starts))
        for attendance, person in self.attendances:
            trails[person.participant.id].checked_in.append(attendance.checked_in_at)
        published = sa.and_(Proposal.process_id == process.id, Proposal.published_at.is_not(None))
        for stmt in (
            sa.select(Proposal.author_id, sa.func.min(Proposal.published_at))
            .where(published).group_by(Proposal.author_id),
            sa.select(Comment.author_id, sa.func.min(Comment.created_at))
            .join(Proposal, Proposal.id == Comment.proposal_id)
            .where(published).group_by(Comment.author_id),
            sa.select(Vote.participant_id, sa.func.min(Vote.cast_at))
            .join(Proposal, Proposal.id == Vote.proposal_id)
            .where(published).group_by(Vote.participant_id),
        ):
            for pid, first in db.session.execute(stmt):
                trail = trails[pid]
                trail.online = first if trail.online is None else min(trail.online, first)
        return trails

    def asked_why(self, process: Process, trails: dict[int, Trail],
                  closes: datetime) -> dict[int, datetime]:
        """External people who never came to any session and were asked why while the baseline
        was open (with a day left to answer): participant id -> when they were asked."""
        from pvplatform.ledger.models import AbsenceRequest

        external = {p.participant.id for p in self.people if p.external}
        asked: dict[int, datetime] = {}
        for pid, at in db.session.execute(
                sa.select(AbsenceRequest.participant_id, AbsenceRequest.created_at)
                .join(Meeting, Meeting.id == AbsenceRequest.meeting_id)
                .where(Meeting.process_id == process.id,
                       AbsenceRequest.created_at < closes - timedelta(days=1))
                .order_by(AbsenceRequest.created_at, AbsenceRequest.participant_id)):
            if pid in external and not trails[pid].checked_in:
                asked.setdefault(pid, at)
        return asked

    def latent_scores(self, trails: dict[int, Trail]
                      ) -> dict[Person, dict[str, tuple[int | None, int | None]]]:
        """Everyone's (baseline, final) score per value, None for "don't know", whether or not
        they answer: drawn in a fixed order, so that who answers does not change them."""
        rng = random.Random(SEED + 4)
        last_two = {HELD - 2, HELD - 1}
        scores: dict[Person, dict[str, tuple[int | None, int | None]]] = {}
        for person in self.people:
            internal = not person.external
            trail = trails[person.participant.id]
            untouched = not trail.checked_in and trail.online is None
            dropped = bool(person.external and person.attended
                           and not last_two & set(person.attended))
            row: dict[str, tuple[int | None, int | None]] = {}
            for code, story in VALUE_STORIES.items():
                before = rng.choices(SCORES, weights=story.internal if internal
                                     else story.external)[0]
                if internal:
                    weights = story.internal_change
                elif untouched:
                    weights = COMPARISON_CHANGE
                else:
                    weights = story.external_change
                change = rng.choices(CHANGES, weights=weights)[0]
                if rng.random() < DROPOUT_DROP and dropped and code in DROPOUT_VALUES:
                    change -= 1
                after = min(5, max(1, before + change))
                dont_know = story.dont_know[internal]
                row[code] = (None if rng.random() < dont_know else before,
                             None if rng.random() < dont_know else after)
            scores[person] = row
        return scores

    @staticmethod
    def answer_time(rng: random.Random, start: datetime, end: datetime, *,
                    reminder: datetime | None = None,
                    within: timedelta = timedelta(days=7)) -> datetime:
        """Most people answer within days of being asked, some only once reminded; all before
        `end`."""
        if reminder is not None and start < reminder < end - timedelta(hours=2) and \
                rng.random() < 0.3:
            start, within = reminder, timedelta(days=3)
        earliest = start + timedelta(minutes=5)
        latest = min(start + within, end - timedelta(hours=1))
        if latest <= earliest:
            return earliest
        return earliest + (latest - earliest) * rng.random() ** 2

    def pulses(self, survey: SurveyRows) -> None:
        """Three questions about each held session, sent to its attendees as it closes; about
        half answer, officials more often; a few leave a suggestion."""
        rng = survey.rng
        demo_people = (self.citizen, self.representative)
        present: dict[int, list[Person]] = {}
        for attendance, person in self.attendances:
            here = present.setdefault(attendance.meeting_id, [])
            if person not in here:
                here.append(person)
        for index in range(HELD):
            meeting = self.meetings[index]
            assert meeting.ends_at is not None
            sent = meeting.ends_at
            pulse = SessionPulse(meeting_id=meeting.id, sent_at=sent,
                                 sent_by_id=self.staff_users[index % len(self.staff_users)].id,
                                 closes_at=sent + PULSE_OPEN)
            survey.pulses.append(pulse)
            closes = min(pulse.closes_at, self.now)
            reminder = sent + PULSE_REMINDED
            respondents: list[tuple[Person, datetime]] = []
            for person in present.get(meeting.id, []):
                answered = None
                if person.user is None:
                    # The QR code shown at the door as people leave.
                    if rng.random() < 0.4:
                        answered = sent + timedelta(minutes=rng.uniform(2, 30))
                elif person in demo_people:
                    # They answered the closed pulses; an open one waits for them.
                    if not pulse.is_open(self.now):
                        answered = self.answer_time(rng, sent, closes, reminder=reminder,
                                                    within=timedelta(days=2))
                elif rng.random() < (0.7 if not person.external
                                     else 0.3 + 0.35 * person.engagement):
                    answered = self.answer_time(rng, sent, closes, reminder=reminder,
                                                within=timedelta(days=2))
                survey.offer(person, Wave.SESSION, sent, answered, meeting=meeting,
                             reminded=reminder)
                if answered is None:
                    continue
                bonus = 0.0 if person.external else PULSE_INTERNAL_BONUS
                survey.answer(person, Wave.SESSION, answered, {
                    code: None if rng.random() < 0.03 else
                    min(5, max(1, round(rng.gauss(means[index] + bonus, 0.8))))
                    for code, means in PULSE_STORY.items()}, meeting=meeting)
                respondents.append((person, answered))
            writers = [(p, at) for p, at in respondents if p.external and p not in demo_people]
            for (person, at), text in zip(rng.sample(writers, min(3, len(writers))),
                                          PULSE_SUGGESTIONS[index], strict=False):
                survey.suggestions.append(PulseComment(
                    meeting_id=meeting.id, participant_id=person.participant.id, text=text,
                    written_at=at))
            # The audit rows the pulse service leaves when sending and reminding.
            self.audit.append(AuditLog(
                actor_id=pulse.sent_by_id, action="pulse.send", target_type="session",
                target_id=meeting.id, process_id=meeting.process_id,
                details={"values": [survey.values[code].name for code in PULSE_STORY],
                         "asked": len(present.get(meeting.id, []))},
                created_at=sent))
            reminded = survey.reminded[(Wave.SESSION, meeting.id)]
            if reminded:
                self.audit.append(AuditLog(
                    actor_id=pulse.sent_by_id, action="pulse.remind", target_type="session",
                    target_id=meeting.id, process_id=meeting.process_id,
                    details={"reminded": reminded}, created_at=reminder))

    def proposal_author(self, spec: ProposalSpec, contributors: list[Person]) -> Person:
        if spec.author == "citizen":
            return self.citizen
        if spec.author == "association":
            return self.representative
        if spec.association is not None:
            assoc_id = self.associations[spec.association].id
            members = [p for p in contributors if p.participant.association_id == assoc_id]
            if members:
                return self.rng.choice(members)
        if spec.session is not None:
            came = [p for p in contributors if spec.session in p.attended]
            if came:
                return self.rng.choice(came)
        return self.rng.choice(contributors)

    def votes_and_comments(self, proposals: list[tuple[Proposal, ProposalSpec]]) -> None:
        rng = self.rng
        votes_open = self.at(PHASES[1][1], time(8, 0))
        with_account = [p for p in self.people if p.user is not None]
        # Officials can vote, but seldom do.
        weights = [(0.3 + p.engagement) if p.external else 0.1 for p in with_account]
        support = {ProposalState.ACCEPTED: 0.9, ProposalState.EVALUATING: 0.8,
                   ProposalState.REJECTED: 0.45, ProposalState.PUBLISHED: 0.75,
                   ProposalState.WITHDRAWN: 0.6}
        staff_person = self.internal(Role.STAFF)[0]
        for proposal, spec in proposals:
            if proposal.published_at is None:
                continue
            start = max(proposal.published_at, votes_open)
            end = proposal.withdrawn_at or self.now
            popularity = rng.betavariate(1.6, 3)
            pool = [(p, w) for p, w in zip(with_account, weights, strict=True)
                    if p.joined_at < end]
            if spec.author is None and rng.random() < 0.5:
                # Leave the demo citizen some proposals to vote on.
                pool = [(p, w) for p, w in pool if p is not self.citizen]
            lookup = {id(p): w for p, w in pool}
            voters = self.weighted_sample([p for p, _ in pool],
                                          lambda p, lookup=lookup: lookup[id(p)],
                                          int(4 + popularity * 45))
            for person in voters:
                db.session.add(Vote(
                    proposal_id=proposal.id, participant_id=person.participant.id,
                    value=1 if rng.random() < support[spec.state] else -1,
                    cast_at=self.between(max(start, person.joined_at), end)))
            commenters = [p for p, _ in pool]
            for _ in range(int(popularity * 7)):
                author = rng.choice(commenters)
                db.session.add(Comment(
                    proposal_id=proposal.id, author_id=author.participant.id,
                    body=rng.choice(COMMENTS),
                    created_at=self.between(max(proposal.published_at, author.joined_at),
                                            end)))
            if spec.state == ProposalState.PUBLISHED and rng.random() < 0.3:
                db.session.add(Comment(
                    proposal_id=proposal.id, author_id=staff_person.participant.id,
                    body=STAFF_COMMENT, created_at=self.between(proposal.published_at, end)))

    def moderation(self, process: Process,
                   proposals: list[tuple[Proposal, ProposalSpec]]) -> None:
        """A rude comment reported twice and hidden; a proposal reported, still in the queue."""
        rng = self.rng
        target = next(p for p, s in proposals if s.state == ProposalState.PUBLISHED)
        assert target.published_at is not None
        externals = [p for p in self.people if p.user is not None and p.external
                     and p not in (self.citizen, self.representative)]
        rude_author, *reporters = rng.sample(externals, 4)
        rude = Comment(proposal_id=target.id, author_id=rude_author.participant.id,
                       body=RUDE_COMMENT,
                       created_at=self.between(max(target.published_at, rude_author.joined_at),
                                               self.now - timedelta(days=1)))
        db.session.add(rude)
        db.session.flush()
        staff = self.logins[Role.STAFF]
        hidden_at = rude.created_at + timedelta(hours=5)
        reason = "Commentaire irrespectueux (charte de participation, article 3)."
        for hours, reporter in zip((2, 3), reporters[:2], strict=True):
            assert reporter.user is not None
            db.session.add(Report(
                target_type=ReportTarget.COMMENT, target_id=rude.id,
                reporter_id=reporter.user.id,
                reason="Propos méprisants envers les habitants du centre.",
                created_at=rude.created_at + timedelta(hours=hours), resolved_at=hidden_at))
        rude.hidden_at = hidden_at
        action = ModerationAction(
            target_type=ReportTarget.COMMENT, target_id=rude.id, kind=ModerationKind.HIDE,
            reason=reason, actor_id=staff.id, created_at=hidden_at)
        db.session.add(action)
        db.session.flush()
        self.audit.append(AuditLog(
            actor_id=staff.id, action="moderation.hide", target_type="comment",
            target_id=rude.id, process_id=process.id,
            details={"reason": reason, "moderation_action_id": action.id,
                     "reports_resolved": 2},
            created_at=hidden_at))
        off_topic = next(p for p, s in reversed(proposals) if s.state == ProposalState.PUBLISHED)
        assert reporters[2].user is not None
        db.session.add(Report(
            target_type=ReportTarget.PROPOSAL, target_id=off_topic.id,
            reporter_id=reporters[2].user.id,
            reason="Cette proposition relève du règlement de publicité, pas de l'Agenda 2030.",
            created_at=self.now - timedelta(hours=20)))


    def evaluation_access(self, process: Process) -> None:
        """The town's evaluation office reads the process's figures and, under a data-sharing
        agreement for the mid-term evaluation, its pseudonymised microdata."""
        admin, evaluator = self.logins[Role.ADMIN], self.logins[Role.EVALUATOR]
        granted_at = self.at(PHASES[0][1] - 10, time(10, 0))
        agreement_end = self.at(PHASES[-1][2] + 180, time(23, 59))
        for scope, purpose, expires_at in (
                (GrantScope.READ, "", None),
                (GrantScope.MICRODATA, MICRODATA_PURPOSE, agreement_end)):
            grant = EvaluatorGrant(user_id=evaluator.id, process_id=process.id, scope=scope,
                                   purpose=purpose, granted_at=granted_at,
                                   granted_by_id=admin.id, expires_at=expires_at)
            db.session.add(grant)
            db.session.flush()
            self.audit.append(AuditLog(
                actor_id=admin.id, action="evaluation.grant", target_type="evaluator_grant",
                target_id=grant.id, process_id=process.id, created_at=granted_at,
                details={"evaluator_id": evaluator.id, "scope": str(scope),
                         "expires_at": expires_at.isoformat() if expires_at else None,
                         "purpose": purpose}))


# ----------------------------------------------------------------------------- entry point

def find_demo_process() -> Process | None:
    return db.session.scalar(sa.select(Process).where(Process.external_ref == DEMO_REF)
                             .order_by(Process.id).limit(1))


def echo_logins(echo: Echo) -> None:
    echo("Demo logins (http://127.0.0.1:5000/auth/login):")
    width = max(len(login.email) for login in DEMO_LOGINS)
    for login in DEMO_LOGINS:
        echo(f"  {login.role.value:<12} {login.email:<{width}}  {login.password}")


def load_demo(*, if_empty: bool = False, echo: Echo = print,
              now: datetime | None = None) -> Process | None:
    """Load the demo process in one transaction; a second run changes nothing.

    Dates are placed relative to `now` (default: the current time). Returns the demo process,
    or None when `if_empty` found another process and did nothing.
    """
    existing = find_demo_process()
    if existing is not None:
        echo(f"The demo process is already loaded (process {existing.id}): nothing changed.")
        echo_logins(echo)
        return existing
    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Process)):
        echo("The database already holds a process: demo not loaded.")
        return None
    taken = list(db.session.scalars(
        sa.select(User.email).where(User.email.in_([login.email for login in DEMO_LOGINS]))
        .order_by(User.email)))
    if taken:
        raise click.ClickException(
            "These accounts exist already, the demo would clash with them: " + ", ".join(taken))

    zone = ZoneInfo(current_app.config.get("PV_TIMEZONE", "Europe/Paris"))
    builder = _Builder(now=now or utcnow(), zone=zone)
    try:
        process = builder.build()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    echo(f"Loaded the demo process of {TOWN} (process {process.id}): "
         f"{len(builder.people)} participants, {len(SESSIONS)} sessions, "
         f"{len(PROPOSALS)} proposals.")
    echo_logins(echo)
    return process
