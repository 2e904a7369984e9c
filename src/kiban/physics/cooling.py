"""Cooling plant physics: CRAC/CRAH COP, chillers, economizers, liquid cooling, fans, pumps, PUE.

The plant model splits the IT heat into an **air path** (room air → CRAH/CRAC coils → chilled water
→ chiller or economizer) and a **liquid path** (rear-door coil, cold plates or immersion tank →
CDU → facility water → dry cooler, cooling tower or trim chiller). The liquid path's share is
``liquid_capture_frac`` (0 for air, ≈ 0.9 for a rear door, ≈ 0.85 for direct-to-chip, ≈ 1 for
single-phase immersion; physics.md §3.7).

Economizers (physics.md §3.9) are *integrated*. Free cooling carries all of a path's heat while
the economizer's effective outdoor temperature is at or below the supply set-point. Between the
supply and the return temperature it pre-cools the return stream and carries the linear share
(T_return − T_eff)/(T_return − T_supply). Above the return temperature it does nothing. For
monthly climate data the fraction is averaged over an assumed normal spread of hourly temperatures
within the month (:func:`economizer_free_frac`).

Every function broadcasts over numpy arrays: one value per time step, month or rack.

Sign convention (kiban.units): power drawn from the facility is positive; heat removed is positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from kiban._typing import ArrayLike, FloatArray
from kiban.catalog import CoolingTech
from kiban.errors import ConfigError
from kiban.physics.climate import HourlyClimate, MonthlyClimate
from kiban.physics.power_chain import PowerChain
from kiban.units import (
    AIR_DENSITY_KG_PER_M3,
    AIR_SPECIFIC_HEAT_J_PER_KG_K,
    WATER_DENSITY_KG_PER_M3,
    WATER_SPECIFIC_HEAT_J_PER_KG_K,
)

CoolingTechnology = Literal["air", "rear_door", "direct_liquid", "immersion"]
ChillerKind = Literal["moore_crac", "dx_air_cooled", "air_cooled", "water_cooled"]
EconomizerKind = Literal["none", "airside", "waterside", "dry_cooler"]
TECHNOLOGIES: tuple[str, ...] = ("air", "rear_door", "direct_liquid", "immersion")
CHILLER_KINDS: tuple[str, ...] = ("moore_crac", "dx_air_cooled", "air_cooled", "water_cooled")
ECONOMIZER_KINDS: tuple[str, ...] = ("none", "airside", "waterside", "dry_cooler")

# --- Moore et al. (2005) CRAC COP curve, physics.md §3.4 -----------------------------------
MOORE_COP_QUADRATIC_PER_K2 = 0.0068
MOORE_COP_LINEAR_PER_K = 0.0008
MOORE_COP_CONSTANT = 0.458

# --- EnergyPlus Chiller:Electric curves (as used by HPE SustainDC), physics.md §3.4 --------
CHILLER_CAPACITY_COEFFS: tuple[float, float, float] = (0.944836, -0.0570088, 0.00185486)
CHILLER_EIR_COEFFS: tuple[float, float, float] = (2.333, -1.975, 0.6121)
CHILLER_PLR_COEFFS: tuple[float, float, float] = (0.03303, 0.6852, 0.2818)
CHILLER_MIN_PLR_FRAC = 0.05
CHILLER_TEMP_RISE_COEF = 2.778
CHILLER_DELTA_T_MIN_K = -9.0
"""Lower clip of the curve variable ΔT. Below ≈ −9 the EIR quadratic passes its minimum (0.74)
and would predict *rising* power for colder conditions, an artefact of extrapolation. Below it
the capacity is held and the EIR follows the Carnot lift at the edge's second-law efficiency
(:func:`chiller_power_w`)."""
KELVIN_OFFSET = 273.15
CHILLER_LIFT_OFFSET_K = 8.0
"""Refrigerant lift minus water lift of a chiller (K), used only beyond the EnergyPlus curve's
edge (:func:`chiller_power_w`). The water lift is condenser *entering* minus chilled-water
*leaving*; the refrigerant condenses at the condenser water's leaving temperature plus the
condenser approach and evaporates at the chilled water's leaving temperature minus the
evaporator approach, so the offset is the condenser water's range plus both approaches:

* range 5.6 K: AHRI 550/590 rates water-cooled chillers at 3.0 gpm/ton of condenser water
  (85 → ≈ 95 °F, a 10 °F range; ``CoolingPlant.cw_delta_t_k``);
* approaches: Trane, "Expected Approach Temperatures" (support article DOC-84842, water-cooled
  RTHD/RTWD chillers): 1–2 °F (0.6–1.1 K) each on a clean chilled-water loop without glycol;
  above 5 °F (2.8 K) the tubes want cleaning.

