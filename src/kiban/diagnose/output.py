"""A diagnosis as the same result files ``kiban simulate`` writes, plus ``diagnosis.json``.

``kiban report REAL_DIR TWIN_DIR`` then shows a real cluster beside its twin. Besides the
simulator's files the folder holds ``diagnosis.json`` (how each bucket was obtained, its
uncertainty, missing metrics, warnings, the causes ranked and the worst nodes, racks and jobs)
and ``gpu_ledger.parquet`` (GPU-seconds per bucket per GPU).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from kiban._version import __version__
from kiban.diagnose.engine import BUCKETS, MEASURED, Diagnosis
from kiban.ledger import LEDGER_BUCKETS
from kiban.metrics import SUMMARY_UNITS
from kiban.results import (
    TIMESERIES_COLUMNS,
    SimulationResult,
    atomic_write_bytes,
    downsample_timeseries,
)
from kiban.units import J_PER_KWH, S_PER_H

__all__ = ["DIAGNOSIS_FILE", "GPU_LEDGER_FILE", "diagnosis_report", "save_diagnosis"]

DIAGNOSIS_FILE = "diagnosis.json"
GPU_LEDGER_FILE = "gpu_ledger.parquet"
POLICY_NAME = "diagnosed"
"""Folder and ``policy`` name of a diagnosis result (``DIR/diagnosed``)."""

_LOSSES = tuple(b for b in BUCKETS if b != "productive")


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(x: float) -> float:
    return round(float(x) / S_PER_H, 6)


def _rank(rows: dict[str, np.ndarray], cap_s: dict[str, float], top: int) -> list[dict[str, Any]]:
    """Entities ordered by lost GPU-hours (capacity minus productive)."""
    out: list[dict[str, Any]] = []
    for name, acc in rows.items():
        lost = float(acc.sum() - acc[BUCKETS.index("productive")])
        worst = int(np.argmax([acc[BUCKETS.index(b)] for b in _LOSSES]))
        cap = cap_s.get(name, float(acc.sum()))
        out.append(
            {
                "name": name,
                "lost_gpu_hours": _hours(lost),
                "lost_frac": round(lost / cap, 6) if cap > 0 else 0.0,
                "top_cause": _LOSSES[worst],
                "top_cause_gpu_hours": _hours(acc[BUCKETS.index(_LOSSES[worst])]),
            }
        )
    out.sort(key=lambda r: (-float(r["lost_gpu_hours"]), str(r["name"])))
    return out[:top]


def diagnosis_report(diag: Diagnosis, *, top: int = 10) -> dict[str, Any]:
    """The content of ``diagnosis.json``."""
    tot = diag.totals_s()
    cap = diag.capacity_gpu_s
    causes = sorted(_LOSSES, key=lambda b: -tot[b])
    per_gpu = {f"{h}/gpu{g}": diag.gpu_buckets_s[i] for i, (h, g) in enumerate(diag.gpu_keys)}
    per_node: dict[str, np.ndarray] = {}
    per_rack: dict[str, np.ndarray] = {}
    for i, (h, _) in enumerate(diag.gpu_keys):
        per_node[h] = per_node.get(h, 0) + diag.gpu_buckets_s[i]
        rack = diag.gpu_info[i].get("rack") or ""
        if rack:
            per_rack[rack] = per_rack.get(rack, 0) + diag.gpu_buckets_s[i]
    return {
        "source": diag.source,
        "window": {
            "start_utc": _iso(diag.window.start_s),
            "end_utc": _iso(diag.window.start_s + diag.window.duration_s),
            "start_unix_s": diag.window.start_s,
            "step_s": diag.window.step_s,
            "n_steps": diag.window.n_steps,
        },
        "n_gpus": len(diag.gpu_keys),
        "busy_metric": diag.busy_metric,
        "capacity_gpu_hours": _hours(cap),
        "buckets": {
            b: {
                "gpu_hours": _hours(tot[b]),
                "frac": round(tot[b] / cap, 6) if cap > 0 else 0.0,
                "uncertainty_gpu_hours": _hours(diag.uncertainty_s[b]),
                "how": MEASURED[b],
            }
            for b in BUCKETS
        },
        "causes_ranked": [
            {"bucket": b, "gpu_hours": _hours(tot[b]), "frac": round(tot[b] / cap, 6)}
            for b in causes
            if tot[b] > 0
        ],
        "worst_nodes": _rank(per_node, {}, top),
        "worst_racks": _rank(per_rack, {}, top),
        "worst_gpus": _rank(per_gpu, {}, top),
        "worst_jobs": _rank(diag.job_buckets_s, {}, top),
        "fragmentation_gpu_hours": (
            None if diag.fragmentation_gpu_s is None else _hours(diag.fragmentation_gpu_s)
        ),
        "fragmentation_how": (
            "inferred: queue_blocked time while a pending job (sacct) fitted the free GPU count "
            "but not one host (or whole free hosts)"
            if diag.fragmentation_gpu_s is not None
            else "not measured: needs the pending jobs' sizes (--jobs)"
        ),
        "missing_metrics": diag.missing,
        "warnings": diag.warnings,
        "settings": {
            "compute_bound_frac": diag.settings.compute_bound_frac,
            "checkpoint_tx_b_per_s": diag.settings.checkpoint_tx_b_per_s,
            "max_gap_s": diag.settings.max_gap_s,
            "chunk_steps": diag.settings.chunk_steps,
        },
    }


def _summary(diag: Diagnosis, name: str, wall_s: float) -> dict[str, Any]:
    tot = diag.totals_s()
    cap = diag.capacity_gpu_s
    alloc = cap - tot["idle_no_demand"] - tot["queue_blocked"] - tot["failure"]
    ledger = {b: _hours(tot[b]) for b in BUCKETS if b != "productive"}
    if "underused" not in LEDGER_BUCKETS:
        ledger["underused"] = _hours(tot["underused"])
    energy_j = float(np.sum(diag.series["it_power_w"]) * diag.window.step_s)
    jobs = diag.job_span_s
    return {
        "policy": POLICY_NAME,
        "scenario_name": name,
        "source": diag.source,
        "n_gpus": len(diag.gpu_keys),
        "n_nodes": len({h for h, _ in diag.gpu_keys}),
        "n_racks": len({i.get("rack") for i in diag.gpu_info if i.get("rack")}),
        "jobs_total": len(jobs),
        "jobs_completed": None,
        "gpu_hours_capacity": _hours(cap),
        "gpu_hours_productive": _hours(tot["productive"]),
        "ledger_gpu_hours": ledger,
        "fragmentation_gpu_hours": (
            None if diag.fragmentation_gpu_s is None else _hours(diag.fragmentation_gpu_s)
        ),
        "allocated_util_frac": round(alloc / cap, 6) if cap > 0 else 0.0,
        "effective_util_frac": round(tot["productive"] / cap, 6) if cap > 0 else 0.0,
        "jct_mean_s": None,
        "jct_p50_s": None,
        "jct_p99_s": None,
        "wait_mean_s": None,
        "makespan_s": diag.window.duration_s,
        "horizon_s": diag.window.duration_s,
        "it_energy_kwh": round(energy_j / J_PER_KWH, 6),
        "facility_energy_kwh": None,
        "pue": None,
        "cost_jpy": None,
        "co2_kg": None,
        "max_inlet_temp_c": None,
        "seed": None,
        "time_origin_utc": _iso(diag.window.start_s),
        "kiban_version": __version__,
        "wall_time_s": round(wall_s, 3),
        "events": 0,
        "units": dict(sorted(SUMMARY_UNITS.items())),
    }


def save_diagnosis(
    diag: Diagnosis, out_dir: Path | str, *, name: str = "diagnosed cluster", wall_s: float = 0.0
) -> Path:
    """Write the result files of a diagnosis into ``out_dir`` (atomically, summary last).

    Returns:
        The folder written.
    """
    folder = Path(out_dir)
    summary = _summary(diag, name, wall_s)
    s = diag.series
    horizon = diag.window.duration_s
    n = s["time_s"].shape[0]
    cols = {
        "time_s": s["time_s"] - diag.window.start_s,
        **{k: s[k] for k in s if k not in ("time_s", "max_gpu_temp_c")},
    }
    ts = downsample_timeseries(cols, horizon, min_interval_s=diag.window.step_s)
    nan = np.full(ts["time_s"].shape[0], np.nan)
    ts_cols = {k: ts.get(k, nan) for k in TIMESERIES_COLUMNS}
    # no facility meters in GPU telemetry: facility power is the measured GPU board power (the
    # report's power chart needs a value), cooling and losses are unknown
    ts_cols["facility_power_w"] = ts_cols["it_power_w"]
    for k in ("cooling_power_w", "loss_power_w", "misc_power_w"):
        ts_cols[k] = np.zeros_like(nan)
    timeseries = pl.DataFrame(ts_cols, nan_to_null=True)
    del n
    job_rows = []
    for job, acc in sorted(diag.job_buckets_s.items()):
        first, last, peak = diag.job_span_s[job]
        b = {k: float(acc[i]) for i, k in enumerate(BUCKETS)}
        job_rows.append(
            {
                "job_id": job,
                "num_gpus": int(peak),
                "queue": "",
                "submit_time_s": None,
                "start_time_s": first - diag.window.start_s,
                "end_time_s": last - diag.window.start_s,
                "wait_s": None,
                "jct_s": None,
                "run_s": last - first,
                "energy_j": None,
                "stall_s": b["io_stall"] / max(peak, 1.0),
                "throttle_s": b["thermal_throttle"] / max(peak, 1.0),
                "power_cap_s": b["power_cap"] / max(peak, 1.0),
                "failure_s": b["failure"] / max(peak, 1.0),
                "checkpoint_s": b["checkpoint"] / max(peak, 1.0),
                "restarts": None,
                "preemptions": None,
                "status": "seen",
                "completed": None,
            }
        )
    schema = {
        "job_id": pl.Utf8, "num_gpus": pl.Int64, "queue": pl.Utf8, "submit_time_s": pl.Float64,
        "start_time_s": pl.Float64, "end_time_s": pl.Float64, "wait_s": pl.Float64,
        "jct_s": pl.Float64, "run_s": pl.Float64, "energy_j": pl.Float64,
        "stall_s": pl.Float64, "throttle_s": pl.Float64, "power_cap_s": pl.Float64,
        "failure_s": pl.Float64, "checkpoint_s": pl.Float64, "restarts": pl.Int64,
        "preemptions": pl.Int64, "status": pl.Utf8, "completed": pl.Boolean,
    }  # fmt: skip
    jobs = pl.DataFrame(job_rows, schema=schema)
    racks_seen = sorted({i["rack"] for i in diag.gpu_info if i.get("rack")})
    layout = {
        "name": name,
        "racks": [
            {
                "name": r,
                "n_gpus": sum(1 for i in diag.gpu_info if i.get("rack") == r),
            }
            for r in racks_seen
        ],
    }
    result = SimulationResult(
        policy=POLICY_NAME,
        summary=summary,
        jobs=jobs,
        timeseries=timeseries,
        racks=None,
        layout=layout,
        scenario_toml=f"# diagnosed from {diag.source}\n",
    )
    gpu_table = pl.DataFrame(
        {
            "host": [h for h, _ in diag.gpu_keys],
            "gpu": [g for _, g in diag.gpu_keys],
            "uuid": [i.get("uuid", "") for i in diag.gpu_info],
            "rack": [i.get("rack", "") for i in diag.gpu_info],
            **{f"{b}_gpu_s": diag.gpu_buckets_s[:, k] for k, b in enumerate(BUCKETS)},
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    # the extras first; summary.json (written last by save) marks a complete folder
    (folder / "summary.json").unlink(missing_ok=True)
    tmp = folder / f".{GPU_LEDGER_FILE}.tmp"
    gpu_table.write_parquet(tmp)
    tmp.replace(folder / GPU_LEDGER_FILE)
    report = diagnosis_report(diag)
    atomic_write_bytes(
        folder / DIAGNOSIS_FILE,
        (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode(),
    )
    result.save(folder)
    return folder


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), wall seconds)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
