"""`flask pv ...`: operations that run without a browser."""

from __future__ import annotations

import click
from flask.cli import AppGroup

pv = AppGroup("pv", help="pvplatform commands.")


@pv.command("create-user")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--role", default="citizen", show_default=True,
              type=click.Choice(["citizen", "association", "staff", "elected", "evaluator",
                                 "admin"]))
@click.password_option()
def create_user_command(email: str, display_name: str, role: str, password: str) -> None:
    """Create an account (for instance the first admin)."""
    from pvplatform.auth.models import Role
    from pvplatform.auth.services import create_account
    from pvplatform.errors import DomainError
    from pvplatform.extensions import db

    try:
        user = create_account(email=email, password=password, display_name=display_name,
                              role=Role(role), actor=None)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from err
    click.echo(f"created user {user.id} <{user.email}> with role {user.role}")


@pv.command("demo")
@click.option("--if-empty", is_flag=True, help="Load only when the database has no process.")
def demo_command(if_empty: bool) -> None:
    """Load the demo process of a fictional town (safe to run again)."""
    from pvplatform.demo import load_demo

    load_demo(if_empty=if_empty, echo=click.echo)


# ---------------------------------------------------------------- data package import, indicators

def _parse_instant(value: str | None):
    """--as-of: an ISO 8601 instant with its offset (a naive time would be ambiguous)."""
    from datetime import datetime

    from pvplatform.db import utcnow

    if value is None:
        return utcnow()
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 instant",
                                 param_hint="--as-of") from err
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise click.BadParameter("give the UTC offset, e.g. 2026-03-01T00:00:00+00:00",
                                 param_hint="--as-of")
    return instant


class _TqdmProgress:
    """Import progress on the terminal: one bar for the checks, one for the inserts."""

    def __init__(self) -> None:
        self.bar = None

    def start(self, phase: str, total: int) -> None:
        from tqdm import tqdm

        self.close()
        unit = "B" if phase == "check" else "rows"
        self.bar = tqdm(total=total, desc=phase, unit=unit, unit_scale=True, leave=False,
                        disable=None)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@pv.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, dir_okay=True))
def import_command(directory: str) -> None:
    """Import a process data package (a folder with datapackage.json) as a new process."""
    import time
    from pathlib import Path

    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.participation.importer import PackageInvalid, import_package

    progress = _TqdmProgress()
    started = time.perf_counter()
    try:
        process = import_package(Path(directory), now=utcnow(), progress=progress)
        db.session.commit()
    except PackageInvalid as err:
        db.session.rollback()
        progress.close()
        for error in err.errors:
            click.echo(str(error), err=True)
        if err.total > len(err.errors):
            click.echo(f"... and {err.total - len(err.errors)} more errors", err=True)
        raise click.ClickException(err.message) from err
    except BaseException:
        db.session.rollback()
        progress.close()
        raise
    progress.close()
    click.echo(f"imported process {process.id} in {time.perf_counter() - started:.1f} s",
               err=True)
    click.echo(process.id)


def _print_rows(records, keys, output_format: str) -> None:
    from pvplatform.indicators.present import to_csv, to_json

    if output_format == "csv":
        click.echo(to_csv(records, keys), nl=False)
    else:
        click.echo(to_json(records))


