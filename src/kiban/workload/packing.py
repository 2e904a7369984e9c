"""The FGD paper's packing experiment: pods placed once, in order, on a GPU-sharing cluster.

Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation
Gradient Descent", USENIX ATC 2023, evaluate placement policies on the openb trace (Alibaba
cluster-trace-gpu-v2023) without time: the artifact (hkust-adsl/kubernetes-scheduler-simulator,
``scripts/generate_config_and_run.py -tune 1.3 -tuneseed S --shuffle-pod=true``) does, per seed S:

1. sort the pod list by name and shuffle it (``SortClusterPods``);
2. "tune up" the workload (``TunePodsByNodeTotalResource``): while the requested GPU milli stays
   within ``ratio`` × the cluster's GPU milli, append a copy of a pod drawn uniformly from the
   original list (the test compares the pod's per-GPU milli, as the artifact does; a multi-GPU
   copy may overshoot the target by its remaining GPUs); if the list already asks for more, drop
   random pods until it fits;
3. place every pod once, in that order, with no departures; a pod that fits on no node is
   skipped (counted as failed);
4. after every pod, record the arrived GPU milli (scheduled or not), the allocated GPU milli and
   the cluster's fragmentation; the published curves bin the events by arrived share of the GPU
   capacity in whole percent (``experiments/analysis/merge_alloc_discrete_0920.py``).

The node list is ``openb_node_list_gpu_node.csv`` (1,213 nodes, 6,212 GPUs). A node accepts a
pod if its free CPU and memory cover the request (Kubernetes ``NodeResourcesFit``), its GPU model
is one the pod allows (``gpu_spec`` "A|B": any of A, B; empty: any) and enough of its GPUs have
the pod's milli-GPU free (a sharing pod, ``num_gpu = 1`` and ``gpu_milli < 1000``, needs one GPU
with that much left; a whole-GPU pod needs ``num_gpu`` untouched GPUs). CPU-only pods need CPU
and memory only.

Policies (the artifact's score plugins; scores are whole numbers as there, and ties between
nodes go to the node that comes first in one random order drawn per run: the artifact prefixes
node names with a random permutation (``syncClusterResourceList``) and its patched Kubernetes
scheduler (``mental2008/kubernetes v1.20.5-minor``, ``selectHost``) keeps the smallest name
among equal scores, which makes tied placements pack onto the same nodes):

* ``random``: a uniformly random feasible node; on it a uniformly random GPU with enough left.
* ``best-fit``: score ``⌊100 (1 − ½ (cpu_free − cpu_req)/128000 − ½ (gpu_free − gpu_req)/8000)⌋``
  (``best_fit_score.go``); on the node the GPU with the least milli left that still fits.
* ``fgd``: fragmentation gradient descent. A node's fragmentation against the target workload is
  the expected GPU milli that a pod drawn from it cannot use (:func:`node_frag_milli`, the
  artifact's ``NodeGpuShareFragAmountScore``); the score of placing the pod is
  ``⌊100 σ((F_before − F_after)/1000)⌋`` and on the node the first GPU with the highest score
  is taken (``fgd_score.go``). The target workload is the *typical pods* of the original list:
  pod shapes (CPU, per-GPU milli, GPU count, GPU models) by decreasing count until they cover
  95 % of the pods, renormalized (``GetTypicalPods``, CPU-only pods included).

Not reproduced exactly: Go's random streams (this module uses numpy's, seeded by ``seed``), so
runs agree with the artifact in distribution, not pod by pod.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from kiban.errors import ConfigError, TraceError
from kiban.workload._rows import (
    RowChecks,
    check_ragged,
    number_column,
    read_text_table,
    text_or_empty,
    unique_column,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kiban._typing import BoolArray, FloatArray, IntArray

__all__ = [
    "MILLI_PER_GPU",
    "PACKING_POLICIES",
    "PackingCluster",
    "PackingPods",
    "PackingRun",
    "TypicalPods",
    "allocation_pct",
    "allowed_models",
    "binned_by_arrival",
    "job_typical_pods",
    "model_requirements",
    "node_frag_milli",
    "read_packing_nodes",
    "read_packing_pods",
    "run_packing",
    "tuned_order",
    "typical_pods",
    "whole_gpu_frag_table",
]

MILLI_PER_GPU = 1000
MAX_SPEC_CPU_MILLI = 128_000
"""BestFit's CPU normalization (the artifact's ``MaxSpecCpu``)."""
MAX_SPEC_GPU_MILLI = 8_000
"""BestFit's GPU normalization (the artifact's ``MaxSpecGpu``)."""
MAX_NODE_SCORE = 100
TYPICAL_POD_SHARE = 0.95
"""Typical pods cover this share of the pod list (``podPopularityThreshold: 95``)."""
PACKING_POLICIES = ("random", "best-fit", "fgd")
NODE_FILE = "openb_node_list_gpu_node.csv"
DEFAULT_POD_FILE = "openb_pod_list_default.csv"


# ============================================================================================
# Inputs
# ============================================================================================


@dataclass(frozen=True, slots=True)
class PackingCluster:
    """Nodes of the packing experiment.

    Attributes:
        name: Node names.
        cpu_milli: CPU per node (milli-cores).
        memory_mib: Memory per node (MiB).
        n_gpus: GPUs per node.
        model: GPU model index per node into ``models`` (-1: no GPUs).
        models: GPU model names.
    """

    name: list[str]
    cpu_milli: IntArray
    memory_mib: IntArray
    n_gpus: IntArray
    model: IntArray
    models: tuple[str, ...]

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.cpu_milli.shape[0])

    @property
    def gpu_milli_total(self) -> int:
        """The cluster's GPU capacity in milli-GPU."""
        return int(self.n_gpus.sum()) * MILLI_PER_GPU


