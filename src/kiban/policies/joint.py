"""Co-optimizer policies: the layered stack with switches, and the joint mode J-DEC.

``coopt-layers`` (``reference/cooptimizer.md`` §10.3): one :class:`LayeredPolicy` with a
switch per layer, each on = its published algorithm, off = the static baseline —

| switch | off | on |
|---|---|---|
| ``order`` | ``easy-backfill`` | ``tiresias-las`` (2D-LAS) |
| ``elastic`` | requested GPUs, rigid | ``sia`` (goodput ILP over GPU counts, 60 s rounds) |
| ``thermal`` | ``best-fit`` (pack) | ``xint`` (min peak inlet) |
| ``power`` | uncapped, POLCA net | ``water-filling`` (+ Zeus cost when slack, POLCA net) |
| ``data`` | equal shares | ``silod`` |
| ``cooling`` | fixed set-point | ``model-based`` (or ``trim-and-respond``) |

All on is the *sequential* stack of §11.3: each layer decides alone, in order.

``j-dec`` (§10.4): per epoch one decision for everything, in four stages —

A. **allocation MILP** (HiGHS through highspy, else :func:`scipy.optimize.milp`): one binary
   per job option (cap level × I/O operating point, × GPU count for an elastic job: a waiting
   one at any of Sia's counts that fit, a running one at its count or, a resize, another of
   Sia's counts up to its GPUs plus the free ones, its new work at Pollux's re-allocation
   factor for the restart; running jobs are pinned to one option, pending jobs in the window
   may stay waiting) and per-option cache variables, for each supply-temperature candidate;
   subject to free GPUs with shape cuts, the site budget at the candidate's facility power,
   the thermal headroom at the candidate (an LP bound on new rack power,
   :meth:`FacilityModel.thermal_headroom_w`), its chip limit, the shared file system's
   bandwidth and the total cache. Objective: LAS-weighted useful work minus a price on
   facility energy (cooling at the candidate's COP) minus the previous epoch's rack heat
   prices. One MILP per candidate with that candidate's rows (no candidate binary, no big M:
   the relaxation stays within a few % of the optimum), best LP bound first, a candidate whose
   bound cannot beat the best solution by the 1 % gap left unsolved; options another option
   of the same job dominates are left out. Scaled for HiGHS (cache as a share of each dataset,
   power in kW, bandwidth in GB/s, cache in TB), the rows no choice can break left out;
B. **placement**: the chosen jobs in decreasing power, each by XInt (min peak inlet);
C. **power/thermal LP** (HiGHS through :func:`scipy.optimize.linprog`) with placement fixed:
   continuous per-job GPU power (the speed-vs-power curve as its concave piecewise-linear
   envelope), the site budget and every rack inlet through D; the inlet duals give each rack's
   heat price ``π_r = Σ_i μ_i D_ir``, fed back into stage A at the next epoch;
D. **supply set-point**: the highest safe supply for the predicted rack power (Tang eq. 7 with
   the chip limit), with a 1-D search over facility power.

Between epochs (arrivals, completions) jobs start through the layered fallback (2D-LAS order,
XInt placement) at the option stage A last chose for them, and a 2D-LAS preemption stands only
when a start of the same decision takes the GPUs it frees (no checkpoint for idle GPUs); the
fallback also runs the whole epoch when stage A finds no solution (counted in
:attr:`EpochStats.fallbacks`).
The decision takes effect ``decision_delay_s`` after the epoch (default: stage A's decision
time ``time_limit_s``; ``charge_measured = true`` charges the measured solve time instead,
which makes runs depend on the machine), so the solver gets no free foresight. Solves are
deterministic: HiGHS runs with ``random_seed`` 0 and stops at a relative gap of
1 % or its node limit, whichever comes first; its wall-clock limit
(``safety_time_limit_s``, 120 s) is only a safety net, and an epoch it stops is counted
(:attr:`EpochStats.time_limit_hits`) and logged, because that decision depends on the machine.

With a cooling unit down or an inlet above the redline (the view's alarms and inlets), the
stages use the facility model's room (:meth:`FacilityModel.predict_room`: the aisles'
airflow deficit, the room air above the set-point when the working units fall short):
stage A's thermal headroom at each supply candidate (and the lowest set-point as a candidate
while a unit is down), stage C's inlet rows (linearized at the rack power now), stage D's
set-point (lowered between epochs too); a unit alarm starts an epoch at once, and the power
layer's thermal caps and load shedding (:class:`WaterFilling`, ``thermal``) with J-DEC's
room guard are the safety net on every decision.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.physics.cooling import crac_cop
from kiban.policies.base import Allocator, Decision, Schedule
from kiban.policies.cooling import FixedSetpoint
from kiban.policies.cooling_control import ModelBasedSupply, TrimAndRespond
from kiban.policies.data import EqualShare
from kiban.policies.data_silod import SiloD
from kiban.policies.elastic import (
    SiaElastic,
    job_gpu_options,
    place_at_counts,
    reallocation_factor,
    resize_counts,
    resize_penalty_s,
    resize_running,
)
from kiban.policies.facility_model import FacilityModel
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import BestFit
from kiban.policies.power_budget import Polca, WaterFilling, measured_power_scale
from kiban.policies.registry import register_policy
from kiban.policies.scheduling import EasyBackfill, TiresiasLas
from kiban.policies.scheduling import needed_preemptions as _needed_preemptions
from kiban.policies.thermal_placement import XInt
from kiban.vocabulary import GPU_SHARED

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from numpy.typing import ArrayLike

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.policies.base import PolicyContext, SchedulingPolicy
    from kiban.sim.state import ClusterView

__all__ = ["CooptLayers", "EpochStats", "JDec"]

logger = logging.getLogger(__name__)

W_PER_KW = 1000.0
CAP_LEVELS_FRAC = (1.0, 0.85, 0.7, 0.55)
"""Cap levels of stage A as shares of TDP (§10.4: 4–6 levels)."""
IO_POINTS_FRAC = (1.0, 0.75)
"""I/O operating points φ: full compute speed, or deliberately I/O-bound at 75 %."""
START_VALUE = 10.0
"""Value of starting a job, per GPU, on top of its work: stage A never leaves a GPU idle to
save energy while a job waits (the Sia/Pollux convention: every job that fits is scheduled)."""
MIP_REL_GAP = 0.01
"""Stage A stops at a 1 % relative gap (one start of ≈ 5 GPUs on a 512-GPU cluster)."""
OVER_LIMIT_PRICE_PER_W = 0.1
"""Stage A's price of a watt over the site budget or the thermal headroom: above the value of
any start (START_VALUE + work per GPU ≈ 12 for ≈ 900 W of GPU and host power)."""
HOST_SHARE_OF_GPU_POWER = 0.3
"""Host power added per watt of GPU power for the facility terms of stage A (DGX H100: about
3 kW host for 5.6 kW of GPUs at TDP, physics.md §1.2)."""


@register_policy("policy", "coopt-layers")
class CooptLayers(LayeredPolicy):
    """The layered co-optimizer with one switch per layer (see the module docstring)."""

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            order: Tiresias 2D-LAS instead of EASY backfill.
            elastic: Sia's goodput ILP over GPU counts (60 s rounds) as the scheduling layer;
                it decides order too, so ``order`` has no effect while it is on. Off by
                default (the stack before the elastic layer existed).
            thermal: XInt placement instead of best fit.
            power: Water-filling caps (Zeus cost when slack) instead of uncapped.
            data: SiloD cache and bandwidth instead of equal shares.
            cooling: Model-based supply temperature instead of the fixed set-point.
            cooling_mode: ``model-based`` or ``trim-and-respond`` (when ``cooling``).
            site_budget_kw: Site budget for the power layer (kW; 0 = the scenario's).
            energy_weight: Zeus's η of the power layer.
            epoch_s: Period of the extra calls that the cooling layer needs (s).
            queue_order: The order layer's order inside a 2D-LAS queue
                (``TiresiasLas.Params.queue_order``: ``running-first`` or ``arrival``).
        """

        order: bool = True
        elastic: bool = False
        thermal: bool = True
        power: bool = True
        data: bool = True
        cooling: bool = True
        cooling_mode: str = "model-based"
        site_budget_kw: float = 0.0
        energy_weight: float = 0.5
        epoch_s: float = 300.0
        queue_order: str = "running-first"

        def __post_init__(self) -> None:
            if self.queue_order not in ("running-first", "arrival"):
                msg = f"queue_order = {self.queue_order!r}: allowed running-first, arrival"
                raise ValueError(msg)
            if self.cooling_mode not in ("model-based", "trim-and-respond"):
                msg = f"cooling_mode = {self.cooling_mode!r}: allowed model-based, trim-and-respond"
                raise ValueError(msg)
            if self.epoch_s <= 0:
                msg = f"epoch_s = {self.epoch_s}: must be > 0"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        p = params if params is not None else self.Params()
        self.params = p
        cooling: object
        if not p.cooling:
            cooling = FixedSetpoint()
        elif p.cooling_mode == "model-based":
            cooling = ModelBasedSupply()
        else:
            cooling = TrimAndRespond()
        power: object = (
            WaterFilling(
                WaterFilling.Params(site_budget_kw=p.site_budget_kw, energy_weight=p.energy_weight)
            )
            if p.power
            else Polca(Polca.Params(site_budget_kw=p.site_budget_kw))  # the safety net only
        )
        super().__init__(
            "coopt-layers",
            scheduling=_scheduling_layer(p.order, elastic=p.elastic, queue_order=p.queue_order),
            placement=XInt() if p.thermal else BestFit(),
            power=power,  # type: ignore[arg-type]
            cooling=cooling,
            data=SiloD() if p.data else EqualShare(),
            epoch_s=p.epoch_s if p.cooling else None,
        )


def _scheduling_layer(order: bool, *, elastic: bool, queue_order: str) -> SchedulingPolicy:
    """The order layer, or Sia's elastic layer (which decides order itself) when it is on."""
    if elastic:
        return SiaElastic()
    return TiresiasLas(TiresiasLas.Params(queue_order=queue_order)) if order else EasyBackfill()


class _ThermalNet(WaterFilling):
    """The power layer's thermal caps and load shedding, as J-DEC's safety net.

    Only the thermal part of :class:`WaterFilling` (no budget water-filling, no Zeus caps,
    no POLCA: J-DEC decides those itself): with a cooling unit down or an inlet above the
    redline, the GPUs in the aisles the facility model predicts above the servers' allowed
    inlet are capped to what the room takes; when minimum caps at the lowest set-point are
    not enough, jobs are held back or suspended (:attr:`shed`).
    """

    def __init__(self) -> None:
        super().__init__(WaterFilling.Params(energy_weight=0.0, safety=False, thermal=True))

    def limit(
        self,
        view: ClusterView,
        jobs: IntArray,
        n_gpus: IntArray,
        caps: FloatArray,
        starting: Mapping[int, IntArray],
    ) -> FloatArray:
        """The caps the room allows (``jobs``: the running ones first, then ``starting``)."""
        self.shed = frozenset()
        return self._thermal_caps(view, jobs, n_gpus, caps, starting)


