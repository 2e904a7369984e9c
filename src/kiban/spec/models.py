"""Frozen pydantic models of a scenario file: site, hall, racks, power, cooling, fleet, workload.

Users write engineer units with the unit in the key (``power_limit_kw``, ``floor_rating_kpa``,
``shared_fs_bandwidth_gb_per_s``, ``horizon_days``); every model exposes SI properties
(``power_limit_w``, ``floor_rating_pa``, ``shared_fs_bandwidth_b_per_s``, ``horizon_s``) for the
library. Relative paths are resolved against the scenario file's folder when loaded through
:func:`kiban.spec.load_spec`.

Type and range checks live here (pydantic); checks that need the hardware catalog (unknown
model names, rack power against limits, floor loading) live in :mod:`kiban.spec.checks`.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from kiban.catalog import Catalog, ServerModel, default_catalog, load_catalog, suggestion
from kiban.errors import ConfigError
from kiban.spec._common import (
    KNOWN_CLIMATE_CITIES,
    SpecModel,
    check_range,
    check_temp_c,
    resolve_path,
)
from kiban.spec.placement import PlacedRack, place_fleet
from kiban.spec.trace_fleet import TraceNodes, read_trace_nodes, split_trace_spec, trace_server
from kiban.units import B_PER_GB, B_PER_GIB, B_PER_TB, M_PER_FT, PA_PER_KPA, S_PER_DAY, W_PER_KW

_KW_ALTS = ((1.0 / W_PER_KW, "W"),)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

Containment = Literal["none", "hot-aisle", "cold-aisle"]
Redundancy = Literal["N", "N+1", "2N"]
ChillerModel = Literal["moore-crac", "dx-air-cooled", "energyplus-chiller"]
Economizer = Literal["none", "airside", "waterside", "drycooler"]
Objective = Literal["tco", "pue", "gpus"]
OutputKind = Literal["summary", "jobs", "timeseries", "racks", "layout", "scenario"]
Until = Literal["drain", "trace-end"]

_MAX_RACKS = 100_000

# --- site ---------------------------------------------------------------------------------


class Climate(SpecModel):
    """Outdoor climate: monthly normals of a known city, explicit monthly values, or hourly file.

    Exactly one of: ``monthly = "tokyo"``; ``dry_bulb_c`` + ``wet_bulb_c`` (12 values each,
    January first); ``hourly_csv = "path.csv"`` (columns ``dry_bulb_c``, ``wet_bulb_c``, one row
    per hour, or an EnergyPlus ``.epw`` weather file; the path is relative to the scenario file).
    """

    monthly: str | None = Field(
        default=None, description=f"City with built-in normals: {', '.join(KNOWN_CLIMATE_CITIES)}."
    )
    dry_bulb_c: list[float] | None = Field(
        default=None, description="12 monthly mean dry-bulb temperatures, °C."
    )
    wet_bulb_c: list[float] | None = Field(
        default=None, description="12 monthly mean wet-bulb temperatures, °C."
    )
    hourly_csv: str | None = Field(
        default=None,
        description="CSV with columns dry_bulb_c, wet_bulb_c (8760 rows), or an EnergyPlus .epw.",
    )

    @field_validator("monthly")
    @classmethod
    def _known_city(cls, value: str | None) -> str | None:
        if value is None:
            return None
        city = value.strip().lower()
        if city not in KNOWN_CLIMATE_CITIES:
            hint = suggestion(city, KNOWN_CLIMATE_CITIES)
            msg = f"no built-in normals for this city{hint or ';'} allowed: "
            msg += ", ".join(KNOWN_CLIMATE_CITIES)
            msg += " (or give dry_bulb_c/wet_bulb_c, or hourly_csv)"
            raise ValueError(msg)
        return city

    @field_validator("dry_bulb_c", "wet_bulb_c")
    @classmethod
    def _twelve_months(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if len(value) != 12:
            msg = f"must have 12 monthly values (January first), got {len(value)}"
            raise ValueError(msg)
        for temp_c in value:
            check_temp_c(temp_c, -50.0, 50.0, "a monthly mean outdoor temperature")
        return value

    @field_validator("hourly_csv")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)

    @model_validator(mode="after")
    def _exactly_one(self) -> Climate:
        explicit = self.dry_bulb_c is not None or self.wet_bulb_c is not None
        given = [self.monthly is not None, explicit, self.hourly_csv is not None]
        if sum(given) != 1:
            msg = (
                "give exactly one of: monthly = city, dry_bulb_c + wet_bulb_c (12 values each), "
                "or hourly_csv = path"
            )
            raise ValueError(msg)
        if explicit:
            if self.dry_bulb_c is None or self.wet_bulb_c is None:
                msg = "dry_bulb_c and wet_bulb_c must be given together"
                raise ValueError(msg)
            for month, (db, wb) in enumerate(zip(self.dry_bulb_c, self.wet_bulb_c, strict=True)):
                if wb > db:
                    msg = (
                        f"wet_bulb_c[{month}] = {wb:g} exceeds dry_bulb_c[{month}] = {db:g}; "
                        "a wet-bulb temperature is never above the dry-bulb"
                    )
                    raise ValueError(msg)
        return self

    @property
    def kind(self) -> Literal["monthly", "explicit", "hourly"]:
        """Which form was given."""
        if self.monthly is not None:
            return "monthly"
        if self.hourly_csv is not None:
            return "hourly"
        return "explicit"

    @property
    def hourly_csv_path(self) -> Path | None:
        """The hourly file as a Path (absolute when loaded from a file), or None."""
        return None if self.hourly_csv is None else Path(self.hourly_csv)


class Tariff(SpecModel):
    """Electricity tariff in JPY; the defaults are physics.md §7.1's all-in 高圧 22 JPY/kWh."""

    energy_jpy_per_kwh: float = Field(default=22.0, description="Energy rate, JPY/kWh.")
    fuel_adjustment_jpy_per_kwh: float = Field(
        default=0.0, description="Fuel-cost adjustment (may be negative), JPY/kWh."
    )
    renewable_surcharge_jpy_per_kwh: float = Field(
        default=0.0, description="Renewable-energy surcharge (再エネ賦課金), JPY/kWh."
    )
    demand_charge_jpy_per_kw_month: float = Field(
        default=0.0, description="Demand (basic) charge per kW of 30-min peak, JPY/(kW·month)."
    )

    @field_validator("energy_jpy_per_kwh")
    @classmethod
    def _energy(cls, value: float) -> float:
        return check_range(
            value, 0.0, 200.0, "an energy price", "JPY/kWh", alternatives=((W_PER_KW, "JPY/Wh"),)
        )

    @field_validator("fuel_adjustment_jpy_per_kwh", "renewable_surcharge_jpy_per_kwh")
    @classmethod
    def _adders(cls, value: float) -> float:
        if not -50.0 <= value <= 50.0:
            msg = "implausible for a per-kWh adder (expected −50–50 JPY/kWh)"
            raise ValueError(msg)
        return value

    @field_validator("demand_charge_jpy_per_kw_month")
    @classmethod
    def _demand(cls, value: float) -> float:
        return check_range(value, 0.0, 20_000.0, "a demand charge", "JPY/(kW·month)")

    @property
    def total_jpy_per_kwh(self) -> float:
        """Energy + fuel adjustment + renewable surcharge, JPY/kWh."""
        return (
            self.energy_jpy_per_kwh
            + self.fuel_adjustment_jpy_per_kwh
            + self.renewable_surcharge_jpy_per_kwh
        )


