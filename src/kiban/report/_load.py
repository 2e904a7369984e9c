"""Read simulation result directories (``DIR/<policy>/``) as laid out in docs/contracts.md."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from kiban.errors import ConfigError, SchemaError

SUMMARY_FILE = "summary.json"
JOBS_FILE = "jobs.parquet"
TIMESERIES_FILE = "timeseries.parquet"
RACKS_FILE = "racks.parquet"
LAYOUT_FILE = "layout.json"
SCENARIO_FILE = "scenario.toml"

JOBS_COLUMNS = ("jct_s", "wait_s")
TIMESERIES_COLUMNS = (
    "time_s",
    "it_power_w",
    "cooling_power_w",
    "loss_power_w",
    "facility_power_w",
    "pue",
    "allocated_gpus",
    "productive_gpus",
    "queued_jobs",
)
RACKS_COLUMNS = ("time_s", "rack_idx", "inlet_temp_c")


@dataclass(frozen=True)
class RackPlace:
    """One rack's name and floor position (centre, metres)."""

    name: str
    x_m: float
    y_m: float
    width_m: float | None = None
    depth_m: float | None = None


@dataclass(frozen=True)
class RunData:
    """The files of one policy's result directory, read and checked.

    Attributes:
        path: the directory.
        label: the name shown in reports (the policy, disambiguated if two runs share it).
        summary: ``summary.json`` as a dict.
        jobs: ``jobs.parquet``.
        timeseries: ``timeseries.parquet``, sorted by time.
        racks: ``racks.parquet`` or None.
        layout: rack places from ``layout.json`` (indexed like ``rack_idx``) or None.
        scenario_toml: the text of ``scenario.toml`` ("" if absent).
    """

    path: Path
    label: str
    summary: dict[str, Any]
    jobs: pl.DataFrame
    timeseries: pl.DataFrame
    racks: pl.DataFrame | None
    layout: tuple[RackPlace, ...] | None
    scenario_toml: str

    def num(self, key: str) -> float | None:
        """A numeric summary value, or None when missing or not a finite number."""
        return summary_num(self.summary, key)


def summary_num(summary: dict[str, Any], key: str) -> float | None:
    """Return ``summary[key]`` as a float, or None if absent, null, non-numeric or non-finite."""
    value = summary.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _is_run_dir(path: Path) -> bool:
    return (path / SUMMARY_FILE).is_file()


def _policy_order(path: Path) -> tuple[int, str]:
    """Baseline policies first, in the order the demo shows them; any other policy by name."""
    from kiban.policies.baselines import BASELINES  # noqa: PLC0415 (only for this ordering)

    name = path.name
    return (BASELINES.index(name) if name in BASELINES else len(BASELINES), name)


def resolve_result_dirs(dirs: Sequence[Path | str]) -> list[Path]:
    """Expand each argument into policy result directories.

    A directory holding ``summary.json`` is one run; a directory whose sub-directories hold
    ``summary.json`` (``DIR/<policy>/``) gives each of them: the baseline policies first, in the
    order ``kiban demo`` shows them (``fifo-static`` is the reference), then the others by name.

    Raises:
        ConfigError: if no directory was given, or one is neither kind.
    """
    if not dirs:
        msg = "no result directory given; pass DIR (holding summary.json) or DIR/<policy>/"
        raise ConfigError(msg)
    found: list[Path] = []
    for raw in dirs:
        path = Path(raw)
        if not path.is_dir():
            msg = f"{path}: not a directory; expected a simulation result directory"
            raise ConfigError(msg)
        if _is_run_dir(path):
            found.append(path)
            continue
        subs = sorted(
            (p for p in path.iterdir() if p.is_dir() and _is_run_dir(p)), key=_policy_order
        )
        if not subs:
            msg = (
                f"{path}: no {SUMMARY_FILE} in it or in any sub-directory; expected the output "
                "of `kiban simulate` (DIR/<policy>/summary.json)"
            )
            raise ConfigError(msg)
        found.extend(subs)
    return found


def _read_parquet(path: Path, required: Sequence[str]) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as err:  # polars raises several kinds for a broken file
        msg = f"{path}: cannot read parquet ({type(err).__name__}: {err})"
        raise SchemaError(msg) from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        msg = (
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(required)} (docs/contracts.md 'Simulation results')"
        )
        raise SchemaError(msg)
    return frame


