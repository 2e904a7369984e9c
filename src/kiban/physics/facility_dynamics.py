"""Facility in the loop: cooling capacity, room thermal mass, airflow balance, chip temperatures.

These are the laws the simulator evaluates at every facility step (e.g. 60 s) so that the plant
and the room bind the run instead of being priced after it. All functions are pure and
vectorized; temperatures °C, heat and power W, airflow m³/s, time s.

Capacity (what each unit can remove now)::

    CRAH/CRAC sensible     Q = min(Q_coil, ρ·c_p·V̇·(T_return − T_supply))    0 if failed
    chiller                Q = CAP(T_cond, T_chw)·Q_nom                          EnergyPlus curve
    dry cooler             Q = Q_design·(T_water,return − T_db)/ITD_design        ≥ 0
    CDU                    Q = Q_rated                                            0 if failed

Room (supply air) temperature with thermal mass, two nodes after Khankari (ASHRAE Trans. 117(1),
2011): the room air C_a exchanges heat with the solid mass of racks and servers C_s through h·A::

    C_a·dT_a/dt = Q_IT − Q_removed(T_a) − hA·(T_a − T_s)
    C_s·dT_s/dt = hA·(T_a − T_s)
    Q_removed(T) = Q_0 + G·(T − T_set)     while it is short of the heat (G: coil conductance)

The response to constant inputs is exact (:func:`room_step`): cooling that falls short raises the
supply temperature first at Q_short/C_a and then more slowly, at Q_short/(C_a + C_s), the two
rates Khankari describes, and towards T_set + Q_short/G when the coils can take more heat as the
room warms (no bound when the plant itself is the limit, G = 0).

Airflow balance per cold aisle: server fans move V̇ = V̇_rated·N/N_rated (fan affinity, V̇ ∝ N)
with N from :func:`kiban.physics.server_power.fan_speed_frac` (it rises with load and inlet
temperature). When the units supply less than the servers draw, the deficit m = 1 − V̇_sup/V̇_dem
is pulled from the hot aisle, and the inlet mixes m of exhaust into supply air::

    T_in − T_sup = m/(1 − m) · ΔT_server,    ΔT_server = P/(ρ·c_p·V̇_dem)

Chip: die T = T_in + R·P (RC in :mod:`kiban.physics.thermal`); liquid cold plates use the coolant
supply for T_in and a smaller R; a failed server fan lowers airflow and raises R by forced
convection (h ∝ V̇^0.8); HBM runs hotter than the die under memory-bound load.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics import thermal
from kiban.physics.climate import HourlyClimate, MonthlyClimate
from kiban.physics.cooling import (
    AIR_COOLED_RATED_COND_TEMP_C,
    CHILLER_CAPACITY_COEFFS,
    CHILLER_DELTA_T_MAX_K,
    CHILLER_DELTA_T_MIN_K,
    CHILLER_TEMP_RISE_COEF,
    RATED_EVAP_OUT_TEMP_C,
)
from kiban.units import AIR_DENSITY_KG_PER_M3, AIR_SPECIFIC_HEAT_J_PER_KG_K

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, BoolArray, FloatArray, IntArray
    from kiban.catalog import GpuSku

__all__ = [
    "COIL_EFFECTIVENESS_FRAC",
    "CONVECTION_EXPONENT",
    "DIURNAL_HALF_RANGE_K",
    "DIURNAL_PEAK_HOUR",
    "HBM_MEMORY_BOUND_RISE_K",
    "LIQUID_MAX_COOLANT_TEMP_C",
    "MAX_DEFICIT_FRAC",
    "POWER_BRAKE_CLOCK_FRAC",
    "STEEL_SPECIFIC_HEAT_J_PER_KG_K",
    "ChipState",
    "FacilityStep",
    "HallAir",
    "RoomState",
    "aisle_deficit_frac",
    "chiller_available_capacity_w",
    "chip_state",
    "crah_sensible_capacity_w",
    "deficit_inlet_rise_k",
    "dry_cooler_capacity_w",
    "facility_step",
    "fan_failure_airflow_frac",
    "hbm_temp_c",
    "liquid_r_k_per_w",
    "outdoor_dry_bulb_at_c",
    "outdoor_dry_bulb_c",
    "power_at_clock_w",
    "psu_power_brake",
    "psus_left",
    "r_scale_for_airflow",
    "room_heat_capacity_j_per_k",
    "room_step",
    "server_airflow_m3_per_s",
]

_RHO_CP = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K

STEEL_SPECIFIC_HEAT_J_PER_KG_K = 490.0
"""Specific heat of carbon steel, the bulk of racks and server chassis (textbook value, ≈ 0.49
kJ/(kg·K)); Khankari (2011) lumps the racks' solid mass with this kind of value."""

MAX_DEFICIT_FRAC = 0.9
"""Ceiling on the exhaust share of an inlet (matches ``recirculation.MAX_RECIRCULATION_FRAC``)."""

CONVECTION_EXPONENT = 0.8
"""Exponent of forced-convection heat transfer on airflow, h ∝ Re^0.8 (Dittus–Boelter,
turbulent; textbook). The heat-sink-to-air resistance scales as V̇^−0.8."""

HBM_MEMORY_BOUND_RISE_K = 20.0
"""HBM above the die under fully memory-bound load: physics.md §3.1 gives 20–35 K [S] (a loaded
V100 ran ≈ 33 K above core); the low end is used, scaled by the memory-bound share (1 − β)."""

LIQUID_MAX_COOLANT_TEMP_C = 45.0
"""Highest facility-water supply of ASHRAE class W45 (physics.md §3.6): a cold plate must keep
the die at its max operating temperature at TDP with this coolant."""


# --- capacity ---------------------------------------------------------------------------------


