"""A small world with one object of every kind, and URLs for any rule of the app built from it.

Used by the role x route policy test and the CSRF test, which walk every rule of `app.url_map`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.moderation.models import Report, TargetType
from pvplatform.notifications.services import notify
from pvplatform.participation.services import participant_for
from pvplatform.processes.models import LocalTarget
from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote
from pvplatform.sessions.models import Registration

# URL argument name -> key of the world dict.
ARGUMENTS = {
    "process_id": "process_id",
    "meeting_id": "meeting_id",
    "proposal_id": "proposal_id",
    "comment_id": "comment_id",
    "user_id": "citizen_id",
    "association_id": "association_id",
    "phase_id": "phase_id",
    "target_id": "target_id",
    "registration_id": "registration_id",
    "report_id": "report_id",
    "notification_id": "notification_id",
    "target_type": "target_type",
    "filename": "filename",
    "id": "proposal_id",
    "absence_request_id": "absence_request_id",
    "token": "reset_token",
    "dimension_id": "dimension_id",
    "stratum_id": "stratum_id",
    "flag_id": "flag_id",
    "membership_request_id": "membership_request_id",
    "attendance_id": "walk_in_attendance_id",
    "value_id": "value_id",
    "wave": "wave",
    "invitation_id": "pulse_invitation_id",
    "grant_id": "grant_id",
    "token_id": "token_id",
    "fmt": "export_format",
    "family": "family",
}


def build_world() -> dict[str, Any]:
    """One of everything a route can take. Built with the flag refresh off: the world is a
    fixture of routes, not of indicators (its one flag is stored by hand), and the policy tests
    rebuild it after every state-changing request."""
    from flask import current_app

    from pvplatform.indicators.autorefresh import MODE_KEY, OFF

    config = current_app.config
    had, mode = MODE_KEY in config, config.get(MODE_KEY)
    config[MODE_KEY] = OFF
    try:
        return _build_world()
    finally:
        if had:
            config[MODE_KEY] = mode
        else:
            del config[MODE_KEY]


def _build_world() -> dict[str, Any]:
    from tests.conftest import Factory

    f = Factory()
    association = f.association("Les Amis du Parc")
    users = {
        "admin": f.user("admin"),
        "staff": f.user("staff"),
        "elected": f.user("elected"),
        "evaluator": f.user("evaluator"),
        "citizen": f.user("citizen"),
        "association": f.user("association", association=association),
    }
    # associations: the member is its contact; the citizen asks to join it
    users["association"].association_contact = True
    from pvplatform.auth.models import MembershipRequest

    membership_request = MembershipRequest(user_id=users["citizen"].id,
                                           association_id=association.id, requested_at=utcnow())
    db.session.add(membership_request)
    process = f.process()
    meeting = f.meeting(process, starts_at=utcnow() + timedelta(days=3))
    author = participant_for(users["citizen"])
    registration = Registration(meeting_id=meeting.id, participant_id=author.id)
    proposal = Proposal(process_id=process.id, author_id=author.id, title="Plus d'arbres",
                        body="Planter des arbres rue Haute.", state=ProposalState.PUBLISHED,
                        published_at=utcnow())
    draft = Proposal(process_id=process.id, author_id=author.id, title="Brouillon",
                     body="Encore à écrire.", state=ProposalState.DRAFT)
    db.session.add_all([registration, proposal, draft])
    db.session.flush()
    comment = Comment(proposal_id=proposal.id, author_id=author.id, body="Oui !")
    vote = Vote(proposal_id=proposal.id, participant_id=author.id, value=1)
    target = LocalTarget(process_id=process.id, goal_number=11, code="11.a",
                         title="Des parcs à 10 minutes")
    db.session.add_all([comment, vote, target])
    db.session.flush()
    report = Report(target_type=TargetType.COMMENT, target_id=comment.id,
                    reporter_id=users["association"].id, reason="Hors sujet")
    note = notify(users["citizen"].id, "test", "Your proposal was answered.")
    db.session.add(report)
    # ledger: an absence question addressed to the citizen
    from pvplatform.ledger.models import AbsenceKind, AbsenceRequest

    absence = AbsenceRequest(meeting_id=meeting.id, participant_id=author.id,
                             kind=AbsenceKind.NO_SHOW)
    db.session.add(absence)
    from pvplatform.participation.models import Dimension, Stratum

    dimension = Dimension(process_id=process.id, code="age_band", label="Âge", position=0)
    stratum = Stratum(process_id=process.id, dimension="age_band", category="18-29",
                      label="18-29 ans", population_share=1.0)
    db.session.add_all([dimension, stratum])
    # sessions: a walk-in without an account, and the phone link staff would show them
    from flask import current_app

    from pvplatform.participation.services import create_walk_in
    from pvplatform.sessions.models import Attendance, AttendanceMode
    from pvplatform.sessions.services import walk_in_link_token

    walk_in = Attendance(meeting_id=meeting.id, participant_id=create_walk_in("Passant").id,
                         mode=AttendanceMode.IN_PERSON, walk_in=True)
    db.session.add(walk_in)
    db.session.commit()
    walk_in_token = walk_in_link_token(walk_in, secret_key=current_app.config["SECRET_KEY"],
                                       now=utcnow())
    # feedback: a catalogue value, the baseline open (offered to the citizen, who registered,
    # and to staff and elected officials), a pulse offered to the citizen and to the walk-in,
    # and the walk-in's survey link
    from pvplatform.feedback import surveys
    from pvplatform.feedback.links import survey_link_token
    from pvplatform.feedback.models import PublicValue, SessionPulse, Wave

    value = PublicValue(process_id=process.id, code="trust", name="Confiance",
                        statement="J'ai confiance dans la mairie.", position=1)
    db.session.add(value)
    db.session.flush()
    now = utcnow()
    surveys.open_wave(process, Wave.BASELINE, by=users["staff"], now=now)
    pulse = SessionPulse(meeting_id=meeting.id, sent_at=now, closes_at=now + timedelta(days=14))
    pulse.values = [value]
    db.session.add(pulse)
    surveys.offer(process, author, Wave.SESSION, now=now, meeting=meeting)
    pulse_invitation = surveys.offer(process, walk_in.participant, Wave.SESSION, now=now,
                                     meeting=meeting)
    db.session.commit()
    survey_token = survey_link_token(pulse_invitation,
                                     secret_key=current_app.config["SECRET_KEY"], now=now)
    # indicators: a stored flag (added after the commit that refreshes flags, so that it stays)
    from pvplatform.indicators.models import FlagRecord

    flag = FlagRecord(process_id=process.id, code="unreasoned_rejection", severity="warning",
                      key='["","","","",null,null]', value=1.0, message="A flag.", params={})
    db.session.add(flag)
    # evaluation: the evaluator's read access and data-sharing agreement on the process, and a
    # personal API token for every role (the API refuses the roles that may not hold one)
    import hashlib

    from pvplatform.evaluation.models import ApiToken, EvaluatorGrant, GrantScope

    read_grant = EvaluatorGrant(user_id=users["evaluator"].id, process_id=process.id,
                                scope=GrantScope.READ, granted_by_id=users["admin"].id,
                                granted_at=now)
    agreement = EvaluatorGrant(user_id=users["evaluator"].id, process_id=process.id,
                               scope=GrantScope.MICRODATA, granted_by_id=users["admin"].id,
                               granted_at=now, expires_at=now + timedelta(days=90),
                               purpose="Évaluation à mi-parcours")
    api_tokens = {role: f"pvp_world_{role}_token" for role in users}
    token_rows = {role: ApiToken(user_id=user.id, name=f"{role} token", prefix="pvp_world",
                                 token_hash=hashlib.sha256(api_tokens[role].encode()).hexdigest())
                  for role, user in users.items()}
    db.session.add_all([read_grant, agreement, *token_rows.values()])
    db.session.commit()
    return {
        "grant_id": read_grant.id,
        "api_tokens": api_tokens,
        "api_token_ids": {role: row.id for role, row in token_rows.items()},
        "token_id": token_rows["admin"].id,
        "export_format": "csv",
        "family": "funnel",
        "flag_id": flag.id,
        "users": {role: u.id for role, u in users.items()},
        "emails": {role: u.email for role, u in users.items()},
        "admin_email": users["admin"].email,
        "process_id": process.id,
        "phase_id": process.phases[0].id,
        "meeting_id": meeting.id,
        "proposal_id": proposal.id,
        "draft_id": draft.id,
        "comment_id": comment.id,
        "citizen_id": users["citizen"].id,
        "member_id": users["association"].id,
        "membership_request_id": membership_request.id,
        "association_id": association.id,
        "target_id": target.id,
        "registration_id": registration.id,
        "report_id": report.id,
        "notification_id": note.id if note else 1,
        "target_type": "comment",
        "filename": "css/app.css",
        "absence_request_id": absence.id,
        "reset_token": "not-a-valid-reset-token",
        "dimension_id": dimension.id,
        "stratum_id": stratum.id,
        "walk_in_attendance_id": walk_in.id,
        "walk_in_token": walk_in_token,
        "value_id": value.id,
        "wave": "baseline",
        "pulse_invitation_id": pulse_invitation.id,
        "survey_token": survey_token,
    }


def url_for_rule(app: Flask, rule: Rule, world: dict[str, Any],
                 overrides: dict[str, str] | None = None) -> str:
    """`overrides` maps a URL argument to another world key for this rule."""
    keys = {**ARGUMENTS, **(overrides or {})}
    values = {}
    for arg in rule.arguments:
        if arg not in keys:
            raise AssertionError(
                f"{rule.endpoint}: URL argument {arg!r} unknown to tests/route_params.py"
            )
        values[arg] = world[keys[arg]]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)