class Site(SpecModel):
    """Where the hall is: location, climate, tariff, grid carbon intensity and connection limit."""

    name: str = Field(description="Site name.")
    location: str = Field(default="", description="Free-text location (city, ward).")
    climate: Climate = Field(description="Outdoor climate (a city name is a shorthand).")
    tariff: Tariff = Field(default_factory=Tariff)
    grid_co2_kg_per_kwh: float = Field(
        default=0.45, description="Grid CO2 factor, kg/kWh (physics.md §7.2 Tokyo default 0.45)."
    )
    grid_limit_kw: float | None = Field(default=None, description="Grid connection limit, kW.")

    @field_validator("climate", mode="before")
    @classmethod
    def _city_shorthand(cls, value: Any) -> Any:
        return {"monthly": value} if isinstance(value, str) else value

    @field_validator("grid_co2_kg_per_kwh")
    @classmethod
    def _co2(cls, value: float) -> float:
        alts = ((0.001, "g/kWh"),)
        return check_range(value, 0.0, 1.5, "a grid CO2 factor", "kg/kWh", alternatives=alts)

    @field_validator("grid_limit_kw")
    @classmethod
    def _grid(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 2.0e6, "a grid connection", "kW", alternatives=_KW_ALTS)

    @property
    def grid_limit_w(self) -> float | None:
        """Grid connection limit, W (None = unlimited)."""
        return None if self.grid_limit_kw is None else self.grid_limit_kw * W_PER_KW


# --- hall and racks -----------------------------------------------------------------------


def _check_rack_power(value: float | None) -> float | None:
    if value is None:
        return None
    return check_range(value, 0.5, 300.0, "a rack", "kW", alternatives=_KW_ALTS)


