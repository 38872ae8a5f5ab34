"""SECURITY.md, Requests: "an XSS corpus (~20 payloads: script tags, event handlers, `javascript:`
URLs, SVG, template syntax `{{7*7}}`) in every text field renders escaped on every page that
shows it".

Two ways in:
- through the database: every text column of every table (proposal title and body, comments,
  session title, agenda, place and minutes, process title and description, association names,
  display names, walk-in names, report and moderation reasons, answer rationales, audit rows,
  and whatever columns later features add) holds the whole corpus, then every GET page of the
  app is read by an admin and by the citizen who owns the drafts;
- through the forms: the corpus is typed into the forms people use, then the pages are read.

A page fails when a payload appears unescaped, when `{{7*7}}` became 49, or when its HTML has an
event-handler attribute, a `javascript:` link or an inline script.
"""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.fuzz_corpus import (  # noqa: F401 - no_audit_changes is a fixture
    MARK,
    TEMPLATE_EVALUATED,
    XSS_PAYLOADS,
    logged_in_client,
    no_audit_changes,
)
from tests.route_params import build_world, url_for_rule

# Columns that are not free text shown to people: credentials, codes used as keys, URLs (whose
# scheme the form checks: see test_online_link_refuses_javascript_urls), reference data.
SKIP_COLUMNS = {"email", "password_hash", "session_token", "locale", "online_url", "color",
                "url", "external_ref", "code", "token", "token_hash", "kind", "dimension",
                "category", "action", "target_type", "checksum", "sha256", "key", "format",
                "link"}
SKIP_TABLES = {"sdg_goals", "alembic_version"}
SEPARATOR = "\n"


# ---------------------------------------------------------------- what a page must not contain

class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler <{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"):
                scheme = "".join((value or "").split()).lower()
                if scheme.startswith(("javascript:", "vbscript:", "data:text/html")):
                    self.problems.append(f"script URL <{tag} {name}={value!r}>")
            if name == "style" and value and (MARK in value or "javascript" in value.lower()):
                self.problems.append(f"user text in a style attribute <{tag}>")
        if tag == "script":
            self._in_script = True
            if not dict(attrs).get("src"):
                self.problems.append("inline <script>")
        if tag in ("iframe", "object", "embed", "base"):
            self.problems.append(f"<{tag}> element")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script content")


def page_problems(body: str) -> list[str]:
    problems = [f"unescaped payload {p[:40]!r}" for p in XSS_PAYLOADS
                if any(c in p for c in "<>\"'") and p in body]
    if TEMPLATE_EVALUATED in body:
        problems.append("template syntax was evaluated")
    inspector = _Inspector()
    inspector.feed(body)
    inspector.close()
    return problems + inspector.problems


# ---------------------------------------------------------------- filling the database

def _populate(world: dict) -> None:
    """Rows of every kind that has text, beyond build_world's."""
    from pvplatform.auth.models import User
    from pvplatform.moderation.audit import record_audit
    from pvplatform.moderation.models import ModerationAction, ModerationKind, TargetType
    from pvplatform.participation.services import create_walk_in
    from pvplatform.proposals.models import Answer, ImplementationUpdate, ProposalState
    from pvplatform.sessions.models import Attendance, AttendanceMode, Meeting

    admin = _db.session.get(User, world["users"]["admin"])
    now = utcnow()
    _db.session.add(Answer(proposal_id=world["proposal_id"], state=ProposalState.EVALUATING,
                           rationale="r", answered_by_id=admin.id))
    _db.session.add(ImplementationUpdate(proposal_id=world["proposal_id"], progress=10, body="u",
                                         author_id=admin.id))
    _db.session.add(ModerationAction(target_type=TargetType.COMMENT,
                                     target_id=world["comment_id"], kind=ModerationKind.RESTORE,
                                     reason="m", actor_id=admin.id))
    record_audit(admin, "test.xss", "proposal", world["proposal_id"],
                 process_id=world["process_id"], details={"note": "d"})
    past = Meeting(process_id=world["process_id"], title="past", format="in_person",
                   starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=2, hours=-2),
                   location="l", agenda="a", minutes="minutes", closed_at=now - timedelta(days=1))
    _db.session.add(past)
    _db.session.flush()
    walk_in = create_walk_in("walk-in")
    _db.session.add(Attendance(meeting_id=past.id, participant_id=walk_in.id,
                               mode=AttendanceMode.IN_PERSON, walk_in=True,
                               checked_in_by_id=admin.id))
    _db.session.add(Attendance(meeting_id=past.id, participant_id=world["author_participant"],
                               mode=AttendanceMode.IN_PERSON, checked_in_by_id=admin.id))
    world["past_meeting_id"] = past.id
    _db.session.commit()


