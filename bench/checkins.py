"""Check-ins at a door: one staff account checks people in at a steady pace, and none of them
waits for the indicators (issue "city scale").

Serves the demo with gunicorn (2 sync workers, `flask pv worker` beside it) on a file SQLite
database in WAL mode. Its next session is made to have started a few minutes ago, with enough
extra registrations for the run (new citizens with the demographics of demo participants). One
staff account (session cookie and CSRF token made in process) then posts the real check-in
form, `POST /manage/sessions/<id>/checkin`, at `--rate` per second (default 5) for `--seconds`
(default 60): four in five from the registration list, one in five a walk-in. Measured in the
same run, at the same pace: a plain page POST of the same staff session on the same server
(the language switch: CSRF, session, login, a commit with nothing to write) and the bare insert
of bench/votes.py (a bare Flask app inserting one SQLite row). Reports the latencies (p50, p99,
max, and the p50 of every 10 s to show they stay flat), the flags' staleness while the
check-ins go on (the age of the oldest refresh request waiting, sampled every 0.2 s) and how
long after the last check-in the flags are current.

    .venv/bin/python bench/checkins.py [--seconds 60] [--rate 5] [--baseline-seconds 15]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: E402

WALK_IN_EVERY = 5  # one check-in in five is a walk-in
WINDOW_S = 10.0
# A check-in "waits" when it takes longer than this many times the plain POST's p99.
WAIT_FACTOR = 3.0
PROFILE_REPEAT = 5
PROFILE_FORMS = 1 + 3 * PROFILE_REPEAT  # what profile_page needs for PROFILE_REPEAT visits


def _world(url: str, count: int, seed: int) -> dict[str, Any]:
    """The next session, started five minutes ago, with `count` check-ins to make."""
    import sqlalchemy as sa

    from pvplatform.auth.models import Role, User
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.participation.models import Participant, ParticipantAttribute
    from pvplatform.participation.services import participant_for
    from pvplatform.sessions import services
    from pvplatform.sessions.models import Meeting, Registration

    rng = random.Random(seed)
    app = serving.make_app(url)
    now = utcnow()
    with app.app_context():
        meeting = db.session.scalar(
            sa.select(Meeting).where(Meeting.starts_at >= now, Meeting.closed_at.is_(None))
            .order_by(Meeting.starts_at, Meeting.id).limit(1))
        registered = services.live_registration_count(meeting.id)
        walk_ins = count // WALK_IN_EVERY
        # The run's check-ins from the list, and those of the in-process profile afterwards.
        extra = max(0, count - walk_ins + PROFILE_FORMS - registered)
        meeting.capacity = registered + extra
        # Demographics as the demo's people gave them: a check-in copies them (snapshot).
        profiles: dict[int, list[tuple[str, str]]] = {}
        for pid, dimension, category in db.session.execute(
                sa.select(ParticipantAttribute.participant_id, ParticipantAttribute.dimension,
                          ParticipantAttribute.category)):
            profiles.setdefault(pid, []).append((dimension, category))
        pool = list(profiles.values())
        users = [User(email=f"porte{i}@bench.example", display_name=f"Habitant·e Porte {i}",
                      role=Role.CITIZEN) for i in range(extra)]
        db.session.add_all(users)
        db.session.flush()
        for user in users:
            participant: Participant = participant_for(user)
            for dimension, category in rng.choice(pool) if pool else []:
                db.session.add(ParticipantAttribute(participant_id=participant.id,
                                                    dimension=dimension, category=category))
            services.register(meeting, participant, now=now)
        # The door opens: the session started five minutes ago.
        length = (meeting.ends_at - meeting.starts_at) if meeting.ends_at else timedelta(hours=2)
        meeting.starts_at = now - timedelta(minutes=5)
        meeting.ends_at = meeting.starts_at + length
        db.session.commit()
        registration_ids = list(db.session.scalars(
            sa.select(Registration.id).where(Registration.meeting_id == meeting.id,
                                             Registration.cancelled_at.is_(None))))
        rng.shuffle(registration_ids)
        staff = db.session.scalar(sa.select(User).where(User.email == "staff@villeneuve.example"))
        cookie, token = serving.credentials(app, staff, now)
        path = f"/manage/sessions/{meeting.id}/checkin"
        profile_forms = [{"registration_id": registration_ids.pop(), "mode": "in_person",
                          "csrf_token": token} for _ in range(PROFILE_FORMS)]
        requests: list[serving.Request] = []
        for n in range(count):
            if n % WALK_IN_EVERY == WALK_IN_EVERY - 1 or not registration_ids:
                form = {"name": f"Passant·e {n} Bench", "kind": "citizen", "association": "0",
                        "csrf_token": token}
            else:
                form = {"registration_id": registration_ids.pop(), "mode": "in_person",
                        "csrf_token": token}
            requests.append((path, form, cookie))
        plain = [("/language", {"lang": "fr", "next": f"/manage/sessions/{meeting.id}",
                                "csrf_token": token}, cookie)] * count
        world = {"process_id": meeting.process_id, "meeting_id": meeting.id,
                 "meeting_title": meeting.title, "path": path, "cookie": cookie,
                 "token": token, "requests": requests, "plain": plain,
                 "profile_forms": profile_forms}
    serving.dispose(app)
    return world


def _windows(result: dict[str, Any]) -> list[dict[str, float]]:
    """p50 and max latency of every WINDOW_S seconds of the run."""
    windows: dict[int, list[float]] = {}
    for sent, latency in zip(result["sent_s"], result["latency_ms"], strict=True):
        windows.setdefault(int(sent // WINDOW_S), []).append(latency)
    return [{"from_s": k * WINDOW_S, "n": len(v), "p50_ms": round(statistics.median(v), 1),
             "max_ms": round(max(v), 1)} for k, v in sorted(windows.items())]


def _refresh_overlap(result: dict[str, Any], versions: list[tuple[float, int]],
                     threshold: float) -> tuple[list[float], dict[str, float]]:
    """When the worker committed refreshes during the run (seconds after its start), and the
    share of all check-ins, and of the slow ones, under way when one was committed (seen by the
    0.2 s sampler: within 0.25 s after the answer counts too). Slow check-ins that are no more
    often under way at a commit than the others are not waiting for the refresh's write."""
    start = result["started_at"]
    commits = [t - start for t, _v in versions[1:] if t >= start]

    def under_way(sent: float, latency_ms: float) -> bool:
        end = sent + latency_ms / 1000 + 0.25
        return any(sent <= c <= end for c in commits)

    pairs = list(zip(result["sent_s"], result["latency_ms"], strict=True))
    slow = [(s, x) for s, x in pairs if x > threshold]
    share = {
        "all": sum(under_way(s, x) for s, x in pairs) / len(pairs) if pairs else 0.0,
        "slow": sum(under_way(s, x) for s, x in slow) / len(slow) if slow else 0.0,
    }
    return [round(c, 2) for c in commits], share


