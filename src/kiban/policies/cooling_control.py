"""Cooling layers: ``model-based`` supply temperature and ``trim-and-respond`` (the reference).

* ``model-based`` (Tang et al., IEEE TPDS 2008, eq. 7; ``reference/cooptimizer.md`` §8.2):
  every ``period_s`` the highest supply temperature that keeps every rack inlet at or below
  the redline and every GPU below its slowdown temperature for the current rack power,
  ``min(T_red − δ_in − max_i (D p)_i, min_r (T_slow − δ_chip − R·P_gpu,max,r − (D p)_r))``,
  snapped down to ``step_k`` and raised by at most ``max_raise_k`` per period (lowered at
  once). When the facility is in the loop the bound comes from the facility model's room
  prediction instead (:meth:`FacilityModel.safe_supply_temp_c`: the same physics the coupled
  twin runs — working units' capacity and air, server fans that speed up with the inlet, the
  aisle's airflow deficit and the exhaust it pulls in — with every inlet at or below the
  redline and the servers' allowed inlet), with the units that are down as the view shows
  them: after a CRAH failure the bound falls, down to the lowest allowed set-point when no
  set-point is safe. Then a 1-D search: facility power at that set-point and ``search_steps``
  lower ones (the run's plant model: fans, economizer, chiller; plus the server fans' power
  the room prediction gives at each), the lowest wins (a fan- or leakage-aware optimum can be
  interior).
* ``trim-and-respond`` (ASHRAE Guideline 36 supply-air temperature reset, as coded in
  HewlettPackard/dc-rl ``utils/trim_and_respond.py``, the DC-CFR baseline): every
  ``sample_s`` compare the hottest rack inlet with the redline minus a margin: above it, lower
  the set-point by ``step_k`` at once (respond); below it for ``trim_samples`` samples in a
  row, raise it by ``step_k`` (trim). dc-rl uses 0.5 °F (0.28 K) steps, 15-minute samples
  and four samples.

Both ask to be called every period through the policy's epoch (:class:`LayeredPolicy`
``epoch_s``); calls in between return None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiban.policies.facility_model import DEFAULT_REDLINE_C, FacilityModel
from kiban.policies.registry import register_policy

if TYPE_CHECKING:
    from kiban._typing import FloatArray
    from kiban.policies.base import PolicyContext
    from kiban.sim.state import ClusterView

__all__ = ["ModelBasedSupply", "TrimAndRespond", "rack_gpu_max_w"]

F_TO_K = 5.0 / 9.0


def rack_gpu_max_w(view: ClusterView) -> FloatArray:
    """Highest per-GPU power in each rack now (W; 0 where nothing runs)."""
    lay = view.layout
    out = np.zeros(lay.n_racks)
    run = view.running_jobs()
    if run.shape[0] == 0:
        return out
    power = view.running_power_w()
    for j, p in zip(run.tolist(), power.tolist(), strict=True):
        gpus = view.job_gpus(int(j))
        if gpus is None:
            continue
        racks = lay.node_rack_idx[lay.gpu_node[gpus]]
        out[racks] = np.maximum(out[racks], p)
    return out


@register_policy("cooling", "model-based")
class ModelBasedSupply:
    """Highest safe supply temperature from the D model, with a 1-D facility-power search."""

    noop = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            redline_c: Highest allowed rack inlet (°C).
            period_s: Decision period (s).
            step_k: Actuator step (K).
            max_raise_k: Largest raise per period (K); lowering is immediate.
            search_steps: Lower candidates compared by facility power.
        """

        redline_c: float = DEFAULT_REDLINE_C
        period_s: float = 300.0
        step_k: float = 0.5
        max_raise_k: float = 1.0
        search_steps: int = 2

        def __post_init__(self) -> None:
            if self.period_s <= 0 or self.step_k <= 0 or self.max_raise_k <= 0:
                msg = "period_s, step_k and max_raise_k must be > 0"
                raise ValueError(msg)
            if self.search_steps < 0:
                msg = f"search_steps = {self.search_steps}: must be ≥ 0"
                raise ValueError(msg)

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.model: FacilityModel | None = None
        self._next_s = -math.inf
        self._alarms = b""

    def reset(self, ctx: PolicyContext) -> None:
        """Build the facility model."""
        self.model = FacilityModel(ctx, redline_c=self.params.redline_c)
        self._next_s = -math.inf
        self._alarms = b""

    def target_c(self, view: ClusterView, rack_power_w: FloatArray | None = None) -> float:
        """The set-point this layer wants for a rack power vector (default: now)."""
        assert self.model is not None
        m, p = self.model, self.params
        power = np.asarray(view.rack_power_w if rack_power_w is None else rack_power_w, float)
        failed = getattr(view, "cooling_units_failed", None)
        now = float(getattr(view, "supply_setpoint_c", view.supply_temp_c))
        if m.hall is None:
            bound = m.max_supply_temp_c(power, rack_gpu_max_w(view))
            bound = math.floor(bound / p.step_k + 1e-9) * p.step_k
        else:
            bound = m.safe_supply_temp_c(
                power,
                rack_gpu_max_w(view),
                failed,
                step_k=p.step_k,
                inlet_now_c=view.rack_inlet_temp_c,
                supply_now_c=view.supply_temp_c,
                max_c=now + p.max_raise_k,
            )
        bound = min(bound, now + p.max_raise_k)
        cand = np.array([bound - k * p.step_k for k in range(p.search_steps + 1)])
        lo = m.supply_range_c[0]
        cand = cand[cand >= lo] if (cand >= lo).any() else np.array([lo])
        it = np.full(cand.shape, float(power.sum()))
        if m.hall is not None:  # the server fans' power at each candidate, against now
            room = (view.rack_inlet_temp_c, view.supply_temp_c)
            fan_now = float(m.predict_room(now, power, failed, *room).fan_power_w.sum())
            it += [
                float(m.predict_room(c, power, failed, *room).fan_power_w.sum()) - fan_now
                for c in cand
            ]
        fac = m.facility_power_w(it, cand, view.time_s)
        best = int(np.argmin(fac + 1e-6 * (cand.max() - cand)))  # ties: the warmer one
        return float(cand[best])

    def supply_temp_c(self, view: ClusterView) -> float | None:
        """A new set-point at most once per period (None otherwise or when unchanged)."""
        failed = getattr(view, "cooling_units_failed", None)
        alarms = b"" if failed is None else np.asarray(failed, dtype=bool).tobytes()
        if view.time_s < self._next_s and alarms == self._alarms:
            return None  # between periods, unless a unit alarm changed
        self._alarms = alarms
        self._next_s = view.time_s + self.params.period_s
        t = self.target_c(view)
        now = float(getattr(view, "supply_setpoint_c", view.supply_temp_c))
        if t > now and self._measured_over(view):
            return None  # no raise while a measured inlet is above the redline
        return None if abs(t - now) < 1e-9 else t

    def _measured_over(self, view: ClusterView) -> bool:
        """A measured inlet above the redline, outside aisles past the servers' allowed inlet.

        The model's steady state can call a warmer set-point safe while the room is still
        above it (after a CRAH failure the room's thermal mass gives back heat for a while
        and the remaining coil falls short); a raise then pushed the twin's room over its
        airflow limit. An aisle that has run away to the upper fixed point (above the
        servers' allowed inlet, where the twin can stay even idle) would block every raise
        for good, so it does not count.
        """
        m = self.model
        if m is None or m.hall is None:
            return False
        inlet = np.asarray(view.rack_inlet_temp_c, dtype=np.float64)
        lost = m.hot_aisle_racks(inlet, m.allowed_inlet_c)
        return bool((inlet[~lost] > m.redline_c).any())


