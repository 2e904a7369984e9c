"""Steady-state site evaluation: rack power and inlet temperatures, monthly PUE, cost and CO2.

:func:`evaluate_site` takes a scenario (racks after placement) and a load level and returns a
:class:`SiteEvaluation`:

1. **Rack power.** Every GPU runs at activity ``load_frac`` and full clock
   (:func:`~kiban.physics.gpu_power.gpu_power_w`), the host at load ``load_frac``; the server's
   wall power (:func:`~kiban.physics.server_power.server_power_w`) includes fans, which speed up
   as the inlet warms.
2. **Inlets.** Heat that stays in room air (all of it for air racks; the rest after a rear door,
   cold plates or a tank) recirculates by Tang's model ``t_in = T_sup + D·q``
   (:mod:`kiban.physics.recirculation`), with D built from the rack coordinates, the racks' own
   airflow and the hall's containment. Power and inlet are iterated to a fixed point (fans).
3. **Chips.** Steady die temperature ``T_in + R·P`` (:func:`~kiban.physics.thermal.steady_temp_c`)
   at the evaluation load and at TDP, against the GPU's maximum operating temperature; liquid
   GPUs see the facility water plus the CDU approach instead of room air.
4. **Facility, per month.** Power-chain losses (:class:`~kiban.physics.power_chain.PowerChain`),
   and for each cooling technology in use a plant of its typical design with the scenario's
   set-points, chiller and economizer (:func:`~kiban.physics.cooling.plant_power_w`) removing the
   heat of its racks plus their share of the chain losses, under the site's monthly climate.
   ``facility = IT + cooling + losses`` exactly, each month.
5. **Money and carbon.** Energy charge on the facility energy, demand charge on the ratcheted
   monthly peak (steady operation: the yearly peak), CO2 from the grid factor
   (:mod:`kiban.physics.cost`). The design day (nameplate IT, hottest-month temperatures plus two
   within-month standard deviations) is compared with the grid connection limit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kiban._typing import BoolArray, FloatArray, IntArray
from kiban.catalog import Catalog, CoolingTech, ServerModel
from kiban.errors import ConfigError
from kiban.physics.climate import (
    HourlyClimate,
    MonthlyClimate,
    load_hourly_climate,
    monthly_normals,
)
from kiban.physics.cooling import CoolingPlant, plant_power_w, typical_plant
from kiban.physics.cost import (
    Tariff,
    co2_kg,
    demand_charge_jpy,
    energy_cost_jpy,
    ratcheted_demand_w,
)
from kiban.physics.gpu_power import gpu_power_w
from kiban.physics.power_chain import PowerChain
from kiban.physics.recirculation import heat_distribution_matrix_k_per_w, recirculation_matrix
from kiban.physics.server_power import server_power_w
from kiban.physics.thermal import steady_temp_c
from kiban.spec import PlacedRack, Scenario
from kiban.units import J_PER_KWH, PA_PER_KPA, S_PER_DAY, S_PER_H, W_PER_KW

logger = logging.getLogger(__name__)

UPS_MODULE_MAX_W = 500_000.0
"""Largest UPS module assumed when splitting a UPS capacity into N modules (ASSUMED: typical
large three-phase modules are 250–800 kVA)."""

DESIGN_DAY_SIGMAS = 2.0
"""Design-day outdoor condition: hottest monthly mean plus this many within-month standard
deviations (≈ the 2 % warmest hours under a normal spread; for Tokyo ≈ 34 °C dry bulb, close to
ASHRAE's 0.4 % cooling design value). For hourly climates the 99.6th percentile is used."""

DESIGN_DAY_PERCENTILE = 99.6
"""Percentile of hourly dry and wet bulb used as the design day for hourly climates (ASHRAE 0.4 %
cooling design condition)."""
HOURLY_YEAR_MIN_S = 365.0 * S_PER_DAY
"""Shortest hourly climate file accepted: one common year (8,760 hourly rows)."""
HOURLY_YEAR_MAX_S = 366.0 * S_PER_DAY
"""Longest hourly climate file accepted: one leap year (8,784 hourly rows)."""

FAN_RAMP_ITERATIONS = 6
"""Fixed-point iterations between server fan power and inlet temperature (converges in 3–4)."""

_CHILLER_MAP = {
    "moore-crac": "moore_crac",
    "dx-air-cooled": "dx_air_cooled",
    "energyplus-chiller": None,
}
_ECONOMIZER_MAP = {
    "none": "none",
    "airside": "airside",
    "waterside": "waterside",
    "drycooler": "dry_cooler",
}


# --- shared helpers (also used by kiban.plan) -------------------------------------------------


def air_heat_frac(medium: str, tech_capture_frac: float, server_capture_frac: float) -> float:
    """Share of a rack's heat that ends in room air.

    Air options: ``(1 − c_server)·(1 − c_door)`` (a rear door cools the exhaust; 0 for plain air).
    Liquid and immersion: ``1 − max(c_tech, c_server)``; an air-cooled server on direct-liquid
    cooling is taken as its cold-plate variant.

    Examples:
        >>> round(air_heat_frac("air", 0.9, 0.0), 3)
        0.1
        >>> round(air_heat_frac("liquid", 0.85, 0.85), 3)
        0.15
    """
    if medium == "air":
        return (1.0 - server_capture_frac) * (1.0 - tech_capture_frac)
    return 1.0 - max(tech_capture_frac, server_capture_frac)


def is_compatible(medium: str, server_capture_frac: float) -> bool:
    """Whether a cooling medium can cool a server.

    A server with its own cold plates (capture > 0, e.g. GB200 NVL72) needs a liquid loop. An
    air-cooled server can use any option (on direct-liquid as its cold-plate variant; immersed
    with fans removed).

    Examples:
        >>> is_compatible("air", 0.85), is_compatible("liquid", 0.85), is_compatible("air", 0.0)
        (False, True, True)
    """
    if server_capture_frac > 0.0:
        return medium == "liquid"
    return True


def containment_of(scenario: Scenario) -> str:
    """Aisle containment of the hall.

    ``hall.containment``, or ``hot-aisle`` when the default cooling technology is hot-aisle
    containment.
    """
    if scenario.hall.containment != "none":
        return scenario.hall.containment
    if scenario.cooling.technology == "hot-aisle-containment":
        return "hot-aisle"
    return "none"


def site_climate(scenario: Scenario) -> MonthlyClimate | HourlyClimate:
    """The site's climate: built-in monthly normals, explicit monthly values or an hourly file."""
    clim = scenario.site.climate
    if clim.kind == "monthly" and clim.monthly is not None:
        return monthly_normals(clim.monthly)
    if clim.kind == "hourly" and clim.hourly_csv_path is not None:
        src = scenario.source_path
        where = f"{src}: " if src is not None else ""
        return _hourly_year(clim.hourly_csv_path, where)
    base = monthly_normals("tokyo")  # only for month lengths and the assumed spreads
    return MonthlyClimate(
        city=scenario.site.name,
        dry_bulb_c=np.asarray(clim.dry_bulb_c, dtype=np.float64),
        wet_bulb_c=np.asarray(clim.wet_bulb_c, dtype=np.float64),
        rel_humidity_frac=np.full(12, np.nan),
        duration_s=base.duration_s,
        dry_bulb_std_k=base.dry_bulb_std_k,
        wet_bulb_std_k=base.wet_bulb_std_k,
        source=f"{scenario.display_name}: site.climate dry_bulb_c/wet_bulb_c",
    )


def _hourly_year(path: Path, where: str = "") -> HourlyClimate:
    """Read an hourly climate file that must cover one calendar year, January 1 first.

    The months and the yearly energy, cost and CO2 come from the file's rows, so a file shorter
    than a year (or longer than a leap year) would give silently wrong "yearly" numbers.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 text, has a bad row, or does not hold
            8,760 (or 8,784, leap year) hourly rows.
    """
    climate = load_hourly_climate(path)  # unreadable, non-UTF-8 or bad rows: ConfigError
    n_rows = int(climate.duration_s.size)
    covered_s = float(np.sum(climate.duration_s))
    if not HOURLY_YEAR_MIN_S - 0.5 <= covered_s <= HOURLY_YEAR_MAX_S + 0.5:
        msg = (
            f'{where}site.climate.hourly_csv = "{path}": {n_rows:,} hourly rows '
            f"({covered_s / S_PER_DAY:,.1f} days): must cover one year, January 1 first "
            f"({HOURLY_YEAR_MIN_S / S_PER_H:,.0f} rows, or {HOURLY_YEAR_MAX_S / S_PER_H:,.0f} "
            "for a leap year)"
        )
        raise ConfigError(msg)
    return climate


def design_day_c(climate: MonthlyClimate | HourlyClimate) -> tuple[float, float]:
    """Design-day outdoor (dry bulb, wet bulb), °C; see :data:`DESIGN_DAY_SIGMAS`."""
    if isinstance(climate, HourlyClimate):
        return (
            float(np.percentile(climate.dry_bulb_c, DESIGN_DAY_PERCENTILE)),
            float(np.percentile(climate.wet_bulb_c, DESIGN_DAY_PERCENTILE)),
        )
    hot = int(np.argmax(climate.dry_bulb_c))
    return (
        float(climate.dry_bulb_c[hot] + DESIGN_DAY_SIGMAS * climate.dry_bulb_std_k[hot]),
        float(climate.wet_bulb_c[hot] + DESIGN_DAY_SIGMAS * climate.wet_bulb_std_k[hot]),
    )


def site_tariff(scenario: Scenario) -> Tariff:
    """The physics tariff record of the scenario's contract and grid CO2 factor."""
    t = scenario.site.tariff
    return Tariff(
        name=f"{scenario.display_name} tariff",
        energy_rate_jpy_per_kwh=t.energy_jpy_per_kwh,
        fuel_adjustment_jpy_per_kwh=t.fuel_adjustment_jpy_per_kwh,
        renewable_surcharge_jpy_per_kwh=t.renewable_surcharge_jpy_per_kwh,
        monthly_demand_charge_jpy_per_kw=t.demand_charge_jpy_per_kw_month,
        co2_kg_per_kwh=scenario.site.grid_co2_kg_per_kwh,
        source=f"{scenario.display_name}: [site.tariff]",
    )


def site_power_chain(scenario: Scenario, catalog: Catalog, it_design_w: float) -> PowerChain:
    """The physics power chain: UPS class and redundancy, rack PDU, room distribution.

    The UPS capacity (``power.ups_capacity_kw``, or the fleet's nameplate IT power when not given)
    is split into N equal modules of at most :data:`UPS_MODULE_MAX_W`; the redundancy mode then
    installs N, N+1 or 2N of them. Without a named PDU class the first rack PDU of the catalog
    is used.
    """
    power = scenario.power
    capacity_w = power.ups_capacity_w if power.ups_capacity_w is not None else it_design_w
    capacity_w = max(capacity_w, 1.0)
    n_modules = max(1, math.ceil(capacity_w / UPS_MODULE_MAX_W - 1e-9))
    if power.pdu is not None:
        pdu = catalog.pdu(power.pdu)
    else:
        pdu = next(p for p in catalog.pdu_classes.values() if p.level == "rack")
    transformer = catalog.pdu(power.distribution) if power.distribution is not None else None
    return PowerChain(
        ups=catalog.ups(power.ups),
        redundancy=power.redundancy,
        n_ups_modules=n_modules,
        ups_rated_w=capacity_w / n_modules,
        pdu=pdu,
        transformer=transformer,
    )


def site_plant(
    scenario: Scenario, tech: CoolingTech, design_heat_w: float, supply_temp_c: float | None = None
) -> CoolingPlant:
    """Build the cooling plant for racks of one technology.

    The technology's typical design plus the scenario's explicit settings (supply set-point,
    chiller, economizer and approach, facility water).
    """
    cool = scenario.cooling
    given = cool.model_fields_set
    over: dict[str, float | str] = {
        "supply_air_temp_c": cool.supply_temp_c if supply_temp_c is None else supply_temp_c
    }
    if "chiller" in given:
        mapped = _CHILLER_MAP[cool.chiller]
        if mapped is not None:
            over["chiller"] = mapped
        else:
            from kiban.physics.cooling import TYPICAL_PLANTS  # noqa: PLC0415

            typical = str(TYPICAL_PLANTS.get(tech.name, {}).get("chiller", "air_cooled"))
            over["chiller"] = typical if typical != "moore_crac" else "air_cooled"
    if "economizer" in given:
        over["economizer"] = _ECONOMIZER_MAP[cool.economizer]
        if cool.economizer == "drycooler" and tech.medium != "air":
            over["liquid_economizer"] = "dry_cooler"
        if cool.economizer == "waterside" and tech.medium != "air":
            over["liquid_economizer"] = "waterside"
    if cool.economizer_approach_k is not None:
        key = {
            "airside": "airside_approach_k",
            "waterside": "tower_approach_k",
            "drycooler": "drycooler_approach_k",
        }.get(cool.economizer)
        if key is not None:
            over[key] = cool.economizer_approach_k
    if cool.liquid_supply_temp_c is not None and (
        tech.medium != "air" or tech.liquid_capture_frac > 0
    ):
        over["liquid_supply_temp_c"] = cool.liquid_supply_temp_c
    return typical_plant(tech, max(design_heat_w, 1.0), **over)


def gpu_load_power_w(server: ServerModel, catalog: Catalog, load_frac: float) -> float:
    """Summed GPU board power of one server at activity ``load_frac`` and full clock, W."""
    gpu = catalog.server_gpu(server)
    return float(server.n_gpus * gpu_power_w(load_frac, 1.0, gpu))


def server_load_power_w(
    server: ServerModel, catalog: Catalog, load_frac: float, inlet_temp_c: float | FloatArray
) -> FloatArray:
    """Wall power of one server at the given load and inlet temperature, W."""
    gpu = catalog.server_gpu(server)
    return np.asarray(
        server_power_w(
            gpu_load_power_w(server, catalog, load_frac), load_frac, inlet_temp_c, server, gpu
        ),
        dtype=np.float64,
    )


# --- the evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteEvaluation:
    """Steady-state evaluation of a site at one load level (all arrays per rack or per month).

    Per rack (occupied racks, hall order): ``rack_names``, ``rack_x_m``, ``rack_y_m``,
    ``rack_cooling`` (technology name), ``rack_n_servers``, ``rack_n_gpus``, ``rack_it_power_w``
    (wall power at the evaluation load), ``rack_max_power_w`` (nameplate), ``rack_power_limit_w``,
    ``rack_air_heat_w`` (heat into room air), ``rack_inlet_temp_c`` (NaN for immersion tanks),
    ``rack_weight_kg``, ``rack_floor_load_pa``, ``rack_chip_temp_c`` (hottest GPU die at the
    evaluation load), ``rack_chip_temp_tdp_c`` (at TDP), ``rack_chip_max_temp_c`` (max operating),
    ``rack_throttle_risk`` (die at TDP at or above max operating).

    Per month (January first): ``monthly_it_power_w``, ``monthly_cooling_power_w``,
    ``monthly_loss_power_w``, ``monthly_misc_power_w``, ``monthly_facility_power_w``,
    ``monthly_pue``, ``monthly_outdoor_dry_bulb_c``, ``monthly_free_cooling_frac``,
    ``monthly_duration_s``, ``monthly_cost_jpy`` (energy plus demand charge).

    Year: ``annual_pue``, ``it_energy_j``, ``cooling_energy_j``, ``loss_energy_j``,
    ``facility_energy_j``, ``energy_cost_jpy``, ``demand_charge_jpy``, ``cost_jpy`` (both),
    ``co2_kg``, ``peak_facility_power_w``.

    Design day: ``design_outdoor_dry_bulb_c``, ``design_it_power_w`` (nameplate),
    ``design_facility_power_w``, ``grid_limit_w`` (None: not given).

    Limits: ``supply_temp_c``, ``inlet_limit_c`` (lowest vendor maximum inlet of the servers),
    ``floor_rating_pa``, ``ups_capacity_w``; ``warnings`` lists every limit exceeded.
    """

    scenario_name: str
    load_frac: float
    containment: str
    supply_temp_c: float
    rack_names: tuple[str, ...]
    rack_x_m: FloatArray
    rack_y_m: FloatArray
    rack_row: IntArray
    rack_cooling: tuple[str, ...]
    rack_n_servers: IntArray
    rack_n_gpus: IntArray
    rack_it_power_w: FloatArray
    rack_max_power_w: FloatArray
    rack_power_limit_w: FloatArray
    rack_air_heat_w: FloatArray
    rack_inlet_temp_c: FloatArray
    rack_weight_kg: FloatArray
    rack_floor_load_pa: FloatArray
    rack_chip_temp_c: FloatArray
    rack_chip_temp_tdp_c: FloatArray
    rack_chip_max_temp_c: FloatArray
    rack_throttle_risk: BoolArray
    monthly_duration_s: FloatArray
    monthly_outdoor_dry_bulb_c: FloatArray
    monthly_it_power_w: FloatArray
    monthly_cooling_power_w: FloatArray
    monthly_loss_power_w: FloatArray
    monthly_misc_power_w: FloatArray
    monthly_facility_power_w: FloatArray
    monthly_pue: FloatArray
    monthly_free_cooling_frac: FloatArray
    monthly_cost_jpy: FloatArray
    annual_pue: float
    it_energy_j: float
    cooling_energy_j: float
    loss_energy_j: float
    misc_energy_j: float
    facility_energy_j: float
    energy_cost_jpy: float
    demand_charge_jpy: float
    cost_jpy: float
    co2_kg: float
    peak_facility_power_w: float
    design_outdoor_dry_bulb_c: float
    design_it_power_w: float
    design_cooling_power_w: float
    design_loss_power_w: float
    design_facility_power_w: float
    grid_limit_w: float | None
    ups_capacity_w: float | None
    floor_rating_pa: float
    inlet_limit_c: float
    cooling_by_tech_w: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def hottest_inlet_c(self) -> float:
        """Hottest rack inlet, °C (NaN if no rack breathes room air)."""
        vals = self.rack_inlet_temp_c[np.isfinite(self.rack_inlet_temp_c)]
        return float(vals.max()) if vals.size else math.nan

    @property
    def hottest_rack(self) -> str:
        """Name of the rack with the hottest inlet ("" if none)."""
        vals = np.where(np.isfinite(self.rack_inlet_temp_c), self.rack_inlet_temp_c, -np.inf)
        return (
            self.rack_names[int(np.argmax(vals))] if vals.size and np.isfinite(vals.max()) else ""
        )

    @property
    def it_power_w(self) -> float:
        """IT power at the evaluation load (flat over the year), W."""
        return float(self.rack_it_power_w.sum())

    @property
    def facility_energy_kwh(self) -> float:
        """Yearly facility energy, kWh (for reports)."""
        return self.facility_energy_j / J_PER_KWH

    @property
    def yearly_facility_energy_kwh(self) -> float:
        """Yearly facility energy, kWh (the report's field name)."""
        return self.facility_energy_kwh

    @property
    def yearly_cost_jpy(self) -> float:
        """Yearly electricity cost (energy + demand charge), JPY."""
        return self.cost_jpy

    @property
    def yearly_co2_kg(self) -> float:
        """Yearly CO2, kg."""
        return self.co2_kg

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (units in the key names; kWh/kPa only as labelled)."""
        racks = [
            {
                "name": self.rack_names[i],
                "x_m": float(self.rack_x_m[i]),
                "y_m": float(self.rack_y_m[i]),
                "cooling": self.rack_cooling[i],
                "n_servers": int(self.rack_n_servers[i]),
                "n_gpus": int(self.rack_n_gpus[i]),
                "it_power_w": float(self.rack_it_power_w[i]),
                "max_power_w": float(self.rack_max_power_w[i]),
                "power_limit_w": float(self.rack_power_limit_w[i]),
                "air_heat_w": float(self.rack_air_heat_w[i]),
                "inlet_temp_c": _num(self.rack_inlet_temp_c[i]),
                "weight_kg": float(self.rack_weight_kg[i]),
                "floor_load_kpa": float(self.rack_floor_load_pa[i] / PA_PER_KPA),
                "chip_temp_c": _num(self.rack_chip_temp_c[i]),
                "chip_temp_tdp_c": _num(self.rack_chip_temp_tdp_c[i]),
                "chip_max_temp_c": _num(self.rack_chip_max_temp_c[i]),
                "throttle_risk": bool(self.rack_throttle_risk[i]),
            }
            for i in range(len(self.rack_names))
        ]
        months = [
            {
                "month": m + 1,
                "outdoor_dry_bulb_c": float(self.monthly_outdoor_dry_bulb_c[m]),
                "it_power_w": float(self.monthly_it_power_w[m]),
                "cooling_power_w": float(self.monthly_cooling_power_w[m]),
                "loss_power_w": float(self.monthly_loss_power_w[m]),
                "misc_power_w": float(self.monthly_misc_power_w[m]),
                "facility_power_w": float(self.monthly_facility_power_w[m]),
                "pue": float(self.monthly_pue[m]),
                "free_cooling_frac": float(self.monthly_free_cooling_frac[m]),
            }
            for m in range(len(self.monthly_pue))
        ]
        return {
            "scenario_name": self.scenario_name,
            "load_frac": self.load_frac,
            "containment": self.containment,
            "supply_temp_c": self.supply_temp_c,
            "annual_pue": self.annual_pue,
            "it_power_w": self.it_power_w,
            "hottest_inlet_c": _num(self.hottest_inlet_c),
            "hottest_rack": self.hottest_rack,
            "inlet_limit_c": self.inlet_limit_c,
            "it_energy_kwh": self.it_energy_j / J_PER_KWH,
            "cooling_energy_kwh": self.cooling_energy_j / J_PER_KWH,
            "loss_energy_kwh": self.loss_energy_j / J_PER_KWH,
            "facility_energy_kwh": self.facility_energy_kwh,
            "energy_cost_jpy": self.energy_cost_jpy,
            "demand_charge_jpy": self.demand_charge_jpy,
            "cost_jpy": self.cost_jpy,
            "co2_kg": self.co2_kg,
            "peak_facility_power_w": self.peak_facility_power_w,
            "design_outdoor_dry_bulb_c": self.design_outdoor_dry_bulb_c,
            "design_it_power_w": self.design_it_power_w,
            "design_facility_power_w": self.design_facility_power_w,
            "grid_limit_w": self.grid_limit_w,
            "ups_capacity_w": self.ups_capacity_w,
            "floor_rating_kpa": self.floor_rating_pa / PA_PER_KPA,
            "cooling_by_tech_w": self.cooling_by_tech_w,
            "warnings": list(self.warnings),
            "racks": racks,
            "months": months,
        }


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _rack_depth_m(racks: Sequence[PlacedRack]) -> float:
    return float(np.mean([r.depth_m for r in racks])) if racks else 1.2


def heat_distribution_for(
    x_m: FloatArray,
    y_m: FloatArray,
    row: IntArray,
    airflow_m3_per_s: FloatArray,
    *,
    containment: str,
    rack_depth_m: float,
) -> FloatArray:
    """Tang's D (K/W) for racks at the given positions, airflows and containment."""
    if x_m.size == 0:
        return np.zeros((0, 0))
    a = recirculation_matrix(
        x_m,
        y_m,
        row,
        containment=containment,  # type: ignore[arg-type]
        rack_depth_m=rack_depth_m,
        rack_airflow_m3_per_s=airflow_m3_per_s,
    )
    return heat_distribution_matrix_k_per_w(a, airflow_m3_per_s)


def _monthly(values: FloatArray, climate: MonthlyClimate | HourlyClimate) -> FloatArray:
    """Duration-weighted mean of per-period values within each calendar month, shape (12,)."""
    if isinstance(climate, MonthlyClimate) or values.shape[0] == 12:
        return values
    hours = np.cumsum(climate.duration_s) / S_PER_H
    month_end_h = np.cumsum(monthly_normals("tokyo").duration_s) / S_PER_H
    month = np.minimum(np.searchsorted(month_end_h, hours, side="left"), 11)
    w = climate.duration_s
    num = np.bincount(month, weights=values * w, minlength=12)
    den = np.bincount(month, weights=w, minlength=12)
    return np.divide(num, den, out=np.zeros(12), where=den > 0)


def evaluate_site(
    scenario: Scenario, *, load_frac: float = 0.8, catalog: Catalog | None = None
) -> SiteEvaluation:
    """Evaluate a site in steady state at one load level: racks, months, year, design day.

    Args:
        scenario: a loaded scenario (its racks are placed with ``racks_resolved()``).
        load_frac: GPU activity and host load of every server, 0–1 (default 0.8).
        catalog: hardware catalog (default: the scenario's).

    Returns:
        The :class:`SiteEvaluation`. ``monthly_facility_power_w`` equals IT + cooling + losses
        + misc exactly in every month.

    Raises:
        ConfigError: ``load_frac`` outside 0–1, or a scenario whose racks cannot be placed.

    References:
        Tang et al., IEEE TPDS 19(11) 2008 (recirculation); The Green Grid WP#49 (PUE);
        physics.md §3–4, §7; see the physics modules named in the module docstring.
    """
    if not (0.0 <= load_frac <= 1.0) or not math.isfinite(load_frac):
        msg = f"--load = {load_frac}: must be a fraction between 0 and 1 (e.g. 0.8)"
        raise ConfigError(msg)
    cat = scenario.get_catalog() if catalog is None else catalog
    racks = [r for r in scenario.racks_resolved() if r.servers]
    if not racks:
        where = scenario.source_path or scenario.display_name
        counts = ", ".join(f"fleet[{i}].count = {e.count}" for i, e in enumerate(scenario.fleet))
        msg = (
            f"{where}: {counts or 'fleet = []'}: no rack holds a server, nothing to evaluate; "
            "give at least one [[fleet]] entry with count ≥ 1"
        )
        raise ConfigError(msg)
    n = len(racks)
    supply_c = scenario.cooling.supply_temp_c
    containment = containment_of(scenario)

    # Per-server records, flattened, with the rack each belongs to.
    srv_rack = np.array([i for i, r in enumerate(racks) for _ in r.servers], dtype=np.int64)
    servers = [s for r in racks for s in r.servers]
    air_frac_s = np.array(
        [
            air_heat_frac(
                racks[srv_rack[k]].cooling.medium,
                racks[srv_rack[k]].cooling.liquid_capture_frac,
                s.liquid_capture_frac,
            )
            for k, s in enumerate(servers)
        ]
    )
    breathes = np.array([r.cooling.medium != "immersion" for r in racks])
    airflow = np.array([r.airflow_m3_per_s for r in racks])
    idx_air = np.nonzero(breathes & (airflow > 0))[0]
    d = heat_distribution_for(
        np.array([racks[i].x_m for i in idx_air]),
        np.array([racks[i].y_m for i in idx_air]),
        np.array([racks[i].row for i in idx_air], dtype=np.int64),
        airflow[idx_air],
        containment=containment,
        rack_depth_m=_rack_depth_m(racks),
    )

    inlet = np.full(n, supply_c)
    power_s = np.zeros(len(servers))
    for _ in range(FAN_RAMP_ITERATIONS):
        power_s = np.array(
            [
                float(server_load_power_w(s, cat, load_frac, inlet[srv_rack[k]]))
                for k, s in enumerate(servers)
            ]
        )
        air_q = np.bincount(srv_rack, weights=power_s * air_frac_s, minlength=n)
        new = np.full(n, supply_c)
        new[idx_air] = supply_c + d @ air_q[idx_air]
        if np.allclose(new, inlet, atol=1e-6):
            inlet = new
            break
        inlet = new
    rack_power = np.bincount(srv_rack, weights=power_s, minlength=n).astype(np.float64)
    rack_air = np.bincount(srv_rack, weights=power_s * air_frac_s, minlength=n).astype(np.float64)
    rack_inlet = np.where(breathes, inlet, np.nan)

    # Chips: hottest GPU per rack at load and at TDP.
    liquid_in_c = scenario.cooling.liquid_supply_temp_c
    cdu_k = scenario.cooling.cdu.approach_k if scenario.cooling.cdu is not None else 0.0
    chip = np.full(n, -np.inf)
    chip_tdp = np.full(n, -np.inf)
    chip_max = np.full(n, np.inf)
    for k, s in enumerate(servers):
        i = int(srv_rack[k])
        gpu = cat.server_gpu(s)
        if gpu.cooling == "liquid" or racks[i].cooling.medium == "immersion":
            plant_liq = site_plant(scenario, racks[i].cooling, 1.0)
            t_gpu_in = (
                liquid_in_c if liquid_in_c is not None else plant_liq.liquid_supply_temp_c
            ) + cdu_k
        else:
            t_gpu_in = float(inlet[i])
        p_gpu = float(gpu_power_w(load_frac, 1.0, gpu))
        chip[i] = max(chip[i], float(steady_temp_c(t_gpu_in, p_gpu, gpu.die_to_inlet_k_per_w)))
        chip_tdp[i] = max(
            chip_tdp[i], float(steady_temp_c(t_gpu_in, gpu.tdp_w, gpu.die_to_inlet_k_per_w))
        )
        chip_max[i] = min(chip_max[i], gpu.max_operating_temp_c)
    throttle = chip_tdp >= chip_max

    # Power chain and cooling, per period of the climate.
    design_it_w = float(sum(r.max_power_w for r in racks))
    chain = site_power_chain(scenario, cat, design_it_w)
    climate = site_climate(scenario)
    dur = climate.duration_s
    it_w = float(rack_power.sum())
    loss_w = float(chain.loss_w(it_w))
    techs: dict[str, CoolingTech] = {}
    for r in racks:
        techs.setdefault(r.cooling.name, r.cooling)
    cooling = np.zeros(dur.shape)
    free_num = np.zeros(dur.shape)
    by_tech: dict[str, float] = {}
    design_db, design_wb = design_day_c(climate)
    design_loss_w = float(chain.loss_w(design_it_w))
    design_cool_w = 0.0
    for name, tech in techs.items():
        sel = np.array([r.cooling.name == name for r in racks])
        group_w = float(rack_power[sel].sum())
        group_design_w = float(sum(r.max_power_w for r, s in zip(racks, sel, strict=True) if s))
        share = group_w / it_w if it_w > 0 else 0.0
        design_share = group_design_w / design_it_w if design_it_w > 0 else 0.0
        plant = site_plant(scenario, tech, group_design_w * (1.0 + design_loss_w / design_it_w))
        heat = group_w + share * loss_w
        bd = plant_power_w(
            np.full(dur.shape, heat),
            climate.dry_bulb_c,
            climate.wet_bulb_c,
            plant,
            outdoor_db_std_k=climate.dry_bulb_std_k,
            outdoor_wb_std_k=climate.wet_bulb_std_k,
        )
        cooling = cooling + bd.total_w
        free_num = free_num + bd.free_frac * heat
        by_tech[name] = float(np.sum(bd.total_w * dur) / np.sum(dur))
        heat_design = group_design_w + design_share * design_loss_w
        design_cool_w += float(plant_power_w(heat_design, design_db, design_wb, plant).total_w)
    total_heat = it_w + loss_w
    free = free_num / total_heat if total_heat > 0 else np.zeros(dur.shape)
    misc = np.zeros(dur.shape)
    it_p = np.full(dur.shape, it_w)
    loss_p = np.full(dur.shape, loss_w)
    facility = it_p + cooling + loss_p + misc
    it_e = float(np.sum(it_p * dur))
    cool_e = float(np.sum(cooling * dur))
    loss_e = float(np.sum(loss_p * dur))
    misc_e = float(np.sum(misc * dur))
    fac_e = it_e + cool_e + loss_e + misc_e

    month_fac = _monthly(facility, climate)
    month_dur = dur if isinstance(climate, MonthlyClimate) else monthly_normals("tokyo").duration_s
    tariff = site_tariff(scenario)
    month_energy_jpy = energy_cost_jpy(month_fac * month_dur, tariff)
    # Steady operation: this year's demand follows last year's peaks (12-month ratchet).
    ratchet = ratcheted_demand_w(np.tile(month_fac, 2))[12:]
    month_demand_jpy = demand_charge_jpy(ratchet, tariff)
    energy_jpy = float(np.sum(month_energy_jpy))
    demand_jpy = float(np.sum(month_demand_jpy))
    design_fac_w = design_it_w + design_cool_w + design_loss_w

    inlet_limit = min(s.max_inlet_temp_c for s in servers)
    warnings = _warnings(
        scenario,
        racks,
        inlet=rack_inlet,
        inlet_limit=inlet_limit,
        throttle=throttle,
        chip_tdp=chip_tdp,
        chip_max=chip_max,
        design_fac_w=design_fac_w,
        design_it_w=design_it_w,
    )
    months_it = _monthly(it_p, climate)
    months_cool = _monthly(cooling, climate)
    months_loss = _monthly(loss_p, climate)
    months_misc = _monthly(misc, climate)
    return SiteEvaluation(
        scenario_name=scenario.display_name,
        load_frac=load_frac,
        containment=containment,
        supply_temp_c=supply_c,
        rack_names=tuple(r.name for r in racks),
        rack_x_m=np.array([r.x_m for r in racks]),
        rack_y_m=np.array([r.y_m for r in racks]),
        rack_row=np.array([r.row for r in racks], dtype=np.int64),
        rack_cooling=tuple(r.cooling.name for r in racks),
        rack_n_servers=np.array([len(r.servers) for r in racks], dtype=np.int64),
        rack_n_gpus=np.array([r.n_gpus for r in racks], dtype=np.int64),
        rack_it_power_w=rack_power,
        rack_max_power_w=np.array([r.max_power_w for r in racks]),
        rack_power_limit_w=np.array([r.power_limit_w for r in racks]),
        rack_air_heat_w=rack_air,
        rack_inlet_temp_c=rack_inlet,
        rack_weight_kg=np.array([r.weight_kg for r in racks]),
        rack_floor_load_pa=np.array([r.floor_load_pa for r in racks]),
        rack_chip_temp_c=chip,
        rack_chip_temp_tdp_c=chip_tdp,
        rack_chip_max_temp_c=chip_max,
        rack_throttle_risk=throttle,
        monthly_duration_s=month_dur,
        monthly_outdoor_dry_bulb_c=_monthly(climate.dry_bulb_c, climate),
        monthly_it_power_w=months_it,
        monthly_cooling_power_w=months_cool,
        monthly_loss_power_w=months_loss,
        monthly_misc_power_w=months_misc,
        monthly_facility_power_w=months_it + months_cool + months_loss + months_misc,
        monthly_pue=(months_it + months_cool + months_loss + months_misc) / months_it,
        monthly_free_cooling_frac=_monthly(free, climate),
        monthly_cost_jpy=np.asarray(month_energy_jpy + month_demand_jpy, dtype=np.float64),
        annual_pue=fac_e / it_e,
        it_energy_j=it_e,
        cooling_energy_j=cool_e,
        loss_energy_j=loss_e,
        misc_energy_j=misc_e,
        facility_energy_j=fac_e,
        energy_cost_jpy=energy_jpy,
        demand_charge_jpy=demand_jpy,
        cost_jpy=energy_jpy + demand_jpy,
        co2_kg=float(co2_kg(fac_e, tariff.co2_kg_per_kwh)),
        peak_facility_power_w=float(month_fac.max()),
        design_outdoor_dry_bulb_c=design_db,
        design_it_power_w=design_it_w,
        design_cooling_power_w=design_cool_w,
        design_loss_power_w=design_loss_w,
        design_facility_power_w=design_fac_w,
        grid_limit_w=scenario.site.grid_limit_w,
        ups_capacity_w=scenario.power.ups_capacity_w,
        floor_rating_pa=scenario.hall.floor_rating_pa,
        inlet_limit_c=inlet_limit,
        cooling_by_tech_w=by_tech,
        warnings=tuple(warnings),
    )


def _warnings(
    scenario: Scenario,
    racks: Sequence[PlacedRack],
    *,
    inlet: FloatArray,
    inlet_limit: float,
    throttle: BoolArray,
    chip_tdp: FloatArray,
    chip_max: FloatArray,
    design_fac_w: float,
    design_it_w: float,
) -> list[str]:
    out: list[str] = []
    for i, r in enumerate(racks):
        if np.isfinite(inlet[i]) and inlet[i] > inlet_limit:
            out.append(
                f"rack {r.name}: inlet {inlet[i]:.1f} °C above the servers' allowed "
                f"{inlet_limit:g} °C"
            )
        if throttle[i]:
            out.append(
                f"rack {r.name}: GPU die at TDP would reach {chip_tdp[i]:.1f} °C, at or "
                f"above its {chip_max[i]:g} °C maximum operating temperature "
                "(thermal throttling likely at full power)"
            )
        if r.floor_load_pa > scenario.hall.floor_rating_pa:
            out.append(
                f"rack {r.name}: floor load {r.floor_load_pa / PA_PER_KPA:.1f} kPa above "
                f"the {scenario.hall.floor_rating_kpa:g} kPa rating"
            )
    grid = scenario.site.grid_limit_w
    if grid is not None and design_fac_w > grid:
        out.append(
            f"design-day facility power {design_fac_w / W_PER_KW:,.0f} kW exceeds the grid "
            f"limit {grid / W_PER_KW:,.0f} kW"
        )
    ups = scenario.power.ups_capacity_w
    if ups is not None and design_it_w > ups:
        out.append(
            f"nameplate IT power {design_it_w / W_PER_KW:,.0f} kW exceeds the UPS capacity "
            f"{ups / W_PER_KW:,.0f} kW"
        )
    return out


__all__ = [
    "SiteEvaluation",
    "air_heat_frac",
    "containment_of",
    "design_day_c",
    "evaluate_site",
    "heat_distribution_for",
    "is_compatible",
    "server_load_power_w",
    "site_climate",
    "site_plant",
    "site_power_chain",
    "site_tariff",
]
