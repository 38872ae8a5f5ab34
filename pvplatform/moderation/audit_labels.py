"""Plain-language names of the audit log's action and target codes.

The codes stay in the database (they are what the filter and evaluators match on); staff read
these names. A code without a name (a newer one) is shown as it is rather than hidden.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

ACTIONS = {
    "absence.request": _l("Absence reasons asked"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "account.create": _l("Account created"),
    "account.delete": _l("Account deleted"),
    "account.email_change": _l("E-mail address changed"),
    "association.approve": _l("Association approved"),
    "association.contact_set": _l("Association contact designated"),
    "association.contact_unset": _l("Association contact no longer designated"),
    "association.create": _l("Association created"),
    "association.member_add": _l("Member added to an association"),
    "association.member_approve": _l("Request to join an association approved"),
    "association.member_refuse": _l("Request to join an association refused"),
    "association.member_remove": _l("Member removed from an association"),
    "association.member_request": _l("Request to join an association"),
    "association.member_withdraw": _l("Request to join an association withdrawn"),
    "association.refuse": _l("Association refused"),
    "demographics.defaults": _l("Default demographic questions set"),
    "demographics.read": _l("Demographic answers read"),
    "dimension.create": _l("Demographic question added"),
    "dimension.delete": _l("Demographic question removed"),
    "dimension.update": _l("Demographic question changed"),
    "flag.acknowledge": _l("Risk flag acknowledged"),
    "local_target.create": _l("Local target added"),
    "login.unblock": _l("Login wait lifted"),
    "local_target.delete": _l("Local target removed"),
    "local_target.update": _l("Local target changed"),
    "moderation.dismiss": _l("Reports dismissed"),
    "moderation.hide": _l("Content hidden"),
    "moderation.restore": _l("Content restored"),
    "phase.create": _l("Phase added"),
    "phase.delete": _l("Phase removed"),
    "phase.update": _l("Phase changed"),
    "privacy.export": _l("Personal data downloaded"),
    "process.create": _l("Process created"),
    "process.import": _l("Process imported"),
    "process.update": _l("Process changed"),
    "proposal.answer": _l("Proposal answered"),
    "proposal.implementation_update": _l("Implementation update posted"),
    "public_value.correct": _l("Public value wording corrected (typo)"),
    "public_value.create": _l("Public value added"),
    "public_value.defaults": _l("Suggested public values used"),
    "public_value.move": _l("Public value moved"),
    "public_value.retire": _l("Public value retired"),
    "public_value.update": _l("Public value changed"),
    "pulse.close": _l("Session pulse closed"),
    "pulse.remind": _l("Session pulse reminder sent"),
    "pulse.send": _l("Session pulse sent"),
    "pulse.send_more": _l("Session pulse sent to attendees not asked yet"),
    "reference_population.update": _l("Reference population changed"),
    "session.close": _l("Session closed"),
    "session.create": _l("Session created"),
    "session.paper_sheet": _l("Paper sign-in sheet recorded"),
    "session.speaking_turn_delete": _l("Speaking turn deleted"),
    "session.update": _l("Session changed"),
    "session.walk_in_demographics": _l("Walk-in answered through their phone link"),
    "stratum.create": _l("Population category added"),
    "stratum.delete": _l("Population category removed"),
    "stratum.update": _l("Population category changed"),
    "survey.remind": _l("Survey reminder sent"),
    "survey_closed": _l("Survey closed"),
    "survey_opened": _l("Survey opened"),
    "survey_reopened": _l("Survey reopened"),
    "evaluation.grant": _l("Evaluator access granted"),
    "evaluation.revoke": _l("Evaluator access revoked"),
    "thresholds.update": _l("Flag thresholds changed"),
    "user.role_change": _l("Role changed"),
}

TARGETS = {
    "api_token": _l("API token no. %(id)s"),
    "association": _l("association no. %(id)s"),
    "attendance": _l("check-in no. %(id)s"),
    "comment": _l("comment no. %(id)s"),
    "dimension": _l("demographic question no. %(id)s"),
    "evaluator_grant": _l("evaluator access no. %(id)s"),
    "flag": _l("risk flag no. %(id)s"),
    "local_target": _l("local target no. %(id)s"),
    "participant": _l("participant no. %(id)s"),
    "phase": _l("phase no. %(id)s"),
    "process": _l("process no. %(id)s"),
    "proposal": _l("proposal no. %(id)s"),
    "public_value": _l("public value no. %(id)s"),
    "session": _l("session no. %(id)s"),
    "stratum": _l("population category no. %(id)s"),
    "user": _l("account no. %(id)s"),
}


def action_label(code: str) -> str:
    label = ACTIONS.get(code)
    return str(label) if label is not None else code


def target_label(target_type: str, target_id: int | None) -> str:
    if target_id is None:
        return target_type
    label = TARGETS.get(target_type)
    if label is None:
        return _("%(type)s no. %(id)s", type=target_type, id=target_id)
    return label % {"id": target_id}
