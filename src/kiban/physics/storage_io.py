"""Storage I/O: input-rate demand, max-min fair bandwidth sharing, caches, data stalls, checkpoints.

Data-pipeline model (physics.md §5.1):

    r_required = n_gpus · r_per_gpu · speed                        input bytes/s a job consumes
    h          = min(1, C_cache / D_dataset)                        local-cache hit ratio
    remote     = (1 − h) · r_required                                shared file-system demand
    r_achieved = min(r_required, r_prep, share / (1 − h))           share = max-min fair share
    stall      = 1 − r_achieved / r_required

Checkpoints (physics.md §5.2): S = N_params · b (b ≈ 14 B/param for mixed-precision Adam),
t_write = S / B.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray

__all__ = [
    "DEFAULT_CHECKPOINT_BYTES_PER_PARAM",
    "DEFAULT_PREP_B_PER_S_PER_CORE",
    "IMAGENET_MEAN_JPEG_B",
    "REFERENCE_MEMORY_BW_B_PER_S",
    "REFERENCE_TRAIN_IMG_PER_S",
    "achieved_input_rate_b_per_s",
    "cache_hit_frac",
    "checkpoint_size_b",
    "checkpoint_write_s",
    "grouped_maxmin_share",
    "input_rate_demand_b_per_s",
    "input_rate_scale",
    "job_prep_cores",
    "maxmin_share_b_per_s",
    "preprocess_rate_b_per_s",
    "remote_demand_b_per_s",
    "shared_fs_allocation_b_per_s",
    "stall_frac",
    "warm_cache_hit_frac",
    "water_level",
]

DEFAULT_CHECKPOINT_BYTES_PER_PARAM = 14.0
"""Bytes per parameter of a mixed-precision Adam checkpoint: fp32 master 4 + m 4 + v 4 + bf16
weights 2 (ZeRO, SC'20; physics.md §5.2 gives 12–16)."""


def input_rate_demand_b_per_s(
    n_gpus: ArrayLike, rate_per_gpu_b_per_s: ArrayLike, speed_frac: ArrayLike = 1.0
) -> FloatArray:
    """Input bytes per second a job needs to keep its GPUs busy: n · r_per_gpu · speed.

    Args:
        n_gpus: GPUs of each job (≥ 0).
        rate_per_gpu_b_per_s: input bytes per second per GPU at full speed (≥ 0).
        speed_frac: compute speed relative to full (a throttled job reads proportionally less).

    Returns:
        Required rate in B/s, broadcast shape of the inputs.

    References:
        physics.md §5.1 (per-GPU read rate = samples/s × bytes/sample).
    """
    n = np.maximum(np.asarray(n_gpus, dtype=np.float64), 0.0)
    rate = np.maximum(np.asarray(rate_per_gpu_b_per_s, dtype=np.float64), 0.0)
    speed = np.clip(np.asarray(speed_frac, dtype=np.float64), 0.0, 1.0)
    return n * rate * speed


def maxmin_share_b_per_s(
    demand_b_per_s: ArrayLike,
    capacity_b_per_s: float,
    weights: ArrayLike | None = None,
) -> FloatArray:
    """Split a shared bandwidth max-min fairly (water-filling), optionally weighted.

    Each job gets x_i = min(d_i, w_i·L), with the water level L chosen so that Σ x_i = C when
    Σ d_i > C (otherwise everyone gets its demand). Computed by sorting the demands by d_i/w_i
    and one cumulative sum: no loop over jobs. O(n log n).

    Properties: Σ x ≤ C; 0 ≤ x_i ≤ d_i; every job that gets less than its demand gets the same
    weighted share x_i/w_i = L, and no satisfied job has d_i/w_i above L.

    Args:
        demand_b_per_s: demand of each job in B/s, shape (n,); negative values count as 0.
        capacity_b_per_s: shared capacity in B/s (≥ 0).
        weights: positive weight per job (e.g. its GPU count); default equal weights.

    Returns:
        Allocation per job in B/s, shape (n,).

    References:
        Bertsekas & Gallager, "Data Networks" (1992), §6.5.2 max-min fairness (progressive
        filling); physics.md §5.1.
    """
    d = np.maximum(np.asarray(demand_b_per_s, dtype=np.float64).reshape(-1), 0.0)
    n = d.size
    if n == 0:
        return d.copy()
    if weights is None:
        w = np.ones(n, dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            w = np.broadcast_to(w, (n,))
    w = np.maximum(w, 1e-300)  # a new array: the caller's weights are never written
    cap = max(float(capacity_b_per_s), 0.0)
    if float(d.sum()) <= cap:
        return d.copy()
    return np.minimum(d, w * water_level(d, w, cap))


def water_level(d: FloatArray, w: FloatArray, cap: float) -> float:
    """The water level L of :func:`maxmin_share_b_per_s` when Σ d > cap (x_i = min(d_i, w_i·L)).

    Args:
        d: Demands (≥ 0), shape (n,), n ≥ 1.
        w: Weights (> 0), shape (n,).
        cap: Capacity (≥ 0).

    Returns:
        L ≥ 0. Entries with d_i = 0 may be left out: they sort first, add nothing to the
        satisfied sum and leave every level a later entry sees unchanged, so L is the same
        number (a caller with many zero demands passes only the others).
    """
    ratio = d / w
    order = ratio.argsort(kind="stable")
    d_sorted = d[order]
    w_sorted = w[order]
    # Level if the first k jobs (k = 0..n-1) are satisfied and the rest share what is left.
    sat_d = np.concatenate(([0.0], d_sorted.cumsum()[:-1]))
    rest_w = w_sorted[::-1].cumsum()[::-1]
    level = (cap - sat_d) / rest_w
    # The right k is the first one whose next job is not satisfied at that level.
    k = int((level < ratio[order]).argmax())
    return max(float(level[k]), 0.0)


def cache_hit_frac(cache_b: ArrayLike, dataset_b: ArrayLike) -> FloatArray:
    """Local-cache hit ratio under uniform random per-epoch access: h = min(1, C/D).

    Args:
        cache_b: cache capacity available to the job in bytes (≥ 0).
        dataset_b: dataset size in bytes (≥ 0); an empty dataset counts as fully cached.

    Returns:
        Hit fraction in [0, 1], broadcast shape of the inputs.

    References:
        physics.md §5.1 (SiloD's closed-form cache estimator, Zhao et al., EuroSys'23).
    """
    c = np.maximum(np.asarray(cache_b, dtype=np.float64), 0.0)
    d = np.maximum(np.asarray(dataset_b, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(d > 0.0, c / np.where(d > 0.0, d, 1.0), 1.0)
    return np.clip(h, 0.0, 1.0)


def remote_demand_b_per_s(required_b_per_s: ArrayLike, hit_frac: ArrayLike) -> FloatArray:
    """Bytes per second a job asks of the shared file system: (1 − h) · r_required.

    Args:
        required_b_per_s: the job's input rate in B/s.
        hit_frac: cache hit fraction h in [0, 1].

    Returns:
        Remote demand in B/s.

    References:
        physics.md §5.1.
    """
    r = np.maximum(np.asarray(required_b_per_s, dtype=np.float64), 0.0)
    h = np.clip(np.asarray(hit_frac, dtype=np.float64), 0.0, 1.0)
    return (1.0 - h) * r


def preprocess_rate_b_per_s(n_cpu_cores: ArrayLike, per_core_b_per_s: ArrayLike) -> FloatArray:
    """Preprocessing (decode/augment) throughput of a job's CPU cores: n_cores · r_per_core.

    Args:
        n_cpu_cores: CPU cores given to the job's input pipeline (≥ 0).
        per_core_b_per_s: input bytes one core prepares per second.

    Returns:
        Rate in B/s.

    References:
        physics.md §5.1 (r_prep = n_cpu · r_per_core; an A100 ResNet-50 step can consume
        ~5,300 img/s while a CPU decodes ~850 img/s); Mohan et al., VLDB 14(5) 2021.
    """
    n = np.maximum(np.asarray(n_cpu_cores, dtype=np.float64), 0.0)
    return n * np.maximum(np.asarray(per_core_b_per_s, dtype=np.float64), 0.0)


def achieved_input_rate_b_per_s(
    required_b_per_s: ArrayLike,
    remote_share_b_per_s: ArrayLike,
    hit_frac: ArrayLike = 0.0,
    preprocess_b_per_s: ArrayLike = np.inf,
) -> FloatArray:
    """Input rate a job achieves: min(r_required, r_prep, share / (1 − h)).

    Cache hits cost no shared bandwidth, so a remote share B serves B/(1 − h) bytes/s of input.

    Args:
        required_b_per_s: rate the job needs in B/s.
        remote_share_b_per_s: its share of the shared file system in B/s.
        hit_frac: cache hit fraction h in [0, 1].
        preprocess_b_per_s: CPU preprocessing limit in B/s (inf: no limit).

    Returns:
        Achieved rate in B/s, ≤ required.

    References:
        physics.md §5.1.
    """
    r = np.maximum(np.asarray(required_b_per_s, dtype=np.float64), 0.0)
    share = np.maximum(np.asarray(remote_share_b_per_s, dtype=np.float64), 0.0)
    miss = 1.0 - np.clip(np.asarray(hit_frac, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fetch = np.where(miss > 0.0, share / np.where(miss > 0.0, miss, 1.0), np.inf)
    prep = np.asarray(preprocess_b_per_s, dtype=np.float64)
    return np.minimum(np.minimum(r, prep), fetch)


def stall_frac(required_b_per_s: ArrayLike, achieved_b_per_s: ArrayLike) -> FloatArray:
    """Share of time the GPUs wait on input: 1 − achieved/required, clipped to [0, 1].

    A job that needs no input (required = 0) never stalls.

    Args:
        required_b_per_s: required input rate in B/s.
        achieved_b_per_s: achieved input rate in B/s.

    Returns:
        Stall fraction in [0, 1], broadcast shape of the inputs.

    References:
        physics.md §5.1 (stall fraction = 1 − r_job/r_gpu); Mohan et al., VLDB 14(5) 2021.
    """
    r = np.asarray(required_b_per_s, dtype=np.float64)
    a = np.asarray(achieved_b_per_s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(r > 0.0, 1.0 - a / np.where(r > 0.0, r, 1.0), 0.0)
    return np.clip(s, 0.0, 1.0)


def checkpoint_size_b(
    n_params: ArrayLike, bytes_per_param: float = DEFAULT_CHECKPOINT_BYTES_PER_PARAM
) -> FloatArray:
    """Checkpoint size: S = N_params · b.

    Args:
        n_params: model parameters (≥ 0).
        bytes_per_param: b; 14 for mixed-precision Adam (12–16).

    Returns:
        Size in bytes.

    References:
        physics.md §5.2; Rajbhandari et al., "ZeRO", SC'20 (16 B/param with fp16 grads).
    """
    return np.maximum(np.asarray(n_params, dtype=np.float64), 0.0) * bytes_per_param


def checkpoint_write_s(size_b: ArrayLike, bandwidth_b_per_s: ArrayLike) -> FloatArray:
    """Synchronous checkpoint write time: t = S / B.

    Args:
        size_b: checkpoint size in bytes (≥ 0).
        bandwidth_b_per_s: write bandwidth the job gets, min(client total, file system), > 0;
            zero bandwidth gives inf for a non-empty checkpoint.

    Returns:
        Time in s.

    References:
        physics.md §5.2 (t_write = S_ckpt / min(B_client_total, B_fs)).
    """
    s = np.maximum(np.asarray(size_b, dtype=np.float64), 0.0)
    bw = np.maximum(np.asarray(bandwidth_b_per_s, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0.0, s / bw, 0.0)


# --- issue 10: caches that fill, node capacity, CPU preprocessing, shared FS with checkpoints ---

IMAGENET_MEAN_JPEG_B = 1_448_283_629_516 / 12_811_670
"""Mean size of an ImageNet-1k training JPEG, ≈ 113 kB: the training set's bytes over its
files as measured by Dell EMC (Ready Solutions for AI: Deep Learning with NVIDIA, Reference
Guide v1.0, 2018, §3 "Isilon F800" profiling: 1,448,283,629,516 B in 12,811,670 files of the
10× ILSVRC2012 set) [P]."""

_DELL_RN50_IMG_PER_S = 2940.0
_DELL_HOST_CORES = 40.0
_DELL_CPU_UTIL_FRAC = 0.33

DEFAULT_PREP_B_PER_S_PER_CORE = (
    _DELL_RN50_IMG_PER_S / (_DELL_CPU_UTIL_FRAC * _DELL_HOST_CORES) * IMAGENET_MEAN_JPEG_B
)
"""Input bytes one host core reads, decodes and augments per second: ≈ 223 ImageNet JPEGs/s,
≈ 25.2 MB/s. MEASURED: Dell EMC Ready Solutions for AI — Deep Learning with NVIDIA, Reference
Guide v1.0 (2018), §3: ResNet-50 FP16 training in TensorFlow on one PowerEdge C4140 (4 × V100
SXM2, 2 × Xeon Gold 6148 = 40 cores) held 2,940 images/s with the host CPUs about 33 % busy
"for I/O, TFRecords parsing and JPEG decoding" [P]: 2,940 / (0.33 × 40) = 223 images/s per busy
core × 113 kB (:data:`IMAGENET_MEAN_JPEG_B`). The CPU time also covers the framework's own
threads, so this is a lower bound on a core's preprocessing rate. Cross-check: Mohan et al.
(PVLDB 14(5) 2021) report that image and audio models need 3–24 cores per GPU to hide
preprocessing; at this rate ResNet-50 needs 5 cores on a V100 (1,156 images/s) and 11 on an
A100 (2,470), inside that range. Replaces the earlier ASSUMED 11 MB/s (≈ 100 images/s per core,
from a teaching tool's "a CPU decodes ~850 images/s" spread over an assumed 8-core socket)."""


REFERENCE_MEMORY_BW_B_PER_S = 2.039e12
"""Memory bandwidth of the GPU the job tables' input rates are stated for: A100 SXM 80 GB
(2,039 GB/s, NVIDIA A100 datasheet; the job model's vision archetype is an A100 ResNet-50
figure, physics.md §5.1). Used only for GPU models without a published training throughput
(:data:`REFERENCE_TRAIN_IMG_PER_S`): there a job reads ``rate · memory_bw_k / REFERENCE``
(ASSUMED proxy)."""

REFERENCE_TRAIN_IMG_PER_S = 2470.0
"""ResNet-50 v1.5 training throughput of the reference GPU (A100 SXM 80 GB, one GPU, mixed
precision, PyTorch): 2,470 images/s, NVIDIA DeepLearningExamples
``PyTorch/Classification/ConvNets/resnet50v1.5/README.md``, "Training performance: NVIDIA DGX
A100 (8x A100 80GB)" (pytorch-21.03 container) [P]. Equal to the catalog's
``a100-sxm-80gb.resnet50_train_img_per_s``."""


def input_rate_scale(
    memory_bw_b_per_s: ArrayLike,
    reference_b_per_s: float | None,
    train_img_per_s: ArrayLike | None = None,
    reference_img_per_s: float = REFERENCE_TRAIN_IMG_PER_S,
) -> FloatArray:
    """Factor on a reference-GPU input rate for GPUs of the given kind.

    A data-parallel job consumes samples as fast as its GPU trains, so its input rate on GPU
    model k is the reference rate times k's training throughput over the reference GPU's
    (catalog ``GpuSku.resnet50_train_img_per_s``, published ResNet-50 figures; the one model
    class with published numbers from the P40 to the H100). Where a GPU has no published
    figure (``train_img_per_s`` ≤ 0), memory bandwidth is the proxy (ASSUMED).

    Args:
        memory_bw_b_per_s: memory bandwidth of each GPU model, B/s (≤ 0: unknown, factor 1).
        reference_b_per_s: memory bandwidth the rates hold for; None: factor 1 everywhere
            (the rates hold on every GPU).
        train_img_per_s: published ResNet-50 training images/s of each GPU model (≤ 0 or
            None: not published).
        reference_img_per_s: the same figure for the reference GPU (> 0).

    Returns:
        Scale factors, shape of ``memory_bw_b_per_s``.

    References:
        physics.md §5.1; the catalog's ``source`` column names each figure's source.
    """
    bw = np.asarray(memory_bw_b_per_s, dtype=np.float64)
    if reference_b_per_s is None:
        return np.ones_like(bw)
    by_bw = np.where(bw > 0, bw / reference_b_per_s, 1.0)
    if train_img_per_s is None:
        return np.asarray(by_bw, dtype=np.float64)
    img = np.broadcast_to(np.asarray(train_img_per_s, dtype=np.float64), bw.shape)
    return np.asarray(np.where(img > 0, img / reference_img_per_s, by_bw), dtype=np.float64)


def grouped_maxmin_share(
    demand: ArrayLike, group: ArrayLike, capacity_per_group: ArrayLike
) -> FloatArray:
    """Max-min fair split of each group's capacity among its members (water-filling per group).

    The same allocation as :func:`maxmin_share_b_per_s`, done for all groups at once (one
    lexsort and cumulative sums): each member gets min(d_i, L_g), with L_g the group's level.
    Used for a node's cache bytes among the jobs on it and for any per-group shared resource.

    Args:
        demand: demand of each member (any unit, ≥ 0), shape (n,).
        group: group index of each member, shape (n,).
        capacity_per_group: capacity of each group (same unit), shape (n_groups,).

    Returns:
        Allocation per member, shape (n,); Σ per group ≤ its capacity, 0 ≤ x ≤ d.

    References:
        Bertsekas & Gallager, "Data Networks" (1992), §6.5.2 (progressive filling).
    """
    d = np.maximum(np.asarray(demand, dtype=np.float64).reshape(-1), 0.0)
    g = np.asarray(group, dtype=np.int64).reshape(-1)
    cap = np.maximum(np.asarray(capacity_per_group, dtype=np.float64), 0.0)
    n = d.size
    if n == 0:
        return d.copy()
    order = np.lexsort((d, g))
    ds, gs = d[order], g[order]
    first = np.searchsorted(gs, gs, side="left")
    size = np.bincount(gs, minlength=cap.size)
    rank = np.arange(n) - first
    cum = np.cumsum(ds)
    before_grp = cum[first] - ds[first]
    sat = cum - ds - before_grp  # demand of the members before this one in its group
    rest = size[gs] - rank
    level = (cap[gs] - sat) / rest
    # a member is below the water when its demand ≤ the level computed with it unsatisfied
    below = ds <= level
    # the group's level is the one of its first member that is not below the water
    not_below = np.where(below, n, np.arange(n))
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    first_cut = np.minimum.reduceat(not_below, starts)
    grp_ids = gs[starts]
    water = np.full(cap.size, np.inf)
    has_cut = first_cut < n
    water[grp_ids[has_cut]] = np.maximum(level[first_cut[has_cut]], 0.0)
    out = np.empty(n)
    out[order] = np.minimum(ds, water[gs])
    return out


def warm_cache_hit_frac(
    bytes_read_b: ArrayLike, cache_b: ArrayLike, dataset_b: ArrayLike
) -> FloatArray:
    """Hit ratio of a cache that fills during the first epoch and then keeps what it holds.

    Each epoch reads every sample once in random order, so during the first epoch nothing
    repeats and every read misses (h = 0); the cache keeps the first C bytes it saw (CoorDL's
    MinIO policy: no eviction, so no thrashing) and from the second epoch on h = min(1, C/D).

    Args:
        bytes_read_b: input bytes the job has read since it (re)started.
        cache_b: cache capacity the job has (after node sharing), B.
        dataset_b: data set size, B.

    Returns:
        Hit fraction in [0, 1], broadcast shape.

    References:
        Mohan et al., "Analyzing and Mitigating Data Stalls in DNN Training", VLDB 14(5) 2021
        (MinIO cache; an LRU page cache thrashes under random epoch access); physics.md §5.1.
    """
    warm = np.asarray(bytes_read_b, dtype=np.float64) >= np.asarray(dataset_b, dtype=np.float64)
    return np.asarray(np.where(warm, cache_hit_frac(cache_b, dataset_b), 0.0), dtype=np.float64)


def job_prep_cores(
    num_gpus: ArrayLike, host_cpu_cores: ArrayLike, gpus_per_server: ArrayLike
) -> FloatArray:
    """Host cores a job's input pipeline gets: its GPUs' share of the servers' cores.

    Args:
        num_gpus: GPUs of the job.
        host_cpu_cores: cores of one server (catalog ``ServerModel.host_cpu_cores``).
        gpus_per_server: GPUs of one server.

    Returns:
        Cores, broadcast shape.
    """
    n = np.asarray(num_gpus, dtype=np.float64)
    return np.asarray(
        n
        * np.asarray(host_cpu_cores, dtype=np.float64)
        / np.asarray(gpus_per_server, dtype=np.float64)
    )


def shared_fs_allocation_b_per_s(
    read_demand_b_per_s: ArrayLike,
    checkpoint_demand_b_per_s: ArrayLike,
    capacity_b_per_s: float,
) -> tuple[FloatArray, FloatArray]:
    """Share the file system max-min fairly between input reads and checkpoint writes/restores.

    Every job's read stream and every checkpoint stream is one flow of the same water-filling,
    so a large checkpoint slows the reads of all jobs and vice versa.

    Args:
        read_demand_b_per_s: remote read demand of each job, B/s, shape (n,).
        checkpoint_demand_b_per_s: write (or restore) demand of each checkpoint stream, B/s,
            shape (m,) (0 where none is in progress).
        capacity_b_per_s: file-system bandwidth, B/s.

    Returns:
        (read allocation, checkpoint allocation), shapes (n,) and (m,).

    References:
        physics.md §5.2 (t_write = S/min(B_client, B_fs)); Llama 3 checkpoints on Tectonic (2 TB/s
        sustained) share it with training reads [S].
    """
    r = np.asarray(read_demand_b_per_s, dtype=np.float64).reshape(-1)
    c = np.asarray(checkpoint_demand_b_per_s, dtype=np.float64).reshape(-1)
    alloc = maxmin_share_b_per_s(np.concatenate((r, c)), capacity_b_per_s)
    return alloc[: r.size], alloc[r.size :]
