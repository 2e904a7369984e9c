"""Tiresias' discretized 2D-Gittins index order (Gu et al., NSDI 2019, §3.2; ``tiresias-gittins``).

Where the job-size distribution is known, Tiresias orders jobs by the Gittins index of their
attained service ``a`` (GPUs × seconds held) instead of by ``a`` alone. With ``S`` the job
size (GPU·s) and ``Δ`` the service quantum,

    G(a) = P(S − a ≤ Δ | S > a) / E[min(S − a, Δ) | S > a]

— the chance that the job finishes within the next quantum per unit of service it is expected
to use in it; a higher index runs first. kiban keeps Tiresias' discretization: jobs sit in the
same attained-service queues as 2D-LAS (higher queues first, starvation promotion as in
:class:`~kiban.policies.scheduling.TiresiasLas`), and *within* a queue they are ordered by
``G(a)``, ties by arrival. Δ is static, the first queue limit (Tiresias' code:
``gittins_delta = 3250`` with the first limit 3,250 GPU·s); a job past the largest known size
has index 0 and runs last in its queue. Indices are recomputed every ``reorder_s`` while jobs
wait (Tiresias' code re-sorts once per Δ seconds).

The distribution (``distribution``):

* ``history`` (default): the attained GPU·s of the jobs the run has completed so far,
  refreshed every ``refresh_s`` — only what a real scheduler knows at that moment (until
  ``min_samples`` jobs finished, every job has the same index and the order is 2D-LAS);
* ``file``: samples from a CSV file with a ``duration`` column (GPU·s), Tiresias' own
  ``yarn-gput*.csv`` format, given as ``size_file``.

The index uses the formula above exactly, with the conditional expectation of ``S − a``;
Tiresias' ``cal_r_gittins_index`` sums ``S`` instead of ``S − a`` in the expectation, which
changes the index only for jobs that are far into their quantum.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import PolicyError
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import FirstFit
from kiban.policies.registry import register_policy
from kiban.policies.scheduling import TiresiasLas
from kiban.vocabulary import DONE

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.policies.base import Allocator, PolicyContext, Schedule
    from kiban.sim.state import ClusterView

__all__ = ["GittinsTable", "TiresiasGittins", "TiresiasGittinsPolicy", "read_size_samples"]


def read_size_samples(path: str | Path) -> FloatArray:
    """Job sizes (GPU·s) from a CSV file with a ``duration`` column (Tiresias' yarn-gput files).

    Raises:
        PolicyError: naming the file, the row and the value when a size is missing, not a
            number or not > 0, or when the file has no ``duration`` column or no rows.
    """
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "duration" not in reader.fieldnames:
                msg = f"{p}: no 'duration' column (job sizes in GPU·s); found {reader.fieldnames}"
                raise PolicyError(msg)
            out: list[float] = []
            for row_no, row in enumerate(reader, start=2):
                raw = (row.get("duration") or "").strip()
                try:
                    v = float(raw)
                except ValueError:
                    v = math.nan
                if not (math.isfinite(v) and v > 0):
                    msg = f"{p}: row {row_no}: duration = {raw!r}: must be a number > 0 (GPU·s)"
                    raise PolicyError(msg)
                out.append(v)
    except OSError as err:
        msg = f"{p}: cannot read the job-size file: {err.strerror or err}"
        raise PolicyError(msg) from err
    if not out:
        msg = f"{p}: no job sizes (the 'duration' column is empty)"
        raise PolicyError(msg)
    return np.asarray(out, dtype=np.float64)


class GittinsTable:
    """The Gittins index of an empirical job-size distribution.

    Args:
        sizes_gpu_s: Job sizes (GPU·s), any order.
        delta_gpu_s: The service quantum Δ (GPU·s).
    """

    def __init__(self, sizes_gpu_s: FloatArray, delta_gpu_s: float) -> None:
        s = np.sort(np.asarray(sizes_gpu_s, dtype=np.float64))
        if s.shape[0] == 0 or not delta_gpu_s > 0:
            msg = "GittinsTable: need at least one size and Δ > 0"
            raise ValueError(msg)
        self.sizes_gpu_s = s
        self.delta_gpu_s = float(delta_gpu_s)
        self._cum = np.concatenate(([0.0], np.cumsum(s)))

    def index(self, attained_gpu_s: FloatArray) -> FloatArray:
        """``G(a)`` per attained service (1/GPU·s); 0 past the largest size."""
        a = np.asarray(attained_gpu_s, dtype=np.float64)
        s, n, d = self.sizes_gpu_s, self.sizes_gpu_s.shape[0], self.delta_gpu_s
        lo = np.searchsorted(s, a, side="right")  # first size > a
        hi = np.searchsorted(s, a + d, side="right")  # first size > a + Δ
        alive = n - lo
        done = hi - lo  # sizes in (a, a + Δ]
        # E[min(S − a, Δ) | S > a] · alive = Σ_(a, a+Δ] (S − a) + Δ · #(S > a + Δ)
        e_sum = (self._cum[hi] - self._cum[lo]) - a * done + d * (n - hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where((alive > 0) & (e_sum > 0), done / np.maximum(e_sum, 1e-300), 0.0)
        return g


@register_policy("scheduling", "tiresias-gittins")
class TiresiasGittins(TiresiasLas):
    """Discretized 2D-Gittins index order with preemption and starvation promotion."""

    @dataclass(frozen=True)
    class Params(TiresiasLas.Params):
        """Parameters (the 2D-LAS ones, plus the distribution).

        Attributes:
            distribution: ``history`` (completed jobs of this run) or ``file``.
            size_file: CSV with a ``duration`` column of job sizes (GPU·s), for ``file``.
            delta_gpu_s: Service quantum Δ (GPU·s); 0 = the first queue limit.
            min_samples: Completed jobs needed before ``history`` ranks by index.
            refresh_s: How often ``history`` re-reads the completed jobs (s).
            reorder_s: Re-rank period while jobs wait (s); 0 = Δ seconds, as Tiresias' code.
        """

        distribution: str = "history"
        size_file: str = ""
        delta_gpu_s: float = 0.0
        min_samples: int = 20
        refresh_s: float = 3600.0
        reorder_s: float = 0.0

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.distribution not in ("history", "file"):
                msg = f"distribution = {self.distribution!r}: allowed history, file"
                raise ValueError(msg)
            if self.distribution == "file" and not self.size_file:
                msg = "distribution = 'file' needs size_file (CSV with a 'duration' column)"
                raise ValueError(msg)
            if self.delta_gpu_s < 0 or self.refresh_s <= 0 or self.reorder_s < 0:
                msg = "delta_gpu_s and reorder_s must be ≥ 0 and refresh_s > 0"
                raise ValueError(msg)
            if self.min_samples < 1:
                msg = f"min_samples = {self.min_samples}: must be ≥ 1"
                raise ValueError(msg)

    params: Params

    def __init__(self, params: Params | None = None) -> None:
        p = params if params is not None else self.Params()
        super().__init__(p)
        self.params = p
        self._delta = p.delta_gpu_s if p.delta_gpu_s > 0 else float(p.queue_limits_gpu_s[0])
        self._reorder_s = p.reorder_s if p.reorder_s > 0 else self._delta
        self._file_table: GittinsTable | None = None
        if p.distribution == "file":
            self._file_table = GittinsTable(read_size_samples(p.size_file), self._delta)
        self.table: GittinsTable | None = self._file_table
        self._n_done = -1
        self._next_refresh_s = -math.inf
        self._next_reorder_s = math.inf

    def reset(self, ctx: PolicyContext) -> None:
        """Forget promotions and the history of an earlier run."""
        super().reset(ctx)
        self.table = self._file_table
        self._n_done = -1
        self._next_refresh_s = -math.inf
        self._next_reorder_s = math.inf

    def _refresh(self, view: ClusterView) -> None:
        if self.params.distribution != "history" or view.time_s < self._next_refresh_s:
            return
        self._next_refresh_s = view.time_s + self.params.refresh_s
        done = np.flatnonzero(np.asarray(view.job_state) == DONE)
        if done.shape[0] == self._n_done or done.shape[0] < self.params.min_samples:
            return
        self._n_done = int(done.shape[0])
        sizes = np.asarray(view.job_attained_booked_gpu_s)[done]
        sizes = sizes[sizes > 0]
        if sizes.shape[0] >= self.params.min_samples:
            self.table = GittinsTable(sizes, self._delta)

    def schedule(self, view: ClusterView, pending: IntArray, alloc: Allocator) -> Schedule:
        """2D-LAS queues, Gittins order within a queue (see the module docstring)."""
        self._refresh(view)
        self._next_reorder_s = view.time_s + self._reorder_s
        return super().schedule(view, pending, alloc)

    def _order_keys(
        self,
        running: IntArray,
        pending: IntArray,
        *,
        svc_r: FloatArray,
        q_r: IntArray,
        svc_p: FloatArray,
        q_p: IntArray,
        n_jobs: int,
    ) -> tuple[IntArray, IntArray]:
        """Rank in (queue, −G(a), arrival) order over the running and the waiting jobs."""
        if self.table is None:
            return super()._order_keys(
                running, pending, svc_r=svc_r, q_r=q_r, svc_p=svc_p, q_p=q_p, n_jobs=n_jobs
            )
        jobs = np.concatenate((running, pending))
        q = np.concatenate((q_r, q_p))
        g = self.table.index(np.concatenate((svc_r, svc_p)))
        order = np.lexsort((jobs, -g, q))
        rank = np.empty(jobs.shape[0], dtype=np.int64)
        rank[order] = np.arange(jobs.shape[0], dtype=np.int64)
        n_r = running.shape[0]
        return rank[:n_r], rank[n_r:]

    def _relevant_wake(
        self,
        key_held: IntArray,
        cross_held: FloatArray,
        key_waiting: IntArray,
        n_jobs: int,
        now: float,
    ) -> float | None:
        """The earliest queue crossing or the next re-ranking, while jobs wait."""
        if self.table is None:
            return super()._relevant_wake(key_held, cross_held, key_waiting, n_jobs, now)
        if key_waiting.shape[0] == 0 or key_held.shape[0] == 0:
            return None
        t = min(float(cross_held.min()), self._next_reorder_s)
        return max(t, now + 1e-6) if math.isfinite(t) else None


@register_policy("policy", "tiresias-gittins")
class TiresiasGittinsPolicy(LayeredPolicy):
    """Tiresias' discretized 2D-Gittins order with preemption, first-fit placement."""

    Params = TiresiasGittins.Params

    def __init__(self, params: TiresiasGittins.Params | None = None) -> None:
        super().__init__(
            "tiresias-gittins", scheduling=TiresiasGittins(params), placement=FirstFit()
        )
