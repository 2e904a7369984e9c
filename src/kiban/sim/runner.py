"""Starting and stopping jobs: the allocation, the job's slot and its life cycle change together.

:class:`JobRunner` is the one place where a job moves between the queue and the GPUs. Starting
a job takes its GPUs (:class:`~kiban.sim.cluster.ClusterState`), opens its slot with its power,
speed, I/O demand and restore phase (:class:`~kiban.sim.slots.Slots`); completing or stopping it
closes the slot and frees the GPUs. A stopped job (preemption or failure) goes back to the
queue with the work it must redo moved in the ledger. Validation of a policy's request is
:mod:`kiban.sim.dispatch`'s; the runner assumes a valid one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.cluster import Placement
from kiban.sim.constants import PHASE_COMPUTE, PHASE_FAIL, RESTORE_FAILURE, RESTORE_NONE
from kiban.sim.time_slice import TimeSlicing
from kiban.vocabulary import DONE, MILLI_PER_GPU, PENDING, RUNNING

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.sim.cluster import ClusterState
    from kiban.sim.flags import Dirty
    from kiban.sim.fragmentation import QueueShapes
    from kiban.sim.ledger_book import LedgerBook
    from kiban.sim.slots import Slots
    from kiban.sim.storage import SharedStorage
    from kiban.sim.tables import RunInputs

__all__ = ["JobRunner"]


def _frozen(value: int) -> IntArray:
    """A read-only one-element index array."""
    arr = np.array([value], dtype=np.int64)
    arr.flags.writeable = False
    return arr


class JobRunner:
    """Job starts, completions, preemptions and failure stops (see the module docstring)."""

    def __init__(  # noqa: PLR0917 - every component a start or stop touches
        self,
        inputs: RunInputs,
        state: ClusterState,
        slots: Slots,
        storage: SharedStorage,
        shapes: QueueShapes,
        book: LedgerBook,
        dirty: Dirty,
    ) -> None:
        self._jobs, self._settings = inputs.jobs, inputs.settings
        self._hw, self._jt = inputs.hw, inputs.jt
        self._state, self._slots, self._storage, self._shapes = state, slots, storage, shapes
        self._book, self._dirty = book, dirty
        self.restarts = 0
        self.preemptions = 0
        self._ts: TimeSlicing | None = (
            TimeSlicing(state, slots, inputs.jt) if inputs.settings.time_slice_max_tenants else None
        )
        """Time-slicing of shared GPUs (:mod:`kiban.sim.time_slice`); None: shares are milli."""
        self._one_gpu: list[Placement | None] = [None] * inputs.hw.layout.n_gpus
        """Per GPU, the placement of a job on it alone (built at its first start, read-only)."""
        self._default_cap_list: list[float] = inputs.hw.default_cap_w.tolist()

    # --- arrival --------------------------------------------------------------------------------
    def enqueue(self, j: int, t_s: float) -> None:
        """Job ``j`` joins the queue (arrival, preemption, failure)."""
        st = self._state
        st.job_state[j] = PENDING
        st.job_pending_since_s[j] = t_s
        st.pend_add(j)
        self._shapes.add(j)
        self._dirty.policy = True

    # --- start ----------------------------------------------------------------------------------
    def start1(
        self, j: int, g: int, *, node: int, rack: int, sku: int, cap_w: float, t_s: float
    ) -> None:
        """Start job ``j`` on GPU ``g`` (free, or shared for a job taking a share of one)."""
        where = self._one_gpu[g]
        if where is None:  # the same arrays for every job on GPU g alone (nothing writes them)
            where = Placement(*(_frozen(x) for x in (g, node, 1, rack)))
            self._one_gpu[g] = where
        if self._jt.special_list[j]:
            self._take_special(j, where, cap_w)
        else:
            self._state.take1(j, g, node, rack, cap_w)
        self._open(j, where, sku=sku, cap_w=cap_w, t_s=t_s)
        if self._ts is not None and self._jt.share_milli_list[j] < MILLI_PER_GPU:
            self._ts.retenant(g, t_s)

    def start(self, j: int, where: Placement, *, sku: int, cap_w: float, t_s: float) -> None:
        """Start job ``j`` on the GPUs of ``where`` at a per-GPU cap of ``cap_w``."""
        if self._jt.special_list[j]:
            self._take_special(j, where, cap_w)
        else:
            self._state.take(j, where, cap_w)
        self._open(j, where, sku=sku, cap_w=cap_w, t_s=t_s)

    def _take_special(self, j: int, where: Placement, cap_w: float) -> None:
        """Allocation of a job that shares a GPU or takes node CPU and memory."""
        st, jt = self._state, self._jt
        milli = jt.share_milli_list[j]
        if milli < MILLI_PER_GPU:
            g, node, rack = int(where.gpus[0]), int(where.nodes[0]), int(where.racks[0])
            st.take_share(j, g, node=node, rack=rack, cap_w=cap_w, milli=milli)
        elif jt.mig_list[j]:
            g, node, rack = int(where.gpus[0]), int(where.nodes[0]), int(where.racks[0])
            st.take_mig(j, g, node=node, rack=rack, cap_w=cap_w)
        else:
            st.take(j, where, cap_w)
        if jt.host_request[j]:
            st.take_host(j, where.nodes)

    def _release_special(self, j: int, where: Placement, cap_w: float) -> None:
        st, jt = self._state, self._jt
        milli = jt.share_milli_list[j]
        if milli < MILLI_PER_GPU:
            g, node, rack = int(where.gpus[0]), int(where.nodes[0]), int(where.racks[0])
            st.release_share(j, g, node=node, rack=rack, cap_w=cap_w, milli=milli)
            watch = self._slots.watch
            if watch is not None:  # the GPU's power and shares changed: the timeline looks
                watch.update(st.gpu_tenants.get(g, ()))
        elif jt.mig_list[j]:
            g, node, rack = int(where.gpus[0]), int(where.nodes[0]), int(where.racks[0])
            st.release_mig(j, g, node=node, rack=rack, cap_w=cap_w)
            watch = self._slots.watch
            if watch is not None:  # the GPU's power and shares changed: the timeline looks
                watch.update(st.gpu_tenants.get(g, ()))
        else:
            st.release(where, cap_w)
        if jt.host_request[j]:
            st.take_host(j, where.nodes, -1)

    def _open(self, j: int, where: Placement, *, sku: int, cap_w: float, t_s: float) -> None:
        st, jt = self._state, self._jt
        st.job_state[j] = RUNNING
        st.pend_remove(j)
        self._shapes.remove(j)
        if math.isnan(st.job_first_start_s[j]):
            st.job_first_start_s[j] = t_s
        if cap_w == self._default_cap_list[sku]:
            busy_w = float(jt.busy_w[j, sku])
            s_cap = float(jt.s_cap[j, sku])
        else:
            busy_w, s_cap = self.at_cap(j, sku, cap_w)
        if st.job_restore_kind[j] == RESTORE_FAILURE:
            dur_s = float(jt.ckpt_write_s[j]) + self._settings.restart_overhead_s
            phase = PHASE_FAIL if dur_s > 0 else PHASE_COMPUTE
            st.job_restore_kind[j] = RESTORE_NONE
        else:
            dur_s, phase = 0.0, PHASE_COMPUTE
        storage = self._storage
        i = self._slots.open(
            j,
            t_s,
            where,
            sku=sku,
            phase=phase,
            phase_s=dur_s,
            cap_w=cap_w,
            busy_w=busy_w,
            s_cap=s_cap,
            io_demand_b_per_s=storage.demand_b_per_s(
                j, where.gpus.shape[0], where.nodes, where.counts
            ),
            io_weight=float(storage.job_io_weight[j]),
        )
        storage.on_open(j, i, self._slots, t_s)

    def at_cap(self, j: int, sku: int, cap_w: float) -> tuple[float, float]:
        """Per-GPU power while computing (W) and speed of job ``j`` under a cap."""
        busy, s_cap = self._jt.at_cap(self._jobs, j, sku, cap_w)
        return float(busy), float(s_cap)

    # --- stop -----------------------------------------------------------------------------------
    def _close(self, i: int, j: int, t_s: float) -> None:
        """Close slot ``i`` (job ``j``'s, booked) and free its job's allocation."""
        self._storage.on_close(j)
        where, cap_w = self._slots.close(i)
        if self._jt.special_list[j]:
            self._release_special(j, where, cap_w)
            if self._ts is not None and self._jt.share_milli_list[j] < MILLI_PER_GPU:
                self._ts.retenant(int(where.gpus[0]), t_s)
        else:
            self._state.release(where, cap_w)

    def complete(self, i: int, t_s: float) -> None:
        """Slot ``i``'s job finished its work."""
        st, sl = self._state, self._slots
        j = int(sl.job[i])
        sl.book(i, t_s)
        self._close(i, j, t_s)
        sl.finish(j)
        st.job_end_s[j] = t_s
        st.job_state[j] = DONE
        self._dirty.policy = True

    def stop(self, j: int, t_s: float, *, failure: bool) -> None:
        """Stop running job ``j`` (its node failed, or a preemption) and queue it again."""
        st, sl = self._state, self._slots
        i = int(sl.job_slot[j])
        sl.book(i, t_s)
        self._close(i, j, t_s)
        num_gpus = float(self._jobs.num_gpus[j]) * self._jt.share_frac_list[j]
        if self._ts is not None and self._jt.share_milli_list[j] < MILLI_PER_GPU:
            num_gpus = 1.0  # a time-sliced tenant's work costs 1 GPU-second per second of work
        if failure:
            interval_s = float(self._jobs.checkpoint_interval_s[j])
            progress_s = float(sl.job_progress_s[j])
            if progress_s <= 0.0:
                lost_s = 0.0
            elif interval_s > 0:
                lost_s = progress_s % interval_s  # work since the last checkpoint
            else:
                lost_s = progress_s  # never checkpoints: everything is redone
            sl.redo(j, lost_s, failure=True)
            self._book.move_to_failure(lost_s * num_gpus, self._jt.compute_share_list[j])
            st.job_restore_kind[j] = RESTORE_FAILURE
            st.job_restarts[j] += 1
            self.restarts += 1
        else:
            # Save now and restore at the restart: 2 × the checkpoint write time (plus any
            # restart overhead) of extra work for the job, booked as checkpoint time. Folding
            # the save/restore into the job's work (instead of an idle restore phase with its
            # own event) keeps the GPU time exact and halves the events of a preemptive policy.
            redo_s = (
                2.0 * float(self._jt.ckpt_write_s[j])
                + self._settings.restart_overhead_s
                + float(self._jt.restart_penalty_s[j])
            )
            if redo_s > 0.0:
                sl.redo(j, redo_s, failure=False)
                self._book.move_to_checkpoint(redo_s * num_gpus, self._jt.compute_share_list[j])
            st.job_preemptions[j] += 1
            self.preemptions += 1
        self.enqueue(j, t_s)
