"""Locale-aware number formatting for reports: counts, percents, yen, durations, energy.

English and Japanese both group thousands with commas and use a decimal point (ja-JP
convention). Japanese differs in units and in money: yen amounts use 万 (10^4) and 億 (10^8)
followed by 円, as Japanese finance and facility reports write them (e.g. ``1.23億円``);
English writes ``¥1.23B``. Time units come from the catalog (``3.2 h`` / ``3.2時間``).

Every formatter returns ``"—"`` for ``None`` or a non-finite value, so a missing KPI shows as a
dash rather than ``nan``.
"""

from __future__ import annotations

import math

from kiban.i18n.catalog import translator
from kiban.units import (
    J_PER_KWH,
    J_PER_WH,
    KG_PER_TONNE,
    PERCENT_PER_FRAC,
    S_PER_DAY,
    S_PER_H,
    S_PER_MIN,
    W_PER_KW,
    W_PER_MW,
)

MISSING = "—"
NBSP = "\u00a0"
"""Between a number and its unit, so a line never breaks inside ``27.0 °C``."""
"""What every formatter shows for a missing or non-finite value."""

# Japanese myriad-based number words (not unit conversions: 万 = 10^4, 億 = 10^8).
JPY_PER_MAN = 1.0e4
JPY_PER_OKU = 1.0e8
# English short scale for money.
JPY_PER_MILLION = 1.0e6
JPY_PER_BILLION = 1.0e9

_J_PER_MWH = W_PER_MW * J_PER_WH
_J_PER_GWH = 1.0e3 * _J_PER_MWH
_W_PER_GW = 1.0e3 * W_PER_MW


def _auto_decimals(value: float) -> int:
    mag = abs(value)
    if mag >= 100 or mag == 0:
        return 0
    if mag >= 10:
        return 1
    if mag >= 1:
        return 2
    return 3


def format_number(value: float | None, lang: str = "en", decimals: int | None = None) -> str:
    """Format a plain number with thousands separators.

    Args:
        value: the number; None or non-finite gives ``"—"``.
        lang: ``en`` or ``ja`` (both group with commas).
        decimals: digits after the point; default depends on magnitude (0 for ≥100,
            1 for ≥10, 2 for ≥1, 3 below).

    Examples:
        >>> format_number(1234567.8, "ja")
        '1,234,568'
        >>> format_number(1.2345)
        '1.23'
    """
    del lang  # identical grouping in en and ja-JP; kept for a uniform signature
    if value is None or not math.isfinite(value):
        return MISSING
    places = _auto_decimals(value) if decimals is None else decimals
    text = f"{value:,.{places}f}"
    if text.lstrip("-").strip("0.,") == "":  # "-0.00" -> "0.00"
        text = text.lstrip("-")
    return text


def format_count(value: float | None, lang: str = "en") -> str:
    """Format a count (rounded to an integer) with thousands separators."""
    return format_number(value, lang, decimals=0)


def format_percent(frac: float | None, lang: str = "en", decimals: int = 1) -> str:
    """Format a fraction as a percentage: ``0.312`` → ``31.2%``, ``0.0001`` → ``<0.1%``."""
    if frac is None or not math.isfinite(frac):
        return MISSING
    pct = frac * PERCENT_PER_FRAC
    smallest = 10.0**-decimals
    if 0 < pct < smallest / 2:  # not zero, but would print as 0.0%
        return f"<{format_number(smallest, lang, decimals)}%"
    return f"{format_number(pct, lang, decimals)}%"


def _sig(value: float) -> str:
    """Three significant figures, no grouping needed below 1000."""
    return format_number(value, "en", _auto_decimals(value) if abs(value) < 100 else 0)


def format_jpy(amount_jpy: float | None, lang: str = "en") -> str:
    """Format a yen amount: ``¥12.3M`` in English, ``1,230万円`` / ``1.23億円`` in Japanese.

    Examples:
        >>> format_jpy(123_456_789, "ja")
        '1.23億円'
        >>> format_jpy(45_600, "ja")
        '4.56万円'
        >>> format_jpy(123_456_789, "en")
        '¥123M'
    """
    if amount_jpy is None or not math.isfinite(amount_jpy):
        return MISSING
    mag = abs(amount_jpy)
    if lang == "ja":
        if mag >= JPY_PER_OKU:
            return f"{_sig(amount_jpy / JPY_PER_OKU)}億円"
        if mag >= JPY_PER_MAN:
            return f"{_sig(amount_jpy / JPY_PER_MAN)}万円"
        return f"{format_number(amount_jpy, lang, 0)}円"
    if mag >= JPY_PER_BILLION:
        return f"¥{_sig(amount_jpy / JPY_PER_BILLION)}B"
    if mag >= JPY_PER_MILLION:
        return f"¥{_sig(amount_jpy / JPY_PER_MILLION)}M"
    return f"¥{format_number(amount_jpy, lang, 0)}"


