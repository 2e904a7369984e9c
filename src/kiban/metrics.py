"""KPIs of a simulation run: job times, utilization, energy, PUE, cost and CO2 (``summary.json``).

All energies integrate the piecewise-constant event log exactly (each row holds until the next).
Cost = energy charge of the facility energy plus the demand charge on the peak 30-minute
facility power (:mod:`kiban.physics.cost`); CO2 = facility energy × grid factor.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban._version import __version__
from kiban.ledger import LOST_BUCKETS, Ledger
from kiban.physics.cost import (
    GRID_CO2_TOKYO_KG_PER_KWH,
    TARIFF_HIGH_VOLTAGE,
    Tariff,
    co2_kg,
    demand_charge_jpy,
    energy_cost_jpy,
    peak_30min_w,
)
from kiban.units import J_PER_KWH, S_PER_DAY, S_PER_H
from kiban.vocabulary import DONE, FUTURE, MILLI_PER_GPU, PENDING, RUNNING, UNSCHEDULABLE

if TYPE_CHECKING:
    from kiban._typing import FloatArray
    from kiban.sim.settings import RunOutput

__all__ = [
    "HOST_POD_SUMMARY_UNITS",
    "MIG_SUMMARY_UNITS",
    "SHARING_SUMMARY_UNITS",
    "SUMMARY_UNITS",
    "energy_j",
    "job_times",
    "summarize",
]

DAYS_PER_MONTH = 365.0 / 12.0

SHARING_SUMMARY_UNITS: dict[str, str] = {
    "fgd_fragmentation_gpu_hours": "GPU·h",
    "fgd_fragmentation_frac": "1",
}
"""Units of the summary keys of runs with GPU shares or host requests (issue 15)."""

MIG_SUMMARY_UNITS: dict[str, str] = {
    "jobs_on_mig_instance": "1",
    "mig_idle_slice_gpu_hours": "GPU·h",
    "mig_idle_slice_frac": "1",
}
"""Units of the summary keys of runs with MIG instances (kiban.mig)."""

HOST_POD_SUMMARY_UNITS: dict[str, str] = {
    "cpu_pods": "1",
    "cpu_pods_completed": "1",
    "cpu_pods_running_at_end": "1",
    "cpu_pods_waiting_at_end": "1",
    "cpu_pods_unschedulable": "1",
    "cpu_pods_evictions": "1",
    "cpu_pods_wait_mean_s": "s",
}
"""Units of the summary keys of runs with CPU-only pods on nodes with CPU or memory (issue 15)."""

SUMMARY_UNITS: dict[str, str] = {
    "gpu_hours_capacity": "GPU·h",
    "gpu_hours_productive": "GPU·h",
    "ledger_gpu_hours": "GPU·h",
    "fragmentation_gpu_hours": "GPU·h",
    "allocated_util_frac": "1",
    "effective_util_frac": "1",
    "jct_mean_s": "s",
    "jct_p50_s": "s",
    "jct_p99_s": "s",
    "wait_mean_s": "s",
    "wait_p99_s": "s",
    "makespan_s": "s",
    "horizon_s": "s",
    "it_energy_kwh": "kWh",
    "cooling_energy_kwh": "kWh",
    "loss_energy_kwh": "kWh",
    "facility_energy_kwh": "kWh",
    "pue": "1",
    "cost_jpy": "JPY",
    "co2_kg": "kg",
    "max_inlet_temp_c": "degC",
    "peak_facility_power_w": "W",
    "peak_30min_facility_power_w": "W",
    "wall_time_s": "s",
    "jobs_per_s": "1/s",
    "events_per_s": "1/s",
}
"""Unit of each numeric summary key (counts and names are unitless)."""


def energy_j(time_s: FloatArray, power_w: FloatArray) -> float:
    """Energy of a piecewise-constant power series: Σ p_i·(t_{i+1} − t_i) (the last row closes it).

    Args:
        time_s: Row times (s), non-decreasing.
        power_w: Power on [t_i, t_{i+1}) (W).

    Returns:
        Energy in J.
    """
    if time_s.shape[0] < 2:
        return 0.0
    return float(np.dot(power_w[:-1], np.diff(time_s)))


def job_times(run: RunOutput) -> dict[str, FloatArray]:
    """Per-job start, end, wait and completion time (NaN where not applicable).

    Returns:
        ``start_time_s``, ``end_time_s``, ``wait_s`` (first start − submit), ``jct_s``
        (end − submit, completed jobs only) and ``completed`` (bool).
    """
    submit = run.jobs.submit_time_s
    start = run.job["first_start_s"]
    end = run.job["end_s"]
    completed = run.job["state"] == DONE
    return {
        "start_time_s": start,
        "end_time_s": end,
        "wait_s": start - submit,
        "jct_s": np.where(completed, end - submit, math.nan),
        "completed": completed,
    }


def _stat(values: FloatArray, fn: str) -> float | None:
    v = values[np.isfinite(values)]
    if v.shape[0] == 0:
        return None
    if fn == "mean":
        return float(v.mean())
    return float(np.percentile(v, float(fn)))


def summarize(
    run: RunOutput,
    *,
    scenario_name: str = "",
    tariff: Tariff = TARIFF_HIGH_VOLTAGE,
    co2_kg_per_kwh: float = GRID_CO2_TOKYO_KG_PER_KWH,
) -> dict[str, Any]:
    """The ``summary.json`` of a run (keys of docs/contracts.md and issue 4, plus a few more).

    Args:
        run: Simulator output.
        scenario_name: Name of the scenario.
        tariff: Electricity contract for the cost.
        co2_kg_per_kwh: Grid emission factor.

    Returns:
        A JSON-ready dict (floats, ints, strings, one nested dict ``ledger_gpu_hours``); values
        that do not exist (e.g. JCT when no job finished) are None.
    """
    ledger = Ledger.from_run(run)
    hours = ledger.gpu_hours()
    times = job_times(run)
    state = run.job["state"]
    log = run.log
    t = log["time_s"]
    fac = run.facility
    it_j = energy_j(t, log["it_power_w"])
    cooling_j = energy_j(t, fac.cooling_w)
    loss_j = energy_j(t, fac.loss_w)
    misc_j = energy_j(t, fac.misc_w)
    facility_w = log["it_power_w"] + fac.cooling_w + fac.loss_w + fac.misc_w
    facility_j = it_j + cooling_j + loss_j + misc_j
    peak_30 = (
        peak_30min_w(t[:-1], facility_w[:-1], end_time_s=float(t[-1])) if t.shape[0] > 1 else 0.0
    )
    months = run.horizon_s / (DAYS_PER_MONTH * S_PER_DAY)
    cost = float(energy_cost_jpy(facility_j, tariff)) + float(
        demand_charge_jpy(peak_30, tariff, months)
    )
    submit = run.jobs.submit_time_s
    completed = times["completed"]
    cap_h = ledger.capacity_gpu_s / S_PER_H
    allocated_h = run.allocated_gpu_s / S_PER_H
    makespan = (
        float(np.nanmax(run.job["end_s"][completed]) - submit.min()) if completed.any() else None
    )
    n_jobs = run.jobs.n_jobs
    n_arrived = int(n_jobs - (state == FUTURE).sum())
    summary: dict[str, Any] = {
        "policy": run.policy_name,
        "scenario_name": scenario_name,
        "n_gpus": run.layout.n_gpus,
        "n_nodes": run.layout.n_nodes,
        "n_racks": run.layout.n_racks,
        "jobs_total": int(n_jobs),
        "jobs_completed": int(completed.sum()),
        "jobs_unfinished": int(((state == PENDING) | (state == RUNNING)).sum()),
        "jobs_not_arrived": int((state == FUTURE).sum()),
        "jobs_running_at_end": int((state == RUNNING).sum()),
        "jobs_unschedulable": int((state == UNSCHEDULABLE).sum()),
        "horizon_s": float(run.horizon_s),
        "gpu_hours_capacity": cap_h,
        "gpu_hours_productive": hours["productive"],
        "ledger_gpu_hours": {k: hours[k] for k in LOST_BUCKETS},
        "fragmentation_gpu_hours": ledger.fragmentation_gpu_s / S_PER_H,
        "allocated_util_frac": allocated_h / cap_h if cap_h > 0 else None,
        "effective_util_frac": hours["productive"] / cap_h if cap_h > 0 else None,
        "jct_mean_s": _stat(times["jct_s"], "mean"),
        "jct_p50_s": _stat(times["jct_s"], "50"),
        "jct_p99_s": _stat(times["jct_s"], "99"),
        "wait_mean_s": _stat(times["wait_s"], "mean"),
        "wait_p99_s": _stat(times["wait_s"], "99"),
        "makespan_s": makespan,
        "it_energy_kwh": it_j / J_PER_KWH,
        "cooling_energy_kwh": cooling_j / J_PER_KWH,
        "loss_energy_kwh": loss_j / J_PER_KWH,
        "facility_energy_kwh": facility_j / J_PER_KWH,
        "pue": facility_j / it_j if it_j > 0 else None,
        "cost_jpy": cost,
        "co2_kg": float(co2_kg(facility_j, co2_kg_per_kwh)),
        "max_inlet_temp_c": float(np.max(log["max_inlet_temp_c"])) if t.shape[0] else None,
        "peak_facility_power_w": float(facility_w.max()) if t.shape[0] else None,
        "peak_30min_facility_power_w": float(peak_30),
        "failures": int(run.counters.get("failures", 0)),
        "restarts": int(run.counters.get("restarts", 0)),
        "preemptions": int(run.counters.get("preemptions", 0)),
        "throttle_onsets": int(run.counters.get("throttle_onsets", 0)),
        "hw_slowdown_onsets": int(run.counters.get("hw_slowdown_onsets", 0)),
        "thermal_shutdowns": int(run.counters.get("thermal_shutdowns", 0)),
        "policy_calls": int(run.counters.get("policy_calls", 0)),
        "events": int(run.counters.get("events", 0)),
        "events_per_s": (
            float(run.counters.get("events", 0) / run.wall_time_s) if run.wall_time_s > 0 else None
        ),
        "seed": int(run.seed),
        "kiban_version": __version__,
        "wall_time_s": float(run.wall_time_s),
        "jobs_per_s": float(n_arrived / run.wall_time_s) if run.wall_time_s > 0 else None,
    }
    if run.jobs.any_shared or (
        run.jobs.any_host_request
        and (run.layout.node_cpu_milli is not None or run.layout.node_memory_b is not None)
    ):
        # FGD's measure (Weng et al., ATC 2023) in milli-GPU, integrated over the run; runs of
        # whole GPUs only keep it in RunOutput.fgd_frag_gpu_s (their summary digests are fixed)
        frag_h = run.fgd_frag_gpu_s / S_PER_H
        summary["fgd_fragmentation_gpu_hours"] = frag_h
        summary["fgd_fragmentation_frac"] = frag_h / cap_h if cap_h > 0 else None
        summary["jobs_sharing_gpu"] = int((run.jobs.gpu_milli < MILLI_PER_GPU).sum())
    if run.jobs.any_mig:
        # MIG instances (kiban.mig): jobs on one, and the free GPU time stranded in the unheld
        # compute slices of partitioned GPUs (part of idle_no_demand and queue_blocked)
        mig_h = run.mig_idle_slice_gpu_s / S_PER_H
        summary["jobs_on_mig_instance"] = int((run.jobs.mig_compute_slices > 0).sum())
        summary["mig_idle_slice_gpu_hours"] = mig_h
        summary["mig_idle_slice_frac"] = mig_h / cap_h if cap_h > 0 else None
    summary.update(run.host_pods)  # CPU-only pods (openb), when the run had them
    summary.update(run.coupling)
    summary.update(run.policy_stats)  # policies with run_figures() only (J-DEC)
    return {k: _clean(v) for k, v in summary.items()}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
