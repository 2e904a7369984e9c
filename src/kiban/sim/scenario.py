"""Build the simulator's inputs from a scenario (``kiban.spec.Scenario``) and its workload.

The spec-to-physics mapping is the steady-state site evaluation's (:mod:`kiban.site`), reused
here: racks after ``auto`` placement become the layout (servers in rack order, GPUs in server
order); the share of each rack's heat that stays in room air decides its recirculation (Tang's D
from the rack positions, airflows and the hall's containment); each cooling technology gets its
typical plant with the scenario's set-points, chiller and economizer; the power chain, climate
(an hourly file must cover one year), tariff and grid CO2 factor come from ``[power]`` and
``[site]``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import ConfigError
from kiban.physics.cooling import TYPICAL_PLANTS
from kiban.physics.cost import Tariff
from kiban.sim.coupled import CoupledFacility, FaultEvent, hall_air_for
from kiban.sim.facility import PlantFacility
from kiban.sim.jobs import HostPods, JobTable, make_elastic
from kiban.sim.layout import ClusterLayout
from kiban.sim.settings import SimSettings
from kiban.site import (
    air_heat_frac,
    containment_of,
    heat_distribution_for,
    site_climate,
    site_plant,
    site_power_chain,
    site_tariff,
)
from kiban.units import B_PER_TB, S_PER_DAY
from kiban.workload.goodput import GOODPUT_PROFILES

if TYPE_CHECKING:
    from kiban.catalog import CoolingTech, GpuSku, ServerModel
    from kiban.spec import PlacedRack, Scenario

__all__ = [
    "DEMO_SCENARIO",
    "ScenarioInputs",
    "demo_scenario",
    "facility_from_scenario",
    "inputs_from_scenario",
    "jobs_from_scenario",
    "layout_from_scenario",
    "time_of_year_s",
    "workload_rng",
]


@dataclass(frozen=True, eq=False)
class ScenarioInputs:
    """Everything a run needs besides the jobs and the policy.

    Attributes:
        name: Scenario name.
        layout: The cluster.
        facility: Cooling and power-chain model.
        settings: Run settings.
        tariff: Electricity contract (with the grid CO2 factor).
        timeseries_interval_s: Smallest time-series bin of the results (s).
    """

    name: str
    layout: ClusterLayout
    facility: PlantFacility | CoupledFacility
    settings: SimSettings
    tariff: Tariff
    timeseries_interval_s: float


def _placed(scenario: Scenario) -> list[PlacedRack]:
    racks = [r for r in scenario.racks_resolved() if r.servers]
    if not racks:
        msg = f"{scenario.display_name}: no rack holds a server; nothing to simulate"
        raise ConfigError(msg)
    return racks


def _check_node_cache(scenario: Scenario, servers: list[ServerModel]) -> None:
    """The cache lever against the hardware: each node's cache must fit its server's NVMe.

    Raises:
        ConfigError: naming ``storage.local_nvme_cache_tb``, the value and the largest cache
            every server model of the fleet holds (catalog ``local_nvme_b``; 0 = not known).
    """
    cache_b = scenario.storage.local_nvme_cache_b
    known = [s for s in servers if s.local_nvme_b > 0]
    too_small = [s for s in known if cache_b > s.local_nvme_b * (1.0 + 1e-12)]
    if not too_small:
        return
    limit = min(s.local_nvme_b for s in known)
    names = ", ".join(f"{s.name!r} ({s.local_nvme_b / B_PER_TB:g} TB)" for s in too_small)
    msg = (
        f"storage.local_nvme_cache_tb = {scenario.storage.local_nvme_cache_tb:g}: more than the "
        f"local NVMe of server {names} (catalog local_nvme_b); allowed: 0–{limit / B_PER_TB:g} TB"
    )
    raise ConfigError(msg)


def layout_from_scenario(scenario: Scenario) -> ClusterLayout:
    """The cluster of a scenario: racks with servers, limits, positions and recirculation D.

    Args:
        scenario: A loaded scenario.

    Returns:
        The layout (racks without servers are left out).

    Raises:
        ConfigError: if no rack holds a server, or the node cache exceeds a server's NVMe.
    """
    cat = scenario.get_catalog()
    racks = _placed(scenario)
    servers: list[ServerModel] = []
    skus: list[GpuSku] = []
    node_server: list[int] = []
    node_rack: list[int] = []
    host = _NodeHost(scenario)
    for r_idx, rack in enumerate(racks):
        for server, f_idx, k in zip(rack.servers, rack.fleet_idx, rack.fleet_node, strict=True):
            node = host.add(server, f_idx, k)  # a trace node: its GPU model's name
            if node not in servers:
                servers.append(node)
                gpu = cat.server_gpu(server)
                if node.gpu != gpu.name:
                    gpu = dataclasses.replace(gpu, name=node.gpu)
                if gpu not in skus:
                    skus.append(gpu)
            node_server.append(servers.index(node))
            node_rack.append(r_idx)
    _check_node_cache(scenario, servers)
    n = len(racks)
    rows = sorted({r.row for r in racks})
    air_frac = np.array(
        [
            float(
                np.mean(
                    [
                        air_heat_frac(
                            r.cooling.medium, r.cooling.liquid_capture_frac, s.liquid_capture_frac
                        )
                        for s in r.servers
                    ]
                )
            )
            if r.cooling.medium != "immersion"
            else 0.0
            for r in racks
        ]
    )
    airflow = np.array([r.airflow_m3_per_s for r in racks])
    not_immersed = np.array([r.cooling.medium != "immersion" for r in racks])
    breathes = np.flatnonzero((airflow > 0) & not_immersed)
    d = np.zeros((n, n))
    if breathes.size:
        d[np.ix_(breathes, breathes)] = heat_distribution_for(
            np.array([racks[i].x_m for i in breathes]),
            np.array([racks[i].y_m for i in breathes]),
            np.array([racks[i].row for i in breathes], dtype=np.int64),
            airflow[breathes],
            containment=containment_of(scenario),
            rack_depth_m=float(np.mean([r.depth_m for r in racks])),
        )
    cool = scenario.cooling
    cdu_k = cool.cdu.approach_k if cool.cdu is not None else 0.0
    liquid_c = cool.liquid_supply_temp_c
    if liquid_c is None:
        tech = next((r.cooling for r in racks if r.cooling.medium != "air"), racks[0].cooling)
        liquid_c = float(TYPICAL_PLANTS.get(tech.name, {}).get("liquid_supply_temp_c", 32.0))
    node_n = len(node_server)
    return ClusterLayout(
        name=scenario.display_name,
        skus=tuple(skus),
        servers=tuple(servers),
        node_server_idx=np.array(node_server, dtype=np.int64),
        node_rack_idx=np.array(node_rack, dtype=np.int64),
        rack_names=tuple(r.name for r in racks),
        rack_row_idx=np.array([rows.index(r.row) for r in racks], dtype=np.int64),
        row_names=tuple(f"row{r}" for r in rows),
        rack_x_m=np.array([r.x_m for r in racks]),
        rack_y_m=np.array([r.y_m for r in racks]),
        rack_power_limit_w=np.array([r.power_limit_w for r in racks]),
        rack_cooling_limit_w=np.array([r.cooling.max_rack_power_w for r in racks]),
        rack_liquid_capture_frac=1.0 - air_frac,
        heat_distribution_k_per_w=d,
        supply_temp_c=float(cool.supply_temp_c),
        liquid_supply_temp_c=float(liquid_c) + float(cdu_k),
        node_cache_b=np.full(node_n, scenario.storage.local_nvme_cache_tb * B_PER_TB),
        rack_width_m=np.array([r.width_m for r in racks]),
        rack_depth_m=np.array([r.depth_m for r in racks]),
        node_cpu_milli=host.cpu_milli(),
        node_memory_b=host.memory_b(),
    )


class _NodeHost:
    """Each node's CPU and memory (``[[fleet]]`` ``cpu_milli``/``memory_gib``/``from_trace``).

    None for both when no entry gives them (requests are then not checked). Otherwise an entry
    without ``cpu_milli`` takes its server's catalog ``host_cpu_cores`` × 1000 (ConfigError
    when the catalog does not know it) and one without ``memory_gib`` unlimited memory.
    """

    def __init__(self, scenario: Scenario) -> None:
        self._fleet = scenario.fleet
        self.active = any(entry.gives_host for entry in scenario.fleet)
        self._cpu: list[int] = []
        self._mem: list[float] = []

    def add(self, server: ServerModel, f_idx: int, k: int) -> ServerModel:
        """Record the ``k``-th server of fleet entry ``f_idx``; return its layout record."""
        entry = self._fleet[f_idx]
        if entry.from_trace is not None:
            nodes = entry.trace_nodes()
            self._cpu.append(nodes.cpu_milli[k])
            self._mem.append(nodes.memory_b[k])
            return dataclasses.replace(server, gpu=nodes.gpu_model[k])
        if not self.active:
            return server
        cpu = entry.cpu_milli
        if cpu is None:
            if server.host_cpu_cores <= 0:
                msg = (
                    f"fleet[{f_idx}].cpu_milli: not given, and the catalog does not know server "
                    f"{server.name!r}'s host CPU (host_cpu_cores = 0); another entry gives node "
                    "CPU or memory, so state cpu_milli here too (milli-cores, e.g. 96000)"
                )
                raise ConfigError(msg)
            cpu = server.host_cpu_cores * 1000
        self._cpu.append(int(cpu))
        mem = entry.memory_b
        self._mem.append(math.inf if mem is None else mem)
        return server

    def cpu_milli(self) -> np.ndarray | None:
        """CPU per node (milli-cores), or None."""
        return np.array(self._cpu, dtype=np.int64) if self.active else None

    def memory_b(self) -> np.ndarray | None:
        """Memory per node (B; inf: not checked), or None."""
        return np.array(self._mem, dtype=np.float64) if self.active else None


def facility_from_scenario(
    scenario: Scenario, *, start_time_of_year_s: float = 0.0
) -> PlantFacility:
    """Cooling plants (one per technology in the hall), power chain and climate of a scenario.

    Args:
        scenario: A loaded scenario.
        start_time_of_year_s: Time of year at simulated time 0 (s after 1 January).

    Returns:
        The facility model.
    """
    cat = scenario.get_catalog()
    racks = _placed(scenario)
    design_it_w = float(sum(r.max_power_w for r in racks))
    chain = site_power_chain(scenario, cat, design_it_w)
    design_loss_w = float(chain.loss_w(design_it_w))
    techs: dict[str, CoolingTech] = {}
    for r in racks:
        techs.setdefault(r.cooling.name, r.cooling)
    plants = []
    shares = []
    for name, tech in techs.items():
        group_w = float(sum(r.max_power_w for r in racks if r.cooling.name == name))
        plants.append(site_plant(scenario, tech, group_w * (1.0 + design_loss_w / design_it_w)))
        shares.append(group_w / design_it_w if design_it_w > 0 else 1.0 / len(techs))
    return PlantFacility(
        plants=tuple(plants),
        shares=tuple(shares),
        climate=site_climate(scenario),
        chain=chain,
        start_time_of_year_s=start_time_of_year_s,
    )


def coupled_facility_from_scenario(
    scenario: Scenario, layout: ClusterLayout, *, start_time_of_year_s: float = 0.0
) -> CoupledFacility:
    """The facility in the loop (issue 10): the plant, the hall's air side, faults and budgets.

    Capacities come from ``[cooling]`` (``crah_units``, ``crah_airflow_m3_per_s``,
    ``crah_capacity_kw``, ``chiller_capacity_kw``, ``dry_cooler_capacity_kw``) where given;
    otherwise units are sized N+1 to the servers' airflow and the chiller to the load
    (:func:`kiban.sim.coupled.hall_air_for`). Budgets, enforced during the run by capping
    (:class:`kiban.sim.capping.PowerBudget`): each rack's power limit, ``power.row_limit_kw``
    per row, the UPS capacity and the site's grid limit, all measured on IT (wall) power.
    """
    plant = facility_from_scenario(scenario, start_time_of_year_s=start_time_of_year_s)
    cool = scenario.cooling
    hall = hall_air_for(
        layout,
        supply_temp_c=cool.supply_temp_c,
        n_units=cool.crah_units,
        unit_airflow_m3_per_s=cool.crah_airflow_m3_per_s,
        unit_capacity_w=cool.crah_capacity_w,
        chiller_capacity_w=cool.chiller_capacity_w,
        dry_cooler_capacity_w=cool.dry_cooler_capacity_w,
        hall_area_m2=scenario.hall.area_m2,
        hall_height_m=scenario.hall.height_m,
    )
    rack_index = {name: i for i, name in enumerate(layout.rack_names)}
    faults = tuple(
        FaultEvent(
            kind=f.kind,
            start_s=f.at_s,
            end_s=f.end_s,
            unit=f.unit_index,
            rack=rack_index.get(f.target, -1),
            fraction_lost=f.fraction_lost,
        )
        for f in scenario.faults
    )
    budgets: dict[str, float] = {}
    if scenario.site.grid_limit_w is not None:
        budgets["site"] = scenario.site.grid_limit_w
    if scenario.power.ups_capacity_w is not None:
        budgets["ups"] = scenario.power.ups_capacity_w
    return CoupledFacility(
        plant,
        layout,
        hall,
        faults=faults,
        budgets_w=budgets,
        rack_limit_w=layout.rack_power_limit_w,
        row_limit_w=scenario.power.row_limit_w,
        rack_feeds=scenario.power.n_feeds,
        cdu_approach_k=cool.cdu.approach_k if cool.cdu is not None else 5.0,
        cdu_capacity_w=cool.cdu.capacity_w if cool.cdu is not None else None,
        area_per_rack_m2=_area_per_rack_m2(scenario, layout),
        containment=scenario.hall.containment,
        step_s=float(scenario.simulation.facility_step_s),
    )


def _area_per_rack_m2(scenario: Scenario, layout: ClusterLayout) -> float:
    """Floor area per rack: rack pitch × row pitch of a grid, else the hall's area per rack."""
    grid = scenario.hall.grid
    if grid is not None:
        pitch = grid.rack_pitch_m
        if pitch is None:  # default: the rack width
            pitch = float(scenario.hall.rack_defaults.width_m or 0.6)
        return float(pitch * grid.row_pitch_m)
    return float(scenario.hall.length_m * scenario.hall.width_m) / max(layout.n_racks, 1)


