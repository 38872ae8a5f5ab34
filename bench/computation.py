"""The full indicator and flag computation of the city-size process, against a hand-written SQL
lower bound (issue "city scale").

In process, on a copy of the city-size process of the import benchmark (100,000 participants,
imported once per run and kept under bench/out/cache), times what the background worker
computes for a process: `gather_dashboard_inputs` (pvplatform/indicators/dashboard_inputs.py:
the engine's facts, indicator rows and flags, the session funnel, reference shares, association
absences and labels; pvplatform/jobs/refresh.py runs it), and the flags alone
(`compute_current_flags`, pvplatform/indicators/store.py). The lower bound, measured in the same
run on the same file: a hand-written set of aggregate queries, sent with the plain `sqlite3`
module, that read each base table the engine reads once (registrations, invitations and
attendances per session, attendees per session and category, attributes per category,
proposals per state, comments, votes and speaking time per participant, perceptions per value
and wave...). Each figure is the median of `--repeat` runs after a first one that warms the
caches; the engine's statements are counted and timed by call site. Also timed: the worker's
whole refresh of the process after a change (`run_pending`: the reading, the ledger's lists,
storing flags, snapshot and lists), whose double bounds how far the flags can lag behind a
change under a sustained load (the refresh under way, then the change's own).

    .venv/bin/python bench/computation.py [--repeat 3] [--participants 100000]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: E402

# The lower bound: one aggregate per base table, as of :t, for process :p. Dimension tables
# (sessions, proposals, public values) and participants' kind are joined by key.
HELD = "SELECT id, starts_at FROM sessions WHERE process_id = :p AND starts_at <= :t"
LOWER_BOUND: tuple[tuple[str, str], ...] = (
    ("sessions held, ranked", """
        SELECT id, title, row_number() OVER (ORDER BY starts_at, id) FROM sessions
        WHERE process_id = :p AND starts_at <= :t"""),
    ("registrations per session (live, distinct people)", """
        SELECT r.meeting_id, count(*),
               sum(CASE WHEN r.cancelled_at IS NULL OR r.cancelled_at > :t
                             OR r.cancelled_at >= h.starts_at THEN 1 ELSE 0 END),
               count(DISTINCT r.participant_id)
        FROM registrations r JOIN (:held) h ON h.id = r.meeting_id
        WHERE r.registered_at <= :t GROUP BY r.meeting_id"""),
    ("invitations per session (people, associations)", """
        SELECT i.meeting_id, count(DISTINCT i.participant_id), count(DISTINCT i.association_id)
        FROM invitations i JOIN (:held) h ON h.id = i.meeting_id
        WHERE i.invited_at <= :t AND i.invited_at < h.starts_at GROUP BY i.meeting_id"""),
    ("attendances per session and kind", """
        SELECT a.meeting_id, p.kind, count(*), count(DISTINCT a.participant_id)
        FROM attendances a JOIN (:held) h ON h.id = a.meeting_id
        JOIN participants p ON p.id = a.participant_id
        WHERE a.checked_in_at <= :t GROUP BY a.meeting_id, p.kind"""),
    ("attendees per session and category", """
        SELECT a.meeting_id, s.dimension, s.category, count(*)
        FROM attendance_snapshots s JOIN attendances a ON a.id = s.attendance_id
        JOIN (:held) h ON h.id = a.meeting_id
        WHERE a.checked_in_at <= :t GROUP BY a.meeting_id, s.dimension, s.category"""),
    ("participants' categories", """
        SELECT dimension, category, count(*) FROM participant_attributes
        GROUP BY dimension, category"""),
    ("participants per kind", "SELECT kind, count(*) FROM participants GROUP BY kind"),
    ("proposals per state (answered, waiting, reasons)", """
        SELECT state, count(*),
               sum(CASE WHEN answered_at IS NOT NULL AND answered_at <= :t THEN 1 ELSE 0 END),
               sum(CASE WHEN answered_at IS NULL OR answered_at > :t THEN 1 ELSE 0 END),
               sum(CASE WHEN coalesce(trim(answer_rationale), '') <> '' THEN 1 ELSE 0 END),
               min(published_at)
        FROM proposals WHERE process_id = :p AND published_at <= :t GROUP BY state"""),
    ("comments per participant", """
        SELECT count(*), sum(x), max(x) FROM (
            SELECT c.author_id, count(*) AS x FROM comments c
            JOIN proposals pr ON pr.id = c.proposal_id
            WHERE pr.process_id = :p AND pr.published_at <= :t AND c.created_at <= :t
            GROUP BY c.author_id)"""),
    ("votes per participant", """
        SELECT count(*), sum(x), max(x) FROM (
            SELECT v.participant_id, count(*) AS x FROM votes v
            JOIN proposals pr ON pr.id = v.proposal_id
            WHERE pr.process_id = :p AND pr.published_at <= :t AND v.cast_at <= :t
            GROUP BY v.participant_id)"""),
    ("speaking time per participant", """
        SELECT count(*), sum(x), max(x) FROM (
            SELECT t.participant_id, sum(:seconds) AS x FROM speaking_turns t
            JOIN (:held) h ON h.id = t.meeting_id
            WHERE t.ended_at IS NOT NULL AND t.ended_at <= :t GROUP BY t.participant_id)"""),
    ("perceptions per value and wave", """
        SELECT v.code, q.wave, count(*), sum(q.score), count(DISTINCT q.participant_id)
        FROM perceptions q JOIN public_values v ON v.id = q.public_value_id
        WHERE v.process_id = :p AND q.answered_at <= :t GROUP BY v.code, q.wave"""),
    ("catalogue (dimensions, strata, values)", """
        SELECT 'd', code, '', label FROM dimensions WHERE process_id = :p
        UNION ALL SELECT 's', dimension, category, label FROM strata WHERE process_id = :p
        UNION ALL SELECT 'v', code, '', name FROM public_values WHERE process_id = :p"""),
)


def _median_time(function: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Median seconds of `repeat` runs after a first, unmeasured one."""
    value = function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, value


