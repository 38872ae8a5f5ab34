"""Reports, hide / restore / dismiss, the moderation queue and the read-only audit log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.moderation.audit import record_audit
from pvplatform.moderation.models import (
    AuditLog,
    AuditLogIsAppendOnly,
    ModerationAction,
    ModerationKind,
    Report,
    TargetType,
)
from pvplatform.participation.services import participant_for
from pvplatform.proposals.models import Comment, Proposal, ProposalState


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def counts() -> dict[str, int]:
    return {m.__name__: count(m) for m in (Report, ModerationAction, AuditLog, Proposal,
                                           Comment)}


@pytest.fixture
def world(factory):
    process = factory.process()
    author = factory.user("citizen", name="Auteur")
    participant = participant_for(author)
    proposal = Proposal(process_id=process.id, author_id=participant.id,
                        title="Un skatepark", body="Près du stade.",
                        state=ProposalState.PUBLISHED, published_at=utcnow())
    _db.session.add(proposal)
    _db.session.flush()
    comment = Comment(proposal_id=proposal.id, author_id=participant.id,
                      body="Propos insultant ici")
    _db.session.add(comment)
    _db.session.commit()
    return {"process": process, "author": author, "proposal": proposal, "comment": comment}


def test_report_hide_restore_comment(client, factory, login_as, world):
    proposal, comment = world["proposal"], world["comment"]
    reporter = factory.user("citizen")
    login_as(reporter)
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Report this comment" in html and "Report this proposal" in html
    assert "Hide (moderation)" not in html
    response = client.post("/reports", data={"target_type": "comment",
                                             "target_id": str(comment.id),
                                             "reason": "Insulte"})
    assert response.status_code == 302
    report = _db.session.scalars(sa.select(Report)).one()
    assert (report.target_type, report.target_id, report.reporter_id) == (
        TargetType.COMMENT, comment.id, reporter.id)
    # The same person reporting again does not pile up reports.
    client.post("/reports", data={"target_type": "comment", "target_id": str(comment.id),
                                  "reason": "Encore"})
    assert count(Report) == 1
    # A non-staff user cannot hide.
    before = counts()
    assert client.post(f"/moderation/comment/{comment.id}/hide",
                       data={"reason": "Non"}).status_code == 403
    assert client.get("/moderation").status_code == 403
    assert client.get("/audit").status_code == 403
    assert counts() == before

    client.post("/auth/logout")
    staff = factory.user("staff")
    login_as(staff)
    queue = client.get("/moderation").get_data(as_text=True)
    assert "Propos insultant ici" in queue and "Insulte" in queue and "1 report" in queue
    response = client.post(f"/moderation/comment/{comment.id}/hide",
                           data={"reason": "Insulte envers un voisin", "next": "/moderation"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/moderation")
    _db.session.refresh(comment)
    _db.session.refresh(report)
    assert comment.hidden_at is not None and report.resolved_at is not None
    action = _db.session.scalars(sa.select(ModerationAction)).one()
    assert (action.kind, action.target_type, action.target_id, action.actor_id) == (
        ModerationKind.HIDE, TargetType.COMMENT, comment.id, staff.id)
    audit = _db.session.scalars(sa.select(AuditLog)).one()
    assert (audit.action, audit.target_type, audit.target_id, audit.actor_id) == (
        "moderation.hide", "comment", comment.id, staff.id)
    assert audit.details["reason"] == "Insulte envers un voisin"
    assert "No open report" in client.get("/moderation").get_data(as_text=True)
    # Staff still see the text, marked.
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Propos insultant ici" in html and "Restore (moderation)" in html
    # Hiding twice is refused.
    assert client.post(f"/moderation/comment/{comment.id}/hide",
                       data={"reason": "Encore"}).status_code == 409

    # Others see the placeholder.
    client.post("/auth/logout")
    html = client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    assert "Comment hidden by moderation" in html and "Propos insultant ici" not in html

    login_as(staff)
    response = client.post(f"/moderation/comment/{comment.id}/restore",
                           data={"reason": "Erreur de modération"})
    assert response.status_code == 302
    _db.session.refresh(comment)
    assert comment.hidden_at is None
    kinds = list(_db.session.scalars(sa.select(ModerationAction.kind)
                                     .order_by(ModerationAction.id)))
    assert kinds == [ModerationKind.HIDE, ModerationKind.RESTORE]
    actions = list(_db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["moderation.hide", "moderation.restore"]
    assert client.post(f"/moderation/comment/{comment.id}/restore",
                       data={"reason": "Encore"}).status_code == 409

    page = client.get("/audit").get_data(as_text=True)
    assert "moderation.hide" in page and "moderation.restore" in page


def test_hide_and_restore_a_proposal(client, factory, login_as, world):
    proposal = world["proposal"]
    reporter = factory.user("association")
    login_as(reporter)
    client.post("/reports", data={"target_type": "proposal", "target_id": str(proposal.id),
                                  "reason": "Publicité"})
    client.post("/auth/logout")
    login_as(factory.user("admin"))
    response = client.post(f"/moderation/proposal/{proposal.id}/hide",
                           data={"reason": "Publicité déguisée"})
    assert response.status_code == 302
    _db.session.refresh(proposal)
    assert proposal.hidden_at is not None
    assert _db.session.scalar(sa.select(Report.resolved_at)) is not None
    client.post("/auth/logout")
    assert client.get(f"/proposals/{proposal.id}").status_code == 404
    listing = client.get(f"/processes/{world['process'].id}/proposals").get_data(as_text=True)
    assert "Un skatepark" not in listing
    login_as(factory.user("staff"))
    assert client.post(f"/moderation/proposal/{proposal.id}/restore",
                       data={"reason": "Vérifié"}).status_code == 302
    client.post("/auth/logout")
    assert client.get(f"/proposals/{proposal.id}").status_code == 200
    assert count(ModerationAction) == 2
    assert [a for a in _db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id))] \
        == ["moderation.hide", "moderation.restore"]


def test_dismiss_closes_reports_without_hiding(client, factory, login_as, world):
    comment = world["comment"]
    login_as(factory.user("citizen"))
    client.post("/reports", data={"target_type": "comment", "target_id": str(comment.id),
                                  "reason": "Pas d'accord"})
    client.post("/auth/logout")
    login_as(factory.user("staff"))
    response = client.post(f"/moderation/comment/{comment.id}/dismiss",
                           data={"reason": "Désaccord n'est pas insulte"})
    assert response.status_code == 302
    _db.session.refresh(comment)
    assert comment.hidden_at is None
    assert _db.session.scalar(sa.select(Report.resolved_at)) is not None
    assert _db.session.scalar(sa.select(AuditLog.action)) == "moderation.dismiss"
    assert client.post(f"/moderation/comment/{comment.id}/dismiss",
                       data={"reason": "Encore"}).status_code == 409


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "evaluator"])
def test_non_staff_cannot_moderate(client, factory, login_as, world, role):
    login_as(factory.user(role))
    before = counts()
    for target, ident in (("proposal", world["proposal"].id), ("comment", world["comment"].id)):
        for action in ("hide", "restore", "dismiss"):
            response = client.post(f"/moderation/{target}/{ident}/{action}",
                                   data={"reason": "Je veux"})
            assert response.status_code == 403, (target, action)
    assert client.get("/moderation").status_code == 403
    assert client.get("/audit").status_code == 403
    assert counts() == before


def test_anonymous_is_sent_to_login(client, world):
    before = counts()
    for method, url, data in (
        ("post", "/reports", {"target_type": "comment", "target_id": "1", "reason": "x"}),
        ("post", f"/moderation/comment/{world['comment'].id}/hide", {"reason": "x"}),
        ("get", "/moderation", None),
        ("get", "/audit", None),
    ):
        response = getattr(client, method)(url, data=data)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert counts() == before


@pytest.mark.parametrize("data,status", [
    ({"target_type": "comment", "target_id": "999999", "reason": "x"}, 404),
    ({"target_type": "proposal", "target_id": "999999", "reason": "x"}, 404),
    ({"target_type": "user", "target_id": "1", "reason": "x"}, 422),
    ({"target_type": "comment", "target_id": "abc", "reason": "x"}, 422),
    ({"target_type": "comment", "target_id": str(2**63), "reason": "x"}, 422),
    ({"target_type": "comment", "target_id": "-1", "reason": "x"}, 422),
    ({"target_type": "comment", "target_id": "{comment}", "reason": ""}, 422),
    ({"target_type": "comment", "target_id": "{comment}", "reason": "   "}, 422),
    ({"target_type": "comment", "target_id": "{comment}", "reason": "x" * 20_001}, 422),
    ({"target_type": "comment", "target_id": "{comment}", "reason": "Nul\x00"}, 422),
    ({"target_type": "comment", "target_id": "{comment}", "reason": "\u202eInversé"}, 422),
    ({}, 422),
])
def test_bad_reports_are_refused(client, factory, login_as, world, data, status):
    data = {k: v.replace("{comment}", str(world["comment"].id)) for k, v in data.items()}
    login_as(factory.user("citizen"))
    before = counts()
    response = client.post("/reports", data=data)
    assert response.status_code == status
    assert counts() == before


def test_cannot_report_what_one_cannot_see(client, factory, login_as, world):
    proposal, comment = world["proposal"], world["comment"]
    draft = Proposal(process_id=world["process"].id, author_id=proposal.author_id,
                     title="Brouillon", body="...", state=ProposalState.DRAFT)
    _db.session.add(draft)
    comment.hidden_at = utcnow()
    _db.session.commit()
    login_as(factory.user("citizen"))
    before = counts()
    for target_type, ident in (("proposal", draft.id), ("comment", comment.id)):
        response = client.post("/reports", data={"target_type": target_type,
                                                 "target_id": str(ident), "reason": "x"})
        assert response.status_code == 404
    assert counts() == before


@pytest.mark.parametrize("reason", ["", "   ", "x" * 20_001, "Nul\x00"])
def test_bad_moderation_reasons_are_refused(client, factory, login_as, world, reason):
    login_as(factory.user("staff"))
    before = counts()
    response = client.post(f"/moderation/comment/{world['comment'].id}/hide",
                           data={"reason": reason})
    assert response.status_code == 422
    assert counts() == before
    _db.session.refresh(world["comment"])
    assert world["comment"].hidden_at is None


def test_unknown_moderation_targets_are_404(client, factory, login_as, world):
    login_as(factory.user("staff"))
    before = counts()
    for url in ("/moderation/user/1/hide", "/moderation/comment/999999/hide",
                "/moderation/proposal/999999/restore", f"/moderation/comment/{2**63}/hide"):
        assert client.post(url, data={"reason": "x"}).status_code == 404, url
    assert counts() == before


def test_open_redirect_is_refused_after_moderation(client, factory, login_as, world):
    login_as(factory.user("staff"))
    response = client.post(f"/moderation/comment/{world['comment'].id}/hide",
                           data={"reason": "x", "next": "//evil.example/"})
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


# ---------------------------------------------------------------- audit log

def test_audit_log_paginated_filtered_and_read_only(client, factory, login_as, world):
    staff = factory.user("staff", name="Agent Dupont")
    elected = factory.user("elected", name="Élue Martin")
    for i in range(60):
        record_audit(staff, "moderation.hide", "comment", i + 1)
    record_audit(elected, "proposal.answer", "proposal", world["proposal"].id)
    _db.session.commit()
    login_as(staff)
    page = client.get("/audit").get_data(as_text=True)
    assert "proposal.answer" in page  # newest first, on page 1
    assert "Next page" in page
    page2 = client.get("/audit", query_string={"page": 2}).get_data(as_text=True)
    assert "comment no. 1</td>" in page2 and "comment no. 1</td>" not in page
    only = client.get("/audit", query_string={"action": "proposal.answer"}).get_data(
        as_text=True)
    assert "Élue Martin" in only and "comment no." not in only
    by_actor = client.get("/audit", query_string={"actor": str(elected.id)}).get_data(
        as_text=True)
    assert "proposal.answer" in by_actor and "comment no." not in by_actor
    for bad in ({"action": "nope"}, {"actor": "abc"}, {"actor": "999999"},
                {"actor": str(2**63)}):
        assert client.get("/audit", query_string=bad).status_code == 422, bad
    # No route changes audit rows: nothing but GET is accepted on the page.
    assert client.post("/audit").status_code == 405
    assert client.delete("/audit").status_code == 405
    assert count(AuditLog) == 61


def test_audit_log_names_actions_and_targets_in_plain_french(client, factory, login_as, world):
    staff = factory.user("staff")
    record_audit(staff, "proposal.answer", "proposal", world["proposal"].id)
    record_audit(staff, "newer.code", "thing", 7)
    _db.session.commit()
    login_as(staff)
    page = client.get("/audit", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Réponse à une proposition" in page
    assert f"proposition n° {world['proposal'].id}</td>" in page
    # A code without a name yet is shown as it is, never hidden.
    assert "newer.code" in page and "thing n° 7</td>" in page
    options = client.get("/audit", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<option value="proposal.answer">Réponse à une proposition</option>' in options


def test_every_audited_action_of_the_code_has_a_name():
    """A new record_audit(...) code must come with its plain-language name."""
    import re
    from pathlib import Path

    from pvplatform.moderation.audit_labels import ACTIONS

    root = Path(__file__).resolve().parent.parent / "pvplatform"
    source = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    codes = set(re.findall(r'record_audit\(\s*[\w.]+,\s*"([a-z_.]+)"', source))
    codes |= {f"moderation.{kind}" for kind in ("hide", "restore")}
    assert len(codes) > 30
    assert sorted(codes - set(ACTIONS)) == []


def test_audit_rows_cannot_be_changed(factory, db):
    row = record_audit(None, "test.action", "proposal", 1)
    _db.session.commit()
    row.action = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.commit()
    _db.session.rollback()
    _db.session.delete(_db.session.get(AuditLog, row.id))
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.commit()
    _db.session.rollback()
    assert _db.session.scalar(sa.select(AuditLog.action)) == "test.action"


def test_elected_reads_no_audit(client, factory, login_as):
    login_as(factory.user("elected"))
    assert client.get("/audit").status_code == 403
