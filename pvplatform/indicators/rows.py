"""The rows the engine returns: keys as in INDICATORS.md, internal database ids for sessions and
associations (the presenter maps them to package ids or labels)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pvplatform.indicators.messages import Phrase

Number = int | float


class Severity(StrEnum):
    WARNING = "warning"
    ALERT = "alert"


class Group(StrEnum):
    ALL = "all"
    INTERNAL = "internal"
    EXTERNAL = "external"


def round6(value: float | None) -> float | None:
    """Figures are reported (and thresholds compared) rounded to 6 decimals."""
    if value is None:
        return None
    rounded = round(float(value), 6)
    return rounded + 0.0  # no "-0.0" in reports


def ratio(numerator: Number, denominator: Number) -> float | None:
    """A fraction, null when its denominator is 0."""
    if not denominator:
        return None
    return round6(numerator / denominator)


@dataclass(frozen=True)
class IndicatorRow:
    code: str
    value: Number | None
    n: int
    dimension: str = ""
    category: str = ""
    group: str = ""
    public_value: str = ""
    session_id: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.code, self.dimension, self.category, self.group, self.public_value,
                self.session_id)


@dataclass(frozen=True)
class FlagRow:
    code: str
    severity: Severity
    value: Number | None
    message: Phrase  # rendered in the reader's language
    p_value: float | None = None  # the evidence of a statistical flag, as reported
    dimension: str = ""
    category: str = ""
    group: str = ""
    public_value: str = ""
    session_id: int | None = None
    association_id: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.code, self.dimension, self.category, self.group, self.public_value,
                self.session_id, self.association_id)
