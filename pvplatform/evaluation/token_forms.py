"""The form that creates a personal API token (revoking is a one-button form)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length, Optional

from pvplatform.core.forms import clean_text, no_control_characters
from pvplatform.evaluation.models import TOKEN_NAME_MAX


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), filters=[clean_text],
                       validators=[InputRequired(), Length(max=TOKEN_NAME_MAX),
                                   no_control_characters])
    expires_on = DateField(_l("Last day of use (optional)"), validators=[Optional()])