def crah_sensible_capacity_w(
    airflow_m3_per_s: ArrayLike,
    return_temp_c: ArrayLike,
    supply_temp_c: ArrayLike,
    coil_capacity_w: ArrayLike,
    *,
    failed: ArrayLike = False,
) -> FloatArray:
    """Sensible heat a CRAH/CRAC unit removes: min(coil rating, ρ·c_p·V̇·(T_return − T_supply)).

    Args:
        airflow_m3_per_s: the unit's airflow, m³/s.
        return_temp_c: air entering the unit, °C.
        supply_temp_c: air leaving the unit, °C.
        coil_capacity_w: rated sensible capacity of the coil (or DX circuit), W.
        failed: True where the unit is down (capacity 0).

    Returns:
        Capacity in W (≥ 0), broadcast shape.

    References:
        Air energy balance (Tang et al., IEEE TPDS 19(11) 2008, Table 1; physics.md §3.2).

    Examples:
        >>> round(float(crah_sensible_capacity_w(8.0, 30.0, 18.0, 200_000.0)))
        114811
    """
    v = np.asarray(airflow_m3_per_s, dtype=np.float64)
    dt_k = np.maximum(np.asarray(return_temp_c, dtype=np.float64) - np.asarray(supply_temp_c), 0.0)
    q = np.minimum(_RHO_CP * v * dt_k, np.asarray(coil_capacity_w, dtype=np.float64))
    return np.asarray(np.where(np.asarray(failed, dtype=bool), 0.0, q), dtype=np.float64)


def chiller_available_capacity_w(
    rated_capacity_w: ArrayLike,
    condenser_temp_c: ArrayLike,
    *,
    chilled_water_temp_c: ArrayLike = RATED_EVAP_OUT_TEMP_C,
    cond_rated_temp_c: float = AIR_COOLED_RATED_COND_TEMP_C,
    evap_rated_temp_c: float = RATED_EVAP_OUT_TEMP_C,
    failed: ArrayLike = False,
) -> FloatArray:
    """What a chiller can remove now: CAP(ΔT)·Q_nom (EnergyPlus ``Chiller:Electric``).

    ΔT = (T_cond − T_cond,rated)/2.778 − (T_chw − T_chw,rated), clipped as in
    :func:`kiban.physics.cooling.chiller_power_w`; CAP = 0.944836 − 0.0570088·ΔT + 0.00185486·ΔT².
    A hot afternoon lowers the capacity of an air-cooled chiller; a warmer chilled-water
    set-point raises it.

    Args:
        rated_capacity_w: Q_nom, W.
        condenser_temp_c: outdoor dry bulb (air-cooled) or tower water (water-cooled), °C.
        chilled_water_temp_c: chilled-water leaving temperature, °C.
        cond_rated_temp_c: condenser temperature at rating, °C.
        evap_rated_temp_c: chilled-water temperature at rating, °C.
        failed: True where the chiller is down.

    Returns:
        Capacity in W, broadcast shape.

    References:
        U.S. DOE EnergyPlus Engineering Reference (Chiller:Electric), coefficients as in HPE
        SustainDC ``envs/datacenter.py``; physics.md §3.4.
    """
    d = (np.asarray(condenser_temp_c, dtype=np.float64) - cond_rated_temp_c) / (
        CHILLER_TEMP_RISE_COEF
    ) - (np.asarray(chilled_water_temp_c, dtype=np.float64) - evap_rated_temp_c)
    d = np.clip(d, CHILLER_DELTA_T_MIN_K, CHILLER_DELTA_T_MAX_K)
    c0, c1, c2 = CHILLER_CAPACITY_COEFFS
    q = (c0 + c1 * d + c2 * d * d) * np.asarray(rated_capacity_w, dtype=np.float64)
    return np.asarray(np.where(np.asarray(failed, dtype=bool), 0.0, q), dtype=np.float64)


def dry_cooler_capacity_w(
    design_capacity_w: ArrayLike,
    water_return_temp_c: ArrayLike,
    outdoor_dry_bulb_c: ArrayLike,
    design_itd_k: ArrayLike,
    *,
    failed: ArrayLike = False,
) -> FloatArray:
    """Heat a dry cooler rejects at fixed fan and water flow: Q_design·ITD/ITD_design, ≥ 0.

    With constant flows, a fixed heat exchanger's effectiveness is constant, so its capacity is
    proportional to the initial temperature difference ITD = T_water,in − T_air,in (the ε-NTU
    method). Free cooling shrinks as the outdoor air approaches the water temperature.

    Args:
        design_capacity_w: capacity at the design ITD, W.
        water_return_temp_c: water entering the cooler, °C.
        outdoor_dry_bulb_c: outdoor air, °C.
        design_itd_k: ITD at which the design capacity is rated, K (> 0).
        failed: True where the unit is down.

    Returns:
        Capacity in W (≥ 0), broadcast shape.

    References:
        Incropera & DeWitt, Fundamentals of Heat and Mass Transfer, ε-NTU method (q = ε·C_min·ITD);
        dry-cooler approach 10–15 K, physics.md §3.9 [weak].
    """
    itd = np.asarray(water_return_temp_c, dtype=np.float64) - np.asarray(outdoor_dry_bulb_c)
    q = np.asarray(design_capacity_w, dtype=np.float64) * np.maximum(itd, 0.0) / design_itd_k
    return np.asarray(np.where(np.asarray(failed, dtype=bool), 0.0, q), dtype=np.float64)


# --- room thermal mass ----------------------------------------------------------------------


def room_heat_capacity_j_per_k(room_volume_m3: ArrayLike, solid_mass_kg: ArrayLike) -> FloatArray:
    """Heat capacities (C_air, C_solid) of a room: ρ·c_p·V and c_steel·m (J/K), stacked.

    Args:
        room_volume_m3: air volume of the hall, m³.
        solid_mass_kg: racks + servers (+ other equipment) mass, kg.

    Returns:
        Array of shape (2, ...): C_air and C_solid.

    References:
        Khankari, "Rate of Heating Analysis of Data Centers during Power Shutdown", ASHRAE
        Transactions 117(1), 2011 (air and rack thermal mass; the heat-capacity ratio).
    """
    c_air = _RHO_CP * np.asarray(room_volume_m3, dtype=np.float64)
    c_solid = STEEL_SPECIFIC_HEAT_J_PER_KG_K * np.asarray(solid_mass_kg, dtype=np.float64)
    return np.stack(np.broadcast_arrays(c_air, c_solid))


