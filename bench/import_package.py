"""Import benchmark: a generated package of 100k participants and about 1M rows, imported with
`flask pv import` into a fresh SQLite file (and PostgreSQL when PV_BENCH_POSTGRES_URL is set),
against a baseline measured in the same run: a raw executemany of as many rows into one table.

    .venv/bin/python bench/import_package.py [--participants 100000] [--rows 1000000]

See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Tables nothing else in a package refers to: rows can be dropped and the package stays valid.
LEAF_TABLES = ("participant_attributes", "invitations", "comments", "votes", "perceptions",
               "speaking_turns")
POSTGRES_ENV = "PV_BENCH_POSTGRES_URL"


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- the package


def generate(directory: Path, *, participants: int, rows: int, seed: int) -> dict[str, int]:
    from pvplatform.participation.import_sample import write_sample_package

    counts = write_sample_package(directory, participants=participants, seed=seed)
    total = sum(counts.values())
    if rows and total > rows:
        counts = thin(directory, counts, total - rows, seed=seed)
    return counts


def thin(directory: Path, counts: dict[str, int], surplus: int, *, seed: int) -> dict[str, int]:
    """The sample's shape gives ~13.8 rows per participant; the benchmark asks for ~10. The
    same share of rows is dropped from every leaf table, so the package keeps its shape."""
    droppable = sum(counts[name] for name in LEAF_TABLES)
    keep = max(0.0, 1 - surplus / droppable)
    rng = random.Random(seed)
    for name in LEAF_TABLES:
        path = directory / f"{name}.csv"
        with path.open(encoding="utf-8", newline="") as source:
            reader = csv.reader(source)
            header = next(reader)
            kept = [row for row in reader if rng.random() < keep]
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(kept)
        counts[name] = len(kept)
    return counts


# ---------------------------------------------------------------- the platform's import


# Set by main(): the application's default refresh mode (the import requests the flags, a
# worker computes them), with a job queue of the run's own rather than `make run`'s.
_RUN_ENV: dict[str, str] = {}


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "PV_CONFIG": "development",
                "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **_RUN_ENV})
    return env


def create_schema(database_url: str, *, wipe: bool) -> None:
    """The schema as production builds it (`flask db upgrade`), in a child process like the
    import; `wipe` first empties a PostgreSQL database that an earlier run left behind."""
    if wipe:
        code = (
            "import sqlalchemy as sa, sys\n"
            "engine = sa.create_engine(sys.argv[1])\n"
            "with engine.begin() as conn:\n"
            "    conn.execute(sa.text('DROP SCHEMA public CASCADE'))\n"
            "    conn.execute(sa.text('CREATE SCHEMA public'))\n"
        )
        subprocess.run([sys.executable, "-c", code, _driver_url(database_url)], cwd=ROOT,
                       check=True)
    flask = Path(sys.executable).with_name("flask")
    subprocess.run([str(flask), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=_env(database_url), check=True, capture_output=True)


def _driver_url(database_url: str) -> str:
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url[len("postgresql://"):]
    return database_url


def run_import(package: Path, database_url: str) -> dict[str, float]:
    flask = Path(sys.executable).with_name("flask")
    command = [str(flask), "--app", "wsgi", "pv", "import", str(package)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=_env(database_url), capture_output=True,
                            text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"flask pv import failed ({result.returncode})")
    match = re.search(r"imported process (\d+) in ([0-9.]+) s", result.stderr)
    return {"wall_s": wall, "import_s": float(match.group(2)) if match else wall,
            "process_id": int(match.group(1)) if match else 0}


def stored_rows(database_url: str) -> int:
    code = (
        "import sqlalchemy as sa\n"
        "from pvplatform import create_app\n"
        "from pvplatform.extensions import db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    total = 0\n"
        "    for t in db.metadata.sorted_tables:\n"
        "        if t.name not in ('sdg_goals', 'alembic_version'):\n"
        "            total += db.session.scalar(sa.select(sa.func.count()).select_from(t))\n"
        "    print(total)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(database_url),
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1])


def worker_refresh_seconds(database_url: str, process_id: int) -> float:
    """What the worker does after the import (`flask pv worker` runs the same function): the
    flags and the dashboard's inputs from the refresh request the import left. Not part of the
    import's time; fails if the import left no request (or computed the flags itself)."""
    code = (
        "import time\n"
        "from pvplatform import create_app\n"
        "from pvplatform.jobs.refresh import refresh_until_current\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    started = time.perf_counter()\n"
        f"    runs = refresh_until_current({process_id})\n"
        "    print(runs, time.perf_counter() - started)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(database_url),
                            capture_output=True, text=True, check=True)
    runs, seconds = result.stdout.strip().splitlines()[-1].split()
    if int(runs) < 1:
        raise SystemExit("the import left no refresh request for the worker")
    return float(seconds)


# ---------------------------------------------------------------- baselines


def _baseline_rows(count: int) -> list[tuple[int, int, str, str]]:
    # About as wide as an average package row: two keys, a code, a timestamp.
    return [(i, i % 997, "in_person", "2026-01-10T16:05:00+00:00") for i in range(count)]