def _bare_insert(work: Path, count: int, rate: float, seconds: float) -> dict[str, Any]:
    (work / "bare_app.py").write_text(serving.BARE_INSERT_APP)
    bare_db = work / "bare.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{bare_db}{suffix}").unlink(missing_ok=True)
    c = sqlite3.connect(bare_db)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE votes (voter INTEGER, proposal INTEGER, value INTEGER, "
              "PRIMARY KEY (voter, proposal))")
    c.close()
    import os

    port = serving.free_port()
    bare = serving.gunicorn("bare_app:app", port, {**os.environ, "BARE_DB": str(bare_db)}, work)
    try:
        serving.wait_up(port, "/insert")
        requests: list[serving.Request] = [
            ("/insert", {"voter": n, "proposal": 1, "value": 1}, "") for n in range(count)]
        return serving.paced(port, requests, rate, seconds)
    finally:
        serving.stop(bare)


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items()
            if k not in ("sent_s", "latency_ms")}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--baseline-seconds", type=float, default=15,
                        help="length of each baseline (plain POST, bare insert)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=serving.ROOT / "bench" / "out")
    # `make bench` gives every benchmark the same arguments: ignore the others' own.
    args, _ = parser.parse_known_args(argv)
    work = args.workdir.resolve() / "checkins"
    work.mkdir(parents=True, exist_ok=True)
    count = int(args.rate * args.seconds) + 1
    baseline_count = int(args.rate * args.baseline_seconds) + 1

    serving.log(f"bare insert (bench/votes.py's baseline) at {args.rate}/s for "
                f"{args.baseline_seconds:.0f} s ...")
    bare = _bare_insert(work, baseline_count, args.rate, args.baseline_seconds)

    database = work / "site.sqlite"
    url = f"sqlite:///{database}"
    serving.demo_database(args.workdir.resolve(), database)
    world = _world(url, count, args.seed)
    serving.request_refresh(url, world["process_id"])
    env = serving.site_env(url, work)
    conn = sqlite3.connect(database, timeout=15)
    attendances_before = conn.execute("SELECT count(*) FROM attendances WHERE meeting_id = ?",
                                      (world["meeting_id"],)).fetchone()[0]
    samples: list[float] = []
    versions: list[tuple[float, int]] = []
    stop = threading.Event()
    drain = None
    with serving.site_server(env) as port:
        serving.wait_refreshed(database, world["process_id"])
        serving.log(f"plain page POST (language switch, staff) at {args.rate}/s for "
                    f"{args.baseline_seconds:.0f} s ...")
        plain = serving.paced(port, world["plain"], args.rate, args.baseline_seconds)
        serving.log(f"check-ins at {args.rate}/s for {args.seconds:.0f} s on session "
                    f"{world['meeting_id']} ({world['meeting_title']}) ...")
        load_average = serving.load_average()
        sampler = threading.Thread(target=serving.staleness,
                                   args=(database, stop, samples, versions))
        sampler.start()
        checkins = serving.paced(port, world["requests"], args.rate, args.seconds)
        end = time.monotonic()
        stop.set()
        sampler.join()
        while time.monotonic() - end < 120:
            if not conn.execute("SELECT count(*) FROM refresh_requests").fetchone()[0]:
                drain = time.monotonic() - end
                break
            time.sleep(0.1)
        load_average_after = serving.load_average()
    attendances = conn.execute("SELECT count(*) FROM attendances WHERE meeting_id = ?",
                               (world["meeting_id"],)).fetchone()[0] - attendances_before
    conn.close()

    # Where a check-in's time goes, beside the plain POST's: in process, statements counted.
    from profile_page import print_brief, profile_page

    app = serving.make_app(url, queue_url=env["PV_QUEUE_URL"])
    profiles = {}
    for name, path, forms in (
            ("check-in", world["path"], world["profile_forms"]),
            ("plain POST", "/language", [world["plain"][0][1]] * PROFILE_FORMS)):
        serving.log(f"in process, {name}:")
        profiles[name] = profile_page(app, path, world["cookie"], repeat=PROFILE_REPEAT,
                                      forms=forms)
        print_brief(profiles[name], indent="  ")
    serving.dispose(app)

    threshold = WAIT_FACTOR * plain["p99_ms"]
    waited = sum(1 for x in checkins["latency_ms"] if x > threshold)
    commits, during = _refresh_overlap(checkins, versions, threshold)
    # A check-in that refreshed the indicators itself would show the engine's statements.
    inline = [row["site"] for row in profiles["check-in"]["statements_by_site"]
              if "indicators/facts.py" in row["site"] or "indicators/store.py" in row["site"]]
    windows = _windows(checkins)
    result = {
        "rate_per_s": args.rate, "seconds": args.seconds, "meeting_id": world["meeting_id"],
        "checkins": _brief(checkins), "plain_post": _brief(plain), "bare_insert": _brief(bare),
        "ratio_p50_to_plain_post": round(checkins["p50_ms"] / plain["p50_ms"], 2),
        "ratio_p99_to_plain_post": round(checkins["p99_ms"] / plain["p99_ms"], 2),
        "ratio_p50_to_bare_insert": round(checkins["p50_ms"] / bare["p50_ms"], 2),
        "windows": windows,
        "slow_checkins": waited, "slow_threshold_ms": round(threshold, 1),
        "refreshes_committed": len(commits),
        "share_overlapping_a_refresh_commit": during,
        "engine_statements_in_a_checkin": inline,
        "staleness_max_s": round(max(samples), 2) if samples else None,
        "staleness_p50_s": round(statistics.median(samples), 2) if samples else None,
        "flags_current_after_s": None if drain is None else round(drain, 2),
        "attendances_stored": attendances,
        "load_average": [load_average, load_average_after],
        "profiles": profiles,
        "latency_ms": [round(x, 1) for x in checkins["latency_ms"]],
    }
    path = serving.write_results(args.workdir, "checkins", result)
    for name, r in (("bare insert", bare), ("plain POST", plain), ("check-in", checkins)):
        serving.log(f"{name:<12} {r['requests']:>4} sent, p50 {r['p50_ms']:>6.1f} ms, p99 "
                    f"{r['p99_ms']:>6.1f} ms, max {r['max_ms']:>6.1f} ms, statuses "
                    f"{r['statuses']}")
    serving.log("check-in p50 by 10 s: " + ", ".join(
        f"{w['p50_ms']:.0f} (max {w['max_ms']:.0f})" for w in windows) + " ms")
    serving.log(f"check-in / plain POST: p50 x{result['ratio_p50_to_plain_post']}, p99 "
                f"x{result['ratio_p99_to_plain_post']}; check-in / bare insert: p50 "
                f"x{result['ratio_p50_to_bare_insert']}; {waited} check-in(s) over "
                f"{threshold:.0f} ms ({WAIT_FACTOR:g} x the plain POST's p99)")
    serving.log(f"the worker committed {len(commits)} refreshes during the check-ins; check-ins "
                f"under way at a commit: {during['all']:.0%} of all, {during['slow']:.0%} of the "
                f"slow ones; engine statements inside a check-in: {len(inline)}")
    serving.log(f"flags staleness during the check-ins: max {result['staleness_max_s']} s, "
                f"median {result['staleness_p50_s']} s; current "
                f"{result['flags_current_after_s']} s after the last check-in; "
                f"{attendances} attendances stored; load average {load_average} -> "
                f"{load_average_after}")
    serving.log(f"figures in {path}")
    ok = attendances == checkins["requests"] and set(checkins["statuses"]) == {303}
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