@dataclass(frozen=True, slots=True)
class RoomState:
    """Air (supply) and solid-mass temperatures of a room after a step (°C arrays)."""

    air_temp_c: FloatArray
    solid_temp_c: FloatArray


def room_step(  # noqa: PLR0917 (a physical state update: every input is needed)
    air_temp_c: ArrayLike,
    solid_temp_c: ArrayLike,
    setpoint_c: ArrayLike,
    heat_w: ArrayLike,
    capacity_w: ArrayLike,
    coil_conductance_w_per_k: ArrayLike,
    air_capacity_j_per_k: ArrayLike,
    solid_capacity_j_per_k: ArrayLike,
    exchange_w_per_k: ArrayLike,
    dt_s: ArrayLike,
) -> RoomState:
    """Advance the two-node room model over dt with constant heat and capacity (exact).

    Cooling holds the air at the set-point while it has capacity: the step then returns
    T_a = T_set and relaxes the solid toward it. When the heat exceeds the capacity at the
    set-point (Q_short = Q − Q_0 > 0), or the air is above the set-point, the linear system::

        C_a·dT_a/dt = Q − Q_0 − G·(T_a − T_set) − hA·(T_a − T_s)
        C_s·dT_s/dt = hA·(T_a − T_s)

    is solved in closed form by its 2×2 eigen-decomposition. With G = 0 (plant-limited) the air
    keeps warming at Q_short/(C_a + C_s) after the fast transient.

    Args:
        air_temp_c: room (supply) air temperature now, °C.
        solid_temp_c: solid-mass temperature now, °C.
        setpoint_c: supply set-point, °C.
        heat_w: heat into the room air (IT + fans + lights), W.
        capacity_w: what the cooling can remove at the set-point now (Q_0), W.
        coil_conductance_w_per_k: G, extra removal per K the air is above set-point, W/K (≥ 0).
        air_capacity_j_per_k: C_a, J/K (> 0).
        solid_capacity_j_per_k: C_s, J/K (> 0).
        exchange_w_per_k: hA between air and solid, W/K (≥ 0).
        dt_s: step, s (≥ 0).

    Returns:
        The :class:`RoomState` after the step, broadcast shape.

    References:
        Khankari, ASHRAE Trans. 117(1), 2011 (initial and minimum rates of heating, time
        constant from the heat-capacity ratio and the rack surface area).
    """
    ta, ts, tset, q, q0, g, ca, cs, ha, dt = np.broadcast_arrays(
        *(
            np.asarray(v, dtype=np.float64)
            for v in (
                air_temp_c,
                solid_temp_c,
                setpoint_c,
                heat_w,
                capacity_w,
                coil_conductance_w_per_k,
                air_capacity_j_per_k,
                solid_capacity_j_per_k,
                exchange_w_per_k,
                dt_s,
            )
        )
    )
    # deviations from the set-point: x = [T_a − T_set, T_s − T_set]; dx/dt = M x + b
    x1, x2 = ta - tset, ts - tset
    short = q - q0
    held = (short <= 0.0) & (x1 <= 1e-12)
    m11 = -(g + ha) / ca
    m12 = ha / ca
    m21 = ha / cs
    m22 = -ha / cs
    b1 = short / ca
    # eigenvalues of M (real, ≤ 0: a symmetrizable negative semi-definite system)
    tr = m11 + m22
    det = m11 * m22 - m12 * m21
    disc = np.sqrt(np.maximum(tr * tr / 4.0 - det, 0.0))
    l1 = tr / 2.0 + disc  # the slow one (0 when G = 0)
    l2 = tr / 2.0 - disc
    # φ(λ, t) = (e^{λt} − 1)/λ, → t as λ → 0

    def phi(lam: FloatArray) -> FloatArray:
        small = np.abs(lam * dt) < 1e-9
        safe = np.where(small, 1.0, lam)
        return np.where(small, dt, np.expm1(np.where(small, 0.0, lam * dt)) / safe)

    e1, e2 = np.exp(l1 * dt), np.exp(l2 * dt)
    p1, p2 = phi(l1), phi(l2)
    # exp(Mt) and ∫exp(Ms)ds via Sylvester's formula (distinct eigenvalues) ...
    gap = l1 - l2
    distinct = np.abs(gap) > 1e-12 * np.maximum(np.abs(l2), 1e-300)
    gs = np.where(distinct, gap, 1.0)
    # exp(Mt) = (e1 (M − l2 I) − e2 (M − l1 I)) / (l1 − l2)
    a11 = (e1 * (m11 - l2) - e2 * (m11 - l1)) / gs
    a12 = (e1 - e2) * m12 / gs
    a21 = (e1 - e2) * m21 / gs
    a22 = (e1 * (m22 - l2) - e2 * (m22 - l1)) / gs
    i11 = (p1 * (m11 - l2) - p2 * (m11 - l1)) / gs
    i21 = (p1 - p2) * m21 / gs
    # ... and the repeated-eigenvalue limit (only when hA = 0 and G = 0: one free node)
    a11 = np.where(distinct, a11, np.exp(m11 * dt))
    a12 = np.where(distinct, a12, 0.0)
    a21 = np.where(distinct, a21, 0.0)
    a22 = np.where(distinct, a22, np.exp(m22 * dt))
    i11 = np.where(distinct, i11, phi(m11))
    i21 = np.where(distinct, i21, 0.0)
    y1 = a11 * x1 + a12 * x2 + i11 * b1
    y2 = a21 * x1 + a22 * x2 + i21 * b1
    # cooling never pulls the air below its set-point: clamp and treat held rooms exactly
    y1 = np.maximum(y1, 0.0)
    solid_held = x2 * np.exp(-ha / cs * dt)
    y1 = np.where(held, 0.0, y1)
    y2 = np.where(held, solid_held, y2)
    return RoomState(
        air_temp_c=np.asarray(tset + y1, dtype=np.float64),
        solid_temp_c=np.asarray(tset + y2, dtype=np.float64),
    )


