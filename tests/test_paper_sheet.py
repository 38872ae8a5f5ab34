"""Paper sign-in sheets: upload, preview, confirm; errors by line; nothing stored on error."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.db import utcnow
from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.participation.services import participant_for
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    MeetingFormat,
    Registration,
)

TABLES = (Participant, ParticipantAttribute, Attendance, AttendanceSnapshot, AuditLog)


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def counts(db) -> dict[str, int]:
    return {model.__tablename__: count(db, model) for model in TABLES}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def upload(client, meeting, content: str | bytes, filename: str = "sheet.csv"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(f"/manage/sessions/{meeting.id}/paper-sheet",
                       data={"sheet": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def signed_chunks(preview_html: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="sheet" value="([^"]+)">', preview_html)


def confirm(client, meeting, chunks: list[str]):
    return client.post(f"/manage/sessions/{meeting.id}/paper-sheet/confirm",
                       data={"sheet": chunks}, content_type="multipart/form-data")


@pytest.fixture
def process(db, factory):
    process = factory.process()
    for dimension, categories in {
        "age_band": ("18-29", "30-44", "45-59", "60-74", "75+"),
        "gender": ("woman", "man", "other"),
        "district": ("centre", "north", "south"),
    }.items():
        for category in categories:
            db.session.add(Stratum(process_id=process.id, dimension=dimension,
                                   category=category, label=category.title(),
                                   population_share=1 / len(categories)))
    db.session.commit()
    return process


@pytest.fixture
def meeting(factory, process):
    return factory.meeting(process, starts_at=utcnow() - timedelta(hours=1),
                           format=MeetingFormat.IN_PERSON)


@pytest.fixture
def staff(factory, login_as):
    user = factory.user("staff")
    login_as(user)
    return user


@pytest.fixture
def people(db, factory, meeting):
    """A registered citizen, an account with no participant yet, a known walk-in, and someone
    already checked in."""
    registered = factory.user("citizen", name="Rita Registered")
    registration = Registration(meeting_id=meeting.id,
                                participant_id=participant_for(registered).id, code="ABCD2345")
    account = factory.user("citizen", email="nadia@example.org", name="Nadia Account")
    known = factory.participant(name="Kofi Known")
    present = factory.participant(name="Paula Present")
    db.session.add(registration)
    db.session.flush()
    db.session.add(Attendance(meeting_id=meeting.id, participant_id=present.id,
                              mode=AttendanceMode.IN_PERSON, checked_in_at=meeting.starts_at))
    db.session.commit()
    return {"registered": registered, "registration": registration, "account": account,
            "known": known, "present": present}


def happy_sheet(people) -> str:
    return (
        "name,participant,consent,age_band,gender,district\n"
        ",abcd-2345,,,,\n"
        "Nadia,NADIA@example.org,no,,,\n"
        f"Kofi,#{people['known'].id},,,,\n"
        f"Paula,#{people['present'].id},yes,30-44,,\n"
        "Jeanne Martin,,yes,60-74,Woman,north\n"
        "Marc Durand,,no,18-29,man,south\n"
        ",,,,,\n"  # an empty row, as spreadsheets export: ignored
    )


# ---------------------------------------------------------------- happy path


def test_preview_then_confirm_creates_exactly_the_rows(db, client, staff, meeting, people):
    before = counts(db)
    preview = upload(client, meeting, happy_sheet(people))
    assert preview.status_code == 200, text(preview)[:2000]
    page = text(preview)
    assert "Check the sign-in sheet" in page
    assert "Jeanne Martin" in page and "Rita Registered" in page and "Nadia Account" in page
    assert "Not stored: no consent" in page
    assert counts(db) == before  # the preview stores nothing

    response = confirm(client, meeting, signed_chunks(page))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/manage/sessions/{meeting.id}#attendance")

    after = counts(db)
    # Two new walk-ins, plus the participant of the account that had none.
    assert after["participants"] == before["participants"] + 3
    # Rita, Nadia, Kofi, Jeanne, Marc; Paula was already there.
    assert after["attendances"] == before["attendances"] + 5
    assert after["participant_attributes"] == before["participant_attributes"] + 3
    assert after["attendance_snapshots"] == before["attendance_snapshots"] + 3
    assert after["audit_log"] == before["audit_log"] + 1

    added = {a.participant.name: a for a in db.session.scalars(
        sa.select(Attendance).where(Attendance.meeting_id == meeting.id,
                                    Attendance.participant_id != people["present"].id))}
    assert set(added) == {"Rita Registered", "Nadia Account", "Kofi Known", "Jeanne Martin",
                          "Marc Durand"}
    for attendance in added.values():
        assert attendance.mode == AttendanceMode.IN_PERSON
        assert attendance.checked_in_by_id == staff.id
        assert attendance.checked_in_at == meeting.starts_at
    assert added["Rita Registered"].walk_in is False
    assert all(added[n].walk_in for n in ("Nadia Account", "Kofi Known", "Jeanne Martin",
                                          "Marc Durand"))
    assert added["Nadia Account"].participant.user_id == people["account"].id

    jeanne = added["Jeanne Martin"].participant
    assert jeanne.user_id is None and jeanne.kind == "citizen"
    attributes = {(a.dimension, a.category, a.consented_at is not None)
                  for a in db.session.scalars(sa.select(ParticipantAttribute).where(
                      ParticipantAttribute.participant_id == jeanne.id))}
    assert attributes == {("age_band", "60-74", True), ("gender", "woman", True),
                          ("district", "north", True)}
    snapshots = {(s.dimension, s.category) for s in db.session.scalars(
        sa.select(AttendanceSnapshot).where(
            AttendanceSnapshot.attendance_id == added["Jeanne Martin"].id))}
    assert snapshots == {("age_band", "60-74"), ("gender", "woman"), ("district", "north")}

    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "session.paper_sheet"))
    assert audit.actor_id == staff.id and audit.target_id == meeting.id
    assert audit.details["attendances"] == 5 and audit.details["new"] == 2
    assert audit.details["skipped"] == 1 and audit.details["matched"] == 3


def test_semicolons_and_a_byte_order_mark(db, client, staff, meeting):
    sheet = ("\ufeffName;Consent;Age band\nÉlise Moreau;oui;45-59\nJean;;\n"
             "Dupont, Paul;non;\n")
    preview = upload(client, meeting, sheet)
    assert preview.status_code == 200, text(preview)[:2000]
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    names = set(db.session.scalars(sa.select(Participant.display_name)))
    assert names == {"Élise Moreau", "Jean", "Dupont, Paul"}
    assert count(db, ParticipantAttribute) == 1


def test_a_single_name_column_is_enough(db, client, staff, meeting):
    preview = upload(client, meeting, "name\nAda\nBen\n")
    assert preview.status_code == 200, text(preview)[:2000]
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    assert count(db, Attendance, Attendance.walk_in.is_(True)) == 2


def test_prefer_not_to_say_is_no_answer_and_consent_is_recorded(db, client, staff, meeting):
    sheet = ("name,consent,age_band,gender,housing\n"
             "Ann,yes,prefer_not_to_say,Prefer not to say,prefer not to say\n"
             "Bea,yes,30-44,prefer_not_to_say,\n")
    preview = upload(client, meeting, sheet)
    assert preview.status_code == 200, text(preview)[:2000]
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    stored = db.session.execute(
        sa.select(Participant.display_name, ParticipantAttribute.dimension,
                  ParticipantAttribute.category)
        .join(Participant, Participant.id == ParticipantAttribute.participant_id)).all()
    assert [tuple(row) for row in stored] == [("Bea", "age_band", "30-44")]
    records = db.session.execute(
        sa.select(Participant.display_name, ConsentRecord.purpose, ConsentRecord.withdrawn_at)
        .join(Participant, Participant.id == ConsentRecord.participant_id)).all()
    assert [tuple(row) for row in records] == [("Bea", "demographics", None)]


def test_consent_no_stores_no_demographics(db, client, staff, meeting):
    sheet = "name,consent,age_band,gender,district\nAnn,no,30-44,woman,north\nBob,,75+,man,\n"
    preview = upload(client, meeting, sheet)
    assert preview.status_code == 200
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    assert count(db, Attendance) == 2
    assert count(db, ParticipantAttribute) == 0
    assert count(db, AttendanceSnapshot) == 0
    assert count(db, ConsentRecord) == 0


def test_known_participant_profile_is_kept_and_sheet_goes_to_the_snapshot(
        db, client, staff, meeting, factory):
    person = factory.participant(name="Olga")
    db.session.add_all([
        ParticipantAttribute(participant_id=person.id, dimension="age_band", category="18-29"),
        ParticipantAttribute(participant_id=person.id, dimension="gender", category="woman"),
    ])
    db.session.commit()
    preview = upload(client, meeting,
                     f"name,participant,consent,age_band\nOlga,#{person.id},yes,30-44\n")
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    profile = dict(db.session.execute(
        sa.select(ParticipantAttribute.dimension, ParticipantAttribute.category)
        .where(ParticipantAttribute.participant_id == person.id)).all())
    assert profile == {"age_band": "18-29", "gender": "woman"}
    snapshot = dict(db.session.execute(
        sa.select(AttendanceSnapshot.dimension, AttendanceSnapshot.category)).all())
    assert snapshot == {"age_band": "30-44", "gender": "woman"}


def test_confirm_checks_again_and_skips_people_checked_in_since(
        db, client, staff, meeting, factory):
    person = factory.participant(name="Late")
    preview = upload(client, meeting, f"name,participant\nLate,#{person.id}\nNew,\n")
    assert preview.status_code == 200
    db.session.add(Attendance(meeting_id=meeting.id, participant_id=person.id,
                              mode=AttendanceMode.IN_PERSON, checked_in_at=utcnow()))
    db.session.commit()
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    assert count(db, Attendance, Attendance.participant_id == person.id) == 1
    assert count(db, Attendance) == 2


def test_hybrid_sessions_take_sheets_and_the_manage_page_links_to_it(
        client, staff, factory, process):
    hybrid = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1),
                             format=MeetingFormat.HYBRID)
    page = text(client.get(f"/manage/sessions/{hybrid.id}"))
    assert f"/manage/sessions/{hybrid.id}/paper-sheet" in page
    form = client.get(f"/manage/sessions/{hybrid.id}/paper-sheet")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in text(form) and "30-44" in text(form)


# ---------------------------------------------------------------- errors by line


HEADER = "name,participant,consent,age_band,gender,district,housing\n"


BAD_LINES = [
    ("Ann,,yes,29-31,,,", "age_band", 'Unknown category "29-31"'),
    ("Ann,,yes,,,,owner", "housing", "does not ask about housing"),
    ("Ann,,maybe,,,,", "consent", 'Write "yes" or "no"'),
    ("Ann,ZZZZ9999,,,,,", "participant", "No registration of this session has the code"),
    ("Ann,nobody@example.org,,,,,", "participant", "No account has the e-mail"),
    ("Ann,#999999,,,,,", "participant", "There is no participant #999999"),
    ("Ann,#99999999999999,,,,,", "participant", "There is no participant"),
    (",,yes,30-44,,,", "name", "Give the person's name"),
    ("A" * 121 + ",,,,,,", "name", "longer than 120 characters"),
    ("Ann\u202eX,,,,,,", "name", "characters that are not allowed"),
    ("Ann,bob\x00@example.org,,,,,", "participant", "characters that are not allowed"),
    ("Ann,,,wo\x00man,,,", "age_band", "characters that are not allowed"),
]


def test_each_bad_line_is_reported_with_its_line_and_column(db, client, staff, meeting):
    before = counts(db)
    # Line 2 is fine; each bad row follows on its own line, and all are reported at once.
    sheet = HEADER + "Good Person,,,,,,\n" + "".join(row + "\n" for row, _c, _r in BAD_LINES)
    response = upload(client, meeting, sheet)
    page = text(response)
    assert response.status_code == 422, page[:2000]
    for line, (_row, column, reason) in enumerate(BAD_LINES, start=3):
        pattern = (rf"<td>{line}</td>\s*<td><code>{column}</code></td>\s*<td>[^<]*"
                   + re.escape(reason))
        assert re.search(pattern, page), (line, reason)
    assert "<td>2</td>" not in page
    assert counts(db) == before


def test_unknown_column_is_reported_on_the_header_line(db, client, staff, meeting):
    before = counts(db)
    response = upload(client, meeting, HEADER.rstrip("\n") + ",extra\nGood Person,,,,,,,\n")
    assert response.status_code == 422
    assert re.search(r"<td>1</td>\s*<td><code>extra</code></td>\s*<td>Unknown column",
                     text(response))
    assert counts(db) == before


def test_duplicates_in_the_sheet_are_refused(db, client, staff, meeting, people):
    before = counts(db)
    sheet = ("name,participant\n"
             "Rita,ABCD2345\nOther,\nrita again,abcd 2345\nother,\n"
             f"Kofi,#{people['known'].id}\nKofi bis,#{people['known'].id}\n")
    response = upload(client, meeting, sheet)
    page = text(response)
    assert response.status_code == 422
    assert "The same person is already on line 2." in page
    assert "is already on line 3" in page
    assert "The same person is already on line 6." in page
    assert counts(db) == before


FILE_ERRORS = [
    ("name,consent\nZoé,oui\n".encode("latin-1"), "not UTF-8"),
    (b"", "The file is empty"),
    (b"  \n\n", "The file is empty"),
    ("participant,consent\nABCD2345,yes\n", 'The column "name" is missing'),
    ("name,name\nA,B\n", "appears twice"),
    ("name\n", "nobody on it"),
    ("name\n" + "".join(f"P{i}\n" for i in range(2001)), "at most 2000 people"),
    ("name\n" + "A" * (1024 * 1024) + "\n", "larger than 1 MB"),
    ('name\n"unclosed\n', "cannot be read"),
]


def test_file_level_errors(db, client, staff, meeting):
    before = counts(db)
    for content, reason in FILE_ERRORS:
        response = upload(client, meeting, content)
        assert response.status_code == 422, (reason, text(response)[:500])
        assert reason in text(response), reason
    assert counts(db) == before


def test_the_largest_sheet_is_accepted(db, client, staff, meeting):
    sheet = "name\n" + "".join(f"Person {i}\n" for i in range(2000))
    preview = upload(client, meeting, sheet)
    assert preview.status_code == 200
    assert confirm(client, meeting, signed_chunks(text(preview))).status_code == 303
    assert count(db, Attendance) == 2000


def test_no_file_is_a_form_error(db, client, staff, meeting):
    response = client.post(f"/manage/sessions/{meeting.id}/paper-sheet", data={},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose the CSV file of the sheet." in text(response)


# ---------------------------------------------------------------- the confirm payload


def test_tampered_payload_is_refused(db, client, staff, meeting):
    preview = upload(client, meeting, "name\nAda\n")
    chunks = signed_chunks(text(preview))
    token = "".join(chunks)
    before = counts(db)
    # Alter the signature's first character: its last one may carry padding bits only.
    cut = token.rindex(".") + 1
    forged = token[:cut] + ("A" if token[cut] != "A" else "B") + token[cut + 1:]
    for payload in ([forged], [], ["not-a-token"], [token + "x"]):
        response = confirm(client, meeting, payload)
        assert response.status_code == 400, payload
    assert counts(db) == before


def test_payload_of_another_session_is_refused(db, client, staff, meeting, factory, process):
    other = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1),
                            format=MeetingFormat.IN_PERSON)
    preview = upload(client, meeting, "name\nAda\n")
    before = counts(db)
    response = confirm(client, other, signed_chunks(text(preview)))
    assert response.status_code == 400
    assert counts(db) == before


def test_payload_of_another_staff_member_is_refused(db, app, client, staff, meeting, factory):
    preview = upload(client, meeting, "name\nAda\n")
    chunks = signed_chunks(text(preview))
    colleague = factory.user("staff")
    other = app.test_client()
    from tests.conftest import login

    login(other, colleague)
    before = counts(db)
    assert confirm(other, meeting, chunks).status_code == 400
    assert counts(db) == before


def test_confirm_refuses_a_sheet_that_no_longer_fits(db, client, staff, meeting, factory):
    person = factory.participant(name="Gone")
    preview = upload(client, meeting, f"name,participant\nGone,#{person.id}\n")
    db.session.delete(person)
    db.session.commit()
    before = counts(db)
    response = confirm(client, meeting, signed_chunks(text(preview)))
    assert response.status_code == 422
    assert "no longer fits" in text(response)
    assert counts(db) == before


# ---------------------------------------------------------------- who and when


@pytest.mark.parametrize("role", ["citizen", "association", "elected", "evaluator"])
def test_only_staff_may_use_sheets(db, client, factory, login_as, meeting, role):
    login_as(factory.user(role))
    before = counts(db)
    assert client.get(f"/manage/sessions/{meeting.id}/paper-sheet").status_code == 403
    assert upload(client, meeting, "name\nAda\n").status_code == 403
    assert confirm(client, meeting, ["x"]).status_code == 403
    assert counts(db) == before


def test_anonymous_visitors_go_to_the_login_page(client, meeting):
    response = client.get(f"/manage/sessions/{meeting.id}/paper-sheet")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_unknown_session_is_404(client, staff):
    assert client.get("/manage/sessions/999999/paper-sheet").status_code == 404
    assert client.get(f"/manage/sessions/{2**63}/paper-sheet").status_code == 404


def test_online_and_future_sessions_take_no_sheet(db, client, staff, factory, process):
    online = factory.meeting(process, starts_at=utcnow() - timedelta(hours=1),
                             format=MeetingFormat.ONLINE)
    future = factory.meeting(process, starts_at=utcnow() + timedelta(days=2),
                             format=MeetingFormat.IN_PERSON)
    page = client.get(f"/manage/sessions/{online.id}/paper-sheet")
    assert page.status_code == 200
    assert "for sessions held in person" in text(page)
    assert 'enctype="multipart/form-data"' not in text(page)
    before = counts(db)
    assert upload(client, online, "name\nAda\n").status_code == 409
    response = upload(client, future, "name\nAda\n")
    assert response.status_code == 409
    assert "once the session has started" in text(response)
    assert counts(db) == before