def lower_bound(database: Path, process_id: int, as_of: datetime, repeat: int
                ) -> dict[str, Any]:
    """The hand-written queries with the plain sqlite3 module, timed each and as a set."""
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")
    # Stored as the platform's UTCDateTime writes it on SQLite: naive UTC text.
    params = {"p": process_id, "t": as_of.strftime("%Y-%m-%d %H:%M:%S.%f")}
    seconds = "(julianday(t.ended_at) - julianday(t.started_at)) * 86400.0"
    queries = [(name, sql.replace("(:held)", f"({HELD})").replace(":seconds", seconds))
               for name, sql in LOWER_BOUND]

    def run_all() -> int:
        return sum(len(conn.execute(sql, params).fetchall()) for _name, sql in queries)

    total, times, rows = _median_time(run_all, repeat)
    each = {}
    for name, sql in queries:
        each[name] = round(1000 * _median_time(
            lambda sql=sql: conn.execute(sql, params).fetchall(), repeat)[0], 1)
    conn.close()
    return {"seconds": round(total, 3), "runs_s": [round(t, 3) for t in times],
            "statements": len(queries), "result_rows": rows, "ms_per_query": each}


def engine(url: str, process_id: int, as_of: datetime, repeat: int) -> dict[str, Any]:
    """The worker's computation and the flags alone, in process, with statement counts."""
    import cProfile

    from profile_page import StatementCounter, _layers, _top_functions

    app = serving.make_app(url)
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.indicators.autorefresh import mark_dirty
    from pvplatform.indicators.dashboard_inputs import gather_dashboard_inputs
    from pvplatform.indicators.store import compute_current_flags
    from pvplatform.jobs.refresh import run_pending

    result: dict[str, Any] = {}
    with app.app_context():
        def full() -> Any:
            inputs = gather_dashboard_inputs(process_id, as_of)
            db.session.rollback()
            return inputs

        def flags() -> Any:
            found = compute_current_flags(process_id, as_of)
            db.session.rollback()
            return found

        def refresh() -> Any:
            # What the worker does for a change: the engine's reading, the trend base (stored
            # by the first, unmeasured run and reused), the ledger's lists, storing them all.
            mark_dirty(process_id)
            db.session.commit()
            return run_pending(process_id, now=utcnow())

        full_s, full_runs, inputs = _median_time(full, repeat)
        flags_s, flags_runs, found = _median_time(flags, repeat)
        refresh_s, refresh_runs, _ = _median_time(refresh, repeat)
        counter = StatementCounter(db.engine)
        counter.on = True
        try:
            full()
        finally:
            counter.on = False
            counter.close()
        # Where the time outside the statements goes (statements included, by layer).
        profile = cProfile.Profile()
        profile.enable()
        full()
        profile.disable()
        log = counter.log
        sites = sorted(log.by_site.items(), key=lambda kv: sum(kv[1]), reverse=True)
        result = {
            "full": {"seconds": round(full_s, 3), "runs_s": [round(t, 3) for t in full_runs],
                     "statements": log.count, "sql_s": round(log.seconds, 3),
                     "indicator_rows": len(inputs.rows) + len(inputs.extra_rows),
                     "flags": len(inputs.flags)},
            "flags_only": {"seconds": round(flags_s, 3),
                           "runs_s": [round(t, 3) for t in flags_runs], "flags": len(found)},
            "refresh": {"seconds": round(refresh_s, 3),
                        "runs_s": [round(t, 3) for t in refresh_runs]},
            "own_ms_by_layer": {k: round(v, 1) for k, v in _layers(profile).items()},
            "top_app_functions": _top_functions(profile, sort="cumulative", limit=20,
                                                app_only=True),
            "statements_by_site": [
                {"site": site, "count": len(t), "ms": round(1000 * sum(t), 1)}
                for site, t in sites[:15]],
        }
    serving.dispose(app)
    return result


