"""Book every GPU-second of a real cluster into the twin's ledger buckets, from telemetry.

The window is read in chunks (``chunk_steps`` steps at a time), so memory stays bounded by one
chunk's GPU × step matrices however long the window is. Per GPU and step (the step is the scrape
interval; a value at a step covers the scrape period before it):

* **failure** (measured): an XID error is reported, or the GPU sends nothing for longer than
  ``max_gap_s`` (a node that does not report is treated as down).
* **idle_no_demand / queue_blocked** (measured): no job label on the GPU's series
  (dcgm-exporter's ``hpc_job``/``pod``), split by ``slurm_queue_pending`` > 0.
* allocated steps split the scrape period by the GPU's busy share ``b``
  (``DCGM_FI_PROF_GR_ENGINE_ACTIVE``, else ``SM_ACTIVE``, else ``GPU_UTIL``/100):

  - **thermal_throttle / power_cap** (inferred): when a throttle bit is set in the clock-event
    reasons, the busy time lost to the lower clock, ``b · (1 − v)``, with speed
    ``v = 1 / (c/f + 1 − c)`` at clock ratio ``f = SM_CLOCK / MAX_SM_CLOCK`` and compute-bound share
    ``c`` (``compute_bound_frac``; 1 assumes fully compute-bound work, an upper bound);
  - **productive** = ``b`` minus those losses;
  - **checkpoint** (inferred): idle share explained by device → host copies,
    ``DCGM_FI_PROF_PCIE_TX_BYTES / checkpoint_tx_b_per_s``;
  - **io_stall** (inferred): idle share explained by the node's I/O pressure,
    ``rate(node_pressure_io_waiting_seconds_total)``;
  - **underused** (measured as the rest): allocated, GPU idle, no data or checkpoint wait.

Redone work after a failure looks productive in telemetry; the failure bucket is a lower bound.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiban.errors import TelemetryError
from kiban.telemetry import dcgm
from kiban.telemetry.series import Source, Window, assemble, assemble_jobs
from kiban.telemetry.twin import CHECKPOINT_PCIE_TX_B_PER_S

__all__ = ["BUCKETS", "DiagnoseSettings", "Diagnosis", "diagnose"]

logger = logging.getLogger(__name__)

BUCKETS: tuple[str, ...] = (
    "productive",
    "idle_no_demand",
    "queue_blocked",
    "io_stall",
    "underused",
    "thermal_throttle",
    "power_cap",
    "failure",
    "checkpoint",
)
"""Ledger buckets booked from telemetry (the twin's, with ``underused`` apart)."""
_B = {name: i for i, name in enumerate(BUCKETS)}

MEASURED: dict[str, str] = {
    "productive": "inferred: busy share minus clock losses",
    "idle_no_demand": "measured: no job on the GPU and no job pending",
    "queue_blocked": "measured: no job on the GPU while jobs are pending",
    "io_stall": "inferred: node I/O pressure (PSI) over the GPU's idle share",
    "underused": "measured: allocated, GPU idle, no data or checkpoint wait",
    "thermal_throttle": "inferred: clock ratio while a thermal reason bit is set",
    "power_cap": "inferred: clock ratio while a power reason bit is set",
    "failure": "measured: XID errors and GPUs not reporting (redone work not visible)",
    "checkpoint": "inferred: device-to-host PCIe traffic",
}
"""How each bucket is obtained (shown in ``diagnosis.json`` and the report)."""

WHAT_IS_LOST: dict[str, str] = {
    "busy": "no GPU busy share: allocated time cannot be split; all of it is booked as productive",
    dcgm.SM_CLOCK: "no SM clock: thermal_throttle and power_cap cannot be measured (booked 0)",
    dcgm.MAX_SM_CLOCK: "no max SM clock: the highest clock seen per GPU is used as its maximum",
    dcgm.CLOCKS_EVENT_REASONS: "no clock-event reasons: clock losses are not split by cause; "
    "all are booked as thermal_throttle",
    dcgm.XID_ERRORS: "no XID errors: only GPUs that stop reporting count as failed",
    dcgm.PCIE_TX_BYTES: "no PCIe TX bytes: checkpoint time is booked as underused",
    dcgm.NODE_IO_WAITING: "no node-exporter I/O pressure: io_stall is booked as underused",
    dcgm.QUEUE_PENDING: "no queue length: free GPU time cannot be split; all of it is booked "
    "as idle_no_demand (queue_blocked is 0, a lower bound)",
}
"""Metric → what the ledger loses without it."""


@dataclass(frozen=True)
class DiagnoseSettings:
    """Knobs of :func:`diagnose`.

    Attributes:
        chunk_steps: Steps read at once (bounds memory).
        max_gap_s: A GPU silent longer than this counts as failed; shorter gaps repeat the last
            value (Prometheus's 5-minute lookback).
        compute_bound_frac: Share of work that scales with the SM clock (1 = upper bound).
        checkpoint_tx_b_per_s: Device → host rate that means "writing a checkpoint" (B/s).
        max_skew_s: Warn when sources' newest samples differ by more than this (s).
    """

    chunk_steps: int = 1440
    max_gap_s: float = 300.0
    compute_bound_frac: float = 1.0
    checkpoint_tx_b_per_s: float = CHECKPOINT_PCIE_TX_B_PER_S
    max_skew_s: float = 60.0


@dataclass
class Diagnosis:
    """What :func:`diagnose` found.

    Attributes:
        window: The booked window.
        gpu_keys: ``(host, gpu)`` per GPU row.
        gpu_info: Labels (UUID, modelName, rack) per GPU row.
        gpu_buckets_s: GPU × bucket GPU-seconds.
        job_buckets_s: Job → bucket GPU-seconds.
        job_span_s: Job → (first, last) step end seen (Unix s) and peak GPU count.
        series: Per-step cluster totals (GPUs in each state, power, queue).
        missing: Metric → what is lost without it.
        warnings: Other problems found in the telemetry (gaps, duplicates, resets, skew).
        busy_metric: Which metric gave the busy share.
        uncertainty_s: Bucket → ± GPU-seconds.
        source: Source description.
    """

    window: Window
    gpu_keys: list[tuple[str, str]]
    gpu_info: list[dict[str, str]]
    gpu_buckets_s: np.ndarray
    job_buckets_s: dict[str, np.ndarray]
    job_span_s: dict[str, list[float]]
    series: dict[str, np.ndarray]
    missing: dict[str, str]
    warnings: list[str]
    busy_metric: str
    uncertainty_s: dict[str, float]
    source: str
    settings: DiagnoseSettings = field(default_factory=DiagnoseSettings)

    @property
    def capacity_gpu_s(self) -> float:
        """GPUs × window length (GPU·s)."""
        return len(self.gpu_keys) * self.window.duration_s

    def totals_s(self) -> dict[str, float]:
        """Bucket → GPU-seconds over the cluster."""
        tot = self.gpu_buckets_s.sum(axis=0)
        return {b: float(tot[i]) for i, b in enumerate(BUCKETS)}


def _ffill(mat: np.ndarray, max_steps: int, prev: np.ndarray | None) -> np.ndarray:
    """Repeat the last value over NaN runs of at most ``max_steps`` (per row)."""
    n_rows, n = mat.shape
    if prev is not None:
        mat = np.concatenate([prev[:, None], mat], axis=1)
    valid = ~np.isnan(mat)
    idx = np.where(valid, np.arange(mat.shape[1])[None, :], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    age = np.arange(mat.shape[1])[None, :] - idx
    ok = (idx >= 0) & (age <= max_steps)
    filled = np.where(ok, mat[np.arange(n_rows)[:, None], np.maximum(idx, 0)], np.nan)
    return filled[:, 1:] if prev is not None else filled
    del n


def _pick(source: Source, names: tuple[str, ...], window: Window) -> tuple[str, list[Any]]:
    for name in names:
        inv = source.inventory(name, window)
        if inv:
            return name, inv
    return "", []


def diagnose(
    source: Source,
    window: Window,
    settings: DiagnoseSettings | None = None,
    progress: Callable[[float], None] | None = None,
) -> Diagnosis:
    """Book the window's GPU-seconds into the ledger buckets.

    Args:
        source: Where the telemetry comes from.
        window: Time window and step (the scrape interval).
        settings: Knobs.
        progress: Called with the share done after each chunk.

    Returns:
        The diagnosis.

    Raises:
        TelemetryError: if the window holds no GPU series at all.
    """
    cfg = settings or DiagnoseSettings()
    warnings: list[str] = []
    missing: dict[str, str] = {}
    busy_metric, inventory = _pick(source, dcgm.BUSY_METRICS, window)
    if not busy_metric:
        # no busy share: fall back to any per-GPU metric for the inventory
        for name in (dcgm.POWER_USAGE, dcgm.SM_CLOCK, dcgm.GPU_TEMP):
            inventory = source.inventory(name, window)
            if inventory:
                busy_metric = name
                missing["busy"] = WHAT_IS_LOST["busy"]
                break
    if not inventory:
        msg = (
            f"{source.description}: no GPU series ({', '.join(dcgm.BUSY_METRICS)}, "
            f"{dcgm.POWER_USAGE}) between {_iso(window.start_s)} and {_iso(window.end_s)}; "
            "check the window (--start/--end), the --match selector and that dcgm-exporter "
            "is scraped"
        )
        raise TelemetryError(msg)
    busy_scale = 0.01 if busy_metric == dcgm.GPU_UTIL else 1.0
    gpus: dict[tuple[str, str], int] = {}
    info: list[dict[str, str]] = []
    for labels in sorted(inventory, key=lambda x: dcgm.gpu_key(x)):
        key = dcgm.gpu_key(labels)
        if key not in gpus:
            gpus[key] = len(gpus)
            info.append(
                {
                    "host": key[0],
                    "gpu": key[1],
                    "uuid": labels.get("UUID", ""),
                    "model_name": labels.get("modelName", ""),
                    "rack": labels.get("rack", ""),
                }
            )
    if any(not k[0] for k in gpus):
        warnings.append(
            "some GPU series carry no Hostname/hostname/instance label; they are merged per gpu "
            "index"
        )
    n_gpu = len(gpus)
    hosts = sorted({k[0] for k in gpus})
    host_idx = {h: i for i, h in enumerate(hosts)}
    gpu_host = np.array([host_idx[k[0]] for k in gpus], dtype=np.int64)

    reason_metric = ""
    for name in dcgm.ALIASES[dcgm.CLOCKS_EVENT_REASONS]:
        if source.inventory(name, window):
            reason_metric = name
            break
    present: dict[str, bool] = {}
    for name in (
        dcgm.SM_CLOCK,
        dcgm.MAX_SM_CLOCK,
        dcgm.XID_ERRORS,
        dcgm.PCIE_TX_BYTES,
        dcgm.NODE_IO_WAITING,
        dcgm.QUEUE_PENDING,
    ):
        present[name] = bool(source.inventory(name, window))
        if not present[name]:
            missing[name] = WHAT_IS_LOST[name]
    if not reason_metric:
        missing[dcgm.CLOCKS_EVENT_REASONS] = WHAT_IS_LOST[dcgm.CLOCKS_EVENT_REASONS]

    # clock skew: newest sample of each source family against the GPU metric's
    ref = source.latest_sample_s(busy_metric, window)
    for name in (dcgm.NODE_IO_WAITING, dcgm.QUEUE_PENDING):
        if ref is None or not present.get(name):
            continue
        other = source.latest_sample_s(name, window)
        if other is not None and abs(other - ref) > cfg.max_skew_s:
            warnings.append(
                f"clock skew or lag: the newest {name} sample is {other - ref:+.0f} s from the "
                f"newest {busy_metric} sample (more than {cfg.max_skew_s:g} s); steps are "
                "aligned on each source's own timestamps"
            )

    max_gap = max(0, int(cfg.max_gap_s // window.step_s))
    gpu_acc = np.zeros((n_gpu, len(BUCKETS)))
    job_acc: dict[str, np.ndarray] = {}
    job_span: dict[str, list[float]] = {}
    series_parts: dict[str, list[np.ndarray]] = {}
    dup_cells = 0
    max_clock_seen = np.zeros(n_gpu)
    prev: dict[str, np.ndarray] = {}
    unc_queue = 0.0
    unc_sample = 0.0
    unc_mixed_io = 0.0
    throttle_low = {"thermal_throttle": 0.0, "power_cap": 0.0}
    c = min(max(cfg.compute_bound_frac, 0.0), 1.0)
    total = window.n_steps
    done = 0
    for chunk in window.chunks(max(1, cfg.chunk_steps)):
        n = chunk.n_steps
        dt = chunk.step_s
        busy_series = source.gauge(busy_metric, chunk)
        busy, d1 = assemble(busy_series, gpus, n)
        dup_cells += d1
        jobs_code, job_names = assemble_jobs(busy_series, gpus, n)
        del busy_series
        seen = ~np.isnan(busy)
        busy = _ffill(busy, max_gap, prev.get("busy"))
        prev["busy"] = busy[:, -1].copy()
        # job codes: repeat over short gaps like the values
        jc = jobs_code.astype(np.float64)
        jc[~seen] = np.nan
        jc = np.where(np.isnan(busy), np.nan, _ffill(jc, max_gap, None))
        codes = np.where(np.isnan(jc), -1, jc).astype(np.int64)
        observed = ~np.isnan(busy)

        def gauge(name: str, key: str) -> np.ndarray:
            if not name or (name in present and not present[name]):
                return np.full((n_gpu, n), np.nan)
            mat, dd = assemble(source.gauge(name, chunk), gpus, n)
            nonlocal dup_cells
            dup_cells += dd
            mat = _ffill(mat, max_gap, prev.get(key))
            prev[key] = mat[:, -1].copy()
            return mat

        xid = gauge(dcgm.XID_ERRORS, "xid")
        clock = gauge(dcgm.SM_CLOCK, "clock")
        maxc = gauge(dcgm.MAX_SM_CLOCK, "maxc")
        reasons = gauge(reason_metric, "reasons")
        tx = gauge(dcgm.PCIE_TX_BYTES, "tx")
        power = gauge(dcgm.POWER_USAGE, "power")
        temp = gauge(dcgm.GPU_TEMP, "temp")
        max_clock_seen = np.fmax(max_clock_seen, np.nanmax(np.fmax(clock, maxc), axis=1, initial=0))
        node_io = np.zeros((len(hosts), n))
        if present[dcgm.NODE_IO_WAITING]:
            for s in source.counter_rate(dcgm.NODE_IO_WAITING, chunk):
                h = host_idx.get(dcgm.host_of(s.labels))
                if h is not None:
                    node_io[h, s.step_idx] = np.clip(s.values, 0.0, 1.0)
        pending = np.zeros(n)
        if present[dcgm.QUEUE_PENDING]:
            qs = source.gauge(dcgm.QUEUE_PENDING, chunk)
            q = np.full(n, np.nan)
            for s in qs:
                q[s.step_idx] = np.fmax(np.nan_to_num(q[s.step_idx]), s.values)
            pending = _ffill(q[None, :], max_gap, prev.get("pending"))[0]
            prev["pending"] = pending[-1:].copy()
            pending = np.nan_to_num(pending)

        failed = ~observed | (np.nan_to_num(xid) > 0)
        alloc = ~failed & (codes >= 0)
        free = ~failed & (codes < 0)
        waiting = pending > 0
        b = np.clip(np.nan_to_num(busy) * busy_scale, 0.0, 1.0)
        if busy_metric not in dcgm.BUSY_METRICS:
            b = np.ones_like(b)
        mc = np.where(np.isnan(maxc), max_clock_seen[:, None], maxc)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where((mc > 0) & ~np.isnan(clock), np.clip(clock / mc, 1e-3, 1.0), 1.0)
        speed = 1.0 / (c / f + 1.0 - c)
        speed_low = 1.0 / (0.5 / f + 0.5)
        r = np.nan_to_num(reasons).astype(np.int64)
        if reason_metric:
            thermal_bits = (r & dcgm.REASON_THERMAL_BITS) != 0
            power_bits = ((r & dcgm.REASON_POWER_BITS) != 0) & ~thermal_bits
        else:
            thermal_bits = f < 1.0
            power_bits = np.zeros_like(thermal_bits)
        lost = np.where(alloc & (thermal_bits | power_bits), b * (1.0 - speed), 0.0)
        lost_low = np.where(alloc & (thermal_bits | power_bits), b * (1.0 - speed_low), 0.0)
        idle_in = np.where(alloc, 1.0 - b, 0.0)
        ck = np.minimum(idle_in, np.nan_to_num(tx) / cfg.checkpoint_tx_b_per_s)
        io = np.minimum(idle_in - ck, node_io[gpu_host])
        io = np.where(alloc, io, 0.0)
        cells = np.zeros((len(BUCKETS), n_gpu, n))
        cells[_B["productive"]] = np.where(alloc, b - lost, 0.0)
        cells[_B["thermal_throttle"]] = np.where(thermal_bits, lost, 0.0)
        cells[_B["power_cap"]] = np.where(power_bits, lost, 0.0)
        cells[_B["checkpoint"]] = ck
        cells[_B["io_stall"]] = io
        cells[_B["underused"]] = idle_in - ck - io
        cells[_B["failure"]] = failed
        cells[_B["queue_blocked"]] = free & waiting[None, :]
        cells[_B["idle_no_demand"]] = free & ~waiting[None, :]
        cells *= dt
        gpu_acc += cells.sum(axis=2).T
        throttle_low["thermal_throttle"] += float(
            np.where(thermal_bits, lost - lost_low, 0.0).sum() * dt
        )
        throttle_low["power_cap"] += float(np.where(power_bits, lost - lost_low, 0.0).sum() * dt)
        # per job
        if job_names:
            flat_codes = codes.reshape(-1)
            sel = flat_codes >= 0
            per_job = np.zeros((len(job_names), len(BUCKETS)))
            for bi in range(len(BUCKETS)):
                per_job[:, bi] = np.bincount(
                    flat_codes[sel], weights=cells[bi].reshape(-1)[sel], minlength=len(job_names)
                )
            ends = chunk.step_ends_s()
            for j, name in enumerate(job_names):
                on = codes == j
                if not on.any():
                    continue
                acc = job_acc.setdefault(name, np.zeros(len(BUCKETS)))
                acc += per_job[j]
                steps = np.flatnonzero(on.any(axis=0))
                peak = float(on.sum(axis=0).max())
                span = job_span.setdefault(name, [math.inf, -math.inf, 0.0])
                span[0] = min(span[0], float(ends[steps[0]]) - dt)
                span[1] = max(span[1], float(ends[steps[-1]]))
                span[2] = max(span[2], peak)
        # uncertainty terms: state changes are known to one step
        changes = np.count_nonzero(np.diff(codes, axis=1) != 0)
        unc_sample += 0.5 * changes * dt
        qchange = np.count_nonzero(np.diff(waiting.astype(np.int8)) != 0)
        unc_queue += 0.5 * qchange * dt * float(free.sum(axis=0).mean() if n else 0.0)
        jobs_on_host = np.zeros((len(hosts), n))
        for h in range(len(hosts)):
            hc = codes[gpu_host == h]
            jobs_on_host[h] = [len(set(col[col >= 0].tolist())) for col in hc.T]
        mixed = jobs_on_host[gpu_host] > 1
        unc_mixed_io += float(np.where(mixed, io, 0.0).sum())
        # cluster series per step
        part = {
            "time_s": chunk.step_ends_s() - dt,
            "allocated_gpus": alloc.sum(axis=0).astype(np.float64),
            "productive_gpus": cells[_B["productive"]].sum(axis=0) / dt,
            "io_stall_gpus": cells[_B["io_stall"]].sum(axis=0) / dt,
            "underused_gpus": cells[_B["underused"]].sum(axis=0) / dt,
            "throttled_gpus": cells[_B["thermal_throttle"]].sum(axis=0) / dt,
            "power_capped_gpus": cells[_B["power_cap"]].sum(axis=0) / dt,
            "checkpoint_gpus": cells[_B["checkpoint"]].sum(axis=0) / dt,
            "failed_gpus": failed.sum(axis=0).astype(np.float64),
            "queued_jobs": pending,
            "running_jobs": np.array(
                [len(set(col[col >= 0].tolist())) for col in codes.T], dtype=np.float64
            ),
            "it_power_w": np.nansum(np.where(observed, power, 0.0), axis=0),
            "max_gpu_temp_c": np.nanmax(np.where(np.isnan(temp), -np.inf, temp), axis=0),
        }
        for k, v in part.items():
            series_parts.setdefault(k, []).append(v)
        del cells
        done += n
        if progress is not None:
            progress(done / total)
    if dup_cells:
        warnings.append(
            f"duplicate series: {dup_cells} GPU-steps had more than one series for the same host "
            "and gpu (e.g. Hostname and hostname side by side, or two scrape jobs); the first "
            "was kept"
        )
    unobserved = float(gpu_acc[:, _B["failure"]].sum())
    if unobserved and dcgm.XID_ERRORS in missing:
        warnings.append(
            f"{unobserved / 3600:.1f} GPU-hours without data for more than "
            f"{cfg.max_gap_s:g} s were booked as failure"
        )
    unc = {b: 0.0 for b in BUCKETS}
    for b in ("productive", "idle_no_demand", "queue_blocked", "underused"):
        unc[b] += unc_sample
    unc["queue_blocked"] += unc_queue
    unc["idle_no_demand"] += unc_queue
    unc["io_stall"] += unc_mixed_io
    unc["underused"] += unc_mixed_io
    for b, v in throttle_low.items():
        unc[b] += v
    unc["productive"] += sum(throttle_low.values())
    series = {k: np.concatenate(v) for k, v in series_parts.items()}
    return Diagnosis(
        window=window,
        gpu_keys=list(gpus),
        gpu_info=info,
        gpu_buckets_s=gpu_acc,
        job_buckets_s=job_acc,
        job_span_s=job_span,
        series=series,
        missing=missing,
        warnings=warnings,
        busy_metric=busy_metric,
        uncertainty_s=unc,
        source=source.description,
        settings=cfg,
    )


def _iso(t_s: float) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
