"""The tests behind the flags' evidence (INDICATORS.md, version 2).

- `binomial_p(k, n, share)`: exact two-sided binomial p — the sum of P(X = j) over every j with
  P(X = j) <= P(X = k)·(1 + 1e-7), X ~ Binomial(n, share), capped at 1. SciPy's `binomtest`
  computes exactly this (same tolerance), from the regularised incomplete beta function rather
  than by summing terms, so n of 100,000 neither underflows nor costs 100,000 terms.
- `holm(p_by_code)`: Holm's step-down correction, ties broken by code in plain string order.
- `sign_test_p(worsened, improved)`: two-sided sign test over the changed pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any


@cache
def _scipy() -> tuple[Any, Any]:
    # Imported on first use: SciPy costs half a second to import, and most requests never
    # compute a test.
    from scipy.stats import binom, binomtest

    return binom, binomtest


def binomial_p(k: int, n: int, share: float) -> float | None:
    """Exact two-sided binomial p of k successes in n trials; None when n = 0 or share is 0."""
    if n <= 0 or not share or share <= 0:
        return None
    if share >= 1:
        return 1.0 if k == n else 0.0
    _binom, binomtest = _scipy()
    return min(1.0, float(binomtest(int(k), int(n), float(share)).pvalue))


def holm(p_by_code: Mapping[str, float]) -> dict[str, float]:
    """Holm-corrected p per code: the j-th smallest gets min(1, max over i <= j of
    (m - i + 1)·p_(i)), p sorted ascending, ties by code."""
    ordered = sorted(p_by_code.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    corrected: dict[str, float] = {}
    running = 0.0
    for i, (code, p) in enumerate(ordered, start=1):
        running = max(running, (m - i + 1) * p)
        corrected[code] = min(1.0, running)
    return corrected


def sign_test_p(worsened: int, improved: int) -> float | None:
    """p = min(1, 2·min(P(X <= w), P(X >= w))), X ~ Binomial(w + i, 1/2); None without change."""
    m = worsened + improved
    if m <= 0:
        return None
    binom, _binomtest = _scipy()
    lower = float(binom.cdf(worsened, m, 0.5))
    upper = float(binom.sf(worsened - 1, m, 0.5))
    return min(1.0, 2 * min(lower, upper))
