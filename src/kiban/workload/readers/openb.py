"""Alibaba cluster-trace-gpu-v2023 ("openb", FGD paper, ATC'23): pod list plus node list.

Pod list columns: ``name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase,
creation_time, deletion_time, scheduled_time`` (seconds, relative). Mapping:

* ``job_id`` = ``name``; ``submit_time_s`` from ``creation_time``; ``duration_s`` =
  ``deletion_time − scheduled_time``; ``status`` = ``pod_phase``; ``queue`` = ``qos``;
  ``priority`` from the QoS class (LS and Guaranteed 2, Burstable 1, BE 0; ASSUMED order, the
  trace does not rank them).
* A pod runs on one node, so ``gpus_per_node`` = ``num_gpus``.
* ``gpu_spec`` ("V100M16|V100M32" = any of these) becomes ``gpu_model`` unchanged (alternatives
  separated by ``|``; "" = any). With a node list beside the pod list, every named model must
  exist in it. The simulator and its placement layers read the alternatives with the same rule
  (:func:`kiban.workload.packing.allowed_models`): a pod may run on any listed model present in
  the cluster, and is unschedulable only if none is.
* Fractional GPUs: a pod with ``num_gpu = 1`` and ``gpu_milli < 1000`` shares a GPU: its
  ``gpu_milli`` goes to the jobs table (optional column, 1000 for whole-GPU pods) and the
  simulator packs several such pods on one GPU up to 1000 milli (its power and ledger shares
  follow its tenants' shares; its input rate is its share of a GPU's, ASSUMED proportional).
  ``cpu_milli`` and ``memory_mib`` (as ``memory_b``) go with every
  pod, as placement filters where the cluster states its nodes' CPU and memory.
* Pods never scheduled (``pod_phase = Pending``, no ``scheduled_time``) are kept, flagged by
  their ``status`` "Pending" and a note: they ask for GPUs from ``creation_time`` on, and their
  ``duration_s`` is the time they existed, ``deletion_time − creation_time`` (ASSUMED: the
  trace has no run time for a pod that never ran), so a replay gives them the resources they
  waited for.
* CPU-only pods (``num_gpu = 0``) are left out of the GPU jobs table (its ``num_gpus`` is ≥ 1),
  counted in a note, and handed along as the trace's host pods (``RawTrace.host_pods``:
  name, creation time, duration by the same rules, ``cpu_milli``, ``memory_b``, never-scheduled
  flag), which the simulator replays on its nodes' CPU and memory
  (:class:`kiban.sim.jobs.HostPods`); the packing experiment (:mod:`kiban.workload.packing`,
  ``kiban trace pack``) reads every pod, CPU-only ones included.
* Pods still ``Running`` at the snapshot keep their ``deletion_time`` as end (the snapshot end),
  so their durations are cut (a note says how many).

The path may be the pod-list CSV, a folder holding ``openb_pod_list_default.csv`` (directly or in
``csv/``). The node list (``openb_node_list_gpu_node.csv`` or ``openb_node_list_all_node.csv``) is
read from the pod list's folder when present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from kiban.errors import TraceError
from kiban.workload._rows import (
    MAX_GPUS,
    RowChecks,
    check_ragged,
    missing,
    number_column,
    read_text_table,
    text_or_empty,
    unique_column,
)
from kiban.workload.registry import RawTrace, register_reader

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["QOS_PRIORITY", "read_openb"]

POD_COLUMNS = [
    "name",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
]
NODE_FILES = ("openb_node_list_gpu_node.csv", "openb_node_list_all_node.csv")
DEFAULT_POD_FILE = "openb_pod_list_default.csv"
MILLI_PER_GPU = 1000.0
MIB_B = 1_048_576.0
QOS_PRIORITY: dict[str, int] = {"LS": 2, "Guaranteed": 2, "Burstable": 1, "BE": 0}
"""Priority per QoS class (ASSUMED order: latency-sensitive first, best-effort last)."""


def _pod_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    for cand in (path / DEFAULT_POD_FILE, path / "csv" / DEFAULT_POD_FILE):
        if cand.is_file():
            return cand
    msg = f"{path}: no {DEFAULT_POD_FILE} in this folder or its csv/ folder"
    raise TraceError(msg)


def _node_models(folder: Path) -> tuple[Path, set[str]] | None:
    for name in NODE_FILES:
        node_path = folder / name
        if node_path.is_file():
            nodes = read_text_table(node_path, required=["sn", "gpu", "model"])
            models = {m for m in text_or_empty(nodes.col("model")).to_list() if m}
            return node_path, models
    return None


@register_reader("openb", description="Alibaba GPU trace 2023 (openb): pod list + node list CSVs")
def read_openb(path: Path, *, skip_bad: bool) -> RawTrace:
    """Read an openb pod list (and the node list beside it, if any).

    Args:
        path: The pod-list CSV, or a folder holding ``openb_pod_list_default.csv``.
        skip_bad: Skip and count malformed rows instead of raising.

    Returns:
        The raw trace (relative seconds; no origin).
    """
    pod_path = _pod_file(path)
    table = read_text_table(pod_path, required=POD_COLUMNS)
    checks = RowChecks(pod_path, table.lines, skip_bad=skip_bad)
    check_ragged(checks, table)
    unique_column(checks, table.col("name"), "name")
    gpus = number_column(
        checks, table.col("num_gpu"), "num_gpu", min_value=0, max_value=MAX_GPUS, integer=True
    )
    milli = number_column(
        checks, table.col("gpu_milli"), "gpu_milli", min_value=0, integer=True, required=False
    )
    checks.check(milli > MILLI_PER_GPU, "gpu_milli", table.col("gpu_milli"), "must be ≤ 1000")
    checks.check(
        (gpus > 1) & (milli != MILLI_PER_GPU),
        "gpu_milli",
        table.col("gpu_milli"),
        "must be 1000 when num_gpu > 1 (only single-GPU pods share a GPU)",
    )
    checks.check(
        (gpus == 1) & (milli == 0) | (gpus == 1) & milli.is_null(),
        "gpu_milli",
        table.col("gpu_milli"),
        "must be 1–1000 when num_gpu = 1",
    )
    created = number_column(
        checks, table.col("creation_time"), "creation_time", min_value=0, unit="s"
    )
    deleted = number_column(
        checks, table.col("deletion_time"), "deletion_time", min_value=0, unit="s"
    )
    sched_raw = table.col("scheduled_time")
    sched = number_column(
        checks, sched_raw, "scheduled_time", min_value=0, required=False, unit="s"
    )
    checks.check(
        sched < created,
        "scheduled_time",
        sched_raw,
        "must not precede creation_time",
    )
    checks.check(
        deleted < sched,
        "deletion_time",
        table.col("deletion_time"),
        "must not precede scheduled_time",
    )
    spec = text_or_empty(table.col("gpu_spec"))
    nodes = _node_models(pod_path.parent)
    notes: list[str] = []
    if nodes is not None:
        node_path, models = nodes
        unknown = spec.map_elements(
            lambda s: bool(s) and not set(s.split("|")) <= models, return_dtype=pl.Boolean
        )
        checks.check(
            unknown,
            "gpu_spec",
            spec,
            f"must name GPU models of the node list {node_path.name}: {sorted(models)}",
        )
        notes.append(f"node list {node_path.name}: models {', '.join(sorted(models))}")
    phase = text_or_empty(table.col("pod_phase"))
    checks.check(
        missing(sched_raw) & (deleted < created),
        "deletion_time",
        table.col("deletion_time"),
        "must not precede creation_time",
    )
    cpu = mem = None
    if table.has("cpu_milli"):
        cpu = number_column(
            checks, table.col("cpu_milli"), "cpu_milli", min_value=0, integer=True, required=False
        )
    if table.has("memory_mib"):
        mem = number_column(
            checks, table.col("memory_mib"), "memory_mib", min_value=0, required=False
        )
    checks.exclude(
        gpus == 0,
        "CPU-only pods (num_gpu = 0; not GPU jobs: replayed on the nodes' CPU and memory as "
        "host pods, no GPU time; 'kiban trace pack' reads them too)",
    )
    keep = checks.finish()
    never = missing(sched_raw).to_numpy()
    n_never = int((never & keep).sum())
    if n_never:
        notes.append(
            f"{n_never} pods never scheduled (no scheduled_time, status Pending) kept: "
            "duration = deletion_time − creation_time (ASSUMED, the time they existed)"
        )
    start = pl.Series(np.where(never, created.to_numpy(), sched.fill_null(0.0).to_numpy()))
    frac = (gpus == 1) & (milli < MILLI_PER_GPU)
    n_frac = int(frac.filter(pl.Series(keep)).sum())
    if n_frac:
        notes.append(
            f"{n_frac} GPU-sharing pods (gpu_milli < 1000) share GPUs (gpu_milli kept); "
            "their input rate is that share of a whole GPU's"
        )
    n_running = int((phase == "Running").filter(pl.Series(keep)).sum())
    if n_running:
        notes.append(f"{n_running} pods still Running at the snapshot: durations end there")
    gpu_milli = pl.Series(
        np.where(frac.to_numpy(), milli.fill_null(MILLI_PER_GPU).to_numpy(), MILLI_PER_GPU)
    ).cast(pl.Int64)
    host: dict[str, object] = {"gpu_milli": gpu_milli.filter(keep)}
    if cpu is not None:
        host["cpu_milli"] = cpu.fill_null(0).cast(pl.Int64).filter(keep)
    if mem is not None:
        host["memory_b"] = (mem.fill_null(0.0).cast(pl.Float64) * MIB_B).filter(keep)
    host_rows = checks.excluded_mask  # the CPU-only pods that passed every check
    host_pods = pl.DataFrame(
        {
            "job_id": text_or_empty(table.col("name")).filter(host_rows),
            "submit_time_s": created.filter(host_rows),
            "duration_s": (deleted - start).filter(host_rows),
            "cpu_milli": (cpu.fill_null(0) if cpu is not None else pl.Series([0] * len(host_rows)))
            .cast(pl.Int64)
            .filter(host_rows),
            "memory_b": (
                mem.fill_null(0.0) if mem is not None else pl.Series([0.0] * len(host_rows))
            )
            .cast(pl.Float64)
            .filter(host_rows)
            * MIB_B,
            "never_scheduled": pl.Series(never).filter(host_rows),
        }
    )
    qos = text_or_empty(table.col("qos"))
    priority = qos.replace_strict(QOS_PRIORITY, default=0, return_dtype=pl.Int64)
    return checks.raw_trace(
        {
            "job_id": text_or_empty(table.col("name")).filter(keep),
            "submit_time_s": created.filter(keep),
            "duration_s": (deleted - start).filter(keep),
            "num_gpus": gpus.filter(keep),
            "gpus_per_node": gpus.filter(keep),
            "gpu_model": spec.filter(keep),
            "queue": qos.filter(keep),
            "priority": priority.filter(keep),
            "status": phase.filter(keep),
            **host,
        },
        notes=notes,
        input_scale_frac=gpu_milli.to_numpy()[keep] / MILLI_PER_GPU,
        host_pods=host_pods,
    )
