"""The notifications page: the reader's own notifications, in the reader's language."""

from __future__ import annotations

import sqlalchemy as sa

from pvplatform.extensions import db as _db
from pvplatform.notifications.models import Notification
from pvplatform.notifications.services import notify, render_message


def test_list_and_mark_all_read(client, factory, login_as):
    me = factory.user("citizen")
    other = factory.user("citizen")
    notify(me.id, "proposal.answer", "Your proposal “%(title)s” was accepted.",
           params={"title": "<b>Bancs</b>"}, link="/proposals/1")
    notify(me.id, "test", "Plain message without parameters.", link="https://evil.example/")
    notify(other.id, "test", "Someone else's notification.")
    _db.session.commit()
    login_as(me)
    response = client.get("/notifications")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Your proposal “&lt;b&gt;Bancs&lt;/b&gt;” was accepted." in html
    assert 'href="/proposals/1"' in html
    assert "evil.example" not in html  # only same-site links become links
    assert "Someone else" not in html
    assert "Mark all as read" in html
    assert client.post("/notifications/read").status_code == 302
    _db.session.expire_all()
    unread = _db.session.scalars(sa.select(Notification).where(
        Notification.read_at.is_(None)).order_by(Notification.id)).all()
    assert [n.user_id for n in unread] == [other.id]
    assert "Mark all as read" not in client.get("/notifications").get_data(as_text=True)


def test_rendered_in_the_readers_language(app, factory, db):
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        # The stored English message id is shown from the French catalogue, formatted.
        assert render_message("Your proposal “%(title)s” was accepted.", {"title": "X"}) \
            == "Votre proposition «\u00a0X\u00a0» a été acceptée."
        # A message id with no catalogue entry is shown in English, formatted.
        assert render_message("Your proposal %(title)s", {"title": "X"}) == "Your proposal X"
        # Broken parameters never break the page.
        assert render_message("Needs %(title)s", {}) == "Needs %(title)s"
        assert render_message("Progress %(n)s%%", {"n": 5}) == "Progress 5%"


def test_empty_state_and_login(client, factory, login_as):
    response = client.get("/notifications")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.post("/notifications/read").status_code == 302
    login_as(factory.user("evaluator"))
    html = client.get("/notifications").get_data(as_text=True)
    assert "No notification yet" in html
    assert client.get("/notifications", query_string={"page": str(2**63)}).status_code == 200


def test_mark_read_only_touches_my_notifications(client, factory, login_as):
    me = factory.user("citizen")
    other = factory.user("citizen")
    notify(other.id, "test", "Theirs.")
    _db.session.commit()
    login_as(me)
    client.post("/notifications/read")
    _db.session.expire_all()
    assert _db.session.scalar(sa.select(Notification.read_at)) is None