@pv.command("indicators")
@click.argument("process_id", type=int)
@click.option("--as-of", "as_of", metavar="ISO8601", help="Instant (default: now).")
@click.option("--format", "output_format", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def indicators_command(process_id: int, as_of: str | None, output_format: str) -> None:
    """Print the indicator rows of INDICATORS.md for a process."""
    from pvplatform.errors import NotFound
    from pvplatform.indicators import compute_indicators
    from pvplatform.indicators.present import INDICATOR_KEYS, indicator_records

    instant = _parse_instant(as_of)
    try:
        rows = compute_indicators(process_id, instant)
    except NotFound as err:
        raise click.ClickException(f"no process with id {process_id}") from err
    _print_rows(indicator_records(rows), INDICATOR_KEYS, output_format)


@pv.command("flags")
@click.argument("process_id", type=int)
@click.option("--as-of", "as_of", metavar="ISO8601", help="Instant (default: now).")
@click.option("--format", "output_format", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def flags_command(process_id: int, as_of: str | None, output_format: str) -> None:
    """Print the risk flags of INDICATORS.md raised for a process (default thresholds)."""
    from pvplatform.errors import NotFound
    from pvplatform.indicators import compute_flags
    from pvplatform.indicators.present import FLAG_KEYS, flag_records

    instant = _parse_instant(as_of)
    try:
        rows = compute_flags(process_id, instant)
    except NotFound as err:
        raise click.ClickException(f"no process with id {process_id}") from err
    _print_rows(flag_records(rows), FLAG_KEYS, output_format)


# ---------------------------------------------------------------- exports for evaluators

@pv.command("export")
@click.argument("process_id", type=int)
@click.option("--out", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, dir_okay=True),
              help="An empty or new folder: aggregated/ and microdata/ are written into it.")
@click.option("--k", "k", type=int, default=None, metavar="K",
              help="Hide every figure resting on 1 to K-1 people (default: PV_EXPORT_MIN_CELL, "
                   "10; at least 3).")
@click.option("--microdata", is_flag=True,
              help="Also write the pseudonymised microdata package (DATA.md).")
@click.option("--as-of", "as_of", metavar="ISO8601", help="Instant (default: now).")
def export_command(process_id: int, out: str, k: int | None, microdata: bool,
                   as_of: str | None) -> None:
    """Write the aggregated data package of a process (and, with --microdata, its pseudonymised
    microdata) into DIR; every package is recorded in the export audit."""
    from pathlib import Path

    import sqlalchemy as sa
    from flask import current_app

    from pvplatform.db import utcnow
    from pvplatform.evaluation.audit import record_export
    from pvplatform.evaluation.microdata import write_microdata_package
    from pvplatform.evaluation.models import ExportChannel, ExportFormat
    from pvplatform.evaluation.package import write_aggregate_package
    from pvplatform.extensions import db
    from pvplatform.indicators.suppression import MIN_K, export_k
    from pvplatform.processes.models import Process

    if k is None:
        k = export_k(current_app.config)
    if k < MIN_K:
        raise click.BadParameter(f"k must be at least {MIN_K}", param_hint="--k")
    instant = _parse_instant(as_of)
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise click.ClickException(f"{target} is not empty: give a new or empty folder")
    process = db.session.scalar(sa.select(Process).where(Process.id == process_id))
    if process is None:
        raise click.ClickException(f"no process with id {process_id}")

    now = utcnow()
    aggregated = write_aggregate_package(process.id, instant, k, target / "aggregated",
                                         locale=current_app.config.get("BABEL_DEFAULT_LOCALE",
                                                                       "fr"))
    record_export(actor=None, process=process, format=ExportFormat.PACKAGE,
                  channel=ExportChannel.CLI, k=k, microdata=False, as_of=instant, now=now)
    db.session.commit()
    click.echo(f"aggregated package (k = {k}): {aggregated}")
    if microdata:
        progress = _TqdmProgress()
        try:
            # Without --as-of, everything recorded so far.
            path = write_microdata_package(process.id, target / "microdata",
                                           as_of=instant if as_of else None, progress=progress)
        finally:
            progress.close()
        record_export(actor=None, process=process, format=ExportFormat.MICRODATA,
                      channel=ExportChannel.CLI, k=None, microdata=True, as_of=instant,
                      now=now)
        db.session.commit()
        click.echo(f"microdata package (pseudonymised): {path}")


# ---------------------------------------------------------------- backup and restore

@pv.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--yes", is_flag=True, help="Overwrite PATH if it exists.")
def backup_command(path: str, yes: bool) -> None:
    """Back up the database to PATH while the platform runs (SQLite online backup API, or
    pg_dump custom format on PostgreSQL). The file holds personal data: keep it safe."""
    from pvplatform.core.backup import BackupError, backup_database
    from pvplatform.extensions import db

    try:
        target = backup_database(db.engine.url, path, overwrite=yes)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"backup written to {target}")


