"""Pollux's goodput model of an elastic training job, with the Sia artifact's defaults.

Goodput = throughput × statistical efficiency (Qiao et al., OSDI 2021, §3; code:
``petuum/adaptdl`` ``adaptdl/goodput.py``, also in ``siasosp23/artifacts``):

* step time ``T = (T_c^γ + T_n^γ)^(1/γ)`` with ``T_c = α_c + β_c·m`` (m = per-GPU batch) and
  ``T_n = α + β·max(k − 2, 0)``, α, β the inter-node pair when the job spans nodes, the
  intra-node pair when it has several GPUs on one node, 0 for one GPU;
* throughput = ``M / T`` examples per second for the global batch ``M = k·m``;
* efficiency ``E(M) = (var + sqr)/(var + sqr·M/M0)`` of the initial batch ``M0`` (the gradient
  noise scale ``φ = var/sqr``: ``E = (φ + M0)/(φ + M)`` up to Pollux's normalization);
* for each GPU count the job takes the global batch that maximizes goodput (Pollux's
  ``optimize``: 50 batch sizes geometric between ``max(M0, k·m_min)`` and ``M_max``, per-GPU
  batch within ``[m_min, m_max]``; beyond ``m_max`` with gradient accumulation where the
  profile allows it).

Profiles (:data:`GOODPUT_PROFILES`) are the two fitted parameter sets that ship with the
published code, and restart penalties (:data:`SIA_RESTART_PENALTY_S`) are those Sia measured
per model on its cluster (``sia-simulator/sia.py``, ``get_restart_penalty``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray

__all__ = [
    "GOODPUT_PROFILES",
    "SIA_RESTART_PENALTY_S",
    "GoodputProfile",
    "goodput",
    "restart_penalty_s",
    "speedup",
    "throughput",
]


@dataclass(frozen=True)
class GoodputProfile:
    """One job model's Pollux parameters.

    Attributes:
        alpha_c_s, beta_c_s: Compute time per step ``α_c + β_c·m`` (s, s per example).
        alpha_n_s, beta_n_s: Inter-node network time ``α_n + β_n·(k − 2)`` (s).
        alpha_r_s, beta_r_s: Intra-node network time ``α_r + β_r·(k − 2)`` (s).
        gamma: Overlap exponent γ ∈ [1, 10].
        grad_sqr, grad_var: Gradient statistics (squared norm, variance).
        init_batch: Initial (smallest) global batch M0.
        max_batch: Largest global batch.
        min_local_batch, max_local_batch: Per-GPU (atomic) batch range.
        accumulation: Whether the job may accumulate gradients beyond ``max_local_batch``.
        source: Where the numbers come from.
    """

    alpha_c_s: float
    beta_c_s: float
    alpha_n_s: float
    beta_n_s: float
    alpha_r_s: float
    beta_r_s: float
    gamma: float
    grad_sqr: float
    grad_var: float
    init_batch: int
    max_batch: int
    min_local_batch: int
    max_local_batch: int
    accumulation: bool
    source: str

    @property
    def max_gpus(self) -> int:
        """Most GPUs the profile can use: the largest batch over the smallest per-GPU batch."""
        return self.max_batch // self.min_local_batch


GOODPUT_PROFILES: dict[str, GoodputProfile] = {
    "cifar10": GoodputProfile(
        0.023,
        9.08e-5,
        0.0133,
        0.008036,
        0.012109,
        0.007306,
        1.914794,
        grad_sqr=0.10985,
        grad_var=2.94965,
        init_batch=128,
        max_batch=4096,
        min_local_batch=32,
        max_local_batch=4096,
        accumulation=True,
        source="siasosp23/artifacts adaptdl/sched/adaptdl_sched/policy/gavel_test.py: "
        "fitted for 4-GPU cifar10 on a DGX A100 (phodgx1), about 2 min into training",
    ),
    "adaptdl-test": GoodputProfile(
        0.121,
        0.00568,
        0.0236,
        0.00634,
        0.0118,
        0.00317,
        1.14,
        grad_sqr=0.00136,
        grad_var=0.000502,
        init_batch=128,
        max_batch=1280,
        min_local_batch=64,
        max_local_batch=256,
        accumulation=False,
        source="petuum/adaptdl sched/adaptdl_sched/policy/pollux_test.py: the "
        "'realistic speedup function' of Pollux's scheduler tests",
    ),
}
"""Pollux parameter sets shipped with the published code (name → profile)."""

SIA_RESTART_PENALTY_S: dict[str, float] = {
    "deepspeech2": 25.0,
    "imagenet": 250.0,
    "cifar10": 30.0,
    "bert": 120.0,
    "yolov3": 45.0,
}
"""Checkpoint-restore time per model that Sia measured on its cluster (s); others take 30 s
(``siasosp23/artifacts`` ``sia-simulator/sia.py``, ``get_restart_penalty``)."""
SIA_DEFAULT_RESTART_PENALTY_S = 30.0
N_BATCH_CANDIDATES = 50  # Pollux's optimize: np.geomspace's default 50 points


def restart_penalty_s(model: str) -> float:
    """Sia's measured restart penalty for a job model (s; 30 s for models it did not measure)."""
    return SIA_RESTART_PENALTY_S.get(model, SIA_DEFAULT_RESTART_PENALTY_S)


