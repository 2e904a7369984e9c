"""The jobs the simulator replays, as numpy arrays built from the canonical jobs table.

:class:`JobTable` is made from the canonical polars table of :mod:`kiban.workload` (columns in
``docs/contracts.md``). It is sorted by ``submit_time_s`` (stable: ties keep table order), so a
job's index is its arrival rank; ``source_row`` maps back to the input row. Bad input raises
:class:`kiban.errors.TraceError` naming the job and the field: negative or non-finite
durations, zero or negative GPU counts, non-finite submit times. Jobs larger than the cluster are
kept and reported as unschedulable by the simulator, never dropped.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import TraceError
from kiban.mig import MIG_PROFILE_NAMES, profile_compute_slices
from kiban.vocabulary import MILLI_PER_GPU
from kiban.workload.goodput import GOODPUT_PROFILES
from kiban.workload.schema import check_host_pods

if TYPE_CHECKING:
    import polars as pl

    from kiban._typing import ArrayLike, FloatArray, IntArray

__all__ = ["JOB_DEFAULTS", "HostPods", "JobTable", "make_elastic"]

JOB_DEFAULTS: dict[str, float] = {
    "gpus_per_node": 0,
    "priority": 0,
    "compute_bound_frac": 0.9,
    "activity_frac": 0.95,
    "input_rate_b_per_s_per_gpu": 0.0,
    "dataset_size_b": 0.0,
    "checkpoint_size_b": 0.0,
    "checkpoint_interval_s": 0.0,
}
"""Values used for job-model columns a table lacks (physics.md §9: training A = 0.95, β = 0.9;
no input, no checkpoints)."""


@dataclass(frozen=True, eq=False)
class HostPods:
    """Pods that ask for no GPU, only host CPU and memory (openb's CPU-only pods).

    They ride with a :class:`JobTable` (``JobTable.host_pods``) but are not GPU jobs: the
    simulator places each on one node's CPU and memory with the run's placement policy, holds
    them there for ``duration_s`` and books no GPU time for them (issue 15). Sorted by
    ``submit_time_s`` (stable).

    Attributes:
        job_id: Pod names.
        submit_time_s: Creation time, on the job table's clock (s).
        duration_s: Time the pod holds its node's CPU and memory (s).
        cpu_milli: Host CPU (milli-cores).
        memory_b: Host memory (B).
        never_scheduled: The trace never scheduled the pod (openb ``Pending``; its duration is
            the time it existed).
    """

    job_id: np.ndarray
    submit_time_s: FloatArray
    duration_s: FloatArray
    cpu_milli: IntArray
    memory_b: FloatArray
    never_scheduled: np.ndarray

    @functools.cached_property
    def n_pods(self) -> int:
        """Number of pods."""
        return int(self.submit_time_s.shape[0])

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, *, source: str = "<host pods>") -> HostPods:
        """Build from a table of CPU-only pods; bad values raise :class:`TraceError`.

        Args:
            frame: Columns ``job_id, submit_time_s, duration_s, cpu_milli, memory_b`` and
                optionally ``never_scheduled``.
            source: Name of the trace, for error messages.
        """
        cols = check_host_pods(frame, source)
        ids = np.asarray(frame["job_id"].cast(str).fill_null("").to_list(), dtype=object)
        submit, dur = cols["submit_time_s"], cols["duration_s"]
        cpu, mem = cols["cpu_milli"], cols["memory_b"]
        never = (
            frame["never_scheduled"].cast(bool).to_numpy()
            if "never_scheduled" in frame.columns
            else np.zeros(frame.height, dtype=bool)
        )
        order = np.argsort(submit, kind="stable")
        return cls(
            job_id=ids[order],
            submit_time_s=submit[order],
            duration_s=dur[order],
            cpu_milli=cpu[order].astype(np.int64),
            memory_b=mem[order],
            never_scheduled=never[order],
        )


@dataclass(frozen=True, eq=False)
class JobTable:
    """Per-job arrays, sorted by submit time (index = arrival rank).

    Attributes:
        job_id: Job identifiers (str), shape (n,).
        source_row: Row of each job in the input table.
        submit_time_s: Submission time from trace start (s).
        duration_s: Run time at full speed on the requested GPUs, unshared (s).
        num_gpus: Requested GPUs.
        min_num_gpus: Fewest GPUs the job accepts (= num_gpus for rigid jobs).
        max_num_gpus: Most GPUs the job accepts (= num_gpus for rigid jobs).
        gpus_per_node: Required GPUs per node (0 = any split).
        gpu_model: Required GPU model name per job ("" = any).
        queue: Queue / virtual cluster name per job.
        priority: Larger = more important (unused by the baselines).
        compute_bound_frac: β, share of run time that scales with the SM clock.
        activity_frac: A, power-weighted activity while computing.
        input_rate_b_per_s_per_gpu: Input bytes per second per GPU at full speed.
        dataset_size_b: Dataset size (for cache hit ratios).
        checkpoint_size_b: Checkpoint size.
        checkpoint_interval_s: Compute time between checkpoints (0 = never checkpoints).
        gpu_milli: Share of one GPU in milli-GPU (1000 = whole GPUs; below 1000 only for
            single-GPU jobs, which then share a GPU with other such jobs).
        cpu_milli: Host CPU needed on the job's node(s), milli-cores (0 = none stated).
        memory_b: Host memory needed on the job's node(s) (0 = none stated).
        goodput_model: Pollux goodput profile of an elastic job (a key of
            :data:`kiban.workload.goodput.GOODPUT_PROFILES`; "" = none: speed ∝ GPUs).
        host_pods: CPU-only pods of the same trace (:class:`HostPods`), or None.
        mig_profile: MIG profile per job (:mod:`kiban.mig`; "" = none: whole GPUs or a
            milli share); None (a table built without it) = no job names one.
    """

    job_id: np.ndarray
    source_row: IntArray
    submit_time_s: FloatArray
    duration_s: FloatArray
    num_gpus: IntArray
    min_num_gpus: IntArray
    max_num_gpus: IntArray
    gpus_per_node: IntArray
    gpu_model: np.ndarray
    queue: np.ndarray
    priority: IntArray
    compute_bound_frac: FloatArray
    activity_frac: FloatArray
    input_rate_b_per_s_per_gpu: FloatArray
    dataset_size_b: FloatArray
    checkpoint_size_b: FloatArray
    checkpoint_interval_s: FloatArray
    gpu_milli: IntArray
    cpu_milli: IntArray
    memory_b: FloatArray
    goodput_model: np.ndarray
    host_pods: HostPods | None = None
    mig_profile: np.ndarray | None = None

    @functools.cached_property
    def n_jobs(self) -> int:
        """Number of jobs."""
        return int(self.submit_time_s.shape[0])

    @functools.cached_property
    def any_shared(self) -> bool:
        """Whether any job asks for a fraction of a GPU."""
        return bool((self.gpu_milli < MILLI_PER_GPU).any())

    @functools.cached_property
    def any_mig(self) -> bool:
        """Whether any job asks for a MIG instance."""
        return self.mig_profile is not None and bool((self.mig_profile != "").any())

    @functools.cached_property
    def mig_compute_slices(self) -> IntArray:
        """Compute slices of each job's MIG instance (0: not a MIG job)."""
        if not self.any_mig:
            return np.zeros(self.n_jobs, dtype=np.int64)
        assert self.mig_profile is not None
        return np.array(
            [profile_compute_slices(p) if p else 0 for p in self.mig_profile.tolist()],
            dtype=np.int64,
        )

    @functools.cached_property
    def any_host_request(self) -> bool:
        """Whether any job states a CPU or memory request."""
        return bool((self.cpu_milli > 0).any() or (self.memory_b > 0).any())

    def with_host_pods(self, pods: HostPods | None) -> JobTable:
        """A copy with ``pods`` as its CPU-only pods (None: without any)."""
        return dataclasses.replace(self, host_pods=pods)

    def with_node_locality(self, max_node_gpus: int) -> JobTable:
        """A copy where jobs without a per-node constraint must keep their GPUs together.

        Philly-style gang and locality rule: a job that fits in one server runs on one server
        (``gpus_per_node = num_gpus``); a larger job takes whole servers, ``gpus_per_node`` being
        the largest divisor of ``num_gpus`` not above ``max_node_gpus``. Jobs that already name
        a ``gpus_per_node`` keep it. Elastic jobs (min < max GPUs) are left unconstrained.

        Args:
            max_node_gpus: GPUs in the largest server of the cluster.

        Returns:
            The new table.
        """
        gpn = self.gpus_per_node.copy()
        free = (gpn == 0) & (self.min_num_gpus == self.max_num_gpus)
        for n in np.unique(self.num_gpus[free]).tolist():
            g = max(d for d in range(1, min(n, max_node_gpus) + 1) if n % d == 0)
            gpn[free & (self.num_gpus == n)] = g
        return dataclasses.replace(self, gpus_per_node=gpn)

    @classmethod
    def from_arrays(
        cls,
        submit_time_s: ArrayLike,
        duration_s: ArrayLike,
        num_gpus: ArrayLike,
        *,
        source: str = "<arrays>",
        **columns: ArrayLike,
    ) -> JobTable:
        """Build a table from arrays (tests, synthetic workloads).

        Args:
            submit_time_s: Submission times (s).
            duration_s: Durations at full speed (s).
            num_gpus: GPU counts.
            source: Name used in error messages.
            **columns: Any other column of the canonical table (``job_id``, ``gpus_per_node``,
                ``activity_frac``, ...). Missing ones take :data:`JOB_DEFAULTS`.

        Returns:
            The validated, sorted table.

        Raises:
            TraceError: on invalid values (see the module docstring).
        """
        n = int(np.asarray(submit_time_s).shape[0])
        data: dict[str, np.ndarray] = {
            "submit_time_s": np.asarray(submit_time_s, dtype=np.float64),
            "duration_s": np.asarray(duration_s, dtype=np.float64),
            "num_gpus": np.asarray(num_gpus, dtype=np.int64),
        }
        for key, value in columns.items():
            data[key] = np.asarray(value)
        if "job_id" not in data:
            data["job_id"] = np.array([str(i) for i in range(n)], dtype=object)
        return cls._build(data, n, source)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, *, source: str = "<jobs table>") -> JobTable:
        """Build a table from the canonical polars jobs table.

        Args:
            frame: Canonical jobs table (``docs/contracts.md``); job-model columns may be absent.
            source: Name of the trace, used in error messages.

        Returns:
            The validated, sorted table.

        Raises:
            TraceError: on missing required columns or invalid values.
        """
        required = ("submit_time_s", "duration_s", "num_gpus")
        missing = [c for c in required if c not in frame.columns]
        if missing:
            msg = f"{source}: jobs table lacks required column(s) {missing}; has {frame.columns}"
            raise TraceError(msg)
        n = frame.height
        data: dict[str, np.ndarray] = {}
        for col in frame.columns:
            series = frame.get_column(col)
            if col in (
                "job_id",
                "gpu_model",
                "queue",
                "user",
                "status",
                "goodput_model",
                "mig_profile",
            ):
                data[col] = np.asarray(series.cast(str).fill_null("").to_list(), dtype=object)
            elif series.dtype.is_numeric():
                data[col] = series.to_numpy()
        if "job_id" not in data:
            data["job_id"] = np.array([str(i) for i in range(n)], dtype=object)
        return cls._build(data, n, source)

    @classmethod
    def _build(cls, data: dict[str, np.ndarray], n: int, source: str) -> JobTable:
        job_id = data["job_id"].astype(object)
        submit = np.asarray(data["submit_time_s"], dtype=np.float64)
        duration = np.asarray(data["duration_s"], dtype=np.float64)
        gpus = np.asarray(data["num_gpus"], dtype=np.float64)

        def fail(mask: np.ndarray, field: str, values: np.ndarray, allowed: str) -> None:
            bad = np.flatnonzero(mask)
            if bad.size:
                i = int(bad[0])
                more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
                msg = (
                    f"{source}: job {job_id[i]!r} (row {i}): {field} = {values[i]!r}: "
                    f"{allowed}{more}"
                )
                raise TraceError(msg)

        fail(~np.isfinite(submit), "submit_time_s", submit, "must be a finite number of seconds")
        fail(
            ~np.isfinite(duration) | (duration < 0),
            "duration_s",
            duration,
            "must be a finite number of seconds ≥ 0",
        )
        fail(
            ~np.isfinite(gpus) | (gpus < 1) | (gpus != np.round(gpus)),
            "num_gpus",
            gpus,
            "must be a whole number ≥ 1",
        )
        num = gpus.astype(np.int64)

        def col(name: str, dtype: type) -> np.ndarray:
            if name in data:
                return np.asarray(data[name]).astype(dtype)
            return np.full(n, JOB_DEFAULTS[name], dtype=dtype)

        gpn = col("gpus_per_node", np.int64)
        fail(gpn < 0, "gpus_per_node", gpn, "must be ≥ 0 (0 = any split)")
        fail(
            (gpn > 0) & (num % np.where(gpn > 0, gpn, 1) != 0),
            "gpus_per_node",
            gpn,
            "must divide num_gpus",
        )
        floats = {
            name: col(name, np.float64)
            for name in (
                "compute_bound_frac",
                "activity_frac",
                "input_rate_b_per_s_per_gpu",
                "dataset_size_b",
                "checkpoint_size_b",
                "checkpoint_interval_s",
            )
        }
        for name in ("compute_bound_frac", "activity_frac"):
            v = floats[name]
            fail(~np.isfinite(v) | (v < 0) | (v > 1), name, v, "must lie in [0, 1]")
        for name in (
            "input_rate_b_per_s_per_gpu",
            "dataset_size_b",
            "checkpoint_size_b",
            "checkpoint_interval_s",
        ):
            v = floats[name]
            fail(~np.isfinite(v) | (v < 0), name, v, "must be a finite number ≥ 0")
        min_g = np.asarray(data.get("min_num_gpus", num), dtype=np.int64)
        max_g = np.asarray(data.get("max_num_gpus", num), dtype=np.int64)
        fail(
            (min_g < 1) | (min_g > num) | (max_g < num),
            "min_num_gpus/max_num_gpus",
            num,
            "must satisfy 1 ≤ min_num_gpus ≤ num_gpus ≤ max_num_gpus",
        )
        milli = np.asarray(data.get("gpu_milli", np.full(n, MILLI_PER_GPU)), dtype=np.int64)
        fail(
            (milli < 1) | (milli > MILLI_PER_GPU),
            "gpu_milli",
            milli,
            f"must be 1–{MILLI_PER_GPU} milli-GPU",
        )
        fail(
            (milli < MILLI_PER_GPU) & ((num != 1) | (min_g != 1) | (max_g != 1)),
            "gpu_milli",
            milli,
            f"must be {MILLI_PER_GPU} unless the job takes exactly one GPU",
        )
        cpu = np.asarray(data.get("cpu_milli", np.zeros(n)), dtype=np.int64)
        fail(cpu < 0, "cpu_milli", cpu, "must be ≥ 0 milli-cores")
        mem = np.asarray(data.get("memory_b", np.zeros(n)), dtype=np.float64)
        fail(~np.isfinite(mem) | (mem < 0), "memory_b", mem, "must be finite and ≥ 0 B")
        empty = np.full(n, "", dtype=object)
        model = np.asarray(data.get("goodput_model", empty)).astype(object)
        known = np.array([m in ("", *GOODPUT_PROFILES) for m in model.tolist()], dtype=bool)
        fail(~known, "goodput_model", model, f"must be one of {sorted(GOODPUT_PROFILES)} or empty")
        fail(
            (model != "") & (min_g == max_g),
            "goodput_model",
            model,
            "is for elastic jobs only (min_num_gpus < max_num_gpus)",
        )
        most = np.array(
            [GOODPUT_PROFILES[m].max_gpus if m else np.iinfo(np.int64).max for m in model.tolist()]
        )
        fail(
            max_g > most,
            "max_num_gpus",
            max_g,
            "exceeds what the job's goodput_model allows (largest batch / smallest per-GPU batch)",
        )
        mig = np.asarray(data.get("mig_profile", empty)).astype(object)
        known_mig = np.array([m == "" or m in MIG_PROFILE_NAMES for m in mig.tolist()], dtype=bool)
        fail(
            ~known_mig,
            "mig_profile",
            mig,
            "not a MIG profile of any GPU in the catalog; allowed: '' (none) or "
            + ", ".join(MIG_PROFILE_NAMES),
        )
        is_mig = mig != ""
        fail(
            is_mig & ((num != 1) | (min_g != 1) | (max_g != 1) | (milli != MILLI_PER_GPU)),
            "mig_profile",
            mig,
            "a MIG job takes one GPU instance: num_gpus 1, rigid, gpu_milli 1000",
        )
        order = np.argsort(submit, kind="stable")
        gpu_model = data.get("gpu_model", empty).astype(object)
        queue = data.get("queue", empty).astype(object)
        return cls(
            job_id=job_id[order],
            source_row=order.astype(np.int64),
            submit_time_s=submit[order],
            duration_s=duration[order],
            num_gpus=num[order],
            min_num_gpus=min_g[order],
            max_num_gpus=max_g[order],
            gpus_per_node=gpn[order],
            gpu_model=gpu_model[order],
            queue=queue[order],
            priority=col("priority", np.int64)[order],
            compute_bound_frac=floats["compute_bound_frac"][order],
            activity_frac=floats["activity_frac"][order],
            input_rate_b_per_s_per_gpu=floats["input_rate_b_per_s_per_gpu"][order],
            dataset_size_b=floats["dataset_size_b"][order],
            checkpoint_size_b=floats["checkpoint_size_b"][order],
            checkpoint_interval_s=floats["checkpoint_interval_s"][order],
            gpu_milli=milli[order],
            cpu_milli=cpu[order],
            memory_b=mem[order],
            goodput_model=model[order],
            mig_profile=mig[order],
        )


