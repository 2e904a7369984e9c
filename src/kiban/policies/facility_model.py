"""A read-only model of the facility that policies can query (issue 12).

The co-optimizer's layers (``reference/cooptimizer.md`` §2, "the shared model contract") all
predict with the same pure functions of :mod:`kiban.physics`, so a policy's prediction and the
simulator's outcome use one model. :class:`FacilityModel` bundles them for one run, built once
from the :class:`~kiban.policies.base.PolicyContext` (static inputs only: layout, jobs, the
file system's bandwidth and the facility's power function), never from the simulator's state.
Live quantities come from the read-only :class:`~kiban.sim.state.ClusterView` passed to each
query.

Queries:

* per job: power per GPU at a cap (:meth:`gpu_power_w`), speed at a cap (:meth:`speed_frac`),
  remote I/O demand for a cache share (:meth:`remote_demand_b_per_s`), the I/O speed a given
  bandwidth allows (:meth:`io_speed_frac`), and what running jobs see now
  (:meth:`running_speeds`: power-cap, thermal and I/O speed shares);
* the shared file system's bandwidth (:attr:`fs_bandwidth_b_per_s`);
* rack inlets for a rack power vector (:meth:`inlet_temp_c`, ``t_in = T_sup + D·p``,
  Tang et al. 2008), the highest safe supply temperature (:meth:`max_supply_temp_c`, Tang eq. 7
  plus the chip limit), and the thermal headroom at a candidate set-point
  (:meth:`thermal_headroom_w`, an LP upper bound on new power, §10.4 stage A);
* the room as the coupled twin runs it (:meth:`predict_room`), when the run has the facility
  in the loop (``PolicyContext.hall_air``): the steady state of the same published equations
  the twin steps (:mod:`kiban.physics.facility_dynamics`, :func:`fan_speed_frac`) —
  the room air above the set-point when the working units cannot remove the heat
  (``T_set + Q_short/G``), server fans that speed up with load and inlet, the cold aisle's
  airflow deficit against the working units' air, and the exhaust that deficit pulls into
  the inlets (``m/(1 − m)·ΔT_server``), solved as a fixed point in the inlets; the highest
  safe supply then comes from that prediction (:meth:`safe_supply_temp_c`) with every inlet
  at or below the redline and the servers' allowed inlet (DGX H100: 30 °C);
* facility power at an IT power and set-point (:meth:`facility_power_w`,
  :meth:`cooling_power_w`): the run's own plant model when the simulator gave one, else the
  Moore CRAC curve ``P_IT / COP(T_sup)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics import facility_dynamics as fd
from kiban.physics.cooling import crac_cop
from kiban.physics.gpu_power import (
    average_power_under_cap_w,
    demand_power_w,
    speed_frac_under_cap,
)
from kiban.physics.server_power import (
    fan_ramp_span_k,
    fan_speed_frac,
    fan_speed_frac_spans,
    server_power_w,
)
from kiban.physics.storage_io import cache_hit_frac
from kiban.units import AIR_DENSITY_KG_PER_M3, AIR_SPECIFIC_HEAT_J_PER_KG_K

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, BoolArray, FloatArray, IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["DEFAULT_REDLINE_C", "FacilityModel", "RoomPrediction", "RunningSpeeds"]

_RHO_CP = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K

DEFAULT_REDLINE_C = 27.0
"""Highest allowed rack inlet (°C): the ASHRAE recommended envelope's upper end (A1–A4
recommended 18–27 °C, ASHRAE TC 9.9 2021). A scenario with a hotter allowable class may
pass its own."""
DEFAULT_INLET_MARGIN_K = 0.5
"""Margin kept below the redline for model error (K)."""
DEFAULT_CHIP_MARGIN_K = 3.0
"""Margin kept below the GPU slowdown temperature (K), δ_chip of §10.4."""
FIXED_POINT_ITERATIONS = 60
"""Iterations of the inlet fixed point (the map is monotone and saturates when the fans reach
full speed, so it converges from below; 60 reach 1e-6 K in the recirculation room)."""
COIL_MARGIN_FRAC = 0.1
"""Share of the working coils' capacity kept free while a cooling unit is down: the room's
mass gives back its heat after the set-point drop (the twin's room air stayed 3–4 K above the
set-point for tens of minutes after a CRAH failure), on top of the racks' heat."""
ENVELOPE_LOAD_FRAC = 0.05
"""Load margin of the no-deficit envelope the room certificate keeps (share of rack maximum)."""
ENVELOPE_INLET_K = 0.5
"""Inlet margin of that envelope (K)."""
HOT_AISLE_RISE_K = 0.1
"""Most an aisle that is over its limit now may warm from new work elsewhere (K)."""
BUSY_WALL_INLET_C = 22.0
"""Inlet at which :meth:`FacilityModel.busy_gpu_wall_w` evaluates the server's wall power (°C):
below the fans' temperature ramp, so the fans follow the load (the simulator's online estimate
fits at the supply temperature alike)."""
DEFICIT_TOP_FACTOR = 5.0 / 3.0
"""Top-inlet share of an aisle's deficit: the twin's (:func:`facility_dynamics.facility_step`)."""


@dataclass(frozen=True, slots=True)
class RoomPrediction:
    """The room's steady state at a supply set-point and rack power (:meth:`predict_room`).

    Attributes:
        room_air_c: Room (supply) air temperature (°C): the set-point while the working units
            remove the heat, above it when they cannot (inf: no steady state, the plant is the
            limit and the room keeps warming).
        inlet_c: Rack inlets (°C).
        aisle_deficit_frac: Airflow deficit of each cold aisle.
        fan_speed_frac: Server fan speed per rack.
        fan_power_w: Server fan wall power per rack (W).
    """

    room_air_c: float
    inlet_c: FloatArray
    aisle_deficit_frac: FloatArray
    fan_speed_frac: FloatArray
    fan_power_w: FloatArray


@dataclass(frozen=True, slots=True)
class _Units:
    """The working units for one set of units down (:meth:`FacilityModel._units`).

    Attributes:
        supplied_m3_per_s: Air delivered to each aisle after bypass.
        spare: Whether it covers every aisle's servers at full fan speed.
        cap_w: Heat the coils (and the plant) take before the room air rises (W).
        max_w: Each rack's maximum wall power, 1 W for a rack without servers (the load's
            denominator: the load is then the power itself, an upper bound of 0).
        envelope: Rack load and inlet found free of any aisle deficit (empty: none yet).
    """

    supplied_m3_per_s: FloatArray
    spare: bool
    cap_w: float
    max_w: FloatArray
    envelope: list[FloatArray]


@dataclass(frozen=True, slots=True)
class RunningSpeeds:
    """What running jobs see now (slot order).

    Attributes:
        jobs: Job indices.
        n_gpus: GPUs held.
        power_w: Per-GPU board power now (W).
        cap_speed_frac: Speed share the power cap leaves (1 = uncapped).
        thermal_speed_frac: Speed share thermal throttling leaves.
        io_speed_frac: Share of its input demand the file system delivers.
    """

    jobs: IntArray
    n_gpus: IntArray
    power_w: FloatArray
    cap_speed_frac: FloatArray
    thermal_speed_frac: FloatArray
    io_speed_frac: FloatArray

    @property
    def speed_frac(self) -> FloatArray:
        """Progress rate relative to full speed: min(s_cap · s_thermal, s_io)."""
        return np.minimum(self.cap_speed_frac * self.thermal_speed_frac, self.io_speed_frac)


