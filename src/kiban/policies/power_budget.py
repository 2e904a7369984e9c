"""Power layers under a site budget: ``water-filling`` and ``polca``.

``water-filling`` uses Zeus's cost when the budget is slack; ``polca`` is the two-threshold
safety net.

* ``water-filling`` (``reference/cooptimizer.md`` §4.7): maximize ``Σ_j w_j g_j s_j(x_j)``
  subject to ``Σ_j g_j P_j(x_j) ≤ B`` over per-GPU caps ``x_j`` in the SKU range. Speed
  ``s_j`` and power ``P_j`` at a cap are kiban's physics (Zeus-fitted cap law with the job's
  compute-bound share β), concave in the cap, so the KKT condition is one price λ (work per
  watt): each job takes the cap maximizing ``w_j s_j(x) − λ P_j(x)``, and λ is found by
  bisection so the budget binds. The budget ``B`` is the GPU power left under the site budget
  after host power and the facility's cooling and losses at the current set-point
  (:class:`~kiban.policies.facility_model.FacilityModel`). When the budget does not bind,
  each job takes the cap minimizing Zeus's cost ``η·E + (1 − η)·P_max·T`` per unit of work
  (You, Chung, Chowdhury, NSDI 2023; ``zeus/utils/metric.py``); η = 0 leaves jobs uncapped.
* ``polca`` (Patel et al., ASPLOS 2024; two-threshold scheme of §4.3): when measured facility
  power exceeds ``t1_frac`` × budget, low-priority jobs (priority below the median of the
  running ones) are capped to ``low_cap_frac`` × TDP; above ``t2_frac`` × budget every job is;
  caps are released when power falls ``release_frac`` below T1. It is also the safety net that
  ``water-filling`` keeps (``safety = true``) between its decisions.

``water-filling`` also holds the servers' allowed inlet (``thermal = true``; DGX H100: 30 °C,
physics.md §1.2), the response an operator makes when cooling is lost (a CRAH failure) or a
room recirculates: when a rack inlet is above the redline or a cooling unit is down (what
telemetry shows: :attr:`~kiban.sim.state.ClusterView.cooling_units_failed`), the facility
model predicts the room at the power the jobs would draw at their caps
(:meth:`FacilityModel.predict_room`, the coupled twin's physics, from the inlets measured
now); if a rack would exceed its servers' allowed inlet, the GPUs of the jobs in the aisles
of those racks are capped to the largest common share α of their power at which the model
predicts every inlet within the limit (bisection; α = 0: the SKU's minimum cap). The caps are
recomputed at every call from the uncapped power, so they are released once the room can take
the heat again. When even the minimum caps at the lowest allowed set-point leave a rack over
its limit (a room that lost a CRAH unit cannot carry the host and fan power of a full hall),
the layer sheds load: jobs in those aisles are held back (those about to start) or suspended
(:attr:`WaterFilling.shed`; running ones: a checkpointed preemption that keeps their
progress), starts first, then the most GPU watts, until the model
predicts every inlet within the limit; thermal placement holds them back until the room can
take them again. That is an operator's response to a cooling loss (suspend work before the
servers' own thermal protection shuts them down and loses the work since the last
checkpoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.policies.base import EMPTY_MAP
from kiban.policies.facility_model import FacilityModel
from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = [
    "CAP_GRID_N",
    "Polca",
    "WaterFilling",
    "measured_power_scale",
    "water_fill_caps",
    "zeus_caps",
]

CAP_GRID_N = 25
"""Cap candidates per job between the SKU minimum and TDP (≈ 20 W steps on H100)."""
W_PER_KW = 1000.0


def _cap_grid(model: FacilityModel, jobs: IntArray) -> FloatArray:
    lo = model.job_min_cap_w[jobs]
    hi = model.job_tdp_w[jobs]
    t = np.linspace(0.0, 1.0, CAP_GRID_N)
    return np.asarray(lo[:, None] + (hi - lo)[:, None] * t[None, :], dtype=np.float64)


def _tables(model: FacilityModel, jobs: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    caps = _cap_grid(model, jobs)
    rep = np.repeat(jobs, CAP_GRID_N)
    speed = model.speed_frac(rep, caps.ravel()).reshape(caps.shape)
    power = model.gpu_power_w(rep, caps.ravel()).reshape(caps.shape)
    return caps, speed, power


def zeus_caps(model: FacilityModel, jobs: IntArray, eta: float) -> FloatArray:
    """Per-GPU cap minimizing Zeus's cost per unit of work, ``(η·P + (1 − η)·P_max) / s``.

    Args:
        model: The facility model.
        jobs: Job indices.
        eta: Zeus's η in [0, 1] (0 = time only: uncapped; 1 = energy only).

    Returns:
        Caps (W per GPU), one per job.
    """
    if jobs.shape[0] == 0:
        return np.zeros(0)
    caps, speed, power = _tables(model, jobs)
    pmax = model.job_tdp_w[jobs][:, None]
    cost = (eta * power + (1.0 - eta) * pmax) / np.maximum(speed, 1e-9)
    # ties (e.g. a cap above the job's draw): keep the highest cap
    best = np.argmin(cost[:, ::-1] * (1.0 + 1e-12), axis=1)
    return np.asarray(caps[np.arange(jobs.shape[0]), CAP_GRID_N - 1 - best], dtype=np.float64)


def water_fill_caps(
    model: FacilityModel,
    jobs: IntArray,
    n_gpus: IntArray,
    weight: FloatArray,
    budget_w: float,
    *,
    power_scale: FloatArray | None = None,
    tol_w: float = 1.0,
) -> FloatArray:
    """Caps maximizing weighted speed under a GPU power budget (§4.7 water-filling).

    Args:
        model: The facility model.
        jobs: Job indices.
        n_gpus: GPUs of each job.
        weight: Value per unit of full-speed progress of each job (w_j).
        budget_w: Budget for the jobs' GPU power (W).
        power_scale: Measured ÷ modelled power of each job (the model assumes the job's
            compute activity all the time; GPUs idle inside jobs draw less); default 1.
        tol_w: Bisection tolerance on the budget (W).

    Returns:
        Caps (W per GPU); TDP for every job when the budget does not bind, the SKU minimum
        for every job when even that does not fit.
    """
    if jobs.shape[0] == 0:
        return np.zeros(0)
    caps, speed, power = _tables(model, jobs)
    if power_scale is not None:
        power = power * power_scale[:, None]
    g = n_gpus.astype(np.float64)[:, None]
    rows = np.arange(jobs.shape[0])

    def choose(lam: float) -> tuple[FloatArray, float]:
        val = weight[:, None] * speed - lam * power
        # the highest cap among equal values (a cap above the job's draw costs nothing)
        k = CAP_GRID_N - 1 - np.argmax(val[:, ::-1], axis=1)
        return k, float((g[:, 0] * power[rows, k]).sum())

    k, used = choose(0.0)
    if used <= budget_w:
        return np.asarray(caps[rows, k], dtype=np.float64)
    lo, hi = 0.0, 1e-3
    while choose(hi)[1] > budget_w and hi < 1e6:
        hi *= 4.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if choose(mid)[1] > budget_w:
            lo = mid
        else:
            hi = mid
        if choose(lo)[1] - choose(hi)[1] <= tol_w:
            break
    k, _ = choose(hi)
    return np.asarray(caps[rows, k], dtype=np.float64)


def measured_power_scale(
    model: FacilityModel, view: ClusterView, jobs: IntArray, n_running: int
) -> FloatArray:
    """Measured ÷ modelled per-GPU power of jobs (running first, then starting ones).

    Running jobs: their board power now over the model's power at their cap (clipped to
    [0.3, 1]); starting jobs: the median of the running ones (1 when none runs).
    """
    out = np.ones(jobs.shape[0])
    if n_running:
        run = jobs[:n_running]
        cap = view.job_power_cap_w[run]
        cap = np.where(np.isnan(cap), model.job_tdp_w[run], cap)
        pred = model.gpu_power_w(run, cap)
        meas = np.asarray(view.running_power_w(), dtype=np.float64)
        r = np.clip(meas / np.maximum(pred, 1.0), 0.3, 1.0)
        out[:n_running] = r
        out[n_running:] = float(np.median(r))
    return out


def _it_budget_w(model: FacilityModel, view: ClusterView, site_budget_w: float) -> float:
    """IT power that keeps the facility within the site budget at the current set-point."""
    if not math.isfinite(site_budget_w):
        return math.inf
    it = max(view.it_power_w, 1.0)
    ratio = float(model.facility_power_w(it, view.supply_temp_c, view.time_s)) / it
    return site_budget_w / max(ratio, 1.0)


@register_policy("power", "water-filling")
class WaterFilling:
    """Budget water-filling with Zeus's cost when slack, POLCA as the safety net."""

    noop = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            site_budget_kw: Site power budget, IT + cooling + losses (kW); 0 = the scenario's
                (none if it has none).
            energy_weight: Zeus's η for jobs when the budget is slack (0 = uncapped).
            min_change_w: Caps that move less than this are not re-sent (W).
            safety: Keep POLCA's two thresholds between decisions.
            thermal: Cap the racks whose inlets would exceed their servers' allowed inlet.
        """

        site_budget_kw: float = 0.0
        energy_weight: float = 0.5
        min_change_w: float = 5.0
        safety: bool = True
        thermal: bool = True

        def __post_init__(self) -> None:
            if self.site_budget_kw < 0:
                msg = f"site_budget_kw = {self.site_budget_kw}: must be ≥ 0 (0 = none)"
                raise ValueError(msg)
            if not 0.0 <= self.energy_weight <= 1.0:
                msg = f"energy_weight = {self.energy_weight}: must lie in [0, 1]"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.model: FacilityModel | None = None
        self._polca: Polca | None = None
        self._zeus: FloatArray = np.zeros(0)
        self._scenario_budget_w = math.inf
        self.shed: frozenset[int] = frozenset()
        """Jobs the last call asked to hold back (starting) or suspend (running): the room
        cannot cool them even capped."""
        self.shed_jobs = 0
        """Jobs suspended over the run."""
        self.coil_margin_frac = 0.0
        """Share of the working coils' capacity the thermal net keeps free while a cooling
        unit is down (:meth:`FacilityModel.held_inlet_c`); the layered stack sets
        :data:`~kiban.policies.facility_model.COIL_MARGIN_FRAC` (it has no room guard of its
        own), 0 elsewhere."""

    @property
    def budget_w(self) -> float:
        """Site budget (W; inf = none): the parameter, else the scenario's (context)."""
        kw = self.params.site_budget_kw
        return kw * W_PER_KW if kw > 0 else self._scenario_budget_w

    def reset(self, ctx: PolicyContext) -> None:
        """Build the facility model."""
        self._scenario_budget_w = float(ctx.site_budget_w)
        self.model = FacilityModel(ctx, site_budget_w=self.budget_w)
        self._zeus = np.full(ctx.jobs.n_jobs, np.nan)
        self.shed = frozenset()
        self.shed_jobs = 0
        self._polca = None
        if self.params.safety and math.isfinite(self.budget_w):
            self._polca = Polca(Polca.Params(site_budget_kw=self.budget_w / W_PER_KW))
            self._polca.reset(ctx)

    def set_caps(self, view: ClusterView, starting: Mapping[int, IntArray]) -> Mapping[int, float]:
        """Caps for running and starting jobs (only those that change)."""
        assert self.model is not None
        m = self.model
        self.shed = frozenset()
        run = np.asarray(view.running_jobs(), dtype=np.int64)
        start = np.fromiter(starting, np.int64, len(starting))
        jobs = np.concatenate((run, start))
        if jobs.shape[0] == 0:
            return EMPTY_MAP
        n_gpus = view.jobs.num_gpus[jobs].astype(np.int64)
        n_gpus[: run.shape[0]] = view.running_num_gpus()
        if len(starting):
            n_gpus[run.shape[0] :] = [len(starting[int(j)]) for j in start]
        caps = self._zeus[jobs]
        miss = np.isnan(caps)
        if miss.any():  # the Zeus optimum depends only on the job: computed once per job
            self._zeus[jobs[miss]] = zeus_caps(m, jobs[miss], self.params.energy_weight)
            caps = self._zeus[jobs]
        # with the safety net on, plan against its first threshold so that it rarely fires
        plan_w = self.budget_w * (Polca.Params().t1_frac if self._polca is not None else 1.0)
        it_budget = _it_budget_w(m, view, plan_w)
        if math.isfinite(it_budget):
            gpu_now = float((view.running_power_w() * view.running_num_gpus()).sum())
            host_w = max(view.it_power_w - gpu_now, 0.0)
            budget = it_budget - host_w
            weight = np.ones(jobs.shape[0])
            scale = measured_power_scale(m, view, jobs, run.shape[0])
            used = float((n_gpus * scale * m.gpu_power_w(jobs, caps)).sum())
            if used > budget:
                caps = water_fill_caps(m, jobs, n_gpus, weight, budget, power_scale=scale)
        if self._polca is not None:
            safety = self._polca.limits_w(view, jobs)
            caps = np.minimum(caps, safety)
        if self.params.thermal:
            caps = self._thermal_caps(view, jobs, n_gpus, caps, starting)
        cur = view.job_power_cap_w[jobs]
        cur = np.where(np.isnan(cur), m.job_tdp_w[jobs], cur)
        out: dict[int, float] = {}
        is_start = np.zeros(jobs.shape[0], dtype=bool)
        is_start[run.shape[0] :] = True
        change = is_start | (np.abs(caps - cur) >= self.params.min_change_w)
        for j, c in zip(jobs[change].tolist(), caps[change].tolist(), strict=True):
            out[int(j)] = float(c)
        return out

    def _thermal_caps(
        self,
        view: ClusterView,
        jobs: IntArray,
        n_gpus: IntArray,
        caps: FloatArray,
        starting: Mapping[int, IntArray],
    ) -> FloatArray:
        """Caps lowered where the room cannot take the jobs' heat (module docstring)."""
        assert self.model is not None
        m = self.model
        failed = view.cooling_units_failed
        inlet_now = np.asarray(view.rack_inlet_temp_c, dtype=np.float64)
        unit_down = failed is not None and bool(np.any(failed))
        if not unit_down and float(inlet_now.max(initial=-math.inf)) <= m.redline_c:
            return caps
        lay = view.layout
        n_run = int(view.n_running)
        # GPUs of each job per rack
        count = np.zeros((jobs.shape[0], lay.n_racks))
        for i, j in enumerate(jobs.tolist()):
            gpus = view.job_gpus(j) if i < n_run else starting[j]
            if gpus is not None and len(gpus):
                racks = lay.node_rack_idx[lay.gpu_node[np.asarray(gpus)]]
                count[i] = np.bincount(racks, minlength=lay.n_racks)
        now_w = np.zeros(jobs.shape[0])
        now_w[:n_run] = view.running_power_w()
        scale = measured_power_scale(m, view, jobs, n_run)
        want_w = scale * m.gpu_power_w(jobs, caps)  # per GPU at the proposed caps
        rack_w = np.asarray(view.rack_power_w, dtype=np.float64)
        # at the wall, as the room carries it: a running job's change of board power through
        # its server's PSU and fans; a starting job's whole busy GPU with its host's share
        slope = m.job_wall_slope[jobs]
        add_w = slope * (want_w - now_w)
        add_w[n_run:] = m.busy_gpu_wall_w(jobs[n_run:], want_w[n_run:])
        rack_want = rack_w + add_w @ count
        setpoint = float(getattr(view, "supply_setpoint_c", view.supply_temp_c))
        supply_now = float(view.supply_temp_c)
        allowed = m.allowed_inlet_c

        margin = self.coil_margin_frac

        def predict(alpha: float) -> FloatArray:
            p = rack_want - (1.0 - alpha) * ((slope * want_w) @ count * sel)
            pred = m.predict_room(setpoint, p, failed, inlet_now, supply_now)
            return m.held_inlet_c(pred, setpoint, failed, p, coil_margin_frac=margin)

        sel = np.ones(lay.n_racks)
        over = predict(1.0) > allowed + 1e-9
        if not over.any():
            return caps
        hall = m.hall
        racks_hit = np.isin(hall.rack_aisle, hall.rack_aisle[over]) if hall is not None else over
        sel = racks_hit.astype(np.float64)
        lo, hi = 0.0, 1.0  # safe at lo (or nothing is), unsafe at hi
        if (predict(0.0) <= allowed + 1e-9).all():
            for _ in range(12):
                mid = 0.5 * (lo + hi)
                if (predict(mid) <= allowed + 1e-9).all():
                    lo = mid
                else:
                    hi = mid
        hit = (count[:, racks_hit].sum(axis=1) > 0) & (n_gpus > 0)
        limit = np.clip(lo * want_w, m.job_min_cap_w[jobs], m.job_tdp_w[jobs])
        if lo == 0.0:
            self._shed(view, jobs, count, want_w, rack_want, hit, n_run)
        return np.asarray(np.where(hit, np.minimum(caps, limit), caps), dtype=np.float64)

    def _shed(  # noqa: PLR0917 (the decision's arrays)
        self,
        view: ClusterView,
        jobs: IntArray,
        count: FloatArray,
        want_w: FloatArray,
        rack_want: FloatArray,
        hit: BoolArray,
        n_run: int,
    ) -> None:
        """Running jobs to suspend: the room is over its limit even at minimum caps."""
        assert self.model is not None
        m = self.model
        if n_run == 0:  # an idle hall runs what it is given (as placement's hold-back)
            return
        failed = view.cooling_units_failed
        inlet_now = np.asarray(view.rack_inlet_temp_c, dtype=np.float64)
        lowest = m.supply_range_c[0]
        margin = self.coil_margin_frac
        # rack power with every hit job at its minimum cap, and what suspending one saves (at
        # the wall: its GPUs back to idle and its host's share; a start: all it would add)
        at_min = np.where(hit, np.minimum(want_w, m.job_min_cap_w[jobs]), want_w)
        p = rack_want - (m.job_wall_slope[jobs] * (want_w - at_min)) @ count
        save = m.busy_gpu_wall_w(jobs, at_min)[:, None] * count  # per job, per rack (W)
        # jobs about to start first (holding them back costs nothing), then running ones
        order = np.lexsort((-save.sum(axis=1), np.arange(jobs.shape[0]) < n_run))
        shed: list[int] = []
        for i in order.tolist():
            room = m.predict_room(lowest, p, failed, inlet_now, float(view.supply_temp_c))
            held = m.held_inlet_c(room, lowest, failed, p, coil_margin_frac=margin)
            if (held <= m.allowed_inlet_c + 1e-9).all():
                break
            if not hit[i]:
                continue
            p = p - save[i]
            shed.append(int(jobs[i]))
        self.shed = frozenset(shed)
        self.shed_jobs += len(shed)


