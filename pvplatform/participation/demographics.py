"""Consented demographics and the reference population (census shares) of a process.

Staff define per process the dimensions asked and the census share of each category; people
answer, or not, with an explicit consent they can withdraw. No request context here; the views
commit. Individual answers are read only through `read_answers`, which writes an audit row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from pvplatform.errors import ValidationFailed
from pvplatform.extensions import db
from pvplatform.moderation.audit import record_audit
from pvplatform.participation.labels import (
    ProcessLabels,
    forget_labels,
    labels_for,
    labels_of,
)
from pvplatform.participation.models import (
    AttendanceSnapshot,
    ConsentRecord,
    Dimension,
    Participant,
    ParticipantAttribute,
    Stratum,
)
from pvplatform.processes.models import Process

CONSENT_PURPOSE = "demographics"
# Bump when the explanation shown next to the consent box changes: each record says what was read.
CONSENT_TEXT_VERSION = "2026-01"

SHARE_TOLERANCE = 0.02
_EPSILON = 1e-9  # 0.31 + 0.71 is 1.0200000000000002 in floating point: still within 0.02
CODE_MAX = 64
LABEL_MAX = 120
POSITION_MAX = 999
CSV_COLUMNS = ("dimension", "category", "population_share")
CSV_MAX_ROWS = 5_000
CSV_MAX_ERRORS = 50
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"
_CODE_RE = re.compile(CODE_PATTERN)
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)$")

# (code, French label, English label, categories as (code, French label, English label)).
DEFAULT_DIMENSIONS: tuple[tuple[str, str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("age_band", "Tranche d'âge", "Age band", (
        ("18-29", "18-29 ans", "18-29"),
        ("30-44", "30-44 ans", "30-44"),
        ("45-59", "45-59 ans", "45-59"),
        ("60-74", "60-74 ans", "60-74"),
        ("75+", "75 ans et plus", "75 and over"),
    )),
    ("gender", "Genre", "Gender", (
        ("woman", "Femme", "Woman"),
        ("man", "Homme", "Man"),
        ("other", "Autre", "Other"),
    )),
    ("district", "Quartier", "District", (
        ("centre", "Centre", "Centre"),
        ("north", "Nord", "North"),
        ("south", "Sud", "South"),
        ("east", "Est", "East"),
    )),
    ("housing", "Logement", "Housing", (
        ("owner", "Propriétaire", "Owner"),
        ("renter", "Locataire", "Renter"),
        ("social_housing", "Logement social", "Social housing"),
    )),
)


# ---------------------------------------------------------------- reading (staff)

@dataclass
class DimensionView:
    """A dimension as staff see it: its row (None for imported strata without one), categories,
    and their names in the reader's language."""

    code: str
    label: str
    position: int
    dimension: Dimension | None
    labels: ProcessLabels
    categories: list[Stratum] = field(default_factory=list)

    def category_label(self, stratum: Stratum) -> str:
        return self.labels.category(stratum.dimension, stratum.category)

    @property
    def total_share(self) -> float:
        return sum(s.population_share for s in self.categories)

    @property
    def shares_valid(self) -> bool:
        return bool(self.categories) and abs(self.total_share - 1) <= SHARE_TOLERANCE + _EPSILON

    @property
    def placeholder_shares(self) -> bool:
        return self.dimension is not None and self.dimension.placeholder_shares


def dimensions_of(process: Process) -> list[DimensionView]:
    """Every dimension of the process, defined or only present in its strata, in page order."""
    rows = db.session.scalars(
        sa.select(Dimension).where(Dimension.process_id == process.id)
        .order_by(Dimension.position, Dimension.code, Dimension.id)
    ).all()
    labels = labels_of(process.id)
    views = {d.code: DimensionView(d.code, labels.dimension(d.code), d.position, d, labels)
             for d in rows}
    strata = db.session.scalars(
        sa.select(Stratum).where(Stratum.process_id == process.id)
        .order_by(Stratum.dimension, Stratum.id)
    ).all()
    for stratum in strata:
        view = views.get(stratum.dimension)
        if view is None:
            view = views[stratum.dimension] = DimensionView(
                stratum.dimension, stratum.dimension, POSITION_MAX + 1, None, labels)
        view.categories.append(stratum)
    return sorted(views.values(), key=lambda v: (v.position, v.code))


