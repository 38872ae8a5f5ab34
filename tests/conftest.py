"""Fixtures shared by every test: app, database, clients and factories.

The suite runs against in-memory SQLite by default and against PostgreSQL when
PV_TEST_DATABASE_URL points at one (CI does both).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings

# Locally Hypothesis explores new examples at every run; CI replays a fixed sequence, so that a
# red CI always means a change broke something (a new finding shows up locally, reproducibly).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


def _database_per_worker() -> None:
    """Under pytest-xdist every worker gets its own PostgreSQL database (`pvtest_gw0`, ...), made
    here before config.py reads PV_TEST_DATABASE_URL; SQLite in memory is per process anyway."""
    url = os.environ.get("PV_TEST_DATABASE_URL", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url.startswith("postgresql") or not worker:
        return
    base = sa.make_url(url)
    name = f"{base.database}_{worker}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    os.environ["PV_TEST_DATABASE_URL"] = base.set(database=name).render_as_string(
        hide_password=False)


_database_per_worker()

# Imported after the call above: config.py reads the per-worker database URL.
from config import TestConfig
from pvplatform import create_app
from pvplatform.auth.models import Association, AssociationStatus, Role, User
from pvplatform.auth.passwords import hash_password
from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from pvplatform.participation.models import Participant
from pvplatform.processes.models import Phase, PhaseKind, Process, SdgGoal
from pvplatform.processes.sdg_data import SDG_GOALS
from pvplatform.sessions.models import Meeting, MeetingFormat

PASSWORD = "correct horse battery staple"
STAFF_PASSWORD = "correct horse battery staple!"

ON_POSTGRES = os.environ.get("PV_TEST_DATABASE_URL", "").startswith("postgresql")


def pytest_collection_modifyitems(config, items) -> None:
    """A test of one database's own behaviour (SQLite's WAL and locking, PostgreSQL's row locks
    and pg_dump) runs in that database's pass of the suite and is deselected in the other pass:
    nothing is missing there, so it is not reported as a skip."""
    other = "sqlite_only" if ON_POSTGRES else "postgres_only"
    kept = [item for item in items if item.get_closest_marker(other) is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def require_postgres_tool(name: str) -> str:
    """The path of a PostgreSQL client program; a skip locally, a failure in CI."""
    from pvplatform.core.backup import find_pg_tool

    path = find_pg_tool(name)
    if path is None:
        message = f"{name} not found (PostgreSQL client programs)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(path)


def seed_reference_data() -> None:
    if _db.session.scalar(sa.select(sa.func.count()).select_from(SdgGoal)) == 0:
        _db.session.add_all(
            SdgGoal(number=n, title_en=en, title_fr=fr, color=c) for n, en, fr, c in SDG_GOALS
        )
        _db.session.commit()


def wipe_database() -> None:
    _db.session.rollback()
    _db.session.remove()
    tables = [t for t in reversed(_db.metadata.sorted_tables) if t.name != "sdg_goals"]
    # DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of every table costs ~1 s per test, while
    # deleting the few rows a test leaves is a few milliseconds.
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A test writes to a few tables: one statement finds them, rather than a DELETE
            # sent to each of the sixty (26 ms a test, 8 ms this way).
            found = sa.union_all(*(
                sa.select(sa.literal_column(f"'{table.name}'", sa.String))
                .where(sa.exists(sa.select(sa.literal_column("1")).select_from(table)))
                for table in tables))
            written = set(conn.scalars(found))
            emptied = [table for table in tables if table.name in written]
        else:
            emptied = tables
        for table in emptied:
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            # Ids start again at 1, as they do on SQLite once a table is empty (every table's:
            # a test may have emptied one itself).
            resets = [
                f"setval(pg_get_serial_sequence('{t.name}', 'id'), 1, false)"
                for t in tables
                if "id" in t.c and t.c.id.primary_key and t.c.id.autoincrement is not False
            ]
            if resets:
                conn.execute(sa.text("SELECT " + ", ".join(resets)))


class FreshGlobalsClient(FlaskClient):
    """Tests keep an app context pushed (for `db.session`), and Flask reuses it for requests, so
    `g` (where Flask-Login caches the user and Flask-WTF the CSRF token) would leak from one
    request or client to the next. Each request starts with an empty `g`, as in production.

    The site is French first, and most tests read English text: the client asks for English
    unless a test says otherwise (an `Accept-Language` header, or its own `environ_base`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base.setdefault("HTTP_ACCEPT_LANGUAGE", "en")

    def open(self, *args: Any, **kwargs: Any):
        if has_app_context():
            for key in list(vars(g)):
                delattr(g, key)
        return super().open(*args, **kwargs)


def discard_schema() -> None:
    """End of a test that built its own app on the default test database: in-memory SQLite is
    thrown away, but on PostgreSQL that database is shared, so it is emptied, not dropped."""
    if ON_POSTGRES:
        wipe_database()
    else:
        _db.drop_all()


def make_app(**overrides: Any):
    class Cfg(TestConfig):
        pass

    for key, value in overrides.items():
        setattr(Cfg, key, value)
    app = create_app(Cfg)
    app.test_client_class = FreshGlobalsClient
    return app


@contextmanager
def app_on_file(path: Path, **overrides: Any) -> Iterator[Any]:
    """An application on a SQLite file of its own, with the schema and the reference data, for
    what the tests' SQLite in memory cannot do (one connection shared by all): a second
    connection, threads, a browser's server."""
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", **overrides)
    with app.app_context():
        _db.create_all()
        seed_reference_data()
    try:
        yield app
    finally:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


def ensure_compiled_catalogues() -> None:
    """Pages read compiled catalogues (.mo, not committed); `make test` compiles them, and a bare
    pytest run compiles here any that is missing or older than its .po."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "pvplatform" / "translations"
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as f:
                catalog = read_po(f)
            with mo.open("wb") as f:
                write_mo(f, catalog)


@pytest.fixture(scope="session")
def app():
    ensure_compiled_catalogues()
    app = make_app()
    with app.app_context():
        if ON_POSTGRES:
            _db.drop_all()
        _db.create_all()
        seed_reference_data()
    yield app
    with app.app_context():
        _db.session.remove()
        if ON_POSTGRES:
            _db.drop_all()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request) -> Iterator[None]:
    """Every test starts from an empty database (reference data kept)."""
    yield
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        with app.app_context():
            wipe_database()


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- factories

class Factory:
    """Builds rows directly (fast, no HTTP) for tests that need data to exist."""

    def __init__(self) -> None:
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def user(self, role: Role | str = Role.CITIZEN, *, email: str | None = None,
             password: str | None = None, name: str | None = None,
             association: Association | None = None) -> User:
        role = Role(role)
        n = self._next()
        if password is None:
            password = PASSWORD if role in (Role.CITIZEN, Role.ASSOCIATION) else STAFF_PASSWORD
        user = User(
            email=email or f"{role.value}{n}@example.org",
            password_hash=hash_password(password),
            display_name=name or f"{role.value.title()} {n}",
            role=role,
            association_id=association.id if association else None,
        )
        _db.session.add(user)
        _db.session.commit()
        return user

    def association(self, name: str | None = None, *,
                    status: AssociationStatus = AssociationStatus.APPROVED) -> Association:
        assoc = Association(name=name or f"Association {self._next()}", status=status)
        _db.session.add(assoc)
        _db.session.commit()
        return assoc

    def participant(self, user: User | None = None, *, kind: str = "citizen",
                    name: str | None = None, association: Association | None = None
                    ) -> Participant:
        from pvplatform.participation.services import participant_for

        if user is not None:
            p = participant_for(user)
        else:
            p = Participant(kind=kind, display_name=name or f"Walk-in {self._next()}",
                            association_id=association.id if association else None)
            _db.session.add(p)
        _db.session.commit()
        return p

    def process(self, *, title: str = "Agenda 2030 de Villeneuve", open_all: bool = True,
                today: date | None = None) -> Process:
        today = today or utcnow().date()
        process = Process(title=title, description="Co-writing the local 2030 Agenda.",
                          municipality="Villeneuve", population=48000,
                          starts_on=today - timedelta(days=60),
                          ends_on=today + timedelta(days=300))
        process.phases = [
            Phase(kind=PhaseKind.INFORMATION, starts_on=today - timedelta(days=60),
                  ends_on=today - timedelta(days=31)),
            Phase(kind=PhaseKind.CO_CREATION, starts_on=today - timedelta(days=30),
                  ends_on=today + timedelta(days=30), proposals_open=open_all,
                  comments_open=open_all, votes_open=open_all),
            Phase(kind=PhaseKind.REVIEW, starts_on=today + timedelta(days=31),
                  ends_on=today + timedelta(days=90)),
        ]
        process.goals = list(_db.session.scalars(
            sa.select(SdgGoal).where(SdgGoal.number.in_([11, 13]))))
        _db.session.add(process)
        _db.session.commit()
        return process

    def meeting(self, process: Process, *, starts_at: datetime | None = None,
                hours: int = 2, capacity: int | None = 30,
                format: MeetingFormat = MeetingFormat.HYBRID, title: str | None = None
                ) -> Meeting:
        starts_at = starts_at or (utcnow() + timedelta(days=7))
        meeting = Meeting(process_id=process.id, title=title or f"Atelier {self._next()}",
                          format=format, starts_at=starts_at,
                          ends_at=starts_at + timedelta(hours=hours), capacity=capacity,
                          location="Salle des fêtes", online_url="https://visio.example.org/a",
                          agenda="1. Accueil\n2. Ateliers")
        _db.session.add(meeting)
        _db.session.commit()
        return meeting


@pytest.fixture
def factory(db) -> Factory:
    return Factory()


# ---------------------------------------------------------------- logging in

_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_from(html: str) -> str | None:
    match = _CSRF_RE.search(html)
    return match.group(1) if match else None


def login(client, user: User, password: str | None = None):
    if password is None:
        password = PASSWORD if user.role in (Role.CITIZEN, Role.ASSOCIATION) else STAFF_PASSWORD
    response = client.post("/auth/login", data={"email": user.email, "password": password},
                           follow_redirects=False)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return response


@pytest.fixture
def login_as(client):
    def _login(user: User, password: str | None = None):
        return login(client, user, password)

    return _login


@pytest.fixture
def background(app, monkeypatch):
    """The application's default refresh mode (a worker refreshes), with an empty in-memory
    queue."""
    from pvplatform.jobs.queue import EXTENSION

    monkeypatch.setitem(app.config, "PV_REFRESH", "background")
    queue = app.extensions[EXTENSION]
    queue.huey.flush()
    yield queue
    queue.huey.flush()


@pytest.fixture
def computations(monkeypatch):
    """How many times the engine computed a process's flags, in a change's transaction (the
    inline refresh) or in the worker (the flags and the dashboard's snapshot)."""
    from pvplatform.indicators import store
    from pvplatform.jobs import refresh

    calls: list[int] = []
    for module, name in ((store, "compute_current_flags"), (refresh, "compute_inputs")):
        real = getattr(module, name)

        def counted(process_id, now, real=real):
            calls.append(process_id)
            return real(process_id, now)

        monkeypatch.setattr(module, name, counted)
    return calls
