"""The density trade-off: sweep the rack pitch, packed racks run hotter, spread racks move more air.

For a regular hall of the planned size (rows × racks per row, the planned room-air heat and
airflow per rack, the hall's aisle widths and the chosen containment), each candidate pitch p gives

- the hottest inlet rise ``max(D·q)`` (:func:`kiban.physics.recirculation.spacing_tradeoff`);
- the highest supply set-point that keeps that inlet at the limit, ``T_sup = T_max − rise``
  (Tang eq. 7), capped at the plant's allowed supply range;
- the room-air cooling plant's power at that set-point over the site climate (annual mean,
  :func:`kiban.physics.cooling.plant_power_w`, CRAH fans excluded), and
- the air-handling (CRAH fan) power for the floor area per rack, bypass air growing with it
  (:func:`kiban.physics.recirculation.air_handling_power_w`).

Their sum is the cooling power that depends on spacing; the optimum is its minimum over the
pitches swept (and, separately, over those that fit in the hall). Packing raises the first,
spreading the second, so the optimum is interior whenever room air carries a meaningful share of
the heat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kiban._typing import BoolArray, FloatArray
from kiban.catalog import Catalog
from kiban.physics.cooling import plant_power_w
from kiban.physics.recirculation import spacing_tradeoff
from kiban.site import site_climate, site_plant
from kiban.spec import Scenario

PITCH_MIN_M = 0.6
PITCH_MAX_M = 2.4
PITCH_STEP_M = 0.1
SUPPLY_FLOOR_C = 10.0
"""Lowest supply set-point the sweep allows when recirculation is severe."""


@dataclass(frozen=True)
class SpacingSweep:
    """Hottest inlet and cooling power against rack pitch (arrays, one value per pitch).

    Attributes:
        pitch_m: centre-to-centre rack pitch along a row, m.
        area_per_rack_m2: floor area per rack, m².
        max_inlet_rise_k: hottest inlet minus supply, K.
        hottest_inlet_c: hottest inlet at the fixed set-point ``supply_fixed_c``, °C.
        supply_temp_c: highest supply set-point that keeps every inlet at the limit, °C.
        plant_power_w: room-air plant power (chillers, pumps, heat rejection) at that set-point,
            annual mean, W.
        air_handling_power_w: CRAH fan power for the IT airflow plus bypass, W.
        total_power_w: the sum of the two, W.
        fits_hall: whether the rows fit in the hall length at this pitch.
        optimum_idx: index of the least total power over all pitches swept.
        optimum_fit_idx: index of the least total power among pitches that fit in the hall
            (the optimum itself when nothing fits).
        supply_fixed_c: set-point used for ``hottest_inlet_c``, °C.
        inlet_max_c: inlet limit, °C.
        n_rows, racks_per_row: the hall swept.
        rack_air_heat_w: room-air heat per rack, W.
        containment: ``none`` or ``hot-aisle``.
    """

    pitch_m: FloatArray
    area_per_rack_m2: FloatArray
    max_inlet_rise_k: FloatArray
    hottest_inlet_c: FloatArray
    supply_temp_c: FloatArray
    plant_power_w: FloatArray
    air_handling_power_w: FloatArray
    total_power_w: FloatArray
    fits_hall: BoolArray
    optimum_idx: int
    optimum_fit_idx: int
    supply_fixed_c: float
    inlet_max_c: float
    n_rows: int
    racks_per_row: int
    rack_air_heat_w: float
    containment: str

    @property
    def optimum_pitch_m(self) -> float:
        """Pitch with the least spacing-dependent cooling power, m."""
        return float(self.pitch_m[self.optimum_idx])

    @property
    def interior_optimum(self) -> bool:
        """True when the optimum is neither the tightest nor the widest pitch swept."""
        return bool(0 < self.optimum_idx < self.pitch_m.size - 1)


def sweep_spacing(
    scenario: Scenario,
    *,
    n_rows: int,
    racks_per_row: int,
    rack_air_heat_w: float,
    rack_airflow_m3_per_s: float,
    containment: str,
    supply_fixed_c: float,
    inlet_max_c: float,
    aisle_width_m: float,
    rack_depth_m: float,
    load_frac: float,
    catalog: Catalog | None = None,
    pitches_m: FloatArray | None = None,
) -> SpacingSweep:
    """Sweep the rack pitch of a regular hall and find the least cooling power.

    Args:
        scenario: the site (climate, plant settings, hall length).
        n_rows: rows of racks.
        racks_per_row: racks in each row.
        rack_air_heat_w: room-air heat per rack at design power, W.
        rack_airflow_m3_per_s: airflow per rack, m³/s.
        containment: ``none`` or ``hot-aisle``.
        supply_fixed_c: set-point at which ``hottest_inlet_c`` is reported, °C.
        inlet_max_c: allowed inlet, °C.
        aisle_width_m: cold- and hot-aisle width, m.
        rack_depth_m: rack depth, m.
        load_frac: share of the design heat present on average (energy).
        catalog: hardware catalog.
        pitches_m: candidate pitches (default 0.6–2.4 m in 0.1 m steps).

    Returns:
        The :class:`SpacingSweep`.

    References:
        Tang et al., IEEE TPDS 19(11) 2008 (D and the supply reset T_sup = T_red − max D·p);
        physics.md §3.3–3.5.
    """
    cat = scenario.get_catalog() if catalog is None else catalog
    if pitches_m is None:
        pitches_m = np.round(np.arange(PITCH_MIN_M, PITCH_MAX_M + 1e-9, PITCH_STEP_M), 6)
    tr = spacing_tradeoff(
        pitches_m,
        n_rows=max(n_rows, 1),
        racks_per_row=max(racks_per_row, 1),
        rack_power_w=max(rack_air_heat_w, 1e-9),
        rack_airflow_m3_per_s=max(rack_airflow_m3_per_s, 1e-6),
        cold_aisle_width_m=aisle_width_m,
        hot_aisle_width_m=aisle_width_m,
        rack_depth_m=rack_depth_m,
        containment=containment,  # type: ignore[arg-type]
    )
    air_tech = cat.cooling(
        "hot-aisle-containment" if containment != "none" else "crac-raised-floor"
    )
    n_racks = max(n_rows, 1) * max(racks_per_row, 1)
    q_air_w = n_racks * rack_air_heat_w * load_frac
    q_design_w = max(n_racks * rack_air_heat_w, 1.0)
    supply = np.clip(inlet_max_c - tr.max_inlet_rise_k, SUPPLY_FLOOR_C, air_tech.supply_temp_max_c)
    climate = site_climate(scenario)
    dur = climate.duration_s
    plant_w = np.empty(supply.shape)
    for i, sup in enumerate(supply):
        plant = site_plant(scenario, air_tech, q_design_w, supply_temp_c=float(sup))
        bd = plant_power_w(
            np.full(dur.shape, q_air_w),
            climate.dry_bulb_c,
            climate.wet_bulb_c,
            plant,
            outdoor_db_std_k=climate.dry_bulb_std_k,
            outdoor_wb_std_k=climate.wet_bulb_std_k,
        )
        plant_w[i] = float(np.sum((bd.total_w - bd.crah_fan_w) * dur) / np.sum(dur))
    total = plant_w + tr.air_handling_power_w
    hall = scenario.hall
    origin_m = hall.grid.origin_x_m if hall.grid is not None else min(r.x_m for r in hall.racks)
    length_needed = origin_m + (max(racks_per_row, 1) - 1) * tr.pitch_m + 0.3
    fits = length_needed <= hall.length_m + 1e-9
    best = int(np.argmin(total))
    pool = np.nonzero(fits)[0]
    best_fit = int(pool[np.argmin(total[pool])]) if pool.size else best
    return SpacingSweep(
        pitch_m=tr.pitch_m,
        area_per_rack_m2=tr.area_per_rack_m2,
        max_inlet_rise_k=tr.max_inlet_rise_k,
        hottest_inlet_c=supply_fixed_c + tr.max_inlet_rise_k,
        supply_temp_c=supply,
        plant_power_w=plant_w,
        air_handling_power_w=np.asarray(tr.air_handling_power_w, dtype=np.float64),
        total_power_w=total,
        fits_hall=fits,
        optimum_idx=best,
        optimum_fit_idx=best_fit,
        supply_fixed_c=supply_fixed_c,
        inlet_max_c=inlet_max_c,
        n_rows=n_rows,
        racks_per_row=racks_per_row,
        rack_air_heat_w=rack_air_heat_w,
        containment=containment,
    )


def aisle_width_of(scenario: Scenario, rack_depth_m: float) -> float:
    """Aisle width of the hall: row pitch minus rack depth (grid halls), else 1.2 m."""
    grid = scenario.hall.grid
    if grid is None or grid.rows < 2:
        return 1.2
    return max(grid.row_pitch_m - rack_depth_m, 0.6) if math.isfinite(grid.row_pitch_m) else 1.2
