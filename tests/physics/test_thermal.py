"""Chip RC model, threshold timing, throttle state machine and the server air energy balance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from kiban import units
from kiban.catalog import GpuSku
from kiban.physics import thermal as th
from kiban.physics.thermal import ClockEventReason as R


@pytest.fixture
def h100() -> GpuSku:
    """H100 SXM per physics.md §1.1 (thresholds 92/89/87/95 °C from nvidia-smi dumps) and §9
    defaults (R_th 0.07 K/W, τ 30 s, γ 2.9, idle 75/140 W)."""
    return GpuSku(
        name="h100-sxm",
        tdp_w=700.0,
        min_power_limit_w=200.0,
        idle_empty_power_w=75.0,
        idle_context_power_w=140.0,
        max_sm_clock_hz=1980.0 * units.HZ_PER_MHZ,
        memory_b=80.0 * units.B_PER_GB,
        memory_bw_b_per_s=3.35 * units.B_PER_TB,
        shutdown_temp_c=92.0,
        slowdown_temp_c=89.0,
        max_operating_temp_c=87.0,
        mem_max_temp_c=95.0,
        die_to_inlet_k_per_w=0.07,
        thermal_time_constant_s=30.0,
        power_exponent=2.9,
        static_power_frac=0.36,
        cooling="air",
        source="physics.md §1.1, §9",
    )


# --- air energy balance --------------------------------------------------------------------


def test_dgx_h100_exhaust_rise():
    """NVIDIA DGX H100/H200 User Guide: 10.2 kW max, 1105 CFM front-to-back; physics.md §1.2
    derives ΔT = 10,200 / (0.5215 × 1196) ≈ 16.4 K. Tolerance ±0.2 K."""
    airflow_m3_per_s = 1105.0 * units.M3_PER_S_PER_CFM
    rise_k = th.exhaust_temp_c(25.0, 10_200.0, airflow_m3_per_s) - 25.0
    assert float(rise_k) == pytest.approx(16.4, abs=0.2)


def test_tang_chassis_thermal_constant():
    """Tang et al. TPDS 2008 Table 1: f = 520 CFM = 0.2454 m³/s; physics.md §3.2 gives
    K = ρ f c_p = 293.5 W/K, i.e. 293.5 W raise the air by 1 K. Tolerance 0.5 %."""
    airflow = th.required_airflow_m3_per_s(293.5, 1.0)
    assert float(airflow) == pytest.approx(0.2454, rel=5e-3)
    assert 520.0 * units.M3_PER_S_PER_CFM == pytest.approx(0.2454, rel=5e-3)


def test_airflow_and_exhaust_are_inverse():
    power = np.array([1_000.0, 10_200.0, 40_000.0])
    flow = th.required_airflow_m3_per_s(power, 15.0)
    np.testing.assert_allclose(th.exhaust_temp_c(20.0, power, flow), 35.0, rtol=1e-12)


# --- RC model ------------------------------------------------------------------------------


def test_step_response_matches_numeric_integration():
    """Closed-form step response against scipy's ODE solver on C dT/dt = P − (T − T_in)/R over
    a piecewise-constant power profile (physics.md §3.1). Tolerance rtol 1e-6."""
    r_k_per_w, tau_s = 0.07, 30.0
    c_j_per_k = tau_s / r_k_per_w
    segments = [(0.0, 700.0, 25.0), (40.0, 150.0, 25.0), (70.0, 500.0, 32.0), (130.0, 0.0, 32.0)]
    t_end_s = 200.0

    def rhs(t, temp):
        start = [s for s in segments if s[0] <= t][-1]
        _, power_w, inlet_c = start
        return [(power_w - (temp[0] - inlet_c) / r_k_per_w) / c_j_per_k]

    edges = [s[0] for s in segments] + [t_end_s]
    temp_c = 30.0
    for k, (t0, power_w, inlet_c) in enumerate(segments):
        t1 = edges[k + 1]
        sol = solve_ivp(
            rhs, (t0, t1), [temp_c], rtol=1e-10, atol=1e-10, dense_output=True, max_step=1.0
        )
        checks = np.linspace(t0, t1, 7)
        analytic = th.step_temp_c(temp_c, inlet_c, power_w, r_k_per_w, tau_s, checks - t0)
        np.testing.assert_allclose(analytic, sol.sol(checks)[0], rtol=1e-6)
        temp_c = float(analytic[-1])


def test_step_is_a_semigroup():
    """Exact for piecewise-constant input: two steps equal one step of the summed length."""
    once = th.step_temp_c(35.0, 25.0, 600.0, 0.07, 30.0, 47.0)
    twice = th.step_temp_c(
        th.step_temp_c(35.0, 25.0, 600.0, 0.07, 30.0, 20.0), 25.0, 600.0, 0.07, 30.0, 27.0
    )
    assert float(once) == pytest.approx(float(twice), rel=1e-12)


def test_step_limits_and_zero_tau():
    assert float(th.step_temp_c(40.0, 25.0, 700.0, 0.07, 30.0, 0.0)) == 40.0
    assert float(th.step_temp_c(40.0, 25.0, 700.0, 0.07, 30.0, 1e6)) == pytest.approx(74.0)
    # τ = 0: the die follows power instantly, and a zero-length step changes nothing.
    assert float(th.step_temp_c(40.0, 25.0, 700.0, 0.07, 0.0, 1.0)) == pytest.approx(74.0)
    assert float(th.step_temp_c(40.0, 25.0, 700.0, 0.07, 0.0, 0.0)) == 40.0


def test_time_to_reach_lands_on_threshold(h100):
    """Stepping the RC model by the returned time lands exactly on the threshold."""
    temp0 = np.array([30.0, 50.0, 80.0, 86.0])
    inlet = np.array([35.0, 32.0, 35.0, 27.0])
    power = np.array([700.0, 760.0, 760.0, 900.0])
    theta = h100.max_operating_temp_c
    t = th.time_to_reach_s(temp0, inlet, power, 0.081, 30.0, theta)
    assert np.all(np.isfinite(t))
    assert np.all(t > 0.0)
    reached = th.step_temp_c(temp0, inlet, power, 0.081, 30.0, t)
    np.testing.assert_allclose(reached, theta, rtol=1e-9)
    # Just before, still below.
    before = th.step_temp_c(temp0, inlet, power, 0.081, 30.0, t * (1 - 1e-6))
    assert np.all(before < theta)


def test_time_to_reach_edge_cases():
    t = th.time_to_reach_s(
        np.array([90.0, 40.0, 40.0, 40.0]),  # already above; never; never (asymptote); τ = 0
        25.0,
        np.array([700.0, 300.0, 885.0, 900.0]),
        0.07,
        np.array([30.0, 30.0, 30.0, 0.0]),
        87.0,
    )
    # steady temps: 74, 46, 86.95, 88 -> [0, inf, inf, 0]
    assert t.tolist() == [0.0, np.inf, np.inf, 0.0]


def test_time_to_reach_falling():
    """Cooling down below a threshold (release of a thermal slowdown)."""
    t = th.time_to_reach_s(88.0, 25.0, 300.0, 0.07, 30.0, 80.0, direction="falling")
    assert float(th.step_temp_c(88.0, 25.0, 300.0, 0.07, 30.0, t)) == pytest.approx(80.0)
    assert (
        float(th.time_to_reach_s(70.0, 25.0, 300.0, 0.07, 30.0, 80.0, direction="falling")) == 0.0
    )
    assert (
        float(th.time_to_reach_s(88.0, 25.0, 900.0, 0.07, 30.0, 80.0, direction="falling"))
        == np.inf
    )
    with pytest.raises(ValueError, match="direction"):
        th.time_to_reach_s(88.0, 25.0, 900.0, 0.07, 30.0, 80.0, direction="up")  # type: ignore[arg-type]


def test_vectorized_shapes():
    temp = th.step_temp_c(
        np.zeros((3, 1)) + 30.0, 25.0, np.array([100.0, 400.0, 700.0, 0.0]), 0.07, 30.0, 10.0
    )
    assert temp.shape == (3, 4)


temps = st.floats(min_value=5.0, max_value=45.0)
powers = st.floats(min_value=0.0, max_value=1_500.0)
resistances = st.floats(min_value=0.01, max_value=0.3)


@settings(max_examples=200, deadline=None)
@given(
    inlet=temps,
    p1=powers,
    p2=powers,
    r=resistances,
    dt=st.floats(0.0, 1e4),
    tau=st.floats(0.0, 300.0),
)
def test_chip_never_below_inlet_and_monotone_in_power(inlet, p1, p2, r, dt, tau):
    """Property (issue 3): with non-negative power the die is never colder than its inlet
    (starting from the inlet), and more power never gives a cooler die."""
    lo, hi = min(p1, p2), max(p1, p2)
    assert th.steady_temp_c(inlet, lo, r) >= inlet
    assert th.steady_temp_c(inlet, hi, r) >= th.steady_temp_c(inlet, lo, r)
    t_lo = th.step_temp_c(inlet, inlet, lo, r, tau, dt)
    t_hi = th.step_temp_c(inlet, inlet, hi, r, tau, dt)
    assert t_lo >= inlet - 1e-9
    assert t_hi >= t_lo - 1e-9


@settings(max_examples=200, deadline=None)
@given(t0=st.floats(5.0, 95.0), inlet=temps, p=powers, r=resistances, dt=st.floats(0.0, 1e4))
def test_step_stays_between_start_and_steady_state(t0, inlet, p, r, dt):
    t_ss = th.steady_temp_c(inlet, p, r)
    t = th.step_temp_c(t0, inlet, p, r, 30.0, dt)
    assert min(t0, t_ss) - 1e-9 <= t <= max(t0, t_ss) + 1e-9


# --- throttling ----------------------------------------------------------------------------


def _bits(reasons, i):
    return R(int(np.asarray(reasons).reshape(-1)[i]))


def test_throttle_reason_bits(h100):
    """physics.md §1.3 state machine: maxop → 0x20, HW slowdown → 0x40|0x08, power over limit
    → 0x04, brake → 0x80|0x08, shutdown → clock 0, idle → 0x01."""
    temp = np.array([60.0, 87.5, 90.0, 60.0, 60.0, 93.0, 40.0])
    power = np.array([500.0, 650.0, 650.0, 700.0, 500.0, 650.0, 140.0])
    limit = np.array([700.0, 700.0, 700.0, 600.0, 700.0, 700.0, 700.0])
    brake = np.array([False, False, False, False, True, False, False])
    idle = np.array([False] * 6 + [True])
    clock, reasons = th.throttle_state(temp, power, limit, h100, power_brake=brake, idle=idle)
    assert reasons.dtype == np.int64
    assert _bits(reasons, 0) == R.NONE
    assert clock[0] == 1.0
    assert _bits(reasons, 1) == R.SW_THERMAL_SLOWDOWN
    assert 0.1 <= clock[1] < 1.0
    assert R.HW_THERMAL_SLOWDOWN in _bits(reasons, 2)
    assert R.HW_SLOWDOWN in _bits(reasons, 2)
    assert R.SW_THERMAL_SLOWDOWN in _bits(reasons, 2)
    assert clock[2] <= th.DEFAULT_HW_SLOWDOWN_CLOCK_FRAC
    assert _bits(reasons, 3) == R.SW_POWER_CAP
    assert _bits(reasons, 4) == R.HW_POWER_BRAKE | R.HW_SLOWDOWN
    assert clock[4] == th.DEFAULT_HW_SLOWDOWN_CLOCK_FRAC
    assert clock[5] == 0.0
    assert th.shutdown_mask(temp, h100).tolist() == [False] * 5 + [True, False]
    assert _bits(reasons, 6) == R.GPU_IDLE
    assert clock[6] == 1.0
    assert int(th.SW_THERMAL_SLOWDOWN) == 0x20
    assert int(th.HW_POWER_BRAKE) == 0x80


def test_power_cap_clock_brings_power_to_limit(h100):
    """The SW power-cap clock, put back into P = P_idle + k·f^γ, gives exactly the limit."""
    power = np.array([700.0, 650.0, 420.0])
    limit = np.array([400.0, 300.0, 300.0])
    f0 = np.array([1.0, 0.9, 0.8])
    clock, reasons = th.throttle_state(60.0, power, limit, h100, clock_frac=f0)
    assert np.all(reasons == int(R.SW_POWER_CAP))
    k = (power - h100.idle_context_power_w) / f0**h100.power_exponent
    new_power = h100.idle_context_power_w + k * clock**h100.power_exponent
    np.testing.assert_allclose(new_power, limit, rtol=1e-12)


def test_sw_thermal_clock_is_the_equilibrium(h100):
    """With the inlet known, SW thermal slowdown settles at the clock whose steady temperature
    is the max operating temperature (NVML: 'clocks reduced so GPU temp ≤ max operating')."""
    inlet, activity = 45.0, 1.0
    dyn_w = (h100.tdp_w - h100.idle_context_power_w) * activity
    power = h100.idle_context_power_w + dyn_w
    clock, reasons = th.throttle_state(88.0, power, h100.tdp_w + 1.0, h100, inlet_temp_c=inlet)
    assert _bits(reasons, 0) == R.SW_THERMAL_SLOWDOWN
    expected = th.max_clock_frac_for_temp(
        inlet,
        h100.die_to_inlet_k_per_w,
        h100.max_operating_temp_c,
        h100.idle_context_power_w,
        dyn_w,
        h100.power_exponent,
    )
    assert float(clock) == pytest.approx(float(expected), rel=1e-12)
    p_eq = h100.idle_context_power_w + dyn_w * float(clock) ** h100.power_exponent
    assert float(th.steady_temp_c(inlet, p_eq, h100.die_to_inlet_k_per_w)) == pytest.approx(87.0)


def test_sw_thermal_quasi_steady_without_inlet(h100):
    """Without an inlet, the target uses T_in ≈ T − R·P: at steady state it is exact."""
    inlet, power = 45.0, 700.0
    temp = float(th.steady_temp_c(inlet, power, h100.die_to_inlet_k_per_w))
    with_inlet, _ = th.throttle_state(temp, power, 800.0, h100, inlet_temp_c=inlet)
    without, _ = th.throttle_state(temp, power, 800.0, h100)
    assert float(without) == pytest.approx(float(with_inlet), rel=1e-12)


def test_memory_over_limit_sets_sw_thermal(h100):
    _, reasons = th.throttle_state(70.0, 500.0, 700.0, h100, mem_temp_c=96.0)
    assert _bits(reasons, 0) == R.SW_THERMAL_SLOWDOWN


def test_max_clock_for_temp_limits():
    # Cold inlet: full clock is safe; inlet above the limit: nothing is.
    assert float(th.max_clock_frac_for_temp(20.0, 0.07, 87.0, 140.0, 560.0, 2.9)) == 1.0
    assert float(th.max_clock_frac_for_temp(90.0, 0.07, 87.0, 140.0, 560.0, 2.9)) == 0.0
    # No dynamic power: the clock does not heat the die.
    assert float(th.max_clock_frac_for_temp(40.0, 0.07, 87.0, 140.0, 0.0, 2.9)) == 1.0
    inlets = np.linspace(30.0, 80.0, 11)
    f = th.max_clock_frac_for_temp(inlets, 0.081, 87.0, 140.0, 560.0, 2.9)
    assert np.all(np.diff(f) <= 0.0)
