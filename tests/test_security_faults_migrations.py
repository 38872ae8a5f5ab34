"""SECURITY.md, Faults: "Migrations: upgrade an empty database to head, downgrade to base and up
again with data in it: nothing lost."

Downgrading to base drops every table, data included: that is what base means. So the promise is
read as: data written at head survives going down the latest revision and up again (every table
that exists below it keeps its rows), and the full round trip to base and back builds a working
schema again. With one revision only, the latest revision's downgrade is the one to base.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from pvplatform.extensions import db as _db
from tests.conftest import make_app


def _urls(tmp_path) -> list[tuple[str, str | None]]:
    urls: list[tuple[str, str | None]] = [(f"sqlite:///{tmp_path / 'roundtrip.sqlite'}", None)]
    pg = os.environ.get("PV_TEST_DATABASE_URL", "")
    if pg.startswith("postgresql"):
        name = f"pv_round_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        urls.append((sa.make_url(pg).set(database=name).render_as_string(hide_password=False),
                     name))
    return urls


@pytest.fixture
def databases(tmp_path):
    urls = _urls(tmp_path)
    yield [u for u, _ in urls]
    pg = os.environ.get("PV_TEST_DATABASE_URL", "")
    for _, name in urls:
        if name:
            admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _counts() -> dict[str, int]:
    _db.session.remove()
    with _db.engine.connect() as conn:  # closed at once: its locks must not block the DDL
        return {name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name)))
                .scalar_one()
                for name in sa.inspect(conn).get_table_names() if name != "alembic_version"}


def _models_match_schema() -> bool:
    with _db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), _db.metadata)
    return not diff


def _revisions(app) -> list[str]:
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    return [rev.revision for rev in script.walk_revisions()]


def test_round_trip_with_data(databases):
    for url in databases:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            revisions = _revisions(app)
            assert _models_match_schema(), "the models are ahead of the migrations"
            from tests.route_params import build_world

            build_world()  # a row in most tables, through the models
            _db.session.commit()
            _db.session.remove()
            at_head = _counts()
            assert sum(at_head.values()) > 30

            # Down the latest revision and up again: the tables below it keep every row.
            downgrade(revision="-1")
            _db.session.remove()
            below = set(_counts())
            upgrade()
            again = _counts()
            if len(revisions) > 1:
                assert below, "the previous revision has tables"
                kept = {t: again[t] for t in below}
                assert kept == {t: at_head[t] for t in below}, "rows lost on the way down/up"
            else:
                assert below == set(), "with one revision, -1 is base"

            # The whole way to base and back builds a working, empty, seeded schema.
            downgrade(revision="base")
            _db.session.remove()
            assert set(sa.inspect(_db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            assert _models_match_schema()
            assert _counts()["sdg_goals"] == 17
            world = build_world()  # the schema takes data again
            assert world["proposal_id"]
            _db.session.remove()
            _db.engine.dispose()
