"""Export benchmark: the 100k-participant process of the import benchmark, imported, then its
aggregated data package and its pseudonymised microdata package written, each timed with its
peak memory, against a baseline measured in the same run: a bare SELECT of the participants and
votes written with the csv module.

    .venv/bin/python bench/export_package.py [--participants 100000] [--rows 1000000]

Each measurement runs in a child process of its own: once the application is loaded, the child
notes its resident memory and (on Linux) restarts its high-water mark; at the end it reports its
peak. The difference is what the job itself held. A streaming export holds about as much as the
baseline, whatever the size of the package it writes. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_package as importing  # noqa: E402  (the import benchmark: package and import)

POSTGRES_ENV = importing.POSTGRES_ENV

# Runs in a child process: loads the app, notes its peak memory, runs one job, reports.
CHILD = """
import json, resource, sys, time
from pathlib import Path
from pvplatform import create_app
from pvplatform.extensions import db
app = create_app()
job, process_id, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
with app.app_context():
    db.session.execute(db.select(1))
    loaded_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status = Path("/proc/self/status")
    try:
        # Linux: start the high-water mark again from here, so that the peak is the job's and
        # not that of loading the application.
        Path("/proc/self/clear_refs").write_text("5")
        loaded_kb = next(int(line.split()[1]) for line in status.read_text().splitlines()
                         if line.startswith("VmRSS:"))
    except OSError:
        pass
    started = time.perf_counter()
    rows = 0
    if job == "aggregated":
        from datetime import datetime
        from pvplatform.evaluation.package import write_aggregate_package
        write_aggregate_package(process_id, datetime.fromisoformat(
            "2026-06-01T00:00:00+00:00"), 10, out)
    elif job == "microdata":
        from pvplatform.evaluation.microdata import write_microdata_package
        write_microdata_package(process_id, out)
    else:
        import csv
        import sqlalchemy as sa
        out.mkdir(parents=True)
        connection = db.session.connection().execution_options(stream_results=True,
                                                               yield_per=2000)
        for table, columns in (("participants", "id, kind, association_id, created_at"),
                               ("votes", "proposal_id, participant_id, value, cast_at")):
            with (out / f"{table}.csv").open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                result = connection.execute(sa.text(f"SELECT {columns} FROM {table}"))
                for row in result:
                    writer.writerow(row)
                    rows += 1
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if status.exists():
        peak_kb = next(int(line.split()[1]) for line in status.read_text().splitlines()
                       if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "loaded_kb": loaded_kb, "peak_kb": peak_kb,
                  "rows": rows}))
"""


def log(message: str) -> None:
    print(message, flush=True)


def folder_stats(folder: Path) -> tuple[int, int]:
    """(data rows of the CSV files, bytes on disk)."""
    rows = size = 0
    for path in folder.glob("*"):
        size += path.stat().st_size
        if path.suffix == ".csv":
            with path.open("rb") as f:
                rows += max(0, sum(1 for _ in f) - 1)
    return rows, size


def run_child(job: str, process_id: int, out: Path, database_url: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", CHILD, job, str(process_id), str(out)],
                            cwd=ROOT, env=importing._env(database_url), capture_output=True,
                            text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"{job} export failed ({result.returncode})")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    rows, size = folder_stats(out)
    if job == "baseline":
        rows = figures["rows"]
    return {
        "seconds": round(figures["seconds"], 2),
        "rows": rows,
        "megabytes": round(size / 1e6, 1),
        "rows_per_s": round(rows / figures["seconds"]) if figures["seconds"] else 0,
        "peak_mb": round(figures["peak_kb"] / 1024, 1),
        "held_mb": round((figures["peak_kb"] - figures["loaded_kb"]) / 1024, 1),
    }


def measure(name: str, package: Path, database_url: str, workdir: Path, *,
            wipe: bool) -> dict[str, object]:
    log(f"[{name}] creating the schema and importing the package ...")
    importing.create_schema(database_url, wipe=wipe)
    timing = importing.run_import(package, database_url)
    process_id = int(timing["process_id"])
    log(f"[{name}]   imported in {timing['import_s']:.0f} s")
    result: dict[str, object] = {"database": name, "process_id": process_id}
    for job in ("baseline", "aggregated", "microdata"):
        out = workdir / f"{name}-{job}"
        shutil.rmtree(out, ignore_errors=True)
        log(f"[{name}] {job} ...")
        result[job] = run_child(job, process_id, out, database_url)
        log(f"[{name}]   {result[job]}")
    return result


def report(results: list[dict[str, object]]) -> None:
    log("")
    log(f"{'database':<11}{'export':<12}{'s':>8}{'rows':>11}{'MB':>8}{'rows/s':>10}"
        f"{'peak MB':>9}{'held MB':>9}")
    for r in results:
        for job in ("baseline", "aggregated", "microdata"):
            f = r[job]
            log(f"{r['database']:<11}{job:<12}{f['seconds']:>8}{f['rows']:>11,}"
                f"{f['megabytes']:>8}{f['rows_per_s']:>10,}{f['peak_mb']:>9}{f['held_mb']:>9}")
    log("held MB = peak resident memory during the job minus the resident memory of the "
        "loaded application: what the job itself held.")
    log("baseline = a bare SELECT of the participants and votes written with the csv module; "
        "its rows/s counts those rows.")


def main(argv: list[str] | None = None) -> int:
    parser = importing.package_arguments(
        argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    # `make bench` gives every benchmark the same arguments: ignore the others' own.
    args, _unknown = parser.parse_known_args(argv)

    # A folder of its own under the work folder: the import benchmark's results stay.
    workdir = args.workdir.resolve() / "export"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    package = workdir / "package"
    log(f"generating a package of {args.participants:,} participants ...")
    counts = importing.generate(package, participants=args.participants, rows=args.rows,
                                seed=args.seed)
    log(f"  {sum(counts.values()):,} rows")

    results = []
    databases = {name.strip() for name in args.databases.split(",")}
    if "sqlite" in databases:
        results.append(measure("sqlite", package, f"sqlite:///{workdir / 'bench.sqlite'}",
                               workdir, wipe=False))
    postgres_url = os.environ.get(POSTGRES_ENV, "").strip()
    if "postgresql" in databases and postgres_url:
        results.append(measure("postgresql", package, postgres_url, workdir, wipe=True))
    elif "postgresql" in databases:
        log(f"({POSTGRES_ENV} not set: PostgreSQL skipped)")
    report(results)
    (args.workdir.resolve() / "export-results.json").write_text(json.dumps(
        {"participants": args.participants, "package_rows": sum(counts.values()),
         "results": results}, indent=1))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
