"""The twin as a telemetry source: the simulator's per-GPU timeline seen as dcgm-exporter would.

Input: a ``kiban simulate --record-gpus`` result folder (``gpus.parquet``,
``gpu_timeline.parquet``, ``jobs.parquet``, ``summary.json``; docs/contracts.md, "Per-GPU
timeline"). Output: the value of every exported metric at scrape times, for the OpenMetrics writer
(:mod:`kiban.telemetry.openmetrics`) and the live exporter (:mod:`kiban.telemetry.serve`).

How the twin's loss shares show up (the same model :mod:`kiban.diagnose` inverts; each allocated
interval has shares ``io``, ``underused``, ``thermal``, ``power_cap``, ``checkpoint`` of its wall
time and productive ``p = 1 − Σ``):

* ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` = ``p / s``, averaged over the scrape period, with speed
  ``s = 1 − (thermal + power_cap) / r`` and running share ``r = 1 − checkpoint − failure``: the
  twin books clock losses over the whole running time (``r (1 − s)``), and the engine computes
  ``p / s`` of the time; it waits on data or on the host the rest.
* ``DCGM_FI_PROF_DRAM_ACTIVE`` = busy × (1 − c), c the job's compute-bound share (from the twin's
  throttled intervals, else :data:`DEFAULT_COMPUTE_BOUND_FRAC`): the memory-bound part of the
  busy time, which lower clocks do not slow.
* ``DCGM_FI_DEV_GPU_UTIL`` = the timeline's ``activity_frac`` × 100 (period average).
* ``DCGM_FI_DEV_SM_CLOCK`` = ``clock_frac`` × the board's max clock, ``DCGM_FI_DEV_MAX_SM_CLOCK``,
  ``DCGM_FI_DEV_CLOCKS_EVENT_REASONS`` = ``clock_event_reasons``, temperatures and power as given.
* ``DCGM_FI_PROF_PCIE_TX_BYTES`` = ``checkpoint`` × :data:`CHECKPOINT_PCIE_TX_B_PER_S` (state is
  copied device → host while a checkpoint is written).
* ``DCGM_FI_PROF_PCIE_RX_BYTES`` = ``failure`` × :data:`RESTORE_PCIE_RX_B_PER_S` (the optional
  ``failure_frac`` column: after a failure the job restores its state host → device).
* ``node_pressure_io_waiting_seconds_total`` (per node) grows by the node's allocated-GPU mean of
  ``io`` per second (the training processes wait on reads).
* ``DCGM_FI_DEV_XID_ERRORS`` = 79 ("GPU has fallen off the bus") while a GPU is ``failed``.
* ``slurm_queue_pending`` = jobs submitted and not yet started (from ``jobs.parquet``).
* Labels: ``gpu``, ``UUID``, ``device``, ``modelName``, ``Hostname``, ``rack`` (a relabelled
  inventory label), and ``hpc_job`` while a job holds the GPU.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from kiban.errors import ConfigError, SchemaError
from kiban.sim.timeline import GPUS_COLUMNS, TIMELINE_COLUMNS
from kiban.telemetry import dcgm
from kiban.units import HZ_PER_MHZ

__all__ = [
    "CHECKPOINT_PCIE_TX_B_PER_S",
    "DEFAULT_ORIGIN_UTC",
    "GPU_COLUMNS",
    "TIMELINE_COLUMNS",
    "TwinFrames",
    "TwinTimeline",
    "load_twin",
]

GPUS_FILE = "gpus.parquet"
TIMELINE_FILE = "gpu_timeline.parquet"

GPU_COLUMNS = GPUS_COLUMNS
"""Columns of ``gpus.parquet`` (docs/contracts.md; the simulator's own list)."""

CHECKPOINT_PCIE_TX_B_PER_S = 25.0e9
"""Device → host copy rate while a checkpoint is written (B/s). ASSUMED: about half of PCIe
Gen5 x16's 64 GB/s per direction, what pinned-memory copies reach in practice."""
RESTORE_PCIE_RX_B_PER_S = 25.0e9
"""Host → device copy rate while a job restores its state after a failure (B/s). ASSUMED: as
:data:`CHECKPOINT_PCIE_TX_B_PER_S`, the other direction."""
XID_FALLEN_OFF_BUS = 79
"""XID reported while a GPU is down (NVIDIA XID catalogue: 79 = GPU has fallen off the bus)."""
DEFAULT_ORIGIN_UTC = "2025-01-06T00:00:00+00:00"
"""Wall-clock time of simulated t = 0 when the trace has none (a fixed Monday in the past, so
backfilled blocks are older than now and runs are reproducible)."""
DEFAULT_COMPUTE_BOUND_FRAC = 0.7
"""Compute-bound share shown for jobs the twin never throttled (its speed never reveals it).
ASSUMED; it only shapes ``DCGM_FI_PROF_DRAM_ACTIVE`` where no clock loss depends on it."""
DEFAULT_MAX_SM_CLOCK_MHZ = 1980.0
"""Max SM clock used when the model name is not in the catalog (H100 SXM's, MHz)."""

_AVG = ("busy", "util", "power_w", "tx", "rx", "io", "alloc", "dram")
_LAST = ("temp_c", "clock_frac", "reasons", "xid")


def _compute_bound_frac(
    job_id: np.ndarray, speed: np.ndarray, clock_frac: np.ndarray, alloc: np.ndarray
) -> np.ndarray:
    """Each interval's compute-bound share, from the twin's own throttled intervals.

    The runtime model (physics.md §1; ``kiban.physics.gpu_power.runtime_factor``) slows a job
    with compute-bound share c at clock ratio f to speed 1 / (c/f + 1 − c), so an interval with
    both known gives c = (1/speed − 1) / (1/f − 1). A job keeps its c; jobs never throttled get
    :data:`DEFAULT_COMPUTE_BOUND_FRAC`.
    """
    c = np.full(job_id.shape[0], DEFAULT_COMPUTE_BOUND_FRAC)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = (1.0 / speed - 1.0) / (1.0 / clock_frac - 1.0)
    known = (alloc > 0) & (clock_frac < 0.999) & (speed > 0) & (speed < 0.999) & np.isfinite(est)
    if known.any():
        per_job: dict[str, float] = {}
        shares = np.clip(est[known], 0.0, 1.0).tolist()
        for j, v in zip(job_id[known].tolist(), shares, strict=True):
            per_job.setdefault(j, v)
        c = np.array([per_job.get(j, DEFAULT_COMPUTE_BOUND_FRAC) for j in job_id.tolist()])
    return c


def _max_clock_mhz(model_name: str) -> float:
    from kiban.catalog import default_catalog  # noqa: PLC0415

    key = model_name.lower().replace("nvidia ", "").replace(" ", "-")
    cat = default_catalog()
    for name in (model_name, key):
        try:
            return float(cat.gpu(name).max_sm_clock_hz) / HZ_PER_MHZ
        except (KeyError, ValueError):
            continue
    return DEFAULT_MAX_SM_CLOCK_MHZ


@dataclass(frozen=True)
class TwinFrames:
    """Exported values at scrape times ``t_s`` (simulated seconds).

    ``gpu[name]`` is GPU × time; ``job`` holds job codes (−1 = none) into ``job_names``;
    ``node_io_s`` is node × time (cumulative seconds of I/O waiting); ``pending`` per time.
    """

    t_s: np.ndarray
    gpu: dict[str, np.ndarray]
    job: np.ndarray
    job_names: list[str]
    node_io_s: np.ndarray
    pending: np.ndarray


@dataclass(frozen=True)
class TwinTimeline:
    """A recorded per-GPU timeline and what is needed to export it."""

    gpus: pl.DataFrame
    timeline: pl.DataFrame
    submit_s: np.ndarray
    start_s: np.ndarray
    horizon_s: float
    origin_unix_s: float
    node_names: list[str]
    gpu_node: np.ndarray
    max_clock_mhz: np.ndarray

    def frames(self, t_s: np.ndarray, step_s: float) -> TwinFrames:
        """Values at scrape times ``t_s``; averages cover ``(t − step, t]``."""
        t = np.asarray(t_s, dtype=np.float64)
        n_gpu = self.gpus.height
        tl = self.timeline
        g_all = tl["gpu_idx"].to_numpy()
        s_all = tl["start_s"].to_numpy()
        e_all = tl["end_s"].to_numpy()
        state = tl["state"].to_numpy()
        alloc = (state == "allocated").astype(np.float64)
        failed = state == "failed"
        io = tl["io_stall_frac"].to_numpy() * alloc
        und = tl["underused_frac"].to_numpy() * alloc
        ck = tl["checkpoint_frac"].to_numpy() * alloc
        fail = (
            tl["failure_frac"].to_numpy() * alloc if "failure_frac" in tl.columns else 0.0 * alloc
        )
        th = tl["thermal_throttle_frac"].to_numpy() * alloc
        cap = tl["power_cap_frac"].to_numpy() * alloc
        prod = np.clip(1.0 - io - und - ck - fail - th - cap, 0.0, 1.0) * alloc
        # the twin's accounting: running share r = 1 - checkpoint - failure; clock losses are
        # r (1 - s_cap) and r (s_cap - s_c) at speeds s_cap, s_c; productive r s; the engine is
        # busy r s / s_c of the time (it waits on data, or on the host, the rest)
        run = np.clip(1.0 - ck - fail, 0.0, 1.0) * alloc
        with np.errstate(invalid="ignore", divide="ignore"):
            s_c = np.where(run > 0, 1.0 - (th + cap) / run, 1.0)
            busy = np.where(s_c > 0, prod / s_c, 0.0) * alloc
        clock = tl["clock_frac"].to_numpy()
        cbf = _compute_bound_frac(tl["job_id"].to_numpy(), s_c, clock, alloc)
        avg_cols_extra = {"dram": busy * (1.0 - cbf)}
        avg_cols = {
            "busy": busy,
            "util": tl["activity_frac"].to_numpy() * 100.0,
            "power_w": tl["power_w"].to_numpy(),
            "tx": ck * CHECKPOINT_PCIE_TX_B_PER_S,
            "rx": fail * RESTORE_PCIE_RX_B_PER_S,
            "io": io,
            "alloc": alloc,
            **avg_cols_extra,
        }
        last_cols = {
            "temp_c": tl["die_temp_c"].to_numpy(),
            "clock_frac": tl["clock_frac"].to_numpy(),
            "reasons": tl["clock_event_reasons"].to_numpy().astype(np.float64),
            "xid": np.where(failed, float(XID_FALLEN_OFF_BUS), 0.0),
        }
        jobs_col = tl["job_id"].to_numpy()
        names, inverse = np.unique(jobs_col, return_inverse=True)
        job_names = [str(x) for x in names]
        empty = job_names.index("") if "" in job_names else -1
        out = {k: np.full((n_gpu, t.shape[0]), np.nan) for k in (*_AVG, *_LAST)}
        job = np.full((n_gpu, t.shape[0]), -1, dtype=np.int64)
        bounds = np.searchsorted(g_all, np.arange(n_gpu + 1))
        lo_t = t - step_s
        for g in range(n_gpu):
            a, b = int(bounds[g]), int(bounds[g + 1])
            if a == b:
                continue
            s, e = s_all[a:b], e_all[a:b]
            dt = e - s
            # row holding each scrape instant (the state just before t)
            row = np.clip(np.searchsorted(s, t, side="left") - 1, 0, b - a - 1)
            cover = (t > s[0]) & (t <= e[row] + 1e-9)
            for k, col in last_cols.items():
                out[k][g] = np.where(cover, col[a:b][row], np.nan)
            codes = inverse[a:b][row]
            job[g] = np.where(cover & (codes != empty), codes, -1)
            row_lo = np.clip(np.searchsorted(s, lo_t, side="right") - 1, 0, b - a - 1)
            row_hi = np.clip(np.searchsorted(s, t, side="right") - 1, 0, b - a - 1)
            for k, col in avg_cols.items():
                v = col[a:b]
                cum = np.concatenate(([0.0], np.cumsum(v * dt)))

                hi_int = cum[row_hi] + v[row_hi] * (np.clip(t, s[row_hi], e[row_hi]) - s[row_hi])
                lo_int = cum[row_lo] + v[row_lo] * (np.clip(lo_t, s[row_lo], e[row_lo]) - s[row_lo])
                span = np.clip(t, s[0], e[-1]) - np.clip(lo_t, s[0], e[-1])
                with np.errstate(invalid="ignore", divide="ignore"):
                    val = (hi_int - lo_int) / span
                out[k][g] = np.where(span > 0, val, np.nan)
        out["clock_mhz"] = out.pop("clock_frac") * self.max_clock_mhz[:, None]
        # node I/O waiting counter: node mean of io over allocated GPUs, integrated per step
        n_node = len(self.node_names)
        io_sum = np.zeros((n_node, t.shape[0]))
        alloc_sum = np.zeros((n_node, t.shape[0]))
        np.add.at(io_sum, self.gpu_node, np.nan_to_num(out["io"]))
        np.add.at(alloc_sum, self.gpu_node, np.nan_to_num(out["alloc"]))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(alloc_sum > 0, io_sum / alloc_sum, 0.0)
        dt_step = np.diff(np.concatenate(([t[0] - step_s], t))) if t.shape[0] else t
        node_io_s = np.cumsum(share * np.minimum(dt_step, step_s)[None, :], axis=1)
        pending = (
            ((self.submit_s[None, :] <= t[:, None]) & ~(self.start_s[None, :] <= t[:, None]))
            .sum(axis=1)
            .astype(np.float64)
        )
        return TwinFrames(t, out, job, job_names, node_io_s, pending)

    def scrape_times_s(self, step_s: float) -> np.ndarray:
        """Scrape instants step, 2·step, … up to the horizon (simulated s)."""
        n = math.floor(self.horizon_s / step_s + 1e-9)
        return step_s * np.arange(1, n + 1, dtype=np.float64)

    def labels(self, g: int) -> dict[str, str]:
        """dcgm-exporter labels of GPU ``g`` (without the job label)."""
        row = self.gpus.row(g, named=True)
        idx = int(row["gpu_in_node"])
        return {
            "gpu": str(idx),
            "UUID": str(row["uuid"]),
            "device": f"nvidia{idx}",
            "modelName": str(row["model_name"]),
            "Hostname": str(row["node_name"]),
            "rack": str(row["rack_name"]),
        }


def _need(df: pl.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = f"{path}: missing columns {', '.join(missing)} (docs/contracts.md, per-GPU timeline)"
        raise SchemaError(msg)


def load_twin(folder: Path | str, *, origin_utc: str | None = None) -> TwinTimeline:
    """Read a result folder written with ``--record-gpus``.

    Args:
        folder: ``DIR/<policy>``.
        origin_utc: Wall-clock time of simulated t = 0 (ISO 8601); default: the summary's
            ``time_origin_utc`` or :data:`DEFAULT_ORIGIN_UTC`.

    Raises:
        ConfigError: if the timeline files are missing.
        SchemaError: if a table lacks a column.
    """
    base = Path(folder)
    if not (base / TIMELINE_FILE).is_file() or not (base / GPUS_FILE).is_file():
        msg = (
            f"{base}: no {GPUS_FILE} / {TIMELINE_FILE}; run `kiban simulate ... --record-gpus` "
            "to record the per-GPU timeline"
        )
        raise ConfigError(msg)
    try:
        gpus = pl.read_parquet(base / GPUS_FILE).sort("gpu_idx")
        timeline = pl.read_parquet(base / TIMELINE_FILE).sort(["gpu_idx", "start_s"])
        summary = (
            json.loads((base / "summary.json").read_text(encoding="utf-8"))
            if (base / "summary.json").is_file()
            else {}
        )
        jobs = pl.read_parquet(base / "jobs.parquet") if (base / "jobs.parquet").is_file() else None
    except (OSError, ValueError, pl.exceptions.PolarsError) as err:
        msg = f"{base}: cannot read the timeline files ({type(err).__name__}: {err})"
        raise SchemaError(msg) from err
    _need(gpus, base / GPUS_FILE, GPU_COLUMNS)
    _need(timeline, base / TIMELINE_FILE, TIMELINE_COLUMNS)
    origin = origin_utc or summary.get("time_origin_utc") or DEFAULT_ORIGIN_UTC
    try:
        stamp = datetime.fromisoformat(str(origin).replace("Z", "+00:00"))
    except ValueError as err:
        msg = f"--origin {origin!r}: not an ISO 8601 time (e.g. 2025-01-06T00:00:00Z)"
        raise ConfigError(msg) from err
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    end_max = timeline["end_s"].max() if timeline.height else 0.0
    horizon = float(summary.get("horizon_s") or end_max or 0.0)  # type: ignore[arg-type]
    if jobs is not None:
        submit = jobs["submit_time_s"].cast(pl.Float64).fill_null(np.inf).to_numpy()
        start = jobs["start_time_s"].cast(pl.Float64).fill_null(np.inf).to_numpy()
    else:
        submit = np.zeros(0)
        start = np.zeros(0)
    node_names = sorted(set(gpus["node_name"].to_list()))
    node_idx = {n: i for i, n in enumerate(node_names)}
    gpu_node = np.array([node_idx[n] for n in gpus["node_name"].to_list()], dtype=np.int64)
    clocks = {m: _max_clock_mhz(m) for m in set(gpus["model_name"].to_list())}
    max_clock = np.array([clocks[m] for m in gpus["model_name"].to_list()])
    return TwinTimeline(
        gpus=gpus,
        timeline=timeline,
        submit_s=submit,
        start_s=start,
        horizon_s=horizon,
        origin_unix_s=stamp.timestamp(),
        node_names=node_names,
        gpu_node=gpu_node,
        max_clock_mhz=max_clock,
    )


GPU_METRICS: tuple[tuple[str, str, str], ...] = (
    (dcgm.GR_ENGINE_ACTIVE, "busy", "Ratio of time the graphics engine is active."),
    (dcgm.GPU_UTIL, "util", "GPU utilization (in %)."),
    (dcgm.POWER_USAGE, "power_w", "Power draw (in W)."),
    (dcgm.GPU_TEMP, "temp_c", "GPU temperature (in C)."),
    (dcgm.SM_CLOCK, "clock_mhz", "SM clock frequency (in MHz)."),
    (dcgm.CLOCKS_EVENT_REASONS, "reasons", "Current clock event reasons (bitmask)."),
    (dcgm.XID_ERRORS, "xid", "Value of the last XID error encountered."),
    (dcgm.DRAM_ACTIVE, "dram", "Ratio of cycles the device memory interface is active."),
    (dcgm.PCIE_TX_BYTES, "tx", "The rate of data transmitted over the PCIe bus (B/s)."),
    (dcgm.PCIE_RX_BYTES, "rx", "The rate of data received over the PCIe bus (B/s)."),
)
"""(exported name, frame key, HELP text) of every per-GPU gauge the twin exports."""
