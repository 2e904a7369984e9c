"""Axis ticks, time units, colour scales and step-signal resampling for report charts."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from kiban._typing import FloatArray
from kiban.i18n import format_duration_s, format_number, translator
from kiban.report.spec import Tick
from kiban.units import S_PER_DAY, S_PER_H, S_PER_MIN

# ColorBrewer "RdYlBu" (11 classes), reversed so that blue is cool and red is hot.
# Source: Brewer, C. A., colorbrewer2.org (Apache-2.0 style licence).
RDYLBU_R: tuple[str, ...] = (
    "#313695", "#4575b4", "#74add1", "#abd9e9", "#e0f3f8", "#ffffbf",
    "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026",
)  # fmt: skip

# Okabe & Ito (2008) colour-blind-safe palette, for policies and chart series.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)  # fmt: skip

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


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi].

    The first tick is ≤ lo and the last ≥ hi, so the axis can use them as limits.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    n = round((stop - start) / step)
    return [round(start + i * step, 12) + 0.0 for i in range(n + 1)]


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


def color_at(frac: float, stops: tuple[str, ...] = RDYLBU_R) -> str:
    """Linear interpolation along a colour scale; ``frac`` is clipped to [0, 1]."""
    if not math.isfinite(frac):
        return "#cccccc"
    pos = min(max(frac, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    t = pos - i
    a = [int(stops[i][k : k + 2], 16) for k in (1, 3, 5)]
    b = [int(stops[i + 1][k : k + 2], 16) for k in (1, 3, 5)]
    rgb = [round(x + (y - x) * t) for x, y in zip(a, b, strict=True)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


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
