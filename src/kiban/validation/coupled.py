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
from kiban.shared_data import data_path
from kiban.validation.checks import Section, Table, at_most, near, within
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
        ),
        notes=(
            "The fit reads every zero sample as an allocated GPU (z = 0): the logs do not say "
            "which zeros come from GPUs without a job (LOADER.md), so the in-job idle share is an "
            "upper bound. The size-class slope r came out ≈ 1: the marginal distribution does not "
            "identify a difference between 1-GPU and distributed jobs.",
        ),
    )
