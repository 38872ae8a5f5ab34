"""Each role's main path through the site in Debian's Chromium, the way a person takes it: links
and buttons found by their accessible name, fields by their label. CSRF and the CSP are on.

Every page reached is checked by tests/browser.py's Tour (no console error or CSP violation, no
script error, a <main> and an <h1>); axe-core runs on each role's main pages. Data the tour does
not test is built through factories and services in a file-backed SQLite database that the live
server thread shares (as in test_browser_smoke.py, on both suite runs).
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.browser import (
    DESKTOP,
    MOBILE,
    live_site,
    log_in,
    tours_on,
    translator,
)
from tests.browser import (
    english as en,
)
from tests.conftest import (
    PASSWORD,
    STAFF_PASSWORD,
    Factory,
)

pytestmark = pytest.mark.browser

fr = translator("fr")


# ---------------------------------------------------------------- one server, one browser

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with live_site(tmp_path_factory.mktemp("browser-roles")) as site:
        yield site


@pytest.fixture
def site(live):
    """The app (its context pushed, for building data and reading results) and a way to open
    tours, each in a fresh browser context."""
    with tours_on(live) as site:
        yield site


def fresh(model, id_):
    """A row as the server left it: ending the test's read transaction drops its snapshot."""
    _db.session.rollback()
    return _db.session.get(model, id_)


def rows(statement) -> list:
    _db.session.rollback()
    return list(_db.session.scalars(statement).all())


# ---------------------------------------------------------------- citizen (phone, French)

