"""The per-GPU timeline: one row per GPU and interval of constant state (``record_gpus``).

Written only when asked (``SimSettings(record_gpus=True)``, ``kiban simulate --record-gpus``):
docs/contracts.md, "Per-GPU timeline". At every settle :class:`GpuTimeline` looks at the GPUs
whose holder changed and at the GPUs of jobs whose rates changed; where any observable of the
interval changed (job, state, power, activity, clock, clock-event reasons, loss shares) it
closes the GPU's open row and opens a new one. Everything is piecewise constant between
settles, so the rows integrate exactly to the run's ledger: allocated rows' shares × duration
give the allocated buckets, ``failed`` rows give the down time, ``free`` rows the idle and
queue-blocked time (work moved afterwards, ``RunOutput.moved_gpu_s``, is productive here).

``die_temp_c`` is the steady die temperature at the start of the interval (recirculation may
move the inlet a little within it; issue 10 refines the thermal dynamics).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import numpy as np

from kiban.sim.observables import GpuSnapshot
from kiban.vocabulary import GPU_DOWN, GPU_SHARED

if TYPE_CHECKING:
    from kiban._typing import FloatArray, IntArray
    from kiban.sim.cluster import ClusterState
    from kiban.sim.heat import NodeHeat
    from kiban.sim.layout import ClusterLayout
    from kiban.sim.observables import GpuObservables
    from kiban.sim.slots import Slots
    from kiban.sim.tables import RunInputs

__all__ = ["GPUS_COLUMNS", "GPU_STATES", "TIMELINE_COLUMNS", "GpuTimeline", "gpu_table"]

GPU_STATES: tuple[str, ...] = ("free", "allocated", "failed")
"""Values of the ``state`` column (index = the state code kept while running)."""
FREE, ALLOCATED, FAILED = 0, 1, 2

GPUS_COLUMNS: tuple[str, ...] = (
    "gpu_idx",
    "node_name",
    "rack_name",
    "gpu_in_node",
    "uuid",
    "model_name",
)
"""Columns of ``gpus.parquet`` (docs/contracts.md)."""

TIMELINE_COLUMNS: tuple[str, ...] = (
    "gpu_idx",
    "start_s",
    "end_s",
    "job_id",
    "state",
    "activity_frac",
    "power_w",
    "die_temp_c",
    "clock_frac",
    "clock_event_reasons",
    "io_stall_frac",
    "underused_frac",
    "thermal_throttle_frac",
    "power_cap_frac",
    "checkpoint_frac",
    "failure_frac",
)
"""Columns of ``gpu_timeline.parquet``: the contract's, plus ``failure_frac`` (the restore phase
after a failure) so that the shares of an allocated interval are complete: productive share =
1 − the sum of the seven loss shares."""

# value columns compared to decide whether an interval ends (die temperature is not one)
_POWER, _ACTIVITY, _CLOCK, _DIE = 0, 1, 2, 3
_N_VALS = 4 + 7  # + shares: productive, io_stall, underused, thermal, power_cap, ckpt, failure


def gpu_table(layout: ClusterLayout) -> dict[str, np.ndarray]:
    """The static per-GPU table (``gpus.parquet``): names, position in node, stable UUID."""
    n = layout.n_gpus
    node = layout.gpu_node
    first = layout.node_first_gpu
    rack = layout.node_rack_idx
    # node name: rack name and the node's position in its rack
    pos_in_rack = np.zeros(layout.n_nodes, dtype=np.int64)
    seen: dict[int, int] = {}
    for k, r in enumerate(rack.tolist()):
        pos_in_rack[k] = seen.get(r, 0)
        seen[r] = pos_in_rack[k] + 1
    node_names = [
        f"{layout.rack_names[r]}-n{p:02d}"
        for r, p in zip(rack.tolist(), pos_in_rack.tolist(), strict=True)
    ]
    gpu_idx = np.arange(n, dtype=np.int32)
    return {
        "gpu_idx": gpu_idx,
        "node_name": np.array([node_names[k] for k in node.tolist()], dtype=object),
        "rack_name": np.array([layout.rack_names[rack[k]] for k in node.tolist()], dtype=object),
        "gpu_in_node": (np.arange(n) - first[node]).astype(np.int32),
        "uuid": np.array(
            [
                f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, f'kiban:{layout.name}:gpu:{g}')}"
                for g in range(n)
            ],
            dtype=object,
        ),
        "model_name": np.array(
            [layout.skus[k].name for k in layout.node_sku_idx[node].tolist()], dtype=object
        ),
    }


class GpuTimeline:
    """Per-GPU intervals of constant state (see the module docstring)."""

    def __init__(
        self, inputs: RunInputs, state: ClusterState, slots: Slots, observables: GpuObservables
    ) -> None:
        n = inputs.layout.n_gpus
        self._layout, self._jobs, self._state, self._slots = (
            inputs.layout,
            inputs.jobs,
            state,
            slots,
        )
        self._obs = observables
        self._watch = slots.new_watch()  # jobs whose rates changed since the last look
        self._holder: IntArray = state.gpu_job.copy()
        self._start_s: FloatArray = np.zeros(n)
        self._job: IntArray = np.full(n, -1, dtype=np.int64)
        self._state_code = np.zeros(n, dtype=np.int8)
        self._vals: FloatArray = np.zeros((n, _N_VALS))
        self._reasons: IntArray = np.zeros(n, dtype=np.int64)
        self._rows: list[tuple[np.ndarray, ...]] = []

    def start(self) -> None:
        """Open one interval per GPU at t = 0 (the idle cluster)."""
        self._open(self._obs.snapshot(), 0.0)

    def _open(self, snap: GpuSnapshot, t_s: float) -> None:
        g = snap.gpus
        self._start_s[g] = t_s
        self._job[g] = np.maximum(snap.job, -1)
        self._state_code[g] = np.where(
            (snap.job >= 0) | (snap.job == GPU_SHARED),
            ALLOCATED,
            np.where(snap.job == GPU_DOWN, FAILED, FREE),
        )
        vals = self._vals
        vals[g, _POWER] = snap.power_w
        vals[g, _ACTIVITY] = snap.activity_frac
        vals[g, _CLOCK] = snap.clock_frac
        vals[g, _DIE] = snap.die_temp_c
        vals[g, 4:] = snap.shares
        self._reasons[g] = snap.clock_event_reasons

    def _close(self, gpus: IntArray, t_s: float) -> None:
        if gpus.shape[0] == 0:
            return
        self._rows.append(
            (
                gpus.copy(),
                self._start_s[gpus].copy(),
                np.full(gpus.shape[0], t_s),
                self._job[gpus].copy(),
                self._state_code[gpus].copy(),
                self._vals[gpus].copy(),
                self._reasons[gpus].copy(),
            )
        )

    def update(self, t_s: float, heat: NodeHeat) -> None:
        """After a settle: end and start intervals of the GPUs whose observables changed."""
        del heat  # inlets enter through the observables
        st, sl = self._state, self._slots
        watch = self._watch
        changed = np.flatnonzero(st.gpu_job != self._holder)
        if watch:
            parts = [changed]
            for j in watch:
                gpus = sl.job_gpus[j]
                if gpus is not None:
                    parts.append(gpus)
            watch.clear()
            changed = np.unique(np.concatenate(parts))
        if changed.shape[0] == 0:
            return
        self._holder[changed] = st.gpu_job[changed]
        snap = self._obs.snapshot(changed)
        old = self._vals[changed]
        new_job = np.maximum(snap.job, -1)
        new_state = np.where(
            (snap.job >= 0) | (snap.job == GPU_SHARED),
            ALLOCATED,
            np.where(snap.job == GPU_DOWN, FAILED, FREE),
        )
        cmp = np.ones(_N_VALS, dtype=bool)
        cmp[_DIE] = False
        new_vals = np.column_stack(
            (snap.power_w, snap.activity_frac, snap.clock_frac, snap.die_temp_c, snap.shares)
        )
        differs = (
            (new_job != self._job[changed])
            | (new_state != self._state_code[changed])
            | (snap.clock_event_reasons != self._reasons[changed])
            | (new_vals[:, cmp] != old[:, cmp]).any(axis=1)
        )
        if not differs.any():
            return
        pos = np.flatnonzero(differs)
        self._close(changed[pos], t_s)
        sub = _subset(snap, pos)
        self._open(sub, t_s)

    def finish(self, horizon_s: float, heat: NodeHeat) -> dict[str, dict[str, np.ndarray]]:
        """Close every open interval at the horizon; the two tables of the output."""
        del heat
        self._close(np.arange(self._layout.n_gpus), horizon_s)
        cols = [np.concatenate(part) for part in zip(*self._rows, strict=True)]
        gpu, start, end, job, code, vals, reasons = cols
        keep = end > start
        gpu, start, end, job, code, vals, reasons = (
            gpu[keep],
            start[keep],
            end[keep],
            job[keep],
            code[keep],
            vals[keep],
            reasons[keep],
        )
        order = np.lexsort((start, gpu))
        gpu, start, end, job, code, vals, reasons = (
            gpu[order],
            start[order],
            end[order],
            job[order],
            code[order],
            vals[order],
            reasons[order],
        )
        ids = np.asarray(self._jobs.job_id, dtype=object)
        job_id = np.where(job >= 0, ids[np.maximum(job, 0)], "").astype(object)
        states = np.asarray(GPU_STATES, dtype=object)[code]
        timeline = {
            "gpu_idx": gpu.astype(np.int32),
            "start_s": start,
            "end_s": end,
            "job_id": job_id,
            "state": states,
            "activity_frac": vals[:, _ACTIVITY],
            "power_w": vals[:, _POWER],
            "die_temp_c": vals[:, _DIE],
            "clock_frac": vals[:, _CLOCK],
            "clock_event_reasons": reasons.astype(np.int64),
            "io_stall_frac": vals[:, 5],
            "underused_frac": vals[:, 6],
            "thermal_throttle_frac": vals[:, 7],
            "power_cap_frac": vals[:, 8],
            "checkpoint_frac": vals[:, 9],
            "failure_frac": vals[:, 10],
        }
        return {"gpus": gpu_table(self._layout), "gpu_timeline": timeline}


def _subset(snap: GpuSnapshot, pos: IntArray) -> GpuSnapshot:
    return GpuSnapshot(
        snap.gpus[pos],
        snap.job[pos],
        snap.power_w[pos],
        snap.activity_frac[pos],
        snap.die_temp_c[pos],
        snap.clock_frac[pos],
        snap.clock_event_reasons[pos],
        snap.shares[pos],
    )
