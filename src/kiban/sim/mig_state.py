"""MIG instances of a run: which memory and compute slices of each GPU its instances hold.

A GPU enters MIG mode when a job's instance is created on it (it must be free then) and leaves it
when its last instance goes; in between :class:`~kiban.sim.cluster.ClusterState` marks it
:data:`~kiban.vocabulary.GPU_SHARED` with the jobs in ``gpu_tenants`` (so power, activity and the
per-GPU timeline follow its tenants, as for milli-GPU shares), while this table keeps the
geometry: per GPU the bit mask of occupied memory slices and the compute slices held, per running
job the start of its instance. Whole-GPU jobs never land on such a GPU (it is not free) and
milli-GPU shares neither (its milli left is 0); MIG instances never land on a GPU shared by milli
jobs (its mask is empty while it is not free). The time a MIG GPU's unheld compute slices stand
idle is booked as free GPU time (``free_slices / 7`` GPUs): each GPU-second once; while a waiting
job's instance fits those slices by count but nowhere by shape (:meth:`MigState.stranded`) the
free time is also fragmentation (the ledger's ``fragmentation_gpu_s``).

The mode switch itself (a GPU reset, no processes) costs no time here, and the slices' start is
chosen by :meth:`kiban.mig.MigGeometry.start_for` (the start that keeps the most placements open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.mig import (
    MIG_COMPUTE_SLICES,
    MIG_GEOMETRIES,
    MIG_MEMORY_SLICES,
    MigGeometry,
    profile_compute_slices,
)
from kiban.vocabulary import GPU_FREE

if TYPE_CHECKING:
    from kiban._typing import BoolArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = ["MigState", "sku_geometries"]


def sku_geometries(layout: ClusterLayout) -> list[MigGeometry | None]:
    """Each GPU model's MIG geometry (None: not MIG-capable), by model index."""
    return [MIG_GEOMETRIES[s.mig] if getattr(s, "mig", "") else None for s in layout.skus]


