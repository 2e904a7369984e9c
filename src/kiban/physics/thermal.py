"""GPU and server thermals: chip RC model, threshold timing, throttle state machine, air balance.

Everything here is pure, vectorized numpy: arguments broadcast against each other, nothing is
mutated, nothing is logged. Temperatures are °C, temperature differences K, power W, time s,
airflow m³/s. Parameters come from :class:`kiban.catalog.GpuSku` records or plain arrays.

The chip model (physics.md §3.1) is a single thermal node between the die and the server inlet::

    C · dT/dt = P − (T − T_in) / R,      τ = R · C

Its response to piecewise-constant power and inlet temperature is exact in closed form, so the
simulator advances it event to event (:func:`step_temp_c`) and schedules throttle events with
:func:`time_to_reach_s` instead of integrating numerically.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Literal

import numpy as np

from kiban.units import AIR_DENSITY_KG_PER_M3, AIR_SPECIFIC_HEAT_J_PER_KG_K

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, BoolArray, FloatArray, IntArray
    from kiban.catalog import GpuSku

__all__ = [
    "DEFAULT_HW_SLOWDOWN_CLOCK_FRAC",
    "DEFAULT_MIN_CLOCK_FRAC",
    "GPU_IDLE",
    "HW_POWER_BRAKE",
    "HW_SLOWDOWN",
    "HW_THERMAL_SLOWDOWN",
    "SW_POWER_CAP",
    "SW_THERMAL_SLOWDOWN",
    "ClockEventReason",
    "exhaust_temp_c",
    "max_clock_frac_for_temp",
    "max_power_for_temp_w",
    "required_airflow_m3_per_s",
    "shutdown_mask",
    "steady_temp_c",
    "step_temp_c",
    "throttle_state",
    "time_to_reach_s",
]


class ClockEventReason(enum.IntFlag):
    """NVML clock-event ("throttle") reason bits, as reported by ``nvidia-smi -q``.

    Values are those of ``nvmlClocksEventReason*`` (old name ``nvmlClocksThrottleReason*``) in
    ``nvml.h`` / ``pynvml`` 13.615.71 (physics.md §1.3). A GPU reports a bitwise OR of them.

    Examples:
        >>> ClockEventReason(0x28)
        <ClockEventReason.HW_SLOWDOWN|SW_THERMAL_SLOWDOWN: 40>
    """

    NONE = 0x000
    GPU_IDLE = 0x001
    APPLICATIONS_CLOCKS_SETTING = 0x002
    SW_POWER_CAP = 0x004
    HW_SLOWDOWN = 0x008
    SYNC_BOOST = 0x010
    SW_THERMAL_SLOWDOWN = 0x020
    HW_THERMAL_SLOWDOWN = 0x040
    HW_POWER_BRAKE = 0x080
    DISPLAY_CLOCK_SETTING = 0x100


GPU_IDLE = ClockEventReason.GPU_IDLE
SW_POWER_CAP = ClockEventReason.SW_POWER_CAP
HW_SLOWDOWN = ClockEventReason.HW_SLOWDOWN
SW_THERMAL_SLOWDOWN = ClockEventReason.SW_THERMAL_SLOWDOWN
HW_THERMAL_SLOWDOWN = ClockEventReason.HW_THERMAL_SLOWDOWN
HW_POWER_BRAKE = ClockEventReason.HW_POWER_BRAKE

DEFAULT_HW_SLOWDOWN_CLOCK_FRAC = 0.5
"""Clock ceiling (fraction of max SM clock) during HW slowdown: nvml.h says HW slowdown cuts core
clocks "by a factor of 2 or more" (physics.md §1.3)."""

DEFAULT_MIN_CLOCK_FRAC = 0.1
"""Floor of the DVFS range as a fraction of max SM clock (kiban assumption, [R]: Hopper/Ampere
boards list supported SM clocks down to roughly 200 MHz of 1,400–2,000 MHz). SW capping never
asks for less; only shutdown sets the clock to 0."""

_RHO_CP_J_PER_M3_K = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K


def _f64(value: ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


# --- chip RC model -------------------------------------------------------------------------


def steady_temp_c(inlet_temp_c: ArrayLike, power_w: ArrayLike, r_k_per_w: ArrayLike) -> FloatArray:
    """Steady-state die temperature of the lumped RC model.

    Equation: ``T_ss = T_in + R · P``.

    Args:
        inlet_temp_c: Air (or coolant) temperature at the GPU's heat sink inlet, °C.
        power_w: Board power, W (≥ 0).
        r_k_per_w: Die-to-inlet thermal resistance, K/W (> 0; H100 SXM air ≈ 0.05–0.081).

    Returns:
        Die temperature in °C, with the broadcast shape of the inputs.

    Valid range:
        Air-cooled boards with inlet 5–45 °C and power up to TDP; liquid cold plates with
        ``inlet_temp_c`` = coolant supply and a smaller R.

    References:
        physics.md §3.1 (lumped RC model; R bound (T_maxop − 30 °C)/TDP from the NVIDIA
        threshold table and the 30 °C maximum inlet of the DGX H100 User Guide).

    Examples:
        >>> float(steady_temp_c(25.0, 700.0, 0.07))
        74.0
    """
    return _f64(inlet_temp_c) + _f64(r_k_per_w) * _f64(power_w)


def _decay_frac(dt_s: ArrayLike, tau_s: ArrayLike) -> FloatArray:
    """exp(−dt/τ) with τ = 0 meaning an instantaneous response (and dt = 0 meaning none)."""
    dt = _f64(dt_s)
    tau = _f64(tau_s)
    dt, tau = np.broadcast_arrays(dt, tau)
    with np.errstate(over="ignore"):  # dt/τ → inf for a tiny τ is the right limit
        ratio = np.divide(dt, tau, out=np.where(dt > 0.0, np.inf, 0.0), where=tau > 0.0)
    return np.exp(-ratio)


def step_temp_c(  # noqa: PLR0917 (positional order fixed by docs/contracts.md)
    temp0_c: ArrayLike,
    inlet_temp_c: ArrayLike,
    power_w: ArrayLike,
    r_k_per_w: ArrayLike,
    tau_s: ArrayLike,
    dt_s: ArrayLike,
) -> FloatArray:
    """Advance the die temperature by ``dt_s`` under constant power and inlet temperature.

    Equation (closed-form solution of ``C·dT/dt = P − (T − T_in)/R``)::

        T(t0 + dt) = T_ss + (T(t0) − T_ss) · exp(−dt / τ),   T_ss = T_in + R·P

    It is exact for piecewise-constant power and inlet, so an event-driven simulator can call it
    once per interval between events, whatever the interval's length.

    Args:
        temp0_c: Die temperature at the start of the interval, °C.
        inlet_temp_c: Inlet temperature during the interval, °C.
        power_w: Board power during the interval, W (≥ 0).
        r_k_per_w: Die-to-inlet thermal resistance, K/W (> 0).
        tau_s: Thermal time constant τ = R·C, s (≥ 0; 0 means the die follows instantly).
        dt_s: Interval length, s (≥ 0).

    Returns:
        Die temperature at the end of the interval, °C, broadcast shape of the inputs.

    Valid range:
        As :func:`steady_temp_c`; τ of GPUs is tens of seconds (20–60 s, weak, physics.md §3.1).

    References:
        physics.md §3.1; the solution of a first-order linear ODE with constant input.

    Examples:
        >>> round(float(step_temp_c(25.0, 25.0, 700.0, 0.07, 30.0, 30.0)), 3)
        55.974
    """
    t_ss = steady_temp_c(inlet_temp_c, power_w, r_k_per_w)
    return t_ss + (_f64(temp0_c) - t_ss) * _decay_frac(dt_s, tau_s)


def time_to_reach_s(  # noqa: PLR0917 (positional order fixed by docs/contracts.md)
    temp0_c: ArrayLike,
    inlet_temp_c: ArrayLike,
    power_w: ArrayLike,
    r_k_per_w: ArrayLike,
    tau_s: ArrayLike,
    threshold_c: ArrayLike,
    *,
    direction: Literal["rising", "falling"] = "rising",
) -> FloatArray:
    """Seconds until the die temperature crosses a threshold under constant power.

    Inverts the step response of :func:`step_temp_c`. Rising (the default)::

        t = 0                                   if T0 ≥ θ   (already at or above)
        t = ∞                                   if T_ss ≤ θ (never gets there)
        t = τ · ln((T_ss − T0) / (T_ss − θ))    otherwise

    Falling is the mirror image (0 if T0 ≤ θ, ∞ if T_ss ≥ θ), used to schedule the end of a
    thermal slowdown. The simulator schedules throttle events at these times.

    Args:
        temp0_c: Die temperature now, °C.
        inlet_temp_c: Inlet temperature, held constant, °C.
        power_w: Board power, held constant, W.
        r_k_per_w: Die-to-inlet thermal resistance, K/W (> 0).
        tau_s: Thermal time constant, s (≥ 0).
        threshold_c: Threshold temperature θ, °C (e.g. ``sku.max_operating_temp_c``).
        direction: ``"rising"`` (crossing upward) or ``"falling"`` (crossing downward).

    Returns:
        Time in s (≥ 0, ``np.inf`` where the threshold is never crossed), broadcast shape.

    Valid range:
        As :func:`step_temp_c`.

    References:
        physics.md §1.3 (throttle thresholds) and §3.1 (RC model).

    Examples:
        >>> round(float(time_to_reach_s(40.0, 25.0, 700.0, 0.07, 30.0, 70.0)), 2)
        64.2
        >>> float(time_to_reach_s(40.0, 25.0, 300.0, 0.07, 30.0, 87.0))
        inf
    """
    t0 = _f64(temp0_c)
    t_ss = steady_temp_c(inlet_temp_c, power_w, r_k_per_w)
    theta = _f64(threshold_c)
    tau = _f64(tau_s)
    t0, t_ss, theta, tau = np.broadcast_arrays(t0, t_ss, theta, tau)
    if direction not in ("rising", "falling"):
        msg = f"time_to_reach_s: direction = {direction!r}: allowed 'rising' or 'falling'"
        raise ValueError(msg)
    sign = 1.0 if direction == "rising" else -1.0
    already = sign * (t0 - theta) >= 0.0
    never = ~already & (sign * (t_ss - theta) <= 0.0)
    finite = ~(already | never)
    num = np.where(finite, t_ss - t0, 1.0)
    den = np.where(finite, t_ss - theta, 1.0)
    t = tau * np.log(num / den)
    out = np.where(already, 0.0, np.where(never, np.inf, t))
    return np.asarray(out, dtype=np.float64)


# --- throttling ----------------------------------------------------------------------------


def max_power_for_temp_w(
    inlet_temp_c: ArrayLike, r_k_per_w: ArrayLike, max_temp_c: ArrayLike
) -> FloatArray:
    """Highest steady board power that keeps the die at or below ``max_temp_c``.

    Equation: ``P_max = (T_max − T_in) / R`` (may be negative when the inlet is already too hot).

    Args:
        inlet_temp_c: Inlet temperature, °C.
        r_k_per_w: Die-to-inlet thermal resistance, K/W (> 0).
        max_temp_c: Temperature limit, °C (e.g. ``sku.max_operating_temp_c``).

    Returns:
        Power in W, broadcast shape.

    References:
        physics.md §3.1 (steady state of the RC model).

    Examples:
        >>> round(float(max_power_for_temp_w(30.0, 0.081, 87.0)), 1)
        703.7
    """
    return (_f64(max_temp_c) - _f64(inlet_temp_c)) / _f64(r_k_per_w)


def max_clock_frac_for_temp(  # noqa: PLR0917 (positional order fixed by docs/contracts.md)
    inlet_temp_c: ArrayLike,
    r_k_per_w: ArrayLike,
    max_temp_c: ArrayLike,
    idle_power_w: ArrayLike,
    dynamic_power_w: ArrayLike,
    gamma: ArrayLike,
) -> FloatArray:
    """Highest steady clock that keeps the die at or below ``max_temp_c``.

    This is the equilibrium of NVIDIA's SW thermal slowdown: the driver lowers the clock until
    the temperature holds at the GPU max operating temperature. With the power law
    ``P(f) = P_idle + P_dyn · f^γ`` (``f`` = clock / max clock, ``P_dyn = (P_tdp − P_idle)·A``)::

        f* = clip(((T_max − T_in)/R − P_idle) / P_dyn) ^ (1/γ), 0, 1)

    ``f* = 0`` when even idle power overheats the die; ``f* = 1`` when full clock is safe.

    Args:
        inlet_temp_c: Inlet temperature, °C.
        r_k_per_w: Die-to-inlet thermal resistance, K/W (> 0).
        max_temp_c: Temperature to hold, °C (``sku.max_operating_temp_c``).
        idle_power_w: Power at zero dynamic activity, W (``sku.idle_context_power_w``).
        dynamic_power_w: Dynamic power at full clock for the running job, W (≥ 0).
        gamma: Clock exponent of dynamic power (≈ 2.9, range 2–3; physics.md §2.2).

    Returns:
        Clock fraction in [0, 1], broadcast shape.

    Valid range:
        The DVFS range; the power law is a fit (physics.md §2.2–2.3).

    References:
        physics.md §1.3 (SW thermal slowdown, "clocks reduced so GPU temp ≤ GPU Max Operating
        Temp"), §2.2 (power law), §3.1 (RC steady state).

    Examples:
        >>> round(float(max_clock_frac_for_temp(35.0, 0.08, 87.0, 140.0, 560.0, 2.9)), 3)
        0.968
    """
    p_allow_w = max_power_for_temp_w(inlet_temp_c, r_k_per_w, max_temp_c)
    idle_w = _f64(idle_power_w)
    dyn_w = _f64(dynamic_power_w)
    g = _f64(gamma)
    p_allow_w, idle_w, dyn_w, g = np.broadcast_arrays(p_allow_w, idle_w, dyn_w, g)
    headroom_w = p_allow_w - idle_w
    has_dyn = dyn_w > 0.0
    ratio = np.divide(headroom_w, dyn_w, out=np.zeros_like(headroom_w), where=has_dyn)
    frac = np.clip(ratio, 0.0, None) ** (1.0 / g)
    frac = np.where(has_dyn, frac, np.where(headroom_w >= 0.0, 1.0, 0.0))
    return np.asarray(np.clip(frac, 0.0, 1.0), dtype=np.float64)


def shutdown_mask(temp_c: ArrayLike, sku: GpuSku) -> BoolArray:
    """GPUs at or above the shutdown temperature (the node goes offline: a failure event).

    Args:
        temp_c: Die temperature, °C, any shape.
        sku: GPU record (``shutdown_temp_c``).

    Returns:
        Boolean array of the shape of ``temp_c``. Reduce with ``np.any(mask, axis=-1)`` over the
        GPUs of a node to get the node-offline flag.

    References:
        physics.md §1.3 (``T_gpu ≥ shutdown → node offline``); NVML threshold SHUTDOWN.
    """
    return np.asarray(_f64(temp_c) >= sku.shutdown_temp_c, dtype=np.bool_)


def _clock_for_power(
    target_power_w: FloatArray,
    power_w: FloatArray,
    clock_frac: FloatArray,
    idle_power_w: FloatArray,
    gamma: FloatArray,
) -> FloatArray:
    """Clock at which power falls to ``target_power_w``, from the current operating point.

    With ``P = P_idle + k·f^γ`` and the current point (f0, P0): ``f = f0·((Pt − P_idle)/(P0 −
    P_idle))^(1/γ)``; the activity factor cancels, so the job's activity need not be known.
    """
    dyn_now_w = power_w - idle_power_w
    known = dyn_now_w > 0.0
    ratio = np.divide(
        np.clip(target_power_w - idle_power_w, 0.0, None),
        dyn_now_w,
        out=np.zeros_like(dyn_now_w),
        where=known,
    )
    f = clock_frac * ratio ** (1.0 / gamma)
    # With no dynamic power to shed, the clock is not what heats the die: keep it if the
    # target is met, otherwise drop to the floor (the caller clips to min_clock_frac).
    fallback = np.where(target_power_w >= power_w, clock_frac, 0.0)
    return np.asarray(np.where(known, f, fallback), dtype=np.float64)


def throttle_state(
    temp_c: ArrayLike,
    power_w: ArrayLike,
    power_limit_w: ArrayLike,
    sku: GpuSku,
    *,
    clock_frac: ArrayLike = 1.0,
    inlet_temp_c: ArrayLike | None = None,
    mem_temp_c: ArrayLike | None = None,
    idle: ArrayLike = False,
    power_brake: ArrayLike = False,
    idle_power_w: ArrayLike | None = None,
    gamma: ArrayLike | None = None,
    r_k_per_w: ArrayLike | None = None,
    hw_slowdown_clock_frac: float = DEFAULT_HW_SLOWDOWN_CLOCK_FRAC,
    min_clock_frac: float = DEFAULT_MIN_CLOCK_FRAC,
) -> tuple[FloatArray, IntArray]:
    """Throttle state machine: the clock ceiling and NVML reason bits for each GPU.

    Rules (physics.md §1.3), all evaluated at once; the clock ceiling is the minimum of the
    active ones and the reasons are OR-ed::

        P ≥ power limit                   → SW_POWER_CAP (0x04); clock that brings P to the limit
        T ≥ max operating or T_mem ≥ mem max
                                          → SW_THERMAL_SLOWDOWN (0x20); clock whose steady
                                            temperature is the max operating temperature
        T ≥ slowdown (HW)                 → HW_THERMAL_SLOWDOWN|HW_SLOWDOWN (0x48); clock ≤ ½
        external power brake              → HW_POWER_BRAKE|HW_SLOWDOWN (0x88); clock ≤ ½
        T ≥ shutdown                      → HW bits, clock 0 (see :func:`shutdown_mask`)
        idle                              → GPU_IDLE (0x01); no clock change

    Clock targets use the power law ``P = P_idle + k·f^γ`` anchored at the current operating point
    ``(clock_frac, power_w)``, so the job's activity factor is not needed. For SW thermal slowdown
    the target power is ``(T_maxop − T_in)/R`` when ``inlet_temp_c`` is given, and otherwise the
    quasi-steady estimate ``P − (T − T_maxop)/R`` (exact when the die is at steady state). The
    state machine is memoryless: hysteresis and timing belong to the simulator, which schedules
    re-evaluation with :func:`time_to_reach_s`.

    Args:
        temp_c: Die temperature, °C, shape ``(n_gpus,)`` or any broadcastable shape.
        power_w: Board power at the current clock, W.
        power_limit_w: Enforced power limit, W (≤ ``sku.tdp_w``).
        sku: GPU record: thresholds, ``idle_context_power_w``, ``power_exponent``,
            ``die_to_inlet_k_per_w`` (the last three used unless overridden).
        clock_frac: Current SM clock as a fraction of max, (0, 1].
        inlet_temp_c: Inlet temperature, °C; enables the exact SW-thermal equilibrium.
        mem_temp_c: HBM temperature, °C; compared with ``sku.mem_max_temp_c``. The memory
            excess is converted to a power cut through the same R (single thermal path).
        idle: True where no job runs on the GPU.
        power_brake: True where an external power brake (PSU, rack breaker) is asserted.
        idle_power_w: Override of ``sku.idle_context_power_w``, W.
        gamma: Override of ``sku.power_exponent``.
        r_k_per_w: Override of ``sku.die_to_inlet_k_per_w``, K/W.
        hw_slowdown_clock_frac: Clock ceiling under HW slowdown (nvml.h: "≥ 2×" reduction).
        min_clock_frac: Floor of the DVFS range for SW throttling.

    Returns:
        ``(clock_frac_limit, reasons)``: the clock ceiling in [0, 1] (1 where nothing throttles,
        0 at shutdown) as float64, and the reason bits as int64 (decode one with
        ``ClockEventReason(int(reasons[i]))``), both of the broadcast shape.

    Valid range:
        Thresholds as in the NVIDIA tables (H100 SXM 87/89/92 °C, HBM 95 °C).

    References:
        physics.md §1.3 (NVML clock-event reasons from ``nvml.h``/``pynvml`` 13.615.71; the
        recommended simulator state machine), §2.2 (power law), §3.1 (RC steady state).
    """
    temp = _f64(temp_c)
    power = _f64(power_w)
    limit = _f64(power_limit_w)
    f0 = _f64(clock_frac)
    idle_w = _f64(sku.idle_context_power_w if idle_power_w is None else idle_power_w)
    g = _f64(sku.power_exponent if gamma is None else gamma)
    r = _f64(sku.die_to_inlet_k_per_w if r_k_per_w is None else r_k_per_w)
    mem = _f64(-np.inf if mem_temp_c is None else mem_temp_c)
    inlet = _f64(np.nan if inlet_temp_c is None else inlet_temp_c)
    is_idle = np.asarray(idle, dtype=np.bool_)
    brake = np.asarray(power_brake, dtype=np.bool_)
    temp, power, limit, f0, idle_w, g, r, mem, inlet, is_idle, brake = np.broadcast_arrays(
        temp, power, limit, f0, idle_w, g, r, mem, inlet, is_idle, brake
    )

    reasons = np.zeros(temp.shape, dtype=np.int64)
    ceiling = np.ones(temp.shape, dtype=np.float64)

    # SW power cap
    capped = power >= limit
    f_cap = _clock_for_power(limit, power, f0, idle_w, g)
    ceiling = np.where(capped, np.minimum(ceiling, f_cap), ceiling)
    reasons |= np.where(capped, int(SW_POWER_CAP), 0)

    # SW thermal slowdown (core at max operating, or memory at its max)
    core_hot = temp >= sku.max_operating_temp_c
    mem_hot = mem >= sku.mem_max_temp_c
    sw_thermal = core_hot | mem_hot
    target_quasi_w = power - (temp - sku.max_operating_temp_c) / r
    target_core_w = np.where(
        np.isnan(inlet), target_quasi_w, (sku.max_operating_temp_c - inlet) / r
    )
    target_mem_w = power - (mem - sku.mem_max_temp_c) / r
    target_w = np.where(core_hot, target_core_w, np.inf)
    target_w = np.minimum(target_w, np.where(mem_hot, target_mem_w, np.inf))
    f_thermal = np.minimum(
        _clock_for_power(np.where(sw_thermal, target_w, power), power, f0, idle_w, g), f0
    )
    ceiling = np.where(sw_thermal, np.minimum(ceiling, f_thermal), ceiling)
    reasons |= np.where(sw_thermal, int(SW_THERMAL_SLOWDOWN), 0)

    # Floor of the DVFS range for software throttling
    ceiling = np.clip(ceiling, min_clock_frac, 1.0)

    # HW slowdown (thermal) and external power brake
    hw_thermal = temp >= sku.slowdown_temp_c
    hw_any = hw_thermal | brake
    ceiling = np.where(hw_any, np.minimum(ceiling, hw_slowdown_clock_frac), ceiling)
    reasons |= np.where(hw_thermal, int(HW_THERMAL_SLOWDOWN | HW_SLOWDOWN), 0)
    reasons |= np.where(brake, int(HW_POWER_BRAKE | HW_SLOWDOWN), 0)

    # Shutdown: the board turns off
    shut = temp >= sku.shutdown_temp_c
    ceiling = np.where(shut, 0.0, ceiling)
    reasons |= np.where(shut, int(HW_THERMAL_SLOWDOWN | HW_SLOWDOWN), 0)

    reasons |= np.where(is_idle, int(GPU_IDLE), 0)
    return ceiling, reasons


# --- server air energy balance -------------------------------------------------------------


def exhaust_temp_c(
    inlet_temp_c: ArrayLike, power_w: ArrayLike, airflow_m3_per_s: ArrayLike
) -> FloatArray:
    """Server (or rack) exhaust air temperature from the steady air energy balance.

    Equation: ``T_out = T_in + P / (ρ · c_p · V̇)`` with ρ = 1.19 kg/m³ and c_p = 1005 J/(kg·K)
    (:data:`kiban.units.AIR_DENSITY_KG_PER_M3`, :data:`kiban.units.AIR_SPECIFIC_HEAT_J_PER_KG_K`).

    Args:
        inlet_temp_c: Inlet air temperature, °C.
        power_w: Heat released into the air stream, W (wall power minus any liquid capture).
        airflow_m3_per_s: Volumetric airflow through the server, m³/s (> 0).

    Returns:
        Exhaust temperature in °C, broadcast shape.

    Valid range:
        Dry air near sea level, 10–60 °C (ρ varies ≈ ±5 % over that range).

    References:
        Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11) 2008, Table 1 (ρ, c_p) and the heat model
        ``P_i = K_i (T_out − T_in)``; physics.md §3.2. DGX H100: 10.2 kW at 1105 CFM → +16.4 K
        (physics.md §1.2).

    Examples:
        >>> round(float(exhaust_temp_c(20.0, 10_200.0, 0.5215)), 2)
        36.35
    """
    return _f64(inlet_temp_c) + _f64(power_w) / (_RHO_CP_J_PER_M3_K * _f64(airflow_m3_per_s))


def required_airflow_m3_per_s(power_w: ArrayLike, delta_t_k: ArrayLike) -> FloatArray:
    """Airflow needed to carry ``power_w`` away with an exhaust-minus-inlet rise of ``delta_t_k``.

    Equation: ``V̇ = P / (ρ · c_p · ΔT)``.

    Args:
        power_w: Heat to remove into the air, W (≥ 0).
        delta_t_k: Allowed air temperature rise, K (> 0; servers typically 10–20 K).

    Returns:
        Airflow in m³/s, broadcast shape.

    References:
        As :func:`exhaust_temp_c` (Tang et al. 2008 Table 1; physics.md §3.2).

    Examples:
        >>> round(float(required_airflow_m3_per_s(10_200.0, 16.35)), 3)
        0.522
    """
    return _f64(power_w) / (_RHO_CP_J_PER_M3_K * _f64(delta_t_k))
