"""The tests behind the flags' evidence (INDICATORS.md, version 2).

- `binomial_p(k, n, share)`: exact two-sided binomial p — the sum of P(X = j) over every j with
  P(X = j) <= P(X = k)·(1 + 1e-7), X ~ Binomial(n, share), capped at 1. SciPy's `binomtest`
  computes exactly this (same tolerance), from the regularised incomplete beta function rather
  than by summing terms, so n of 100,000 neither underflows nor costs 100,000 terms.
- `holm(p_by_code)`: Holm's step-down correction, ties broken by code in plain string order.
- `sign_test_p(worsened, improved)`: two-sided sign test over the changed pairs.
- `wilson_interval(successes, trials)`: the Wilson score interval of a share (95% by default),
  drawn around the dashboard's shares so that a reader sees what lies within chance.
"""

from __future__ import annotations

import math
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


Z_95 = 1.959964  # the standard normal's 97.5th percentile: a two-sided 95% interval


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of the share successes / trials; None when trials is 0.

    With p = successes / trials, n = trials:
        centre = (p + z²/(2n)) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p(1 - p)/n + z²/(4n²))
        interval = (centre - half, centre + half)
    (Wilson, 1927, "Probable inference, the law of succession, and statistical inference",
    JASA 22:209-212; Brown, Cai & DasGupta, 2001, Statistical Science 16:101-133). Unlike the
    normal approximation p ± z·sqrt(p(1 - p)/n), it stays within [0, 1] and does not shrink to
    a point at 0 or n successes, which small categories of attendees often have.
    """
    if trials <= 0:
        return None
    n = float(trials)
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0 or n successes the bound is 0 or 1 exactly: the formula gives it only up to
    # rounding error (1 - 1e-16), which would print as "just under 100%".
    low = 0.0 if p <= 0 else max(0.0, centre - half)
    high = 1.0 if p >= 1 else min(1.0, centre + half)
    return low, high
