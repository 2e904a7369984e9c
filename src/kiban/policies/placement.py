"""Placement layers (which GPUs a job gets): first-fit, best-fit (alias pack), random-fit, fgd.

All three respect the topology constraints of the job and the cluster:

* GPU model: a job that names one (or alternatives, ``V100M16|V100M32``) only gets nodes with
  an allowed model (the rule of :func:`kiban.workload.packing.allowed_models`, the same as the
  simulator's ``JobTables.req_sku``);
* shape: ``gpus_per_node = g > 0`` means exactly g GPUs on each of num_gpus/g nodes;
  ``g = 0`` prefers one node and otherwise spreads over as few nodes as the policy's order gives;
* rack budgets: a node is eligible only if its rack can power the GPUs at the job's cap
  (``layout.rack_gpu_budget_w``, from the rack's power and cooling limits);
* failed nodes have no free GPUs;
* GPU shares (issue 15): a job whose ``gpu_milli`` is below 1000 takes one GPU with at least that
  much left, free or already shared (``FreeState.gpu_milli``); each policy picks the GPU in its
  own way (first-fit: the lowest index; best-fit: the GPU with the least milli left that fits,
  then the node with the fewest free GPUs; random-fit: uniformly among GPUs that fit; fgd: the
  GPU whose node's fragmentation falls most);
* CPU and memory: where the layout states them, a node must have the job's ``cpu_milli`` and
  ``memory_b`` free;
* MIG instances: a job with a ``mig_profile`` takes one GPU whose model's geometry offers the
  profile (:mod:`kiban.mig`) and that is free or already in MIG mode with a free placement for
  it; never a GPU held whole or shared by milli jobs, and whole-GPU jobs never get a GPU in MIG
  mode (it is not free). First-fit takes the lowest index; best-fit the GPU with the fewest
  compute slices left (partitioned GPUs before free ones), then the node with the fewest free
  GPUs; random-fit uniformly; fgd the GPU whose MIG fragmentation (unheld slices the run's
  profiles could not use) rises least, then as best-fit. The instance's slices are the
  geometry's choice (:meth:`kiban.mig.MigGeometry.start_for`).

CPU-only pods (:mod:`kiban.sim.host_pods`) are placed by :meth:`NodePlacement.place_host` on an
up node with their CPU and memory free: first-fit the lowest index; best-fit the artifact's
BestFit score (least ½ CPU left / 128 cores + ½ GPU milli left / 8 GPUs after the pod, ties to
the lower index); random-fit uniformly; fgd the node whose fragmentation rises least when the
pod takes its CPU (the measure in milli-GPU; ties to the lower index). Random-fit draws CPU-only
pods' nodes from a stream spawned from its own, so GPU pods meet the same draws with or without
them.

Nodes are numbered rack by rack, so index order keeps multi-node jobs within few racks.
Node selection is vectorized over nodes; only the GPUs of the chosen nodes are looked at.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from kiban.mig import MIG_COMPUTE_SLICES, MIG_GEOMETRIES, MIG_MEMORY_SLICES
from kiban.policies.base import job_share_frac
from kiban.policies.registry import register_policy
from kiban.vocabulary import MILLI_PER_GPU

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.policies.base import FreeState, PolicyContext
    from kiban.sim.jobs import JobTable
    from kiban.sim.state import ClusterView

__all__ = [
    "BestFit",
    "FirstFit",
    "FragmentationGradientDescent",
    "NodePlacement",
    "RandomFit",
    "pick_gpus",
]


def pick_gpus(free: FreeState, view: ClusterView, nodes: IntArray, counts: IntArray) -> IntArray:
    """The first ``counts[i]`` free GPUs of each node ``nodes[i]``.

    Args:
        free: Tentative free state.
        view: Cluster view (for the node → GPU numbering).
        nodes: Chosen nodes.
        counts: GPUs to take on each.

    Returns:
        GPU indices, node by node.
    """
    first = view.layout.node_first_gpu
    size = view.layout.node_n_gpus
    parts = []
    for node, c in zip(nodes.tolist(), counts.tolist(), strict=True):
        a = int(first[node])
        local = free.gpu_free[a : a + int(size[node])].nonzero()[0][:c]
        parts.append(local + a)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class NodePlacement(ABC):
    """Shared machinery: eligible nodes, shape handling; subclasses choose the node order.

    Subclasses implement ``_order_single`` (choose one node among candidates with enough free
    GPUs) and ``_order_many`` (order candidate nodes for a multi-node job).
    """

    shape_determined = True
    """Whether a job fits depends only on its shape and the free GPUs (lets the allocator skip
    shapes that already failed within one decision)."""

    def __init__(self) -> None:
        self._rng: np.random.Generator = np.random.default_rng(0)
        self._req: IntArray = np.zeros(0, dtype=np.int64)
        self._req_mask: BoolArray = np.ones((1, 1), dtype=bool)
        self._req_any: BoolArray = np.ones(1, dtype=bool)
        self._jobs: JobTable | None = None

    def reset(self, ctx: PolicyContext) -> None:
        """Cache per-job model requirements and the policy's random stream."""
        from kiban.workload.packing import model_requirements  # noqa: PLC0415 (startup time)

        self._rng = ctx.rng
        lay = ctx.layout
        which, mask = model_requirements(ctx.jobs.gpu_model, [s.name for s in lay.skus])
        self._req = which
        self._req_mask = mask
        self._req_any = np.asarray(mask.all(axis=1), dtype=bool)
        self._req_node_ok: BoolArray = mask[:, lay.node_sku_idx]  # per requirement, per node
        self._tdp_w = np.array([s.tdp_w for s in lay.skus])
        self._node_tdp_w = self._tdp_w[lay.node_sku_idx]
        self._node_budget_w = lay.rack_gpu_budget_w[lay.node_rack_idx]
        self._budget_finite = bool(np.isfinite(lay.rack_gpu_budget_w).any())
        self._multi_sku = len(lay.skus) > 1
        # per job, as Python numbers (read once per placement)
        self._jobs = ctx.jobs
        self._job_cpu: list[int] = np.asarray(ctx.jobs.cpu_milli).tolist()
        self._job_memory_b: list[float] = np.asarray(ctx.jobs.memory_b).tolist()
        self._job_req: list[int] = which.tolist()
        self._req_any_list: list[bool] = self._req_any.tolist()

    def _eligible(self, view: ClusterView, job: int, free: FreeState, per_node: int) -> BoolArray:
        lay = view.layout
        if view.jobs is self._jobs:  # the run's table (reset)
            cpu_req, memory_b, req = self._job_cpu[job], self._job_memory_b[job], self._job_req[job]
        else:
            cpu_req, memory_b = view.jobs.cpu_milli[job], view.jobs.memory_b[job]
            req = int(self._req[job]) if self._req.shape[0] > job else -1
        ok = free.node_free >= per_node
        if cpu_req > 0 and free.node_cpu_free_milli is not None:
            ok &= free.node_cpu_free_milli >= cpu_req
        if memory_b > 0 and free.node_memory_free_b is not None:
            ok &= free.node_memory_free_b >= memory_b
        if req >= 0 and not self._req_any_list[req]:
            ok &= self._req_node_ok[req]
        if self._budget_finite:
            cap = view.job_power_cap_w[job]
            per_gpu = self._node_tdp_w if math.isnan(cap) else cap
            if per_node == 0:  # a share of one GPU (milli or a MIG instance)
                per_gpu = per_gpu * job_share_frac(view.jobs, job)
                per_node = 1
            load_w = free.rack_gpu_alloc_w[lay.node_rack_idx] + per_node * per_gpu
            ok &= load_w <= self._node_budget_w
        return ok

    def _share_candidates(self, view: ClusterView, job: int, free: FreeState) -> IntArray:
        """GPUs with the job's milli left on nodes that pass its other filters."""
        assert free.gpu_milli is not None  # a run with shares
        ok = self._eligible(view, job, free, 0)
        fits = (free.gpu_milli >= view.jobs.gpu_milli[job]) & ok[view.layout.gpu_node]
        return fits.nonzero()[0]

    def _pick_share(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        """The GPU a sharing job takes among ``cand`` (default: the lowest index)."""
        del view, job, free
        return int(cand[0])

    # --- MIG instances ----------------------------------------------------------------------------
    def _mig_candidates(self, view: ClusterView, job: int, free: FreeState) -> IntArray:
        """GPUs that can take ``job``'s MIG instance now, on nodes that pass its other filters.

        A GPU qualifies if its model's geometry has the job's profile and it is free or in MIG
        mode with a free placement for it (:meth:`kiban.mig.MigGeometry.start_for`); a GPU
        held whole or shared by milli jobs never does.
        """
        mask, compute = free.gpu_mig_mask, free.gpu_mig_compute
        assert mask is not None  # a run with MIG jobs
        assert compute is not None
        lay = view.layout
        name = str(view.jobs.mig_profile[job])  # type: ignore[index]
        slices = int(view.jobs.mig_compute_slices[job])
        tables = self._mig_tables(view, name)
        ok = self._eligible(view, job, free, 0)[lay.gpu_node]
        gpu_sku = lay.node_sku_idx[lay.gpu_node]
        ok &= (free.gpu_free | (mask != 0)) & (tables[gpu_sku, 0] >= 0)
        cand = ok.nonzero()[0]
        if cand.shape[0] == 0:
            return cand
        start = tables[gpu_sku[cand], mask[cand]]
        fits = (start >= 0) & (compute[cand] + slices <= MIG_COMPUTE_SLICES)
        return cand[fits]

    def _mig_tables(self, view: ClusterView, name: str) -> IntArray:
        """Per GPU model and slice mask, the start of a new ``name`` instance (-1: none)."""
        memo: dict[str, IntArray] = self.__dict__.setdefault("_mig_memo", {})
        got = memo.get(name)
        if got is None:
            skus = view.layout.skus
            got = np.full((len(skus), 1 << MIG_MEMORY_SLICES), -1, dtype=np.int64)
            for k, sku in enumerate(skus):
                geo = MIG_GEOMETRIES[sku.mig] if sku.mig else None
                if geo is not None and name in geo.profiles:
                    got[k] = [geo.start_for(m, name) for m in range(1 << MIG_MEMORY_SLICES)]
            memo[name] = got
        return got

    def _pick_mig(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        """The GPU a MIG instance takes among ``cand`` (default: the lowest index)."""
        del view, job, free
        return int(cand[0])

    def place(self, view: ClusterView, job: int, free: FreeState) -> IntArray | None:
        """GPUs for ``job`` (see the module docstring), or None if it does not fit now."""
        jobs = view.jobs
        if free.gpu_mig_mask is not None and jobs.mig_compute_slices[job]:
            cand_gpus = self._mig_candidates(view, job, free)
            if cand_gpus.shape[0] == 0:
                return None
            return np.array([self._pick_mig(view, job, free, cand_gpus)], dtype=np.int64)
        if free.gpu_milli is not None and jobs.gpu_milli[job] < MILLI_PER_GPU:
            cand_gpus = self._share_candidates(view, job, free)
            if cand_gpus.shape[0] == 0:
                return None
            return np.array([self._pick_share(view, job, free, cand_gpus)], dtype=np.int64)
        n = int(jobs.num_gpus[job])
        g = int(jobs.gpus_per_node[job])
        if g > 0:
            cand = self._eligible(view, job, free, g).nonzero()[0]
            m = n // g
            if cand.shape[0] < m:
                return None
            nodes = self._order_shaped(cand, free, m)[:m]
            return pick_gpus(free, view, nodes, np.full(m, g, dtype=np.int64))
        return self.place_count(view, job, free, n)

    def place_count(self, view: ClusterView, job: int, free: FreeState, n: int) -> IntArray | None:
        """``n`` whole GPUs for ``job`` on any split (an elastic job at a chosen count), or None.

        One node if one has room, else several in the policy's order; the job's other filters
        (GPU model, rack budget, CPU and memory) apply.
        """
        if n <= view.layout.max_node_gpus:
            ok = self._eligible(view, job, free, n)
            node = self._pick_single(ok, free)
            if node >= 0:
                a = int(view.layout.node_first_gpu[node])
                size = int(view.layout.node_n_gpus[node])
                return free.gpu_free[a : a + size].nonzero()[0][:n] + a
        # spread over several nodes
        cand = self._eligible(view, job, free, 1).nonzero()[0]
        if cand.shape[0] == 0:
            return None
        order = self._order_many(cand, free, cand.shape[0])
        avail = free.node_free[order]
        cum = np.cumsum(avail)
        if cum[-1] < n:
            return None
        k = int(np.searchsorted(cum, n)) + 1
        nodes = order[:k]
        counts = avail[:k].copy()
        counts[-1] -= int(cum[k - 1]) - n
        return pick_gpus(free, view, nodes, counts)

    # --- CPU-only pods ---------------------------------------------------------------------------
    def place_host(self, view: ClusterView, cpu_milli: int, memory_b: float) -> int:
        """The node for a CPU-only pod (see the module docstring), or -1 if none fits."""
        ok = view.node_up.copy()
        if view.node_cpu_free_milli is not None:
            ok &= view.node_cpu_free_milli >= cpu_milli
        if view.node_memory_free_b is not None:
            ok &= view.node_memory_free_b >= memory_b
        return self._host_pick(view, ok, cpu_milli)

    def _host_pick(self, view: ClusterView, ok: BoolArray, cpu_milli: int) -> int:
        """The chosen node among those ``ok`` for a CPU-only pod, or -1 if none."""
        cand = ok.nonzero()[0]
        if cand.shape[0] == 0:
            return -1
        return self._host_node(view, cand, cpu_milli)

    def _host_node(self, view: ClusterView, cand: IntArray, cpu_milli: int) -> int:
        """The chosen node among ``cand`` for a CPU-only pod (default: the lowest index)."""
        del view, cpu_milli
        return int(cand[0])

    def _pick_single(self, ok: BoolArray, free: FreeState) -> int:
        """The chosen node among the eligible ones (mask), or -1 if none."""
        cand = ok.nonzero()[0]
        return self._order_single(cand, free) if cand.shape[0] else -1

    @abstractmethod
    def _order_single(self, cand: IntArray, free: FreeState) -> int:
        """The best node among the candidates for a job that fits on one node."""

    def _order_shaped(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        """Node order for a job that takes a fixed number of GPUs on each of ``m`` nodes."""
        return self._order_many(cand, free, cand.shape[0])

    @abstractmethod
    def _order_many(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        """The first ``m`` candidates in the order a multi-node job should take them."""


_NO_CPU_LIMIT = np.iinfo(np.int64).max // 4
"""Free CPU of a node whose CPU is not counted (never binds)."""
_UNNUMBERED = 0
"""FGD's state number of a node whose state was never met (never scored: its scores are NaN)."""


def tightest_mig(view: ClusterView, free: FreeState, cand: IntArray) -> int:
    """Best-fit for a MIG instance: the GPU with the fewest compute slices left unheld.

    A GPU already in MIG mode (fewer slices left) comes before a free one (7 left), so
    instances pack onto partitioned GPUs and whole GPUs stay whole; ties go to the node with
    the fewest free GPUs, then the lowest index.
    """
    compute = free.gpu_mig_compute
    assert compute is not None
    left = MIG_COMPUTE_SLICES - compute[cand]
    tight = cand[left == left.min()]
    return int(tight[np.argmin(free.node_free[view.layout.gpu_node[tight]])])


@register_policy("placement", "first-fit")
class FirstFit(NodePlacement):
    """Lowest-numbered nodes that fit (Slurm's default linear order)."""

    def _pick_single(self, ok: BoolArray, free: FreeState) -> int:
        node = int(np.argmax(ok))
        return node if ok[node] else -1

    def _order_single(self, cand: IntArray, free: FreeState) -> int:
        return int(cand[0])

    def _order_many(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        return cand


@register_policy("placement", "best-fit")
@register_policy("placement", "pack")
class BestFit(NodePlacement):
    """Packing: the node with the fewest free GPUs that still fits.

    A job with a fixed number of GPUs per node takes the tightest nodes that fit; a job that may
    spread takes the nodes with the most free GPUs first (fewest nodes). Ties go to the lower
    node number.
    """

    def _order_single(self, cand: IntArray, free: FreeState) -> int:
        return int(cand[np.argmin(free.node_free[cand])])

    def _pick_share(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        assert free.gpu_milli is not None
        left = free.gpu_milli[cand]
        tight = cand[left == left.min()]  # least milli left, then fewest free GPUs, lowest index
        return int(tight[np.argmin(free.node_free[view.layout.gpu_node[tight]])])

    def _pick_mig(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        return tightest_mig(view, free, cand)

    def _host_node(self, view: ClusterView, cand: IntArray, cpu_milli: int) -> int:
        from kiban.workload.packing import (  # noqa: PLC0415 (startup time)
            MAX_SPEC_CPU_MILLI,
            MAX_SPEC_GPU_MILLI,
        )

        lay = view.layout
        cpu = view.node_cpu_free_milli
        cpu_left = np.zeros(cand.shape[0]) if cpu is None else cpu[cand] - cpu_milli
        gpu_left = np.bincount(lay.gpu_node, weights=view.gpu_milli_left(), minlength=lay.n_nodes)
        load = 0.5 * cpu_left / MAX_SPEC_CPU_MILLI + 0.5 * gpu_left[cand] / MAX_SPEC_GPU_MILLI
        return int(cand[np.argmin(load)])

    def _order_shaped(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        # tightest nodes first: a job that takes g GPUs per node fills partly used nodes
        if m == 1:  # the first of a stable sort
            return cand[np.argmin(free.node_free[cand]) :]
        order = np.argsort(free.node_free[cand], kind="stable")
        return cand[order]

    def _order_many(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        order = np.argsort(-free.node_free[cand], kind="stable")
        return cand[order]


@register_policy("placement", "random-fit")
class RandomFit(NodePlacement):
    """Uniformly random among the nodes that fit (the policy's own random stream)."""

    def _order_single(self, cand: IntArray, free: FreeState) -> int:
        return int(cand[self._rng.integers(cand.shape[0])])

    def _pick_share(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        return int(cand[self._rng.integers(cand.shape[0])])

    def _pick_mig(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        return int(cand[self._rng.integers(cand.shape[0])])

    def reset(self, ctx: PolicyContext) -> None:
        """As :meth:`NodePlacement.reset`; CPU-only pods draw from a stream of their own."""
        super().reset(ctx)
        # spawned without advancing the GPU pods' stream: while CPU does not bind, GPU pods
        # land where they would without CPU-only pods
        self._host_rng = ctx.rng.spawn(1)[0]

    def _host_node(self, view: ClusterView, cand: IntArray, cpu_milli: int) -> int:
        return int(cand[self._host_rng.integers(cand.shape[0])])

    def _order_many(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        return self._rng.permutation(cand)


@register_policy("placement", "fgd")
class FragmentationGradientDescent(NodePlacement):
    """Fragmentation gradient descent (Weng et al., USENIX ATC 2023) for whole-GPU jobs.

    The target workload is the run's own job shapes (GPUs per node and allowed models, the
    most frequent covering 95 % of the jobs; :func:`kiban.workload.packing.job_typical_pods`).
    A node's fragmentation is the expected number of its free GPUs that a job drawn from that
    workload could not use (:func:`kiban.workload.packing.whole_gpu_frag_table`, the paper's
    measure with whole GPUs); a job goes to the node where taking its GPUs lowers the
    fragmentation most (the largest F(before) − F(after)), ties to the lower node number. A job
    spread over several nodes takes the most fragmented nodes first. GPUs on a node are the
    first free ones (with whole GPUs the choice does not change the node's fragmentation).

    When jobs share GPUs or the layout states node CPU, the measure is the paper's in milli-GPU
    (:func:`kiban.workload.packing.node_frag_milli`, target workload with each job's
    ``gpu_milli`` and ``cpu_milli``): a sharing job takes the GPU, and a whole-GPU job that fits
    on one node the node, whose fragmentation rises least (falls most).

    MIG instances (kiban's analogue of the measure, not the paper's): the target workload is the
    run's jobs by frequency (each MIG profile, and whole-GPU jobs, which no partitioned GPU
    serves), and a partitioned GPU's fragmentation is its unheld compute slices times the share
    of that workload that cannot use them, ``(7 − held) · (1 − Σ_p w_p [p fits])``; a GPU not in
    MIG mode has none. An instance goes to the GPU where it rises least (opening a fresh GPU
    costs its unheld slices for the whole-GPU jobs), ties to the tightest GPU as best-fit
    (:func:`tightest_mig`).
    """

    def reset(self, ctx: PolicyContext) -> None:
        """The target workload and the fragmentation table of this run."""
        super().reset(ctx)
        lay = ctx.layout
        jobs = ctx.jobs
        max_gpus = int(lay.node_n_gpus.max(initial=1))
        allowed = (
            self._req_mask[self._req] if self._req.shape[0] else np.ones((0, len(lay.skus)), bool)
        )
        from kiban.workload.packing import (  # noqa: PLC0415 (startup time: validate)
            job_typical_pods,
            node_frag_milli,
            table_typical_pods,
            whole_gpu_frag_table,
        )

        self._node_frag_milli = node_frag_milli

        typical = job_typical_pods(
            np.asarray(jobs.min_num_gpus, dtype=np.int64),
            np.asarray(jobs.gpus_per_node, dtype=np.int64),
            allowed,
            max_gpus,
        )
        self._frag = whole_gpu_frag_table(typical, len(lay.skus), max_gpus)
        self._node_sku = lay.node_sku_idx
        self._take = 1
        self._job = -1
        self._view: ClusterView | None = None
        host = jobs.host_pods
        uses_cpu = lay.node_cpu_milli is not None and bool(
            (jobs.cpu_milli > 0).any() or (host is not None and (host.cpu_milli > 0).any())
        )
        self._milli = jobs.any_shared or uses_cpu
        if self._milli:
            self._typical = table_typical_pods(jobs, allowed, max_gpus, uses_cpu=uses_cpu)
            self._max_gpus = max_gpus
            self._uses_cpu = uses_cpu
            self._cpu_breaks = self._cpu_breakpoints(jobs) if uses_cpu else []
            self._memo: dict[tuple[int, ...], float] = {}
            n_nodes = lay.n_nodes
            self._gpu_node_list: list[int] = lay.gpu_node.tolist()
            # the free state last seen (-1: every node changed before the first placement)
            self._seen_gpu_left = np.full(lay.n_gpus, -1, dtype=np.int64)
            self._seen_cpu = np.full(n_nodes, -1, dtype=np.int64)
            # node states: (model, free CPU class, sorted milli left per GPU slot), numbered as
            # met; a node whose state was never met waits in ``_unnumbered`` with its key
            self._node_state = np.full(n_nodes, _UNNUMBERED, dtype=np.int64)
            self._seen_stale = True  # the seen arrays do not hold the node states' free state
            # the change log followed (:meth:`_log_changed`): the view, its mark when last
            # synced, and the free state then synced with its tentative changes counted
            self._log_view: ClusterView | None = None
            self._log_mark: int | None = None
            self._log_free: FreeState | None = None
            self._log_free_n = 0
            self._unnumbered: dict[int, tuple[int, ...]] = {}
            self._node_max_left = np.full(n_nodes, -1, dtype=np.int64)  # -1: no GPUs
            self._state_ids: dict[tuple[int, ...], int] = {}
            self._state_keys: list[tuple[int, ...]] = [()]  # state 0: _UNNUMBERED
            self._node_first: list[int] = lay.node_first_gpu.tolist()
            self._node_end: list[int] = (lay.node_first_gpu + lay.node_n_gpus).tolist()
            self._node_sku_list: list[int] = lay.node_sku_idx.tolist()
            self._pad = [[0] * (max_gpus - k) for k in lay.node_n_gpus.tolist()]  # empty slots
            self._state_frag = np.zeros(256)
            self._n_states = 1
            # per job shape (milli, GPUs taken, CPU): fragmentation change per state (NaN: not
            # yet scored) and, for a share, the milli-left values of the GPUs giving it
            self._shape_ids: dict[tuple[int, int, int], int] = {}
            self._shape_score: list[FloatArray] = []
            self._shape_ties: list[dict[int, tuple[int, ...]]] = []

    def place(self, view: ClusterView, job: int, free: FreeState) -> IntArray | None:
        """As :meth:`NodePlacement.place`, scoring nodes by the fragmentation they shed."""
        jobs = view.jobs
        n = int(jobs.num_gpus[job])
        g = int(jobs.gpus_per_node[job])
        self._take = g if g > 0 else n
        self._job = job
        self._view = view
        if free.gpu_milli is not None and jobs.gpu_milli[job] < MILLI_PER_GPU:
            return self._place_share(view, job, free)
        if (
            self._milli
            and g > 0
            and n // g == 1
            and not (free.gpu_mig_mask is not None and jobs.mig_compute_slices[job])
        ):  # g GPUs on one node (NodePlacement.place's choice, without listing candidates)
            node = self._pick_whole(view, free, self._eligible(view, job, free, g), job, g)
            if node < 0:
                return None
            nodes = np.array([node], dtype=np.int64)
            return pick_gpus(free, view, nodes, np.full(1, g, dtype=np.int64))
        return super().place(view, job, free)

    # --- the measure in milli-GPU (shares or CPU in the run) -----------------------------------
    def _cpu_class(self, cpu: int) -> int:
        """The largest CPU breakpoint ≤ ``cpu`` (-1 below them all): same measure, same scores."""
        i = bisect.bisect_right(self._cpu_breaks, cpu)
        return self._cpu_breaks[i - 1] if i else -1

    def _cpu_breakpoints(self, jobs: JobTable) -> list[int]:
        """Free-CPU values at which a node's fragmentation or a shape's score can change.

        The measure compares a node's free CPU with the target pods' CPU (``cpu ≥ t``), and a
        shape's score compares what is left after its request (``cpu − c ≥ t``): every
        comparison is ``cpu ≥ t + c`` for a target pod's ``t`` and a request ``c`` of the run
        (0 included). Two CPU values between the same breakpoints give the same values, so a
        node state keeps the largest breakpoint at or below its free CPU (-1 below them all)
        and nodes that differ only there share a state, its scores and its memo entries.
        """
        reqs = [np.asarray(jobs.cpu_milli, dtype=np.int64), np.zeros(1, dtype=np.int64)]
        if jobs.host_pods is not None:
            reqs.append(np.asarray(jobs.host_pods.cpu_milli, dtype=np.int64))
        c = np.unique(np.concatenate(reqs))
        # CPU-only target pods count a node's free GPU milli whatever its CPU: no breakpoint
        gpu_shapes = self._typical.gpu_milli > 0
        t = np.unique(np.asarray(self._typical.cpu_milli[gpu_shapes], dtype=np.int64))
        return np.unique((t[:, None] + c[None, :]).ravel()).tolist()

    def _frag_rows(self, rows: list[tuple[int, ...]]) -> FloatArray:
        """:func:`node_frag_milli` of node states ``(model, CPU, milli left sorted ascending ...)``.

        The measure depends on the multiset of milli left, the free CPU and the model, and a
        cluster's nodes repeat a few states (empty, full, one share taken, ...): each distinct
        state is computed once per run, the states never met together, in order of first
        appearance. (A state's value can differ in the last bit with its place in that batch,
        BLAS's blocking of ``per @ freq``: the batches are part of the decisions.)
        """
        memo = self._memo
        miss = [k for k in dict.fromkeys(rows) if k not in memo]
        if miss:
            u = np.array(miss, dtype=np.int64)
            vals = self._node_frag_milli(u[:, 2:], u[:, 1], u[:, 0], self._typical).tolist()
            memo.update(zip(miss, vals, strict=True))
        return np.array([memo[k] for k in rows], dtype=np.float64)

    def _sync(
        self,
        left: IntArray,
        cpu_free: IntArray | None,
        view: ClusterView,
        free: FreeState | None,
    ) -> None:
        """Bring the node states up to the free state ``left`` (milli per GPU), ``cpu_free``.

        ``left`` and ``cpu_free`` are ``free``'s (None: the ``view``'s own). The fragmentation
        of a node, and the change a job shape makes to it, depend only on its state (model,
        free CPU class, sorted milli left), and a cluster's nodes share few states (empty,
        full, one share taken, ...): scores are kept per state and job shape, so a placement
        costs a lookup per node. Only nodes whose GPUs or CPU may have changed since the last
        call are looked at: those the view's change log and the free states' own changes name
        (:meth:`_log_changed`), else those whose values differ from the ones seen last. One
        whose new state was never met waits in ``_unnumbered`` (its state
        :data:`_UNNUMBERED`) until it is a candidate (:meth:`_number_new`), which keeps the
        order states are numbered and first computed in.
        """
        if not self._uses_cpu:
            cpu_free = None
        touched = self._log_changed(view, free)
        if touched is None:  # no log to follow: compare every GPU and node with what was seen
            touched = self._compare_seen(left, cpu_free)
        else:
            self._seen_stale = True
        if not touched:
            return
        state_ids, unnumbered = self._state_ids, self._unnumbered
        node_state, node_max = self._node_state, self._node_max_left
        first, end, model, pad = self._node_first, self._node_end, self._node_sku_list, self._pad
        for node in dict.fromkeys(touched):  # few nodes change between placements
            a, b = first[node], end[node]
            cpu = _NO_CPU_LIMIT if cpu_free is None else self._cpu_class(cpu_free.item(node))
            lft = sorted(left[a:b].tolist() + pad[node])
            key = (model[node], cpu, *lft)
            sid = state_ids.get(key)
            if sid is None:
                unnumbered[node] = key
                node_state[node] = _UNNUMBERED
            else:
                unnumbered.pop(node, None)
                node_state[node] = sid
            node_max[node] = lft[-1] if b > a else -1

    def _log_changed(self, view: ClusterView, free: FreeState | None) -> list[int] | None:
        """Nodes whose free state may differ from the one last synced; None: not known.

        Known when the last sync was on the same view, which keeps a change log reaching back
        to it: the nodes changed in the run since, those the last synced free state had
        changed tentatively (``free``'s new ones only when it is that state again), and those
        ``free`` has changed. Records where this sync stands for the next.
        """
        if free is None:
            mark = view.change_mark() if hasattr(view, "change_mark") else None
        else:
            mark = free.view_mark
        since, last = self._log_mark, self._log_free
        out: list[int] | None = None
        if mark is not None and since is not None and view is self._log_view:
            out = view.nodes_changed_since(since)
        if out is not None:
            if free is not None and free is last:
                out = out + free.changed_nodes[self._log_free_n :]
            else:
                if last is not None:
                    out = out + last.changed_nodes[: self._log_free_n]
                if free is not None:
                    out = out + free.changed_nodes
        self._log_view, self._log_mark, self._log_free = view, mark, free
        self._log_free_n = 0 if free is None else len(free.changed_nodes)
        return out

    def _compare_seen(self, left: IntArray, cpu_free: IntArray | None) -> list[int]:
        """Nodes whose GPUs' milli left or CPU differ from the values seen last.

        All nodes when those values do not hold the node states; remembers the new values.
        """
        seen = self._seen_gpu_left
        changed = (left != seen).nonzero()[0]
        touched: list[int] = []
        if changed.shape[0]:
            np.copyto(seen, left)
            gpu_node = self._gpu_node_list
            touched = [gpu_node[g] for g in changed.tolist()]
        if cpu_free is not None:
            cpu_changed = (cpu_free != self._seen_cpu).nonzero()[0]
            if cpu_changed.shape[0]:
                np.copyto(self._seen_cpu, cpu_free)
                touched += cpu_changed.tolist()
        if self._seen_stale:  # the first call, or after following the log: every node
            self._seen_stale = False
            touched = list(range(len(self._node_first)))
        return touched

    def _number_new(self, nodes: IntArray, states: IntArray) -> None:
        """Number the states of the candidates ``nodes`` (ascending) never met before.

        New states are numbered, and their fragmentation computed, in node order.
        """
        unnumbered = self._unnumbered
        hit = nodes[states == _UNNUMBERED].tolist()
        state_ids, node_state = self._state_ids, self._node_state
        fresh: list[tuple[int, ...]] = []
        for node in hit:
            key = unnumbered.pop(node)
            sid = state_ids.get(key)
            if sid is None:
                sid = state_ids[key] = self._n_states + len(fresh)
                fresh.append(key)
            node_state[node] = sid
        if fresh:
            self._add_states(fresh)
        for node, key in list(unnumbered.items()):  # met now on another node
            sid = state_ids.get(key)
            if sid is not None:
                del unnumbered[node]
                node_state[node] = sid

    def _add_states(self, keys: list[tuple[int, ...]]) -> None:
        """Append new states (model, CPU, sorted milli left) with their fragmentation."""
        n, k = self._n_states, len(keys)
        if n + k > self._state_frag.shape[0]:
            cap = max(2 * self._state_frag.shape[0], n + k)
            self._state_frag = np.concatenate((self._state_frag, np.zeros(cap - n)))[:cap]
            for i, score in enumerate(self._shape_score):
                self._shape_score[i] = np.concatenate(
                    (score, np.full(cap - score.shape[0], np.nan))
                )
        self._state_keys.extend(keys)
        self._state_frag[n : n + k] = self._frag_rows(keys)
        self._n_states = n + k

    def _shape_of(self, milli: int, take: int, cpu_req: int) -> int:
        # a CPU-only pod (milli 0) takes no GPU; a share takes one
        gpus = take if milli >= MILLI_PER_GPU else min(milli, 1)
        key = (milli, gpus, cpu_req if self._uses_cpu else 0)
        sid = self._shape_ids.get(key)
        if sid is None:
            sid = self._shape_ids[key] = len(self._shape_score)
            self._shape_score.append(np.full(self._state_frag.shape[0], np.nan))
            self._shape_ties.append({})
        return sid

    def _score_states(
        self, shape: int, states: IntArray, milli: int, take: int, cpu_req: int
    ) -> None:
        """Fragmentation change (milli) of placing a job of ``shape`` on nodes in ``states``.

        For a share the change is the least over the node's GPUs that fit (each distinct milli
        left tried once); the milli-left values that give it are kept to pick the GPU.
        """
        keys = self._state_keys
        state_list = states.tolist()
        before = self._state_frag[states]
        uses_cpu = self._uses_cpu
        score = self._shape_score[shape]
        if 0 < milli < MILLI_PER_GPU:
            # one trial per state and distinct milli-left value that takes the share (keys are
            # sorted: equal values are neighbours)
            trial: list[tuple[int, ...]] = []
            owner: list[int] = []
            vals: list[int] = []
            for i, state in enumerate(state_list):
                m, c, *lft = keys[state]
                c_after = c - cpu_req if uses_cpu else c
                prev = -1
                for k, v in enumerate(lft):
                    if v >= milli and v != prev:
                        after = lft.copy()
                        after[k] = v - milli
                        after.sort()
                        trial.append((m, c_after, *after))
                        owner.append(i)
                        vals.append(v)
                    prev = v
            ties = self._shape_ties[shape]
            if not trial:  # no GPU of these states has the share left
                score[states] = np.inf
                ties.update(dict.fromkeys(state_list, ()))
                return
            d = (self._frag_rows(trial) - before[owner]).tolist()
            best = [math.inf] * len(state_list)
            for i, x in zip(owner, d, strict=True):
                best[i] = min(best[i], x)
            on: list[list[int]] = [[] for _ in state_list]
            for i, x, v in zip(owner, d, vals, strict=True):
                if x == best[i]:
                    on[i].append(v)
            for i, state in enumerate(state_list):
                ties[state] = tuple(on[i])
            score[states] = best
        else:  # whole GPUs: the first ``take`` untouched ones (a CPU-only pod: take 0, only CPU)
            rows: list[tuple[int, ...]] = []
            for state in state_list:
                m, c, *lft = keys[state]
                whole = [k for k, v in enumerate(lft) if v == MILLI_PER_GPU][:take]
                for k in whole:
                    lft[k] = 0
                if whole:
                    lft.sort()
                rows.append((m, c - cpu_req if uses_cpu else c, *lft))
            score[states] = self._frag_rows(rows) - before

    def _node_scores(
        self, view: ClusterView, free: FreeState, nodes: IntArray, job: int, take: int
    ) -> tuple[FloatArray, IntArray]:
        """Per node of ``nodes``: fragmentation change (milli) of placing ``job`` there; states.

        The second array is each node's state (:meth:`_sync`); scores are kept per job shape
        and state and computed once for each.
        """
        jobs = view.jobs
        left = (
            free.gpu_milli
            if free.gpu_milli is not None
            else np.where(free.gpu_free, MILLI_PER_GPU, 0)
        )
        self._sync(left, free.node_cpu_free_milli, view, free)
        return self._scores(nodes, int(jobs.gpu_milli[job]), int(jobs.cpu_milli[job]), take)

    def _scores(
        self, nodes: IntArray, milli: int, cpu_req: int, take: int
    ) -> tuple[FloatArray, IntArray]:
        """:meth:`_node_scores` of candidates ``nodes`` (ascending) after :meth:`_sync`."""
        states = self._node_state[nodes]
        shape = self._shape_of(milli, take, cpu_req)
        score = self._shape_score[shape]
        out = score[states]  # NaN: not scored for this shape yet, or a state never met
        miss = np.isnan(out)
        if np.count_nonzero(miss):
            missing = set(states[miss].tolist())
            if _UNNUMBERED in missing:
                self._number_new(nodes, states)
                states = self._node_state[nodes]
                score = self._shape_score[shape]  # grown if states were added
                out = score[states]
                miss = np.isnan(out)
                missing = set(states[miss].tolist())
            if missing:
                missed = np.array(sorted(missing), dtype=np.int64)
                self._score_states(shape, missed, milli, take, cpu_req)
                out = score[states]
        return out, states

    def _pick_mig(self, view: ClusterView, job: int, free: FreeState, cand: IntArray) -> int:
        mask, compute = free.gpu_mig_mask, free.gpu_mig_compute
        assert mask is not None
        assert compute is not None
        jobs, lay = view.jobs, view.layout
        name = str(jobs.mig_profile[job])  # type: ignore[index]
        slices = int(jobs.mig_compute_slices[job])
        sku = lay.node_sku_idx[lay.gpu_node[cand]]
        before = mask[cand]
        start = self._mig_tables(view, name)[sku, before]
        size = self._mig_sizes(view, name)[sku]
        after = before | (((1 << size) - 1) << start)
        fits = self._mig_fits(view)
        held = compute[cand]
        frag_before = np.where(
            before != 0, (MIG_COMPUTE_SLICES - held) * (1.0 - fits[sku, before]), 0.0
        )
        frag_after = (MIG_COMPUTE_SLICES - held - slices) * (1.0 - fits[sku, after])
        delta = frag_after - frag_before
        return tightest_mig(view, free, cand[delta == delta.min()])

    def _mig_sizes(self, view: ClusterView, name: str) -> IntArray:
        """Per GPU model, the memory slices of profile ``name`` (0 where it has none)."""
        memo: dict[str, IntArray] = self.__dict__.setdefault("_mig_size_memo", {})
        got = memo.get(name)
        if got is None:
            got = np.array(
                [
                    MIG_GEOMETRIES[s.mig].profiles[name].memory_slices
                    if s.mig and name in MIG_GEOMETRIES[s.mig].profiles
                    else 0
                    for s in view.layout.skus
                ],
                dtype=np.int64,
            )
            memo[name] = got
        return got

    def _mig_fits(self, view: ClusterView) -> FloatArray:
        """Per GPU model and slice mask, the share of the run's jobs that would fit there.

        Jobs on whole GPUs never fit a partitioned GPU, so they count against it too.
        """
        got: FloatArray | None = self.__dict__.get("_mig_fit_table")
        if got is None:
            jobs = view.jobs
            names = [str(p) for p in jobs.mig_profile.tolist() if p]  # type: ignore[union-attr]
            n_masks = 1 << MIG_MEMORY_SLICES
            got = np.zeros((len(view.layout.skus), n_masks))
            for name in sorted(set(names)):
                w = names.count(name) / jobs.n_jobs
                got += w * (self._mig_tables(view, name) >= 0)
            self.__dict__["_mig_fit_table"] = got
        return got

    def _place_share(self, view: ClusterView, job: int, free: FreeState) -> IntArray | None:
        """The GPU for a share: the best eligible node, on it the first GPU giving its score.

        The eligible nodes with a GPU that has the share left are scored (node by node, no
        list of GPUs), which gives the same choice as scoring the nodes of the GPUs that fit.
        """
        left = free.gpu_milli
        assert left is not None  # a run with shares
        milli, cpu_req = int(view.jobs.gpu_milli[job]), int(view.jobs.cpu_milli[job])
        self._sync(left, free.node_cpu_free_milli, view, free)
        ok = self._eligible(view, job, free, 0)
        ok &= self._node_max_left >= milli  # nodes with a GPU that has the share left
        shape = self._shape_of(milli, 1, cpu_req)
        got = self._fast_pick(ok, shape)
        if got is None:  # the eligible nodes scored node by node (no list of GPUs), as before
            nodes = ok.nonzero()[0]
            best = self._scores(nodes, milli, cpu_req, 1)[0]
            i = int(best.argmin())
            got = int(nodes[i]), float(best[i])
        if got[1] == math.inf:
            return None
        node = got[0]
        ties = self._shape_ties[shape][int(self._node_state[node])]
        a, b = self._node_first[node], self._node_end[node]
        g = a + [v in ties for v in left[a:b].tolist()].index(True)  # the first such GPU
        return np.array([g], dtype=np.int64)

    def _fast_pick(self, ok: BoolArray, shape: int) -> tuple[int, float] | None:
        """The first node among ``ok`` with the least score for ``shape``, and that score.

        ∞ when no node is ``ok``; None when the score of a node among them is not known yet
        (a state not scored for this shape, or never met): the caller scores as before.
        """
        score = np.where(ok, self._shape_score[shape][self._node_state], math.inf)
        i = int(score.argmin())  # the first NaN if any
        best: float = score.item(i)
        return None if math.isnan(best) else (i, best)

    def _pick_whole(
        self, view: ClusterView, free: FreeState, ok: BoolArray, job: int, take: int
    ) -> int:
        """The node among ``ok`` whose fragmentation falls most if ``job`` takes ``take`` GPUs.

        The first such node (stable order), or -1 if none is ``ok``.
        """
        jobs = view.jobs
        milli, cpu_req = int(jobs.gpu_milli[job]), int(jobs.cpu_milli[job])
        left = (
            free.gpu_milli
            if free.gpu_milli is not None
            else np.where(free.gpu_free, MILLI_PER_GPU, 0)
        )
        self._sync(left, free.node_cpu_free_milli, view, free)
        got = self._fast_pick(ok, self._shape_of(milli, take, cpu_req))
        if got is not None:
            return -1 if got[1] == math.inf else got[0]
        cand = ok.nonzero()[0]  # some node among them not scored yet (so there is one)
        return int(cand[self._scores(cand, milli, cpu_req, take)[0].argmin()])

    def _pick_single(self, ok: BoolArray, free: FreeState) -> int:
        if not self._milli:
            return super()._pick_single(ok, free)
        view = self._view
        assert view is not None
        return self._pick_whole(view, free, ok, self._job, self._take)

    def _host_pick(self, view: ClusterView, ok: BoolArray, cpu_milli: int) -> int:
        if not self._milli:  # the measure counts no CPU: any node is as good
            return super()._host_pick(view, ok, cpu_milli)
        self._sync(view.gpu_milli_left(), view.node_cpu_free_milli, view, None)
        got = self._fast_pick(ok, self._shape_of(0, 0, cpu_milli))
        if got is not None:
            return -1 if got[1] == math.inf else got[0]
        return super()._host_pick(view, ok, cpu_milli)

    def _host_node(self, view: ClusterView, cand: IntArray, cpu_milli: int) -> int:
        if not self._milli:  # the measure counts no CPU: any node is as good
            return int(cand[0])
        self._sync(view.gpu_milli_left(), view.node_cpu_free_milli, view, None)
        return int(cand[self._scores(cand, 0, cpu_milli, 0)[0].argmin()])

    def _milli_nodes(self, cand: IntArray, free: FreeState) -> FloatArray:
        """Fragmentation change of each candidate node if the job takes whole GPUs there."""
        view = self._view
        assert view is not None
        return self._node_scores(view, free, cand, self._job, self._take)[0]

    def _delta(self, cand: IntArray, free: FreeState, take: IntArray | int) -> FloatArray:
        f = free.node_free[cand]
        sku = self._node_sku[cand]
        return self._frag[sku, f] - self._frag[sku, np.maximum(f - take, 0)]

    def _order_single(self, cand: IntArray, free: FreeState) -> int:
        if self._milli:
            return int(cand[self._milli_nodes(cand, free).argmin()])
        return int(cand[np.argmax(self._delta(cand, free, self._take))])

    def _order_shaped(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        if self._milli:
            score = self._milli_nodes(cand, free)
            if m == 1:  # the first of a stable sort
                return cand[score.argmin() :]
            return cand[np.argsort(score, kind="stable")]
        delta = self._delta(cand, free, self._take)
        if m == 1:  # the first of a stable sort by falling delta
            return cand[np.argmax(delta) :]
        order = np.argsort(-delta, kind="stable")
        return cand[order]

    def _order_many(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        f = free.node_free[cand]
        order = np.argsort(-self._frag[self._node_sku[cand], f], kind="stable")
        return cand[order]
