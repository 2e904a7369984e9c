"""Per-GPU and per-job observables of the running twin: power, die temperature, activity, clock.

What a GPU exporter (DCGM/NVML) would read from each GPU, computed on demand from the
components that own the underlying state: the allocation (:class:`~kiban.sim.cluster.
ClusterState`: who holds the GPU), the running jobs (:class:`~kiban.sim.slots.Slots`: their
speed shares, caps and per-GPU power) and the node heat (:class:`~kiban.sim.heat.NodeHeat`:
inlets). Policies read them through :class:`~kiban.sim.state.ClusterView`; the per-GPU timeline
records them; the coupled facility (issue 10) reads them during the run.

Today's twin has no activity model inside a job: a computing GPU is busy, and it waits while
writing checkpoints, restoring, or stalled on input. A free GPU draws its idle power with no
context, a GPU on a failed node draws nothing. Die temperature is the steady value
``T_inlet + R·P`` at the GPU's own rack inlet (liquid-cooled GPUs: the liquid supply).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.gpu_power import clock_frac_for_cap
from kiban.physics.thermal import ClockEventReason
from kiban.sim.constants import PHASE_COMPUTE
from kiban.sim.slots import SHARES
from kiban.vocabulary import GPU_DOWN, GPU_SHARED

if TYPE_CHECKING:
    from collections.abc import Callable

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.cluster import ClusterState
    from kiban.sim.heat import NodeHeat
    from kiban.sim.slots import Slots
    from kiban.sim.tables import RunInputs

__all__ = ["GpuObservables", "GpuSnapshot"]

_IDLE = int(ClockEventReason.GPU_IDLE)
_POWER_CAP = int(ClockEventReason.SW_POWER_CAP)
_THERMAL = int(ClockEventReason.SW_THERMAL_SLOWDOWN)
_HW_THERMAL = int(ClockEventReason.HW_SLOWDOWN | ClockEventReason.HW_THERMAL_SLOWDOWN)
_HW_BRAKE = int(ClockEventReason.HW_SLOWDOWN | ClockEventReason.HW_POWER_BRAKE)


FEW_GPUS = 64
"""At most this many changed GPUs are computed one by one in Python floats (fewer NumPy calls
on tiny arrays; the same values)."""


def _no_jobs() -> frozenset[int]:
    return frozenset()


class GpuSnapshot:
    """Observables of a set of GPUs at one instant (arrays aligned with ``gpus``).

    Attributes:
        gpus: GPU indices.
        job: Job holding each GPU (-1 free, -2 on a failed node).
        power_w: Board power (W), time average over the job's phases.
        activity_frac: Share of time the GPU is busy (DCGM ``GPU_UTIL``/100).
        die_temp_c: Steady die temperature (°C).
        clock_frac: SM clock / max clock.
        clock_event_reasons: NVML ``nvmlClocksEventReason*`` bitmask.
        shares: (n, 7) shares of allocated time: productive, io_stall, underused, thermal_throttle,
            power_cap, checkpoint, failure (zeros for free or failed GPUs).
    """

    __slots__ = (
        "activity_frac",
        "clock_event_reasons",
        "clock_frac",
        "die_temp_c",
        "gpus",
        "job",
        "power_w",
        "shares",
    )

    def __init__(  # noqa: PLR0917
        self,
        gpus: IntArray,
        job: IntArray,
        power_w: FloatArray,
        activity_frac: FloatArray,
        die_temp_c: FloatArray,
        clock_frac: FloatArray,
        clock_event_reasons: IntArray,
        shares: FloatArray,
    ) -> None:
        self.gpus = gpus
        self.job = job
        self.power_w = power_w
        self.activity_frac = activity_frac
        self.die_temp_c = die_temp_c
        self.clock_frac = clock_frac
        self.clock_event_reasons = clock_event_reasons
        self.shares = shares


class GpuObservables:
    """Computes :class:`GpuSnapshot` for any GPUs from the owning components."""

    def __init__(
        self, inputs: RunInputs, state: ClusterState, slots: Slots, heat: NodeHeat
    ) -> None:
        self._jobs, self._hw, self._state, self._slots = inputs.jobs, inputs.hw, state, slots
        self._heat = heat
        hw = inputs.hw
        gpu_sku = hw.node_sku[hw.gpu_node]
        self._gpu_idle_w: FloatArray = hw.sku_idle_w[gpu_sku].astype(np.float64)
        self._gpu_idle_list: list[float] = self._gpu_idle_w.tolist()
        self._gpu_r_k_per_w: FloatArray = hw.sku_r_k_per_w[gpu_sku]
        self._gpu_rack: IntArray = hw.node_rack[hw.gpu_node]
        self._gpu_liquid: BoolArray = hw.sku_liquid[gpu_sku]
        self._any_liquid = bool(self._gpu_liquid.any())
        # GPUs numbered rack by rack (the layouts build them so): each rack's inlet repeated
        # over its GPUs is the gather by rack, without the index array
        rack_sorted = bool((np.diff(self._gpu_rack) >= 0).all())
        self._gpu_rack_counts: IntArray | None = (
            np.bincount(self._gpu_rack, minlength=hw.layout.n_racks) if rack_sorted else None
        )
        # power_die_activity of the last call and the versions of its inputs then
        self._pda: tuple[FloatArray, FloatArray, FloatArray] | None = None
        self._pda_key = (-1, -1, -1)
        # who held each GPU at that call, and the jobs whose rates changed since (the slots'
        # watch, kept from the first call on): the GPUs whose power or busy share may differ
        self._pda_holder: IntArray = np.zeros(0, dtype=np.int64)
        self._pda_watch: set[int] | None = None
        # R·P of every GPU at that call and the R it used (the die temperature is the inlet
        # plus this: only the GPUs whose power changed are multiplied again)
        self._pda_rp: FloatArray = np.zeros(0)
        self._pda_r: FloatArray | None = None
        self._pda_r_scale: FloatArray | None = None
        self._pda_r_used: FloatArray | None = None
        self.hw_slowdown_jobs: Callable[[], frozenset[int]] = _no_jobs
        """Jobs in thermal HW slowdown now (set by the simulator: the throttle's set)."""
        self.braked_jobs: Callable[[], frozenset[int]] = _no_jobs
        """Jobs held at the external power brake now (set by the simulator: the budget's)."""

    def _slot_of(self, gpus: IntArray) -> tuple[IntArray, BoolArray]:
        job = self._state.gpu_job[gpus]
        held = job >= 0
        slot = np.full(gpus.shape[0], -1, dtype=np.int64)
        slot[held] = self._slots.job_slot[job[held]]
        return slot, held

    def _tenants(self, gpus: IntArray, out_pos: IntArray) -> list[tuple[int, IntArray, FloatArray]]:
        """Per shared GPU among ``gpus[out_pos]``: its position, tenants' slots and shares."""
        st, sl = self._state, self._slots
        rows = []
        for pos in out_pos.tolist():
            slots = sl.job_slot[np.asarray(st.gpu_tenants[int(gpus[pos])], dtype=np.int64)]
            rows.append((pos, slots, sl.share_frac[slots]))
        return rows

    def _shared_power_activity(
        self, gpus: IntArray, power: FloatArray, activity: FloatArray | None
    ) -> IntArray:
        """Power and busy share of shared GPUs follow their tenants, share-weighted.

        A shared GPU draws its idle power plus each tenant's share of that tenant's power above
        idle; it is busy for the share-weighted sum of the tenants' busy shares.
        """
        pos = np.flatnonzero(self._state.gpu_job[gpus] == GPU_SHARED)
        if pos.shape[0] == 0:
            return pos
        sl, tenants = self._slots, self._state.gpu_tenants
        lists = [tenants[int(g)] for g in gpus[pos].tolist()]
        group = np.repeat(np.arange(pos.shape[0]), [len(t) for t in lists])
        slots = sl.job_slot[np.fromiter((j for t in lists for j in t), dtype=np.int64)]
        frac = sl.share_frac[slots]
        idle_w = self._gpu_idle_w[gpus[pos]]
        above_w = frac * (sl.power_w[slots] - idle_w[group])
        power[pos] = idle_w + np.bincount(group, weights=above_w, minlength=pos.shape[0])
        if activity is not None:
            busy = frac * sl.activity_frac(slots)
            activity[pos] = np.bincount(group, weights=busy, minlength=pos.shape[0])
        return pos

    def _shared_all(self, power: FloatArray, activity: FloatArray, act_all: FloatArray) -> None:
        """:meth:`_shared_power_activity` over every GPU, from the shared GPUs' tenant lists.

        The GPUs marked ``GPU_SHARED`` are the keys of ``gpu_tenants`` (a GPU is marked with
        its first tenant and freed with its last), so they are taken from there in ascending
        order instead of scanning every GPU; the tenants' busy shares are the slots' entries
        of ``act_all`` (:meth:`Slots.activity_frac_all`, the same values as
        :meth:`Slots.activity_frac`). The same values as the scan.
        """
        sl, tenants = self._slots, self._state.gpu_tenants
        gpus = sorted(tenants)
        lists = [tenants[g] for g in gpus]
        n = len(gpus)
        pos = np.array(gpus, dtype=np.int64)
        group = np.repeat(np.arange(n), [len(t) for t in lists])
        slots = sl.job_slot[np.fromiter((j for t in lists for j in t), dtype=np.int64)]
        frac = sl.share_frac[slots]
        idle_w = self._gpu_idle_w[pos]
        above_w = frac * (sl.power_w[slots] - idle_w[group])
        power[pos] = idle_w + np.bincount(group, weights=above_w, minlength=n)
        activity[pos] = np.bincount(group, weights=frac * act_all[slots], minlength=n)

    def power_w(self, gpus: IntArray) -> FloatArray:
        """Board power of each GPU now (W)."""
        hw = self._hw
        slot, held = self._slot_of(gpus)
        out = hw.sku_idle_w[hw.node_sku[hw.gpu_node[gpus]]].astype(np.float64)
        out[held] = self._slots.power_w[slot[held]]
        out[self._state.gpu_job[gpus] == GPU_DOWN] = 0.0
        if self._state.gpu_tenants:
            self._shared_power_activity(gpus, out, None)
        return out

    def power_die_activity(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Board power (W), steady die temperature (°C) and busy share of every GPU now.

        The three :meth:`snapshot` columns a time-weighted distribution needs, without the
        clock and shares (the in-loop facility samples them every few minutes); same values.
        When nothing they depend on changed since the last call (the versions of the slots,
        the allocation and the heat), the same arrays are returned again: read-only, never
        written (an array whose values change is replaced by a new one).
        """
        sl, heat = self._slots, self._heat
        job = self._state.gpu_job
        key = (sl.version, self._state.gpu_version, heat.version)
        last = self._pda
        if last is not None and key == self._pda_key:
            return last
        changed: IntArray | None = None  # GPUs whose power changed (None: any of them)
        if last is not None and self._pda_watch is not None:
            power, activity, changed = self._changed_gpus(last[0], last[2], job, self._pda_watch)
        else:
            power, activity = self._power_activity(job)
            self._pda_watch = sl.new_watch()
            self._pda_holder = job.copy()
        if self._pda_watch:
            self._pda_watch.clear()
        rack_inlet = heat.rack_inlet_temp_c
        counts = self._gpu_rack_counts
        inlet = rack_inlet[self._gpu_rack] if counts is None else rack_inlet.repeat(counts)
        if self._any_liquid:
            inlet = np.where(self._gpu_liquid, heat.liquid_supply_temp_c, inlet)
        r_k_per_w = self._gpu_r_k_per_w
        if heat.r_raised:
            if heat.rack_r_scale is not self._pda_r_scale or self._pda_r is None:
                self._pda_r = r_k_per_w * heat.rack_r_scale[self._gpu_rack]
                self._pda_r_scale = heat.rack_r_scale
            r_k_per_w = self._pda_r
        rp = self._pda_rp
        if changed is None or r_k_per_w is not self._pda_r_used:
            rp = self._pda_rp = r_k_per_w * power
        elif changed.shape[0]:
            rp[changed] = r_k_per_w[changed] * power[changed]
        self._pda_r_used = r_k_per_w
        die = np.add(inlet, rp, out=inlet)  # inlet: a fresh array
        for arr in (power, die, activity):
            arr.flags.writeable = False
        self._pda = (power, die, activity)
        self._pda_key = key
        return self._pda

    def _changed_gpus(
        self, power: FloatArray, activity: FloatArray, job: IntArray, watch: set[int]
    ) -> tuple[FloatArray, FloatArray, IntArray | None]:
        """Power and busy share now, computed only for the GPUs whose inputs changed.

        A GPU's power and busy share change only if its holder changed (start, end, failure,
        repair: ``gpu_job`` differs from the last call's) or a job on it changed its rates
        (the slots' watch: a start, a rate change, an end, the tenants left on a shared GPU).
        Those GPUs are computed as :meth:`_power_activity` computes them (the same values);
        the others keep theirs. An array whose values did not change is returned again (the
        histograms then skip it). The third item: the GPUs whose power may differ from the
        last call's (None: any GPU). The holders are brought up to date.
        """
        sl = self._slots
        holder = self._pda_holder
        changed = np.flatnonzero(job != holder)
        if changed.shape[0]:
            holder[changed] = job[changed]
        if watch:  # the union, ascending (a few GPUs: Python sets)
            union = set(changed.tolist())
            job_gpus = sl.job_gpus
            for j in watch:
                gpus = job_gpus[j]
                if gpus is not None:
                    union.update(gpus.tolist())
            changed = np.array(sorted(union), dtype=np.int64)
        n = changed.shape[0]
        if n == 0:
            return power, activity, changed
        if n * 4 > job.shape[0]:  # most GPUs: all of them at once
            return (*self._power_activity(job), None)
        if n <= FEW_GPUS:  # the common case: a few GPUs, one by one
            few_power, few_activity = self._few_power_activity(
                changed.tolist(), job[changed].tolist()
            )
            if power[changed].tolist() != few_power:
                power = power.copy()
                power[changed] = few_power
            if activity[changed].tolist() != few_activity:
                activity = activity.copy()
                activity[changed] = few_activity
            return power, activity, changed
        sub = job[changed]
        sub_power = self._gpu_idle_w[changed]
        sub_activity = np.zeros(n)
        held = np.flatnonzero(sub >= 0)
        if held.shape[0]:
            slot = sl.job_slot[sub[held]]
            sub_power[held] = sl.power_w[slot]
            sub_activity[held] = sl.activity_frac(slot)
        sub_power[sub == GPU_DOWN] = 0.0
        if self._state.gpu_tenants:
            self._shared_power_activity(changed, sub_power, sub_activity)
        if (power[changed] != sub_power).any():
            power = power.copy()
            power[changed] = sub_power
        if (activity[changed] != sub_activity).any():
            activity = activity.copy()
            activity[changed] = sub_activity
        return power, activity, changed

    def _few_power_activity(
        self, gpus: list[int], holders: list[int]
    ) -> tuple[list[float], list[float]]:
        """Board power and busy share of a few GPUs (held by ``holders``), in Python floats.

        What :meth:`_changed_gpus` computes with arrays, the same IEEE operations in the same
        order: a held GPU has its job's power and busy share; a shared GPU its idle power plus
        each tenant's share of that tenant's power above idle, and the share-weighted sum of
        the tenants' busy shares, each summed from 0 in tenant order (as ``np.bincount``
        sums); a free GPU its idle power, a GPU on a failed node nothing. The slots' columns
        are read in one gather for all of them.
        """
        sl, tenants = self._slots, self._state.gpu_tenants
        read: list[int] = []  # the jobs whose slots are read, in the order they are used
        for g, j in zip(gpus, holders, strict=True):
            if j >= 0:
                read.append(j)
            elif j == GPU_SHARED:
                read.extend(tenants.get(g, ()))
        slot_w: list[float] = []
        slot_act: list[float] = []
        slot_frac: list[float] = []
        if read:
            slots = sl.job_slot[np.array(read, dtype=np.int64)]
            slot_w = sl.power_w[slots].tolist()
            slot_act = sl.activity_frac(slots).tolist()
            slot_frac = sl.share_frac[slots].tolist()
        idle = self._gpu_idle_list
        power: list[float] = []
        activity: list[float] = []
        k = 0
        for g, j in zip(gpus, holders, strict=True):
            if j >= 0:
                power.append(slot_w[k])
                activity.append(slot_act[k])
                k += 1
            elif j == GPU_SHARED:
                idle_w = idle[g]
                above_w = busy = 0.0
                for _ in tenants.get(g, ()):
                    frac = slot_frac[k]
                    above_w += frac * (slot_w[k] - idle_w)
                    busy += frac * slot_act[k]
                    k += 1
                power.append(idle_w + above_w)
                activity.append(busy)
            else:  # free: idle; on a failed node: nothing
                power.append(0.0 if j == GPU_DOWN else idle[g])
                activity.append(0.0)
        return power, activity

    def _power_activity(self, job: IntArray) -> tuple[FloatArray, FloatArray]:
        """Board power and busy share of every GPU from the slots (see power_die_activity)."""
        sl = self._slots
        held = np.flatnonzero(job >= 0)
        power = self._gpu_idle_w.copy()
        activity = np.zeros(power.shape[0])
        act_all = sl.activity_frac_all() if sl.n else None
        if held.shape[0]:
            assert act_all is not None  # a held GPU has its job's slot
            slot = sl.job_slot[job[held]]
            power[held] = sl.power_w[slot]
            activity[held] = act_all[slot]
        if self._state.n_down_gpus:
            power[job == GPU_DOWN] = 0.0
        if self._state.gpu_tenants:
            assert act_all is not None  # a shared GPU has its tenants' slots
            self._shared_all(power, activity, act_all)
        return power, activity

    def snapshot(self, gpus: IntArray | None = None) -> GpuSnapshot:
        """Every observable of ``gpus`` (default: all GPUs) now."""
        hw, sl = self._hw, self._slots
        if gpus is None:
            gpus = np.arange(hw.layout.n_gpus)
        n = gpus.shape[0]
        job = self._state.gpu_job[gpus].copy()
        slot, held = self._slot_of(gpus)
        power = self.power_w(gpus)
        sku = hw.node_sku[hw.gpu_node[gpus]]
        r_k_per_w = hw.sku_r_k_per_w[sku] * self._heat.rack_r_scale[self._gpu_rack[gpus]]
        die = self._heat.gpu_inlet_c(gpus) + r_k_per_w * power
        activity = np.zeros(n)
        clock = np.ones(n)
        reasons = np.full(n, _IDLE, dtype=np.int64)
        shares = np.zeros((n, 7))
        if held.any():
            s = slot[held]
            act = sl.activity_frac(s)
            activity[held] = act
            shares[held] = sl.rate[s][:, SHARES]
            cap_w = sl.effective_cap_w(s)
            comp = sl.phase[s] == PHASE_COMPUTE
            j = sl.job[s]
            phi = np.ones(s.shape[0])
            for k in np.unique(sku[held]).tolist():
                pos = np.flatnonzero(sku[held] == k)
                phi[pos] = clock_frac_for_cap(
                    cap_w[pos], self._jobs.activity_frac[j[pos]], hw.layout.skus[k]
                )
            clock[held] = np.where(comp, phi, 1.0)
            bits = np.where(act > 0, 0, _IDLE)
            bits = bits | np.where(comp & (sl.s_cap[s] < 1.0), _POWER_CAP, 0)
            bits = bits | np.where(comp & (sl.s_thermal[s] < 1.0), _THERMAL, 0)
            hw_jobs, braked = self.hw_slowdown_jobs(), self.braked_jobs()
            if hw_jobs or braked:
                # nvml.h: HW slowdown (clocks cut ≥ 2×) with its cause, temperature or the
                # external power brake; a braked GPU's lower clock is the brake, not a SW cap
                jl = j.tolist()
                in_hw = np.fromiter((x in hw_jobs for x in jl), dtype=bool, count=len(jl))
                br = np.fromiter((x in braked for x in jl), dtype=bool, count=len(jl))
                bits = bits | np.where(comp & in_hw, _HW_THERMAL, 0)
                bits = np.where(comp & br, (bits & ~_POWER_CAP) | _HW_BRAKE, bits)
            reasons[held] = bits
        if self._state.gpu_tenants:
            pos = self._shared_power_activity(gpus, power, activity)
            for p, slots, frac in self._tenants(gpus, pos):
                shares[p] = frac @ sl.rate[slots][:, SHARES]
                reasons[p] = 0 if activity[p] > 0 else _IDLE
            die[pos] = self._heat.gpu_inlet_c(gpus[pos]) + r_k_per_w[pos] * power[pos]
        return GpuSnapshot(gpus, job, power, activity, die, clock, reasons, shares)
