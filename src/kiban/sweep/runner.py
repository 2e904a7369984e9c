"""Run a sweep into a folder, resumably, and keep its table of runs.

Layout of ``DIR``::

    DIR/sweep.json            what was swept (axes, seeds, the sweep file, counts)
    DIR/sweep.toml            the sweep file as given
    DIR/runs.parquet          one row per planned run (axis values, seed, status, metrics)
    DIR/inputs/trace.parquet  the shared trace as a canonical jobs table (when there is one)
    DIR/runs/<run_id>/        one run: run.json, scenario.toml and <policy>/ as
                              `kiban simulate --out DIR/runs/<run_id>` writes it

A run folder appears in one rename, after every file in it is written, so a folder that exists
is a finished run; ``.tmp-*`` folders are leftovers of an interrupted sweep and are removed at
the next start. Running the same command again skips finished runs (a failed run is finished
too, unless ``retry_failed``) and runs the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from kiban._version import __version__
from kiban.errors import ConfigError
from kiban.results import atomic_write_bytes
from kiban.sweep.executors import Executor
from kiban.sweep.spec import RunPoint, SweepSpec, plan_runs, scenario_for_point
from kiban.sweep.table import row_for_run, write_runs_table
from kiban.sweep.worker import (
    STATUS_FAILED,
    STATUS_LOST,
    STATUS_OK,
    RunOutcome,
    RunTask,
    SharedTrace,
)

__all__ = ["SweepProgress", "SweepSummary", "run_sweep", "shared_trace_for"]

RUNS_DIR = "runs"
RUN_FILE = "run.json"
SWEEP_FILE = "sweep.json"
TABLE_FILE = "runs.parquet"
TRACE_FILE = "trace.parquet"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
TABLE_REFRESH_S = 10.0
"""While a sweep runs, ``runs.parquet`` is rewritten at most this often (and at the end)."""


@dataclass
class SweepProgress:
    """Counts the progress display shows; updated as runs finish.

    Attributes:
        total: Planned runs.
        done_before: Runs already finished when this sweep started (resumed).
        to_run: Runs this sweep executes.
        done: Runs finished by this sweep (ok or failed).
        failed: Of those, failed.
        lost: Runs not finished because their workers died (retried next time).
        started_s: ``time.perf_counter()`` at the first submission.
        last: The outcome that just finished.
        last_point: Its axis values and seed.
        workers: Worker processes of the executor.
    """

    total: int
    done_before: int
    to_run: int
    done: int = 0
    failed: int = 0
    lost: int = 0
    started_s: float = field(default_factory=time.perf_counter)
    last: RunOutcome | None = None
    last_point: RunPoint | None = None
    workers: int = 1

    def eta_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first run finishes)."""
        finished = self.done + self.lost
        if finished == 0:
            return None
        rate = (time.perf_counter() - self.started_s) / finished
        return rate * (self.to_run - finished)


@dataclass(frozen=True)
class SweepSummary:
    """How a sweep ended.

    Attributes:
        out: The sweep folder.
        total: Planned runs.
        ok: Runs finished without error (all, including earlier sweeps).
        failed: Failed runs (recorded with their error).
        missing: Runs not finished (interrupted, or lost with their workers).
        ran: Runs executed by this call.
        wall_time_s: Wall time of this call.
        interrupted: The sweep was stopped (Ctrl-C, SIGTERM) before the end.
    """

    out: Path
    total: int
    ok: int
    failed: int
    missing: int
    ran: int
    wall_time_s: float
    interrupted: bool = False


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``DIR/.lock`` so two sweeps never write one folder at the same time."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = (out / LOCK_FILE).open("a")
    except OSError as err:
        msg = f"--out {out}: cannot create the folder ({err.strerror or err})"
        raise ConfigError(msg) from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            msg = f"--out {out}: another kiban sweep is writing this folder"
            raise ConfigError(msg) from None
        yield
    finally:
        fh.close()


def _trace_spec(spec: SweepSpec) -> str | None:
    if any(k.split(".")[0] == "workload" for k in spec.axes):
        return None  # the workload itself is swept: each run reads its own
    return spec.trace if spec.trace is not None else spec.scenario.workload.trace


