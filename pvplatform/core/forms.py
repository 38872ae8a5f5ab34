"""Form helpers shared by features: text cleaning and the town-time datetime field."""

from __future__ import annotations

import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms import ValidationError

try:  # WTForms >= 3.3 deprecates (value, label) tuples in favour of SelectChoice.
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None  # type: ignore[assignment,misc]

# Bidirectional overrides and zero-width characters are used to disguise text; NUL breaks storage.
_FORBIDDEN = {"\x00", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
              "\u2068", "\u2069", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    return unicodedata.normalize("NFC", value).strip()


def no_control_characters(form, field) -> None:  # noqa: ARG001
    data = field.data
    if not isinstance(data, str):
        return
    for char in data:
        if char in _FORBIDDEN or (ord(char) < 32 and char not in "\r\n\t"):
            raise ValidationError(str(_l("This text contains characters that are not allowed.")))
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValidationError(str(_l("This text contains characters that are not allowed.")))


def choice(value: object, label: object) -> object:
    """One option of a select field, in the form the installed WTForms expects."""
    if SelectChoice is None:
        return (value, label)
    return SelectChoice(value, label)