def _text_columns(dialect: str) -> list[tuple[sa.Table, sa.Column, int | None]]:
    found = []
    for table in _db.metadata.sorted_tables:
        if table.name in SKIP_TABLES:
            continue
        for column in table.columns:
            if not isinstance(column.type, sa.String) or isinstance(column.type, sa.Enum):
                continue
            if column.name in SKIP_COLUMNS or column.primary_key or column.foreign_keys:
                continue
            # SQLite ignores declared lengths, so everything fits in one go.
            length = None if dialect == "sqlite" else getattr(column.type, "length", None)
            found.append((table, column, length))
    return found


def _chunks(length: int | None) -> list[str]:
    """The corpus joined into as few strings as fit the column (room kept for a row suffix)."""
    if length is None:
        return [SEPARATOR.join(XSS_PAYLOADS)]
    room = length - 8
    chunks: list[str] = []
    current = ""
    for payload in XSS_PAYLOADS:
        if len(payload) > room:
            continue
        candidate = f"{current}{SEPARATOR}{payload}" if current else payload
        if len(candidate) > room:
            chunks.append(current)
            candidate = payload
        current = candidate
    if current:
        chunks.append(current)
    return chunks or [""]


def _fill(columns, round_no: int) -> None:
    for table, column, length in columns:
        chunks = _chunks(length)
        value = chunks[round_no % len(chunks)]
        if "id" in table.c:
            # A per-row suffix keeps unique columns unique.
            new = sa.literal(value) + " #" + sa.cast(table.c.id, sa.String)
        else:
            new = sa.literal(value)
        _db.session.execute(table.update().values({column.name: new}))
    _db.session.commit()


def _pages(app, world) -> list[tuple[str, str]]:
    from tests.test_access_policy import ARGUMENT_OVERRIDES, POLICY

    pages = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        allowed = POLICY.get((rule.endpoint, "GET"), frozenset())
        overrides = ARGUMENT_OVERRIDES.get(rule.endpoint)
        if "admin" in allowed or not allowed:
            pages.append(("admin", url_for_rule(app, rule, world, overrides)))
        if "citizen" in allowed and "admin" not in allowed or rule.endpoint in (
                "proposals.detail", "auth.my_space", "notifications.index"):
            pages.append(("citizen", url_for_rule(app, rule, world, overrides)))
    # The draft (only its author sees it) and the closed session with its minutes and walk-ins.
    pages.append(("citizen", f"/proposals/{world['draft_id']}"))
    if "past_meeting_id" in world:
        pages.append(("admin", f"/sessions/{world['past_meeting_id']}"))
        pages.append(("admin", f"/manage/sessions/{world['past_meeting_id']}"))
    return pages


@pytest.mark.usefixtures("no_audit_changes")
def test_corpus_in_every_text_column_renders_escaped_on_every_page(app, db):
    from pvplatform.participation.services import participant_for

    world = build_world()
    from pvplatform.auth.models import User

    world["author_participant"] = participant_for(
        db.session.get(User, world["users"]["citizen"])).id
    _populate(world)
    clients = {role: logged_in_client(app, world, role) for role in ("admin", "citizen")}
    columns = _text_columns(db.engine.dialect.name)
    assert len(columns) >= 15, [c.name for _, c, _ in columns]
    rounds = max(len(_chunks(length)) for _, _, length in columns
                 if length is None or length >= 200)
    pages = _pages(app, world)
    problems: list[str] = []
    shown = 0
    for round_no in range(rounds):
        _fill(columns, round_no)
        for role, url in pages:
            response = clients[role].get(url)
            where = f"{role} GET {url} -> {response.status_code}"
            if response.status_code >= 500:
                problems.append(f"server error: {where}")
                continue
            if response.mimetype != "text/html":
                continue
            body = response.get_data(as_text=True)
            shown += MARK in body
            problems.extend(f"{where}: {p}" for p in page_problems(body))
    # The test means something only if the pages did show the payloads.
    assert shown >= len(pages) // 2, f"payloads shown on only {shown} of {len(pages)} pages"
    assert not problems, "\n".join(sorted(set(problems)))


def test_inspector_can_fail():
    assert page_problems(f"<p>{XSS_PAYLOADS[0]}</p>")
    assert page_problems('<a href=" javascript:alert(1)">x</a>')
    assert page_problems('<div onclick="x()">x</div>')
    assert page_problems(f"<p>{TEMPLATE_EVALUATED}</p>")
    assert not page_problems("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
                             '<script src="/static/app.js"></script>')


# ---------------------------------------------------------------- through the forms

