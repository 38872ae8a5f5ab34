"""Forms for managing processes, their phases and local targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
    widgets,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.processes.models import PhaseKind
from pvplatform.processes.services import POPULATION_MAX
from pvplatform.sessions.models import MeetingFormat

PHASE_KIND_LABELS = {
    PhaseKind.INFORMATION: _l("Information"),
    PhaseKind.CO_CREATION: _l("Co-creation"),
    PhaseKind.REVIEW: _l("Review"),
    PhaseKind.DECISION: _l("Decision"),
    PhaseKind.FOLLOW_UP: _l("Follow-up"),
}

OPENABLE_LABELS = {
    "proposals": _l("proposals"),
    "comments": _l("comments"),
    "votes": _l("votes"),
}

MEETING_FORMAT_LABELS = {
    MeetingFormat.ONLINE: _l("Online"),
    MeetingFormat.IN_PERSON: _l("In person"),
    MeetingFormat.HYBRID: _l("In person and online"),
}

GoalChoices = Sequence[tuple[int, str]]


class CheckboxListField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes (easier than a multi-select on a phone)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _end_not_before_start(form: FlaskForm, field: DateField) -> None:
    start = form.starts_on.data
    if start and field.data and field.data < start:
        raise ValidationError(str(_l("The end date must be on or after the start date.")))


class ProcessForm(FlaskForm):
    title = StringField(_l("Title"), filters=[clean_text],
                        validators=[DataRequired(), Length(max=200), no_control_characters])
    description = TextAreaField(_l("Description"), filters=[clean_text],
                                validators=[Optional(), Length(max=10_000),
                                            no_control_characters])
    municipality = StringField(_l("Municipality"), filters=[clean_text],
                               validators=[Optional(), Length(max=120), no_control_characters])
    population = IntegerField(
        _l("Population"),
        validators=[Optional(), NumberRange(min=0, max=POPULATION_MAX,
                                            message=_l("Enter a whole number, 0 or more."))],
    )
    starts_on = DateField(_l("Start date"), validators=[Optional()])
    ends_on = DateField(_l("End date"), validators=[Optional(), _end_not_before_start])
    goals = CheckboxListField(_l("SDG goals this process serves"), coerce=int,
                              validators=[Optional()])

    def __init__(self, *args: Any, goal_choices: GoalChoices = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.goals.choices = [choice(v, label) for v, label in goal_choices]


class NewProcessForm(ProcessForm):
    standard_phases = BooleanField(
        _l("Create the five standard phases (information, co-creation, review, decision, "
           "follow-up) over these dates"))


class PhaseForm(FlaskForm):
    kind = SelectField(_l("Kind of phase"), validators=[InputRequired()],
                       choices=[choice(k.value, label)
                                for k, label in PHASE_KIND_LABELS.items()])
    starts_on = DateField(_l("Start date"), validators=[InputRequired()])
    ends_on = DateField(_l("End date"), validators=[InputRequired(), _end_not_before_start])
    proposals_open = BooleanField(_l("Proposals open"))
    comments_open = BooleanField(_l("Comments open"))
    votes_open = BooleanField(_l("Votes open"))


class LocalTargetForm(FlaskForm):
    goal_number = SelectField(_l("SDG goal"), coerce=int, validators=[InputRequired()])
    code = StringField(_l("Code"), filters=[clean_text],
                       validators=[DataRequired(), Length(max=20), no_control_characters])
    title = StringField(_l("Title"), filters=[clean_text],
                        validators=[DataRequired(), Length(max=200), no_control_characters])
    description = TextAreaField(_l("Description"), filters=[clean_text],
                                validators=[Optional(), Length(max=10_000),
                                            no_control_characters])

    def __init__(self, *args: Any, goal_choices: GoalChoices = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.goal_number.choices = [choice(v, label) for v, label in goal_choices]
