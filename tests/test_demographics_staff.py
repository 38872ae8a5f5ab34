"""Staff pages for demographic dimensions and categories: defaults, add/edit/delete, refusals."""

from __future__ import annotations

import sqlalchemy as sa

from pvplatform.moderation.models import AuditLog
from pvplatform.participation.models import Dimension, ParticipantAttribute, Stratum


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _strata(db, process, dimension: str) -> dict[str, float]:
    return dict(db.session.execute(
        sa.select(Stratum.category, Stratum.population_share)
        .where(Stratum.process_id == process.id, Stratum.dimension == dimension)
        .order_by(Stratum.category)).all())


def _staff(factory, login_as):
    staff = factory.user("staff")
    login_as(staff)
    return staff


def test_page_shows_empty_state(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    response = client.get(f"/manage/processes/{process.id}/demographics")
    assert response.status_code == 200
    assert "No dimension yet" in response.get_data(as_text=True)


def test_defaults_create_the_four_dimensions_with_equal_shares(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    response = client.post(f"/manage/processes/{process.id}/demographics/defaults")
    assert response.status_code == 303
    codes = list(db.session.scalars(
        sa.select(Dimension.code).where(Dimension.process_id == process.id)
        .order_by(Dimension.position)))
    assert codes == ["age_band", "gender", "district", "housing"]
    assert set(_strata(db, process, "age_band")) == {"18-29", "30-44", "45-59", "60-74", "75+"}
    assert set(_strata(db, process, "gender")) == {"woman", "man", "other"}
    assert set(_strata(db, process, "district")) == {"centre", "north", "south", "east"}
    assert set(_strata(db, process, "housing")) == {"owner", "renter", "social_housing"}
    for code in codes:
        shares = _strata(db, process, code)
        assert abs(sum(shares.values()) - 1) < 1e-9
        assert len(set(shares.values())) == 1
    # Labels are data in the default language of the site (French).
    labels = set(db.session.scalars(sa.select(Stratum.label).where(Stratum.dimension == "housing")))
    assert labels == {"Propriétaire", "Locataire", "Logement social"}
    assert all(d.placeholder_shares for d in db.session.scalars(sa.select(Dimension)))
    page = client.get(f"/manage/processes/{process.id}/demographics").get_data(as_text=True)
    assert "placeholders" in page
    assert db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "demographics.defaults")) is not None