@dataclass(frozen=True, slots=True)
class PackingPods:
    """Pods of the packing experiment (the openb pod-list columns that placement reads).

    Attributes:
        name: Pod names.
        cpu_milli: CPU request (milli-cores).
        memory_mib: Memory request (MiB).
        num_gpus: GPUs requested (0 = CPU-only).
        gpu_milli: Milli-GPU per GPU (1000 = whole GPUs; < 1000 shares one GPU; 0 CPU-only).
        allowed: Bool (pods, models): the GPU models each pod accepts.
        gpu_spec: The pod's ``gpu_spec`` text ("" = any model).
    """

    name: list[str]
    cpu_milli: IntArray
    memory_mib: IntArray
    num_gpus: IntArray
    gpu_milli: IntArray
    allowed: BoolArray
    gpu_spec: list[str]

    @property
    def n_pods(self) -> int:
        """Number of pods."""
        return int(self.cpu_milli.shape[0])

    @property
    def total_gpu_milli(self) -> IntArray:
        """Milli-GPU each pod asks for in total."""
        return self.num_gpus * self.gpu_milli


def _pod_csv(path: Path) -> Path:
    if path.is_dir():
        for cand in (path / DEFAULT_POD_FILE, path / "csv" / DEFAULT_POD_FILE):
            if cand.is_file():
                return cand
        msg = f"{path}: no {DEFAULT_POD_FILE} in this folder or its csv/ folder"
        raise TraceError(msg)
    if not path.is_file():
        msg = f"{path}: no such file (give an openb pod-list CSV or its folder)"
        raise TraceError(msg)
    return path


def read_packing_nodes(path: Path) -> PackingCluster:
    """Read an openb node list (``sn, cpu_milli, memory_mib, gpu, model``).

    Args:
        path: The node-list CSV, or a folder holding ``openb_node_list_gpu_node.csv``.

    Returns:
        The cluster.

    Raises:
        TraceError: Missing file or column, or a bad value (names file, line, field, value).
    """
    if path.is_dir():
        for cand in (path / NODE_FILE, path / "csv" / NODE_FILE):
            if cand.is_file():
                path = cand
                break
        else:
            msg = f"{path}: no {NODE_FILE} in this folder or its csv/ folder"
            raise TraceError(msg)
    if not path.is_file():
        msg = f"{path}: no such file (give an openb node-list CSV)"
        raise TraceError(msg)
    table = read_text_table(path, required=["sn", "cpu_milli", "memory_mib", "gpu", "model"])
    checks = RowChecks(path, table.lines, skip_bad=False)
    check_ragged(checks, table)
    unique_column(checks, table.col("sn"), "sn")
    cpu = number_column(checks, table.col("cpu_milli"), "cpu_milli", min_value=0, integer=True)
    mem = number_column(checks, table.col("memory_mib"), "memory_mib", min_value=0, integer=True)
    gpu = number_column(checks, table.col("gpu"), "gpu", min_value=0, integer=True)
    model = text_or_empty(table.col("model"))
    model = model.replace("nan", "")
    checks.check((gpu > 0) & (model == ""), "model", model, "must name the GPU model when gpu > 0")
    checks.finish()
    models = tuple(sorted({m for m in model.to_list() if m}))
    index = {m: i for i, m in enumerate(models)}
    model_idx = np.array([index.get(m, -1) for m in model.to_list()], dtype=np.int64)
    n_gpus = gpu.to_numpy().astype(np.int64)
    model_idx[n_gpus == 0] = -1
    return PackingCluster(
        name=text_or_empty(table.col("sn")).to_list(),
        cpu_milli=cpu.to_numpy().astype(np.int64),
        memory_mib=mem.to_numpy().astype(np.int64),
        n_gpus=n_gpus,
        model=model_idx,
        models=models,
    )


