"""Survey links for people without an account (walk-ins): staff show a QR code at the desk, the
person answers on their own phone. The signed token names one invitation and its person, for
this purpose only (its own salt), for SURVEY_LINK_LIFETIME; it can be used again while the
survey is open, since answers may be changed until it closes."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from pvplatform.core.lookup import valid_id
from pvplatform.errors import DomainError, InvalidState
from pvplatform.extensions import db
from pvplatform.feedback.models import SurveyInvitation

SURVEY_LINK_LIFETIME = timedelta(days=14)
SURVEY_LINK_SALT = "pvplatform.feedback.survey-link"


class SurveyLinkRefused(DomainError):
    """The link cannot be used: `reason` is "invalid" or "expired"."""

    status = 404

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(str(_l("This survey link has expired. Ask the staff for a new one."))
                         if reason == "expired" else
                         str(_l("This survey link is not valid.")))


def may_have_link(invitation: SurveyInvitation) -> bool:
    """Only people without an account: anyone with one answers signed in, where their
    answers are theirs alone."""
    return invitation.participant is not None and invitation.participant.user_id is None


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SURVEY_LINK_SALT)


def survey_link_token(invitation: SurveyInvitation, *, secret_key: str, now: datetime) -> str:
    if not may_have_link(invitation):
        raise InvalidState(str(_l("Only people without an account get a survey link; the "
                                  "others answer from their account.")))
    expires = int((now + SURVEY_LINK_LIFETIME).timestamp())
    return _serializer(secret_key).dumps(
        {"i": invitation.id, "p": invitation.participant_id, "e": expires})


def invitation_for_link(token: str, *, secret_key: str, now: datetime) -> SurveyInvitation:
    """The invitation a link names; SurveyLinkRefused for a token altered, signed for another
    purpose, expired, or whose invitation is gone or no longer that person's."""
    if not token or len(token) > 400:
        raise SurveyLinkRefused("invalid")
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature:
        raise SurveyLinkRefused("invalid") from None
    if not isinstance(payload, dict) or set(payload) != {"i", "p", "e"} \
            or not all(type(payload[k]) is int for k in ("i", "p", "e")):
        raise SurveyLinkRefused("invalid")
    ident = valid_id(payload["i"])
    invitation = db.session.get(SurveyInvitation, ident) if ident is not None else None
    if invitation is None or invitation.participant_id != payload["p"] \
            or not may_have_link(invitation):
        raise SurveyLinkRefused("invalid")
    if now.timestamp() > payload["e"]:
        raise SurveyLinkRefused("expired")
    return invitation
