"""Paper sign-in sheets: the CSV of a session held in person, checked whole, previewed, then stored.

A sheet is read and checked completely before anything is written (`plan_sheet`); the preview
shows that plan, and the confirm step re-reads the same text (signed, so the browser cannot
change it) and checks it again against the database of that moment before `apply_sheet` stores
it. No request context here: callers pass the acting user, `now` and the signing key.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import selectinload

from pvplatform.auth.models import User
from pvplatform.auth.services import normalise_email
from pvplatform.core.lookup import valid_id
from pvplatform.errors import DomainError, InvalidState, ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.participation.demographics import CONSENT_PURPOSE
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Participant,
    ParticipantAttribute,
    ParticipantKind,
    Stratum,
)
from pvplatform.participation.services import KIND_FOR_ROLE, participant_for
from pvplatform.sessions.models import (
    Attendance,
    AttendanceMode,
    Meeting,
    MeetingFormat,
    Registration,
)
from pvplatform.sessions.services import CODE_MAX, normalise_code

MAX_BYTES = 1024 * 1024
MAX_ROWS = 2000
MAX_REPORTED_ERRORS = 500
NAME_MAX = 120
REFERENCE_MAX = 254
PREFER_NOT_TO_SAY = "prefer_not_to_say"
# The demographic columns of a sheet, named after the dimension codes of DATA.md.
DIMENSION_COLUMNS = ("age_band", "gender", "district", "housing")
COLUMNS = ("name", "participant", "consent", *DIMENSION_COLUMNS)
CONSENT_YES = frozenset({"yes", "y", "oui", "o", "1", "true", "x"})
CONSENT_NO = frozenset({"no", "n", "non", "0", "false"})
SIGNING_SALT = "pvplatform.sessions.paper-sheet"
# What the person read before consenting: the paper sheet, not the profile page's text.
CONSENT_TEXT_VERSION = "paper-sheet"

_FORBIDDEN = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
              "\u2069", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
_SPACES = re.compile(r"\s+")
_PARTICIPANT_REF = re.compile(r"#\s*(\d+)")


@dataclass(frozen=True)
class SheetError:
    line: int  # 1 is the header row; 0 for the file as a whole
    reason: str
    column: str | None = None


class SheetInvalid(ValidationFailed):
    """The sheet was refused; `errors` says where and why. Nothing of it was stored."""

    def __init__(self, errors: list[SheetError], total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = total if total is not None else len(self.errors)
        super().__init__(str(_l(
            "The sheet was refused (%(count)s errors); nothing was stored. Correct the lines "
            "below and upload it again.", count=self.total)))


class RowAction(StrEnum):
    MATCHED = "matched"  # someone already known to the platform
    NEW = "new"  # a walk-in to create
    SKIPPED = "skipped"  # already checked in for this session


@dataclass
class SheetRow:
    line: int
    action: RowAction
    name: str
    participant: Participant | None = None
    # An account with no participant yet (it is created on confirm, never in the preview).
    user: User | None = None
    walk_in: bool = True
    consent: bool = False
    demographics: dict[str, str] = field(default_factory=dict)  # stored: consent was given
    ignored_demographics: bool = False  # answers given without consent: not stored


@dataclass
class SheetPlan:
    meeting: Meeting
    rows: list[SheetRow]

    def _count(self, action: RowAction) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def matched(self) -> int:
        return self._count(RowAction.MATCHED)

    @property
    def new(self) -> int:
        return self._count(RowAction.NEW)

    @property
    def skipped(self) -> int:
        return self._count(RowAction.SKIPPED)

    @property
    def attendances(self) -> int:
        return self.matched + self.new

    @property
    def with_demographics(self) -> int:
        return sum(1 for row in self.rows if row.action != RowAction.SKIPPED and row.demographics)

    @property
    def without_consent(self) -> int:
        return sum(1 for row in self.rows
                   if row.action != RowAction.SKIPPED and row.ignored_demographics)

    def counts(self) -> dict[str, int]:
        return {"rows": len(self.rows), "matched": self.matched, "new": self.new,
                "attendances": self.attendances, "skipped": self.skipped,
                "with_demographics": self.with_demographics}


class _Errors:
    def __init__(self) -> None:
        self.items: list[SheetError] = []
        self.total = 0

    def add(self, line: int, reason: object, column: str | None = None) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(SheetError(line, str(reason), column))

    def __bool__(self) -> bool:
        return self.total > 0

    def refuse(self) -> SheetInvalid:
        return SheetInvalid(self.items, self.total)


# ---------------------------------------------------------------- the session


def check_meeting(meeting: Meeting, now: datetime) -> None:
    """A sheet records who was in the room: in-person sessions that have started."""
    if meeting.format == MeetingFormat.ONLINE:
        raise InvalidState(str(_l(
            "Paper sign-in sheets are for sessions held in person or hybrid sessions.")))
    if now < meeting.starts_at:
        raise InvalidState(str(_l(
            "A sign-in sheet can be uploaded once the session has started.")))


def strata_of(meeting: Meeting) -> dict[str, list[Stratum]]:
    """The categories asked in the meeting's process, per dimension of the sheet."""
    strata = db.session.scalars(
        sa.select(Stratum)
        .where(Stratum.process_id == meeting.process_id,
               Stratum.dimension.in_(DIMENSION_COLUMNS))
        .order_by(Stratum.dimension, Stratum.id)
    )
    result: dict[str, list[Stratum]] = {}
    for stratum in strata:
        result.setdefault(stratum.dimension, []).append(stratum)
    return result