def _with_unit(number: str, unit_key: str, lang: str) -> str:
    tr = translator(lang)
    sep = NBSP if tr.t("unit.sep") else ""
    return f"{number}{sep}{tr.t(unit_key)}"


def format_duration_s(
    duration_s: float | None, lang: str = "en", decimals: int | None = None
) -> str:
    """Format a duration in the largest sensible unit: s, min, h or d (秒, 分, 時間, 日).

    ``decimals`` fixes the digits after the point (axis ticks use 0); by default three
    significant figures are kept.

    Examples:
        >>> format_duration_s(5400.0, "ja")
        '1.50時間'
    """
    if duration_s is None or not math.isfinite(duration_s):
        return MISSING
    mag = abs(duration_s)
    if mag >= S_PER_DAY:
        scale, key = S_PER_DAY, "unit.d"
    elif mag >= S_PER_H:
        scale, key = S_PER_H, "unit.h"
    elif mag >= S_PER_MIN:
        scale, key = S_PER_MIN, "unit.min"
    else:
        scale, key = 1.0, "unit.s"
    value = duration_s / scale
    text = _sig(value) if decimals is None else format_number(value, lang, decimals)
    return _with_unit(text, key, lang)


def format_energy_kwh(energy_kwh: float | None, lang: str = "en") -> str:
    """Format energy in kWh, MWh or GWh, whichever keeps the number readable."""
    if energy_kwh is None or not math.isfinite(energy_kwh):
        return MISSING
    energy_j = energy_kwh * J_PER_KWH
    mag = abs(energy_j)
    if mag >= _J_PER_GWH:
        return f"{_sig(energy_j / _J_PER_GWH)}{NBSP}GWh"
    if mag >= _J_PER_MWH:
        return f"{_sig(energy_j / _J_PER_MWH)}{NBSP}MWh"
    return f"{format_number(energy_kwh, lang)}{NBSP}kWh"


def format_power_w(power_w: float | None, lang: str = "en") -> str:
    """Format power in W, kW, MW or GW."""
    if power_w is None or not math.isfinite(power_w):
        return MISSING
    mag = abs(power_w)
    if mag >= _W_PER_GW:
        return f"{_sig(power_w / _W_PER_GW)}{NBSP}GW"
    if mag >= W_PER_MW:
        return f"{_sig(power_w / W_PER_MW)}{NBSP}MW"
    if mag >= W_PER_KW:
        return f"{_sig(power_w / W_PER_KW)}{NBSP}kW"
    return f"{format_number(power_w, lang)}{NBSP}W"


def format_mass_kg(mass_kg: float | None, lang: str = "en") -> str:
    """Format a mass (e.g. CO2) in kg, or in tonnes from 1 t up."""
    if mass_kg is None or not math.isfinite(mass_kg):
        return MISSING
    if abs(mass_kg) >= KG_PER_TONNE:
        return f"{format_number(mass_kg / KG_PER_TONNE, lang)}{NBSP}t"
    return f"{format_number(mass_kg, lang)}{NBSP}kg"


def format_temp_c(temp_c: float | None, lang: str = "en") -> str:
    """Format a temperature in degrees Celsius with one decimal: ``31.2 °C``."""
    if temp_c is None or not math.isfinite(temp_c):
        return MISSING
    return f"{format_number(temp_c, lang, 1)}{NBSP}°C"


def format_gpu_hours(gpu_h: float | None, lang: str = "en") -> str:
    """Format GPU-hours: ``12,345 GPU-h`` / ``12,345 GPU時間``."""
    if gpu_h is None or not math.isfinite(gpu_h):
        return MISSING
    return f"{format_number(gpu_h, lang)}{NBSP}{translator(lang).t('unit.gpu_h')}"