def test_citizen_on_a_phone(site):
    from pvplatform.auth.models import User
    from pvplatform.moderation.models import Report
    from pvplatform.participation.demographics import use_defaults
    from pvplatform.participation.models import ConsentRecord, ParticipantAttribute
    from pvplatform.participation.services import participant_for
    from pvplatform.processes.models import SdgGoal
    from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote
    from pvplatform.proposals.services import add_comment
    from pvplatform.sessions.models import Registration

    app, tour = site
    now = utcnow()
    f = Factory()
    staff = f.user("staff")
    neighbour = f.user("citizen", name="Nadia Voisine")
    process = f.process()
    use_defaults(process, actor=staff, now=now)
    meeting = f.meeting(process, title="Atelier mobilités", starts_at=now + timedelta(days=5))
    other = Proposal(process_id=process.id, author_id=participant_for(neighbour).id,
                     title="Des bancs à l'ombre", body="Place du marché, sous les platanes.",
                     state=ProposalState.PUBLISHED, published_at=now - timedelta(days=2))
    _db.session.add(other)
    _db.session.flush()
    rude = add_comment(other, participant_for(neighbour), "Achetez mes bancs sur monsite.example",
                       now=now)
    _db.session.commit()
    ids = {"other": other.id, "rude": rude.id, "meeting": meeting.id}

    t = tour(locale="fr-FR", viewport=MOBILE)
    page, _ = t.page, fr
    t.goto("/")
    assert page.locator("html").get_attribute("lang") == "fr"
    t.axe()
    # From the keyboard, the first stop skips the header and lands in the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=_("Skip to content"))
    assert skip.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # register, out, back in
    t.click(page.get_by_role("banner").get_by_role("link", name=_("Sign up"), exact=True))
    page.get_by_label(_("E-mail"), exact=True).fill("camille@example.org")
    page.get_by_label(_("Display name"), exact=True).fill("Camille Durand")
    page.get_by_label(_("Password"), exact=True).fill(PASSWORD)
    page.get_by_label(_("Confirm the password"), exact=True).fill(PASSWORD)
    t.click(page.get_by_role("button", name=_("Create my account")))
    assert _("Welcome! Your account is ready.") in t.flash_text()
    t.click(page.get_by_role("button", name=_("Log out")))
    log_in(t, "camille@example.org", PASSWORD, _)
    [me] = rows(sa.select(User).where(User.email == "camille@example.org"))

    # the running process, one of its sessions, a registration code
    t.click(page.get_by_role("link", name=_("Home"), exact=True))
    t.click(page.get_by_role("link", name=process.title))
    t.click(page.get_by_role("link", name="Atelier mobilités"))
    t.click(page.get_by_role("button", name=_("Register"), exact=True))
    # A first registration asks, once, the optional questions (consent box unticked).
    assert page.get_by_role("heading", level=1).inner_text() == _("A little about you")
    page.get_by_label("Tranche d'âge").select_option(label="30-44 ans")
    page.get_by_label("Quartier").select_option(label="Nord")
    consent = page.get_by_label(_("I agree that these answers are stored to check "
                                  "representativeness, as explained above."))
    assert not consent.is_checked()
    consent.check()
    t.click(page.get_by_role("button", name=_("Save my answers")))
    participant = participant_for(fresh(User, me.id))
    stored = rows(sa.select(ParticipantAttribute)
                  .where(ParticipantAttribute.participant_id == participant.id)
                  .order_by(ParticipantAttribute.dimension))
    assert [(a.dimension, a.category) for a in stored] == [("age_band", "30-44"),
                                                           ("district", "north")]
    assert page.get_by_role("heading", level=1).inner_text() == "Atelier mobilités"
    code = page.locator(".regcode").inner_text().strip()
    registration = rows(sa.select(Registration).where(Registration.meeting_id == ids["meeting"]))
    assert [r.code for r in registration] == [code]
    assert _("My registration code") in t.main_text()

    # a proposal: draft, then published
    t.click(page.get_by_role("link", name=process.title))
    t.click(page.get_by_role("link", name=_("See all the proposals")))
    t.click(page.get_by_role("link", name=_("Write a proposal")))
    t.click(page.get_by_role("button", name=_("Publish"), exact=True), status=422)
    title = page.get_by_label(_("Title"), exact=True)
    assert title.get_attribute("aria-invalid") == "true"
    error = page.locator(f"#{title.get_attribute('aria-describedby').split()[-1]}")
    assert error.is_visible() and error.inner_text()
    page.get_by_label(_("Title"), exact=True).fill("Une piste cyclable rue Haute")
    page.get_by_label(_("Your proposal"), exact=True).fill(
        "Du lycée à la gare, séparée des voitures.")
    goal = _db.session.get(SdgGoal, 11)
    page.get_by_role("group", name=_("Sustainable Development Goals it serves")).get_by_label(
        f"11. {goal.title_fr}").check()
    t.click(page.get_by_role("button", name=_("Save as draft")))
    assert _("This is your draft: only you can see it.") in t.main_text()
    mine = rows(sa.select(Proposal).where(Proposal.title == "Une piste cyclable rue Haute"))
    assert [(p.state, [g.number for g in p.goals]) for p in mine] == [(ProposalState.DRAFT, [11])]
    t.click(page.get_by_role("button", name=_("Publish"), exact=True))
    assert fresh(Proposal, mine[0].id).state == ProposalState.PUBLISHED

    # vote on the neighbour's proposal, then change the vote
    t.click(page.get_by_role("link", name=_("Proposals"), exact=True))
    t.click(page.get_by_role("link", name="Des bancs à l'ombre"))
    t.axe()
    t.click(page.get_by_role("button", name=_("Support this proposal")))
    assert _("Your vote: you support this proposal.") in t.main_text()
    t.click(page.get_by_role("button", name=_("Oppose this proposal")))
    assert _("Your vote: you oppose this proposal.") in t.main_text()
    votes = rows(sa.select(Vote).where(Vote.proposal_id == ids["other"]))
    assert [v.value for v in votes] == [-1]

    # An empty comment is refused; reading the page in English instead, the person is brought
    # back to the proposal (the refused form's URL takes POST only), and carries on in English.
    proposal_url = page.url.split("#")[0]
    t.click(page.get_by_role("button", name=_("Publish my comment")), status=422)
    assert page.get_by_label(_("Your comment"), exact=True).get_attribute("aria-invalid") == "true"
    t.click(page.get_by_role("button", name="English"))
    assert page.url == proposal_url
    assert page.locator("html").get_attribute("lang") == "en"
    _ = en
    page.get_by_label(_("Your comment"), exact=True).fill("Et des fontaines à côté ?")
    t.click(page.get_by_role("button", name=_("Publish my comment")))
    assert "Et des fontaines à côté ?" in t.main_text()
    comments = rows(sa.select(Comment).where(Comment.proposal_id == ids["other"]))
    assert len(comments) == 2

    # the advertising comment, reported
    rude_box = page.locator(f"#comment-{ids['rude']}")
    rude_box.get_by_text(_("Report this comment")).click()
    rude_box.get_by_label(_("Why should the moderators look at it?")).fill("Publicité.")
    t.click(rude_box.get_by_role("button", name=_("Send the report")))
    reports = rows(sa.select(Report))
    assert [(r.target_id, r.reporter_id, r.reason) for r in reports] == [
        (ids["rude"], me.id, "Publicité.")]

    # the answers given at registration: seen in my space, then withdrawn
    t.click(page.get_by_role("navigation").get_by_role("link", name=_("My space")))
    t.axe()
    t.click(page.get_by_role("link", name=_(
        "About you: your demographics (optional, with consent; change or withdraw them)")))
    # The tour carries on in English: the question reads in English (issue 13).
    assert page.get_by_label("District").input_value() == "north"
    t.click(page.get_by_role("button", name=_("Withdraw and delete my answers")))
    assert t.dialogs, "withdrawing asks for a confirmation"
    assert rows(sa.select(ParticipantAttribute)
                .where(ParticipantAttribute.participant_id == participant.id)) == []
    consents = rows(sa.select(ConsentRecord).where(ConsentRecord.participant_id == participant.id))
    assert consents and all(c.withdrawn_at is not None for c in consents)

    # out; the language chosen on this phone stays
    t.click(page.get_by_role("button", name=_("Log out")))
    assert _("You are logged out.") in t.flash_text()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("banner").get_by_role("link", name=_("Log in"), exact=True).is_visible()