def read_packing_pods(path: Path, models: tuple[str, ...]) -> PackingPods:
    """Read an openb pod list for the packing experiment (every row: CPU-only and Pending too).

    Args:
        path: The pod-list CSV, or a folder holding ``openb_pod_list_default.csv``.
        models: The cluster's GPU models; every model a ``gpu_spec`` names must be one of them.

    Returns:
        The pods, in file order.

    Raises:
        TraceError: A missing column or a bad value (names file, line, field, value).
    """
    path = _pod_csv(path)
    table = read_text_table(
        path, required=["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"]
    )
    checks = RowChecks(path, table.lines, skip_bad=False)
    check_ragged(checks, table)
    unique_column(checks, table.col("name"), "name")
    cpu = number_column(checks, table.col("cpu_milli"), "cpu_milli", min_value=0, integer=True)
    mem = number_column(checks, table.col("memory_mib"), "memory_mib", min_value=0, integer=True)
    gpus = number_column(checks, table.col("num_gpu"), "num_gpu", min_value=0, integer=True)
    milli = number_column(
        checks, table.col("gpu_milli"), "gpu_milli", min_value=0, integer=True, required=False
    ).fill_null(0)
    raw_milli = table.col("gpu_milli")
    checks.check(milli > MILLI_PER_GPU, "gpu_milli", raw_milli, "must be ≤ 1000")
    checks.check(
        (gpus > 1) & (milli != MILLI_PER_GPU),
        "gpu_milli",
        raw_milli,
        "must be 1000 when num_gpu > 1 (only single-GPU pods share a GPU)",
    )
    checks.check(
        (gpus == 1) & (milli == 0), "gpu_milli", raw_milli, "must be 1–1000 when num_gpu = 1"
    )
    spec = text_or_empty(table.col("gpu_spec")).replace("nan", "")
    known = set(models)
    unknown = spec.map_elements(
        lambda s: bool(s) and not {x for x in s.split("|") if x} <= known,
        return_dtype=pl.Boolean,
    )
    checks.check(
        unknown, "gpu_spec", spec, f"must name GPU models of the node list: {sorted(known)}"
    )
    checks.finish()
    num = gpus.to_numpy().astype(np.int64)
    per_gpu = np.where(num > 0, milli.to_numpy().astype(np.int64), 0)
    specs = spec.to_list()
    allowed = allowed_models(specs, models)
    return PackingPods(
        name=text_or_empty(table.col("name")).to_list(),
        cpu_milli=cpu.to_numpy().astype(np.int64),
        memory_mib=mem.to_numpy().astype(np.int64),
        num_gpus=num,
        gpu_milli=per_gpu,
        allowed=allowed,
        gpu_spec=specs,
    )


def allowed_models(specs: list[str], models: tuple[str, ...]) -> BoolArray:
    """Bool (len(specs), len(models)): which models each ``gpu_spec`` ("A|B", "" = any) allows.

    The one rule for GPU-model constraints in kiban: alternatives separated by ``|``, empty
    parts ignored, an empty spec allows every model (the artifact's
    ``IsNodeAccessibleToPodByType``).
    """
    out = np.ones((len(specs), len(models)), dtype=bool)
    index = {m: i for i, m in enumerate(models)}
    cache: dict[str, np.ndarray] = {}
    for i, s in enumerate(specs):
        if not s:
            continue
        row = cache.get(s)
        if row is None:
            names = [x for x in s.split("|") if x]
            row = np.zeros(len(models), dtype=bool)
            for x in names:
                if x in index:
                    row[index[x]] = True
            if not names:
                row[:] = True
            cache[s] = row
        out[i] = row
    return out


def model_requirements(
    gpu_model: Sequence[str] | np.ndarray, models: Sequence[str]
) -> tuple[IntArray, BoolArray]:
    """Per-job GPU-model constraints under :func:`allowed_models`'s one rule, deduplicated.

    Shared by the simulator (``kiban.sim.tables.JobTables``), its placement layers and this
    module, so a constraint such as ``V100M16|V100M32`` means the same everywhere.

    Args:
        gpu_model: The ``gpu_model`` text of each job ("" = any).
        models: Names of the cluster's GPU models, in the cluster's order.

    Returns:
        (index of each job's constraint, bool (constraints, models) of allowed models).
    """
    names = np.asarray(gpu_model, dtype=object).astype(str)
    uniq, inverse = np.unique(names, return_inverse=True)
    mask = allowed_models([str(u) for u in uniq], tuple(models))
    return np.asarray(inverse, dtype=np.int64).reshape(-1), mask


# ============================================================================================
# The fragmentation measure
# ============================================================================================


@dataclass(frozen=True, slots=True)
class TypicalPods:
    """The target workload of FGD: pod shapes and their frequencies.

    Attributes:
        cpu_milli: CPU per shape.
        gpu_milli: Milli-GPU per GPU (0 = CPU-only).
        num_gpus: GPUs per shape.
        allowed: Bool (shapes, models).
        freq: Probability of each shape (sums to 1).
    """

    cpu_milli: IntArray
    gpu_milli: IntArray
    num_gpus: IntArray
    allowed: BoolArray
    freq: FloatArray


def typical_pods(pods: PackingPods, share: float = TYPICAL_POD_SHARE) -> TypicalPods:
    """The most frequent pod shapes covering ``share`` of the pods, renormalized.

    A shape is (CPU, per-GPU milli, GPU count, ``gpu_spec``); shapes are taken by decreasing
    count (ties: first seen) until their cumulative count reaches ``share`` of all pods
    (the artifact's ``GetTypicalPods``).
    """
    spec_ids = np.unique(np.asarray(pods.gpu_spec, dtype=object).astype(str), return_inverse=True)
    return _typical(
        pods.cpu_milli,
        pods.gpu_milli,
        pods.num_gpus,
        np.asarray(spec_ids[1], dtype=np.int64).reshape(-1),
        pods.allowed,
        share=share,
    )


