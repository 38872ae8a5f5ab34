"""Forms of the indicator feature: per-process thresholds and flag acknowledgement."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from pvplatform.core.forms import no_control_characters
from pvplatform.indicators.store import NOTE_MAX
from pvplatform.indicators.thresholds import THRESHOLD_SPECS


class ThresholdsForm(FlaskForm):
    """One text field per threshold: the service parses and checks the numbers (ranges, whole
    numbers, bands in order), so that the page and any other caller obey the same rules."""


for _spec in THRESHOLD_SPECS:
    setattr(ThresholdsForm, _spec.name, StringField(
        _spec.label, validators=[DataRequired(), Length(max=32), no_control_characters]))


class AcknowledgeForm(FlaskForm):
    note = TextAreaField(
        _l("Note"),
        validators=[DataRequired(), Length(max=NOTE_MAX), no_control_characters],
        description=_l("What you have seen and what you will do about it."),
    )
