"""Staff forms of the surveys: a public value of the catalogue, moving it, a session's pulse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.feedback.models import NAME_MAX, STATEMENT_MAX
from pvplatform.processes.forms import CheckboxListField


class ValueForm(FlaskForm):
    """The French texts are required (the town's language); the English ones fall back to them
    when left empty."""

    name = StringField(_l("Name (French)"), filters=[clean_text],
                       validators=[DataRequired(message=_l("Give the value a name in French.")),
                                   Length(max=NAME_MAX), no_control_characters])
    statement = TextAreaField(
        _l("Statement people rate (French)"), filters=[clean_text],
        validators=[DataRequired(message=_l("Write the statement people rate, in French.")),
                    Length(max=STATEMENT_MAX), no_control_characters])
    name_en = StringField(_l("Name (English)"), filters=[clean_text],
                          validators=[Optional(), Length(max=NAME_MAX), no_control_characters])
    statement_en = TextAreaField(_l("Statement people rate (English)"), filters=[clean_text],
                                 validators=[Optional(), Length(max=STATEMENT_MAX),
                                             no_control_characters])

    def texts(self) -> dict[str, str | None]:
        return {name: self[name].data for name in ("name", "statement", "name_en",
                                                   "statement_en")}


class MoveForm(FlaskForm):
    direction = SelectField(_l("Direction"), validators=[InputRequired()],
                            choices=[choice("up", _l("Up")), choice("down", _l("Down"))])


class PulseForm(FlaskForm):
    values = CheckboxListField(_l("The values this session's pulse asks about"), coerce=int,
                               validators=[Optional()])

    def __init__(self, *args: Any, value_choices: Sequence[tuple[int, str]] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values.choices = [choice(v, label) for v, label in value_choices]
