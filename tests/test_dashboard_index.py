"""Issue 13: staff and elected officials find the dashboards and the flags in the menu; the
page lists every process, running ones first, with its active flags by severity."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.indicators.models import FlagRecord
from tests.conftest import Factory, login


def _flag(process, code: str, severity: str, *, cleared: bool = False, n: int = 0) -> FlagRecord:
    return FlagRecord(process_id=process.id, code=code, severity=severity,
                      key=f'["{n}","","","",null,null]', value=1.0, message="A flag.", params={},
                      cleared_at=utcnow() if cleared else None)


@pytest.mark.parametrize(("role", "menu"), [("staff", True), ("elected", True),
                                            ("admin", True), ("citizen", False),
                                            ("evaluator", False)])
def test_the_menu_leads_there_for_those_who_read_dashboards(client, db, factory, role, menu):
    login(client, factory.user(role))
    home = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ('href="/manage/dashboards"' in home) is menu
    assert client.get("/manage/dashboards").status_code == (200 if menu else 403)


def test_processes_with_their_active_flags_running_first(client, db, factory):
    today = utcnow().date()
    past = factory.process(title="Budget 2024")
    past.starts_on, past.ends_on = today - timedelta(days=900), today - timedelta(days=500)
    running = factory.process(title="Agenda 2030")
    quiet = factory.process(title="Plan vélo")
    db.session.add_all([
        _flag(running, "underrepresentation", "alert", n=1),
        _flag(running, "underrepresentation", "alert", n=2),
        _flag(running, "unreasoned_rejection", "warning"),
        _flag(running, "voice_concentration", "warning", cleared=True),
        _flag(past, "unreasoned_rejection", "warning"),
    ])
    db.session.commit()
    login(client, factory.user("elected"))
    html = client.get("/manage/dashboards",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert html.index("Agenda 2030") < html.index("Budget 2024")
    assert html.index("Plan vélo") < html.index("Budget 2024")
    row = html[html.index(f'data-process="{running.id}"'):]
    row = row[:row.index("</tr>")]
    assert "2 alerts" in row and "1 warning" in row  # the cleared flag is not counted
    quiet_row = html[html.index(f'data-process="{quiet.id}"'):]
    assert "None" in quiet_row[:quiet_row.index("</tr>")]
    assert f'href="/manage/processes/{running.id}/dashboard"' in html
    assert f'href="/manage/processes/{running.id}/flags"' in html
    french = client.get("/manage/dashboards",
                        headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Tableaux de bord" in french


def test_statements_do_not_grow_with_the_processes(client, db, factory):
    from pvplatform.extensions import db as _db

    login(client, factory.user("staff"))

    def statements() -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        sa.event.listen(_db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/manage/dashboards").status_code == 200
        finally:
            sa.event.remove(_db.engine, "before_cursor_execute", count)
        return len(seen)

    f = Factory()
    f.process()
    db.session.commit()
    few = statements()
    for n in range(6):
        process = f.process(title=f"Démarche {n}")
        db.session.add(_flag(process, "unreasoned_rejection", "warning"))
    db.session.commit()
    assert statements() == few