# --- airflow balance --------------------------------------------------------------------------


def server_airflow_m3_per_s(
    fan_speed_frac: ArrayLike,
    rated_airflow_m3_per_s: ArrayLike,
    *,
    rated_fan_speed_frac: float = 0.8,
    fan_ok_frac: ArrayLike = 1.0,
) -> FloatArray:
    """Airflow a server draws: V̇ = V̇_rated·N/N_rated (fan affinity law V̇ ∝ N).

    Args:
        fan_speed_frac: fan speed N (fraction of max).
        rated_airflow_m3_per_s: airflow at the rated speed (DGX H100: 1105 CFM at 80 % PWM).
        rated_fan_speed_frac: N_rated.
        fan_ok_frac: share of the server's airflow its working fans still move
            (:func:`fan_failure_airflow_frac`).

    Returns:
        Airflow in m³/s, broadcast shape.

    References:
        NVIDIA DGX H100/H200 User Guide (1105 CFM at 80 % fan PWM); fan affinity laws,
        physics.md §3.5.
    """
    n = np.asarray(fan_speed_frac, dtype=np.float64)
    v = np.asarray(rated_airflow_m3_per_s, dtype=np.float64) * n / rated_fan_speed_frac
    return np.asarray(v * np.asarray(fan_ok_frac, dtype=np.float64), dtype=np.float64)


def fan_failure_airflow_frac(n_fans: ArrayLike, n_failed: ArrayLike) -> FloatArray:
    """Share of a server's maximum airflow left when ``n_failed`` of its ``n_fans`` fans stop.

    The remaining fans run at full speed (BMC policy on a fan fault); in a parallel fan wall the
    flow falls with the number of fans that still turn: (n − k)/n.

    Args:
        n_fans: fans per server (DGX H100: 12 [R]).
        n_failed: failed fans.

    Returns:
        Airflow fraction in [0, 1].
    """
    n = np.asarray(n_fans, dtype=np.float64)
    k = np.clip(np.asarray(n_failed, dtype=np.float64), 0.0, n)
    return np.asarray((n - k) / n, dtype=np.float64)


def aisle_deficit_frac(demand_m3_per_s: ArrayLike, supply_m3_per_s: ArrayLike) -> FloatArray:
    """Share of the servers' intake that the cooling units do not supply: max(0, 1 − V̇_sup/V̇_dem).

    Args:
        demand_m3_per_s: airflow the servers of an aisle draw, m³/s.
        supply_m3_per_s: airflow the units deliver to that aisle, m³/s.

    Returns:
        Deficit fraction in [0, MAX_DEFICIT_FRAC].
    """
    dem = np.asarray(demand_m3_per_s, dtype=np.float64)
    sup = np.asarray(supply_m3_per_s, dtype=np.float64)
    ratio = np.divide(sup, dem, out=np.ones_like(dem * sup), where=dem > 0.0)
    return np.asarray(np.clip(1.0 - ratio, 0.0, MAX_DEFICIT_FRAC), dtype=np.float64)


def deficit_inlet_rise_k(
    deficit_frac: ArrayLike, heat_w: ArrayLike, demand_m3_per_s: ArrayLike
) -> FloatArray:
    """Inlet rise above supply when a deficit m of the intake is hot-aisle exhaust.

    Mixing m of exhaust (T_in + ΔT) into (1 − m) of supply air gives
    T_in − T_sup = m/(1 − m)·ΔT with ΔT = P/(ρ·c_p·V̇_dem), so the rise grows with the deficit
    and without bound as m → 1 (capped by ``MAX_DEFICIT_FRAC``).

    Args:
        deficit_frac: m from :func:`aisle_deficit_frac`.
        heat_w: heat the servers of the aisle put into the air, W.
        demand_m3_per_s: their airflow, m³/s (> 0).

    Returns:
        Rise in K, broadcast shape.

    References:
        Air energy balance (physics.md §3.2); the supply heat index SHI = (T_in − T_sup)/(T_out −
        T_sup) of Sharma, Bash, Patel (AIAA 2002-3091) equals m here.

    Examples:
        >>> round(float(deficit_inlet_rise_k(0.2, 10_200.0, 0.5215)), 2)
        4.09
    """
    m = np.clip(np.asarray(deficit_frac, dtype=np.float64), 0.0, MAX_DEFICIT_FRAC)
    dem = np.asarray(demand_m3_per_s, dtype=np.float64)
    dt_srv = np.divide(
        np.asarray(heat_w, dtype=np.float64), _RHO_CP * dem, out=np.zeros_like(dem), where=dem > 0
    )
    return np.asarray(m / (1.0 - m) * dt_srv, dtype=np.float64)


# --- chip side --------------------------------------------------------------------------------


def r_scale_for_airflow(airflow_frac: ArrayLike) -> FloatArray:
    """Factor on a heat sink's thermal resistance when its airflow changes: (V̇/V̇_0)^−0.8.

    Args:
        airflow_frac: airflow relative to the one the catalog R was taken at (> 0).

    Returns:
        Multiplier on R (≥ 1 for less air), broadcast shape.

    References:
        Forced convection h ∝ Re^0.8 (Dittus–Boelter; textbook).
    """
    f = np.clip(np.asarray(airflow_frac, dtype=np.float64), 0.05, None)
    return np.asarray(f**-CONVECTION_EXPONENT, dtype=np.float64)