def _check_length(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    return check_range(value, 0.1, 5.0, what, "m", alternatives=((0.001, "mm"), (0.01, "cm")))


class RackOptions(SpecModel):
    """Settings every rack shares unless an explicit rack entry overrides them."""

    power_limit_kw: float | None = Field(
        default=None,
        description="Provisioned power per rack, kW (default: the cooling tech's capacity).",
    )
    cooling: str | None = Field(
        default=None, description="Cooling technology name (default: [cooling].technology)."
    )
    weight_limit_kg: float | None = Field(
        default=None, description="Static load rating of the rack enclosure, kg (None = unchecked)."
    )
    width_m: float | None = Field(default=None, description="Rack width, m (default 0.6).")
    depth_m: float | None = Field(default=None, description="Rack depth, m (default 1.2).")
    empty_weight_kg: float | None = Field(
        default=None, description="Weight of the empty enclosure + PDUs + cabling, kg (default 0)."
    )
    rack_units: int | None = Field(
        default=None, ge=1, le=60, description="Usable height, U (default 42)."
    )
    load_spread_area_m2: float | None = Field(
        default=None,
        description="Floor area a spreader plate distributes the load over, m² (optional).",
    )

    @field_validator("power_limit_kw")
    @classmethod
    def _power(cls, value: float | None) -> float | None:
        return _check_rack_power(value)

    @field_validator("weight_limit_kg", "empty_weight_kg")
    @classmethod
    def _weight(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 0.0, 5000.0, "a rack", "kg", alternatives=((0.45359237, "lb"),))

    @field_validator("width_m", "depth_m")
    @classmethod
    def _size(cls, value: float | None) -> float | None:
        return _check_length(value, "a rack dimension")

    @field_validator("load_spread_area_m2")
    @classmethod
    def _spread(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 0.1, 20.0, "a spreader plate", "m²")


class RackEntry(RackOptions):
    """One explicitly placed rack: name and floor position (centre), plus optional overrides."""

    name: str = Field(description="Unique rack name, e.g. R01.")
    x_m: float = Field(description="Centre along the hall length, m.")
    y_m: float = Field(description="Centre along the hall width, m.")
    row: int = Field(default=0, ge=0, description="Row index (for aisle/recirculation models).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            msg = "rack names use letters, digits, '-', '_' or '.'"
            raise ValueError(msg)
        return value

    @field_validator("x_m", "y_m")
    @classmethod
    def _coord(cls, value: float) -> float:
        return check_range(
            value, 0.0, 1000.0, "a position in a hall", "m", alternatives=((0.001, "mm"),)
        )


class RackGrid(SpecModel):
    """Racks in ``rows`` × ``racks_per_row``, named ``<prefix>01``, ``<prefix>02``, … row by row.

    Rack centres are at ``x = origin_x_m + i·rack_pitch_m`` along a row and
    ``y = origin_y_m + row·row_pitch_m`` across rows.
    """

    rows: int = Field(ge=1, le=2000, description="Number of rows.")
    racks_per_row: int = Field(ge=1, le=2000, description="Racks in each row.")
    rack_pitch_m: float | None = Field(
        default=None, description="Centre-to-centre distance along a row, m (default: rack width)."
    )
    row_pitch_m: float = Field(
        default=2.4, description="Centre-to-centre distance between rows, m (rack depth + aisle)."
    )
    origin_x_m: float = Field(
        default=1.5, description="Centre of the first rack along the length, m."
    )
    origin_y_m: float = Field(
        default=1.5, description="Centre of the first rack along the width, m."
    )
    prefix: str = Field(default="R", description="Rack name prefix.")

    @model_validator(mode="after")
    def _size(self) -> RackGrid:
        if self.rows * self.racks_per_row > _MAX_RACKS:
            msg = f"{self.rows} × {self.racks_per_row} racks: at most {_MAX_RACKS:,} racks per hall"
            raise ValueError(msg)
        return self

    @field_validator("rack_pitch_m")
    @classmethod
    def _pitch(cls, value: float | None) -> float | None:
        return _check_length(value, "a rack pitch")

    @field_validator("row_pitch_m")
    @classmethod
    def _row_pitch(cls, value: float) -> float:
        return check_range(value, 0.3, 20.0, "a row pitch", "m", alternatives=((0.001, "mm"),))

    @field_validator("origin_x_m", "origin_y_m")
    @classmethod
    def _origin(cls, value: float) -> float:
        return check_range(
            value, 0.0, 1000.0, "a position in a hall", "m", alternatives=((0.001, "mm"),)
        )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not _NAME_RE.match(value):
            msg = "a rack name prefix uses letters, digits, '-', '_' or '.'"
            raise ValueError(msg)
        return value


class Hall(SpecModel):
    """The white space: size, floor rating, containment and the racks (grid or explicit list)."""

    name: str = Field(default="hall", description="Hall name.")
    length_m: float = Field(description="Inside length, m.")
    width_m: float = Field(description="Inside width, m.")
    height_m: float = Field(default=3.0, description="Clear height, m.")
    floor_rating_kpa: float = Field(
        default=12.0, description="Distributed live-load rating, kPa (TIA-942 Rated-3: 12 kPa)."
    )
    containment: Containment = Field(default="none", description="Aisle containment.")
    rack_defaults: RackOptions = Field(default_factory=RackOptions)
    grid: RackGrid | None = Field(default=None, description="Racks as a regular grid.")
    racks: list[RackEntry] = Field(
        default_factory=list, max_length=_MAX_RACKS, description="Racks listed one by one."
    )

    @field_validator("length_m", "width_m")
    @classmethod
    def _dims(cls, value: float) -> float:
        return check_range(value, 2.0, 1000.0, "a hall", "m", alternatives=((0.001, "mm"),))

    @field_validator("height_m")
    @classmethod
    def _height(cls, value: float) -> float:
        return check_range(value, 2.0, 30.0, "a hall height", "m", alternatives=((0.001, "mm"),))

    @field_validator("floor_rating_kpa")
    @classmethod
    def _floor(cls, value: float) -> float:
        alts = ((1.0 / PA_PER_KPA, "Pa"), (0.00980665, "kg/m²"), (0.047880259, "lbf/ft²"))
        return check_range(value, 2.0, 100.0, "a floor rating", "kPa", alternatives=alts)

    @model_validator(mode="after")
    def _grid_or_list(self) -> Hall:
        if (self.grid is None) == (not self.racks):
            msg = "give the racks either as [hall.grid] or as [[hall.racks]] entries (exactly one)"
            raise ValueError(msg)
        return self

    @property
    def floor_rating_pa(self) -> float:
        """Floor rating, Pa."""
        return self.floor_rating_kpa * PA_PER_KPA

    @property
    def area_m2(self) -> float:
        """Floor area, m²."""
        return self.length_m * self.width_m


# --- power chain and cooling plant ----------------------------------------------------------


_LENGTH_ALTS = ((0.001, "mm"), (0.01, "cm"), (M_PER_FT, "ft"))


def _check_point(value: float | None) -> float | None:
    """A point on the floor, m from the hall's corner (inside the hall is checked later)."""
    if value is None:
        return None
    return check_range(
        value, 0.0, 1000.0, "a position in a hall", "m", alternatives=((0.001, "mm"),)
    )


def _check_run(value: float | None, what: str) -> float | None:
    """A cable or pipe length limit: 1–1000 m, with a hint for mm, cm or ft."""
    if value is None:
        return None
    return check_range(value, 1.0, 1000.0, what, "m", alternatives=_LENGTH_ALTS)


class PowerChain(SpecModel):
    """UPS class and redundancy, rack PDUs and feeds, and the room-level distribution class.

    Optionally, where rack power cables start (``feed_x_m``, ``feed_y_m``, in hall coordinates)
    and the longest run allowed (``max_cable_length_m``); runs are measured as in
    :mod:`kiban.spec.routing` (along rows and aisles, plus a vertical allowance). ``auto``
    placement and ``kiban plan`` leave racks beyond the limit empty; ``kiban validate``
    reports a rack with servers beyond it.
    """

    ups: str = Field(default="enterprise", description="UPS class from the catalog.")
    redundancy: Redundancy = Field(default="N", description="UPS redundancy: N, N+1 or 2N.")
    ups_capacity_kw: float | None = Field(
        default=None, description="UPS capacity available to IT (per path for 2N), kW."
    )
    pdu: str | None = Field(default=None, description="Rack PDU class from the catalog.")
    pdus_per_rack: int = Field(default=2, ge=1, le=16, description="Rack PDUs per rack.")
    feeds: int | None = Field(
        default=None, ge=1, le=2, description="Power feeds per rack (default 2 for 2N, else 1)."
    )
    distribution: str | None = Field(
        default=None, description="Room-level PDU/transformer/busway class (losses)."
    )
    feed_x_m: float | None = Field(
        default=None,
        description="Where rack power cables start (room PDU, RPP or busway feed), along the "
        "hall length, m.",
    )
    feed_y_m: float | None = Field(
        default=None, description="Where rack power cables start, along the hall width, m."
    )
    max_cable_length_m: float | None = Field(
        default=None,
        description="Longest power cable run from the feed to a rack, m (rectilinear route "
        "plus 4 m vertical; needs feed_x_m, feed_y_m).",
    )

    row_limit_kw: float | None = Field(
        default=None,
        description="Power limit of each row's PDU/busway, kW (enforced during a run; None = "
        "unlimited).",
    )
    oversubscribe: bool = Field(
        default=False,
        description="Allow site.grid_limit_kw and ups_capacity_kw below the fleet's nameplate "
        "power: the run holds them by capping running jobs, lowest priority first (Dynamo/POLCA "
        "style power oversubscription).",
    )

    @field_validator("row_limit_kw")
    @classmethod
    def _row_limit(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 1.0e5, "a row power limit", "kW", alternatives=_KW_ALTS)

    @property
    def row_limit_w(self) -> float | None:
        """Row PDU/busway limit, W (None = unlimited)."""
        return None if self.row_limit_kw is None else self.row_limit_kw * W_PER_KW

    @field_validator("feed_x_m", "feed_y_m")
    @classmethod
    def _feed_point(cls, value: float | None) -> float | None:
        return _check_point(value)

    @field_validator("max_cable_length_m")
    @classmethod
    def _cable(cls, value: float | None) -> float | None:
        return _check_run(value, "a power cable run")

    @field_validator("ups_capacity_kw")
    @classmethod
    def _ups(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 2.0e6, "a UPS capacity", "kW", alternatives=_KW_ALTS)

    @model_validator(mode="after")
    def _feeds_match(self) -> PowerChain:
        if self.redundancy == "2N" and self.feeds == 1:
            msg = "redundancy = '2N' needs two feeds per rack; set feeds = 2 or leave it out"
            raise ValueError(msg)
        return self

    @property
    def n_feeds(self) -> int:
        """Feeds per rack (2 for 2N unless given)."""
        if self.feeds is not None:
            return self.feeds
        return 2 if self.redundancy == "2N" else 1

    @property
    def ups_capacity_w(self) -> float | None:
        """UPS capacity available to IT, W (None = unchecked)."""
        return None if self.ups_capacity_kw is None else self.ups_capacity_kw * W_PER_KW


class Cdu(SpecModel):
    """Coolant distribution unit between facility water and the rack liquid loop."""

    approach_k: float = Field(
        default=5.0, description="Liquid-to-liquid approach, K (physics.md §3.7)."
    )
    capacity_kw: float | None = Field(default=None, description="Heat capacity, kW.")

    @field_validator("approach_k")
    @classmethod
    def _approach(cls, value: float) -> float:
        return check_range(value, 0.5, 30.0, "a CDU approach", "K")

    @field_validator("capacity_kw")
    @classmethod
    def _cap(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 1.0e5, "a CDU", "kW", alternatives=_KW_ALTS)

    @property
    def capacity_w(self) -> float | None:
        """Heat capacity, W (None = unchecked)."""
        return None if self.capacity_kw is None else self.capacity_kw * W_PER_KW


class CoolingPlant(SpecModel):
    """Cooling plant: default rack technology, set-points, chiller, economizer and CDU.

    Optionally, where facility-water pipes start (``cdu_x_m``, ``cdu_y_m``: the CDU or the
    manifold, in hall coordinates) and the longest pipe run allowed (``max_pipe_length_m``),
    measured as in :mod:`kiban.spec.routing`. It applies to racks whose technology takes heat
    into water (rear-door-hx, direct-liquid, immersion-1p); air-cooled racks need no pipe.
    """

    technology: str = Field(description="Default cooling technology of racks (catalog name).")
    supply_temp_c: float = Field(default=18.0, description="Supply-air set-point, °C.")
    chiller: ChillerModel = Field(
        default="moore-crac", description="Chiller/CRAC efficiency model."
    )
    chiller_capacity_kw: float | None = Field(
        default=None, description="Nominal chiller capacity, kW."
    )
    economizer: Economizer = Field(default="none", description="Free-cooling economizer.")
    economizer_approach_k: float | None = Field(
        default=None,
        description="Economizer approach, K (dry cooler ≈ 10–15 K, physics.md §3.9).",
    )
    liquid_supply_temp_c: float | None = Field(
        default=None, description="Facility-water supply to liquid racks, °C (needed for liquid)."
    )
    cdu: Cdu | None = Field(default=None, description="CDU (liquid and immersion racks).")
    cdu_x_m: float | None = Field(
        default=None,
        description="Where facility-water pipes start (CDU or manifold), along the hall length, m.",
    )
    cdu_y_m: float | None = Field(
        default=None, description="Where facility-water pipes start, along the hall width, m."
    )
    max_pipe_length_m: float | None = Field(
        default=None,
        description="Longest pipe run from the CDU to a liquid-cooled rack (rear-door-hx, "
        "direct-liquid, immersion-1p), m (rectilinear route plus 4 m vertical; needs cdu_x_m, "
        "cdu_y_m).",
    )
    crah_units: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="CRAH/CRAC units serving the hall (default: sized to the IT airflow, N+1).",
    )
    crah_airflow_m3_per_s: float | None = Field(
        default=None, description="Airflow of one CRAH/CRAC unit at full fan speed, m³/s."
    )
    crah_capacity_kw: float | None = Field(
        default=None, description="Sensible cooling capacity of one CRAH/CRAC unit, kW."
    )
    dry_cooler_capacity_kw: float | None = Field(
        default=None,
        description="Dry-cooler (free-cooling) capacity at its design temperature difference, kW.",
    )

    @field_validator("cdu_x_m", "cdu_y_m")
    @classmethod
    def _cdu_point(cls, value: float | None) -> float | None:
        return _check_point(value)

    @field_validator("max_pipe_length_m")
    @classmethod
    def _pipe(cls, value: float | None) -> float | None:
        return _check_run(value, "a cooling pipe run")

    @field_validator("supply_temp_c")
    @classmethod
    def _supply(cls, value: float) -> float:
        return check_temp_c(value, 5.0, 40.0, "a supply-air set-point")

    @field_validator("liquid_supply_temp_c")
    @classmethod
    def _liquid(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_temp_c(value, 2.0, 60.0, "a facility-water supply")

    @field_validator("economizer_approach_k")
    @classmethod
    def _approach(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 0.0, 30.0, "an economizer approach", "K")

    @field_validator("chiller_capacity_kw")
    @classmethod
    def _chiller(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 1.0e6, "a chiller", "kW", alternatives=_KW_ALTS)

    @property
    def chiller_capacity_w(self) -> float | None:
        """Nominal chiller capacity, W (None = sized to the load)."""
        return None if self.chiller_capacity_kw is None else self.chiller_capacity_kw * W_PER_KW

    @field_validator("crah_airflow_m3_per_s")
    @classmethod
    def _crah_airflow(cls, value: float | None) -> float | None:
        if value is None:
            return None
        alts = ((0.000471947, "CFM"), (1.0 / 3600.0, "m³/h"))
        return check_range(value, 0.1, 100.0, "a CRAH unit's airflow", "m³/s", alternatives=alts)

    @field_validator("crah_capacity_kw", "dry_cooler_capacity_kw")
    @classmethod
    def _unit_kw(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 1.0e5, "a cooling unit", "kW", alternatives=_KW_ALTS)

    @property
    def crah_capacity_w(self) -> float | None:
        """Sensible capacity of one CRAH/CRAC unit, W (None = sized to the load)."""
        return None if self.crah_capacity_kw is None else self.crah_capacity_kw * W_PER_KW

    @property
    def dry_cooler_capacity_w(self) -> float | None:
        """Dry-cooler capacity at design ITD, W (None = none or sized to the load)."""
        if self.dry_cooler_capacity_kw is None:
            return None
        return self.dry_cooler_capacity_kw * W_PER_KW


# --- storage, fleet, workload, policies, simulation, plan -----------------------------------


class Storage(SpecModel):
    """Shared file system bandwidth and the local NVMe cache of each node."""

    shared_fs_bandwidth_gb_per_s: float = Field(
        default=100.0, description="Aggregate shared file system bandwidth, GB/s."
    )
    local_nvme_cache_tb: float = Field(default=0.0, description="Local NVMe cache per node, TB.")

    @field_validator("shared_fs_bandwidth_gb_per_s")
    @classmethod
    def _bw(cls, value: float) -> float:
        alts = ((1.0 / B_PER_GB, "B/s"), (1.0e-3, "MB/s"))
        return check_range(
            value, 0.001, 100_000.0, "a shared file system", "GB/s", alternatives=alts
        )

    @field_validator("local_nvme_cache_tb")
    @classmethod
    def _cache(cls, value: float) -> float:
        alts = ((1.0 / B_PER_TB, "B"), (1.0e-3, "GB"))
        return check_range(value, 0.0, 1000.0, "a node's NVMe cache", "TB", alternatives=alts)

    @property
    def shared_fs_bandwidth_b_per_s(self) -> float:
        """Shared file system bandwidth, B/s."""
        return self.shared_fs_bandwidth_gb_per_s * B_PER_GB

    @property
    def local_nvme_cache_b(self) -> float:
        """Local NVMe cache per node, B."""
        return self.local_nvme_cache_tb * B_PER_TB


def _trace_nodes_of(text: str, info: ValidationInfo) -> TraceNodes:
    """Read ``from_trace``'s node list (path resolved like every spec path); ValueError if bad."""
    _, path = split_trace_spec(text)
    return read_trace_nodes(resolve_path(path, info))


class FleetEntry(SpecModel):
    """``count`` servers of ``model`` placed into named racks or ``"auto"``.

    ``auto`` fills the hall's racks in order, adding servers to a rack while its power limit,
    cooling capacity, weight limit and rack units allow. With a list of rack names, only those
    racks are filled, in the listed order. ``per_rack`` fixes how many go into each rack (the
    checks then report any rack it overloads).

    Node CPU and memory (issue 15): ``cpu_milli`` and ``memory_gib`` are what jobs may request
    on each server (Kubernetes' allocatable CPU and memory); once any entry gives them, every
    node has them and jobs' and CPU-only pods' requests filter placement. An entry without
    ``cpu_milli`` then takes its server's ``host_cpu_cores`` × 1000 from the catalog (one CPU =
    one core; Kubernetes counts hyperthreads, so state it to count them); without
    ``memory_gib`` its memory is not checked. ``from_trace = "openb:FOLDER"`` takes the servers
    from a trace's node list (:mod:`kiban.spec.trace_fleet`): one per GPU node with its GPU
    count, GPU model name, CPU and memory, ``model`` giving the host and GPU physics.
    """

    model: str = Field(
        description="Server model name from the catalog (with from_trace: the physics proxy)."
    )
    count: int = Field(
        ge=0, le=1_000_000, description="Number of servers (with from_trace: the node list's)."
    )
    racks: Literal["auto"] | list[str] = Field(default="auto", description='"auto" or rack names.')
    per_rack: int | None = Field(
        default=None, ge=1, le=200, description="Servers per rack (optional)."
    )
    cpu_milli: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="Host CPU per server that jobs may request, milli-cores (default: the "
        "catalog's host_cpu_cores x 1000 once any entry gives node CPU or memory).",
    )
    memory_gib: float | None = Field(
        default=None,
        description="Host memory per server that jobs may request, GiB (default: not checked).",
    )
    from_trace: str | None = Field(
        default=None,
        description='A trace\'s own node list, "openb:FOLDER": one server per GPU node with the '
        "node's GPU count, GPU model name, CPU and memory; model gives the host and GPU physics.",
    )

    @model_validator(mode="before")
    @classmethod
    def _count_from_trace(cls, data: Any, info: ValidationInfo) -> Any:
        """With ``from_trace`` and no ``count``, the count is the node list's GPU nodes."""
        if not isinstance(data, dict) or not isinstance(data.get("from_trace"), str):
            return data
        if "count" in data:
            return data
        try:
            n = _trace_nodes_of(data["from_trace"], info).n_nodes
        except ValueError:
            n = 0  # the from_trace field reports why
        return {**data, "count": n}

    @field_validator("from_trace")
    @classmethod
    def _from_trace(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        _trace_nodes_of(value, info)  # read now: a bad or missing node list fails validation
        fmt, path = split_trace_spec(value)
        return f"{fmt}:{resolve_path(path, info)}"

    @field_validator("memory_gib")
    @classmethod
    def _memory(cls, value: float | None) -> float | None:
        if value is None:
            return None
        alts = ((1.0 / 1024.0**3, "B"), (1.0 / 1024.0, "MiB"), (1024.0, "TiB"))
        return check_range(value, 0.5, 65_536.0, "a server's host memory", "GiB", alternatives=alts)

    @model_validator(mode="after")
    def _trace_excludes(self) -> FleetEntry:
        if self.from_trace is None:
            return self
        nodes = self.trace_nodes()
        if self.count != nodes.n_nodes:
            msg = (
                f"count = {self.count}: from_trace lists {nodes.n_nodes:,} GPU nodes; leave "
                "count out (it is the node list's)"
            )
            raise ValueError(msg)
        for key in ("cpu_milli", "memory_gib"):
            if getattr(self, key) is not None:
                msg = (
                    f"{key} = {getattr(self, key)}: from_trace gives each node's CPU and memory; "
                    f"leave {key} out"
                )
                raise ValueError(msg)
        return self

    @property
    def memory_b(self) -> float | None:
        """Host memory per server, B (None: not given)."""
        return None if self.memory_gib is None else self.memory_gib * B_PER_GIB

    @property
    def gives_host(self) -> bool:
        """True if this entry states node CPU or memory (or takes them from a trace)."""
        return (
            self.from_trace is not None or self.cpu_milli is not None or self.memory_gib is not None
        )

    def trace_nodes(self) -> TraceNodes:
        """The node list of ``from_trace`` (cached per file).

        Raises:
            ConfigError: no ``from_trace``, or the file is gone or bad since validation.
        """
        if self.from_trace is None:
            msg = "this fleet entry has no from_trace"
            raise ConfigError(msg)
        try:
            return read_trace_nodes(split_trace_spec(self.from_trace)[1])
        except ValueError as err:
            msg = f"fleet.from_trace = {self.from_trace!r}: {err}"
            raise ConfigError(msg) from None

    def servers(self, catalog: Catalog) -> list[ServerModel]:
        """One server record per server of this entry (trace nodes: the proxy per node shape)."""
        proxy = catalog.server(self.model)
        if self.from_trace is None:
            return [proxy] * self.count
        nodes = self.trace_nodes()
        tdp_w = catalog.server_gpu(proxy).tdp_w
        shapes: dict[tuple[str, int], ServerModel] = {}
        out = []
        for model, n in zip(nodes.gpu_model, nodes.n_gpus, strict=True):
            server = shapes.get((model, n))
            if server is None:
                server = shapes[model, n] = trace_server(proxy, model, n, tdp_w)
            out.append(server)
        return out

    @field_validator("racks", mode="before")
    @classmethod
    def _racks(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value != "auto":
                msg = 'must be "auto" or a list of rack names such as ["R01", "R02"]'
                raise ValueError(msg)
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            msg = 'must be "auto" or a list of rack names such as ["R01", "R02"]'
            raise ValueError(msg)
        if not value:
            msg = 'an empty list places nothing; use "auto" or name the racks'
            raise ValueError(msg)
        return value


class Synthetic(SpecModel):
    """Synthetic job generator settings (``kiban.workload.synthetic_jobs``)."""

    n_jobs: int | None = Field(default=None, ge=1, description="Number of jobs.")
    days: float | None = Field(default=None, description="Or: length of the arrival window, days.")
    seed: int | None = Field(default=None, description="Generator seed (default: simulation.seed).")
    scale: float = Field(default=1.0, description="Arrival-rate multiplier.")
    min_gpus: int | None = Field(
        default=None, ge=1, description="Smallest job size drawn (GPUs; default: all sizes)."
    )
    max_gpus: int | None = Field(
        default=None, ge=1, description="Largest job size drawn (GPUs; default: all sizes)."
    )
    start: datetime | None = Field(
        default=None,
        description="Wall-clock time of submit time 0 (sets the time of year for the climate).",
    )
    mix: dict[str, Any] | None = Field(
        default=None,
        description="Job-model mix overrides (archetypes, weights; kiban.workload.JobModelMix;"
        " checked when the jobs are made).",
    )

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: object) -> object:
        # TOML gives a datetime; a scenario re-read from JSON (sweep workers) an ISO string
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                msg = "must be a date-time, e.g. 2021-08-03T00:00:00"
                raise ValueError(msg) from None
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 0.001, 3650.0, "an arrival window", "days")

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: float) -> float:
        return check_range(value, 0.001, 1000.0, "an arrival-rate multiplier", "×")

    @model_validator(mode="after")
    def _one(self) -> Synthetic:
        if self.n_jobs is not None and self.days is not None:
            msg = "give n_jobs or days, not both"
            raise ValueError(msg)
        if (self.min_gpus or 0) > (self.max_gpus or self.min_gpus or 0):
            msg = f"min_gpus = {self.min_gpus} exceeds max_gpus = {self.max_gpus}"
            raise ValueError(msg)
        return self

    @property
    def horizon_s(self) -> float | None:
        """Arrival window, s (None when ``n_jobs`` is given)."""
        return None if self.days is None else self.days * S_PER_DAY

    @property
    def n_jobs_resolved(self) -> int | None:
        """``n_jobs``, defaulting to 1,000 when neither ``n_jobs`` nor ``days`` is given."""
        if self.n_jobs is None and self.days is None:
            return 1000
        return self.n_jobs