def _form_submissions(world: dict, meeting_id: int) -> list[tuple[str, str, dict, dict]]:
    """(role, url, fixed fields, {text field: its maximum length})."""
    now = utcnow()
    start = (now + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    end = (now + timedelta(days=10, hours=2)).strftime("%Y-%m-%dT%H:%M")
    process, proposal = world["process_id"], world["proposal_id"]
    return [
        ("citizen", f"/processes/{process}/proposals/new", {"publish": "Publish"},
         {"title": 200, "body": 10_000}),
        ("citizen", f"/proposals/{proposal}/comments", {}, {"body": 5_000}),
        ("staff", f"/manage/processes/{process}/sessions/new",
         {"format": "in_person", "starts_at": start, "ends_at": end, "capacity": "20"},
         {"title": 200, "location": 300, "agenda": 20_000}),
        ("admin", "/manage/processes/new", {"population": "1000"},
         {"title": 200, "description": 10_000, "municipality": 120}),
        ("staff", "/admin/associations", {}, {"name": 200, "description": 2_000}),
        ("citizen", "/auth/me/profile", {"locale": "en"}, {"display_name": 120}),
        ("association", "/reports", {"target_type": "proposal", "target_id": str(proposal)},
         {"reason": 500}),
        ("elected", f"/proposals/{proposal}/answer", {"state": "evaluating"},
         {"rationale": 10_000}),
        ("staff", f"/manage/sessions/{meeting_id}/checkin", {"kind": "citizen"}, {"name": 120}),
        ("staff", f"/manage/sessions/{meeting_id}/close", {}, {"minutes": 50_000}),
    ]


def test_corpus_typed_into_the_forms_renders_escaped(app, db):
    from pvplatform.sessions.models import Meeting

    world = build_world()
    now = utcnow()
    ongoing = Meeting(process_id=world["process_id"], title="now", format="in_person",
                      starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1),
                      location="Mairie", capacity=50)
    db.session.add(ongoing)
    db.session.commit()
    submissions = _form_submissions(world, ongoing.id)
    clients = {}
    refused = []
    for role, url, fixed, texts in submissions:
        client = clients.get(role) or clients.setdefault(role,
                                                         logged_in_client(app, world, role))
        chunked = {name: _chunks(limit + 8) for name, limit in texts.items()}
        for round_no in range(max(len(c) for c in chunked.values())):
            data = dict(fixed)
            data.update({name: c[round_no % len(c)] for name, c in chunked.items()})
            response = client.post(url, data=data)
            assert response.status_code < 500, (url, response.status_code)
            if response.status_code >= 400:
                refused.append(f"{role} {url} -> {response.status_code}")
    assert len(refused) <= 2, refused  # a form may refuse markup; most must store it

    from pvplatform.proposals.models import Proposal

    newest = db.session.scalar(sa.select(sa.func.max(Proposal.id)))
    process, meeting = world["process_id"], ongoing.id
    # The pages that show what the forms stored (the database test reads every page).
    pages = [("admin", url) for url in (
        "/", f"/processes/{process}", f"/processes/{process}/proposals",
        f"/proposals/{world['proposal_id']}", f"/proposals/{newest}", "/review",
        f"/sessions/{meeting}", f"/manage/sessions/{meeting}", "/manage",
        f"/manage/processes/{process}/sessions", "/admin/associations", "/admin/users",
        f"/admin/users/{world['citizen_id']}", "/moderation", "/audit",
    )] + [("citizen", "/auth/me"), ("citizen", "/auth/me/profile"),
          ("citizen", f"/proposals/{world['proposal_id']}")]
    clients.setdefault("admin", logged_in_client(app, world, "admin"))
    problems, shown = [], 0
    for role, url in pages:
        response = clients[role].get(url)
        if response.status_code >= 500:
            problems.append(f"server error: {role} {url}")
            continue
        if response.mimetype == "text/html":
            body = response.get_data(as_text=True)
            shown += MARK in body
            problems.extend(f"{role} {url}: {p}" for p in page_problems(body))
    assert shown >= 10
    assert not problems, "\n".join(sorted(set(problems)))


def test_online_link_refuses_javascript_urls(client, factory, login_as):
    """The one URL people type: its scheme is checked, so no `javascript:` link is ever shown."""
    process = factory.process()
    login_as(factory.user("staff"))
    now = utcnow()
    for url in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"):
        response = client.post(f"/manage/processes/{process.id}/sessions/new", data={
            "title": "Visio", "format": "online", "online_url": url,
            "starts_at": (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=5, hours=1)).strftime("%Y-%m-%dT%H:%M"),
        })
        assert response.status_code == 422, url
