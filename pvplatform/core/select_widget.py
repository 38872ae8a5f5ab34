"""A select list that writes its plain options directly.

WTForms' Select writes each option through `html_params` and a Markup format: about 19 µs an
option. The session screen lists every approved association twice (500 of them at city size)
and up to 100 attendees: 20 ms of the page. An option with no attribute of its own is written
here in one f-string, escaped the same way; any other goes through WTForms. The HTML is the same
as WTForms' (tests/test_select_widget.py).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from wtforms import widgets


class LongSelect(widgets.Select):
    @classmethod
    def render_option(cls, choice: Any, **kwargs: Any) -> Markup:
        value = choice.value
        if kwargs or choice.render_kw or value is None or isinstance(value, bool):
            return super().render_option(choice, **kwargs)
        selected = "selected " if choice.selected else ""  # html_params sorts: before value
        label = escape(choice.label or value)
        # Safe markup: the value and the label went through escape(), the rest is constant.
        option = f'<option {selected}value="{escape(value)}">{label}</option>'
        return Markup(option)  # noqa: S704  # nosec B704
