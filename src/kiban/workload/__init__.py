"""Workloads: trace readers into one canonical jobs table, and a Philly-calibrated generator.

Readers exist for each public format; the synthetic generator is calibrated on Microsoft Philly.

Main entry points:

* :func:`read_trace` ``("FORMAT:PATH", rng=, skip_bad=, mix=)`` → :class:`TraceReadResult`;
  :func:`available_formats` lists the formats.
* :func:`synthetic_jobs` ``(rng, horizon_s=... | n_jobs=..., arrival_scale=..., max_gpus=...)``
  and :func:`arrival_scale_for_load` to aim at an offered load.
* :func:`trace_stats` for jobs, GPU-hours, size mix, arrival rate and duration percentiles.
* The table's schema: :data:`JOBS_SCHEMA`, :func:`validate_jobs`; the job-model mix:
  :class:`JobModelMix`, :func:`assign_job_model`; parquet output: :func:`write_jobs_parquet`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiban.workload.job_model import Archetype, JobModelMix, assign_job_model, default_mix
    from kiban.workload.readers.kiban_parquet import write_jobs_parquet
    from kiban.workload.registry import (
        RawTrace,
        TraceReadResult,
        available_formats,
        parse_trace_spec,
        read_trace,
        register_reader,
    )
    from kiban.workload.schema import (
        JOB_MODEL_COLUMNS,
        JOBS_COLUMNS,
        JOBS_SCHEMA,
        ColumnSpec,
        empty_jobs,
        jobs_frame,
        validate_jobs,
    )
    from kiban.workload.stats import SIZE_MIX_CLASSES, size_mix, trace_stats
    from kiban.workload.synthetic import (
        SyntheticParams,
        arrival_scale_for_load,
        default_params,
        fit_synthetic_params,
        mean_gpu_seconds_per_job,
        synthetic_jobs,
    )

_WHERE: dict[str, str] = {
    "Archetype": "kiban.workload.job_model",
    "JobModelMix": "kiban.workload.job_model",
    "assign_job_model": "kiban.workload.job_model",
    "default_mix": "kiban.workload.job_model",
    "write_jobs_parquet": "kiban.workload.readers.kiban_parquet",
    "RawTrace": "kiban.workload.registry",
    "TraceReadResult": "kiban.workload.registry",
    "available_formats": "kiban.workload.registry",
    "parse_trace_spec": "kiban.workload.registry",
    "read_trace": "kiban.workload.registry",
    "register_reader": "kiban.workload.registry",
    "JOB_MODEL_COLUMNS": "kiban.workload.schema",
    "JOBS_COLUMNS": "kiban.workload.schema",
    "JOBS_SCHEMA": "kiban.workload.schema",
    "ColumnSpec": "kiban.workload.schema",
    "empty_jobs": "kiban.workload.schema",
    "jobs_frame": "kiban.workload.schema",
    "validate_jobs": "kiban.workload.schema",
    "SIZE_MIX_CLASSES": "kiban.workload.stats",
    "size_mix": "kiban.workload.stats",
    "trace_stats": "kiban.workload.stats",
    "SyntheticParams": "kiban.workload.synthetic",
    "arrival_scale_for_load": "kiban.workload.synthetic",
    "default_params": "kiban.workload.synthetic",
    "fit_synthetic_params": "kiban.workload.synthetic",
    "mean_gpu_seconds_per_job": "kiban.workload.synthetic",
    "synthetic_jobs": "kiban.workload.synthetic",
}
"""Where each public name lives: imported on first use (PEP 562), so that a light submodule
(``kiban.workload.goodput``) does not pull polars in with the package."""


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


__all__ = [
    "JOBS_COLUMNS",
    "JOBS_SCHEMA",
    "JOB_MODEL_COLUMNS",
    "SIZE_MIX_CLASSES",
    "Archetype",
    "ColumnSpec",
    "JobModelMix",
    "RawTrace",
    "SyntheticParams",
    "TraceReadResult",
    "arrival_scale_for_load",
    "assign_job_model",
    "available_formats",
    "default_mix",
    "default_params",
    "empty_jobs",
    "fit_synthetic_params",
    "jobs_frame",
    "mean_gpu_seconds_per_job",
    "parse_trace_spec",
    "read_trace",
    "register_reader",
    "size_mix",
    "synthetic_jobs",
    "trace_stats",
    "validate_jobs",
    "write_jobs_parquet",
]
