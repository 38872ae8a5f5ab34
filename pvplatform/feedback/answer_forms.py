"""The survey form: one set of radio buttons per question (1 to 5 with words, and "Don't know"),
and for a session's pulse the private suggestion box."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import Length, Optional

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.core.lookup import valid_id
from pvplatform.errors import ValidationFailed
from pvplatform.feedback.answers import SKIP, Answer
from pvplatform.feedback.models import PULSE_TEXT_MAX, PublicValue, Wave
from pvplatform.feedback.surveys import Survey

FIELD_PREFIX = "value-"
DONT_KNOW = "dk"

# 1 (strongly disagree) to 5 (strongly agree), as the catalogue's statements are worded.
SCALE_LABELS = {
    1: _l("Strongly disagree"),
    2: _l("Disagree"),
    3: _l("Neither agree nor disagree"),
    4: _l("Agree"),
    5: _l("Strongly agree"),
}
DONT_KNOW_LABEL = _l("Don't know")
NOT_ANSWERED_LABEL = _l("Not answered")


def field_name(value_id: int) -> str:
    return f"{FIELD_PREFIX}{value_id}"


def answer_label(answers: Mapping[int, int | None], value_id: int) -> str:
    """How an answer reads on the page: the words of the score, "Don't know" or "Not answered"."""
    if value_id not in answers:
        return str(NOT_ANSWERED_LABEL)
    score = answers[value_id]
    if score is None:
        return str(DONT_KNOW_LABEL)
    return f"{score} – {SCALE_LABELS[score]}"


def survey_title(survey: Survey) -> str:
    if survey.wave == Wave.SESSION and survey.meeting is not None:
        return str(_l("Your view of the session “%(session)s”", session=survey.meeting.title))
    if survey.wave == Wave.FINAL:
        return str(_l("Survey at the end of %(process)s", process=survey.process.title))
    return str(_l("Survey at the start of %(process)s", process=survey.process.title))


@dataclass(frozen=True)
class Question:
    value_id: int
    field: str
    text: str  # the statement, in the reader's language


def questions_of(values: Sequence[PublicValue], locale: str | None) -> list[Question]:
    return [Question(v.id, field_name(v.id), v.question(locale)) for v in values]


def _scale_choices() -> list[Any]:
    choices = [choice(str(n), f"{n} – {label}") for n, label in SCALE_LABELS.items()]
    return [*choices, choice(DONT_KNOW, DONT_KNOW_LABEL)]


def _strip(value: object) -> object:
    return clean_text(value) if isinstance(value, str) else value


class AnswerForm(FlaskForm):
    """The questions are added per survey (see `answer_form`)."""


def answer_form(questions: Sequence[Question], *, pulse: bool,
                current: Mapping[int, int | None] | None = None, comment: str = "",
                **kwargs: Any) -> AnswerForm:
    """The form for these questions, the person's current answers chosen. A question left blank
    is valid (the survey can be finished later); an answer outside the scale is a field error."""

    class SurveyForm(AnswerForm):
        pass

    for question in questions:
        setattr(SurveyForm, question.field, RadioField(
            question.text, choices=_scale_choices(), validators=[Optional()],
            id=question.field))
    if pulse:
        # Created last so that it is rendered after the questions.
        SurveyForm.comment = TextAreaField(
            _l("What would have made this session better?"), filters=[_strip],
            validators=[Optional(), Length(max=PULSE_TEXT_MAX), no_control_characters])
    data: dict[str, Any] = {}
    for value_id, score in (current or {}).items():
        data[field_name(value_id)] = DONT_KNOW if score is None else str(score)
    if pulse:
        data["comment"] = comment
    return SurveyForm(data=data, **kwargs)


def submitted_answers(form: AnswerForm, questions: Sequence[Question],
                      formdata: Mapping[str, Any]) -> dict[int, Answer]:
    """value id -> what was chosen (a score, None for "Don't know", SKIP when left blank). A
    question posted that the form does not ask is passed on, for the service to refuse."""
    answers: dict[int, Answer] = {}
    for question in questions:
        raw = form[question.field].data
        if raw in (None, ""):
            answers[question.value_id] = SKIP
        elif raw == DONT_KNOW:
            answers[question.value_id] = None
        else:
            answers[question.value_id] = int(raw)
    for key in formdata:
        if key.startswith(FIELD_PREFIX) and key not in form:
            ident = valid_id(key[len(FIELD_PREFIX):])
            if ident is None:
                raise ValidationFailed(str(_l("This question is not part of this survey. "
                                              "Reload the page and try again.")))
            answers[ident] = SKIP
    return answers


def submitted_comment(form: AnswerForm, formdata: Mapping[str, Any]) -> str | None:
    """The suggestion to store ("" removes it), or None when the form did not carry the box."""
    if "comment" not in form or "comment" not in formdata:
        return None
    return form["comment"].data or ""
