"""Sweeps on the local process executor: run folders, resume, failures, a worker killed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal

import polars as pl
import pyarrow.parquet as pq
import tomli_w
from tests.sweep.helpers import (
    assert_same_results,
    copy_inputs,
    run_folders,
    summary_of,
    write_trace,
)
from typer.testing import CliRunner

from kiban.cli import _load_commands, app
from kiban.sweep import LocalExecutor, load_sweep, run_sweep, worker
from kiban.sweep.spec import scenario_for_point

_load_commands()
SMALL = (
    'scenario = "tiny.toml"\nuntil = "12h"\nseeds = [1, 2]\n'
    '[axes]\npolicy = ["fifo-static", "easy-backfill"]\n'
)


def test_each_run_is_the_kiban_simulate_command_it_records(tmp_path, monkeypatch):
    write_trace(tmp_path / "jobs.parquet")
    sweep = copy_inputs(tmp_path, SMALL + '"cooling.supply_temp_c" = [20]\n')
    sweep.write_text('trace = "kiban:jobs.parquet"\n' + sweep.read_text())
    out = tmp_path / "out"
    summary = run_sweep(load_sweep(sweep), out, LocalExecutor(2))
    assert (summary.total, summary.ok, summary.failed, summary.missing) == (4, 4, 0, 0)
    assert (out / "inputs" / "trace.parquet").is_file()
    table = pl.read_parquet(out / "runs.parquet")
    assert table.height == 4
    assert table["run_id"].n_unique() == 4
    for col in ("policy", "cooling.supply_temp_c", "seed", "status", "error", "run_wall_time_s",
                "effective_util_frac", "pue", "ledger_io_stall_gpu_hours",
                "ledger_queue_blocked_gpu_hours", "wall_time_s"):  # fmt: skip
        assert col in table.columns, col
    assert set(table["status"]) == {"ok"}
    # Replay one run with the command its run.json records, from the sweep folder.
    row = table.row(0, named=True)
    record = json.loads((out / row["run_dir"] / "run.json").read_text())
    argv = shlex.split(record["command"])
    assert argv[:2] == ["kiban", "simulate"]
    argv[argv.index("--out") + 1] = str(tmp_path / "replay")
    monkeypatch.chdir(out)
    res = CliRunner().invoke(app, argv[1:])
    assert res.exit_code == 0, res.output
    folder = out / row["run_dir"] / row["policy"]
    replay = tmp_path / "replay" / row["policy"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in replay.iterdir())
    assert summary_of(folder) == summary_of(replay)
    assert pl.read_parquet(folder / "jobs.parquet").equals(pl.read_parquet(replay / "jobs.parquet"))
    assert row["effective_util_frac"] == summary_of(folder)["effective_util_frac"]


def test_resume_runs_only_what_is_missing_and_never_trusts_a_half_written_folder(tmp_path):
    spec = load_sweep(copy_inputs(tmp_path, SMALL))
    out = tmp_path / "out"
    run_sweep(spec, out, LocalExecutor(2))
    first = {p.name: (p / "run.json").stat().st_mtime_ns for p in run_folders(out)}
    gone = sorted(first)[0]
    victim = out / "runs" / gone
    # An interrupted commit leaves only a .tmp- folder with some of the files.
    half = out / "runs" / f".tmp-{gone}-123-456"
    (half / "fifo-static").mkdir(parents=True)
    (victim / "fifo-static" / "jobs.parquet").rename(half / "fifo-static" / "jobs.parquet")
    for p in sorted(victim.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    victim.rmdir()
    summary = run_sweep(spec, out, LocalExecutor(2))
    assert summary.ran == 1
    assert (summary.ok, summary.missing) == (4, 0)
    assert not list((out / "runs").glob(".tmp-*"))
    again = {p.name: (p / "run.json").stat().st_mtime_ns for p in run_folders(out)}
    assert {k: v for k, v in again.items() if k != gone} == {
        k: v for k, v in first.items() if k != gone
    }
    assert pl.read_parquet(out / "runs.parquet")["status"].to_list() == ["ok"] * 4


def test_a_failed_run_is_recorded_and_the_others_finish(tmp_path):
    write_trace(tmp_path / "jobs.parquet")
    sweep = copy_inputs(
        tmp_path,
        'scenario = "tiny.toml"\nuntil = "6h"\nseeds = [1]\n[axes]\n'
        f'"workload.trace" = ["kiban:{tmp_path}/jobs.parquet", "kiban:{tmp_path}/gone.parquet"]\n',
    )
    tiny = tmp_path / "tiny.toml"
    text = tiny.read_text().replace("[workload.synthetic]\nn_jobs = 60\nscale = 1.0\n", "")
    tiny.write_text(text + '\n[workload]\ntrace = "kiban:jobs.parquet"\n')
    spec = load_sweep(sweep)
    out = tmp_path / "out"
    summary = run_sweep(spec, out, LocalExecutor(2))
    assert (summary.ok, summary.failed) == (1, 1)
    table = pl.read_parquet(out / "runs.parquet")
    failed = table.filter(pl.col("status") == "failed").row(0, named=True)
    assert "TraceError" in failed["error"]
    assert "gone.parquet" in failed["error"]
    assert failed["effective_util_frac"] is None
    assert json.loads((out / failed["run_dir"] / "run.json").read_text())["status"] == "failed"
    assert run_sweep(spec, out, LocalExecutor(2)).ran == 0
    assert run_sweep(spec, out, LocalExecutor(2), retry_failed=True).ran == 1


def test_a_local_worker_killed_midway_loses_no_run(tmp_path):
    spec = load_sweep(copy_inputs(tmp_path))  # 8 runs
    clean = tmp_path / "clean"
    run_sweep(spec, clean, LocalExecutor(2))
    executor = LocalExecutor(2)
    killed: list[int] = []

    def kill_one(progress):
        pool = executor._pool
        if progress.done == 1 and not killed and pool is not None:
            pid = next(iter(pool._processes))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = tmp_path / "out"
    summary = run_sweep(spec, out, executor, on_progress=kill_one)
    assert killed
    assert (summary.total, summary.ok, summary.missing) == (8, 8, 0)
    assert len(run_folders(out)) == 8
    assert_same_results(clean, out)


def test_the_shared_trace_is_parsed_once_per_worker(tmp_path, monkeypatch):
    data = write_trace(tmp_path / "jobs.parquet").read_bytes()
    trace = worker.SharedTrace(hashlib.sha256(data).hexdigest(), data)
    spec = load_sweep(copy_inputs(tmp_path, SMALL))
    text = tomli_w.dumps(scenario_for_point(spec, {})[0])
    monkeypatch.setattr(worker, "_state", {})
    reads: list[object] = []
    read_table = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: reads.append(a) or read_table(*a, **k))
    outcomes = [
        worker.execute_run(
            worker.RunTask(
                f"r-{seed}",
                text,
                "fifo-static",
                {},
                seed,
                6 * 3600.0,
                "none",
                True,
                shared_trace=trace.sha256,
            ),
            trace,
        )
        for seed in (1, 2, 1)
    ]
    assert [o.status for o in outcomes] == ["ok"] * 3, outcomes
    assert len(reads) == 1
    assert outcomes[0].summary["jobs_total"] == 60
    first, third = (dict(o.summary) for o in (outcomes[0], outcomes[2]))
    for key in ("wall_time_s", "jobs_per_s", "events_per_s"):
        first.pop(key), third.pop(key)
    assert first == third