def categories_of(dimension: Dimension) -> list[Stratum]:
    return list(db.session.scalars(
        sa.select(Stratum)
        .where(Stratum.process_id == dimension.process_id, Stratum.dimension == dimension.code)
        .order_by(Stratum.id)
    ))


def dimension_of(stratum: Stratum) -> Dimension | None:
    return db.session.scalar(
        sa.select(Dimension).where(Dimension.process_id == stratum.process_id,
                                   Dimension.code == stratum.dimension)
    )


# ---------------------------------------------------------------- dimensions and categories

def _check_code(code: str, field_name: str = "code") -> str:
    code = (code or "").strip()
    if not code:
        raise ValidationFailed(_("A code is required."), field=field_name)
    if len(code) > CODE_MAX or not _CODE_RE.match(code):
        raise ValidationFailed(
            _("A code has at most %(n)s letters, digits or the signs _ . + - (no spaces).",
              n=CODE_MAX), field=field_name)
    return code


def _check_label(label: str | None, *, required: bool,
                 field_name: str = "label") -> str | None:
    label = (label or "").strip()
    if not label:
        if required:
            raise ValidationFailed(_("A label is required."), field=field_name)
        return None
    if len(label) > LABEL_MAX:
        raise ValidationFailed(_("The label is too long."), field=field_name)
    return label


def _check_english(label: str | None) -> str | None:
    return _check_label(label, required=False, field_name="label_en")


def _check_position(position: int | None) -> int | None:
    if position is not None and not 0 <= position <= POSITION_MAX:
        raise ValidationFailed(_("The position must be between 0 and %(n)s.", n=POSITION_MAX),
                               field="position")
    return position


def _check_share(share: float | None, field_name: str = "population_share") -> float:
    if share is None or not isinstance(share, int | float) or not math.isfinite(share):
        raise ValidationFailed(_("The population share must be a number."), field=field_name)
    if share < 0:
        raise ValidationFailed(_("The population share cannot be negative."), field=field_name)
    if share > 1:
        raise ValidationFailed(_("A population share is at most 1."), field=field_name)
    return float(share)


def _next_position(process: Process) -> int:
    highest = db.session.scalar(
        sa.select(sa.func.max(Dimension.position)).where(Dimension.process_id == process.id))
    return min((highest + 1) if highest is not None else 0, POSITION_MAX)


def add_dimension(process: Process, *, code: str, label: str, position: int | None,
                  actor: Any, now: datetime, label_en: str | None = None) -> Dimension:
    """Adds a dimension; strata already holding this code (an import) become its categories."""
    code = _check_code(code)
    label = _check_label(label, required=True)
    label_en = _check_english(label_en)
    position = _check_position(position)
    exists = db.session.scalar(
        sa.select(Dimension.id).where(Dimension.process_id == process.id, Dimension.code == code))
    if exists is not None:
        raise ValidationFailed(_("This process already has a dimension with the code "
                                 "\"%(code)s\".", code=code), field="code")
    dimension = Dimension(process_id=process.id, code=code, label=label, label_en=label_en,
                          position=_next_position(process) if position is None else position)
    db.session.add(dimension)
    db.session.flush()
    forget_labels(process.id)
    record_audit(actor, "dimension.create", "dimension", dimension.id, process_id=process.id,
                 details={"code": code})
    return dimension


def update_dimension(dimension: Dimension, *, label: str, position: int | None,
                     actor: Any, now: datetime, label_en: str | None = None) -> None:
    dimension.label = _check_label(label, required=True)
    dimension.label_en = _check_english(label_en)
    forget_labels(dimension.process_id)
    position = _check_position(position)
    if position is not None:
        dimension.position = position
    record_audit(actor, "dimension.update", "dimension", dimension.id,
                 process_id=dimension.process_id, details={"code": dimension.code})