def liquid_r_k_per_w(sku: GpuSku, *, coolant_max_c: float = LIQUID_MAX_COOLANT_TEMP_C) -> float:
    """Die-to-coolant resistance of a cold plate, design bound (T_maxop − T_coolant,max)/TDP.

    The same construction as the catalog's air bound (physics.md §3.1: (87 − 30 °C)/700 W), with
    the W45 coolant limit in place of the 30 °C air inlet: H100 SXM (87 − 45)/700 = 0.06 K/W.

    Args:
        sku: GPU record (``max_operating_temp_c``, ``tdp_w``).
        coolant_max_c: highest coolant supply the plate is designed for, °C.

    Returns:
        R in K/W.

    References:
        physics.md §3.1 (design bound) and §3.6 (ASHRAE W45); no primary cold-plate R was found
        (physics.md §10 gap 1).
    """
    return (sku.max_operating_temp_c - coolant_max_c) / sku.tdp_w


def hbm_temp_c(
    die_temp_c: ArrayLike,
    memory_bound_frac: ArrayLike,
    load_frac: ArrayLike,
    *,
    rise_k: float = HBM_MEMORY_BOUND_RISE_K,
) -> FloatArray:
    """HBM temperature: the die temperature plus a rise that grows with memory-bound load.

    T_mem = T_die + ΔT_mem·(1 − β)·L, with β the compute-bound share and L the load (activity).

    Args:
        die_temp_c: die temperature, °C.
        memory_bound_frac: 1 − β of the running job.
        load_frac: activity in [0, 1].
        rise_k: ΔT_mem of a fully memory-bound, fully loaded GPU, K.

    Returns:
        HBM temperature, °C, broadcast shape.

    References:
        physics.md §3.1 (HBM 20–35 K hotter than the core under memory-bound load [S]).
    """
    mb = np.clip(np.asarray(memory_bound_frac, dtype=np.float64), 0.0, 1.0)
    ld = np.clip(np.asarray(load_frac, dtype=np.float64), 0.0, 1.0)
    return np.asarray(np.asarray(die_temp_c, dtype=np.float64) + rise_k * mb * ld)


# --- one facility step: the pieces above put together --------------------------------------

COIL_EFFECTIVENESS_FRAC = 0.7
"""Air-side effectiveness of a CRAH coil, ε in G = ε·ρ·c_p·V̇ (extra heat a unit removes per K
its return air is warmer than design). ASSUMED [weak]: typical chilled-water coils 0.6–0.8."""


@dataclass(frozen=True)
class HallAir:
    """Static description of a hall's air side and plant for :func:`facility_step`.

    Attributes:
        rack_aisle: cold-aisle index of each rack, shape (n_racks,).
        n_aisles: number of cold aisles.
        crah_airflow_m3_per_s: airflow of each CRAH/CRAC unit, shape (n_units,).
        crah_capacity_w: sensible (coil) capacity of each unit, W, shape (n_units,).
        crah_aisle_share: share of each unit's air delivered to each aisle, (n_units, n_aisles),
            rows summing to 1.
        bypass_frac: share of supplied air that bypasses the IT equipment.
        air_capacity_j_per_k: room air heat capacity C_a.
        solid_capacity_j_per_k: rack/server solid heat capacity C_s.
        exchange_w_per_k: hA between air and solid.
        chiller_capacity_w: rated chiller capacity (inf = sized to the load).
        dry_cooler_capacity_w: dry-cooler capacity at its design ITD (0 = none).
        dry_cooler_itd_k: design ITD of the dry cooler, K.
        water_return_temp_c: water returning to the plant, °C (dry cooler ITD reference).
        supply_setpoint_c: supply-air set-point, °C.
    """

    rack_aisle: IntArray
    n_aisles: int
    crah_airflow_m3_per_s: FloatArray
    crah_capacity_w: FloatArray
    crah_aisle_share: FloatArray
    bypass_frac: float
    air_capacity_j_per_k: float
    solid_capacity_j_per_k: float
    exchange_w_per_k: float
    chiller_capacity_w: float
    dry_cooler_capacity_w: float
    dry_cooler_itd_k: float
    water_return_temp_c: float
    supply_setpoint_c: float


@dataclass(frozen=True, slots=True)
class FacilityStep:
    """Result of :func:`facility_step` (arrays per rack or aisle; W, °C, J).

    Attributes:
        room: the room state after the step (supply air and solid temperatures).
        capacity_w: what the cooling could remove at the set-point during the step.
        removed_j: heat the cooling removed during the step (energy balance: heat in − stored).
        stored_j: heat stored in the room's thermal mass during the step.
        aisle_deficit_frac: airflow deficit of each cold aisle.
        rack_deficit_rise_k: rise of each rack's top inlet from hot air pulled in by the deficit.
    """

    room: RoomState
    capacity_w: float
    removed_j: float
    stored_j: float
    aisle_deficit_frac: FloatArray
    rack_deficit_rise_k: FloatArray