class MigState:
    """Slices held on GPUs in MIG mode (see the module docstring).

    Attributes:
        gpu_mask: Per GPU, occupied memory slices (bit mask; 0 = no instance).
        gpu_compute: Per GPU, compute slices its instances hold.
        job_start: Per job, the first memory slice of its running instance (-1 = none).
        free_slices: Σ over GPUs in MIG mode of their unheld compute slices.
        idle_slice_gpu_s: Time integral of ``free_slices / 7`` (GPU·s).
    """

    def __init__(self, layout: ClusterLayout, jobs: JobTable) -> None:
        n_gpus = layout.n_gpus
        self.geometry = sku_geometries(layout)
        self._gpu_sku: list[int] = layout.node_sku_idx[layout.gpu_node].tolist()
        self.gpu_mask: IntArray = np.zeros(n_gpus, dtype=np.int64)
        self.gpu_compute: IntArray = np.zeros(n_gpus, dtype=np.int64)
        self.job_start: IntArray = np.full(jobs.n_jobs, -1, dtype=np.int64)
        self.free_slices = 0
        self.idle_slice_gpu_s = 0.0
        """Time integral of ``free_slices / 7`` (GPU·s), kept by the ledger's integration."""
        profiles = jobs.mig_profile
        self.job_profile: list[str] = (
            [""] * jobs.n_jobs if profiles is None else [str(p) for p in profiles.tolist()]
        )
        self.job_slices: list[int] = jobs.mig_compute_slices.tolist()
        self._gpu_sku_arr: IntArray = np.asarray(self._gpu_sku, dtype=np.int64)
        self._prof_names: list[str] = sorted({p for p in self.job_profile if p})
        index = {p: i for i, p in enumerate(self._prof_names)}
        self._job_prof_idx: IntArray = np.array(
            [index.get(p, -1) for p in self.job_profile], dtype=np.int64
        )
        self._tables: dict[str, IntArray] = {}
        self.version = 0
        """Counts instances created and destroyed (readers cache on it)."""
        self._stranded_key: tuple[int, ...] | None = None
        self._stranded = False
        self.planned: dict[int, int] = {}
        """Job → start chosen for it by :meth:`plan` for the decision being applied."""

    def plan(self, starts: dict[int, int]) -> None:
        """Fix the starts of the instances one decision creates, GPU by GPU, before creating them.

        A policy places a decision's instances in its own order; the dispatch creates them in job
        order. Several instances new on one GPU are assigned starts together
        (:meth:`kiban.mig.MigGeometry.assign`), so what fitted for the policy fits here.

        Args:
            starts: Job → GPU for the decision's MIG starts (checked one by one later).
        """
        self.planned.clear()
        by_gpu: dict[int, list[int]] = {}
        for j, g in starts.items():
            by_gpu.setdefault(g, []).append(j)
        for g, jobs in by_gpu.items():
            geo = self.geometry_of(g)
            names = [self.job_profile[j] for j in jobs]
            if geo is None or any(n not in geo.profiles for n in names):
                continue
            got = geo.assign(int(self.gpu_mask[g]), int(self.gpu_compute[g]), names)
            if got is not None:
                self.planned.update(zip(jobs, got, strict=True))

    def geometry_of(self, g: int) -> MigGeometry | None:
        """GPU ``g``'s MIG geometry (None: its model has none)."""
        return self.geometry[self._gpu_sku[g]]

    def start_on(self, j: int, g: int) -> int:
        """The start job ``j``'s instance would take on GPU ``g`` now (-1: it does not fit)."""
        geo = self.geometry_of(g)
        name = self.job_profile[j]
        if geo is None or name not in geo.profiles:
            return -1
        mask = int(self.gpu_mask[g])
        start = self.planned.get(j, -1)
        if start < 0 or not geo.can_place(mask, int(self.gpu_compute[g]), name, start):
            start = geo.start_for(mask, name)
        if start < 0 or not geo.can_place(mask, int(self.gpu_compute[g]), name, start):
            return -1
        return start

    def take(self, j: int, g: int, *, first: bool) -> None:
        """Job ``j``'s instance is created on GPU ``g`` (``first``: the GPU was free)."""
        geo = self.geometry_of(g)
        assert geo is not None  # checked by the dispatch
        start = self.start_on(j, g)
        assert start >= 0  # checked by the dispatch
        c = self.job_slices[j]
        if first:
            self.free_slices += MIG_COMPUTE_SLICES
        self.gpu_mask[g] |= geo.profiles[self.job_profile[j]].mask(start)
        self.gpu_compute[g] += c
        self.free_slices -= c
        self.job_start[j] = start
        self.planned.pop(j, None)
        self.version += 1

    def release(self, j: int, g: int) -> bool:
        """Job ``j``'s instance on GPU ``g`` is destroyed; True if it was the GPU's last."""
        geo = self.geometry_of(g)
        assert geo is not None
        start = int(self.job_start[j])
        self.gpu_mask[g] &= ~geo.profiles[self.job_profile[j]].mask(start)
        self.gpu_compute[g] -= self.job_slices[j]
        self.free_slices += self.job_slices[j]
        self.job_start[j] = -1
        self.version += 1
        if self.gpu_mask[g] == 0:
            self.free_slices -= MIG_COMPUTE_SLICES
            return True
        return False

    def stranded(self, pending: IntArray, gpu_job: IntArray, key: tuple[int, int]) -> bool:
        """True if a waiting job's instance fits the unheld slices by count but nowhere by shape.

        That is MIG's fragmentation: some waiting job's compute slices are at most the slices no
        instance holds on partitioned GPUs, yet no free GPU of a model offering its profile and no
        partitioned GPU has a free placement for it (the job's GPU-model constraint is not
        looked at). The answer is kept while ``key`` (queue and GPU versions) and the instances
        are the same.

        Args:
            pending: The waiting jobs.
            gpu_job: ``ClusterState.gpu_job`` (free GPUs are ``GPU_FREE``).
            key: Versions of the queue and of ``gpu_job``.
        """
        if not self.free_slices:
            return False
        full_key = (*key, self.version)
        if self._stranded_key == full_key:
            return self._stranded
        waiting = np.unique(self._job_prof_idx[pending])
        names = [self._prof_names[int(i)] for i in waiting[waiting >= 0].tolist()]
        answer = False
        if names:
            gpu_sku = self._gpu_sku_arr
            mode = self.gpu_mask != 0
            free = gpu_job == GPU_FREE
            for name in names:
                c = profile_compute_slices(name)
                if c > self.free_slices:
                    continue
                tab = self._start_table(name)
                ok = free & (tab[gpu_sku, 0] >= 0)
                ok |= (
                    mode
                    & (tab[gpu_sku, self.gpu_mask] >= 0)
                    & (self.gpu_compute + c <= MIG_COMPUTE_SLICES)
                )
                if not ok.any():
                    answer = True
                    break
        self._stranded_key = full_key
        self._stranded = answer
        return answer

    def _start_table(self, name: str) -> IntArray:
        """Per GPU model and slice mask, the start a new ``name`` instance takes (-1: none)."""
        got = self._tables.get(name)
        if got is None:
            got = np.full((len(self.geometry), 1 << MIG_MEMORY_SLICES), -1, dtype=np.int64)
            for k, geo in enumerate(self.geometry):
                if geo is not None and name in geo.profiles:
                    got[k] = [geo.start_for(m, name) for m in range(1 << MIG_MEMORY_SLICES)]
            self._tables[name] = got
        return got

    def offers(self, name: str) -> BoolArray:
        """Per GPU model, whether its geometry has profile ``name``."""
        return np.array([geo is not None and name in geo.profiles for geo in self.geometry])
