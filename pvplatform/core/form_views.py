"""What form views do with a service's answer: show a refusal on the form, or save and go on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import flash, redirect, render_template, request
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from pvplatform.errors import DomainError, ValidationFailed
from pvplatform.extensions import db

T = TypeVar("T")


def _form_status() -> int:
    # A POST that shows the form again was not accepted: invalid input or a refusal.
    return 422 if request.method == "POST" else 200


def form_page(template: str, form: FlaskForm, **context: Any) -> tuple[str, int]:
    """A form page: shown on a GET (200), or again after a POST that was not accepted (422)."""
    return render_template(template, form=form, **context), _form_status()


def show_domain_error(form: FlaskForm, err: DomainError) -> int:
    """Puts a service's refusal next to the field it concerns; returns the status to answer.

    The transaction is rolled back first: a refused request stores nothing.
    """
    db.session.rollback()
    # Only a field of the form: a name such as "data" or "__class__" is an attribute, not a field.
    field = form[err.field] if err.field and err.field in form else None
    if field is not None:
        field.errors = [*field.errors, err.message]
    else:
        form.form_errors.append(err.message)
    return err.status


@dataclass(frozen=True)
class FormOutcome(Generic[T]):
    """`accepted` with the service's `result`; otherwise the `status` to show the form again
    with (200 on a GET, 422 for invalid input, the refusal's own status)."""

    accepted: bool
    result: T | None = None
    status: int = 200


def submit_form(form: FlaskForm, action: Callable[[], T], *,
                refusals: type[DomainError] = ValidationFailed) -> FormOutcome[T]:
    """Runs `action` (a service call) for a valid submitted form; the caller commits when it is
    accepted. A refusal (`refusals`: invalid input by default) is shown on the form and rolled
    back; other domain errors go on to the error handler."""
    if not form.validate_on_submit():
        return FormOutcome(False, status=_form_status())
    try:
        return FormOutcome(True, action())
    except refusals as err:
        return FormOutcome(False, status=show_domain_error(form, err))


def save_form(form: FlaskForm, save: Callable[[], object], *, done: str, back: str,
              code: int = 302,
              refusals: type[DomainError] = ValidationFailed) -> Response | None:
    """A form's usual end: once `save` passes (see `submit_form`), commit, flash `done` and go to
    `back`. None when the form is to be shown again: a GET, invalid input or a refusal."""
    if not submit_form(form, save, refusals=refusals).accepted:
        return None
    db.session.commit()
    flash(done, "success")
    return redirect(back, code)
