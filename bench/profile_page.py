"""Profiles one page in process: the Flask test client on a database, as anonymous, a citizen or
staff, with SQLAlchemy's statement events (how many statements, how long, from which line) and
cProfile (where Python spends the rest).

    .venv/bin/python bench/profile_page.py --dataset demo /processes/1/proposals
    .venv/bin/python bench/profile_page.py --dataset city --as citizen /proposals/{proposal}

`--dataset demo|city` builds the database as the pages benchmark does (the city-size process
is imported once and kept under bench/out/cache); `--database FILE` profiles an existing SQLite
file instead (with `--dataset city`, its two bench accounts are added when missing). `{process}`,
`{proposal}`, `{session}` in the path are the pages benchmark's choices. bench/pages.py calls
`profile_page` for every page below its target, bench/checkins.py for a check-in.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: E402

APP_DIRS = (str(ROOT / "pvplatform"), str(ROOT / "templates"))


def _where(path: str) -> str:
    return path[len(str(ROOT)) + 1:] if path.startswith(str(ROOT)) else path


def _call_site() -> str:
    """The application's lines that sent a statement: the innermost one, and the outermost
    (the view or template that asked) when they differ."""
    # Frames walked by hand: traceback.extract_stack reads the source files (linecache).
    frames = []
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(APP_DIRS):
            frames.append((frame.f_code.co_filename, frame.f_lineno))
        frame = frame.f_back
    if not frames:
        return "(outside the application)"
    inner = f"{_where(frames[0][0])}:{frames[0][1]}"
    outer = f"{_where(frames[-1][0])}:{frames[-1][1]}"
    return inner if inner == outer else f"{inner} <- {outer}"


def _shape(statement: str) -> str:
    """A statement with its literals and IN lists folded, on one line, for grouping."""
    text = re.sub(r"\s+", " ", statement).strip()
    text = re.sub(r"\(\s*(\?|%\(\w+\)s|__\[POSTCOMPILE_\w+\])(\s*,\s*[^)]*)?\)", "(…)", text)
    return text[:160]


@dataclass
class StatementLog:
    count: int = 0
    seconds: float = 0.0
    by_site: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_shape: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sites_of_shape: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


class StatementCounter:
    """Counts and times every statement an engine sends, with its call site."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.log = StatementLog()
        self.on = False
        self._event = event
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("pv_bench_started", []).append(
            (time.perf_counter(), _call_site() if self.on else ""))

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started, site = conn.info["pv_bench_started"].pop()
        if not self.on:
            return
        elapsed = time.perf_counter() - started
        self.log.count += 1
        self.log.seconds += elapsed
        self.log.by_site[site].append(elapsed)
        shape = _shape(statement)
        self.log.by_shape[shape].append(elapsed)
        self.log.sites_of_shape[shape].add(site)

    def close(self) -> None:
        self._event.remove(self.engine, "before_cursor_execute", self._before)
        self._event.remove(self.engine, "after_cursor_execute", self._after)


def _top_functions(profile: cProfile.Profile, *, sort: str, limit: int,
                   app_only: bool) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        if app_only and not filename.startswith(APP_DIRS):
            continue
        rows.append({"function": f"{_where(filename)}:{line} {name}", "calls": calls,
                     "own_ms": round(1000 * tottime, 1), "cumulative_ms": round(1000 * cumtime, 1)})
    key = "own_ms" if sort == "own" else "cumulative_ms"
    rows.sort(key=lambda r: r[key], reverse=True)
    return rows[:limit]


# Where own time goes, by the code that spends it (first match wins).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("templates (Jinja2, MarkupSafe)", ("/templates/", "/jinja2/", "/markupsafe/")),
    ("SQLAlchemy (statements, ORM)", ("/sqlalchemy/", "/flask_sqlalchemy/")),
    ("database driver", ("sqlite3", "/psycopg/")),
    ("Babel (translations, dates)", ("/babel/", "/flask_babel/")),
    ("forms (WTForms, CSRF)", ("/wtforms/", "/flask_wtf/")),
    ("Flask, Werkzeug, login, limiter", ("/flask/", "/werkzeug/", "/flask_login/",
                                         "/itsdangerous/", "/flask_limiter/", "/limits/")),
    ("application code", ("/pvplatform/",)),
)


def _layer(filename: str, name: str) -> str | None:
    text = f"{filename} {name}"
    for layer, marks in LAYERS:
        if any(mark in text for mark in marks):
            return layer
    return None


