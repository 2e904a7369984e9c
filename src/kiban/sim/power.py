"""Server wall power during a run: a cheap online estimate and the exact physics afterwards.

Node wall power (:func:`kiban.physics.server_power.server_power_w`: GPUs, host, fans, PSU loss)
changes only when a job starts, stops or changes speed on the node, or the node fails. Calling
the physics for one node at every event costs more than the rest of the event, so the work is
split:

* **Online** the simulator needs rack power only for the rack inlet temperatures (Tang's
  ``T_in = T_sup + D·p``) and the thermal-throttle check. It uses a linear estimate per server
  model, ``P ≈ c0 + c1·P_gpu + c2·L`` (least-squares fit of the physics over the server's
  operating range at the supply temperature; within a few percent, the fans being the only
  nonlinear part).
* **Exactly** every change of a node's inputs (GPU power, host load, inlet temperature, up/down)
  is appended to a change log with the event-log row it belongs to. After the run the physics is
  evaluated once, vectorized over all changes, and the per-row IT power and the per-rack series
  are rebuilt from the differences. The reported IT power, energy and PUE therefore use the exact
  server model at every event.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kiban.physics.server_power import server_power_w

if TYPE_CHECKING:
    from kiban._typing import BoolArray, FloatArray, IntArray
    from kiban.sim.layout import ClusterLayout

__all__ = ["NodePower"]

_FIT_POINTS = 9


class NodePower:
    """Online estimate and change log of node wall power (see the module docstring).

    Args:
        layout: The cluster.
        supply_temp_c: Inlet temperature at which the online estimate is fitted (°C).
    """

    def __init__(self, layout: ClusterLayout, supply_temp_c: float) -> None:
        self.layout = layout
        n_srv = len(layout.servers)
        self.c0 = np.zeros(n_srv)
        self.c1 = np.zeros(n_srv)
        self.c2 = np.zeros(n_srv)
        for s, server in enumerate(layout.servers):
            sku = next(k for k in layout.skus if k.name == server.gpu)
            n = server.n_gpus
            gpu_w = np.linspace(n * sku.idle_empty_power_w, n * sku.tdp_w, _FIT_POINTS)
            load = np.linspace(0.0, 1.0, _FIT_POINTS)
            g, ld = np.meshgrid(gpu_w, load)
            wall = server_power_w(g.ravel(), ld.ravel(), supply_temp_c, server, sku)
            a = np.column_stack((np.ones(g.size), g.ravel(), ld.ravel()))
            coef, *_ = np.linalg.lstsq(a, wall, rcond=None)
            self.c0[s], self.c1[s], self.c2[s] = coef
        self._node_srv = layout.node_server_idx
        self._node_srv_list: list[int] = layout.node_server_idx.tolist()
        # per node: the coefficients of its server model (one gather per estimate)
        self._node_c0 = self.c0[self._node_srv]
        self._node_c1 = self.c1[self._node_srv]
        self._node_c2 = self.c2[self._node_srv]
        self._coef: list[tuple[float, float, float]] = list(
            zip(self.c0.tolist(), self.c1.tolist(), self.c2.tolist(), strict=True)
        )
        cap = 4 * layout.n_nodes + 1024
        self._row = np.zeros(cap, dtype=np.int64)
        self._node = np.zeros(cap, dtype=np.int64)
        self._gpu_w = np.zeros(cap)
        self._load = np.zeros(cap)
        self._inlet = np.zeros(cap)
        self._up = np.zeros(cap, dtype=bool)
        self.n_records = 0

    # --- online ---------------------------------------------------------------------------------
    def estimate_w(
        self, nodes: IntArray, gpu_w: FloatArray, load: FloatArray, up: BoolArray
    ) -> FloatArray:
        """Online wall-power estimate of ``nodes`` (W); 0 for nodes that are down."""
        est = self._node_c0[nodes] + self._node_c1[nodes] * gpu_w + self._node_c2[nodes] * load
        return np.where(up, est, 0.0)

    def estimate1_w(self, node: int, gpu_w: float, load: float, up: bool) -> float:
        """Scalar form of :meth:`estimate_w` for one node."""
        if not up:
            return 0.0
        c0, c1, c2 = self._coef[self._node_srv_list[node]]
        return c0 + c1 * gpu_w + c2 * load

    def record(
        self,
        row: int,
        *,
        nodes: IntArray,
        gpu_w: FloatArray,
        load: FloatArray,
        inlet_c: FloatArray,
        up: BoolArray,
    ) -> None:
        """Append the new inputs of ``nodes``, effective from event-log row ``row``.

        Args:
            row: Event-log row from which the inputs hold.
            nodes: Node indices.
            gpu_w: Summed GPU board power of each node (W).
            load: Host load (busy-GPU fraction) of each node.
            inlet_c: Inlet air temperature of each node (°C).
            up: Whether each node is up (down nodes draw nothing).
        """
        k = int(nodes.shape[0])
        end = self.n_records + k
        if end > self._row.shape[0]:
            new_cap = max(2 * self._row.shape[0], end)
            for name in ("_row", "_node", "_gpu_w", "_load", "_inlet", "_up"):
                old = getattr(self, name)
                grown = np.zeros(new_cap, dtype=old.dtype)
                grown[: self.n_records] = old[: self.n_records]
                setattr(self, name, grown)
        a = self.n_records
        self._row[a:end] = row
        self._node[a:end] = nodes
        self._gpu_w[a:end] = gpu_w
        self._load[a:end] = load
        self._inlet[a:end] = inlet_c
        self._up[a:end] = up
        self.n_records = end

    def record1(
        self, row: int, *, node: int, gpu_w: float, load: float, inlet_c: float, up: bool
    ) -> None:
        """Scalar form of :meth:`record` for one node."""
        a = self.n_records
        if a >= self._row.shape[0]:
            self.record(
                row,
                nodes=np.array([node]),
                gpu_w=np.array([gpu_w]),
                load=np.array([load]),
                inlet_c=np.array([inlet_c]),
                up=np.array([up]),
            )
            return
        self._row[a] = row
        self._node[a] = node
        self._gpu_w[a] = gpu_w
        self._load[a] = load
        self._inlet[a] = inlet_c
        self._up[a] = up
        self.n_records = a + 1

    # --- exact, after the run -------------------------------------------------------------------
    def _exact_deltas(self) -> tuple[IntArray, IntArray, FloatArray]:
        """(row, node, change of exact wall power) of every record."""
        n = self.n_records
        lay = self.layout
        node = self._node[:n]
        wall = np.zeros(n)
        srv = self._node_srv[node]
        for s, server in enumerate(lay.servers):
            sel = np.flatnonzero(srv == s)
            if sel.size == 0:
                continue
            sku = next(k for k in lay.skus if k.name == server.gpu)
            wall[sel] = server_power_w(
                self._gpu_w[sel], self._load[sel], self._inlet[sel], server, sku
            )
        wall = np.where(self._up[:n], wall, 0.0)
        order = np.lexsort((np.arange(n), node))
        w_sorted = wall[order]
        n_sorted = node[order]
        prev = np.concatenate(([0.0], w_sorted[:-1]))
        first = np.concatenate(([True], n_sorted[1:] != n_sorted[:-1]))
        prev[first] = 0.0
        delta = np.empty(n)
        delta[order] = w_sorted - prev
        return self._row[:n], node, delta

    def exact_it_power_w(self, n_rows: int) -> FloatArray:
        """Exact IT power (W) at each event-log row (row i holds until row i+1)."""
        row, _, delta = self._exact_deltas()
        return np.cumsum(np.bincount(row, weights=delta, minlength=n_rows)[:n_rows])

    def rack_series(
        self,
        row_time_s: FloatArray,
        supply_temp_c: FloatArray,
        horizon_s: float,
        *,
        period_s: float,
        max_samples: int,
        air_frac: FloatArray,
        d_k_per_w: FloatArray | None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Mean wall power and inlet temperature per rack in equal time bins.

        Cumulative rack energy at each bin edge T is Σ_records Δp·max(0, T − t_record), from
        per-rack cumulative sums (exact for piecewise-constant power). The mean inlet is
        ``mean supply + D·(mean air heat)`` (the model is linear in power).

        Returns:
            (bin start s, bin length s, power W (n_bins × n_racks), inlet °C (same shape)).
        """
        lay = self.layout
        n_racks = lay.n_racks
        if horizon_s <= 0 or row_time_s.shape[0] == 0:
            empty = np.zeros((0, n_racks))
            return np.zeros(0), np.zeros(0), empty, empty.copy()
        width = max(period_s, horizon_s / max(max_samples, 1))
        n_bins = max(1, math.ceil(horizon_s / width - 1e-9))
        edges = np.minimum(np.arange(n_bins + 1) * width, horizon_s)
        edges[-1] = horizon_s
        row, node, delta = self._exact_deltas()
        t_rec = row_time_s[row]
        rack = lay.node_rack_idx[node]
        order = np.lexsort((t_rec, rack))
        rack_s, t_s, d_s = rack[order], t_rec[order], delta[order]
        energy_at = np.zeros((n_bins + 1, n_racks))
        bounds = np.searchsorted(rack_s, np.arange(n_racks + 1))
        for r in range(n_racks):
            a, b = int(bounds[r]), int(bounds[r + 1])
            if a == b:
                continue
            t_r = t_s[a:b]
            cum_d = np.concatenate(([0.0], np.cumsum(d_s[a:b])))
            cum_dt = np.concatenate(([0.0], np.cumsum(d_s[a:b] * t_r)))
            k = np.searchsorted(t_r, edges, side="left")
            energy_at[:, r] = edges * cum_d[k] - cum_dt[k]
        dur = np.diff(edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            power = np.diff(energy_at, axis=0) / dur[:, None]
        # mean supply temperature per bin (piecewise constant by rows)
        breaks = np.append(row_time_s, max(horizon_s, float(row_time_s[-1])))
        cum = np.concatenate(([0.0], np.cumsum(supply_temp_c * np.diff(breaks))))
        idx = np.clip(np.searchsorted(row_time_s, edges, side="right") - 1, 0, None)
        at = cum[idx] + supply_temp_c[idx] * (edges - breaks[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            supply_mean = np.diff(at) / dur
        inlet = np.repeat(supply_mean[:, None], n_racks, axis=1)
        if d_k_per_w is not None:
            inlet = inlet + (power * air_frac[None, :]) @ d_k_per_w.T
        return edges[:-1], dur, power, inlet