def shared_trace_for(spec: SweepSpec, out: Path) -> SharedTrace | None:
    """Read the sweep's trace once into ``DIR/inputs/trace.parquet`` (reused when unchanged).

    A trace in another format is converted the way ``kiban trace convert`` does (job-model
    columns drawn with seed 0), so every run replays the same table; a synthetic workload has
    no shared trace (each seed generates its own jobs).

    Returns:
        The parquet bytes and their hash, or None.
    """
    from kiban.workload import parse_trace_spec, read_trace, write_jobs_parquet  # noqa: PLC0415

    source = _trace_spec(spec)
    if source is None:
        return None
    fmt, path = parse_trace_spec(source)
    stat = path.stat()
    stamp = {"source": source, "size_b": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    target = out / "inputs" / TRACE_FILE
    stamp_file = target.with_suffix(".json")
    if target.is_file() and stamp_file.is_file():
        with contextlib.suppress(OSError, ValueError):
            if json.loads(stamp_file.read_text(encoding="utf-8")) == stamp:
                data = target.read_bytes()
                return SharedTrace(hashlib.sha256(data).hexdigest(), data)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "kiban":
        data = path.read_bytes()
        atomic_write_bytes(target, data)
    else:
        result = read_trace(source, skip_bad=spec.scenario.workload.skip_bad)
        write_jobs_parquet(result.jobs, target, origin=result.origin, source=source)
        data = target.read_bytes()
    atomic_write_bytes(stamp_file, (json.dumps(stamp, indent=2) + "\n").encode())
    return SharedTrace(hashlib.sha256(data).hexdigest(), data)


def _fingerprint(spec: SweepSpec, trace: SharedTrace | None) -> str:
    blob = {
        "scenario": spec.base_data,
        "trace": trace.sha256 if trace else _trace_spec(spec),
        "until_s": spec.until_s,
        "locality": spec.locality,
        "failures": spec.failures,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _read_run(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _command(spec: SweepSpec, point: RunPoint, run_dir: str, trace: bool) -> str:
    parts = ["kiban simulate", f"{run_dir}/scenario.toml", "--policy", point.policy]
    parts += ["--seed", str(point.seed)]
    if trace:
        parts += ["--trace", f"kiban:inputs/{TRACE_FILE}"]
    if spec.until_s is not None:
        parts += ["--until", f"{spec.until_s:g}"]
    if spec.locality != "none":
        parts += ["--locality", spec.locality]
    if not spec.failures:
        parts.append("--no-failures")
    parts += ["--out", run_dir]
    return " ".join(parts)


def _commit(runs_dir: Path, point: RunPoint, outcome: RunOutcome, record: dict[str, Any]) -> None:
    """Write the run's files into a temporary folder, then rename it into place."""
    final = runs_dir / point.run_id
    tmp = runs_dir / f"{TMP_PREFIX}{point.run_id}-{os.getpid()}-{time.monotonic_ns()}"
    tmp.mkdir(parents=True)
    try:
        for rel, data in outcome.files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (tmp / RUN_FILE).write_text(
            json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )
        if final.exists():  # an earlier failed record being retried
            old = runs_dir / f"{TMP_PREFIX}old-{point.run_id}-{time.monotonic_ns()}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_manifest(
    out: Path, spec: SweepSpec, plan: list[RunPoint], counts: dict[str, int]
) -> None:
    manifest = {
        "name": spec.name,
        "description": spec.description,
        "sweep_file": str(spec.path),
        "scenario_file": str(spec.scenario_path),
        "scenario_name": spec.scenario.name or spec.scenario_path.stem,
        "combine": spec.combine,
        "axes": spec.axes,
        "seeds": list(spec.seeds),
        "until_s": spec.until_s,
        "locality": spec.locality,
        "failures": spec.failures,
        "n_runs": len(plan),
        "counts": counts,
        "kiban_version": __version__,
    }
    atomic_write_bytes(
        out / SWEEP_FILE, (json.dumps(manifest, indent=2, default=str) + "\n").encode()
    )
    atomic_write_bytes(out / "sweep.toml", spec.text.encode("utf-8"))


def run_sweep(
    spec: SweepSpec,
    out: Path | str,
    executor: Executor,
    *,
    retry_failed: bool = False,
    on_progress: Callable[[SweepProgress], None] | None = None,
) -> SweepSummary:
    """Run every missing run of ``spec`` into ``out`` and write ``out/runs.parquet``.

    Stops cleanly on KeyboardInterrupt (Ctrl-C; the CLI turns SIGTERM into one): the executor is
    closed (its workers stopped), finished runs stay, and the table is written before the
    interrupt goes on.

    Args:
        spec: From :func:`kiban.sweep.load_sweep`.
        out: The sweep folder.
        executor: Where runs execute; closed before this returns.
        retry_failed: Run failed runs again (otherwise a recorded failure counts as done).
        on_progress: Called before the first run and after each run finishes.

    Returns:
        The counts.
    """
    out = Path(out)
    t0 = time.perf_counter()
    with _locked(out):
        runs_dir = out / RUNS_DIR
        runs_dir.mkdir(exist_ok=True)
        for stale in runs_dir.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        trace = shared_trace_for(spec, out)
        plan = plan_runs(spec, _fingerprint(spec, trace))
        records: dict[str, dict[str, Any]] = {}
        todo: list[RunPoint] = []
        for point in plan:
            record = _read_run(runs_dir / point.run_id)
            if record is not None and (record.get("status") == STATUS_OK or not retry_failed):
                records[point.run_id] = record
            else:
                todo.append(point)
        progress = SweepProgress(
            total=len(plan),
            done_before=len(records),
            to_run=len(todo),
            workers=executor.workers,
        )
        by_id = {p.run_id: p for p in todo}
        tasks: list[RunTask] = []
        invalid: list[RunOutcome] = []
        for point in todo:
            try:
                data, _ = scenario_for_point(spec, point.overrides)
            except ConfigError as err:
                invalid.append(
                    RunOutcome(
                        point.run_id, STATUS_FAILED, "ConfigError: " + "; ".join(err.problems)
                    )
                )
                continue
            tasks.append(
                RunTask(
                    run_id=point.run_id,
                    scenario_toml=tomli_w.dumps(data),
                    policy=point.policy,
                    params=point.params,
                    seed=point.seed,
                    until_s=spec.until_s,
                    locality=spec.locality,
                    failures=spec.failures,
                    shared_trace=trace.sha256 if trace else None,
                )
            )
        counts = write_runs_table(out / TABLE_FILE, plan, records)
        _write_manifest(out, spec, plan, counts)
        if on_progress is not None:
            on_progress(progress)
        interrupted = False
        last_table_s = time.perf_counter()

        def finish(outcome: RunOutcome) -> None:
            point = by_id[outcome.run_id]
            progress.last, progress.last_point = outcome, point
            if outcome.status == STATUS_LOST:
                progress.lost += 1
            else:
                rel = f"{RUNS_DIR}/{point.run_id}"
                record = row_for_run(point, outcome, run_dir=rel)
                record["command"] = _command(spec, point, rel, trace is not None)
                _commit(runs_dir, point, outcome, record)
                records[point.run_id] = record
                progress.done += 1
                progress.failed += outcome.status == STATUS_FAILED
            nonlocal last_table_s
            if time.perf_counter() - last_table_s > TABLE_REFRESH_S:  # a report can follow along
                write_runs_table(out / TABLE_FILE, plan, records)
                last_table_s = time.perf_counter()
            if on_progress is not None:
                on_progress(progress)

        try:
            progress.started_s = time.perf_counter()
            for outcome in invalid:
                finish(outcome)
            if tasks:
                for outcome in executor.run(tasks, trace):
                    finish(outcome)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            executor.close()
            counts = write_runs_table(out / TABLE_FILE, plan, records)
            _write_manifest(out, spec, plan, counts)
            summary = SweepSummary(
                out=out,
                total=len(plan),
                ok=counts.get(STATUS_OK, 0),
                failed=counts.get(STATUS_FAILED, 0),
                missing=len(plan) - counts.get(STATUS_OK, 0) - counts.get(STATUS_FAILED, 0),
                ran=progress.done,
                wall_time_s=time.perf_counter() - t0,
                interrupted=interrupted,
            )
    return summary