def make_elastic(
    jobs: JobTable,
    rng: np.random.Generator,
    *,
    share: float,
    min_gpus: int = 1,
    max_gpus: int = 64,
    models: tuple[str, ...] = tuple(GOODPUT_PROFILES),
) -> JobTable:
    """A copy where a random ``share`` of the whole-GPU jobs is elastic (Sia/Pollux-style).

    An elastic job accepts ``[min(min_gpus, num_gpus), max(max_gpus, num_gpus)]`` GPUs (at most
    what its profile allows, :attr:`GoodputProfile.max_gpus`) on any split, keeps its
    ``num_gpus`` as the setting its duration was measured at, and gets a goodput profile drawn
    uniformly from ``models``. Jobs that share a GPU, name a GPU model or fix GPUs per node stay
    rigid, as do jobs larger than their drawn profile allows.

    Args:
        jobs: The table.
        rng: Random stream (two draws per job: elastic or not, profile).
        share: Share of jobs made elastic, 0–1.
        min_gpus: Fewest GPUs an elastic job accepts.
        max_gpus: Most GPUs an elastic job accepts.
        models: Goodput profiles to draw from.

    Returns:
        The new table (the same object when ``share`` is 0).
    """
    if share <= 0.0:
        return jobs
    n = jobs.n_jobs
    pick = rng.random(n) < share
    which = rng.integers(0, len(models), size=n)
    pick &= (jobs.gpu_milli == MILLI_PER_GPU) & (jobs.gpu_model == "") & (jobs.gpus_per_node == 0)
    if jobs.mig_profile is not None:  # a MIG job keeps its one instance
        pick &= jobs.mig_profile == ""
    lo = np.where(pick, np.minimum(min_gpus, jobs.num_gpus), jobs.min_num_gpus)
    hi = np.where(pick, np.maximum(max_gpus, jobs.num_gpus), jobs.max_num_gpus)
    most = np.array([GOODPUT_PROFILES[m].max_gpus for m in models])[which]
    hi = np.where(pick, np.minimum(hi, most), hi)
    pick &= (lo < hi) & (jobs.num_gpus <= hi)
    model = jobs.goodput_model.copy()
    model[pick] = np.asarray(models, dtype=object)[which[pick]]
    return dataclasses.replace(
        jobs,
        min_num_gpus=np.where(pick, lo, jobs.min_num_gpus).astype(np.int64),
        max_num_gpus=np.where(pick, hi, jobs.max_num_gpus).astype(np.int64),
        goodput_model=model,
    )
