"""Power budgets enforced as real sites do: measured power over a threshold triggers capping.

Hierarchy: every server belongs to one group at each level (rack, row/PDU, UPS, site), each group
with a limit. Real fleets run a controller per group that reads power every few seconds; when the
group's power rises above a *capping threshold* it caps servers until the power is at a *capping
target* below the limit, lowest priority first, and it releases the caps only when the uncapped
demand would stay below a lower *uncapping threshold* (hysteresis, so a group does not flap).
This is the three-band scheme of Facebook's Dynamo (Wu et al., ISCA 2016) and the
priority-aware capping of Google's oversubscribed power planes (Sakalkar et al., ASPLOS 2020).

The core, :func:`allocate_caps`, is pure and vectorized over servers and groups: given each
server's demand (what it would draw uncapped), its floor (what it draws at the lowest cap), its
priority and its group at each level, it returns each server's allowed power and the groups'
capping flags. :class:`PowerBudgetController` keeps the flags between calls and counts what the
ledger and the summary need (seconds over budget, peak, capping events).

The defaults (cap above 99 % of the limit, cap down to 97 %, release below 95 %) are ASSUMED,
in the spirit of Dynamo's bands; they are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kiban._typing import ArrayLike, BoolArray, FloatArray, IntArray

__all__ = [
    "CAP_TARGET_FRAC",
    "CAP_THRESHOLD_FRAC",
    "UNCAP_THRESHOLD_FRAC",
    "BudgetLevel",
    "CapResult",
    "PowerBudgetController",
    "allocate_caps",
    "cut_in_priority_order",
]

CAP_THRESHOLD_FRAC = 0.99
"""Capping starts when a group's measured power exceeds this share of its limit (ASSUMED)."""
CAP_TARGET_FRAC = 0.97
"""Capping brings a group's power down to this share of its limit (ASSUMED)."""
UNCAP_THRESHOLD_FRAC = 0.95
"""Caps are released when the group's uncapped demand is below this share (ASSUMED)."""


@dataclass(frozen=True)
class BudgetLevel:
    """One level of the power hierarchy.

    Attributes:
        name: ``"rack"``, ``"pdu"``, ``"ups"``, ``"site"``, ...
        group_of_server: group index of each server at this level, shape (n_servers,).
        limit_w: limit of each group, W, shape (n_groups,) (``inf`` = unlimited).
    """

    name: str
    group_of_server: IntArray
    limit_w: FloatArray


def cut_in_priority_order(
    excess_w: ArrayLike,
    reducible_w: ArrayLike,
    priority: ArrayLike,
    group_of_server: ArrayLike,
) -> FloatArray:
    """Per-server power cut that removes each group's excess, lowest priority first.

    Within a group, servers of the lowest priority give up power first; within one priority, in
    proportion to what they can give (``reducible_w``). A group whose excess exceeds everything
    reducible is cut to its floor.

    Args:
        excess_w: power to remove per group, W (≤ 0 means none), shape (n_groups,).
        reducible_w: what each server can still give (allowed − floor, ≥ 0), shape (n,).
        priority: integer priority of each server's job (higher = more important), shape (n,).
        group_of_server: group index of each server, shape (n,).

    Returns:
        Cut per server in W, shape (n,), with 0 ≤ cut ≤ reducible.
    """
    red = np.maximum(np.asarray(reducible_w, dtype=np.float64), 0.0)
    pri = np.asarray(priority, dtype=np.int64)
    grp = np.asarray(group_of_server, dtype=np.int64)
    exc = np.maximum(np.asarray(excess_w, dtype=np.float64), 0.0)
    out = np.zeros(red.size, dtype=np.float64)
    sel = np.flatnonzero(exc[grp] > 0.0) if red.size else np.zeros(0, dtype=np.int64)
    if sel.size == 0:
        return out
    red_s, pri_s, grp_s = red[sel], pri[sel], grp[sel]
    # classes = (group, priority), one integer key sorting by group then priority ascending
    p0 = int(pri_s.min())
    span = int(pri_s.max()) - p0 + 1
    key = grp_s * span + (pri_s - p0)
    cls_keys, cls_of = np.unique(key, return_inverse=True)
    cls_red = np.bincount(cls_of, weights=red_s, minlength=cls_keys.size)
    cls_grp = cls_keys // span
    # reducible available in the same group before this class (lower priorities)
    cum = np.cumsum(cls_red)
    start_of_grp = np.searchsorted(cls_grp, cls_grp, side="left")
    before = cum - cls_red - (cum[start_of_grp] - cls_red[start_of_grp])
    cls_cut = np.clip(exc[cls_grp] - before, 0.0, cls_red)
    share = np.divide(cls_cut, cls_red, out=np.zeros_like(cls_cut), where=cls_red > 0)
    out[sel] = red_s * share[cls_of]
    return out


@dataclass(frozen=True, slots=True)
class CapResult:
    """Outcome of one capping decision.

    Attributes:
        allowed_w: power each server may draw, W (= demand where nothing caps it).
        capping: per level, whether each group is capping (for the next call's hysteresis).
        over_w: per level, each group's demand above its limit, W (0 where within).
    """

    allowed_w: FloatArray
    capping: tuple[BoolArray, ...]
    over_w: tuple[FloatArray, ...]