def workload_rng(seed: int) -> np.random.Generator:
    """The workload's random stream for a run seed (a child the simulator never uses).

    The simulator spawns children 0 and 1 of ``SeedSequence(seed)`` (failures, policy); the
    workload takes child 2, so one seed fixes everything and no stream is shared.
    """
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])


def time_of_year_s(origin: datetime | None) -> float:
    """Seconds from 1 January 00:00 of ``origin``'s year to ``origin`` (0 for None).

    Feb 29 and later days of a leap year are shifted one day back, so the climate's 365-day
    year applies.
    """
    if origin is None:
        return 0.0
    start = datetime(origin.year, 1, 1)
    seconds = (origin - start).total_seconds()
    leap = origin.year % 4 == 0 and (origin.year % 100 != 0 or origin.year % 400 == 0)
    if leap and origin.month > 2:
        seconds -= S_PER_DAY
    return float(seconds)


def jobs_from_scenario(
    scenario: Scenario,
    rng: np.random.Generator,
    *,
    trace: str | None = None,
    skip_bad: bool | None = None,
) -> tuple[JobTable, datetime | None, str, int]:
    """Read or generate the scenario's jobs.

    Args:
        scenario: A loaded scenario.
        rng: Generator for the job-model columns (trace) or the whole workload (synthetic).
        trace: ``FORMAT:PATH`` overriding ``[workload]``.
        skip_bad: Override ``workload.skip_bad``.

    Returns:
        (jobs, origin of time 0 or None, source description, number of skipped bad rows).

    Raises:
        TraceError: from the reader.
        ConfigError: for a bad synthetic configuration.
    """
    from kiban.workload import read_trace, synthetic_jobs  # noqa: PLC0415 - heavy, only here

    wl = scenario.workload
    skip = wl.skip_bad if skip_bad is None else skip_bad
    spec = trace if trace is not None else wl.trace
    if spec is not None:
        result = read_trace(spec, rng=rng, skip_bad=skip)
        table = _elastic(JobTable.from_frame(result.jobs, source=spec), scenario, rng)
        if result.host_pods is not None and result.host_pods.height:  # CPU-only pods (openb)
            table = table.with_host_pods(HostPods.from_frame(result.host_pods, source=spec))
        return table, result.origin, spec, result.n_bad
    syn = wl.synthetic
    assert syn is not None  # the spec requires a trace or [workload.synthetic]
    gen = np.random.default_rng(syn.seed) if syn.seed is not None else rng
    mix = None
    if syn.mix is not None:
        from kiban.workload import JobModelMix  # noqa: PLC0415

        mix = JobModelMix.from_dict(syn.mix, where="workload.synthetic.mix")
    frame = synthetic_jobs(
        gen,
        horizon_s=syn.horizon_s,
        n_jobs=syn.n_jobs_resolved,
        arrival_scale=syn.scale,
        min_gpus=syn.min_gpus,
        max_gpus=syn.max_gpus,
        mix=mix,
    )
    table = _elastic(JobTable.from_frame(frame, source="synthetic"), scenario, gen)
    return table, syn.start, "synthetic", 0


