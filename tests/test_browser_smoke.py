"""A resident's path in a real browser, CSRF and CSP on: the pages need no loosening of the CSP
(no inline script or style is blocked) and the forms work."""

from __future__ import annotations

import pytest

from pvplatform.extensions import db as _db
from tests.browser import chromium_page, live_server, require_browser
from tests.conftest import PASSWORD, Factory, app_on_file

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(tmp_path):
    require_browser()
    with app_on_file(tmp_path / "browser.sqlite", WTF_CSRF_ENABLED=True) as app:
        yield app


def test_a_resident_logs_in_and_supports_a_proposal(live_app):
    from pvplatform.participation.services import participant_for
    from pvplatform.proposals.models import Proposal, ProposalState, Vote

    with live_app.app_context():
        f = Factory()
        author = f.user("citizen", name="Autrice")
        f.user("citizen", email="voisin@example.org", name="Voisin")
        process = f.process()
        proposal = Proposal(process_id=process.id, author_id=participant_for(author).id,
                            title="Des bancs à l'ombre", body="Place du marché.",
                            state=ProposalState.PUBLISHED, published_at=process.created_at)
        _db.session.add(proposal)
        _db.session.commit()
        proposal_id = proposal.id

    with live_server(live_app) as base, chromium_page() as (page, problems):
        page.goto(base + "/")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert "Agenda 2030" in page.content()
        page.goto(base + "/auth/login")
        page.fill("input[name=email]", "voisin@example.org")
        page.fill("input[name=password]", PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        page.goto(f"{base}/proposals/{proposal_id}")
        page.locator("form[action$='/vote'] button[value='1'], "
                     "form[action$='/vote'] button").first.click()
        page.wait_for_load_state()
        assert problems == [], problems

    with live_app.app_context():
        votes = _db.session.scalars(_db.select(Vote)).all()
        assert [(v.proposal_id, v.value) for v in votes] == [(proposal_id, 1)]
