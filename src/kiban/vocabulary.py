"""Names shared by the simulator and the data layer: ledger buckets and job and GPU states.

Both sides import them from here, downward: the simulator (``kiban.sim``) books GPU-seconds and
moves jobs through these states; ``kiban.ledger``, ``kiban.metrics`` and ``kiban.results`` read
them back from a run's output without depending on simulator internals.
"""

from __future__ import annotations

__all__ = [
    "DONE",
    "FUTURE",
    "GPU_DOWN",
    "GPU_FREE",
    "GPU_SHARED",
    "JOB_STATE_NAMES",
    "LEDGER_BUCKETS",
    "LOST_BUCKETS",
    "MILLI_PER_GPU",
    "PENDING",
    "RUNNING",
    "UNSCHEDULABLE",
]

MILLI_PER_GPU = 1000
"""Milli-GPU in one GPU (``gpu_milli`` of a job that holds whole GPUs)."""

LEDGER_BUCKETS: tuple[str, ...] = (
    "productive",
    "idle_no_demand",
    "queue_blocked",
    "io_stall",
    "underused",
    "thermal_throttle",
    "power_cap",
    "failure",
    "checkpoint",
)
"""Every GPU-second of capacity lands in exactly one of these (DESIGN.md, the ledger)."""

LOST_BUCKETS: tuple[str, ...] = tuple(b for b in LEDGER_BUCKETS if b != "productive")
"""The eight buckets of lost capacity, in the order of ``summary.json``'s ``ledger_gpu_hours``."""

FUTURE, PENDING, RUNNING, DONE, UNSCHEDULABLE = 0, 1, 2, 3, 4
"""Job life-cycle states (``ClusterState.job_state``, ``RunOutput.job["state"]``).

FUTURE → PENDING (arrived) → RUNNING → DONE; RUNNING → PENDING on preemption or node failure;
FUTURE → UNSCHEDULABLE for jobs no placement can ever satisfy."""

JOB_STATE_NAMES: dict[int, str] = {
    FUTURE: "not yet arrived",
    PENDING: "pending",
    RUNNING: "running",
    DONE: "done",
    UNSCHEDULABLE: "unschedulable",
}
"""Words for each job state, for messages."""

GPU_FREE, GPU_DOWN = -1, -2
"""Markers in ``ClusterState.gpu_job`` for a free GPU and a GPU on a failed node."""

GPU_SHARED = -3
"""Marker in ``ClusterState.gpu_job`` for a GPU held by jobs that each use a share of it
(``ClusterState.gpu_tenants`` lists them)."""