def _inlet_rows(
    model: FacilityModel, view: ClusterView, rack_w: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Stage C's inlet rows: ``d @ Δp_rack ≤ limit`` (K per W of rack power; K).

    Tang's room (linear with the units that work now): ``d`` is D times each rack's air share
    and the limit is the redline less δ_in, the set-point now and ``D·p`` now. Otherwise the
    facility model's room (:meth:`FacilityModel.predict_room`), linearized at the rack power
    now: the limit is each rack's inlet limit less its predicted inlet and ``d`` the secant
    of the predicted inlets over a step of 5 % of each rack's maximum power (the airflow
    deficit makes a rack's heat reach its aisle's inlets far beyond D). With a unit down the
    room is evaluated at the lowest set-point: stage D then chooses the set-point for the
    rack power stage C leaves (the cooling does what it can before work is capped).
    """
    m = model
    failed = view.cooling_units_failed
    if m.hall is None or m.room_is_linear(failed):
        d = m.d_k_per_w * m.rack_air_frac[None, :]
        limit = m.redline_c - m.inlet_margin_k - view.supply_temp_c - m.inlet_rise_k(rack_w)
        return d, limit
    supply = m.supply_range_c[0] if _units_down(view) else float(view.supply_setpoint_c)
    room = (failed, view.rack_inlet_temp_c, view.supply_temp_c)
    base = m.predict_room(supply, rack_w, *room).inlet_c
    step = np.maximum(0.05 * m.rack_max_w, 100.0)
    d = np.empty((rack_w.shape[0], rack_w.shape[0]))
    for r in range(rack_w.shape[0]):
        p = rack_w.copy()
        p[r] += step[r]
        d[:, r] = (m.predict_room(supply, p, *room).inlet_c - base) / step[r]
    return np.maximum(d, 0.0), m.inlet_limit_c - base


def _coolest(a: float | None, b: float | None) -> float | None:
    """The lower of two set-points (None: no change asked)."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def _room_at_risk(model: FacilityModel, view: ClusterView) -> bool:
    """A cooling unit is down or an inlet is above the redline (the net's trigger)."""
    failed = view.cooling_units_failed
    if failed is not None and bool(np.any(failed)):
        return True
    return float(np.max(view.rack_inlet_temp_c, initial=-math.inf)) > model.redline_c


def _units_down(view: ClusterView) -> bool:
    failed = view.cooling_units_failed
    return failed is not None and bool(np.any(failed))


def _room_headroom_w(
    model: FacilityModel,
    view: ClusterView,
    supply_c: float,
    rack_w: FloatArray,
    new_max_w: ArrayLike,
) -> float:
    """New rack power the room takes at a set-point (W; negative: power that must go).

    A room that is Tang's ``T_sup + D·p`` with the units that work now (no airflow deficit,
    coils not short) is :meth:`FacilityModel.thermal_headroom_w` (the LP bound). Otherwise
    the facility model's room (:meth:`FacilityModel.predict_room`: the units' alarms, the
    aisles' airflow deficit, the room air above the set-point when the coils fall short),
    along one direction: the free GPUs' racks filled in proportion to ``new_max_w`` while
    every inlet stays within :attr:`FacilityModel.inlet_limit_c`; if the room is over its
    limit already, the share of the rack power now that must go (all racks alike).
    Bisection on 12 steps (0.02 % of the range).
    """
    failed = view.cooling_units_failed
    if model.room_is_linear(failed):
        return model.thermal_headroom_w(supply_c, rack_w, new_max_w)
    limit = model.inlet_limit_c + 1e-9
    room = (failed, view.rack_inlet_temp_c, view.supply_temp_c)

    def ok(p: FloatArray) -> bool:
        return bool((model.predict_room(supply_c, p, *room).inlet_c <= limit).all())

    qmax = np.maximum(np.asarray(new_max_w, dtype=np.float64), 0.0)
    if ok(rack_w):
        if ok(rack_w + qmax):
            return float(qmax.sum())
        lo, hi = 0.0, 1.0
        for _ in range(12):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ok(rack_w + mid * qmax) else (lo, mid)
        return lo * float(qmax.sum())
    lo, hi = 0.0, 1.0  # share of the rack power that goes: unsafe at lo, safe at hi (or none)
    if not ok(rack_w * 0.0):
        return -float(rack_w.sum())
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if ok(rack_w * (1.0 - mid)) else (mid, hi)
    return -hi * float(rack_w.sum())


@dataclass
class EpochStats:
    """What the joint policy measured over a run.

    Attributes:
        solve_s: Wall time of each epoch's solve (stages A–D), s.
        n_jobs: Jobs in each epoch's model (window + running).
        fallbacks: Epochs where stage A returned no solution and the layers decided.
        dropped: Jobs stage A chose that placement could not place.
        status: Stage A's HiGHS status per epoch (0 optimal, 1 limit reached, ...).
        warm_starts: Epochs whose stage A started from the layered incumbent.
        unchanged: Epochs that skipped stage A: the same candidates and free GPUs as the last
            solve (status -3; the earlier decision stands).
        shed: Jobs the thermal safety net held back (starting) or suspended (running): the
            room could not cool them even at minimum caps and the lowest set-point.
        alarm_epochs: Epochs started early by a change of the cooling units' alarms.
        time_limit_hits: Stage-A solves stopped by the wall-clock safety net
            (``safety_time_limit_s``) instead of a deterministic limit: each one's decision
            depends on the machine, so a run with any is not reproducible for its seed.
        resized: Running elastic jobs stopped and restarted at another GPU count (stage A's
            resize options; the twin charges the restart).
        resize_dropped: Resizes stage A chose that placement could not realize (the job kept
            its GPUs).
    """

    solve_s: list[float] = field(default_factory=list)
    n_jobs: list[int] = field(default_factory=list)
    fallbacks: int = 0
    dropped: int = 0
    status: list[int] = field(default_factory=list)
    warm_starts: int = 0
    unchanged: int = 0
    shed: int = 0
    alarm_epochs: int = 0
    time_limit_hits: int = 0
    resized: int = 0
    resize_dropped: int = 0


@dataclass(frozen=True)
class _Plan:
    due_s: float
    start: tuple[int, ...]
    caps: Mapping[int, float]
    supply_c: float | None
    gpus: Mapping[int, int] = field(default_factory=dict)  # elastic starts: GPU count chosen
    resize: Mapping[int, int] = field(default_factory=dict)  # running elastic jobs: new count


