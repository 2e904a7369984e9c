"""Write small, deterministic simulation result directories exactly per docs/contracts.md.

Two policies over 48 simulated hours on 64 GPUs in 8 racks. The numbers are made up but
self-consistent (ledger buckets + productive = capacity), so the report has something to say.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

N_GPUS = 64
N_RACKS = 8
HOURS = 48
S_PER_H = 3600.0

SCENARIO_TOML = """\
[site]
name = "tiny-hall"
city = "tokyo"

[[fleet]]
server = "dgx-h100"
count = 8

[simulation]
seed = 7
"""

# policy -> (ledger shares of capacity, energy scale, jct scale, wait scale, hot offset °C)
VARIANTS: dict[str, dict[str, float]] = {
    "fifo": {"queue": 0.21, "idle": 0.08, "io": 0.05, "thermal": 0.02, "jct": 1.0,
             "wait": 1.0, "hot": 1.5, "energy": 1.0, "frag": 0.06},
    "backfill": {"queue": 0.07, "idle": 0.10, "io": 0.05, "thermal": 0.03, "jct": 0.8,
                 "wait": 0.4, "hot": 2.5, "energy": 1.04, "frag": 0.02, "preemptions": 3},
}  # fmt: skip


def write_result_dir(root: Path, policy: str) -> Path:
    """Write DIR/<policy>/ with summary.json, the three parquet files, layout and scenario."""
    v = VARIANTS.get(policy, VARIANTS["fifo"])
    rng = np.random.default_rng(7)
    out = root / policy
    out.mkdir(parents=True, exist_ok=True)

    # --- timeseries: hourly samples over 48 h -------------------------------------------------
    t_h = np.arange(HOURS + 1, dtype=np.float64)
    day = 0.5 + 0.5 * np.sin(2 * np.pi * (t_h - 6) / 24)
    allocated = np.clip(np.round(N_GPUS * (0.55 + 0.35 * day) * (1 - v["queue"] / 2)), 0, N_GPUS)
    io_stall = np.round(allocated * v["io"])
    throttled = np.round(allocated * v["thermal"] * (0.5 + day))
    productive = allocated - io_stall - throttled
    failed = np.where(t_h == 20, 8.0, 0.0)
    queued = np.round((12 * day + 3) * v["wait"])
    it_power_w = (allocated * 700.0 + (N_GPUS - allocated) * 90.0 + 8 * 2500.0) * v["energy"]
    cooling_power_w = it_power_w * (0.22 + 0.08 * day)
    loss_power_w = it_power_w * 0.06
    facility_power_w = it_power_w + cooling_power_w + loss_power_w
    ts = pl.DataFrame(
        {
            "time_s": t_h * S_PER_H,
            "it_power_w": it_power_w,
            "cooling_power_w": cooling_power_w,
            "loss_power_w": loss_power_w,
            "facility_power_w": facility_power_w,
            "pue": facility_power_w / it_power_w,
            "max_inlet_temp_c": 24.0 + 4.0 * day + v["hot"],
            "allocated_gpus": allocated.astype(np.int64),
            "productive_gpus": productive,
            "io_stall_gpus": io_stall,
            "throttled_gpus": throttled,
            "failed_gpus": failed.astype(np.int64),
            "queued_jobs": queued.astype(np.int64),
        }
    )
    ts.write_parquet(out / "timeseries.parquet")

    # --- jobs ------------------------------------------------------------------------------
    n_jobs = 40
    submit = np.sort(rng.uniform(0, 40 * S_PER_H, n_jobs))
    wait = rng.exponential(1800.0 * v["wait"], n_jobs) * (rng.uniform(size=n_jobs) > 0.3)
    run = rng.lognormal(np.log(3 * S_PER_H), 1.0, n_jobs) * v["jct"]
    start = submit + wait
    end = start + run
    completed = end <= HOURS * S_PER_H
    num_gpus = rng.choice([1, 2, 4, 8, 16], n_jobs)
    jobs = pl.DataFrame(
        {
            "job_id": [f"job-{i:03d}" for i in range(n_jobs)],
            "num_gpus": num_gpus.astype(np.int64),
            "submit_time_s": submit,
            "start_time_s": start,
            "end_time_s": end,
            "wait_s": wait,
            "jct_s": end - submit,
            "energy_j": run * num_gpus * 600.0,
            "stall_s": run * v["io"],
            "throttle_s": run * v["thermal"],
            "power_cap_s": np.zeros(n_jobs),
            "failure_s": np.zeros(n_jobs),
            "checkpoint_s": run * 0.01,
            "run_s": np.where(completed, run, np.clip(HOURS * S_PER_H - start, 0.0, None)),
            "status": np.where(completed, "completed", "running"),
            "completed": completed,
        }
    )
    jobs.write_parquet(out / "jobs.parquet")

    # --- racks and layout: 2 rows of 4 racks, 0.6 m pitch, 3.0 m between rows --------------
    names = [f"{'AB'[r // 4]}{r % 4 + 1:02d}" for r in range(N_RACKS)]
    x_m = [1.0 + 0.6 * (r % 4) for r in range(N_RACKS)]
    y_m = [1.0 + 3.0 * (r // 4) for r in range(N_RACKS)]
    rows = []
    for k, th in enumerate(t_h):
        for r in range(N_RACKS):
            hot = 2.0 * (r % 4 == 3) + 1.0 * (r // 4)  # row ends and the back row run hotter
            inlet_c = 19.0 + 4.0 * day[k] + hot + v["hot"]
            rows.append((th * S_PER_H, r, names[r], inlet_c, 30_000.0 + 5_000.0 * day[k]))
    pl.DataFrame(
        rows,
        schema={"time_s": pl.Float64, "rack_idx": pl.Int64, "rack_name": pl.Utf8,
                "inlet_temp_c": pl.Float64, "power_w": pl.Float64},
        orient="row",
    ).write_parquet(out / "racks.parquet")  # fmt: skip
    layout = {
        "racks": [{"name": n, "x_m": x, "y_m": y} for n, x, y in zip(names, x_m, y_m, strict=True)]
    }
    (out / "layout.json").write_text(json.dumps(layout, indent=1), encoding="utf-8")
    (out / "scenario.toml").write_text(SCENARIO_TOML, encoding="utf-8")

    # --- summary ---------------------------------------------------------------------------
    capacity = N_GPUS * HOURS
    ledger = {
        "idle_no_demand": capacity * v["idle"],
        "queue_blocked": capacity * v["queue"],
        "io_stall": capacity * v["io"],
        "underused": capacity * 0.02,
        "thermal_throttle": capacity * v["thermal"],
        "power_cap": 0.0,
        "failure": 8.0,
        "checkpoint": capacity * 0.01,
    }
    productive_h = capacity - sum(ledger.values())
    dt_h = np.diff(t_h)
    it_kwh = float(np.sum(it_power_w[:-1] * dt_h)) / 1000.0
    fac_kwh = float(np.sum(facility_power_w[:-1] * dt_h)) / 1000.0
    done = jobs.filter(pl.col("completed"))
    summary = {
        "policy": policy,
        "scenario_name": "tiny-hall",
        "n_gpus": N_GPUS,
        "jobs_total": n_jobs,
        "jobs_completed": done.height,
        "jobs_unfinished": n_jobs - done.height,
        "jobs_not_arrived": 0,
        "horizon_s": HOURS * S_PER_H,
        "preemptions": int(v.get("preemptions", 0)),
        "gpu_hours_capacity": capacity,
        "gpu_hours_productive": productive_h,
        "ledger_gpu_hours": ledger,
        "fragmentation_gpu_hours": capacity * v["frag"],
        "allocated_util_frac": float(np.mean(allocated)) / N_GPUS,
        "effective_util_frac": productive_h / capacity,
        "jct_mean_s": float(done["jct_s"].mean()),  # type: ignore[arg-type]
        "jct_p50_s": float(done["jct_s"].median()),  # type: ignore[arg-type]
        "jct_p99_s": float(done["jct_s"].quantile(0.99)),  # type: ignore[arg-type]
        "wait_mean_s": float(jobs["wait_s"].mean()),  # type: ignore[arg-type]
        "makespan_s": float(end.max()),
        "it_energy_kwh": it_kwh,
        "facility_energy_kwh": fac_kwh,
        "pue": fac_kwh / it_kwh,
        "cost_jpy": fac_kwh * 25.0,
        "co2_kg": fac_kwh * 0.45,
        "max_inlet_temp_c": float(ts["max_inlet_temp_c"].max()),  # type: ignore[arg-type]
        "seed": 7,
        "kiban_version": "0.0.0-fixture",
        "wall_time_s": 0.5,
        "events": 1234,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return out


def write_run(root: Path, policies: tuple[str, ...] = ("fifo", "backfill")) -> Path:
    """Write root/run/<policy>/ for each policy; return root/run."""
    run = root / "run"
    for policy in policies:
        write_result_dir(run, policy)
    return run


def site_evaluation() -> dict[str, object]:
    """A 12-month site evaluation with the fields of kiban.report.SiteEvaluationLike."""
    month = np.arange(12)
    summer = 0.5 - 0.5 * np.cos(2 * np.pi * (month - 0.5) / 12)  # 0 in Jan, 1 in Jul
    it_w = np.full(12, 400_000.0)
    cool_w = it_w * (0.12 + 0.18 * summer)
    loss_w = it_w * 0.07
    hours = np.array([744, 672, 744, 720, 744, 720, 744, 744, 720, 744, 720, 744], dtype=float)
    fac_kwh = (it_w + cool_w + loss_w) * hours / 1000.0
    names = [f"{'ABCD'[r // 10]}{r % 10 + 1:02d}" for r in range(40)]
    return {
        "scenario_name": "tokyo-hall",
        "monthly_it_power_w": list(it_w),
        "monthly_cooling_power_w": list(cool_w),
        "monthly_loss_power_w": list(loss_w),
        "monthly_pue": list((it_w + cool_w + loss_w) / it_w),
        "annual_pue": float(fac_kwh.sum() / (it_w * hours / 1000.0).sum()),
        "facility_energy_j": float(fac_kwh.sum() * 3.6e6),
        "cost_jpy": float(fac_kwh.sum() * 24.0),
        "co2_kg": float(fac_kwh.sum() * 0.45),
        "monthly_cost_jpy": list(fac_kwh * 24.0),
        "rack_names": names,
        "rack_x_m": [0.6 * (r % 10) for r in range(40)],
        "rack_y_m": [2.4 * (r // 10) for r in range(40)],
        "rack_inlet_temp_c": [22.0 + 0.5 * (r % 10) + 1.5 * (r // 10 % 2) for r in range(40)],
    }
