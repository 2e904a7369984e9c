"""Node power and rack inlets during a run.

:class:`NodeHeat` owns the GPU board power and wall power of every node, the wall power of every
rack, the supply temperature and the rack inlet temperatures (Tang's linear model
``T_in = T_sup + D·p_air``, plus an optional per-rack offset a facility component may set).
Running jobs tell it how their GPU power changes (:meth:`NodeHeat.add_gpu_power1`,
:meth:`NodeHeat.add_gpu_power`); the nodes they touch are re-estimated at the next settle
(:meth:`NodeHeat.refresh`), which also appends their new inputs to the exact power change log
(:class:`~kiban.sim.power.NodePower`) and updates the inlets of the racks that changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.power import NodePower

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.flags import Dirty
    from kiban.sim.tables import HardwareTables

__all__ = ["NodeHeat"]

_mul = np.multiply
_add = np.add


def _max_of(values: FloatArray) -> float:
    """The largest value (the element ``argmax`` finds: the value ``max()`` gives, faster)."""
    return float(values[values.argmax()])


class NodeHeat:
    """Node and rack power, supply and inlet temperatures (see the module docstring).

    Args:
        hw: Hardware tables.
        dirty: The settle's flags (``thermal`` is raised when inlets or power change).
    """

    def __init__(self, hw: HardwareTables, dirty: Dirty) -> None:
        lay = hw.layout
        self._hw = hw
        self._dirty = dirty
        self.power = NodePower(lay, lay.supply_temp_c)
        self.node_gpu_power_w: FloatArray = np.zeros(lay.n_nodes)
        self.node_wall_power_w: FloatArray = np.zeros(lay.n_nodes)
        self.rack_power_w: FloatArray = np.zeros(lay.n_racks)
        self.rack_inlet_temp_c: FloatArray = np.full(lay.n_racks, lay.supply_temp_c)
        self.rack_inlet_offset_k: FloatArray | None = None
        self.supply_temp_c = lay.supply_temp_c
        self.supply_setpoint_c = lay.supply_temp_c
        """Supply-air set-point the policy asked for (°C); the supply follows it while the
        cooling has capacity (an in-loop facility's room may run warmer)."""
        self.cooling_units_failed: BoolArray | None = None
        """CRAH/CRAC units that are down now, as the facility's BMS reports them (None: the
        facility reports no units)."""
        self.liquid_supply_temp_c = lay.liquid_supply_temp_c
        """Coolant supply of liquid-cooled GPUs now (°C; a CDU fault raises it)."""
        self.liquid_raised = False
        """The coolant is warmer than the layout's design value (the throttle must look)."""
        self.rack_r_scale: FloatArray = np.ones(lay.n_racks)
        """Factor on each rack's GPU die-to-inlet resistance (failed server fans: less air)."""
        self.r_raised = False
        """Some rack's resistance is above its design value (the throttle must look)."""
        self.it_power_w = 0.0
        self.max_inlet_c = lay.supply_temp_c
        self.dirty_nodes: set[int] = set()
        # nodes up with a GPU held (load > 0), kept at each refresh: the event log's busy count
        self._busy: list[bool] = [False] * lay.n_nodes
        self.n_busy_nodes = 0
        self.version = 0
        """Counts changes of rack and IT power, inlets and coolant supply (readers cache on it)."""
        self.changed_rack = -1
        self.changed_rack_version = -1
        """The rack whose power changed at ``version == changed_rack_version``, when that change
        was one node's (:meth:`refresh`); readers that knew every other rack can check it alone."""
        self._d_cols = hw.d_cols if hw.d is not None else None
        self._dense_d = hw.dense_d
        self._scratch: FloatArray = np.empty(lay.n_racks)

    def start(self, node_up: BoolArray, row: int) -> None:
        """Every GPU idle: initial node, rack and inlet values, logged at event-log ``row``."""
        hw = self._hw
        lay = hw.layout
        self.node_gpu_power_w[:] = hw.node_n * hw.sku_idle_w[hw.node_sku]
        all_nodes = np.arange(lay.n_nodes)
        load = np.zeros(lay.n_nodes)
        self.node_wall_power_w[:] = self.power.estimate_w(
            all_nodes, self.node_gpu_power_w, load, node_up
        )
        self.rack_power_w[:] = np.bincount(
            hw.node_rack, weights=self.node_wall_power_w, minlength=lay.n_racks
        )
        self.recompute_inlet()
        self.power.record(
            row,
            nodes=all_nodes,
            gpu_w=self.node_gpu_power_w,
            load=load,
            inlet_c=self.rack_inlet_temp_c[hw.node_rack],
            up=node_up,
        )

    # --- GPU power of running jobs ----------------------------------------------------------------
    def add_gpu_power1(self, node: int, delta_w: float) -> None:
        """GPU power on one node changed by ``delta_w``."""
        self.node_gpu_power_w[node] += delta_w
        self.dirty_nodes.add(node)

    def add_gpu_power(self, nodes: IntArray, delta_w: FloatArray) -> None:
        """GPU power on ``nodes`` changed by ``delta_w`` (one value per node)."""
        self.node_gpu_power_w[nodes] += delta_w
        self.dirty_nodes.update(nodes.tolist())

    def add_gpu_power_pieces(self, nodes: IntArray, delta_w: FloatArray) -> None:
        """GPU power changed by ``delta_w[k]`` on ``nodes[k]``, added in that order.

        A node may repeat: each change is one addition, as separate :meth:`add_gpu_power` calls
        make, so batching changes no bit.
        """
        np.add.at(self.node_gpu_power_w, nodes, delta_w)
        self.dirty_nodes.update(nodes.tolist())

    def set_idle(self, node: int) -> None:
        """A repaired node: every GPU idle."""
        hw = self._hw
        self.node_gpu_power_w[node] = hw.node_n[node] * hw.sku_idle_w[hw.node_sku[node]]
        self.dirty_nodes.add(node)

    def mark(self, node: int) -> None:
        """A node's load or up/down state changed: re-estimate it at the next refresh."""
        self.dirty_nodes.add(node)

    # --- settle ---------------------------------------------------------------------------------
    def refresh(self, row: int, node_up: BoolArray, node_free: IntArray) -> None:
        """Re-estimate the wall power of changed nodes, log their inputs, update rack inlets."""
        dirty = self.dirty_nodes
        if len(dirty) == 1:
            self._refresh1(row, dirty.pop(), node_up, node_free)
            return
        hw = self._hw
        power = self.power
        nodes = np.fromiter(dirty, dtype=np.int64, count=len(dirty))
        nodes.sort()
        dirty.clear()
        up_a = node_up[nodes]
        n_a = hw.node_n[nodes]
        load_a = np.where(up_a, (n_a - node_free[nodes]) / n_a, 0.0)
        was = self._busy
        for node, busy in zip(nodes.tolist(), (load_a > 0.0).tolist(), strict=True):
            if busy is not was[node]:
                was[node] = busy
                self.n_busy_nodes += 1 if busy else -1
        gpu_a = self.node_gpu_power_w[nodes]
        new_a_w = power.estimate_w(nodes, gpu_a, load_a, up_a)
        delta_a_w = new_a_w - self.node_wall_power_w[nodes]
        self.node_wall_power_w[nodes] = new_a_w
        racks = hw.node_rack[nodes]
        power.record(
            row,
            nodes=nodes,
            gpu_w=gpu_a,
            load=load_a,
            inlet_c=self.rack_inlet_temp_c[racks],
            up=up_a,
        )
        d_rack_w = np.bincount(racks, weights=delta_a_w, minlength=hw.layout.n_racks)
        self.rack_power_w += d_rack_w
        self.it_power_w += float(delta_a_w.sum())
        self.version += 1
        if hw.d is not None:
            ch = np.flatnonzero(d_rack_w)
            self.rack_inlet_temp_c += hw.d[:, ch] @ (d_rack_w[ch] * hw.air_frac[ch])
        self.max_inlet_c = _max_of(self.rack_inlet_temp_c)
        self._dirty.thermal = True

    def _refresh1(self, row: int, node: int, node_up: BoolArray, node_free: IntArray) -> None:
        """:meth:`refresh` of one node, in scalars (the same values as the array form)."""
        hw = self._hw
        r = hw.node_rack_list[node]
        up = bool(node_up[node])
        if up:
            n_k = hw.node_n_list[node]
            load = (n_k - int(node_free[node])) / n_k
        else:
            load = 0.0
        busy = load > 0.0
        if busy is not self._busy[node]:
            self._busy[node] = busy
            self.n_busy_nodes += 1 if busy else -1
        gpu_w = float(self.node_gpu_power_w[node])
        power = self.power
        new_w = power.estimate1_w(node, gpu_w, load, up)
        wall_w = self.node_wall_power_w
        delta_w = new_w - float(wall_w[node])
        wall_w[node] = new_w
        inlet = self.rack_inlet_temp_c
        power.record1(row, node=node, gpu_w=gpu_w, load=load, inlet_c=float(inlet[r]), up=up)
        self.rack_power_w[r] += delta_w
        self.it_power_w += delta_w
        self.version += 1
        self.changed_rack = r
        self.changed_rack_version = self.version
        self._dirty.thermal = True
        if self._d_cols is None or delta_w == 0.0:
            return
        idx, vals = self._d_cols[r]
        scratch = self._scratch
        if self._dense_d:  # every rack: in place, without the slice's copy back
            _mul(vals, delta_w * hw.air_frac_list[r], out=scratch)
            _add(inlet, scratch, out=inlet)
            self.max_inlet_c = float(inlet[inlet.argmax()])
            return
        inlet[idx] += vals * (delta_w * hw.air_frac_list[r])
        if delta_w > 0.0:
            self.max_inlet_c = max(self.max_inlet_c, _max_of(inlet[idx]))
        else:
            self.max_inlet_c = _max_of(inlet)

    def recompute_inlet(self) -> None:
        """IT power and every inlet from scratch (start, resync, a new inlet offset)."""
        hw = self._hw
        self.it_power_w = float(self.rack_power_w.sum())
        self.version += 1
        if hw.d is None:
            self.rack_inlet_temp_c[:] = self.supply_temp_c
        else:
            self.rack_inlet_temp_c[:] = self.supply_temp_c + hw.d @ (
                self.rack_power_w * hw.air_frac
            )
        if self.rack_inlet_offset_k is not None:
            self.rack_inlet_temp_c += self.rack_inlet_offset_k
        self.max_inlet_c = _max_of(self.rack_inlet_temp_c)

    def resync(self) -> None:
        """Rack power from the node values, then every inlet (bounds floating-point drift)."""
        hw = self._hw
        self.rack_power_w[:] = np.bincount(
            hw.node_rack, weights=self.node_wall_power_w, minlength=hw.layout.n_racks
        )
        self.recompute_inlet()

    # --- cooling levers ---------------------------------------------------------------------------
    def set_supply_temp(self, temp_c: float) -> None:
        """New supply temperature: every inlet moves by the difference."""
        self.rack_inlet_temp_c += temp_c - self.supply_temp_c
        self.supply_temp_c = temp_c
        self.version += 1
        self.max_inlet_c = _max_of(self.rack_inlet_temp_c)
        self._dirty.thermal = True

    def set_liquid_supply_temp(self, temp_c: float) -> None:
        """New coolant supply temperature of liquid-cooled GPUs (°C)."""
        self.liquid_supply_temp_c = float(temp_c)
        self.version += 1
        self.liquid_raised = self.liquid_supply_temp_c > self._hw.layout.liquid_supply_temp_c
        self._dirty.thermal = True

    def set_r_scale(self, scale: FloatArray) -> None:
        """New factor on each rack's die-to-inlet resistance (1 = design airflow)."""
        self.rack_r_scale = np.asarray(scale, dtype=np.float64).copy()
        self.r_raised = bool((self.rack_r_scale > 1.0).any())
        self.version += 1
        self._dirty.thermal = True

    def set_inlet_offset(self, offset_k: FloatArray | None) -> None:
        """Per-rack inlet rise on top of supply and recirculation (a facility's shortfall)."""
        self.rack_inlet_offset_k = None if offset_k is None else np.asarray(offset_k, float)
        self.recompute_inlet()
        self._dirty.thermal = True

    # --- observables ------------------------------------------------------------------------------
    def gpu_inlet_c(self, gpus: IntArray) -> FloatArray:
        """Air inlet (or liquid supply) temperature each GPU sees now (°C)."""
        hw = self._hw
        nodes = hw.gpu_node[gpus]
        inlet = self.rack_inlet_temp_c[hw.node_rack[nodes]]
        liquid = hw.sku_liquid[hw.node_sku[nodes]]
        return np.where(liquid, self.liquid_supply_temp_c, inlet)
