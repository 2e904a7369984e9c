"""How busy an allocated GPU really is: a per-job activity process with phases, and its power.

Measured clusters are not pegged. In Microsoft's Philly cluster the median per-minute GPU
utilization sample is 48 % and about a third of the samples read zero (Hu et al., NSDI 2024,
from the Philly ``cluster_gpu_util`` logs of Jeon et al., ATC 2019; data set
``philly-gpu-util``). This module gives every job an activity process inside its allocation and
turns it into board power with :mod:`kiban.physics.gpu_power`.

Sampling model (one sample = one minute of one GPU, as in the Philly logs)::

    u = 0                      with probability q0     idle minute (host work, data loading,
                                                        evaluation on the CPU, a paused session)
    u = 1                      with probability q1     saturated minute (kernels all minute)
    u ~ Beta(m_j, κ_min)       otherwise               an ordinary minute around the job's mean
    m_j ~ Beta(μ_c, κ_job)                              job-level busy mean, per size class c
    μ_c = μ_1 · r^k                                     k = 0, 1, 2 for 1, 2–8, > 8 GPUs

``Beta(m, κ)`` is the beta distribution with mean m and concentration κ (a = m·κ,
b = (1 − m)·κ). ``u`` is the nvidia-smi "utilization.gpu" share of the minute in which a kernel
ran. q0, q1, μ_1, r and κ_job are fitted to the Philly distribution by
``scripts/fit_activity.py`` (shipped in ``kiban/data/fitted/activity_fit.json``); κ_min is fixed
(the marginal distribution cannot separate job-to-job from minute-to-minute spread).

Phases of a minute with busy share u (time shares, summing to 1)::

    compute        = u · (1 − c_comm − c_eval)       training kernels       activity A_job
    communication  = u · c_comm                       NCCL collectives       activity A_comm
    evaluation     = u · c_eval                       forward-only passes    activity f_eval·A_job
    input_wait     = 1 − u                            GPU idle in the job    activity 0
    checkpoint     = h (taken out of all the others)  GPU idle, writing      activity 0

NCCL kernels count as "busy" for nvidia-smi, so communication is inside u. Only the compute
phase is productive: the ledger books input_wait, communication and evaluation as ``underused``
and the checkpoint share as ``checkpoint``. Power follows the phase mix; the compute phase of a
job draws ``ε_j`` times its nominal demand (input-data entropy changes power by up to 67 % for the
same DGEMM; physics.md §2.2 asks for σ ≈ 5–10 %), and where that exceeds the power limit the
GPU lowers its clock (SW power cap, :func:`kiban.physics.gpu_power.clock_frac_for_cap`).

All functions are pure and vectorized; randomness comes only from a caller's
``np.random.Generator``.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import betainc, betaincinv

from kiban.errors import CatalogError
from kiban.physics.gpu_power import (
    clock_frac_for_power_ratio,
    demand_power_w,
    fitted_gpu_power,
    gpu_power_w,
)

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray, IntArray
    from kiban.catalog import GpuSku

__all__ = [
    "COMM_ACTIVITY_FRAC",
    "COMM_SHARE_BY_SIZE_CLASS",
    "EVAL_ACTIVITY_RATIO",
    "EVAL_SHARE_FRAC",
    "LEDGER_SHARES",
    "PHASES",
    "POWER_ENTROPY_SIGMA_FRAC",
    "QUANTILE_KEYS",
    "ActivityFit",
    "PhasePower",
    "WeightedHistogram",
    "activity_size_class",
    "busy_mean_by_class",
    "draw_job_busy_mean",
    "draw_minute_busy",
    "draw_power_factor",
    "expected_busy_frac",
    "fitted_activity",
    "ks_distance",
    "ledger_shares",
    "phase_power",
    "phase_shares",
    "util_cdf",
    "weighted_quantiles",
]

PHASES: tuple[str, ...] = ("compute", "input_wait", "communication", "evaluation", "checkpoint")
"""Phase names, in the column order of :func:`phase_shares`."""

COMM_SHARE_BY_SIZE_CLASS: tuple[float, float, float] = (0.0, 0.10, 0.25)
"""Share of a job's busy time spent in collectives, for 1, 2–8 and > 8 GPUs. ASSUMED [weak]:
no collectives on one GPU; intra-node NVLink/PCIe all-reduce ≈ 10 %; cross-node ≈ 25 %.
Jeon et al. (ATC'19) report lower utilization for jobs spread over servers, without a share.
It only splits busy time between compute and communication; it does not enter the fit."""

EVAL_SHARE_FRAC = 0.05
"""Share of busy time spent in evaluation passes. ASSUMED [weak]: one validation pass per epoch
of ≈ 1/20 of the training step time. Like the communication share, outside the fit."""

COMM_ACTIVITY_FRAC = 0.25
"""Power-weighted activity during collectives: memory/NVLink bound, like LLM decode (A ≈
0.10–0.36 on H200, physics.md §2.2 [D]); the mid-band value is ASSUMED."""

EVAL_ACTIVITY_RATIO = 0.7
"""Activity of evaluation relative to the job's compute activity. ASSUMED [weak]: forward-only
kernels at smaller effective batch."""

POWER_ENTROPY_SIGMA_FRAC = 0.07
"""σ of the per-job multiplicative power factor ε (log-normal, mean 1): physics.md §2.2 keeps
σ ≈ 5–10 % for the input-entropy effect (arXiv 2212.08805: up to 67 % for the same DGEMM)."""

MINUTE_CONCENTRATION = 20.0
"""κ_min, the concentration of a job's minute samples around its mean. ASSUMED: a training loop
repeats the same step, so a job's ordinary minutes differ by a few percent (σ ≈ 0.1 at m = 0.5)."""

_FIT_RESOURCE = "data/fitted/activity_fit.json"
_N_MEAN_BINS = 128


@dataclass(frozen=True, slots=True)
class ActivityFit:
    """Parameters of the sampling model fitted to the Philly utilization distribution.

    Attributes:
        idle_minute_frac: q0, probability that a minute of an allocated GPU is idle.
        saturated_minute_frac: q1, probability that a minute is kernel-busy throughout.
        busy_mean_1gpu_frac: μ_1, mean busy share of ordinary minutes of 1-GPU jobs.
        busy_mean_ratio_per_class: r, factor on μ per size class step (1 → 2–8 → > 8 GPUs).
        job_concentration: κ_job, spread of job means around μ_c.
        minute_concentration: κ_min (fixed, not fitted).
        ks_distance: Kolmogorov–Smirnov distance of the fitted mixture to the data.
        unallocated_frac: share of the data's samples assumed to come from GPUs without a job.
    """

    idle_minute_frac: float
    saturated_minute_frac: float
    busy_mean_1gpu_frac: float
    busy_mean_ratio_per_class: float
    job_concentration: float
    minute_concentration: float
    ks_distance: float
    unallocated_frac: float


@functools.lru_cache(maxsize=1)
def fitted_activity() -> ActivityFit:
    """Load the shipped Philly fit (read on first call, cached; nothing is read at import).

    Returns:
        The fitted parameters and the KS distance the fit reached.

    Raises:
        CatalogError: if the shipped json is missing or malformed (a packaging bug).

    References:
        ``scripts/fit_activity.py`` on ``philly-gpu-util/philly_gpu_util_cdf.csv`` (Hu et al.,
        NSDI 2024; Jeon et al., ATC 2019).
    """
    path = resources.files("kiban").joinpath(_FIT_RESOURCE)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        p = raw["params"]
        return ActivityFit(
            idle_minute_frac=float(p["idle_minute_frac"]),
            saturated_minute_frac=float(p["saturated_minute_frac"]),
            busy_mean_1gpu_frac=float(p["busy_mean_1gpu_frac"]),
            busy_mean_ratio_per_class=float(p["busy_mean_ratio_per_class"]),
            job_concentration=float(p["job_concentration"]),
            minute_concentration=float(p["minute_concentration"]),
            ks_distance=float(raw["ks_distance"]),
            unallocated_frac=float(raw["unallocated_frac"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = (
            f"{_FIT_RESOURCE}: cannot read the fitted activity model ({err}); "
            "regenerate it with scripts/fit_activity.py"
        )
        raise CatalogError(msg) from err


def activity_size_class(num_gpus: ArrayLike) -> IntArray:
    """Size class of jobs for the activity model: 0 = 1 GPU, 1 = 2–8 GPUs, 2 = more than 8.

    Args:
        num_gpus: GPUs of each job (any shape).

    Returns:
        int64 class index, shape of ``num_gpus``.
    """
    n = np.asarray(num_gpus, dtype=np.int64)
    return np.asarray(np.where(n <= 1, 0, np.where(n <= 8, 1, 2)), dtype=np.int64)


def busy_mean_by_class(fit: ActivityFit) -> FloatArray:
    """μ_c for the three size classes: μ_1·r^k, clipped to (0.001, 0.999).

    Args:
        fit: fitted parameters.

    Returns:
        Array of shape (3,).
    """
    k = np.arange(3, dtype=np.float64)
    mu = fit.busy_mean_1gpu_frac * fit.busy_mean_ratio_per_class**k
    return np.clip(mu, 1e-3, 1.0 - 1e-3)


def _beta_ab(mean: FloatArray, conc: FloatArray | float) -> tuple[FloatArray, FloatArray]:
    m = np.clip(mean, 1e-4, 1.0 - 1e-4)
    return m * conc, (1.0 - m) * conc


def util_cdf(
    util_frac: ArrayLike,
    class_weights: ArrayLike,
    fit: ActivityFit,
    *,
    unallocated_frac: float = 0.0,
) -> FloatArray:
    """CDF of per-minute utilization samples of the model (right-continuous).

    F(x) = z + (1 − z)·Σ_c w_c·[q0 + (1 − q0 − q1)·∫ I_x(m·κ_min, (1 − m)·κ_min) dB(m; μ_c, κ_job)
    + q1·1{x ≥ 1}], with I the regularized incomplete beta function and the integral over m
    done on 128 equal-probability-mass bins of the job-mean distribution.

    Args:
        util_frac: points x in [0, 1] (any shape).
        class_weights: GPU-time share of the three size classes (normalised here).
        fit: model parameters.
        unallocated_frac: z, the share of samples from GPUs without a job (they read 0).

    Returns:
        F(x), shape of ``util_frac``.
    """
    x = np.clip(np.asarray(util_frac, dtype=np.float64), 0.0, 1.0)
    w = np.asarray(class_weights, dtype=np.float64)
    w = w / w.sum()
    q0, q1 = fit.idle_minute_frac, fit.saturated_minute_frac
    mid = (np.arange(_N_MEAN_BINS) + 0.5) / _N_MEAN_BINS
    flat = x.reshape(-1)
    body = np.zeros_like(flat)
    for c, mu_c in enumerate(busy_mean_by_class(fit).tolist()):
        if w[c] == 0.0:
            continue
        a_j, b_j = _beta_ab(np.asarray(mu_c), fit.job_concentration)
        means = betaincinv(a_j, b_j, mid)  # equal-mass quantiles of the job means
        a_m, b_m = _beta_ab(means, fit.minute_concentration)
        cdf_given_m = betainc(a_m[None, :], b_m[None, :], flat[:, None])
        body += w[c] * cdf_given_m.mean(axis=1)
    in_job = q0 + (1.0 - q0 - q1) * body + q1 * (flat >= 1.0)
    out = unallocated_frac + (1.0 - unallocated_frac) * in_job
    return np.asarray(out.reshape(x.shape), dtype=np.float64)


def ks_distance(
    sample_values: ArrayLike,
    sample_cdf: ArrayLike,
    model_cdf_at: ArrayLike,
    model_cdf_left: ArrayLike | None = None,
) -> float:
    """Kolmogorov–Smirnov distance between a quantile table and a model CDF.

    The data's CDF is the step function through (value, cdf). At each distinct value v the
    data's value F(v) is compared with the model's F(v), and the data's left limit F(v−) with
    the model's left limit (``model_cdf_left``; the model's value where not given, exact where
    the model is continuous).

    Args:
        sample_values: sorted values of the quantile table.
        sample_cdf: their cumulative shares in [0, 1] (non-decreasing).
        model_cdf_at: model CDF evaluated at ``sample_values``.
        model_cdf_left: model left limits F(v−) at ``sample_values`` (optional).

    Returns:
        sup |F_model − F_data|.
    """
    v = np.asarray(sample_values, dtype=np.float64)
    p = np.asarray(sample_cdf, dtype=np.float64)
    m = np.asarray(model_cdf_at, dtype=np.float64)
    ml = m if model_cdf_left is None else np.asarray(model_cdf_left, dtype=np.float64)
    uniq, first = np.unique(v, return_index=True)
    last = np.searchsorted(v, uniq, side="right") - 1
    f_at = p[last]
    f_left = np.concatenate(([0.0], p[last[:-1]]))
    return float(max(np.abs(m[first] - f_at).max(), np.abs(ml[first] - f_left).max()))


def draw_job_busy_mean(
    rng: np.random.Generator, num_gpus: ArrayLike, fit: ActivityFit
) -> FloatArray:
    """Draw each job's mean busy share of ordinary minutes, m_j ~ Beta(μ_c, κ_job).

    Args:
        rng: the run's generator (one draw per job).
        num_gpus: GPUs of each job, shape (n,).
        fit: model parameters.

    Returns:
        m_j in (0, 1), shape (n,).
    """
    mu = busy_mean_by_class(fit)[activity_size_class(num_gpus)]
    a, b = _beta_ab(mu, fit.job_concentration)
    return np.asarray(rng.beta(a, b), dtype=np.float64)


def draw_minute_busy(
    rng: np.random.Generator, job_busy_mean: ArrayLike, fit: ActivityFit
) -> FloatArray:
    """Draw one sample (a minute, or a facility step) of the busy share for each job.

    Args:
        rng: generator (one uniform and one beta draw per job).
        job_busy_mean: m_j of each job, shape (n,).
        fit: model parameters.

    Returns:
        u in [0, 1], shape (n,): 0 for idle minutes, 1 for saturated ones, else Beta(m_j, κ_min).
    """
    m = np.asarray(job_busy_mean, dtype=np.float64)
    kind = rng.random(m.shape)
    a, b = _beta_ab(m, fit.minute_concentration)
    ordinary = rng.beta(a, b)
    q0, q1 = fit.idle_minute_frac, fit.saturated_minute_frac
    return np.asarray(
        np.where(kind < q0, 0.0, np.where(kind < q0 + q1, 1.0, ordinary)), dtype=np.float64
    )


def expected_busy_frac(job_busy_mean: ArrayLike, fit: ActivityFit) -> FloatArray:
    """Long-run busy share of a job: E[u] = (1 − q0 − q1)·m_j + q1.

    Args:
        job_busy_mean: m_j, any shape.
        fit: model parameters.

    Returns:
        E[u] in [0, 1], shape of ``job_busy_mean``.
    """
    m = np.asarray(job_busy_mean, dtype=np.float64)
    q0, q1 = fit.idle_minute_frac, fit.saturated_minute_frac
    return (1.0 - q0 - q1) * m + q1


def phase_shares(
    busy_frac: ArrayLike,
    num_gpus: ArrayLike,
    checkpoint_frac: ArrayLike = 0.0,
    *,
    comm_share_by_class: tuple[float, float, float] = COMM_SHARE_BY_SIZE_CLASS,
    eval_share_frac: float = EVAL_SHARE_FRAC,
) -> FloatArray:
    """Time shares of the five phases (columns in :data:`PHASES` order), rows summing to 1.

    Args:
        busy_frac: u, kernel-busy share outside checkpoints, shape (n,).
        num_gpus: GPUs of each job, shape (n,) (sets the communication share).
        checkpoint_frac: h, share of time writing checkpoints (GPU idle), shape (n,) or scalar.
        comm_share_by_class: communication share of busy time per size class.
        eval_share_frac: evaluation share of busy time.

    Returns:
        Array of shape (n, 5).
    """
    u = np.clip(np.asarray(busy_frac, dtype=np.float64), 0.0, 1.0)
    h = np.clip(np.asarray(checkpoint_frac, dtype=np.float64), 0.0, 1.0)
    comm = np.asarray(comm_share_by_class, dtype=np.float64)[activity_size_class(num_gpus)]
    u, h, comm = np.broadcast_arrays(u, h, comm)
    run = 1.0 - h
    out = np.empty((*u.shape, len(PHASES)), dtype=np.float64)
    out[..., 0] = run * u * (1.0 - comm - eval_share_frac)
    out[..., 1] = run * (1.0 - u)
    out[..., 2] = run * u * comm
    out[..., 3] = run * u * eval_share_frac
    out[..., 4] = h
    return out


@dataclass(frozen=True, slots=True)
class PhasePower:
    """Average board power over a phase mix and what the power limit did to it.

    Attributes:
        power_w: average board power over the interval, W.
        compute_power_w: average board power during the compute phase, W: the demand, or
            k·limit where the limit binds (k ≈ 0.90, the Zeus fit of gpu_power).
        compute_demand_w: what the compute phase would draw at full clock, W (may exceed TDP).
        clock_frac: SM clock fraction during compute (1 unless the power limit binds).
        capped: True where the compute phase hits the power limit (NVML SW_POWER_CAP).
        activity_frac: time-averaged power-weighted activity at full clock (DCGM-like).
    """

    power_w: FloatArray
    compute_power_w: FloatArray
    compute_demand_w: FloatArray
    clock_frac: FloatArray
    capped: FloatArray
    activity_frac: FloatArray


def phase_power(
    shares: ArrayLike,
    compute_activity_frac: ArrayLike,
    power_factor: ArrayLike,
    power_limit_w: ArrayLike,
    sku: GpuSku,
    *,
    comm_activity_frac: float = COMM_ACTIVITY_FRAC,
    eval_activity_ratio: float = EVAL_ACTIVITY_RATIO,
) -> PhasePower:
    """Board power that follows the phase mix, with the SW power cap on compute bursts.

    Compute draws ε·P_act(A) at full clock (P_act from :func:`demand_power_w`, ε the job's
    power factor); above the power limit the clock drops to ``clock_frac_for_cap`` and the
    phase draws the limit. Other phases draw P_act of their own activity (no cap binds there);
    idle phases draw the idle-with-context power. The interval's power is the share-weighted sum.

    Args:
        shares: phase shares, shape (..., 5) (:func:`phase_shares`).
        compute_activity_frac: A of the job's compute phase (the jobs table's ``activity_frac``).
        power_factor: ε, the job's multiplicative power factor (≈ 1 ± 0.07).
        power_limit_w: enforced per-GPU power limit, W.
        sku: GPU record.
        comm_activity_frac: A during collectives.
        eval_activity_ratio: A of evaluation relative to compute.

    Returns:
        A :class:`PhasePower` with arrays of shape (...,).
    """
    sh = np.asarray(shares, dtype=np.float64)
    a = np.clip(np.asarray(compute_activity_frac, dtype=np.float64), 0.0, 1.0)
    eps = np.asarray(power_factor, dtype=np.float64)
    limit = np.asarray(power_limit_w, dtype=np.float64)
    idle_w = sku.idle_context_power_w
    # effective activity at full clock: ε scales the dynamic part of the demand
    a_eff = a * eps
    demand = idle_w + (sku.tdp_w - idle_w) * a_eff
    # y = limit / demand; the demand may exceed TDP (ε > 1), so solve on the ratio directly
    phi = clock_frac_for_power_ratio(limit / demand, sku.static_power_frac, sku.power_exponent)
    capped = demand > limit
    phi = np.where(capped, phi, 1.0)
    # a GPU whose power controller holds it at the limit averages k·limit (Zeus fit, the same
    # convention as gpu_power.average_power_under_cap_w)
    compute_w = np.minimum(demand, fitted_gpu_power().capped_power_frac * limit)
    comm_w = demand_power_w(comm_activity_frac, sku)
    eval_w = gpu_power_w(np.clip(a_eff * eval_activity_ratio, 0.0, 1.0), 1.0, sku)
    power = (
        sh[..., 0] * compute_w
        + sh[..., 1] * idle_w
        + sh[..., 2] * comm_w
        + sh[..., 3] * eval_w
        + sh[..., 4] * idle_w
    )
    act = sh[..., 0] * a_eff + sh[..., 2] * comm_activity_frac
    act = act + sh[..., 3] * a_eff * eval_activity_ratio
    return PhasePower(
        power_w=np.asarray(power, dtype=np.float64),
        compute_power_w=np.asarray(np.broadcast_to(compute_w, power.shape), dtype=np.float64),
        compute_demand_w=np.asarray(np.broadcast_to(demand, power.shape), dtype=np.float64),
        clock_frac=np.asarray(np.broadcast_to(phi, power.shape), dtype=np.float64),
        capped=np.asarray(np.broadcast_to(capped, power.shape), dtype=np.float64),
        activity_frac=np.asarray(act, dtype=np.float64),
    )


def draw_power_factor(rng: np.random.Generator, n: int) -> FloatArray:
    """Per-job multiplicative power factor ε, log-normal with mean 1 and σ = 7 %.

    Args:
        rng: generator.
        n: number of jobs.

    Returns:
        ε, shape (n,).
    """
    s = POWER_ENTROPY_SIGMA_FRAC
    return np.asarray(rng.lognormal(-0.5 * s * s, s, n), dtype=np.float64)


LEDGER_SHARES: tuple[str, ...] = (
    "productive",
    "io_stall",
    "underused",
    "checkpoint",
    "thermal_throttle",
    "power_cap",
)
"""Columns of :func:`ledger_shares`, the ledger buckets of an allocated GPU's time."""


def ledger_shares(  # noqa: PLR0917 (one share per ledger cause)
    busy_frac: ArrayLike,
    num_gpus: ArrayLike,
    checkpoint_frac: ArrayLike,
    io_stall_frac: ArrayLike,
    thermal_speed_frac: ArrayLike,
    power_speed_frac: ArrayLike,
) -> FloatArray:
    """Split an allocated GPU's time into the ledger buckets (columns in :data:`LEDGER_SHARES`).

    checkpoint = h; io_stall = (1 − h)·s (storage could not feed the GPU); of the rest, the
    phase mix (:func:`phase_shares`) gives the compute share c; input_wait, communication and
    evaluation are ``underused``; the compute time runs at speed v_t·v_p (thermal and power
    clocks), so c·(1 − v_t) is ``thermal_throttle``, c·v_t·(1 − v_p) is ``power_cap`` and the
    remainder is ``productive``. Rows sum to 1 exactly.

    Args:
        busy_frac: expected kernel-busy share u of the job (:func:`expected_busy_frac`).
        num_gpus: GPUs of the job (sets the communication share).
        checkpoint_frac: h, share of time writing checkpoints.
        io_stall_frac: s, share of the non-checkpoint time stalled on storage.
        thermal_speed_frac: speed under thermal slowdown, in (0, 1].
        power_speed_frac: speed under power capping, in (0, 1].

    Returns:
        Shares of shape (n, 6).
    """
    h = np.clip(np.asarray(checkpoint_frac, dtype=np.float64), 0.0, 1.0)
    s = np.clip(np.asarray(io_stall_frac, dtype=np.float64), 0.0, 1.0)
    vt = np.clip(np.asarray(thermal_speed_frac, dtype=np.float64), 0.0, 1.0)
    vp = np.clip(np.asarray(power_speed_frac, dtype=np.float64), 0.0, 1.0)
    ph = phase_shares(busy_frac, num_gpus, 0.0)
    h, s, vt, vp = np.broadcast_arrays(h, s, vt, vp)
    rest = (1.0 - h) * (1.0 - s)
    compute = rest * ph[..., 0]
    out = np.empty((*rest.shape, len(LEDGER_SHARES)), dtype=np.float64)
    out[..., 1] = (1.0 - h) * s
    out[..., 2] = rest - compute
    out[..., 3] = h
    out[..., 4] = compute * (1.0 - vt)
    out[..., 5] = compute * vt * (1.0 - vp)
    out[..., 0] = 1.0 - out[..., 1:].sum(axis=-1)
    return out


QUANTILE_KEYS: tuple[tuple[str, float], ...] = (
    ("p01", 0.01),
    ("p10", 0.10),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p99", 0.99),
)
"""Quantile keys of the summary's distributions (issue 10: p01, p10, p25, p50, p75, p90, p99)."""


def weighted_quantiles(values: ArrayLike, weights: ArrayLike) -> dict[str, float]:
    """Time-weighted quantiles (inverse of the weighted CDF, lower value at ties).

    Args:
        values: sampled values (e.g. per-GPU power over intervals), shape (n,).
        weights: time each value was held (GPU-seconds), shape (n,), ≥ 0.

    Returns:
        ``{"p01": ..., ..., "p99": ...}``; NaN for every key when the weights sum to 0.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    w = np.maximum(np.asarray(weights, dtype=np.float64).reshape(-1), 0.0)
    total = float(w.sum())
    if v.size == 0 or total <= 0.0:
        return {k: float("nan") for k, _ in QUANTILE_KEYS}
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order]) / total
    out: dict[str, float] = {}
    for key, q in QUANTILE_KEYS:
        i = int(np.searchsorted(cum, q - 1e-12, side="left"))
        out[key] = float(v[order][min(i, v.size - 1)])
    return out


_BIN_LIMIT = 2.0**62
"""Bin quotients smaller than this convert to int64 alike in Python and numpy."""


class WeightedHistogram:
    """Streaming time-weighted histogram with fixed bins, for quantiles of long runs.

    A run adds (value, GPU-seconds) samples at every facility step; memory stays at one array
    of bins. Quantiles are read at bin centres, so they are exact to half a bin.

    Args:
        lo: lower edge of the first bin (values below are counted in it).
        hi: upper edge of the last bin (values above are counted in it).
        bin_width: width of a bin, in the unit of the values.
    """

    __slots__ = (
        "_buf",
        "_buf_w",
        "_counts",
        "_last_counts",
        "_last_idx",
        "_last_v",
        "_last_values",
        "_lo",
        "_n",
        "_rebinned",
        "_width",
    )

    INCREMENTAL_MIN_SAMPLES = 4096
    """Fewer samples than this are binned in full at every step (measured: the comparison
    with the last step costs as much below a few thousand samples)."""

    FEW_MOVED = 16
    """At most this many moved samples are moved bin by bin (no per-bin count arrays)."""

    FULL_STEPS_AFTER_MOVE = 7
    """Steps binned in full, without the comparison, after one that moved most samples."""

    def __init__(self, lo: float, hi: float, bin_width: float) -> None:
        self._lo = float(lo)
        self._width = float(bin_width)
        self._n = max(1, int(np.ceil((hi - lo) / bin_width)))
        self._counts = np.zeros(self._n, dtype=np.float64)
        self._buf = np.empty(self._n, dtype=np.float64)
        self._buf_w = math.nan
        """The weight ``_buf`` holds ``_last_counts`` times (NaN: counts changed since)."""
        # the last samples of one weight, their bins and their count per bin: a run's GPUs
        # mostly hold their values from one facility step to the next, so only the samples
        # that changed are moved to their new bins (the same integer counts as binning every
        # sample again); a read-only array handed again (the same object) is not even compared
        self._last_values: np.ndarray | None = None
        self._last_v: FloatArray | None = None
        self._last_idx: IntArray | None = None
        self._last_counts: FloatArray | None = None  # whole numbers (exact below 2**53)
        # steps left to bin in full without comparing: after a step that moved most samples
        # (a die temperature follows every rack's inlet), the next few are binned in full
        # directly (the same integer counts either way; only the work differs)
        self._rebinned = 0

    def _bins(self, v: FloatArray) -> IntArray:
        # v − 0 is v, bit for bit: the subtraction is skipped for histograms starting at 0
        idx = ((v - self._lo if self._lo else v) / self._width).astype(np.int64)
        return np.minimum(np.maximum(idx, 0, out=idx), self._n - 1, out=idx)  # np.clip

    def _bins_few(self, values: list[float]) -> list[int] | None:
        """:meth:`_bins` of a few values in plain Python (the same bins).

        None if a value is not finite or its bin lies outside the integer range, where the
        conversion is numpy's (left to :meth:`_bins`).
        """
        lo, width, top = self._lo, self._width, self._n - 1
        out = []
        for x in values:
            q = (x - lo if lo else x) / width
            if not -_BIN_LIMIT < q < _BIN_LIMIT:  # NaN, inf or huge
                return None
            b = int(q)  # truncation toward zero, as astype(np.int64)
            out.append(0 if b < 0 else (top if b > top else b))
        return out

    def _step_counts(self, values: ArrayLike) -> FloatArray:
        """Samples per bin of ``values``, from the last call's where few samples changed."""
        if values is self._last_values and self._last_counts is not None:
            return self._last_counts  # the same (unwritable) values: the same bins
        self._last_values = (
            values if isinstance(values, np.ndarray) and not values.flags.writeable else None
        )
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape[0] < self.INCREMENTAL_MIN_SAMPLES:  # binning them all is as cheap
            counts = np.bincount(self._bins(v), minlength=self._n).astype(np.float64)
            self._last_counts = counts
            self._buf_w = math.nan
            self._last_v = self._last_idx = None
            return counts
        last_v, last_idx, last_counts = self._last_v, self._last_idx, self._last_counts
        if (
            last_idx is not None
            and last_counts is not None
            and last_v is not None
            and last_v.shape == v.shape
            and not self._rebinned
        ):
            idx, counts = last_idx, last_counts
            moved = (v != last_v).nonzero()[0]  # NaN counts as moved: binned again
            if moved.shape[0] * 4 <= v.shape[0]:
                k = moved.shape[0]
                if k:
                    new = v[moved]
                    # whole numbers: one bincount per side gives the bits of one ±1 per sample
                    # (a few samples: ±1 each, the same whole numbers)
                    few = self._bins_few(new.tolist()) if k <= self.FEW_MOVED else None
                    if few is not None:
                        for b in idx[moved].tolist():
                            counts[b] -= 1.0
                        for b in few:
                            counts[b] += 1.0
                        idx[moved] = few
                    else:
                        new_idx = self._bins(new)
                        if k <= self.FEW_MOVED:
                            for b in idx[moved].tolist():
                                counts[b] -= 1.0
                            for b in new_idx.tolist():
                                counts[b] += 1.0
                        else:
                            counts -= np.bincount(idx[moved], minlength=self._n)
                            counts += np.bincount(new_idx, minlength=self._n)
                        idx[moved] = new_idx
                    last_v[moved] = new
                    self._last_counts = counts
                    self._buf_w = math.nan
                return counts
            self._rebinned = self.FULL_STEPS_AFTER_MOVE
        elif self._rebinned:
            self._rebinned -= 1
        idx = self._bins(v)
        self._last_v = v.copy()
        self._last_idx = idx
        counts = np.bincount(idx, minlength=self._n).astype(np.float64)
        self._last_counts = counts
        self._buf_w = math.nan
        return counts

    def add(self, values: ArrayLike, weights: ArrayLike) -> None:
        """Add samples ``values`` held for ``weights`` (broadcast; weights ≥ 0).

        With one weight for all samples (a facility step), only the samples that changed
        since the last such call are binned again.
        """
        if isinstance(weights, float) or np.ndim(weights) == 0:  # one weight: a facility step
            step_w = weights if type(weights) is float else float(np.asarray(weights, np.float64))
            counts = self._step_counts(values)
            if step_w != self._buf_w:  # the same counts and weight: the same products
                np.multiply(counts, step_w, out=self._buf)
                self._buf_w = step_w
            np.add(self._counts, self._buf, out=self._counts)
            return
        v, w = np.broadcast_arrays(
            np.asarray(values, dtype=np.float64), np.asarray(weights, dtype=np.float64)
        )
        idx = np.clip(((v - self._lo) / self._width).astype(np.int64), 0, self._n - 1)
        self._counts += np.bincount(idx.reshape(-1), weights=w.reshape(-1), minlength=self._n)

    @property
    def total(self) -> float:
        """Sum of the weights added."""
        return float(self._counts.sum())

    def quantiles(self) -> dict[str, float]:
        """The summary's quantiles (:data:`QUANTILE_KEYS`) at bin centres; NaN when empty."""
        centres = self._lo + (np.arange(self._n) + 0.5) * self._width
        return weighted_quantiles(centres, self._counts)