# ---------------------------------------------------------------- staff (desktop, English)

def test_staff_runs_a_session_and_watches_the_process(site):
    from pvplatform.indicators.models import FlagRecord
    from pvplatform.indicators.store import refresh_flags
    from pvplatform.moderation.models import Report, TargetType
    from pvplatform.proposals.models import Comment, Proposal, ProposalState
    from pvplatform.sessions.models import Attendance, Invitation, Meeting, Registration

    app, tour = site
    now = utcnow()
    f = Factory()
    staff = f.user("staff", name="Sam Agent")
    association = f.association("Les Jardins partagés")
    invitee = f.user("citizen", name="Paul Invité")
    alice = f.participant(f.user("citizen", name="Alice Martin"))
    bruno = f.participant(f.user("citizen", name="Bruno Petit"))
    process = f.process()
    today = f.meeting(process, title="Atelier du jour", starts_at=now - timedelta(minutes=30))
    by_code = Registration(meeting_id=today.id, participant_id=alice.id,
                           registered_at=now - timedelta(days=2))
    by_name = Registration(meeting_id=today.id, participant_id=bruno.id,
                           registered_at=now - timedelta(days=1))
    # Published 40 days ago and never answered: the dashboard raises a flag about it.
    old = Proposal(process_id=process.id, author_id=alice.id, title="Un marché bio",
                   body="Le samedi matin.", state=ProposalState.PUBLISHED,
                   published_at=now - timedelta(days=40))
    _db.session.add_all([by_code, by_name, old])
    _db.session.flush()
    spam = Comment(proposal_id=old.id, author_id=bruno.id, body="Visitez monsite.example")
    _db.session.add(spam)
    _db.session.flush()
    _db.session.add(Report(target_type=TargetType.COMMENT, target_id=spam.id,
                           reporter_id=invitee.id, reason="Publicité"))
    _db.session.commit()
    refresh_flags(process.id, now=now)  # stored even where flags do not follow every commit
    _db.session.commit()
    ids = {"today": today.id, "spam": spam.id, "process": process.id}
    code = by_code.code
    _db.session.rollback()  # no transaction of the test may hold SQLite while the server writes

    t = tour(locale="en-US", viewport=DESKTOP)
    page, _ = t.page, en
    t.goto("/")
    log_in(t, staff.email, STAFF_PASSWORD)
    nav = page.get_by_role("navigation", name="Main navigation")

    # a new session
    t.click(nav.get_by_role("link", name="Manage", exact=True))
    t.click(page.get_by_role("link", name=f"Sessions {process.title}"))
    t.click(page.get_by_role("link", name="New session"))
    start = (now + timedelta(days=10)).date().isoformat()
    page.get_by_label("Title", exact=True).fill("Atelier budget")
    page.get_by_label("Format", exact=True).select_option(label="In person")
    page.get_by_label("Starts at").fill(f"{start}T18:00")
    page.get_by_label("Ends at").fill(f"{start}T20:00")
    page.get_by_label("Place", exact=True).fill("Maison des associations")
    page.get_by_label("Capacity (seats)").fill("40")
    page.get_by_label("Agenda", exact=True).fill("1. Le budget\n2. Les projets")
    t.click(page.get_by_role("button", name="Save the session"))
    [created] = rows(sa.select(Meeting).where(Meeting.title == "Atelier budget"))
    assert (created.capacity, created.location) == (40, "Maison des associations")
    assert created.starts_at.astimezone(ZoneInfo(app.config["PV_TIMEZONE"])).hour == 18

    # invite a person and an association
    invitations = page.get_by_role("region", name="Invitations")
    invitations.get_by_label("Search accounts by e-mail or name").fill("Paul")
    t.click(invitations.get_by_role("button", name="Search"))
    invitations = page.get_by_role("region", name="Invitations")
    t.click(invitations.get_by_role("row", name="Paul Invité").get_by_role("button",
                                                                           name="Invite"))
    invitations = page.get_by_role("region", name="Invitations")
    invitations.get_by_label("Association", exact=True).select_option(label="Les Jardins partagés")
    t.click(invitations.get_by_role("button", name="Invite the association"))
    invited = rows(sa.select(Invitation).where(Invitation.meeting_id == created.id)
                   .order_by(Invitation.id))
    assert [(i.participant_id is not None, i.association_id) for i in invited] == [
        (True, None), (False, association.id)]

    # the check-in screen of today's session: a code, a name, a walk-in
    t.click(page.get_by_role("link", name=f"Sessions of {process.title}"))
    t.click(page.get_by_role("link", name="Atelier du jour"))
    t.axe()
    checkin = page.get_by_role("region", name="Check-in")
    by_code_form = checkin.locator("form").filter(has=page.get_by_label("Registration code"))
    by_code_form.get_by_label("Registration code").fill(f" {code[:3].lower()} {code[3:].lower()}")
    t.click(by_code_form.get_by_role("button", name="Check in"))
    assert "Alice Martin is checked in." in t.flash_text()
    registrations = page.get_by_role("region", name="Registrations")
    registrations.get_by_label("Search by name or code").fill("Petit")
    t.click(registrations.get_by_role("button", name="Search"))
    row = page.get_by_role("region", name="Registrations").get_by_role("row", name="Bruno Petit")
    t.click(row.get_by_role("button", name="Check in", exact=True))
    walk_in = page.get_by_role("region", name="Check-in").locator("form").filter(
        has=page.get_by_label("Takes part as"))
    walk_in.get_by_label("Name", exact=True).fill("Chloé Passante")
    walk_in.get_by_label("Association (optional)").select_option(label="Les Jardins partagés")
    t.click(walk_in.get_by_role("button", name="Add and check in"))
    attended = rows(sa.select(Attendance).where(Attendance.meeting_id == ids["today"])
                    .order_by(Attendance.id))
    assert [(a.participant.name, a.participant.association_id, a.walk_in) for a in attended] == [
        ("Alice Martin", None, False), ("Bruno Petit", None, False),
        ("Chloé Passante", association.id, True)]
    assert "Checked in (3)" in t.main_text()

    # closing with the minutes
    page.get_by_label("Minutes", exact=True).fill("Trois personnes. Suite le mois prochain.")
    t.click(page.get_by_role("button", name="Close the session"))
    closed = fresh(Meeting, ids["today"])
    assert closed.closed_at is not None
    assert closed.minutes == "Trois personnes. Suite le mois prochain."

    # the dashboard: a flag, acknowledged
    t.click(nav.get_by_role("link", name="Manage", exact=True))
    t.click(page.get_by_role("link", name=f"Dashboard {process.title}"))
    t.axe()
    flags = page.get_by_role("region", name="Risk flags")  # the overview's, one line a flag
    flags.locator("summary").filter(has_text="Acknowledge").first.click()
    flags.get_by_label("Note").first.fill("Réponse prévue au conseil de lundi.")
    t.click(flags.get_by_role("button", name="Acknowledge").first)
    acknowledged = rows(sa.select(FlagRecord).where(FlagRecord.process_id == ids["process"],
                                                    FlagRecord.acknowledged_at.is_not(None)))
    assert [r.acknowledgement_note for r in acknowledged] == [
        "Réponse prévue au conseil de lundi."]

    # the reported comment, hidden
    t.click(nav.get_by_role("link", name="Moderation", exact=True))
    report = page.get_by_role("listitem").filter(has_text="Visitez monsite.example")
    hide = report.locator("details").filter(has=page.get_by_text("Hide (moderation)"))
    hide.get_by_text("Hide (moderation)").click()
    hide.get_by_label("Reason (kept in the audit log)").fill("Publicité.")
    t.click(hide.get_by_role("button", name="Hide", exact=True))
    assert fresh(Comment, ids["spam"]).hidden_at is not None
    assert "No open report" in t.main_text()