def _typical(
    cpu: IntArray,
    milli: IntArray,
    num: IntArray,
    spec_id: IntArray,
    allowed: BoolArray,
    *,
    share: float,
) -> TypicalPods:
    if cpu.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return TypicalPods(empty, empty, empty, allowed[:0], np.zeros(0))
    key = np.zeros(cpu.shape[0], dtype=np.int64)  # mixed-radix code of the four columns
    for col in (cpu, milli, num, spec_id):
        uniq, code = np.unique(col, return_inverse=True)
        key = key * int(uniq.shape[0]) + code.reshape(-1)
    _, first, cnt_int = np.unique(key, return_index=True, return_counts=True)
    cnt = cnt_int.astype(np.float64)
    order = np.lexsort((first, -cnt))  # by decreasing count, ties by first appearance
    cum = np.cumsum(cnt[order])
    n_keep = min(int(np.searchsorted(cum, share * cnt.sum(), side="left")) + 1, order.shape[0])
    rows = first[order[:n_keep]]
    freq = cnt[order[:n_keep]] / cnt[order[:n_keep]].sum()
    return TypicalPods(
        cpu_milli=cpu[rows],
        gpu_milli=milli[rows],
        num_gpus=num[rows],
        allowed=allowed[rows],
        freq=freq,
    )


def node_frag_milli(
    gpu_left: IntArray, cpu_left: IntArray, model: IntArray, typical: TypicalPods
) -> FloatArray:
    """Expected fragmented GPU milli of node states against the target workload.

    For each typical pod shape k with probability p_k, the free GPU milli of a node counts as
    fragment unless the node can take the pod (model allowed, enough GPUs with the pod's milli
    left, enough CPU); if it can, only the GPUs with less than the pod's milli left count
    (Weng et al., §4.1; the artifact's ``NodeGpuShareFragAmount`` summed except Q3). CPU-only
    shapes count every free GPU milli.

    Args:
        gpu_left: Int (states, GPUs per node): milli left per GPU (0 for GPUs a node lacks).
        cpu_left: Free CPU per state.
        model: GPU model index per state (-1: none).
        typical: The target workload.

    Returns:
        Fragmented GPU milli per state.
    """
    left = np.asarray(gpu_left, dtype=np.int64)
    total = left.sum(axis=1).astype(np.float64)
    cpu_only_freq, m, model_ok, num, cpu, freq = _gpu_shapes(typical)
    frag = total * cpu_only_freq
    if m.shape[0] == 0 or left.shape[0] == 0:
        return frag
    below = left[:, :, None] < m[None, None, :]  # (S, G, K)
    below_milli = np.einsum("sg,sgk->sk", left, below)  # integers: exact
    ok = model_ok[np.maximum(model, -1)]  # a copy; row -1 (no model) is all False
    ok &= below.sum(axis=1) <= left.shape[1] - num  # enough GPUs with the milli left
    ok &= cpu_left[:, None] >= cpu
    per = np.where(ok, below_milli, total[:, None])
    return frag + per @ freq


_GPU_SHAPES: dict[int, tuple[TypicalPods, tuple[Any, ...]]] = {}
""":func:`_gpu_shapes` per target workload (by identity; the workload kept alive with it)."""


def _gpu_shapes(typical: TypicalPods) -> tuple[Any, ...]:
    """The CPU-only shapes' total frequency and the GPU shapes' columns of ``typical``.

    A run scores node states against one target workload thousands of times, a few states
    at a time: its columns are selected once (the same values). The models each shape allows
    come as one row per model and a last row, all False, for a node with no model (-1).
    """
    got = _GPU_SHAPES.get(id(typical))
    if got is not None and got[0] is typical:
        return got[1]
    gpu_k = typical.gpu_milli > 0
    allowed = typical.allowed[gpu_k]
    cols = (
        float(typical.freq[~gpu_k].sum()),
        typical.gpu_milli[gpu_k],
        np.concatenate((allowed.T, np.zeros((1, allowed.shape[0]), dtype=bool))),
        typical.num_gpus[gpu_k],
        typical.cpu_milli[gpu_k],
        typical.freq[gpu_k],
    )
    if len(_GPU_SHAPES) >= 64:  # a long sweep: forget the old runs' workloads
        _GPU_SHAPES.clear()
    _GPU_SHAPES[id(typical)] = (typical, cols)
    return cols


