"""The sweep report's interval: Student's t, checked against the printed table."""

from __future__ import annotations

import math

import pytest

from kiban.report.sweep import mean_ci95


@pytest.mark.parametrize(
    ("values", "t_975"),
    [
        ([10.0, 12.0], 12.706),  # 1 degree of freedom
        ([1.0, 2.0, 3.0], 4.303),  # 2
        ([5.0, 7.0, 6.0, 9.0, 8.0], 2.776),  # 4
    ],
)
def test_half_width_is_t_times_standard_error(values, t_975):
    """t quantiles from a standard Student's t table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2),
    three decimals, so the tolerance is 0.05 % of the half-width."""
    mean, half, n = mean_ci95(values)
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    assert (mean, n) == (pytest.approx(m), len(values))
    assert half == pytest.approx(t_975 * sd / math.sqrt(len(values)), rel=5e-4)


def test_one_seed_has_no_interval_and_nan_is_ignored():
    assert mean_ci95([3.0]) == (3.0, None, 1)
    assert mean_ci95([3.0, float("nan")]) == (3.0, None, 1)
    mean, half, n = mean_ci95([])
    assert math.isnan(mean)
    assert (half, n) == (None, 0)
