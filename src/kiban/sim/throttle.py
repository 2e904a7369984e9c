"""Thermal throttling of running jobs.

Onset events at the RC crossing time, then the clock that holds the die at its SW thermal
slowdown temperature (the GPU's max operating temperature, 87 °C on H100), and release with
hysteresis.

The SW controller can lower the clock only to the bottom of the DVFS range
(:data:`kiban.physics.gpu_power.DEFAULT_MIN_CLOCK_FRAC`, the H100's 345 MHz idle clock). Where
the die is still at or above the GPU's HW slowdown temperature there (89 °C on H100: an inlet
near 79 °C, or a server whose fans failed, R ∝ V̇^−0.8), HW slowdown is asserted (NVML
``HW_THERMAL_SLOWDOWN | HW_SLOWDOWN``, clocks cut by ≥ 2×, so the job runs at the bottom of
the range; counted in ``hw_slowdown_onsets``, booked as ``thermal_throttle``); where it is at
or above the shutdown temperature (92 °C) the GPU turns off: :attr:`ThermalThrottle.shutdown_nodes`
names the nodes, which the event loop takes down like a failure (jobs restart elsewhere; the
node returns after the repair time).

While every inlet is below a precomputed margin no GPU can reach that temperature and
nothing is evaluated. Otherwise the steady die temperature of each running job is checked; a
job that will cross the threshold gets an onset time from
:func:`kiban.physics.thermal.time_to_reach_s` (the slot's next event), after which it runs at
the clock that holds the die at the threshold (:meth:`ThermalThrottle.onset`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.facility_dynamics import power_at_clock_w
from kiban.physics.gpu_power import DEFAULT_MIN_CLOCK_FRAC, speed_frac_under_cap
from kiban.physics.thermal import time_to_reach_s
from kiban.sim.constants import PREV_INLET_BAND_K

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.sim.heat import NodeHeat
    from kiban.sim.slots import Slots
    from kiban.sim.tables import RunInputs

__all__ = ["ThermalThrottle"]


class ThermalThrottle:
    """The throttle check (see the module docstring).

    Args:
        inputs: The run's static inputs (the jobs' activity and compute-bound shares set the
            die-limit speed; thermal resistance, time constant and slowdown temperature per
            GPU; ``settings.throttle_hysteresis_k``: a throttled job is released once its steady
            die temperature is this far below the slowdown threshold).
        heat: Inlets and supply temperature.
        slots: The running jobs it re-rates.
    """

    def __init__(self, inputs: RunInputs, heat: NodeHeat, slots: Slots) -> None:
        self._jobs, self._hw, self._heat, self._slots = inputs.jobs, inputs.hw, heat, slots
        hysteresis_k = inputs.settings.throttle_hysteresis_k
        self._hysteresis_k = hysteresis_k
        self.active = False
        """Some job is throttled or has an onset pending."""
        self.onsets = 0
        self.hw_onsets = 0
        """Jobs that entered HW slowdown (the die above the slowdown temperature at the DVFS
        floor)."""
        self._hw_jobs: set[int] = set()
        self.shutdown_nodes: list[int] = []
        """Nodes whose GPUs reached the shutdown temperature (the event loop takes them down)."""
        self._jt = inputs.jt
        self._prev_inlet: FloatArray = heat.rack_inlet_temp_c.copy()

    @property
    def hw_slowdown_jobs(self) -> frozenset[int]:
        """Jobs in HW slowdown now (NVML ``HW_SLOWDOWN | HW_THERMAL_SLOWDOWN``)."""
        return frozenset(self._hw_jobs)

    def start(self) -> None:
        """Remember the initial inlets (the idle cluster)."""
        self._prev_inlet = self._heat.rack_inlet_temp_c.copy()

    def _worst_rack(self, idx: IntArray, per_rack: FloatArray) -> FloatArray:
        """``per_rack`` at the rack of each of slots ``idx`` (a job spanning racks: its highest)."""
        sl = self._slots
        racks = sl.rack[idx]
        out = per_rack[np.maximum(racks, 0)].copy()
        for pos in np.flatnonzero(racks < 0).tolist():
            out[pos] = per_rack[sl.job_racks[int(sl.job[idx[pos]])]].max()
        return out

    def gpu_inlet_c(self, idx: IntArray) -> FloatArray:
        """Inlet (or liquid supply) temperature of the GPUs of slots ``idx`` (°C).

        A job spanning racks sees its hottest rack.
        """
        heat = self._heat
        inlet = self._worst_rack(idx, heat.rack_inlet_temp_c)
        liquid = self._hw.sku_liquid[self._slots.sku[idx]]
        return np.where(liquid, heat.liquid_supply_temp_c, inlet)

    def slot_r_k_per_w(self, idx: IntArray) -> FloatArray:
        """Die-to-inlet resistance of the GPUs of slots ``idx`` now (K/W).

        The catalog's value times the rack's airflow factor (failed server fans); a job
        spanning racks sees its worst rack.
        """
        heat = self._heat
        sku = self._slots.sku[idx]
        r = self._hw.sku_r_k_per_w[sku]
        if not heat.r_raised:
            return r
        scale = self._worst_rack(idx, heat.rack_r_scale)
        return np.where(self._hw.sku_liquid[sku], r, r * scale)

    def check(self, t_s: float) -> None:
        """Schedule onsets of jobs that will overheat, release or re-rate throttled ones."""
        sl, hw, heat = self._slots, self._hw, self._heat
        if (
            not self.active
            and not hw.liquid_always_check
            and not heat.liquid_raised
            and not heat.r_raised
            and heat.max_inlet_c < hw.thermal_margin_c
        ):
            if heat.max_inlet_c > hw.thermal_margin_c - PREV_INLET_BAND_K:
                self._prev_inlet = heat.rack_inlet_temp_c.copy()
            return
        n = sl.n
        idx = np.arange(n)
        sku = sl.sku[idx]
        r_k_per_w = self.slot_r_k_per_w(idx)
        slow_c = hw.sku_slow_c[sku]
        inlet_c = self.gpu_inlet_c(idx)
        busy_w = sl.busy_power_w[idx]
        steady_c = inlet_c + r_k_per_w * busy_w
        throttled = sl.s_thermal[idx] < 1.0
        pending = np.isfinite(sl.throttle_at_s[idx])
        over = steady_c > slow_c
        # new onsets: rising from the previous steady temperature (chips settle in ~τ)
        new = over & ~throttled & ~pending
        changed_next = np.zeros(n, dtype=bool)
        if new.any():
            pos = np.flatnonzero(new)
            racks = sl.rack[pos]
            prev_inlet_c = np.where(
                (racks >= 0) & ~hw.sku_liquid[sku[pos]],
                self._prev_inlet[np.maximum(racks, 0)],
                inlet_c[pos],
            )
            # a job that starts now heats up from idle; one already running from its old steady
            prev_power_w = np.where(
                sl.start_s[pos] >= t_s, hw.sku_idle_ctx_w[sku[pos]], busy_w[pos]
            )
            t0_c = np.minimum(prev_inlet_c + r_k_per_w[pos] * prev_power_w, slow_c[pos])
            wait_s = time_to_reach_s(
                t0_c,
                inlet_c[pos],
                busy_w[pos],
                r_k_per_w[pos],
                hw.sku_tau_s[sku[pos]],
                slow_c[pos],
            )
            sl.set_throttle_at(pos, t_s + wait_s)
            changed_next[pos] = True
        cancel = pending & ~over
        if cancel.any():
            sl.set_throttle_at(np.flatnonzero(cancel), math.inf)
            changed_next |= cancel
        # throttled jobs: new speed at the power that holds the die at the threshold
        release_c = slow_c - self._hysteresis_k
        upd = np.flatnonzero(throttled)
        if self._hw_jobs:
            self._hw_jobs = {j for j in self._hw_jobs if sl.job_slot[j] >= 0}
        if upd.size:
            s_th, p_th = self.die_limit(upd, inlet_c[upd])
            released = steady_c[upd] <= release_c[upd]
            sl.set_thermal(
                upd, np.where(released, 1.0, s_th), np.where(released, math.inf, p_th), t_s
            )
        onl = np.flatnonzero(changed_next & ~throttled)
        if onl.size:
            sl.renext(onl)
        self.active = bool(
            (sl.s_thermal[:n] < 1.0).any() or np.isfinite(sl.throttle_at_s[:n]).any()
        )
        self._prev_inlet = heat.rack_inlet_temp_c.copy()

    def die_limit(self, idx: IntArray, inlet_c: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Speed (relative to the job's speed at its cap) and board power (W) at the die limit.

        The die limit is the compute-phase power that holds the die at the max operating
        temperature, never below the job's power at the bottom of the DVFS range. Where the die
        is at or above the HW slowdown temperature even there, the job is in HW slowdown
        (counted); at or above the shutdown temperature its nodes go to :attr:`shutdown_nodes`.
        """
        sl, jobs = self._slots, self._jobs
        out = np.ones(idx.shape[0])
        power_w = np.full(idx.shape[0], math.inf)
        sku = sl.sku[idx]
        r_all = self.slot_r_k_per_w(idx)
        for k in np.unique(sku).tolist():
            pos = np.flatnonzero(sku == k)
            rec = self._hw.layout.skus[k]
            slots = idx[pos]
            j = sl.job[slots]
            r = r_all[pos]
            p_max_w = (rec.max_operating_temp_c - inlet_c[pos]) / r
            floor_w = power_at_clock_w(
                jobs.activity_frac[j], self._jt.power_factor[j], rec, DEFAULT_MIN_CLOCK_FRAC
            )
            cap_w = np.minimum(sl.cap_w[slots], np.maximum(p_max_w, floor_w))
            s_t = speed_frac_under_cap(
                cap_w, jobs.activity_frac[j], jobs.compute_bound_frac[j], rec
            )
            out[pos] = np.minimum(1.0, s_t / np.maximum(sl.s_cap[slots], 1e-12))
            power_w[pos] = cap_w
            die_floor_c = inlet_c[pos] + r * floor_w
            self._hw_state(j, (p_max_w < floor_w) & (die_floor_c >= rec.slowdown_temp_c))
            for jj in j[(p_max_w < floor_w) & (die_floor_c >= rec.shutdown_temp_c)].tolist():
                nodes = sl.job_nodes[int(jj)]
                if nodes is not None:
                    self.shutdown_nodes.extend(nodes.tolist())
        return out, power_w

    def _hw_state(self, jobs: IntArray, hw: FloatArray) -> None:
        """Count the jobs that enter HW slowdown; forget those that left it."""
        for jj, on in zip(jobs.tolist(), np.asarray(hw, dtype=bool).tolist(), strict=True):
            if on and jj not in self._hw_jobs:
                self._hw_jobs.add(jj)
                self.hw_onsets += 1
            elif not on:
                self._hw_jobs.discard(jj)

    def onset(self, i: int, t_s: float) -> None:
        """Slot ``i``'s die reached the slowdown temperature (its onset event)."""
        idx = np.array([i])
        s_th, p_th = self.die_limit(idx, self.gpu_inlet_c(idx))
        self._slots.throttle_now(i, t_s, float(s_th[0]), float(p_th[0]))
        self.onsets += 1
        self.active = True