def job_typical_pods(
    num_gpus: IntArray,
    gpus_per_node: IntArray,
    allowed: BoolArray,
    max_node_gpus: int,
    share: float = TYPICAL_POD_SHARE,
    *,
    gpu_milli: IntArray | None = None,
    cpu_milli: IntArray | None = None,
    host_cpu_milli: IntArray | None = None,
) -> TypicalPods:
    """FGD's target workload for the jobs of a replay.

    A job's shape is the GPUs it needs on one node (``gpus_per_node``, or ``num_gpus`` capped at
    the largest node when it may spread) and the GPU models it allows; shapes are kept by
    decreasing count until they cover ``share`` of the jobs, as :func:`typical_pods`.
    CPU-only pods (``host_cpu_milli``) count among them as shapes of no GPU on any model, as the
    artifact counts them (``typicalPodsConfig.isInvolvedCpuPods``, true in its
    ``scripts/generate_config_and_run.py``; ``GetTypicalPods`` over ``sim.workloadPods``).

    Args:
        num_gpus: GPUs per job.
        gpus_per_node: Required GPUs per node (0 = any split).
        allowed: Bool (jobs, models).
        max_node_gpus: GPUs of the largest node.
        share: Share of the jobs the kept shapes cover.
        gpu_milli: Milli-GPU per GPU of each job (None: whole GPUs).
        cpu_milli: CPU per job (None: CPU never binds).
        host_cpu_milli: CPU of each CPU-only pod of the run (None: none counted).
    """
    per_node = np.where(gpus_per_node > 0, gpus_per_node, np.minimum(num_gpus, max_node_gpus))
    per_node = np.maximum(per_node, 1).astype(np.int64)
    n = int(per_node.shape[0])
    cpu = np.zeros(n, dtype=np.int64) if cpu_milli is None else np.asarray(cpu_milli, np.int64)
    milli = (
        np.full(n, MILLI_PER_GPU, dtype=np.int64)
        if gpu_milli is None
        else np.asarray(gpu_milli, np.int64)
    )
    if host_cpu_milli is not None and len(host_cpu_milli):
        k = len(host_cpu_milli)
        cpu = np.concatenate([cpu, np.asarray(host_cpu_milli, dtype=np.int64)])
        milli = np.concatenate([milli, np.zeros(k, dtype=np.int64)])
        per_node = np.concatenate([per_node, np.zeros(k, dtype=np.int64)])
        allowed = np.concatenate([allowed, np.ones((k, allowed.shape[1]), dtype=bool)])
        n += k
    if allowed.shape[1] <= 62:
        spec_id = allowed.astype(np.int64) @ (np.int64(1) << np.arange(allowed.shape[1]))
    else:
        spec_id = np.unique(allowed, axis=0, return_inverse=True)[1]
    return _typical(
        cpu,
        milli,
        per_node,
        np.asarray(spec_id, dtype=np.int64).reshape(-1),
        allowed,
        share=share,
    )


