"""The one-click absence answer, and the staff button that sends the questions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from pvplatform.core.forms import clean_text, no_control_characters
from pvplatform.ledger.models import OTHER_TEXT_MAX, AbsenceReason

# What the person clicks: first person, plain words.
REASON_CHOICES = [
    (AbsenceReason.TIME.value, _l("The day or time did not suit me")),
    (AbsenceReason.PLACE.value, _l("The place was too far or hard to reach")),
    (AbsenceReason.CARE_DUTIES.value, _l("Childcare or care duties")),
    (AbsenceReason.NOT_INFORMED.value, _l("I did not know in time")),
    (AbsenceReason.NOT_INTERESTED.value, _l("The topic did not interest me")),
    (AbsenceReason.ACCESSIBILITY.value, _l("Accessibility (disability, mobility)")),
    (AbsenceReason.LANGUAGE.value, _l("Language")),
    (AbsenceReason.ONLINE_ONLY.value, _l("I can only take part online, or I have no internet")),
    (AbsenceReason.OTHER.value, _l("Another reason")),
]
REASON_LABELS = dict(REASON_CHOICES)

# Column headings of the staff tables.
REASON_SHORT = {
    AbsenceReason.TIME.value: _l("Time"),
    AbsenceReason.PLACE.value: _l("Place"),
    AbsenceReason.CARE_DUTIES.value: _l("Care duties"),
    AbsenceReason.NOT_INFORMED.value: _l("Not informed in time"),
    AbsenceReason.NOT_INTERESTED.value: _l("Not interested"),
    AbsenceReason.ACCESSIBILITY.value: _l("Accessibility"),
    AbsenceReason.LANGUAGE.value: _l("Language"),
    AbsenceReason.ONLINE_ONLY.value: _l("Online only / no internet"),
    AbsenceReason.OTHER.value: _l("Other"),
}


def _strip(value):
    return clean_text(value) if isinstance(value, str) else value


class AbsenceAnswerForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=REASON_CHOICES,
                         validators=[InputRequired(_l("Choose one of the reasons."))])
    other_text = TextAreaField(
        _l("In your own words (optional)"),
        filters=[_strip],
        validators=[Optional(), Length(max=OTHER_TEXT_MAX), no_control_characters],
    )


class SendRequestsForm(FlaskForm):
    """No field: the button itself (and its CSRF token)."""
