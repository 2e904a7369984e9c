"""Outdoor climate for free-cooling: JMA monthly normals, Stull wet bulb, and hourly CSV series.

Two climate shapes feed the cooling plant (:func:`kiban.physics.cooling.plant_power_w`):

- :class:`MonthlyClimate`: 12 monthly means from the embedded JMA 1991–2020 normals
  (``kiban/data/climate/jma_normals_1991_2020.csv``; see the README there for the strength of
  each number). A monthly mean hides the hours above and below it, so each month also carries an
  assumed spread of its hourly temperatures (``dry_bulb_std_k``, ``wet_bulb_std_k``). The
  economizer model in ``cooling`` uses that spread to turn a monthly mean into an expected
  free-cooling fraction.
- :class:`HourlyClimate`: one row per hour (for example a TMY year), read by
  :func:`load_hourly_climate`. Its spread is zero.

Both have the same fields: ``dry_bulb_c``, ``wet_bulb_c``, ``duration_s`` (the time each row
stands for), ``dry_bulb_std_k`` and ``wet_bulb_std_k``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from kiban._typing import ArrayLike, FloatArray
from kiban.errors import ConfigError
from kiban.units import KELVIN_OFFSET_K, PERCENT_PER_FRAC, S_PER_DAY, S_PER_H

City = Literal["tokyo", "osaka", "sapporo"]
CITIES: tuple[str, ...] = ("tokyo", "osaka", "sapporo")

NORMALS_FILE = "jma_normals_1991_2020.csv"
"""File name of the embedded normals inside ``kiban/data/climate``."""

DAYS_PER_MONTH: tuple[int, ...] = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days in each month of a non-leap year (365 days = 8,760 h)."""

MONTHLY_DRY_BULB_STD_K = 3.5
"""Assumed standard deviation of hourly dry-bulb temperature within a month (K).

[D, weak] Half the typical 6–8 K diurnal range of Tokyo/Osaka as a sine (σ = A/√2 ≈ 2.5 K)
combined with about 2.5 K of day-to-day (synoptic) variation: √(2.5² + 2.5²) ≈ 3.5 K. Sensitivity
range 2.5–4.5 K. Use hourly data where the answer depends on it."""

MONTHLY_WET_BULB_STD_K = 2.5
"""Assumed standard deviation of hourly wet-bulb temperature within a month (K).

[D, weak] The wet bulb swings less than the dry bulb over a day because RH falls as T rises;
range 1.5–3.5 K."""

STULL_RH_MIN_FRAC = 0.05
STULL_RH_MAX_FRAC = 0.99
"""Relative-humidity range over which Stull (2011) was fitted; inputs are clipped to it."""


@dataclass(frozen=True, slots=True)
class MonthlyClimate:
    """Twelve monthly outdoor conditions for one place (January first).

    Attributes:
        city: Place name (``tokyo``, ``osaka``, ``sapporo`` for the embedded normals).
        dry_bulb_c: Monthly mean dry-bulb temperature, shape (12,).
        wet_bulb_c: Monthly wet-bulb estimate, shape (12,).
        rel_humidity_frac: Monthly mean relative humidity (0–1), shape (12,).
        duration_s: Length of each month in a 365-day year, shape (12,); sums to 8,760 h.
        dry_bulb_std_k: Assumed spread of hourly dry bulb within each month, shape (12,).
        wet_bulb_std_k: Assumed spread of hourly wet bulb within each month, shape (12,).
        source: Where the numbers come from.
    """

    city: str
    dry_bulb_c: FloatArray
    wet_bulb_c: FloatArray
    rel_humidity_frac: FloatArray
    duration_s: FloatArray
    dry_bulb_std_k: FloatArray
    wet_bulb_std_k: FloatArray
    source: str