def _elastic(jobs: JobTable, scenario: Scenario, rng: np.random.Generator) -> JobTable:
    """Apply ``[workload.elastic]`` (draws come after every other draw of the workload)."""
    el = scenario.workload.elastic
    if el is None or el.share <= 0.0:
        return jobs
    models = tuple(el.models) if el.models else tuple(GOODPUT_PROFILES)
    bad = [m for m in models if m not in GOODPUT_PROFILES]
    if bad:
        msg = (
            f"workload.elastic.models = {list(models)}: unknown goodput profile(s) {bad}; "
            f"allowed: {sorted(GOODPUT_PROFILES)}"
        )
        raise ConfigError(msg)
    return make_elastic(
        jobs, rng, share=el.share, min_gpus=el.min_gpus, max_gpus=el.max_gpus, models=models
    )


def inputs_from_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    until_s: float | None = None,
    start_time_of_year_s: float = 0.0,
    failures: bool = True,
) -> ScenarioInputs:
    """Layout, facility, settings and tariff of a scenario.

    Args:
        scenario: A loaded scenario.
        seed: Override ``simulation.seed``.
        until_s: Override the horizon (s); None keeps ``simulation.horizon_days`` (or drains).
        start_time_of_year_s: Time of year at simulated time 0 (for the climate).
        failures: Whether nodes fail.

    Returns:
        The inputs.
    """
    layout = layout_from_scenario(scenario)
    sim = scenario.simulation
    horizon = until_s if until_s is not None else sim.horizon_s
    lo = min(r.cooling.supply_temp_min_c for r in _placed(scenario))
    hi = max(r.cooling.supply_temp_max_c for r in _placed(scenario))
    settings = SimSettings(
        seed=sim.seed if seed is None else seed,
        until_s=horizon,
        failures=failures,
        storage_bandwidth_b_per_s=scenario.storage.shared_fs_bandwidth_b_per_s,
        supply_temp_range_c=(lo, hi),
        start_time_of_year_s=start_time_of_year_s,
        time_slice_max_tenants=sim.time_slice_tenants,
    )
    return ScenarioInputs(
        name=scenario.display_name,
        layout=layout,
        facility=coupled_facility_from_scenario(
            scenario, layout, start_time_of_year_s=start_time_of_year_s
        ),
        settings=settings,
        tariff=site_tariff(scenario),
        timeseries_interval_s=float(sim.timeseries_interval_s),
    )


DEMO_SCENARIO = "data/demo.toml"
"""The built-in demo scenario (package data of ``kiban.sim``)."""


def demo_scenario() -> tuple[Scenario, str]:
    """The built-in demo: a synthetic Philly-like month on 64 DGX H100 in an air-cooled Tokyo hall.

    Returns:
        (the loaded scenario, its TOML text).
    """
    from importlib import resources  # noqa: PLC0415 - only the demo needs package data

    from kiban.spec import load_spec  # noqa: PLC0415 - spec loading stays out of import time

    ref = resources.files("kiban.sim").joinpath(DEMO_SCENARIO)
    text = ref.read_text(encoding="utf-8")
    with resources.as_file(ref) as path:
        scenario = load_spec(path)
    return scenario, text
