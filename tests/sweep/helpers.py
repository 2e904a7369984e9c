"""Shared helpers of the sweep tests: a tiny sweep and result comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

DATA = Path(__file__).parent / "data"
TIMING_KEYS = {"wall_time_s", "jobs_per_s", "events_per_s"}
"""Summary keys that measure the machine, not the simulation."""


def copy_inputs(tmp_path: Path, sweep_text: str | None = None) -> Path:
    """Copy the tiny scenario beside a sweep file in tmp_path; return the sweep file."""
    shutil.copy(DATA / "tiny.toml", tmp_path / "tiny.toml")
    path = tmp_path / "sweep.toml"
    path.write_text(sweep_text or (DATA / "tiny-sweep.toml").read_text(encoding="utf-8"))
    return path


def summary_of(folder: Path) -> dict:
    data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if k not in TIMING_KEYS}


def run_folders(out: Path) -> list[Path]:
    return sorted(p for p in (out / "runs").iterdir() if p.is_dir())


def assert_same_results(a: Path, b: Path) -> None:
    """Two sweep folders hold the same runs with identical results (timing aside)."""
    runs_a = {p.name: p for p in run_folders(a)}
    runs_b = {p.name: p for p in run_folders(b)}
    assert set(runs_a) == set(runs_b)
    for run_id, folder in runs_a.items():
        (policy_a,) = [p for p in folder.iterdir() if p.is_dir()]
        policy_b = runs_b[run_id] / policy_a.name
        assert summary_of(policy_a) == summary_of(policy_b), run_id
        for name in ("jobs.parquet", "timeseries.parquet"):
            assert pl.read_parquet(policy_a / name).equals(pl.read_parquet(policy_b / name)), name


def write_trace(path: Path, n_jobs: int = 60, seed: int = 0) -> Path:
    """A small canonical jobs table (kiban parquet) for trace sweeps."""
    import numpy as np  # noqa: PLC0415

    from kiban.workload import synthetic_jobs, write_jobs_parquet  # noqa: PLC0415

    jobs = synthetic_jobs(np.random.default_rng(seed), n_jobs=n_jobs, max_gpus=16)
    return write_jobs_parquet(jobs, path)
