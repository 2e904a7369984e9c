"""Static tables of a run, computed once before it starts.

Hardware by GPU model, node and rack, and the jobs' requirements, shape classes, checkpoint
costs, power and speed at the default cap.

Every component reads them; none writes them.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.mig import MIG_COMPUTE_SLICES
from kiban.physics import activity as act
from kiban.physics.gpu_power import runtime_factor
from kiban.physics.storage_io import checkpoint_write_s
from kiban.sim.mig_state import sku_geometries
from kiban.vocabulary import MILLI_PER_GPU
from kiban.workload.goodput import (
    GOODPUT_PROFILES,
    GoodputProfile,
    restart_penalty_s,
    speedup,
    throughput,
)
from kiban.workload.packing import model_requirements

if TYPE_CHECKING:
    import numpy.typing as npt

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.jobs import JobTable
    from kiban.sim.layout import ClusterLayout
    from kiban.sim.settings import SimSettings

__all__ = ["HardwareTables", "JobTables", "RunInputs"]

logger = logging.getLogger(__name__)


class HardwareTables:
    """Per GPU model (``sku_*``), node, rack and GPU arrays, plus the throttle margin.

    Python-list copies (``*_list``) serve the scalar fast paths of one-GPU events.
    """

    def __init__(self, layout: ClusterLayout, settings: SimSettings) -> None:
        lay = layout
        skus = lay.skus
        self.layout = lay
        self.sku_tdp_w: FloatArray = np.array([s.tdp_w for s in skus])
        self.sku_min_cap_w: FloatArray = np.array([s.min_power_limit_w for s in skus])
        self.sku_idle_w: FloatArray = np.array([s.idle_empty_power_w for s in skus])
        self.sku_idle_ctx_w: FloatArray = np.array([s.idle_context_power_w for s in skus])
        self.idle_ctx_list: list[float] = self.sku_idle_ctx_w.tolist()
        self.idle_list: list[float] = self.sku_idle_w.tolist()
        self.sku_r_k_per_w: FloatArray = np.array([s.die_to_inlet_k_per_w for s in skus])
        self.sku_tau_s: FloatArray = np.array([s.thermal_time_constant_s for s in skus])
        # SW thermal slowdown holds the die at the GPU's max operating temperature (NVML's
        # GPU_MAX threshold, "SwThermalSlowdown": nvml.h, physics.md §1.3); the higher
        # ``slowdown_temp_c`` is the HW slowdown threshold (clock halved), not reached while the
        # SW controller can hold the die
        self.sku_slow_c: FloatArray = np.array([s.max_operating_temp_c for s in skus])
        self.sku_liquid: BoolArray = np.array([s.cooling != "air" for s in skus], dtype=bool)
        self.default_cap_w: FloatArray = self.sku_tdp_w * settings.gpu_power_cap_frac
        self.node_rack: IntArray = lay.node_rack_idx
        self.node_rack_list: list[int] = lay.node_rack_idx.tolist()
        self.node_n_list: list[int] = lay.node_n_gpus.tolist()
        self.node_sku_list: list[int] = lay.node_sku_idx.tolist()
        self.gpu_node_list: list[int] = lay.gpu_node.tolist()
        self.node_cache_b: FloatArray = np.asarray(lay.node_cache_b, dtype=np.float64)
        self.node_n: IntArray = lay.node_n_gpus
        self.node_first: IntArray = lay.node_first_gpu
        self.node_sku: IntArray = lay.node_sku_idx
        self.gpu_node: IntArray = lay.gpu_node
        self.budget_w: FloatArray = lay.rack_gpu_budget_w
        self.budget_finite = bool(np.isfinite(self.budget_w).any())
        self.air_frac: FloatArray = 1.0 - lay.rack_liquid_capture_frac
        self.air_frac_list: list[float] = (1.0 - lay.rack_liquid_capture_frac).tolist()
        self.d: FloatArray | None = lay.heat_distribution_k_per_w
        # Each rack's column of D as (rows, values): all rows for a dense D, only the non-zero
        # ones when recirculation stays within halls (a block-diagonal D of a large site).
        self.d_cols: list[tuple[Any, FloatArray]] = []
        self.dense_d = True
        if self.d is not None:
            nonzero = self.d != 0.0
            self.dense_d = bool(nonzero.mean() > 0.2)
            d_t = np.ascontiguousarray(self.d.T)
            for r in range(lay.n_racks):
                if self.dense_d:
                    self.d_cols.append((slice(None), d_t[r]))
                else:
                    rows = np.flatnonzero(nonzero[:, r])
                    self.d_cols.append((rows, d_t[r, rows].copy()))
        # Margin: while every air inlet is below it, no GPU at full power reaches slowdown.
        cap_frac = settings.gpu_power_cap_frac
        air = ~self.sku_liquid
        if air.any():
            margins = self.sku_slow_c - self.sku_r_k_per_w * self.sku_tdp_w * cap_frac
            self.thermal_margin_c = float(margins[air].min())
        else:
            self.thermal_margin_c = math.inf
        liquid_ok = lay.liquid_supply_temp_c + self.sku_r_k_per_w * self.sku_tdp_w < self.sku_slow_c
        self.liquid_always_check = bool((self.sku_liquid & ~liquid_ok).any())


class JobTables:
    """Per-job requirements and costs known before the run.

    Attributes:
        req_sku: GPU-model constraint per job: -1 any model, k ≥ 0 exactly model k, -2 none of
            the named models is in the cluster, -3 - p any model of pattern ``sku_patterns[p]``
            (alternatives such as ``V100M16|V100M32``; the rule of
            :func:`kiban.workload.packing.allowed_models`, shared with placement).
        sku_patterns: Bool (patterns, GPU models) of the multi-model constraints.
        unschedulable: Jobs no placement can ever satisfy (on an empty, fully up cluster).
        job_class: Shape class (fewest GPUs, GPUs per node, GPU model) of each job.
        class_key: The (fewest GPUs, GPUs per node, model) of each class.
        class_shaped: Classes with a shape or model constraint (only they can fragment).
        ckpt_write_s: Time one checkpoint write takes (s).
        ckpt_frac: Share of computing time spent writing checkpoints.
        busy_w: Per-GPU power while running (the phase mix of :mod:`kiban.physics.activity`
            averaged: compute at the cap, collectives, evaluation, idle), per job and GPU
            model, at the default cap (W).
        s_cap: Speed of the compute phase at the default cap, per job and GPU model.
        busy_frac: Expected kernel-busy share u of each job's running time.
        compute_share: Share κ of running time in the compute phase (the rest is underused).
        phase_shares: (n, 5) phase shares of each job (activity.PHASES order, no checkpoint).
        power_factor: Per-job multiplicative power factor ε (input entropy).
        restart_penalty_s: Extra work a preemption costs an elastic job with a goodput
            profile (Sia's measured checkpoint-restore time per model, s; 0 for the others).
    """

    def __init__(self, jobs: JobTable, hw: HardwareTables, settings: SimSettings) -> None:
        lay = hw.layout
        n = jobs.n_jobs
        req = np.full(n, -1, dtype=np.int64)
        which, masks = model_requirements(jobs.gpu_model, [s.name for s in lay.skus])
        names = np.unique(np.asarray(jobs.gpu_model, dtype=object).astype(str))
        patterns: list[BoolArray] = []
        for u, (name, mask) in enumerate(zip(names.tolist(), masks, strict=True)):
            if not name:
                continue
            if not mask.any():
                code = -2
            elif int(mask.sum()) == 1:
                code = int(np.argmax(mask))
            else:
                code = -3 - len(patterns)
                patterns.append(mask)
            req[which == u] = code
        self.sku_patterns: BoolArray = (
            np.asarray(patterns, dtype=bool)
            if patterns
            else np.zeros((0, len(lay.skus)), dtype=bool)
        )
        self.req_sku: IntArray = req
        self.req_list: list[int] = req.tolist()
        self.gpn_list: list[int] = jobs.gpus_per_node.tolist()
        self.duration_s: FloatArray = jobs.duration_s
        self.duration_list: list[float] = jobs.duration_s.tolist()
        self.num_gpus_list: list[int] = jobs.num_gpus.tolist()
        # elastic jobs with a Pollux goodput profile: speed at k GPUs from the profile
        self._profile: list[GoodputProfile | None] = [
            GOODPUT_PROFILES[m] if m else None for m in jobs.goodput_model.tolist()
        ]
        self.has_profile: list[bool] = [p is not None for p in self._profile]
        self._node_gpus = int(hw.layout.node_n_gpus.max()) if hw.layout.n_nodes else 8
        self._scale_memo: dict[tuple[int, int, int], float] = {}
        self.restart_penalty_s: FloatArray = np.array(
            [restart_penalty_s(m) if m else 0.0 for m in jobs.goodput_model.tolist()]
        )
        unsched = req == -2
        need = jobs.min_num_gpus
        gpn = jobs.gpus_per_node
        for k in np.unique(req[req != -2]):
            node_ok = self.sku_ok(int(k), lay.node_sku_idx)
            total = int(lay.node_n_gpus[node_ok].sum())
            sel = req == k
            unsched |= sel & (need > total)
            for g in np.unique(gpn[sel & (gpn > 0)]):
                n_nodes_g = int(np.count_nonzero(node_ok & (lay.node_n_gpus >= g)))
                unsched |= sel & (gpn == g) & (need > n_nodes_g * g)
        # GPU shares and host requests (issue 15): jobs that take part of a GPU, or state CPU or
        # memory where the cluster gives its nodes' (the rest take the whole-GPU fast paths)
        self.share_milli_list: list[int] = jobs.gpu_milli.tolist()
        self.share_frac: FloatArray = jobs.gpu_milli / float(MILLI_PER_GPU)
        self.share_frac_list: list[float] = self.share_frac.tolist()
        host = np.zeros(n, dtype=bool)
        if lay.node_cpu_milli is not None:
            host |= jobs.cpu_milli > 0
            unsched |= jobs.cpu_milli > int(lay.node_cpu_milli.max())
        if lay.node_memory_b is not None:
            host |= jobs.memory_b > 0
            unsched |= jobs.memory_b > float(lay.node_memory_b.max())
        self.host_request: BoolArray = host
        self.cpu_milli_list: list[int] = jobs.cpu_milli.tolist()
        self.memory_b_list: list[float] = jobs.memory_b.tolist()
        # MIG instances: a job holds compute slices / 7 of its GPU; a profile no GPU model of
        # the cluster offers (among the models the job allows) can never run
        mig = jobs.mig_compute_slices > 0
        self.mig_list: list[str] = (
            [str(p) for p in jobs.mig_profile.tolist()]
            if jobs.any_mig and jobs.mig_profile is not None
            else [""] * n
        )
        if mig.any():
            self.share_frac = np.where(
                mig, jobs.mig_compute_slices / float(MIG_COMPUTE_SLICES), self.share_frac
            )
            self.share_frac_list = self.share_frac.tolist()
            geos = sku_geometries(lay)
            for name in sorted({p for p in self.mig_list if p}):
                offered = np.array([g is not None and name in g.profiles for g in geos])
                lost = 0
                for j in np.flatnonzero(np.asarray(self.mig_list, dtype=object) == name).tolist():
                    if not (offered & self.sku_ok(int(req[j]), np.arange(len(geos)))).any():
                        unsched[j] = True
                        lost += 1
                if lost:
                    logger.warning(
                        "%d job(s) ask for MIG profile %s, which no allowed GPU model of the "
                        "cluster offers (models: %s); they are unschedulable",
                        lost,
                        name,
                        ", ".join(
                            f"{s.name} ({g.name if g else 'no MIG'})"
                            for s, g in zip(lay.skus, geos, strict=True)
                        ),
                    )
        self.mig: BoolArray = mig
        """Jobs that run on a MIG instance (``jobs.mig_profile``)."""
        self.special: BoolArray = host | (jobs.gpu_milli < MILLI_PER_GPU) | mig
        """Jobs that share a GPU (milli or MIG) or state a checked CPU/memory request."""
        self.special_list: list[bool] = self.special.tolist()
        self.any_special = bool(self.special.any())
        self.unschedulable: BoolArray = unsched
        keys = np.column_stack((need, gpn, req))
        uniq, job_class = np.unique(keys, axis=0, return_inverse=True)
        self.job_class: IntArray = np.asarray(job_class, dtype=np.int64).reshape(-1)
        self.class_key: list[tuple[int, int, int]] = [
            (int(a), int(b), int(c)) for a, b, c in uniq.tolist()
        ]
        self.class_shaped: BoolArray = (uniq[:, 1] > 0) | (uniq[:, 2] >= 0)
        self.n_classes = int(uniq.shape[0])
        bw = min(settings.checkpoint_bandwidth_b_per_s, settings.storage_bandwidth_b_per_s)
        self.ckpt_write_s: FloatArray = np.asarray(checkpoint_write_s(jobs.checkpoint_size_b, bw))
        interval = jobs.checkpoint_interval_s
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(interval > 0, self.ckpt_write_s / (interval + self.ckpt_write_s), 0.0)
        self.ckpt_frac: npt.NDArray[Any] = np.nan_to_num(frac)
        # GPU activity inside the allocation (issue 10): its own random stream, child 3 of the
        # run's seed (0 failures, 1 policy, 2 workload), so one seed fixes every draw.
        fit = act.fitted_activity()
        rng = np.random.default_rng(np.random.SeedSequence(settings.seed).spawn(4)[3])
        self.job_busy_mean: FloatArray = act.draw_job_busy_mean(rng, jobs.num_gpus, fit)
        self.power_factor: FloatArray = act.draw_power_factor(rng, n)
        self.busy_frac: FloatArray = act.expected_busy_frac(self.job_busy_mean, fit)
        self.phase_shares: FloatArray = act.phase_shares(self.busy_frac, jobs.num_gpus)
        if not settings.gpu_activity:  # pegged: every running second computes
            self.busy_frac = np.ones(n)
            self.power_factor = np.ones(n)
            self.phase_shares = np.zeros((n, len(act.PHASES)))
            self.phase_shares[:, 0] = 1.0
        self.compute_share: FloatArray = self.phase_shares[:, 0].copy()
        self.compute_share_list: list[float] = self.compute_share.tolist()
        n_sku = len(lay.skus)
        # The trace's durations were measured at the GPUs' own power limit (TDP), so speeds
        # are relative to the speed there: a job whose compute bursts already hit TDP (ε·A > 1)
        # is not slowed by the default limit, only by caps below it.
        self._skus = lay.skus
        self._speed_at_tdp: FloatArray = np.ones((n, n_sku))
        for k, sku in enumerate(lay.skus):
            _, self._speed_at_tdp[:, k] = self.at_cap(
                jobs, np.arange(n), k, sku.tdp_w, relative=False
            )
        self.busy_w: FloatArray = np.zeros((n, n_sku))
        self.s_cap: FloatArray = np.ones((n, n_sku))
        for k, sku in enumerate(lay.skus):
            cap = sku.tdp_w * settings.gpu_power_cap_frac
            self.busy_w[:, k], self.s_cap[:, k] = self.at_cap(jobs, np.arange(n), k, cap)

    def at_cap(
        self,
        jobs: JobTable,
        idx: IntArray | int,
        k: int,
        cap_w: float | FloatArray,
        *,
        relative: bool = True,
    ) -> tuple[FloatArray, FloatArray]:
        """Per-GPU phase-mix power (W) and compute speed of jobs ``idx`` on GPU model ``k``.

        The speed is relative to the job's speed at the model's TDP (absolute if not
        ``relative``).
        """
        pp = act.phase_power(
            self.phase_shares[idx],
            jobs.activity_frac[idx],
            self.power_factor[idx],
            cap_w,
            self._skus[k],
        )
        speed = 1.0 / runtime_factor(pp.clock_frac, jobs.compute_bound_frac[idx])
        if relative:
            speed = np.minimum(speed / self._speed_at_tdp[idx, k], 1.0)
        return pp.power_w, speed

    def scale_frac(self, j: int, k: int, n_nodes: int) -> float:
        """Speed of job ``j`` on ``k`` GPUs over ``n_nodes`` nodes, relative to its duration's.

        Rigid jobs and elastic jobs without a goodput profile scale linearly (``k / num_gpus``);
        elastic jobs with one follow Pollux's goodput model (:mod:`kiban.workload.goodput`).
        """
        prof = self._profile[j]
        base = self.num_gpus_list[j]
        if prof is None:
            return k / float(base)
        key = (j, k, n_nodes)
        got = self._scale_memo.get(key)
        if got is None:
            got = float(speedup(prof, [k], base, gpus_per_node=self._node_gpus, nodes=[n_nodes])[0])
            self._scale_memo[key] = got
        return got

    def data_gpus(self, j: int, k: int, n_nodes: int) -> float:
        """GPUs' worth of input job ``j`` reads on ``k`` GPUs (``k`` for jobs without a profile).

        An elastic job with a goodput profile reads at its throughput (examples per second at
        the goodput-optimal batch), relative to the throughput at its requested count.
        """
        prof = self._profile[j]
        if prof is None:
            return float(k)
        key = (-1 - j, k, n_nodes)  # the memo's negative keys: data rates
        got = self._scale_memo.get(key)
        if got is None:
            base = self.num_gpus_list[j]
            ref = throughput(prof, [base], [math.ceil(base / self._node_gpus)])[0]
            now = throughput(prof, [k], [n_nodes])[0]
            got = float(base * now / ref) if ref > 0 else float(k)
            self._scale_memo[key] = got
        return got

    def sku_ok(self, req: int, sku: IntArray) -> BoolArray:
        """Whether GPU models ``sku`` (an array of indices) satisfy constraint code ``req``."""
        if req == -1:
            return np.ones(sku.shape, dtype=bool)
        if req == -2:
            return np.zeros(sku.shape, dtype=bool)
        if req >= 0:
            return np.asarray(sku == req)
        return np.asarray(self.sku_patterns[-3 - req][sku])

    def sku_ok1(self, req: int, sku: int) -> bool:
        """:meth:`sku_ok` of one GPU model (an index), without an array (every start asks)."""
        if req == -1:
            return True
        if req == -2:
            return False
        if req >= 0:
            return sku == req
        return bool(self.sku_patterns[-3 - req][sku])


class RunInputs:
    """The static inputs of one run, read by every component and written by none.

    Attributes:
        layout: The cluster.
        jobs: The jobs (sorted by submit time; with the run's locality rule applied).
        settings: Run settings.
        hw: Hardware tables.
        jt: Job tables.
    """

    def __init__(self, layout: ClusterLayout, jobs: JobTable, settings: SimSettings) -> None:
        self.layout = layout
        self.jobs = jobs
        self.settings = settings
        self.hw = HardwareTables(layout, settings)
        self.jt = JobTables(jobs, self.hw, settings)