@dataclass(frozen=True, slots=True)
class HourlyClimate:
    """An hourly outdoor series, for example a typical meteorological year.

    Attributes:
        dry_bulb_c: Dry-bulb temperature of each hour, shape (n,).
        wet_bulb_c: Wet-bulb temperature of each hour, shape (n,).
        duration_s: Time each row stands for (3,600 s each), shape (n,).
        dry_bulb_std_k: Zeros, shape (n,); an hour is taken as uniform.
        wet_bulb_std_k: Zeros, shape (n,).
        source: The file the series was read from.
    """

    dry_bulb_c: FloatArray
    wet_bulb_c: FloatArray
    duration_s: FloatArray
    dry_bulb_std_k: FloatArray
    wet_bulb_std_k: FloatArray
    source: str


Climate = MonthlyClimate | HourlyClimate


def wet_bulb_stull_c(dry_bulb_c: ArrayLike, rel_humidity_frac: ArrayLike) -> FloatArray:
    """Wet-bulb temperature from air temperature and relative humidity (Stull 2011).

    Tw = T·atan(0.151977·(RH + 8.313659)^½) + atan(T + RH) − atan(RH − 1.676331)
         + 0.00391838·RH^{3/2}·atan(0.023101·RH) − 4.686035,
    with T in °C and RH in percent (atan in radians).

    Args:
        dry_bulb_c: Air temperature (°C); fitted for −20 to 50 °C.
        rel_humidity_frac: Relative humidity (0–1); clipped to the fitted 0.05–0.99.

    Returns:
        Wet-bulb temperature (°C), broadcast shape of the inputs. It never exceeds the dry bulb.

    Valid range: RH 5–99 %, T −20 to 50 °C, at sea-level pressure (101.325 kPa). Error over that
    range is −1 to +0.65 K, mean absolute 0.28 K. The fit is poor where cold and dry coincide.

    Examples:
        >>> round(float(wet_bulb_stull_c(20.0, 0.50)), 1)
        13.7

    References:
        Stull, R. (2011). Wet-Bulb Temperature from Relative Humidity and Air Temperature.
        J. Appl. Meteor. Climatol. 50(11), 2267–2269. doi:10.1175/JAMC-D-11-0143.1
    """
    t = np.asarray(dry_bulb_c, dtype=np.float64)
    rh_frac = np.clip(np.asarray(rel_humidity_frac, dtype=np.float64), STULL_RH_MIN_FRAC, 1.0)
    rh = np.minimum(rh_frac, STULL_RH_MAX_FRAC) * PERCENT_PER_FRAC
    tw = (
        t * np.arctan(0.151977 * np.sqrt(rh + 8.313659))
        + np.arctan(t + rh)
        - np.arctan(rh - 1.676331)
        + 0.00391838 * rh**1.5 * np.arctan(0.023101 * rh)
        - 4.686035
    )
    # Saturated air (RH = 100 %) has Tw = T; the fit stops at 99 %, so bound it by T.
    return np.asarray(np.minimum(tw, t), dtype=np.float64)


def month_durations_s() -> FloatArray:
    """Seconds in each month of a 365-day year, shape (12,), January first."""
    return np.asarray(DAYS_PER_MONTH, dtype=np.float64) * S_PER_DAY


def _normals_text() -> str:
    return (resources.files("kiban") / "data" / "climate" / NORMALS_FILE).read_text(
        encoding="utf-8"
    )


def monthly_normals(city: str) -> MonthlyClimate:
    """Return the embedded JMA 1991–2020 monthly normals for a city.

    Args:
        city: ``tokyo``, ``osaka`` or ``sapporo`` (case-insensitive).

    Returns:
        A :class:`MonthlyClimate` with the monthly mean dry bulb (°C), mean relative humidity,
        the Stull (2011) wet bulb of those means (°C), month lengths (s) and the assumed
        within-month spreads (:data:`MONTHLY_DRY_BULB_STD_K`, :data:`MONTHLY_WET_BULB_STD_K`).

    Raises:
        ConfigError: for an unknown city (the message lists the known ones).

    References:
        Japan Meteorological Agency, Climatological Normals 1991–2020 (see
        ``kiban/data/climate/README.md`` for which numbers were verified and how);
        Stull (2011), doi:10.1175/JAMC-D-11-0143.1, for the wet bulb.
    """
    key = city.strip().lower()
    if key not in CITIES:
        msg = f"climate city = {city!r}: unknown; allowed: {', '.join(CITIES)}"
        raise ConfigError(msg)
    rows = [r for r in csv.DictReader(_normals_text().splitlines()) if r["city"] == key]
    rows.sort(key=lambda r: int(r["month"]))
    dry = np.array([float(r["dry_bulb_c"]) for r in rows], dtype=np.float64)
    rh = np.array([float(r["rel_humidity_frac"]) for r in rows], dtype=np.float64)
    wet = np.array([float(r["wet_bulb_c"]) for r in rows], dtype=np.float64)
    return MonthlyClimate(
        city=key,
        dry_bulb_c=dry,
        wet_bulb_c=wet,
        rel_humidity_frac=rh,
        duration_s=month_durations_s(),
        dry_bulb_std_k=np.full(12, MONTHLY_DRY_BULB_STD_K),
        wet_bulb_std_k=np.full(12, MONTHLY_WET_BULB_STD_K),
        source=rows[0]["source"],
    )