def _layers(profile: cProfile.Profile) -> dict[str, float]:
    """Own time per layer (ms). Built-in functions (filename "~") count for the layer of the
    code that called them, in proportion to the time spent from each caller."""
    stats = pstats.Stats(profile, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _calls, tottime, _cumtime, callers) in stats.items():
        layer = _layer(filename, name)
        if layer is None and filename == "~" and callers:
            spent = sum(c[2] for c in callers.values()) or 1.0
            for (caller_file, _l, caller_name), c in callers.items():
                share = tottime * c[2] / spent
                totals[_layer(caller_file, caller_name) or "other"] += 1000 * share
            continue
        totals[layer or "other"] += 1000 * tottime
    return dict(sorted(totals.items(), key=lambda kv: kv[1], reverse=True))


def _forget() -> None:
    """Empties what the pages keep in memory for one reading (the ledger's lists): the next
    visit is the first one after a refresh. The reading itself stays (here no worker stores
    it: it is the present computed once, as a stored snapshot would be read)."""
    from pvplatform.ledger import list_pages

    for memo in (list_pages.COUNTS, list_pages.IDS):
        memo.clear()


def profile_page(app: Any, path: str, cookie: str = "", *, repeat: int = 5,
                 forms: list[dict[str, Any]] | None = None, cold: bool = False
                 ) -> dict[str, Any]:
    """One page `repeat` times in process (after a first, unmeasured visit that warms the
    caches): its median time, its statements per visit (grouped by call site and by shape) and
    cProfile's top functions over the visits. With `forms` (1 + 3 x repeat of them), each visit
    POSTs the next form instead: a form that stores something can be sent only once. With
    `cold`, each visit starts with nothing kept in memory (`_forget`)."""
    from pvplatform.extensions import db

    client = app.test_client()
    if cookie:
        # The test client keeps its own cookies and ignores a Cookie header.
        name, _, value = cookie.partition("=")
        client.set_cookie(name, value)
    pending = list(forms or [])
    if forms is not None and len(pending) < 1 + 3 * repeat:
        raise ValueError(f"{1 + 3 * repeat} forms needed, {len(pending)} given")

    def visit() -> Any:
        if cold:
            _forget()
        if forms is None:
            return client.get(path)
        return client.post(path, data=pending.pop(0))

    status = visit().status_code
    with app.app_context():
        engine = db.engine
    # Three passes, so that neither the statement events nor the profiler weigh on the time.
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = visit()
        times.append(time.perf_counter() - started)
        status = response.status_code
    counter = StatementCounter(engine)
    try:
        counter.on = True
        for _ in range(repeat):
            visit()
        counter.on = False
    finally:
        counter.close()
    profile = cProfile.Profile()
    for _ in range(repeat):
        profile.enable()
        visit()
        profile.disable()
    log = counter.log
    sites = sorted(log.by_site.items(), key=lambda kv: sum(kv[1]), reverse=True)
    shapes = sorted(log.by_shape.items(), key=lambda kv: sum(kv[1]), reverse=True)
    return {
        "path": path, "status": status, "bytes": len(response.data), "visits": repeat,
        "median_ms": round(1000 * statistics.median(times), 1),
        "statements_per_visit": log.count / repeat,
        "sql_ms_per_visit": round(1000 * log.seconds / repeat, 1),
        "statements_by_site": [
            {"site": site, "per_visit": len(t) / repeat,
             "ms_per_visit": round(1000 * sum(t) / repeat, 2)} for site, t in sites[:12]],
        "slowest_statements": [
            {"sql": shape, "per_visit": len(t) / repeat,
             "ms_per_visit": round(1000 * sum(t) / repeat, 2),
             "sites": sorted(log.sites_of_shape[shape])[:3]} for shape, t in shapes[:8]],
        "own_ms_by_layer": {k: round(v / repeat, 1) for k, v in _layers(profile).items()},
        "top_app_functions": _top_functions(profile, sort="cumulative", limit=25, app_only=True),
        "top_own_time": _top_functions(profile, sort="own", limit=15, app_only=False),
    }


