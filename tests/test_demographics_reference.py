"""Reference population: typed form and CSV upload, each refusal storing nothing (422)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import Dimension, Stratum

CENSUS = (
    "dimension,category,population_share\n"
    "age,young,0.3\n"
    "age,middle,0.45\n"
    "age,old,0.25\n"
    "housing,owner,0.6\n"
    "housing,renter,0.4\n"
)


@pytest.fixture
def process(db, factory, login_as):
    process = factory.process()
    db.session.add_all([
        Dimension(process_id=process.id, code="age", label="Age", position=0,
                  placeholder_shares=True),
        Dimension(process_id=process.id, code="housing", label="Housing", position=1),
    ])
    for dimension, category in (("age", "young"), ("age", "middle"), ("age", "old"),
                                ("housing", "owner"), ("housing", "renter")):
        share = 1 / 3 if dimension == "age" else 0.5
        db.session.add(Stratum(process_id=process.id, dimension=dimension, category=category,
                               population_share=share))
    db.session.commit()
    login_as(factory.user("staff"))
    return process


def _shares(db) -> dict[tuple[str, str], float]:
    db.session.expire_all()
    return {(s.dimension, s.category): s.population_share
            for s in db.session.scalars(sa.select(Stratum).order_by(Stratum.id))}


def _audits(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "reference_population.update"))


def _upload(client, process, content: bytes | str, name: str = "census.csv"):
    if isinstance(content, str):
        content = content.encode("utf-8")
    return client.post(f"/manage/processes/{process.id}/reference/upload",
                       data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def _ids(db) -> dict[tuple[str, str], int]:
    return {(s.dimension, s.category): s.id
            for s in db.session.scalars(sa.select(Stratum).order_by(Stratum.id))}


def _typed(db, **overrides: str) -> dict[str, str]:
    values = {("age", "young"): "0.3", ("age", "middle"): "0.45", ("age", "old"): "0.25",
              ("housing", "owner"): "0.6", ("housing", "renter"): "0.4"}
    for key, value in overrides.items():
        dimension, category = key.split("__")
        values[(dimension, category)] = value
    ids = _ids(db)
    return {f"share_{ids[key]}": value for key, value in values.items()}


# ---------------------------------------------------------------- happy paths

def test_page_lists_every_category(db, client, process):
    response = client.get(f"/manage/processes/{process.id}/reference")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Age" in page and "Housing" in page and "Placeholder shares" in page
    for stratum_id in _ids(db).values():
        assert f'name="share_{stratum_id}"' in page


def test_typed_form_saves_the_shares(db, client, process):
    response = client.post(f"/manage/processes/{process.id}/reference",
                           data=_typed(db, age__middle="0,45"))
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert _shares(db) == {("age", "young"): 0.3, ("age", "middle"): 0.45,
                           ("age", "old"): 0.25, ("housing", "owner"): 0.6,
                           ("housing", "renter"): 0.4}
    assert not any(d.placeholder_shares for d in db.session.scalars(sa.select(Dimension)))
    row = db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "reference_population.update"))
    assert row.process_id == process.id
    assert row.details["source"] == "form"
    assert row.details["dimensions"] == ["age", "housing"]


def test_typed_form_accepts_a_sum_within_the_tolerance_and_zero_shares(db, client, process):
    data = _typed(db, age__young="0.31", age__middle="0.71", age__old="0")
    assert client.post(f"/manage/processes/{process.id}/reference", data=data
                       ).status_code == 303
    assert _shares(db)[("age", "old")] == 0.0


def test_csv_upload_saves_the_shares(db, client, process):
    response = _upload(client, process, "\ufeff" + CENSUS)  # Excel's BOM is fine
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert _shares(db)[("age", "middle")] == 0.45
    assert _shares(db)[("housing", "renter")] == 0.4
    row = db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "reference_population.update"))
    assert row.details["source"] == "csv"


def test_csv_upload_of_one_dimension_keeps_the_others(db, client, process):
    before = _shares(db)
    response = _upload(client, process, "population_share,dimension,category\n"
                                        "0.7,housing,owner\n0.3,housing,renter\n")
    assert response.status_code == 303
    after = _shares(db)
    assert after[("housing", "owner")] == 0.7
    assert {k: v for k, v in after.items() if k[0] == "age"} == {
        k: v for k, v in before.items() if k[0] == "age"}
    age = db.session.scalar(sa.select(Dimension).where(Dimension.code == "age"))
    assert age.placeholder_shares  # not replaced by this file


# ---------------------------------------------------------------- refusals: nothing stored

def _refused(db, client, process, response, text: str | None = None) -> None:
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Nothing was saved" in body
    if text:
        assert text in body, body[body.find("error-summary"):][:1500]
    assert _audits(db) == 0


def _check_refused(db, client, process, response, text=None):
    before = {("age", "young"): 1 / 3, ("age", "middle"): 1 / 3, ("age", "old"): 1 / 3,
              ("housing", "owner"): 0.5, ("housing", "renter"): 0.5}
    _refused(db, client, process, response, text)
    assert _shares(db) == before


def test_typed_sum_of_0_9_is_refused(db, client, process):
    data = _typed(db, age__young="0.2")  # 0.2 + 0.45 + 0.25 = 0.9
    response = client.post(f"/manage/processes/{process.id}/reference", data=data)
    _check_refused(db, client, process, response, "sum to 0.9")


def test_typed_not_a_number_is_refused(db, client, process):
    for value in ("abc", "nan", "NaN", "inf", "-inf", "1e308", "", "0.3.1"):
        response = client.post(f"/manage/processes/{process.id}/reference",
                               data=_typed(db, age__young=value))
        assert response.status_code == 422, value
    assert _audits(db) == 0
    assert _shares(db)[("age", "middle")] == pytest.approx(1 / 3)


def test_typed_negative_share_is_refused(db, client, process):
    response = client.post(f"/manage/processes/{process.id}/reference",
                           data=_typed(db, age__young="-0.3", age__middle="1.05"))
    assert response.status_code == 422
    assert _shares(db)[("age", "young")] == pytest.approx(1 / 3)


def test_csv_sum_of_0_9_is_refused(db, client, process):
    response = _upload(client, process, CENSUS.replace("age,young,0.3", "age,young,0.2"))
    _check_refused(db, client, process, response, "sum to 0.9")


def test_csv_unknown_category_is_refused(db, client, process):
    response = _upload(client, process, CENSUS + "age,baby,0\n")
    _check_refused(db, client, process, response, "unknown category")


def test_csv_unknown_dimension_is_refused(db, client, process):
    response = _upload(client, process, CENSUS + "religion,none,1\n")
    _check_refused(db, client, process, response, "unknown dimension")


def test_csv_negative_share_is_refused(db, client, process):
    content = CENSUS.replace("age,young,0.3", "age,young,-0.3").replace(
        "age,middle,0.45", "age,middle,1.05")
    response = _upload(client, process, content)
    _check_refused(db, client, process, response, "negative")


def test_csv_not_a_number_is_refused(db, client, process):
    for value in ("NaN", "nan", "inf", "Infinity", "abc", "", "1_0", "0x1"):
        response = _upload(client, process, CENSUS.replace("age,young,0.3", f"age,young,{value}"))
        _check_refused(db, client, process, response, "not a number")


def test_csv_duplicate_row_is_refused(db, client, process):
    response = _upload(client, process, CENSUS + "housing,owner,0.6\n")
    _check_refused(db, client, process, response, "appears twice")


def test_csv_missing_category_is_refused(db, client, process):
    response = _upload(client, process, CENSUS.replace("age,old,0.25\n", ""))
    _check_refused(db, client, process, response, "no share for")


def test_csv_non_utf8_is_refused(db, client, process):
    response = _upload(client, process, CENSUS.encode("utf-8") + "éa,x,1\n".encode("latin-1"))
    _check_refused(db, client, process, response, "not UTF-8")


def test_csv_missing_column_is_refused(db, client, process):
    response = _upload(client, process, "dimension,category\nage,young\n")
    _check_refused(db, client, process, response, "columns must be exactly")


def test_csv_extra_or_renamed_column_is_refused(db, client, process):
    response = _upload(client, process, "dimension,category,share\nage,young,0.3\n")
    _check_refused(db, client, process, response, "columns must be exactly")
    response = _upload(client, process, CENSUS.replace("population_share\n",
                                                       "population_share,note\n"))
    _check_refused(db, client, process, response, "columns must be exactly")


def test_csv_without_header_is_refused(db, client, process):
    response = _upload(client, process, CENSUS.split("\n", 1)[1])
    _check_refused(db, client, process, response, "columns must be exactly")


def test_csv_empty_file_is_refused(db, client, process):
    for content in (b"", b"\n\n", b"\xef\xbb\xbf", b"dimension,category,population_share\n"):
        response = _upload(client, process, content)
        _check_refused(db, client, process, response)


def test_csv_ragged_row_is_refused(db, client, process):
    response = _upload(client, process, CENSUS + "age,young\n")
    _check_refused(db, client, process, response, "expected 3 cells")


def test_csv_binary_is_refused(db, client, process):
    response = _upload(client, process, b"\x00\x01\x02PK\x03\x04")
    assert response.status_code == 422


def test_missing_file_is_refused(db, client, process):
    response = client.post(f"/manage/processes/{process.id}/reference/upload", data={})
    assert response.status_code == 422
    assert "Choose a CSV file" in response.get_data(as_text=True)
    assert _audits(db) == 0


def test_too_large_file_is_refused(db, client, process):
    response = _upload(client, process, CENSUS + "#" * (1024 * 1024))
    _check_refused(db, client, process, response, "larger than 1 MB")


def test_errors_are_listed_by_line(db, client, process):
    content = CENSUS + "age,baby,0\nfoo,bar,1\n"
    response = _upload(client, process, content)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 7" in body and "Line 8" in body


def test_process_without_categories_refuses_the_form(db, client, factory, login_as):
    empty = factory.process(title="Vide")
    login_as(factory.user("staff"))
    page = client.get(f"/manage/processes/{empty.id}/reference").get_data(as_text=True)
    assert "No category yet" in page
    assert client.post(f"/manage/processes/{empty.id}/reference").status_code == 422
    assert _upload(client, empty, CENSUS).status_code == 422