def facility_step(  # noqa: PLR0917 (one physical step: every input is needed)
    hall: HallAir,
    room: RoomState,
    rack_heat_w: ArrayLike,
    rack_airflow_m3_per_s: ArrayLike,
    outdoor_temp_c: float,
    unit_failed: ArrayLike,
    chiller_ok_frac: float,
    dt_s: float,
    *,
    deficit_top_factor: float = 5.0 / 3.0,
) -> FacilityStep:
    """Advance the room over one facility step with the heat and airflow of the racks.

    Capacity at the set-point is min(working CRAH coils, plant), the plant being the chillers'
    available capacity at the outdoor temperature (times ``chiller_ok_frac``) plus the dry
    cooler's free capacity. The room (supply air) temperature follows :func:`room_step`; extra
    removal as the air warms is G = ε·ρ·c_p·V̇ of the working units. Per aisle, the units'
    delivered air (less bypass) is set against the racks' demand, and a deficit puts hot air at
    the top inlets (``deficit_top_factor``·m, the share :mod:`kiban.physics.recirculation` uses).

    Args:
        hall: static description.
        room: room state at the start of the step.
        rack_heat_w: heat each rack puts into the room air, W, shape (n_racks,).
        rack_airflow_m3_per_s: airflow each rack's servers draw, m³/s, shape (n_racks,).
        outdoor_temp_c: outdoor dry bulb (condenser / dry cooler air), °C.
        unit_failed: True for CRAH/CRAC units that are down, shape (n_units,).
        chiller_ok_frac: share of chiller capacity in service (1 = all).
        dt_s: step length, s.
        deficit_top_factor: top-inlet share of the aisle's deficit.

    Returns:
        A :class:`FacilityStep`.

    References:
        See the module docstring (EnergyPlus chiller curve, Khankari 2011, fan laws, Tang 2008).
    """
    heat = np.asarray(rack_heat_w, dtype=np.float64)
    flow = np.asarray(rack_airflow_m3_per_s, dtype=np.float64)
    failed = np.asarray(unit_failed, dtype=bool)
    working = ~failed
    q_total = float(heat.sum())
    crah_w = float(hall.crah_capacity_w[working].sum())
    chiller_w = (
        float(
            chiller_available_capacity_w(hall.chiller_capacity_w, outdoor_temp_c) * chiller_ok_frac
        )
        if np.isfinite(hall.chiller_capacity_w)
        else np.inf
    )
    dry_w = float(
        dry_cooler_capacity_w(
            hall.dry_cooler_capacity_w,
            hall.water_return_temp_c,
            outdoor_temp_c,
            hall.dry_cooler_itd_k,
        )
    )
    capacity_w = min(crah_w, chiller_w + dry_w)
    # coils take more heat as the room warms, but only while the plant has capacity left
    v_work = float(hall.crah_airflow_m3_per_s[working].sum())
    g = COIL_EFFECTIVENESS_FRAC * _RHO_CP * v_work if crah_w < chiller_w + dry_w else 0.0
    new = room_step(
        room.air_temp_c,
        room.solid_temp_c,
        hall.supply_setpoint_c,
        q_total,
        capacity_w,
        g,
        hall.air_capacity_j_per_k,
        hall.solid_capacity_j_per_k,
        hall.exchange_w_per_k,
        dt_s,
    )
    stored = hall.air_capacity_j_per_k * float(new.air_temp_c - room.air_temp_c)
    stored += hall.solid_capacity_j_per_k * float(new.solid_temp_c - room.solid_temp_c)
    # airflow balance per aisle
    supplied = (hall.crah_airflow_m3_per_s * working) @ hall.crah_aisle_share
    supplied = supplied * (1.0 - hall.bypass_frac)
    demand = np.bincount(hall.rack_aisle, weights=flow, minlength=hall.n_aisles)
    m = aisle_deficit_frac(demand, supplied)
    top = np.minimum(MAX_DEFICIT_FRAC, deficit_top_factor * m[hall.rack_aisle])
    rise = deficit_inlet_rise_k(top, heat, flow)
    return FacilityStep(
        room=new,
        capacity_w=capacity_w,
        removed_j=q_total * dt_s - stored,
        stored_j=stored,
        aisle_deficit_frac=m,
        rack_deficit_rise_k=rise,
    )


# --- outdoor conditions by the hour -------------------------------------------------------------

DIURNAL_PEAK_HOUR = 15.0
"""Local time (h) of the daily temperature maximum. Measured: the mean diurnal cycle of the 11
TMYx sites in ``dcrl-weather-carbon/Weather`` peaks in the hour ending 14:00–16:00 (climate.
onebuilding.org TMYx via HPE SustainDC); a symmetric sinusoid fits them best near 15:00 (the
real cycle warms fast and cools slowly: shape error ≤ 30 % of the half-range, tested)."""

DIURNAL_HALF_RANGE_K = 3.5
"""Half the daily range used with monthly normals: Tokyo's 1991–2020 normals put daily max −
min at ≈ 7 K (climate.py ``MONTHLY_DRY_BULB_STD_K`` notes, [D, weak]); the TMYx sites above span
2.5–6.5 K (humid coasts low, deserts high)."""


_MONTH_EDGES: dict[int, tuple[MonthlyClimate, float, FloatArray]] = {}
"""Per monthly climate (by id, the climate kept so the id stays its own): the year's length (s)
and the months' start times (s), which the facility step would otherwise rebuild every hour."""


def _month_edges(climate: MonthlyClimate) -> tuple[float, FloatArray]:
    """The year's length and the months' edges of ``climate`` (computed once per climate)."""
    known = _MONTH_EDGES.get(id(climate))
    if known is None or known[0] is not climate:
        if len(_MONTH_EDGES) > 64:  # a handful of climates per process
            _MONTH_EDGES.clear()
        edges = np.concatenate(([0.0], np.cumsum(climate.duration_s)))
        edges.flags.writeable = False
        known = _MONTH_EDGES[id(climate)] = (climate, float(climate.duration_s.sum()), edges)
    return known[1], known[2]


def outdoor_dry_bulb_c(
    time_s: ArrayLike,
    climate: MonthlyClimate | HourlyClimate,
    *,
    start_s: float = 0.0,
    half_range_k: float = DIURNAL_HALF_RANGE_K,
    peak_hour: float = DIURNAL_PEAK_HOUR,
) -> FloatArray:
    """Outdoor dry bulb at run times: the hourly series, or monthly normals with a daily cycle.

    Hourly climates are indexed by hour of the year (wrapping). For monthly normals::

        T(t) = T_month + A·cos(2π·(h − h_peak)/24),   h = local hour of day

    Args:
        time_s: run times, s (any shape).
        climate: :class:`~kiban.physics.climate.MonthlyClimate` or ``HourlyClimate``.
        start_s: time of year of the run's t = 0, s from 1 January 00:00 local.
        half_range_k: A, K (monthly normals only).
        peak_hour: hour of the daily maximum (monthly normals only).

    Returns:
        Dry bulb in °C, shape of ``time_s``.

    References:
        TMYx hourly files (climate.onebuilding.org) in ``dcrl-weather-carbon`` for the phase;
        JMA 1991–2020 normals for the monthly means.
    """
    t = np.asarray(time_s, dtype=np.float64) + start_s
    hour = np.floor(t / 3600.0).astype(np.int64)
    if isinstance(climate, HourlyClimate):
        n = climate.dry_bulb_c.size
        return np.asarray(climate.dry_bulb_c[np.mod(hour, n)], dtype=np.float64)
    year_s, edges = _month_edges(climate)
    month = np.minimum(np.maximum(edges.searchsorted(np.mod(t, year_s), side="right") - 1, 0), 11)
    hod = np.mod(t / 3600.0, 24.0)
    cyc = half_range_k * np.cos(2.0 * np.pi * (hod - peak_hour) / 24.0)
    return np.asarray(climate.dry_bulb_c[month] + cyc, dtype=np.float64)


