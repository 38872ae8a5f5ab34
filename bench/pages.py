"""Pages under load: the public pages and the staff dashboard, against bare Flask endpoints on
the same server, and the staff pages that list people (issue "city scale").

Serves the application with gunicorn (2 sync workers, `flask pv worker` beside it) on a file
SQLite database in WAL mode, first the demo (`flask pv demo`), then the city-size process of the
import benchmark (100,000 participants, imported once per run and kept under bench/out/cache).
Each page is loaded from 32 connections for a short round, anonymous and as a logged-in citizen
(session cookie made in process); the staff dashboard as staff, once the worker has stored its
figures. Right before each page, the same load goes to a bare Flask app under the same gunicorn
settings: a small HTML string for the pages, one primary-key SELECT on the same database for
the dashboard. The figure is the ratio of their rates (target >= 1/5), the median of the rounds.
Then the staff pages that list people (session management, the ledgers), one staff member at
a time: the first view of each, and p50 and p99 over a few seconds (target <= 300 ms).
Every page below target is then profiled in process (bench/profile_page.py).

    .venv/bin/python bench/pages.py [--page-seconds 1.5] [--rounds 3] [--datasets demo,city]
                                    [--participants 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: E402

TARGET = 0.2  # a page serves at least a fifth of the bare endpoint's rate
# (name, path, who): the pages a visitor goes through, by the links of the interface.
PAGES: tuple[tuple[str, str, str], ...] = tuple(
    (name, path, who)
    for name, path in (("home", "/"), ("process", "/processes/{process}"),
                       ("proposal list", "/processes/{process}/proposals"),
                       ("proposal", "/proposals/{proposal}"), ("session", "/sessions/{session}"))
    for who in ("anonymous", "citizen"))
DASHBOARD = ("dashboard", "/manage/processes/{process}/dashboard", "staff")
# Staff pages that list people: their latency, one staff member at a time (target: at most
# STAFF_TARGET_MS at city size), and the first view of each in the served process.
STAFF_LISTS: tuple[tuple[str, str], ...] = (
    ("session management", "/manage/sessions/{session}"),
    ("session management, searched", "/manage/sessions/{session}?q=an"),
    ("process ledger", "/manage/processes/{process}/ledger"),
    ("process ledger, no-shows page 2", "/manage/processes/{process}/ledger?list=no_shows&page=2"),
    ("session ledger", "/manage/sessions/{session}/ledger"),
)
STAFF_TARGET_MS = 300
# Not a page: the platform's smallest endpoint (one SELECT 1, JSON), through every request hook
# the pages go through. How far it is from the bare endpoint is what every page pays anyway.
REFERENCE = ("health check", "/healthz", "anonymous")
# On the dashboard: what the page says once the worker has stored figures after the latest
# change (French, the default language), and while changes wait.
DASHBOARD_CURRENT = "après le dernier changement"
DASHBOARD_WAITING = "les changements faits depuis"


@dataclass
class World:
    process_id: int
    proposal_id: int
    session_id: int
    citizen_cookie: str
    citizen_name: str
    staff_cookie: str
    notes: dict[str, Any] = field(default_factory=dict)
    # Another session of the process: the staff pages are first served for it, so that the
    # first view of `session_id`'s measures its data, not a server process's first page.
    other_session_id: int | None = None

    def fill(self, path: str) -> str:
        return path.format(process=self.process_id, proposal=self.proposal_id,
                           session=self.session_id)

    def cookie(self, who: str) -> str:
        return {"anonymous": "", "citizen": self.citizen_cookie, "staff": self.staff_cookie}[who]


def prepare_database(dataset: str, args: argparse.Namespace, target: Path) -> int | None:
    """A working copy of the dataset's database; the process id when known (the city's)."""
    if dataset == "demo":
        serving.demo_database(args.workdir.resolve(), target)
        return None
    city = serving.city_database(args, target)
    args.city = city
    return city.process_id


def build_world(app: Any, dataset: str, process_id: int | None) -> World:
    """The pages' ids and the logged-in cookies. On the demo: its process, its citizen and its
    staff account. On the city-size process (imported people have no account): a citizen
    account given to the imported citizen who voted most, and a staff account."""
    import sqlalchemy as sa

    from pvplatform.auth.models import Role, User
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.participation.models import Participant, ParticipantKind
    from pvplatform.processes.models import Process
    from pvplatform.proposals.models import Comment, Proposal, ProposalState, Vote
    from pvplatform.sessions.models import Meeting

    now = utcnow()
    with app.app_context():
        if process_id is None:
            process_id = db.session.scalar(sa.select(Process.id).order_by(Process.id))
        if dataset == "demo":
            citizen = db.session.scalar(
                sa.select(User).where(User.email == "citoyenne@villeneuve.example"))
            staff = db.session.scalar(
                sa.select(User).where(User.email == "staff@villeneuve.example"))
        else:
            citizen = db.session.scalar(
                sa.select(User).where(User.email == "citoyenne@bench.example"))
            staff = db.session.scalar(sa.select(User).where(User.email == "staff@bench.example"))
            if citizen is None:
                voter = db.session.scalar(
                    sa.select(Vote.participant_id)
                    .join(Participant, Participant.id == Vote.participant_id)
                    .where(Participant.kind == ParticipantKind.CITIZEN,
                           Participant.user_id.is_(None))
                    .group_by(Vote.participant_id)
                    .order_by(sa.func.count().desc(), Vote.participant_id).limit(1))
                citizen = User(email="citoyenne@bench.example", display_name="Citoyenne Bench",
                               role=Role.CITIZEN)
                staff = User(email="staff@bench.example", display_name="Agent Bench",
                             role=Role.STAFF)
                db.session.add_all([citizen, staff])
                db.session.flush()
                db.session.get(Participant, voter).user_id = citizen.id
                db.session.commit()
        # The proposal people read most: the published one with the most votes and comments.
        votes = (sa.select(sa.func.count()).where(Vote.proposal_id == Proposal.id)
                 .correlate(Proposal).scalar_subquery())
        comments = (sa.select(sa.func.count()).where(Comment.proposal_id == Proposal.id)
                    .correlate(Proposal).scalar_subquery())
        proposal_id = db.session.scalar(
            sa.select(Proposal.id)
            .where(Proposal.process_id == process_id, Proposal.hidden_at.is_(None),
                   Proposal.published_at.is_not(None),
                   Proposal.state.not_in([ProposalState.DRAFT, ProposalState.WITHDRAWN]))
            .order_by((votes + comments).desc(), Proposal.id).limit(1))
        # The session the home page points to: the next one; else the latest held.
        session_id = db.session.scalar(
            sa.select(Meeting.id).where(Meeting.process_id == process_id,
                                        Meeting.starts_at >= now)
            .order_by(Meeting.starts_at, Meeting.id).limit(1)) or db.session.scalar(
            sa.select(Meeting.id).where(Meeting.process_id == process_id)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(1))
        other_session_id = db.session.scalar(
            sa.select(Meeting.id).where(Meeting.process_id == process_id,
                                        Meeting.id != session_id)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(1))
        citizen_cookie, _token = serving.credentials(app, citizen, now)
        staff_cookie, _token = serving.credentials(app, staff, now)
        notes = {
            "votes_on_proposal": db.session.scalar(
                sa.select(sa.func.count()).where(Vote.proposal_id == proposal_id)),
            "comments_on_proposal": db.session.scalar(
                sa.select(sa.func.count()).where(Comment.proposal_id == proposal_id)),
        }
        world = World(process_id=process_id, proposal_id=proposal_id, session_id=session_id,
                      citizen_cookie=citizen_cookie, citizen_name=citizen.display_name,
                      staff_cookie=staff_cookie, notes=notes,
                      other_session_id=other_session_id)
    return world


def _check_pages(port: int, world: World) -> None:
    """Every page answers 200, the citizen's pages are logged in, the dashboard is current."""
    for name, path, who in (REFERENCE, *PAGES, DASHBOARD):
        status, body = serving.fetch(port, world.fill(path), world.cookie(who))
        if status != 200:
            raise RuntimeError(f"{name} ({who}) {world.fill(path)}: {status}")
        if who == "citizen" and world.citizen_name not in body:
            raise RuntimeError(f"{name}: the citizen's cookie is not logged in")
        if name == "dashboard" and (DASHBOARD_CURRENT not in body or DASHBOARD_WAITING in body):
            raise RuntimeError("the dashboard does not show the worker's current figures")


