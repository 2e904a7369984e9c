"""CUDA time-slicing: the tenants of a shared GPU take turns on the whole GPU (issue 15).

The model (on when ``SimSettings.time_slice_max_tenants`` = R ≥ 2):

* **Replicas.** NVIDIA's Kubernetes device plugin (and the GPU Operator built on it) shares a GPU
  by time-slicing as ``replicas``: "a system administrator [defines] a set of replicas for a
  GPU, each of which can be handed out independently to a pod"; "unlike Multi-Instance GPU
  (MIG), there is no memory or fault-isolation between replicas" (GPU Operator, "Time-Slicing
  GPUs in Kubernetes"). A job that asks for part of a GPU (``gpu_milli`` < 1000 in the trace)
  takes one replica here: its request becomes ``1000 // R`` milli (:func:`replica_jobs`), so
  every placement policy and the dispatcher place it as a share, at most R tenants on a GPU; no
  memory is checked.
* **Equal time.** "Under the hood CUDA will simply give an equal share of time to all of the GPU
  processes across all of the clients" (k8s-device-plugin README, "Shared Access to GPUs with
  CUDA Time-Slicing"). With k tenants on a GPU each holds 1/k of it and progresses at 1/k of
  its speed alone (a job's trace duration is its time alone on the GPU), one process per tenant.
  A tenant's progress rate changes whenever a tenant comes or goes (:meth:`TimeSlicing.retenant`).
* **No overhead term.** Neither document publishes a context-switch overhead, and no published
  measurement of the throughput lost to switching was found (what is published are tail-latency
  anecdotes, not a rate), so none is modelled: k tenants together progress as one job alone.
* **Ledger, power, activity.** A GPU with tenants is wholly allocated: the tenants' shares 1/k sum
  to 1, each GPU-second is booked once, by the tenants' own ledger buckets, and unused replicas
  are not free time (unlike the unused milli of a milli-shared GPU). The GPU draws its idle power
  plus each tenant's 1/k of that tenant's power above idle and is busy for the mean of its
  tenants' busy shares (the share-weighted rules of :mod:`kiban.sim.slots`). Work a failure or
  preemption makes a tenant redo is 1 GPU-second per second of work (k wall-seconds at 1/k).

Not modelled: GPU memory (time-sliced tenants share it unchecked; a run does not fail on it), the
slower input reads of a tenant progressing at 1/k (a storage-limited run overstates them), and a
power cap set on one tenant (it reserves rack power at the tenant's current share).

References:
    NVIDIA GPU Operator documentation, "Time-Slicing GPUs in Kubernetes",
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html;
    NVIDIA k8s-device-plugin README, "Shared Access to GPUs with CUDA Time-Slicing",
    https://github.com/NVIDIA/k8s-device-plugin.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from kiban.vocabulary import MILLI_PER_GPU

if TYPE_CHECKING:
    from kiban.sim.cluster import ClusterState
    from kiban.sim.jobs import JobTable
    from kiban.sim.slots import Slots
    from kiban.sim.tables import JobTables

__all__ = ["TimeSlicing", "replica_jobs", "replica_milli", "time_slice_problems"]


def replica_milli(max_tenants: int) -> int:
    """Milli-GPU one replica counts for in placement: ``1000 // max_tenants``."""
    return MILLI_PER_GPU // max_tenants


def replica_jobs(jobs: JobTable, max_tenants: int) -> JobTable:
    """A copy where every job asking for part of a GPU asks for one replica of ``max_tenants``.

    Its ``gpu_milli`` becomes :func:`replica_milli`, so the placement's milli arithmetic lets
    ``max_tenants`` such jobs on a GPU and never one more (checked: an R for which 1000 // R
    milli would admit R + 1 tenants, e.g. 300, is refused by :class:`~kiban.sim.settings.
    SimSettings`). Whole-GPU and MIG jobs are unchanged.
    """
    milli = replica_milli(max_tenants)
    shared = jobs.gpu_milli < MILLI_PER_GPU
    if not shared.any():
        return jobs
    return dataclasses.replace(jobs, gpu_milli=np.where(shared, milli, jobs.gpu_milli))


class TimeSlicing:
    """Keeps every tenant of a time-sliced GPU at share and speed 1/k (see the module docstring).

    Args:
        state: The allocation (its ``gpu_tenants``).
        slots: The running jobs.
        jt: The job tables (the jobs' speed alone, ``scale_frac``).
    """

    def __init__(self, state: ClusterState, slots: Slots, jt: JobTables) -> None:
        self._state, self._slots, self._jt = state, slots, jt
        state.time_sliced = True

    def retenant(self, g: int, t_s: float) -> None:
        """GPU ``g`` gained or lost a tenant at ``t_s``: its tenants hold and run at 1/k now.

        Also keeps the cluster's unused share milli at 0: a time-sliced GPU with a tenant is
        wholly allocated, so no replica left on it is free GPU time.
        """
        st, sl = self._state, self._slots
        st.shared_free_milli = 0
        tenants = st.gpu_tenants.get(g)
        if not tenants:
            return
        share = 1.0 / len(tenants)
        for j in tenants:
            i = int(sl.job_slot[j])
            if i >= 0:
                sl.set_share(i, t_s, share, self._jt.scale_frac(j, 1, 1) * share)


def time_slice_problems(state: ClusterState, slots: Slots) -> list[str]:
    """Invariants of a time-sliced run (``kiban.sim.checks``, on in tests).

    Every tenant of a time-sliced GPU holds exactly 1/k of it (k its tenants; so the shares sum
    to 1 and the GPU is booked once), and no unused replica is booked as free time.
    """
    out = []
    mig = state.mig
    for g, tenants in state.gpu_tenants.items():
        if not tenants or (mig is not None and mig.gpu_mask[g]):
            continue
        k = len(tenants)
        slot = slots.job_slot[np.asarray(tenants, dtype=np.int64)]
        if (slot < 0).any() or not np.allclose(slots.share_frac[slot], 1.0 / k, rtol=0, atol=1e-12):
            out.append(f"the {k} time-slice tenants of GPU {g} do not each hold 1/{k} of it")
    if state.shared_free_milli != 0:
        out.append("unused replicas of time-sliced GPUs are booked as free GPU time")
    return out
