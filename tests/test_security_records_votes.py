"""SECURITY.md, Votes and records: "One vote per participant and proposal is a unique constraint
in the database, not a check in Python: 50 concurrent identical vote requests (8 threads,
file-backed SQLite in WAL mode and PostgreSQL) → exactly one row, no 5xx; re-voting replaces; a
published tally equals a recount."

The app runs in a real threaded server (werkzeug) on a file database, so the 50 requests race in
separate threads, connections and transactions, as they would behind gunicorn.
"""

from __future__ import annotations

import http.client
import os
import re
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from pvplatform.db import utcnow
from pvplatform.extensions import db as _db
from tests.conftest import PASSWORD, Factory, make_app, seed_reference_data

ROUNDS = 20
REQUESTS = 50
THREADS = 8

PG_URL = os.environ.get("PV_TEST_DATABASE_URL", "")


def _backends() -> list:
    # The PostgreSQL run of the suite tests PostgreSQL; the SQLite run tests SQLite.
    return [pytest.param("sqlite", id="sqlite-wal", marks=pytest.mark.sqlite_only),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres_only)]


@pytest.fixture
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'votes.sqlite'}"
        return
    name = f"pv_votes_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def served(database_url):
    """(app, base address) of the app served by a threaded werkzeug server."""
    # FLAGS_AUTO_REFRESH off: the indicator refresh on every commit would make this test about
    # its speed (it holds the write lock meanwhile), not about the uniqueness of votes.
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url, FLAGS_AUTO_REFRESH=False,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 2, "max_overflow": 4,
                                              "pool_timeout": 30}
                   if database_url.startswith("postgresql") else {})
    with app.app_context():
        _db.create_all()
        seed_reference_data()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


def _post(port: int, path: str, form: dict, cookie: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "en"}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("POST", path, body=urlencode(form), headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _login(port: int, email: str) -> str:
    response = _post(port, "/auth/login", {"email": email, "password": PASSWORD})
    assert response.status == 302
    cookie = response.getheader("Set-Cookie", "")
    match = re.match(r"(session=[^;]+)", cookie)
    assert match, cookie
    return match.group(1)


def _votes(proposal_id: int, participant_id: int | None = None) -> list[tuple[int, int]]:
    from pvplatform.proposals.models import Vote

    stmt = sa.select(Vote.participant_id, Vote.value).where(Vote.proposal_id == proposal_id)
    if participant_id is not None:
        stmt = stmt.where(Vote.participant_id == participant_id)
    _db.session.rollback()  # a fresh snapshot: the server wrote from other connections
    return [tuple(row) for row in _db.session.execute(stmt.order_by(Vote.participant_id))]


@pytest.mark.parametrize("database_url", _backends(), indirect=True)
def test_concurrent_identical_votes_make_one_row(served):
    from pvplatform.participation.services import participant_for
    from pvplatform.proposals.models import Proposal, ProposalState
    from pvplatform.proposals.services import tallies

    app, port = served
    with app.app_context():
        factory = Factory()
        process = factory.process()
        author = participant_for(factory.user("citizen"))
        proposal = Proposal(process_id=process.id, author_id=author.id, title="Un banc",
                            body="Rue Haute.", state=ProposalState.PUBLISHED,
                            published_at=utcnow())
        _db.session.add(proposal)
        _db.session.commit()
        proposal_id = proposal.id
        voters = []
        for _ in range(ROUNDS):
            user = factory.user("citizen")
            voters.append((user.email, participant_for(user).id))
        _db.session.commit()

    statuses: Counter[int] = Counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool, app.app_context():
        for round_no, (email, participant_id) in enumerate(voters):
            cookie = _login(port, email)
            value = 1 if round_no % 2 == 0 else -1
            path, form = f"/proposals/{proposal_id}/vote", {"value": value}
            results = list(pool.map(
                lambda _, p=path, f=form, c=cookie: _post(port, p, f, c).status,
                range(REQUESTS)))
            statuses.update(results)
            assert all(s < 500 for s in results), (round_no, Counter(results))
            assert _votes(proposal_id, participant_id) == [(participant_id, value)], round_no

            # Re-voting replaces the vote; it never adds one.
            again = _post(port, f"/proposals/{proposal_id}/vote", {"value": -value}, cookie)
            assert again.status == 302
            assert _votes(proposal_id, participant_id) == [(participant_id, -value)]
            _post(port, f"/proposals/{proposal_id}/vote", {"value": value}, cookie)

        # The published tally is a recount of the rows.
        rows = _votes(proposal_id)
        assert len(rows) == ROUNDS
        plus = sum(1 for _, v in rows if v == 1)
        minus = sum(1 for _, v in rows if v == -1)
        published = tallies([proposal_id])[proposal_id]
        assert (published.plus, published.minus) == (plus, minus) == (ROUNDS // 2, ROUNDS // 2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/proposals/{proposal_id}", headers={"Accept-Language": "en"})
        page = conn.getresponse().read().decode()
        conn.close()
        assert f"{plus} for, {minus} against" in page
    # Every identical request was answered as a success (302 back to the proposal).
    assert set(statuses) == {302}, statuses


def test_the_unique_constraint_is_in_the_database(db, factory):
    """Not a check in Python: a second row for the same pair is refused by the database."""
    from sqlalchemy.exc import IntegrityError

    from pvplatform.participation.services import participant_for
    from pvplatform.proposals.models import Proposal, ProposalState, Vote

    process = factory.process()
    voter = participant_for(factory.user("citizen"))
    proposal = Proposal(process_id=process.id, author_id=voter.id, title="t", body="b",
                        state=ProposalState.PUBLISHED)
    db.session.add(proposal)
    db.session.commit()
    insert = sa.insert(Vote.__table__).values(proposal_id=proposal.id, participant_id=voter.id,
                                              value=1, cast_at=sa.func.current_timestamp())
    db.session.execute(insert)
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(insert)
        db.session.commit()
    db.session.rollback()
    uniques = [set(c) for c in (u["column_names"] for u in
                                sa.inspect(db.engine).get_unique_constraints("votes"))]
    indexes = [set(i["column_names"]) for i in sa.inspect(db.engine).get_indexes("votes")
               if i.get("unique")]
    assert {"proposal_id", "participant_id"} in uniques + indexes