def _measure(site: int, bare: int, world: World, items: list[tuple[str, str, str]],
             args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Rounds of: each item's baseline, then the item. Returns each item's rounds."""
    rounds: dict[str, list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        for name, path, who in items:
            key = f"{name} ({who})"
            base_path = f"/pk/{world.process_id}" if name == "dashboard" else "/page"
            baseline = serving.load(bare, [(base_path, None, "")], args.connections,
                                    args.page_baseline_seconds)
            load_average = serving.load_average()
            page = serving.load(site, [(world.fill(path), None, world.cookie(who))],
                                args.connections, args.page_seconds)
            ratio = page["per_s"] / baseline["per_s"]
            rounds.setdefault(key, []).append({
                "round": r + 1, "path": world.fill(path), "baseline_path": base_path,
                "page": page, "baseline": baseline, "ratio": ratio,
                "load_average": load_average})
            serving.log(f"    round {r + 1} {key:<28} {page['per_s']:>7.1f}/s "
                        f"(p50 {page['p50_ms']:>6.0f} ms)  baseline {baseline['per_s']:>6.0f}/s"
                        f"  ratio {ratio:.3f}  load {load_average}")
    return rounds


def _staff_lists(site: int, world: World, args: argparse.Namespace) -> dict[str, Any]:
    """Each staff list page: its first view (nothing kept in memory yet for this reading, in
    whichever server process answers), then one connection for `--staff-seconds`. Every server
    process has served the same pages for another session first (two connections for a
    second): templates compiled and statements cached, as in a server that has been up for a
    while, so that a first view measures the data."""
    if world.other_session_id is not None:
        other = world.other_session_id
        serving.load(site, [(f"/manage/sessions/{other}", None, world.staff_cookie),
                            (f"/manage/sessions/{other}/ledger", None, world.staff_cookie)],
                     2, 1.0)
    found = {}
    for name, path in STAFF_LISTS:
        url = world.fill(path)
        started = time.perf_counter()
        status, _body = serving.fetch(site, url, world.staff_cookie)
        first_ms = 1000 * (time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{name} {url}: {status}")
        page = serving.load(site, [(url, None, world.staff_cookie)], 1, args.staff_seconds)
        found[name] = {"path": url, "first_view_ms": round(first_ms, 1),
                       "p50_ms": round(page["p50_ms"], 1), "p99_ms": round(page["p99_ms"], 1),
                       "visits": page["requests"], "non_200": {
                           code: n for code, n in page["statuses"].items() if code != 200},
                       "target_met": max(first_ms, page["p99_ms"]) <= STAFF_TARGET_MS}
        serving.log(f"    {name:<34} first view {first_ms:>6.0f} ms, then p50 "
                    f"{page['p50_ms']:>5.0f} ms, p99 {page['p99_ms']:>5.0f} ms")
    return found


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    pages = [r["page"] for r in rounds]
    baselines = [r["baseline"] for r in rounds]
    ratio = statistics.median(r["ratio"] for r in rounds)
    bad = {s: n for p in pages for s, n in p["statuses"].items() if s != 200}
    return {
        "path": rounds[0]["path"], "baseline_path": rounds[0]["baseline_path"],
        "per_s": round(serving.median_of(pages, "per_s"), 1),
        "p50_ms": round(serving.median_of(pages, "p50_ms"), 1),
        "p99_ms": round(serving.median_of(pages, "p99_ms"), 1),
        "baseline_per_s": round(serving.median_of(baselines, "per_s"), 1),
        "baseline_p50_ms": round(serving.median_of(baselines, "p50_ms"), 1),
        "ratio": round(ratio, 3), "target_met": ratio >= TARGET,
        "ratios": [round(r["ratio"], 3) for r in rounds],
        "load_averages": [r["load_average"] for r in rounds],
        "non_200": bad, "rounds": rounds,
    }


def run_dataset(dataset: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    serving.log(f"[{dataset}] preparing the database ...")
    database = work / f"{dataset}.sqlite"
    process_id = prepare_database(dataset, args, database)
    url = f"sqlite:///{database}"
    app = serving.make_app(url)
    world = build_world(app, dataset, process_id)
    serving.dispose(app)
    serving.request_refresh(url, world.process_id)
    env = serving.site_env(url, work)
    result: dict[str, Any] = {"dataset": dataset, "process_id": world.process_id,
                              "proposal_id": world.proposal_id, "session_id": world.session_id,
                              **world.notes}
    if dataset == "city":
        city = args.city
        result.update(participants=city.participants, package_rows=city.package_rows,
                      import_s=city.import_s, cache_key=city.key)
    # The worker stores the figures, then stops: its minute sweep and quarter-hour refresh of
    # running processes would otherwise land in the middle of some rounds.
    worker = serving.start_worker(env)
    try:
        refresh_s = serving.wait_refreshed(database, world.process_id)
    finally:
        serving.stop(worker)
    serving.log(f"[{dataset}] the worker stored the figures {refresh_s:.1f} s after start")
    result["worker_refresh_s"] = round(refresh_s, 1)
    with serving.site_server(env, worker=False) as site:
        _check_pages(site, world)
        with serving.bare_page_server(work, url) as bare:
            items = [REFERENCE, *PAGES, DASHBOARD]
            rounds = _measure(site, bare, world, items, args)
        serving.log(f"[{dataset}] staff pages that list people, one staff member at a time:")
        result["staff_lists"] = _staff_lists(site, world, args)
    result["pages"] = {key: _summary(r) for key, r in rounds.items()}
    below = [(key, s) for key, s in result["pages"].items()
             if not s["target_met"] and not key.startswith(REFERENCE[0])]
    if below and args.profile:
        serving.log(f"[{dataset}] profiling the {len(below)} page(s) below target in process ...")
        from profile_page import print_brief, profile_page

        app = serving.make_app(url)
        for key, summary in below:
            who = key.rsplit("(", 1)[1].rstrip(")")
            serving.log(f"  {key}:")
            report = profile_page(app, summary["path"], world.cookie(who),
                                  repeat=args.profile_repeat)
            print_brief(report, indent="    ")
            summary["profile"] = report
        serving.dispose(app)
    return result


def verdict(key: str, summary: dict[str, Any]) -> str:
    if key.startswith(REFERENCE[0]):
        return "(ref)"
    return "met" if summary["target_met"] else "MISSED"


def report(results: list[dict[str, Any]]) -> None:
    serving.log("")
    serving.log(f"{'dataset':<8}{'page':<28}{'per s':>8}{'p50 ms':>8}{'p99 ms':>8}"
                f"{'bare /s':>9}{'ratio':>7}  target  load")
    for result in results:
        for key, s in result["pages"].items():
            serving.log(f"{result['dataset']:<8}{key:<28}{s['per_s']:>8}{s['p50_ms']:>8.0f}"
                        f"{s['p99_ms']:>8.0f}{s['baseline_per_s']:>9.0f}{s['ratio']:>7.3f}  "
                        f"{verdict(key, s):<6}  "
                        f"{min(s['load_averages'])}-{max(s['load_averages'])}")
    serving.log("")
    serving.log(f"{'dataset':<8}{'staff page':<36}{'first ms':>9}{'p50 ms':>8}{'p99 ms':>8}"
                "  target")
    for result in results:
        for name, s in result.get("staff_lists", {}).items():
            serving.log(f"{result['dataset']:<8}{name:<36}{s['first_view_ms']:>9.0f}"
                        f"{s['p50_ms']:>8.0f}{s['p99_ms']:>8.0f}  "
                        f"{'met' if s['target_met'] else 'MISSED'}")
    serving.log(f"staff pages: first view and p99 of one staff member's visits, target <= "
                f"{STAFF_TARGET_MS} ms.")
    serving.log(f"ratio = page rate / the bare endpoint's rate measured just before (median of "
                f"the rounds); target >= {TARGET}. Bare endpoint: a small HTML string (pages), "
                "one primary-key SELECT (dashboard). Same gunicorn, 2 sync workers. The health "
                "check is a reference, not a page: every request's own cost.")


def arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    serving.city_arguments(parser)
    parser.add_argument("--page-seconds", type=float, default=1.5,
                        help="length of the load on each page, per round")
    parser.add_argument("--page-baseline-seconds", type=float, default=1.0,
                        help="length of the load on the bare endpoint before each page")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--staff-seconds", type=float, default=2.0,
                        help="length of the visits to each staff list page")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--datasets", default="demo,city", help="comma-separated: demo, city")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="do not profile the pages below target")
    parser.add_argument("--profile-repeat", type=int, default=8)
    return parser


def main(argv: list[str]) -> int:
    parser = arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    # `make bench` gives every benchmark the same arguments: ignore the others' own.
    args, _ = parser.parse_known_args(argv)
    work = args.workdir.resolve() / "pages"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        results.append(run_dataset(dataset, args, work))
    report(results)
    path = serving.write_results(args.workdir, "pages", {
        "connections": args.connections, "rounds": args.rounds,
        "page_seconds": args.page_seconds, "baseline_seconds": args.page_baseline_seconds,
        "target": TARGET, "results": results})
    serving.log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
