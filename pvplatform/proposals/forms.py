"""Forms of proposals, comments, votes, answers and implementation updates."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.processes.forms import CheckboxListField
from pvplatform.proposals.models import ANSWER_STATES, ProposalState

TITLE_MAX = 200
BODY_MAX = 10_000
COMMENT_MAX = 5_000
RATIONALE_MAX = 10_000
UPDATE_MAX = 10_000

# The "none" entry of optional id selects: 0 is never a primary key.
NO_ID = 0

STATE_LABELS = {
    ProposalState.DRAFT: _l("Draft"),
    ProposalState.PUBLISHED: _l("Published"),
    ProposalState.EVALUATING: _l("Being evaluated"),
    ProposalState.ACCEPTED: _l("Accepted"),
    ProposalState.REJECTED: _l("Rejected"),
    ProposalState.WITHDRAWN: _l("Withdrawn"),
}

LISTED_STATES = (ProposalState.PUBLISHED, ProposalState.EVALUATING, ProposalState.ACCEPTED,
                 ProposalState.REJECTED, ProposalState.WITHDRAWN)

SORTS = (("newest", _l("Newest")), ("support", _l("Most supported")))


def _strip(value: str | None) -> str | None:
    return clean_text(value)


class ProposalForm(FlaskForm):
    title = StringField(_l("Title"), filters=[_strip],
                        validators=[DataRequired(), Length(max=TITLE_MAX), no_control_characters])
    body = TextAreaField(_l("Your proposal"), filters=[_strip],
                         validators=[DataRequired(), Length(max=BODY_MAX), no_control_characters])
    # Checkboxes, not a multiple select: choosing several options of a select takes Ctrl,
    # which a phone does not have and few people know about.
    goals = CheckboxListField(_l("Sustainable Development Goals it serves"), coerce=int,
                              validators=[Optional()])
    meeting_id = SelectField(_l("Session it came from"), coerce=int, default=NO_ID)
    on_behalf = BooleanField(_l("On behalf of my association"))
    save_draft = SubmitField(_l("Save as draft"))
    publish = SubmitField(_l("Publish"))


class CommentForm(FlaskForm):
    # Explicit ids: the comment and update forms share a page and both have a `body`.
    body = TextAreaField(_l("Your comment"), id="comment-body", filters=[_strip],
                         validators=[DataRequired(), Length(max=COMMENT_MAX),
                                     no_control_characters])


class VoteForm(FlaskForm):
    value = SelectField(_l("Vote"), coerce=int,
                        choices=[choice(1, _l("Support")), choice(-1, _l("Oppose"))],
                        validators=[InputRequired()])


class AnswerForm(FlaskForm):
    state = SelectField(_l("Answer"),
                        choices=[choice(s.value, STATE_LABELS[s]) for s in ANSWER_STATES],
                        validators=[InputRequired()])
    rationale = TextAreaField(_l("Reasons"), filters=[_strip],
                              validators=[Length(max=RATIONALE_MAX), no_control_characters])

    def validate_rationale(self, field) -> None:
        if self.state.data in (ProposalState.ACCEPTED.value, ProposalState.REJECTED.value) \
                and not field.data:
            raise ValidationError(str(_l("Give the reasons for accepting or rejecting.")))


class UpdateForm(FlaskForm):
    progress = IntegerField(_l("Progress (percent)"),
                            validators=[InputRequired(), NumberRange(min=0, max=100)])
    body = TextAreaField(_l("What happened"), id="update-body", filters=[_strip],
                         validators=[DataRequired(), Length(max=UPDATE_MAX),
                                     no_control_characters])


class ProposalFilterForm(FlaskForm):
    """Read from the query string (GET): no CSRF token."""

    class Meta:
        csrf = False

    goal = SelectField(_l("SDG goal"), coerce=int, default=NO_ID)
    state = SelectField(_l("State"), default="",
                        choices=[choice("", _l("All"))] + [choice(s.value, STATE_LABELS[s])
                                                             for s in LISTED_STATES])
    session = SelectField(_l("Session"), coerce=int, default=NO_ID)
    sort = SelectField(_l("Sort by"), choices=[choice(v, label) for v, label in SORTS],
                       default="newest")
