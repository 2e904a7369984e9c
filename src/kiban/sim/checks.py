"""Expensive consistency checks of a running simulation (on when ``kiban.options.debug_checks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import SimulationError
from kiban.mig import MIG_COMPUTE_SLICES
from kiban.sim.slots import SHARES
from kiban.sim.time_slice import time_slice_problems
from kiban.vocabulary import GPU_FREE, GPU_SHARED, PENDING, RUNNING

if TYPE_CHECKING:
    from kiban.sim.cluster import ClusterState
    from kiban.sim.ledger_book import LedgerBook
    from kiban.sim.slots import Slots
    from kiban.sim.tables import HardwareTables

__all__ = ["check_invariants"]


def check_invariants(
    hw: HardwareTables, state: ClusterState, slots: Slots, book: LedgerBook
) -> None:
    """Allocation, queue, slots and ledger sums agree with each other.

    Raises:
        SimulationError: naming every broken invariant and the time.
    """
    st, sl = state, slots
    n = sl.n
    n_jobs = st.job_state.shape[0]
    held = st.gpu_job[st.gpu_job >= 0]
    tenants = [j for js in st.gpu_tenants.values() for j in js]
    counts = np.bincount(
        np.concatenate([held, np.asarray(tenants, dtype=np.int64)]), minlength=n_jobs
    )
    running = np.flatnonzero(st.job_state == RUNNING)
    problems = []
    if set(running.tolist()) != set(sl.job[:n].tolist()):
        problems.append("running jobs and slots disagree")
    if (counts[running] != sl.job_n_alloc[running]).any():
        problems.append("a running job holds a different number of GPUs than allocated")
    if counts.sum() != sl.n_gpus[:n].sum():
        problems.append("GPUs held by jobs that are not running")
    node_free = np.bincount(hw.gpu_node[st.gpu_job == GPU_FREE], minlength=hw.layout.n_nodes)
    if (node_free != st.node_free).any():
        problems.append("node free counts disagree with the GPU table")
    if int((st.gpu_job == GPU_FREE).sum()) != st.n_free_gpus:
        problems.append("free GPU count drifted")
    if not np.array_equal(np.flatnonzero(st.job_state == PENDING), st.pending_buf[: st.n_pending]):
        problems.append("the pending queue disagrees with the job states")
    exact = sl.held_gpus(np.arange(n)) @ sl.rate[:n, SHARES]
    if not np.allclose(book.rate_gpus, exact, rtol=1e-9, atol=1e-9):
        problems.append("incremental ledger sums drifted from the slot rates")
    rows = sl.rate[:n, SHARES].sum(axis=1)
    if n and not np.allclose(rows, 1.0, rtol=0, atol=1e-9):
        problems.append("ledger shares of a running job do not sum to 1")
    if st.mig is not None:
        problems += _mig_problems(st, sl)
    if st.time_sliced:
        problems += time_slice_problems(st, sl)
    if problems:
        msg = f"invariant broken at t={st.time_s} s: " + "; ".join(problems)
        raise SimulationError(msg)


def _mig_problems(st: ClusterState, sl: Slots) -> list[str]:
    """MIG instances: non-overlapping at allowed starts, masks and free slices as booked."""
    mig = st.mig
    assert mig is not None
    out = []
    mask = np.zeros_like(mig.gpu_mask)
    compute = np.zeros_like(mig.gpu_compute)
    for j in np.flatnonzero(mig.job_start >= 0).tolist():
        gpus = sl.job_gpus[j]
        if gpus is None:
            out.append(f"job {j} holds a MIG instance but is not running")
            continue
        g = int(gpus[0])
        geo = mig.geometry_of(g)
        name = mig.job_profile[j]
        start = int(mig.job_start[j])
        if geo is None or name not in geo.profiles or start not in geo.profiles[name].starts:
            out.append(
                f"job {j}'s MIG instance {name} at slice {start} is not a placement of GPU {g}"
            )
            continue
        m = geo.profiles[name].mask(start)
        if int(mask[g]) & m:
            out.append(f"MIG instances overlap on GPU {g}")
        mask[g] |= m
        compute[g] += mig.job_slices[j]
    if not np.array_equal(mask, mig.gpu_mask) or not np.array_equal(compute, mig.gpu_compute):
        out.append("MIG slice masks disagree with the running instances")
    if (compute > MIG_COMPUTE_SLICES).any():
        out.append("a GPU's MIG instances hold more than 7 compute slices")
    mode = mig.gpu_mask != 0
    if int((MIG_COMPUTE_SLICES - compute[mode]).sum()) != mig.free_slices:
        out.append("free MIG compute slices drifted")
    if (st.gpu_job[mode] != GPU_SHARED).any():
        out.append("a GPU holding MIG instances is not marked shared")
    return out
