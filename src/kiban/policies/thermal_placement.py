"""Thermal-aware placement layers: ``xint`` (min peak inlet) and ``minhr`` (min heat recirculation).

* ``xint``: Tang, Gupta, Varsamopoulos, "Energy-Efficient Thermal-Aware Task Scheduling for
  Homogeneous High-Performance Computing Data Centers: A Cyber-Physical Approach", IEEE TPDS
  19(11), 2008 (XInt / MPIT-TA). Minimize the peak inlet ``max_i (T_sup + D p)_i`` after the
  job's power is added; ``reference/cooptimizer.md`` §3.1 measured the greedy "rack that
  minimizes the resulting peak" equal to a 10 s min-max MILP at kiban's sizes. A job spread
  over several nodes takes them one at a time, each on the rack that minimizes the peak with
  the job's power so far. Within the chosen rack the tightest node that fits is taken (packing
  keeps whole nodes free for large jobs); racks within ``tie_k`` of the best peak count as
  ties and go to the tighter fit.
* ``minhr``: Moore, Chase, Ranganathan, Sharma, "Making Scheduling 'Cool'", USENIX ATC 2005
  (MinHR, as reproduced by Tang et al. 2008, Algorithm 3). Each rack's heat recirculation
  factor ``HRF_r = 1 / Σ_i K_i D_ir`` (exact for the linear D model, §3.2; equal airflow K);
  power is spread in proportion to HRF: a job goes to the eligible rack furthest below its
  HRF share of the total power.

Both predict power with :class:`kiban.policies.facility_model.FacilityModel` (the job's power
per GPU at its cap) and read live rack power from the view; placements made earlier in the
same decision are added to it.

When the facility is in the loop (the model has the hall's air side), XInt's peak inlet is
the model's room prediction (:meth:`FacilityModel.predict_room`: Tang's ``D·p`` plus the
room above its set-point when the working units fall short and the exhaust an aisle's
airflow deficit pulls in, with the units that are down as the view shows them), so a job goes
to the aisle that can take its heat (after a CRAH failure: the one the remaining units serve
best). Both layers also hold work back that the room cannot cool: a placement is refused
(the job waits) when the model predicts some inlet above its servers' allowed inlet even at
the lowest allowed supply set-point (``hold_back``; never when nothing runs, so a job that
needs the whole room still starts).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.policies.facility_model import HOT_AISLE_RISE_K, FacilityModel
from kiban.policies.placement import NodePlacement, pick_gpus
from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.policies.base import Allocator, FreeState, PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["MinHR", "ThermalPlacement", "XInt"]

LOST_AISLE_PENALTY_K = 1000.0
"""Score added per kelvin that a placement warms an aisle already past its allowed inlet (K/K):
XInt's peak over the other aisles decides only among placements that leave it alone."""