def delete_dimension(dimension: Dimension, *, actor: Any, now: datetime) -> None:
    """Removes the question and its census shares; people's past answers and the snapshots of
    past attendances stay (other processes may ask the same dimension)."""
    db.session.execute(
        sa.delete(Stratum)
        .where(Stratum.process_id == dimension.process_id, Stratum.dimension == dimension.code)
        .execution_options(synchronize_session="fetch")
    )
    from pvplatform.indicators.autorefresh import mark_dirty

    mark_dirty(dimension.process_id)  # a bulk delete: the ORM events do not see it
    # The names go with the rows: the audit row keeps them, for the log to read.
    record_audit(actor, "dimension.delete", "dimension", dimension.id,
                 process_id=dimension.process_id,
                 details={"code": dimension.code, "label": dimension.label,
                          "label_en": dimension.label_en})
    db.session.delete(dimension)
    forget_labels(dimension.process_id)


def add_category(dimension: Dimension, *, code: str, label: str | None, population_share: float,
                 actor: Any, now: datetime, label_en: str | None = None) -> Stratum:
    code = _check_code(code)
    label = _check_label(label, required=False)
    label_en = _check_english(label_en)
    share = _check_share(population_share)
    exists = db.session.scalar(
        sa.select(Stratum.id).where(Stratum.process_id == dimension.process_id,
                                    Stratum.dimension == dimension.code,
                                    Stratum.category == code))
    if exists is not None:
        raise ValidationFailed(_("This dimension already has a category with the code "
                                 "\"%(code)s\".", code=code), field="code")
    stratum = Stratum(process_id=dimension.process_id, dimension=dimension.code, category=code,
                      label=label, label_en=label_en, population_share=share)
    db.session.add(stratum)
    dimension.placeholder_shares = False
    db.session.flush()
    forget_labels(dimension.process_id)
    record_audit(actor, "stratum.create", "stratum", stratum.id, process_id=dimension.process_id,
                 details={"dimension": dimension.code, "category": code, "share": share})
    return stratum


def update_category(stratum: Stratum, *, label: str | None, population_share: float,
                    actor: Any, now: datetime, label_en: str | None = None) -> None:
    stratum.label = _check_label(label, required=False)
    stratum.label_en = _check_english(label_en)
    forget_labels(stratum.process_id)
    share = _check_share(population_share)
    if share != stratum.population_share:
        dimension = dimension_of(stratum)
        if dimension is not None:
            dimension.placeholder_shares = False
    stratum.population_share = share
    record_audit(actor, "stratum.update", "stratum", stratum.id, process_id=stratum.process_id,
                 details={"dimension": stratum.dimension, "category": stratum.category,
                          "share": share})


def delete_category(stratum: Stratum, *, actor: Any, now: datetime) -> None:
    record_audit(actor, "stratum.delete", "stratum", stratum.id, process_id=stratum.process_id,
                 details={"dimension": stratum.dimension, "category": stratum.category,
                          "label": stratum.label, "label_en": stratum.label_en})
    db.session.delete(stratum)
    forget_labels(stratum.process_id)


def use_defaults(process: Process, *, actor: Any, now: datetime) -> list[str]:
    """Creates the default dimensions the process lacks (idempotent), named in French and in
    English. A new dimension gets its categories with equal shares, flagged as placeholders until
    census figures replace them; strata already present for a code (an import) are kept as they
    are."""
    existing = set(db.session.scalars(
        sa.select(Dimension.code).where(Dimension.process_id == process.id)))
    with_strata = set(db.session.scalars(
        sa.select(Stratum.dimension).where(Stratum.process_id == process.id).distinct()))
    position = _next_position(process)
    created: list[str] = []
    for code, label_fr, label_en, categories in DEFAULT_DIMENSIONS:
        if code in existing:
            continue
        needs_categories = code not in with_strata
        db.session.add(Dimension(process_id=process.id, code=code, label=label_fr,
                                 label_en=label_en, position=min(position, POSITION_MAX),
                                 placeholder_shares=needs_categories))
        position += 1
        if needs_categories:
            share = 1 / len(categories)
            db.session.add_all(
                Stratum(process_id=process.id, dimension=code, category=cat, label=cat_fr,
                        label_en=cat_en, population_share=share)
                for cat, cat_fr, cat_en in categories)
        created.append(code)
    if created:
        db.session.flush()
        forget_labels(process.id)
        record_audit(actor, "demographics.defaults", "process", process.id,
                     process_id=process.id, details={"dimensions": created})
    return created


