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