class Elastic(SpecModel):
    """Which jobs may change their GPU count (Sia/Pollux-style elastic training).

    A random ``share`` of the whole-GPU jobs without a GPU-model or per-node constraint accepts
    ``min_gpus``–``max_gpus`` GPUs (its requested count always included, capped at what its
    goodput profile can use) and scales by a Pollux goodput profile drawn from ``models``
    (``kiban.workload.goodput.GOODPUT_PROFILES``). Traces may instead carry the columns
    ``min_num_gpus``, ``max_num_gpus`` and ``goodput_model`` themselves.
    """

    share: float = Field(default=0.0, description="Share of jobs made elastic, 0–1.")
    min_gpus: int = Field(default=1, ge=1, description="Fewest GPUs an elastic job accepts.")
    max_gpus: int = Field(default=64, ge=1, description="Most GPUs an elastic job accepts.")
    models: list[str] | None = Field(
        default=None, description="Goodput profiles to draw from (default: all)."
    )

    @field_validator("share")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            hint = f"; did you mean {value / 100:g} ({value:g} %)?" if 1.0 < value <= 100 else ""
            msg = f"must be a share of the jobs from 0 to 1 (0.5 = half of them){hint}"
            raise ValueError(msg)
        return value

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            msg = "an empty list draws nothing; leave models out to use every profile"
            raise ValueError(msg)
        return value  # the names are checked against the profiles when the jobs are made

    @model_validator(mode="after")
    def _range(self) -> Elastic:
        if self.min_gpus > self.max_gpus:
            msg = f"min_gpus = {self.min_gpus} exceeds max_gpus = {self.max_gpus}"
            raise ValueError(msg)
        return self


