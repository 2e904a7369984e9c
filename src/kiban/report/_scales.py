"""Axis ticks in the report's language, time units and step-signal resampling for report charts.

The language-free pieces (round ticks, colour scales, palettes) live in :mod:`kiban.charts.scales`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kiban._typing import FloatArray
from kiban.charts.scales import PALETTE, RDYLBU_R, color_at, nice_ticks
from kiban.charts.spec import Tick
from kiban.i18n import format_duration_s, format_number, translator
from kiban.units import S_PER_DAY, S_PER_H, S_PER_MIN

__all__ = [
    "PALETTE",
    "RDYLBU_R",
    "auto_linear_axis",
    "color_at",
    "duration_log_axis",
    "linear_axis",
    "nice_ticks",
    "step_bin_means",
    "step_integral",
    "tick_formatter",
    "time_axis",
    "time_unit",
]

# Durations that make good log-axis ticks (s): 1 s, 10 s, 1 min ... 1 d, 10 d, 100 d.
_LOG_DURATION_TICKS_S = (
    1.0,
    10.0,
    S_PER_MIN,
    10 * S_PER_MIN,
    S_PER_H,
    10 * S_PER_H,
    S_PER_DAY,
    10 * S_PER_DAY,
    100 * S_PER_DAY,
)


def linear_axis(
    lo: float, hi: float, fmt: Callable[[float], str], target: int = 5
) -> tuple[tuple[float, float], list[Tick]]:
    """Axis limits and labelled ticks for a linear axis."""
    ticks = nice_ticks(lo, hi, target)
    return (ticks[0], ticks[-1]), [(t, fmt(t)) for t in ticks]


def tick_formatter(ticks: list[float], lang: str) -> Callable[[float], str]:
    """Format tick values with the fewest decimals that tell them apart."""
    decimals = 0
    while decimals < 6 and any(
        abs(t - round(t, decimals)) > 1e-9 * max(1.0, abs(t)) for t in ticks
    ):
        decimals += 1
    return lambda v: format_number(v, lang, decimals)


def auto_linear_axis(
    lo: float, hi: float, lang: str, target: int = 5
) -> tuple[tuple[float, float], list[Tick]]:
    """:func:`linear_axis` with number labels formatted for ``lang``."""
    ticks = nice_ticks(lo, hi, target)
    fmt = tick_formatter(ticks, lang)
    return (ticks[0], ticks[-1]), [(t, fmt(t)) for t in ticks]


def time_axis(span: float, lang: str) -> tuple[tuple[float, float], list[Tick]]:
    """A time axis from 0 to exactly ``span`` (no padding past the end of the run)."""
    if span <= 0:
        return auto_linear_axis(0.0, 1.0, lang)
    ticks = [t for t in nice_ticks(0.0, span, 5) if t <= span * (1 + 1e-9)]
    fmt = tick_formatter(ticks, lang)
    return (0.0, span), [(t, fmt(t)) for t in ticks]


def duration_log_axis(
    lo_s: float, hi_s: float, lang: str
) -> tuple[tuple[float, float], list[Tick]]:
    """Log-axis limits and ticks at round durations (1 s, 1 min, 1 h, 1 d ...)."""
    lo_s = max(lo_s, _LOG_DURATION_TICKS_S[0])
    hi_s = max(hi_s, lo_s * 10.0)
    below = [t for t in _LOG_DURATION_TICKS_S if t <= lo_s]
    above = [t for t in _LOG_DURATION_TICKS_S if t >= hi_s]
    axis_lo = below[-1] if below else lo_s
    axis_hi = above[0] if above else hi_s
    ticks = [t for t in _LOG_DURATION_TICKS_S if axis_lo <= t <= axis_hi]
    while len(ticks) > 7:
        ticks = ticks[::2]
    return (axis_lo, axis_hi), [(t, format_duration_s(t, lang, decimals=0)) for t in ticks]


def time_unit(span_s: float, lang: str) -> tuple[float, str]:
    """Seconds per display unit and its long name, chosen from the span (days, hours, minutes)."""
    tr = translator(lang)
    if span_s > 2 * S_PER_DAY:
        return S_PER_DAY, tr.t("unit.days_long")
    if span_s > 2 * S_PER_H:
        return S_PER_H, tr.t("unit.hours_long")
    return S_PER_MIN, tr.t("unit.minutes_long")


def step_integral(time_s: FloatArray, values: FloatArray, at_s: FloatArray) -> FloatArray:
    """Integral from ``time_s[0]`` to each ``at_s`` of a piecewise-constant signal.

    ``values[i]`` holds on ``[time_s[i], time_s[i+1])``; the last value holds on past the end.
    Non-finite values count as zero.
    """
    v = np.where(np.isfinite(values), values, 0.0)
    end = max(float(at_s.max(initial=time_s[-1])), float(time_s[-1]))
    knots = np.append(time_s, end + 1.0)
    cum = np.concatenate([[0.0], np.cumsum(v * np.diff(knots))])
    return np.asarray(np.interp(at_s, knots, cum), dtype=np.float64)


def step_bin_means(time_s: FloatArray, values: FloatArray, edges_s: FloatArray) -> FloatArray:
    """Time-weighted mean of a piecewise-constant signal in each bin between ``edges_s``."""
    integral = step_integral(time_s, values, edges_s)
    return np.asarray(np.diff(integral) / np.diff(edges_s), dtype=np.float64)