@register_policy("cooling", "trim-and-respond")
class TrimAndRespond:
    """ASHRAE supply-air temperature reset (see the module docstring)."""

    noop = False

    @dataclass(frozen=True)
    class Params:
        """Parameters.

        Attributes:
            redline_c: Highest allowed rack inlet (°C).
            margin_k: Respond when the hottest inlet is within this of the redline (K).
            sample_s: Sample period (s).
            step_k: Step (K); dc-rl: 0.5 °F.
            trim_samples: Samples below the limit in a row before a raise.
        """

        redline_c: float = DEFAULT_REDLINE_C
        margin_k: float = 1.0
        sample_s: float = 900.0
        step_k: float = 0.5 * F_TO_K
        trim_samples: int = 4

    def __init__(self, params: Params | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self._next_s = -math.inf
        self._below = 0
        self._range = (15.0, 32.0)

    def reset(self, ctx: PolicyContext) -> None:
        """Start a fresh count."""
        self._next_s = -math.inf
        self._below = 0
        self._range = ctx.supply_temp_range_c

    def supply_temp_c(self, view: ClusterView) -> float | None:
        """Respond or trim once per sample."""
        if view.time_s < self._next_s:
            return None
        p = self.params
        self._next_s = view.time_s + p.sample_s
        hottest = float(np.max(view.rack_inlet_temp_c))
        now = float(getattr(view, "supply_setpoint_c", view.supply_temp_c))
        if hottest > p.redline_c - p.margin_k:
            self._below = 0
            new = now - p.step_k
        else:
            self._below += 1
            if self._below < p.trim_samples:
                return None
            self._below = 0
            new = now + p.step_k
        new = float(np.clip(new, *self._range))
        return None if abs(new - now) < 1e-9 else new
