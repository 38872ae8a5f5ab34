"""The session screen's long select lists write the same HTML as WTForms' own select."""

from __future__ import annotations

import pytest
from wtforms import Form, SelectField, SelectMultipleField, widgets

from pvplatform.core.select_widget import LongSelect
from pvplatform.sessions import forms as session_forms

AWKWARD = ["plain", "A & B", "<script>alert(1)</script>", 'say "hi"', "l'été", "", "0"]


def pair(choices, data, coerce=str, **field_kwargs):
    class Both(Form):
        theirs = SelectField(coerce=coerce, **field_kwargs)
        ours = SelectField(coerce=coerce, widget=LongSelect(), **field_kwargs)

    form = Both()
    for field in (form.theirs, form.ours):
        field.choices = choices
        field.data = data
    return form.theirs, form.ours


def same(theirs, ours, **render_kwargs) -> None:
    assert str(ours(**render_kwargs)).replace("ours", "theirs") == str(theirs(**render_kwargs))


@pytest.mark.parametrize("data", [None, 0, 3, 99])
def test_numbered_choices_with_awkward_labels(data):
    same(*pair([(i, label) for i, label in enumerate(AWKWARD)], data, coerce=int))


@pytest.mark.parametrize("data", [None, "A & B", '"x"'])
def test_text_values_are_escaped_as_wtforms_escapes_them(data):
    same(*pair([(v, v) for v in AWKWARD + ['"x"', "a>b"]], data))


def test_attributes_a_blank_label_and_options_of_their_own():
    theirs, ours = pair([(1, ""), (2, "Two"), ("x", "X")], "x")
    same(theirs, ours, **{"aria-describedby": "hint", "aria-invalid": "true", "class": "wide"})
    with_kw = [(1, "One", {"disabled": True}), (2, "Two", {})]
    same(*pair(with_kw, 2, coerce=int))
    same(*pair([(True, "Yes"), (False, "No")], True, coerce=bool))


def test_groups_and_multiple_are_left_to_wtforms():
    same(*pair({"North": [(1, "A")], "South": [(2, "B & C")]}, 2, coerce=int))

    class Many(Form):
        theirs = SelectMultipleField(coerce=int, choices=[(1, "A"), (2, "B")])
        ours = SelectMultipleField(coerce=int, choices=[(1, "A"), (2, "B")],
                                   widget=LongSelect(multiple=True))

    form = Many()
    form.theirs.data = form.ours.data = [2]
    same(form.theirs, form.ours)


def test_the_session_screens_long_lists_use_it():
    for form, name in ((session_forms.InviteAssociationForm, "association_id"),
                       (session_forms.WalkInForm, "association"),
                       (session_forms.SpeakingTurnForm, "turn_participant")):
        widget = getattr(form, name).kwargs.get("widget")
        assert isinstance(widget, LongSelect), (form.__name__, name)
        assert not isinstance(widgets.Select(), LongSelect)