def outdoor_dry_bulb_at_c(
    time_s: float,
    climate: MonthlyClimate | HourlyClimate,
    *,
    start_s: float = 0.0,
    half_range_k: float = DIURNAL_HALF_RANGE_K,
    peak_hour: float = DIURNAL_PEAK_HOUR,
) -> float:
    """:func:`outdoor_dry_bulb_c` at one time, in Python floats: the same value, bit for bit.

    The same IEEE operations in the same order (Python's float ``%`` is NumPy's ``np.mod``,
    ``bisect_right`` over the month edges is ``searchsorted(side="right")``, the cosine is
    NumPy's), without the array overhead: the in-loop facility asks for one hour at a time.
    """
    t = float(time_s) + start_s
    if isinstance(climate, HourlyClimate):
        n = climate.dry_bulb_c.size
        return float(climate.dry_bulb_c[math.floor(t / 3600.0) % n])
    year_s, edges = _month_edges(climate)
    month = min(max(bisect.bisect_right(edges.tolist(), t % year_s) - 1, 0), 11)
    hod = (t / 3600.0) % 24.0
    cyc = half_range_k * float(np.cos(2.0 * np.pi * (hod - peak_hour) / 24.0))
    return float(climate.dry_bulb_c[month] + cyc)


@dataclass(frozen=True, slots=True)
class ChipState:
    """Die and HBM temperatures, the clock ceiling and NVML clock-event reasons of GPUs."""

    die_temp_c: FloatArray
    hbm_temp_c: FloatArray
    clock_limit_frac: FloatArray
    reasons: IntArray


def chip_state(
    inlet_temp_c: ArrayLike,
    power_w: ArrayLike,
    sku: GpuSku,
    *,
    power_limit_w: ArrayLike,
    clock_frac: ArrayLike = 1.0,
    r_scale: ArrayLike = 1.0,
    liquid: ArrayLike = False,
    memory_bound_frac: ArrayLike = 0.1,
    load_frac: ArrayLike = 1.0,
    idle: ArrayLike = False,
    power_brake: ArrayLike = False,
) -> ChipState:
    """Steady die/HBM temperatures at a facility step and what the GPU's clock control does.

    Die: T = T_in + R·P, with R the catalog's air resistance times ``r_scale`` (less airflow,
    :func:`r_scale_for_airflow`), or the cold-plate bound (:func:`liquid_r_k_per_w`) where
    ``liquid`` (``inlet_temp_c`` is then the coolant supply). The die's time constant (≈ 30 s,
    catalog) is below a 60 s facility step, so the step uses the steady value. HBM from
    :func:`hbm_temp_c`. Clock ceiling and reason bits from
    :func:`kiban.physics.thermal.throttle_state` (SW power cap 0x04, SW thermal 0x20, HW
    thermal 0x48, power brake 0x88).

    Args:
        inlet_temp_c: air inlet (or coolant supply) of each GPU, °C.
        power_w: board power, W.
        sku: GPU record.
        power_limit_w: enforced power limit, W.
        clock_frac: current SM clock fraction.
        r_scale: multiplier on the air resistance.
        liquid: True for cold-plate GPUs.
        memory_bound_frac: 1 − β of the running job.
        load_frac: activity of the GPU.
        idle: True where no job runs.
        power_brake: True where an external power brake is asserted (feed loss, PSU fault).

    Returns:
        A :class:`ChipState` of the broadcast shape.

    References:
        physics.md §1.3 (clock-event reasons and the recommended state machine), §3.1.
    """
    liq = np.asarray(liquid, dtype=bool)
    r = np.where(liq, liquid_r_k_per_w(sku), sku.die_to_inlet_k_per_w * np.asarray(r_scale))
    die = thermal.steady_temp_c(inlet_temp_c, power_w, r)
    mem = hbm_temp_c(die, memory_bound_frac, load_frac)
    args = np.broadcast_arrays(
        die,
        np.asarray(power_w, dtype=np.float64),
        np.asarray(power_limit_w, dtype=np.float64),
        np.asarray(clock_frac, dtype=np.float64),
        np.asarray(inlet_temp_c, dtype=np.float64),
        mem,
        np.asarray(idle, dtype=bool),
        np.asarray(power_brake, dtype=bool),
        r,
    )
    die, pw, lim, clk, inl, mem, idl, brk, r = (np.ascontiguousarray(a) for a in args)
    # only GPUs at a limit need the state machine; the others run free (GPU_IDLE bit if idle)
    hot = (die >= sku.max_operating_temp_c) | (mem >= sku.mem_max_temp_c) | (pw >= lim) | brk
    clock = np.ones(die.shape, dtype=np.float64)
    reasons = np.where(idl, int(thermal.GPU_IDLE), 0).astype(np.int64)
    if np.any(hot):
        c_h, r_h = thermal.throttle_state(
            die[hot],
            pw[hot],
            lim[hot],
            sku,
            clock_frac=clk[hot],
            inlet_temp_c=inl[hot],
            mem_temp_c=mem[hot],
            idle=idl[hot],
            power_brake=brk[hot],
            r_k_per_w=r[hot],
        )
        clock[hot] = c_h
        reasons[hot] = r_h
    return ChipState(
        die_temp_c=np.asarray(die, dtype=np.float64),
        hbm_temp_c=np.asarray(mem, dtype=np.float64),
        clock_limit_frac=clock,
        reasons=reasons,
    )