@pv.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--yes", is_flag=True, help="Replace the data of a database that is not empty.")
def restore_command(path: str, yes: bool) -> None:
    """Restore the database from a backup made by `flask pv backup`. Stop the platform first;
    an existing database is only replaced with --yes."""
    from pvplatform.core.backup import BackupError, restore_database
    from pvplatform.extensions import db

    url = db.engine.url
    # Our own pooled connections would keep reading the old content (or hold locks).
    db.session.remove()
    db.engine.dispose()
    try:
        restore_database(url, path, overwrite=yes)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"database restored from {path}")


@pv.command("recompute")
def recompute_command() -> None:
    """Refresh the stored risk flags of every running process (for cron).

    Flags already follow every change; this catches those that move with time alone (a session
    becoming held, a proposal waiting past 30 or 90 days)."""
    import sqlalchemy as sa

    from pvplatform.core.i18n import town_zone
    from pvplatform.db import utcnow
    from pvplatform.extensions import db
    from pvplatform.indicators.models import FlagRecord
    from pvplatform.indicators.store import refresh_flags
    from pvplatform.processes.models import Process

    now = utcnow()
    today = now.astimezone(town_zone()).date()
    running = sa.and_(sa.or_(Process.starts_on.is_(None), Process.starts_on <= today),
                      sa.or_(Process.ends_on.is_(None), Process.ends_on >= today))
    process_ids = list(db.session.scalars(
        sa.select(Process.id).where(running).order_by(Process.id)))
    failures = 0
    for process_id in process_ids:
        try:
            result = refresh_flags(process_id, now=now)
            db.session.commit()
        except Exception as err:  # one broken process must not stop the others
            db.session.rollback()
            failures += 1
            click.echo(f"process {process_id}: failed: {err}", err=True)
            continue
        active = db.session.scalar(
            sa.select(sa.func.count()).select_from(FlagRecord)
            .where(FlagRecord.process_id == process_id, FlagRecord.cleared_at.is_(None)))
        click.echo(f"process {process_id}: {len(result.raised)} raised, "
                   f"{len(result.cleared)} cleared, {len(result.changed)} changed, "
                   f"{active} active")
    click.echo(f"{len(process_ids)} running process(es) refreshed", err=True)
    if failures:
        raise click.ClickException(f"{failures} process(es) failed")


# ---------------------------------------------------------------- background worker

@pv.command("worker")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Threads taking jobs; several worker commands may run on several machines.")
def worker_command(workers: int) -> None:
    """Run the background jobs: refreshing the stored flags after changes (within seconds),
    a sweep every minute for jobs lost on the way, time-based flags every 15 minutes."""
    import logging

    from flask import current_app
    from huey.consumer import Consumer

    from pvplatform.db import utcnow
    from pvplatform.jobs.queue import EXTENSION, MAX_POLL_DELAY
    from pvplatform.jobs.refresh import run_all_pending

    queue = current_app.extensions[EXTENSION]
    # Changes made while no worker ran are refreshed first.
    done = run_all_pending(now=utcnow())
    click.echo(f"refreshed {done} process(es) with waiting changes; taking jobs from "
               f"{current_app.config['PV_QUEUE_URL'].split('@')[-1]}", err=True)
    # Huey logs two lines per job at INFO: under a vote burst they would drown the log.
    logging.getLogger("huey").setLevel(logging.WARNING)
    Consumer(queue.huey, workers=workers, worker_type="thread",
             max_delay=MAX_POLL_DELAY).run()
