"""Node power, rack inlet temperatures and thermal throttling of running jobs.

The functions are methods of :class:`~kiban.sim.simulator.Simulator` (bound in its class body),
kept here as plain functions so the class stays readable; they read and write the simulator's state
exactly as the methods did.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.gpu_power import speed_frac_under_cap
from kiban.physics.thermal import time_to_reach_s
from kiban.sim.constants import PREV_INLET_BAND_K

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.sim.simulator import Simulator


def _refresh_nodes(self: Simulator) -> None:
    """Re-estimate the wall power of changed nodes, log their inputs, update rack inlets."""
    st = self.state
    power = self._power
    if len(self._dirty_nodes) == 1:
        node = self._dirty_nodes.pop()
        r = self._node_rack_list[node]
        n_k = self._node_n_list[node]
        up = bool(st.node_up[node])
        load = (n_k - int(st.node_free[node])) / n_k if up else 0.0
        gpu_w = float(st.node_gpu_power_w[node])
        new_w = power.estimate1_w(node, gpu_w, load, up)
        delta_w = new_w - float(st.node_wall_power_w[node])
        st.node_wall_power_w[node] = new_w
        power.record1(
            self._n_log,
            node=node,
            gpu_w=gpu_w,
            load=load,
            inlet_c=float(st.rack_inlet_temp_c[r]),
            up=up,
        )
        st.rack_power_w[r] += delta_w
        self._it_power_w += delta_w
        if self._d is not None and delta_w != 0.0:
            idx, vals = self._d_cols[r]
            inlet = st.rack_inlet_temp_c
            inlet[idx] += vals * (delta_w * self._air_frac_list[r])
            if self._dense_d:
                self._max_inlet_c = float(inlet.max())
            elif delta_w > 0.0:
                self._max_inlet_c = max(self._max_inlet_c, float(inlet[idx].max()))
            else:
                self._max_inlet_c = float(inlet.max())
        self._thermal_dirty = True
        return
    else:
        nodes = np.fromiter(self._dirty_nodes, dtype=np.int64, count=len(self._dirty_nodes))
        nodes.sort()
        self._dirty_nodes.clear()
        up_a = st.node_up[nodes]
        n_a = self._node_n[nodes]
        load_a = np.where(up_a, (n_a - st.node_free[nodes]) / n_a, 0.0)
        gpu_a = st.node_gpu_power_w[nodes]
        new_a_w = power.estimate_w(nodes, gpu_a, load_a, up_a)
        delta_a_w = new_a_w - st.node_wall_power_w[nodes]
        st.node_wall_power_w[nodes] = new_a_w
        racks = self._node_rack[nodes]
        power.record(
            self._n_log,
            nodes=nodes,
            gpu_w=gpu_a,
            load=load_a,
            inlet_c=st.rack_inlet_temp_c[racks],
            up=up_a,
        )
        d_rack_w = np.bincount(racks, weights=delta_a_w, minlength=self.layout.n_racks)
        st.rack_power_w += d_rack_w
        self._it_power_w += float(delta_a_w.sum())
        if self._d is not None:
            ch = np.flatnonzero(d_rack_w)
            st.rack_inlet_temp_c += self._d[:, ch] @ (d_rack_w[ch] * self._air_frac[ch])
    self._max_inlet_c = float(st.rack_inlet_temp_c.max())
    self._thermal_dirty = True


def _recompute_inlet(self: Simulator) -> None:
    st = self.state
    self._it_power_w = float(st.rack_power_w.sum())
    if self._d is None:
        st.rack_inlet_temp_c[:] = st.supply_temp_c
    else:
        st.rack_inlet_temp_c[:] = st.supply_temp_c + self._d @ (st.rack_power_w * self._air_frac)
    self._max_inlet_c = float(st.rack_inlet_temp_c.max())


def _slot_gpu_inlet_c(self: Simulator, idx: IntArray) -> FloatArray:
    st = self.state
    racks = st.slot_rack[idx]
    inlet = st.rack_inlet_temp_c[np.maximum(racks, 0)].copy()
    for pos in np.flatnonzero(racks < 0).tolist():
        j = int(st.slot_job[idx[pos]])
        inlet[pos] = st.rack_inlet_temp_c[self._job_racks[j]].max()
    liquid = self._sku_liquid[st.slot_sku[idx]]
    return np.where(liquid, self.layout.liquid_supply_temp_c, inlet)


def _thermal_update(self: Simulator) -> None:
    """Check throttling of running jobs; schedule onsets, release or re-rate throttled ones."""
    st = self.state
    self._thermal_dirty = False
    if (
        not self._thermal_active
        and not self._liquid_always_check
        and self._max_inlet_c < self._thermal_margin_c
    ):
        if self._max_inlet_c > self._thermal_margin_c - PREV_INLET_BAND_K:
            self._prev_inlet = st.rack_inlet_temp_c.copy()
        return
    n = st.n_slots
    idx = np.arange(n)
    sku = st.slot_sku[idx]
    r_k_per_w = self._sku_r_k_per_w[sku]
    slow_c = self._sku_slow_c[sku]
    inlet_c = self._slot_gpu_inlet_c(idx)
    busy_w = st.slot_busy_power_w[idx]
    steady_c = inlet_c + r_k_per_w * busy_w
    throttled = st.slot_s_thermal[idx] < 1.0
    pending = np.isfinite(st.slot_throttle_at_s[idx])
    over = steady_c > slow_c
    # new onsets: rising from the previous steady temperature (chips settle in ~τ)
    new = over & ~throttled & ~pending
    changed_next = np.zeros(n, dtype=bool)
    if new.any():
        pos = np.flatnonzero(new)
        racks = st.slot_rack[pos]
        prev_inlet_c = np.where(
            (racks >= 0) & ~self._sku_liquid[sku[pos]],
            self._prev_inlet[np.maximum(racks, 0)],
            inlet_c[pos],
        )
        # a job that starts now heats up from idle; one already running from its old steady
        prev_power_w = np.where(
            st.slot_start_s[pos] >= self._t, self._sku_idle_ctx_w[sku[pos]], busy_w[pos]
        )
        t0_c = np.minimum(prev_inlet_c + r_k_per_w[pos] * prev_power_w, slow_c[pos])
        wait_s = time_to_reach_s(
            t0_c,
            inlet_c[pos],
            busy_w[pos],
            r_k_per_w[pos],
            self._sku_tau_s[sku[pos]],
            slow_c[pos],
        )
        st.slot_throttle_at_s[pos] = self._t + wait_s
        changed_next[pos] = True
    cancel = pending & ~over
    if cancel.any():
        st.slot_throttle_at_s[np.flatnonzero(cancel)] = math.inf
        changed_next |= cancel
    # throttled jobs: new speed at the power that holds the die at the threshold
    release_c = slow_c - self.settings.throttle_hysteresis_k
    upd = np.flatnonzero(throttled)
    if upd.size:
        self._book_many(upd)
        s_th, p_th = self._thermal_speed(upd, inlet_c[upd])
        released = steady_c[upd] <= release_c[upd]
        st.slot_s_thermal[upd] = np.where(released, 1.0, s_th)
        st.slot_thermal_cap_w[upd] = np.where(released, math.inf, p_th)
        self._rates(upd)
        self._io_dirty = True
    onl = np.flatnonzero(changed_next & ~throttled)
    if onl.size:
        st.slot_next_s[onl] = np.minimum(
            np.minimum(st.slot_finish_s[onl], st.slot_phase_end_s[onl]),
            st.slot_throttle_at_s[onl],
        )
    self._thermal_active = bool(
        (st.slot_s_thermal[:n] < 1.0).any() or np.isfinite(st.slot_throttle_at_s[:n]).any()
    )
    self._prev_inlet = st.rack_inlet_temp_c.copy()


def _thermal_speed(
    self: Simulator, idx: IntArray, inlet_c: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Speed (relative to the job's speed at its cap_w) and board power_w at the die limit."""
    st, jobs = self.state, self.jobs
    out = np.ones(idx.shape[0])
    power_w = np.full(idx.shape[0], math.inf)
    sku = st.slot_sku[idx]
    for k in np.unique(sku).tolist():
        pos = np.flatnonzero(sku == k)
        rec = self.layout.skus[k]
        sl = idx[pos]
        j = st.slot_job[sl]
        p_max_w = (rec.slowdown_temp_c - inlet_c[pos]) / rec.die_to_inlet_k_per_w
        cap_w = np.minimum(st.slot_cap_w[sl], np.maximum(p_max_w, 1.0))
        s_t = speed_frac_under_cap(cap_w, jobs.activity_frac[j], jobs.compute_bound_frac[j], rec)
        out[pos] = np.minimum(1.0, s_t / np.maximum(st.slot_s_cap[sl], 1e-12))
        power_w[pos] = cap_w
    return out, power_w


def _apply_throttle_onset(self: Simulator, i: int) -> None:
    st = self.state
    self._book(i)
    st.slot_throttle_at_s[i] = math.inf
    idx = np.array([i])
    inlet = self._slot_gpu_inlet_c(idx)
    s_th, p_th = self._thermal_speed(idx, inlet)
    st.slot_s_thermal[i] = s_th[0]
    st.slot_thermal_cap_w[i] = p_th[0]
    self._rates(idx)
    self._counters["throttle_onsets"] += 1
    self._thermal_active = True
    self._io_dirty = True
