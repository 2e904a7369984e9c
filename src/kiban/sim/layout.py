"""Cluster topology as struct-of-arrays: GPU → node → rack → row → hall, with limits and heat map.

A :class:`ClusterLayout` is the static hardware the simulator runs on. It holds integer index
arrays (node → rack, rack → row), the GPU and server records each node uses, per-rack power and
cooling limits, floor coordinates (for the report heatmap) and the heat-distribution matrix
``D`` (K/W) of the recirculation model (inlet = supply + D·p). Names exist only in
``rack_names``/``row_names``; everything else is indexed by contiguous integers.

GPUs are numbered node by node: the GPUs of node ``k`` are ``node_first_gpu[k] ...
node_first_gpu[k] + node_n_gpus[k] - 1``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kiban.errors import ConfigError

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.catalog import GpuSku, ServerModel
    from kiban.workload.packing import PackingCluster

__all__ = ["ClusterLayout", "layout_from_packing", "uniform_layout"]


def _frozen(arr: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(arr)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class ClusterLayout:
    """Static topology and limits of a GPU cluster (read-only arrays).

    Attributes:
        name: Scenario or site name (for results).
        skus: GPU records used by the nodes; ``node_sku_idx`` indexes into it.
        servers: Server records; ``node_server_idx`` indexes into it.
        node_server_idx: Server model of each node, shape (n_nodes,).
        node_rack_idx: Rack of each node, shape (n_nodes,).
        rack_names: One name per rack.
        rack_row_idx: Row of each rack, shape (n_racks,).
        row_names: One name per row.
        rack_x_m: Floor x coordinate of each rack centre (m), shape (n_racks,).
        rack_y_m: Floor y coordinate of each rack centre (m), shape (n_racks,).
        rack_power_limit_w: Electrical limit of each rack feed (W); inf = no limit.
        rack_cooling_limit_w: Heat the rack's cooling can remove (W); inf = no limit.
        rack_liquid_capture_frac: Share of rack heat taken by liquid (0 for air-cooled racks).
        heat_distribution_k_per_w: ``D`` in inlet = supply + D·p_air (K/W), shape
            (n_racks, n_racks), or None for no recirculation (inlet = supply).
        supply_temp_c: Default cooling supply (air) temperature in °C.
        liquid_supply_temp_c: Coolant supply temperature for liquid-cooled GPUs (°C).
        node_cache_b: Local (NVMe/RAM) data cache of each node in bytes, shape (n_nodes,).
        rack_width_m: Rack widths (m), for floor drawings; None if unknown.
        rack_depth_m: Rack depths (m), for floor drawings; None if unknown.
        node_cpu_milli: Host CPU of each node that jobs may request (milli-cores), shape
            (n_nodes,), or None: CPU requests are not checked.
        node_memory_b: Host memory of each node that jobs may request (B), or None: memory
            requests are not checked.
        node_n_gpus: Derived: GPUs per node.
        node_first_gpu: Derived: index of each node's first GPU.
        node_sku_idx: Derived: GPU model of each node (index into ``skus``).
        gpu_node: Derived: node of each GPU, shape (n_gpus,).
        rack_gpu_budget_w: Derived: GPU board power each rack can give its busy GPUs within its
            power and cooling limits after the hosts, fans and PSU losses (W); inf if the rack
            can run every GPU at TDP.
    """

    name: str
    skus: tuple[GpuSku, ...]
    servers: tuple[ServerModel, ...]
    node_server_idx: IntArray
    node_rack_idx: IntArray
    rack_names: tuple[str, ...]
    rack_row_idx: IntArray
    row_names: tuple[str, ...]
    rack_x_m: FloatArray
    rack_y_m: FloatArray
    rack_power_limit_w: FloatArray
    rack_cooling_limit_w: FloatArray
    rack_liquid_capture_frac: FloatArray
    heat_distribution_k_per_w: FloatArray | None = None
    supply_temp_c: float = 20.0
    liquid_supply_temp_c: float = 30.0
    node_cache_b: FloatArray | None = None
    rack_width_m: FloatArray | None = None
    rack_depth_m: FloatArray | None = None
    node_cpu_milli: IntArray | None = None
    node_memory_b: FloatArray | None = None
    node_n_gpus: IntArray = field(init=False)
    node_first_gpu: IntArray = field(init=False)
    node_sku_idx: IntArray = field(init=False)
    gpu_node: IntArray = field(init=False)
    rack_gpu_budget_w: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        n_nodes = int(np.asarray(self.node_server_idx).shape[0])
        n_racks = len(self.rack_names)
        problems: list[str] = []
        if n_nodes == 0:
            problems.append(f"layout {self.name!r}: the cluster has no servers")
        ints = {
            "node_server_idx": (self.node_server_idx, len(self.servers), n_nodes),
            "node_rack_idx": (self.node_rack_idx, n_racks, n_nodes),
            "rack_row_idx": (self.rack_row_idx, len(self.row_names), n_racks),
        }
        for name, (arr, bound, size) in ints.items():
            a = np.asarray(arr, dtype=np.int64)
            if a.shape != (size,):
                problems.append(f"layout {self.name!r}: {name} has shape {a.shape}, want ({size},)")
            elif size and (a.min() < 0 or a.max() >= bound):
                problems.append(f"layout {self.name!r}: {name} has values outside [0, {bound})")
            object.__setattr__(self, name, _frozen(a))
        floats = (
            "rack_x_m",
            "rack_y_m",
            "rack_power_limit_w",
            "rack_cooling_limit_w",
            "rack_liquid_capture_frac",
        )
        for name in floats:
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.shape != (n_racks,):
                problems.append(
                    f"layout {self.name!r}: {name} has shape {a.shape}, want ({n_racks},)"
                )
            object.__setattr__(self, name, _frozen(a))
        if self.heat_distribution_k_per_w is not None:
            d = np.asarray(self.heat_distribution_k_per_w, dtype=np.float64)
            if d.shape != (n_racks, n_racks):
                problems.append(
                    f"layout {self.name!r}: heat_distribution_k_per_w has shape {d.shape}, "
                    f"want ({n_racks}, {n_racks})"
                )
            object.__setattr__(self, "heat_distribution_k_per_w", _frozen(d))
        cache = (
            np.zeros(n_nodes)
            if self.node_cache_b is None
            else np.asarray(self.node_cache_b, dtype=np.float64)
        )
        object.__setattr__(self, "node_cache_b", _frozen(np.broadcast_to(cache, (n_nodes,))))
        for name, dtype in (("node_cpu_milli", np.int64), ("node_memory_b", np.float64)):
            val = getattr(self, name)
            if val is None:
                continue
            a = np.broadcast_to(np.asarray(val, dtype=dtype), (n_nodes,))
            if (a < 0).any():
                problems.append(f"layout {self.name!r}: {name} has negative values")
            object.__setattr__(self, name, _frozen(a))
        for srv in self.servers:
            if not any(s.name == srv.gpu for s in self.skus):
                problems.append(
                    f"layout {self.name!r}: server {srv.name!r} uses GPU {srv.gpu!r}, "
                    f"which is not among the layout's GPU models {[s.name for s in self.skus]}"
                )
        if problems:
            raise ConfigError(problems[0], problems=problems)
        sku_of_server = np.array(
            [next(i for i, s in enumerate(self.skus) if s.name == srv.gpu) for srv in self.servers],
            dtype=np.int64,
        )
        n_gpus_of_server = np.array([srv.n_gpus for srv in self.servers], dtype=np.int64)
        node_n = n_gpus_of_server[self.node_server_idx]
        first = np.concatenate(([0], np.cumsum(node_n)[:-1])).astype(np.int64)
        object.__setattr__(self, "node_n_gpus", _frozen(node_n))
        object.__setattr__(self, "node_first_gpu", _frozen(first))
        object.__setattr__(self, "node_sku_idx", _frozen(sku_of_server[self.node_server_idx]))
        object.__setattr__(
            self, "gpu_node", _frozen(np.repeat(np.arange(n_nodes, dtype=np.int64), node_n))
        )
        object.__setattr__(self, "rack_gpu_budget_w", _frozen(self._gpu_budget_w()))

    def _gpu_budget_w(self) -> FloatArray:
        """GPU board power each rack can feed after host, fans and PSU losses (W)."""
        n_racks = self.n_racks
        limit_w = np.minimum(self.rack_power_limit_w, self.rack_cooling_limit_w)
        srv = self.node_server_idx
        eta = np.array([s.psu_efficiency_frac for s in self.servers])[srv]
        host_w = np.array([s.host_max_power_w + s.fan_max_power_w for s in self.servers])[srv]
        tdp_w = np.array([k.tdp_w for k in self.skus])[self.node_sku_idx] * self.node_n_gpus
        # DC power the rack may draw = limit · η (per node η; use the rack's mean).
        eta_rack = np.bincount(self.node_rack_idx, weights=eta, minlength=n_racks) / np.maximum(
            np.bincount(self.node_rack_idx, minlength=n_racks), 1
        )
        host_rack = np.bincount(self.node_rack_idx, weights=host_w, minlength=n_racks)
        tdp_rack = np.bincount(self.node_rack_idx, weights=tdp_w, minlength=n_racks)
        with np.errstate(invalid="ignore"):
            budget = limit_w * eta_rack - host_rack
        return np.where(budget >= tdp_rack, math.inf, np.maximum(budget, 0.0))

    # --- sizes -------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of servers."""
        return int(self.node_server_idx.shape[0])

    @property
    def n_racks(self) -> int:
        """Number of racks."""
        return len(self.rack_names)

    @property
    def n_gpus(self) -> int:
        """Number of GPUs."""
        return int(self.gpu_node.shape[0])

    @functools.cached_property
    def max_node_gpus(self) -> int:
        """GPUs in the largest server."""
        return int(self.node_n_gpus.max())

    @functools.cached_property
    def has_rack_budgets(self) -> bool:
        """True if some rack cannot run all its GPUs at TDP (placement must check budgets)."""
        return bool(np.isfinite(self.rack_gpu_budget_w).any())

    def sku_index(self, name: str) -> int:
        """Index of a GPU model in ``skus``, or -1 if the layout has none of it."""
        for i, s in enumerate(self.skus):
            if s.name == name:
                return i
        return -1

    def rack_has_liquid_gpus(self) -> BoolArray:
        """True for racks whose GPUs are cold-plate or immersion cooled."""
        liquid = np.array([s.cooling != "air" for s in self.skus], dtype=bool)
        node_liquid = liquid[self.node_sku_idx]
        return np.bincount(self.node_rack_idx, weights=node_liquid, minlength=self.n_racks) > 0