# ---------------------------------------------------------------- reading the file


def decode_sheet(data: bytes) -> str:
    """The text of an uploaded sheet: UTF-8 (a byte order mark is fine), at most 1 MB."""
    if len(data) > MAX_BYTES:
        raise SheetInvalid([SheetError(0, str(_l(
            "The file is larger than 1 MB: split the sheet into several files.")))])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SheetInvalid([SheetError(line, str(_l(
            "The file is not UTF-8 text: byte 0x%(byte)02x cannot be read. Save the sheet as "
            "\"CSV UTF-8\" and upload it again.", byte=data[exc.start])))]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise SheetInvalid([SheetError(0, str(_l(
            "The file is empty: a header row (name, participant, consent...) and one row per "
            "person are expected.")))])
    return text


def _delimiter(text: str) -> str:
    sample = text[:8192]
    header = sample.split("\n", 1)[0]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=";,").delimiter
    except csv.Error:
        found = None  # one column, or too few rows for the sniffer
    # Column names hold no separator: the header line settles a doubtful guess.
    if found is None or (found not in header and (";" in header or "," in header)):
        found = ";" if header.count(";") > header.count(",") else ","
    return found


def _clean(raw: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()


def _has_forbidden(value: str) -> bool:
    return any(c in _FORBIDDEN or ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value)


def _records(text: str, errors: _Errors) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The header positions and the data records (line, cells); stops at the first CSV error."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        errors.add(1, _l("The header row cannot be read: %(error)s", error=str(exc)))
        return {}, []
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = re.sub(r"[\s-]+", "_", _clean(raw).lower())  # "Age band" is age_band
        if not name:
            continue  # spreadsheets often export empty trailing columns
        if name not in COLUMNS:
            errors.add(1, _l(
                'Unknown column "%(column)s". The columns are: %(columns)s.',
                column=name[:40], columns=", ".join(COLUMNS)), name[:40])
        elif name in positions:
            errors.add(1, _l('The column "%(column)s" appears twice.', column=name), name)
        else:
            positions[name] = index
    if "name" not in positions:
        errors.add(1, _l('The column "name" is missing: the header row must name the columns, '
                         "for instance name, participant, consent."), "name")
    records: list[tuple[int, list[str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(start, _l("This line cannot be read: %(error)s", error=str(exc)))
            break
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if len(records) >= MAX_ROWS:
            errors.add(line, _l("A sheet holds at most %(max)s people: split it into several "
                                "files.", max=MAX_ROWS))
            break
        records.append((line, record))
    if not records and not errors:
        errors.add(0, _l("The sheet has a header row but nobody on it."))
    return positions, records


# ---------------------------------------------------------------- checking the rows


@dataclass
class _Known:
    """Lookups done once per sheet, not once per row."""

    registrations: dict[str, Registration]  # code -> registration of this meeting
    users: dict[str, User]  # e-mail -> user
    participants: dict[int, Participant]  # id -> participant
    by_user: dict[int, Participant]  # user id -> participant
    attended: set[int]  # participant ids already checked in
    registered: set[int]  # participant ids with a live registration


def _lookups(meeting: Meeting, codes: set[str], emails: set[str], ids: set[int]) -> _Known:
    registrations = {
        r.code: r for r in db.session.scalars(
            sa.select(Registration)
            .where(Registration.meeting_id == meeting.id, Registration.code.in_(codes))
            .order_by(Registration.id))
    } if codes else {}
    users = {
        u.email: u for u in db.session.scalars(
            sa.select(User).where(User.email.in_(emails)).order_by(User.id))
    } if emails else {}
    wanted = ids | {r.participant_id for r in registrations.values()}
    participants = {
        p.id: p for p in db.session.scalars(
            sa.select(Participant).where(Participant.id.in_(wanted))
            .options(selectinload(Participant.user)).order_by(Participant.id))
    } if wanted else {}
    user_ids = [u.id for u in users.values()]
    by_user = {
        p.user_id: p for p in db.session.scalars(
            sa.select(Participant).where(Participant.user_id.in_(user_ids))
            .order_by(Participant.id))
    } if user_ids else {}
    return _Known(
        registrations=registrations,
        users=users,
        participants=participants,
        by_user=by_user,
        attended=set(db.session.scalars(
            sa.select(Attendance.participant_id).where(Attendance.meeting_id == meeting.id))),
        registered=set(db.session.scalars(
            sa.select(Registration.participant_id).where(
                Registration.meeting_id == meeting.id, Registration.cancelled_at.is_(None)))),
    )


def _reference_kind(reference: str) -> str:
    if _PARTICIPANT_REF.fullmatch(reference):
        return "id"
    if "@" in reference:
        return "email"
    return "code"


def _category_maps(strata: dict[str, list[Stratum]]) -> dict[str, dict[str, str]]:
    """Per dimension, what people may write (code or label, any case) -> the category code."""
    maps: dict[str, dict[str, str]] = {}
    for dimension, rows in strata.items():
        accepted: dict[str, str] = {}
        for stratum in rows:
            accepted[stratum.category.casefold()] = stratum.category
            if stratum.label:
                accepted.setdefault(_clean(stratum.label).casefold(), stratum.category)
        maps[dimension] = accepted
    return maps


def plan_sheet(meeting: Meeting, text: str, *, now: datetime) -> SheetPlan:
    """Checks every line of the sheet; raises SheetInvalid listing them all. Writes nothing."""
    check_meeting(meeting, now)
    errors = _Errors()
    positions, records = _records(text, errors)
    if "name" not in positions:
        raise errors.refuse()

    def cell(record: list[str], column: str) -> str:
        position = positions.get(column)
        if position is None or position >= len(record):
            return ""
        return _clean(record[position])

    references: dict[str, set] = {"code": set(), "email": set(), "id": set()}
    for _line, record in records:
        reference = cell(record, "participant")
        if not reference or len(reference) > REFERENCE_MAX or _has_forbidden(reference):
            continue
        kind = _reference_kind(reference)
        if kind == "id":
            ident = valid_id(_PARTICIPANT_REF.fullmatch(reference).group(1))  # type: ignore[union-attr]
            if ident is not None:
                references["id"].add(ident)
        elif kind == "email":
            references["email"].add(normalise_email(reference))
        elif len(normalise_code(reference)) <= CODE_MAX:
            references["code"].add(normalise_code(reference))
    known = _lookups(meeting, references["code"], references["email"], references["id"])
    categories = _category_maps(strata_of(meeting))

    rows: list[SheetRow] = []
    seen_people: dict[tuple[str, int], int] = {}  # ("p"/"u", id) -> first line
    seen_names: dict[str, int] = {}  # new walk-ins: normalised name -> first line
    for line, record in records:
        ok = True
        # NUL and disguising characters go no further: not into queries, not into messages.
        unreadable = [column for column in positions if _has_forbidden(cell(record, column))]
        for column in unreadable:
            errors.add(line, _l("This text contains characters that are not allowed."), column)
        if unreadable:
            continue
        name = cell(record, "name")
        reference = cell(record, "participant")
        if len(name) > NAME_MAX:
            errors.add(line, _l("The name is longer than %(max)s characters.", max=NAME_MAX),
                       "name")
            ok = False
        participant: Participant | None = None
        user: User | None = None
        if reference:
            participant, user, reason = _resolve(reference, known)
            if reason is not None:
                errors.add(line, reason, "participant")
                ok = False
        elif not name:
            errors.add(line, _l("Give the person's name, or a participant reference "
                                "(registration code, e-mail or #number)."), "name")
            ok = False

        consent_raw = cell(record, "consent").casefold()
        consent = consent_raw in CONSENT_YES
        if consent_raw and not consent and consent_raw not in CONSENT_NO:
            errors.add(line, _l('Write "yes" or "no" (or leave the cell empty for no).'),
                       "consent")
            ok = False
        answers: dict[str, str] = {}
        for dimension in DIMENSION_COLUMNS:
            raw = cell(record, dimension)
            if not raw:
                continue
            if re.sub(r"[\s-]+", "_", raw.casefold()) == PREFER_NOT_TO_SAY:
                continue  # no answer, as "prefer not to say" on the profile page
            accepted = categories.get(dimension)
            if accepted is None:
                errors.add(line, _l(
                    "This process does not ask about %(dimension)s: leave the column empty.",
                    dimension=dimension), dimension)
                ok = False
                continue
            category = accepted.get(raw.casefold())
            if category is None:
                shown = sorted(set(accepted.values()))
                errors.add(line, _l(
                    'Unknown category "%(value)s". Known categories: %(categories)s (or '
                    "%(prefer)s).", value=raw[:64], categories=", ".join(shown),
                    prefer=PREFER_NOT_TO_SAY), dimension)
                ok = False
                continue
            answers[dimension] = category
        if not ok:
            continue

        key: tuple[str, int] | None = None
        if participant is not None:
            key = ("p", participant.id)
        elif user is not None:
            key = ("u", user.id)
        if key is not None:
            if key in seen_people:
                errors.add(line, _l("The same person is already on line %(line)s.",
                                    line=seen_people[key]), "participant")
                continue
            seen_people[key] = line
        else:
            folded = name.casefold()
            if folded in seen_names:
                errors.add(line, _l(
                    "The name %(name)s is already on line %(line)s. If they are two people, "
                    "tell them apart (a middle name, an initial) or give a participant "
                    "reference.", name=name, line=seen_names[folded]), "name")
                continue
            seen_names[folded] = line

        if participant is not None and participant.id in known.attended:
            action = RowAction.SKIPPED
        elif participant is not None or user is not None:
            action = RowAction.MATCHED
        else:
            action = RowAction.NEW
        walk_in = participant is None or participant.id not in known.registered
        display = name
        if participant is not None:
            display = participant.name
        elif user is not None:
            display = user.display_name
        rows.append(SheetRow(
            line=line, action=action, name=display, participant=participant, user=user,
            walk_in=walk_in, consent=consent, demographics=answers if consent else {},
            ignored_demographics=bool(answers) and not consent,
        ))
    if errors:
        raise errors.refuse()
    return SheetPlan(meeting=meeting, rows=rows)


def _resolve(reference: str, known: _Known
             ) -> tuple[Participant | None, User | None, object | None]:
    """(participant, user without participant yet, reason refused)."""
    if len(reference) > REFERENCE_MAX:
        return None, None, _l("The participant reference is too long.")
    kind = _reference_kind(reference)
    if kind == "id":
        ident = valid_id(_PARTICIPANT_REF.fullmatch(reference).group(1))  # type: ignore[union-attr]
        participant = known.participants.get(ident) if ident is not None else None
        if participant is None:
            return None, None, _l("There is no participant %(reference)s.",
                                  reference=reference[:20])
        if participant.user is not None and not participant.user.is_active:
            return None, None, _l("The account of participant %(reference)s is closed.",
                                  reference=reference[:20])
        return participant, None, None
    if kind == "email":
        user = known.users.get(normalise_email(reference))
        if user is None or not user.is_active:
            return None, None, _l("No account has the e-mail %(email)s.", email=reference[:80])
        if KIND_FOR_ROLE.get(user.role) is None:
            return None, None, _l("The account %(email)s cannot take part in sessions.",
                                  email=reference[:80])
        participant = known.by_user.get(user.id)
        return (participant, None, None) if participant is not None else (None, user, None)
    registration = known.registrations.get(normalise_code(reference))
    if registration is None:
        return None, None, _l(
            'No registration of this session has the code "%(code)s". A participant '
            "reference is a registration code, an e-mail or #number.", code=reference[:20])
    return known.participants[registration.participant_id], None, None


# ---------------------------------------------------------------- storing


def apply_sheet(plan: SheetPlan, *, by: User, now: datetime) -> dict[str, int]:
    """Creates the walk-ins, attendances and consented demographics of a checked plan."""
    meeting = plan.meeting
    checked_in_at = meeting.starts_at  # the time on paper is the session's, not the upload's
    rows = [row for row in plan.rows if row.action != RowAction.SKIPPED]
    people: list[Participant] = []
    for row in rows:
        if row.action == RowAction.NEW:
            participant = Participant(kind=ParticipantKind.CITIZEN, display_name=row.name,
                                      created_at=now)
            db.session.add(participant)
        elif row.participant is None:
            assert row.user is not None
            participant = participant_for(row.user)
        else:
            participant = row.participant
        people.append(participant)
    db.session.flush()

    # A known participant's profile is theirs to manage: what the sheet says about them is kept
    # with this attendance only. New walk-ins get the consented answers as their profile.
    profiles: dict[int, dict[str, str]] = {}
    known_ids = [p.id for row, p in zip(rows, people, strict=True) if row.action != RowAction.NEW]
    if known_ids:
        for participant_id, dimension, category in db.session.execute(
            sa.select(ParticipantAttribute.participant_id, ParticipantAttribute.dimension,
                      ParticipantAttribute.category)
            .where(ParticipantAttribute.participant_id.in_(known_ids))
            .order_by(ParticipantAttribute.participant_id, ParticipantAttribute.dimension)
        ):
            profiles.setdefault(participant_id, {})[dimension] = category
    attendances: list[Attendance] = []
    for row, participant in zip(rows, people, strict=True):
        if row.action == RowAction.NEW and row.demographics:
            db.session.add_all(
                ParticipantAttribute(participant_id=participant.id, dimension=dimension,
                                     category=category, consented_at=now, updated_at=now)
                for dimension, category in sorted(row.demographics.items()))
            db.session.add(ConsentRecord(participant_id=participant.id,
                                         purpose=CONSENT_PURPOSE, given_at=now,
                                         text_version=CONSENT_TEXT_VERSION))
        attendance = Attendance(
            meeting_id=meeting.id, participant_id=participant.id, mode=AttendanceMode.IN_PERSON,
            checked_in_at=checked_in_at, checked_in_by_id=by.id, walk_in=row.walk_in)
        db.session.add(attendance)
        attendances.append(attendance)
    db.session.flush()
    for row, participant, attendance in zip(rows, people, attendances, strict=True):
        categories = {**profiles.get(participant.id, {}), **row.demographics}
        db.session.add_all(
            AttendanceSnapshot(attendance_id=attendance.id, dimension=dimension,
                               category=category)
            for dimension, category in sorted(categories.items()))
    counts = plan.counts()
    record_audit(by, "session.paper_sheet", "session", meeting.id,
                 process_id=meeting.process_id, details=counts)
    return counts


# ---------------------------------------------------------------- the signed confirm payload


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SIGNING_SALT)


def sign_sheet(text: str, *, meeting: Meeting, by: User, secret_key: str) -> str:
    """The checked text, bound to its session and uploader, for the confirm form."""
    return _serializer(secret_key).dumps({"m": meeting.id, "u": by.id, "t": text})


class SheetTampered(DomainError):
    status = 400

    def default_message(self) -> str:
        return str(_l("The sheet to confirm was altered or belongs to another session. Upload "
                      "it again."))


def unsign_sheet(token: str, *, meeting: Meeting, by: User, secret_key: str) -> str:
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature:
        raise SheetTampered() from None
    if (not isinstance(payload, dict) or payload.get("m") != meeting.id
            or payload.get("u") != by.id or not isinstance(payload.get("t"), str)):
        raise SheetTampered()
    return payload["t"]