@register_policy("power", "polca")
class Polca:
    """POLCA's two-threshold frequency capping (see the module docstring)."""

    noop = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            site_budget_kw: Site power budget (kW); 0 = the scenario's (none: the layer does
                nothing).
            t1_frac: First threshold, share of the budget (low-priority jobs capped).
            t2_frac: Second threshold (every job capped).
            low_cap_frac: Cap while over a threshold, share of TDP.
            release_frac: Caps are released this far below T1 (share of the budget).
        """

        site_budget_kw: float = 0.0
        t1_frac: float = 0.9
        t2_frac: float = 0.95
        low_cap_frac: float = 0.6
        release_frac: float = 0.05

        def __post_init__(self) -> None:
            if not 0 < self.t1_frac <= self.t2_frac <= 1.0:
                msg = f"t1_frac = {self.t1_frac}, t2_frac = {self.t2_frac}: need 0 < t1 ≤ t2 ≤ 1"
                raise ValueError(msg)
            if not 0 < self.low_cap_frac <= 1:
                msg = f"low_cap_frac = {self.low_cap_frac}: must lie in (0, 1]"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.model: FacilityModel | None = None
        self.level = 0  # 0 released, 1 low-priority capped, 2 all capped
        self.firings = 0

    def reset(self, ctx: PolicyContext) -> None:
        """Build the facility model; release every cap."""
        kw = self.params.site_budget_kw
        budget = kw * W_PER_KW if kw > 0 else float(ctx.site_budget_w)
        self.model = FacilityModel(ctx, site_budget_w=budget)
        self.level = 0
        self.firings = 0

    def limits_w(self, view: ClusterView, jobs: IntArray) -> FloatArray:
        """Per-GPU cap ceiling of each job now (TDP when released)."""
        assert self.model is not None
        m = self.model
        tdp = m.job_tdp_w[jobs]
        budget = m.site_budget_w
        if not math.isfinite(budget):
            return tdp
        p = self.params
        fac = float(m.facility_power_w(view.it_power_w, view.supply_temp_c, view.time_s))
        level = self.level
        if fac > p.t2_frac * budget:
            level = 2
        elif fac > p.t1_frac * budget:
            level = max(level, 1)
        elif fac < (p.t1_frac - p.release_frac) * budget:
            level = 0
        if level > self.level:
            self.firings += 1
        self.level = level
        if level == 0:
            return tdp
        low = np.maximum(p.low_cap_frac * tdp, m.job_min_cap_w[jobs])
        if level == 2:
            return np.asarray(low, dtype=np.float64)
        prio = view.jobs.priority[jobs]
        median = float(np.median(prio)) if prio.shape[0] else 0.0
        return np.asarray(np.where(prio < median, low, tdp), dtype=np.float64)

    def set_caps(self, view: ClusterView, starting: Mapping[int, IntArray]) -> Mapping[int, float]:
        """Caps of running and starting jobs while over a threshold; release below it."""
        run = np.asarray(view.running_jobs(), dtype=np.int64)
        start = np.fromiter(starting, np.int64, len(starting))
        jobs = np.concatenate((run, start))
        if jobs.shape[0] == 0:
            return EMPTY_MAP
        caps = self.limits_w(view, jobs)
        cur = view.job_power_cap_w[jobs]
        assert self.model is not None
        cur = np.where(np.isnan(cur), self.model.job_tdp_w[jobs], cur)
        change = np.abs(caps - cur) >= 1.0
        return {int(j): float(c) for j, c in zip(jobs[change], caps[change], strict=True)}
