"""Forms for demographic dimensions, the reference population and a person's demographics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.participation.demographics import (
    CODE_MAX,
    CODE_PATTERN,
    LABEL_MAX,
    POSITION_MAX,
    Question,
    parse_share,
)
from pvplatform.participation.labels import ProcessLabels
from pvplatform.participation.models import Stratum

CODE_MESSAGE = _l("Letters, digits and the signs _ . + - only, no spaces.")
NEXT_MAX = 500


class ShareField(StringField):
    """A population share typed as 0.25 or 0,25. Not a number (NaN and infinity included) is a
    field error; the raw text is shown back so the person sees what they typed."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            self.data = None
            return
        if not str(valuelist[0]).strip():
            self.data = None
            raise ValueError(str(_l("A share is required (0 is allowed).")))
        try:
            self.data = parse_share(valuelist[0])
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Write a number such as 0.25 (a share between 0 and 1)."))
                             ) from None

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else f"{self.data:g}"


def _share_in_range(form: FlaskForm, field: ShareField) -> None:  # noqa: ARG001
    # A share that could not be read already carries its own message.
    if field.data is not None and not 0 <= field.data <= 1:
        raise ValidationError(str(_l("A share is between 0 and 1.")))


def _share_field(label: Any) -> ShareField:
    return ShareField(label, render_kw={"inputmode": "decimal", "autocomplete": "off"},
                      validators=[InputRequired(message=_l("A share is required (0 is allowed).")),
                                  _share_in_range])


def _code_field(label: Any) -> StringField:
    return StringField(label, filters=[clean_text], validators=[
        DataRequired(), Length(max=CODE_MAX), Regexp(CODE_PATTERN, message=CODE_MESSAGE),
    ])


def _label_field(label: Any, *, required: bool) -> StringField:
    return StringField(label, filters=[clean_text], validators=[
        DataRequired() if required else Optional(), Length(max=LABEL_MAX), no_control_characters,
    ])


def _position_field() -> IntegerField:
    return IntegerField(_l("Position"), validators=[
        Optional(), NumberRange(min=0, max=POSITION_MAX)])


class DimensionForm(FlaskForm):
    code = _code_field(_l("Code"))
    label = _label_field(_l("Question label (French)"), required=True)
    label_en = _label_field(_l("Question label (English)"), required=False)
    position = _position_field()


class DimensionEditForm(FlaskForm):
    label = _label_field(_l("Question label (French)"), required=True)
    label_en = _label_field(_l("Question label (English)"), required=False)
    position = _position_field()


class CategoryForm(FlaskForm):
    code = _code_field(_l("Code"))
    label = _label_field(_l("Label (French)"), required=False)
    label_en = _label_field(_l("Label (English)"), required=False)
    population_share = _share_field(_l("Population share"))


class CategoryEditForm(FlaskForm):
    label = _label_field(_l("Label (French)"), required=False)
    label_en = _label_field(_l("Label (English)"), required=False)
    population_share = _share_field(_l("Population share"))


class ReferenceUploadForm(FlaskForm):
    file = FileField(_l("Census CSV file"),
                     validators=[FileRequired(message=_l("Choose a CSV file to upload."))])


def share_field_name(stratum: Stratum) -> str:
    return f"share_{stratum.id}"


def reference_form(strata: Sequence[Stratum], labels: ProcessLabels, **kwargs: Any) -> FlaskForm:
    """One share field per category, named share_<stratum id>, labelled in the reader's
    language."""

    class ReferenceForm(FlaskForm):
        pass

    for stratum in strata:
        label = labels.category(stratum.dimension, stratum.category)
        setattr(ReferenceForm, share_field_name(stratum), _share_field(label))
    return ReferenceForm(**kwargs)


def answer_field_name(code: str) -> str:
    return f"dim_{code}"


def demographics_form(questions: Sequence[Question], answers: dict[str, str] | None = None,
                      **kwargs: Any) -> FlaskForm:
    """One select per question, "Prefer not to say" first (stored as nothing), and the consent
    box; an answer outside the choices is a field error."""

    class DemographicsForm(FlaskForm):
        next = HiddenField(validators=[Optional(), Length(max=NEXT_MAX)])

    for index, question in enumerate(questions):
        choices = [choice("", _l("Prefer not to say"))]
        choices += [choice(value, label) for value, label in question.choices]
        setattr(DemographicsForm, answer_field_name(question.code), SelectField(
            question.label, choices=choices, default="", validate_choice=True,
            id=f"dimension-{index}",
        ))
    # Created last so that it is rendered after the questions.
    DemographicsForm.consent = BooleanField(_l(
        "I agree that these answers are stored to check representativeness, as explained "
        "above."))
    data = {answer_field_name(d): c for d, c in (answers or {}).items()}
    return DemographicsForm(data=data, **kwargs)