def _read_layout(path: Path) -> tuple[RackPlace, ...]:
    """Accept ``{"racks": [{name, x_m, y_m, ...}]}``, a bare list, or a dict of columns."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        msg = f"{path}: not valid JSON ({err})"
        raise SchemaError(msg) from err
    rows: Any = raw.get("racks", raw) if isinstance(raw, dict) else raw
    if isinstance(rows, dict):  # columns -> rows
        names: list[Any] = list(rows.get("rack_name") or rows.get("name") or [])
        rows = [
            {k: rows[k][i] for k in rows if isinstance(rows[k], list)} | {"name": names[i]}
            for i in range(len(names))
        ]
    places: list[RackPlace] = []
    if not isinstance(rows, list):
        rows = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            msg = f"{path}: racks[{i}] = {row!r} must be an object with name, x_m, y_m"
            raise SchemaError(msg)
        try:
            places.append(
                RackPlace(
                    name=str(row.get("name", row.get("rack_name", f"#{i}"))),
                    x_m=float(row["x_m"]),
                    y_m=float(row["y_m"]),
                    width_m=float(row["width_m"]) if row.get("width_m") is not None else None,
                    depth_m=float(row["depth_m"]) if row.get("depth_m") is not None else None,
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            msg = f"{path}: racks[{i}] needs numeric x_m and y_m (got {row!r})"
            raise SchemaError(msg) from err
    if not places:
        msg = f"{path}: no racks found; expected {{'racks': [{{'name', 'x_m', 'y_m'}}, ...]}}"
        raise SchemaError(msg)
    return tuple(places)


def load_run(path: Path, label: str | None = None) -> RunData:
    """Read one policy's result directory.

    Raises:
        ConfigError: if ``summary.json`` is missing.
        SchemaError: if a file is unreadable or lacks a required column.
    """
    summary_path = path / SUMMARY_FILE
    if not summary_path.is_file():
        msg = f"{path}: no {SUMMARY_FILE}; expected a `kiban simulate` result directory"
        raise ConfigError(msg)
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        msg = f"{summary_path}: not valid JSON ({err})"
        raise SchemaError(msg) from err
    if not isinstance(summary, dict):
        msg = f"{summary_path}: must hold a JSON object of KPIs, got {type(summary).__name__}"
        raise SchemaError(msg)
    for name in (JOBS_FILE, TIMESERIES_FILE):
        if not (path / name).is_file():
            msg = (
                f"{path}: no {name}; a result directory holds summary.json, jobs.parquet "
                "and timeseries.parquet"
            )
            raise ConfigError(msg)
    jobs = _read_parquet(path / JOBS_FILE, JOBS_COLUMNS)
    timeseries = _read_parquet(path / TIMESERIES_FILE, TIMESERIES_COLUMNS).sort("time_s")
    racks = None
    layout = None
    if (path / RACKS_FILE).is_file() and (path / LAYOUT_FILE).is_file():
        racks = _read_parquet(path / RACKS_FILE, RACKS_COLUMNS)
        layout = _read_layout(path / LAYOUT_FILE)
    scenario_path = path / SCENARIO_FILE
    scenario_toml = scenario_path.read_text(encoding="utf-8") if scenario_path.is_file() else ""
    policy = str(summary.get("policy") or path.name)
    return RunData(
        path=path,
        label=label or policy,
        summary=summary,
        jobs=jobs,
        timeseries=timeseries,
        racks=racks,
        layout=layout,
        scenario_toml=scenario_toml,
    )


def _scenario_key(run: RunData) -> tuple[str, str, float | None, float | None, float | None]:
    s = run.summary
    total = summary_num(s, "jobs_total")
    # Jobs that arrived before the horizon: the same for every policy of one run (arrivals do not
    # depend on the policy), different when runs were cut at different times (--until).
    arrived = None if total is None else total - (summary_num(s, "jobs_not_arrived") or 0.0)
    return (str(s.get("scenario_name") or ""), run.scenario_toml, summary_num(s, "seed"), total,
            arrived)  # fmt: skip


def is_measured(run: RunData) -> bool:
    """True for a diagnosis of a real cluster's telemetry rather than a simulated run."""
    return bool(run.summary.get("source")) and run.summary.get("seed") is None


def check_same_scenario(runs: Sequence[RunData]) -> None:
    """Refuse to compare runs of different scenarios (different jobs, site, seed or horizon).

    A diagnosed real cluster (``kiban diagnose``, its summary names the telemetry ``source``) has
    no scenario: it is what a twin is compared against, so it joins any group of simulated runs.

    Raises:
        ConfigError: naming each scenario, its runs and folders, and what differs.
    """
    groups: dict[tuple[str, str, float | None, float | None, float | None], list[RunData]] = {}
    for run in runs:
        if is_measured(run):
            continue
        groups.setdefault(_scenario_key(run), []).append(run)
    if len(groups) <= 1:
        return
    keys = list(groups)
    fields = ("scenario name", "scenario file", "seed", "number of jobs", "horizon (jobs arrived)")
    differs = [f for i, f in enumerate(fields) if len({k[i] for k in keys}) > 1]
    parts = []
    for key, members in groups.items():
        folders = sorted({str(r.path.parent) for r in members})
        policies = ", ".join(r.label for r in members)
        parts.append(f"{key[0] or '(unnamed)'} [{policies}] in {', '.join(folders)}")
    msg = (
        f"these results come from {len(groups)} different scenarios ({', '.join(differs)} "
        f"differ{'s' if len(differs) == 1 else ''}): {'; '.join(parts)}. Policies can only be "
        "compared on the same jobs and site: run `kiban report` once per scenario"
    )
    raise ConfigError(msg)


def load_runs(dirs: Sequence[Path | str]) -> list[RunData]:
    """Resolve and read every result directory; duplicate policy names get the parent's name.

    Raises:
        ConfigError: a directory holds no results, or the runs come from different scenarios.
    """
    paths = resolve_result_dirs(dirs)
    runs = [load_run(p) for p in paths]
    check_same_scenario(runs)
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
    out: list[RunData] = []
    for run in runs:
        if counts[run.label] > 1:
            out.append(dataclasses.replace(run, label=f"{run.label} ({run.path.parent.name})"))
        else:
            out.append(run)
    return out