# ---------------------------------------------------------------- elected official (French)

def test_elected_answers_and_reports_progress(site):
    from pvplatform.proposals.models import (
        Answer,
        ImplementationUpdate,
        Proposal,
        ProposalState,
        Vote,
    )
    from pvplatform.proposals.services import answer_proposal

    app, tour = site
    now = utcnow()
    f = Factory()
    staff = f.user("staff")
    elected = f.user("elected", name="Élise Maire")
    author = f.participant(f.user("citizen", name="Agathe Autrice"))
    supporter = f.participant(f.user("citizen", name="Simon Soutien"))
    process = f.process()
    waiting = Proposal(process_id=process.id, author_id=author.id, title="Un jardin partagé",
                       body="Derrière l'école.", state=ProposalState.PUBLISHED,
                       published_at=now - timedelta(days=10))
    accepted = Proposal(process_id=process.id, author_id=author.id,
                        title="Des toilettes publiques", body="Au parc.",
                        state=ProposalState.PUBLISHED, published_at=now - timedelta(days=20))
    _db.session.add_all([waiting, accepted])
    _db.session.flush()
    _db.session.add(Vote(proposal_id=waiting.id, participant_id=supporter.id, value=1))
    answer_proposal(accepted, staff, state=ProposalState.ACCEPTED, rationale="Budget voté.",
                    now=now - timedelta(days=5))
    _db.session.commit()
    ids = {"waiting": waiting.id, "accepted": accepted.id}
    _db.session.rollback()

    t = tour(locale="fr-FR", viewport=DESKTOP)
    page, _ = t.page, fr
    t.goto("/")
    log_in(t, elected.email, STAFF_PASSWORD, _)
    nav = page.get_by_role("navigation", name=_("Main navigation"))
    t.click(nav.get_by_role("link", name=_("Review queue")))
    t.axe()
    queue = page.get_by_role("table")
    assert "Simon Soutien" in queue.get_by_role("row", name="Un jardin partagé").inner_text()
    t.click(queue.get_by_role("link", name=f"{_('Answer')} Un jardin partagé"))
    page.get_by_label(_("Answer"), exact=True).select_option(label=_("Rejected"))
    page.get_by_label(_("Reasons"), exact=True).fill("Le terrain est inondable.")
    t.click(page.get_by_role("button", name=_("Publish the answer")))
    assert _("The answer is published and the author is notified.") in t.flash_text()
    answers = rows(sa.select(Answer).where(Answer.proposal_id == ids["waiting"]))
    assert [(a.state, a.rationale, a.answered_by_id) for a in answers] == [
        (ProposalState.REJECTED, "Le terrain est inondable.", elected.id)]
    assert fresh(Proposal, ids["waiting"]).state == ProposalState.REJECTED

    # the accepted one, found from the process's proposals
    t.click(page.get_by_role("link", name=process.title))
    t.click(page.get_by_role("link", name=_("See all the proposals")))
    t.click(page.get_by_role("link", name="Des toilettes publiques"))
    page.get_by_label(_("Progress (percent)")).fill("30")
    page.get_by_label(_("What happened"), exact=True).fill("Les travaux ont commencé.")
    t.click(page.get_by_role("button", name=_("Publish the update")))
    updates = rows(sa.select(ImplementationUpdate)
                   .where(ImplementationUpdate.proposal_id == ids["accepted"]))
    assert [(u.progress, u.body, u.author_id) for u in updates] == [
        (30, "Les travaux ont commencé.", elected.id)]
    assert page.get_by_role("progressbar").get_attribute("value") == "30"


