"""Forms of the personal-data pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired, Length

from pvplatform.auth.forms import MAX_PASSWORD, password_characters


class DownloadForm(FlaskForm):
    """Only the CSRF token: the download is a POST because it writes an audit row."""


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"),
                             validators=[DataRequired(), Length(max=MAX_PASSWORD),
                                         password_characters])
    understood = BooleanField(
        _l("I understand that my account is deleted for good and cannot be restored."),
        validators=[DataRequired(message=_l("Tick this box to confirm."))],
    )