def test_defaults_are_idempotent(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    client.post(f"/manage/processes/{process.id}/demographics/defaults")
    before = (_count(db, Dimension), _count(db, Stratum))
    response = client.post(f"/manage/processes/{process.id}/demographics/defaults",
                           follow_redirects=True)
    assert response.status_code == 200
    assert "Nothing to add" in response.get_data(as_text=True)
    assert (_count(db, Dimension), _count(db, Stratum)) == before == (4, 15)


def test_defaults_keep_edits_and_imported_strata(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    # An imported dimension (strata without a dimension row) keeps its census shares.
    db.session.add_all([
        Stratum(process_id=process.id, dimension="gender", category="f", population_share=0.6),
        Stratum(process_id=process.id, dimension="gender", category="m", population_share=0.4),
    ])
    db.session.commit()
    client.post(f"/manage/processes/{process.id}/demographics/defaults")
    assert _strata(db, process, "gender") == {"f": 0.6, "m": 0.4}
    gender = db.session.scalar(sa.select(Dimension).where(Dimension.code == "gender"))
    assert gender is not None and not gender.placeholder_shares
    # A deleted default category is not brought back by a second press.
    east = db.session.scalar(sa.select(Stratum).where(Stratum.category == "east"))
    client.post(f"/manage/categories/{east.id}/delete")
    client.post(f"/manage/processes/{process.id}/demographics/defaults")
    assert "east" not in _strata(db, process, "district")


def test_add_edit_delete_dimension_and_category(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    response = client.post(f"/manage/processes/{process.id}/demographics",
                           data={"code": "transport", "label": "How do you get around?",
                                 "position": "3"})
    assert response.status_code == 303
    dimension = db.session.scalar(sa.select(Dimension).where(Dimension.code == "transport"))
    assert (dimension.label, dimension.position) == ("How do you get around?", 3)
    prefix = f"c{dimension.id}-"
    for code, share in (("car", "0.5"), ("bike", "0,3"), ("foot", "0.2")):
        response = client.post(f"/manage/dimensions/{dimension.id}/categories",
                               data={prefix + "code": code, prefix + "label": code.title(),
                                     prefix + "population_share": share})
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert _strata(db, process, "transport") == {"bike": 0.3, "car": 0.5, "foot": 0.2}
    page = client.get(f"/manage/processes/{process.id}/demographics").get_data(as_text=True)
    assert "How do you get around?" in page and "Bike" in page

    response = client.post(f"/manage/dimensions/{dimension.id}/edit",
                           data={"label": "Transport", "position": "1"})
    assert response.status_code == 303
    db.session.refresh(dimension)
    assert (dimension.code, dimension.label, dimension.position) == ("transport", "Transport", 1)

    bike = db.session.scalar(sa.select(Stratum).where(Stratum.category == "bike"))
    assert client.get(f"/manage/categories/{bike.id}/edit").status_code == 200
    response = client.post(f"/manage/categories/{bike.id}/edit",
                           data={"label": "Bicycle", "population_share": "0"})
    assert response.status_code == 303
    db.session.refresh(bike)
    assert (bike.label, bike.population_share) == ("Bicycle", 0.0)

    response = client.post(f"/manage/categories/{bike.id}/delete")
    assert response.status_code == 303
    assert set(_strata(db, process, "transport")) == {"car", "foot"}

    response = client.post(f"/manage/dimensions/{dimension.id}/delete")
    assert response.status_code == 303
    assert _count(db, Dimension) == 0
    assert _strata(db, process, "transport") == {}
    actions = set(db.session.scalars(sa.select(AuditLog.action)))
    assert {"dimension.create", "dimension.update", "dimension.delete", "stratum.create",
            "stratum.update", "stratum.delete"} <= actions


def test_deleting_a_dimension_keeps_peoples_answers(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    client.post(f"/manage/processes/{process.id}/demographics/defaults")
    person = factory.participant(factory.user())
    db.session.add(ParticipantAttribute(participant_id=person.id, dimension="gender",
                                        category="woman"))
    db.session.commit()
    gender = db.session.scalar(sa.select(Dimension).where(Dimension.code == "gender"))
    client.post(f"/manage/dimensions/{gender.id}/delete")
    assert _count(db, ParticipantAttribute) == 1


def test_imported_dimension_can_be_given_a_label(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    db.session.add(Stratum(process_id=process.id, dimension="zone", category="a",
                           population_share=1.0))
    db.session.commit()
    page = client.get(f"/manage/processes/{process.id}/demographics").get_data(as_text=True)
    assert "no question label yet" in page
    response = client.post(f"/manage/processes/{process.id}/demographics",
                           data={"code": "zone", "label": "Votre zone"})
    assert response.status_code == 303
    assert _strata(db, process, "zone") == {"a": 1.0}
    assert db.session.scalar(sa.select(Dimension.label)) == "Votre zone"


BAD_DIMENSIONS = [
    {},
    {"code": "", "label": "Age"},
    {"code": "age band", "label": "Age"},
    {"code": "x" * 65, "label": "Age"},
    {"code": "age", "label": ""},
    {"code": "age", "label": "L" * 121},
    {"code": "age", "label": "bad\u202etext"},
    {"code": "age", "label": "Age", "position": "abc"},
    {"code": "age", "label": "Age", "position": "-1"},
    {"code": "age", "label": "Age", "position": "1000"},
]


def test_bad_dimension_input_is_refused(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    for data in BAD_DIMENSIONS:
        response = client.post(f"/manage/processes/{process.id}/demographics", data=data)
        assert response.status_code == 422, data
    assert _count(db, Dimension) == 0


def test_duplicate_dimension_code_is_refused(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    data = {"code": "age", "label": "Age"}
    assert client.post(f"/manage/processes/{process.id}/demographics", data=data
                       ).status_code == 303
    response = client.post(f"/manage/processes/{process.id}/demographics", data=data)
    assert response.status_code == 422
    assert "already has a dimension" in response.get_data(as_text=True)
    assert _count(db, Dimension) == 1
    # Same code in another process is fine.
    other = factory.process(title="Autre")
    assert client.post(f"/manage/processes/{other.id}/demographics", data=data
                       ).status_code == 303


def test_bad_category_input_is_refused(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    client.post(f"/manage/processes/{process.id}/demographics",
                data={"code": "age", "label": "Age"})
    dimension = db.session.scalar(sa.select(Dimension))
    prefix = f"c{dimension.id}-"
    client.post(f"/manage/dimensions/{dimension.id}/categories",
                data={prefix + "code": "young", prefix + "population_share": "0.5"})
    before = _count(db, Stratum)
    bad = [
        {},
        {"code": "old"},  # share required
        {"code": "old", "population_share": ""},
        {"code": "old", "population_share": "   "},
        {"code": "old", "population_share": "abc"},
        {"code": "old", "population_share": "nan"},
        {"code": "old", "population_share": "inf"},
        {"code": "old", "population_share": "-0.1"},
        {"code": "old", "population_share": "1.5"},
        {"code": "old", "population_share": "1e-1"},
        {"code": "", "population_share": "0.5"},
        {"code": "o l d", "population_share": "0.5"},
        {"code": "old", "label": "x" * 121, "population_share": "0.5"},
        {"code": "young", "population_share": "0.5"},  # duplicate
    ]
    for data in bad:
        response = client.post(f"/manage/dimensions/{dimension.id}/categories",
                               data={prefix + k: v for k, v in data.items()})
        assert response.status_code == 422, data
    assert _count(db, Stratum) == before == 1
    young = db.session.scalar(sa.select(Stratum))
    for data in ({"population_share": "abc"}, {"population_share": ""},
                 {"population_share": "-1"}, {"label": "x" * 121, "population_share": "0.1"}):
        response = client.post(f"/manage/categories/{young.id}/edit", data=data)
        assert response.status_code == 422, data
    db.session.refresh(young)
    assert young.population_share == 0.5


def test_unknown_ids_are_404(db, client, factory, login_as):
    _staff(factory, login_as)
    for url in ("/manage/processes/999/demographics", "/manage/dimensions/999/edit",
                "/manage/categories/999/edit", "/manage/processes/999/reference"):
        assert client.get(url).status_code == 404, url
    for url in ("/manage/dimensions/999/delete", "/manage/categories/999/delete",
                "/manage/dimensions/999/categories", "/manage/processes/999/demographics/defaults",
                "/manage/processes/999/reference/upload", "/manage/dimensions/0/delete",
                f"/manage/categories/{2**63}/delete"):
        assert client.post(url).status_code == 404, url


def test_citizens_cannot_use_staff_pages(db, client, factory, login_as):
    process = factory.process()
    dimension = Dimension(process_id=process.id, code="age", label="Age")
    stratum = Stratum(process_id=process.id, dimension="age", category="young",
                      population_share=1.0)
    db.session.add_all([dimension, stratum])
    db.session.commit()
    login_as(factory.user("citizen"))
    before = (_count(db, Dimension), _count(db, Stratum))
    gets = [f"/manage/processes/{process.id}/demographics",
            f"/manage/dimensions/{dimension.id}/edit",
            f"/manage/categories/{stratum.id}/edit",
            f"/manage/processes/{process.id}/reference"]
    posts = [f"/manage/processes/{process.id}/demographics",
             f"/manage/processes/{process.id}/demographics/defaults",
             f"/manage/dimensions/{dimension.id}/edit", f"/manage/dimensions/{dimension.id}/delete",
             f"/manage/dimensions/{dimension.id}/categories",
             f"/manage/categories/{stratum.id}/edit", f"/manage/categories/{stratum.id}/delete",
             f"/manage/processes/{process.id}/reference",
             f"/manage/processes/{process.id}/reference/upload"]
    for url in gets:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, data={"code": "x", "label": "y"}).status_code == 403, url
    assert (_count(db, Dimension), _count(db, Stratum)) == before


def test_anonymous_is_sent_to_login(db, client, factory):
    process = factory.process()
    response = client.get(f"/manage/processes/{process.id}/demographics")
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]


def test_staff_page_never_shows_individual_answers(db, client, factory, login_as):
    process = factory.process()
    _staff(factory, login_as)
    client.post(f"/manage/processes/{process.id}/demographics/defaults")
    person = factory.participant(factory.user(name="Zoé Unique"))
    db.session.add(ParticipantAttribute(participant_id=person.id, dimension="gender",
                                        category="woman"))
    db.session.commit()
    for url in (f"/manage/processes/{process.id}/demographics",
                f"/manage/processes/{process.id}/reference"):
        assert "Zoé Unique" not in client.get(url).get_data(as_text=True)
