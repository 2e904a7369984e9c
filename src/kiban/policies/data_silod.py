"""Data layer ``silod``: cache and file-system bandwidth as scheduler resources (SiloD).

Zhao et al., "SiloD: A Co-design of Caching and Scheduling for Deep Learning Clusters",
EuroSys 2023; the model of ``reference/cooptimizer.md`` §5.1. Under uniform caching of a
shuffled epoch a job with ``c`` cached bytes of a ``d``-byte dataset hits ``c/d`` of its
reads, so its remote demand is ``rate · g · (1 − c/d)`` and one cached byte saves
``rate · g / d`` bytes per second: its *cache efficiency*. The layer

1. splits each node's local cache among the jobs on that node by descending cache efficiency
   (fractional knapsack; a job never takes more than its dataset's share on that node);
2. sets each job's file-system weight to its GPUs per byte/s of remaining remote demand, so the
   weighted max-min share goes first to the jobs that keep the most GPUs busy per byte (the
   fractional-knapsack order for total progress; weights proportional to the remaining demand,
   the "bandwidth to need" reading of §5.1, slowed every I/O-bound job by the same fraction and
   lost more work on the I/O-heavy scenario).

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

    from kiban._typing import IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["SiloD", "split_node_cache"]


def split_node_cache(cache_b: float, wants: list[tuple[int, float, float]]) -> dict[int, float]:
    """One node's cache to its jobs by descending cache efficiency (fractional knapsack).

    Args:
        cache_b: The node's cache (B).
        wants: (job, cache efficiency = rate·g/d, bytes it can use on this node) per job.

    Returns:
        Job → cache bytes on this node (ties by job index).
    """
    out: dict[int, float] = {}
    left = float(cache_b)
    for j, _eff, want in sorted(wants, key=lambda w: (-w[1], w[0])):
        take = min(left, max(want, 0.0))
        out[j] = take
        left -= take
    return out


@register_policy("data", "silod")
class SiloD:
    """SiloD-style cache and bandwidth allocation (see the module docstring).

    Incremental: only the nodes where a job started or ended are split again.
    """

    noop = False

    def __init__(self) -> None:
        self._where: dict[int, tuple[IntArray, IntArray]] = {}
        self._on_node: dict[int, set[int]] = {}
        self._alloc: dict[tuple[int, int], float] = {}
        self._cache: dict[int, float] = {}
        self._weight: dict[int, float] = {}

    def reset(self, ctx: PolicyContext) -> None:
        """Forget the previous run's shares."""
        self.__init__()  # type: ignore[misc]

    def shares(
        self, view: ClusterView, starting: Mapping[int, IntArray]
    ) -> tuple[Mapping[int, float], Mapping[int, float]]:
        """Cache and weights for jobs on nodes where the job set changed."""
        lay, jobs = view.layout, view.jobs
        now = {int(j) for j in view.running_jobs().tolist()}
        now.update(int(j) for j in starting)
        gone = set(self._where) - now
        new = now - set(self._where)
        if not gone and not new:
            return EMPTY_MAP, EMPTY_MAP
        touched: set[int] = set()
        for j in gone:
            nodes, _ = self._where.pop(j)
            for node in nodes.tolist():
                self._on_node[node].discard(j)
                self._alloc.pop((j, node), None)
                touched.add(node)
            self._cache.pop(j, None)
            self._weight.pop(j, None)
        for j in new:
            gpus = starting[j] if j in starting else view.job_gpus(j)
            if gpus is None:
                continue
            nodes, counts = np.unique(lay.gpu_node[np.asarray(gpus)], return_counts=True)
            self._where[j] = (nodes, counts)
            for node in nodes.tolist():
                self._on_node.setdefault(node, set()).add(j)
                touched.add(node)
        node_cache = (
            np.zeros(lay.n_nodes) if lay.node_cache_b is None else np.asarray(lay.node_cache_b)
        )
        affected: set[int] = set()
        for node in touched:
            members = self._on_node.get(node, set())
            job_nodes = []
            for j in members:
                nodes, counts = self._where[j]
                k = int(np.searchsorted(nodes, node))
                job_nodes.append((j, nodes[k : k + 1], counts[k : k + 1]))
            n_gpus = {j: float(self._where[j][1].sum()) for j in members}
            # the node's cache is split by the jobs' efficiency; each takes at most its
            # dataset's share on this node (GPUs here / all its GPUs)
            wants = []
            for j, _nn, cc in job_nodes:
                d = float(jobs.dataset_size_b[j])
                rate = float(jobs.input_rate_b_per_s_per_gpu[j])
                if d <= 0 or rate <= 0:
                    wants.append((j, 0.0, 0.0))
                    continue
                share = float(cc[0]) / max(n_gpus[j], 1.0)
                wants.append((j, rate * n_gpus[j] / d, d * share))
            for j, take in split_node_cache(float(node_cache[node]), wants).items():
                self._alloc[(j, node)] = take
            affected.update(members)
        new_cache: dict[int, float] = {}
        new_weight: dict[int, float] = {}
        for j in affected:
            nodes, counts = self._where[j]
            c = sum(self._alloc.get((j, node), 0.0) for node in nodes.tolist())
            d = float(jobs.dataset_size_b[j])
            hit = min(1.0, c / d) if d > 0 else 1.0
            g = float(counts.sum())
            need = float(jobs.input_rate_b_per_s_per_gpu[j]) * g * (1.0 - hit)
            # GPUs kept busy per byte/s: the value density of the file system's bandwidth
            w = g / max(need, 1.0) * 1e9 if need > 0 else 1.0
            if abs(self._cache.get(j, -1.0) - c) > 1.0:
                new_cache[j] = c
            if abs(self._weight.get(j, -1.0) - w) > 1e-6 * w:
                new_weight[j] = w
        self._cache.update(new_cache)
        self._weight.update(new_weight)
        return new_cache, new_weight
