"""Session forms: create/edit, invitations, check-in, speaking turns, closing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.core.select_widget import LongSelect
from pvplatform.participation.demographics import Question
from pvplatform.participation.forms import answer_field_name
from pvplatform.sessions.models import AttendanceMode, MeetingFormat
from pvplatform.sessions.services import NEEDS_LOCATION, NEEDS_URL, is_safe_online_url
from pvplatform.sessions.speaking import MAX_TURN_MINUTES

MAX_ID = 2**31 - 1
# Browsers send datetime-local as "2030-05-01T18:30"; the others are accepted for robustness.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
# A speaking turn's start is shown to the second (the first format renders the field).
TURN_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S",
                         "%Y-%m-%d %H:%M"]

FORMAT_CHOICES = [
    (MeetingFormat.IN_PERSON.value, _l("In person")),
    (MeetingFormat.ONLINE.value, _l("Online")),
    (MeetingFormat.HYBRID.value, _l("Hybrid (in person and online)")),
]
MODE_CHOICES = [
    (AttendanceMode.IN_PERSON.value, _l("In person")),
    (AttendanceMode.ONLINE.value, _l("Online")),
]
KIND_CHOICES = [
    ("citizen", _l("Citizen")),
    ("association", _l("Association")),
]


def strip_filter(value):
    return clean_text(value) if isinstance(value, str) else value


def reasonable_year(form, field) -> None:  # noqa: ARG001
    # Far-off years overflow time zone arithmetic; no session is planned outside this range.
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(str(_l("Enter a date between the years 2000 and 2100.")))


def online_url_allowed(form, field) -> None:  # noqa: ARG001
    if field.data and not is_safe_online_url(field.data):
        raise ValidationError(
            str(_l("The online link must be a web address starting with http:// or https://."))
        )


def optional_id(value) -> int:
    """Select value to int; 0 stands for "none" (an empty option)."""
    if value in (None, ""):
        return 0
    return int(value)


class MeetingForm(FlaskForm):
    title = StringField(_l("Title"), filters=[strip_filter],
                        validators=[DataRequired(), Length(max=200), no_control_characters])
    format = SelectField(_l("Format"), choices=FORMAT_CHOICES,
                         default=MeetingFormat.IN_PERSON.value)
    starts_at = DateTimeLocalField(_l("Starts at"), format=DATETIME_FORMATS,
                                   validators=[InputRequired(), reasonable_year])
    ends_at = DateTimeLocalField(_l("Ends at"), format=DATETIME_FORMATS,
                                 validators=[InputRequired(), reasonable_year])
    location = StringField(_l("Place"), filters=[strip_filter],
                           validators=[Length(max=300), no_control_characters])
    online_url = URLField(_l("Online link"), filters=[strip_filter],
                          validators=[Length(max=500), no_control_characters, online_url_allowed])
    capacity = IntegerField(_l("Capacity (seats)"),
                            validators=[Optional(), NumberRange(min=1, max=100_000)])
    agenda = TextAreaField(_l("Agenda"), validators=[Length(max=20_000), no_control_characters])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.starts_at.data and self.ends_at.data and not self.ends_at.errors \
                and self.ends_at.data <= self.starts_at.data:
            self.ends_at.errors.append(str(_l("The end must be after the start.")))
            ok = False
        if self.format.data in NEEDS_LOCATION and not self.location.data \
                and not self.location.errors:
            self.location.errors.append(
                str(_l("A place is required for a session held in person."))
            )
            ok = False
        if self.format.data in NEEDS_URL and not self.online_url.data \
                and not self.online_url.errors:
            self.online_url.errors.append(
                str(_l("An online link is required for an online session."))
            )
            ok = False
        return ok


class InviteUserForm(FlaskForm):
    user_id = IntegerField(_l("Person"),
                           validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])


class InviteAssociationForm(FlaskForm):
    association_id = SelectField(_l("Association"), coerce=int, choices=[], widget=LongSelect())


class CheckInCodeForm(FlaskForm):
    # Focused first: at the door, staff mostly type or scan a code.
    code = StringField(_l("Registration code"), filters=[strip_filter],
                       validators=[DataRequired(), Length(max=40), no_control_characters],
                       render_kw={"autofocus": True, "autocomplete": "off",
                                  "autocapitalize": "characters", "spellcheck": "false"})
    mode = SelectField(_l("Attends"), choices=MODE_CHOICES,
                       default=AttendanceMode.IN_PERSON.value)


class CheckInRegistrationForm(FlaskForm):
    registration_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])
    mode = SelectField(choices=MODE_CHOICES, default=AttendanceMode.IN_PERSON.value)


class WalkInForm(FlaskForm):
    name = StringField(_l("Name"), filters=[strip_filter],
                       validators=[DataRequired(), Length(max=120), no_control_characters])
    kind = SelectField(_l("Takes part as"), choices=KIND_CHOICES, default="citizen")
    association = SelectField(_l("Association (optional)"), coerce=optional_id, choices=[],
                              default=0, widget=LongSelect())
    # Set by the "different person, check in anyway" button of the probable-duplicate warning.
    different_person = HiddenField(validators=[Optional(), Length(max=1)])
    # The process's demographic questions (dim_<code>) and the consent box follow: walk_in_form.

    def answers(self, questions: Sequence[Question]) -> dict[str, str | None]:
        return {q.code: self[answer_field_name(q.code)].data or None for q in questions}

    def demographic_fields(self) -> list:
        return [f for f in self if f.name.startswith("dim_")]


# The paper sheet's consent question, asked aloud at the desk: without it, nothing is stored.
DESK_CONSENT_LABEL = _l("The person agreed to give their demographics for this process")


def walk_in_form(questions: Sequence[Question], **kwargs: Any) -> WalkInForm:
    """The walk-in form with one optional select per question of the session's process
    ("Prefer not to say" first: no answer) and the consent box."""

    class DeskWalkInForm(WalkInForm):
        pass

    for index, question in enumerate(questions):
        choices = [choice("", _l("Prefer not to say"))]
        choices += [choice(value, label) for value, label in question.choices]
        setattr(DeskWalkInForm, answer_field_name(question.code), SelectField(
            question.label, choices=choices, default="", validate_choice=True,
            id=f"walk-in-dimension-{index}"))
    if questions:
        DeskWalkInForm.consent = BooleanField(DESK_CONSENT_LABEL, id="walk-in-consent")
    return DeskWalkInForm(**kwargs)


class SamePersonForm(FlaskForm):
    """The probable duplicate is the person already checked in: nothing new is stored."""

    same_person = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])


class SpeakingTurnForm(FlaskForm):
    """A turn typed from the attendance list: who, when it started, how long it lasted.

    Field names start with turn_ so that their ids stay unique on the session page (which has a
    "minutes" field for the minutes of the meeting)."""

    # Choices are the session's attendees (set by the view); the service checks the person is
    # one, so a stale page gets a clear message rather than "not a valid choice".
    turn_participant = SelectField(_l("Who spoke"), coerce=optional_id, choices=[],
                                   validate_choice=False, widget=LongSelect(),
                                   validators=[NumberRange(min=1, max=MAX_ID,
                                                           message=_l("Choose who spoke."))])
    # Shown to the second; minutes alone are accepted too.
    turn_start = DateTimeLocalField(_l("Started at"), format=TURN_DATETIME_FORMATS,
                                    validators=[InputRequired(), reasonable_year],
                                    render_kw={"step": "1"})
    turn_minutes = IntegerField(_l("Duration (minutes)"), default=2,
                                validators=[InputRequired(),
                                            NumberRange(min=0, max=MAX_TURN_MINUTES)],
                                render_kw={"min": "0", "max": str(MAX_TURN_MINUTES),
                                           "inputmode": "numeric"})
    turn_seconds = IntegerField(_l("Duration (seconds)"), default=0,
                                validators=[Optional(), NumberRange(min=0, max=59)],
                                render_kw={"min": "0", "max": "59", "inputmode": "numeric"})

    def duration_seconds(self) -> int:
        return (self.turn_minutes.data or 0) * 60 + (self.turn_seconds.data or 0)

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if not self.turn_minutes.errors and not self.turn_seconds.errors \
                and self.duration_seconds() <= 0:
            self.turn_minutes.errors.append(str(_l("A turn lasts at least one second.")))
            ok = False
        return ok


class DeleteSpeakingTurnForm(FlaskForm):
    turn_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])


class CloseForm(FlaskForm):
    minutes = TextAreaField(_l("Minutes"), filters=[strip_filter],
                            validators=[DataRequired(), Length(max=50_000),
                                        no_control_characters])