@register_policy("policy", "j-dec")
class JDec:
    """The joint co-optimizer J-DEC (see the module docstring)."""

    name = "j-dec"
    preemptive = True

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            epoch_s: Epoch length (s); §10.2: 60 s (Pollux, Sia) to 360 s (Gavel), 5–15 min
                for the cooling loop. 900 s by default: on the demo month stage A has a
                start to decide at most epochs, so the epoch sets the run's cost.
            window: Most pending jobs in stage A (top of the 2D-LAS order).
            time_limit_s: Stage A's decision time (s): the solver's budget in simulated time,
                charged as the decision delay (``decision_delay_s`` < 0). Not a wall-clock
                limit: the solve stops at deterministic limits (the 1 % gap, ``node_limit``),
                so a run's decisions do not depend on the machine or its load.
            node_limit: HiGHS branch-and-bound node limit of stage A (deterministic).
            safety_time_limit_s: HiGHS's wall-clock limit of stage A (s): a safety net only.
                When it fires the epoch uses HiGHS's incumbent (or the layered fallback) and
                that decision depends on the machine: counted in
                :attr:`EpochStats.time_limit_hits` and logged (a run with hits is not
                reproducible for its seed).
            decision_delay_s: Simulated delay before an epoch's decision applies (s);
                negative = ``time_limit_s``.
            charge_measured: Charge the measured solve time instead (machine-dependent).
            site_budget_kw: Site budget, IT + cooling + losses (kW; 0 = the scenario's).
            energy_weight: Price of facility energy: the share of a full-speed GPU's work
                that one GPU's facility power at TDP costs.
            supply_candidates_c: Supply-temperature candidates of stage A (°C).
            redline_c: Highest allowed rack inlet (°C).
            restart_weight: Value lost by changing a running job's cap level, per GPU.
            warm_start: Give HiGHS the layered decision as its first incumbent (highspy).
            elastic: Stage A may start an elastic job at any of Sia's GPU counts in its range
                that fit (valued at the twin's goodput speed); off: the requested count only.
            resize: Stage A may also move a running elastic job to another of Sia's counts
                in its range (up to its GPUs plus the free ones; by whole nodes when it holds
                whole nodes, :func:`resize_counts`): a stop and a restart, the twin charging
                what ``sia`` charges (:func:`resize_penalty_s`), and the new count's work
                valued at Pollux's re-allocation factor (:func:`reallocation_factor`), so a
                resize is chosen only when its gain amortizes the restart. Not while the room
                is at risk (a unit down, an inlet above the redline). Off by default: in
                the §11.3 ablation (docs/cooptimizer.md, session 9) resizes lowered useful
                GPU-h per facility MWh in every one-day scenario with a queue (jobs grown into
                idle GPUs buy sub-linear speedups with more power and input traffic) and
                changed nothing measurable over 7 days. Off (or ``elastic`` off): running
                jobs keep their count.
            queue_order: 2D-LAS's order inside a queue between epochs
                (``TiresiasLas.Params.queue_order``: ``running-first`` or ``arrival``).
        """

        epoch_s: float = 900.0
        window: int = 100
        time_limit_s: float = 5.0
        node_limit: int = 2000
        safety_time_limit_s: float = 120.0
        decision_delay_s: float = -1.0
        charge_measured: bool = False
        site_budget_kw: float = 0.0
        energy_weight: float = 0.3
        supply_candidates_c: tuple[float, ...] = (18.0, 20.0, 22.0, 24.0, 26.0)
        redline_c: float = 27.0
        restart_weight: float = 0.01
        warm_start: bool = True
        elastic: bool = True
        resize: bool = False
        queue_order: str = "running-first"

        def __post_init__(self) -> None:
            if self.queue_order not in ("running-first", "arrival"):
                msg = f"queue_order = {self.queue_order!r}: allowed running-first, arrival"
                raise ValueError(msg)
            if self.epoch_s <= 0 or self.time_limit_s <= 0 or self.window < 1:
                msg = "epoch_s and time_limit_s must be > 0 and window ≥ 1"
                raise ValueError(msg)
            if not self.safety_time_limit_s > 0 or self.node_limit < 1:
                msg = (
                    f"safety_time_limit_s = {self.safety_time_limit_s}, node_limit = "
                    f"{self.node_limit}: must be > 0 s and ≥ 1"
                )
                raise ValueError(msg)
            if not self.energy_weight >= 0.0:
                msg = f"energy_weight = {self.energy_weight}: must be ≥ 0"
                raise ValueError(msg)
            cands = tuple(float(x) for x in self.supply_candidates_c)
            if not cands:
                msg = "supply_candidates_c: give at least one temperature"
                raise ValueError(msg)
            object.__setattr__(self, "supply_candidates_c", cands)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        p = self.params
        self.epoch_s = p.epoch_s
        self.stats = EpochStats()
        self.model: FacilityModel | None = None
        self._order = TiresiasLas(TiresiasLas.Params(queue_order=p.queue_order))
        self._place = XInt()
        self._data = SiloD()
        self._cooling = ModelBasedSupply(ModelBasedSupply.Params(redline_c=p.redline_c))
        self._polca = Polca(Polca.Params(site_budget_kw=p.site_budget_kw))
        self._net = _ThermalNet()
        self._alarms: bytes | None = None
        self._scenario_budget_w = math.inf
        self._plan: _Plan | None = None
        self._last_sig: tuple[bytes, bytes] | None = None
        self._shares_sig: bytes | None = None
        self._next_epoch_s = 0.0
        self._job_cap_w: FloatArray = np.zeros(0)
        self._rack_price: FloatArray = np.zeros(0)
        self._curve = np.zeros((0, 3, 9))  # cap, speed and power per job at 9 caps
        self._have_curve: BoolArray = np.zeros(0, dtype=bool)
        self._lam = 0.0
        self._penalty_s: FloatArray = np.zeros(0)
        self._restarts: dict[int, int] = {}

    @property
    def budget_w(self) -> float:
        """Site budget (W; inf = none): the parameter, else the scenario's (context)."""
        kw = self.params.site_budget_kw
        return kw * W_PER_KW if kw > 0 else self._scenario_budget_w

    @property
    def plan_budget_w(self) -> float:
        """The budget the epoch plans against: POLCA's first threshold.

        §10.7: the solver treats the thresholds as the budget, so the safety net rarely fires.
        """
        return self.budget_w * self._polca.params.t1_frac

    def reset(self, ctx: PolicyContext) -> None:
        """Fresh state, facility model and fallback layers."""
        p = self.params
        self._scenario_budget_w = float(ctx.site_budget_w)
        self.model = FacilityModel(ctx, redline_c=p.redline_c, site_budget_w=self.budget_w)
        for layer in (self._order, self._place, self._data, self._cooling, self._polca, self._net):
            layer.reset(ctx)
        self._alarms = None
        self.stats = EpochStats()
        self._plan = None
        self._last_sig = None
        self._shares_sig = None
        self._next_epoch_s = 0.0
        self._job_cap_w = np.full(ctx.jobs.n_jobs, math.nan)
        self._rack_price = np.zeros(ctx.layout.n_racks)
        self._curve = np.zeros((ctx.jobs.n_jobs, 3, 9))
        self._have_curve = np.zeros(ctx.jobs.n_jobs, dtype=bool)
        self._penalty_s = resize_penalty_s(ctx)
        self._restarts = {}
        tdp_mean = float(np.mean([s.tdp_w for s in ctx.layout.skus]))
        self._lam = p.energy_weight / (tdp_mean * (1.0 + 1.0 / float(crac_cop(22.0))))

    def run_figures(self) -> dict[str, int]:
        """The run's epoch counts for ``summary.json`` (deterministic: no wall times).

        ``policy_epochs``: epochs; ``policy_stage_a_epochs``: epochs that solved stage A;
        ``policy_fallbacks``: epochs where stage A had no solution and the layers decided;
        ``policy_time_limit_hits``: stage-A solves the wall-clock safety net stopped (a run
        with any is not reproducible for its seed); ``policy_shed``: jobs the thermal safety
        net held back or suspended; ``policy_resizes``: running elastic jobs moved to another
        GPU count.
        """
        st = self.stats
        return {
            "policy_epochs": len(st.status),
            "policy_stage_a_epochs": sum(1 for s in st.status if s >= -1),
            "policy_fallbacks": st.fallbacks,
            "policy_time_limit_hits": st.time_limit_hits,
            "policy_shed": st.shed,
            "policy_resizes": st.resized,
        }

    # --- the policy -------------------------------------------------------------------------
    def decide(self, view: ClusterView) -> Decision:
        """Apply a due epoch plan, solve a new epoch, or start jobs between epochs."""
        t = view.time_s
        failed = view.cooling_units_failed
        alarms = b"" if failed is None else np.asarray(failed, dtype=bool).tobytes()
        alarms = alarms if any(alarms) else b""
        if alarms != self._alarms:  # a cooling unit failed or came back: a new epoch now
            if self._alarms is not None:
                self.stats.alarm_epochs += 1
                self._plan = None
                self._next_epoch_s = t
            self._alarms = alarms
        if self._plan is not None and t >= self._plan.due_s - 1e-9:
            plan, self._plan = self._plan, None
            return self._apply(view, plan)
        if t >= self._next_epoch_s - 1e-9 and self._plan is None:
            self._next_epoch_s = t + self.epoch_s
            plan = self._epoch(view)
            if plan.due_s <= t:
                return self._apply(view, plan)
            self._plan = plan
            assert self.model is not None
            if _room_at_risk(self.model, view):
                # the safety net does not wait for the solver: caps, suspensions and a lower
                # set-point for the running jobs now, no starts (those are the plan's)
                d = self._between(view, admit=())
                return Decision(
                    preempt=d.preempt,
                    power_cap_w=d.power_cap_w,
                    supply_temp_c=d.supply_temp_c,
                    wake_at_s=plan.due_s,
                )
            return Decision(wake_at_s=plan.due_s)
        return self._between(view)

    # --- between epochs: the layered fallback at the chosen options ---------------------------
    def _between(
        self,
        view: ClusterView,
        admit: tuple[int, ...] | None = None,
        gpus: Mapping[int, int] | None = None,
        running_caps: Mapping[int, float] | None = None,
        resize: Mapping[int, int] | None = None,
    ) -> Decision:
        pending = view.pending_jobs()
        if admit is not None:
            keep = np.isin(pending, np.asarray(admit, dtype=np.int64))
            pending = pending[keep]
        alloc = Allocator(view, self._place)
        # running elastic jobs stage A moved to another GPU count: a stop and a start
        moved = self._resize(view, alloc, resize or {})
        # elastic jobs stage A started at another GPU count than they asked for
        pre = place_at_counts(view, alloc, self._place, pending, gpus or {})
        if pre:
            pending = pending[~np.isin(pending, np.fromiter(pre, np.int64, len(pre)))]
        if moved:
            # stage A planned these starts on the free GPUs with the resizes: place them in
            # 2D-LAS order without its preemptions (2D-LAS would release a resized job's old
            # GPUs, which its new placement may have taken again)
            q = self._order._queue_of(view.job_attained_booked_gpu_s[pending])
            rest: dict[int, IntArray] = {}
            for j in pending[np.lexsort((pending, q))].tolist():
                got = alloc.try_place(int(j))
                if got is not None:
                    rest[int(j)] = got
            sched = Schedule({**moved, **pre, **rest}, frozenset(), None)
        else:
            sched = self._order.schedule(view, pending, alloc)
            sched = Schedule({**pre, **sched.start}, sched.preempt, sched.wake_at_s)
        caps: dict[int, float] = {}
        assert self.model is not None
        m = self.model
        for j in sched.start:
            c = self._job_cap_w[j]
            caps[int(j)] = float(m.job_tdp_w[j] if math.isnan(c) else c)
        start = dict(sched.start)
        if math.isfinite(self.budget_w):
            start, caps = self._admit_within_budget(view, start, caps)
        start, caps, suspend = self._thermal_net(view, start, caps, running_caps)
        preempt = _needed_preemptions(view, sched.preempt | frozenset(moved), start) | suspend
        if moved:
            # a resized job that starts again is stopped first; one whose start the nets
            # held back keeps running unless another start took its GPUs (then it waits)
            preempt |= frozenset(j for j in moved if j in start)
            for j in moved:
                if j in preempt:
                    self._restarts[j] = self._restarts.get(j, 0) + 1
                    self.stats.resized += int(j in start)
        # SiloD re-splits only where the job set changed: with no start and the same running
        # jobs as at its last call it has nothing to say (skip its per-call set building)
        run_sig = np.asarray(view.running_jobs()).tobytes()
        if start or run_sig != self._shares_sig:
            cache, weight = self._data.shares(view, start)
            self._shares_sig = None if start else run_sig
        else:
            cache, weight = {}, {}
        wake = sched.wake_at_s
        if self._plan is not None:
            wake = self._plan.due_s if wake is None else min(wake, self._plan.due_s)
        else:
            wake = self._next_epoch_s if wake is None else min(wake, self._next_epoch_s)
        return Decision(
            start=start,
            preempt=preempt,
            power_cap_w=caps,
            cache_b=cache,
            io_weight=weight,
            supply_temp_c=self._lower_supply(view, start, caps, running_caps),
            wake_at_s=wake if wake > view.time_s else None,
        )

    def _resize(
        self, view: ClusterView, alloc: Allocator, resize: Mapping[int, int]
    ) -> dict[int, IntArray]:
        """Move running elastic jobs to stage A's counts in ``alloc``: job → its new GPUs.

        Shrinks first (they free GPUs), then grows, largest count first (Sia's order), each
        through the placement layer's ``place_count``; a job that does not fit at its new
        count keeps its GPUs (:attr:`EpochStats.resize_dropped`).
        """
        out: dict[int, IntArray] = {}
        held: dict[int, int] = {}
        for j, c in resize.items():
            g = view.job_gpus(int(j))
            if g is not None and int(g.shape[0]) != int(c):
                held[int(j)] = int(g.shape[0])
        todo = sorted(held, key=lambda j: (resize[j] > held[j], -resize[j], j))
        for j in todo:
            got = resize_running(view, alloc, self._place, j, int(resize[j]))
            if got is None:
                self.stats.resize_dropped += 1
                continue
            out[j] = got
        return out

    def _lower_supply(
        self,
        view: ClusterView,
        start: Mapping[int, IntArray],
        caps: Mapping[int, float],
        running_caps: Mapping[int, float] | None = None,
    ) -> float | None:
        """Stage D between epochs, lowering only: the set-point the room needs now.

        Where the room is not Tang's linear one (an aisle can run short of air, or a unit is
        down) and is at risk (a unit alarm, or an inlet within the redline's margin), a start
        or a warmer room between epochs cannot wait for the next epoch's set-point: the
        facility model's highest safe set-point for the rack power with this decision's
        starts and caps (the cooling layer's :meth:`ModelBasedSupply.target_c`), when it is
        below the set-point now. None otherwise (raising waits for the epoch).
        """
        assert self.model is not None
        m = self.model
        failed = view.cooling_units_failed
        if m.hall is None or m.room_is_linear(failed):
            return None
        hottest = float(np.max(view.rack_inlet_temp_c, initial=-math.inf))
        if not _units_down(view) and hottest <= m.redline_c - m.inlet_margin_k:
            return None
        rack = np.asarray(view.rack_power_w, dtype=np.float64) + self._rack_delta_w(
            view, start, {**(running_caps or {}), **caps}
        )
        target = self._cooling.target_c(view, rack)
        now = float(view.supply_setpoint_c)
        return target if target < now - 1e-9 else None

    def _rack_delta_w(
        self, view: ClusterView, start: Mapping[int, IntArray], caps: Mapping[int, float]
    ) -> FloatArray:
        """Rack power this decision adds (W).

        Its starts at their caps (with the host share) and the cap changes of running jobs.
        """
        assert self.model is not None
        m = self.model
        lay = view.layout
        out = np.zeros(lay.n_racks)
        for j, gpus in start.items():
            g = np.asarray(gpus, dtype=np.int64)
            if g.shape[0] == 0:
                continue
            cap = caps.get(int(j), float(m.job_tdp_w[j]))
            w = float(m.gpu_power_w(np.array([j]), cap)[0]) * (1.0 + HOST_SHARE_OF_GPU_POWER)
            np.add.at(out, lay.node_rack_idx[lay.gpu_node[g]], w)
        run = [j for j in caps if j not in start and view.job_gpus(j) is not None]
        if run:
            jobs = np.asarray(run, dtype=np.int64)
            new = m.gpu_power_w(jobs, np.array([caps[j] for j in run]))
            cur = view.job_power_cap_w[jobs]
            cur = np.where(np.isnan(cur), m.job_tdp_w[jobs], cur)
            d_w = new - m.gpu_power_w(jobs, cur)
            a_rack, _ = _job_racks(view, jobs)
            out += a_rack @ d_w
        return out

    def _admit_within_budget(
        self, view: ClusterView, start: dict[int, IntArray], caps: dict[int, float]
    ) -> tuple[dict[int, IntArray], dict[int, float]]:
        """Power-headroom admission (§10.3) and the POLCA net between epochs.

        Starts are kept in the scheduler's order while their predicted facility power fits
        the budget, at the stage-A cap or, failing that, the lowest cap that fits (not below
        the SKU minimum); the rest wait. Running jobs get POLCA's caps when measured power
        crosses its thresholds.
        """
        assert self.model is not None
        m = self.model
        it = max(view.it_power_w, 1.0)
        ratio = float(m.facility_power_w(it, view.supply_temp_c, view.time_s)) / it
        head_w = self.plan_budget_w / max(ratio, 1.0) - view.it_power_w
        run_now = np.asarray(view.running_jobs(), dtype=np.int64)
        act = measured_power_scale(m, view, run_now, run_now.shape[0])
        scale = (1.0 + HOST_SHARE_OF_GPU_POWER) * (float(np.median(act)) if act.size else 1.0)
        kept: dict[int, IntArray] = {}
        out: dict[int, float] = {}
        for j, gpus in start.items():
            old = view.job_gpus(j)  # a resized running job: only its extra GPUs are new
            g = float(len(gpus)) - (0.0 if old is None else float(len(old)))
            cap = caps[j]
            need = g * scale * float(m.gpu_power_w(np.array([j]), cap)[0])
            if need > head_w:
                lo = float(m.job_min_cap_w[j])
                need_lo = g * scale * float(m.gpu_power_w(np.array([j]), lo)[0])
                if need_lo > head_w:
                    continue
                cap = lo
                need = need_lo
            kept[j] = gpus
            out[j] = cap
            head_w -= need
        run = np.asarray(view.running_jobs(), dtype=np.int64)
        if run.shape[0]:
            ceil = self._polca.limits_w(view, run)
            cur = view.job_power_cap_w[run]
            cur = np.where(np.isnan(cur), m.job_tdp_w[run], cur)
            lower = ceil < cur - 1.0
            for j, c in zip(run[lower].tolist(), ceil[lower].tolist(), strict=True):
                out[int(j)] = float(c)
        return kept, out

    def _thermal_net(
        self,
        view: ClusterView,
        start: dict[int, IntArray],
        caps: dict[int, float],
        running_caps: Mapping[int, float] | None = None,
    ) -> tuple[dict[int, IntArray], dict[int, float], frozenset[int]]:
        """The power layer's thermal caps and shedding over this decision (the safety net).

        ``caps``: the decision's caps so far (starts, and running jobs it changes);
        ``running_caps``: caps the decision is about to give running jobs (else their own).
        Returns the starts the room can take, the caps (lowered where the facility model
        predicts an inlet above the servers' allowed one) and the running jobs to suspend.
        """
        assert self.model is not None
        m = self.model
        if not _room_at_risk(m, view):
            return start, caps, frozenset()
        run = np.asarray(view.running_jobs(), dtype=np.int64)
        st = np.fromiter(start, np.int64, len(start))
        jobs = np.concatenate((run, st))
        if jobs.shape[0] == 0:
            return start, caps, frozenset()
        n_gpus = np.concatenate(
            (
                np.asarray(view.running_num_gpus(), dtype=np.int64),
                np.asarray([len(start[int(j)]) for j in st], dtype=np.int64),
            )
        )
        cur = view.job_power_cap_w[jobs]
        cur = np.where(np.isnan(cur), m.job_tdp_w[jobs], cur)
        given = dict(running_caps or {})
        given.update(caps)
        want = np.array([given.get(int(j), float(c)) for j, c in zip(jobs, cur, strict=True)])
        lim = self._net.limit(view, jobs, n_gpus, want, start)
        shed = set(self._net.shed)
        out = dict(caps)
        for j, c, w in zip(jobs.tolist(), lim.tolist(), want.tolist(), strict=True):
            if c < w - 1.0:
                out[int(j)] = float(c)
        if _units_down(view) and not m.room_is_linear(view.cooling_units_failed):
            shed |= self._room_guard(
                view, run, {j: g for j, g in start.items() if j not in shed}, out
            )
        if not shed:
            return start, out, frozenset()
        self.stats.shed += len(shed)
        kept = {j: g for j, g in start.items() if j not in shed}
        out = {j: c for j, c in out.items() if j not in shed}
        return kept, out, frozenset(j for j in shed if j not in start)

    def _room_guard(
        self,
        view: ClusterView,
        run: IntArray,
        start: Mapping[int, IntArray],
        caps: Mapping[int, float],
    ) -> set[int]:
        """With a unit down: the jobs to hold back or suspend (J-DEC's room guard).

        The power layer's net caps against the servers' allowed inlet and suspends only when
        even minimum caps cannot hold it; after a unit failure the twin's room can jump to
        the upper fixed point (fans at full speed, the aisle short of air) on a few kW more
        than the model's steady state allows, and stays there. So J-DEC keeps the margin the
        cooling layer keeps: no start while a measured inlet is above the redline; else
        starts wait, last first, while the facility model predicts an inlet above the
        redline less δ_in (:attr:`FacilityModel.inlet_limit_c`) at the lowest set-point.
        While a measured inlet is above the servers' allowed one (the room has run away) and
        the model predicts it there with every start held, running jobs are suspended, the
        most power first, until it predicts the room back within it.
        """
        assert self.model is not None
        m = self.model
        lowest = m.supply_range_c[0]
        room = (view.cooling_units_failed, view.rack_inlet_temp_c, view.supply_temp_c)
        rack = np.asarray(view.rack_power_w, dtype=np.float64) + self._rack_delta_w(
            view, start, caps
        )

        def over(p: FloatArray, limit: FloatArray) -> bool:
            return bool((m.predict_room(lowest, p, *room).inlet_c > limit + 1e-9).any())

        out: set[int] = set()
        if float(np.max(view.rack_inlet_temp_c, initial=-math.inf)) > m.redline_c:
            out = {int(j) for j in start}  # the room is above the redline now: no new heat
            rack = rack - self._rack_delta_w(view, start, caps)
            start = {}
        for j in reversed(list(start)):
            if not over(rack, m.inlet_limit_c):
                return out
            rack = rack - self._rack_delta_w(view, {j: start[j]}, caps)
            out.add(int(j))
        hot = np.asarray(view.rack_inlet_temp_c, dtype=np.float64) > m.allowed_inlet_c
        if run.shape[0] == 0 or not hot.any() or not over(rack, m.allowed_inlet_c):
            return out
        idle = np.array([s.idle_empty_power_w for s in m.layout.skus])[m.job_sku[run]]
        now_w = np.asarray(view.running_power_w(), dtype=np.float64)
        a_rack, g = _job_racks(view, run)
        save = a_rack * np.maximum(now_w - idle, 0.0)[None, :]  # rack W each suspension saves
        for i in np.argsort(-(g * now_w), kind="stable").tolist():
            rack = rack - save[:, i]
            out.add(int(run[i]))
            if not over(rack, m.allowed_inlet_c):
                break
        return out

    def _apply(self, view: ClusterView, plan: _Plan) -> Decision:
        """Apply an epoch's plan: caps of running jobs, starts of the chosen jobs, supply."""
        run_caps = {j: c for j, c in plan.caps.items() if view.job_gpus(j) is not None}
        d = self._between(
            view, admit=plan.start, gpus=plan.gpus, running_caps=run_caps, resize=plan.resize
        )
        caps = dict(run_caps)
        caps.update(d.power_cap_w)
        if math.isfinite(self.budget_w) and run_caps:
            jobs = np.fromiter(run_caps, np.int64, len(run_caps))
            ceil = self._polca.limits_w(view, jobs)
            for j, c in zip(jobs.tolist(), ceil.tolist(), strict=True):
                caps[j] = min(caps[j], c)
        cur = view.job_power_cap_w
        tdp = self.model.job_tdp_w if self.model is not None else None
        assert tdp is not None
        caps = {
            j: c
            for j, c in caps.items()
            if j in d.start or abs((tdp[j] if math.isnan(cur[j]) else cur[j]) - c) >= 1.0
        }
        return Decision(
            start=d.start,
            preempt=d.preempt,
            power_cap_w=caps,
            cache_b=d.cache_b,
            io_weight=d.io_weight,
            supply_temp_c=_coolest(plan.supply_c, d.supply_temp_c),
            wake_at_s=max(self._next_epoch_s, view.time_s + 1e-6),
        )

    # --- one epoch ----------------------------------------------------------------------------
    def _epoch(self, view: ClusterView) -> _Plan:
        p = self.params
        t0 = time.perf_counter()
        problem = _StageA.build(self, view) if self._stage_a_needed(view) else None
        chosen: _StageAResult | None = None
        unchanged = False
        if problem is not None:
            # the same candidates on the same free GPUs as the last solve: the same problem
            # (stage A declined these starts then; e.g. the file system has no room for them)
            # (not with resize options: their value grows with the jobs' age)
            sig = (problem.jobs.tobytes(), np.asarray(view.node_free).tobytes())
            unchanged = sig == self._last_sig and not problem.has_resizes
            self._last_sig = sig
            if unchanged:
                problem = None
                self.stats.unchanged += 1
        if problem is not None:
            with _quiet_stdio():
                chosen = problem.solve(p)
            self.stats.warm_starts += int(problem.warm)
            if problem.timed_out:
                self.stats.time_limit_hits += 1
                if self.stats.time_limit_hits == 1:
                    logger.warning(
                        "j-dec: stage A at t = %.0f s stopped at the %.3g s wall-clock safety "
                        "limit (safety_time_limit_s): this run's decisions depend on the "
                        "machine and are not reproducible for its seed",
                        view.time_s,
                        p.safety_time_limit_s,
                    )
        start: tuple[int, ...]
        caps: dict[int, float] = {}
        if chosen is None:
            status = -3 if unchanged else -2  # same problem as last time / nothing to allocate
            if problem is not None:
                self.stats.fallbacks += 1
                status = -1
            start = () if unchanged else tuple(int(j) for j in view.pending_jobs().tolist())
            run = view.running_jobs()
            if run.shape[0]:
                cur = view.job_power_cap_w[run]
                assert self.model is not None
                cur = np.where(np.isnan(cur), self.model.job_tdp_w[run], cur)
                caps = {int(j): float(c) for j, c in zip(run.tolist(), cur.tolist(), strict=True)}
                with _quiet_stdio():
                    caps = self._stage_c(view, caps)
            supply = self._cooling.target_c(view)
        else:
            status = chosen.status
            start = chosen.start
            for j, c in chosen.cap_w.items():
                self._job_cap_w[j] = c
            caps = {j: c for j, c in chosen.cap_w.items() if view.job_gpus(j) is not None}
            run = view.running_jobs()
            if run.shape[0] and len(caps) < run.shape[0]:  # left out of stage A: limits slack
                assert self.model is not None
                cur = view.job_power_cap_w[run]
                cur = np.where(np.isnan(cur), self.model.job_tdp_w[run], cur)
                for j, c in zip(run.tolist(), cur.tolist(), strict=True):
                    caps.setdefault(int(j), float(c))
            caps = self._stage_c(view, caps)
            rack_w = np.asarray(view.rack_power_w, dtype=np.float64) + chosen.rack_extra_w
            supply = self._cooling.target_c(view, rack_w)
        wall = time.perf_counter() - t0
        self.stats.solve_s.append(wall)
        self.stats.status.append(status)
        self.stats.n_jobs.append(0 if problem is None else problem.n_jobs)
        delay = p.time_limit_s if p.decision_delay_s < 0 else p.decision_delay_s
        if p.charge_measured:
            delay = wall
        supply_c = None if abs(supply - view.supply_temp_c) < 1e-9 else supply
        gpus = {} if chosen is None else chosen.gpus
        resize = {} if chosen is None else chosen.resize
        return _Plan(
            due_s=view.time_s + delay,
            start=start,
            caps=caps,
            supply_c=supply_c,
            gpus=gpus,
            resize=resize,
        )

    def _curves(self, jobs: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Cap, speed and power at 9 caps from the SKU minimum to TDP, per job (cached)."""
        assert self.model is not None
        m = self.model
        mj = np.unique(jobs[~self._have_curve[jobs]])
        if mj.shape[0]:
            grid = np.linspace(0.0, 1.0, 9)
            lo, hi = m.job_min_cap_w[mj], m.job_tdp_w[mj]
            caps = lo[:, None] + (hi - lo)[:, None] * grid[None, :]
            rep = np.repeat(mj, grid.shape[0])
            self._curve[mj, 0] = caps
            self._curve[mj, 1] = m.speed_frac(rep, caps.ravel()).reshape(caps.shape)
            self._curve[mj, 2] = m.gpu_power_w(rep, caps.ravel()).reshape(caps.shape)
            self._have_curve[mj] = True
        c = self._curve[jobs]
        return c[:, 0], c[:, 1], c[:, 2]

    def _stage_a_needed(self, view: ClusterView) -> bool:
        """Whether stage A has something to allocate.

        True when a waiting job can be placed on the free GPUs now, or facility power is over
        the planning budget (otherwise stage C alone keeps the caps within it).
        """
        if math.isfinite(self.budget_w) and view.n_running > 0:
            # over the planning budget: stage A chooses which options to shed
            assert self.model is not None
            fac = float(
                self.model.facility_power_w(view.it_power_w, view.supply_temp_c, view.time_s)
            )
            if fac > self.plan_budget_w:
                return True
        pending = view.pending_jobs()
        if self._resizable(view, pending):
            return True
        if pending.shape[0] == 0:
            return False
        fits = pending[view.jobs.min_num_gpus[pending] <= view.free_gpus]
        if fits.shape[0] == 0:
            return False
        # It must fit by shape too: between epochs the layered fallback starts whatever the
        # placement can place, so at an epoch usually nothing can be (fragmented free GPUs);
        # then stage A would solve a problem with no start in it. Failed shapes are memoized.
        alloc = Allocator(view, self._place)
        return any(alloc.try_place(int(j)) is not None for j in fits[: self.params.window])

    def _resizable(self, view: ClusterView, pending: IntArray) -> bool:
        """Whether stage A's resize options could help.

        A running elastic job can grow into the free GPUs, or one can shrink while a job waits.
        """
        p = self.params
        if not (p.elastic and p.resize) or view.n_running == 0:
            return False
        assert self.model is not None
        if _room_at_risk(self.model, view):  # the room is at risk: running jobs keep their GPUs
            return False
        run = np.asarray(view.running_jobs(), dtype=np.int64)
        jobs = view.jobs
        el = jobs.min_num_gpus[run] < jobs.max_num_gpus[run]
        if not el.any():
            return False
        held = np.asarray(view.running_num_gpus(), dtype=np.int64)
        if pending.shape[0] and (held[el] > jobs.min_num_gpus[run][el]).any():
            return True
        if view.free_gpus == 0:
            return False
        return any(
            resize_counts(view, int(j), int(h))[-1] > int(h)
            for j, h in zip(run[el].tolist(), held[el].tolist(), strict=True)
        )

    # --- stage C: power/thermal LP with placement fixed ---------------------------------------
    def _stage_c(self, view: ClusterView, caps: dict[int, float]) -> dict[int, float]:
        """Re-optimize running jobs' caps continuously; update the rack heat prices."""
        assert self.model is not None
        m = self.model
        jobs = np.fromiter(caps, np.int64, len(caps))
        if jobs.shape[0] == 0:
            return caps
        lay = view.layout
        n = jobs.shape[0]
        lo, hi = m.job_min_cap_w[jobs], m.job_tdp_w[jobs]
        cap_grid, sp, pw = self._curves(jobs)
        a_rack, g = _job_racks(view, jobs)
        cool = 1.0 + 1.0 / float(crac_cop(view.supply_temp_c))
        lam = self._lam
        p_now = pw[
            np.arange(n),
            np.argmin(np.abs(cap_grid - np.fromiter(caps.values(), float, n)[:, None]), axis=1),
        ]
        # The LP's objective is separable and concave: without binding limits its optimum is
        # each job's best breakpoint. Check the limits there first; solve the LP only if one binds.
        best = np.argmax(sp - lam * cool * pw + 1e-12 * cap_grid, axis=1)
        p_best = pw[np.arange(n), best]
        rack_now = np.asarray(view.rack_power_w, dtype=np.float64)
        d, limit = _inlet_rows(m, view, rack_now)
        inlet = d @ a_rack  # (racks, n): K per W of each job's per-GPU power
        ok = bool((inlet @ (p_best - p_now) <= limit + 1e-9).all())
        if ok and math.isfinite(self.budget_w):
            it = max(view.it_power_w, 1.0)
            ratio = float(m.facility_power_w(it, view.supply_temp_c, view.time_s)) / it
            ok = ratio * (it + float((g * (p_best - p_now)).sum())) <= self.plan_budget_w
        if ok:
            self._rack_price = np.zeros(lay.n_racks)
            return {int(j): float(cap_grid[i, best[i]]) for i, j in enumerate(jobs.tolist())}
        # variables: power p_j (n), value v_j (n); maximize Σ g v − λ cool Σ g p
        c = np.concatenate((lam * cool * g, -g))
        rows: list[FloatArray] = []
        rhs: list[float] = []
        for k in range(cap_grid.shape[1] - 1):
            dp = pw[:, k + 1] - pw[:, k]
            for i in np.flatnonzero(dp > 1e-9).tolist():
                slope = (sp[i, k + 1] - sp[i, k]) / dp[i]
                row = np.zeros(2 * n)
                row[n + i] = 1.0
                row[i] = -slope
                rows.append(row)
                rhs.append(float(sp[i, k] - slope * pw[i, k]))
        n_ineq_speed = len(rows)
        use_inlet = bool(d.any())
        if use_inlet:
            for r in range(lay.n_racks):
                row = np.zeros(2 * n)
                row[:n] = inlet[r]
                rows.append(row)
                rhs.append(float(limit[r] + inlet[r] @ p_now))
        if math.isfinite(self.budget_w):
            it = max(view.it_power_w, 1.0)
            ratio = float(m.facility_power_w(it, view.supply_temp_c, view.time_s)) / it
            gpu_now = float((g * p_now).sum())
            row = np.zeros(2 * n)
            row[:n] = g * ratio
            rows.append(row)
            rhs.append(float(self.plan_budget_w + ratio * gpu_now - ratio * it))
        bounds = [(float(pw[i, 0]), float(pw[i, -1])) for i in range(n)] + [(0.0, 1.0)] * n
        from scipy.optimize import linprog  # noqa: PLC0415 (startup time: validate)

        res = linprog(
            c,
            A_ub=np.asarray(rows) if rows else None,
            b_ub=np.asarray(rhs) if rhs else None,
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:
            return caps
        p_opt = res.x[:n]
        if use_inlet and res.ineqlin is not None:
            mu = -np.asarray(res.ineqlin.marginals[n_ineq_speed : n_ineq_speed + lay.n_racks])
            self._rack_price = np.maximum(mu @ d, 0.0)
        out: dict[int, float] = {}
        k_frac = p_opt / np.maximum(pw[:, -1], 1e-9)
        for i, j in enumerate(jobs.tolist()):
            # the cap whose average power is p_opt (interpolated on the grid)
            cap = float(np.interp(p_opt[i], pw[i], cap_grid[i]))
            if k_frac[i] >= 1.0 - 1e-6:
                cap = float(hi[i])
            out[int(j)] = float(np.clip(cap, lo[i], hi[i]))
        return out


@contextlib.contextmanager
def _quiet_stdio() -> Iterator[None]:
    """Silence HiGHS's own prints (scipy's build writes MIP debug lines to the C stdout)."""
    try:
        saved = os.dup(1), os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w", encoding="utf-8") as null:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@dataclass(frozen=True)
class _StageAResult:
    start: tuple[int, ...]
    cap_w: dict[int, float]
    supply_c: float
    rack_extra_w: FloatArray
    status: int
    gpus: dict[int, int] = field(default_factory=dict)  # elastic starts at another count
    resize: dict[int, int] = field(default_factory=dict)  # running elastic jobs: new count


@dataclass
class _StageA:
    """The allocation MILP of one epoch (built from the view, solved by HiGHS)."""

    owner: JDec
    view: ClusterView
    jobs: IntArray
    running: BoolArray
    n_gpus: IntArray
    opt_job: IntArray
    opt_cap_w: FloatArray
    opt_speed: FloatArray
    opt_power_w: FloatArray
    opt_phi: FloatArray
    weight: FloatArray
    opt_gpus: IntArray  # GPUs of each option (elastic jobs: one per count)
    warm: bool = False
    timed_out: bool = False  # the wall-clock safety net stopped the solve
    opt_work: FloatArray | None = None  # requested GPUs × speed at that count (GPU-equivalents)

    @property
    def n_jobs(self) -> int:
        return int(self.jobs.shape[0])

    @property
    def has_resizes(self) -> bool:
        """Whether a running job has an option at another GPU count."""
        run = self.running[self.opt_job]
        return bool((run & (self.opt_gpus != self.n_gpus[self.opt_job])).any())

    @classmethod
    def build(cls, owner: JDec, view: ClusterView) -> _StageA | None:
        m = owner.model
        assert m is not None
        p = owner.params
        pending = np.asarray(view.pending_jobs(), dtype=np.int64)
        run = np.asarray(view.running_jobs(), dtype=np.int64)
        if pending.shape[0] == 0 and run.shape[0] == 0:
            return None
        # window: the top of the 2D-LAS order (queue by attained service, then arrival)
        if pending.shape[0] > p.window:
            svc = view.job_attained_booked_gpu_s[pending]
            q = owner._order._queue_of(svc)
            order = np.lexsort((pending, q))
            pending = pending[order[: p.window]]
        else:
            q = owner._order._queue_of(view.job_attained_booked_gpu_s[pending])
            pending = pending[np.lexsort((pending, q))]
        # candidates: the window's jobs that the placement can place on the free GPUs now,
        # greedily in 2D-LAS order (a start stage A chose but stage B could not place is lost)
        alloc = Allocator(view, owner._place)
        pending = pending[[alloc.try_place(int(j)) is not None for j in pending.tolist()]]
        held = np.asarray(view.running_num_gpus(), dtype=np.int64)
        # no resizes while a cooling unit is down or an inlet is above the redline (as the
        # elastic layer's emergency rounds: a resize is a stop and a start the room may refuse)
        resize = p.elastic and p.resize and not _room_at_risk(m, view)
        if run.shape[0] and _limits_slack(owner, view, pending):
            # No limit can bind whatever starts: running jobs' cap options are separable, and
            # stage C re-optimizes them; stage A keeps only the waiting jobs (a smaller MILP)
            # and the running jobs it may resize (their GPUs couple them to the starts).
            keep = np.zeros(run.shape[0], dtype=bool)
            if resize:
                keep = view.jobs.min_num_gpus[run] < view.jobs.max_num_gpus[run]
            run, held = run[keep], held[keep]
        jobs = np.concatenate((run, pending))
        running = np.zeros(jobs.shape[0], dtype=bool)
        running[: run.shape[0]] = True
        n_gpus = view.jobs.num_gpus[jobs].astype(np.int64)
        if run.shape[0]:
            n_gpus[: run.shape[0]] = held
        # LAS weight: higher for less attained service (queue 0 first), 1..2
        svc = view.attained_gpu_s(jobs)
        q = owner._order._queue_of(svc)
        n_q = len(owner._order.params.queue_limits_gpu_s) + 1
        weight = 1.0 + (n_q - 1 - q) / max(n_q - 1, 1)
        # FIFO within a queue, and no two jobs alike (breaks the MILP's symmetry)
        weight -= 1e-3 * np.argsort(np.argsort(jobs)) / max(jobs.shape[0], 1)
        has_io = (view.jobs.input_rate_b_per_s_per_gpu[jobs] > 0) & math.isfinite(
            m.fs_bandwidth_b_per_s
        )
        # Options, one per (GPU count, cap level, I/O point) of each job: parallel lists, kept
        # grouped by job in ``jobs`` order (the warm start relies on it). Every value of an
        # option (speed, power, I/O, GPUs in the rows) is computed from these four entries, so
        # a job with several GPU counts (elastic) gets them by appending its options here.
        o_job: list[int] = []
        o_gpus: list[int] = []
        o_cap: list[float] = []
        o_phi: list[float] = []
        o_work: list[float] = []
        tdp = m.job_tdp_w[jobs]
        lo = m.job_min_cap_w[jobs]
        for i in range(jobs.shape[0]):
            counts, work = job_gpu_options(
                view, int(jobs[i]), running=bool(running[i]), held=int(n_gpus[i]),
                elastic=owner.params.elastic, resize=resize,
            )  # fmt: skip
            for c, w in zip(counts, work.tolist(), strict=True):
                for y in CAP_LEVELS_FRAC:
                    cap = max(y * tdp[i], lo[i])
                    for phi in IO_POINTS_FRAC if has_io[i] else (1.0,):
                        o_job.append(i)
                        o_gpus.append(int(c))
                        o_cap.append(cap)
                        o_phi.append(phi)
                        o_work.append(w)
        opt_job = np.asarray(o_job, dtype=np.int64)
        opt_cap = np.asarray(o_cap, dtype=np.float64)
        opt_phi = np.asarray(o_phi, dtype=np.float64)
        speed = m.speed_frac(jobs[opt_job], opt_cap)
        idle = np.array([s.idle_context_power_w for s in view.layout.skus])[
            m.job_sku[jobs[opt_job]]
        ]
        power = m.gpu_power_w(jobs[opt_job], opt_cap)
        power = idle + (power - idle) * opt_phi
        stage = cls(
            owner,
            view,
            jobs,
            running,
            n_gpus,
            opt_job,
            opt_cap,
            speed,
            power,
            opt_phi,
            weight,
            np.asarray(o_gpus, dtype=np.int64),
        )
        stage.opt_work = np.asarray(o_work, dtype=np.float64)
        return stage

    def solve(self, p: JDec.Params) -> _StageAResult | None:
        owner, view = self.owner, self.view
        m = owner.model
        assert m is not None
        lay = view.layout
        jobs, running, g_j = self.jobs, self.running, self.n_gpus.astype(np.float64)
        n_opt = self.opt_job.shape[0]
        oj = self.opt_job
        g = self.opt_gpus.astype(np.float64)  # GPUs of each option
        work = g if self.opt_work is None else self.opt_work  # its useful GPU-equivalents
        temps = np.asarray(p.supply_candidates_c, dtype=np.float64)
        lo_t, hi_t = m.supply_range_c
        temps = temps[(temps >= lo_t) & (temps <= hi_t)]
        if _units_down(view) and lo_t not in temps:  # a unit is down: the coolest air too
            temps = np.concatenate(([lo_t], temps))
        if temps.shape[0] == 0:
            temps = np.array([view.supply_temp_c])
        n_k = temps.shape[0]
        # current per-GPU power of the running jobs (W)
        p_now = np.zeros(jobs.shape[0])
        n_run = int(running.sum())
        act = np.ones(1)
        act_pending = 1.0
        if n_run:
            # measured per-GPU power and measured ÷ modelled power, of every running job
            # (stage A may hold only some: the resizable ones when the limits are slack)
            all_run = np.asarray(view.running_jobs(), dtype=np.int64)
            pos = np.full(view.jobs.n_jobs, -1, dtype=np.int64)
            pos[all_run] = np.arange(all_run.shape[0])
            at = pos[jobs[:n_run]]
            p_now[:n_run] = np.asarray(view.running_power_w(), dtype=np.float64)[at]
            act_all = measured_power_scale(m, view, all_run, all_run.shape[0])
            act = act_all[at]
            act_pending = float(np.median(act_all))
        it_now = max(view.it_power_w, 1.0)
        cop = crac_cop(temps)
        tdp_mean = float(np.mean(m.job_tdp_w[jobs])) if jobs.shape[0] else 700.0
        lam = p.energy_weight / (tdp_mean * (1.0 + 1.0 / float(crac_cop(22.0))))
        # rack heat prices from the last stage C, per job: where it runs, or where it would go
        price = _job_heat_price(view, owner._rack_price, jobs, running, self.n_gpus)
        # One MILP per supply candidate k, its rows fixed to k (no candidate binary, no big M):
        # variables x (n_opt, binary) | c (n_opt cache) | q (cooling kW) | s_b, s_h (kW over
        # the budget and over the thermal headroom: soft, heavily priced, so a state that is
        # already over its limits still has a solution that sheds load). With one binary per
        # candidate and big-M rows (sessions 4–7) the LP relaxation split the candidates and
        # relaxed every budget and headroom row (root bound −730 against an optimum of −152 on
        # the oversubscribed hall), so HiGHS branched and ran its sub-MIP heuristics for tens
        # of seconds; with k fixed the rows are knapsack rows and the root LP is within 1–2 %.
        n_x = n_opt
        i_c, i_q = n_x, 2 * n_x
        i_sb, i_sh = i_q + 1, i_q + 2
        n_var = i_q + 3
        # modelled power assumes full compute activity; scale pending jobs' options by the
        # measured ÷ modelled power of the running ones
        opt_w = self.opt_power_w * np.where(running[oj], 1.0, act_pending)
        if n_run:
            opt_w = np.where(running[oj], self.opt_power_w * act[np.minimum(oj, n_run - 1)], opt_w)
        dpow = opt_w - p_now[oj]  # extra per-GPU power vs now
        # a running job's options at another GPU count (a resize): GPUs and power change
        held = np.where(running[oj], g_j[oj], 0.0)
        moves = running[oj] & (g != held)
        extra_w = g * dpow  # extra power of each option vs now (W)
        if moves.any():
            extra_w = np.where(moves, g * opt_w - held * p_now[oj], extra_w)
        gain = work * (self.weight[oj] * self.opt_speed * self.opt_phi)
        if moves.any():
            # the restart's lost time, amortized as Pollux and Sia do: the new count's work
            # at the re-allocation factor (the twin charges the same penalty per restart)
            age = view.time_s - view.jobs.submit_time_s[jobs]
            factor = np.array(
                [
                    reallocation_factor(
                        float(age[i]),
                        owner._restarts.get(int(jobs[i]), 0),
                        float(owner._penalty_s[jobs[i]]),
                    )
                    if running[i]
                    else 1.0
                    for i in range(jobs.shape[0])
                ]
            )
            gain = np.where(moves, gain * factor[oj], gain)
        value = gain - lam * g * self.opt_power_w
        if moves.any():
            # a GPU a resize frees (or takes) stays powered: it saves (costs) only its power
            # above idle, so a job with resize options is charged for that part alone
            mover = running[oj] & np.isin(oj, oj[moves])
            idle_w = np.array([s.idle_context_power_w for s in lay.skus])[m.job_sku[jobs[oj]]]
            value = np.where(mover, value + lam * g * idle_w, value)
        value -= price[oj] * np.maximum(extra_w, 0.0)
        value[~running[oj]] += START_VALUE * g_j[oj][~running[oj]]  # per requested GPU
        if n_run:  # stickiness for running jobs: changing a cap level costs a little
            cur = view.job_power_cap_w[jobs[oj]]
            cur = np.where(np.isnan(cur), m.job_tdp_w[jobs[oj]], cur)
            value[running[oj]] -= (
                p.restart_weight
                * g[running[oj]]
                * (np.abs(self.opt_cap_w - cur)[running[oj]] > 1.0)
            )
        rate = view.jobs.input_rate_b_per_s_per_gpu[jobs[oj]]
        dset = np.maximum(view.jobs.dataset_size_b[jobs[oj]], 1.0)
        remote = rate * work * self.opt_speed * self.opt_phi  # B/s at no cache
        c_obj = np.zeros(n_var)
        c_obj[:n_x] = -value
        # Scaling (HiGHS needs coefficients within a few decades): cache variables are the
        # cached share of each option's dataset (0..1), power rows and the cooling and slack
        # columns are in kW, the file-system row in GB/s and the cache row in TB.
        c_obj[i_c:i_q] = -1e-9 * remote  # a tiny preference for caching
        c_obj[i_q] = lam * W_PER_KW  # cooling power (kW) at the energy price
        c_obj[i_sb] = c_obj[i_sh] = OVER_LIMIT_PRICE_PER_W * W_PER_KW
        rows = _Rows()
        # one option per job: running jobs exactly one, pending at most one
        first = np.searchsorted(oj, np.arange(jobs.shape[0] + 1))  # options are job-sorted
        for i in range(jobs.shape[0]):
            rows.add(
                np.arange(first[i], first[i + 1]),
                np.ones(int(first[i + 1] - first[i])),
                1.0 if running[i] else 0.0,
                1.0,
            )
        # free GPUs and shape cuts; a resize takes (or frees) the difference to what it holds
        use = np.flatnonzero(~running[oj] | moves)
        node_free = np.asarray(view.node_free, dtype=np.int64)
        rows.add(use, (g - held)[use], -np.inf, float(node_free.sum()))
        max_node = int(lay.max_node_gpus)
        mover = np.unique(oj[moves])
        node_held = np.zeros((mover.shape[0], node_free.shape[0]), dtype=np.int64)
        for r, i in enumerate(mover.tolist()):  # each resizable job's GPUs per node
            mine = view.job_gpus(int(jobs[i]))
            if mine is not None:
                np.add.at(node_held[r], lay.gpu_node[np.asarray(mine, dtype=np.int64)], 1)
        row_of = np.full(jobs.shape[0], -1, dtype=np.int64)
        row_of[mover] = np.arange(mover.shape[0])
        s = 2
        while s <= max_node:
            # GPUs in s-aligned blocks an option needs; a resize first frees the blocks its
            # own GPUs complete (each job's release alone: additive across nodes)
            need = np.where(g >= s, g, 0.0)
            if mover.shape[0]:
                freed = ((node_free + node_held) // s - node_free // s).sum(axis=1) * s
                need = np.where(moves, need - freed[np.maximum(row_of[oj], 0)], need)
            big = use[need[use] != 0.0]
            if big.shape[0]:
                cap_s = float((node_free // s * s).sum())
                rows.add(big, need[big], -np.inf, cap_s)
            s *= 2
        # file system (GB/s): Σ σΘ (x − c/d) ≤ B, with f = c/d the cached share; at least
        # what the running jobs draw uncached at their least-I/O options (stage A cannot stop
        # them; on an oversubscribed file system the row would otherwise be infeasible and
        # the epoch fall back: after a CRAH failure the running jobs enter stage A)
        io_opts = np.flatnonzero(remote > 0)
        if math.isfinite(m.fs_bandwidth_b_per_s) and io_opts.shape[0]:
            gbs = remote[io_opts] * 1e-9
            floor = np.full(jobs.shape[0], np.inf)
            np.minimum.at(floor, oj, remote * 1e-9)
            floor_gbs = float(floor[running & np.isfinite(floor)].sum())
            rows.add(
                np.concatenate((io_opts, i_c + io_opts)),
                np.concatenate((gbs, -gbs)),
                -np.inf,
                max(m.fs_bandwidth_b_per_s * 1e-9, floor_gbs),
            )
        # cache: f ≤ x per option, Σ d·f ≤ C (TB)
        total_cache = float(np.sum(lay.node_cache_b)) if lay.node_cache_b is not None else 0.0
        rows.add_pairs(i_c + io_opts, io_opts)
        cache_row = rows.n
        rows.add(i_c + io_opts, dset[io_opts] * 1e-12, -np.inf, total_cache * 1e-12)
        rack_w = np.asarray(view.rack_power_w, dtype=np.float64)
        new_max = np.bincount(
            lay.node_rack_idx,
            weights=np.asarray(view.node_free, float) * m.job_tdp_w.max(),
            minlength=lay.n_racks,
        )
        gpu_kw = extra_w * (1.0 + HOST_SHARE_OF_GPU_POWER) / W_PER_KW  # new kW per option
        it_kw = it_now / W_PER_KW
        x_cols = np.arange(n_x)
        # options another option of the same job beats in every row and the objective
        dominated = _dominated(
            first,
            np.stack((g, gpu_kw, remote, self.opt_power_w)),
            value - 1e-9 * remote,  # its objective at most (with its cache bonus)
        )

        def most_kw(coef: FloatArray, allowed: BoolArray) -> float:
            """The most that Σ coef·x can reach: each job at its largest option (or none)."""
            top = np.full(jobs.shape[0], -np.inf)
            np.maximum.at(top, oj[allowed], coef[allowed])
            return float(np.where(running, top, np.maximum(top, 0.0)).sum())

        # facility ÷ IT power at each candidate (one call: the plant model is vectorized)
        fac_ratios = m.facility_power_w(np.full(n_k, it_now), temps, view.time_s) / it_now
        rise = float(m.inlet_rise_k(rack_w).max(initial=0.0))
        r_die = float(m.rack_r_die_k_per_w.max())
        slow = float(m.rack_slowdown_c.min())
        a_common, lb_c, ub_c = rows.matrix(n_var)
        lo_v = np.zeros(n_var)
        hi_v = np.ones(n_var)
        hi_v[i_c:i_q] = np.where(remote > 0, 1.0, 0.0)
        hi_v[i_q] = hi_v[i_sb] = hi_v[i_sh] = np.inf
        integrality = np.zeros(n_var)
        integrality[:n_x] = 1
        models: list[tuple[int, Any, FloatArray, FloatArray, FloatArray]] = []
        for k in range(n_k):
            # chip limit at this candidate: options too hot for it are left out
            allowed = temps[k] + rise + r_die * self.opt_power_w <= slow - m.chip_margin_k
            allowed &= ~dominated
            if not np.logical_or.reduceat(allowed, first[:-1])[running].all():
                continue  # a running job has no option cool enough: k is infeasible
            rk = _Rows()
            head_kw = _room_headroom_w(m, view, float(temps[k]), rack_w, new_max) / W_PER_KW
            # Σ g·Δp·(1 + host) ≤ H_k (+ slack); left out when no choice can break it
            if most_kw(gpu_kw, allowed) > head_kw + 1e-9:
                rk.add(np.append(x_cols, i_sh), np.append(gpu_kw, -1.0), -np.inf, head_kw)
            # site budget at this candidate: ratio_k · (IT now + Σ g Δp (1 + host)) ≤ B
            fac_ratio = float(fac_ratios[k])
            if math.isfinite(owner.budget_w):
                rhs = owner.plan_budget_w / W_PER_KW - fac_ratio * it_kw
                if most_kw(gpu_kw * fac_ratio, allowed) > rhs + 1e-9:
                    rk.add(
                        np.append(x_cols, i_sb), np.append(gpu_kw * fac_ratio, -1.0), -np.inf, rhs
                    )
            # cooling epigraph: q ≥ (IT now + Σ g Δp (1 + host))/COP_k
            inv = 1.0 / float(cop[k])
            rk.add(np.append(x_cols, i_q), np.append(gpu_kw * inv, -1.0), -np.inf, -it_kw * inv)
            a_k, lb_k, ub_k = rk.matrix(n_var)
            from scipy.sparse import vstack  # noqa: PLC0415 (startup time: validate)

            hi_k = hi_v.copy()
            hi_k[:n_x] = allowed.astype(np.float64)
            models.append(
                (
                    k,
                    vstack((a_common, a_k), format="csr"),
                    np.concatenate((lb_c, lb_k)),
                    np.concatenate((ub_c, ub_k)),
                    hi_k,
                )
            )
        if not models:
            return None
        # Each candidate's LP relaxation bounds its MILP; the MILPs then run best bound first,
        # and a candidate whose bound cannot beat the best solution by more than the 1 % gap
        # is not solved (the same stop rule as the gap inside one solve). Ties keep the
        # earlier candidate in the order (bound, then temperature index): deterministic.
        t0 = time.perf_counter()
        bound: list[float] = []
        for _, a_k, lb_k, ub_k, hi_k in models:
            left_s = p.safety_time_limit_s - (time.perf_counter() - t0)
            lp, _, timed_out = _solve_mip(
                c_obj,
                np.zeros(n_var),
                (lo_v, hi_k),
                (a_k, lb_k, ub_k),
                None,
                p=p,
                time_limit_s=max(left_s, 1e-3),
            )
            self.timed_out |= timed_out
            # no LP solution: infeasible (no MILP either), or stopped by the safety net
            # (no bound: the MILP is tried)
            lp_bound = (-math.inf if timed_out else math.inf) if lp is None else c_obj @ lp
            bound.append(float(lp_bound))
        best: tuple[float, int, FloatArray] | None = None
        status = 0
        self.warm = False
        for n in sorted(range(len(models)), key=lambda n: (bound[n], models[n][0])):
            if bound[n] == math.inf:
                continue
            if best is not None and bound[n] >= best[0] - MIP_REL_GAP * abs(best[0]):
                continue
            k, a_k, lb_k, ub_k, hi_k = models[n]
            x0 = None
            if p.warm_start:
                x0 = _warm_start(
                    self,
                    a_k,
                    lb_k,
                    ub_k,
                    hi_k,
                    value=value,
                    remote=remote,
                    dset=dset,
                    cache_row=cache_row,
                    cols=(i_c, i_q, i_sb, i_sh),
                )
            self.warm |= x0 is not None
            left_s = p.safety_time_limit_s - (time.perf_counter() - t0)
            sol, st, timed_out = _solve_mip(
                c_obj,
                integrality,
                (lo_v, hi_k),
                (a_k, lb_k, ub_k),
                x0,
                p=p,
                time_limit_s=max(left_s, 1e-3),
            )
            self.timed_out |= timed_out
            if sol is None:
                continue
            status = max(status, st)
            obj = float(c_obj @ sol)
            if best is None or obj < best[0] - 1e-9:
                best = (obj, k, sol)
        if best is None:
            return None
        _, z, sol = best
        x = sol[:n_x] > 0.5
        start = tuple(int(jobs[i]) for i in np.unique(oj[x & ~running[oj]]).tolist())
        gpus = {
            int(jobs[oj[o]]): int(g[o])
            for o in np.flatnonzero(x & ~running[oj]).tolist()
            if int(g[o]) != int(g_j[oj[o]])
        }
        resize = {int(jobs[oj[o]]): int(g[o]) for o in np.flatnonzero(x & moves).tolist()}
        cap_w = {int(jobs[oj[o]]): float(self.opt_cap_w[o]) for o in np.flatnonzero(x).tolist()}
        extra = np.zeros(lay.n_racks)
        return _StageAResult(
            start=start,
            cap_w=cap_w,
            supply_c=float(temps[z]),
            rack_extra_w=extra,
            status=status,
            gpus=gpus,
            resize=resize,
        )


def _job_racks(view: ClusterView, jobs: IntArray) -> tuple[FloatArray, FloatArray]:
    """GPUs of each running job per rack (racks × jobs) and in all (per job)."""
    lay = view.layout
    n = jobs.shape[0]
    gpu_job = np.asarray(view.gpu_job)
    a_rack = np.zeros((lay.n_racks, n))
    if (gpu_job == GPU_SHARED).any():  # jobs sharing a GPU: each job's own GPUs
        for i, j in enumerate(jobs.tolist()):
            gpus = view.job_gpus(int(j))
            assert gpus is not None
            np.add.at(a_rack[:, i], lay.node_rack_idx[lay.gpu_node[gpus]], 1.0)
        return a_rack, a_rack.sum(axis=0)
    pos = np.full(view.jobs.n_jobs, -1, dtype=np.int64)
    pos[jobs] = np.arange(n)
    held = np.flatnonzero(gpu_job >= 0)
    col = pos[gpu_job[held]]
    mine = col >= 0
    rack = lay.node_rack_idx[lay.gpu_node[held[mine]]]
    np.add.at(a_rack, (rack, col[mine]), 1.0)
    return a_rack, a_rack.sum(axis=0)


def _limits_slack(owner: JDec, view: ClusterView, pending: IntArray) -> bool:
    """Whether the window's waiting jobs could all start at TDP within the limits.

    The planning budget and the thermal headroom at the current set-point; then no power or
    thermal limit couples the running jobs' cap options to the starts.
    """
    m = owner.model
    assert m is not None
    lay = view.layout
    extra_w = float((view.jobs.num_gpus[pending] * m.job_tdp_w[pending]).sum())
    extra_w *= 1.0 + HOST_SHARE_OF_GPU_POWER
    if math.isfinite(owner.budget_w):
        it = max(view.it_power_w, 1.0)
        fac = float(m.facility_power_w(it, view.supply_temp_c, view.time_s))
        if fac * (1.0 + extra_w / it) > owner.plan_budget_w:
            return False
    new_max = np.bincount(
        lay.node_rack_idx,
        weights=np.asarray(view.node_free, float) * m.job_tdp_w.max() * 1.3,
        minlength=lay.n_racks,
    )
    head = _room_headroom_w(
        m, view, float(view.supply_temp_c), np.asarray(view.rack_power_w, float), new_max
    )
    return head >= min(extra_w, float(new_max.sum()))


def _job_heat_price(
    view: ClusterView, rack_price: FloatArray, jobs: IntArray, running: BoolArray, n_gpus: IntArray
) -> FloatArray:
    """Stage C's rack heat prices (per W) seen by each job of stage A (§10.4, fed back).

    A running job pays the mean price of the racks its GPUs are in; a waiting job the mean of
    the ``g`` cheapest free GPUs' rack prices (where a min-peak-inlet placement tends to put
    it: the racks whose heat reaches the binding inlets least).
    """
    out = np.zeros(jobs.shape[0])
    if not rack_price.any():
        return out
    lay = view.layout
    gpu_rack = lay.node_rack_idx[lay.gpu_node]
    for i in np.flatnonzero(running).tolist():
        gpus = view.job_gpus(int(jobs[i]))
        if gpus is not None and gpus.shape[0]:
            out[i] = float(rack_price[gpu_rack[gpus]].mean())
    free = np.flatnonzero(np.asarray(view.gpu_job) == -1)
    if free.shape[0] and (~running).any():
        cum = np.concatenate(([0.0], np.cumsum(np.sort(rack_price[gpu_rack[free]]))))
        pend = np.flatnonzero(~running)
        g = np.clip(n_gpus[pend], 1, free.shape[0])
        out[pend] = cum[g] / g
    return out


def _dominated(first: IntArray, use: FloatArray, value: FloatArray) -> BoolArray:
    """Options that another option of the same job dominates.

    ``o'`` dominates ``o`` when it uses no more of anything (``use[:, o'] ≤ use[:, o]``: GPUs,
    which also orders the shape cuts; new kW, which orders the headroom, budget and cooling
    rows; remote I/O, which orders the file-system row at any cached share; per-GPU power,
    which orders the chip limit) and is worth no less (``value[o'] ≥ value[o]``), strictly in
    one of them or, among equals, first. Then a solution with ``o`` stays feasible and no
    worse with ``o'`` in its place (same job: same dataset, same cache rows), so leaving the
    dominated options out changes no optimum. Elastic jobs whose goodput stops growing with
    GPUs and cap levels on a flat speed curve give most of them.
    """
    out = np.zeros(value.shape[0], dtype=bool)
    tol = 1e-12
    for i in range(first.shape[0] - 1):
        lo, hi = int(first[i]), int(first[i + 1])
        n = hi - lo
        if n < 2:
            continue
        u = use[:, lo:hi]
        v = value[lo:hi]
        # le[a, b]: option a uses no more than b of everything, and is worth no less
        le = (u[:, :, None] <= u[:, None, :] + tol).all(axis=0) & (v[:, None] >= v[None, :] - tol)
        strict = (u[:, :, None] < u[:, None, :] - tol).any(axis=0) | (v[:, None] > v[None, :] + tol)
        first_among_equals = np.arange(n)[:, None] < np.arange(n)[None, :]
        dom = le & (strict | first_among_equals)
        np.fill_diagonal(dom, False)
        gone: BoolArray = np.asarray(dom.any(axis=0), dtype=bool)
        if gone.all():  # only through the tolerance: keep the most valuable
            gone[int(np.argmax(v))] = False
        out[lo:hi] = gone
    return out


class _Rows:
    """Sparse rows of a MILP, built one at a time (COO lists), with their bounds."""

    def __init__(self) -> None:
        self.n = 0
        self._r: list[IntArray] = []
        self._c: list[IntArray] = []
        self._v: list[FloatArray] = []
        self._lb: list[float] = []
        self._ub: list[float] = []

    def add(self, cols: ArrayLike, coef: ArrayLike, lo_b: float, up_b: float) -> None:
        cols_a = np.asarray(cols, dtype=np.int64)
        self._r.append(np.full(cols_a.shape[0], self.n, dtype=np.int64))
        self._c.append(cols_a)
        self._v.append(np.asarray(coef, dtype=np.float64))
        self._lb.append(lo_b)
        self._ub.append(up_b)
        self.n += 1

    def add_pairs(self, pos: IntArray, neg: IntArray) -> None:
        """One row ``v[pos_i] − v[neg_i] ≤ 0`` per pair."""
        n = pos.shape[0]
        rows = self.n + np.arange(n, dtype=np.int64)
        self._r.append(np.repeat(rows, 2))
        self._c.append(np.stack((pos, neg), axis=1).reshape(-1).astype(np.int64))
        self._v.append(np.tile(np.array([1.0, -1.0]), n))
        self._lb.extend([-np.inf] * n)
        self._ub.extend([0.0] * n)
        self.n += n

    def matrix(self, n_var: int) -> tuple[Any, FloatArray, FloatArray]:
        """The rows as a CSR matrix (rows × ``n_var``), their lower and upper bounds."""
        from scipy.sparse import coo_matrix  # noqa: PLC0415 (startup time: validate)

        cat = np.concatenate
        empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        a = coo_matrix(
            (
                cat(self._v) if self._v else empty_f,
                (cat(self._r) if self._r else empty_i, cat(self._c) if self._c else empty_i),
            ),
            shape=(self.n, n_var),
        ).tocsr()
        return a, np.asarray(self._lb, dtype=np.float64), np.asarray(self._ub, dtype=np.float64)


def _warm_start(
    stage: _StageA,
    a: Any,
    lb: FloatArray,
    ub: FloatArray,
    hi_v: FloatArray,
    *,
    value: FloatArray,
    remote: FloatArray,
    dset: FloatArray,
    cache_row: int,
    cols: tuple[int, int, int, int],
) -> FloatArray | None:
    """A feasible incumbent for stage A at one supply candidate: the layered decision.

    Running jobs keep their current cap option (full I/O speed; among the options the
    candidate allows), cache to their I/O options with the most remote traffic per byte; then
    each waiting job in 2D-LAS weight order takes its most valuable allowed option that keeps
    every hard row and adds no slack (kW over the budget or the headroom), with what is left
    of the cache for its dataset, or waits. Returns None when even the running jobs alone
    break a hard row (HiGHS then starts cold).

    The free columns (cooling kW, kW over budget, kW over headroom) have coefficient −1 in
    their rows, one per row at most: the activity is kept without them (``act``) and each is
    lifted to the least value that meets its rows, so trying an option costs its own rows.
    """
    i_c, i_q, i_sb, i_sh = cols
    oj, running = stage.opt_job, stage.running
    n_x = oj.shape[0]
    n_var = a.shape[1]
    csc = a.tocsc()
    free_cols = (i_q, i_sb, i_sh)
    rows_of = [csc.indices[csc.indptr[v] : csc.indptr[v + 1]] for v in free_cols]
    hard = np.ones(a.shape[0], dtype=bool)
    for r in rows_of:
        hard[r] = False
    allowed = hi_v[:n_x] > 0.5
    x = np.zeros(n_var)
    # running jobs: the allowed option nearest the cap they run at, full I/O speed first
    view = stage.view
    cur = view.job_power_cap_w[stage.jobs[oj]]
    m = stage.owner.model
    assert m is not None
    cur = np.where(np.isnan(cur), m.job_tdp_w[stage.jobs[oj]], cur)
    gap = np.where(allowed, np.abs(stage.opt_cap_w - cur) + (1.0 - stage.opt_phi), np.inf)
    held = stage.n_gpus[oj]
    gap = np.where(running[oj] & (stage.opt_gpus != held), np.inf, gap)  # no resize
    first = np.searchsorted(oj, np.arange(stage.jobs.shape[0] + 1))  # options are job-sorted
    for i in np.flatnonzero(running).tolist():
        lo_o, hi_o = int(first[i]), int(first[i + 1])
        o = lo_o + int(np.argmin(gap[lo_o:hi_o]))
        if not allowed[o]:
            return None
        x[o] = 1.0
    # cache (a share of each dataset): the chosen I/O options, most remote traffic per byte
    # first, while the cache row (in TB) has room
    left = float(ub[cache_row])
    io = np.flatnonzero((remote > 0) & (x[:n_x] > 0))
    for o in io[np.argsort(-remote[io] / dset[io], kind="stable")].tolist():
        d_tb = float(dset[o]) * 1e-12
        f = min(float(hi_v[i_c + o]), left / d_tb)
        if f <= 0:
            break
        x[i_c + o] = f
        left -= f * d_tb
    x_free = np.zeros(n_var, dtype=bool)
    x_free[list(free_cols)] = True
    tol = 1e-6 * np.maximum(1.0, np.abs(ub[np.isfinite(ub)]).max(initial=1.0))
    order = np.flatnonzero(~running)[np.lexsort((stage.jobs[~running], -stage.weight[~running]))]
    act = a @ np.where(x_free, 0.0, x)

    def lifted() -> list[float]:
        return [max(0.0, float((act[r] - ub[r]).max(initial=0.0))) for r in rows_of]

    if ((act[hard] < lb[hard] - tol) | (act[hard] > ub[hard] + tol)).any():
        return None
    base = lifted()
    base_slack = base[1] + base[2]
    for i in order.tolist():
        lo_o, hi_o = int(first[i]), int(first[i + 1])
        for o in (lo_o + np.argsort(-value[lo_o:hi_o], kind="stable")).tolist():
            if not allowed[o]:
                continue
            idx = csc.indices[csc.indptr[o] : csc.indptr[o + 1]]
            dat = csc.data[csc.indptr[o] : csc.indptr[o + 1]]
            act[idx] += dat
            h = hard[idx]
            lo_ok = act[idx[h]] >= lb[idx[h]] - tol
            bad = not bool((lo_ok & (act[idx[h]] <= ub[idx[h]] + tol)).all())
            if not bad:
                now = lifted()
                bad = now[1] + now[2] > base_slack + 1e-6
            if bad:
                act[idx] -= dat
                continue
            x[o] = 1.0
            if remote[o] > 0 and left > 0:  # cache what fits of its dataset
                c = i_c + o
                f = min(float(hi_v[c]), left / (float(dset[o]) * 1e-12))
                idx_c = csc.indices[csc.indptr[c] : csc.indptr[c + 1]]
                act[idx_c] += f * csc.data[csc.indptr[c] : csc.indptr[c + 1]]
                x[c] = f
                left -= f * float(dset[o]) * 1e-12
            break
    for v, val in zip(free_cols, lifted(), strict=True):
        x[v] = val
    return x


def _solve_mip(
    c: FloatArray,
    integrality: FloatArray,
    bounds: tuple[FloatArray, FloatArray],
    rows: tuple[Any, FloatArray, FloatArray],
    x0: FloatArray | None,
    *,
    p: JDec.Params,
    time_limit_s: float | None = None,
) -> tuple[FloatArray | None, int, bool]:
    """Solve one stage-A model with HiGHS: through highspy (warm-started from ``x0``), else scipy.

    Deterministic (``random_seed`` 0, the 1 % gap and the node limit); the wall-clock limit
    (``time_limit_s``, else ``safety_time_limit_s``) is a safety net. With no integer column
    it solves the LP relaxation. HiGHS's light presolve (``presolve_mode`` 2, where the
    installed HiGHS has it): its full MIP presolve (probing) took 90 % of a solve's wall time on
    the oversubscribed hall's 1,500-option models (7.2 of 8.0 s; 4.2 CPU s against 0.31 with the
    light one) for the same solution.
    Returns the solution (None without one), the status (0 optimal, 1 a limit was reached and
    the incumbent is used, 2 infeasible or no incumbent) and whether the wall-clock safety net
    stopped it.
    """
    lo, hi = bounds
    a, lb, ub = rows
    limit_s = p.safety_time_limit_s if time_limit_s is None else time_limit_s
    if importlib.util.find_spec("highspy") is None:  # scipy's own HiGHS: no warm start
        from scipy.optimize import Bounds, LinearConstraint, milp  # noqa: PLC0415

        res = milp(
            c,
            integrality=integrality,
            bounds=Bounds(lo, hi),
            constraints=LinearConstraint(a, lb, ub),
            options={
                "time_limit": limit_s,
                "node_limit": p.node_limit,
                "mip_rel_gap": MIP_REL_GAP,
                "presolve": True,
            },
        )
        timed_out = "time limit" in str(res.message).lower()
        if res.x is None:
            return None, 2, timed_out
        return np.asarray(res.x), min(int(res.status), 1), timed_out
    import highspy  # noqa: PLC0415 (startup time)

    csr = a.tocsr()
    lp = highspy.HighsLp()
    lp.num_col_ = int(c.shape[0])
    lp.num_row_ = int(csr.shape[0])
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_ = np.asarray(lo, dtype=np.float64)
    lp.col_upper_ = np.asarray(hi, dtype=np.float64)
    lp.row_lower_ = np.asarray(lb, dtype=np.float64)
    lp.row_upper_ = np.asarray(ub, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = csr.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csr.indices.astype(np.int32)
    lp.a_matrix_.value_ = csr.data.astype(np.float64)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
        for k in integrality.tolist()
    ]
    h = highspy.Highs()
    for key, val in (
        ("output_flag", False),
        ("time_limit", float(limit_s)),
        ("mip_max_nodes", int(p.node_limit)),
        ("mip_rel_gap", MIP_REL_GAP),
        ("random_seed", 0),
        ("presolve_mode", 2),
    ):
        h.setOptionValue(key, val)  # an option this HiGHS lacks: an error status, ignored
    h.passModel(lp)
    if x0 is not None:
        sol = highspy.HighsSolution()
        sol.col_value = x0.tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    ms = h.getModelStatus()
    timed_out = ms == highspy.HighsModelStatus.kTimeLimit
    if h.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
        return None, 2, timed_out
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return x, 0 if ms == highspy.HighsModelStatus.kOptimal else 1, timed_out