def _step_time_s(
    p: GoodputProfile, nodes: FloatArray, k: FloatArray, local: FloatArray
) -> FloatArray:
    """Pollux's step time for ``k`` GPUs on ``nodes`` nodes at per-GPU batch ``local``."""
    t_c = p.alpha_c_s + p.beta_c_s * local
    retro = np.maximum(k - 2.0, 1e-8)
    t_n = np.where(
        nodes > 1,
        p.alpha_n_s + p.beta_n_s * retro,
        np.where(k > 1, p.alpha_r_s + p.beta_r_s * retro, 1e-8),
    )
    return np.asarray((t_c**p.gamma + t_n**p.gamma) ** (1.0 / p.gamma), dtype=np.float64)


def goodput(profile: GoodputProfile, gpus: ArrayLike, nodes: ArrayLike | None = None) -> FloatArray:
    """Best goodput (useful examples per second at the initial batch's efficiency) per GPU count.

    Args:
        profile: The job model.
        gpus: GPU counts k ≥ 1 (array).
        nodes: Nodes the GPUs span (default 1 for every count).

    Returns:
        Goodput per entry of ``gpus`` (0 where no batch size is valid).
    """
    return _best(profile, gpus, nodes)[0]


def throughput(
    profile: GoodputProfile, gpus: ArrayLike, nodes: ArrayLike | None = None
) -> FloatArray:
    """Examples per second at the goodput-optimal batch of each GPU count (what the job reads).

    Goodput divided by the statistical efficiency: at a large batch a job processes more
    examples for the same progress.
    """
    return _best(profile, gpus, nodes)[1]


def _best(
    profile: GoodputProfile, gpus: ArrayLike, nodes: ArrayLike | None
) -> tuple[FloatArray, FloatArray]:
    """(best goodput, throughput at that batch) per GPU count (Pollux's ``optimize``)."""
    k = np.atleast_1d(np.asarray(gpus, dtype=np.float64))
    n = np.ones_like(k) if nodes is None else np.broadcast_to(np.asarray(nodes, float), k.shape)
    p = profile
    lo = np.maximum(float(p.init_batch), p.min_local_batch * k)
    hi = np.full_like(k, float(p.max_batch))
    out = np.zeros_like(k)
    xput = np.zeros_like(k)
    ok = lo <= hi
    if not ok.any():
        return out, xput
    frac = np.linspace(0.0, 1.0, N_BATCH_CANDIDATES)[:, None]
    batch = np.exp(np.log(lo[ok]) + frac * (np.log(hi[ok]) - np.log(lo[ok])))
    kk, nn = k[ok][None, :], n[ok][None, :]
    local = batch / kk
    eps = 1e-8
    if p.accumulation:
        accum = np.ceil(local / p.max_local_batch - eps) - 1.0
        accum = np.where((kk == 1) & (local > p.init_batch), np.maximum(accum, 1.0), accum)
    else:
        accum = np.zeros_like(local)
    atomic = np.ceil(local / (accum + 1.0) - eps)
    t_c = p.alpha_c_s + p.beta_c_s * atomic
    step = _step_time_s(p, nn, kk, atomic) + t_c * accum
    m = kk * atomic * (accum + 1.0)
    scale = m / p.init_batch
    eff = (p.grad_var + p.grad_sqr) / (p.grad_var + p.grad_sqr * scale)
    valid = (atomic >= p.min_local_batch) & (atomic <= p.max_local_batch)
    g = np.where(valid, m / step * eff, 0.0)
    best = np.argmax(g, axis=0)
    cols = np.arange(g.shape[1])
    out[ok] = g[best, cols]
    xput[ok] = np.where(out[ok] > 0, (m / step)[best, cols], 0.0)
    return out, xput


def speedup(
    profile: GoodputProfile,
    gpus: ArrayLike,
    base_gpus: int,
    *,
    gpus_per_node: int = 8,
    nodes: ArrayLike | None = None,
) -> FloatArray:
    """Goodput at each GPU count relative to goodput at ``base_gpus`` (packed on few nodes).

    Args:
        profile: The job model.
        gpus: GPU counts.
        base_gpus: The reference count (the job's requested GPUs: its duration's setting).
        gpus_per_node: Node size used to count nodes where ``nodes`` is not given.
        nodes: Nodes each count spans (default ``ceil(k / gpus_per_node)``).

    Returns:
        Speed relative to the reference (1 at ``base_gpus``).
    """
    k = np.atleast_1d(np.asarray(gpus, dtype=np.float64))
    n = np.ceil(k / gpus_per_node) if nodes is None else np.asarray(nodes, dtype=np.float64)
    ref = goodput(profile, [base_gpus], [math.ceil(base_gpus / gpus_per_node)])[0]
    return goodput(profile, k, n) / ref if ref > 0 else np.zeros_like(k)