class FacilityModel:
    """Queries on the facility for one run (see the module docstring).

    Args:
        ctx: The run's static inputs.
        redline_c: Highest allowed rack inlet (°C).
        inlet_margin_k: Margin below the redline (K).
        chip_margin_k: Margin below the GPU slowdown temperature (K).
        site_budget_w: Site IT+cooling power budget (W); inf = none.
    """

    def __init__(
        self,
        ctx: PolicyContext,
        *,
        redline_c: float = DEFAULT_REDLINE_C,
        inlet_margin_k: float = DEFAULT_INLET_MARGIN_K,
        chip_margin_k: float = DEFAULT_CHIP_MARGIN_K,
        site_budget_w: float = math.inf,
    ) -> None:
        lay, jobs = ctx.layout, ctx.jobs
        self.layout = lay
        self.jobs = jobs
        self.redline_c = float(redline_c)
        self.inlet_margin_k = float(inlet_margin_k)
        self.chip_margin_k = float(chip_margin_k)
        self.site_budget_w = float(site_budget_w)
        self.supply_range_c = (float(ctx.supply_temp_range_c[0]), float(ctx.supply_temp_range_c[1]))
        self.fs_bandwidth_b_per_s = float(ctx.storage_bandwidth_b_per_s)
        """Shared file-system bandwidth (B/s; inf = no limit)."""
        self._facility = ctx.facility_power_w
        n = lay.n_racks
        d = lay.heat_distribution_k_per_w
        self.d_k_per_w: FloatArray = np.zeros((n, n)) if d is None else np.asarray(d, float)
        """Heat-distribution matrix D (K/W; zeros when the layout has none)."""
        skus = lay.skus
        self._tdp_w = np.array([s.tdp_w for s in skus])
        self._min_w = np.array([s.min_power_limit_w for s in skus])
        self._r_die = np.array([s.die_to_inlet_k_per_w for s in skus])
        # the SW thermal slowdown threshold the simulator throttles at (max operating)
        self._slow_c = np.array([s.max_operating_temp_c for s in skus])
        # SKU of each job: its required model, else the cluster's most common one
        common = int(np.bincount(lay.node_sku_idx, minlength=len(skus)).argmax())
        sku = np.full(jobs.n_jobs, common, dtype=np.int64)
        for model in np.unique(jobs.gpu_model).tolist():
            if model:
                try:
                    sku[jobs.gpu_model == model] = lay.sku_index(str(model))
                except Exception:
                    continue
        self.job_sku: IntArray = sku
        demand = np.empty(jobs.n_jobs)
        for k, s in enumerate(skus):
            sel = sku == k
            if sel.any():
                demand[sel] = demand_power_w(jobs.activity_frac[sel], s)
        self.job_demand_w: FloatArray = demand
        """Per-GPU board power of each job at full clock (W)."""
        self.job_tdp_w: FloatArray = self._tdp_w[sku]
        self.job_min_cap_w: FloatArray = self._min_w[sku]
        self.rack_gpus: IntArray = np.bincount(
            lay.node_rack_idx, weights=lay.node_n_gpus, minlength=n
        ).astype(np.int64)
        self.rack_r_die_k_per_w: FloatArray = np.zeros(n)
        self.rack_slowdown_c: FloatArray = np.full(n, np.inf)
        np.maximum.at(self.rack_r_die_k_per_w, lay.node_rack_idx, self._r_die[lay.node_sku_idx])
        np.minimum.at(self.rack_slowdown_c, lay.node_rack_idx, self._slow_c[lay.node_sku_idx])
        air = np.ones(n)
        if lay.rack_liquid_capture_frac is not None:
            air = 1.0 - np.asarray(lay.rack_liquid_capture_frac, float)
        self.rack_air_frac: FloatArray = air
        self.hall: fd.HallAir | None = ctx.hall_air
        """The hall's air side (None: the run has no facility in the loop; Tang only)."""
        # per rack, as the twin sums them: rated server airflow, maximum wall power, fans
        srv = lay.servers
        node_srv = lay.node_server_idx
        rated = np.array([x.airflow_m3_per_s * (1.0 - x.liquid_capture_frac) for x in srv])
        self.rack_rated_flow_m3_per_s: FloatArray = np.bincount(
            lay.node_rack_idx, weights=rated[node_srv], minlength=n
        ).astype(np.float64)
        max_w = np.array([x.max_power_w for x in srv])
        self.rack_max_w: FloatArray = np.bincount(
            lay.node_rack_idx, weights=max_w[node_srv], minlength=n
        ).astype(np.float64)
        fan_w = np.array([x.fan_max_power_w / x.psu_efficiency_frac for x in srv])
        self.rack_fan_max_w: FloatArray = np.bincount(
            lay.node_rack_idx, weights=fan_w[node_srv], minlength=n
        ).astype(np.float64)
        rack_server = np.zeros(n, dtype=np.int64)
        rack_server[lay.node_rack_idx] = node_srv  # one model per rack, as the twin takes it
        self._rack_server = rack_server
        self._ramp = np.array([fan_ramp_span_k(srv[k]) for k in rack_server.tolist()])
        max_in = np.array([x.max_inlet_temp_c for x in srv])
        self.rack_max_inlet_c: FloatArray = np.full(n, np.inf)
        np.minimum.at(self.rack_max_inlet_c, lay.node_rack_idx, max_in[node_srv])
        """Highest inlet the servers of each rack allow (°C; DGX H100: 30)."""
        self._full_demand: FloatArray | None = None
        self._onehot: FloatArray | None = None
        self._units_memo: dict[bytes, _Units] = {}
        self._d_air: FloatArray = self.d_k_per_w * air[None, :]
        """D with each column times its rack's air share (K/W): ``inlet_rise_k``'s matrix."""
        self._d_air_t: FloatArray = np.ascontiguousarray(self._d_air.T)
        """Row r: the inlet rise per watt of rack r's power (a_r · D[:, r], K/W)."""
        self._d_air_col_max: FloatArray = self._d_air_t.max(axis=0) if n else np.zeros(0)
        """Per inlet: its largest rise per watt of any one rack (K/W)."""
        self._d_air_max = float(self._d_air_t.max(initial=0.0))
        self.adding_counts = [0, 0, 0]
        """Certificates of :meth:`predict_inlets_adding_c`: calls one bound certified,
        candidates checked one by one, full predictions."""
        self._linear: dict[bytes, bool] = {}
        # wall power of a busy GPU (W): slope × (board power − idle) + the host's share, per
        # job, from its SKU's server (the twin's server physics, fans at the load law)
        slope = np.ones(len(skus))
        host = np.zeros(len(skus))
        idle = np.array([s.idle_empty_power_w for s in skus])
        for k, gpu in enumerate(skus):
            server = next((x for x in srv if x.gpu == gpu.name), None)
            if server is None:
                continue
            g = server.n_gpus
            t_c = BUSY_WALL_INLET_C
            lo = float(server_power_w(g * gpu.idle_empty_power_w, 1.0, t_c, server, gpu))
            hi = float(server_power_w(g * gpu.tdp_w, 1.0, t_c, server, gpu))
            slope[k] = (hi - lo) / max(g * (gpu.tdp_w - gpu.idle_empty_power_w), 1e-9)
            none = float(server_power_w(g * gpu.idle_empty_power_w, 0.0, t_c, server, gpu))
            host[k] = (lo - none) / g
        self.job_wall_slope: FloatArray = slope[sku]
        """Rack wall watts per board watt of each job's GPUs (PSU loss and fans; DGX H100 ≈ 1.1)."""
        self.job_host_w: FloatArray = host[sku]
        """Rack wall watts a busy GPU of each job adds for its host (CPUs, memory; per GPU)."""
        self.job_idle_gpu_w: FloatArray = idle[sku]
        """Board power of an idle GPU of each job's SKU (W)."""

    # --- jobs -------------------------------------------------------------------------------
    def speed_frac(self, jobs: ArrayLike, cap_w: ArrayLike) -> FloatArray:
        """Compute speed of jobs at a per-GPU cap relative to uncapped (physics §2.3–2.4)."""
        jobs = np.asarray(jobs, dtype=np.int64)
        cap = np.broadcast_to(np.asarray(cap_w, dtype=np.float64), jobs.shape)
        out = np.ones(jobs.shape)
        for k, s in enumerate(self.layout.skus):
            sel = self.job_sku[jobs] == k
            if sel.any():
                j = jobs[sel]
                out[sel] = speed_frac_under_cap(
                    cap[sel], self.jobs.activity_frac[j], self.jobs.compute_bound_frac[j], s
                )
        return out

    def gpu_power_w(self, jobs: ArrayLike, cap_w: ArrayLike) -> FloatArray:
        """Average board power per GPU of jobs at a per-GPU cap (W): min(P_act, k·cap)."""
        jobs = np.asarray(jobs, dtype=np.int64)
        cap = np.broadcast_to(np.asarray(cap_w, dtype=np.float64), jobs.shape)
        if jobs.shape == (1,):  # one job (a placement's question): its SKU only, same values
            sku = self.layout.skus[int(self.job_sku[jobs[0]])]
            return average_power_under_cap_w(cap, self.jobs.activity_frac[jobs], sku)
        out = np.zeros(jobs.shape)
        for k, s in enumerate(self.layout.skus):
            sel = self.job_sku[jobs] == k
            if sel.any():
                out[sel] = average_power_under_cap_w(
                    cap[sel], self.jobs.activity_frac[jobs[sel]], s
                )
        return out

    def remote_demand_b_per_s(
        self, jobs: ArrayLike, n_gpus: ArrayLike, cache_b: ArrayLike, speed_frac: ArrayLike = 1.0
    ) -> FloatArray:
        """Remote bytes per second of jobs with a cache share, at a compute speed (SiloD model).

        ``rate · g · s · (1 − min(1, c/d))`` (uniform caching of a shuffled epoch: hit = c/d).
        """
        jobs = np.asarray(jobs, dtype=np.int64)
        rate = self.jobs.input_rate_b_per_s_per_gpu[jobs] * np.asarray(n_gpus, float)
        hit = cache_hit_frac(np.asarray(cache_b, float), self.jobs.dataset_size_b[jobs])
        return np.asarray(rate * np.asarray(speed_frac, float) * (1.0 - hit), dtype=np.float64)

    def io_speed_frac(
        self, jobs: ArrayLike, n_gpus: ArrayLike, cache_b: ArrayLike, bandwidth_b_per_s: ArrayLike
    ) -> FloatArray:
        """Speed the given remote bandwidth allows (1 = not I/O-bound): min(1, b / demand)."""
        need = self.remote_demand_b_per_s(jobs, n_gpus, cache_b)
        bw = np.asarray(bandwidth_b_per_s, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(need > 0, bw / np.where(need > 0, need, 1.0), 1.0)
        return np.asarray(np.minimum(s, 1.0), dtype=np.float64)

    @staticmethod
    def running_speeds(view: ClusterView) -> RunningSpeeds:
        """Power-cap, thermal and I/O speed shares of the running jobs now (read-only view)."""
        sp = view.running_speed_frac()
        return RunningSpeeds(
            jobs=np.asarray(view.running_jobs(), dtype=np.int64),
            n_gpus=np.asarray(view.running_num_gpus(), dtype=np.int64),
            power_w=np.asarray(view.running_power_w(), dtype=np.float64),
            cap_speed_frac=np.asarray(sp[:, 0]),
            thermal_speed_frac=np.asarray(sp[:, 1]),
            io_speed_frac=np.asarray(sp[:, 2]),
        )

    def busy_gpu_wall_w(self, jobs: ArrayLike, gpu_w: ArrayLike) -> FloatArray:
        """Rack wall power one busy GPU of each job adds over an idle GPU (W).

        ``slope · (P_gpu − P_idle) + host share``: the server's wall power
        (:func:`kiban.physics.server_power.server_power_w`: GPUs + host + fans through the
        PSU) at full host load less at none, per GPU, and its slope in the board power. A
        DGX H100 GPU at 600 W adds about 810 W at the wall, not 600 W: the host, fans and PSU
        loss are a quarter of a busy server's heat.
        """
        jobs = np.asarray(jobs, dtype=np.int64)
        g = np.asarray(gpu_w, dtype=np.float64)
        out = self.job_wall_slope[jobs] * (g - self.job_idle_gpu_w[jobs]) + self.job_host_w[jobs]
        return np.asarray(np.maximum(out, 0.0), dtype=np.float64)

    def room_at_risk(self, view: ClusterView) -> bool:
        """A cooling unit is down or a measured inlet is above the redline (the nets' trigger)."""
        failed = view.cooling_units_failed
        if failed is not None and bool(np.any(failed)):
            return True
        return float(np.max(view.rack_inlet_temp_c, initial=-math.inf)) > self.redline_c

    def room_new_gpus(self, view: ClusterView, rack_free_gpus: ArrayLike, per_gpu_w: float) -> int:
        """Busy GPUs more that the room takes now, at the lowest set-point (the room guard).

        The largest ``k`` such that the facility model (:meth:`predict_room`, from the
        inlets measured now) keeps every inlet within :attr:`inlet_limit_c` (redline − δ_in)
        at the lowest allowed set-point with ``k`` busy GPUs of ``per_gpu_w`` wall power
        each added on the racks with free GPUs, in proportion to their free GPUs. None while
        a measured inlet is above the redline (the room air is shared: a coil that falls
        short warms every aisle; the model's steady state does not see the room's thermal
        mass still giving back heat after a set-point drop), except in an aisle past the
        servers' allowed inlet: after a runaway the twin's room can stay there, on its upper
        fixed point, even with that aisle idle, while the other aisle is cool. Such an aisle
        takes no new work and its racks must not warm by more than
        :data:`HOT_AISLE_RISE_K` from the others' new work. The margin against the
        servers' allowed inlet, which the power layer's net holds by suspending work, keeps
        the two from thrashing: work is suspended above the allowed inlet and restarted only
        below the redline.

        Args:
            view: The cluster view.
            rack_free_gpus: Free GPUs per rack.
            per_gpu_w: Wall power a busy GPU adds (W; :meth:`busy_gpu_wall_w`).

        Returns:
            GPUs (0 when the room takes none; all free GPUs when it takes them all).
        """
        inlet_now = np.asarray(view.rack_inlet_temp_c, dtype=np.float64)
        hot = self.hot_aisle_racks(inlet_now, self.allowed_inlet_c)
        if (inlet_now[~hot] > self.redline_c).any():
            return 0  # the room is over the redline now (the room air is shared): no new heat
        free = np.where(hot, 0.0, np.asarray(rack_free_gpus, dtype=np.float64))
        total = round(float(free.sum()))
        if total <= 0:
            return 0
        rack_w = np.asarray(view.rack_power_w, dtype=np.float64)
        lowest = self.supply_range_c[0]
        room = (view.cooling_units_failed, inlet_now, float(view.supply_temp_c))
        share = free / float(free.sum())
        limit = self.inlet_limit_c + 1e-9
        if hot.any():
            base = self.predict_room(lowest, rack_w, *room).inlet_c
            limit = np.where(hot, np.maximum(base, limit) + HOT_AISLE_RISE_K, limit)

        def ok(k: int) -> bool:
            p = rack_w + k * per_gpu_w * share
            pred = self.predict_room(lowest, p, *room)
            inlet = self.held_inlet_c(pred, lowest, room[0], p, coil_margin_frac=COIL_MARGIN_FRAC)
            return bool((inlet <= limit).all())

        if ok(total):
            return total
        if not ok(0):
            return 0
        lo, hi = 0, total  # ok at lo, not at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo

    def held_inlet_c(
        self,
        pred: RoomPrediction,
        supply_temp_c: float,
        units_failed: ArrayLike | None,
        rack_power_w: ArrayLike,
        *,
        coil_margin_frac: float = 0.0,
    ) -> FloatArray:
        """A prediction's inlets, +inf everywhere when a unit is down and the coils fall short.

        With a cooling unit down the room is held only while the working coils take the
        heat with ``coil_margin_frac`` of their capacity to spare (the layered stack and
        the elastic layer's room guard: :data:`COIL_MARGIN_FRAC`) and the room air stays at
        the set-point: the
        twin's room air above the set-point is the model's steady state only after the
        room's mass has given back its heat, and on the way a room at its airflow limit runs
        away (CRAC-failure seed 3 of the ablation: 35–38 kW under one 36 kW unit). So the
        layers that hold the room after an alarm treat a shortfall as over every limit.
        """
        return self.held_c(
            pred.room_air_c,
            pred.inlet_c,
            supply_temp_c,
            units_failed,
            rack_power_w,
            coil_margin_frac=coil_margin_frac,
        )

    def held_c(
        self,
        room_air_c: float,
        inlet_c: FloatArray,
        supply_temp_c: float,
        units_failed: ArrayLike | None,
        rack_power_w: ArrayLike,
        *,
        coil_margin_frac: float = 0.0,
    ) -> FloatArray:
        """:meth:`held_inlet_c` of a prediction given as its room air and inlets."""
        failed = None if units_failed is None else np.asarray(units_failed, dtype=bool)
        if failed is None or not failed.any() or self.hall is None:
            return inlet_c
        cap_w = float(self.hall.crah_capacity_w[~failed].sum()) * (1.0 - coil_margin_frac)
        heat_w = float((np.asarray(rack_power_w, dtype=np.float64) * self.rack_air_frac).sum())
        if room_air_c > supply_temp_c + 1e-6 or heat_w > cap_w:
            return np.full(inlet_c.shape[0], math.inf)
        return inlet_c

    def hot_aisle_racks(self, inlet_c: ArrayLike, threshold_c: ArrayLike) -> BoolArray:
        """Racks in an aisle where some measured inlet is above ``threshold_c`` (per rack)."""
        over = np.asarray(inlet_c, dtype=np.float64) > np.asarray(threshold_c, dtype=np.float64)
        hall = self.hall
        if hall is None or not over.any():
            return np.asarray(over, dtype=bool)
        return np.asarray(np.isin(hall.rack_aisle, hall.rack_aisle[over]), dtype=bool)

    # --- room -------------------------------------------------------------------------------
    def inlet_rise_k(self, rack_power_w: ArrayLike) -> FloatArray:
        """Recirculation rise of each rack's inlet above the supply (K): D · (air share · p)."""
        p = np.asarray(rack_power_w, dtype=np.float64) * self.rack_air_frac
        return np.asarray(p @ self.d_k_per_w.T, dtype=np.float64)

    def inlet_temp_c(self, supply_temp_c: float, rack_power_w: ArrayLike) -> FloatArray:
        """Steady rack inlets (°C) for a rack power vector: ``T_sup + D·p`` (Tang eq. 6)."""
        return supply_temp_c + self.inlet_rise_k(rack_power_w)

    def max_supply_temp_c(
        self, rack_power_w: ArrayLike, rack_gpu_max_w: ArrayLike | None = None
    ) -> float:
        """Highest supply temperature keeping every inlet and GPU below its limit (°C).

        ``min(T_red − δ_in − max_i (D p)_i, min_r (T_slow,r − δ_chip − R_r·P_gpu,max,r − (D p)_r))``
        (Tang eq. 7 with the chip limit of §8.2), clipped to the allowed range.

        Args:
            rack_power_w: Rack power (W).
            rack_gpu_max_w: Highest per-GPU power in each rack (W); default: none running.
        """
        rise = self.inlet_rise_k(rack_power_w)
        t = self.redline_c - self.inlet_margin_k - float(rise.max(initial=0.0))
        if rack_gpu_max_w is not None:
            gpu = np.asarray(rack_gpu_max_w, dtype=np.float64)
            chip = self.rack_slowdown_c - self.chip_margin_k - self.rack_r_die_k_per_w * gpu - rise
            t = min(t, float(chip[gpu > 0].min(initial=np.inf)))
        lo, hi = self.supply_range_c
        return float(np.clip(t, lo, hi))

    def thermal_headroom_w(
        self, supply_temp_c: float, rack_power_w: ArrayLike, rack_new_max_w: ArrayLike
    ) -> float:
        """Upper bound on new rack power the room takes at a supply set-point (W).

        The LP relaxation of placement of §10.4 stage A: ``max Σ q_r`` subject to
        ``T_k + D(p₀ + q) ≤ T_red − δ`` and ``0 ≤ q_r ≤ q_max,r``. Returns 0 when the room is
        already over the limit and the sum of ``rack_new_max_w`` when nothing binds.
        """
        p0 = np.asarray(rack_power_w, dtype=np.float64)
        qmax = np.maximum(np.asarray(rack_new_max_w, dtype=np.float64), 0.0)
        limit = self.redline_c - self.inlet_margin_k - supply_temp_c - self.inlet_rise_k(p0)
        if (limit < 0).any():
            return 0.0
        d = self.d_k_per_w * self.rack_air_frac[None, :]
        if not d.any() or (d @ qmax <= limit + 1e-12).all():
            return float(qmax.sum())
        from scipy.optimize import linprog  # noqa: PLC0415 (startup time: validate)

        res = linprog(
            -np.ones(qmax.shape[0]),
            A_ub=d,
            b_ub=limit,
            bounds=list(zip(np.zeros_like(qmax), qmax, strict=True)),
            method="highs",
        )
        return float(-res.fun) if res.status == 0 else 0.0

    # --- the room as the coupled twin runs it -----------------------------------------------
    @property
    def allowed_inlet_c(self) -> FloatArray:
        """Highest inlet the servers of each rack allow, less δ_in (°C; DGX H100: 30 − 0.5).

        The hardware limit the power and placement layers hold (they cap and hold back work
        only to keep servers within their rating); the cooling layer holds the redline.
        """
        return self.rack_max_inlet_c - self.inlet_margin_k

    @property
    def inlet_limit_c(self) -> FloatArray:
        """Highest inlet kept at each rack (°C): min(redline, servers' allowed inlet) − δ_in."""
        return np.minimum(self.redline_c, self.rack_max_inlet_c) - self.inlet_margin_k

    def _fan_speed(self, load: FloatArray, inlet_c: FloatArray) -> FloatArray:
        """Server fan speed per rack from load and inlet (the twin's law, one model per rack)."""
        srv = self.layout.servers
        if len(srv) == 1:
            return np.asarray(fan_speed_frac(load, inlet_c, srv[0]), dtype=np.float64)
        # each rack with its model's ramp, one elementwise pass (the same values)
        return fan_speed_frac_spans(
            np.asarray(load, dtype=np.float64), np.asarray(inlet_c, dtype=np.float64), self._ramp
        )

    def predict_room(
        self,
        supply_temp_c: float,
        rack_power_w: ArrayLike,
        units_failed: ArrayLike | None = None,
        inlet_now_c: ArrayLike | None = None,
        supply_now_c: float | None = None,
    ) -> RoomPrediction:
        """Steady room air and rack inlets at a set-point and rack power (see the module doc).

        The equations the coupled twin steps (:func:`facility_dynamics.facility_step`), at
        their steady state: room air ``T_set`` while the working units' coils take the heat,
        else ``T_set + (Q − Q_cap)/G`` (G = ε·ρ·c_p·V̇ of the working units; no steady state
        when the plant is the limit); inlets ``T_room + D·p + m_top/(1 − m_top)·ΔT_server``
        with the aisle deficit ``m`` of the servers' fan airflow (load and inlet) against the
        working units' air less bypass. The inlets are a fixed point (fans speed up as inlets
        warm); it is reached by iterating from the inlets without deficit (monotone, bounded
        by full fan speed), as the twin reaches it step by step; given the inlets measured
        now, from there, moved by the change of the room air (a room whose fans already run
        at full speed after a runaway stays on that upper branch until the heat falls enough:
        the fixed point is not unique). Without a hall (no facility in the loop) the room is
        ``T_sup + D·p`` (Tang eq. 6).

        Args:
            supply_temp_c: Supply-air set-point (°C).
            rack_power_w: Rack wall power (W).
            units_failed: CRAH/CRAC units that are down (the view's alarms; None: none).
            inlet_now_c: Rack inlets measured now (°C), the iteration's start; None: from
                the inlets without a deficit.
            supply_now_c: Supply (room) air now (°C), with ``inlet_now_c``: the start moves
                by the predicted room air minus this (default: the set-point asked for).
        """
        p = np.asarray(rack_power_w, dtype=np.float64)
        base = self.inlet_rise_k(p)
        hall = self.hall
        load = np.divide(p, self.rack_max_w, out=np.zeros_like(p), where=self.rack_max_w > 0)
        if hall is None:
            inlet = supply_temp_c + base
            speed = self._fan_speed(load, inlet)
            return RoomPrediction(
                float(supply_temp_c), inlet, np.zeros(0), speed, self.rack_fan_max_w * speed**3
            )
        n_units = hall.crah_capacity_w.shape[0]
        failed = (
            np.zeros(n_units, dtype=bool)
            if units_failed is None
            else np.asarray(units_failed, dtype=bool)
        )
        working = ~failed
        heat = p * self.rack_air_frac
        q_w = float(heat.sum())
        crah_w = float(hall.crah_capacity_w[working].sum())
        plant_w = hall.chiller_capacity_w + hall.dry_cooler_capacity_w  # design capacities
        cap_w = min(crah_w, plant_w)
        if q_w <= cap_w:
            room_c = float(supply_temp_c)
        elif crah_w < plant_w:
            g = (
                fd.COIL_EFFECTIVENESS_FRAC
                * _RHO_CP
                * float(hall.crah_airflow_m3_per_s[working].sum())
            )
            room_c = float(supply_temp_c) + (q_w - cap_w) / g if g > 0 else math.inf
        else:
            room_c = math.inf
        supplied = (hall.crah_airflow_m3_per_s * working) @ hall.crah_aisle_share
        supplied = supplied * (1.0 - hall.bypass_frac)
        aisle = hall.rack_aisle
        inlet = room_c + base
        full = self._full_speed_demand(hall)
        if math.isfinite(room_c) and (supplied >= full - 1e-12).all():
            # the units out-supply the servers even at full fan speed: no deficit can arise
            speed = self._fan_speed(load, inlet)
            m0 = np.zeros(hall.n_aisles)
            return RoomPrediction(room_c, inlet, m0, speed, self.rack_fan_max_w * speed**3)
        if inlet_now_c is not None and math.isfinite(room_c):
            shift = room_c - (supply_temp_c if supply_now_c is None else supply_now_c)
            inlet = np.maximum(inlet, np.asarray(inlet_now_c, dtype=np.float64) + shift)
        m = np.zeros(hall.n_aisles)
        speed = self._fan_speed(load, inlet)
        if math.isfinite(room_c):
            for _ in range(FIXED_POINT_ITERATIONS):
                flow = fd.server_airflow_m3_per_s(speed, self.rack_rated_flow_m3_per_s)
                demand = np.bincount(aisle, weights=flow, minlength=hall.n_aisles)
                m = fd.aisle_deficit_frac(demand, supplied)
                if not m.any():
                    # no deficit: the step lands on T_room + D·p, whose fans are no faster
                    # (speed, airflow and deficit rise with load and inlet), so it stays
                    # there: the loop's own result, without its remaining steps
                    inlet = room_c + base
                    speed = self._fan_speed(load, inlet)
                    break
                top = np.minimum(fd.MAX_DEFICIT_FRAC, DEFICIT_TOP_FACTOR * m[aisle])
                new = room_c + base + fd.deficit_inlet_rise_k(top, heat, flow)
                done = float(np.abs(new - inlet).max(initial=0.0)) < 1e-6
                inlet = new
                speed = self._fan_speed(load, inlet)
                if done:
                    break
        return RoomPrediction(room_c, inlet, m, speed, self.rack_fan_max_w * speed**3)

    def room_air_adding_c(
        self, supply_temp_c: float, heat_w: FloatArray, units_failed: ArrayLike | None = None
    ) -> FloatArray:
        """Steady room air (°C) for each total air-side heat in ``heat_w`` (W).

        As :meth:`predict_room` takes it: the set-point while the working units' coils (and the
        plant) take the heat, else ``T_set + (Q − Q_cap)/G``, inf when the plant is the limit.
        """
        q = np.asarray(heat_w, dtype=np.float64)
        hall = self.hall
        if hall is None:
            return np.full(q.shape, float(supply_temp_c))
        n_units = hall.crah_capacity_w.shape[0]
        failed = (
            np.zeros(n_units, dtype=bool)
            if units_failed is None
            else np.asarray(units_failed, dtype=bool)
        )
        working = ~failed
        crah_w = float(hall.crah_capacity_w[working].sum())
        plant_w = hall.chiller_capacity_w + hall.dry_cooler_capacity_w
        cap_w = min(crah_w, plant_w)
        room = np.full(q.shape, float(supply_temp_c))
        over = q > cap_w
        if over.any():
            if crah_w < plant_w:
                g = (
                    fd.COIL_EFFECTIVENESS_FRAC
                    * _RHO_CP
                    * float(hall.crah_airflow_m3_per_s[working].sum())
                )
                room[over] = float(supply_temp_c) + (q[over] - cap_w) / g if g > 0 else math.inf
            else:
                room[over] = math.inf
        return room

    def predict_inlets_adding_c(
        self,
        supply_temp_c: float,
        rack_power_w: ArrayLike,
        racks: IntArray,
        add_w: float,
        *,
        units_failed: ArrayLike | None = None,
        inlet_now_c: ArrayLike | None = None,
        supply_now_c: float | None = None,
    ) -> FloatArray:
        """Rack inlets (°C) of :meth:`predict_room` with ``add_w`` added to each of ``racks``.

        Row ``k`` is ``predict_room(supply, p + add_w·e_racks[k], ...).inlet_c`` for all
        candidates at once (XInt's question: where does the job's heat raise the peak least).
        Nothing is linearized. Where the prediction's fixed point is the room air plus
        recirculation, ``T_room + D·(a·p)`` (Tang's superposition: one rack's power moves the
        inlets by one column of D), a candidate's row is the current ``D·(a·p)`` plus that
        column times ``a_r·add_w``, with the candidate's own room air. That is exact when no
        cold aisle has an airflow deficit at the iteration's start: the deficit is 0, so the
        first step lands on ``T_room + D·p``, whose fans are no faster (fan speed, airflow and
        deficit all rise with load and inlet), so the second step stays there. It is
        certified first for every candidate at once with an upper bound (every rack's load
        with ``add_w`` added, every inlet at its highest over the candidates), then per
        candidate; a candidate without the certificate (an aisle short of air) and a room with
        no steady state (inf) get the full :meth:`predict_room`. The same values as
        :meth:`predict_room` up to rounding (the sum ``D·p`` taken in another order; the
        tests hold them within 1e-9 K).
        """
        p = np.asarray(rack_power_w, dtype=np.float64)
        r = np.asarray(racks, dtype=np.int64)
        room = (units_failed, inlet_now_c, supply_now_c)
        base, room_c, ok = self._adding_certified(supply_temp_c, p, r, add_w, *room)
        inlet = room_c[:, None] + base[None, :] + self._d_air_t[r] * add_w
        for i in np.flatnonzero(~ok).tolist():
            inlet[i] = self._predict_adding(supply_temp_c, p, int(r[i]), add_w, *room)
        return inlet

    def predict_inlets_c(
        self,
        supply_temp_c: float,
        rack_power_w: ArrayLike,
        units_failed: ArrayLike | None = None,
        inlet_now_c: ArrayLike | None = None,
        supply_now_c: float | None = None,
    ) -> tuple[float, FloatArray]:
        """:meth:`predict_room`'s room air and inlets, by the certificate where it holds.

        ``T_room + D·(a·p)`` where no aisle has a deficit at the iteration's start (see
        :meth:`predict_inlets_adding_c`), else the full prediction.
        """
        p = np.asarray(rack_power_w, dtype=np.float64)
        room = (units_failed, inlet_now_c, supply_now_c)
        if p.shape[0] == 0:
            pred = self.predict_room(supply_temp_c, p, *room)
            return pred.room_air_c, pred.inlet_c
        base, room_c, ok = self._adding_certified(
            supply_temp_c, p, np.zeros(1, np.int64), 0.0, *room
        )
        if not ok[0]:
            self.adding_counts[2] += 1
            pred = self.predict_room(supply_temp_c, p, *room)
            return pred.room_air_c, pred.inlet_c
        return float(room_c[0]), room_c[0] + base

    def peak_inlet_adding_c(
        self,
        supply_temp_c: float,
        rack_power_w: ArrayLike,
        racks: IntArray,
        add_w: float,
        *,
        units_failed: ArrayLike | None = None,
        inlet_now_c: ArrayLike | None = None,
        supply_now_c: float | None = None,
    ) -> FloatArray:
        """Highest inlet (°C) of each row of :meth:`predict_inlets_adding_c` (the same values).

        Only the inlets that can be the peak are formed: adding at most ``add_w·max(a·D)`` to
        any inlet, a rack more than that below the current highest never is.
        """
        p = np.asarray(rack_power_w, dtype=np.float64)
        r = np.asarray(racks, dtype=np.int64)
        room = (units_failed, inlet_now_c, supply_now_c)
        base, room_c, ok = self._adding_certified(supply_temp_c, p, r, add_w, *room)
        out = self._peak_adding(base, r, add_w, room_c[None, :])
        for i in np.flatnonzero(~ok).tolist():
            out[i] = float(self._predict_adding(supply_temp_c, p, int(r[i]), add_w, *room).max())
        return out

    def peak_rise_adding_k(
        self, rack_power_w: ArrayLike, racks: IntArray, add_w: float
    ) -> FloatArray:
        """Highest ``D·(a·p)`` (K) with ``add_w`` added to each of ``racks`` in turn (Tang).

        ``max_i (D·(a·p))_i + a_r·D_ir·add_w`` per candidate ``r``, formed only on the inlets
        that can be the peak (as :meth:`peak_inlet_adding_c`): the same values as the whole
        (n, k) array's maximum.
        """
        base = self.inlet_rise_k(rack_power_w)
        return self._peak_adding(base, np.asarray(racks, dtype=np.int64), add_w, 0.0)

    def _peak_adding(
        self, base: FloatArray, r: IntArray, add_w: float, offset: FloatArray | float
    ) -> FloatArray:
        """``max_i offset + base_i + D_ir·add_w`` per candidate ``r`` (a column of the result).

        Formed only on the inlets that can be the peak: adding at most ``add_w·max(a·D)``, a row
        more than that below ``base``'s highest never is. ``offset`` is added first, as the
        whole array would add it.
        """
        add = max(float(add_w), 0.0)
        top = float(base.max(initial=-math.inf))
        rows = np.flatnonzero(base >= top - add * self._d_air_max - 1e-9)
        d = self._d_air[rows[0], r][None, :] if rows.shape[0] == 1 else self._d_air[rows][:, r]
        inlet = offset + base[rows][:, None] + d * add_w  # (rows, k)
        return np.asarray(inlet.max(axis=0), dtype=np.float64)

    def _predict_adding(  # noqa: PLR0917 - predict_room's arguments and the candidate
        self,
        supply_temp_c: float,
        p: FloatArray,
        rack: int,
        add_w: float,
        units_failed: ArrayLike | None,
        inlet_now_c: ArrayLike | None,
        supply_now_c: float | None,
    ) -> FloatArray:
        """:meth:`predict_room`'s inlets with ``add_w`` added to ``rack`` (a full prediction)."""
        self.adding_counts[2] += 1
        q = p.copy()
        q[rack] += add_w
        return self.predict_room(supply_temp_c, q, units_failed, inlet_now_c, supply_now_c).inlet_c

    def _adding_certified(  # noqa: PLR0917 - predict_room's arguments and the candidates
        self,
        supply_temp_c: float,
        p: FloatArray,
        r: IntArray,
        add_w: float,
        units_failed: ArrayLike | None,
        inlet_now_c: ArrayLike | None,
        supply_now_c: float | None,
    ) -> tuple[FloatArray, FloatArray, BoolArray]:
        """``D·(a·p)``, each candidate's room air, and where the superposition is exact.

        See :meth:`predict_inlets_adding_c`. ``adding_counts`` counts the calls the one bound
        certified, the candidates checked one by one, and the full predictions.
        """
        base = self.inlet_rise_k(p)
        hall = self.hall
        k = r.shape[0]
        if hall is None:
            return base, np.full(k, float(supply_temp_c)), np.ones(k, dtype=bool)
        units = self._units(hall, units_failed)
        air = self.rack_air_frac
        q0_w = float((p * air).sum())
        if q0_w + max(float(add_w), 0.0) * float(air.max(initial=0.0)) <= units.cap_w:
            room_c = np.full(k, float(supply_temp_c))  # the coils take every candidate's heat
            ok = np.ones(k, dtype=bool)
        else:
            room_c = self.room_air_adding_c(supply_temp_c, q0_w + add_w * air[r], units_failed)
            ok = np.isfinite(room_c)
            if not ok.any():
                return base, room_c, ok
        if units.spare or k == 0:
            return base, room_c, ok  # no deficit at any fan speed (predict_room's first exit)
        load = p / units.max_w  # ≥ predict_room's load (equal where the rack has servers)
        step = add_w / units.max_w
        sup_now = supply_temp_c if supply_now_c is None else supply_now_c
        now = None if inlet_now_c is None else np.asarray(inlet_now_c, dtype=np.float64)
        # one bound for all candidates: every rack's load raised, every inlet at its highest
        room_hi = float(room_c.max()) if ok.all() else float(room_c[ok].max())
        hi = room_hi + base + self._d_air_col_max * max(float(add_w), 0.0)
        if now is not None:
            hi = np.maximum(hi, now + (room_hi - sup_now))
        if self._within_envelope(hall, units, load + step, hi):
            self.adding_counts[0] += 1
            return base, room_c, ok
        # one by one (as one array): each candidate's own start and load
        self.adding_counts[1] += k
        room_ok = np.where(ok, room_c, 0.0)
        start = room_ok[:, None] + base[None, :] + self._d_air_t[r] * add_w
        if now is not None:
            start = np.maximum(start, now[None, :] + (room_ok - sup_now)[:, None])
        load_k = np.broadcast_to(load, (k, load.shape[0])).copy()
        load_k[np.arange(k), r] += step[r]
        ok &= self._deficit_free(hall, load_k, start, units.supplied_m3_per_s)
        return base, room_c, ok

    def _within_envelope(
        self, hall: fd.HallAir, units: _Units, load: FloatArray, inlet_c: FloatArray
    ) -> bool:
        """Whether fans at ``load`` and ``inlet_c`` (or below) leave no aisle short of air.

        A load and inlet vector found free of deficit is kept (per set of units down) with a
        margin (:data:`ENVELOPE_LOAD_FRAC`, :data:`ENVELOPE_INLET_K`) when the margin is free
        of deficit too; a later query at or below it elementwise needs no fan computation
        (fan speed, airflow and deficit rise with load and inlet).
        """
        env = units.envelope
        if env and (load <= env[0]).all() and (inlet_c <= env[1]).all():
            return True
        supplied = units.supplied_m3_per_s
        wide = (load + ENVELOPE_LOAD_FRAC, inlet_c + ENVELOPE_INLET_K)
        if self._deficit_free(hall, *wide, supplied):
            units.envelope[:] = wide
            return True
        if self._deficit_free(hall, load, inlet_c, supplied):
            units.envelope[:] = (load, inlet_c)
            return True
        return False

    def _deficit_free(
        self, hall: fd.HallAir, load: FloatArray, inlet_c: FloatArray, supplied: FloatArray
    ) -> BoolArray:
        """Whether no aisle has an airflow deficit with fans at ``load`` and ``inlet_c``.

        Per row of a (k, n) pair (or one bool for (n,)): the servers' airflow at the fan speed
        of that load and inlet, summed per aisle, against the units' supply. Supply at least
        the demand: :func:`fd.aisle_deficit_frac` is 0 (it may also be 0 a rounding below;
        the test is then the stricter one).
        """
        speed = self._fan_speed(load, inlet_c)
        flow = fd.server_airflow_m3_per_s(speed, self.rack_rated_flow_m3_per_s)
        demand = (
            np.bincount(hall.rack_aisle, weights=flow, minlength=hall.n_aisles)
            if flow.ndim == 1
            else flow @ self._aisle_onehot(hall)
        )
        return np.asarray((supplied >= demand).all(axis=-1))

    def _units(self, hall: fd.HallAir, units_failed: ArrayLike | None) -> _Units:
        """The working units' air and coils for a set of units down (kept per set)."""
        failed = (
            np.zeros(hall.crah_capacity_w.shape[0], dtype=bool)
            if units_failed is None
            else np.asarray(units_failed, dtype=bool)
        )
        key = failed.tobytes()
        hit = self._units_memo.get(key)
        if hit is None:
            supplied = (hall.crah_airflow_m3_per_s * ~failed) @ hall.crah_aisle_share
            supplied = supplied * (1.0 - hall.bypass_frac)
            crah_w = float(hall.crah_capacity_w[~failed].sum())
            plant_w = hall.chiller_capacity_w + hall.dry_cooler_capacity_w
            hit = _Units(
                supplied_m3_per_s=supplied,
                spare=bool((supplied >= self._full_speed_demand(hall) - 1e-12).all()),
                cap_w=min(crah_w, plant_w),
                max_w=np.where(self.rack_max_w > 0, self.rack_max_w, 1.0),
                envelope=[],
            )
            self._units_memo[key] = hit
        return hit

    def _aisle_onehot(self, hall: fd.HallAir) -> FloatArray:
        """(n_racks, n_aisles) indicator of each rack's aisle, computed once."""
        out = self._onehot
        if out is None:
            out = np.zeros((hall.rack_aisle.shape[0], hall.n_aisles))
            out[np.arange(hall.rack_aisle.shape[0]), hall.rack_aisle] = 1.0
            self._onehot = out
        return out

    def _full_speed_demand(self, hall: fd.HallAir) -> FloatArray:
        """Air each aisle's servers draw at full fan speed (m³/s), computed once."""
        out = self._full_demand
        if out is None:
            flow = fd.server_airflow_m3_per_s(1.0, self.rack_rated_flow_m3_per_s)
            out = np.bincount(hall.rack_aisle, weights=flow, minlength=hall.n_aisles).astype(float)
            self._full_demand = out
        return out

    def room_is_linear(self, units_failed: ArrayLike | None = None) -> bool:
        """Whether the room is Tang's ``T_sup + D·p`` at any load with these units down.

        True without a hall, or when the working units out-supply every aisle's servers at
        full fan speed and their coils take the hall's maximum heat: then no deficit and no
        shortfall can arise, and the cheap linear model is exact.
        """
        hall = self.hall
        if hall is None:
            return True
        failed = (
            np.zeros(hall.crah_capacity_w.shape[0], dtype=bool)
            if units_failed is None
            else np.asarray(units_failed, dtype=bool)
        )
        key = failed.tobytes()
        hit = self._linear.get(key)
        if hit is None:
            working = ~failed
            supplied = (hall.crah_airflow_m3_per_s * working) @ hall.crah_aisle_share
            supplied = supplied * (1.0 - hall.bypass_frac)
            heat_max = float((self.rack_max_w * self.rack_air_frac).sum())
            cap = min(
                float(hall.crah_capacity_w[working].sum()),
                hall.chiller_capacity_w + hall.dry_cooler_capacity_w,
            )
            hit = bool((supplied >= self._full_speed_demand(hall) - 1e-12).all()) and (
                heat_max <= cap
            )
            self._linear[key] = hit
        return hit

    def supply_is_safe(
        self,
        supply_temp_c: float,
        rack_power_w: ArrayLike,
        rack_gpu_max_w: ArrayLike | None = None,
        units_failed: ArrayLike | None = None,
        *,
        limit_c: ArrayLike | None = None,
        inlet_now_c: ArrayLike | None = None,
        supply_now_c: float | None = None,
    ) -> bool:
        """Whether every predicted inlet and GPU stays within its limit at this set-point.

        ``limit_c``: the inlet limit per rack (default :attr:`inlet_limit_c`, the redline).
        """
        pred = self.predict_room(
            supply_temp_c, rack_power_w, units_failed, inlet_now_c, supply_now_c
        )
        limit = self.inlet_limit_c if limit_c is None else np.asarray(limit_c, dtype=np.float64)
        if not (pred.inlet_c <= limit + 1e-9).all():
            return False
        if rack_gpu_max_w is None:
            return True
        gpu = np.asarray(rack_gpu_max_w, dtype=np.float64)
        die = pred.inlet_c + self.rack_r_die_k_per_w * gpu
        on = gpu > 0
        return bool((die[on] <= self.rack_slowdown_c[on] - self.chip_margin_k + 1e-9).all())

    def safe_supply_temp_c(
        self,
        rack_power_w: ArrayLike,
        rack_gpu_max_w: ArrayLike | None = None,
        units_failed: ArrayLike | None = None,
        *,
        step_k: float = 0.5,
        inlet_now_c: ArrayLike | None = None,
        supply_now_c: float | None = None,
        max_c: float = math.inf,
    ) -> float:
        """Highest set-point on the ``step_k`` grid at which :meth:`supply_is_safe` (°C).

        Bisection between the allowed range's ends (the predicted inlets rise monotonically
        with the set-point); the lowest allowed set-point when none is safe (the most the
        cooling can do; the other layers must shed heat). ``inlet_now_c``/``supply_now_c``:
        the room now (see :meth:`predict_room`); ``max_c``: no higher than this (a rate limit).
        """
        lo, hi = self.supply_range_c
        k_hi = max(math.floor((min(hi, max_c) - lo) / step_k + 1e-9), 0)

        def safe(t: float) -> bool:
            return self.supply_is_safe(
                t,
                rack_power_w,
                rack_gpu_max_w,
                units_failed,
                inlet_now_c=inlet_now_c,
                supply_now_c=supply_now_c,
            )

        # the answer is usually within a few steps of the top (the set-point moves slowly)
        b = k_hi  # unsafe from here up, once checked
        for k in range(k_hi, max(k_hi - 4, -1), -1):
            if safe(lo + k * step_k):
                return lo + k * step_k
            b = k
        if b == 0 or not safe(lo):
            return lo
        a = 0  # safe at a, unsafe at b
        while b - a > 1:
            mid = (a + b) // 2
            if safe(lo + mid * step_k):
                a = mid
            else:
                b = mid
        return lo + a * step_k

    # --- facility power ---------------------------------------------------------------------
    def cooling_power_w(
        self, it_power_w: ArrayLike, supply_temp_c: ArrayLike, time_s: float = 0.0
    ) -> FloatArray:
        """Cooling power (W) at an IT power and supply set-point.

        The run's plant model when the simulator gave one (climate, economizer, fans), else
        the Moore CRAC curve ``P_IT / COP(T_sup)`` (Moore et al. 2005; Tang et al. 2008).
        """
        it = np.asarray(it_power_w, dtype=np.float64)
        sup = np.asarray(supply_temp_c, dtype=np.float64)
        if self._facility is None:
            return np.asarray(it / crac_cop(sup), dtype=np.float64)
        it_b, sup_b = np.broadcast_arrays(it, sup)
        cooling, _, _ = self._facility(it_b, np.full(it_b.shape, float(time_s)), sup_b)
        return np.asarray(cooling, dtype=np.float64)

    def facility_power_w(
        self, it_power_w: ArrayLike, supply_temp_c: ArrayLike, time_s: float = 0.0
    ) -> FloatArray:
        """Facility power (W): IT + cooling + losses + other loads at a set-point."""
        it = np.asarray(it_power_w, dtype=np.float64)
        sup = np.asarray(supply_temp_c, dtype=np.float64)
        if self._facility is None:
            return np.asarray(it + it / crac_cop(sup), dtype=np.float64)
        it_b, sup_b = np.broadcast_arrays(it, sup)
        cooling, loss, misc = self._facility(it_b, np.full(it_b.shape, float(time_s)), sup_b)
        return np.asarray(it_b + cooling + loss + misc, dtype=np.float64)