def uniform_layout(
    server: ServerModel,
    sku: GpuSku,
    *,
    n_racks: int,
    servers_per_rack: int,
    racks_per_row: int = 8,
    rack_pitch_m: float = 0.6,
    row_pitch_m: float = 2.4,
    rack_power_limit_w: float = math.inf,
    rack_cooling_limit_w: float = math.inf,
    liquid_capture_frac: float = 0.0,
    heat_distribution_k_per_w: FloatArray | None = None,
    supply_temp_c: float = 20.0,
    node_cache_b: float = 0.0,
    name: str = "uniform",
) -> ClusterLayout:
    """Build a hall of identical racks in rows (used by tests, benchmarks and the demo).

    Args:
        server: Server model of every node.
        sku: Its GPU record.
        n_racks: Number of racks.
        servers_per_rack: Servers in each rack.
        racks_per_row: Racks per row (rows are laid out along y).
        rack_pitch_m: Rack-to-rack distance along a row (m).
        row_pitch_m: Row-to-row distance (m).
        rack_power_limit_w: Feed limit of every rack (W).
        rack_cooling_limit_w: Cooling limit of every rack (W).
        liquid_capture_frac: Share of heat into liquid.
        heat_distribution_k_per_w: Optional D matrix (n_racks × n_racks, K/W).
        supply_temp_c: Cooling supply temperature (°C).
        node_cache_b: Local data cache per node (B).
        name: Layout name.

    Returns:
        The layout.
    """
    rack = np.arange(n_racks)
    row = rack // racks_per_row
    n_rows = int(row.max()) + 1 if n_racks else 0
    return ClusterLayout(
        name=name,
        skus=(sku,),
        servers=(server,),
        node_server_idx=np.zeros(n_racks * servers_per_rack, dtype=np.int64),
        node_rack_idx=np.repeat(rack, servers_per_rack),
        rack_names=tuple(f"r{r // racks_per_row:02d}-{r % racks_per_row:02d}" for r in rack),
        rack_row_idx=row,
        row_names=tuple(f"row{r:02d}" for r in range(n_rows)),
        rack_x_m=((rack % racks_per_row) * rack_pitch_m + rack_pitch_m / 2).astype(np.float64),
        rack_y_m=(row * row_pitch_m + row_pitch_m / 2).astype(np.float64),
        rack_power_limit_w=np.full(n_racks, rack_power_limit_w),
        rack_cooling_limit_w=np.full(n_racks, rack_cooling_limit_w),
        rack_liquid_capture_frac=np.full(n_racks, liquid_capture_frac),
        heat_distribution_k_per_w=heat_distribution_k_per_w,
        supply_temp_c=supply_temp_c,
        node_cache_b=np.full(n_racks * servers_per_rack, node_cache_b),
    )


