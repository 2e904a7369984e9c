"""Coupled twin: the GPU activity process and the facility dynamics against published data.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``). Reads the public Philly utilization CDF and the
Philly job trace through :func:`kiban.shared_data.data_path`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from kiban.catalog import default_catalog
from kiban.physics import activity, facility_dynamics, recirculation, server_power
from kiban.physics.gpu_power import DEFAULT_MIN_CLOCK_FRAC, runtime_factor
from kiban.shared_data import data_path
from kiban.validation.checks import Row, Section, Table, at_most, holds, near, within
from kiban.validation.recirculation import (
    TANG_CHASSIS_FLOW_M3_PER_S,
    TANG_PEAK_BAND_C,
    TANG_SUPPLY_M3_PER_S,
    TANG_SUPPLY_TEMP_C,
)

PHILLY_UTIL_FILE = ("philly-gpu-util", "philly_gpu_util_cdf.csv")


def philly_util_ks() -> tuple[float, float, float]:
    """KS distance of the shipped activity fit to Philly, the model median and zero share."""
    df = pl.read_csv(data_path(*PHILLY_UTIL_FILE))
    util = df["gpu_util_pct"].to_numpy() / 100.0
    cdf = df["cdf_pct"].to_numpy() / 100.0
    order = np.argsort(util, kind="stable")
    util, cdf = util[order], cdf[order]
    trace = pl.read_csv(data_path("philly", "pollux_philly_jobs.csv")).drop_nulls(
        ["num_gpus", "duration"]
    )
    n = trace["num_gpus"].to_numpy()
    w = np.bincount(
        activity.activity_size_class(n), weights=trace["duration"].to_numpy() * n, minlength=3
    )
    fit = activity.fitted_activity()
    at = activity.util_cdf(util, w, fit)
    left = activity.util_cdf(np.maximum(util - 1e-9, 0.0), w, fit)
    left[util == 0.0] = 0.0
    ks = activity.ks_distance(util, cdf, at, left)
    grid = np.linspace(0.0, 1.0, 2001)
    f = activity.util_cdf(grid, w, fit)
    return ks, float(grid[np.searchsorted(f, 0.5)]), float(f[0])


def section_coupled() -> Section:
    """Activity fit to Philly, server airflow, deficit recirculation, room heating, daily cycle."""
    ks, median, zero = philly_util_ks()
    util_src = (
        "philly-gpu-util (Hu et al., NSDI 2024, from the Philly cluster_gpu_util logs of Jeon "
        "et al., ATC 2019)"
    )
    act_rows = [
        at_most(
            "KS distance, per-minute GPU utilization (shipped fit)",
            ks,
            0.1,
            published="1,000-point measured CDF",
            source=util_src,
            test="test_shipped_fit_reproduces_philly_distribution",
        ),
        near(
            "median utilization sample",
            0.4845,
            median,
            atol=0.08,
            source=util_src + "; LOADER.md quantiles",
            test="test_philly_median_and_zero_share",
        ),
        near(
            "share of samples at zero",
            1.0 / 3.0,
            zero,
            atol=0.08,
            published_text="≈ 1/3",
            source=util_src + "; LOADER.md",
            test="test_philly_median_and_zero_share",
        ),
    ]
    dgx = default_catalog().server("dgx-h100")
    v = float(
        facility_dynamics.server_airflow_m3_per_s(
            server_power.fan_speed_frac(1.0, 25.0, dgx), dgx.airflow_m3_per_s
        )
    )
    flow = 50 * TANG_CHASSIS_FLOW_M3_PER_S
    heat_w = 50 * (2_020.0 + 0.5 * 10 * 50.0)
    m = float(facility_dynamics.aisle_deficit_frac(flow, TANG_SUPPLY_M3_PER_S))
    top = min(facility_dynamics.MAX_DEFICIT_FRAC, recirculation.DEFICIT_TOP_FACTOR * m)
    peak = TANG_SUPPLY_TEMP_C + float(facility_dynamics.deficit_inlet_rise_k(top, heat_w, flow))
    ca, cs, ha, q = 0.35e6, 2.5e6, 3e4, 100e3
    s0 = facility_dynamics.room_step(18.0, 18.0, 18.0, q, 0.0, 0.0, ca, cs, ha, 0.01)
    first = (float(s0.air_temp_c) - 18.0) / 0.01
    l0 = facility_dynamics.room_step(18.0, 18.0, 18.0, q, 0.0, 0.0, ca, cs, ha, 3600.0)
    l1 = facility_dynamics.room_step(18.0, 18.0, 18.0, q, 0.0, 0.0, ca, cs, ha, 3601.0)
    late = float(l1.air_temp_c - l0.air_temp_c)
    air_rows = [
        near(
            "DGX H100 airflow at full load, inlet 25 °C (fan law)",
            0.5215,
            v,
            rtol=5e-3,
            unit="m³/s",
            digits=4,
            source="NVIDIA DGX H100/H200 User Guide (1105 CFM at 80 % fan PWM)",
            test="test_dgx_h100_airflow_at_rated_fan_speed",
        ),
        within(
            "Tang room peak inlet from the supply deficit (8 vs 12.27 m³/s), 50 % load",
            *TANG_PEAK_BAND_C,
            peak,
            unit="°C",
            digits=1,
            published_text="25.6 (XInt-GA) – 30.5 (MCE) °C",
            source="Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11) 2008, §6",
            test="test_tang_room_peak_inlet_from_supply_deficit",
        ),
        near(
            "chiller available capacity at rating (CAP)",
            0.944836,
            float(facility_dynamics.chiller_available_capacity_w(1.0, 35.0)),
            atol=1e-9,
            digits=6,
            source="EnergyPlus Chiller:Electric curve as in HPE SustainDC; physics.md §3.4",
            test="test_chiller_capacity_curve",
        ),
        near(
            "room heating rate without cooling, first instant (= Q/C_air)",
            q / ca,
            first,
            rtol=1e-3,
            unit="K/s",
            digits=4,
            source="Khankari, ASHRAE Trans. 117(1) 2011 (maximum initial rate: air alone)",
            test="test_room_heating_rates_follow_khankari",
        ),
        near(
            "room heating rate without cooling, after 1 h (= Q/(C_air + C_solid))",
            q / (ca + cs),
            late,
            rtol=1e-3,
            unit="K/s",
            digits=4,
            source="Khankari, ASHRAE Trans. 117(1) 2011 (minimum rate: air + rack mass)",
            test="test_room_heating_rates_follow_khankari",
        ),
    ]
    return Section(
        "Coupled twin: GPU activity and facility dynamics (kiban.physics.activity, "
        "kiban.physics.facility_dynamics)",
        "Activity: per-minute utilization of allocated GPUs = idle minutes (q0), saturated minutes "
        "(q1) and Beta minutes around Beta job means, fitted by `scripts/fit_activity.py` to the "
        "measured Philly CDF (GPU-time weights of the size classes from the Philly trace). "
        "Facility: server airflow by the fan law, inlet mixing m/(1 − m)·ΔT for an airflow "
        "deficit m, unit capacities, and the exact two-node room RC. Tests: "
        "`tests/physics/test_activity.py`, `tests/physics/test_facility_dynamics.py`.",
        (
            Table("Philly per-minute GPU utilization", tuple(act_rows)),
            Table("Airflow, capacity and room thermal mass", tuple(air_rows)),
            Table("Power brake and HW slowdown", brake_rows()),
        ),
        notes=(
            "The fit reads every zero sample as an allocated GPU (z = 0): the logs do not say "
            "which zeros come from GPUs without a job (LOADER.md), so the in-job idle share is an "
            "upper bound. The size-class slope r came out ≈ 1: the marginal distribution does not "
            "identify a difference between 1-GPU and distributed jobs.",
            "In the run (tests/sim/test_fault_events.py): four DGX H100 of a 2-feed rack that "
            "lose one feed for 1 h are braked at half clock; their 8-GPU jobs (β = 0.9) run at "
            "1/(0.1 + 0.9/0.5) = 0.526 of their speed and the ledger books 32 GPUs × 1 h × 0.474 "
            "as power_cap (to 1e-6). A rack whose server fans lost 81 % of their airflow enters "
            "HW slowdown (jobs at the floor clock, 0.19 of their speed, within 3 %); 90 % lost "
            "shuts its GPUs down (nodes fail until the fans are repaired); 75 % lost at 22 °C "
            "only SW slowdown.",
        ),
    )


def brake_rows() -> tuple[Row, ...]:
    """DGX PSUs on a partial feed loss (power brake) and the H100's HW slowdown at the floor."""
    cat = default_catalog()
    h100, a100 = cat.server("dgx-h100"), cat.server("dgx-a100")
    left = int(facility_dynamics.psus_left(h100.psu_count, 2, 1))
    cap_w = h100.psu_capacity_w(left)
    ug = "NVIDIA DGX H100/H200 User Guide (Power Specifications; PSU redundancy, 4+2)"
    brake_h100 = bool(
        facility_dynamics.psu_power_brake(h100.max_power_w, h100.psu_count, h100.psu_rating_w, 2, 1)
    )
    brake_a100 = bool(
        facility_dynamics.psu_power_brake(a100.max_power_w, a100.psu_count, a100.psu_rating_w, 2, 1)
    )
    sku = cat.gpu("h100-sxm")
    floor_w = float(facility_dynamics.power_at_clock_w(1.0, 1.0, sku, DEFAULT_MIN_CLOCK_FRAC))
    r_fan = sku.die_to_inlet_k_per_w * float(facility_dynamics.r_scale_for_airflow(0.19))
    die_c = 22.0 + r_fan * floor_w
    hw_only = sku.slowdown_temp_c <= die_c < sku.shutdown_temp_c
    speed = 1.0 / float(runtime_factor(facility_dynamics.POWER_BRAKE_CLOCK_FRAC, 0.9))
    return (
        near(
            "DGX H100 PSU capacity on one feed of two (3 of 6 × 3,300 W)",
            9_900.0,
            cap_w,
            atol=1e-9,
            unit="W",
            digits=0,
            source=ug,
            test="test_dgx_h100_psus_cannot_carry_it_on_one_feed_of_two",
        ),
        holds(
            "DGX H100 on one feed of two (9.9 kW < 10.2 kW max): power brake",
            "three PSUs without power: 'continues to function, but at a reduced performance level'",
            "braked" if brake_h100 else "not braked",
            brake_h100,
            source=ug,
            test="test_dgx_h100_psus_cannot_carry_it_on_one_feed_of_two",
        ),
        holds(
            "DGX A100 on one feed of two (3 × 3 kW ≥ 6.5 kW): no brake",
            "3+3: 'continue to operate at full power with the remaining three PSUs'",
            "braked" if brake_a100 else "not braked",
            not brake_a100,
            source="NVIDIA DGX A100 User Guide (Power Specifications), as quoted [S]",
            test="test_dgx_h100_psus_cannot_carry_it_on_one_feed_of_two",
        ),
        near(
            "speed of a braked job at the HW-slowdown clock ½ (β = 0.9)",
            1.0 / (0.1 + 0.9 / 0.5),
            speed,
            atol=1e-12,
            digits=4,
            source="nvml.h HwSlowdown ('core clocks by a factor of 2 or more', external power "
            "brake); t/t_ref = (1 − β) + β/φ, physics.md §2.4",
            test="test_partial_feed_loss_power_brakes_dgx_h100_and_books_power_cap",
        ),
        holds(
            "H100 die at the DVFS floor with 19 % fan airflow, 22 °C inlet: HW slowdown, "
            "not shutdown",
            "HW slowdown 89 °C ≤ die < shutdown 92 °C (nvidia-smi -q, physics.md §1.1)",
            f"{die_c:.1f} °C",
            hw_only,
            source="physics.md §1.1, §1.3; R ∝ V̇^−0.8 (Dittus–Boelter)",
            test="test_fan_failure_reaches_hw_slowdown_and_shutdown",
        ),
    )
