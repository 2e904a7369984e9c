"""Data layer ``silod``: cache and file-system bandwidth as scheduler resources (SiloD).

Zhao et al., "SiloD: A Co-design of Caching and Scheduling for Deep Learning Clusters",
EuroSys 2023; the model of ``reference/cooptimizer.md`` §5.1. Under uniform caching of a
shuffled epoch a job with ``c`` cached bytes of a ``d``-byte dataset hits ``c/d`` of its
reads, so its remote demand is ``rate · g · (1 − c/d)`` and one cached byte saves
``rate · g / d`` bytes per second: its *cache efficiency*. The layer

1. splits each node's local cache among the jobs on that node by descending cache efficiency
   (fractional knapsack; a job never takes more than its dataset's share on that node);
2. sets each job's file-system weight to its remaining remote demand, so the max-min share
   gives every I/O-bound job the same fraction of its need ("bandwidth to need": max-min on
   the fraction of compute speed achieved).

Only changed shares are sent. The default ``equal-share`` layer leaves each job its GPUs'
share of the node cache and equal weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.policies.base import EMPTY_MAP
from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiban._typing import FloatArray, IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["SiloD", "silod_cache_b"]


def silod_cache_b(
    node_cache_b: FloatArray,
    job_nodes: list[tuple[int, IntArray, IntArray]],
    rate_b_per_s_per_gpu: FloatArray,
    dataset_b: FloatArray,
    n_gpus: FloatArray,
) -> dict[int, float]:
    """Cache bytes per job: each node's cache to its jobs by descending efficiency.

    Args:
        node_cache_b: Local cache of each node (B).
        job_nodes: (job, nodes, GPUs on each node) for every job to serve.
        rate_b_per_s_per_gpu: Input rate per GPU of every job (indexed by job).
        dataset_b: Dataset size of every job.
        n_gpus: GPUs of every job (indexed by job).

    Returns:
        Job → cache bytes (sum over its nodes).
    """
    per_node: dict[int, list[tuple[float, int, float]]] = {}
    for j, nodes, counts in job_nodes:
        d = float(dataset_b[j])
        rate = float(rate_b_per_s_per_gpu[j])
        if d <= 0 or rate <= 0:
            continue
        eff = rate * float(n_gpus[j]) / d
        share = counts / max(float(counts.sum()), 1.0)
        for node, frac in zip(nodes.tolist(), share.tolist(), strict=True):
            per_node.setdefault(int(node), []).append((eff, j, d * frac))
    out: dict[int, float] = {}
    for node, items in per_node.items():
        left = float(node_cache_b[node])
        for _eff, j, want in sorted(items, key=lambda x: (-x[0], x[1])):
            take = min(left, want)
            out[j] = out.get(j, 0.0) + take
            left -= take
    for j, _nodes, _counts in job_nodes:
        out.setdefault(j, 0.0)
    return out


@register_policy("data", "silod")
class SiloD:
    """SiloD-style cache and bandwidth allocation (see the module docstring)."""

    noop = False

    def __init__(self) -> None:
        self._cache: dict[int, float] = {}
        self._weight: dict[int, float] = {}
        self._key: tuple[int, ...] = ()

    def reset(self, ctx: PolicyContext) -> None:
        """Forget the previous run's shares."""
        self._cache = {}
        self._weight = {}
        self._key = ()

    def shares(
        self, view: ClusterView, starting: Mapping[int, IntArray]
    ) -> tuple[Mapping[int, float], Mapping[int, float]]:
        """Cache and weights for the running and starting jobs (only those that change)."""
        lay, jobs = view.layout, view.jobs
        if lay.node_cache_b is None:
            node_cache = np.zeros(lay.n_nodes)
        else:
            node_cache = np.asarray(lay.node_cache_b, float)
        run = [int(j) for j in view.running_jobs().tolist()]
        key = tuple(sorted(run + [int(j) for j in starting]))
        if key == self._key:
            return EMPTY_MAP, EMPTY_MAP
        self._key = key
        job_nodes: list[tuple[int, IntArray, IntArray]] = []
        for j in run:
            gpus = view.job_gpus(j)
            if gpus is not None:
                nodes, counts = np.unique(lay.gpu_node[gpus], return_counts=True)
                job_nodes.append((j, nodes, counts))
        for j, gpus in starting.items():
            nodes, counts = np.unique(lay.gpu_node[np.asarray(gpus)], return_counts=True)
            job_nodes.append((int(j), nodes, counts))
        n_gpus = np.zeros(jobs.n_jobs)
        for j, _nodes, counts in job_nodes:
            n_gpus[j] = float(counts.sum())
        cache = silod_cache_b(
            node_cache, job_nodes, jobs.input_rate_b_per_s_per_gpu, jobs.dataset_size_b, n_gpus
        )
        new_cache: dict[int, float] = {}
        new_weight: dict[int, float] = {}
        for j, c in cache.items():
            d = float(jobs.dataset_size_b[j])
            hit = min(1.0, c / d) if d > 0 else 1.0
            need = float(jobs.input_rate_b_per_s_per_gpu[j]) * n_gpus[j] * (1.0 - hit)
            w = max(need, 1.0)
            if abs(self._cache.get(j, -1.0) - c) > 1.0:
                new_cache[j] = c
            if abs(self._weight.get(j, -1.0) - w) > 1e-6 * w:
                new_weight[j] = w
        self._cache.update(new_cache)
        self._weight.update(new_weight)
        return new_cache, new_weight