def layout_from_packing(
    cluster: PackingCluster,
    sku: GpuSku,
    server: ServerModel,
    *,
    nodes_per_rack: int = 8,
    racks_per_row: int = 10,
    name: str = "openb-nodes",
) -> ClusterLayout:
    """A hall of an openb node list's GPU nodes (:func:`kiban.workload.packing.read_packing_nodes`).

    Each node keeps its GPU count, GPU model name, CPU and memory (so jobs' ``cpu_milli`` and
    ``memory_b`` filter placement and ``gpu_model`` names match the trace's models). The trace
    gives no power or thermal data: every model takes the physics of ``sku`` (a proxy, renamed
    per model) and every node the host of ``server``. Racks of ``nodes_per_rack`` nodes in node
    order, no power or cooling limits.

    Args:
        cluster: The node list.
        sku: GPU record whose physics every model takes.
        server: Server record whose host every node takes (its GPU count is the node's).
        nodes_per_rack: Nodes per rack.
        racks_per_row: Racks per row.
        name: Layout name.

    Returns:
        The layout (nodes without GPUs left out).
    """
    keep = np.flatnonzero(cluster.n_gpus > 0)
    models = sorted({cluster.models[int(m)] for m in cluster.model[keep].tolist()})
    skus = tuple(dataclasses.replace(sku, name=m) for m in models)
    shapes = sorted(
        {
            (cluster.models[int(m)], int(k))
            for m, k in zip(
                cluster.model[keep].tolist(), cluster.n_gpus[keep].tolist(), strict=True
            )
        }
    )
    servers = tuple(
        dataclasses.replace(server, name=f"{name}-{m}-{k}gpu", gpu=m, n_gpus=k) for m, k in shapes
    )
    shape_idx = {s: i for i, s in enumerate(shapes)}
    node_server = np.array(
        [
            shape_idx[(cluster.models[int(m)], int(k))]
            for m, k in zip(
                cluster.model[keep].tolist(), cluster.n_gpus[keep].tolist(), strict=True
            )
        ],
        dtype=np.int64,
    )
    n = int(keep.shape[0])
    n_racks = -(-n // nodes_per_rack)
    rack = np.arange(n_racks)
    row = rack // racks_per_row
    return ClusterLayout(
        name=name,
        skus=skus,
        servers=servers,
        node_server_idx=node_server,
        node_rack_idx=np.arange(n) // nodes_per_rack,
        rack_names=tuple(f"r{r:03d}" for r in rack),
        rack_row_idx=row,
        row_names=tuple(f"row{r:02d}" for r in range(int(row.max()) + 1)),
        rack_x_m=((rack % racks_per_row) * 0.6 + 0.3).astype(np.float64),
        rack_y_m=(row * 2.4 + 1.2).astype(np.float64),
        rack_power_limit_w=np.full(n_racks, math.inf),
        rack_cooling_limit_w=np.full(n_racks, math.inf),
        rack_liquid_capture_frac=np.zeros(n_racks),
        node_cpu_milli=cluster.cpu_milli[keep],
        node_memory_b=cluster.memory_mib[keep].astype(np.float64) * 1_048_576.0,
    )