def print_brief(report: dict[str, Any], *, indent: str = "  ") -> None:
    """Five lines: time and statements, where the time goes, the heaviest lines."""
    serving.log(f"{indent}{report['median_ms']} ms in process, {report['bytes']:,} bytes, "
                f"{report['statements_per_visit']:.0f} statements "
                f"({report['sql_ms_per_visit']} ms of SQL) per visit")
    layers = report["own_ms_by_layer"]
    total = sum(layers.values()) or 1.0
    serving.log(f"{indent}by layer: " + ", ".join(
        f"{name} {ms / total:.0%}" for name, ms in list(layers.items())[:5]))
    sites = report["statements_by_site"][:3]
    serving.log(f"{indent}statements: " + "; ".join(
        f"{row['per_visit']:g} x {row['site'].split(' <- ')[0]}" for row in sites))
    # The view and the templates' outer blocks contain everything: the lines below them.
    inner = [row for row in report["top_app_functions"]
             if not row["function"].endswith((" root", " block_content"))][1:5]
    serving.log(f"{indent}heaviest: " + "; ".join(
        f"{row['function']} {row['cumulative_ms'] / report['visits']:.1f} ms"
        for row in inner))


def print_profile(report: dict[str, Any], *, indent: str = "  ") -> None:
    serving.log(f"{indent}{report['path']}: {report['status']}, {report['bytes']:,} bytes, "
                f"{report['median_ms']} ms in process, {report['statements_per_visit']:.0f} "
                f"statements ({report['sql_ms_per_visit']} ms of SQL) per visit")
    serving.log(f"{indent}statements by call site (per visit):")
    for row in report["statements_by_site"][:8]:
        serving.log(f"{indent}  {row['per_visit']:>6.1f} x {row['ms_per_visit']:>8.2f} ms  "
                    f"{row['site']}")
    serving.log(f"{indent}slowest statements (per visit):")
    for row in report["slowest_statements"][:5]:
        serving.log(f"{indent}  {row['per_visit']:>6.1f} x {row['ms_per_visit']:>8.2f} ms  "
                    f"{row['sql'][:110]}")
        serving.log(f"{indent}{'':>22}from {', '.join(row['sites'])}")
    layers = report["own_ms_by_layer"]
    total = sum(layers.values()) or 1.0
    serving.log(f"{indent}own time per visit under the profiler, by layer: " + ", ".join(
        f"{name} {ms:.1f} ms ({ms / total:.0%})" for name, ms in layers.items()))
    serving.log(f"{indent}application functions by cumulative time (over the visits):")
    for row in report["top_app_functions"][:12]:
        serving.log(f"{indent}  {row['cumulative_ms']:>8.1f} ms {row['calls']:>7} calls  "
                    f"{row['function']}")
    serving.log(f"{indent}own time, any code (over the visits):")
    for row in report["top_own_time"][:8]:
        serving.log(f"{indent}  {row['own_ms']:>8.1f} ms {row['calls']:>7} calls  "
                    f"{row['function']}")


def _refresh(app: Any, process_id: int) -> None:
    """What the worker beside the served pages stores: the figures, the flags and the ledger's
    lists of the process as of now (pages then read them, as they do when served)."""
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.indicators.autorefresh import mark_dirty
    from pvplatform.jobs.refresh import run_pending

    with app.app_context():
        mark_dirty(process_id)
        db.session.commit()
        run_pending(process_id, now=utcnow())


def main(argv: list[str]) -> int:
    import pages

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="e.g. /processes/{process}/proposals")
    parser.add_argument("--dataset", choices=("demo", "city"), default="demo")
    parser.add_argument("--database", type=Path, help="an existing SQLite file instead")
    parser.add_argument("--as", dest="who", choices=("anonymous", "citizen", "staff"),
                        default="anonymous")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold", action="store_true",
                        help="each visit as the first one after a refresh (nothing kept)")
    serving.city_arguments(parser)
    args = parser.parse_args(argv)
    if args.database is None:
        work = args.workdir.resolve() / "profile"
        work.mkdir(parents=True, exist_ok=True)
        database = work / f"{args.dataset}.sqlite"
        process_id = pages.prepare_database(args.dataset, args, database)
    else:
        database = args.database.resolve()
        process_id = None
    app = serving.make_app(f"sqlite:///{database}")
    world = pages.build_world(app, args.dataset, process_id)
    _refresh(app, world.process_id)
    cookie = {"anonymous": "", "citizen": world.citizen_cookie, "staff": world.staff_cookie
              }[args.who]
    report = profile_page(app, world.fill(args.path), cookie, repeat=args.repeat,
                          cold=args.cold)
    print_profile(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