# --- power brake: a server whose remaining PSUs cannot carry it ----------------------------------

POWER_BRAKE_CLOCK_FRAC = thermal.DEFAULT_HW_SLOWDOWN_CLOCK_FRAC
"""SM clock ceiling while the external power brake is asserted: the brake is a HW slowdown,
which cuts core clocks "by a factor of 2 or more" (nvml.h, ``HwSlowdown``: "External Power Brake
Assertion is triggered (e.g. by the system power supply)"; physics.md §1.3). The bound, ½, is
used: the brake holds it while the fault lasts."""


def psus_left(psu_count: ArrayLike, feeds: ArrayLike, feeds_lost: ArrayLike) -> IntArray:
    """PSUs of a server still powered when ``feeds_lost`` of its rack's ``feeds`` are lost.

    A server's PSU cords are spread evenly over the rack's feeds (A/B: a DGX H100's six cords,
    three on each side), so a lost feed takes its share of them; when the count does not divide
    evenly the larger share is lost (``ceil``).

    Args:
        psu_count: PSUs per server.
        feeds: feeds per rack (≥ 1).
        feeds_lost: feeds lost now (0 … feeds).

    Returns:
        Powered PSUs (≥ 0), broadcast shape.

    Examples:
        >>> int(psus_left(6, 2, 1))
        3
    """
    n = np.asarray(psu_count, dtype=np.int64)
    f = np.maximum(np.asarray(feeds, dtype=np.int64), 1)
    lost = np.clip(np.asarray(feeds_lost, dtype=np.int64), 0, f)
    return np.asarray(np.maximum(n - (-(-n * lost // f)), 0), dtype=np.int64)


def psu_power_brake(
    max_power_w: ArrayLike,
    psu_count: ArrayLike,
    psu_rating_w: ArrayLike,
    feeds: ArrayLike,
    feeds_lost: ArrayLike,
) -> BoolArray:
    """Whether a server's GPUs are power-braked: some feeds lost and its PSUs left < its max power.

    A server that lost some (not all) of its feeds runs on the PSUs still powered
    (:func:`psus_left`). If they cannot deliver its maximum power, the PSUs assert the GPUs'
    external power brake (NVML ``HW_POWER_BRAKE_SLOWDOWN``, 0x80, with ``HW_SLOWDOWN``): the
    server keeps running at reduced performance instead of tripping. DGX H100: 6 × 3.3 kW in
    4+2; losing one feed of two leaves 3 PSUs = 9.9 kW < 10.2 kW, and NVIDIA's user guide says
    the system "continues to function, but at a reduced performance level". DGX A100: 6 × 3 kW
    in 3+3; three PSUs (9 kW) carry its 6.5 kW "at full power". A server with no working feed is
    down, not braked; one with unknown PSUs (``psu_count`` 0) rides through.

    Args:
        max_power_w: the server's maximum (nameplate) wall power, W.
        psu_count: PSUs per server (0 = unknown).
        psu_rating_w: rating of one PSU, W.
        feeds: feeds per rack.
        feeds_lost: feeds lost now.

    Returns:
        Boolean array, broadcast shape.

    References:
        NVIDIA DGX H100/H200 User Guide, "Power Specifications" and "Support for PSU Redundancy
        and Continuous Operation" (six 3,300 W PSUs, 4+2); NVIDIA DGX A100 User Guide (six
        3,000 W PSUs, 3+3); nvml.h clock-event reasons (physics.md §1.3).

    Examples:
        >>> bool(psu_power_brake(10_200.0, 6, 3300.0, 2, 1))
        True
        >>> bool(psu_power_brake(6_500.0, 6, 3000.0, 2, 1))
        False
    """
    n = np.asarray(psu_count, dtype=np.int64)
    f = np.maximum(np.asarray(feeds, dtype=np.int64), 1)
    lost = np.asarray(feeds_lost, dtype=np.int64)
    cap_w = psus_left(n, f, lost) * np.asarray(psu_rating_w, dtype=np.float64)
    partial = (lost > 0) & (lost < f)
    short = cap_w < np.asarray(max_power_w, dtype=np.float64)
    return np.asarray(partial & (n > 0) & short, dtype=np.bool_)


def power_at_clock_w(
    activity_frac: ArrayLike,
    power_factor: ArrayLike,
    sku: GpuSku,
    clock_frac: ArrayLike,
) -> FloatArray:
    """Board power of a job's compute phase at a clock ceiling: the board cap that holds it there.

    P(φ) = P_d·(s + (1 − s)·φ^γ) with the demand at full clock P_d = P_idle + (P_tdp −
    P_idle)·A·ε (the form of :func:`kiban.physics.activity.phase_power`, whose cap solver
    returns φ again for this cap), never below the idle-with-context power.

    Args:
        activity_frac: A of the job's compute phase.
        power_factor: ε, the job's power factor.
        sku: GPU record (idle, TDP, s = ``static_power_frac``, γ = ``power_exponent``).
        clock_frac: the clock ceiling φ.

    Returns:
        Power in W, broadcast shape.

    References:
        physics.md §2.2–2.3 (power law and the Zeus fit of s and γ).
    """
    idle_w = sku.idle_context_power_w
    a = np.clip(np.asarray(activity_frac, dtype=np.float64), 0.0, 1.0)
    demand = idle_w + (sku.tdp_w - idle_w) * a * np.asarray(power_factor, dtype=np.float64)
    phi = np.clip(np.asarray(clock_frac, dtype=np.float64), 0.0, 1.0)
    s = sku.static_power_frac
    return np.asarray(
        np.maximum(idle_w, demand * (s + (1.0 - s) * phi**sku.power_exponent)), dtype=np.float64
    )
