"""What the benchmarks that serve the application share: gunicorn with its worker, the load
generators, bare Flask baselines, logged-in cookies made in process, and the two databases they
serve (the demo, and the city-size process of the import benchmark, imported once per run).

Not a benchmark itself (run.py lists those).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
BIN = Path(sys.executable).parent
SECRET = "bench-serving-secret-key-not-for-production"  # noqa: S105
POSTGRES_ENV = "PV_BENCH_POSTGRES_URL"

# A request of the load generators: (path, form, cookie). A form sends a POST, None a GET.
Request = tuple[str, dict[str, Any] | None, str]

# The bare insert of votes.py: one row inserted (or replaced) in SQLite, committed.
BARE_INSERT_APP = '''
import os, sqlite3, threading
from flask import Flask, request
app = Flask(__name__)
local = threading.local()
def conn():
    if not hasattr(local, "c"):
        c = sqlite3.connect(os.environ["BARE_DB"], timeout=15, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=NORMAL")
        local.c = c
    return local.c
@app.post("/insert")
def insert():
    c = conn()
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO votes (voter, proposal, value) VALUES (?, ?, ?) "
              "ON CONFLICT (voter, proposal) DO UPDATE SET value = excluded.value",
              (int(request.form["voter"]), int(request.form["proposal"]),
               int(request.form["value"])))
    c.execute("COMMIT")
    return "", 302, {"Location": "/"}
'''

# The floor for a page: Flask answering a small HTML page, and the same with one primary-key
# SELECT on the application's own database (the dashboard reads one stored row).
BARE_PAGE_APP = '''
import os, threading
from flask import Flask, abort
app = Flask(__name__)
local = threading.local()
URL = os.environ["BARE_DATABASE_URL"]
PAGE = ("<!doctype html><html lang=fr><head><meta charset=utf-8><title>Villeneuve</title>"
        "</head><body><h1>Bonjour</h1><p>Une page de quelques octets.</p></body></html>")
def conn():
    if not hasattr(local, "c"):
        if URL.startswith("sqlite:///"):
            import sqlite3
            c = sqlite3.connect(URL.removeprefix("sqlite:///"), timeout=15, isolation_level=None)
            c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=NORMAL")
            local.c, local.mark = c, "?"
        else:
            import psycopg
            local.c, local.mark = psycopg.connect(URL, autocommit=True), "%s"
    return local.c, local.mark
@app.get("/page")
def page():
    return PAGE
@app.get("/pk/<int:process_id>")
def pk(process_id):
    c, mark = conn()
    row = c.execute(f"SELECT title FROM processes WHERE id = {mark}", (process_id,)).fetchone()
    if row is None:
        abort(404)
    return PAGE.replace("Bonjour", row[0].replace("<", "&lt;").replace("&", "&amp;"))
'''


def log(message: str) -> None:
    print(message, flush=True)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, path: str = "/", seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


def gunicorn(app: str, port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """2 sync workers: the settings of every serving benchmark, baselines included."""
    return subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                             "--log-level", "warning", app], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def site_env(database_url: str, work: Path) -> dict[str, str]:
    """The platform's environment: background refresh, its queue in the work folder."""
    return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET,
            "PV_CONFIG": "development", "PV_REFRESH": "background",
            "PV_QUEUE_URL": f"sqlite:///{work / 'queue.sqlite'}", "LOG_LEVEL": "WARNING"}


