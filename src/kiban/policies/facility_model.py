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
* facility power at an IT power and set-point (:meth:`facility_power_w`,
  :meth:`cooling_power_w`): the run's own plant model when the simulator gave one, else the
  Moore CRAC curve ``P_IT / COP(T_sup)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linprog

from kiban.physics.cooling import crac_cop
from kiban.physics.gpu_power import (
    average_power_under_cap_w,
    demand_power_w,
    speed_frac_under_cap,
)
from kiban.physics.storage_io import cache_hit_frac

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, FloatArray, IntArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["DEFAULT_REDLINE_C", "FacilityModel", "RunningSpeeds"]

DEFAULT_REDLINE_C = 27.0
"""Highest allowed rack inlet (°C): the ASHRAE recommended envelope's upper end (A1–A4
recommended 18–27 °C, ASHRAE TC 9.9 2021). A scenario with a hotter allowable class may
pass its own."""
DEFAULT_INLET_MARGIN_K = 0.5
"""Margin kept below the redline for model error (K)."""
DEFAULT_CHIP_MARGIN_K = 3.0
"""Margin kept below the GPU slowdown temperature (K), δ_chip of §10.4."""


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
        res = linprog(
            -np.ones(qmax.shape[0]),
            A_ub=d,
            b_ub=limit,
            bounds=list(zip(np.zeros_like(qmax), qmax, strict=True)),
            method="highs",
        )
        return float(-res.fun) if res.status == 0 else 0.0

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
