"""Forms of reports, moderation actions and the audit log filter."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.moderation.models import TargetType
from pvplatform.moderation.services import REASON_MAX

TARGET_LABELS = {TargetType.PROPOSAL: _l("Proposal"), TargetType.COMMENT: _l("Comment")}
MAX_ID = 2**31 - 1


class ReportForm(FlaskForm):
    target_type = SelectField(_l("What you report"),
                              choices=[choice(t.value, TARGET_LABELS[t]) for t in TargetType],
                              validators=[InputRequired()])
    target_id = IntegerField(_l("Number"), validators=[InputRequired(),
                                                       NumberRange(min=1, max=MAX_ID)])
    reason = TextAreaField(_l("Why should the moderators look at it?"), filters=[clean_text],
                           validators=[DataRequired(), Length(max=REASON_MAX),
                                       no_control_characters])


class ModerationForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), filters=[clean_text],
                           validators=[DataRequired(), Length(max=REASON_MAX),
                                       no_control_characters])
    next = HiddenField(validators=[Optional(), Length(max=500)])


class AuditFilterForm(FlaskForm):
    """Read from the query string (GET): no CSRF token."""

    class Meta:
        csrf = False

    action = SelectField(_l("Action"), default="", validators=[Optional()])
    actor = SelectField(_l("Done by"), coerce=int, default=0)
