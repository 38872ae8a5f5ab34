"""Account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from pvplatform.auth.models import Role
from pvplatform.core.forms import choice, clean_text, no_control_characters

MAX_EMAIL = 254
MAX_NAME = 120
MAX_PASSWORD = 128
MAX_ASSOCIATION_NAME = 200
MAX_DESCRIPTION = 2000
MAX_REASON = 500



def language_choices() -> list:
    return [choice("fr", "Français"), choice("en", "English")]


def password_characters(form, field) -> None:  # noqa: ARG001
    """Any printable Unicode is welcome in a password; control characters and lone surrogates
    cannot be typed on purpose and would not survive encoding."""
    data = field.data
    if not isinstance(data, str):
        return
    for char in data:
        if ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF:
            raise ValidationError(str(_l("This text contains characters that are not allowed.")))


_ROLE_LABELS = {
    Role.CITIZEN: _l("Citizen"),
    Role.ASSOCIATION: _l("Association"),
    Role.STAFF: _l("Staff"),
    Role.ELECTED: _l("Elected official"),
    Role.EVALUATOR: _l("Evaluator"),
    Role.ADMIN: _l("Administrator"),
}


def role_label(role: Role | str) -> str:
    return str(_ROLE_LABELS.get(Role(role), role))


def role_choices() -> list:
    return [choice(role.value, role_label(role)) for role in Role]


def _email_field(label=None) -> EmailField:
    return EmailField(label or _l("E-mail"),
                      filters=[clean_text],
                      validators=[DataRequired(), Length(max=MAX_EMAIL), Email()])


def _name_field() -> StringField:
    return StringField(_l("Display name"), filters=[clean_text],
                       validators=[DataRequired(), Length(max=MAX_NAME), no_control_characters])


def _new_password_field(label=None) -> PasswordField:
    return PasswordField(label or _l("Password"),
                         validators=[DataRequired(), Length(max=MAX_PASSWORD),
                                     password_characters])


def _confirm_field() -> PasswordField:
    return PasswordField(_l("Confirm the password"),
                         validators=[DataRequired(), Length(max=MAX_PASSWORD),
                                     EqualTo("password",
                                             message=_l("The two passwords do not match."))])


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128),
                                                         password_characters])
    remember = BooleanField(_l("Keep me logged in on this device (12 hours)"))
    next = HiddenField(validators=[Length(max=500), no_control_characters])


class RegisterForm(FlaskForm):
    email = _email_field()
    display_name = _name_field()
    password = _new_password_field()
    confirm = _confirm_field()
    locale = SelectField(_l("Preferred language"), choices=language_choices(),
                         validators=[DataRequired()])
    represents_association = BooleanField(_l("I represent an association"))
    # Choices are the existing associations, set by the view; an unknown id is not a valid choice.
    association_id = SelectField(_l("My association"), choices=[], validate_choice=True,
                                 validators=[Optional()])
    new_association = StringField(
        _l("Or the name of a new association"), filters=[clean_text],
        validators=[Optional(), Length(max=MAX_ASSOCIATION_NAME), no_control_characters],
    )

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        chosen = bool(self.association_id.data)
        typed = bool(self.new_association.data)
        if self.represents_association.data:
            if chosen == typed:
                self.association_id.errors.append(
                    str(_l("Choose your association in the list, or type the name of a new "
                           "one (one of the two).")))
                return False
        elif chosen or typed:
            self.represents_association.errors.append(
                str(_l("Tick this box if you represent an association.")))
            return False
        return True


class ProfileForm(FlaskForm):
    display_name = _name_field()
    locale = SelectField(_l("Preferred language"), choices=language_choices(),
                         validators=[DataRequired()])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(), Length(max=MAX_PASSWORD),
                                                 password_characters])
    password = _new_password_field(_l("New password"))
    confirm = _confirm_field()


def _current_password_field(label=None) -> PasswordField:
    return PasswordField(label or _l("Your password"),
                         validators=[DataRequired(), Length(max=MAX_PASSWORD),
                                     password_characters])


class ResetRequestForm(FlaskForm):
    email = _email_field(_l("E-mail of your account"))


class ResetPasswordForm(FlaskForm):
    password = _new_password_field(_l("New password"))
    confirm = _confirm_field()


class ReauthForm(FlaskForm):
    password = _current_password_field()
    next = HiddenField(validators=[Length(max=500), no_control_characters])


class EmailChangeForm(FlaskForm):
    email = _email_field(_l("New e-mail address"))
    password = _current_password_field(_l("Your current password"))


# ---------------------------------------------------------------- administration

class UserFilterForm(FlaskForm):
    """Read from the query string: no CSRF (GET changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(_l("E-mail or name contains"), filters=[clean_text],
                    validators=[Optional(), Length(max=MAX_EMAIL), no_control_characters])
    role = SelectField(_l("Role"), validators=[Optional()])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = [choice("", str(_l("All roles"))), *role_choices()]


class AdminCreateUserForm(FlaskForm):
    email = _email_field()
    display_name = _name_field()
    role = SelectField(_l("Role"), validators=[DataRequired()])
    password = _new_password_field(_l("Initial password"))
    confirm = _confirm_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()


class RoleChangeForm(FlaskForm):
    role = SelectField(_l("New role"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason (kept in the audit log)"), filters=[clean_text],
                           validators=[DataRequired(), Length(max=MAX_REASON),
                                       no_control_characters])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()


class AssociationForm(FlaskForm):
    name = StringField(_l("Name"), filters=[clean_text],
                       validators=[DataRequired(), Length(max=MAX_ASSOCIATION_NAME),
                                   no_control_characters])
    description = TextAreaField(_l("Description"), filters=[clean_text],
                                validators=[Optional(), Length(max=MAX_DESCRIPTION),
                                            no_control_characters])


class MemberForm(FlaskForm):
    email = _email_field(_l("E-mail of the person's account"))


# ---------------------------------------------------------------- association membership

def _optional_reason_field(label=None) -> TextAreaField:
    return TextAreaField(label or _l("Reason"), filters=[clean_text],
                         validators=[Optional(), Length(max=MAX_REASON), no_control_characters])


class MembershipRequestForm(FlaskForm):
    """A person asks to join an approved association (choices set by the view)."""

    association_id = SelectField(_l("Association"), choices=[], validate_choice=True,
                                 validators=[DataRequired()])


class DecisionForm(FlaskForm):
    """Approve or refuse (an association, or a request to join one); a refusal says why."""

    decision = SelectField(_l("Decision"), validators=[DataRequired()])
    reason = _optional_reason_field(_l("Reason (required to refuse; the person reads it)"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decision.choices = [choice("approve", str(_l("Approve"))),
                                 choice("refuse", str(_l("Refuse")))]

    @property
    def approves(self) -> bool:
        return self.decision.data == "approve"


class RevokeForm(FlaskForm):
    reason = _optional_reason_field(_l("Reason (optional; the person reads it)"))


class ContactForm(FlaskForm):
    """Staff designate a member as the association's contact, or stop."""

    contact = SelectField(_l("Contact of the association"), validators=[DataRequired()])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.contact.choices = [choice("yes", str(_l("Designate as contact"))),
                                choice("no", str(_l("No longer the contact")))]