_ABS_ZERO_C = -KELVIN_OFFSET_K
_PLAUSIBLE_MIN_C = -90.0
_PLAUSIBLE_MAX_C = 60.0
_WET_ABOVE_DRY_TOL_K = 0.5


def _parse_field(path: Path, line: int, name: str, text: str | None) -> float:
    if text is None or not text.strip():
        msg = f"{path}:{line}: {name} is empty: a number is required"
        raise ConfigError(msg)
    try:
        value = float(text)
    except ValueError:
        msg = f"{path}:{line}: {name} = {text!r}: not a number"
        raise ConfigError(msg) from None
    if not math.isfinite(value):
        msg = f"{path}:{line}: {name} = {text!r}: must be finite"
        raise ConfigError(msg)
    return value


EPW_HEADER_LINES = 8
"""Header lines of an EnergyPlus weather (EPW) file before its 8,760 hourly rows."""
EPW_DRY_BULB_FIELD = 6
"""0-based field of the dry bulb (°C) in an EPW data row (EnergyPlus Auxiliary Programs, EPW)."""
EPW_REL_HUMIDITY_FIELD = 8
"""0-based field of the relative humidity (%) in an EPW data row."""


def _epw_as_csv(path: Path, text: str) -> str:
    """An EPW file's hourly rows as the CSV this module reads (dry bulb, relative humidity).

    The header becomes line 1 and 7 blank lines (skipped by the CSV reader), so a bad row is
    reported with its line number in the EPW file.
    """
    lines = text.splitlines()
    if len(lines) <= EPW_HEADER_LINES or not lines[0].startswith("LOCATION"):
        msg = f"{path}:1: not an EPW weather file (the first line must start with LOCATION)"
        raise ConfigError(msg)
    out = ["dry_bulb_c,rel_humidity_frac", *([""] * (EPW_HEADER_LINES - 1))]
    for line in lines[EPW_HEADER_LINES:]:
        fields = line.split(",")
        if len(fields) <= EPW_REL_HUMIDITY_FIELD:
            out.append(",")  # reported as an empty dry_bulb_c on its own line
            continue
        try:
            rh = f"{float(fields[EPW_REL_HUMIDITY_FIELD]) / 100.0:.4f}"
        except ValueError:
            rh = fields[EPW_REL_HUMIDITY_FIELD]
        out.append(f"{fields[EPW_DRY_BULB_FIELD]},{rh}")
    return "\n".join(out) + "\n"


