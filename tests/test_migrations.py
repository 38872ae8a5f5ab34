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


V1_HEAD = "c582afb807aa"  # before contract version 2 (perceptions, speaking turns, p-values)


def test_v2_revision_carries_version_one_data_over(empty_databases):
    """Rows written under version 1 survive the upgrade as version 2 reads them: a baseline
    answer loses the session it never meant, the duality threshold keeps its value under its
    new name; and the downgrade gives back a version-1 schema."""
    for url in empty_databases:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            from pvplatform.extensions import db

            upgrade(revision=V1_HEAD)
            statements = [
                "INSERT INTO processes (id, title, description, municipality, created_at) VALUES "
                "(1, 'P', '', 'Town', '2026-01-01 00:00:00+00')",
                "INSERT INTO sessions (id, process_id, title, format, starts_at, location, "
                "online_url, agenda, minutes, created_at) VALUES (1, 1, 'S', 'online', "
                "'2026-01-10 17:00:00+00', '', '', '', '', '2026-01-01 00:00:00+00')",
                "INSERT INTO participants (id, kind, created_at) VALUES "
                "(1, 'citizen', '2026-01-01 00:00:00+00')",
                "INSERT INTO public_values (id, process_id, code, name, description) VALUES "
                "(1, 1, 'trust', 'Trust', '')",
                "INSERT INTO perceptions (participant_id, public_value_id, wave, meeting_id, "
                "score, answered_at) VALUES (1, 1, 'baseline', 1, 4, '2026-01-10 19:00:00+00')",
                "INSERT INTO perceptions (participant_id, public_value_id, wave, meeting_id, "
                "score, answered_at) VALUES (1, 1, 'session', 1, 3, '2026-01-10 19:00:00+00')",
                "INSERT INTO process_thresholds (process_id, name, value) VALUES "
                "(1, 'duality_min_delta', 0.75)",
            ]
            try:
                for statement in statements:
                    db.session.execute(sa.text(statement))
                db.session.commit()
            except sa.exc.DBAPIError as error:  # the columns of version 1 changed: say so
                pytest.fail(f"version-1 fixture rows no longer fit: {error}")
            upgrade()
            rows = db.session.execute(sa.text(
                "SELECT wave, meeting_id, score FROM perceptions ORDER BY wave")).all()
            assert [tuple(r) for r in rows] == [("baseline", None, 4), ("session", 1, 3)]
            assert db.session.execute(sa.text(
                "SELECT name, value FROM process_thresholds")).all() == [("duality_delta", 0.75)]
            # Version 2 accepts "don't know", and a pulse about a session at the same instant.
            db.session.execute(sa.text(
                "INSERT INTO perceptions (participant_id, public_value_id, wave, meeting_id, "
                "score, answered_at) VALUES (1, 1, 'final', NULL, NULL, "
                "'2026-05-10 19:00:00+00')"))
            db.session.commit()
            downgrade(revision=V1_HEAD)
            assert db.session.execute(sa.text(
                "SELECT name FROM process_thresholds")).scalars().all() == ["duality_min_delta"]
            assert db.session.scalar(sa.text("SELECT count(*) FROM perceptions")) == 2
            db.session.remove()
            db.engine.dispose()


def test_upgrade_and_downgrade_with_the_demo_loaded(tmp_path):
    """The v2 revision goes down and up again on a database holding the demo."""
    from pvplatform.demo import load_demo

    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        from pvplatform.extensions import db

        upgrade()
        load_demo(echo=lambda _line: None)
        db.session.commit()
        tables = [sa.table(name) for name in ("participants", "attendances", "perceptions",
                                              "speaking_turns", "flag_records")]

        def counts() -> dict[str, int]:
            return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
                    for t in tables}

        before = counts()
        dont_know = db.session.scalar(
            sa.text("SELECT count(*) FROM perceptions WHERE score IS NULL"))
        db.session.rollback()  # end the read: SQLite would keep showing its snapshot
        downgrade(revision=V1_HEAD)
        upgrade()
        after = counts()
        # Version 1 had no speaking turns and no "don't know" answers: the downgrade drops
        # them, the rest is kept.
        assert after == {**before, "speaking_turns": 0,
                         "perceptions": before["perceptions"] - dont_know}
        assert before["speaking_turns"] > 0 and dont_know > 0
        db.session.remove()
        db.engine.dispose()


V2_HEAD = "ef6e9a21e422"  # before association approval (issue 9)


def test_association_approval_keeps_existing_associations_and_members(empty_databases):
    """Associations and members of before stay approved; the downgrade drops what only the new
    revision can hold (requests; associations never approved that nothing points at)."""
    for url in empty_databases:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            from pvplatform.extensions import db

            upgrade(revision=V2_HEAD)
            for statement in (
                "INSERT INTO associations (id, name, description, created_at) VALUES "
                "(1, 'Les Amis du Parc', '', '2026-01-01 00:00:00+00')",
                "INSERT INTO users (id, email, display_name, role, association_id, "
                "session_token, created_at) VALUES (1, 'rep@example.org', 'Rep', "
                "'association', 1, 'token', '2026-01-01 00:00:00+00')",
                "INSERT INTO participants (id, kind, user_id, association_id, created_at) "
                "VALUES (1, 'association', 1, 1, '2026-01-01 00:00:00+00')",
            ):
                db.session.execute(sa.text(statement))
            db.session.commit()
            upgrade()
            assert db.session.execute(sa.text(
                "SELECT status FROM associations")).scalars().all() == ["approved"]
            assert db.session.execute(sa.text(
                "SELECT role, association_id, association_contact FROM users")).one() == (
                "association", 1, False)
            assert db.session.execute(sa.text(
                "SELECT kind, association_id FROM participants")).one() == ("association", 1)
            # New rows: pending unless said otherwise; a request of the new revision.
            db.session.execute(sa.text(
                "INSERT INTO associations (id, name, description, created_at) VALUES "
                "(2, 'Nouvelle', '', '2026-02-01 00:00:00+00')"))
            db.session.execute(sa.text(
                "INSERT INTO users (id, email, display_name, role, session_token, created_at) "
                "VALUES (2, 'new@example.org', 'New', 'citizen', 't2', "
                "'2026-02-01 00:00:00+00')"))
            db.session.execute(sa.text(
                "INSERT INTO association_requests (user_id, association_id, requested_at, "
                "decision, reason) VALUES (2, 2, '2026-02-01 00:00:00+00', 'pending', '')"))
            db.session.commit()
            assert db.session.scalar(sa.text(
                "SELECT status FROM associations WHERE id = 2")) == "pending"
            with pytest.raises(sa.exc.IntegrityError):  # one pending request per person
                db.session.execute(sa.text(
                    "INSERT INTO association_requests (user_id, association_id, requested_at, "
                    "decision, reason) VALUES (2, 1, '2026-02-02 00:00:00+00', 'pending', '')"))
            db.session.rollback()
            downgrade(revision=V2_HEAD)
            assert db.session.execute(sa.text(
                "SELECT id FROM associations")).scalars().all() == [1]
            assert db.session.execute(sa.text(
                "SELECT association_id FROM users ORDER BY id")).scalars().all() == [1, None]
            db.session.rollback()  # end the read: SQLite would keep showing its snapshot
            upgrade()
            assert db.session.execute(sa.text(
                "SELECT status FROM associations")).scalars().all() == ["approved"]
            db.session.remove()
            db.engine.dispose()
