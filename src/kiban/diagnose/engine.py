"""Book every GPU-second of a real cluster into the twin's ledger buckets, from telemetry.

The window is read in chunks (``chunk_steps`` steps at a time), so memory stays bounded by one
chunk's GPU × step matrices however long the window is. Per GPU and step (the step is the scrape
interval; a value at a step covers the scrape period before it):

* **failure** (measured): an XID error is reported, or the GPU sends nothing for longer than
  ``max_gap_s`` (a node that does not report is treated as down).
* **idle_no_demand / queue_blocked** (measured): no job label on the GPU's series
  (dcgm-exporter's ``hpc_job``/``pod``), split by ``slurm_queue_pending`` > 0.
* allocated steps are split as the twin books them:

  - **checkpoint** (inferred): device → host copies, ``DCGM_FI_PROF_PCIE_TX_BYTES /
    checkpoint_tx_b_per_s``; **failure** (inferred, allocated part): host → device copies while a
    job restores its state, ``DCGM_FI_PROF_PCIE_RX_BYTES / restore_rx_b_per_s``; the rest ``r`` of
    the step is running time;
  - **thermal_throttle / power_cap** (inferred): when a thermal or power bit is set in the
    clock-event reasons, ``r · (1 − v)`` with speed ``v = 1 / (c/f + 1 − c)`` at clock ratio
    ``f = SM_CLOCK / MAX_SM_CLOCK``; the compute-bound share ``c`` is ``1 − DRAM_ACTIVE / b``
    (the memory-bound part of the busy time does not slow down), else ``compute_bound_frac``;
  - **productive** = ``b · v`` with the busy share ``b`` (``DCGM_FI_PROF_GR_ENGINE_ACTIVE``, else
    ``SM_ACTIVE``, else ``GPU_UTIL``/100);
  - **io_stall** (inferred): the idle running time ``v (r − b)`` explained by the node's I/O
    pressure, ``rate(node_pressure_io_waiting_seconds_total)``;
  - **underused** (measured as the rest): allocated, GPU idle, no data wait.

Redone work after a failure looks productive in telemetry; the failure bucket is a lower bound.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kiban.diagnose.jobs import JobRecords
from kiban.errors import TelemetryError
from kiban.telemetry import dcgm
from kiban.telemetry.series import Source, Window, assemble, assemble_jobs
from kiban.telemetry.twin import CHECKPOINT_PCIE_TX_B_PER_S, RESTORE_PCIE_RX_B_PER_S

if TYPE_CHECKING:
    from kiban._typing import BoolArray, IntArray

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
_BLOCK_GPUS = 64
"""GPUs booked at once inside a chunk (keeps the working arrays in cache)."""
_STEP_BUCKETS = {
    "productive_gpus": "productive",
    "io_stall_gpus": "io_stall",
    "underused_gpus": "underused",
    "throttled_gpus": "thermal_throttle",
    "power_capped_gpus": "power_cap",
    "checkpoint_gpus": "checkpoint",
}
_STEP_KEYS = ("allocated_gpus", "failed_gpus", "free_gpus", "it_power_w", *_STEP_BUCKETS)

MEASURED: dict[str, str] = {
    "productive": "inferred: busy share minus clock losses",
    "idle_no_demand": "measured: no job on the GPU and no job pending",
    "queue_blocked": "measured: no job on the GPU while jobs are pending",
    "io_stall": "inferred: node I/O pressure (PSI) over the GPU's idle share",
    "underused": "measured: allocated, GPU idle, no data or checkpoint wait",
    "thermal_throttle": "inferred: clock ratio while a thermal reason bit is set",
    "power_cap": "inferred: clock ratio while a power reason bit is set",
    "failure": "measured: XID errors and GPUs not reporting; inferred: restores after a "
    "failure from host-to-device PCIe traffic (redone work not visible)",
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
    dcgm.DRAM_ACTIVE: "no DRAM activity: clock losses assume --compute-bound-frac for every job",
    dcgm.PCIE_TX_BYTES: "no PCIe TX bytes: checkpoint time is booked as underused",
    dcgm.PCIE_RX_BYTES: "no PCIe RX bytes: restores after failures are booked as underused",
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
        prefetch: Read the next chunk in a second thread while booking this one.
    """

    chunk_steps: int = 1440
    max_gap_s: float = 300.0
    compute_bound_frac: float = 1.0
    checkpoint_tx_b_per_s: float = CHECKPOINT_PCIE_TX_B_PER_S
    restore_rx_b_per_s: float = RESTORE_PCIE_RX_B_PER_S
    max_skew_s: float = 60.0
    prefetch: bool = True


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
    fragmentation_gpu_s: float | None = None

    @property
    def capacity_gpu_s(self) -> float:
        """GPUs × window length (GPU·s)."""
        return len(self.gpu_keys) * self.window.duration_s

    def totals_s(self) -> dict[str, float]:
        """Bucket → GPU-seconds over the cluster."""
        tot = self.gpu_buckets_s.sum(axis=0)
        return {b: float(tot[i]) for i, b in enumerate(BUCKETS)}