def flask_command(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "pv", "worker"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def bare_page_server(work: Path, database_url: str) -> Iterator[int]:
    """The bare Flask app of BARE_PAGE_APP under gunicorn; yields its port."""
    (work / "bare_page_app.py").write_text(BARE_PAGE_APP)
    port = free_port()
    url = database_url
    if url.startswith(("postgresql+psycopg://", "postgres://")):
        url = "postgresql://" + url.split("://", 1)[1]
    proc = gunicorn("bare_page_app:app", port, {**os.environ, "BARE_DATABASE_URL": url}, work)
    try:
        wait_up(port, "/page")
        yield port
    finally:
        stop(proc)


@contextmanager
def site_server(env: dict[str, str], *, worker: bool = True) -> Iterator[int]:
    """The platform under gunicorn, with `flask pv worker` beside it; yields the port."""
    proc_worker = start_worker(env) if worker else None
    port = free_port()
    site = gunicorn("wsgi:app", port, env, ROOT)
    try:
        wait_up(port)
        yield port
    finally:
        stop(site)
        if proc_worker is not None:
            stop(proc_worker)


# ---------------------------------------------------------------- load


def _send(port: int, path: str, form: dict[str, Any] | None, cookie: str
          ) -> tuple[int, bytes]:
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    if form is None:
        conn.request("GET", path, headers=headers)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request("POST", path, body=urlencode(form), headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def fetch(port: int, path: str, cookie: str = "") -> tuple[int, str]:
    status, body = _send(port, path, None, cookie)
    return status, body.decode("utf-8", "replace")


def load(port: int, requests: list[Request], connections: int, seconds: float) -> dict:
    """Sends the requests round-robin from `connections` threads for `seconds` (each thread
    waits for its answer before sending the next). Every request started before the end is
    answered and counted: the server stays busy until the last one, so count / elapsed is its
    rate."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(offset: int) -> None:
        i = offset
        mine_lat, mine_status = [], {}
        while time.monotonic() < stop_at:
            path, form, cookie = requests[i % len(requests)]
            i += connections
            started = time.perf_counter()
            status, _body = _send(port, path, form, cookie)
            mine_lat.append(time.perf_counter() - started)
            mine_status[status] = mine_status.get(status, 0) + 1
        with lock:
            latencies.extend(mine_lat)
            for k, v in mine_status.items():
                statuses[k] = statuses.get(k, 0) + v

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"requests": len(latencies), "per_s": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "statuses": statuses}


def paced(port: int, requests: list[Request], rate: float, seconds: float) -> dict:
    """Sends the requests one after the other at `rate` per second for `seconds`, on a fixed
    schedule (an answer later than the next slot delays that one: nothing piles up in the
    generator). Latencies are kept in order, with when each request was sent (seconds after
    `started_at`, a time.monotonic() instant)."""
    sent: list[float] = []
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.monotonic()
    for n, (path, form, cookie) in enumerate(requests):
        slot = start + n / rate
        if slot - start >= seconds:
            break
        wait = slot - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sent.append(time.monotonic() - start)
        began = time.perf_counter()
        status, _body = _send(port, path, form, cookie)
        latencies.append(time.perf_counter() - began)
        statuses[status] = statuses.get(status, 0) + 1
    ordered = sorted(latencies)
    return {"requests": len(latencies), "per_s": len(latencies) / (time.monotonic() - start),
            "started_at": start,
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
            "max_ms": 1000 * ordered[-1], "statuses": statuses,
            "sent_s": sent, "latency_ms": [1000 * x for x in latencies]}


def staleness(database: Path, stop_event: threading.Event, samples: list[float],
              versions: list[tuple[float, int]] | None = None) -> None:
    """Samples every 0.2 s the age of the oldest refresh request waiting (0 when none), and with
    `versions`, when the stored dashboard's data version changes: (time.monotonic(), version)
    at each refresh the worker committed."""
    conn = sqlite3.connect(database, timeout=15)
    last = None
    while not stop_event.is_set():
        row = conn.execute("SELECT min(requested_at) FROM refresh_requests").fetchone()
        if row[0]:
            oldest = datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
            samples.append((datetime.now(UTC) - oldest).total_seconds())
        else:
            samples.append(0.0)
        if versions is not None:
            version = conn.execute("SELECT max(data_version) FROM dashboard_snapshots"
                                   ).fetchone()[0]
            if version != last:
                versions.append((time.monotonic(), version))
                last = version
        time.sleep(0.2)
    conn.close()


def wait_refreshed(database: Path, process_id: int, seconds: float = 600) -> float:
    """Waits until the worker has answered every refresh request and stored the process's
    dashboard snapshot; how long it took."""
    started = time.monotonic()
    conn = sqlite3.connect(database, timeout=30)
    try:
        while time.monotonic() - started < seconds:
            waiting = conn.execute("SELECT count(*) FROM refresh_requests").fetchone()[0]
            stored = conn.execute("SELECT count(*) FROM dashboard_snapshots WHERE process_id = ?",
                                  (process_id,)).fetchone()[0]
            if not waiting and stored:
                return time.monotonic() - started
            time.sleep(0.2)
    finally:
        conn.close()
    raise RuntimeError(f"the worker did not refresh process {process_id} in {seconds:.0f} s")


# ---------------------------------------------------------------- the application in process


def make_app(database_url: str, queue_url: str = "memory://") -> Any:
    """The application, configured as the served one (same secret: its cookies are valid).
    By default its jobs go to a queue in memory that nobody reads: the refresh requests it
    commits stay in the database, and the worker started afterwards takes them all first."""
    os.environ.update(DATABASE_URL=database_url, SECRET_KEY=SECRET, PV_CONFIG="development",
                      PV_REFRESH="background", PV_QUEUE_URL=queue_url, LOG_LEVEL="WARNING")
    from config import DevelopmentConfig
    from pvplatform import create_app

    url = database_url
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]

    # config.py reads the environment once, at its import: a second database in the same
    # process needs its own configuration object.
    class BenchConfig(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = url
        PV_QUEUE_URL = queue_url
        SECRET_KEY = SECRET
        PV_REFRESH = "background"
        FLAGS_AUTO_REFRESH = True

    return create_app(BenchConfig)


def credentials(app: Any, user: Any, now: datetime) -> tuple[str, str]:
    """A logged-in session cookie for the user and its CSRF token, made in process."""
    from flask import g, session
    from flask_wtf.csrf import generate_csrf

    from pvplatform.auth.session_policy import start_session

    serializer = app.session_interface.get_signing_serializer(app)
    with app.test_request_context():
        g.pop("csrf_token", None)  # cached per app context, which all users share
        start_session(user, now=now)
        token = generate_csrf()
        cookie = f"{app.config['SESSION_COOKIE_NAME']}={serializer.dumps(dict(session))}"
    return cookie, token


def dispose(app: Any) -> None:
    from pvplatform.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# ---------------------------------------------------------------- databases


def schema_key() -> str:
    """What a stored database depends on: the migrations and the importer's code."""
    digest = hashlib.sha256()
    paths = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    paths += sorted((ROOT / "pvplatform" / "participation").glob("import*.py"))
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy (the backup API: a WAL file left beside the source is included)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    conn = sqlite3.connect(target)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _checkpoint(path: Path) -> None:
    """Everything into the main file, and the connection closed (which removes the WAL), so
    that the file can be renamed and copied alone."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def demo_database(workdir: Path, target: Path) -> None:
    """A fresh copy of the demo (`flask db upgrade`, `flask pv demo`), built once per run and
    schema under `workdir/cache`."""
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    demo_sources = sorted((ROOT / "pvplatform").glob("demo*.py"))
    key = hashlib.sha256((schema_key() + "".join(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in demo_sources)).encode()
    ).hexdigest()[:12]
    # The demo is dated from today: a copy made on another day is another demo.
    cached = cache / f"demo-{key}-{datetime.now(UTC).date()}.sqlite"
    if not cached.exists():
        log("  building the demo database (flask db upgrade, flask pv demo) ...")
        building = cached.with_suffix(".building")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
        env = {**site_env(f"sqlite:///{building}", cache),
               "PV_QUEUE_URL": "memory://"}
        flask_command(["db", "upgrade"], env)
        flask_command(["pv", "demo"], env)
        _checkpoint(building)
        building.rename(cached)
    copy_sqlite(cached, target)


@dataclass
class City:
    """The city-size process: its database (a working copy) and what it was built from."""

    database: Path
    process_id: int
    participants: int
    package_rows: int
    import_s: float | None  # None when it came from the cache
    key: str
    tables: dict[str, int] = field(default_factory=dict)


def city_arguments(parser: Any) -> Any:
    """The city-size package's options: those of the import benchmark (same defaults), so that
    one `make bench` gives every benchmark the same process."""
    import import_package as importing

    return importing.package_arguments(parser)


def city_database(args: Any, target: Path) -> City:
    """A working copy of the city-size process: generated with the import benchmark's
    functions and imported with `flask pv import` once per participants, rows, seed and schema,
    kept under `workdir/cache` for the other benchmarks of the run."""
    import import_package as importing

    cache = args.workdir.resolve() / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    key = f"city-{args.participants}-{args.rows}-{args.seed}-{schema_key()}"
    cached, meta = cache / f"{key}.sqlite", cache / f"{key}.json"
    import_s = None
    if not (cached.exists() and meta.exists()):
        for old in cache.glob("city-*"):
            old.unlink()
        package = cache / "package"
        shutil.rmtree(package, ignore_errors=True)
        log(f"  generating the city-size package ({args.participants:,} participants) ...")
        counts = importing.generate(package, participants=args.participants, rows=args.rows,
                                    seed=args.seed)
        building = cache / "building.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{building}"
        # The import's refresh job must not reach the queue of the instance/ folder.
        previous = os.environ.get("PV_QUEUE_URL")
        os.environ["PV_QUEUE_URL"] = "memory://"
        try:
            importing.create_schema(url, wipe=False)
            log(f"  flask pv import ({sum(counts.values()):,} rows) ...")
            timing = importing.run_import(package, url)
        finally:
            if previous is None:
                os.environ.pop("PV_QUEUE_URL", None)
            else:
                os.environ["PV_QUEUE_URL"] = previous
        import_s = timing["import_s"]
        _checkpoint(building)
        building.rename(cached)
        shutil.rmtree(package, ignore_errors=True)
        meta.write_text(json.dumps({"process_id": int(timing["process_id"]),
                                    "import_s": import_s, "tables": counts}))
    info = json.loads(meta.read_text())
    copy_sqlite(cached, target)
    return City(database=target, process_id=info["process_id"], participants=args.participants,
                package_rows=sum(info["tables"].values()), import_s=import_s, key=key,
                tables=info["tables"])


def request_refresh(database_url: str, process_id: int) -> None:
    """Asks the worker to compute the process's figures with the code of today (a cached
    database may hold a snapshot of an older format, or none)."""
    app = make_app(database_url)
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.jobs.refresh import request_refresh as request

    with app.app_context():
        request(db.session(), [process_id], utcnow())
        db.session.commit()
    dispose(app)


# ---------------------------------------------------------------- figures


def median_of(rounds: Sequence[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def write_results(workdir: Path, name: str, result: dict) -> Path:
    path = workdir.resolve() / f"{name}-results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str))
    return path


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value