def load_hourly_climate(path: Path | str) -> HourlyClimate:
    """Read an hourly outdoor-temperature series from a CSV file.

    The file has a header row and one row per hour. Required column: ``dry_bulb_c``. Also
    required: ``wet_bulb_c``, or else ``rel_humidity_frac`` (0–1), from which the wet bulb is
    derived with :func:`wet_bulb_stull_c`. Other columns (a timestamp, say) are ignored.
    A file ending in ``.epw`` is read as an EnergyPlus weather file (TMY/TMYx: 8 header lines,
    then one row per hour; dry bulb and relative humidity are used).

    Args:
        path: CSV file.

    Returns:
        An :class:`HourlyClimate` with one entry per data row (3,600 s each).

    Raises:
        ConfigError: missing file, missing column, or a bad row. Every problem is reported as
            ``FILE:LINE: field = value: what is allowed``, and all of them are collected in
            ``problems``. A bad row is one whose value is not a finite number, is at or below
            absolute zero, is outside −90…60 °C, or has a wet bulb more than 0.5 K above its dry
            bulb.

    References:
        Stull (2011), doi:10.1175/JAMC-D-11-0143.1, when the wet bulb is derived.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"{p}: hourly climate file not found"
        raise ConfigError(msg)
    try:
        # utf-8-sig: spreadsheet programs save "CSV UTF-8" with a byte-order mark.
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        msg = f"{p}: not UTF-8 text (byte {err.start}): expected a CSV of hourly temperatures"
        raise ConfigError(msg) from None
    except OSError as err:
        msg = f"{p}: cannot read the hourly climate file: {err.strerror}"
        raise ConfigError(msg) from None
    if p.suffix.lower() == ".epw":
        text = _epw_as_csv(p, text)
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if "dry_bulb_c" not in fields or (
            "wet_bulb_c" not in fields and "rel_humidity_frac" not in fields
        ):
            msg = (
                f"{p}:1: header = {','.join(fields)!r}: needs a dry_bulb_c column and a "
                "wet_bulb_c or rel_humidity_frac column"
            )
            raise ConfigError(msg)
        use_wet = "wet_bulb_c" in fields
        dry: list[float] = []
        second: list[float] = []
        problems: list[str] = []
        for row in reader:
            line = reader.line_num
            try:
                t = _parse_field(p, line, "dry_bulb_c", row.get("dry_bulb_c"))
                if t <= _ABS_ZERO_C or not _PLAUSIBLE_MIN_C <= t <= _PLAUSIBLE_MAX_C:
                    msg = (
                        f"{p}:{line}: dry_bulb_c = {t}: outside the plausible outdoor range "
                        f"{_PLAUSIBLE_MIN_C}…{_PLAUSIBLE_MAX_C} °C"
                    )
                    raise ConfigError(msg)
                if use_wet:
                    v = _parse_field(p, line, "wet_bulb_c", row.get("wet_bulb_c"))
                    if v <= _ABS_ZERO_C or v > t + _WET_ABOVE_DRY_TOL_K:
                        msg = (
                            f"{p}:{line}: wet_bulb_c = {v}: must be above absolute zero and "
                            f"not above dry_bulb_c = {t} (+{_WET_ABOVE_DRY_TOL_K} K tolerance)"
                        )
                        raise ConfigError(msg)
                else:
                    v = _parse_field(p, line, "rel_humidity_frac", row.get("rel_humidity_frac"))
                    if not 0.0 <= v <= 1.0:
                        msg = f"{p}:{line}: rel_humidity_frac = {v}: allowed 0…1"
                        raise ConfigError(msg)
            except ConfigError as err:
                problems.append(str(err))
                continue
            dry.append(t)
            second.append(v)
    if problems:
        head = f"{p}: {len(problems)} bad row(s); first: {problems[0]}"
        raise ConfigError(head, problems=problems)
    if not dry:
        msg = f"{p}: no data rows: at least one hour is required"
        raise ConfigError(msg)
    dry_arr = np.asarray(dry, dtype=np.float64)
    sec_arr = np.asarray(second, dtype=np.float64)
    wet_arr = np.minimum(sec_arr, dry_arr) if use_wet else wet_bulb_stull_c(dry_arr, sec_arr)
    n = dry_arr.size
    return HourlyClimate(
        dry_bulb_c=dry_arr,
        wet_bulb_c=wet_arr,
        duration_s=np.full(n, S_PER_H),
        dry_bulb_std_k=np.zeros(n),
        wet_bulb_std_k=np.zeros(n),
        source=str(p),
    )


__all__ = [
    "CITIES",
    "Climate",
    "HourlyClimate",
    "MonthlyClimate",
    "load_hourly_climate",
    "month_durations_s",
    "monthly_normals",
    "wet_bulb_stull_c",
]
