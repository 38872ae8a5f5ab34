"""The Alembic revisions build the schema on an empty database and agree with the models."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

from tests.conftest import make_app


def _empty_database_urls(tmp_path) -> list[tuple[str, str | None]]:
    urls: list[tuple[str, str | None]] = [(f"sqlite:///{tmp_path / 'empty.sqlite'}", None)]
    pg = os.environ.get("PV_TEST_DATABASE_URL", "")
    if pg.startswith("postgresql"):
        name = f"pv_migr_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        urls.append((sa.make_url(pg).set(database=name).render_as_string(hide_password=False),
                     name))
    return urls


def _drop(pg_name: str | None) -> None:
    if pg_name is None:
        return
    admin = sa.create_engine(os.environ["PV_TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_databases(tmp_path):
    urls = _empty_database_urls(tmp_path)
    yield [u for u, _ in urls]
    for _, name in urls:
        _drop(name)


def test_upgrade_empty_database_then_check_is_clean(empty_databases):
    for url in empty_databases:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            from pvplatform.extensions import db

            tables = set(sa.inspect(db.engine).get_table_names())
            assert {"users", "processes", "sessions", "votes", "audit_log"} <= tables
            goals = db.session.scalar(sa.text("SELECT count(*) FROM sdg_goals"))
            assert goals == 17
            try:
                check()
            except SystemExit as exc:  # flask_migrate exits 1 when models and schema differ
                pytest.fail(f"models and migrations differ on {url.split(':')[0]} ({exc})")
            db.session.remove()
            db.engine.dispose()


def test_downgrade_to_base_and_up_again(empty_databases):
    url = empty_databases[0]
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        from pvplatform.extensions import db

        upgrade()
        downgrade(revision="base")
        assert "users" not in sa.inspect(db.engine).get_table_names()
        upgrade()
        assert "users" in sa.inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()
