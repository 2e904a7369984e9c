"""Sweeps: many simulations over scenario fields, policies, policy parameters and seeds.

``kiban sweep SWEEP.toml --out DIR`` (or :func:`load_sweep` then :func:`run_sweep`) runs every
combination of the sweep's axes and seeds on an executor (local worker processes by default,
or a ``dask.distributed`` cluster), writes each run's folder as ``kiban simulate`` does, and
keeps one tidy table, ``DIR/runs.parquet``. The same command resumes an interrupted sweep.
"""

from __future__ import annotations

from kiban.sweep.executors import DaskExecutor, Executor, LocalExecutor, make_executor
from kiban.sweep.runner import SweepProgress, SweepSummary, run_sweep
from kiban.sweep.spec import RunPoint, SweepSpec, load_sweep, plan_runs

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "RunPoint",
    "SweepProgress",
    "SweepSpec",
    "SweepSummary",
    "load_sweep",
    "make_executor",
    "plan_runs",
    "run_sweep",
]
