"""Immutable simulation results: tables, summary, layout and scenario echo; saved as files.

One policy's result lives in ``DIR/<policy>/`` (docs/contracts.md, "Simulation results"):

* ``summary.json``: KPIs (:func:`kiban.metrics.summarize`), keys sorted, plus ``units``;
* ``jobs.parquet``: one row per job;
* ``timeseries.parquet``: facility and cluster series, time-weighted averages over at most
  ``max_rows`` equal bins (``max_inlet_temp_c`` is the bin maximum);
* ``racks.parquet``: per-rack mean power and inlet temperature per sample (long format);
* ``layout.json``: rack names and floor coordinates, for the heatmap;
* ``scenario.toml``: the scenario as given;
* ``gpus.parquet`` and ``gpu_timeline.parquet``: the per-GPU table and timeline, only when the
  run recorded them (``SimSettings(record_gpus=True)``, ``kiban simulate --record-gpus``).

Every file is written atomically (temporary file in the same folder, then rename). Reading back
with :func:`load_result` gives an equal :class:`SimulationResult`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from kiban.errors import ConfigError, SchemaError
from kiban.ledger import LEDGER_BUCKETS, Ledger
from kiban.metrics import (
    HOST_POD_SUMMARY_UNITS,
    MIG_SUMMARY_UNITS,
    SHARING_SUMMARY_UNITS,
    SUMMARY_UNITS,
    job_times,
    summarize,
)
from kiban.physics.cost import GRID_CO2_TOKYO_KG_PER_KWH, TARIFF_HIGH_VOLTAGE, Tariff
from kiban.units import unit_of
from kiban.vocabulary import DONE, PENDING, RUNNING, UNSCHEDULABLE

if TYPE_CHECKING:
    from kiban._typing import FloatArray
    from kiban.sim.settings import RunOutput

__all__ = [
    "JOBS_COLUMNS",
    "SCENARIO_POLICY",
    "TIMESERIES_COLUMNS",
    "PreparedRun",
    "SimulationResult",
    "atomic_write_bytes",
    "downsample_timeseries",
    "load_result",
    "prepare_scenario",
    "result_of",
    "run_policies",
    "run_prepared",
]

SUMMARY_FILE = "summary.json"
JOBS_FILE = "jobs.parquet"
TIMESERIES_FILE = "timeseries.parquet"
RACKS_FILE = "racks.parquet"
LAYOUT_FILE = "layout.json"
SCENARIO_FILE = "scenario.toml"
GPUS_FILE = "gpus.parquet"
GPU_TIMELINE_FILE = "gpu_timeline.parquet"
DEFAULT_MAX_ROWS = 5000

JOBS_COLUMNS: tuple[str, ...] = (
    "job_id",
    "num_gpus",
    "queue",
    "submit_time_s",
    "start_time_s",
    "end_time_s",
    "wait_s",
    "jct_s",
    "run_s",
    "energy_j",
    "stall_s",
    "underused_s",
    "throttle_s",
    "power_cap_s",
    "failure_s",
    "checkpoint_s",
    "restarts",
    "preemptions",
    "status",
    "completed",
)
"""Columns of ``jobs.parquet`` (the contract's plus queue, run time, counts and status)."""

TIMESERIES_COLUMNS: tuple[str, ...] = (
    "time_s",
    "duration_s",
    "it_power_w",
    "cooling_power_w",
    "loss_power_w",
    "misc_power_w",
    "facility_power_w",
    "pue",
    "supply_temp_c",
    "outdoor_temp_c",
    "max_inlet_temp_c",
    "allocated_gpus",
    "busy_nodes",
    "productive_gpus",
    "io_stall_gpus",
    "underused_gpus",
    "throttled_gpus",
    "power_capped_gpus",
    "checkpoint_gpus",
    "failed_gpus",
    "queued_jobs",
    "running_jobs",
)
"""Columns of ``timeseries.parquet``; ``time_s`` is the start of each bin."""

_STATUS = {
    DONE: "completed",
    PENDING: "waiting",
    RUNNING: "running",
    UNSCHEDULABLE: "unschedulable",
}


def _umask_mode() -> int:
    """0o666 less the process umask: the mode any new file gets (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Raises:
        ConfigError: if the folder cannot be written.
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        msg = f"{path}: cannot write in {folder} ({err.strerror or err})"
        raise ConfigError(msg) from err
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_with(path: Path, writer: Callable[[Path], None]) -> None:
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def downsample_timeseries(
    columns: Mapping[str, FloatArray],
    horizon_s: float,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    min_interval_s: float = 0.0,
    max_columns: tuple[str, ...] = ("max_inlet_temp_c",),
) -> dict[str, FloatArray]:
    """Time-weighted averages of a piecewise-constant log over equal bins.

    Row i of ``columns`` holds on [t_i, t_{i+1}); the last row ends at ``horizon_s``. The bin
    width is max(horizon/max_rows, min_interval_s). Averages come from the exact cumulative
    integral at the bin edges; columns in ``max_columns`` take the maximum over the rows that
    overlap the bin instead.

    Args:
        columns: ``time_s`` plus value columns, equal lengths.
        horizon_s: End of the window (s).
        max_rows: Most bins.
        min_interval_s: Smallest bin width (s).
        max_columns: Columns reduced by maximum.

    Returns:
        ``time_s`` (bin starts), ``duration_s`` and each value column.
    """
    t = np.asarray(columns["time_s"], dtype=np.float64)
    if t.shape[0] == 0 or horizon_s <= 0:
        return {k: np.zeros(0) for k in ("time_s", "duration_s", *columns)}
    width = max(horizon_s / max(max_rows, 1), min_interval_s, 1e-9)
    n_bins = max(1, math.ceil(horizon_s / width - 1e-9))
    edges = np.minimum(np.arange(n_bins + 1) * width, horizon_s)
    edges[-1] = horizon_s
    breaks = np.append(t, max(horizon_s, float(t[-1])))
    dt = np.diff(breaks)
    out: dict[str, FloatArray] = {"time_s": edges[:-1], "duration_s": np.diff(edges)}
    row_at = np.clip(np.searchsorted(t, edges, side="right") - 1, 0, t.shape[0] - 1)
    for name, raw in columns.items():
        if name == "time_s":
            continue
        v = np.asarray(raw, dtype=np.float64)
        if name in max_columns:
            lo = row_at[:-1]
            red = np.maximum.reduceat(v, lo) if lo.shape[0] else np.zeros(0)
            nxt = row_at[1:]
            starts_inside = t[nxt] < edges[1:]
            out[name] = np.where(starts_inside, np.maximum(red, v[nxt]), red)
            continue
        cum = np.concatenate(([0.0], np.cumsum(v * dt)))
        at_edges = cum[row_at] + v[row_at] * (edges - breaks[row_at])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.diff(at_edges) / np.diff(edges)
    return out


def _units_of(names: list[str]) -> dict[str, str]:
    units = {}
    for name in names:
        unit = unit_of(name)
        if unit is not None:
            units[name] = unit
        elif name.endswith(("_gpus", "_jobs")) or name in ("num_gpus", "restarts", "preemptions"):
            units[name] = "count"
        elif name == "pue":
            units[name] = "1"
    return units


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """One policy's result, immutable and self-describing.

    Attributes:
        policy: Policy name (also the folder name).
        summary: KPIs (``summary.json``).
        jobs: Per-job table.
        timeseries: Downsampled series.
        racks: Per-rack series (long format), or None.
        layout: ``{"name": ..., "racks": [{"name", "x_m", "y_m", "row"}, ...]}``.
        scenario_toml: Text of the scenario.
        units: Column or key → unit.
        gpus: Per-GPU table (``gpus.parquet``), when the run recorded it.
        gpu_timeline: Per-GPU timeline (``gpu_timeline.parquet``), when the run recorded it.
    """

    policy: str
    summary: dict[str, Any]
    jobs: pl.DataFrame
    timeseries: pl.DataFrame
    racks: pl.DataFrame | None
    layout: dict[str, Any]
    scenario_toml: str = ""
    units: dict[str, str] = field(default_factory=dict)
    gpus: pl.DataFrame | None = None
    gpu_timeline: pl.DataFrame | None = None

    @property
    def ledger(self) -> Ledger:
        """The lost-GPU-hour ledger rebuilt from the summary (GPU-hours → GPU-seconds)."""
        s = self.summary
        h = 3600.0
        buckets = {
            k: float(s["ledger_gpu_hours"][k]) * h for k in LEDGER_BUCKETS if k != "productive"
        }
        buckets["productive"] = float(s["gpu_hours_productive"]) * h
        return Ledger(
            capacity_gpu_s=float(s["gpu_hours_capacity"]) * h,
            buckets_gpu_s=buckets,
            fragmentation_gpu_s=float(s.get("fragmentation_gpu_hours") or 0.0) * h,
        )

    @classmethod
    def from_run(
        cls,
        run: RunOutput,
        *,
        scenario_name: str = "",
        scenario_toml: str = "",
        tariff: Tariff = TARIFF_HIGH_VOLTAGE,
        co2_kg_per_kwh: float = GRID_CO2_TOKYO_KG_PER_KWH,
        max_rows: int = DEFAULT_MAX_ROWS,
        min_interval_s: float = 0.0,
        time_origin_utc: str | None = None,
    ) -> SimulationResult:
        """Build the result of a simulator run.

        Args:
            run: Simulator output.
            scenario_name: Scenario name for the summary.
            scenario_toml: Scenario text to echo.
            tariff: Electricity contract.
            co2_kg_per_kwh: Grid emission factor.
            max_rows: Most rows of the time series.
            min_interval_s: Smallest time-series bin (s).
            time_origin_utc: Wall-clock time (ISO 8601) of simulated time 0, written to
                ``summary.json`` with the per-GPU timeline.

        Returns:
            The result.
        """
        summary = summarize(
            run, scenario_name=scenario_name, tariff=tariff, co2_kg_per_kwh=co2_kg_per_kwh
        )
        times = job_times(run)
        state = run.job["state"]
        jobs = pl.DataFrame(
            {
                "job_id": [str(x) for x in run.jobs.job_id],
                "num_gpus": run.jobs.num_gpus,
                "queue": [str(x) for x in run.jobs.queue],
                "submit_time_s": run.jobs.submit_time_s,
                "start_time_s": times["start_time_s"],
                "end_time_s": times["end_time_s"],
                "wait_s": times["wait_s"],
                "jct_s": times["jct_s"],
                "run_s": run.job["run_s"],
                "energy_j": run.job["energy_j"],
                "stall_s": run.job["stall_s"],
                "underused_s": run.job["underused_s"],
                "throttle_s": run.job["throttle_s"],
                "power_cap_s": run.job["power_cap_s"],
                "failure_s": run.job["failure_s"],
                "checkpoint_s": run.job["checkpoint_s"],
                "restarts": run.job["restarts"],
                "preemptions": run.job["preemptions"],
                "status": [_STATUS.get(int(s), "not-arrived") for s in state],
                "completed": times["completed"],
            },
            nan_to_null=True,
        )
        log = dict(run.log)
        fac = run.facility
        log["cooling_power_w"] = fac.cooling_w
        log["loss_power_w"] = fac.loss_w
        log["misc_power_w"] = fac.misc_w
        log["outdoor_temp_c"] = fac.outdoor_temp_c
        log["facility_power_w"] = log["it_power_w"] + fac.cooling_w + fac.loss_w + fac.misc_w
        ts = downsample_timeseries(
            log, run.horizon_s, max_rows=max_rows, min_interval_s=min_interval_s
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ts["pue"] = np.where(
                ts["it_power_w"] > 0, ts["facility_power_w"] / ts["it_power_w"], math.nan
            )
        timeseries = pl.DataFrame({k: ts[k] for k in TIMESERIES_COLUMNS}, nan_to_null=True)
        lay = run.layout
        n_s, n_r = run.rack_power_w.shape
        racks = None
        if n_s:
            racks = pl.DataFrame(
                {
                    "time_s": np.repeat(run.rack_time_s, n_r),
                    "duration_s": np.repeat(run.rack_duration_s, n_r),
                    "rack_idx": np.tile(np.arange(n_r, dtype=np.int64), n_s),
                    "rack_name": np.tile(np.array(lay.rack_names, dtype=object), n_s).tolist(),
                    "power_w": run.rack_power_w.reshape(-1),
                    "inlet_temp_c": run.rack_inlet_temp_c.reshape(-1),
                }
            )
        gpus_per_rack = np.bincount(
            lay.node_rack_idx, weights=lay.node_n_gpus, minlength=lay.n_racks
        ).astype(np.int64)
        rack_rows: list[dict[str, Any]] = []
        for r in range(lay.n_racks):
            row: dict[str, Any] = {
                "name": lay.rack_names[r],
                "x_m": float(lay.rack_x_m[r]),
                "y_m": float(lay.rack_y_m[r]),
                "row": lay.row_names[int(lay.rack_row_idx[r])],
                "n_gpus": int(gpus_per_rack[r]),
            }
            if lay.rack_width_m is not None and lay.rack_depth_m is not None:
                row["width_m"] = float(lay.rack_width_m[r])
                row["depth_m"] = float(lay.rack_depth_m[r])
            rack_rows.append(row)
        layout = {"name": lay.name, "racks": rack_rows}
        names = list(jobs.columns) + list(timeseries.columns)
        if racks is not None:
            names += list(racks.columns)
        gpus = gpu_timeline = None
        if run.gpus is not None and run.gpu_timeline is not None:
            gpus = pl.DataFrame(run.gpus)
            gpu_timeline = pl.DataFrame(run.gpu_timeline)
            summary["time_origin_utc"] = time_origin_utc
            names += list(gpu_timeline.columns)
        units = _units_of(names) | dict(SUMMARY_UNITS)
        known = dict(SUMMARY_UNITS)
        if "fgd_fragmentation_gpu_hours" in summary:  # a run with GPU shares (issue 15)
            known |= SHARING_SUMMARY_UNITS
            units |= SHARING_SUMMARY_UNITS
        if "jobs_on_mig_instance" in summary:  # a run with MIG instances
            known |= MIG_SUMMARY_UNITS
            units |= MIG_SUMMARY_UNITS
        if "cpu_pods" in summary:  # CPU-only pods replayed on node CPU and memory
            known |= HOST_POD_SUMMARY_UNITS
            units |= HOST_POD_SUMMARY_UNITS
        summary["units"] = dict(sorted(known.items()))
        return cls(
            policy=run.policy_name,
            summary=summary,
            jobs=jobs,
            timeseries=timeseries,
            racks=racks,
            layout=layout,
            scenario_toml=scenario_toml,
            units=units,
            gpus=gpus,
            gpu_timeline=gpu_timeline,
        )

    def summary_json(self) -> str:
        """``summary.json`` text: sorted keys, stable float formatting (byte-identical per seed)."""
        return json.dumps(self.summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def save(self, directory: Path | str) -> Path:
        """Write the result files into ``directory`` (created if needed), each atomically.

        Args:
            directory: The policy's folder, usually ``DIR/<policy>``.

        Returns:
            The folder.
        """
        folder = Path(directory)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            msg = f"--out {folder}: cannot create the folder ({err.strerror or err})"
            raise ConfigError(msg) from err
        _atomic_write_with(folder / JOBS_FILE, self.jobs.write_parquet)
        _atomic_write_with(folder / TIMESERIES_FILE, self.timeseries.write_parquet)
        if self.racks is not None:
            _atomic_write_with(folder / RACKS_FILE, self.racks.write_parquet)
        if self.gpus is not None and self.gpu_timeline is not None:
            _atomic_write_with(folder / GPUS_FILE, self.gpus.write_parquet)
            _atomic_write_with(folder / GPU_TIMELINE_FILE, self.gpu_timeline.write_parquet)
        atomic_write_bytes(
            folder / LAYOUT_FILE,
            (json.dumps(self.layout, indent=2, ensure_ascii=False) + "\n").encode(),
        )
        atomic_write_bytes(folder / SCENARIO_FILE, self.scenario_toml.encode())
        # summary last: its presence marks a complete result folder
        atomic_write_bytes(folder / SUMMARY_FILE, self.summary_json().encode())
        return folder


def load_result(directory: Path | str) -> SimulationResult:
    """Read a result folder written by :meth:`SimulationResult.save`.

    Args:
        directory: ``DIR/<policy>`` (holding ``summary.json``).

    Returns:
        The result.

    Raises:
        ConfigError: if the folder or its ``summary.json`` is missing.
        SchemaError: if a file is unreadable.
    """
    folder = Path(directory)
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        msg = f"{folder}: no {SUMMARY_FILE}; expected a `kiban simulate` result folder"
        raise ConfigError(msg)
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        jobs = pl.read_parquet(folder / JOBS_FILE)
        timeseries = pl.read_parquet(folder / TIMESERIES_FILE)
        racks = pl.read_parquet(folder / RACKS_FILE) if (folder / RACKS_FILE).is_file() else None
        gpus = pl.read_parquet(folder / GPUS_FILE) if (folder / GPUS_FILE).is_file() else None
        gpu_timeline = (
            pl.read_parquet(folder / GPU_TIMELINE_FILE)
            if (folder / GPU_TIMELINE_FILE).is_file()
            else None
        )
        layout = (
            json.loads((folder / LAYOUT_FILE).read_text(encoding="utf-8"))
            if (folder / LAYOUT_FILE).is_file()
            else {}
        )
        scenario = (
            (folder / SCENARIO_FILE).read_text(encoding="utf-8")
            if (folder / SCENARIO_FILE).is_file()
            else ""
        )
    except (OSError, ValueError, pl.exceptions.PolarsError) as err:
        msg = f"{folder}: cannot read the result files ({type(err).__name__}: {err})"
        raise SchemaError(msg) from err
    names = list(jobs.columns) + list(timeseries.columns)
    if racks is not None:
        names += list(racks.columns)
    if gpu_timeline is not None:
        names += list(gpu_timeline.columns)
    return SimulationResult(
        policy=str(summary.get("policy", folder.name)),
        summary=summary,
        jobs=jobs,
        timeseries=timeseries,
        racks=racks,
        layout=layout,
        scenario_toml=scenario,
        units=_units_of(names) | dict(summary.get("units", {})),
        gpus=gpus,
        gpu_timeline=gpu_timeline,
    )


# --- running scenarios -------------------------------------------------------------------------

SCENARIO_POLICY = "scenario"
"""Policy name that means "the layered policy of the scenario's own ``[policies]`` table"."""

ProgressFn = Callable[[str, float, int], None]
"""``progress(policy, simulated_time_s, events)``."""


@dataclass(frozen=True, eq=False)
class PreparedRun:
    """Inputs shared by every policy of one scenario run (picklable for worker processes)."""

    name: str
    scenario_toml: str
    layout: Any
    jobs: Any
    settings: Any
    facility: Any
    tariff: Tariff
    interval_s: float
    spec_policies: Any
    time_origin_utc: str | None = None


def prepare_scenario(
    scenario: Any,
    *,
    scenario_toml: str = "",
    trace: str | None = None,
    seed: int | None = None,
    until_s: float | None = None,
    locality: str = "none",
    failures: bool = True,
    record_gpus: bool = False,
) -> PreparedRun:
    """Read or generate the jobs and build the cluster, facility and settings of a scenario.

    Args:
        scenario: A loaded :class:`kiban.spec.Scenario`.
        scenario_toml: Scenario text to echo into the results.
        trace: ``FORMAT:PATH`` overriding ``[workload]``.
        seed: Override ``simulation.seed``.
        until_s: Override the horizon (s).
        locality: ``none`` or ``node`` (see :class:`kiban.sim.SimSettings`).
        failures: Whether nodes fail.
        record_gpus: Keep the per-GPU timeline (``gpus.parquet``, ``gpu_timeline.parquet``).

    Returns:
        The prepared inputs (pass to :func:`run_prepared`).
    """
    import dataclasses as _dc  # noqa: PLC0415

    from kiban.sim.scenario import (  # noqa: PLC0415
        inputs_from_scenario,
        jobs_from_scenario,
        time_of_year_s,
        workload_rng,
    )

    run_seed = int(scenario.simulation.seed if seed is None else seed)
    jobs, origin, _, _ = jobs_from_scenario(scenario, workload_rng(run_seed), trace=trace)
    inputs = inputs_from_scenario(
        scenario,
        seed=run_seed,
        until_s=until_s,
        start_time_of_year_s=time_of_year_s(origin),
        failures=failures,
    )
    settings = _dc.replace(inputs.settings, locality=locality, record_gpus=record_gpus)
    return PreparedRun(
        name=inputs.name,
        scenario_toml=scenario_toml,
        layout=inputs.layout,
        jobs=jobs,
        settings=settings,
        facility=inputs.facility,
        tariff=inputs.tariff,
        interval_s=inputs.timeseries_interval_s,
        spec_policies=scenario.policies,
        time_origin_utc=_iso_utc(origin),
    )


def _iso_utc(origin: Any) -> str | None:
    """ISO 8601 UTC text of a trace's time origin (naive times are taken as UTC), or None."""
    if origin is None:
        return None
    from datetime import UTC  # noqa: PLC0415

    when = origin.replace(tzinfo=UTC) if origin.tzinfo is None else origin.astimezone(UTC)
    return str(when.isoformat())


def run_prepared(
    prepared: PreparedRun,
    policy: str,
    params: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Run one policy on prepared inputs and build its result.

    Args:
        prepared: From :func:`prepare_scenario`.
        policy: Registered policy name, or ``scenario`` for the scenario's own ``[policies]``.
        params: Policy parameters.
        progress: Optional ``progress(policy, simulated_time_s, events)``.

    Returns:
        The result (not yet saved).
    """
    from kiban.policies.layered import policy_from_spec  # noqa: PLC0415
    from kiban.policies.registry import make_policy  # noqa: PLC0415
    from kiban.sim.simulator import Simulator  # noqa: PLC0415

    if policy == SCENARIO_POLICY:
        pol = policy_from_spec(prepared.spec_policies, SCENARIO_POLICY)
    else:
        pol = make_policy("policy", policy, params)
    sim = Simulator(
        prepared.layout,
        prepared.jobs,
        pol,
        settings=prepared.settings,
        facility=prepared.facility,
    )
    callback = None
    if progress is not None:
        name = pol.name

        def callback(t_s: float, events: int) -> None:
            progress(name, t_s, events)

    return result_of(prepared, sim.run(callback))


def result_of(prepared: PreparedRun, run: RunOutput) -> SimulationResult:
    """The result of a run on prepared inputs (scenario name and text, tariff, bin width).

    Args:
        prepared: From :func:`prepare_scenario`.
        run: What the simulator returned for it.

    Returns:
        The result (not yet saved).
    """
    return SimulationResult.from_run(
        run,
        scenario_name=prepared.name,
        scenario_toml=prepared.scenario_toml,
        tariff=prepared.tariff,
        co2_kg_per_kwh=prepared.tariff.co2_kg_per_kwh,
        min_interval_s=prepared.interval_s,
        time_origin_utc=prepared.time_origin_utc,
    )


def _run_in_worker(args: tuple[PreparedRun, str]) -> SimulationResult:
    prepared, policy = args
    return run_prepared(prepared, policy)


def run_policies(
    prepared: PreparedRun,
    policies: list[str],
    *,
    workers: int = 1,
    progress: ProgressFn | None = None,
    on_done: Callable[[SimulationResult], None] | None = None,
) -> list[SimulationResult]:
    """Run several policies on the same prepared inputs, in order or in worker processes.

    Results do not depend on ``workers``: each policy's run is seeded the same way.

    Args:
        prepared: From :func:`prepare_scenario`.
        policies: Policy names.
        workers: Processes to use (1 runs in this process, with ``progress``).
        progress: Per-event progress callback (only with ``workers == 1``).
        on_done: Called with each result as it finishes.

    Returns:
        Results in the order of ``policies``.
    """
    if workers <= 1 or len(policies) <= 1:
        results = []
        for name in policies:
            result = run_prepared(prepared, name, progress=progress)
            if on_done is not None:
                on_done(result)
            results.append(result)
        return results
    import concurrent.futures as cf  # noqa: PLC0415
    import multiprocessing as mp  # noqa: PLC0415

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    done: dict[str, SimulationResult] = {}
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(policies)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_in_worker, (prepared, name)): name for name in policies}
        for fut in cf.as_completed(futures):
            result = fut.result()
            done[futures[fut]] = result
            if on_done is not None:
                on_done(result)
    return [done[name] for name in policies]
