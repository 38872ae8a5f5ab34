"""The engine's tests behind the flags' evidence (pvplatform.indicators.stats), on known values
and against the exact definition of INDICATORS.md computed with fractions."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvplatform.indicators.stats import binomial_p, holm, sign_test_p
from tests.reference_indicators import binomial_two_sided_p_exact


def test_known_binomial_values():
    # R: binom.test(682, 925, p = 3/4)$p.value = 0.3825
    assert binomial_p(682, 925, 0.75) == pytest.approx(0.3824916, abs=1e-6)
    # 3 of 10 at 1/2: 2 * (1 + 10 + 45 + 120) / 1024 = 352/1024
    assert binomial_p(3, 10, 0.5) == pytest.approx(352 / 1024, abs=1e-12)
    # The mode itself: every outcome is at most as likely.
    assert binomial_p(5, 10, 0.5) == 1.0


def test_nothing_to_test_gives_none():
    assert binomial_p(0, 0, 0.3) is None
    assert binomial_p(0, 20, 0.0) is None
    assert sign_test_p(0, 0) is None


def test_large_counts_neither_underflow_nor_lose_precision():
    # 100,000 trials: a moderate p stays moderate, a huge gap gives 0, never NaN.
    p = binomial_p(49_900, 100_000, 0.5)
    assert p is not None and 0.5 < p < 0.55
    assert binomial_p(20_000, 100_000, 0.5) == 0.0
    tiny = binomial_p(19_600, 100_000, 0.2)
    assert tiny is not None and math.isfinite(tiny) and 0 < tiny < 0.01


@settings(max_examples=150, deadline=None, derandomize=True)
@given(n=st.integers(1, 60), data=st.data(),
       share=st.sampled_from([Fraction(1, 2), Fraction(1, 3), Fraction(1, 10),
                              Fraction(19, 100), Fraction(7, 20), Fraction(3, 4)]))
def test_binomial_p_is_the_contracts_sum_with_its_tie_tolerance(n, data, share):
    k = data.draw(st.integers(0, n))
    exact = float(binomial_two_sided_p_exact(k, n, share))
    assert binomial_p(k, n, float(share)) == pytest.approx(exact, abs=1e-9)


def test_sign_test_known_values():
    assert sign_test_p(5, 0) == pytest.approx(2 / 32)  # five of five fell
    assert sign_test_p(0, 8) == pytest.approx(2 / 256)
    assert sign_test_p(3, 3) == 1.0
    assert sign_test_p(1, 9) == pytest.approx(2 * 11 / 1024)


def test_holm_steps_down_with_ties_broken_by_code():
    corrected = holm({"b": 0.01, "a": 0.01, "c": 0.04, "d": 0.5})
    # Sorted: a (0.01, x4), b (0.01, x3), c (0.04, x2), d (0.5, x1): running maximum, capped.
    assert corrected == {"a": 0.04, "b": 0.04, "c": 0.08, "d": 0.5}
    assert holm({"x": 0.4, "y": 0.6}) == {"x": 0.8, "y": 0.8}
    assert holm({"x": 0.9, "y": 0.7}) == {"y": 1.0, "x": 1.0}