# ---------------------------------------------------------------- administrator (French)

def test_admin_creates_a_process_and_a_staff_account(site):
    from pvplatform.auth.models import Role, User
    from pvplatform.processes.models import Process

    app, tour = site
    admin = Factory().user("admin", name="Ada Admin")
    _db.session.rollback()

    t = tour(locale="fr-FR", viewport=DESKTOP)
    page, _ = t.page, fr
    t.goto("/")
    log_in(t, admin.email, STAFF_PASSWORD, _)
    nav = page.get_by_role("navigation", name=_("Main navigation"))
    t.click(nav.get_by_role("link", name=_("Manage"), exact=True))
    t.axe()
    t.click(page.get_by_role("link", name=_("New process")))
    year = utcnow().year
    page.get_by_label(_("Title"), exact=True).fill("Agenda 2030 de Bellerive")
    page.get_by_label(_("Description"), exact=True).fill("Écrire ensemble l'Agenda 2030.")
    page.get_by_label(_("Municipality"), exact=True).fill("Bellerive")
    page.get_by_label(_("Start date")).fill(f"{year}-01-01")
    page.get_by_label(_("End date")).fill(f"{year + 1}-06-30")
    goals = page.get_by_role("group", name=_("SDG goals this process serves"))
    goals.get_by_role("checkbox", name=re.compile(r"^11\b")).check()
    goals.get_by_role("checkbox", name=re.compile(r"^13\b")).check()
    page.get_by_label(_("Create the five standard phases (information, co-creation, review, "
                        "decision, follow-up) over these dates")).check()
    t.click(page.get_by_role("button", name=_("Create the process")))
    [process] = rows(sa.select(Process).where(Process.title == "Agenda 2030 de Bellerive"))
    assert sorted(g.number for g in process.goals) == [11, 13]
    assert len(process.phases) >= 3
    assert "Bellerive" in t.main_text()

    # a staff account
    t.click(nav.get_by_role("link", name=_("Accounts")))
    t.click(page.get_by_role("link", name=_("Create an account")))
    page.get_by_label(_("E-mail"), exact=True).fill("agent@bellerive.example")
    page.get_by_label(_("Display name"), exact=True).fill("Agent Bellerive")
    page.get_by_label(_("Role"), exact=True).select_option(value=Role.STAFF.value)
    page.get_by_label(_("Initial password"), exact=True).fill(STAFF_PASSWORD)
    page.get_by_label(_("Confirm the password"), exact=True).fill(STAFF_PASSWORD)
    t.click(page.get_by_role("button", name=_("Create the account")))
    created = rows(sa.select(User).where(User.email == "agent@bellerive.example"))
    assert [(u.display_name, u.role) for u in created] == [("Agent Bellerive", Role.STAFF)]


