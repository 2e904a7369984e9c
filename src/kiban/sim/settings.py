"""Run settings and run output of the simulator (plain data; ``kiban.results`` makes files).

:class:`SimSettings` holds everything a run needs besides the cluster, jobs, policy and facility;
:class:`RunOutput` is what a run returns: the ledger, per-job arrays, the event log and the
per-rack series, as numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.errors import ConfigError
from kiban.physics.reliability import DEFAULT_NODE_FAILURE_RATE_PER_S
from kiban.physics.storage_io import (
    DEFAULT_PREP_B_PER_S_PER_CORE,
    REFERENCE_MEMORY_BW_B_PER_S,
)
from kiban.units import B_PER_GB, S_PER_H
from kiban.vocabulary import LEDGER_BUCKETS

if TYPE_CHECKING:
    from kiban._typing import FloatArray
    from kiban.sim.facility import FacilityPower
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout

__all__ = [
    "DEFAULT_CHECKPOINT_BANDWIDTH_B_PER_S",
    "DEFAULT_REPAIR_S",
    "LEDGER_BUCKETS",
    "LOG_COLUMNS",
    "RunOutput",
    "SimSettings",
]

DEFAULT_REPAIR_S = 2.0 * S_PER_H
"""Time a failed node stays down (s). ASSUMED: Llama 3 reports most of 419 interruptions handled
automatically and only 3 needing significant manual work (physics.md §6.1); 2 h stands for
drain, diagnosis and a reboot or part swap."""
DEFAULT_CHECKPOINT_BANDWIDTH_B_PER_S = 2.0 * B_PER_GB
"""Write bandwidth one job gets for its checkpoint (B/s). ASSUMED: a few GB/s per client node
(physics.md §5.2: t_write = S / min(B_client, B_fs))."""


LOG_COLUMNS: tuple[str, ...] = (
    "time_s",
    "it_power_w",
    "supply_temp_c",
    "max_inlet_temp_c",
    "allocated_gpus",
    "busy_nodes",
    "productive_gpus",
    "io_stall_gpus",
    "underused_gpus",
    "throttled_gpus",
    "power_capped_gpus",
    "checkpoint_gpus",
    "failed_gpus",
    "queued_jobs",
    "running_jobs",
)
"""Columns of the event log: one row per settled instant, valid until the next row."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Run settings (everything the simulator needs besides layout, jobs, policy, facility).

    Attributes:
        seed: Seed of the run's ``SeedSequence`` (failures, policy and other child streams).
        until_s: Stop at this simulated time (s); None runs until every job has finished.
            When set, the capacity window is [0, until_s].
        failures: Whether nodes fail.
        node_failure_rate_per_s: Hazard per node (1/s); default 4 per 1,000 node-days.
        repair_s: Time a failed node stays down (s).
        restart_overhead_s: Extra time a restarted job spends before computing (s), on top of
            loading its checkpoint.
        storage_bandwidth_b_per_s: Shared file-system bandwidth (B/s); inf = no I/O limit.
        checkpoint_bandwidth_b_per_s: Write bandwidth of one job's checkpoint (B/s).
        gpu_power_cap_frac: Default per-GPU power cap as a share of TDP.
        thermal: Whether to model thermal throttling.
        throttle_hysteresis_k: A throttled job is released once its steady die temperature
            is this far below the slowdown threshold (K).
        max_rack_samples: Most time bins of the per-rack series (the bin widens beyond it).
        rack_sample_period_s: Shortest bin of the per-rack series (s).
        progress_interval_events: Call the progress callback every this many events.
        supply_temp_range_c: Allowed (min, max) supply temperature a policy may set (°C).
        start_time_of_year_s: Time of year at simulated time 0 (s after 1 January), for
            climate.
        locality: ``none`` (jobs may spread over any servers unless the trace says otherwise)
            or ``node`` (gang and locality: see :meth:`JobTable.with_node_locality`).
        record_gpus: Keep the per-GPU timeline (``RunOutput.gpus`` and ``gpu_timeline``;
            ``gpus.parquet`` and ``gpu_timeline.parquet``); off by default, it is large.
        prep_b_per_s_per_core: Input bytes one host CPU core preprocesses per second
            (:data:`kiban.physics.storage_io.DEFAULT_PREP_B_PER_S_PER_CORE`); inf: the hosts'
            CPUs never limit a job.
        cache_warmup: Caches start cold at every (re)start and warm up as the job reads its
            data set once (:mod:`kiban.sim.storage`); False: warm at once (hit min(1, C/D)).
        input_rate_reference_memory_bw_b_per_s: The job table's per-GPU input rates hold on a
            GPU of this memory bandwidth (default: A100 SXM 80 GB); a job on another GPU model
            reads in proportion to its published ResNet-50 training rate (catalog
            ``GpuSku.resnet50_train_img_per_s``), or to its memory bandwidth where the catalog
            has none. None: the rates hold on every GPU.
        gpu_activity: Give every job the GPU activity process fitted to Philly
            (:mod:`kiban.physics.activity`: idle phases, collectives, evaluation, a per-job
            power factor); False pegs allocated GPUs at their compute power (the old twin).
        time_slice_max_tenants: 0 (default): a job asking for part of a GPU (``gpu_milli`` <
            1000) holds that share, as the openb trace's GPU sharing does. ≥ 2: GPU sharing is
            CUDA time-slicing (:mod:`kiban.sim.time_slice`): such a job takes one of a GPU's
            this many replicas, its GPU's tenants share it equally, and each progresses at
            1 / (number of tenants).
    """

    seed: int = 0
    until_s: float | None = None
    failures: bool = True
    node_failure_rate_per_s: float = DEFAULT_NODE_FAILURE_RATE_PER_S
    repair_s: float = DEFAULT_REPAIR_S
    restart_overhead_s: float = 0.0
    storage_bandwidth_b_per_s: float = math.inf
    checkpoint_bandwidth_b_per_s: float = DEFAULT_CHECKPOINT_BANDWIDTH_B_PER_S
    gpu_power_cap_frac: float = 1.0
    thermal: bool = True
    throttle_hysteresis_k: float = 1.0
    max_rack_samples: int = 2048
    rack_sample_period_s: float = S_PER_H
    progress_interval_events: int = 16384
    supply_temp_range_c: tuple[float, float] = (15.0, 32.0)
    start_time_of_year_s: float = 0.0
    locality: str = "none"
    record_gpus: bool = False
    gpu_activity: bool = True
    prep_b_per_s_per_core: float = DEFAULT_PREP_B_PER_S_PER_CORE
    cache_warmup: bool = True
    input_rate_reference_memory_bw_b_per_s: float | None = REFERENCE_MEMORY_BW_B_PER_S
    time_slice_max_tenants: int = 0

    def __post_init__(self) -> None:
        problems = []
        checks = (
            ("until_s", self.until_s is None or self.until_s > 0, "must be > 0 s"),
            ("node_failure_rate_per_s", self.node_failure_rate_per_s >= 0, "must be ≥ 0"),
            ("repair_s", self.repair_s >= 0, "must be ≥ 0 s"),
            ("restart_overhead_s", self.restart_overhead_s >= 0, "must be ≥ 0 s"),
            ("storage_bandwidth_b_per_s", self.storage_bandwidth_b_per_s > 0, "must be > 0"),
            ("checkpoint_bandwidth_b_per_s", self.checkpoint_bandwidth_b_per_s > 0, "must be > 0"),
            ("gpu_power_cap_frac", 0 < self.gpu_power_cap_frac <= 1, "must lie in (0, 1]"),
            ("max_rack_samples", self.max_rack_samples >= 2, "must be ≥ 2"),
            ("rack_sample_period_s", self.rack_sample_period_s > 0, "must be > 0 s"),
            ("locality", self.locality in ("none", "node"), "allowed: none, node"),
            (
                "prep_b_per_s_per_core",
                self.prep_b_per_s_per_core > 0,
                "must be > 0 (inf: no limit)",
            ),
            (
                "input_rate_reference_memory_bw_b_per_s",
                self.input_rate_reference_memory_bw_b_per_s is None
                or self.input_rate_reference_memory_bw_b_per_s > 0,
                "must be > 0 B/s (or None)",
            ),
            (
                "time_slice_max_tenants",
                self.time_slice_max_tenants == 0
                or (
                    2 <= self.time_slice_max_tenants <= 1000
                    and (self.time_slice_max_tenants + 1) * (1000 // self.time_slice_max_tenants)
                    > 1000
                ),
                "must be 0 (no time-slicing) or 2-1000 tenants per GPU whose replica, 1000 // "
                "tenants milli-GPU, admits no more (2-31 do; 300 does not)",
            ),
        )
        for name, ok, allowed in checks:
            if not ok:
                problems.append(f"simulation.{name} = {getattr(self, name)!r}: {allowed}")
        if problems:
            raise ConfigError(problems[0], problems=problems)


@dataclass(frozen=True, eq=False)
class RunOutput:
    """Everything a run produced, as plain arrays (``kiban.results`` turns it into files).

    Attributes:
        policy_name: Name of the policy.
        layout: The cluster.
        jobs: The job table (sorted by submit time).
        settings: The run settings.
        horizon_s: End of the accounting window (s): ``until_s`` or the last completion.
        capacity_gpu_s: GPUs × horizon.
        allocated_gpu_s: GPU·s held by jobs (including restore phases and redone work).
        ledger_gpu_s: Bucket → GPU-seconds (the keys of :data:`LEDGER_BUCKETS`).
        fragmentation_gpu_s: Free GPU-seconds during which a waiting job fitted the free GPU
            count but not the free shape (a part of ``queue_blocked``).
        job: Per-job arrays: ``state``, ``first_start_s``, ``end_s``, ``energy_j``, ``stall_s``,
            ``throttle_s``, ``power_cap_s``, ``checkpoint_s``, ``failure_s``, ``run_s``,
            ``attained_gpu_s``, ``progress_s``, ``restarts``, ``preemptions``.
        log: Event log columns (:data:`LOG_COLUMNS`), one row per settled instant; the last row
            closes the window at ``horizon_s``.
        facility: Cooling, losses, other loads and outdoor temperature at each log row.
        rack_time_s: Start of each per-rack sample, shape (n_samples,).
        rack_duration_s: Length of each sample (s).
        rack_power_w: Mean wall power per rack in each sample, shape (n_samples, n_racks).
        rack_inlet_temp_c: Mean inlet temperature per rack in each sample.
        counters: Event and decision counts (``events``, ``policy_calls``, ``failures``,
            ``preemptions``, ``throttle_onsets``, ``restarts``).
        wall_time_s: Wall-clock time of the run (s); excluded from determinism checks.
        policy_wall_s: Wall-clock time spent inside the policy (s).
        seed: The seed.
        moved_gpu_s: GPU·s moved from productive after they were booked, by bucket
            (``failure``: work redone after a failure; ``checkpoint``: a preemption's save and
            restore), and ``underused``: the part of those moves that left the underused bucket
            (the job's idle share of the moved work; the rest left productive). Per-interval
            records (the per-GPU timeline) count the moved work as it was booked.
        gpus: Per-GPU static table (``SimSettings(record_gpus=True)``), else None.
        gpu_timeline: Per-GPU intervals of constant state (``record_gpus``), else None.
        coupling: Figures of an in-loop facility (:class:`~kiban.sim.coupled.CoupledFacility`:
            GPU power/die/activity quantiles, power budget, cooling shortfall), else empty.
        policy_stats: Counts the policy reports about its own run (its ``run_figures()``, e.g.
            J-DEC's epochs, fallbacks and wall-clock limit hits), keyed ``policy_*``; empty for
            policies without it. Deterministic counts only (no wall times).
    """

    policy_name: str
    layout: ClusterLayout
    jobs: JobTable
    settings: SimSettings
    horizon_s: float
    capacity_gpu_s: float
    allocated_gpu_s: float
    ledger_gpu_s: dict[str, float]
    fragmentation_gpu_s: float
    job: dict[str, np.ndarray]
    log: dict[str, FloatArray]
    facility: FacilityPower
    rack_time_s: FloatArray
    rack_duration_s: FloatArray
    rack_power_w: FloatArray
    rack_inlet_temp_c: FloatArray
    counters: dict[str, int]
    wall_time_s: float
    policy_wall_s: float
    seed: int
    moved_gpu_s: dict[str, float] = field(default_factory=dict)
    gpus: dict[str, np.ndarray] | None = None
    gpu_timeline: dict[str, np.ndarray] | None = None
    coupling: dict[str, Any] = field(default_factory=dict)
    policy_stats: dict[str, Any] = field(default_factory=dict)
    fgd_frag_gpu_s: float = 0.0
    """Time integral of the cluster's fragmentation by FGD's measure (Weng et al., ATC 2023):
    expected free GPUs a job drawn from the run's job shapes could not use, GPU·s (issue 15)."""
    mig_idle_slice_gpu_s: float = 0.0
    """Time integral of the compute slices no instance held on GPUs in MIG mode, in GPUs
    (slices / 7), GPU·s: the part of the free GPU time stranded inside partitioned GPUs."""
    host_pods: dict[str, Any] = field(default_factory=dict)
    """Counts and mean wait of the run's CPU-only pods (:meth:`kiban.sim.host_pods.HostTenants.
    figures`), empty when it has none."""
