"""The indicator engine: one source for the figures of dashboards, exports, the API and the CLI.

    compute_indicators(process_id, as_of) -> list[IndicatorRow]
    compute_flags(process_id, as_of, thresholds=DEFAULTS) -> list[FlagRow]
    compute_indicators_and_flags(process_id, as_of, thresholds=DEFAULTS) -> (rows, flags)

INDICATORS.md is the contract; `present` turns rows into records with package ids.
Stored flags with their history, per-process thresholds: `store`; they follow every committed
change automatically (`autorefresh`); `mark_dirty(process_id)` for writers that bypass the ORM.
"""

from pvplatform.indicators.autorefresh import mark_dirty
from pvplatform.indicators.engine import compute_indicators
from pvplatform.indicators.flags import compute_flags, compute_indicators_and_flags
from pvplatform.indicators.rows import FlagRow, Group, IndicatorRow, Severity
from pvplatform.indicators.thresholds import DEFAULTS, Thresholds

__all__ = [
    "DEFAULTS",
    "FlagRow",
    "Group",
    "IndicatorRow",
    "Severity",
    "Thresholds",
    "compute_flags",
    "compute_indicators",
    "compute_indicators_and_flags",
    "mark_dirty",
]