def _classify_reason_bits(r: IntArray) -> tuple[BoolArray, BoolArray]:
    """Which clock-event bitmasks slow a GPU for heat and which for power (bool arrays).

    SW/HW thermal slowdown are heat; HW slowdown (0x8) on its own is heat too (datacenter
    boards raise it for temperature), but with the power-brake bit (0x80) it is the external
    brake: power. A mask with both heat and power bits counts as heat.
    """
    temp_bits = dcgm.REASON_THERMAL_BITS & ~dcgm.REASON_HW_SLOWDOWN_BIT
    by_temp = (r & temp_bits) != 0
    hw_only = ((r & dcgm.REASON_HW_SLOWDOWN_BIT) != 0) & (
        (r & dcgm.REASON_HW_POWER_BRAKE_BIT) == 0
    )
    thermal = by_temp | hw_only
    power = ((r & dcgm.REASON_POWER_BITS) != 0) & ~thermal
    return thermal, power

def _ffill(mat: np.ndarray, max_steps: int, prev: np.ndarray | None) -> np.ndarray:
    """Repeat the last value over NaN runs of at most ``max_steps`` (per row)."""
    n_rows, _n = mat.shape
    if not np.isnan(mat).any():
        return mat
    if prev is not None:
        mat = np.concatenate([prev[:, None], mat], axis=1)
    valid = ~np.isnan(mat)
    idx = np.where(valid, np.arange(mat.shape[1])[None, :], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    age = np.arange(mat.shape[1])[None, :] - idx
    ok = (idx >= 0) & (age <= max_steps)
    filled = np.where(ok, mat[np.arange(n_rows)[:, None], np.maximum(idx, 0)], np.nan)
    return filled[:, 1:] if prev is not None else filled


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
    jobs: JobRecords | None = None,
) -> Diagnosis:
    """Book the window's GPU-seconds into the ledger buckets.

    Args:
        source: Where the telemetry comes from.
        window: Time window and step (the scrape interval).
        settings: Knobs.
        progress: Called with the share done after each chunk.
        jobs: Scheduler records (``sacct``): the queue when ``slurm_queue_pending`` is missing,
            and whole-node allocations when the GPU series carry no job label.

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
    busy_ok = busy_metric in dcgm.BUSY_METRICS
    gpus: dict[tuple[str, str], int] = {}
    info: list[dict[str, str]] = []
    for labels in sorted(inventory, key=dcgm.gpu_key):
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
    # GPUs are numbered in (host, gpu) order, so each host's rows are contiguous
    host_starts = np.searchsorted(gpu_host, np.arange(len(hosts)))
    blocks: list[tuple[int, int]] = []
    lo_row = 0
    for h_start in [*host_starts.tolist()[1:], n_gpu]:
        if h_start - lo_row >= _BLOCK_GPUS or h_start == n_gpu:
            blocks.append((lo_row, h_start))
            lo_row = h_start
    # per block: offsets of its hosts' first rows, relative to the block
    host_starts_rel = {
        lo: (host_starts[(host_starts >= lo) & (host_starts < hi)] - lo) for lo, hi in blocks
    }

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
        dcgm.PCIE_RX_BYTES,
        dcgm.DRAM_ACTIVE,
        dcgm.NODE_IO_WAITING,
        dcgm.QUEUE_PENDING,
    ):
        present[name] = bool(source.inventory(name, window))
        if not present[name]:
            missing[name] = WHAT_IS_LOST[name]
    if not reason_metric:
        missing[dcgm.CLOCKS_EVENT_REASONS] = WHAT_IS_LOST[dcgm.CLOCKS_EVENT_REASONS]
    queue_from_jobs = jobs is not None and not present[dcgm.QUEUE_PENDING]
    if queue_from_jobs and jobs is not None:
        missing.pop(dcgm.QUEUE_PENDING, None)
        warnings.append(
            f"{dcgm.QUEUE_PENDING} is not scraped: the queue length comes from the job records "
            f"in {jobs.source}"
        )
    labelled = any(dcgm.job_of(lab) for lab in inventory)
    alloc_from_jobs = jobs is not None and not labelled
    whole_node: list[tuple[int, list[int]]] = []
    if alloc_from_jobs and jobs is not None:
        per_host = np.bincount(gpu_host, minlength=len(hosts))
        partial = 0
        for j, names in enumerate(jobs.nodes):
            known = [host_idx[h] for h in names if h in host_idx]
            if not known:
                continue
            if int(jobs.num_gpus[j]) >= int(per_host[known].sum()):
                whole_node.append((j, np.flatnonzero(np.isin(gpu_host, known)).tolist()))
            else:
                partial += 1
        warnings.append(
            "the GPU series carry no job label (dcgm-exporter without hpc_job/pod mapping): "
            f"allocations come from {jobs.source}, whole-node jobs only"
            + (f"; {partial} jobs on part of a node are booked as free time" if partial else "")
        )

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
    frag_s: float | None = 0.0 if jobs is not None else None
    gpus_per_host = np.bincount(gpu_host, minlength=len(hosts))
    c = min(max(cfg.compute_bound_frac, 0.0), 1.0)
    total = window.n_steps
    done = 0
    gauge_keys = {
        "xid": dcgm.XID_ERRORS,
        "clock": dcgm.SM_CLOCK,
        "maxc": dcgm.MAX_SM_CLOCK,
        "reasons": reason_metric,
        "tx": dcgm.PCIE_TX_BYTES,
        "dram": dcgm.DRAM_ACTIVE,
        "rx": dcgm.PCIE_RX_BYTES,
        "power": dcgm.POWER_USAGE,
        "temp": dcgm.GPU_TEMP,
    }

    def fetch(chunk: Window) -> dict[str, Any]:
        """Everything the source says about one chunk, on the grid (no gap filling yet)."""
        m = chunk.n_steps
        busy_series = source.gauge(busy_metric, chunk)
        got: dict[str, Any] = {}
        got["busy"], dup = assemble(busy_series, gpus, m)
        got["jobs_code"], got["job_names"] = assemble_jobs(busy_series, gpus, m)
        del busy_series
        for gk, name in gauge_keys.items():
            if not name or (name in present and not present[name]):
                got[gk] = np.full((n_gpu, m), np.nan)
                continue
            got[gk], dd = assemble(source.gauge(name, chunk), gpus, m)
            dup += dd
        got["dup"] = dup
        node_io = np.zeros((len(hosts), m))
        if present[dcgm.NODE_IO_WAITING]:
            for s in source.counter_rate(dcgm.NODE_IO_WAITING, chunk):
                h = host_idx.get(dcgm.host_of(s.labels))
                if h is not None:
                    node_io[h, s.step_idx] = np.clip(s.values, 0.0, 1.0)
        got["node_io"] = node_io
        q = np.full(m, np.nan)
        if present[dcgm.QUEUE_PENDING] and not queue_from_jobs:
            for s in source.gauge(dcgm.QUEUE_PENDING, chunk):
                q[s.step_idx] = np.fmax(np.nan_to_num(q[s.step_idx]), s.values)
        got["queue"] = q
        return got

    chunks = list(window.chunks(max(1, cfg.chunk_steps)))
    # read the next chunk while this one is booked (the second core, or the network, works)
    pool = ThreadPoolExecutor(max_workers=1) if cfg.prefetch and len(chunks) > 1 else None
    ahead: Future[dict[str, Any]] | None = None
    if pool is not None:
        ahead = pool.submit(fetch, chunks[0])
    for ci, chunk in enumerate(chunks):
        if pool is None:
            got = fetch(chunk)
        else:
            assert ahead is not None
            try:
                got = ahead.result()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            ahead = pool.submit(fetch, chunks[ci + 1]) if ci + 1 < len(chunks) else None
        n = chunk.n_steps
        dt = chunk.step_s
        busy = got["busy"]
        jobs_code, job_names = got["jobs_code"], got["job_names"]
        dup_cells += got["dup"]
        if alloc_from_jobs and jobs is not None:
            ends = chunk.step_ends_s()
            for j, job_rows in whole_node:
                start = jobs.start_s[j]
                end = jobs.end_s[j] if np.isfinite(jobs.end_s[j]) else np.inf
                on_steps = (
                    (ends > start) & (ends - chunk.step_s < end) if np.isfinite(start) else None
                )
                if on_steps is None or not on_steps.any():
                    continue
                code = len(job_names)
                job_names.append(jobs.job_id[j])
                block = jobs_code[job_rows]
                block[:, on_steps] = code
                jobs_code[job_rows] = block
        seen = ~np.isnan(busy)
        busy = _ffill(busy, max_gap, prev.get("busy"))
        prev["busy"] = busy[:, -1].copy()
        # job codes: repeat over short gaps like the values
        jc = jobs_code.astype(np.float64)
        jc[~seen] = np.nan
        jc = np.where(np.isnan(busy), np.nan, _ffill(jc, max_gap, None))
        codes = np.where(np.isnan(jc), -1, jc).astype(np.int64)
        observed = ~np.isnan(busy)
        filled: dict[str, np.ndarray] = {}
        for gk in gauge_keys:
            mat = _ffill(got[gk], max_gap, prev.get(gk))
            prev[gk] = mat[:, -1].copy()
            filled[gk] = mat
        xid, clock, maxc, reasons = (filled[x] for x in ("xid", "clock", "maxc", "reasons"))
        tx, dram, rx = filled["tx"], filled["dram"], filled["rx"]
        power, temp = filled["power"], filled["temp"]
        max_clock_seen = np.fmax(max_clock_seen, np.nanmax(np.fmax(clock, maxc), axis=1, initial=0))
        node_io = got["node_io"]
        pending = np.zeros(n)
        if queue_from_jobs and jobs is not None:
            pending = jobs.pending(chunk.step_ends_s())
        elif present[dcgm.QUEUE_PENDING]:
            pending = _ffill(got["queue"][None, :], max_gap, prev.get("pending"))[0]
            prev["pending"] = pending[-1:].copy()
            pending = np.nan_to_num(pending)
        del got

        waiting = pending > 0
        n_jobs = len(job_names)
        per_job = np.zeros((n_jobs, len(BUCKETS)))
        on = np.zeros((n_jobs, n), dtype=np.int64)
        step_tot = {k: np.zeros(n) for k in _STEP_KEYS}
        max_temp = np.full(n, -np.inf)
        # book GPU blocks (whole hosts) small enough to stay in cache
        for lo, hi in blocks:
            rows = slice(lo, hi)
            cd = codes[rows]
            failed = ~observed[rows] | (np.nan_to_num(xid[rows]) > 0)
            has_job = cd >= 0
            alloc = ~failed & has_job
            free = ~failed & ~has_job
            b = np.clip(np.nan_to_num(busy[rows]) * busy_scale, 0.0, 1.0)
            if not busy_ok:
                b[:] = 1.0
            if reason_metric:
                r = np.nan_to_num(reasons[rows]).astype(np.int64)
                thermal_r, power_r = _classify_reason_bits(r)
                thermal_bits = thermal_r & alloc
                power_bits = power_r & alloc
                slow = thermal_bits | power_bits
            else:
                slow = alloc & (clock[rows] < maxc[rows])
                thermal_bits = slow
                power_bits = np.zeros_like(slow)
            # checkpoint writes and restores first; the rest of the allocated time is "running"
            ck = np.where(
                alloc, np.minimum(1.0, np.nan_to_num(tx[rows]) / cfg.checkpoint_tx_b_per_s), 0.0
            )
            restore = np.where(
                alloc,
                np.minimum(1.0 - ck, np.nan_to_num(rx[rows]) / cfg.restore_rx_b_per_s),
                0.0,
            )
            run = np.where(alloc, 1.0 - ck - restore, 0.0)
            b = np.minimum(b, run)
            # speed v where a clock reason is set (only those cells: usually few)
            v = np.ones_like(b)
            v_hi = np.ones_like(b)  # fully compute-bound: the largest loss
            if slow.any():
                gi, ti = np.nonzero(slow)
                gr = gi + lo
                cl = clock[gr, ti]
                mc = maxc[gr, ti]
                mc = np.where(np.isnan(mc), max_clock_seen[gr], mc)
                with np.errstate(invalid="ignore", divide="ignore"):
                    f = np.where((mc > 0) & ~np.isnan(cl), np.clip(cl / mc, 1e-3, 1.0), 1.0)
                    # compute-bound share: 1 - DRAM-active share of the busy time, else the setting
                    dr = dram[gr, ti]
                    bs = b[gi, ti]
                    c_cell = np.where(~np.isnan(dr) & (bs > 0), np.clip(1.0 - dr / bs, 0.0, 1.0), c)
                v[gi, ti] = 1.0 / (c_cell / f + 1.0 - c_cell)
                v_hi[gi, ti] = f
            lost = run * (1.0 - v)
            lost_low = run * (1.0 - v_hi)
            idle_in = v * (run - b)
            # the node's I/O waiting (share × allocated GPUs) spread over its GPUs' idle time
            hs = host_starts_rel[lo]
            host_rows = gpu_host[rows] - gpu_host[lo]
            idle_host = np.add.reduceat(idle_in, hs, axis=0)
            alloc_host = np.add.reduceat(alloc.astype(np.float64), hs, axis=0)
            io_host = node_io[gpu_host[lo] : gpu_host[hi - 1] + 1] * alloc_host
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(idle_host > 0, np.minimum(1.0, io_host / idle_host), 0.0)
            io = idle_in * ratio[host_rows]
            th = np.where(thermal_bits, lost, 0.0)
            pc = lost - th
            cells = {
                "productive": b * v,
                "idle_no_demand": free & ~waiting,
                "queue_blocked": free & waiting,
                "io_stall": io,
                "underused": idle_in - io,
                "thermal_throttle": th,
                "power_cap": pc,
                "failure": failed + restore,
                "checkpoint": ck,
            }
            for bi, name in enumerate(BUCKETS):
                gpu_acc[rows, bi] += cells[name].sum(axis=1) * dt
            lost_gap = np.abs(lost - lost_low) * dt
            throttle_low["thermal_throttle"] += float(np.where(thermal_bits, lost_gap, 0.0).sum())
            throttle_low["power_cap"] += float(np.where(power_bits, lost_gap, 0.0).sum())
            if n_jobs:
                flat = cd.reshape(-1)
                sel = flat >= 0
                fc = flat[sel]
                for bi, name in enumerate(BUCKETS):
                    per_job[:, bi] += np.bincount(
                        fc,
                        weights=cells[name].reshape(-1)[sel].astype(np.float64) * dt,
                        minlength=n_jobs,
                    )
                step_of = np.broadcast_to(np.arange(n), cd.shape).reshape(-1)[sel]
                on += np.bincount(fc * n + step_of, minlength=n_jobs * n).reshape(n_jobs, n)
            # io booked on hosts shared by several jobs may belong to the wrong one
            lo_code = np.where(has_job, cd, np.iinfo(np.int64).max)
            hi_code = np.where(has_job, cd, -1)
            mixed = (
                np.maximum.reduceat(hi_code, hs, axis=0) > np.minimum.reduceat(lo_code, hs, axis=0)
            )[host_rows]
            unc_mixed_io += float(np.where(mixed, io, 0.0).sum() * dt)
            step_tot["allocated_gpus"] += alloc.sum(axis=0)
            step_tot["failed_gpus"] += failed.sum(axis=0)
            step_tot["free_gpus"] += free.sum(axis=0)
            for step_key, bucket in _STEP_BUCKETS.items():
                step_tot[step_key] += cells[bucket].sum(axis=0)
            step_tot["it_power_w"] += np.nansum(np.where(observed[rows], power[rows], 0.0), axis=0)
            max_temp = np.fmax(max_temp, np.nanmax(temp[rows], axis=0, initial=-np.inf))
        if n_jobs:
            ends = chunk.step_ends_s()
            any_on = on > 0
            first = np.argmax(any_on, axis=1)
            last = n - 1 - np.argmax(any_on[:, ::-1], axis=1)
            peak = on.max(axis=1)
            for j, name in enumerate(job_names):
                if not peak[j]:
                    continue
                acc = job_acc.setdefault(name, np.zeros(len(BUCKETS)))
                acc += per_job[j]
                span = job_span.setdefault(name, [math.inf, -math.inf, 0.0])
                span[0] = min(span[0], float(ends[first[j]]) - dt)
                span[1] = max(span[1], float(ends[last[j]]))
                span[2] = max(span[2], float(peak[j]))
            running = np.count_nonzero(any_on, axis=0).astype(np.float64)
        else:
            running = np.zeros(n)
        # uncertainty terms: state changes are known to one step
        unc_sample += 0.5 * np.count_nonzero(np.diff(codes, axis=1) != 0) * dt
        qchange = np.count_nonzero(np.diff(waiting.astype(np.int8)) != 0)
        unc_queue += 0.5 * qchange * dt * float(step_tot["free_gpus"].mean() if n else 0.0)
        if frag_s is not None and jobs is not None:
            frag_s += _fragmentation_s(
                jobs,
                chunk,
                codes=codes,
                observed=observed,
                xid=xid,
                host_starts=host_starts,
                gpus_per_host=gpus_per_host,
                waiting=waiting,
            )
        part = {
            "time_s": chunk.step_ends_s() - dt,
            **{k: v for k, v in step_tot.items() if k != "free_gpus"},
            "queued_jobs": pending,
            "running_jobs": running,
            "max_gpu_temp_c": max_temp,
        }
        for k, v in part.items():
            series_parts.setdefault(k, []).append(v)
        done += n
        if progress is not None:
            progress(done / total)
    if pool is not None:
        pool.shutdown(wait=True)
    if dup_cells:
        warnings.append(
            f"duplicate series: {dup_cells} GPU-steps had more than one series for the same host "
            "and gpu (e.g. Hostname and hostname side by side, or two scrape jobs); the first "
            "was kept"
        )
    unobserved = float(gpu_acc[:, BUCKETS.index("failure")].sum())
    if unobserved and dcgm.XID_ERRORS in missing:
        warnings.append(
            f"{unobserved / 3600:.1f} GPU-hours without data for more than "
            f"{cfg.max_gap_s:g} s were booked as failure"
        )
    unc = dict.fromkeys(BUCKETS, 0.0)
    for bucket in ("productive", "idle_no_demand", "queue_blocked", "underused"):
        unc[bucket] += unc_sample
    unc["queue_blocked"] += unc_queue
    unc["idle_no_demand"] += unc_queue
    unc["io_stall"] += unc_mixed_io
    unc["underused"] += unc_mixed_io
    for bucket, spread_s in throttle_low.items():
        unc[bucket] += spread_s
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
        fragmentation_gpu_s=frag_s,
    )


def _fragmentation_s(
    jobs: JobRecords,
    chunk: Window,
    *,
    codes: np.ndarray,
    observed: np.ndarray,
    xid: np.ndarray,
    host_starts: np.ndarray,
    gpus_per_host: np.ndarray,
    waiting: np.ndarray,
) -> float:
    """Queue-blocked GPU-seconds while a pending job fitted the free GPU count, not the shape.

    A job of up to one host's GPUs needs them free on one host; a larger one needs whole free
    hosts (the twin's definition, with the shape inferred from the job's size).
    """
    free = observed & ~(np.nan_to_num(xid) > 0) & (codes < 0)
    free_host = np.add.reduceat(free.astype(np.int64), host_starts, axis=0)
    total = free_host.sum(axis=0)
    max_free = free_host.max(axis=0)
    full_hosts_gpus = np.where(free_host == gpus_per_host[:, None], free_host, 0).sum(axis=0)
    per_host = int(gpus_per_host.max()) if gpus_per_host.size else 0
    ends = chunk.step_ends_s()
    start = np.where(np.isnan(jobs.start_s), np.inf, jobs.start_s)
    frag = np.zeros(chunk.n_steps, dtype=bool)
    live = np.flatnonzero((jobs.submit_s <= ends[-1]) & (start > ends[0]) & (jobs.num_gpus > 0))
    for j in live.tolist():
        need = int(jobs.num_gpus[j])
        pend = (jobs.submit_s[j] <= ends) & (ends < start[j])
        shape_ok = max_free >= need if need <= per_host else full_hosts_gpus >= need
        frag |= pend & (total >= need) & ~shape_ok
    return float((total * (frag & waiting)).sum() * chunk.step_s)


def _iso(t_s: float) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