def main(argv: list[str]) -> int:
    parser = serving.city_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    parser.add_argument("--repeat", type=int, default=3)
    # `make bench` gives every benchmark the same arguments: ignore the others' own.
    args, _ = parser.parse_known_args(argv)
    work = args.workdir.resolve() / "computation"
    work.mkdir(parents=True, exist_ok=True)
    serving.log("preparing the city-size process ...")
    city = serving.city_database(args, work / "city.sqlite")
    url = f"sqlite:///{city.database}"
    from pvplatform.db import utcnow

    as_of = utcnow()
    load_before = serving.load_average()
    serving.log(f"engine: gather_dashboard_inputs and compute_current_flags, median of "
                f"{args.repeat} ...")
    measured = engine(url, city.process_id, as_of, args.repeat)
    serving.log(f"lower bound: {len(LOWER_BOUND)} hand-written aggregate queries, median of "
                f"{args.repeat} ...")
    bound = lower_bound(city.database, city.process_id, as_of, args.repeat)
    load_after = serving.load_average()
    full, flags, refresh = measured["full"], measured["flags_only"], measured["refresh"]
    result = {
        "participants": city.participants, "package_rows": city.package_rows,
        "process_id": city.process_id, "as_of": as_of.isoformat(), "import_s": city.import_s,
        "engine": measured, "lower_bound": bound,
        "ratio_full": round(full["seconds"] / bound["seconds"], 1),
        "ratio_flags_only": round(flags["seconds"] / bound["seconds"], 1),
        # A change made just after a refresh started waits for it, then for its own.
        "staleness_bound_s": round(2 * refresh["seconds"], 1),
        "load_average": [load_before, load_after],
    }
    path = serving.write_results(args.workdir, "computation", result)
    serving.log(f"engine statements by call site ({full['statements']} statements, "
                f"{full['sql_s']:.2f} s of SQL):")
    for row in measured["statements_by_site"][:10]:
        serving.log(f"  {row['count']:>4} x {row['ms']:>9.1f} ms  {row['site']}")
    layers = measured["own_ms_by_layer"]
    serving.log("one run under cProfile, own time by layer: " + ", ".join(
        f"{name} {ms / 1000:.2f} s" for name, ms in layers.items()))
    serving.log("application functions by cumulative time (one run under cProfile):")
    for row in measured["top_app_functions"][:12]:
        serving.log(f"  {row['cumulative_ms']:>9.1f} ms {row['calls']:>7} calls  "
                    f"{row['function']}")
    serving.log("lower bound per query (ms): " + ", ".join(
        f"{name} {ms}" for name, ms in bound["ms_per_query"].items()))
    serving.log("")
    serving.log(f"city-size process: {city.participants:,} participants, "
                f"{city.package_rows:,} package rows; load average {load_before} -> "
                f"{load_after}")
    serving.log(f"  worker's computation (gather_dashboard_inputs): {full['seconds']:.2f} s, "
                f"{full['statements']} statements, {full['flags']} flags, "
                f"{full['indicator_rows']} indicator rows")
    serving.log(f"  flags only (compute_current_flags):             {flags['seconds']:.2f} s")
    serving.log(f"  worker's whole refresh (run_pending):           {refresh['seconds']:.2f} s: "
                f"flags at most {result['staleness_bound_s']} s behind a change (2 refreshes)")
    serving.log(f"  hand-written SQL lower bound:                   {bound['seconds']:.2f} s, "
                f"{bound['statements']} statements")
    serving.log(f"  ratio engine / lower bound: full x{result['ratio_full']}, flags only "
                f"x{result['ratio_flags_only']}")
    serving.log(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
