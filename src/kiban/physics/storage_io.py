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
    "achieved_input_rate_b_per_s",
    "cache_hit_frac",
    "checkpoint_size_b",
    "checkpoint_write_s",
    "input_rate_demand_b_per_s",
    "maxmin_share_b_per_s",
    "preprocess_rate_b_per_s",
    "remote_demand_b_per_s",
    "stall_frac",
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
    w = (
        np.ones(n, dtype=np.float64)
        if weights is None
        else np.broadcast_to(np.asarray(weights, dtype=np.float64), (n,)).copy()
    )
    w = np.maximum(w, 1e-300)
    cap = max(float(capacity_b_per_s), 0.0)
    if float(d.sum()) <= cap:
        return d.copy()
    ratio = d / w
    order = np.argsort(ratio, kind="stable")
    d_sorted = d[order]
    w_sorted = w[order]
    # Level if the first k jobs (k = 0..n-1) are satisfied and the rest share what is left.
    sat_d = np.concatenate(([0.0], np.cumsum(d_sorted)[:-1]))
    rest_w = np.cumsum(w_sorted[::-1])[::-1]
    level = (cap - sat_d) / rest_w
    # The right k is the first one whose next job is not satisfied at that level.
    k = int(np.argmax(level < ratio[order]))
    water = max(level[k], 0.0)
    return np.minimum(d, w * water)


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
