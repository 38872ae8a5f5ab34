"""Backups that can be taken while the platform runs, and their restore.

SQLite: the online backup API copies a consistent snapshot (one read transaction) while writers
go on; everything committed before the backup began is in it. PostgreSQL: `pg_dump` in custom
format (also one snapshot), restored with `pg_restore` in a single transaction.

The backup holds personal data: the file is created readable by its owner only. pg_dump and
pg_restore run with argument lists, never through a shell, the password in the environment.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess  # nosec B404
import tempfile
from pathlib import Path

import sqlalchemy as sa


class BackupError(Exception):
    """A backup or restore that cannot be carried out; the message says why."""


def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _read_only(path: Path) -> sqlite3.Connection:
    # As a URI (any character of the path escaped), so that a missing file is never created.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def _private_temp(near: Path) -> Path:
    near.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{near.name}.", suffix=".part", dir=near.parent)
    os.close(fd)
    os.chmod(name, 0o600)
    return Path(name)


def find_pg_tool(name: str) -> str | None:
    """`pg_dump` / `pg_restore` on PATH, else the newest one of a Debian PostgreSQL install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: [int(x) for x in Path(p).parts[-3].split(".")
                                       if x.isdigit()])
    return candidates[-1] if candidates else None


def _pg_command(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (it goes in the environment, not in `ps` output)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(args: list[str], env: dict[str, str]) -> None:
    # The tool is pg_dump / pg_restore found by find_pg_tool, given an argument list, no shell.
    result = subprocess.run(  # noqa: S603  # nosec B603
        args, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {result.stderr.strip()[:2000]}")


# ---------------------------------------------------------------- backup

def backup_database(url: str | sa.URL, path: str | Path, *, overwrite: bool = False) -> Path:
    url = sa.make_url(url)
    target = Path(path)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another file or confirm the overwrite")
    partial = _private_temp(target)
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        elif url.get_backend_name() == "postgresql":
            _pg_backup(url, partial)
        else:
            raise BackupError(f"no backup method for {url.get_backend_name()}")
        # Only a complete backup gets the final name: an interrupted one never looks valid.
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _sqlite_backup(source: Path, destination: Path) -> None:
    if not source.exists():
        raise BackupError(f"no database at {source}")
    src = _read_only(source)
    dst = sqlite3.connect(destination)
    try:
        # pages=-1: the whole database in one step, hence one read snapshot.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the backup failed its integrity check: {check}")
    finally:
        dst.close()
        src.close()


def _pg_backup(url: sa.URL, destination: Path) -> None:
    tool = find_pg_tool("pg_dump")
    if tool is None:
        raise BackupError("pg_dump is not installed (PostgreSQL client tools)")
    uri, env = _pg_command(url)
    _run([tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={destination}",
          f"--dbname={uri}"], env)


# ---------------------------------------------------------------- restore

def database_has_tables(url: str | sa.URL) -> bool:
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if not path.exists():
            return False
        con = _read_only(path)
        try:
            return con.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0] > 0
        finally:
            con.close()
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return bool(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def restore_database(url: str | sa.URL, path: str | Path, *, overwrite: bool = False) -> None:
    """Replaces the database's content with the backup's. Refuses to replace existing data
    unless `overwrite`; stop the application first (its open transactions would be lost)."""
    url = sa.make_url(url)
    source = Path(path)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    if database_has_tables(url) and not overwrite:
        raise BackupError("the database is not empty; confirm to overwrite it")
    if url.get_backend_name() == "sqlite":
        _sqlite_restore(source, _sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        _pg_restore(source, url)
    else:
        raise BackupError(f"no restore method for {url.get_backend_name()}")


def _sqlite_restore(source: Path, target: Path) -> None:
    src = _read_only(source)
    try:
        try:
            check = src.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise BackupError(f"{source} is not a SQLite backup ({err})") from err
        if check != "ok":
            raise BackupError(f"{source} failed its integrity check: {check}")
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            # Through the backup API, not a file copy: the target's WAL stays consistent and
            # connections that remain open see the restored content.
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()


def _pg_restore(source: Path, url: sa.URL) -> None:
    tool = find_pg_tool("pg_restore")
    if tool is None:
        raise BackupError("pg_restore is not installed (PostgreSQL client tools)")
    uri, env = _pg_command(url)
    _run([tool, "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", f"--dbname={uri}", str(source)], env)