def whole_gpu_frag_table(typical: TypicalPods, n_models: int, max_gpus: int) -> FloatArray:
    """Fragmentation (in GPUs) of a node with f whole free GPUs of model m: table (m, f).

    :func:`node_frag_milli` for nodes whose free GPUs are whole and whose CPU never binds, the
    case of the event simulator (which does not share GPUs): a free GPU is fragment for a
    target shape that needs more GPUs than the node has free, or another model.
    """
    f = np.arange(max_gpus + 1)
    left = np.where(np.arange(max_gpus)[None, :] < f[:, None], MILLI_PER_GPU, 0)
    out = np.zeros((n_models, max_gpus + 1))
    big = np.full(f.shape[0], np.iinfo(np.int64).max // 4, dtype=np.int64)
    for m in range(n_models):
        model = np.full(f.shape[0], m, dtype=np.int64)
        out[m] = node_frag_milli(left, big, model, typical) / MILLI_PER_GPU
    return out


# ============================================================================================
# The experiment
# ============================================================================================


def tuned_order(
    pods: PackingPods, capacity_milli: int, ratio: float, rng: np.random.Generator
) -> IntArray:
    """Pod indices in the order the experiment places them (see the module docstring, 1–2).

    Args:
        pods: The original pod list.
        capacity_milli: The cluster's GPU milli.
        ratio: Target requests as a share of capacity (the artifact's ``-tune``, 1.3).
        rng: Random stream of the run.

    Returns:
        Indices into ``pods`` (copies repeat an index).
    """
    by_name = np.asarray(sorted(range(pods.n_pods), key=lambda i: pods.name[i]), dtype=np.int64)
    order = by_name[rng.permutation(by_name.shape[0])]
    total = pods.total_gpu_milli
    requested = int(total.sum())
    target = ratio * capacity_milli
    if ratio <= 0 or requested == target:  # the artifact: a ratio ≤ 0 keeps the list
        return order
    if requested > target:
        keep = list(order.tolist())
        while requested > target and keep:
            idx = int(rng.integers(len(keep)))
            requested -= int(total[keep.pop(idx)])
        return np.asarray(keep, dtype=np.int64)
    extra: list[int] = []
    while True:
        idx = int(by_name[rng.integers(by_name.shape[0])])
        if requested + int(pods.gpu_milli[idx]) > target:
            break
        requested += int(total[idx])
        extra.append(idx)
    return np.concatenate([order, np.asarray(extra, dtype=np.int64)])


@dataclass(frozen=True, slots=True)
class PackingRun:
    """One run of the experiment, event by event (one event per pod).

    Attributes:
        policy: Placement policy.
        seed: Seed of the run.
        capacity_milli: Cluster GPU milli.
        arrived_milli: GPU milli requested by pods so far (placed or not), after each pod.
        allocated_milli: GPU milli allocated after each pod.
        frag_milli: Cluster fragmentation (Σ :func:`node_frag_milli`) after each pod.
        placed: Whether each pod was placed.
        pods: Pod index of each event.
        nodes: Node each pod went to (-1: skipped).
    """

    policy: str
    seed: int
    capacity_milli: int
    arrived_milli: IntArray
    allocated_milli: IntArray
    frag_milli: FloatArray
    placed: BoolArray
    pods: IntArray
    nodes: IntArray

    @property
    def n_failed(self) -> int:
        """Pods that fitted nowhere (skipped)."""
        return int((~self.placed).sum())


class _Packer:
    """Cluster state and the three policies (kept in arrays; one node changes per pod)."""

    def __init__(
        self,
        cluster: PackingCluster,
        pods: PackingPods,
        typical: TypicalPods,
        rng: np.random.Generator,
    ) -> None:
        self.cluster, self.pods, self.typical, self.rng = cluster, pods, typical, rng
        n, g = cluster.n_nodes, max(int(cluster.n_gpus.max(initial=0)), 1)
        self.g = g
        exists = np.arange(g)[None, :] < cluster.n_gpus[:, None]
        self.exists = exists
        self.left = np.where(exists, MILLI_PER_GPU, 0).astype(np.int64)
        self.cpu = cluster.cpu_milli.copy()
        self.mem = cluster.memory_mib.copy()
        self.model = cluster.model
        self.gpu_free_total = self.left.sum(axis=1)
        # the artifact prefixes node names with a random permutation and its scheduler breaks
        # score ties by the smallest name: a fixed random node order per run
        self.rank = rng.permutation(n)
        self.frag = node_frag_milli(self.left, self.cpu, self.model, typical)
        # FGD cache per pod shape: the best score and GPU of each node, valid until it changes
        self._shape_of: dict[tuple[int, int, int, bytes], int] = {}
        self._score = np.zeros((n, 0), dtype=np.int64)
        self._gpu = np.zeros((n, 0), dtype=np.int64)
        self._valid = np.zeros((n, 0), dtype=bool)

    # --- feasibility -----------------------------------------------------------------------
    def feasible(self, p: int) -> BoolArray:
        pods = self.pods
        ok = (self.cpu >= pods.cpu_milli[p]) & (self.mem >= pods.memory_mib[p])
        k = int(pods.num_gpus[p])
        if k == 0:
            return ok
        m = int(pods.gpu_milli[p])
        ok &= self.model >= 0
        ok &= pods.allowed[p][np.maximum(self.model, 0)]
        if m < MILLI_PER_GPU:
            ok &= (self.left >= m).any(axis=1)
        else:
            ok &= (self.left >= MILLI_PER_GPU).sum(axis=1) >= k
        return ok

    # --- GPU choice on a node ---------------------------------------------------------------
    def _whole_gpus(self, node: int, k: int) -> IntArray:
        return np.flatnonzero(self.left[node] >= MILLI_PER_GPU)[:k]

    def _share_gpu(self, node: int, m: int, how: str) -> int:
        cand = np.flatnonzero(self.left[node] >= m)
        if how == "random":
            return int(cand[self.rng.integers(cand.shape[0])])
        return int(cand[np.argmin(self.left[node, cand])])  # best fit, first on ties

    # --- policies -----------------------------------------------------------------------------
    def _tie(self, nodes: IntArray, score: IntArray) -> int:
        best = nodes[score == score.max()]
        return int(best[np.argmin(self.rank[best])])

    def place(self, p: int, policy: str) -> int:
        """Place pod ``p``; return its node, or -1 if it fits nowhere."""
        ok = self.feasible(p)
        nodes = np.flatnonzero(ok)
        if nodes.shape[0] == 0:
            return -1
        pods = self.pods
        k, m = int(pods.num_gpus[p]), int(pods.gpu_milli[p])
        gpu: int | IntArray | None = None
        if policy == "random":
            node = int(nodes[self.rng.integers(nodes.shape[0])])
            if k:
                gpu = self._share_gpu(node, m, "random") if m < MILLI_PER_GPU else None
        elif policy == "best-fit":
            cpu_after = (self.cpu[nodes] - pods.cpu_milli[p]) / MAX_SPEC_CPU_MILLI
            gpu_after = (self.gpu_free_total[nodes] - k * m) / MAX_SPEC_GPU_MILLI
            raw = (1.0 - 0.5 * cpu_after - 0.5 * gpu_after) * MAX_NODE_SCORE
            node = self._tie(nodes, np.trunc(raw).astype(np.int64))
            if k:
                gpu = self._share_gpu(node, m, "best") if m < MILLI_PER_GPU else None
        elif policy == "fgd":
            score, best_gpu = self._fgd_scores(p, nodes)
            node = self._tie(nodes, score)
            if k and m < MILLI_PER_GPU:
                gpu = int(best_gpu[np.searchsorted(nodes, node)])
        else:
            msg = f"placement policy = {policy!r}: allowed {', '.join(PACKING_POLICIES)}"
            raise ConfigError(msg)
        self._take(p, node, gpu)
        return node

    def _take(self, p: int, node: int, gpu: int | IntArray | None) -> None:
        pods = self.pods
        k, m = int(pods.num_gpus[p]), int(pods.gpu_milli[p])
        self.cpu[node] -= pods.cpu_milli[p]
        self.mem[node] -= pods.memory_mib[p]
        if k:
            if m < MILLI_PER_GPU:
                self.left[node, gpu] -= m
            else:
                self.left[node, self._whole_gpus(node, k)] = 0
            self.gpu_free_total[node] -= k * m
        self.frag[node] = node_frag_milli(
            self.left[node : node + 1],
            self.cpu[node : node + 1],
            self.model[node : node + 1],
            self.typical,
        )[0]
        self._valid[node, :] = False

    # --- FGD --------------------------------------------------------------------------------
    def _shape(self, p: int) -> int:
        pods = self.pods
        key = (
            int(pods.cpu_milli[p]),
            int(pods.gpu_milli[p]),
            int(pods.num_gpus[p]),
            pods.allowed[p].tobytes(),
        )
        s = self._shape_of.get(key)
        if s is None:
            s = len(self._shape_of)
            self._shape_of[key] = s
            n = self.cluster.n_nodes
            self._score = np.concatenate([self._score, np.zeros((n, 1), np.int64)], axis=1)
            self._gpu = np.concatenate([self._gpu, np.zeros((n, 1), np.int64)], axis=1)
            self._valid = np.concatenate([self._valid, np.zeros((n, 1), bool)], axis=1)
        return s

    def _fgd_scores(self, p: int, nodes: IntArray) -> tuple[IntArray, IntArray]:
        s = self._shape(p)
        stale = nodes[~self._valid[nodes, s]]
        if stale.shape[0]:
            score, gpu = self._fgd_compute(p, stale)
            self._score[stale, s] = score
            self._gpu[stale, s] = gpu
            self._valid[stale, s] = True
        return self._score[nodes, s], self._gpu[nodes, s]

    def _fgd_compute(self, p: int, nodes: IntArray) -> tuple[IntArray, IntArray]:
        """Best FGD score and GPU of placing pod ``p`` on each of ``nodes`` (all feasible)."""
        pods = self.pods
        k, m, c = int(pods.num_gpus[p]), int(pods.gpu_milli[p]), int(pods.cpu_milli[p])
        left = self.left[nodes]
        before = self.frag[nodes]
        cpu_after = self.cpu[nodes] - c
        model = self.model[nodes]
        r, g = left.shape
        if k and m < MILLI_PER_GPU:
            # one hypothetical state per (node, GPU): that GPU gives m
            trial = np.repeat(left[:, None, :], g, axis=1)
            idx = np.arange(g)
            trial[:, idx, idx] -= m
            after = node_frag_milli(
                trial.reshape(r * g, g),
                np.repeat(cpu_after, g),
                np.repeat(model, g),
                self.typical,
            ).reshape(r, g)
            score = _fgd_score(before[:, None] - after)
            score = np.where(left >= m, score, -1)
            best = np.argmax(score, axis=1)
            return score[np.arange(r), best], best
        trial = left.copy()
        if k:
            # whole GPUs: the first k untouched GPUs go to the pod
            full = left >= MILLI_PER_GPU
            rank = np.cumsum(full, axis=1)
            trial[full & (rank <= k)] = 0
        after = node_frag_milli(trial, cpu_after, model, self.typical)
        return _fgd_score(before - after), np.zeros(r, dtype=np.int64)


def _fgd_score(delta_milli: FloatArray) -> IntArray:
    """⌊100 σ(Δ/1000)⌋, the artifact's integer FGD score."""
    x = np.clip(delta_milli / MILLI_PER_GPU, -700.0, 700.0)
    return np.trunc(MAX_NODE_SCORE / (1.0 + np.exp(-x))).astype(np.int64)


def run_packing(
    cluster: PackingCluster,
    pods: PackingPods,
    policy: str,
    *,
    seed: int,
    ratio: float = 1.3,
    typical: TypicalPods | None = None,
) -> PackingRun:
    """Run the experiment once (see the module docstring).

    Args:
        cluster: The nodes.
        pods: The original pod list.
        policy: ``random``, ``best-fit`` or ``fgd``.
        seed: Seed of the shuffle, the copies and the random tie-breaks.
        ratio: Target requested GPU milli as a share of the capacity.
        typical: FGD's target workload (default: :func:`typical_pods` of ``pods``).

    Returns:
        The run, event by event.

    Raises:
        ConfigError: Unknown policy, negative seed or a ratio that is not a positive number.
    """
    if policy not in PACKING_POLICIES:
        msg = f"placement policy = {policy!r}: allowed {', '.join(PACKING_POLICIES)}"
        raise ConfigError(msg)
    if seed < 0:
        msg = f"seed = {seed}: must be a whole number ≥ 0"
        raise ConfigError(msg)
    if not (math.isfinite(ratio) and ratio >= 0):
        msg = (
            f"ratio = {ratio}: must be a number ≥ 0 (share of the GPU capacity, e.g. 1.3; "
            "0 keeps the pod list as it is)"
        )
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    capacity = cluster.gpu_milli_total
    order = tuned_order(pods, capacity, ratio, rng)
    typ = typical if typical is not None else typical_pods(pods)
    packer = _Packer(cluster, pods, typ, rng)
    n = order.shape[0]
    placed = np.zeros(n, dtype=bool)
    where = np.full(n, -1, dtype=np.int64)
    allocated = np.zeros(n, dtype=np.int64)
    frag = np.zeros(n)
    total = pods.total_gpu_milli
    used = 0
    for e, p in enumerate(order.tolist()):
        node = packer.place(p, policy)
        if node >= 0:
            placed[e] = True
            where[e] = node
            used += int(total[p])
        allocated[e] = used
        frag[e] = float(packer.frag.sum())
    return PackingRun(
        policy=policy,
        seed=seed,
        capacity_milli=capacity,
        arrived_milli=np.cumsum(total[order]),
        allocated_milli=allocated,
        frag_milli=frag,
        placed=placed,
        pods=order,
        nodes=where,
    )


def binned_by_arrival(run: PackingRun, values: FloatArray, levels_pct: IntArray) -> FloatArray:
    """Mean of ``values`` over the events whose arrived share rounds to each level (in %).

    As the artifact's ``merge_alloc_discrete_0920.py``: events are binned by arrived GPU milli
    as a whole percent of capacity (rounded half to even, as pandas ``round``); a level with no
    event takes the events within ±1 %; NaN if none.
    """
    arrived_pct = np.round(run.arrived_milli / run.capacity_milli * 100.0)
    out = np.full(levels_pct.shape[0], np.nan)
    for i, level in enumerate(levels_pct.tolist()):
        sel = arrived_pct == level
        if not sel.any():
            sel = (arrived_pct >= level - 1) & (arrived_pct <= level + 1)
        if sel.any():
            out[i] = float(values[sel].mean())
    return out


def allocation_pct(run: PackingRun) -> FloatArray:
    """Allocated GPU milli after each pod, in % of capacity (the artifact rounds to 0.01)."""
    return np.round(run.allocated_milli / run.capacity_milli * 100.0, 2)


def table_typical_pods(
    jobs: Any, allowed: BoolArray, max_node_gpus: int, *, uses_cpu: bool
) -> TypicalPods:
    """:func:`job_typical_pods` of a job table with its shares (and CPU requests if counted).

    Args:
        jobs: A :class:`~kiban.sim.jobs.JobTable` (``min_num_gpus``, ``gpus_per_node``,
            ``gpu_milli``, ``cpu_milli``).
        allowed: See :func:`job_typical_pods`.
        max_node_gpus: See :func:`job_typical_pods`.
        uses_cpu: Whether the jobs' CPU requests count (nodes have CPU to check); the run's
            CPU-only pods (``jobs.host_pods``) then count too.
    """
    host = getattr(jobs, "host_pods", None)
    typical = job_typical_pods(
        np.asarray(jobs.min_num_gpus, dtype=np.int64),
        np.asarray(jobs.gpus_per_node, dtype=np.int64),
        allowed,
        max_node_gpus,
        gpu_milli=np.asarray(jobs.gpu_milli, dtype=np.int64),
        cpu_milli=np.asarray(jobs.cpu_milli, dtype=np.int64) if uses_cpu else None,
        host_cpu_milli=np.asarray(host.cpu_milli, dtype=np.int64)
        if uses_cpu and host is not None
        else None,
    )
    return _merge_cpu_only(typical)


def _merge_cpu_only(typical: TypicalPods) -> TypicalPods:
    """One target shape for all CPU-only ones (CPU 0, their summed frequency).

    :func:`node_frag_milli` counts a node's free GPU milli for a CPU-only shape whatever its CPU
    (the artifact's XL and XR cases), so the shapes' CPU values never matter: one row gives the
    same measure with fewer columns and no CPU classes.
    """
    cpu_only = typical.gpu_milli == 0
    if not cpu_only.any():
        return typical
    keep = np.flatnonzero(~cpu_only)
    first = int(np.flatnonzero(cpu_only)[0])
    rows = np.concatenate([keep, [first]])
    freq = typical.freq[rows].copy()
    freq[-1] = float(typical.freq[cpu_only].sum())
    cpu = typical.cpu_milli[rows].copy()
    cpu[-1] = 0
    return TypicalPods(
        cpu_milli=cpu,
        gpu_milli=typical.gpu_milli[rows],
        num_gpus=typical.num_gpus[rows],
        allowed=typical.allowed[rows],
        freq=freq,
    )
