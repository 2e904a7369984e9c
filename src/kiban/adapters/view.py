"""Glue: the simulator's policy view (``ClusterView``) built from a live Slurm snapshot.

Policies are written against :class:`kiban.sim.state.ClusterView`. This module fills the
simulator's public classes (``ClusterLayout``, ``JobTable``, ``ClusterState``, ``ClusterView``,
``PolicyContext``) from what Slurm and the rack metrics say, so any registered policy runs
unchanged on the real cluster. It is the only module of the agent that knows those classes'
fields; when the simulator's state changes, this is the one place to adapt.

Mapping:

* nodes with GPUs → layout nodes, grouped by rack (the agent config's ``[racks]``; nodes in no
  rack go to rack ``unassigned``); GRES types map to catalog GPUs through ``[gpu_models]``;
  the server record is the catalog's model with that GPU and GPU count, or a copy of one with
  the count changed;
* rack power limits → ``rack_power_limit_w`` (so placement layers respect rack budgets);
  measured inlet temperature and power → ``rack_inlet_temp_c`` and ``rack_power_w``;
* running and suspended jobs hold the GPUs Slurm reports (``gres_detail`` indices); pending
  jobs wait in submit order; a job's duration is its time limit (or
  ``[agent].default_job_time_s``); its power cap is kiban's mark in ``AdminComment``;
* nodes that are down, drained, powered down or not responding are down in the view.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.catalog import default_catalog
from kiban.errors import ConfigError
from kiban.policies.base import PolicyContext
from kiban.sim.jobs import JobTable
from kiban.sim.layout import ClusterLayout
from kiban.sim.state import GPU_DOWN, PENDING, RUNNING, ClusterState, ClusterView

if TYPE_CHECKING:
    from kiban._typing import IntArray
    from kiban.adapters.config import AgentConfig
    from kiban.adapters.rack_metrics import RackMetrics
    from kiban.adapters.slurm import SlurmJob, SlurmSnapshot
    from kiban.catalog import GpuSku, ServerModel

__all__ = ["UNASSIGNED_RACK", "LiveView", "build_view", "kiban_marks"]

UNASSIGNED_RACK = "unassigned"
"""Rack name given to GPU nodes that the agent config puts in no rack."""

_MARK = re.compile(r"kiban:(\w+)=?([^;\s]*)")


def kiban_marks(admin_comment: str) -> dict[str, str]:
    """Kiban's marks in a job's AdminComment (``kiban:power_cap_w=500;kiban:suspended``)."""
    return {m.group(1): m.group(2) for m in _MARK.finditer(admin_comment or "")}


@dataclass(frozen=True, eq=False)
class LiveView:
    """The policy view of the live cluster and the maps back to Slurm names.

    Attributes:
        view: What policies receive.
        ctx: What ``policy.reset`` receives.
        node_names: Layout node index → Slurm node name.
        node_rack: Slurm node name → rack name.
        job_ids: Job table index → Slurm job id.
        jobs_by_id: Slurm job id → job record.
        origin_s: Unix time of view time 0.
    """

    view: ClusterView
    ctx: PolicyContext
    node_names: tuple[str, ...]
    node_rack: dict[str, str]
    job_ids: tuple[int, ...]
    jobs_by_id: dict[int, SlurmJob]
    origin_s: float

    def gpu_nodes(self, gpus: np.ndarray) -> list[str]:
        """Slurm node names of some layout GPU indices (each node once, in order)."""
        lay = self.view.layout
        seen: dict[str, None] = {}
        for g in np.asarray(gpus, dtype=np.int64).tolist():
            seen[self.node_names[int(lay.gpu_node[g])]] = None
        return list(seen)


def _sku(cfg: AgentConfig, gres_type: str, node: str) -> GpuSku:
    cat = default_catalog()
    key = gres_type.lower()
    name = cfg.gpu_models.get(key) or (key if key in cat.gpus else "")
    if not name:
        known = ", ".join(f"{k} = {v!r}" for k, v in sorted(cfg.gpu_models.items()))
        msg = (
            f"{cfg.source}: gpu_models: node {node} has GRES type {gres_type!r}, which maps to "
            f"no catalog GPU; add it under [gpu_models] (known: {known})"
        )
        raise ConfigError(msg)
    return cat.gpu(name)


def _server(sku: GpuSku, n_gpus: int) -> ServerModel:
    servers = list(default_catalog().servers.values())
    for srv in servers:
        if srv.gpu == sku.name and srv.n_gpus == n_gpus:
            return srv
    base = next((s for s in servers if s.gpu == sku.name), servers[0])
    return dataclasses.replace(
        base, name=f"slurm-{sku.name}-x{n_gpus}", gpu=sku.name, n_gpus=n_gpus
    )


def build_view(
    snap: SlurmSnapshot, metrics: RackMetrics, cfg: AgentConfig, *, seed: int = 0
) -> LiveView:
    """Build the policy view of the cluster now (see the module docstring).

    Raises:
        ConfigError: if the cluster has no GPU nodes or a GRES type maps to no catalog GPU.
    """
    racks_of = cfg.node_racks()
    gpu_nodes = [n for n in snap.nodes.values() if n.n_gpus > 0]
    if not gpu_nodes:
        msg = "Slurm reports no nodes with GPU GRES (gres.conf / Gres= in slurm.conf)"
        raise ConfigError(msg)
    rack_names = [r for r in cfg.racks if any(racks_of.get(n.name) == r for n in gpu_nodes)]
    if any(n.name not in racks_of for n in gpu_nodes):
        rack_names.append(UNASSIGNED_RACK)
    rack_index = {r: i for i, r in enumerate(rack_names)}
    node_rack = {n.name: racks_of.get(n.name, UNASSIGNED_RACK) for n in gpu_nodes}
    nodes = sorted(gpu_nodes, key=lambda n: rack_index[node_rack[n.name]])

    skus: list[GpuSku] = []
    servers: list[ServerModel] = []
    node_server = []
    for n in nodes:
        sku = _sku(cfg, n.gpu_model, n.name)
        if sku not in skus:
            skus.append(sku)
        srv = _server(sku, n.n_gpus)
        if srv not in servers:
            servers.append(srv)
        node_server.append(servers.index(srv))
    n_racks = len(rack_names)
    layout = ClusterLayout(
        name="slurm",
        skus=tuple(skus),
        servers=tuple(servers),
        node_server_idx=np.array(node_server, dtype=np.int64),
        node_rack_idx=np.array([rack_index[node_rack[n.name]] for n in nodes], dtype=np.int64),
        rack_names=tuple(rack_names),
        rack_row_idx=np.zeros(n_racks, dtype=np.int64),
        row_names=("row0",),
        rack_x_m=np.arange(n_racks, dtype=np.float64) * 0.6,
        rack_y_m=np.zeros(n_racks),
        rack_power_limit_w=np.array([cfg.rack_power_limit_w(r) for r in rack_names]),
        rack_cooling_limit_w=np.full(n_racks, math.inf),
        rack_liquid_capture_frac=np.zeros(n_racks),
    )
    node_idx = {n.name: k for k, n in enumerate(nodes)}

    live = [j for j in snap.jobs if j.n_gpus > 0 and j.state in {"PENDING", "RUNNING", "SUSPENDED"}]
    origin = min([j.submit_time_s for j in live] + [snap.time_s])
    n_jobs = len(live)
    default_s = cfg.agent.default_job_time_s
    table = JobTable.from_arrays(
        np.array([j.submit_time_s - origin for j in live], dtype=np.float64),
        np.array([j.time_limit_s or default_s for j in live], dtype=np.float64),
        np.array([j.n_gpus for j in live], dtype=np.int64),
        job_id=np.array([str(j.job_id) for j in live], dtype=object),
        gpus_per_node=np.array([j.gpus_per_node for j in live], dtype=np.int64),
        gpu_model=np.array(
            [cfg.gpu_models.get(j.gpu_model.lower(), j.gpu_model) for j in live], dtype=object
        ),
        queue=np.array([j.partition for j in live], dtype=object),
        priority=np.array([j.priority for j in live], dtype=np.int64),
        source=f"slurm snapshot ({snap.source})",
    )
    by_id = {j.job_id: j for j in live}
    job_ids = tuple(int(x) for x in table.job_id.tolist())

    writer = _StateWriter(layout, table)
    st = writer.state
    st.time_s = snap.time_s - origin
    first = layout.node_first_gpu
    for name, k in node_idx.items():
        if not snap.nodes[name].usable:
            a, b = int(first[k]), int(first[k] + layout.node_n_gpus[k])
            st.node_up[k] = False
            st.gpu_job[a:b] = GPU_DOWN
            st.node_free[k] = 0
            st.n_down_gpus += b - a
    tdp = np.array([s.tdp_w for s in layout.skus])
    for j, jid in enumerate(job_ids):
        job = by_id[jid]
        cap = kiban_marks(job.admin_comment).get("power_cap_w", "")
        if cap:
            st.job_power_cap_w[j] = float(cap)
        if job.state == "PENDING":
            st.job_state[j] = PENDING
            st.job_pending_since_s[j] = job.submit_time_s - origin
            st.pend_add(j)
            continue
        gpus = _held_gpus(job, node_idx, layout, st)
        if gpus.shape[0] == 0:
            continue
        st.gpu_job[gpus] = j
        gn = layout.gpu_node[gpus]
        np.subtract.at(st.node_free, gn, 1)
        st.job_state[j] = RUNNING
        start = (job.start_time_s or snap.time_s) - origin
        st.job_first_start_s[j] = start
        cap_w = st.job_power_cap_w[j]
        per_gpu = tdp[layout.node_sku_idx[gn]] if math.isnan(cap_w) else np.full(gn.shape, cap_w)
        writer.run(j, gpus, start, start + float(table.duration_s[j]), float(per_gpu.mean()))
        np.add.at(st.rack_gpu_alloc_w, layout.node_rack_idx[gn], per_gpu)
    st.n_free_gpus = int(st.node_free[st.node_up].sum())
    for r, name in enumerate(rack_names):
        writer.rack(r, metrics.power_w.get(name), metrics.inlet_temp_c.get(name))
    view = writer.view()
    ctx = PolicyContext(
        layout=layout,
        jobs=table,
        rng=np.random.default_rng(seed),
        checkpoint_write_s=np.zeros(n_jobs),
    )
    return LiveView(
        view=view,
        ctx=ctx,
        node_names=tuple(n.name for n in nodes),
        node_rack=node_rack,
        job_ids=job_ids,
        jobs_by_id=by_id,
        origin_s=origin,
    )


class _StateWriter:
    """Writes running jobs and rack readings into the simulator's state objects.

    Two layouts of that state exist: one ``ClusterState`` holding the running-job slots and rack
    readings (``ClusterView(state, layout, jobs)``), and the component simulator (issue 9:
    ``kiban.sim.slots.Slots``, ``kiban.sim.heat.NodeHeat``; ``ClusterView(..., slots=, heat=,
    observables=)``). This class is the only place that tells them apart.
    """

    def __init__(self, layout: ClusterLayout, table: JobTable) -> None:
        self.layout = layout
        self.table = table
        self.state = ClusterState(layout, table)
        try:
            slots_mod = importlib.import_module("kiban.sim.slots")
        except ModuleNotFoundError:
            self._parts: dict[str, Any] | None = None
            return
        sim = {m: importlib.import_module(f"kiban.sim.{m}") for m in ("flags", "tables", "heat")}
        settings = importlib.import_module("kiban.sim.settings").SimSettings()
        dirty = sim["flags"].Dirty()
        hw = sim["tables"].HardwareTables(layout, settings)
        jt = sim["tables"].JobTables(table, hw, settings)
        book = importlib.import_module("kiban.sim.ledger_book").LedgerBook()
        heat = sim["heat"].NodeHeat(hw, dirty)
        slots = slots_mod.Slots(hw, jt, table.n_jobs, book, heat, dirty)
        obs = importlib.import_module("kiban.sim.observables").GpuObservables(
            table, hw, self.state, slots, heat
        )
        self._parts = {"slots": slots, "heat": heat, "observables": obs}

    def run(self, j: int, gpus: IntArray, start_s: float, finish_s: float, cap_w: float) -> None:
        """Job ``j`` runs on ``gpus`` since ``start_s`` (expected end ``finish_s``)."""
        lay = self.layout
        gn = lay.gpu_node[gpus]
        nodes, counts = np.unique(gn, return_counts=True)
        racks = np.unique(lay.node_rack_idx[gn])
        rack = int(racks[0]) if racks.shape[0] == 1 else -1
        sku = int(lay.node_sku_idx[gn[0]])
        now = self.state.time_s
        if self._parts is None:
            st: Any = self.state
            slot = st.n_slots
            st.n_slots += 1
            tgt, names = (
                st,
                (
                    "slot_job",
                    "slot_n",
                    "slot_sku",
                    "slot_rack",
                    "slot_start_s",
                    "slot_t_last_s",
                    "slot_finish_s",
                    "slot_cap_w",
                ),
            )
        else:
            tgt = self._parts["slots"]
            slot = tgt.n
            tgt.n += 1
            names = ("job", "n_gpus", "sku", "rack", "start_s", "t_last_s", "finish_s", "cap_w")
            if rack < 0:
                tgt.job_racks[j] = racks
        for name, value in zip(
            names, (j, gpus.shape[0], sku, rack, start_s, now, finish_s, cap_w), strict=True
        ):
            getattr(tgt, name)[slot] = value
        tgt.job_slot[j] = slot
        tgt.job_gpus[j] = gpus
        tgt.job_nodes[j] = nodes
        tgt.job_node_counts[j] = counts
        tgt.job_n_alloc[j] = gpus.shape[0]

    def rack(self, r: int, power_w: float | None, inlet_temp_c: float | None) -> None:
        """Rack ``r``'s measured wall power and inlet temperature (None: not measured)."""
        tgt: Any = self.state if self._parts is None else self._parts["heat"]
        if power_w is not None:
            tgt.rack_power_w[r] = power_w
        if inlet_temp_c is not None:
            tgt.rack_inlet_temp_c[r] = inlet_temp_c

    def view(self) -> ClusterView:
        """The read-only view policies get."""
        make: Any = ClusterView  # the component simulator's signature takes the parts too
        view: ClusterView = make(self.state, self.layout, self.table, **(self._parts or {}))
        return view


def _held_gpus(
    job: SlurmJob, node_idx: dict[str, int], layout: ClusterLayout, st: ClusterState
) -> np.ndarray:
    """Layout GPU indices a running job holds (Slurm's indices, else the first free ones)."""
    out: list[int] = []
    per_node = job.n_gpus // max(len(job.nodes), 1)
    for node in job.nodes:
        k = node_idx.get(node)
        if k is None:
            continue
        a = int(layout.node_first_gpu[k])
        size = int(layout.node_n_gpus[k])
        idx = [i for i in job.gpu_idx.get(node, ()) if i < size]
        if not idx:
            free = np.flatnonzero(st.gpu_job[a : a + size] == -1)[:per_node]
            idx = free.tolist()
        out.extend(a + i for i in idx if st.gpu_job[a + i] == -1)
    return np.array(out, dtype=np.int64)
