"""Thermal: the air-side energy balance and the chip RC model against its exact solution.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from kiban import units
from kiban.physics import thermal
from kiban.validation.checks import Row, Section, Table, near
from kiban.validation.server_power import DGX_MAX_POWER_W

RC_R_K_PER_W, RC_TAU_S, RC_T0_C, RC_END_S = 0.07, 30.0, 30.0, 200.0
# (start s, power W, inlet °C): the profile of test_thermal.py::test_step_response_matches...
RC_SEGMENTS = ((0.0, 700.0, 25.0), (40.0, 150.0, 25.0), (70.0, 500.0, 32.0), (130.0, 0.0, 32.0))


def rc_step_vs_numeric() -> list[tuple[float, float, float, float]]:
    """Closed-form step response against scipy's ODE solver over RC_SEGMENTS.

    Returns:
        Per segment: (start s, end s, analytic end temperature °C, max |relative error|).
    """
    c_j_per_k = RC_TAU_S / RC_R_K_PER_W
    edges_s = [s[0] for s in RC_SEGMENTS] + [RC_END_S]
    temp_c = RC_T0_C
    out = []
    for k, (t0_s, power_w, inlet_c) in enumerate(RC_SEGMENTS):
        t1_s = edges_s[k + 1]

        def rhs(_t: float, temp: np.ndarray, p_w: float = power_w, t_in_c: float = inlet_c) -> list:
            return [(p_w - (temp[0] - t_in_c) / RC_R_K_PER_W) / c_j_per_k]

        sol = solve_ivp(
            rhs, (t0_s, t1_s), [temp_c], rtol=1e-10, atol=1e-10, dense_output=True, max_step=1.0
        )
        checks_s = np.linspace(t0_s, t1_s, 7)
        analytic_c = thermal.step_temp_c(
            temp_c, inlet_c, power_w, RC_R_K_PER_W, RC_TAU_S, checks_s - t0_s
        )
        numeric_c = sol.sol(checks_s)[0]
        rel = float(np.max(np.abs(analytic_c - numeric_c) / np.abs(numeric_c)))
        out.append((t0_s, t1_s, float(analytic_c[-1]), rel))
        temp_c = float(analytic_c[-1])
    return out


def section_thermal() -> Section:
    """DGX H100 exhaust rise, Tang's chassis constant, RC step response."""
    air_src = "NVIDIA DGX H100/H200 User Guide (10.2 kW, 1105 CFM); physics.md §1.2 [D]"
    flow_m3_per_s = 1105.0 * units.M3_PER_S_PER_CFM
    rise_k = float(thermal.exhaust_temp_c(25.0, DGX_MAX_POWER_W, flow_m3_per_s)) - 25.0
    air = [
        near(
            "DGX H100 exhaust − inlet at 10.2 kW, 1105 CFM",
            16.4,
            rise_k,
            atol=0.2,
            unit="K",
            digits=1,
            source=air_src,
            test="test_dgx_h100_exhaust_rise",
        ),
        near(
            "airflow for K = ρ·f·c_p = 293.5 W/K (Tang chassis)",
            0.2454,
            float(thermal.required_airflow_m3_per_s(293.5, 1.0)),
            rtol=5e-3,
            unit="m³/s",
            digits=4,
            source="Tang et al., IEEE TPDS 19(11) 2008, Table 1 (520 CFM); physics.md §3.2",
            test="test_tang_chassis_thermal_constant",
        ),
    ]
    rc_rows = [
        Row(
            f"die temperature {t0_s:g}–{t1_s:g} s (P = {p_w:g} W, T_in = {tin_c:g} °C)",
            "numeric ODE (scipy solve_ivp, rtol 1e-10)",
            "C·dT/dt = P − (T − T_in)/R, R = 0.07 K/W, τ = 30 s; physics.md §3.1",
            f"{end_c:.3f} °C at {t1_s:g} s",
            "< 1e-09 (max rel.)" if rel < 1e-9 else f"{rel:.0e} (max rel.)",
            "rtol 1e-06 (`test_step_response_matches_numeric_integration`)",
            rel <= 1e-6,
        )
        for (t0_s, t1_s, end_c, rel), (_, p_w, tin_c) in zip(
            rc_step_vs_numeric(), RC_SEGMENTS, strict=True
        )
    ]
    return Section(
        "Thermal: air energy balance and chip RC (kiban.physics.thermal)",
        "Air balance T_out = T_in + P/(ρ·c_p·V̇), ρ = 1.19 kg/m³, c_p = 1005 J/(kg·K). Chip: the "
        "closed-form step T = T_ss + (T_0 − T_ss)·exp(−Δt/τ) over a piecewise-constant power "
        "profile, against numerical integration. Test: `tests/physics/test_thermal.py`.",
        (
            Table("Server air energy balance", tuple(air)),
            Table("RC step response, analytic vs numeric", tuple(rc_rows)),
        ),
    )
