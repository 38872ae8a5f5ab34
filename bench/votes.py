"""Votes under load: no vote waits for the indicators (issue 12).

Serves the application with gunicorn (2 sync workers, a `flask pv worker` beside it) on a
file SQLite database in WAL mode, and sends votes from 32 connections for a while: each voter
(a session cookie and its CSRF token, made in-process) votes on every proposal, again and again
(a re-vote replaces the vote). In the same run, the same load goes to a bare Flask endpoint that
inserts one row into SQLite with the same settings: the baseline. Reports votes/s, p50 and p99
of both and their ratio, the flags' staleness under the load (the age of the oldest refresh
request waiting, sampled every 0.2 s) and once the load stops, and checks that the database
holds exactly one vote per voter and proposal.

    .venv/bin/python bench/votes.py [--seconds 20] [--connections 32] [--voters 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
BIN = Path(sys.executable).parent
SECRET = "bench-votes-secret-key-not-for-production"  # noqa: S105
PROPOSALS = 10

import serving  # noqa: E402  (gunicorn, load, cookies: shared with the other serving benchmarks)


def _world(database_url: str, voters: int) -> tuple[list[tuple[str, dict, str]], int]:
    """The process, its proposals, the voters' cookies and CSRF tokens, and the vote requests."""
    os.environ.update(DATABASE_URL=database_url, SECRET_KEY=SECRET, PV_CONFIG="development",
                      PV_REFRESH="background")
    from pvplatform import create_app
    from pvplatform.auth.models import Role, User
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.participation.services import participant_for
    from pvplatform.processes.models import Phase, PhaseKind, Process
    from pvplatform.proposals.models import Proposal, ProposalState

    app = create_app()
    now = utcnow()
    with app.app_context():
        process = Process(title="Budget participatif", municipality="Villeneuve")
        process.phases = [Phase(kind=PhaseKind.CO_CREATION, starts_on=now.date(),
                                ends_on=now.date(), proposals_open=True, comments_open=True,
                                votes_open=True)]
        db.session.add(process)
        author = User(email="author@bench.example", display_name="Autrice", role=Role.CITIZEN)
        db.session.add(author)
        db.session.flush()
        proposals = [Proposal(process_id=process.id, author_id=participant_for(author).id,
                              title=f"Proposition {i}", body="...",
                              state=ProposalState.PUBLISHED, published_at=now)
                     for i in range(PROPOSALS)]
        users = [User(email=f"voter{i}@bench.example", display_name=f"Voter {i}",
                      role=Role.CITIZEN) for i in range(voters)]
        db.session.add_all(proposals + users)
        db.session.commit()
        requests = []
        for user in users:
            cookie, token = serving.credentials(app, user, now)
            for n, proposal in enumerate(proposals):
                requests.append((f"/proposals/{proposal.id}/vote",
                                 {"value": 1 if (user.id + n) % 3 else -1, "csrf_token": token},
                                 cookie))
        process_id = process.id
        db.session.remove()
        db.engine.dispose()
    return requests, process_id


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--voters", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    # `make bench` gives every benchmark the same arguments: ignore the others' own.
    args, _ = parser.parse_known_args(argv)
    # A folder of its own under the work folder: the other benchmarks' results stay.
    work = args.workdir.resolve() / "votes"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # The baseline: a bare Flask insert into SQLite, same server, same load.
    (work / "bare_app.py").write_text(serving.BARE_INSERT_APP)
    import sqlite3

    bare_db = work / "bare.sqlite"
    with sqlite3.connect(bare_db) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE votes (voter INTEGER, proposal INTEGER, value INTEGER, "
                  "PRIMARY KEY (voter, proposal))")
    port = serving.free_port()
    bare = serving.gunicorn("bare_app:app", port, {**os.environ, "BARE_DB": str(bare_db)}, work)
    try:
        serving.wait_up(port, "/insert")
        bare_requests = [("/insert", {"voter": v, "proposal": p, "value": 1}, "")
                         for v in range(args.voters) for p in range(PROPOSALS)]
        baseline = serving.load(port, bare_requests, args.connections, args.seconds)
    finally:
        serving.stop(bare)

    # The platform, with its worker.
    database = work / "site.sqlite"
    url = f"sqlite:///{database}"
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "PV_CONFIG": "development",
           "PV_REFRESH": "background", "PV_QUEUE_URL": f"sqlite:///{work / 'queue.sqlite'}"}
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    requests, process_id = _world(url, args.voters)
    worker = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "pv", "worker"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = serving.free_port()
    site = serving.gunicorn("wsgi:app", port, env, ROOT)
    samples: list[float] = []
    stop = threading.Event()
    try:
        serving.wait_up(port)
        sampler = threading.Thread(target=serving.staleness, args=(database, stop, samples))
        sampler.start()
        votes = serving.load(port, requests, args.connections, args.seconds)
        load_end = time.monotonic()
        stop.set()
        sampler.join()
        drain = None
        conn = sqlite3.connect(database, timeout=15)
        while time.monotonic() - load_end < 120:
            if not conn.execute("SELECT count(*) FROM refresh_requests").fetchone()[0]:
                drain = time.monotonic() - load_end
                break
            time.sleep(0.1)
        rows, pairs = conn.execute(
            "SELECT count(*), count(DISTINCT participant_id || ':' || proposal_id) "
            "FROM votes").fetchone()
        conn.close()
    finally:
        serving.stop(site)
        serving.stop(worker)

    result = {
        "baseline_bare_insert": baseline, "votes": votes,
        "ratio_throughput": votes["per_s"] / baseline["per_s"],
        "staleness_max_s_under_load": max(samples) if samples else None,
        "staleness_p50_s_under_load": statistics.median(samples) if samples else None,
        "flags_current_after_load_s": drain, "vote_rows": rows, "distinct_voter_proposal": pairs,
        "process_id": process_id,
    }
    (work / "results.json").write_text(json.dumps(result, indent=1))
    print(f"bare insert: {baseline['per_s']:.0f}/s, p50 {baseline['p50_ms']:.0f} ms, "
          f"p99 {baseline['p99_ms']:.0f} ms, statuses {baseline['statuses']}")
    print(f"votes:       {votes['per_s']:.0f}/s, p50 {votes['p50_ms']:.0f} ms, "
          f"p99 {votes['p99_ms']:.0f} ms, statuses {votes['statuses']}")
    print(f"ratio {result['ratio_throughput']:.2f} (target >= 0.5); flags staleness under load: "
          f"max {result['staleness_max_s_under_load']:.1f} s, median "
          f"{result['staleness_p50_s_under_load']:.1f} s (target <= 10 s); up to date "
          f"{drain if drain is None else round(drain, 1)} s after the load; "
          f"{rows} vote rows for {pairs} voter x proposal pairs")
    return 0 if rows == pairs and set(votes["statuses"]) == {302} else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
