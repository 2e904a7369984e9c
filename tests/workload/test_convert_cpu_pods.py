"""``kiban trace convert`` keeps openb's CPU-only pods (issue 15): rows with ``num_gpus = 0``.

The fixture pod list has one CPU-only pod (``openb-pod-0100``: 8,000 milli-CPU, 16 GiB, no
GPU); the converted parquet reads back to the same GPU jobs and the same CPU-only pods.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from typer.testing import CliRunner

import kiban.cli
from kiban.cli import app
from kiban.workload import read_trace

OPENB = Path(__file__).parent / "fixtures" / "openb"
runner = CliRunner()


def test_convert_keeps_cpu_only_pods_and_reads_back_the_same(tmp_path):
    kiban.cli._load_commands()
    out = tmp_path / "openb.parquet"
    spec = f"openb:{OPENB}"
    result = runner.invoke(app, ["trace", "convert", spec, str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "1 CPU-only pods" in result.stdout
    source = read_trace(spec, rng=np.random.default_rng(3))
    back = read_trace(f"kiban:{out}")
    assert source.host_pods is not None
    assert source.host_pods.height == 1
    assert back.host_pods is not None
    assert back.host_pods.equals(source.host_pods)
    assert back.jobs.equals(source.jobs)
    assert (back.n_rows, back.n_excluded) == (source.jobs.height + 1, 1)
    table = pq.read_table(out).to_pydict()
    row = table["num_gpus"].index(0)
    assert table["cpu_milli"][row] == int(source.host_pods["cpu_milli"][0])
    assert table["memory_b"][row] == float(source.host_pods["memory_b"][0])


def test_a_bad_cpu_only_pod_is_refused_and_nothing_is_written(tmp_path):
    import polars as pl  # noqa: PLC0415
    import pytest  # noqa: PLC0415

    from kiban.errors import TraceError  # noqa: PLC0415
    from kiban.workload import write_jobs_parquet  # noqa: PLC0415

    source = read_trace(f"openb:{OPENB}", rng=np.random.default_rng(3))
    assert source.host_pods is not None
    bad = source.host_pods.with_columns(pl.lit(-1.0).alias("duration_s"))
    out = tmp_path / "x.parquet"
    with pytest.raises(TraceError, match=r"CPU-only pod 'openb-pod-0100': duration_s = -1.0"):
        write_jobs_parquet(source.jobs, out, host_pods=bad)
    assert list(tmp_path.iterdir()) == []
