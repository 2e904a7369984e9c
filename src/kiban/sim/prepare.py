"""Preparation of a :class:`~kiban.sim.simulator.Simulator`: hardware and job tables, run state.

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.gpu_power import average_power_under_cap_w, speed_frac_under_cap
from kiban.physics.storage_io import cache_hit_frac, checkpoint_write_s
from kiban.sim.events import EventKind
from kiban.sim.settings import LOG_COLUMNS
from kiban.sim.state import LEDGER_COLUMNS

if TYPE_CHECKING:
    from kiban.sim.simulator import Simulator


def _prepare_hardware(self: Simulator) -> None:
    lay = self.layout
    skus = lay.skus
    self._sku_tdp_w = np.array([s.tdp_w for s in skus])
    self._sku_min_cap_w = np.array([s.min_power_limit_w for s in skus])
    self._sku_idle_w = np.array([s.idle_empty_power_w for s in skus])
    self._sku_idle_ctx_w = np.array([s.idle_context_power_w for s in skus])
    self._idle_ctx_list = self._sku_idle_ctx_w.tolist()
    self._idle_list = self._sku_idle_w.tolist()
    self._sku_r_k_per_w = np.array([s.die_to_inlet_k_per_w for s in skus])
    self._sku_tau_s = np.array([s.thermal_time_constant_s for s in skus])
    self._sku_slow_c = np.array([s.slowdown_temp_c for s in skus])
    self._sku_liquid = np.array([s.cooling != "air" for s in skus], dtype=bool)
    self._node_rack = lay.node_rack_idx
    self._node_rack_list = lay.node_rack_idx.tolist()
    self._node_n_list = lay.node_n_gpus.tolist()
    self._node_sku_list = lay.node_sku_idx.tolist()
    self._gpu_node_list = lay.gpu_node.tolist()
    self._node_cache_b = np.asarray(lay.node_cache_b, dtype=np.float64)
    self._node_n = lay.node_n_gpus
    self._node_first = lay.node_first_gpu
    self._node_sku = lay.node_sku_idx
    self._gpu_node = lay.gpu_node
    self._budget_w = lay.rack_gpu_budget_w
    self._budget_finite = bool(np.isfinite(self._budget_w).any())
    self._air_frac = 1.0 - lay.rack_liquid_capture_frac
    self._d = lay.heat_distribution_k_per_w
    self._air_frac_list = (1.0 - lay.rack_liquid_capture_frac).tolist()
    # Each rack's column of D as (rows, values): all rows for a dense D, only the non-zero
    # ones when recirculation stays within halls (a block-diagonal D of a large site).
    self._d_cols = []
    self._dense_d = True
    if self._d is not None:
        nonzero = self._d != 0.0
        self._dense_d = bool(nonzero.mean() > 0.2)
        d_t = np.ascontiguousarray(self._d.T)
        for r in range(lay.n_racks):
            if self._dense_d:
                self._d_cols.append((slice(None), d_t[r]))
            else:
                rows = np.flatnonzero(nonzero[:, r])
                self._d_cols.append((rows, d_t[r, rows].copy()))
    self._single_server = len(lay.servers) == 1
    # Margin: while every air inlet is below it, no GPU at full power reaches slowdown.
    cap_frac = self.settings.gpu_power_cap_frac
    air = ~self._sku_liquid
    if air.any():
        margins = self._sku_slow_c - self._sku_r_k_per_w * self._sku_tdp_w * cap_frac
        self._thermal_margin_c = float(margins[air].min())
    else:
        self._thermal_margin_c = math.inf
    liquid_ok = lay.liquid_supply_temp_c + self._sku_r_k_per_w * self._sku_tdp_w < self._sku_slow_c
    self._liquid_always_check = bool((self._sku_liquid & ~liquid_ok).any())


def _prepare_jobs(self: Simulator) -> None:
    jobs, lay, st = self.jobs, self.layout, self.state
    n = jobs.n_jobs
    req = np.full(n, -1, dtype=np.int64)
    for model in np.unique(jobs.gpu_model).tolist():
        if model:
            k = lay.sku_index(str(model))
            req[jobs.gpu_model == model] = k if k >= 0 else -2
    self._job_req_sku = req
    self._req_list = req.tolist()
    self._gpn_list = jobs.gpus_per_node.tolist()
    self._duration_list = jobs.duration_s.tolist()
    self._num_gpus_list = jobs.num_gpus.tolist()
    # Jobs no placement can ever satisfy (on an empty, fully up cluster).
    unsched = req == -2
    need = jobs.min_num_gpus
    gpn = jobs.gpus_per_node
    for k in np.unique(req[req >= -1]):
        node_ok = np.ones(lay.n_nodes, dtype=bool) if k == -1 else lay.node_sku_idx == k
        total = int(lay.node_n_gpus[node_ok].sum())
        sel = req == k
        unsched |= sel & (need > total)
        for g in np.unique(gpn[sel & (gpn > 0)]):
            n_nodes_g = int(np.count_nonzero(node_ok & (lay.node_n_gpus >= g)))
            unsched |= sel & (gpn == g) & (need > n_nodes_g * g)
    self._unschedulable = unsched
    # Shape classes (fewest GPUs, GPUs per node, GPU model) of the waiting jobs, for the
    # fragmentation check; only classes with a shape or model constraint can fragment.
    keys = np.column_stack((need, gpn, req))
    uniq, job_class = np.unique(keys, axis=0, return_inverse=True)
    self._job_class = np.asarray(job_class, dtype=np.int64).reshape(-1)
    self._class_key = [(int(a), int(b), int(c)) for a, b, c in uniq.tolist()]
    self._class_shaped = (uniq[:, 1] > 0) | (uniq[:, 2] >= 0)
    self._class_pending = np.zeros(uniq.shape[0], dtype=np.int64)
    self._any_shaped = bool(self._class_shaped.any())
    # Checkpoints: write time and the share of time they take while computing.
    bw = min(self.settings.checkpoint_bandwidth_b_per_s, self.settings.storage_bandwidth_b_per_s)
    self._ckpt_write_s = np.asarray(checkpoint_write_s(jobs.checkpoint_size_b, bw))
    interval = jobs.checkpoint_interval_s
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(interval > 0, self._ckpt_write_s / (interval + self._ckpt_write_s), 0.0)
    self._ckpt_frac = np.nan_to_num(frac)
    # Power and speed of every job on every GPU model at the default cap.
    n_sku = len(lay.skus)
    self._busy_w = np.zeros((n, n_sku))
    self._s_cap = np.ones((n, n_sku))
    for k, sku in enumerate(lay.skus):
        cap = sku.tdp_w * self.settings.gpu_power_cap_frac
        self._busy_w[:, k] = average_power_under_cap_w(cap, jobs.activity_frac, sku)
        self._s_cap[:, k] = speed_frac_under_cap(
            cap, jobs.activity_frac, jobs.compute_bound_frac, sku
        )
    self._default_cap_w = self._sku_tdp_w * self.settings.gpu_power_cap_frac
    self._job_cache_b = np.full(n, math.nan)
    self._job_io_weight = np.ones(n)
    self._io_active = bool(
        math.isfinite(self.settings.storage_bandwidth_b_per_s)
        and (jobs.input_rate_b_per_s_per_gpu > 0).any()
    )
    st.job_power_cap_w[:] = math.nan
    # cache hit ratio of every job on each distinct per-GPU node cache, at its full size
    per_gpu = self._node_cache_b / self._node_n
    values, self._node_cache_class = np.unique(per_gpu, return_inverse=True)
    self._hit = np.zeros((n, values.shape[0]))
    if self._io_active:
        for u, cache_per_gpu in enumerate(values.tolist()):
            self._hit[:, u] = cache_hit_frac(cache_per_gpu * jobs.num_gpus, jobs.dataset_size_b)
    # remote demand of each job at its full size on one node of each cache class (B/s)
    self._io_default = (jobs.input_rate_b_per_s_per_gpu * jobs.num_gpus)[:, None] * (
        1.0 - self._hit
    )


def _init_run_state(self: Simulator) -> None:
    st, lay = self.state, self.layout
    self._t = 0.0
    st.time_s = 0.0
    self._dirty = True
    self._policy_needed = False
    self._epoch_due = False
    self._wake_version = 0
    self._wake_pending = False
    self._wake_time_s = math.inf
    self._n_repairs_pending = 0
    self._thermal_active = False
    self._thermal_dirty = True
    self._io_dirty = False
    self._frag = False
    self._alloc_sums = [0.0] * (LEDGER_COLUMNS.stop - LEDGER_COLUMNS.start)
    self._led_alloc = [0.0] * (LEDGER_COLUMNS.stop - LEDGER_COLUMNS.start)
    self._down_gpu_s = 0.0
    self._blocked_gpu_s = 0.0
    self._idle_gpu_s = 0.0
    self._moved_to_failure_gpu_s = 0.0
    self._moved_to_ckpt_gpu_s = 0.0
    self._frag_gpu_s = 0.0
    self._io_total_b_per_s = 0.0
    self._io_limited = False
    self._counters = {
        "events": 0,
        "policy_calls": 0,
        "failures": 0,
        "preemptions": 0,
        "restarts": 0,
        "throttle_onsets": 0,
        "unschedulable_jobs": int(self._unschedulable.sum()),
    }
    self._policy_wall_s = 0.0
    self._dirty_nodes = set()
    self._job_racks = {}
    self._settles = 0
    # initial power: every GPU idle, every node up
    st.node_gpu_power_w[:] = self._node_n * self._sku_idle_w[self._node_sku]
    all_nodes = np.arange(lay.n_nodes)
    load = np.zeros(lay.n_nodes)
    st.node_wall_power_w[:] = self._power.estimate_w(
        all_nodes, st.node_gpu_power_w, load, st.node_up
    )
    st.rack_power_w[:] = np.bincount(
        self._node_rack, weights=st.node_wall_power_w, minlength=lay.n_racks
    )
    self._recompute_inlet()
    self._prev_inlet = st.rack_inlet_temp_c.copy()
    # log buffer; row 0 is the idle cluster at t = 0
    self._log = np.zeros((max(1024, 3 * self.jobs.n_jobs + 64), len(LOG_COLUMNS)))
    self._n_log = 0
    self._power.record(
        0,
        nodes=all_nodes,
        gpu_w=st.node_gpu_power_w,
        load=load,
        inlet_c=st.rack_inlet_temp_c[self._node_rack],
        up=st.node_up,
    )
    self._record()
    # failures
    rate = self.settings.node_failure_rate_per_s * lay.n_nodes
    self._fail_rate_per_s = rate if self.settings.failures else 0.0
    if self._fail_rate_per_s > 0:
        self._schedule_failure()
    epoch = getattr(self.policy, "epoch_s", None)
    if epoch:
        self._queue.schedule(float(epoch), EventKind.POLICY_TICK, -1)
