"""Rack layout and fleet placement: turn a scenario into racks with servers, positions, cooling.

``auto`` placement fills racks in hall order: a server goes into the first rack (from where the
previous one went) whose power limit, cooling capacity, weight limit, rack units and cooling
medium still accept it. A fleet entry with ``per_rack`` puts exactly that many into each rack
instead; :mod:`kiban.spec.checks` then reports any rack it overloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiban.catalog import Catalog, CoolingTech, ServerModel
from kiban.spec._common import fmt_value
from kiban.spec.routing import (
    LENGTH_TOL_M,
    cable_limit,
    fmt_point,
    needs_pipe,
    pipe_limit,
    route_length_m,
)
from kiban.units import G_STANDARD_M_PER_S2, PA_PER_KPA, W_PER_KW

if TYPE_CHECKING:
    from kiban.spec.models import Scenario

RACK_DEFAULT_WIDTH_M = 0.6
"""Standard 600 mm enclosure (ASSUMED default)."""
RACK_DEFAULT_DEPTH_M = 1.2
"""Standard 1,200 mm deep AI/HPC enclosure (ASSUMED default)."""
RACK_DEFAULT_UNITS = 42
"""Usable height of a standard enclosure, U."""


@dataclass(frozen=True, slots=True)
class PlacedRack:
    """One rack after placement: where it is, its limits, its cooling and its servers.

    ``servers`` holds one record per physical server; ``fleet_idx`` the index of the
    ``[[fleet]]`` entry each came from. A rack holding a rack-scale system (``is_rack_scale``,
    e.g. GB200 NVL72) holds only that system, whose own weight and footprint then apply.
    """

    idx: int
    name: str
    row: int
    x_m: float
    y_m: float
    width_m: float
    depth_m: float
    power_limit_w: float
    cooling: CoolingTech
    weight_limit_kg: float | None
    empty_weight_kg: float
    rack_units: int
    load_spread_area_m2: float | None
    servers: tuple[ServerModel, ...] = ()
    fleet_idx: tuple[int, ...] = ()
    fleet_node: tuple[int, ...] = ()
    """Position of each server within its ``[[fleet]]`` entry (a trace fleet's node index)."""

    @property
    def is_rack_scale(self) -> bool:
        """True when the rack holds a rack-scale system."""
        return any(s.is_rack_scale for s in self.servers)

    @property
    def footprint_m2(self) -> float:
        """Floor footprint, m² (the system's own for rack-scale systems)."""
        for server in self.servers:
            if server.is_rack_scale:
                return server.footprint_m2
        return self.width_m * self.depth_m

    @property
    def floor_area_m2(self) -> float:
        """Area the weight rests on, m²: the spreader plate if larger than the footprint."""
        return max(self.footprint_m2, self.load_spread_area_m2 or 0.0)

    @property
    def max_power_w(self) -> float:
        """Sum of the servers' maximum wall power, W."""
        return sum(s.max_power_w for s in self.servers)

    @property
    def weight_kg(self) -> float:
        """Total weight, kg (enclosure included unless the system is rack-scale)."""
        servers_kg = sum(s.weight_kg for s in self.servers)
        return servers_kg if self.is_rack_scale else servers_kg + self.empty_weight_kg

    @property
    def floor_load_pa(self) -> float:
        """Distributed floor load, Pa = weight·g / floor area."""
        return self.weight_kg * G_STANDARD_M_PER_S2 / self.floor_area_m2

    @property
    def used_units(self) -> int:
        """Rack units taken by the servers (all of them for a rack-scale system)."""
        if self.is_rack_scale:
            return self.rack_units
        return sum(s.rack_units for s in self.servers)

    @property
    def n_gpus(self) -> int:
        """GPUs in the rack."""
        return sum(s.n_gpus for s in self.servers)

    @property
    def airflow_m3_per_s(self) -> float:
        """Sum of the servers' airflow at full fan speed, m³/s."""
        return sum(s.airflow_m3_per_s for s in self.servers)


@dataclass
class RackSlot:
    """A rack before placement, with the TOML path and written value behind each setting."""

    name: str
    row: int
    x_m: float
    y_m: float
    width_m: float
    depth_m: float
    power_limit_w: float
    cooling: CoolingTech
    weight_limit_kg: float | None
    empty_weight_kg: float
    rack_units: int
    load_spread_area_m2: float | None
    paths: dict[str, tuple[str, Any]]
    """setting → (dotted TOML path, value as written) for error messages."""
    power_limit_from_cooling: bool = False
    reach_block: tuple[str, str] | None = None
    """(setting, why) when the rack lies beyond the cable limit, or beyond the pipe limit with a
    water-cooled technology: ``auto`` placement leaves it empty."""
    reach_run_m: float = 0.0
    """Length of the run that ``reach_block`` is about, m."""
    servers: list[ServerModel] = field(default_factory=list)
    fleet_idx: list[int] = field(default_factory=list)
    fleet_node: list[int] = field(default_factory=list)
    power_w: float = 0.0
    weight_kg: float = 0.0
    units: int = 0

    def where(self, setting: str) -> str:
        """Return ``path = value`` of a setting, as the user wrote it."""
        path, value = self.paths[setting]
        return f"{path} = {fmt_value(value)}"

    def add(self, server: ServerModel, fleet_idx: int, node: int = 0) -> None:
        """Put one server (the ``node``-th of fleet entry ``fleet_idx``) into the rack."""
        self.servers.append(server)
        self.fleet_idx.append(fleet_idx)
        self.fleet_node.append(node)
        self.power_w += server.max_power_w
        self.weight_kg += server.weight_kg
        self.units += server.rack_units

    def freeze(self, idx: int) -> PlacedRack:
        """Return the immutable :class:`PlacedRack`."""
        return PlacedRack(
            idx=idx,
            name=self.name,
            row=self.row,
            x_m=self.x_m,
            y_m=self.y_m,
            width_m=self.width_m,
            depth_m=self.depth_m,
            power_limit_w=self.power_limit_w,
            cooling=self.cooling,
            weight_limit_kg=self.weight_limit_kg,
            empty_weight_kg=self.empty_weight_kg,
            rack_units=self.rack_units,
            load_spread_area_m2=self.load_spread_area_m2,
            servers=tuple(self.servers),
            fleet_idx=tuple(self.fleet_idx),
            fleet_node=tuple(self.fleet_node),
        )


@dataclass(frozen=True)
class _Picker:
    """Resolve rack settings: explicit rack entry > hall.rack_defaults > fallback."""

    entry: Any
    entry_path: str | None
    defaults: Any
    paths: dict[str, tuple[str, Any]]

    def __call__(self, name: str, fallback: Any, fallback_path: str) -> Any:
        if self.entry is not None and getattr(self.entry, name) is not None:
            value, path = getattr(self.entry, name), f"{self.entry_path}.{name}"
        elif getattr(self.defaults, name) is not None:
            value, path = getattr(self.defaults, name), f"hall.rack_defaults.{name}"
        else:
            value, path = fallback, fallback_path
        self.paths[name] = (path, value)
        return value


def rack_slots(scenario: Scenario, catalog: Catalog) -> list[RackSlot]:
    """Lay out the hall's racks (grid or explicit list) with every setting resolved.

    Raises:
        CatalogError: a cooling technology name is unknown (checked earlier by the loader).
    """
    hall = scenario.hall
    defaults = hall.rack_defaults
    places: list[tuple[str, int, float, float, Any, str | None]] = []
    if hall.grid is not None:
        grid = hall.grid
        width_m = defaults.width_m or RACK_DEFAULT_WIDTH_M
        pitch_m = grid.rack_pitch_m if grid.rack_pitch_m is not None else width_m
        total = grid.rows * grid.racks_per_row
        digits = max(2, len(str(total)))
        for row in range(grid.rows):
            for col in range(grid.racks_per_row):
                number = row * grid.racks_per_row + col + 1
                name = f"{grid.prefix}{number:0{digits}d}"
                x_m = grid.origin_x_m + col * pitch_m
                y_m = grid.origin_y_m + row * grid.row_pitch_m
                places.append((name, row, x_m, y_m, None, None))
    else:
        for i, entry in enumerate(hall.racks):
            places.append((entry.name, entry.row, entry.x_m, entry.y_m, entry, f"hall.racks[{i}]"))

    slots: list[RackSlot] = []
    for name, row, x_m, y_m, entry, entry_path in places:
        paths: dict[str, tuple[str, Any]] = {}
        pick = _Picker(entry, entry_path, defaults, paths)
        cooling = catalog.cooling(
            pick("cooling", scenario.cooling.technology, "cooling.technology")
        )
        limit_kw = pick("power_limit_kw", None, "hall.rack_defaults.power_limit_kw")
        from_cooling = limit_kw is None
        power_limit_w = cooling.max_rack_power_w if from_cooling else limit_kw * W_PER_KW
        slots.append(
            RackSlot(
                name=name,
                row=row,
                x_m=x_m,
                y_m=y_m,
                width_m=pick("width_m", RACK_DEFAULT_WIDTH_M, "hall.rack_defaults.width_m"),
                depth_m=pick("depth_m", RACK_DEFAULT_DEPTH_M, "hall.rack_defaults.depth_m"),
                power_limit_w=power_limit_w,
                cooling=cooling,
                weight_limit_kg=pick("weight_limit_kg", None, "hall.rack_defaults.weight_limit_kg"),
                empty_weight_kg=pick("empty_weight_kg", 0.0, "hall.rack_defaults.empty_weight_kg"),
                rack_units=pick("rack_units", RACK_DEFAULT_UNITS, "hall.rack_defaults.rack_units"),
                load_spread_area_m2=pick(
                    "load_spread_area_m2", None, "hall.rack_defaults.load_spread_area_m2"
                ),
                paths=paths,
                power_limit_from_cooling=from_cooling,
            )
        )
        block = _reach_block(scenario, name=name, x_m=x_m, y_m=y_m, cooling=cooling, paths=paths)
        if block is not None:
            slots[-1].reach_block, slots[-1].reach_run_m = block[:2], block[2]
    return slots


def _reach_block(
    scenario: Scenario,
    *,
    name: str,
    x_m: float,
    y_m: float,
    cooling: CoolingTech,
    paths: dict[str, tuple[str, Any]],
) -> tuple[str, str, float] | None:
    """Why a rack at ``(x_m, y_m)`` cannot be reached by cable or pipe, or None.

    Returns ``(setting, why, run length in m)``. Records the limit's TOML path in ``paths`` so
    messages can name it.
    """
    cable = cable_limit(scenario)
    if cable is not None:
        paths["max_cable_length_m"] = ("power.max_cable_length_m", cable[2])
        run_m = route_length_m(x_m, y_m, cable[0], cable[1])
        if run_m > cable[2] + LENGTH_TOL_M:
            return (
                "max_cable_length_m",
                f"rack {name} is {run_m:.3g} m of cable from the power feed at "
                f"{fmt_point(cable[:2])}, beyond the {cable[2]:g} m limit",
                run_m,
            )
    pipe = pipe_limit(scenario)
    if pipe is not None:
        paths["max_pipe_length_m"] = ("cooling.max_pipe_length_m", pipe[2])
        run_m = route_length_m(x_m, y_m, pipe[0], pipe[1])
        if needs_pipe(cooling) and run_m > pipe[2] + LENGTH_TOL_M:
            return (
                "max_pipe_length_m",
                f"rack {name} ({cooling.name}) is {run_m:.3g} m of pipe from the CDU at "
                f"{fmt_point(pipe[:2])}, beyond the {pipe[2]:g} m limit",
                run_m,
            )
    return None


def medium_compatible(server: ServerModel, tech: CoolingTech) -> bool:
    """True if the cooling technology can take the server's heat (liquid needs liquid)."""
    return server.liquid_capture_frac <= 0.0 or tech.medium in ("liquid", "immersion")


def _fits(slot: RackSlot, server: ServerModel, *, enforce_limits: bool) -> bool:
    """Whether ``server`` can go into ``slot`` now."""
    if any(s.is_rack_scale for s in slot.servers):
        return False
    if server.is_rack_scale:
        return not slot.servers and (not enforce_limits or _alone_reasons(slot, server) == [])
    if not enforce_limits:
        return True
    if slot.reach_block is not None:
        return False
    if not medium_compatible(server, slot.cooling):
        return False
    if slot.units + server.rack_units > slot.rack_units:
        return False
    power_w = slot.power_w + server.max_power_w
    if power_w > slot.power_limit_w or power_w > slot.cooling.max_rack_power_w:
        return False
    if slot.weight_limit_kg is not None:
        weight_kg = slot.weight_kg + server.weight_kg + slot.empty_weight_kg
        if weight_kg > slot.weight_limit_kg:
            return False
    return True


def _alone_reasons(slot: RackSlot, server: ServerModel) -> list[tuple[str, str]]:
    """Why ``server`` would not fit even into an empty ``slot``: (setting, explanation) pairs."""
    out: list[tuple[str, str]] = []
    if slot.reach_block is not None:
        out.append(slot.reach_block)
    power_kw = server.max_power_w / W_PER_KW
    if not medium_compatible(server, slot.cooling):
        out.append(
            (
                "cooling",
                f"{server.name} is liquid-cooled ({server.liquid_capture_frac:.0%} of its heat to "
                f"liquid) but {slot.cooling.name} is an {slot.cooling.medium} technology; "
                "use direct-liquid or immersion-1p",
            )
        )
    if server.max_power_w > slot.cooling.max_rack_power_w:
        out.append(
            (
                "cooling",
                f"one {server.name} draws up to {power_kw:.4g} kW, above {slot.cooling.name}'s "
                f"per-rack capacity of {slot.cooling.max_rack_power_w / W_PER_KW:.4g} kW",
            )
        )
    if not slot.power_limit_from_cooling and server.max_power_w > slot.power_limit_w:
        out.append(
            (
                "power_limit_kw",
                f"one {server.name} draws up to {power_kw:.4g} kW; the rack limit must be at "
                f"least {power_kw:.4g} kW",
            )
        )
    if slot.weight_limit_kg is not None:
        weight_kg = server.weight_kg + (0.0 if server.is_rack_scale else slot.empty_weight_kg)
        if weight_kg > slot.weight_limit_kg:
            out.append(
                (
                    "weight_limit_kg",
                    f"one {server.name} makes the rack weigh {weight_kg:.5g} kg; the limit must "
                    f"be at least {weight_kg:.5g} kg",
                )
            )
    if not server.is_rack_scale and server.rack_units > slot.rack_units:
        out.append(
            ("rack_units", f"one {server.name} is {server.rack_units}U, taller than the rack")
        )
    return out


def place_fleet(scenario: Scenario, catalog: Catalog) -> tuple[tuple[PlacedRack, ...], list[str]]:
    """Place every ``[[fleet]]`` entry into racks.

    Args:
        scenario: A validated scenario whose names all exist in ``catalog``.
        catalog: The catalog to resolve server and cooling names with.

    Returns:
        ``(racks, problems)``: every rack in hall order (empty ones included) and one line per
        placement that could not be done (``dotted.path = value: what is allowed``).
    """
    slots = rack_slots(scenario, catalog)
    by_name = {slot.name: i for i, slot in enumerate(slots)}
    problems: list[str] = []
    for f_idx, entry in enumerate(scenario.fleet):
        server = catalog.server(entry.model)
        servers = entry.servers(catalog)  # one per server (a trace fleet's differ per node)
        if entry.racks == "auto":
            candidates = list(range(len(slots)))
        else:
            candidates = [by_name[name] for name in entry.racks if name in by_name]
        if not candidates:
            continue
        enforce = entry.per_rack is None
        placed = 0
        if entry.per_rack is not None:
            for i in candidates:
                take = min(entry.per_rack, entry.count - placed)
                for _ in range(take):
                    if not _fits(slots[i], servers[placed], enforce_limits=False):
                        break
                    slots[i].add(servers[placed], f_idx, placed)
                    placed += 1
                if placed == entry.count:
                    break
        else:
            pointer = 0
            while placed < entry.count and pointer < len(candidates):
                slot = slots[candidates[pointer]]
                if _fits(slot, servers[placed], enforce_limits=enforce):
                    slot.add(servers[placed], f_idx, placed)
                    placed += 1
                else:
                    pointer += 1
        if placed < entry.count:
            problems.append(
                _placement_problem(
                    f_idx,
                    entry=entry,
                    server=servers[placed] if placed < len(servers) else server,
                    slots=slots,
                    candidates=candidates,
                    placed=placed,
                )
            )
    return tuple(slot.freeze(i) for i, slot in enumerate(slots)), problems


def _placement_problem(
    f_idx: int,
    *,
    entry: Any,
    server: ServerModel,
    slots: list[RackSlot],
    candidates: list[int],
    placed: int,
) -> str:
    """Explain why only ``placed`` of ``entry.count`` servers found a rack."""
    where = "the hall's" if entry.racks == "auto" else "the listed"
    blocked = [slots[i] for i in candidates if slots[i].reach_block is not None]
    settings = {s.reach_block[0] for s in blocked if s.reach_block is not None}
    if placed == 0 and len(blocked) == len(candidates) and len(settings) == 1:
        nearest = min(blocked, key=lambda s: s.reach_run_m)
        setting = settings.pop()
        source = "the power feed" if setting == "max_cable_length_m" else "the CDU"
        return (
            f"{nearest.where(setting)}: none of {where} {len(candidates)} racks is within reach "
            f"(the nearest: {(nearest.reach_block or ('', ''))[1]}); move {source} or raise the "
            f'limit (fleet[{f_idx}].model = "{server.name}")'
        )
    first = slots[candidates[0]]
    reasons = _alone_reasons(first, server)
    all_blocked = all(_alone_reasons(slots[i], server) for i in candidates)
    if reasons and all_blocked and placed == 0:
        setting, why = reasons[0]
        return f'{first.where(setting)}: {why} (fleet[{f_idx}].model = "{server.name}")'
    if entry.per_rack is not None:
        capacity = f"{len(candidates)} racks × per_rack {entry.per_rack}"
        if server.is_rack_scale:
            capacity = f"{len(candidates)} racks, one rack-scale system each"
        return (
            f"fleet[{f_idx}].count = {entry.count}: exceeds {where} racks' capacity "
            f"({capacity} = {placed} placed); add racks or lower the count"
        )
    limits = (
        f"rack power limit {first.power_limit_w / W_PER_KW:.4g} kW, "
        f"{first.cooling.name} {first.cooling.max_rack_power_w / W_PER_KW:.4g} kW per rack, "
        f"{first.rack_units}U"
    )
    return (
        f"fleet[{f_idx}].count = {entry.count}: only {placed} {server.name} fit into {where} "
        f"{len(candidates)} racks ({limits}, {server.max_power_w / W_PER_KW:.4g} kW and "
        f"{server.rack_units}U each){_reach_note(slots, candidates)}; add racks or lower the count"
    )


def _reach_note(slots: list[RackSlot], candidates: list[int]) -> str:
    """``; 6 of them are beyond power.max_cable_length_m = 30 ...`` or ""."""
    out = ""
    for setting, words in (
        ("max_cable_length_m", "of cable from the power feed"),
        ("max_pipe_length_m", "of pipe from the CDU"),
    ):
        far = [slots[i] for i in candidates if (slots[i].reach_block or ("", ""))[0] == setting]
        if far:
            out += (
                f"; {len(far)} of them {'lies' if len(far) == 1 else 'lie'} beyond "
                f"{far[0].where(setting)} m {words} and {'stays' if len(far) == 1 else 'stay'} "
                "empty"
            )
    return out


def floor_load_kpa(rack: PlacedRack) -> float:
    """Floor load of a placed rack in kPa (for messages and reports)."""
    return rack.floor_load_pa / PA_PER_KPA
