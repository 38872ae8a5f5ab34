"""Imports every feature's models so that the metadata (and Alembic) knows all tables."""

from pvplatform.auth.models import Association, MembershipRequest, Role, User
from pvplatform.evaluation.models import (
    ApiToken,
    EvaluatorGrant,
    ExportChannel,
    ExportFormat,
    ExportRecord,
    GrantScope,
)
from pvplatform.feedback.models import (
    Perception,
    PublicValue,
    PulseComment,
    SessionPulse,
    SurveyInvitation,
    SurveyWave,
    Wave,
)
from pvplatform.indicators.models import FlagEvent, FlagRecord, ProcessThreshold
from pvplatform.jobs.models import RefreshRequest
from pvplatform.ledger.models import AbsenceKind, AbsenceReason, AbsenceRequest
from pvplatform.moderation.models import AuditLog, ModerationAction, Report
from pvplatform.notifications.models import Notification
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Dimension,
    Participant,
    ParticipantAttribute,
    ParticipantKind,
    Stratum,
)
from pvplatform.processes.models import LocalTarget, Phase, PhaseKind, Process, SdgGoal
from pvplatform.proposals.models import (
    Answer,
    Comment,
    ImplementationUpdate,
    Proposal,
    ProposalState,
    Vote,
)
from pvplatform.sessions.models import (
    Attendance,
    Invitation,
    Meeting,
    Registration,
    SpeakingTurn,
)

__all__ = [
    "AbsenceKind",
    "ApiToken",
    "EvaluatorGrant",
    "ExportChannel",
    "ExportFormat",
    "ExportRecord",
    "GrantScope",
    "AbsenceReason",
    "AbsenceRequest",
    "Answer",
    "Association",
    "Attendance",
    "AttendanceSnapshot",
    "AuditLog",
    "Comment",
    "ConsentRecord",
    "Dimension",
    "FlagEvent",
    "FlagRecord",
    "ImplementationUpdate",
    "Invitation",
    "LocalTarget",
    "Meeting",
    "MembershipRequest",
    "ModerationAction",
    "Notification",
    "Participant",
    "ParticipantAttribute",
    "ParticipantKind",
    "Perception",
    "Phase",
    "PhaseKind",
    "Process",
    "ProcessThreshold",
    "Proposal",
    "ProposalState",
    "PublicValue",
    "PulseComment",
    "RefreshRequest",
    "Registration",
    "Report",
    "Role",
    "SdgGoal",
    "SpeakingTurn",
    "SessionPulse",
    "Stratum",
    "SurveyInvitation",
    "SurveyWave",
    "User",
    "Vote",
    "Wave",
]
