"""The admin's form to grant an evaluator access to a process, and the filter of the grants list.
The rules of a data-sharing agreement (an end date and a purpose) are the service's
(`grants.grant`): the form only reads the fields."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from pvplatform.auth.models import User
from pvplatform.core.forms import choice, clean_text, no_control_characters
from pvplatform.evaluation.models import PURPOSE_MAX, GrantScope
from pvplatform.evaluation.workspace import FIRST_YEAR, LAST_YEAR, SCOPE_LABELS


def _reasonable_year(form, field) -> None:  # noqa: ARG001
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(str(_l("Choose a date between the years %(first)s and %(last)s.",
                                     first=FIRST_YEAR, last=LAST_YEAR)))


def _optional_int(value: object) -> int | None:
    if value in (None, ""):
        return None
    return int(value)  # type: ignore[arg-type]


class GrantForm(FlaskForm):
    # Field names match the `field` of the service's refusals, which are shown beside them.
    user_id = SelectField(_l("Evaluator"), coerce=int, validators=[DataRequired()])
    process_id = SelectField(_l("Process"), coerce=int, validators=[DataRequired()])
    scope = RadioField(_l("Kind of access"), default=GrantScope.READ.value,
                       validators=[DataRequired()])
    expires_on = DateField(_l("Last day of access"), validators=[Optional(), _reasonable_year])
    purpose = TextAreaField(_l("Purpose"), filters=[clean_text],
                            validators=[Length(max=PURPOSE_MAX), no_control_characters])

    def __init__(self, *args, evaluators: Iterable[User] = (),
                 processes: Iterable[tuple[int, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user_id.choices = [choice(u.id, f"{u.display_name} ({u.email})")
                                for u in evaluators]
        self.process_id.choices = [choice(pid, title) for pid, title in processes]
        # The scope's choices are lazy strings: rebuilt per request, in the reader's language.
        self.scope.choices = [choice(s.value, str(SCOPE_LABELS[s])) for s in GrantScope]

    @property
    def scope_value(self) -> GrantScope:
        return GrantScope(self.scope.data)


class GrantFilterForm(FlaskForm):
    """?process_filter= on the grants list (GET, no CSRF)."""

    class Meta:
        csrf = False

    # Not "process": a form has a method of that name.
    process_filter = SelectField(_l("Process"), coerce=_optional_int, validators=[Optional()])

    def __init__(self, *args, processes: Iterable[tuple[int, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.process_filter.choices = [choice("", str(_l("All processes")))] + [
            choice(pid, title) for pid, title in processes]
