"""Alibaba PAI GPU trace 2020 (cluster-trace-gpu-v2020, NSDI'22): job table plus task table.

The released CSVs have no header line; the headers ship as ``.header`` files (alibaba/clusterdata):

* ``pai_job_table``: ``job_name, inst_id, user, status, start_time, end_time`` (``start_time`` is
  the job's *submission*, ``end_time`` its completion; seconds with a constant offset removed);
* ``pai_task_table``: ``job_name, task_name, inst_num, status, start_time, end_time, plan_cpu,
  plan_mem, plan_gpu, gpu_type`` (``plan_gpu`` in percent of one GPU per instance: 50 = half).

Both files may also start with that header line. Mapping per job:

* ``job_id`` = ``job_name``; ``user``; ``status`` = the job's ``status`` (Terminated, Failed,
  Running, Waiting); ``submit_time_s`` = job ``start_time``.
* GPUs = Σ over its tasks of ``inst_num × plan_gpu / 100``. kiban does not share GPUs, so a job
  holds ``ceil`` of that (at least 1) whole GPUs, and its ``activity_frac`` and input rate are
  scaled by requested / held (e.g. one instance at 50 % → 1 GPU at half activity).
* ``duration_s`` = latest task ``end_time`` − earliest task ``start_time`` (the job's run span; the
  gap from submission to the first task start is queueing, which the simulator decides).
* ``gpus_per_node`` = ``num_gpus`` when the job has a single GPU instance, else 0 (any).
* ``gpu_type`` is the type a task was *given*, not a request, so ``gpu_model`` stays "" (any).
* Left out, counted in the notes: jobs with no task rows, CPU-only jobs (no GPU requested), jobs
  that never started (no task ``start_time``) and jobs still running at the snapshot (no task
  ``end_time``).
* Times: the README says the offset keeps time of day and weekday when the seconds are read as
  Unix time in UTC+8, so ``origin`` is that wall clock (the calendar date is fake).

Give the folder holding ``pai_job_table.csv`` and ``pai_task_table.csv`` or the job table itself
(the task table must then be beside it).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kiban.errors import TraceError
from kiban.workload._rows import (
    RowChecks,
    check_ragged,
    missing,
    number_column,
    read_text_table,
    safe_int,
    text_or_empty,
    unique_column,
)
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["JOB_COLUMNS", "TASK_COLUMNS", "read_pai2020"]

JOB_COLUMNS = ["job_name", "inst_id", "user", "status", "start_time", "end_time"]
"""``pai_job_table.header`` (alibaba/clusterdata, cluster-trace-gpu-v2020/data)."""
TASK_COLUMNS = [
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
]
"""``pai_task_table.header`` (alibaba/clusterdata, cluster-trace-gpu-v2020/data)."""
PERCENT_PER_GPU = 100.0
_UTC8_AT_ZERO = datetime(1970, 1, 1, 8, 0, 0)
"""Wall clock in UTC+8 (Asia/Shanghai) at Unix time 0: the trace's seconds read as Unix time."""


def _files(path: Path) -> tuple[Path, Path]:
    folder = path if path.is_dir() else path.parent
    job = path if not path.is_dir() else folder / "pai_job_table.csv"
    task = folder / "pai_task_table.csv"
    for p in (job, task):
        if not p.is_file():
            msg = f"{path}: {p.name} not found (need pai_job_table.csv and pai_task_table.csv)"
            raise TraceError(msg)
    return job, task


