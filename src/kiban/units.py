"""Unit-suffix vocabulary and the named conversion constants; the only home of magic factors.

Every name that holds a physical quantity ends in one of :data:`SUFFIXES`. Inside kiban all
quantities are SI, with degrees Celsius as the one exception (every data-center standard and
sensor uses it). Percent, kWh, MW, CFM and °F appear only at the edges (trace readers,
telemetry ingestion, report formatting), converted with the constants below.

Sign convention: power drawn from the facility is positive, and heat removed by cooling is
positive.
"""

from __future__ import annotations

# --- suffix -> SI unit it declares --------------------------------------------------------
SUFFIXES: dict[str, str] = {
    "_s": "s",
    "_w": "W",
    "_j": "J",
    "_c": "degC",
    "_k": "K",
    "_m3_per_s": "m3/s",
    "_kg_per_s": "kg/s",
    "_k_per_w": "K/W",
    "_j_per_k": "J/K",
    "_j_per_kg_k": "J/(kg*K)",
    "_kg_per_m3": "kg/m3",
    "_b": "B",
    "_b_per_s": "B/s",
    "_hz": "Hz",
    "_m": "m",
    "_m2": "m2",
    "_kg": "kg",
    "_pa": "Pa",
    "_kpa": "kPa",
    "_frac": "1",
    "_jpy": "JPY",
    "_usd": "USD",
    "_jpy_per_kwh": "JPY/kWh",
    "_jpy_per_kw": "JPY/kW",
    "_kg_per_kwh": "kg/kWh",
    "_kg_co2": "kg",
    "_per_s": "1/s",
    "_per_k": "1/K",
    "_ev": "eV",
    "_kwh": "kWh",
    "_kw": "kW",
}
"""Recognised unit suffixes. `_kwh`, `_kw` and `_kpa` are allowed only in user-facing files
(catalog CSVs, TOML specs, summaries) where engineers expect them; code converts at load time."""


def unit_of(name: str) -> str | None:
    """Return the unit declared by a name's suffix, or None if it carries no known suffix.

    The longest matching suffix wins, so ``flow_m3_per_s`` is m3/s, not 1/s.

    Examples:
        >>> unit_of("gpu_power_w")
        'W'
        >>> unit_of("airflow_m3_per_s")
        'm3/s'
        >>> unit_of("pue") is None
        True
    """
    best: str | None = None
    for suffix in SUFFIXES:
        if name.endswith(suffix) and (best is None or len(suffix) > len(best)):
            best = suffix
    return None if best is None else SUFFIXES[best]


# --- time ---------------------------------------------------------------------------------
S_PER_MIN = 60.0
S_PER_H = 3600.0
S_PER_DAY = 86_400.0
S_PER_YEAR = 365.0 * S_PER_DAY
H_PER_YEAR = 8760.0

# --- energy and power ---------------------------------------------------------------------
J_PER_KWH = 3.6e6
J_PER_WH = 3600.0
W_PER_KW = 1000.0
W_PER_MW = 1.0e6
W_PER_BTU_PER_H = 0.29307107

# --- flow, length, mass, pressure ---------------------------------------------------------
M3_PER_S_PER_CFM = 0.00047194745
M_PER_FT = 0.3048
M_PER_IN = 0.0254
KG_PER_LB = 0.45359237
PA_PER_KPA = 1000.0
PA_PER_LBF_PER_FT2 = 47.880259
G_STANDARD_M_PER_S2 = 9.80665

# --- data ---------------------------------------------------------------------------------
B_PER_KB = 1.0e3
B_PER_MB = 1.0e6
B_PER_GB = 1.0e9
B_PER_TB = 1.0e12
B_PER_GIB = 2.0**30
BITS_PER_B = 8.0

# --- clocks, fractions --------------------------------------------------------------------
HZ_PER_MHZ = 1.0e6
PERCENT_PER_FRAC = 100.0

# --- air properties (Tang et al., IEEE TPDS 19(11) 2008, Table 1) -------------------------
AIR_DENSITY_KG_PER_M3 = 1.19
AIR_SPECIFIC_HEAT_J_PER_KG_K = 1005.0
WATER_DENSITY_KG_PER_M3 = 997.0
WATER_SPECIFIC_HEAT_J_PER_KG_K = 4180.0

# --- temperature --------------------------------------------------------------------------
KELVIN_OFFSET_K = 273.15
BOLTZMANN_EV_PER_K = 8.617333262e-5


def f_to_c(temp_f: float) -> float:
    """Convert degrees Fahrenheit to degrees Celsius (edge use only).

    Examples:
        >>> round(f_to_c(55.0), 2)
        12.78
    """
    return (temp_f - 32.0) * 5.0 / 9.0


def c_to_f(temp_c: float) -> float:
    """Convert degrees Celsius to degrees Fahrenheit (edge use only)."""
    return temp_c * 9.0 / 5.0 + 32.0


# --- mass (appended by the reports room: CO2 is reported in tonnes) -----------------------
KG_PER_TONNE = 1000.0