class ThermalPlacement(NodePlacement):
    """Shared machinery: facility model, tentative rack power within one decision."""

    shape_determined = True

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            tie_k: Racks whose resulting peak inlet lies within this of the best (K) are ties,
                broken by the tightest fit.
            hold_back: Refuse placements the room cannot cool (see the module docstring).
        """

        tie_k: float = 0.1
        hold_back: bool = True

        def __post_init__(self) -> None:
            if not self.tie_k >= 0:
                msg = f"tie_k = {self.tie_k}: must be ≥ 0"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        super().__init__()
        self.params = params if params is not None else self.Params()
        self.model: FacilityModel | None = None
        self.coil_margin_frac = 0.0
        """Share of the working coils' capacity the hold-back keeps free while a cooling unit
        is down (:meth:`FacilityModel.held_inlet_c`); the layered stack sets
        :data:`~kiban.policies.facility_model.COIL_MARGIN_FRAC`, 0 elsewhere."""
        # the decision's tentative free state this placement has added power for: held (not
        # its id) so that a later decision's new state can never reuse its address and be
        # mistaken for it (an id() check made runs depend on the allocator's address reuse)
        self._free: FreeState | None = None
        self._t = math.nan
        self._extra_w: FloatArray = np.zeros(0)

    def reset(self, ctx: PolicyContext) -> None:
        """Build the facility model."""
        super().reset(ctx)
        self.model = FacilityModel(ctx)
        m = self.model
        every = np.arange(ctx.jobs.n_jobs)
        self._gpu_w_tdp: FloatArray = m.gpu_power_w(every, m.job_tdp_w)
        """Board power per GPU of each job at its TDP cap (W; elementwise, so the values one
        job at a time gives)."""
        self._wall_w_tdp: FloatArray = m.busy_gpu_wall_w(every, self._gpu_w_tdp)
        """Wall power a busy GPU of each job adds uncapped (W)."""
        self._free = None
        self._t = math.nan
        self._extra_w = np.zeros(ctx.layout.n_racks)
        self._setpoint_c = math.nan
        self._failed: BoolArray | None = None
        self._inlet_now: FloatArray = np.zeros(ctx.layout.n_racks)
        self._supply_now_c = math.nan
        self._at_risk = False
        self._lost: BoolArray = np.zeros(ctx.layout.n_racks, dtype=bool)

    def _room_args(self, view: ClusterView) -> None:
        """What the room prediction needs from the view this decision."""
        self._setpoint_c = float(getattr(view, "supply_setpoint_c", view.supply_temp_c))
        self._failed = getattr(view, "cooling_units_failed", None)
        self._inlet_now = np.asarray(view.rack_inlet_temp_c, dtype=np.float64)
        self._supply_now_c = float(view.supply_temp_c)
        m = self.model
        self._at_risk = bool(
            m is not None and m.hall is not None and self.params.hold_back and m.room_at_risk(view)
        )
        self._lost = (
            m.hot_aisle_racks(self._inlet_now, m.allowed_inlet_c)
            if self._at_risk and m is not None
            else np.zeros(self._inlet_now.shape[0], dtype=bool)
        )

    def _room_refuses(self, view: ClusterView, p_w: FloatArray) -> bool:
        """Whether the room cannot cool rack power ``p_w`` even at the lowest set-point."""
        m = self.model
        if m is None or not self.params.hold_back or m.hall is None:
            return False
        if view.n_running == 0 and not self._extra_w.any() and not self._lost.any():
            return False  # an idle hall runs what it is given (not into an aisle that ran away)
        if m.room_is_linear(self._failed):  # Tang's room: the hottest inlet at the lowest supply
            lo = m.supply_range_c[0]
            return bool((m.inlet_temp_c(lo, p_w) > m.allowed_inlet_c + 1e-9).any())
        room = (self._failed, self._inlet_now, self._supply_now_c)
        lowest = m.supply_range_c[0]
        room_c, inlet = m.predict_inlets_c(lowest, p_w, *room)
        margin = self.coil_margin_frac
        inlet = m.held_c(room_c, inlet, lowest, self._failed, p_w, coil_margin_frac=margin)
        limit = m.allowed_inlet_c + 1e-9
        lost = self._lost
        if lost.any():  # an aisle past its allowed inlet now: it must not warm further
            base = np.asarray(view.rack_power_w, dtype=np.float64)
            before = m.predict_room(m.supply_range_c[0], base, *room).inlet_c
            limit = np.where(lost, np.maximum(before, limit) + HOT_AISLE_RISE_K, limit)
        return bool((inlet > limit).any())

    def _rack_power_w(self, view: ClusterView, free: FreeState) -> FloatArray:
        """Live rack power plus what this decision placed so far."""
        if free is not self._free or view.time_s != self._t:
            self._free, self._t = free, view.time_s
            self._extra_w = np.zeros(view.layout.n_racks)
            self._room_args(view)
        return np.asarray(view.rack_power_w, dtype=np.float64) + self._extra_w

    def _job_gpu_w(self, view: ClusterView, job: int) -> float:
        """Rack power one GPU of ``job`` adds (W).

        Its board power at its cap; while the room is at risk (a unit down or an inlet above
        the redline), the wall power a busy GPU adds uncapped (the power layer sets a start's
        cap afterwards; :meth:`FacilityModel.busy_gpu_wall_w`:
        with its host's share, fans and PSU loss: a third more on DGX H100 at 600 W), so that the
        room prediction that holds work back sees the heat the twin will carry.
        """
        assert self.model is not None
        m = self.model
        if self._at_risk:  # uncapped: a suspended job's last cap is no promise for its start
            return float(self._wall_w_tdp[job])
        cap = float(view.job_power_cap_w[job])
        if math.isnan(cap):  # uncapped: at its TDP (computed once for every job)
            return float(self._gpu_w_tdp[job])
        return float(m.gpu_power_w(np.array([job]), cap)[0])

    @abstractmethod
    def _rack_score(self, p_w: FloatArray, add_w: float, racks: IntArray) -> FloatArray:
        """Score of adding ``add_w`` to each of ``racks`` (lower is better)."""

    def place(self, view: ClusterView, job: int, free: FreeState) -> IntArray | None:
        """GPUs for ``job``: nodes on the racks with the best score, tightest fit within."""
        jobs = view.jobs
        return self._place_n(view, job, free, int(jobs.num_gpus[job]), int(jobs.gpus_per_node[job]))

    def place_count_held(
        self, view: ClusterView, job: int, free: FreeState, n: int
    ) -> IntArray | None:
        """``n`` GPUs for an elastic ``job`` on any split, by the thermal score, or None.

        As :meth:`place` at a chosen count (the elastic layer's configuration): nodes on the
        racks with the best score, and refused when the room cannot cool the job
        (``hold_back``). The plain ``place_count`` (packing, no room check) stays as it was for
        the layers that place elastic jobs by packing.
        """
        return self._place_n(view, job, free, int(n), 0)

    def room_new_gpus(self, view: ClusterView, alloc: Allocator, jobs: IntArray) -> int | None:
        """Busy GPUs more that the room takes now, while it is at risk (None: no limit).

        At risk: a cooling unit is down or a measured inlet is above the redline
        (:meth:`FacilityModel.room_at_risk`), in a room that is not Tang's linear one with the
        units that work now. Then :meth:`FacilityModel.room_new_gpus` with the wall power of a
        busy GPU of the median job of ``jobs`` (the candidates; uncapped, as placement
        predicts them). A scheduling layer that decides GPU counts for many jobs at once (the
        elastic layer) keeps its total within the GPUs running now plus this.
        """
        m = self.model
        if m is None or not self.params.hold_back or m.hall is None:
            return None
        if not m.room_at_risk(view):
            return None
        failed = getattr(view, "cooling_units_failed", None)
        if m.room_is_linear(failed):
            return None
        lay = view.layout
        node_free = alloc.free.node_free.astype(np.float64)
        rack_free = np.bincount(lay.node_rack_idx, weights=node_free, minlength=lay.n_racks)
        if jobs.shape[0] == 0:
            return m.room_new_gpus(view, rack_free, 0.0)
        j = np.asarray(jobs, dtype=np.int64)
        per = m.busy_gpu_wall_w(j, m.gpu_power_w(j, m.job_tdp_w[j]))
        return m.room_new_gpus(view, rack_free, float(np.median(per)))

    def _place_n(
        self, view: ClusterView, job: int, free: FreeState, n: int, g: int
    ) -> IntArray | None:
        """``n`` GPUs for ``job`` (``g`` per node, 0: any split); see :meth:`place`."""
        lay = view.layout
        p = self._rack_power_w(view, free)
        per_gpu_w = self._job_gpu_w(view, job)
        if g > 0 or n <= lay.max_node_gpus:
            per_node = g if g > 0 else n
            m = n // per_node
            ok = self._eligible(view, job, free, per_node)
            cand = np.flatnonzero(ok)
            if cand.shape[0] < m:
                return None
            chosen: list[int] = []
            p_try = p.copy()
            avail = np.ones(cand.shape[0], dtype=bool)
            for _ in range(m):
                node = self._best_node(cand[avail], p_try, per_node * per_gpu_w, free)
                chosen.append(node)
                avail[np.searchsorted(cand, node)] = False
                p_try[lay.node_rack_idx[node]] += per_node * per_gpu_w
            nodes = np.asarray(chosen, dtype=np.int64)
            counts = np.full(m, per_node, dtype=np.int64)
        else:
            cand = np.flatnonzero(self._eligible(view, job, free, 1))
            if cand.shape[0] == 0 or int(free.node_free[cand].sum()) < n:
                return None
            left = n
            chosen, cnt = [], []
            p_try = p.copy()
            avail = np.ones(cand.shape[0], dtype=bool)
            while left > 0:
                # prefer whole free nodes first (fewest nodes), scored thermally
                fr = free.node_free[cand[avail]]
                big = cand[avail][fr >= min(left, int(fr.max()))]
                take_node = self._best_node(big, p_try, min(left, int(fr.max())) * per_gpu_w, free)
                k = min(left, int(free.node_free[take_node]))
                chosen.append(take_node)
                cnt.append(k)
                avail[np.searchsorted(cand, take_node)] = False
                p_try[lay.node_rack_idx[take_node]] += k * per_gpu_w
                left -= k
            nodes = np.asarray(chosen, dtype=np.int64)
            counts = np.asarray(cnt, dtype=np.int64)
        if self._room_refuses(view, p_try):
            return None
        self._extra_w = p_try - np.asarray(view.rack_power_w, dtype=np.float64)
        return pick_gpus(free, view, nodes, counts)

    def _best_node(self, cand: IntArray, p_w: FloatArray, add_w: float, free: FreeState) -> int:
        lay = self.model.layout if self.model is not None else None
        assert lay is not None
        rack_of = lay.node_rack_idx[cand]
        mark = np.zeros(lay.n_racks, dtype=bool)
        mark[rack_of] = True
        racks = np.flatnonzero(mark)  # the candidates' racks, sorted
        score = self._rack_score(p_w, add_w, racks)
        best = float(score.min())
        mark[racks] = score <= best + self.params.tie_k  # now: the tied racks
        c = cand[mark[rack_of]]
        # tightest fit among the tied racks, then the lowest-numbered node
        return int(c[np.argmin(free.node_free[c])])

    # unused hooks of NodePlacement (place() is overridden)
    def _order_single(self, cand: IntArray, free: FreeState) -> int:
        return int(cand[0])

    def _order_many(self, cand: IntArray, free: FreeState, m: int) -> IntArray:
        return cand


@register_policy("placement", "xint")
class XInt(ThermalPlacement):
    """Min peak inlet (Tang et al. 2008, XInt greedy): see the module docstring."""

    def _rack_score(self, p_w: FloatArray, add_w: float, racks: IntArray) -> FloatArray:
        assert self.model is not None
        m = self.model
        if not m.room_is_linear(self._failed):  # the room as the twin runs it
            # the peak over the aisles that can still be held (an aisle past its allowed
            # inlet after a runaway says nothing about where new work goes best)
            lost = self._lost
            keep = ~lost if not lost.all() else np.ones_like(lost)
            # every candidate's room prediction at once (FacilityModel.predict_inlets_adding_c:
            # the current inlets plus one column of D where that is the exact prediction)
            sp, failed, now, sup = (
                self._setpoint_c,
                self._failed,
                self._inlet_now,
                self._supply_now_c,
            )
            if not lost.any():
                return m.peak_inlet_adding_c(
                    sp, p_w, racks, add_w, units_failed=failed, inlet_now_c=now, supply_now_c=sup
                )
            inlet = m.predict_inlets_adding_c(
                sp, p_w, racks, add_w, units_failed=failed, inlet_now_c=now, supply_now_c=sup
            )
            before = m.predict_room(sp, p_w, failed, now, sup).inlet_c
            out = np.asarray(inlet[:, keep].max(axis=1), dtype=np.float64)
            # warming a lost aisle ranks behind any other choice
            warm = (inlet[:, lost] - before[lost]).max(axis=1) - HOT_AISLE_RISE_K
            return np.asarray(out + LOST_AISLE_PENALTY_K * np.maximum(warm, 0.0), np.float64)
        return m.peak_rise_adding_k(p_w, racks, add_w)


@register_policy("placement", "minhr")
class MinHR(ThermalPlacement):
    """Min heat recirculation (Moore et al. 2005, MinHR-m): see the module docstring."""

    def reset(self, ctx: PolicyContext) -> None:
        """Build the model and the heat recirculation factors."""
        super().reset(ctx)
        assert self.model is not None
        col = self.model.d_k_per_w.sum(axis=0)
        with np.errstate(divide="ignore"):
            hrf = np.where(col > 0, 1.0 / np.where(col > 0, col, 1.0), 0.0)
        if not (hrf > 0).any():
            hrf = np.ones_like(col)
        hrf[hrf == 0] = hrf.max()  # a rack that recirculates nothing takes the most
        self.hrf_share: FloatArray = hrf / hrf.sum()

    def _rack_score(self, p_w: FloatArray, add_w: float, racks: IntArray) -> FloatArray:
        total = float(p_w.sum()) + add_w
        target = self.hrf_share[racks] * total
        return np.asarray((p_w[racks] + add_w - target) / max(total, 1.0) * 100.0, float)


# --- the same rules on a bare room (no simulator): Tang's experiment ---------------------------


def assign_power_units(  # noqa: PLR0917 - the experiment's inputs, in Tang's order
    rule: str,
    d_k_per_w: FloatArray,
    base_w: FloatArray,
    unit_w: float,
    n_units: int,
    capacity_units: IntArray,
) -> IntArray:
    """Spread ``n_units`` equal loads over racks by one placement rule (Tang et al. 2008, §6).

    Args:
        rule: ``xint`` (greedy min peak inlet), ``minhr`` (HRF shares, Moore et al. 2005),
            ``mce`` (coolest inlet first: Tang's MCE, the intuition-based baseline) or
            ``uniform`` (the same share everywhere: Tang's UT).
        d_k_per_w: Heat-distribution matrix D (K/W).
        base_w: Power already in each rack (idle), W.
        unit_w: Extra power of one load (W).
        n_units: Loads to place.
        capacity_units: Most loads each rack takes.

    Returns:
        Loads per rack.
    """
    n = base_w.shape[0]
    count = np.zeros(n, dtype=np.int64)
    p = base_w.astype(np.float64).copy()
    col = d_k_per_w.sum(axis=0)
    hrf = np.where(col > 0, 1.0 / np.where(col > 0, col, 1.0), 0.0)
    hrf = hrf / hrf.sum() if hrf.sum() > 0 else np.full(n, 1.0 / n)
    if rule == "uniform":
        share = n_units * capacity_units / max(int(capacity_units.sum()), 1)
        count = np.floor(share).astype(np.int64)
        rest = n_units - int(count.sum())
        for r in np.argsort(-(share - count), kind="stable")[:rest].tolist():
            count[r] += 1
        return count
    for _ in range(n_units):
        ok = np.flatnonzero(count < capacity_units)
        if ok.shape[0] == 0:
            break
        if rule == "xint":
            base = d_k_per_w @ p
            score = (base[:, None] + d_k_per_w[:, ok] * unit_w).max(axis=0)
        elif rule == "minhr":
            total = float(p.sum()) + unit_w
            score = p[ok] + unit_w - hrf[ok] * total
        elif rule == "mce":
            score = (d_k_per_w @ p)[ok]
        else:
            msg = f"rule = {rule!r}: allowed xint, minhr, mce, uniform"
            raise ValueError(msg)
        r = int(ok[np.argmin(score)])
        count[r] += 1
        p[r] += unit_w
    return count
