"""The public values catalogue: staff shape it freely until the baseline opens; after that a
change of substance is refused with the reason, and only audited typo fixes go through."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pvplatform.auth.models import Role
from pvplatform.db import utcnow
from pvplatform.extensions import db
from pvplatform.feedback import catalogue, surveys
from pvplatform.feedback.defaults import DEFAULT_VALUES
from pvplatform.feedback.models import Perception, PublicValue, Wave
from pvplatform.moderation.models import AuditLog

REWRITTEN = "La mairie publique toutes ses décisions sur son site."


@pytest.fixture(autouse=True)
def _pages_of_other_features(app):
    """The results page is built elsewhere: until it exists, its link points nowhere."""
    def stub(error, endpoint, values):  # noqa: ARG001
        return "/not-built-yet" if endpoint == "feedback.results" else None

    app.url_build_error_handlers.append(stub)
    yield
    app.url_build_error_handlers.remove(stub)


def _values(process) -> list[PublicValue]:
    return catalogue.values_of(process.id)


def _audits(action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action)
                                   .order_by(AuditLog.id)))


def _staff_with_defaults(factory, client, login_as):
    process = factory.process()
    staff = factory.user(Role.STAFF)
    login_as(staff)
    response = client.post(f"/manage/processes/{process.id}/values/defaults")
    assert response.status_code == 303
    return process, staff


def test_typo_rule():
    statement = "Je peux savoir ce que la commune décide, et pourquoi."
    assert catalogue.typo_allowance(statement) == 4
    assert catalogue.is_typo_fix(statement, statement)
    assert catalogue.is_typo_fix(statement, "Je peux savoir ce que la commune decide, et pourquoi.")
    assert catalogue.is_typo_fix("Confience", "Confiance")
    assert catalogue.is_typo_fix("Equite", "Équité")
    assert not catalogue.is_typo_fix("Confiance", "Défiance")
    assert not catalogue.is_typo_fix(statement, REWRITTEN)
    # Filling or emptying a text changes what people read, however short.
    assert not catalogue.is_typo_fix("", "Yes")
    assert not catalogue.is_typo_fix("Oui", "")
    assert catalogue.edit_distance("kitten", "sitting") == 3


def test_staff_shape_the_catalogue_before_the_baseline(factory, client, login_as):
    process, _staff = _staff_with_defaults(factory, client, login_as)
    values = _values(process)
    assert [v.code for v in values] == [d.code for d in DEFAULT_VALUES]
    assert [v.position for v in values] == list(range(1, 9))
    assert values[1].name_en == "Transparency" and values[1].statement.startswith("Je peux")
    # Only an empty catalogue starts from the suggestions.
    again = client.post(f"/manage/processes/{process.id}/values/defaults")
    assert again.status_code == 409 and len(_values(process)) == 8

    page = client.get(f"/manage/processes/{process.id}/values").get_data(as_text=True)
    assert "Transparence" in page and "I can find out what the town decides, and why." in page
    assert "inclusiveness" not in page  # labels, never codes

    form = {"name": "Sécurité du quotidien", "statement": "Je me sens en sécurité dans mon "
            "quartier.", "name_en": "", "statement_en": ""}
    assert client.post(f"/manage/processes/{process.id}/values", data=form).status_code == 303
    assert client.post(f"/manage/processes/{process.id}/values", data=form).status_code == 303
    added = _values(process)[8:]
    assert [(v.code, v.position) for v in added] == [
        ("securite_du_quotidien", 9), ("securite_du_quotidien_2", 10)]
    assert added[0].name_en == "" and added[0].question("en").startswith("Je me sens")
    missing = client.post(f"/manage/processes/{process.id}/values",
                          data={"name": "  ", "statement": "x"})
    assert missing.status_code == 422 and len(_values(process)) == 10

    # Reorder: the moved value and its neighbour swap; the ends do not move further.
    trust = next(v for v in _values(process) if v.code == "trust")
    assert client.post(f"/manage/values/{trust.id}/move",
                       data={"direction": "up"}).status_code == 303
    assert [v.code for v in _values(process)][2:4] == ["trust", "responsiveness"]
    first = _values(process)[0]
    assert client.post(f"/manage/values/{first.id}/move",
                       data={"direction": "up"}).status_code == 303
    assert _values(process)[0].id == first.id
    assert client.post(f"/manage/values/{first.id}/move",
                       data={"direction": "sideways"}).status_code == 422

    # Before the lock anything may be rewritten, except the code.
    edit = client.post(f"/manage/values/{trust.id}/edit", data={
        "name": "Confiance", "statement": REWRITTEN, "name_en": "Trust", "statement_en": ""})
    assert edit.status_code == 303
    db.session.refresh(trust)
    assert trust.statement == REWRITTEN and trust.code == "trust" and trust.statement_en == ""
    assert {a.details["field"] for a in _audits("public_value.update")} == {
        "name", "name_en", "statement", "statement_en"}

    retired = _values(process)[-1]
    assert client.post(f"/manage/values/{retired.id}/retire").status_code == 303
    assert db.session.get(PublicValue, retired.id) is None
    assert [v.position for v in _values(process)] == list(range(1, 10))
    assert len(_audits("public_value.create")) == 2 and _audits("public_value.retire")
    assert _audits("public_value.defaults") and _audits("public_value.move")


def test_substance_cannot_change_once_the_baseline_is_open(factory, client, login_as):
    process, staff = _staff_with_defaults(factory, client, login_as)
    surveys.open_wave(process, Wave.BASELINE, by=staff, now=utcnow())
    db.session.commit()
    before = [(v.id, v.code, v.position, v.name, v.statement) for v in _values(process)]
    trust = next(v for v in _values(process) if v.code == "trust")

    added = client.post(f"/manage/processes/{process.id}/values",
                        data={"name": "Sécurité", "statement": "Je me sens en sécurité."})
    assert added.status_code == 409
    assert "could no longer be compared" in added.get_data(as_text=True)
    moved = client.post(f"/manage/values/{trust.id}/move", data={"direction": "up"})
    assert moved.status_code == 409
    assert "same questions in the same order" in moved.get_data(as_text=True)
    assert client.post(f"/manage/values/{trust.id}/retire").status_code == 409
    page = client.get(f"/manage/processes/{process.id}/values").get_data(as_text=True)
    assert "The catalogue is fixed" in page and "Add the value" not in page

    # A rewritten statement is refused on the form, with the reason.
    rewrite = client.post(f"/manage/values/{trust.id}/edit", data={
        "name": trust.name, "statement": REWRITTEN, "name_en": trust.name_en,
        "statement_en": trust.statement_en})
    assert rewrite.status_code == 422
    assert "only a small correction of a typo" in rewrite.get_data(as_text=True)
    db.session.expire_all()
    assert [(v.id, v.code, v.position, v.name, v.statement) for v in _values(process)] == before
    assert not _audits("public_value.correct")

    # A typo fix goes through, and the log keeps the text it replaced.
    old = trust.statement_en
    fixed = old.replace("everyone's", "everyones")
    assert fixed != old
    response = client.post(f"/manage/values/{trust.id}/edit", data={
        "name": trust.name, "statement": trust.statement, "name_en": trust.name_en,
        "statement_en": fixed})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(PublicValue, trust.id).statement_en == fixed
    (audit,) = _audits("public_value.correct")
    assert audit.actor_id == staff.id and audit.target_id == trust.id
    assert audit.details == {"value": trust.name, "field": "statement_en", "before": old,
                             "after": fixed}


def test_answers_fix_the_catalogue_too(factory, client, login_as):
    """An imported package's answers (or a pulse's) fix it as well, without any baseline."""
    process, _staff = _staff_with_defaults(factory, client, login_as)
    trust = next(v for v in _values(process) if v.code == "trust")
    citizen = factory.participant(factory.user())
    assert client.post(f"/manage/values/{trust.id}/move",
                       data={"direction": "down"}).status_code == 303
    db.session.add(Perception(participant_id=citizen.id, public_value_id=trust.id,
                              wave=Wave.BASELINE, score=4,
                              answered_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert surveys.catalogue_locked(process.id)
    assert client.post(f"/manage/values/{trust.id}/move",
                       data={"direction": "down"}).status_code == 409
    assert client.post(f"/manage/processes/{process.id}/values/defaults").status_code == 409


def test_only_staff_keep_the_catalogue(factory, client, login_as):
    process = factory.process()
    value = PublicValue(process_id=process.id, code="trust", name="Confiance",
                        statement="J'ai confiance.", position=1)
    db.session.add(value)
    db.session.commit()
    login_as(factory.user(Role.CITIZEN))
    assert client.get(f"/manage/processes/{process.id}/values").status_code == 403
    assert client.post(f"/manage/values/{value.id}/retire").status_code == 403
    client.post("/auth/logout")
    login_as(factory.user(Role.STAFF))
    assert client.get("/manage/processes/999999/values").status_code == 404
    assert client.get("/manage/values/999999/edit").status_code == 404
    assert client.get(f"/manage/values/{value.id}/edit").status_code == 200
    assert db.session.get(PublicValue, value.id) is not None


def test_bad_input_is_refused_without_a_trace(factory, client, login_as):
    process, _staff = _staff_with_defaults(factory, client, login_as)
    trust = next(v for v in _values(process) if v.code == "trust")
    url = f"/manage/processes/{process.id}/values"
    for form in ({"name": "x" * 201, "statement": "Une phrase."},
                 {"name": "Valeur", "statement": "y" * 301},
                 {"name": "Val\u202eeur", "statement": "Une phrase."},
                 {"name": "Valeur"}):
        assert client.post(url, data=form).status_code == 422
    assert client.post(f"/manage/values/{trust.id}/move").status_code == 422
    assert client.post(f"/manage/values/{trust.id}/edit",
                       data={"name": "", "statement": ""}).status_code == 422
    db.session.expire_all()
    assert len(_values(process)) == 8 and not _audits("public_value.create")
    assert db.session.get(PublicValue, trust.id).name == "Confiance dans les institutions"
