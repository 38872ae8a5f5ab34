"""SECURITY.md, Privacy (GDPR): "Download my data: everything of the user, nothing of anyone
else." Plus: "demographics read" and "export" are audited, the pages are `Cache-Control:
no-store`, and the download needs a fresh login."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role, User
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.feedback.models import Perception, PublicValue, Wave
from pvplatform.moderation.models import AuditLog, Report, TargetType
from pvplatform.notifications.services import notify
from pvplatform.participation.models import AttendanceSnapshot, ParticipantAttribute
from pvplatform.participation.services import participant_for
from pvplatform.privacy import services
from pvplatform.proposals.models import Answer, Comment, Proposal, ProposalState, Vote
from pvplatform.sessions.models import Attendance, Registration
from tests.conftest import login


def consent_model() -> Any:
    from pvplatform import models

    return getattr(models, "ConsentRecord", None)


def absence_model() -> Any:
    try:
        from pvplatform.ledger.models import AbsenceKind, AbsenceRequest
    except ImportError:  # pragma: no cover - the ledger feature is optional here
        return None, None
    return AbsenceRequest, AbsenceKind


def give_data(factory, user: User, process, meeting, other_proposal: Proposal | None,
              tag: str) -> dict[str, Any]:
    """Rows of every kind for `user`, each text carrying `tag`."""
    now = utcnow()
    participant = participant_for(user)
    proposal = Proposal(process_id=process.id, author_id=participant.id,
                        title=f"{tag}-TITLE", body=f"{tag}-BODY",
                        state=ProposalState.PUBLISHED, published_at=now)
    draft = Proposal(process_id=process.id, author_id=participant.id, title=f"{tag}-DRAFT",
                     body=f"{tag}-DRAFTBODY", state=ProposalState.DRAFT)
    proposal.goals = list(process.goals)
    _db.session.add_all([proposal, draft])
    _db.session.flush()
    rows: dict[str, Any] = {"participant": participant, "proposal": proposal, "draft": draft}
    target = other_proposal or proposal
    rows["comment"] = Comment(proposal_id=target.id, author_id=participant.id,
                              body=f"{tag}-COMMENT")
    rows["vote"] = Vote(proposal_id=target.id, participant_id=participant.id, value=1)
    rows["registration"] = Registration(meeting_id=meeting.id, participant_id=participant.id)
    attendance = Attendance(meeting_id=meeting.id, participant_id=participant.id,
                            mode="in_person", checked_in_at=now)
    _db.session.add_all([rows["comment"], rows["vote"], rows["registration"], attendance])
    _db.session.flush()
    rows["snapshot"] = AttendanceSnapshot(attendance_id=attendance.id, dimension="age_band",
                                          category=f"{tag.lower()}-snapshot")
    rows["attribute"] = ParticipantAttribute(participant_id=participant.id,
                                             dimension="age_band",
                                             category=f"{tag.lower()}-attribute")
    value = PublicValue(process_id=process.id, code=f"{tag.lower()}-value", name="Trust")
    _db.session.add_all([rows["snapshot"], rows["attribute"], value])
    _db.session.flush()
    rows["perception"] = Perception(participant_id=participant.id, public_value_id=value.id,
                                    wave=Wave.BASELINE, score=4, answered_at=now)
    rows["report"] = Report(target_type=TargetType.PROPOSAL, target_id=target.id,
                            reporter_id=user.id, reason=f"{tag}-REPORT")
    _db.session.add_all([rows["perception"], rows["report"]])
    notify(user.id, "test", f"{tag}-NOTIFICATION")
    consent = consent_model()
    if consent is not None:
        rows["consent"] = consent(participant_id=participant.id, purpose="demographics",
                                  text_version=f"{tag.lower()}-v1")
        _db.session.add(rows["consent"])
    absence, kind = absence_model()
    if absence is not None:
        rows["absence"] = absence(meeting_id=meeting.id, participant_id=participant.id,
                                  kind=list(kind)[0])
        _db.session.add(rows["absence"])
    rows["attendance"] = attendance
    _db.session.commit()
    return rows


@pytest.fixture
def two_people(factory):
    process = factory.process()
    meeting = factory.meeting(process, starts_at=utcnow() - timedelta(days=1))
    lea = factory.user(email="lea@example.org", name="Léa LEA-NAME")
    max_ = factory.user(email="max@example.org", name="Max MAX-NAME")
    lea_rows = give_data(factory, lea, process, meeting, None, "LEA")
    max_rows = give_data(factory, max_, process, meeting, lea_rows["proposal"], "MAX")
    # Léa votes and comments on Max's proposal too: her rows point at his, without his text.
    _db.session.add_all([
        Vote(proposal_id=max_rows["proposal"].id, participant_id=lea_rows["participant"].id,
             value=-1),
        Comment(proposal_id=max_rows["proposal"].id, author_id=lea_rows["participant"].id,
                body="LEA-ON-MAX"),
    ])
    official = factory.user(Role.ELECTED, email="mayor@example.org", name="Mayor OFFICIAL-NAME")
    _db.session.add(Answer(proposal_id=lea_rows["proposal"].id, state=ProposalState.EVALUATING,
                           rationale="OFFICIAL-RATIONALE", answered_by_id=official.id))
    _db.session.commit()
    return {"lea": lea, "max": max_, "official": official, "process": process,
            "lea_rows": lea_rows, "max_rows": max_rows}


def download(client) -> tuple[Any, dict[str, Any]]:
    response = client.post("/me/data")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response, json.loads(response.get_data(as_text=True))


def test_download_my_data_everything_of_the_user(client, two_people):
    login(client, two_people["lea"])
    response, data = download(client)
    text = response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert data["account"]["email"] == "lea@example.org"
    assert data["account"]["display_name"] == "Léa LEA-NAME"
    assert data["participants"][0]["id"] == two_people["lea_rows"]["participant"].id
    for marker in ("LEA-TITLE", "LEA-BODY", "LEA-DRAFT", "LEA-DRAFTBODY", "LEA-COMMENT",
                   "LEA-ON-MAX", "LEA-REPORT", "LEA-NOTIFICATION", "lea-snapshot",
                   "lea-attribute"):
        assert marker in text, marker
    records = data["records"]
    expected = {"proposals", "comments", "votes", "registrations", "attendances",
                "attendance_snapshots", "participant_attributes", "perceptions",
                "notifications", "reports", "proposal_goals"}
    if consent_model() is not None:
        expected.add("consent_records")
    if absence_model()[0] is not None:
        expected.add("absence_requests")
    assert expected <= set(records), expected - set(records)
    assert len(records["votes"]) == 2 and len(records["comments"]) == 2
    assert {v["value"] for v in records["votes"]} == {1, -1}
    # Rows without a person of their own come along with their parent: her proposal's goals.
    assert {g["proposal_id"] for g in records["proposal_goals"]} == {
        two_people["lea_rows"]["proposal"].id}


def test_download_my_data_nothing_of_anyone_else(client, two_people):
    login(client, two_people["lea"])
    response, data = download(client)
    text = response.get_data(as_text=True)
    for marker in ("MAX-", "max-", "max@example.org", "OFFICIAL-", "mayor@example.org"):
        assert marker not in text, marker
    # Not even the people's ids of other rows in tables she has rows in.
    max_participant = two_people["max_rows"]["participant"].id
    for table, rows in data["records"].items():
        for row in rows:
            assert row.get("participant_id") in (None, two_people["lea_rows"]["participant"].id)
            assert row.get("author_id") in (None, two_people["lea_rows"]["participant"].id), table
            assert row.get("user_id") in (None, two_people["lea"].id)
            assert row.get("participant_id") != max_participant


def test_download_my_data_without_secrets(client, two_people):
    lea = two_people["lea"]
    login(client, lea)
    response, data = download(client)
    text = response.get_data(as_text=True)
    assert "password_hash" not in data["account"] and "session_token" not in data["account"]
    assert lea.password_hash not in text and lea.session_token not in text


def test_download_my_data_audited_export_and_demographics_read(client, two_people, db):
    login(client, two_people["lea"])
    download(client)
    rows = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)).all()
    actions = [(r.action, r.actor_id, r.target_id) for r in rows]
    lea_id = two_people["lea"].id
    assert ("privacy.export", lea_id, lea_id) in actions
    assert ("demographics.read", lea_id, lea_id) in actions
    # The audit row names tables, never the demographic values.
    assert "lea-attribute" not in json.dumps([r.details for r in rows])


def test_download_my_data_no_demographics_no_demographics_read(client, factory, db):
    user = factory.user()
    login(client, user)
    download(client)
    actions = list(db.session.scalars(sa.select(AuditLog.action)))
    assert actions == ["privacy.export"]


def test_download_my_data_official_gets_their_answers(client, two_people):
    login(client, two_people["official"])
    response, data = download(client)
    text = response.get_data(as_text=True)
    assert [a["rationale"] for a in data["records"]["answers"]] == ["OFFICIAL-RATIONALE"]
    assert "LEA-TITLE" not in text and "LEA-BODY" not in text


def test_download_my_data_evaluator_without_participant(client, factory):
    user = factory.user(Role.EVALUATOR)
    login(client, user)
    response, data = download(client)
    assert data["account"]["role"] == "evaluator" and data["participants"] == []


def test_download_my_data_pages_not_cached(client, two_people):
    login(client, two_people["lea"])
    page = client.get("/me/data")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert b"Download my data" in page.data
    response = client.post("/me/data")
    assert response.headers["Cache-Control"] == "no-store"


def test_download_my_data_needs_login(client):
    for method in ("GET", "POST"):
        response = client.open("/me/data", method=method)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_download_my_data_new_tables_are_covered(client, factory, db):
    """A table added later with a participant column is in the export without any change."""
    extra = sa.Table(
        "test_extra_notes", db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("participant_id", sa.ForeignKey("participants.id")),
        sa.Column("note", sa.Text),
    )
    extra.create(db.engine)
    try:
        mine, theirs = factory.user(), factory.user()
        p_mine, p_theirs = factory.participant(mine), factory.participant(theirs)
        db.session.execute(extra.insert(), [
            {"participant_id": p_mine.id, "note": "MY-NOTE"},
            {"participant_id": p_theirs.id, "note": "THEIR-NOTE"},
        ])
        db.session.commit()
        records = services.collect_personal_data(mine)
        assert [r["note"] for r in records["test_extra_notes"]] == ["MY-NOTE"]
    finally:
        db.session.rollback()
        extra.drop(db.engine)
        db.metadata.remove(extra)


def test_download_my_data_every_person_column_is_considered(app):
    """Each column pointing at a user or participant is either exported or deliberately not."""
    seen = set()
    for table in _db.metadata.sorted_tables:
        for column, _kind in services._person_columns(table):
            seen.add((table.name, column.name))
    deliberate = services.ACTED_ON_OTHERS | {(t, c) for t, c in seen
                                             if t in services.NOT_EXPORTED
                                             or t in (services.USER_TABLE,
                                                      services.PARTICIPANT_TABLE)}
    exported = seen - deliberate
    for must in [("votes", "participant_id"), ("proposals", "author_id"),
                 ("comments", "author_id"), ("notifications", "user_id"),
                 ("reports", "reporter_id"), ("answers", "answered_by_id"),
                 ("participant_attributes", "participant_id"), ("attendances",
                                                                "participant_id")]:
        assert must in exported, must
    assert ("attendances", "checked_in_by_id") not in exported