def sqlite_baseline(path: Path, count: int) -> float:
    rows = _baseline_rows(count)
    connection = sqlite3.connect(path)
    # The same settings as the platform's SQLite connections (pvplatform/core/sqlite.py).
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE baseline (id INTEGER PRIMARY KEY, ref INTEGER NOT NULL, "
                       "code VARCHAR(64) NOT NULL, at VARCHAR(32) NOT NULL)")
    started = time.perf_counter()
    with connection:
        connection.executemany("INSERT INTO baseline (id, ref, code, at) VALUES (?, ?, ?, ?)",
                               rows)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def postgres_baseline(database_url: str, count: int) -> float:
    import psycopg

    url = re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", database_url)
    rows = _baseline_rows(count)
    with psycopg.connect(url) as connection:
        connection.execute("DROP TABLE IF EXISTS pv_bench_baseline")
        connection.execute("CREATE TABLE pv_bench_baseline (id INTEGER PRIMARY KEY, "
                           "ref INTEGER NOT NULL, code VARCHAR(64) NOT NULL, "
                           "at TIMESTAMPTZ NOT NULL)")
        connection.commit()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO pv_bench_baseline (id, ref, code, at) "
                               "VALUES (%s, %s, %s, %s)", rows)
        connection.commit()
        elapsed = time.perf_counter() - started
        connection.execute("DROP TABLE pv_bench_baseline")
        connection.commit()
    return elapsed


# ---------------------------------------------------------------- the run


def measure(name: str, package: Path, rows: int, database_url: str, *, wipe: bool,
            baseline) -> dict[str, object]:
    log(f"[{name}] creating the schema")
    create_schema(database_url, wipe=wipe)
    log(f"[{name}] flask pv import {package} ...")
    timing = run_import(package, database_url)
    stored = stored_rows(database_url)
    log(f"[{name}] the worker's refresh of the flags, after the import ...")
    worker_s = worker_refresh_seconds(database_url, int(timing["process_id"]))
    log(f"[{name}] baseline: executemany of {rows:,} rows into one table ...")
    baseline_s = baseline(rows)
    result = {
        "database": name,
        "package_rows": rows,
        "stored_rows": stored,
        "import_s": round(timing["import_s"], 2),
        "wall_s": round(timing["wall_s"], 2),
        "rows_per_s": round(rows / timing["import_s"]),
        "baseline_s": round(baseline_s, 2),
        "baseline_rows_per_s": round(rows / baseline_s),
    }
    result["ratio"] = round(result["rows_per_s"] / result["baseline_rows_per_s"], 3)
    result["worker_refresh_s"] = round(worker_s, 2)
    result["load_average"] = round(os.getloadavg()[0], 1)
    return result


def report(results: list[dict[str, object]]) -> None:
    log("")
    log(f"{'database':<11}{'rows':>11}{'import s':>10}{'rows/s':>10}"
        f"{'baseline rows/s':>17}{'ratio':>8}{'wall s':>9}{'worker s':>10}{'load':>6}")
    for r in results:
        log(f"{r['database']:<11}{r['package_rows']:>11,}{r['import_s']:>10}"
            f"{r['rows_per_s']:>10,}{r['baseline_rows_per_s']:>17,}{r['ratio']:>8}"
            f"{r['wall_s']:>9}{r['worker_refresh_s']:>10}{r['load_average']:>6}")
    log("rows = data rows of the package's CSV files; rows/s = rows / the time `flask pv import` "
        "reports (checks, inserts, snapshots, the refresh request, commit; not the start-up, "
        "not the indicators);")
    log("worker s = the flags' refresh the worker then runs from the import's request (not in "
        "import s); load = the machine's load average at the end of the run;")
    log("ratio = platform rows/s / baseline rows/s (1.0 would be as fast as a bare executemany "
        "into a one-table schema).")


def package_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The city-size package's arguments, shared by the benchmarks that build it."""
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="thin the leaf tables down to about this many rows (0: keep all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help=f"comma-separated; postgresql runs only when {POSTGRES_ENV} is set")
    parser.add_argument("--keep", action="store_true", help="keep the packages and databases")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = package_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    # `make bench` gives every benchmark the same arguments: ignore the others' own.
    args, _unknown = parser.parse_known_args(argv)

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    package = workdir / "package"
    _RUN_ENV.update({"PV_REFRESH": "background",
                     "PV_QUEUE_URL": f"sqlite:///{workdir / 'queue.sqlite'}"})
    log(f"generating a package of {args.participants:,} participants ...")
    started = time.perf_counter()
    counts = generate(package, participants=args.participants, rows=args.rows, seed=args.seed)
    rows = sum(counts.values())
    log(f"  {rows:,} rows in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{name} {n:,}" for name, n in counts.items()))

    results = []
    databases = {name.strip() for name in args.databases.split(",")}
    if "sqlite" in databases:
        sqlite_file = workdir / "bench.sqlite"
        results.append(measure(
            "sqlite", package, rows, f"sqlite:///{sqlite_file}", wipe=False,
            baseline=lambda n: sqlite_baseline(workdir / "baseline.sqlite", n)))
    postgres_url = os.environ.get(POSTGRES_ENV, "").strip()
    if "postgresql" not in databases:
        pass
    elif postgres_url:
        # The database is emptied first: give the benchmark a database of its own.
        results.append(measure("postgresql", package, rows, postgres_url, wipe=True,
                               baseline=lambda n: postgres_baseline(postgres_url, n)))
    else:
        log(f"({POSTGRES_ENV} not set: PostgreSQL skipped)")
    report(results)
    (workdir / "results.json").write_text(json.dumps(
        {"participants": args.participants, "tables": counts, "results": results}, indent=1))
    if not args.keep:
        shutil.rmtree(package, ignore_errors=True)
        for path in workdir.glob("*.sqlite*"):
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