def allocate_caps(
    demand_w: ArrayLike,
    floor_w: ArrayLike,
    priority: ArrayLike,
    levels: tuple[BudgetLevel, ...],
    capping: tuple[BoolArray, ...] | None = None,
    *,
    cap_threshold_frac: float = CAP_THRESHOLD_FRAC,
    cap_target_frac: float = CAP_TARGET_FRAC,
    uncap_threshold_frac: float = UNCAP_THRESHOLD_FRAC,
) -> CapResult:
    """Decide every server's allowed power from the bottom level (rack) to the top (site).

    At each level, a group caps when its power (what is allowed after the levels below) exceeds
    ``cap_threshold_frac``·limit, or when it was capping and its uncapped demand is still above
    ``uncap_threshold_frac``·limit; a capping group is cut to ``cap_target_frac``·limit (or
    kept there), lowest priority first (:func:`cut_in_priority_order`).

    Args:
        demand_w: what each server would draw uncapped, W, shape (n,).
        floor_w: what each server draws at the lowest cap (idle GPUs, host, fans), W.
        priority: integer priority of each server (its highest-priority job; idle = lowest).
        levels: levels from the bottom (rack) up.
        capping: previous capping flags per level (None = nothing was capping).
        cap_threshold_frac: start capping above this share of the limit.
        cap_target_frac: cap down to this share.
        uncap_threshold_frac: release below this share of the uncapped demand.

    Returns:
        A :class:`CapResult`.

    References:
        Wu et al., "Dynamo: Facebook's Data Center-Wide Power Management System", ISCA 2016
        (capping / uncapping thresholds, priority groups); Sakalkar et al., "Data Center Power
        Oversubscription with a Medium Voltage Power Plane and Priority-Aware Capping", ASPLOS
        2020.
    """
    demand = np.asarray(demand_w, dtype=np.float64)
    floor = np.minimum(np.asarray(floor_w, dtype=np.float64), demand)
    allowed = demand.copy()
    flags: list[BoolArray] = []
    overs: list[FloatArray] = []
    for k, lvl in enumerate(levels):
        grp = np.asarray(lvl.group_of_server, dtype=np.int64)
        limit = np.asarray(lvl.limit_w, dtype=np.float64)
        ng = limit.size
        now_w = np.bincount(grp, weights=allowed, minlength=ng)
        dem_w = np.bincount(grp, weights=demand, minlength=ng)
        was = np.zeros(ng, dtype=bool) if capping is None else np.asarray(capping[k], dtype=bool)
        start = now_w > cap_threshold_frac * limit
        keep = was & (dem_w > uncap_threshold_frac * limit)
        on = start | keep
        excess = np.where(on, now_w - cap_target_frac * limit, 0.0)
        if np.any(excess > 0.0):
            allowed = allowed - cut_in_priority_order(excess, allowed - floor, priority, grp)
        flags.append(on)
        overs.append(np.maximum(dem_w - limit, 0.0))
    return CapResult(allowed_w=allowed, capping=tuple(flags), over_w=tuple(overs))


@dataclass
class PowerBudgetController:
    """Stateful wrapper: keeps the capping flags and books what the summary reports.

    Call :meth:`step` once per facility step with the servers' demand for the coming interval.

    Attributes:
        levels: the hierarchy, bottom level first.
        capping: current capping flags per level.
        s_over: seconds in which the uncapped demand exceeded a limit at any level (the budget
            bound and capping had to act).
        s_over_after_cap: seconds in which even the capped power exceeded a limit (the floors
            alone were over it: capping could not hold the budget).
        peak_w: highest total server power allowed (measured) over all steps, W.
        peak_demand_w: highest total uncapped demand, W.
        events: number of times a group started capping.
    """

    levels: tuple[BudgetLevel, ...]
    cap_threshold_frac: float = CAP_THRESHOLD_FRAC
    cap_target_frac: float = CAP_TARGET_FRAC
    uncap_threshold_frac: float = UNCAP_THRESHOLD_FRAC
    capping: tuple[BoolArray, ...] | None = None
    s_over: float = 0.0
    s_over_after_cap: float = 0.0
    peak_w: float = 0.0
    peak_demand_w: float = 0.0
    events: int = 0

    def step(
        self, demand_w: ArrayLike, floor_w: ArrayLike, priority: ArrayLike, dt_s: float
    ) -> FloatArray:
        """Decide the caps for the next ``dt_s`` and book the statistics.

        Args:
            demand_w: uncapped server power, W, shape (n,).
            floor_w: server power at the lowest cap, W.
            priority: server priority (higher = more important).
            dt_s: length of the interval the decision holds, s.

        Returns:
            Allowed server power, W, shape (n,).
        """
        res = allocate_caps(
            demand_w,
            floor_w,
            priority,
            self.levels,
            self.capping,
            cap_threshold_frac=self.cap_threshold_frac,
            cap_target_frac=self.cap_target_frac,
            uncap_threshold_frac=self.uncap_threshold_frac,
        )
        before = self.capping or tuple(np.zeros_like(f) for f in res.capping)
        self.events += sum(int((f & ~b).sum()) for f, b in zip(res.capping, before, strict=True))
        self.capping = res.capping
        if any(bool(np.any(o > 0.0)) for o in res.over_w):
            self.s_over += dt_s
        for lvl in self.levels:
            grp = np.asarray(lvl.group_of_server, dtype=np.int64)
            used = np.bincount(grp, weights=res.allowed_w, minlength=np.size(lvl.limit_w))
            if bool(np.any(used > np.asarray(lvl.limit_w) * (1.0 + 1e-12))):
                self.s_over_after_cap += dt_s
                break
        self.peak_w = max(self.peak_w, float(np.sum(res.allowed_w)))
        self.peak_demand_w = max(self.peak_demand_w, float(np.sum(np.asarray(demand_w))))
        return res.allowed_w
