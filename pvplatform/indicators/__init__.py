"""The indicator engine: one source for the figures of dashboards, exports, the API and the CLI.

    compute_indicators(process_id, as_of) -> list[IndicatorRow]
    compute_flags(process_id, as_of, thresholds=DEFAULTS) -> list[FlagRow]
    compute_indicators_and_flags(process_id, as_of, thresholds=DEFAULTS) -> (rows, flags)

INDICATORS.md (version 2) is the contract. How it reads, module by module:
- `sets`: the sets every figure counts as of T (held sessions, attendances, live registrations,
  invitation pairs, active participants), shared with the ledger pages;
- `facts`: the aggregates, in SQL, a fixed number of statements per process;
- `engine` (indicator rows) and `flags` (flag rows), pure functions of the facts; `stats` holds
  the tests behind the evidence (exact binomial, Holm, sign test);
- `thresholds`: defaults and each process's own values; `messages`: what flags say;
  `suppression`: what may be shown at k; `present`: rows as records with package ids;
- `store`: the lifecycle of stored flags, which follow every committed change automatically
  (`autorefresh`); `mark_dirty(process_id)` for writers that bypass the ORM.
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