# ---------------------------------------------------------------- reference population

class ReferenceRefused(ValidationFailed):
    """Census data refused as a whole; `errors` lists every reason found (line by line)."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__(_("The reference population was not saved: %(n)s problem(s) found.",
                           n=len(errors)))
        self.errors = list(errors)


def parse_share(raw: object) -> float:
    """A typed share: digits with a dot or comma decimal separator. NaN, infinity, thousands
    separators and exponents are not census shares and raise ValueError."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        text = str(raw or "").strip()
        if not _NUMBER_RE.match(text):
            raise ValueError(text)
        value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(str(raw))
    return value


def _line_prefix(line: int | None) -> str:
    return _("Line %(line)s: ", line=line) if line is not None else ""


def check_reference(process: Process,
                    rows: Iterable[tuple[int | None, str, str, object]]) -> dict[int, float]:
    """Checks census rows (line, dimension, category, share) against the process's strata and
    returns {stratum id: share}. Every dimension named must list all its categories, with
    shares that are numbers >= 0 summing to 1 (within 0.02). Raises ReferenceRefused."""
    strata = {(s.dimension, s.category): s for s in db.session.scalars(
        sa.select(Stratum).where(Stratum.process_id == process.id).order_by(Stratum.id))}
    dimensions = {d for d, _c in strata}
    errors: list[str] = []
    seen: dict[tuple[str, str], int | None] = {}
    shares: dict[int, float] = {}
    sums: dict[str, float] = {}
    broken: set[str] = set()
    for line, dimension, category, raw in rows:
        prefix = _line_prefix(line)
        dimension, category = (dimension or "").strip(), (category or "").strip()
        if dimension not in dimensions:
            errors.append(prefix + _("unknown dimension \"%(dimension)s\" in this process.",
                                     dimension=dimension))
            continue
        stratum = strata.get((dimension, category))
        if stratum is None:
            errors.append(prefix + _("unknown category \"%(category)s\" of dimension "
                                     "\"%(dimension)s\".", category=category,
                                     dimension=dimension))
            broken.add(dimension)
            continue
        if (dimension, category) in seen:
            earlier = seen[(dimension, category)]
            errors.append(prefix + (
                _("category \"%(category)s\" of dimension \"%(dimension)s\" appears twice "
                  "(first on line %(first)s).", category=category, dimension=dimension,
                  first=earlier) if earlier is not None else
                _("category \"%(category)s\" of dimension \"%(dimension)s\" appears twice.",
                  category=category, dimension=dimension)))
            broken.add(dimension)
            continue
        seen[(dimension, category)] = line
        try:
            share = parse_share(raw)
        except ValueError:
            errors.append(prefix + _("the share of \"%(category)s\" (%(dimension)s) is not a "
                                     "number: write it like 0.25.", category=category,
                                     dimension=dimension))
            broken.add(dimension)
            continue
        if share < 0:
            errors.append(prefix + _("the share of \"%(category)s\" (%(dimension)s) is "
                                     "negative.", category=category, dimension=dimension))
            broken.add(dimension)
            continue
        shares[stratum.id] = share
        sums[dimension] = sums.get(dimension, 0.0) + share
    named = {d for d, _c in seen}
    for dimension in sorted(named):
        missing = sorted(c for d, c in strata if d == dimension and (d, c) not in seen)
        if missing:
            errors.append(_("Dimension \"%(dimension)s\": no share for %(categories)s; give every "
                            "category of a dimension (0 is allowed).", dimension=dimension,
                            categories=", ".join(f'"{c}"' for c in missing)))
            continue
        if dimension in broken:
            continue
        total = sums.get(dimension, 0.0)
        if abs(total - 1) > SHARE_TOLERANCE + _EPSILON:
            errors.append(_("Dimension \"%(dimension)s\": the shares sum to %(total)s; they must "
                            "sum to 1 (between %(low)s and %(high)s).", dimension=dimension,
                            total=f"{total:.4g}", low=1 - SHARE_TOLERANCE,
                            high=1 + SHARE_TOLERANCE))
    if not seen and not errors:
        errors.append(_("No share was given."))
    if errors:
        raise ReferenceRefused(errors[:CSV_MAX_ERRORS])
    return shares


