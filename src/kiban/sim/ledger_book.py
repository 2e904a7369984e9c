"""The GPU-second ledger book of a run: integrates every GPU-second into one bucket.

Allocated GPU time is split by the running jobs' shares (:mod:`kiban.sim.slots` keeps, per
bucket, the sum over running jobs of GPUs × share, and tells the book every change through
:meth:`LedgerBook.change` and friends); free GPUs are ``queue_blocked`` while jobs wait and
``idle_no_demand`` otherwise; GPUs of failed nodes are ``failure``. A GPU shared by jobs
that each take part of it (issue 15) is booked by its tenants for their shares and, for the
unused remainder, as free GPU time (``n_free`` counts it in GPUs), so each GPU-second is
booked once. Work a job must redo after
a failure, or the save/restore of a preemption, is moved from ``productive`` afterwards
(:meth:`LedgerBook.move`).
"""

from __future__ import annotations

__all__ = ["ALLOCATED_BUCKETS", "LedgerBook"]

ALLOCATED_BUCKETS: tuple[str, ...] = (
    "productive",
    "io_stall",
    "underused",
    "thermal_throttle",
    "power_cap",
    "checkpoint",
    "failure",
)
"""Buckets of allocated GPU time, in the order of the slots' share columns."""
N_ALLOC = len(ALLOCATED_BUCKETS)


class LedgerBook:
    """Bucket integrals of one run (GPU·s).

    Attributes:
        rate_gpus: Per allocated bucket, Σ over running jobs of GPUs × share, now (GPUs).
        alloc_gpu_s: Per allocated bucket, integral of ``rate_gpus`` (GPU·s).
        down_gpu_s: GPU·s on failed nodes.
        blocked_gpu_s: Free GPU·s while jobs waited.
        idle_gpu_s: Free GPU·s with no job waiting.
        frag_gpu_s: The part of ``blocked_gpu_s`` while the free GPUs were fragmented.
        moved_gpu_s: GPU·s moved from productive afterwards, by bucket (failure, checkpoint).
    """

    __slots__ = (
        "alloc_gpu_s",
        "blocked_gpu_s",
        "down_gpu_s",
        "frag_gpu_s",
        "idle_gpu_s",
        "moved_ckpt_gpu_s",
        "moved_failure_gpu_s",
        "moved_underused_gpu_s",
        "rate_gpus",
    )

    def __init__(self) -> None:
        self.rate_gpus = [0.0] * N_ALLOC
        self.alloc_gpu_s = [0.0] * N_ALLOC
        self.down_gpu_s = 0.0
        self.blocked_gpu_s = 0.0
        self.idle_gpu_s = 0.0
        self.frag_gpu_s = 0.0
        self.moved_failure_gpu_s = 0.0
        self.moved_ckpt_gpu_s = 0.0
        self.moved_underused_gpu_s = 0.0  # the part of the moved work booked underused

    # --- the running jobs' shares (called by the slots) -----------------------------------------
    def change(self, n_gpus: float, old: list[float], new: list[float]) -> None:
        """A job on ``n_gpus`` GPUs changed its shares from ``old`` to ``new``."""
        # the loop over the N_ALLOC buckets, unrolled (called at every rate change)
        s = self.rate_gpus
        o0, o1, o2, o3, o4, o5, o6 = old
        n0, n1, n2, n3, n4, n5, n6 = new
        s[0] += n_gpus * (n0 - o0)
        s[1] += n_gpus * (n1 - o1)
        s[2] += n_gpus * (n2 - o2)
        s[3] += n_gpus * (n3 - o3)
        s[4] += n_gpus * (n4 - o4)
        s[5] += n_gpus * (n5 - o5)
        s[6] += n_gpus * (n6 - o6)

    def add(self, d_rate_gpus: list[float]) -> None:
        """Several jobs changed: add the summed change per bucket (GPUs)."""
        sums = self.rate_gpus
        for k, val in enumerate(d_rate_gpus):
            sums[k] += val

    def remove(self, n_gpus: int, shares: list[float]) -> None:
        """A job on ``n_gpus`` GPUs with ``shares`` stopped."""
        # the loop over the N_ALLOC buckets, unrolled (called at every stop)
        s = self.rate_gpus
        v0, v1, v2, v3, v4, v5, v6 = shares
        s[0] -= n_gpus * v0
        s[1] -= n_gpus * v1
        s[2] -= n_gpus * v2
        s[3] -= n_gpus * v3
        s[4] -= n_gpus * v4
        s[5] -= n_gpus * v5
        s[6] -= n_gpus * v6

    def resync(self, exact_rate_gpus: list[float]) -> None:
        """Replace the incremental sums by an exact recomputation (bounds drift)."""
        self.rate_gpus = exact_rate_gpus

    # --- time ------------------------------------------------------------------------------------
    def advance(
        self, dt_s: float, n_down: int, n_free: float, waiting: bool, fragmented: bool
    ) -> None:
        """Integrate ``dt_s`` seconds of the current state."""
        # the loop over the N_ALLOC buckets, unrolled (called at every event)
        s0, s1, s2, s3, s4, s5, s6 = self.rate_gpus
        led = self.alloc_gpu_s
        led[0] += s0 * dt_s
        led[1] += s1 * dt_s
        led[2] += s2 * dt_s
        led[3] += s3 * dt_s
        led[4] += s4 * dt_s
        led[5] += s5 * dt_s
        led[6] += s6 * dt_s
        self.down_gpu_s += n_down * dt_s
        free = n_free * dt_s
        if waiting:
            self.blocked_gpu_s += free
            if fragmented:
                self.frag_gpu_s += free
        else:
            self.idle_gpu_s += free

    def move_to_failure(self, gpu_s: float, compute_share: float = 1.0) -> None:
        """Work lost to a failure is failure time.

        When done it was booked productive for the job's compute share κ and underused for the
        rest; both parts move.
        """
        self.moved_failure_gpu_s += gpu_s
        self.moved_underused_gpu_s += gpu_s * (1.0 - compute_share)

    def move_to_checkpoint(self, gpu_s: float, compute_share: float = 1.0) -> None:
        """A preemption's save and restore (booked as work to redo) is checkpoint time.

        The redone work is booked like any work (κ productive, the rest underused).
        """
        self.moved_ckpt_gpu_s += gpu_s
        self.moved_underused_gpu_s += gpu_s * (1.0 - compute_share)

    # --- result ----------------------------------------------------------------------------------
    @property
    def allocated_gpu_s(self) -> float:
        """GPU·s held by jobs."""
        return float(sum(self.alloc_gpu_s))

    def buckets_gpu_s(self) -> dict[str, float]:
        """The nine ledger buckets (GPU·s), keys as :data:`kiban.vocabulary.LEDGER_BUCKETS`."""
        alloc = self.alloc_gpu_s
        moved = self.moved_failure_gpu_s
        moved_ck = self.moved_ckpt_gpu_s
        return {
            "productive": alloc[0] - moved - moved_ck + self.moved_underused_gpu_s,
            "idle_no_demand": self.idle_gpu_s,
            "queue_blocked": self.blocked_gpu_s,
            "io_stall": float(alloc[1]),
            "underused": float(alloc[2]) - self.moved_underused_gpu_s,
            "thermal_throttle": float(alloc[3]),
            "power_cap": float(alloc[4]),
            "failure": float(alloc[6]) + self.down_gpu_s + moved,
            "checkpoint": float(alloc[5]) + moved_ck,
        }
