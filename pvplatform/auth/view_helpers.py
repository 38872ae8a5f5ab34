"""Small helpers shared by the account views and the admin views."""

from __future__ import annotations

from flask_wtf import FlaskForm

from pvplatform.errors import DomainError
from pvplatform.extensions import db


def show_domain_error(form: FlaskForm, err: DomainError) -> int:
    """Puts a service's refusal next to the field it concerns; returns the status to answer.

    The transaction is rolled back first: a refused request stores nothing.
    """
    db.session.rollback()
    field = getattr(form, err.field, None) if err.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)
    return err.status