def read_reference_csv(data: bytes) -> list[tuple[int, str, str, str]]:
    """The rows of an uploaded census CSV (UTF-8, header dimension,category,population_share).
    Raises ReferenceRefused for anything that is not such a file."""
    if not data or not data.strip():
        raise ReferenceRefused([_("The file is empty.")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReferenceRefused([_("The file is not UTF-8 text (byte %(n)s). Save it as \"CSV "
                                  "UTF-8\" and try again.", n=err.start + 1)]) from None
    if "\x00" in text:
        raise ReferenceRefused([_("The file is not a CSV text file.")])
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise ReferenceRefused([_("The file is empty.")])
        columns = [h.strip().lower() for h in header]
        if sorted(columns) != sorted(CSV_COLUMNS):
            raise ReferenceRefused([_("Line 1: the columns must be exactly %(expected)s (found: "
                                      "%(found)s).", expected=", ".join(CSV_COLUMNS),
                                      found=", ".join(h.strip()[:40] for h in header) or "-")])
        index = {name: columns.index(name) for name in CSV_COLUMNS}
        rows: list[tuple[int, str, str, str]] = []
        errors: list[str] = []
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                errors.append(_line_prefix(line) + _("expected %(n)s cells, found %(found)s.",
                                                     n=len(columns), found=len(cells)))
                continue
            if len(rows) >= CSV_MAX_ROWS:
                raise ReferenceRefused([_("The file has more than %(n)s rows.",
                                          n=CSV_MAX_ROWS)])
            rows.append((line, cells[index["dimension"]][:CODE_MAX + 1],
                         cells[index["category"]][:CODE_MAX + 1],
                         cells[index["population_share"]][:40]))
    except csv.Error as err:
        raise ReferenceRefused([_("The file could not be read as CSV (%(reason)s).",
                                  reason=str(err)[:200])]) from None
    if errors:
        raise ReferenceRefused(errors[:CSV_MAX_ERRORS])
    if not rows:
        raise ReferenceRefused([_("The file has a header but no rows.")])
    return rows


def set_reference_population(process: Process, shares: Mapping[int, float], *, source: str,
                             actor: Any, now: datetime) -> list[str]:
    """Stores checked shares ({stratum id: share}, from check_reference) and audits the update."""
    strata = db.session.scalars(
        sa.select(Stratum).where(Stratum.process_id == process.id, Stratum.id.in_(list(shares)))
        .order_by(Stratum.id)
    ).all()
    dimensions = sorted({s.dimension for s in strata})
    for stratum in strata:
        stratum.population_share = shares[stratum.id]
    if dimensions:
        db.session.execute(
            sa.update(Dimension)
            .where(Dimension.process_id == process.id, Dimension.code.in_(dimensions))
            .values(placeholder_shares=False)
            .execution_options(synchronize_session="fetch")
        )
    record_audit(actor, "reference_population.update", "process", process.id,
                 process_id=process.id,
                 details={"source": source, "dimensions": dimensions, "categories": len(strata)})
    return dimensions


# ---------------------------------------------------------------- participants

@dataclass
class Question:
    code: str
    label: str
    choices: list[tuple[str, str]]


def questions_for(processes: Sequence[Process]) -> list[Question]:
    """One question per dimension code of the given processes (most recent first): the label and
    categories come from the most recent process that asks it, in the reader's language."""
    if not processes:
        return []
    ids = [p.id for p in processes]
    rank = {pid: i for i, pid in enumerate(ids)}
    strata = db.session.scalars(
        sa.select(Stratum).where(Stratum.process_id.in_(ids)).order_by(Stratum.id)).all()
    dims = db.session.scalars(
        sa.select(Dimension).where(Dimension.process_id.in_(ids)).order_by(Dimension.id)).all()
    owner: dict[str, int] = {}
    for s in strata:
        if s.dimension not in owner or rank[s.process_id] < rank[owner[s.dimension]]:
            owner[s.dimension] = s.process_id
    meta = {(d.process_id, d.code): d for d in dims}
    labels = labels_for(owner.values())
    questions: list[tuple[tuple[int, str], Question]] = []
    for code, pid in owner.items():
        row = meta.get((pid, code))
        words = labels[pid]
        choices = [(s.category, words.category(code, s.category)) for s in strata
                   if s.process_id == pid and s.dimension == code]
        order = (row.position if row is not None else POSITION_MAX + 1, code)
        questions.append((order, Question(code, words.dimension(code), choices)))
    return [q for _order, q in sorted(questions, key=lambda item: item[0])]


def questions_for_today(today: date) -> list[Question]:
    from pvplatform.processes.services import running_processes

    return questions_for(running_processes(today=today))


def active_consent(participant: Participant | None) -> ConsentRecord | None:
    if participant is None:
        return None
    return db.session.scalar(
        sa.select(ConsentRecord)
        .where(ConsentRecord.participant_id == participant.id,
               ConsentRecord.purpose == CONSENT_PURPOSE, ConsentRecord.withdrawn_at.is_(None))
        .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    )


def should_ask(participant: Participant, *, today: date) -> bool:
    """After a registration: ask only people who never answered nor consented, and only when a
    running process asks something. Reads no value (existence only)."""
    has_attribute = db.session.scalar(
        sa.select(ParticipantAttribute.id)
        .where(ParticipantAttribute.participant_id == participant.id).limit(1))
    if has_attribute is not None:
        return False
    has_record = db.session.scalar(
        sa.select(ConsentRecord.id)
        .where(ConsentRecord.participant_id == participant.id,
               ConsentRecord.purpose == CONSENT_PURPOSE).limit(1))
    if has_record is not None:
        return False
    return bool(questions_for_today(today))


def read_answers(participant: Participant | None, *, actor: Any, now: datetime,
                 reason: str = "own_page") -> dict[str, str]:
    """A person's stored answers {dimension: category}. Every read of individual demographics
    goes through here and leaves an audit row (no values in it)."""
    if participant is None:
        return {}
    rows = db.session.execute(
        sa.select(ParticipantAttribute.dimension, ParticipantAttribute.category)
        .where(ParticipantAttribute.participant_id == participant.id)
        .order_by(ParticipantAttribute.dimension)
    ).all()
    record_audit(actor, "demographics.read", "participant", participant.id,
                 details={"reason": reason, "dimensions": len(rows)})
    return {dim: cat for dim, cat in rows}


@dataclass
class SaveResult:
    stored: int
    removed: int
    consent_recorded: bool


def save_answers(participant: Participant, answers: Mapping[str, str | None], *, consent: bool,
                 questions: Sequence[Question], now: datetime) -> SaveResult:
    """Stores the answers given with consent; "prefer not to say" (None or "") removes the row,
    so it means unknown. Without consent nothing is stored. Attendance snapshots are never
    touched here: they keep who was in the room."""
    allowed = {q.code: {c for c, _label in q.choices} for q in questions}
    given: dict[str, str] = {}
    for dimension, category in answers.items():
        if dimension not in allowed:
            raise ValidationFailed(_("This question is not asked at the moment."))
        if category:
            if category not in allowed[dimension]:
                raise ValidationFailed(_("This answer is not one of the choices."),
                                       field=dimension)
            given[dimension] = category
    if given and not consent:
        raise ValidationFailed(
            _("Tick the consent box to save your answers, or choose \"Prefer not to say\"."),
            field="consent")
    stored, removed = _apply_answers(participant, given, list(answers), now=now)
    recorded = False
    if given:
        current = active_consent(participant)
        if current is None or current.text_version != CONSENT_TEXT_VERSION:
            db.session.add(ConsentRecord(participant_id=participant.id, purpose=CONSENT_PURPOSE,
                                         given_at=now, text_version=CONSENT_TEXT_VERSION))
            recorded = True
    db.session.flush()
    return SaveResult(stored, removed, recorded)


@dataclass
class WithdrawResult:
    attributes: int
    snapshots: int
    consents: int


def withdraw(participant: Participant, *, now: datetime) -> WithdrawResult:
    """Deletes every answer of the person and the copies kept with their past attendances, and
    marks their consent withdrawn."""
    from pvplatform.sessions.models import Attendance

    attendance_ids = sa.select(Attendance.id).where(Attendance.participant_id == participant.id)
    snapshots = db.session.execute(
        sa.delete(AttendanceSnapshot)
        .where(AttendanceSnapshot.attendance_id.in_(attendance_ids))
        .execution_options(synchronize_session="fetch")
    ).rowcount
    attributes = db.session.execute(
        sa.delete(ParticipantAttribute)
        .where(ParticipantAttribute.participant_id == participant.id)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    consents = db.session.execute(
        sa.update(ConsentRecord)
        .where(ConsentRecord.participant_id == participant.id,
               ConsentRecord.purpose == CONSENT_PURPOSE, ConsentRecord.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    # Bulk statements bypass the ORM events that keep stored flags in step: say it explicitly.
    from pvplatform.indicators.autorefresh import mark_participant_dirty

    mark_participant_dirty(participant.id)
    return WithdrawResult(attributes or 0, snapshots or 0, consents or 0)


# ---------------------------------------------------------------- walk-ins (no account)

def walk_in_answers(answers: Mapping[str, str | None],
                    questions: Sequence[Question]) -> dict[str, str]:
    """The answers a walk-in gave ({dimension: category}), checked against the questions of the
    session's process; "prefer not to say" (None or "") is no answer. Stores nothing."""
    allowed = {q.code: {c for c, _label in q.choices} for q in questions}
    given: dict[str, str] = {}
    for dimension, category in answers.items():
        if dimension not in allowed:
            raise ValidationFailed(_("This question is not asked at the moment."))
        if category:
            if category not in allowed[dimension]:
                raise ValidationFailed(_("This answer is not one of the choices."),
                                       field=dimension)
            given[dimension] = category
    return given


def _apply_answers(participant: Participant, given: Mapping[str, str],
                   asked: Sequence[str], *, now: datetime) -> tuple[int, int]:
    """The person's answers to the questions asked become `given`: an answer stored or changed
    per given category, removed per question asked without one. Returns (stored, removed)."""
    existing = {a.dimension: a for a in db.session.scalars(
        sa.select(ParticipantAttribute)
        .where(ParticipantAttribute.participant_id == participant.id,
               ParticipantAttribute.dimension.in_(list(asked)))
        .order_by(ParticipantAttribute.id))}
    stored = removed = 0
    for dimension in asked:
        category = given.get(dimension)
        row = existing.get(dimension)
        if category is None:
            if row is not None:
                db.session.delete(row)
                removed += 1
        elif row is None:
            db.session.add(ParticipantAttribute(participant_id=participant.id,
                                                dimension=dimension, category=category,
                                                consented_at=now, updated_at=now))
            stored += 1
        elif row.category != category:
            row.category = category
            row.consented_at = now
            row.updated_at = now
            stored += 1
    return stored, removed


def save_walk_in_answers(participant: Participant, given: Mapping[str, str],
                         asked: Iterable[str], *, text_version: str, now: datetime,
                         attendance_id: int | None = None) -> SaveResult:
    """Stores the consented answers of a person without an account (checked by
    `walk_in_answers`; the caller has the consent): a question asked but not answered removes
    the earlier answer, as "prefer not to say" does on the profile page. The consent record
    names what the person was told (`text_version`). With `attendance_id`, that attendance's
    snapshot follows the answers for the questions asked, and no other attendance's."""
    asked = sorted(set(asked))
    stored, removed = _apply_answers(participant, given, asked, now=now)
    if given:
        db.session.add(ConsentRecord(participant_id=participant.id, purpose=CONSENT_PURPOSE,
                                     given_at=now, text_version=text_version))
    if attendance_id is not None and asked:
        db.session.execute(
            sa.delete(AttendanceSnapshot)
            .where(AttendanceSnapshot.attendance_id == attendance_id,
                   AttendanceSnapshot.dimension.in_(asked))
            .execution_options(synchronize_session="fetch")
        )
        db.session.add_all(
            AttendanceSnapshot(attendance_id=attendance_id, dimension=dimension,
                               category=category)
            for dimension, category in sorted(given.items()))
    db.session.flush()
    return SaveResult(stored, removed, bool(given))
