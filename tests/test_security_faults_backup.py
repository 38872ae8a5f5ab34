"""SECURITY.md, Faults: "Backup: `flask pv backup` uses SQLite's online backup API (pg_dump on
PostgreSQL); a restore while a writer runs loses nothing that committed before the backup began."

Read with the backup: a backup taken while a writer runs holds everything that committed before
the backup began, and restoring it gives that data back. `flask pv restore` refuses to replace a
database that has data unless told `--yes`.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from pvplatform.core.backup import BackupError, backup_database, restore_database
from pvplatform.extensions import db as _db
from tests.conftest import make_app, require_postgres_tool, seed_reference_data

PG_URL = os.environ.get("PV_TEST_DATABASE_URL", "")


def _pg_database() -> tuple[str, str]:
    name = f"pv_backup_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False), name


def _drop_pg(name: str) -> None:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _backends() -> list:
    return [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres_only)]


@pytest.fixture
def urls(request, tmp_path):
    """Two empty databases of the backend: the live one and the one to restore into."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.sqlite'}", f"sqlite:///{tmp_path / 'restored.sqlite'}"
        return
    require_postgres_tool("pg_dump")
    require_postgres_tool("pg_restore")
    (live, live_name), (restored, restored_name) = _pg_database(), _pg_database()
    yield live, restored
    _drop_pg(live_name)
    _drop_pg(restored_name)


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {n: conn.execute(sa.select(sa.func.count()).select_from(sa.table(n))).scalar()
                for n in sorted(names)}


@pytest.mark.parametrize("urls", _backends(), indirect=True)
def test_backup_and_restore_through_the_cli(urls, tmp_path):
    live_url, restored_url = urls
    live = make_app(SQLALCHEMY_DATABASE_URI=live_url)
    with live.app_context():
        _db.create_all()
        seed_reference_data()
        from tests.route_params import build_world

        build_world()
        expected = _counts(_db.engine)
        assert expected["users"] == 6
        runner = live.test_cli_runner()
        path = tmp_path / "pv.backup"
        result = runner.invoke(args=["pv", "backup", str(path)])
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds personal data
        # An existing file is not overwritten unless asked.
        again = runner.invoke(args=["pv", "backup", str(path)])
        assert again.exit_code != 0 and "exists" in again.output
        assert runner.invoke(args=["pv", "backup", str(path), "--yes"]).exit_code == 0
        # Restoring over a database that has data needs --yes.
        refused = runner.invoke(args=["pv", "restore", str(path)])
        assert refused.exit_code != 0 and "not empty" in refused.output
        _db.session.remove()
        _db.engine.dispose()

    restored = make_app(SQLALCHEMY_DATABASE_URI=restored_url)
    with restored.app_context():
        result = restored.test_cli_runner().invoke(args=["pv", "restore", str(path)])
        assert result.exit_code == 0, result.output
        assert _counts(_db.engine) == expected
        # The restored database serves the app.
        client = restored.test_client()
        assert client.get("/").status_code == 200
        assert client.post("/auth/login", data={"email": "admin1@example.org",
                                                "password": "correct horse battery staple!"}
                           ).status_code == 302
        _db.session.remove()
        _db.engine.dispose()


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    target = tmp_path / "target.sqlite"
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackupError):
        restore_database(f"sqlite:///{target}", junk)
    assert not target.exists() or target.stat().st_size == 0
    with pytest.raises(BackupError):
        backup_database("sqlite://", tmp_path / "memory.backup")


# ---------------------------------------------------------------- backup while a writer runs

class Writer(threading.Thread):
    """Commits one row at a time into the live database and records each committed id."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        from pvplatform.core.sqlite import configure_sqlite

        self.engine = sa.create_engine(url, poolclass=sa.NullPool)
        configure_sqlite(self.engine)
        self.committed: list[int] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        table = sa.table("audit_log", sa.column("id"), sa.column("action"),
                         sa.column("target_type"), sa.column("details", sa.JSON),
                         sa.column("created_at"))
        try:
            while not self.stop.is_set():
                with self.engine.begin() as conn:
                    new_id = conn.execute(table.insert().values(
                        action="backup.test", target_type="test", details={},
                        created_at=sa.func.current_timestamp()).returning(table.c.id)
                    ).scalar_one()
                self.committed.append(new_id)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err
        finally:
            self.engine.dispose()


@pytest.mark.parametrize("urls", _backends(), indirect=True)
def test_backup_while_a_writer_runs_keeps_everything_committed_before(urls, tmp_path):
    live_url, restored_url = urls
    live = make_app(SQLALCHEMY_DATABASE_URI=live_url)
    with live.app_context():
        _db.create_all()
        seed_reference_data()
        _db.session.remove()
        _db.engine.dispose()
    writer = Writer(live_url)
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while len(writer.committed) < 50 and time.monotonic() < deadline and not writer.error:
            time.sleep(0.01)
        assert writer.committed, writer.error
        # A small SQLite backup can finish between two of the writer's commits; try again
        # (a few times at most) until one overlaps a commit, or the test would prove nothing.
        for _attempt in range(10):
            committed_before = list(writer.committed)  # every id here committed before the backup
            backup_database(live_url, tmp_path / "live.backup", overwrite=True)
            during = len(writer.committed) - len(committed_before)
            if during > 0:
                break
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None, writer.error
    assert during > 0, "the writer did not run during the backup: the test proves nothing"

    restore_database(restored_url, tmp_path / "live.backup")
    engine = sa.create_engine(restored_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            restored_ids = set(conn.execute(sa.text("SELECT id FROM audit_log")).scalars())
    finally:
        engine.dispose()
    assert set(committed_before) <= restored_ids
    if restored_url.startswith("sqlite"):
        con = sqlite3.connect(sa.make_url(restored_url).database)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
