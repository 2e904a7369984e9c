"""Sweeps on a real ``dask.distributed`` LocalCluster (two worker processes, no mocks).

A worker is killed midway; the sweep must still finish with every run present exactly once and
results identical to the local executor's for the same seeds.
"""

from __future__ import annotations

import os
import signal
import time

import polars as pl
import pytest
from tests.sweep.helpers import assert_same_results, copy_inputs, run_folders, write_trace
from typer.testing import CliRunner

from kiban.cli import _load_commands, app
from kiban.sweep import DaskExecutor, LocalExecutor, load_sweep, run_sweep

if os.environ.get("CI") == "true":
    import distributed  # in CI the dask extra is installed: a missing one fails
else:
    distributed = pytest.importorskip("distributed")

_load_commands()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=50,
    ) as c:
        yield c


def _worker_pids(address: str) -> dict[str, int]:
    with distributed.Client(address, timeout="20s") as client:
        return client.run(os.getpid)


def test_dask_sweep_survives_a_killed_worker_and_matches_local(tmp_path, cluster):
    write_trace(tmp_path / "jobs.parquet")
    sweep = copy_inputs(tmp_path)  # 2 policies x 2 supply temperatures x 2 seeds = 8 runs
    sweep.write_text('trace = "kiban:jobs.parquet"\n' + sweep.read_text())
    spec = load_sweep(sweep)
    local = tmp_path / "local"
    run_sweep(spec, local, LocalExecutor(2))

    address = cluster.scheduler_address
    before = _worker_pids(address)
    assert len(before) == 2
    killed: list[tuple[int, list[str]]] = []
    watcher = distributed.Client(address, timeout="20s")

    def kill_midway(progress):
        # Kill the worker that is running one of our runs right now (SIGKILL: no clean-up).
        if progress.done == 1 and not killed:
            busy = {a: list(keys) for a, keys in watcher.processing().items() if keys}
            addr = next(iter(busy), next(iter(before)))
            os.kill(before[addr], signal.SIGKILL)
            killed.append((before[addr], busy.get(addr, [])))

    executor = DaskExecutor(address)
    assert executor.workers == 2
    out = tmp_path / "dask"
    try:
        summary = run_sweep(spec, out, executor, on_progress=kill_midway)
    finally:
        watcher.close()
    assert killed
    victim, running = killed[0]
    assert any(str(k).startswith("kiban-sweep-r-") for k in running), running
    assert (summary.total, summary.ok, summary.failed, summary.missing) == (8, 8, 0, 0)
    folders = run_folders(out)
    assert len(folders) == 8
    assert len({p.name for p in folders}) == 8
    assert not list((out / "runs").glob(".tmp-*"))
    table = pl.read_parquet(out / "runs.parquet")
    assert table.height == 8
    assert table["run_id"].n_unique() == 8
    assert_same_results(local, out)
    # The nanny replaced the killed worker; the cluster we were given is left running.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = _worker_pids(address)
        if len(pids) == 2 and victim not in pids.values():
            break
        time.sleep(0.5)
    assert victim not in _worker_pids(address).values()


def test_cli_cluster_address_and_resume(tmp_path, cluster):
    sweep = copy_inputs(
        tmp_path,
        'scenario = "tiny.toml"\nuntil = "6h"\nseeds = [1]\n'
        '[axes]\npolicy = ["fifo-static", "easy-backfill"]\n',
    )
    host_port = cluster.scheduler_address.removeprefix("tcp://")
    out = tmp_path / "out"
    args = ["sweep", str(sweep), "--out", str(out), "--cluster", f"dask://{host_port}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "running 2 (dask, 2 worker(s))" in res.output
    assert "[2/2] ok" in res.output
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2 of 2 runs already done; running 0" in res.output


def test_dask_executor_stops_the_local_cluster_it_started():
    executor = DaskExecutor(None, workers=1)
    cluster = executor._cluster
    assert cluster.status.name == "running"
    executor.close()
    assert cluster.status.name == "closed"