_TRACE_RE = re.compile(r"^(?P<fmt>[a-z][a-z0-9_\-]*):(?P<path>.+)$")


class Workload(SpecModel):
    """A job trace (``"FORMAT:PATH"``, e.g. ``"philly:data/jobs.csv"``) or a synthetic workload.

    The trace path is relative to the scenario file. It is *not* checked at validation time
    (traces are large public data sets that may live elsewhere); the trace reader reports a
    missing file, and :meth:`check_trace` lets a caller check early.
    """

    trace: str | None = Field(
        default=None, description='Trace as "FORMAT:PATH" (e.g. philly:jobs.csv).'
    )
    synthetic: Synthetic | None = Field(default=None, description="Synthetic generator settings.")
    skip_bad: bool = Field(
        default=False, description="Skip malformed trace rows instead of failing."
    )
    elastic: Elastic | None = Field(
        default=None, description="Elastic jobs (share, GPU range, goodput profiles)."
    )

    @field_validator("trace")
    @classmethod
    def _trace(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        match = _TRACE_RE.match(value.strip())
        if match is None:
            msg = 'must be "FORMAT:PATH", e.g. "philly:../data/pollux_philly_jobs.csv"'
            raise ValueError(msg)
        return f"{match['fmt']}:{resolve_path(match['path'], info)}"

    @model_validator(mode="after")
    def _one(self) -> Workload:
        if (self.trace is None) == (self.synthetic is None):
            msg = 'give exactly one of trace = "FORMAT:PATH" or [workload.synthetic]'
            raise ValueError(msg)
        return self

    @property
    def trace_format(self) -> str | None:
        """The trace format name (``philly``, ...), or None for a synthetic workload."""
        return None if self.trace is None else self.trace.split(":", 1)[0]

    @property
    def trace_path(self) -> Path | None:
        """The trace file path (absolute when loaded from a file), or None."""
        return None if self.trace is None else Path(self.trace.split(":", 1)[1])

    def check_trace(self) -> None:
        """Raise ConfigError if the trace file does not exist (no-op for synthetic workloads).

        Raises:
            ConfigError: names ``workload.trace`` and the missing path.
        """
        path = self.trace_path
        if path is not None and not path.exists():  # a file, or a folder (openb, philly)
            msg = f'workload.trace = "{self.trace}": trace file not found: {path}'
            raise ConfigError(msg)


def _default_workload() -> Workload:
    return Workload(synthetic=Synthetic())


class PolicyChoice(SpecModel):
    """A policy by registry name, with its parameters (checked by the policy's own Params)."""

    name: str = Field(description="Registered policy name.")
    params: dict[str, Any] = Field(default_factory=dict, description="Policy parameters.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9_\-]*$", value):
            msg = "policy names are lower-case words joined by '_' or '-' (e.g. fifo, las)"
            raise ValueError(msg)
        return value

    @field_validator("params")
    @classmethod
    def _scalars(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            items = item if isinstance(item, list) else [item]
            if not all(isinstance(v, bool | int | float | str) for v in items):
                msg = f"params.{key}: use numbers, strings, booleans or lists of them"
                raise ValueError(msg)
        return value


def _choice(name: str) -> Any:
    return Field(default_factory=lambda: PolicyChoice(name=name))


class Policies(SpecModel):
    """Which policy runs each decision stage (``scheduling = "las"`` or a table with params)."""

    admission: PolicyChoice = _choice("accept_all")
    scheduling: PolicyChoice = _choice("fifo")
    placement: PolicyChoice = _choice("pack")
    power: PolicyChoice = _choice("uncapped")
    cooling: PolicyChoice = _choice("fixed_setpoint")
    data: PolicyChoice | None = Field(default=None, description="Data/cache policy (optional).")
    interval_s: float = Field(default=300.0, description="Policy epoch, s.")

    @field_validator(
        "admission", "scheduling", "placement", "power", "cooling", "data", mode="before"
    )
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("interval_s")
    @classmethod
    def _interval(cls, value: float) -> float:
        return check_range(value, 0.1, 86_400.0, "a policy epoch", "s")


FaultKind = Literal["crac", "chiller", "cdu", "feed", "gpu_fan"]
_UNIT_FAULTS = ("crac", "chiller", "cdu")
_RACK_FAULTS = ("feed", "gpu_fan")


class Fault(SpecModel):
    """An injected failure (``[[faults]]``): what fails, which one, when, and for how long.

    ``kind``: ``crac`` (one CRAH/CRAC unit: its airflow and capacity are lost), ``chiller`` (one
    chiller), ``cdu`` (one coolant distribution unit), ``feed`` (one power feed of a rack: with
    one feed the rack goes down, with two its servers run on the other), ``gpu_fan`` (server fans
    of a rack: airflow falls, chips run hotter). ``target`` is the unit number (0-based, as a
    string; default "0") for crac/chiller/cdu, and a rack name for feed/gpu_fan. The
    consequences (inlets rise, throttling, capping, jobs lost) follow from the physics.
    """

    kind: FaultKind = Field(description="crac, chiller, cdu, feed or gpu_fan.")
    at_s: float = Field(description="When the fault happens, s from the start of the run.")
    duration_s: float | None = Field(
        default=None, description="How long until repaired, s (None = until the end of the run)."
    )
    target: str = Field(
        default="", description='Unit number ("0", "1", ...) or rack name (feed, gpu_fan).'
    )
    fraction_lost: float = Field(
        default=1.0,
        description="Share of the unit's capacity lost (gpu_fan: share of the server fans).",
    )

    @field_validator("at_s")
    @classmethod
    def _at(cls, value: float) -> float:
        return check_range(value, 0.0, 3650.0 * S_PER_DAY, "a fault time", "s")

    @field_validator("duration_s")
    @classmethod
    def _duration(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0, 3650.0 * S_PER_DAY, "a repair time", "s")

    @field_validator("fraction_lost")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            msg = "must be in (0, 1] (1 = the whole unit; gpu_fan 0.25 = a quarter of the fans)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _target_form(self) -> Fault:
        if self.kind in _UNIT_FAULTS:
            if self.target and not self.target.isdigit():
                msg = (
                    f'target = "{self.target}": a {self.kind} fault names a unit number '
                    '("0", "1", ...; 0-based)'
                )
                raise ValueError(msg)
        elif not self.target:
            msg = f'a {self.kind} fault needs target = "<rack name>"'
            raise ValueError(msg)
        return self

    @property
    def unit_index(self) -> int:
        """The unit number for crac/chiller/cdu faults (0 when not given)."""
        return int(self.target) if self.target.isdigit() else 0

    @property
    def end_s(self) -> float:
        """When the fault is repaired, s (inf = never within the run)."""
        return float("inf") if self.duration_s is None else self.at_s + self.duration_s


_DEFAULT_OUTPUTS: tuple[OutputKind, ...] = ("summary", "jobs", "timeseries")


class Simulation(SpecModel):
    """Run settings: seed, horizon and which result files to write."""

    seed: int = Field(default=0, ge=0, description="Seed of the run's numpy Generator.")
    horizon_days: float | None = Field(default=None, description="Stop after this many days.")
    until: Until = Field(
        default="drain", description="Without a horizon: run until all jobs finish."
    )
    outputs: list[OutputKind] = Field(
        default_factory=lambda: list(_DEFAULT_OUTPUTS),
        description="Result files to write.",
    )
    timeseries_interval_s: float = Field(
        default=300.0, description="Time-series sample interval, s."
    )
    facility_step_s: float = Field(
        default=300.0,
        description=(
            "Step of the facility in the loop (plant, room air, budgets), s. 300 s follows "
            "the room's thermal transients; a long replay that studies packing (months on "
            "thousands of nodes) may take 3,600 s and integrate energy hourly."
        ),
    )
    gpu_sharing: Literal["milli", "time-slice"] = Field(
        default="milli",
        description=(
            "How jobs asking for part of a GPU (gpu_milli < 1000) share it: 'milli' holds that "
            "share at full speed (openb's GPU sharing); 'time-slice' is CUDA time-slicing as "
            "NVIDIA's device plugin configures it: the job takes one of a GPU's "
            "time_slice_max_tenants replicas and the GPU's k tenants each run at 1/k."
        ),
    )
    time_slice_max_tenants: int = Field(
        default=4,
        ge=2,
        le=1000,
        description="Replicas of a time-sliced GPU (the device plugin's 'replicas').",
    )

    @field_validator("horizon_days")
    @classmethod
    def _horizon(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_range(value, 1.0e-3, 3650.0, "a simulation horizon", "days")

    @field_validator("timeseries_interval_s")
    @classmethod
    def _interval(cls, value: float) -> float:
        return check_range(value, 1.0, 86_400.0, "a sample interval", "s")

    @field_validator("facility_step_s")
    @classmethod
    def _facility_step(cls, value: float) -> float:
        return check_range(value, 10.0, 3600.0, "a facility step", "s")

    @property
    def horizon_s(self) -> float | None:
        """Horizon, s (None = run until ``until``)."""
        return None if self.horizon_days is None else self.horizon_days * S_PER_DAY

    @property
    def time_slice_tenants(self) -> int:
        """Replicas per time-sliced GPU; 0 when shares are milli (``SimSettings``' value)."""
        return self.time_slice_max_tenants if self.gpu_sharing == "time-slice" else 0


_CAPEX_SUFFIXES = (
    "_jpy",
    "_jpy_per_kw",
    "_jpy_per_rack",
    "_jpy_per_server",
    "_jpy_per_gpu",
    "_jpy_per_m2",
)


class Plan(SpecModel):
    """Planner inputs for ``kiban plan``: candidate cooling, objective, horizon, capex."""

    candidate_cooling: list[str] = Field(
        default_factory=list, description="Cooling technologies to choose from (catalog names)."
    )
    candidate_servers: list[str] = Field(
        default_factory=list, description="Server models to choose from (default: the fleet's)."
    )
    objective: Objective = Field(
        default="tco", description="Minimise TCO or PUE, or maximise GPUs."
    )
    years: float = Field(default=5.0, description="Horizon of the TCO, years.")
    discount_rate_frac: float = Field(
        default=0.0, ge=0.0, le=0.5, description="Yearly discount rate."
    )
    budget_jpy: float | None = Field(default=None, ge=0.0, description="Capital budget, JPY.")
    max_racks: int | None = Field(default=None, ge=1, description="Most racks the hall may hold.")
    capex: dict[str, float] = Field(
        default_factory=dict,
        description="Capital costs by item, keys ending in _jpy, _jpy_per_kw, _jpy_per_rack, ...",
    )

    @field_validator("years")
    @classmethod
    def _years(cls, value: float) -> float:
        return check_range(value, 0.5, 50.0, "a TCO horizon", "years")

    @field_validator("capex")
    @classmethod
    def _capex(cls, value: dict[str, float]) -> dict[str, float]:
        for key, amount in value.items():
            if not key.endswith(_CAPEX_SUFFIXES):
                msg = f"capex.{key}: keys end in one of {', '.join(_CAPEX_SUFFIXES)}"
                raise ValueError(msg)
            if amount < 0:
                msg = f"capex.{key} = {amount:g}: must not be negative"
                raise ValueError(msg)
        return value


# --- the scenario ---------------------------------------------------------------------------


def _hall_rack_names(hall: Hall) -> set[str]:
    """Rack names of a hall without placing the fleet (grid names as in :mod:`placement`)."""
    if hall.racks:
        return {r.name for r in hall.racks}
    grid = hall.grid
    if grid is None:
        return set()
    total = grid.rows * grid.racks_per_row
    digits = max(2, len(str(total)))
    return {f"{grid.prefix}{k:0{digits}d}" for k in range(1, total + 1)}


class Scenario(SpecModel):
    """A whole scenario: site, hall, power, cooling, storage, fleet, workload, policies, run.

    Load it with :func:`kiban.spec.load_spec`, which also runs the physical-consistency checks.
    :meth:`racks_resolved` gives every rack with its servers after ``auto`` placement.
    """

    name: str | None = Field(default=None, description="Scenario name (default: the file name).")
    description: str = Field(default="", description="Free text.")
    catalog: str | None = Field(
        default=None, description="User catalog TOML file (relative path ok)."
    )
    site: Site
    hall: Hall
    power: PowerChain = Field(default_factory=PowerChain)
    cooling: CoolingPlant
    storage: Storage = Field(default_factory=Storage)
    fleet: list[FleetEntry] = Field(min_length=1, description="[[fleet]] entries.")
    workload: Workload = Field(default_factory=_default_workload)
    policies: Policies = Field(default_factory=Policies)
    simulation: Simulation = Field(default_factory=Simulation)
    plan: Plan | None = Field(default=None, description="Planner inputs for `kiban plan`.")
    faults: list[Fault] = Field(default_factory=list, description="[[faults]] to inject.")

    _source_path: Path | None = PrivateAttr(default=None)
    _catalog: Catalog | None = PrivateAttr(default=None)
    _racks: tuple[PlacedRack, ...] | None = PrivateAttr(default=None)
    # id() of the object the caches were filled for: ``model_copy(update=...)`` copies private
    # attributes, and a modified copy must not reuse the original's catalog or placement.
    _cache_owner: int | None = PrivateAttr(default=None)

    def _own_cache(self) -> None:
        if self._cache_owner != id(self):
            self._catalog = None
            self._racks = None
            self._cache_owner = id(self)

    @field_validator("catalog")
    @classmethod
    def _catalog_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)

    @model_validator(mode="after")
    def _fault_targets(self) -> Scenario:
        """Faults name units and racks that exist (rack names from the hall, unit counts)."""
        if not self.faults:
            return self
        rack_names = _hall_rack_names(self.hall)
        units = {"crac": self.cooling.crah_units, "chiller": None, "cdu": None}
        for i, fault in enumerate(self.faults):
            where = f"faults[{i}].target"
            if fault.kind in _RACK_FAULTS and fault.target not in rack_names:
                hint = suggestion(fault.target, sorted(rack_names))
                msg = f'{where} = "{fault.target}": no such rack in the hall{hint or ""}'
                raise ValueError(msg)
            count = units.get(fault.kind)
            if count is not None and fault.unit_index >= count:
                msg = (
                    f'{where} = "{fault.target}": cooling.crah_units = {count}, so a crac '
                    f"fault names a unit 0–{count - 1}"
                )
                raise ValueError(msg)
            if fault.kind == "cdu" and self.cooling.cdu is None:
                msg = f"faults[{i}].kind = 'cdu': the scenario has no [cooling.cdu]"
                raise ValueError(msg)
        return self

    @property
    def source_path(self) -> Path | None:
        """The file this scenario was loaded from (None if built in code)."""
        return self._source_path

    @property
    def display_name(self) -> str:
        """``name``, or the file stem, or "scenario"."""
        if self.name:
            return self.name
        return self._source_path.stem if self._source_path is not None else "scenario"

    def get_catalog(self) -> Catalog:
        """Return the hardware catalog: the packaged one plus this scenario's user catalog."""
        self._own_cache()
        if self._catalog is None:
            self._catalog = (
                default_catalog() if self.catalog is None else load_catalog(self.catalog)
            )
        return self._catalog

    def racks_resolved(self) -> tuple[PlacedRack, ...]:
        """Return every rack, in hall order, with its servers after placement.

        A scenario made with ``model_copy(update=...)`` is placed afresh; it is not re-checked,
        so run :func:`kiban.spec.check_scenario` on it when the update may break a limit.

        Raises:
            ConfigError: placement is impossible (one line per problem).
        """
        self._own_cache()
        if self._racks is None:
            racks, problems = place_fleet(self, self.get_catalog())
            if problems:
                raise ConfigError(problems[0], problems=problems)
            self._racks = racks
        return self._racks

    @property
    def n_servers(self) -> int:
        """Servers in the fleet."""
        return sum(entry.count for entry in self.fleet)

    @property
    def n_gpus(self) -> int:
        """GPUs in the fleet."""
        cat = self.get_catalog()
        return sum(s.n_gpus for entry in self.fleet for s in entry.servers(cat))

    @property
    def it_max_power_w(self) -> float:
        """Sum of the servers' maximum wall power, W."""
        cat = self.get_catalog()
        return sum(s.max_power_w for entry in self.fleet for s in entry.servers(cat))