Clean tubes give 6.7–7.8 K, the cleaning threshold 11.1 K; 8 K is ≈ 1.2 K per approach, a
chiller in service slightly past new (``tests/physics/test_cooling.py`` checks the range)."""
CHILLER_DELTA_T_MAX_K = 15.0
"""Upper clip of ΔT; the capacity quadratic turns upward past ≈ 15.4."""
AIR_COOLED_RATED_COND_TEMP_C = 35.0
"""AHRI 550/590 rating: 95 °F entering condenser air (air-cooled chillers)."""
WATER_COOLED_RATED_COND_TEMP_C = 29.44
"""AHRI 550/590 rating: 85 °F entering condenser water (water-cooled chillers)."""
RATED_EVAP_OUT_TEMP_C = 6.67
"""AHRI 550/590 rating: 44 °F leaving chilled water."""

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_AIR_HEAT_CAPACITY_J_PER_M3_K = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K
_WATER_HEAT_CAPACITY_J_PER_M3_K = WATER_DENSITY_KG_PER_M3 * WATER_SPECIFIC_HEAT_J_PER_KG_K


def _f64(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


# ============================================================================================
# Components
# ============================================================================================


def crac_cop(supply_temp_c: ArrayLike) -> FloatArray:
    """Coefficient of performance of a chilled-water CRAC unit against its supply-air temperature.

    COP(T) = 0.0068·T² + 0.0008·T + 0.458,  P_cool = Q / COP(T_sup)

    Args:
        supply_temp_c: CRAC supply-air temperature (°C), any shape.

    Returns:
        COP (dimensionless), same shape. 10 °C → 1.15, 18 °C → 2.68, 25 °C → 4.73.

    Valid range: about 10–30 °C supply. The curve is a whole-system fit for one 2005 facility (HP
    Labs Utility Data Center). It has no outdoor-temperature term, so it ignores climate. Modern
    chillers with economizers do far better (physics.md §3.4).

    Examples:
        >>> round(float(crac_cop(20.0)), 2)
        3.19

    References:
        Moore, Chase, Ranganathan, Sharma, "Making Scheduling 'Cool': Temperature-Aware Workload
        Placement in Data Centers", USENIX ATC 2005; reproduced in Tang et al., IEEE TPDS 19(11),
        2008, eq. for CoP(T). physics.md §3.4.
    """
    t = _f64(supply_temp_c)
    return np.asarray(
        MOORE_COP_QUADRATIC_PER_K2 * t**2 + MOORE_COP_LINEAR_PER_K * t + MOORE_COP_CONSTANT,
        dtype=np.float64,
    )


# --- DX (direct-expansion) CRAC with an air-cooled condenser ----------------------------------
# EnergyPlus / DOE-2 single-speed DX cooling-coil curves, as published in the LBNL Modelica
# Buildings library (Buildings.Fluid.HeatExchangers.DXCoils.Data.PerformanceCurves.Curve_I,
# taken from the EnergyPlus example files): the energy input ratio as a biquadratic in the
# coil's entering wet bulb (x, °C) and the condenser's entering air (y, °C), valid for
# x in 12.8-23.9 °C and y in 18.0-46.1 °C; and the part-load fraction of a cycling compressor.
DX_EIR_FT_COEFFS: tuple[float, float, float, float, float, float] = (
    0.342414409,
    0.034885008,
    -0.000623700,
    0.004977216,
    0.000437951,
    -0.000728028,
)
DX_RATED_ENTERING_WB_C = 19.44
"""AHRI rating point: 26.7 °C dry bulb / 19.4 °C wet bulb entering the coil."""
DX_RATED_CONDENSER_C = 35.0
"""AHRI rating point: 35 °C outdoor air entering the condenser."""
DX_CONDENSER_MIN_C = 18.0
"""Lowest condenser inlet of the curve; below it head-pressure control holds the condensing
pressure up (for the expansion valve), so colder outdoor air no longer raises the COP."""
DX_CONDENSER_MAX_C = 46.11
"""Highest condenser inlet of the curve."""
DX_PLF_COEFFS: tuple[float, float] = (0.85, 0.15)
"""Part-load fraction PLF = 0.85 + 0.15·PLR (EnergyPlus default cycling degradation)."""
DX_COP_RATED = 3.2
"""Rated COP of a DX unit (EER ≈ 11 Btu/Wh, the ASHRAE 90.1 minimum class for unitary air
conditioners of 65-240 kBtu/h); a kiban assumption, override with ``cop_rated``."""


def _dx_eir_ft(entering_wb_c: FloatArray, condenser_c: FloatArray) -> FloatArray:
    a, b, c, d, e, f = DX_EIR_FT_COEFFS
    x, y = entering_wb_c, condenser_c
    return np.asarray(a + b * x + c * x * x + d * y + e * y * y + f * x * y, dtype=np.float64)


def dx_cop(
    outdoor_db_c: ArrayLike,
    cop_rated: ArrayLike = DX_COP_RATED,
    *,
    part_load_frac: ArrayLike = 1.0,
    entering_wb_c: ArrayLike = DX_RATED_ENTERING_WB_C,
) -> FloatArray:
    """COP of a DX CRAC with an air-cooled condenser, at an outdoor temperature and part load.

    COP = COP_rated · PLF(PLR) / EIR_fT(T_wb,in, T_cond)
    EIR_fT = biquadratic of the EnergyPlus single-speed DX coil, normalized to 1 at the
    rating point (19.4 °C wet bulb in, 35 °C condenser air); T_cond = outdoor dry bulb held in
    18-46.1 °C (head-pressure control below 18 °C); PLF = 0.85 + 0.15·PLR.

    Args:
        outdoor_db_c: Outdoor dry bulb = condenser inlet air (°C).
        cop_rated: COP at the rating point.
        part_load_frac: Load over capacity, 0-1 (cycling losses below 1).
        entering_wb_c: Wet bulb of the air entering the coil (°C), the hall's return air
            (:func:`return_air_wet_bulb_c`); default: the rating point.

    Returns:
        COP (dimensionless). With the defaults: 35 °C → 3.20, 27 °C → 3.74, ≤ 18 °C → 4.20.

    References:
        EnergyPlus Engineering Reference, "Single-Speed Electric DX Air Cooling Coil"; LBNL
        Modelica Buildings library, DXCoils.Data.PerformanceCurves.Curve_I (coefficients).

    Examples:
        >>> round(float(dx_cop(35.0)), 2), round(float(dx_cop(5.0)), 2)
        (3.2, 4.2)
    """
    wb = _f64(entering_wb_c)
    t_cond = np.clip(_f64(outdoor_db_c), DX_CONDENSER_MIN_C, DX_CONDENSER_MAX_C)
    rated = _dx_eir_ft(np.asarray(DX_RATED_ENTERING_WB_C), np.asarray(DX_RATED_CONDENSER_C))
    eir = _dx_eir_ft(wb, t_cond) / rated
    plr = np.clip(_f64(part_load_frac), 0.0, 1.0)
    plf = DX_PLF_COEFFS[0] + DX_PLF_COEFFS[1] * plr
    return np.asarray(_f64(cop_rated) * plf / eir, dtype=np.float64)


DX_ROOM_DEW_POINT_C = 10.0
"""Dew point of the data-hall air (middle of ASHRAE's recommended −9 to 15 °C band)."""
_MAGNUS_A = 17.625
_MAGNUS_B_C = 243.04


def return_air_wet_bulb_c(
    return_db_c: ArrayLike, dew_point_c: ArrayLike = DX_ROOM_DEW_POINT_C
) -> FloatArray:
    """Wet bulb of the hall's return air from its dry bulb and dew point (°C).

    RH from the Magnus formula (Alduchov & Eskridge 1996 constants), wet bulb from Stull's
    (2011, J. Appl. Meteor. Climatol. 50, 2267) empirical fit, valid for RH 5-99 % and
    −20 to 50 °C (about ±0.3 K).

    Examples:
        >>> round(float(return_air_wet_bulb_c(28.0)), 1)
        17.4
    """
    t = _f64(return_db_c)
    td = np.minimum(_f64(dew_point_c), t)
    rh = 100.0 * np.exp(_MAGNUS_A * td / (_MAGNUS_B_C + td) - _MAGNUS_A * t / (_MAGNUS_B_C + t))
    rh = np.clip(rh, 5.0, 99.0)
    tw = (
        t * np.arctan(0.151977 * np.sqrt(rh + 8.313659))
        + np.arctan(t + rh)
        - np.arctan(rh - 1.676331)
        + 0.00391838 * rh**1.5 * np.arctan(0.023101 * rh)
        - 4.686035
    )
    return np.asarray(tw, dtype=np.float64)


def _gauss_mean(
    fn: Callable[[FloatArray], FloatArray], mean: FloatArray, std: FloatArray
) -> FloatArray:
    """E[fn(X)] for X ~ N(mean, std²) by 5-point Gauss-Hermite quadrature (std may be 0)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(5)
    weights = weights / weights.sum()
    total = np.zeros(np.broadcast(mean, std).shape)
    for z, w in zip(nodes, weights, strict=True):
        total = total + w * fn(mean + z * std)
    return total


def chiller_power_w(
    heat_w: ArrayLike,
    outdoor_temp_c: ArrayLike,
    capacity_w: ArrayLike,
    cop_rated: ArrayLike,
    *,
    evap_out_temp_c: ArrayLike = RATED_EVAP_OUT_TEMP_C,
    cond_rated_temp_c: float = AIR_COOLED_RATED_COND_TEMP_C,
    evap_rated_temp_c: float = RATED_EVAP_OUT_TEMP_C,
) -> FloatArray:
    """Electric power of a vapour-compression chiller (EnergyPlus ``Chiller:Electric`` curves).

    ΔT  = (T_cond − T_cond,rated)/2.778 − (T_evap,out − T_evap,rated),  clipped to [−9, 15]
    CAP = 0.944836 − 0.0570088·ΔT + 0.00185486·ΔT²        (available-capacity ratio)
    EIR = 2.333 − 1.975·CAP + 0.6121·CAP²                  (full-load power ratio)
    PLR = max(Q / (CAP·Q_nom), 0.05)
    FLF = 0.03303 + 0.6852·PLR + 0.2818·PLR²               (part-load power fraction)
    P   = FLF · EIR · CAP·Q_nom / COP_rated · min(1, (Q/(CAP·Q_nom))/0.05)   (cycling below 5 %)

    ``outdoor_temp_c`` is the condenser entering temperature: the outdoor dry bulb for an
    air-cooled chiller (rated at 35 °C), or the tower water T_wb + tower approach for a
    water-cooled one (pass ``cond_rated_temp_c=29.44``). A warmer chilled-water set-point
    (``evap_out_temp_c``) raises capacity and lowers power.

    Below the curves' range (ΔT < −9: chilled water warm against the condenser, e.g. a 16 °C
    chilled-water set-point for 22 °C supply air with tower water at 27 °C) the fit has no
    data and its EIR quadratic turns upward; capacity is held at the edge and the EIR falls
    with the lift at the second-law efficiency the curve has at the edge:
    ``EIR = EIR_edge · [L/T_evap] / [L_edge/T_evap,edge]`` with the refrigerant lift
    ``L = max(T_cond − T_evap, 0) + 8 K`` (:data:`CHILLER_LIFT_OFFSET_K`; kelvin in the
    denominators: ideal-cycle work per unit of heat). Without this, a chilled-water reset beyond
    the edge saved nothing. At a 12 K water lift it saves ≈ 5 %/K of chiller power, above field
    guidance for chilled-water reset (2–4 %/K): an upper end, as it holds the compressor's
    efficiency constant.

    Note: physics.md §3.4 transcribes HPE SustainDC's ``calculate_chiller_power``, which
    subtracts (6.67 − 35) as the evaporator term. That makes power *rise* as the outdoor air
    cools. We follow EnergyPlus's definition (evaporator leaving temperature minus its rating)
    instead, and keep SustainDC's coefficients.

    Args:
        heat_w: Heat removed by the chiller (W), ≥ 0.
        outdoor_temp_c: Condenser entering air or water temperature (°C).
        capacity_w: Nominal (rated) capacity Q_nom (W), > 0.
        cop_rated: COP at rating conditions (air-cooled ≈ 3.0; water-cooled ≈ 5.5–6.5).
        evap_out_temp_c: Chilled-water leaving temperature (°C).
        cond_rated_temp_c: Condenser temperature at rating (°C).
        evap_rated_temp_c: Chilled-water leaving temperature at rating (°C).

    Returns:
        Compressor power (W), broadcast shape; 0 when ``heat_w`` is 0. Non-decreasing in
        ``heat_w``. Above PLR = 1 the part-load quadratic is extrapolated, standing in for an
        extra chiller staged on.

    References:
        U.S. DOE, EnergyPlus Engineering Reference, "Electric Chiller" (Chiller:Electric); curve
        coefficients from EnergyPlus tst/EnergyPlus/unit/ChillerElectric.unit.cc as used in HPE
        SustainDC (github.com/HewlettPackard/dc-rl, envs/datacenter.py,
        ``calculate_chiller_power``); AHRI Standard 550/590 rating conditions. physics.md §3.4.
    """
    cap, eir = _chiller_curve(outdoor_temp_c, evap_out_temp_c, cond_rated_temp_c, evap_rated_temp_c)
    return _chiller_load_w(heat_w, cap, eir, capacity_w, cop_rated)


def _chiller_curve(
    outdoor_temp_c: ArrayLike,
    evap_out_temp_c: ArrayLike,
    cond_rated_temp_c: float,
    evap_rated_temp_c: float,
) -> tuple[FloatArray, FloatArray]:
    """The load-independent part of :func:`chiller_power_w`: (CAP, EIR) at the conditions."""
    t_cond = _f64(outdoor_temp_c)
    t_evap = _f64(evap_out_temp_c)
    raw = (t_cond - cond_rated_temp_c) / CHILLER_TEMP_RISE_COEF - (t_evap - evap_rated_temp_c)
    delta_t = np.clip(raw, CHILLER_DELTA_T_MIN_K, CHILLER_DELTA_T_MAX_K)
    c0, c1, c2 = CHILLER_CAPACITY_COEFFS
    cap = c0 + c1 * delta_t + c2 * delta_t**2
    e0, e1, e2 = CHILLER_EIR_COEFFS
    eir = e0 + e1 * cap + e2 * cap**2
    if np.any(raw < CHILLER_DELTA_T_MIN_K):
        # below the curve's range (warm chilled water, cool condenser): the compressor's work
        # per unit of heat keeps falling with the lift; hold the second-law efficiency the
        # curve has at its edge, EIR ∝ (refrigerant lift)/T_evap (Carnot), from the edge's
        # evaporator temperature at this condenser temperature
        t_edge = evap_rated_temp_c + (t_cond - cond_rated_temp_c) / CHILLER_TEMP_RISE_COEF
        t_edge = t_edge - CHILLER_DELTA_T_MIN_K
        off = CHILLER_LIFT_OFFSET_K
        lift_edge = (np.maximum(t_cond - t_edge, 0.0) + off) / (t_edge + KELVIN_OFFSET)
        lift = (np.maximum(t_cond - t_evap, 0.0) + off) / (t_evap + KELVIN_OFFSET)
        ratio = np.where(raw < CHILLER_DELTA_T_MIN_K, np.minimum(lift / lift_edge, 1.0), 1.0)
        eir = eir * ratio
    return cap, eir


def _chiller_load_w(
    heat_w: ArrayLike,
    cap: FloatArray,
    eir: FloatArray,
    capacity_w: ArrayLike,
    cop_rated: ArrayLike,
) -> FloatArray:
    """The load-dependent part of :func:`chiller_power_w` given (CAP, EIR)."""
    q = _f64(heat_w)
    q_nom = _f64(capacity_w)
    available_w = cap * q_nom
    plr_raw = q / available_w
    plr = np.maximum(plr_raw, CHILLER_MIN_PLR_FRAC)
    p0, p1, p2 = CHILLER_PLR_COEFFS
    flf = p0 + p1 * plr + p2 * plr**2
    cycling = np.minimum(1.0, plr_raw / CHILLER_MIN_PLR_FRAC)
    return np.asarray(flf * eir * available_w / _f64(cop_rated) * cycling, dtype=np.float64)


def pump_power_w(
    flow_m3_per_s: ArrayLike, head_pa: ArrayLike, efficiency_frac: ArrayLike
) -> FloatArray:
    """Electric power of a pump (hydraulic power over wire-to-water efficiency).

    P = Δp · V̇ / η

    Args:
        flow_m3_per_s: Volume flow (m³/s), ≥ 0.
        head_pa: Pressure rise across the pump (Pa), ≥ 0 (SustainDC default 300 kPa).
        efficiency_frac: Overall pump + motor efficiency, 0 < η ≤ 1 (SustainDC: 0.87).

    Returns:
        Power (W), broadcast shape.

    Examples:
        >>> float(pump_power_w(0.01, 300e3, 0.75))
        4000.0

    References:
        Standard fluid mechanics; parameters from HPE SustainDC (dc-rl, envs/datacenter.py,
        ``calculate_HVAC_power``). physics.md §3.4.
    """
    return np.asarray(_f64(flow_m3_per_s) * _f64(head_pa) / _f64(efficiency_frac), dtype=np.float64)


def fan_power_w(
    flow_m3_per_s: ArrayLike, ref_flow_m3_per_s: ArrayLike, ref_power_w: ArrayLike
) -> FloatArray:
    """Fan power from the affinity laws.

    V̇ ∝ N, Δp ∝ N², P ∝ N³  ⇒  P = P_ref · (V̇ / V̇_ref)³

    Args:
        flow_m3_per_s: Air flow now (m³/s), ≥ 0.
        ref_flow_m3_per_s: Air flow at the reference point (m³/s), > 0.
        ref_power_w: Fan power at the reference flow (W), ≥ 0.

    Returns:
        Power (W), broadcast shape.

    Valid range: one fixed system curve (no change of dampers or filters) and speeds from about
    30 % to 100 % of reference. At low speed, motor and drive losses make the real exponent
    smaller than 3.

    Examples:
        >>> float(fan_power_w(0.5, 1.0, 800.0))
        100.0

    References:
        Fan affinity laws (ASHRAE Handbook—HVAC Systems and Equipment, ch. "Fans"); SustainDC
        ``P_CRAC_fan = P_ref·(V̇/V̇_ref)³``. physics.md §3.5.
    """
    ratio = _f64(flow_m3_per_s) / _f64(ref_flow_m3_per_s)
    return np.asarray(_f64(ref_power_w) * ratio**3, dtype=np.float64)


def reset_supply_temp_c(
    current_supply_c: ArrayLike,
    hottest_inlet_c: ArrayLike,
    redline_c: ArrayLike,
    min_c: ArrayLike,
    max_c: ArrayLike,
) -> FloatArray:
    """Supply-temperature reset: move the supply until the hottest inlet sits on the redline.

    T_sup' = clip(T_sup + (T_red − max_i T_in,i), T_min, T_max)

    With recirculation, each inlet is T_sup plus a rise that does not depend on T_sup. Shifting
    the supply therefore shifts every inlet by the same amount, and the hottest one lands on the
    redline.

    Args:
        current_supply_c: Supply-air (or supply-water) temperature now (°C).
        hottest_inlet_c: Hottest server inlet observed at that supply (°C).
        redline_c: Highest allowed inlet (°C), e.g. 27 °C (ASHRAE recommended) or 25 °C (Tang).
        min_c: Lowest supply the plant can make (°C).
        max_c: Highest supply allowed (°C).

    Returns:
        New supply temperature (°C), broadcast shape.

    Examples:
        >>> float(reset_supply_temp_c(15.0, 30.5, 25.0, 5.0, 27.0))
        9.5
        >>> float(reset_supply_temp_c(15.0, 20.0, 25.0, 10.0, 27.0))
        20.0

    References:
        Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11), 2008 (T_sup' = T_sup + T_red − max T_in);
        Moore et al., USENIX ATC 2005. physics.md §3.3.
    """
    new = _f64(current_supply_c) + (_f64(redline_c) - _f64(hottest_inlet_c))
    # np.clip would raise on min > max; minimum/maximum keep the order explicit.
    return np.asarray(np.minimum(np.maximum(new, _f64(min_c)), _f64(max_c)), dtype=np.float64)


# ============================================================================================
# Economizers
# ============================================================================================


def _expected_positive_part(level: FloatArray, mean: FloatArray, std: FloatArray) -> FloatArray:
    """E[(level − X)+] for X ~ N(mean, std²), std > 0."""
    from scipy.special import ndtr  # noqa: PLC0415 (startup time: validate loads this module)

    z = (level - mean) / std
    return np.asarray(
        (level - mean) * ndtr(z) + std * np.exp(-0.5 * z * z) / _SQRT_2PI, dtype=np.float64
    )


def economizer_free_frac(
    effective_outdoor_c: ArrayLike,
    full_free_below_c: ArrayLike,
    no_free_above_c: ArrayLike,
    outdoor_std_k: ArrayLike = 0.0,
) -> FloatArray:
    """Share of a heat load an integrated economizer carries without compressors.

    f(T) = clip((T_hi − T) / (T_hi − T_lo), 0, 1)

    T is the effective outdoor temperature seen by the economizer coil. T_lo is the supply
    set-point: at or below it the economizer carries everything. T_hi is the return temperature:
    above it the economizer cannot pre-cool at all. Between the two it pre-cools the return
    stream and carries that linear share.

    For monthly data, T is a monthly mean and the hours of the month are spread around it. With
    ``outdoor_std_k`` = σ > 0 the function returns E[f(X)] for X ~ N(T, σ²), in closed form:
    E[f] = (G(T_hi) − G(T_lo)) / (T_hi − T_lo),  G(a) = (a − T)·Φ(z) + σ·φ(z),  z = (a − T)/σ.

    Args:
        effective_outdoor_c: Economizer's effective outdoor temperature (°C): T_db + approach for
            air-side or dry coolers, T_wb + tower + HX approach for water-side.
        full_free_below_c: T_lo (°C).
        no_free_above_c: T_hi (°C); must exceed T_lo.
        outdoor_std_k: Spread of the hourly temperature around ``effective_outdoor_c`` (K), ≥ 0.

    Returns:
        Free-cooling share in [0, 1], broadcast shape.

    Examples:
        >>> float(economizer_free_frac(10.0, 14.0, 20.0))
        1.0
        >>> float(economizer_free_frac(17.0, 14.0, 20.0))
        0.5

    References:
        Free-cooling conditions: physics.md §3.9 (DOE/FEMP; ASHRAE 90.1 integrated economizer).
        Integrated (partial) operation: ASHRAE Standard 90.1-2019 §6.5.1.3. The normal spread
        of hours within a month is a kiban modelling assumption (see kiban.physics.climate).
    """
    t = _f64(effective_outdoor_c)
    lo = _f64(full_free_below_c)
    hi = _f64(no_free_above_c)
    std = _f64(outdoor_std_k)
    width = hi - lo
    hard = np.clip((hi - t) / width, 0.0, 1.0)
    if not np.any(std > 0.0):
        return np.asarray(hard, dtype=np.float64)
    s = np.where(std > 0.0, std, 1.0)
    smooth = (_expected_positive_part(hi, t, s) - _expected_positive_part(lo, t, s)) / width
    return np.asarray(np.where(std > 0.0, np.clip(smooth, 0.0, 1.0), hard), dtype=np.float64)


def airside_free_frac(
    outdoor_db_c: ArrayLike,
    supply_air_temp_c: ArrayLike,
    return_air_temp_c: ArrayLike,
    *,
    approach_k: ArrayLike = 1.5,
    outdoor_std_k: ArrayLike = 0.0,
) -> FloatArray:
    """Air-side economizer: outdoor air replaces return air when cool enough.

    free if T_db ≤ T_sup − ΔT_approach; partial until T_db ≤ T_ret − ΔT_approach.

    Humidity limits are not checked (ASHRAE dew-point envelope; physics.md §3.6). In Japan's
    humid summers that overstates air-side hours a little. Those hours are above the supply
    temperature anyway.

    Args:
        outdoor_db_c: Outdoor dry bulb (°C).
        supply_air_temp_c: Supply-air set-point (°C).
        return_air_temp_c: Return-air temperature (°C), > supply.
        approach_k: Fan and mixing heat (K), 1–2 K typical.
        outdoor_std_k: Within-period spread of the dry bulb (K).

    Returns:
        Free-cooling share in [0, 1].

    References:
        physics.md §3.9; ASHRAE 90.1-2019 §6.5.1.
    """
    a = _f64(approach_k)
    return economizer_free_frac(
        outdoor_db_c, _f64(supply_air_temp_c) - a, _f64(return_air_temp_c) - a, outdoor_std_k
    )


def waterside_free_frac(
    outdoor_wb_c: ArrayLike,
    water_supply_temp_c: ArrayLike,
    water_return_temp_c: ArrayLike,
    *,
    tower_approach_k: ArrayLike = 4.0,
    hx_approach_k: ArrayLike = 2.0,
    outdoor_std_k: ArrayLike = 0.0,
) -> FloatArray:
    """Water-side economizer: cooling tower plus plate heat exchanger bypass the chiller.

    free if T_wb + ΔT_tower + ΔT_HX ≤ T_w,sup; partial until ≤ T_w,ret.

    Args:
        outdoor_wb_c: Outdoor wet bulb (°C).
        water_supply_temp_c: Chilled- or facility-water supply set-point (°C).
        water_return_temp_c: Water return temperature (°C), > supply.
        tower_approach_k: Tower leaving water minus wet bulb (K), 3–5 K typical.
        hx_approach_k: Plate heat exchanger approach (K), 1–2 K typical.
        outdoor_std_k: Within-period spread of the wet bulb (K).

    Returns:
        Free-cooling share in [0, 1].

    References:
        physics.md §3.9; DOE/FEMP rule of thumb (wet bulb < 12.8 °C for ≥ 3,000 h/yr).
    """
    eff = _f64(outdoor_wb_c) + _f64(tower_approach_k) + _f64(hx_approach_k)
    return economizer_free_frac(eff, water_supply_temp_c, water_return_temp_c, outdoor_std_k)


def dry_cooler_free_frac(
    outdoor_db_c: ArrayLike,
    water_supply_temp_c: ArrayLike,
    water_return_temp_c: ArrayLike,
    *,
    approach_k: ArrayLike = 10.0,
    outdoor_std_k: ArrayLike = 0.0,
) -> FloatArray:
    """Dry cooler (closed-loop air-to-water exchanger): free when outdoor air is cool enough.

    free if T_db + ΔT_approach ≤ T_w,sup; partial until ≤ T_w,ret.

    Args:
        outdoor_db_c: Outdoor dry bulb (°C).
        water_supply_temp_c: Facility-water supply set-point (°C).
        water_return_temp_c: Water return temperature (°C), > supply.
        approach_k: Leaving water minus dry bulb (K); 10–15 K (physics.md §3.9, weak; CoolIT
            liquid-to-air ≈ 15 K, §3.7).
        outdoor_std_k: Within-period spread of the dry bulb (K).

    Returns:
        Free-cooling share in [0, 1].

    References:
        physics.md §3.7, §3.9.
    """
    eff = _f64(outdoor_db_c) + _f64(approach_k)
    return economizer_free_frac(eff, water_supply_temp_c, water_return_temp_c, outdoor_std_k)


def mechanical_cooling_power_w(
    heat_w: ArrayLike, free_frac: ArrayLike, cop: ArrayLike
) -> FloatArray:
    """Compressor power for the share of a heat load the economizer cannot carry.

    P_mech = (1 − f) · Q / COP

    Args:
        heat_w: Heat load (W), ≥ 0.
        free_frac: Economizer share from one of the ``*_free_frac`` functions.
        cop: Coefficient of performance of the mechanical cooling (e.g. :func:`crac_cop`).

    Returns:
        Power (W), broadcast shape.

    References:
        physics.md §3.4, §3.9.
    """
    return np.asarray((1.0 - _f64(free_frac)) * _f64(heat_w) / _f64(cop), dtype=np.float64)


def heat_split_w(
    it_heat_w: ArrayLike, liquid_capture_frac: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Split IT heat between the liquid loop and room air.

    Q_liquid = h · Q_IT,  Q_air = (1 − h) · Q_IT

    Args:
        it_heat_w: IT heat (W).
        liquid_capture_frac: h: ≈ 0.9 for a rear-door heat exchanger, 0.7–0.95 for direct-to-chip
            cold plates (default 0.85), ≈ 0.98–1 for single-phase immersion, 0 for air.

    Returns:
        (liquid heat W, air heat W), broadcast shape.

    References:
        physics.md §3.7 (capture 85–95 %, vendor, weak) and §9 (default 0.85).
    """
    q = _f64(it_heat_w)
    h = _f64(liquid_capture_frac)
    return np.asarray(h * q, dtype=np.float64), np.asarray((1.0 - h) * q, dtype=np.float64)


# ============================================================================================
# Plant
# ============================================================================================


@dataclass(frozen=True, slots=True)
class CoolingPlant:
    """A cooling plant design: what removes the IT heat, at which temperatures, at what cost.

    The **air path** carries (1 − ``liquid_capture_frac``) of the heat: CRAH/CRAC fans move it to
    coils fed with chilled water at ``supply_air_temp_c − coil_approach_k``. The water is cooled
    by ``economizer`` when it can, otherwise by ``chiller``. The **liquid path** carries the rest:
    rear-door coils, cold plates or tanks, at facility water ``liquid_supply_temp_c``, cooled by
    ``liquid_economizer`` when it can, otherwise by a trim chiller of kind ``chiller`` (a
    ``moore_crac`` or ``dx_air_cooled`` plant trims with an air-cooled chiller).

    Attributes:
        technology: ``air``, ``rear_door``, ``direct_liquid`` or ``immersion``.
        design_heat_w: Heat the plant is sized for (W); fans, pumps and chillers scale from it.
        liquid_capture_frac: Share of IT heat into liquid (0 for ``air``).
        supply_air_temp_c: CRAH/CRAC supply-air set-point (°C).
        air_delta_t_k: Return minus supply air (K).
        coil_approach_k: Supply air minus chilled-water supply (K).
        chw_delta_t_k: Chilled-water return minus supply (K).
        chiller: ``moore_crac`` (COP from :func:`crac_cop`: a whole-plant fit of one 2005
            chilled-water facility that depends on the supply-air set-point only, not on the
            outdoor temperature), ``dx_air_cooled`` (DX CRAC with air-cooled condensers,
            :func:`dx_cop`: outdoor temperature and part load), or ``air_cooled`` /
            ``water_cooled`` chillers (:func:`chiller_power_w`).
        cop_rated: Rated COP for ``dx_air_cooled`` units and ``air_cooled``/``water_cooled``
            chillers.
        economizer: Air-path economizer: ``none``, ``airside``, ``waterside``, ``dry_cooler``.
        liquid_supply_temp_c: Facility-water supply to the liquid path (°C) (W32 → ≤ 32 °C).
        liquid_delta_t_k: Facility-water return minus supply (K).
        liquid_economizer: ``none``, ``waterside`` or ``dry_cooler`` (not ``airside``).
        airside_approach_k: Air-side economizer approach (K).
        tower_approach_k: Cooling-tower approach to wet bulb (K).
        hx_approach_k: Plate heat-exchanger approach (K).
        drycooler_approach_k: Dry-cooler approach to dry bulb (K).
        fan_pressure_pa: CRAH/CRAC fan total pressure at design flow (Pa).
        fan_efficiency_frac: Fan + motor + drive efficiency.
        fan_min_speed_frac: Lowest fan speed as a share of design (1.0 = constant-speed fans).
        chw_pump_head_pa: Chilled-water pump head (Pa).
        cw_pump_head_pa: Condenser (tower) water pump head (Pa).
        cw_delta_t_k: Condenser-water range (K).
        liquid_pump_head_pa: Facility-water pump head for the liquid path (Pa).
        cdu_pump_head_pa: CDU secondary-loop pump head (Pa) (direct liquid and immersion).
        pump_efficiency_frac: Pump + motor efficiency.
        tower_fan_design_frac: Cooling-tower fan power at design heat as a share of that heat.
        drycooler_fan_design_frac: Dry-cooler fan power at design heat as a share of that heat.

    Raises:
        ConfigError: on construction, for an unknown kind or an out-of-range number; the message
            names the field (``cooling.<field>``), the value and what is allowed.
    """

    technology: str = "air"
    design_heat_w: float = 1.0e6
    liquid_capture_frac: float = 0.0
    supply_air_temp_c: float = 22.0
    air_delta_t_k: float = 12.0
    coil_approach_k: float = 6.0
    chw_delta_t_k: float = 6.0
    chiller: str = "air_cooled"
    cop_rated: float = 3.0
    economizer: str = "none"
    liquid_supply_temp_c: float = 32.0
    liquid_delta_t_k: float = 10.0
    liquid_economizer: str = "dry_cooler"
    airside_approach_k: float = 1.5
    tower_approach_k: float = 4.0
    hx_approach_k: float = 2.0
    drycooler_approach_k: float = 10.0
    fan_pressure_pa: float = 500.0
    fan_efficiency_frac: float = 0.6
    fan_min_speed_frac: float = 0.3
    chw_pump_head_pa: float = 300e3
    cw_pump_head_pa: float = 200e3
    cw_delta_t_k: float = 5.6
    liquid_pump_head_pa: float = 200e3
    cdu_pump_head_pa: float = 150e3
    pump_efficiency_frac: float = 0.87
    tower_fan_design_frac: float = 0.01
    drycooler_fan_design_frac: float = 0.02

    def __post_init__(self) -> None:
        problems: list[str] = []

        def choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
            if value not in allowed:
                problems.append(f"cooling.{name} = {value!r}: allowed {', '.join(allowed)}")

        def bounded(name: str, value: float, lo: float, hi: float, *, open_lo: bool) -> None:
            ok = (value > lo if open_lo else value >= lo) and value <= hi and math.isfinite(value)
            if not ok:
                sign = "<" if open_lo else "≤"
                problems.append(f"cooling.{name} = {value}: allowed {lo} {sign} value ≤ {hi}")

        choice("technology", self.technology, TECHNOLOGIES)
        choice("chiller", self.chiller, CHILLER_KINDS)
        choice("economizer", self.economizer, ECONOMIZER_KINDS)
        choice("liquid_economizer", self.liquid_economizer, ("none", "waterside", "dry_cooler"))
        bounded("design_heat_w", self.design_heat_w, 0.0, math.inf, open_lo=True)
        bounded("liquid_capture_frac", self.liquid_capture_frac, 0.0, 1.0, open_lo=False)
        if self.technology == "air" and self.liquid_capture_frac != 0.0:
            problems.append(
                f"cooling.liquid_capture_frac = {self.liquid_capture_frac}: must be 0 for "
                "technology 'air'"
            )
        bounded("supply_air_temp_c", self.supply_air_temp_c, 5.0, 45.0, open_lo=False)
        bounded("liquid_supply_temp_c", self.liquid_supply_temp_c, 2.0, 60.0, open_lo=False)
        for name in ("air_delta_t_k", "chw_delta_t_k", "liquid_delta_t_k", "cw_delta_t_k"):
            bounded(name, getattr(self, name), 0.0, 40.0, open_lo=True)
        for name in (
            "coil_approach_k",
            "airside_approach_k",
            "tower_approach_k",
            "hx_approach_k",
            "drycooler_approach_k",
        ):
            bounded(name, getattr(self, name), 0.0, 30.0, open_lo=False)
        bounded("cop_rated", self.cop_rated, 0.0, 20.0, open_lo=True)
        for name in ("fan_efficiency_frac", "pump_efficiency_frac"):
            bounded(name, getattr(self, name), 0.0, 1.0, open_lo=True)
        bounded("fan_min_speed_frac", self.fan_min_speed_frac, 0.0, 1.0, open_lo=False)
        for name in (
            "fan_pressure_pa",
            "chw_pump_head_pa",
            "cw_pump_head_pa",
            "liquid_pump_head_pa",
            "cdu_pump_head_pa",
        ):
            bounded(name, getattr(self, name), 0.0, 2.0e6, open_lo=False)
        for name in ("tower_fan_design_frac", "drycooler_fan_design_frac"):
            bounded(name, getattr(self, name), 0.0, 0.2, open_lo=False)
        if problems:
            raise ConfigError(problems[0], problems=problems)

    @property
    def chw_supply_temp_c(self) -> float:
        """Chilled-water supply temperature of the air path at the design supply air (°C)."""
        return self.supply_air_temp_c - self.coil_approach_k


@dataclass(frozen=True, slots=True)
class CoolingBreakdown:
    """Electric power of each part of a cooling plant, broadcast over time steps.

    Attributes:
        chiller_w: Compressors (CRAC, chillers, trim chillers).
        crah_fan_w: CRAH/CRAC fans moving room air.
        pump_w: Chilled-water, condenser-water and facility-water pumps.
        heat_rejection_fan_w: Cooling-tower and dry-cooler fans.
        cdu_w: CDU secondary-loop pumps (direct liquid, immersion).
        total_w: Sum of the above.
        air_heat_w: Heat carried by the air path.
        liquid_heat_w: Heat carried by the liquid path.
        air_free_frac: Economizer share on the air path.
        liquid_free_frac: Economizer share on the liquid path.
        free_frac: Heat-weighted economizer share of the whole plant.
        mechanical_heat_w: Heat removed by compressors.
    """

    chiller_w: FloatArray
    crah_fan_w: FloatArray
    pump_w: FloatArray
    heat_rejection_fan_w: FloatArray
    cdu_w: FloatArray
    total_w: FloatArray
    air_heat_w: FloatArray
    liquid_heat_w: FloatArray
    air_free_frac: FloatArray
    liquid_free_frac: FloatArray
    free_frac: FloatArray
    mechanical_heat_w: FloatArray


def _free_frac(
    kind: str,
    *,
    supply_c: FloatArray,
    return_c: FloatArray,
    db: FloatArray,
    wb: FloatArray,
    db_std: FloatArray,
    wb_std: FloatArray,
    plant: CoolingPlant,
) -> FloatArray:
    if kind == "waterside":
        return waterside_free_frac(
            wb,
            supply_c,
            return_c,
            tower_approach_k=plant.tower_approach_k,
            hx_approach_k=plant.hx_approach_k,
            outdoor_std_k=wb_std,
        )
    if kind == "dry_cooler":
        return dry_cooler_free_frac(
            db, supply_c, return_c, approach_k=plant.drycooler_approach_k, outdoor_std_k=db_std
        )
    return np.zeros(np.broadcast(db, wb, supply_c).shape)


def _chiller_curve_for(
    kind: str,
    *,
    evap_out_c: FloatArray,
    capacity_w: float,
    db: FloatArray,
    wb: FloatArray,
    plant: CoolingPlant,
) -> tuple[FloatArray, FloatArray] | None:
    """(CAP, EIR) of a chiller of ``kind`` at the conditions; None for a chiller of no size."""
    if capacity_w <= 0.0:
        return None
    if kind == "water_cooled":
        return _chiller_curve(
            wb + plant.tower_approach_k,
            evap_out_c,
            WATER_COOLED_RATED_COND_TEMP_C,
            RATED_EVAP_OUT_TEMP_C,
        )
    return _chiller_curve(db, evap_out_c, AIR_COOLED_RATED_COND_TEMP_C, RATED_EVAP_OUT_TEMP_C)


def _chiller_w(
    curve: tuple[FloatArray, FloatArray] | None,
    heat_w: FloatArray,
    capacity_w: float,
    plant: CoolingPlant,
) -> FloatArray:
    """Chiller power for ``heat_w`` given its curve at the conditions (see above)."""
    if curve is None:
        return np.zeros_like(heat_w)
    return _chiller_load_w(heat_w, curve[0], curve[1], capacity_w, plant.cop_rated)


def _rejection_fan_w(heat_w: FloatArray, design_w: float, design_frac: float) -> FloatArray:
    if design_w <= 0.0:
        return np.zeros_like(heat_w)
    return np.asarray(design_frac * design_w * (heat_w / design_w) ** 3, dtype=np.float64)


def plant_power_w(
    it_heat_w: ArrayLike,
    outdoor_db_c: ArrayLike,
    outdoor_wb_c: ArrayLike,
    plant: CoolingPlant,
    *,
    supply_air_temp_c: ArrayLike | None = None,
    outdoor_db_std_k: ArrayLike = 0.0,
    outdoor_wb_std_k: ArrayLike = 0.0,
) -> CoolingBreakdown:
    """Electric power of a cooling plant removing a heat load under given outdoor conditions.

    Q_liq = h·Q, Q_air = (1 − h)·Q                                   (heat split)
    Air path: T_chw = T_sup,air − coil approach; f_a from ``plant.economizer``;
      compressors: (1 − f_a)·Q_air / COP_Moore(T_sup,air), or Chiller:Electric at T_chw;
      CRAH fans: P_ref·max(V̇/V̇_ref, n_min)³ with V̇ = Q_air/(ρ c_p ΔT_air);
      chilled-water pump: Δp·V̇_w/η with V̇_w = Q_air/(ρ_w c_w ΔT_chw).
    Liquid path: f_l from ``plant.liquid_economizer`` at T_liq; trim chiller on (1 − f_l)·Q_liq;
      facility-water and CDU pumps on V̇ = Q_liq/(ρ_w c_w ΔT_liq).
    Heat rejection: a tower carries the heat plus compressor power of a water-cooled chiller,
      and the whole path heat whenever a water-side economizer runs; a dry cooler carries the
      path heat whenever it runs; fan power = share_design·Q_design·(Q/Q_design)³. Condenser-water
      pump on the tower heat.

    Args:
        it_heat_w: Heat to remove (W), ≥ 0: IT power, plus electrical losses if they sit in the
            cooled space. Any shape.
        outdoor_db_c: Outdoor dry bulb (°C); broadcasts with ``it_heat_w``.
        outdoor_wb_c: Outdoor wet bulb (°C).
        plant: The design.
        supply_air_temp_c: Override of ``plant.supply_air_temp_c`` (°C), e.g. after
            :func:`reset_supply_temp_c`; the chilled water follows it.
        outdoor_db_std_k: Within-period spread of the dry bulb (K); > 0 for monthly means.
        outdoor_wb_std_k: Within-period spread of the wet bulb (K).

    Returns:
        A :class:`CoolingBreakdown`; every field has the broadcast shape of the inputs. Power is
        ≥ 0 and non-decreasing in ``it_heat_w``.

    Valid range: heat 0–1.2 × ``plant.design_heat_w``; outdoor −30 to 45 °C.

    References:
        physics.md §3.4–3.9 (Moore COP, EnergyPlus chiller, affinity laws, economizer
        conditions, liquid capture); HPE SustainDC ``calculate_HVAC_power`` (fan, pump and
        tower structure).
    """
    return plant_power_at(
        it_heat_w,
        plant_conditions(
            outdoor_db_c,
            outdoor_wb_c,
            plant,
            supply_air_temp_c=supply_air_temp_c,
            outdoor_db_std_k=outdoor_db_std_k,
            outdoor_wb_std_k=outdoor_wb_std_k,
        ),
    )


@dataclass(frozen=True, slots=True)
class PlantConditions:
    """What a plant's power depends on besides its heat load, at given outdoor conditions.

    :func:`plant_power_w` is :func:`plant_power_at` of :func:`plant_conditions`; a caller that
    prices many loads under the same conditions (the coupled twin's site limit at every facility
    step, within the hour or month of its climate) computes the conditions once. The results are
    the same numbers: the same operations on the same values.

    Attributes:
        plant: The design.
        shape: Broadcast shape of the conditions.
        db: Outdoor dry bulb (°C).
        db_std: Its within-period spread (K).
        t_sup: Supply-air temperature (°C).
        f_a: Economizer share on the air path.
        f_l: Economizer share on the liquid path.
        crac_cop: COP of a ``moore_crac`` plant at ``t_sup`` (None for others).
        wb_in: Coil-entering wet bulb of a ``dx_air_cooled`` plant (None for others).
        air_curve: (CAP, EIR) of the air-path chiller (None: none, or not a chiller).
        liq_curve: (CAP, EIR) of the liquid-path trim chiller (None: none).
    """

    plant: CoolingPlant
    shape: tuple[int, ...]
    db: FloatArray
    db_std: FloatArray
    t_sup: FloatArray
    f_a: FloatArray
    f_l: FloatArray
    crac_cop: FloatArray | None
    wb_in: FloatArray | None
    air_curve: tuple[FloatArray, FloatArray] | None
    liq_curve: tuple[FloatArray, FloatArray] | None


def plant_conditions(
    outdoor_db_c: ArrayLike,
    outdoor_wb_c: ArrayLike,
    plant: CoolingPlant,
    *,
    supply_air_temp_c: ArrayLike | None = None,
    outdoor_db_std_k: ArrayLike = 0.0,
    outdoor_wb_std_k: ArrayLike = 0.0,
) -> PlantConditions:
    """The load-independent part of :func:`plant_power_w` (same arguments, less the load)."""
    db = _f64(outdoor_db_c)
    wb = _f64(outdoor_wb_c)
    db_std = _f64(outdoor_db_std_k)
    wb_std = _f64(outdoor_wb_std_k)
    t_sup = _f64(plant.supply_air_temp_c if supply_air_temp_c is None else supply_air_temp_c)
    shape = np.broadcast(db, wb, t_sup, db_std, wb_std).shape
    h = plant.liquid_capture_frac
    design_air_w = (1.0 - h) * plant.design_heat_w
    design_liq_w = h * plant.design_heat_w
    # air path
    t_chw = t_sup - plant.coil_approach_k
    if plant.economizer == "airside":
        f_a = airside_free_frac(
            db,
            t_sup,
            t_sup + plant.air_delta_t_k,
            approach_k=plant.airside_approach_k,
            outdoor_std_k=db_std,
        )
    else:
        f_a = _free_frac(
            plant.economizer,
            supply_c=t_chw,
            return_c=t_chw + plant.chw_delta_t_k,
            db=db,
            wb=wb,
            db_std=db_std,
            wb_std=wb_std,
            plant=plant,
        )
    cop = None
    wb_in = None
    air_curve = None
    if plant.chiller == "moore_crac":
        cop = crac_cop(t_sup)
    elif plant.chiller == "dx_air_cooled":
        # the coil sees the return air: a warmer set-point means a warmer, wetter-bulb inlet
        wb_in = np.clip(return_air_wet_bulb_c(t_sup + plant.air_delta_t_k), 12.78, 23.89)
    else:
        air_curve = _chiller_curve_for(
            plant.chiller, evap_out_c=t_chw, capacity_w=design_air_w, db=db, wb=wb, plant=plant
        )
    # liquid path
    t_liq = _f64(plant.liquid_supply_temp_c)
    f_l = _free_frac(
        plant.liquid_economizer,
        supply_c=t_liq,
        return_c=t_liq + plant.liquid_delta_t_k,
        db=db,
        wb=wb,
        db_std=db_std,
        wb_std=wb_std,
        plant=plant,
    )
    trim_kind = "air_cooled" if plant.chiller in ("moore_crac", "dx_air_cooled") else plant.chiller
    liq_curve = _chiller_curve_for(
        trim_kind, evap_out_c=t_liq, capacity_w=design_liq_w, db=db, wb=wb, plant=plant
    )
    return PlantConditions(
        plant=plant,
        shape=shape,
        db=db,
        db_std=db_std,
        t_sup=t_sup,
        f_a=f_a,
        f_l=f_l,
        crac_cop=cop,
        wb_in=wb_in,
        air_curve=air_curve,
        liq_curve=liq_curve,
    )


def _full(x: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """``x`` broadcast to ``shape`` as float64 (itself when it has that shape already)."""
    if x.shape == shape and x.dtype == np.float64:
        return x
    return np.asarray(np.broadcast_to(x, shape), dtype=np.float64)


def plant_power_at(it_heat_w: ArrayLike, cond: PlantConditions) -> CoolingBreakdown:
    """:func:`plant_power_w` of a heat load under conditions from :func:`plant_conditions`."""
    plant = cond.plant
    q = _f64(it_heat_w)
    shape = np.broadcast_shapes(q.shape, cond.shape)
    f_a, f_l = cond.f_a, cond.f_l
    h = plant.liquid_capture_frac
    q_liq, q_air = heat_split_w(q, h)
    design_air_w = (1.0 - h) * plant.design_heat_w
    design_liq_w = h * plant.design_heat_w

    # --- air path -------------------------------------------------------------------------
    mech_air = (1.0 - f_a) * q_air
    if cond.crac_cop is not None:
        chiller_air = mech_air / cond.crac_cop
    elif cond.wb_in is not None:
        plr = mech_air / design_air_w if design_air_w > 0.0 else np.zeros(shape)
        wb_in = cond.wb_in
        # electric input is linear in 1/COP: average 1/COP over the period's outdoor spread
        inv_cop = _gauss_mean(
            lambda t: 1.0 / dx_cop(t, plant.cop_rated, part_load_frac=plr, entering_wb_c=wb_in),
            cond.db,
            cond.db_std,
        )
        chiller_air = mech_air * inv_cop
    else:
        chiller_air = _chiller_w(cond.air_curve, mech_air, design_air_w, plant)

    if design_air_w > 0.0:
        flow_ref = design_air_w / (_AIR_HEAT_CAPACITY_J_PER_M3_K * plant.air_delta_t_k)
        power_ref = plant.fan_pressure_pa * flow_ref / plant.fan_efficiency_frac
        flow = np.maximum(
            q_air / (_AIR_HEAT_CAPACITY_J_PER_M3_K * plant.air_delta_t_k),
            plant.fan_min_speed_frac * flow_ref,
        )
        crah_fan = fan_power_w(flow, flow_ref, power_ref)
    else:
        crah_fan = np.zeros(shape)
    chw_flow = q_air / (_WATER_HEAT_CAPACITY_J_PER_M3_K * plant.chw_delta_t_k)
    pump = pump_power_w(chw_flow, plant.chw_pump_head_pa, plant.pump_efficiency_frac)

    # --- liquid path ----------------------------------------------------------------------
    mech_liq = (1.0 - f_l) * q_liq
    trim_kind = "air_cooled" if plant.chiller in ("moore_crac", "dx_air_cooled") else plant.chiller
    chiller_liq = _chiller_w(cond.liq_curve, mech_liq, design_liq_w, plant)
    liq_flow = q_liq / (_WATER_HEAT_CAPACITY_J_PER_M3_K * plant.liquid_delta_t_k)
    pump = pump + pump_power_w(liq_flow, plant.liquid_pump_head_pa, plant.pump_efficiency_frac)
    if plant.technology in ("direct_liquid", "immersion"):
        cdu = pump_power_w(liq_flow, plant.cdu_pump_head_pa, plant.pump_efficiency_frac)
    else:
        cdu = np.zeros(shape)

    # --- heat rejection -------------------------------------------------------------------
    rejection_fan = np.zeros(shape)
    tower_heat_total = np.zeros(shape)
    paths = (
        (plant.economizer, q_air, f_a, chiller_air, design_air_w, plant.chiller),
        (plant.liquid_economizer, q_liq, f_l, chiller_liq, design_liq_w, trim_kind),
    )
    for econ, q_path, f_path, p_chiller, design_w, kind in paths:
        running = f_path > 0.0
        tower_heat = np.zeros(shape)
        if kind == "water_cooled":
            tower_heat = q_path + p_chiller
        elif econ == "waterside":
            tower_heat = np.where(running, q_path, 0.0)
        rejection_fan = rejection_fan + _rejection_fan_w(
            tower_heat, design_w, plant.tower_fan_design_frac
        )
        tower_heat_total = tower_heat_total + tower_heat
        if econ == "dry_cooler":
            dc_heat = np.where(running, q_path, 0.0)
            rejection_fan = rejection_fan + _rejection_fan_w(
                dc_heat, design_w, plant.drycooler_fan_design_frac
            )
    cw_flow = tower_heat_total / (_WATER_HEAT_CAPACITY_J_PER_M3_K * plant.cw_delta_t_k)
    pump = pump + pump_power_w(cw_flow, plant.cw_pump_head_pa, plant.pump_efficiency_frac)

    chiller = _full(chiller_air + chiller_liq, shape)
    crah = _full(crah_fan, shape)
    pumps = _full(pump, shape)
    fans = _full(rejection_fan, shape)
    cdus = _full(cdu, shape)
    total = chiller + crah + pumps + fans + cdus
    q_b = _full(q, shape)
    free = np.divide(
        f_a * q_air + f_l * q_liq, q_b, out=np.zeros(shape), where=np.broadcast_to(q > 0, shape)
    )
    return CoolingBreakdown(
        chiller_w=chiller,
        crah_fan_w=crah,
        pump_w=pumps,
        heat_rejection_fan_w=fans,
        cdu_w=cdus,
        total_w=np.asarray(total, dtype=np.float64),
        air_heat_w=_full(q_air, shape),
        liquid_heat_w=_full(q_liq, shape),
        air_free_frac=_full(f_a, shape),
        liquid_free_frac=_full(f_l, shape),
        free_frac=np.asarray(free, dtype=np.float64),
        mechanical_heat_w=_full(mech_air + mech_liq, shape),
    )


def _cube(x: float) -> float:
    """``x**3`` exactly as :func:`plant_power_at` computes it on a one-element array."""
    return float((np.array([x], dtype=np.float64) ** 3)[0])


def _chiller_scalar_w(
    curve: tuple[FloatArray, FloatArray] | None, q: float, capacity_w: float, cop_rated: float
) -> float:
    """:func:`_chiller_w` of one load (the operations of :func:`_chiller_load_w`, in order)."""
    if curve is None:
        return 0.0
    available_w = float(curve[0].reshape(-1)[0]) * capacity_w
    plr_raw = q / available_w
    plr = max(plr_raw, CHILLER_MIN_PLR_FRAC)
    p0, p1, p2 = CHILLER_PLR_COEFFS
    flf = p0 + p1 * plr + p2 * (plr * plr)
    cycling = min(1.0, plr_raw / CHILLER_MIN_PLR_FRAC)
    return flf * float(curve[1].reshape(-1)[0]) * available_w / cop_rated * cycling


def _rejection_fan_scalar_w(heat_w: float, design_w: float, design_frac: float) -> float:
    if design_w <= 0.0:
        return 0.0
    return design_frac * design_w * _cube(heat_w / design_w)


def plant_total_w(it_heat_w: float, cond: PlantConditions) -> float:
    """``plant_power_at(np.array([it_heat_w]), cond).total_w[0]`` for conditions of one element.

    The same operations on the same values in the same order, on Python floats (IEEE-754
    double arithmetic, as numpy's elementwise ``+ − × ÷``; the cubes go through numpy's own
    power), so the very same bits at a fraction of the cost of one-element arrays: the coupled
    twin prices the plant at one IT power at a time (the site's grid limit, every facility
    step whose IT power changed). A ``dx_air_cooled`` plant (its COP averaged over the outdoor
    spread) takes the array path.
    """
    if cond.wb_in is not None or math.prod(cond.shape) != 1:
        return float(plant_power_at(np.array([it_heat_w]), cond).total_w.reshape(-1)[0])
    plant = cond.plant
    q = float(it_heat_w)
    f_a = float(cond.f_a.reshape(-1)[0])
    f_l = float(cond.f_l.reshape(-1)[0])
    h = float(plant.liquid_capture_frac)
    q_liq = h * q
    q_air = (1.0 - h) * q
    design_air_w = (1.0 - h) * plant.design_heat_w
    design_liq_w = h * plant.design_heat_w
    # air path
    mech_air = (1.0 - f_a) * q_air
    if cond.crac_cop is not None:
        chiller_air = mech_air / float(cond.crac_cop.reshape(-1)[0])
    else:
        chiller_air = _chiller_scalar_w(cond.air_curve, mech_air, design_air_w, plant.cop_rated)
    if design_air_w > 0.0:
        flow_ref = design_air_w / (_AIR_HEAT_CAPACITY_J_PER_M3_K * plant.air_delta_t_k)
        power_ref = plant.fan_pressure_pa * flow_ref / plant.fan_efficiency_frac
        flow = max(
            q_air / (_AIR_HEAT_CAPACITY_J_PER_M3_K * plant.air_delta_t_k),
            plant.fan_min_speed_frac * flow_ref,
        )
        crah_fan = power_ref * _cube(flow / flow_ref)
    else:
        crah_fan = 0.0
    chw_flow = q_air / (_WATER_HEAT_CAPACITY_J_PER_M3_K * plant.chw_delta_t_k)
    pump = chw_flow * plant.chw_pump_head_pa / plant.pump_efficiency_frac
    # liquid path
    mech_liq = (1.0 - f_l) * q_liq
    trim_kind = "air_cooled" if plant.chiller in ("moore_crac", "dx_air_cooled") else plant.chiller
    chiller_liq = _chiller_scalar_w(cond.liq_curve, mech_liq, design_liq_w, plant.cop_rated)
    liq_flow = q_liq / (_WATER_HEAT_CAPACITY_J_PER_M3_K * plant.liquid_delta_t_k)
    pump = pump + liq_flow * plant.liquid_pump_head_pa / plant.pump_efficiency_frac
    if plant.technology in ("direct_liquid", "immersion"):
        cdu = liq_flow * plant.cdu_pump_head_pa / plant.pump_efficiency_frac
    else:
        cdu = 0.0
    # heat rejection
    rejection_fan = 0.0
    tower_heat_total = 0.0
    paths = (
        (plant.economizer, q_air, f_a, chiller_air, design_air_w, plant.chiller),
        (plant.liquid_economizer, q_liq, f_l, chiller_liq, design_liq_w, trim_kind),
    )
    for econ, q_path, f_path, p_chiller, design_w, kind in paths:
        running = f_path > 0.0
        tower_heat = 0.0
        if kind == "water_cooled":
            tower_heat = q_path + p_chiller
        elif econ == "waterside":
            tower_heat = q_path if running else 0.0
        rejection_fan = rejection_fan + _rejection_fan_scalar_w(
            tower_heat, design_w, plant.tower_fan_design_frac
        )
        tower_heat_total = tower_heat_total + tower_heat
        if econ == "dry_cooler":
            dc_heat = q_path if running else 0.0
            rejection_fan = rejection_fan + _rejection_fan_scalar_w(
                dc_heat, design_w, plant.drycooler_fan_design_frac
            )
    cw_flow = tower_heat_total / (_WATER_HEAT_CAPACITY_J_PER_M3_K * plant.cw_delta_t_k)
    pump = pump + cw_flow * plant.cw_pump_head_pa / plant.pump_efficiency_frac
    return chiller_air + chiller_liq + crah_fan + pump + rejection_fan + cdu


def cooling_power_w(
    it_heat_w: ArrayLike,
    outdoor_db_c: ArrayLike,
    outdoor_wb_c: ArrayLike,
    plant: CoolingPlant,
    *,
    supply_air_temp_c: ArrayLike | None = None,
) -> FloatArray:
    """Total electric power of the cooling plant (W); shorthand for ``plant_power_w(...).total_w``.

    Args:
        it_heat_w: Heat to remove (W).
        outdoor_db_c: Outdoor dry bulb (°C).
        outdoor_wb_c: Outdoor wet bulb (°C).
        plant: The design.
        supply_air_temp_c: Optional supply-air override (°C).

    Returns:
        Power (W), broadcast shape.

    References:
        See :func:`plant_power_w`.
    """
    return plant_power_w(
        it_heat_w, outdoor_db_c, outdoor_wb_c, plant, supply_air_temp_c=supply_air_temp_c
    ).total_w


# ============================================================================================
# PUE
# ============================================================================================


def pue(
    it_power_w: ArrayLike, cooling_power_w: ArrayLike, loss_w: ArrayLike, misc_w: ArrayLike = 0.0
) -> FloatArray:
    """Power usage effectiveness: facility power over IT power.

    PUE = (P_IT + P_cooling + P_loss + P_misc) / P_IT

    For an annual PUE pass energies (J) instead of powers, or use :func:`annual_pue`. That gives
    ΣE_facility/ΣE_IT, not the mean of hourly PUEs.

    Args:
        it_power_w: IT power (W), ≥ 0.
        cooling_power_w: Cooling plant power (W).
        loss_w: Electrical chain losses (W).
        misc_w: Lighting, offices, security and the like (W).

    Returns:
        PUE ≥ 1 (dimensionless), broadcast shape; NaN where the IT power is 0.

    Examples:
        >>> float(pue(1000.0, 300.0, 80.0, 20.0))
        1.4

    References:
        The Green Grid, WP#49 "PUE: A Comprehensive Examination of the Metric" (2012);
        ISO/IEC 30134-2:2016. physics.md §3.8.
    """
    it = _f64(it_power_w)
    facility = it + _f64(cooling_power_w) + _f64(loss_w) + _f64(misc_w)
    shape = np.broadcast(it, facility).shape
    return np.asarray(
        np.divide(
            np.broadcast_to(facility, shape),
            np.broadcast_to(it, shape),
            out=np.full(shape, np.nan),
            where=np.broadcast_to(it > 0, shape),
        ),
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class AnnualPue:
    """Energy-weighted PUE over a year of monthly or hourly periods.

    Attributes:
        pue: ΣE_facility / ΣE_IT over all periods.
        pue_by_period: Facility over IT power in each period, shape (n,).
        it_energy_j: IT energy over the year.
        cooling_energy_j: Cooling plant energy.
        loss_energy_j: Electrical chain loss energy.
        misc_energy_j: Miscellaneous energy.
        facility_energy_j: Sum of the four above.
        economizer_time_s: Σ duration × heat-weighted economizer share: the full-free-cooling
            equivalent time.
        cooling_power_w: Cooling power in each period, shape (n,).
        loss_power_w: Chain loss in each period, shape (n,).
        breakdown: Per-period :class:`CoolingBreakdown`.
    """

    pue: float
    pue_by_period: FloatArray
    it_energy_j: float
    cooling_energy_j: float
    loss_energy_j: float
    misc_energy_j: float
    facility_energy_j: float
    economizer_time_s: float
    cooling_power_w: FloatArray
    loss_power_w: FloatArray
    breakdown: CoolingBreakdown


def annual_pue(
    plant: CoolingPlant,
    it_power_w: ArrayLike,
    climate: MonthlyClimate | HourlyClimate,
    chain: PowerChain,
    *,
    misc_w: ArrayLike = 0.0,
    cool_chain_losses: bool = True,
    supply_air_temp_c: ArrayLike | None = None,
) -> AnnualPue:
    """Annual PUE of a plant and power chain under a climate, energy-weighted over the periods.

    For each period i (month or hour) with duration Δt_i:
      P_loss,i = chain loss at P_IT,i;  Q_i = P_IT,i (+ P_loss,i if the losses sit in cooled space)
      P_cool,i = plant_power_w(Q_i, T_db,i, T_wb,i, σ_db,i, σ_wb,i)
      PUE = Σ(P_IT + P_cool + P_loss + P_misc)_i Δt_i / Σ P_IT,i Δt_i

    Args:
        plant: Cooling plant design.
        it_power_w: IT power (W): a scalar for a flat load, or one value per period.
        climate: :class:`~kiban.physics.climate.MonthlyClimate` (12 periods, with spreads) or
            :class:`~kiban.physics.climate.HourlyClimate`.
        chain: Electrical chain (UPS, PDU, transformer, redundancy).
        misc_w: Lighting, offices and other non-IT, non-cooling load (W).
        cool_chain_losses: Whether chain losses add to the heat the plant removes (UPS and PDU
            rooms are cooled; default True).
        supply_air_temp_c: Optional supply-air override, scalar or per period (°C).

    Returns:
        An :class:`AnnualPue`.

    References:
        PUE = E_facility / E_IT (annual): The Green Grid WP#49; ISO/IEC 30134-2. LBNL 2024 U.S.
        Data Center Energy Usage Report (Shehabi et al., LBNL-2001637), §4 simulated annual PUE
        by design. physics.md §3.8.
    """
    dur = climate.duration_s
    it = np.broadcast_to(_f64(it_power_w), dur.shape)
    loss = chain.loss_w(it)
    heat = it + loss if cool_chain_losses else it
    bd = plant_power_w(
        heat,
        climate.dry_bulb_c,
        climate.wet_bulb_c,
        plant,
        supply_air_temp_c=supply_air_temp_c,
        outdoor_db_std_k=climate.dry_bulb_std_k,
        outdoor_wb_std_k=climate.wet_bulb_std_k,
    )
    misc = np.broadcast_to(_f64(misc_w), dur.shape)
    it_e = float(np.sum(it * dur))
    cool_e = float(np.sum(bd.total_w * dur))
    loss_e = float(np.sum(loss * dur))
    misc_e = float(np.sum(misc * dur))
    facility_e = it_e + cool_e + loss_e + misc_e
    return AnnualPue(
        pue=facility_e / it_e if it_e > 0 else math.nan,
        pue_by_period=pue(it, bd.total_w, loss, misc),
        it_energy_j=it_e,
        cooling_energy_j=cool_e,
        loss_energy_j=loss_e,
        misc_energy_j=misc_e,
        facility_energy_j=facility_e,
        economizer_time_s=float(np.sum(bd.free_frac * dur)),
        cooling_power_w=bd.total_w,
        loss_power_w=np.asarray(loss, dtype=np.float64),
        breakdown=bd,
    )


# ============================================================================================
# Typical designs
# ============================================================================================

TYPICAL_PLANTS: dict[str, dict[str, float | str]] = {
    # Legacy raised floor: chilled-water CRAC at 18 °C supply (Moore COP), no economizer,
    # constant-ish fans against a raised-floor plenum.
    "crac-raised-floor": {
        "technology": "air",
        "supply_air_temp_c": 18.0,
        "air_delta_t_k": 10.0,
        "chiller": "moore_crac",
        "economizer": "none",
        "fan_pressure_pa": 500.0,
        "fan_efficiency_frac": 0.6,
        "fan_min_speed_frac": 0.6,
    },
    # Contained hot aisle, variable-speed CRAH at 24 °C supply, water-cooled chiller with a
    # water-side economizer (towers + plate HX).
    "hot-aisle-containment": {
        "technology": "air",
        "supply_air_temp_c": 24.0,
        "air_delta_t_k": 14.0,
        "coil_approach_k": 5.0,
        "chw_delta_t_k": 6.0,
        "chiller": "water_cooled",
        "cop_rated": 5.8,
        "economizer": "waterside",
        "fan_pressure_pa": 300.0,
        "fan_efficiency_frac": 0.65,
        "fan_min_speed_frac": 0.3,
    },
    # Rear doors on 18 °C facility water (above dew point), room CRAH for the rest; one
    # water-cooled chiller plant with a water-side economizer for both.
    "rear-door-hx": {
        "technology": "rear_door",
        "liquid_capture_frac": 0.9,
        "supply_air_temp_c": 24.0,
        "air_delta_t_k": 14.0,
        "coil_approach_k": 5.0,
        "chiller": "water_cooled",
        "cop_rated": 5.8,
        "economizer": "waterside",
        "liquid_supply_temp_c": 18.0,
        "liquid_delta_t_k": 6.0,
        "liquid_economizer": "waterside",
        "fan_pressure_pa": 300.0,
        "fan_efficiency_frac": 0.65,
    },
    # Direct-to-chip at W32 facility water with dry coolers; the residual air heat goes to CRAH
    # on an air-cooled chiller with a dry-cooler economizer.
    "direct-liquid": {
        "technology": "direct_liquid",
        "liquid_capture_frac": 0.85,
        "supply_air_temp_c": 24.0,
        "air_delta_t_k": 14.0,
        "coil_approach_k": 5.0,
        "chiller": "air_cooled",
        "cop_rated": 3.0,
        "economizer": "dry_cooler",
        "liquid_supply_temp_c": 32.0,
        "liquid_delta_t_k": 10.0,
        "liquid_economizer": "dry_cooler",
        "fan_pressure_pa": 300.0,
        "fan_efficiency_frac": 0.65,
    },
    # Single-phase immersion at 35 °C facility water, dry coolers.
    "immersion-1p": {
        "technology": "immersion",
        "liquid_capture_frac": 0.98,
        "supply_air_temp_c": 24.0,
        "air_delta_t_k": 14.0,
        "chiller": "air_cooled",
        "cop_rated": 3.0,
        "economizer": "dry_cooler",
        "liquid_supply_temp_c": 35.0,
        "liquid_delta_t_k": 10.0,
        "liquid_economizer": "dry_cooler",
        "fan_pressure_pa": 300.0,
        "fan_efficiency_frac": 0.65,
    },
}
"""Typical design parameters for each catalog cooling technology (kiban assumptions, chosen as
representative of the LBNL 2024 design classes in physics.md §3.8; not fitted to PUE)."""


def typical_plant(
    cooling: str | CoolingTech, design_heat_w: float, **overrides: float | str
) -> CoolingPlant:
    """A :class:`CoolingPlant` with the typical design of a catalog cooling technology.

    Args:
        cooling: Catalog name (``crac-raised-floor``, ``hot-aisle-containment``,
            ``rear-door-hx``, ``direct-liquid``, ``immersion-1p``) or a
            :class:`~kiban.catalog.CoolingTech`, whose ``liquid_capture_frac`` then overrides the
            preset's.
        design_heat_w: Heat the plant is sized for (W).
        **overrides: Any :class:`CoolingPlant` field.

    Returns:
        The plant.

    Raises:
        ConfigError: unknown technology name or a bad override.

    References:
        Preset values: :data:`TYPICAL_PLANTS` (assumptions documented there); physics.md §3.4–3.9.
    """
    name = cooling if isinstance(cooling, str) else cooling.name
    if name not in TYPICAL_PLANTS:
        msg = (
            f"cooling.technology = {name!r}: no typical plant; allowed {', '.join(TYPICAL_PLANTS)}"
        )
        raise ConfigError(msg)
    params: dict[str, float | str] = dict(TYPICAL_PLANTS[name])
    if isinstance(cooling, CoolingTech) and params["technology"] != "air":
        params["liquid_capture_frac"] = cooling.liquid_capture_frac
    params["design_heat_w"] = design_heat_w
    params.update(overrides)
    unknown = sorted(set(params) - set(CoolingPlant.__dataclass_fields__))
    if unknown:
        msg = f"cooling: unknown plant field(s) {', '.join(unknown)}"
        raise ConfigError(msg)
    return CoolingPlant(**params)  # type: ignore[arg-type]


__all__ = [
    "CHILLER_KINDS",
    "ECONOMIZER_KINDS",
    "TECHNOLOGIES",
    "TYPICAL_PLANTS",
    "AnnualPue",
    "CoolingBreakdown",
    "CoolingPlant",
    "PlantConditions",
    "airside_free_frac",
    "annual_pue",
    "chiller_power_w",
    "cooling_power_w",
    "crac_cop",
    "dry_cooler_free_frac",
    "economizer_free_frac",
    "fan_power_w",
    "heat_split_w",
    "mechanical_cooling_power_w",
    "plant_conditions",
    "plant_power_at",
    "plant_power_w",
    "plant_total_w",
    "pue",
    "pump_power_w",
    "reset_supply_temp_c",
    "typical_plant",
    "waterside_free_frac",
]