@register_reader(
    "alibaba-pai2020", description="Alibaba PAI GPU trace 2020: pai_job_table + pai_task_table"
)
def read_pai2020(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read the PAI 2020 job and task tables.

    Args:
        path: Folder with both tables, or the job table (task table beside it).
        skip_bad: Skip and count malformed rows instead of raising. A job with a malformed task
            row is itself counted as bad.

    Returns:
        The raw trace (seconds of the de-identified clock; origin in UTC+8 wall time).
    """
    job_path, task_path = _files(path)
    tasks = read_text_table(task_path, names=TASK_COLUMNS, header="optional")
    tchecks = RowChecks(task_path, tasks.lines, skip_bad=skip_bad)
    check_ragged(tchecks, tasks)
    tchecks.check(missing(tasks.col("job_name")), "job_name", tasks.col("job_name"), "is required")
    inst = number_column(tchecks, tasks.col("inst_num"), "inst_num", min_value=0, integer=True)
    plan_gpu = number_column(
        tchecks, tasks.col("plan_gpu"), "plan_gpu", min_value=0, required=False, unit="%"
    )
    t_start = number_column(
        tchecks, tasks.col("start_time"), "start_time", min_value=0, required=False, unit="s"
    )
    t_end = number_column(
        tchecks, tasks.col("end_time"), "end_time", min_value=0, required=False, unit="s"
    )
    tchecks.check(t_end < t_start, "end_time", tasks.col("end_time"), "must not precede start_time")
    task_keep = tchecks.finish()
    task_names = text_or_empty(tasks.col("job_name"))
    bad_task_jobs = set(task_names.filter(pl.Series(~task_keep)).to_list())

    per_task = pl.DataFrame(
        {
            "job_name": task_names,
            "gpu": inst.fill_null(0) * plan_gpu.fill_null(0) / PERCENT_PER_GPU,
            "gpu_inst": (inst.fill_null(0) * (plan_gpu.fill_null(0) > 0)).cast(pl.Float64),
            "start": t_start,
            "end": t_end,
            "no_end": t_end.is_null(),
        }
    ).filter(pl.Series(task_keep))
    agg = per_task.group_by("job_name").agg(
        pl.col("gpu").sum(),
        pl.col("gpu_inst").sum(),
        pl.col("start").min(),
        pl.col("end").max(),
        pl.col("no_end").any(),
    )

    jobs = read_text_table(job_path, names=JOB_COLUMNS, header="optional")
    checks = RowChecks(job_path, jobs.lines, skip_bad=skip_bad)
    check_ragged(checks, jobs)
    unique_column(checks, jobs.col("job_name"), "job_name")
    submit = number_column(checks, jobs.col("start_time"), "start_time", min_value=0, unit="s")
    names = text_or_empty(jobs.col("job_name"))
    checks.check(
        names.is_in(list(bad_task_jobs)),
        "job_name",
        names,
        f"has a malformed row in {task_path.name} (skipped with it)",
    )
    joined = pl.DataFrame({"job_name": names}).join(
        agg, on="job_name", how="left", maintain_order="left"
    )
    has_tasks = joined["gpu"].is_not_null()
    gpu = joined["gpu"].fill_null(0.0)
    started = joined["start"].is_not_null()
    finished = ~joined["no_end"].fill_null(True) & joined["end"].is_not_null()
    checks.exclude(~has_tasks, f"jobs with no rows in {task_path.name}")
    checks.exclude(gpu <= 0, "CPU-only jobs (no GPU requested)")
    checks.exclude(~started, "jobs that never started (no task start_time)")
    checks.exclude(~finished, "jobs still running at the snapshot (a task has no end_time)")
    keep = checks.finish()

    requested = gpu.to_numpy()
    held = np.maximum(np.ceil(requested - 1e-9), 1.0)
    scale = np.where(held > 0, np.minimum(requested / held, 1.0), 1.0)
    single = joined["gpu_inst"].fill_null(0).to_numpy() <= 1
    num = safe_int(held)
    duration = (joined["end"] - joined["start"]).fill_null(0.0)
    n_frac = int(((requested < held) & keep).sum())
    notes: list[str] = []
    if n_frac:
        notes.append(
            f"{n_frac} jobs request fractional GPUs: rounded up to whole GPUs, activity scaled"
        )
    return checks.raw_trace(
        {
            "job_id": names.filter(keep),
            "submit_time_s": submit.filter(pl.Series(keep)),
            "duration_s": duration.filter(keep),
            "num_gpus": num[keep],
            "gpus_per_node": np.where(single, num, 0)[keep],
            "user": text_or_empty(jobs.col("user")).filter(keep),
            "status": text_or_empty(jobs.col("status")).filter(keep),
        },
        notes=notes,
        origin=_UTC8_AT_ZERO,
        activity_scale_frac=scale[keep],
    )
