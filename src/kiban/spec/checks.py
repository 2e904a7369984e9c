"""Physical-consistency checks of a scenario: names, placement, power, cooling, floor, layout.

Each problem is one line, ``dotted.path = value: what is allowed`` (the loader prefixes the
file name). Racks with the same problem are reported together, naming a few of them, so a
64-rack hall with one wrong limit gives one line rather than 64.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiban.catalog import KIND_LABELS, Catalog, Kind, suggestion
from kiban.spec._common import fmt_value
from kiban.spec.models import Scenario
from kiban.spec.placement import (
    PlacedRack,
    RackSlot,
    medium_compatible,
    place_fleet,
    rack_slots,
)
from kiban.spec.routing import (
    LENGTH_TOL_M,
    VERTICAL_ALLOWANCE_M,
    cable_limit,
    fmt_point,
    needs_pipe,
    pipe_limit,
    route_length_m,
)
from kiban.units import PA_PER_KPA, W_PER_KW

HOURLY_COLUMNS = ("dry_bulb_c", "wet_bulb_c")
"""Columns an hourly climate CSV must have."""

_MAX_NAMED = 3


def _kw(power_w: float) -> str:
    return f"{power_w / W_PER_KW:.4g} kW"


def _unknown(path: str, value: str, kind: Kind, known: Iterable[str]) -> str:
    names = sorted(known)
    hint = suggestion(value, names)
    return (
        f"{path} = {fmt_value(value)}: unknown {KIND_LABELS[kind]}{hint or ';'} "
        f"known: {', '.join(names)}"
    )


def name_problems(scenario: Scenario, catalog: Catalog) -> list[str]:
    """Unknown catalog names, unknown or duplicate rack names. Placement needs none of these."""
    out: list[str] = []

    def need(path: str, value: str | None, kind: Kind) -> None:
        if value is not None and value not in catalog.table(kind):
            out.append(_unknown(path, value, kind, catalog.table(kind)))

    need("cooling.technology", scenario.cooling.technology, "cooling")
    need("hall.rack_defaults.cooling", scenario.hall.rack_defaults.cooling, "cooling")
    for i, rack in enumerate(scenario.hall.racks):
        need(f"hall.racks[{i}].cooling", rack.cooling, "cooling")
    for i, entry in enumerate(scenario.fleet):
        need(f"fleet[{i}].model", entry.model, "server")
    need("power.ups", scenario.power.ups, "ups")
    for key, level in (("pdu", "rack"), ("distribution", "room")):
        value = getattr(scenario.power, key)
        need(f"power.{key}", value, "pdu")
        if value in catalog.pdu_classes and catalog.pdu(value).level != level:
            allowed = sorted(n for n, p in catalog.pdu_classes.items() if p.level == level)
            out.append(
                f"power.{key} = {fmt_value(value)}: is a {catalog.pdu(value).level}-level class; "
                f"this key takes a {level}-level class: {', '.join(allowed)}"
            )
    if scenario.plan is not None:
        for j, name in enumerate(scenario.plan.candidate_cooling):
            need(f"plan.candidate_cooling[{j}]", name, "cooling")
        for j, name in enumerate(scenario.plan.candidate_servers):
            need(f"plan.candidate_servers[{j}]", name, "server")

    seen: dict[str, int] = {}
    for i, rack in enumerate(scenario.hall.racks):
        if rack.name in seen:
            out.append(
                f"hall.racks[{i}].name = {fmt_value(rack.name)}: already used by "
                f"hall.racks[{seen[rack.name]}]; rack names must be unique"
            )
        seen.setdefault(rack.name, i)
    rack_names = _rack_names(scenario)
    for i, entry in enumerate(scenario.fleet):
        if entry.racks == "auto":
            continue
        for j, name in enumerate(entry.racks):
            if name not in rack_names:
                hint = suggestion(name, rack_names)
                shown = ", ".join(list(rack_names)[:6]) + (", …" if len(rack_names) > 6 else "")
                out.append(
                    f"fleet[{i}].racks[{j}] = {fmt_value(name)}: no such rack in the hall"
                    f"{hint or ';'} racks: {shown}"
                )
    return out


def _rack_names(scenario: Scenario) -> dict[str, None]:
    hall = scenario.hall
    if hall.grid is None:
        return {rack.name: None for rack in hall.racks}
    total = hall.grid.rows * hall.grid.racks_per_row
    digits = max(2, len(str(total)))
    return {f"{hall.grid.prefix}{n:0{digits}d}": None for n in range(1, total + 1)}


@dataclass
class _Group:
    """Racks sharing one problem: the worst value and a few names."""

    head: str
    names: list[str] = field(default_factory=list)
    worst: float = -np.inf
    worst_text: str = ""

    def add(self, name: str, value: float, text: str) -> None:
        self.names.append(name)
        if value > self.worst:
            self.worst, self.worst_text = value, text

    def line(self) -> str:
        shown = ", ".join(self.names[:_MAX_NAMED])
        if len(self.names) > _MAX_NAMED:
            shown += f" and {len(self.names) - _MAX_NAMED} more"
        which = f"rack {shown}" if len(self.names) == 1 else f"{len(self.names)} racks ({shown})"
        return self.head.format(which=which, worst=self.worst_text)


def rack_problems(
    scenario: Scenario, slots: Sequence[RackSlot], racks: Sequence[PlacedRack], catalog: Catalog
) -> list[str]:
    """Per-rack checks after placement: power, cooling, weight, units, floor, PDUs, medium."""
    groups: dict[tuple[str, str], _Group] = {}

    def report(key: tuple[str, str], head: str, name: str, value: float, text: str) -> None:
        groups.setdefault(key, _Group(head)).add(name, value, text)

    floor_pa = scenario.hall.floor_rating_pa
    pdu = catalog.pdu(scenario.power.pdu) if scenario.power.pdu is not None else None
    n_feeds = scenario.power.n_feeds
    for slot, rack in zip(slots, racks, strict=True):
        if not rack.servers:
            continue
        power_w = rack.max_power_w
        if power_w > rack.power_limit_w and not slot.power_limit_from_cooling:
            where = slot.where("power_limit_kw")
            report(
                ("power", where),
                f"{where}: {{which}} hold servers drawing up to {{worst}}; the limit must be at "
                "least that, or place fewer servers per rack (fleet per_rack / racks)",
                rack.name,
                power_w,
                _kw(power_w),
            )
        if power_w > rack.cooling.max_rack_power_w:
            where = slot.where("cooling")
            better = sorted(
                (t for t in catalog.cooling_techs.values() if t.max_rack_power_w >= power_w),
                key=lambda t: t.max_rack_power_w,
            )
            alt = f"; technologies that can: {', '.join(t.name for t in better)}" if better else ""
            report(
                ("cooling", where),
                f"{where}: {{which}} hold up to {{worst}}, above {rack.cooling.name}'s per-rack "
                f"capacity of {_kw(rack.cooling.max_rack_power_w)}{alt}",
                rack.name,
                power_w,
                _kw(power_w),
            )
        for server in set(rack.servers):
            if not medium_compatible(server, rack.cooling):
                where = slot.where("cooling")
                report(
                    ("medium", where),
                    f"{where}: {{which}} hold {server.name}, which sends "
                    f"{server.liquid_capture_frac:.0%} of its heat to liquid; {rack.cooling.name} "
                    "is air cooling. Use direct-liquid or immersion-1p",
                    rack.name,
                    0.0,
                    "",
                )
        if rack.weight_limit_kg is not None and rack.weight_kg > rack.weight_limit_kg:
            where = slot.where("weight_limit_kg")
            report(
                ("weight", where),
                f"{where}: {{which}} weigh up to {{worst}} with servers; the limit must be at "
                "least that",
                rack.name,
                rack.weight_kg,
                f"{rack.weight_kg:.5g} kg",
            )
        if not rack.is_rack_scale and rack.used_units > rack.rack_units:
            where = slot.where("rack_units")
            report(
                ("units", where),
                f"{where}: {{which}} need {{worst}} of rack space; place fewer servers per rack",
                rack.name,
                rack.used_units,
                f"{rack.used_units}U",
            )
        if rack.floor_load_pa > floor_pa:
            where = f"hall.floor_rating_kpa = {fmt_value(scenario.hall.floor_rating_kpa)}"
            load_kpa = rack.floor_load_pa / PA_PER_KPA
            report(
                ("floor", where),
                f"{where}: {{which}} load the floor with {{worst}} "
                f"({rack.weight_kg:.5g} kg on {rack.floor_area_m2:.3g} m²); the floor must be "
                "rated for that, or spread the load (hall.rack_defaults.load_spread_area_m2)",
                rack.name,
                load_kpa,
                f"{load_kpa:.3g} kPa",
            )
        if pdu is not None:
            feed_w = pdu.rated_power_w * scenario.power.pdus_per_rack / n_feeds
            if power_w > feed_w:
                where = f"power.pdus_per_rack = {scenario.power.pdus_per_rack}"
                report(
                    ("pdu", where),
                    f"{where}: {{which}} draw up to {{worst}} but {scenario.power.pdus_per_rack} "
                    f"× {pdu.name} ({_kw(pdu.rated_power_w)} each) on {n_feeds} feed(s) supply "
                    f"{_kw(feed_w)} per feed; add PDUs or use a larger class",
                    rack.name,
                    power_w,
                    _kw(power_w),
                )
    return [group.line() for group in groups.values()]


def routing_point_problems(scenario: Scenario) -> list[str]:
    """Check the power feed and CDU points.

    Each is given as x and y together, lies inside the hall, and is given whenever its length
    limit is; the limit must exceed the vertical allowance every run includes.
    """
    hall = scenario.hall
    out: list[str] = []
    for table, point, limit_key, what in (
        ("power", "feed", "max_cable_length_m", "the power feed (where rack cables start)"),
        ("cooling", "cdu", "max_pipe_length_m", "the CDU (where facility-water pipes start)"),
    ):
        section = getattr(scenario, table)
        x_m, y_m = getattr(section, f"{point}_x_m"), getattr(section, f"{point}_y_m")
        limit = getattr(section, limit_key)
        if (x_m is None) != (y_m is None):
            given, missing = (f"{point}_x_m", f"{point}_y_m")[:: 1 if x_m is not None else -1]
            value = x_m if x_m is not None else y_m
            out.append(
                f"{table}.{given} = {fmt_value(value)}: give {table}.{missing} too; {what} is "
                "a point on the floor (metres from the hall corner, like rack centres)"
            )
            continue
        if x_m is None or y_m is None:
            if limit is not None:
                out.append(
                    f"{table}.{limit_key} = {fmt_value(limit)}: the length is measured from "
                    f"{what}; give {table}.{point}_x_m and {table}.{point}_y_m (m, hall "
                    "coordinates)"
                )
            continue
        for key, value, size_m, axis in (
            (f"{point}_x_m", x_m, hall.length_m, "length_m"),
            (f"{point}_y_m", y_m, hall.width_m, "width_m"),
        ):
            if value > size_m:
                out.append(
                    f"{table}.{key} = {fmt_value(value)}: {what} at ({x_m:g}, {y_m:g}) m lies "
                    f"outside the {hall.length_m:g} × {hall.width_m:g} m hall; allowed 0–"
                    f"{size_m:g} m (hall.{axis}; a point on the wall counts)"
                )
        if limit is not None and limit <= VERTICAL_ALLOWANCE_M:
            out.append(
                f"{table}.{limit_key} = {fmt_value(limit)}: every run includes "
                f"{VERTICAL_ALLOWANCE_M:g} m of vertical rise and drop, so no rack is within "
                f"reach; the limit must exceed {VERTICAL_ALLOWANCE_M:g} m"
            )
    return out


def reach_problems(scenario: Scenario, racks: Sequence[PlacedRack]) -> list[str]:
    """Racks holding servers beyond the cable limit, and water-cooled racks beyond the pipe limit.

    One line per limit, naming the racks (a few, with their run lengths) and the limit.
    """
    out: list[str] = []
    cable, pipe = cable_limit(scenario), pipe_limit(scenario)
    for spec, key, kind, source, pick in (
        (cable, "power.max_cable_length_m", "cable", "the power feed", lambda r: True),
        (pipe, "cooling.max_pipe_length_m", "pipe", "the CDU", lambda r: needs_pipe(r.cooling)),
    ):
        if spec is None:
            continue
        x0_m, y0_m, limit_m = spec
        far = []
        for rack in racks:
            if not rack.servers or not pick(rack):
                continue
            run_m = float(route_length_m(rack.x_m, rack.y_m, x0_m, y0_m))
            if run_m > limit_m + LENGTH_TOL_M:
                far.append((run_m, rack))
        if not far:
            continue
        far.sort(key=lambda item: -item[0])
        shown = ", ".join(
            f"{rack.name} ("
            + (f"{rack.cooling.name}, " if kind == "pipe" else "")
            + f"{run_m:.3g} m of {kind})"
            for run_m, rack in far[:_MAX_NAMED]
        )
        if len(far) > _MAX_NAMED:
            shown += f" and {len(far) - _MAX_NAMED} more"
        subject = f"rack {shown} is" if len(far) == 1 else f"{len(far)} racks: {shown} are"
        out.append(
            f"{key} = {fmt_value(limit_m)}: {subject} beyond the {limit_m:g} m {kind} limit from "
            f"{source} at {fmt_point((x0_m, y0_m))} (run = |dx| + |dy| along rows and aisles "
            f"+ {VERTICAL_ALLOWANCE_M:g} m vertical); move "
            f"{'it' if len(far) == 1 else 'them'} closer, move {source}, "
            "or raise the limit"
        )
    return out


def layout_problems(scenario: Scenario, slots: Sequence[RackSlot]) -> list[str]:
    """Racks must lie inside the hall and must not overlap; feed and CDU points too."""
    hall = scenario.hall
    out: list[str] = routing_point_problems(scenario)
    if not slots:
        return out
    x = np.array([s.x_m for s in slots])
    y = np.array([s.y_m for s in slots])
    half_w = np.array([s.width_m for s in slots]) / 2.0
    half_d = np.array([s.depth_m for s in slots]) / 2.0
    x_max, y_max = float(np.max(x + half_w)), float(np.max(y + half_d))
    x_min, y_min = float(np.min(x - half_w)), float(np.min(y - half_d))
    grid = hall.grid
    if grid is not None:
        if x_max > hall.length_m or x_min < 0.0:
            out.append(
                f"hall.length_m = {fmt_value(hall.length_m)}: the rack grid spans x = "
                f"{x_min:.3g}–{x_max:.3g} m; make the hall at least {x_max:.3g} m long, or change "
                "hall.grid (racks_per_row, rack_pitch_m, origin_x_m)"
            )
        if y_max > hall.width_m or y_min < 0.0:
            out.append(
                f"hall.width_m = {fmt_value(hall.width_m)}: the rack grid spans y = "
                f"{y_min:.3g}–{y_max:.3g} m; make the hall at least {y_max:.3g} m wide, or change "
                "hall.grid (rows, row_pitch_m, origin_y_m)"
            )
        width_m = slots[0].width_m
        pitch = grid.rack_pitch_m
        if pitch is not None and pitch < width_m and grid.racks_per_row > 1:
            out.append(
                f"hall.grid.rack_pitch_m = {fmt_value(pitch)}: racks are {width_m:g} m wide and "
                f"would overlap; the pitch must be at least {width_m:g} m"
            )
        depth_m = slots[0].depth_m
        if grid.row_pitch_m < depth_m and grid.rows > 1:
            out.append(
                f"hall.grid.row_pitch_m = {fmt_value(grid.row_pitch_m)}: racks are {depth_m:g} m "
                f"deep and rows would overlap; the pitch must be at least {depth_m:g} m"
            )
        return out
    for i, slot in enumerate(slots):
        if (
            slot.x_m - slot.width_m / 2.0 < 0.0
            or slot.x_m + slot.width_m / 2.0 > hall.length_m
            or slot.y_m - slot.depth_m / 2.0 < 0.0
            or slot.y_m + slot.depth_m / 2.0 > hall.width_m
        ):
            out.append(
                f"hall.racks[{i}].x_m = {fmt_value(slot.x_m)}: rack {slot.name} at "
                f"({slot.x_m:g}, {slot.y_m:g}) m, {slot.width_m:g} × {slot.depth_m:g} m, reaches "
                f"outside the {hall.length_m:g} × {hall.width_m:g} m hall"
            )
    if len(slots) <= 5000:
        tol = 1e-9
        overlap = (np.abs(x[:, None] - x[None, :]) < half_w[:, None] + half_w[None, :] - tol) & (
            np.abs(y[:, None] - y[None, :]) < half_d[:, None] + half_d[None, :] - tol
        )
        np.fill_diagonal(overlap, val=False)
        for i, j in zip(*np.nonzero(np.triu(overlap)), strict=True):
            out.append(
                f"hall.racks[{j}].x_m = {fmt_value(slots[j].x_m)}: rack {slots[j].name} overlaps "
                f"rack {slots[i].name} (hall.racks[{i}]); space rack centres at least one rack "
                "width/depth apart"
            )
            if len(out) > 20:
                break
    return out


def plant_problems(scenario: Scenario, racks: Sequence[PlacedRack]) -> list[str]:
    """Grid, UPS, supply temperatures, containment, CDU and climate-file checks."""
    out: list[str] = []
    it_w = sum(r.max_power_w for r in racks)
    site, power, cooling = scenario.site, scenario.power, scenario.cooling
    over_ok = power.oversubscribe  # budgets below nameplate are held by capping in the run
    if site.grid_limit_w is not None and it_w > site.grid_limit_w and not over_ok:
        out.append(
            f"site.grid_limit_kw = {fmt_value(site.grid_limit_kw)}: the fleet alone draws up to "
            f"{_kw(it_w)} before cooling and losses; raise the limit, shrink the fleet, or set "
            "power.oversubscribe = true to hold it by capping during the run"
        )
    if power.ups_capacity_w is not None and it_w > power.ups_capacity_w and not over_ok:
        out.append(
            f"power.ups_capacity_kw = {fmt_value(power.ups_capacity_kw)}: the fleet draws up to "
            f"{_kw(it_w)}; the UPS must carry at least that"
        )
    if cooling.chiller_capacity_w is not None and it_w > cooling.chiller_capacity_w:
        out.append(
            f"cooling.chiller_capacity_kw = {fmt_value(cooling.chiller_capacity_kw)}: the fleet "
            f"sends up to {_kw(it_w)} of heat to the plant; on the design day the chiller must "
            "carry all of it (size it at least that, plus N+1 reserve)"
        )
    used = [r for r in racks if r.servers]
    air = {r.cooling.name: r.cooling for r in used if r.cooling.medium == "air"}
    wet = {r.cooling.name: r.cooling for r in used if r.cooling.medium != "air"}
    for tech in air.values():
        if not tech.supply_temp_min_c <= cooling.supply_temp_c <= tech.supply_temp_max_c:
            out.append(
                f"cooling.supply_temp_c = {fmt_value(cooling.supply_temp_c)}: {tech.name} allows "
                f"{tech.supply_temp_min_c:g}–{tech.supply_temp_max_c:g} °C supply air"
            )
    air_servers = {s.name: s for r in used if r.cooling.medium == "air" for s in r.servers}
    if air_servers:
        coolest = min(air_servers.values(), key=lambda s: s.max_inlet_temp_c)
        if cooling.supply_temp_c > coolest.max_inlet_temp_c:
            out.append(
                f"cooling.supply_temp_c = {fmt_value(cooling.supply_temp_c)}: above "
                f"{coolest.name}'s maximum inlet temperature {coolest.max_inlet_temp_c:g} °C"
            )
    if wet:
        if cooling.liquid_supply_temp_c is None:
            out.append(
                f"cooling.liquid_supply_temp_c = (missing): racks use {', '.join(wet)}; give the "
                "facility-water supply temperature in °C (ASHRAE W17–W45 classes)"
            )
        else:
            for tech in wet.values():
                if (
                    not tech.supply_temp_min_c
                    <= cooling.liquid_supply_temp_c
                    <= (tech.supply_temp_max_c)
                ):
                    out.append(
                        f"cooling.liquid_supply_temp_c = {fmt_value(cooling.liquid_supply_temp_c)}:"
                        f" {tech.name} allows {tech.supply_temp_min_c:g}–{tech.supply_temp_max_c:g}"
                        " °C"
                    )
        cdu = cooling.cdu
        if cdu is not None and cdu.capacity_w is not None:
            liquid_w = sum(r.max_power_w * r.cooling.liquid_capture_frac for r in used)
            if liquid_w > cdu.capacity_w:
                out.append(
                    f"cooling.cdu.capacity_kw = {fmt_value(cdu.capacity_kw)}: liquid racks send up "
                    f"to {_kw(liquid_w)} to the CDU; it must carry at least that"
                )
    contained = [r.name for r in racks if r.cooling.name == "hot-aisle-containment"]
    if contained and scenario.hall.containment == "none":
        out.append(
            f'hall.containment = "none": racks {", ".join(contained[:_MAX_NAMED])}'
            f"{' …' if len(contained) > _MAX_NAMED else ''} use hot-aisle-containment; set "
            'containment = "hot-aisle" (or "cold-aisle")'
        )
    path = site.climate.hourly_csv_path
    if path is not None:
        out.extend(_hourly_csv_problems(path, site.climate.hourly_csv))
    return out


_BOM = "\ufeff"
"""The UTF-8 byte-order mark as decoded text (the hourly climate reader does not accept it)."""


def _hourly_csv_problems(path: Path, written: str | None) -> list[str]:
    where = f"site.climate.hourly_csv = {fmt_value(written)}"
    if not path.is_file():
        return [f"{where}: file not found: {path}"]
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError:
        return [f"{where}: {path} is not UTF-8 text; save the CSV as UTF-8"]
    except OSError as err:
        return [f"{where}: cannot read {path} ({err.strerror or err})"]
    if path.suffix.lower() == ".epw":
        return []  # an EnergyPlus weather file: read (and checked row by row) by the loader
    if header and header[0].startswith(_BOM):
        return [
            f"{where}: {path} starts with a byte-order mark (Excel's 'CSV UTF-8'); "
            "save it as plain UTF-8 CSV without the mark"
        ]
    missing = [c for c in HOURLY_COLUMNS if c not in [h.strip() for h in header]]
    if missing:
        return [f"{where}: {path} lacks column(s) {', '.join(missing)}; header is {header}"]
    return []


def check_scenario(scenario: Scenario) -> tuple[tuple[PlacedRack, ...] | None, list[str]]:
    """Run every physical-consistency check.

    Args:
        scenario: A type-valid scenario (its user catalog already loadable).

    Returns:
        ``(racks, problems)``: the placed racks (None when names or placement failed) and one
        line per problem, without the file prefix.
    """
    catalog = scenario.get_catalog()
    problems = name_problems(scenario, catalog)
    if problems:
        return None, problems
    slots = rack_slots(scenario, catalog)
    problems += layout_problems(scenario, slots)
    if routing_point_problems(scenario):
        return None, problems  # placement would only repeat a misplaced feed or CDU
    placed, placement = place_fleet(scenario, catalog)
    if placement:
        return None, problems + placement
    # `slots` (unfilled) carry the TOML path behind every rack setting, in the same order.
    problems += rack_problems(scenario, slots, placed, catalog)
    problems += reach_problems(scenario, placed)
    problems += plant_problems(scenario, placed)
    return (placed if not problems else None), problems


# --- plausibility warnings -----------------------------------------------------------------

_PLAUSIBLE: tuple[tuple[str, float, float, str, str], ...] = (
    ("site.grid_co2_kg_per_kwh", 0.0, 0.9, "kg/kWh", "grid emission factors, hydro to coal"),
    ("site.tariff.energy_jpy_per_kwh", 8.0, 50.0, "JPY/kWh", "Japanese business tariffs"),
    (
        "site.tariff.demand_charge_jpy_per_kw_month",
        300.0,
        3000.0,
        "JPY/kW/month",
        "Japanese demand charges",
    ),
    ("hall.height_m", 2.7, 8.0, "m", "data-hall clear heights"),
    ("hall.floor_rating_kpa", 5.0, 50.0, "kPa", "raised floors to slabs on grade"),
    ("hall.rack_defaults.power_limit_kw", 3.0, 200.0, "kW", "air racks to NVL72-class racks"),
    ("cooling.supply_temp_c", 18.0, 27.0, "°C", "ASHRAE recommended inlet envelope"),
    ("cooling.liquid_supply_temp_c", 17.0, 45.0, "°C", "ASHRAE W17–W45 facility water"),
    ("cooling.economizer_approach_k", 2.0, 15.0, "K", "economizer and dry-cooler approaches"),
    ("cooling.cdu.approach_k", 2.0, 10.0, "K", "liquid-to-liquid CDU approaches"),
    ("storage.shared_fs_bandwidth_gb_per_s", 1.0, 20_000.0, "GB/s", "shared file systems"),
    ("policies.interval_s", 10.0, 3600.0, "s", "scheduler policy epochs"),
    ("simulation.timeseries_interval_s", 1.0, 3600.0, "s", "telemetry sample intervals"),
)
"""(dotted path, low, high, unit, what the range covers): values outside are legal but unusual,
often a unit mistake (W for kW, °F for °C); ``kiban validate`` warns with the range."""

_DENSITY_RANGE_KW_PER_M2 = (0.2, 50.0)
"""IT power per m² of hall floor: enterprise rooms (~1) to liquid-cooled AI halls (~30)."""


def _lookup(scenario: Scenario, dotted: str) -> object:
    value: object = scenario
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def plausibility_warnings(scenario: Scenario) -> list[str]:
    """Values that are valid but physically unusual, each with the range kiban expected.

    Args:
        scenario: A loaded, valid scenario.

    Returns:
        One line per value, ``dotted.path = value: outside the usual range LOW–HIGH UNIT (…)``,
        without the file prefix.
    """
    out: list[str] = []
    for dotted, low, high, unit, what in _PLAUSIBLE:
        value = _lookup(scenario, dotted)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and not low <= float(value) <= high:  # type: ignore[arg-type]
            out.append(
                f"{dotted} = {fmt_value(value)}: outside the usual range {low:g}–{high:g} "
                f"{unit} ({what}); check the value and its unit"
            )
    area_m2 = scenario.hall.length_m * scenario.hall.width_m
    if area_m2 > 0:
        density = scenario.it_max_power_w / W_PER_KW / area_m2
        low, high = _DENSITY_RANGE_KW_PER_M2
        if not low <= density <= high:
            out.append(
                f"hall = {scenario.hall.length_m:g} m × {scenario.hall.width_m:g} m: the fleet's "
                f"{density:,.2f} kW/m² is outside the usual {low:g}–{high:g} kW/m² of data halls"
            )
    return out