# ---------------------------------------------------------------- evaluator (English)

def test_evaluator_sees_only_what_the_policy_allows(site):
    from pvplatform.auth.models import User
    from tests.route_params import build_world, url_for_rule
    from tests.test_access_policy import ARGUMENT_OVERRIDES, policy_for

    app, tour = site
    world = build_world()
    _db.session.rollback()

    t = tour(locale="en-US", viewport=DESKTOP)
    page = t.page
    t.goto("/")
    log_in(t, world["emails"]["evaluator"], STAFF_PASSWORD)
    nav = page.get_by_role("navigation", name="Main navigation")
    assert nav.get_by_role("link").all_inner_texts() == ["Home", "Evaluation", "Notifications"]
    evaluator = _db.session.get(User, world["users"]["evaluator"])
    t.click(page.get_by_role("banner").get_by_role("link", name=evaluator.display_name))
    t.axe()

    # Every page the policy lets an evaluator see opens in the browser; each page it denies is
    # refused (fetched with the same cookies, without rendering: they share one error page,
    # which the browser opens once, at the end).
    skipped = {"static", "core.healthz"}
    # Files, not pages: fetched with the session's cookies rather than opened.
    downloads = {"evaluation.export", "evaluation.package", "evaluation.microdata"}
    # The world's reset token is a made-up one: its page says so, with 400.
    expected = {"auth.reset_password": 400}
    seen, refused = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if "GET" not in (rule.methods or ()) or rule.endpoint in skipped:
            continue
        url = url_for_rule(app, rule, world, ARGUMENT_OVERRIDES.get(rule.endpoint))
        if rule.endpoint.startswith("api_v1."):
            continue  # read with a token, not a browser session: tests/test_api_v1.py
        if "evaluator" in policy_for(rule.endpoint, "GET"):
            if rule.endpoint in downloads:
                response = t.context.request.get(t.base + url, max_redirects=0)
                assert response.status == 200, f"{rule.endpoint}: {response.status}"
                assert "attachment" in response.headers["content-disposition"]
            else:
                t.goto(url, status=expected.get(rule.endpoint, 200))
            seen.append(rule.endpoint)
        else:
            response = t.context.request.get(t.base + url, max_redirects=0)
            body = response.text()
            assert response.status in (403, 404), f"{rule.endpoint}: {response.status}"
            assert "<main" in body and "<h1" in body, rule.endpoint
            refused.append(rule.endpoint)
    assert {"processes.detail", "proposals.detail", "sessions.detail"} <= set(seen)
    assert {"indicators.dashboard", "processes.admin_list", "moderation.queue"} <= set(refused)
    t.goto(f"/manage/processes/{world['process_id']}/dashboard", status=403)
