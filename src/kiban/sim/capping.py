"""Power budgets enforced during the run: measured power over a threshold caps running jobs.

:class:`PowerBudget` holds the hall's power limits by level (rack, row PDU/busway, UPS, site
grid contract), each a set of groups of racks with a limit on their wall power, and acts the
way fleet controllers do (Facebook's Dynamo, Wu et al. ISCA 2016; Microsoft's POLCA, Patel et
al. ASPLOS 2024): when a group's measured power rises above the capping threshold (99 % of its
limit) the running jobs in it are capped, lowest priority first, until the group is at the
capping target (97 %); caps are released only when the group's *uncapped* demand falls below
the uncapping threshold (95 %), so a group does not flap. The decision itself is
:func:`kiban.physics.budget.allocate_caps`.

When it looks:

* at every settle (power only changes at events), a scalar/row-vector check of measured power
  against the thresholds: a group crossing its capping threshold is handled at once (a job start
  that pushes a row over its limit is capped in the same instant, as the millisecond-to-second
  controllers of real sites do at the resolution of this simulator);
* at every facility step, the full decision (also the release with hysteresis).

A cap is a per-GPU power limit (``nvidia-smi -pl``): the controller's per-GPU share of wall
power becomes the board cap whose phase-mix power gives that share
(:meth:`kiban.sim.tables.JobTables.at_cap`, bisection), never above the policy's own cap and
never below the GPU's minimum limit. The lost speed is booked by :class:`~kiban.sim.slots.Slots`
as ``power_cap`` (its share ``1 − s_cap``), so the ledger still sums to capacity.

It also applies the external power brake of servers whose PSUs cannot carry them after a
partial feed loss (:meth:`PowerBudget.set_brake`, from the in-loop facility): the jobs on those
nodes get the board cap that holds their compute phase at the HW-slowdown clock
(:data:`kiban.physics.facility_dynamics.POWER_BRAKE_CLOCK_FRAC`), whatever the budgets and
their enforcement say (it is hardware), until the brake is released; the lost speed is
``power_cap`` too.

It also measures, exactly between events: seconds in which a group's measured power was over
its limit (``power_budget_s_over``: what capping could not hold, e.g. floors above the limit),
the peak measured IT power, the peak uncapped demand and the capping events.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.physics.budget import (
    CAP_THRESHOLD_FRAC,
    BudgetLevel,
    PowerBudgetController,
)
from kiban.physics.facility_dynamics import POWER_BRAKE_CLOCK_FRAC, power_at_clock_w
from kiban.sim.constants import PHASE_COMPUTE

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.cluster import ClusterState
    from kiban.sim.heat import NodeHeat
    from kiban.sim.slots import Slots
    from kiban.sim.tables import RunInputs

__all__ = ["BISECTION_STEPS", "PowerBudget"]

BISECTION_STEPS = 24
"""Bisection steps for the board cap that gives a per-GPU power (range ≤ 1 kW: < 0.1 mW)."""


class PowerBudget:
    """Budget enforcement during the run (see the module docstring).

    Args:
        inputs: The run's static inputs.
        state: Reservations of rack GPU power move with the caps.
        slots: The running jobs it caps.
        heat: Measured rack and IT power.
        levels: Budget levels over racks (``group_of_server`` = group of each *rack*), bottom
            level first; an empty tuple measures the peak only.
        enforce: False measures seconds over budget without capping (the unenforced twin).
    """

    def __init__(
        self,
        inputs: RunInputs,
        state: ClusterState,
        slots: Slots,
        heat: NodeHeat,
        levels: tuple[BudgetLevel, ...] = (),
        *,
        enforce: bool = True,
    ) -> None:
        self._hw, self._jt, self._jobs = inputs.hw, inputs.jt, inputs.jobs
        self._state, self._slots, self._heat = state, slots, heat
        self.levels = tuple(lv for lv in levels if np.isfinite(lv.limit_w).any())
        self.enforce = enforce
        self._enforcing = bool(self.levels) and enforce
        lay = inputs.layout
        eta = np.array([s.psu_efficiency_frac for s in lay.servers])[lay.node_server_idx]
        self._node_eta: FloatArray = eta
        self._ctl = PowerBudgetController(self.levels)
        self._rack_groups = [np.asarray(lv.group_of_server, dtype=np.int64) for lv in self.levels]
        self._limits = [np.asarray(lv.limit_w, dtype=np.float64) for lv in self.levels]
        self._scalar = [lv.limit_w.size == 1 for lv in self.levels]
        self._identity = [
            bool(np.array_equal(g, np.arange(lay.n_racks))) for g in self._rack_groups
        ]
        self._thresholds()
        self.site_it_limit_min_w: float | None = None
        # jobs the budget holds below their policy's cap
        self._capped: set[int] = set()
        self._t_prev = 0.0
        self._over_prev = False
        self.s_over = 0.0
        self.peak_it_w = 0.0
        self.peak_demand_w = 0.0
        self.decisions = 0
        # external power brake (partial feed loss): nodes braked now, jobs held at their brake
        self._brake_node = np.zeros(lay.n_nodes, dtype=bool)
        self._brake_any = False
        self._brake_dirty = False
        self._braked_jobs: dict[int, float] = {}
        self.brake_events = 0

    def _thresholds(self) -> None:
        """The per-settle check: hall-wide levels against IT power (floats), others per group."""
        scalar_lim = [
            float(lim[0]) for lim, sc in zip(self._limits, self._scalar, strict=True) if sc
        ]
        low = min(scalar_lim, default=math.inf)
        self._scalar_w = (CAP_THRESHOLD_FRAC * low, low * (1.0 + 1e-9))
        self._vector = [
            (ident, grp, lim.size, (CAP_THRESHOLD_FRAC * lim, lim * (1.0 + 1e-9)))
            for grp, lim, sc, ident in zip(
                self._rack_groups, self._limits, self._scalar, self._identity, strict=True
            )
            if not sc
        ]
        # a level whose groups share one limit: its highest group against two floats
        self._uniform = [
            None
            if lims[0].size == 0 or np.any(lims[0] != lims[0][0])
            else (float(lims[0][0]), float(lims[1][0]))
            for _, _, _, lims in self._vector
        ]
        # every level that checks racks groups single racks: one changed rack is read alone
        self._per_rack = all(ident for ident, _, _, _ in self._vector)
        # _above's answers (both thresholds) hold for these thresholds and the heat's version
        # they were read at
        self._above_at = -1
        self._above_was = (False, False)

    def set_limit_w(self, name: str, limit_w: float) -> None:
        """A hall-wide level's limit on IT power changes now.

        E.g. the site's grid contract meters facility power, so it allows less IT power when
        cooling costs more (a hot afternoon).

        A level that is not in the budget (no such limit) is ignored.
        """
        for i, lv in enumerate(self.levels):
            if lv.name != name or not self._scalar[i]:
                continue
            value = max(float(limit_w), 0.0)
            if float(self._limits[i][0]) == value and (
                name != "site" or self.site_it_limit_min_w is not None
            ):
                continue  # the same limit: thresholds and the minimum stay as they are
            self._limits[i] = np.array([value])
            if name == "site":
                prev = self.site_it_limit_min_w
                low = float(self._limits[i][0])
                self.site_it_limit_min_w = low if prev is None else min(prev, low)
            self._thresholds()

    @property
    def braked_jobs(self) -> frozenset[int]:
        """Jobs held at the power brake now (NVML ``HW_SLOWDOWN | HW_POWER_BRAKE_SLOWDOWN``)."""
        return frozenset(self._braked_jobs)

    def set_brake(self, nodes: IntArray) -> None:
        """The nodes whose GPUs are power-braked from now on (replaces the previous set).

        Their jobs are re-capped at the next settle (:meth:`decide`).
        """
        new = np.zeros_like(self._brake_node)
        new[nodes] = True
        if np.array_equal(new, self._brake_node):
            return
        if (new & ~self._brake_node).any():
            self.brake_events += 1
        self._brake_node = new
        self._brake_any = bool(new.any())
        self._brake_dirty = True

    def _braked_slots(self, n: int) -> BoolArray:
        """Which of the first ``n`` slots run on a braked node (bool).

        A job spanning nodes is braked if any of them is: it waits for its slowest GPUs.
        """
        sl = self._slots
        node = sl.node[:n]
        on = np.where(node >= 0, self._brake_node[np.maximum(node, 0)], False)
        for i in np.flatnonzero(node < 0).tolist():
            nodes = sl.job_nodes[int(sl.job[i])]
            on[i] = nodes is not None and bool(self._brake_node[nodes].any())
        return on

    def _brake_unapplied(self) -> bool:
        """Whether a running job on a braked node is not (or no longer) held at its brake cap.

        E.g. it started there since the last decision, or a policy raised its cap.
        """
        sl = self._slots
        n = sl.n
        on = np.flatnonzero(self._braked_slots(n))
        for i in on.tolist():
            cap = self._braked_jobs.get(int(sl.job[i]))
            if cap is None or float(sl.cap_w[i]) > cap + 0.5:
                return True
        return False

    def _brake_caps(self, jobs: IntArray, sku: IntArray) -> FloatArray:
        """Board cap of each running slot under the brake (inf where not braked)."""
        n = jobs.shape[0]
        hard = np.full(n, np.inf)
        if not self._brake_any:
            self._braked_jobs = {}
            return hard
        on = self._braked_slots(n)
        for k in np.unique(sku[on]).tolist():
            pos = np.flatnonzero(on & (sku == k))
            j = jobs[pos]
            hard[pos] = power_at_clock_w(
                self._jobs.activity_frac[j],
                self._jt.power_factor[j],
                self._hw.layout.skus[k],
                POWER_BRAKE_CLOCK_FRAC,
            )
        return hard

    # --- measurement ------------------------------------------------------------------------------
    def _above(self, which: int) -> bool:
        """Whether a group's measured power is above its capping threshold (0) or limit (1).

        Power changes only at a settle's refresh: both answers are read at once and kept
        until it or the thresholds (:meth:`set_limit_w`) change. When no group was above
        either and one node's refresh since changed one rack, that rack alone is read.
        """
        heat = self._heat
        version = heat.version
        if self._above_at != version:
            if (
                self._above_at == version - 1
                and heat.changed_rack_version == version
                and self._per_rack
                and not self._above_was[0]
                and not self._above_was[1]
            ):
                self._above_was = self._above_rack(heat.changed_rack)
            else:
                self._above_was = self._above_now()
            self._above_at = version
        return self._above_was[which]

    def _above_rack(self, r: int) -> tuple[bool, bool]:
        """:meth:`_above_now` when only rack ``r`` changed since an answer of (False, False).

        Every other rack was at most at its thresholds and still is, so a level's highest
        rack is above a threshold exactly when rack ``r`` is (levels of single racks only).
        """
        heat = self._heat
        it_w = heat.it_power_w
        cap = it_w > self._scalar_w[0]
        over = it_w > self._scalar_w[1]
        if over or not self._vector:
            return cap, over
        p_r = float(heat.rack_power_w[r])
        for (_, _, _, lims), uniform in zip(self._vector, self._uniform, strict=True):
            if uniform is not None:
                cap = cap or p_r > uniform[0]
                over = p_r > uniform[1]
            else:
                cap = cap or bool(p_r > lims[0][r])
                over = bool(p_r > lims[1][r])
            if over:
                return True, True
        return cap, over

    def _above_now(self) -> tuple[bool, bool]:
        it_w = self._heat.it_power_w
        cap = it_w > self._scalar_w[0]
        over = it_w > self._scalar_w[1]
        if over or not self._vector:
            return cap, over
        rack_w = self._heat.rack_power_w
        for (ident, grp, n, lims), uniform in zip(self._vector, self._uniform, strict=True):
            p = rack_w if ident else np.bincount(grp, weights=rack_w, minlength=n)
            if uniform is not None:
                top = float(p[p.argmax()])  # the value p.max() gives (argmax is faster)
                cap = cap or top > uniform[0]
                over = top > uniform[1]
            else:
                cap = cap or bool((p > lims[0]).any())
                over = bool((p > lims[1]).any())
            if over:
                return True, True
        return cap, over

    def _book(self, t_s: float) -> None:
        """Book [t_prev, t) with the measured state that held since the last settle."""
        if self._over_prev:
            self.s_over += t_s - self._t_prev
        self._t_prev = t_s

    # --- the loop's calls -------------------------------------------------------------------------
    def decide(self, t_s: float, *, step: bool = False) -> bool:
        """After the physics of a settle: book, and cap if a group crossed its threshold.

        Args:
            t_s: Now.
            step: A facility step: decide in full (release with hysteresis included).

        Returns:
            True if caps changed (the caller redoes the physics, then calls :meth:`measure`).
        """
        if self._over_prev:  # _book, inlined (every settle)
            self.s_over += t_s - self._t_prev
        self._t_prev = t_s
        brake = self._brake_dirty or (self._brake_any and self._brake_unapplied())
        if not self._enforcing:
            if step:
                self.peak_demand_w = max(self.peak_demand_w, self._heat.it_power_w)
            return self._decide(t_s) if brake else False
        if brake or self._above(0) or (step and self._capped):
            return self._decide(t_s)
        return False

    def measure(self) -> None:
        """The settle's power is final: peak and whether a limit is exceeded until the next."""
        it_w, peak_w = self._heat.it_power_w, self.peak_it_w
        self.peak_it_w = it_w if it_w > peak_w else peak_w  # max() without the call
        if self.levels:
            self._over_prev = self._above(1)

    # --- the decision -----------------------------------------------------------------------------
    def _decide(self, t_s: float) -> bool:
        sl, hw, jt = self._slots, self._hw, self._jt
        self.decisions += 1
        n = sl.n
        # forget jobs that left
        self._capped = {j for j in self._capped if sl.job_slot[j] >= 0}
        idx = np.arange(n)
        jobs = sl.job[:n].copy()
        sku = sl.sku[:n]
        p_now = sl.power_w[:n].copy()
        # uncapped per-GPU power: the phase-mix power at the policy's own cap (a policy may
        # have changed it while the budget held the job lower)
        chosen = self._state.job_power_cap_w[jobs]
        pol_cap = np.where(np.isnan(chosen), hw.default_cap_w[sku], chosen)
        busy_pol = sl.busy_power_w[:n].copy()
        capped = pol_cap > sl.cap_w[:n] + 1e-9
        if capped.any():
            for k in np.unique(sku[capped]).tolist():
                sel = np.flatnonzero(capped & (sku == k))
                busy_pol[sel] = jt.at_cap(self._jobs, jobs[sel], k, pol_cap[sel])[0]
        a, b = self._avg_line(idx)
        hard = self._brake_caps(jobs, sku)
        self._brake_dirty = False
        if not (self.levels and self.enforce):  # only the brake
            return self._apply(idx, jobs, sku, pol_cap, a, b, np.full(n, np.inf), t_s, hard)
        u = a + b * np.minimum(busy_pol, sl.thermal_cap_w[:n])
        floor = a + b * np.minimum(
            np.minimum(busy_pol, hw.sku_min_cap_w[sku]), sl.thermal_cap_w[:n]
        )
        floor = np.minimum(floor, p_now)
        # pieces: (slot, node) with its GPUs; wall power = GPU power / η of the node's PSU
        piece_slot: list[int] = []
        piece_node: list[int] = []
        piece_n: list[int] = []
        for i in range(n):
            j = int(jobs[i])
            nodes, counts = sl.job_nodes[j], sl.job_node_counts[j]
            assert nodes is not None
            assert counts is not None
            piece_slot.extend([i] * nodes.shape[0])
            piece_node.extend(nodes.tolist())
            piece_n.extend(counts.tolist())
        ps = np.asarray(piece_slot, dtype=np.int64)
        pn = np.asarray(piece_node, dtype=np.int64)
        cnt = np.asarray(piece_n, dtype=np.float64)
        eta = self._node_eta[pn]
        rack = hw.node_rack[pn]
        d_w = cnt * u[ps] / eta
        f_w = cnt * floor[ps] / eta
        now_w = cnt * p_now[ps] / eta
        n_racks = hw.layout.n_racks
        background = self._heat.rack_power_w - np.bincount(rack, weights=now_w, minlength=n_racks)
        background = np.maximum(background, 0.0)
        pri = self._jobs.priority[jobs[ps]] if ps.size else np.zeros(0, dtype=np.int64)
        top = int(pri.max()) + 1 if pri.size else 1
        demand = np.concatenate([d_w, background])
        floor_w = np.concatenate([f_w, background])
        priority = np.concatenate([pri, np.full(n_racks, top, dtype=np.int64)])
        owner = np.concatenate([rack, np.arange(n_racks)])
        levels = tuple(
            BudgetLevel(lv.name, grp[owner], lim)
            for lv, grp, lim in zip(self.levels, self._rack_groups, self._limits, strict=True)
        )
        self._ctl.levels = levels
        allowed = self._ctl.step(demand, floor_w, priority, 0.0)
        self.peak_demand_w = max(self.peak_demand_w, self._ctl.peak_demand_w)
        # per-GPU allowed power of each slot: the tightest of its pieces
        allow_gpu = np.full(n, np.inf)
        np.minimum.at(allow_gpu, ps, allowed[: ps.size] * eta / cnt)
        release = allow_gpu >= u - 1e-6
        target = np.where(release, np.inf, allow_gpu)
        return self._apply(idx, jobs, sku, pol_cap, a, b, target, t_s, hard)

    def _avg_line(self, idx: IntArray) -> tuple[FloatArray, FloatArray]:
        """Per-GPU average power = a + b·busy (the slots' phase mix; see Slots.rate1)."""
        sl, hw = self._slots, self._hw
        comp = sl.phase[idx] == PHASE_COMPUTE
        c = np.where(comp, sl.ckpt_frac[idx], 0.0)
        s_c = sl.s_cap[idx] * sl.s_thermal[idx]
        s = np.minimum(s_c, sl.s_io[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            active = np.where(s_c > 0, s / s_c, 0.0)
        idle = hw.sku_idle_ctx_w[sl.sku[idx]]
        b = np.where(comp, (1.0 - c) * active, 0.0)
        return idle * (1.0 - b), b

    def _apply(  # noqa: PLR0917
        self,
        idx: IntArray,
        jobs: IntArray,
        sku: IntArray,
        pol_cap: FloatArray,
        a: FloatArray,
        b: FloatArray,
        target_gpu_w: FloatArray,
        t_s: float,
        hard_cap_w: FloatArray,
    ) -> bool:
        """Set each slot's board cap for its per-GPU power target (inf: the policy's cap).

        Never above ``hard_cap_w`` (the power brake's cap; inf: none).
        """
        sl, hw, jt, st = self._slots, self._hw, self._jt, self._state
        new_cap = pol_cap.copy()
        want = np.isfinite(target_gpu_w) & (b > 0)
        if want.any():
            busy_target = (target_gpu_w - a) / np.where(b > 0, b, 1.0)
            for k in np.unique(sku[want]).tolist():
                pos = np.flatnonzero(want & (sku == k))
                lo = np.full(pos.size, float(hw.sku_min_cap_w[k]))
                hi = pol_cap[pos].copy()
                goal = busy_target[pos]
                for _ in range(BISECTION_STEPS):
                    mid = 0.5 * (lo + hi)
                    p = jt.at_cap(self._jobs, jobs[pos], k, mid)[0]
                    ok = p <= goal
                    lo = np.where(ok, mid, lo)
                    hi = np.where(ok, hi, mid)
                new_cap[pos] = lo
        new_cap = np.minimum(new_cap, hard_cap_w)
        braked = np.isfinite(hard_cap_w)
        self._braked_jobs = {
            int(j): float(c) for j, c in zip(jobs[braked], new_cap[braked], strict=True)
        }
        changed = False
        for at in np.flatnonzero(np.abs(new_cap - sl.cap_w[idx]) > 0.5).tolist():
            i = int(idx[at])
            j = int(jobs[at])
            cap = float(new_cap[at])
            if cap < pol_cap[at] - 1e-9:
                self._capped.add(j)
            else:
                self._capped.discard(j)
            nodes, counts = sl.job_nodes[j], sl.job_node_counts[j]
            assert nodes is not None
            assert counts is not None
            st.reserve_more(hw.node_rack[nodes], counts, cap - float(sl.cap_w[i]))
            busy, s_cap = jt.at_cap(self._jobs, j, int(sku[at]), cap)
            sl.set_cap(i, t_s, cap_w=cap, busy_w=float(busy), s_cap=float(s_cap))
            changed = True
        return changed

    @property
    def capped_jobs(self) -> frozenset[int]:
        """Jobs the budget holds below their policy's cap now."""
        return frozenset(self._capped)

    def finish(self, t_s: float) -> dict[str, Any]:
        """Book the last interval and return the run's budget figures."""
        self._book(t_s)
        self.measure()
        self._over_prev = False
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """``power_budget_s_over``, ``power_budget_peak_w``, ``power_cap_events``, ..."""
        return {
            "power_budget_s_over": self.s_over,
            "power_budget_peak_w": self.peak_it_w,
            "power_budget_demand_peak_w": max(self.peak_demand_w, self.peak_it_w),
            "power_cap_events": self._ctl.events,
            "power_brake_events": self.brake_events,
            "power_budget_enforced": bool(self.enforce and self.levels),
            **(
                {}
                if self.site_it_limit_min_w is None
                else {"power_budget_site_it_limit_min_w": self.site_it_limit_min_w}
            ),
        }
