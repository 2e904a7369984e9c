"""Scheduler records (sacct -P) fill what telemetry lacks: the queue and whole-node allocations."""

from __future__ import annotations

import re

import pytest
from tests.telemetry.helpers import HORIZON_S, ORIGIN_UNIX_S, expected_ledger_s, write_twin

from kiban.diagnose import diagnose
from kiban.diagnose.jobs import expand_hostlist, read_sacct_jobs
from kiban.errors import TraceError
from kiban.telemetry.openmetrics import FileSource, write_openmetrics
from kiban.telemetry.series import Window
from kiban.telemetry.twin import load_twin

WINDOW = Window(ORIGIN_UNIX_S, ORIGIN_UNIX_S + HORIZON_S, 15.0)
SACCT = """JobID|Submit|Start|End|NodeList|AllocTRES
j1|2025-01-06T09:08:20|2025-01-06T09:10:00|2025-01-06T11:30:00|node-a|cpu=64,gres/gpu=4
j1.batch|2025-01-06T09:08:20|2025-01-06T09:10:00|2025-01-06T11:30:00|node-a|cpu=64
j2|2025-01-06T09:20:00|2025-01-06T09:20:00|2025-01-06T11:00:00|node-b|gres/gpu:h100=2
j3|2025-01-06T09:33:20|2025-01-06T11:00:00|2025-01-06T12:20:00|node-b|gres/gpu=4
j4|2025-01-06T12:36:40|Unknown|Unknown|None assigned|
"""


def test_hostlists_expand():
    assert expand_hostlist("gn[01-03,07],login1") == ["gn01", "gn02", "gn03", "gn07", "login1"]
    assert expand_hostlist("None assigned") == []
    with pytest.raises(TraceError, match="not a number or range"):
        expand_hostlist("gn[a-b]")


def test_queue_and_whole_node_allocations_come_from_sacct(tmp_path):
    run = write_twin(tmp_path / "run")
    om = tmp_path / "t.om"
    with om.open("w") as fh:
        write_openmetrics(load_twin(run), fh, step_s=15.0)
    # dcgm-exporter without job mapping and no slurm exporter: strip both
    text = om.read_text()
    text = re.sub(r',hpc_job="[^"]*"', "", text)
    text = "\n".join(ln for ln in text.splitlines() if "slurm_queue_pending" not in ln) + "\n"
    om.write_text(text)
    sacct = tmp_path / "sacct.txt"
    sacct.write_text(SACCT)  # the scheduler's clock runs in JST (UTC+9)
    jobs = read_sacct_jobs(sacct, utc_offset_s=9 * 3600)
    assert jobs.job_id == ["j1", "j2", "j3", "j4"]
    diag = diagnose(FileSource(om), WINDOW, jobs=jobs)
    assert "slurm_queue_pending" not in diag.missing
    assert any("1 jobs on part of a node" in w for w in diag.warnings)
    want = expected_ledger_s()
    got = diag.totals_s()
    # j2 held 2 of node-b's 4 GPUs: sacct cannot say which, so its time is booked as free:
    # queue_blocked while j3 waits (2,000-7,200 s), idle before
    assert got["queue_blocked"] == pytest.approx(want["queue_blocked"] + 2 * 5200, abs=120)
    assert got["idle_no_demand"] == pytest.approx(want["idle_no_demand"] + 2 * 800, abs=120)
    assert set(diag.job_buckets_s) == {"j1", "j3"}
    assert got["io_stall"] == pytest.approx(want["io_stall"], abs=60)


def test_bad_sacct_time_names_file_line_and_field(tmp_path):
    bad = tmp_path / "s.txt"
    bad.write_text("JobID|Submit|Start\n7|yesterday|Unknown\n")
    with pytest.raises(TraceError, match=r"s\.txt:2: Submit = 'yesterday'"):
        read_sacct_jobs(bad)


def test_fragmentation_is_the_queue_time_a_pending_job_fitted_the_count_not_the_shape():
    import numpy as np  # noqa: PLC0415

    from kiban.diagnose.jobs import JobRecords  # noqa: PLC0415
    from kiban.telemetry.openmetrics import MemorySource  # noqa: PLC0415

    t0 = ORIGIN_UNIX_S
    src = MemorySource("two half-busy hosts")
    for k in range(1, 241):  # one hour
        for host in ("a", "b"):
            for g in range(4):
                lab = {"Hostname": host, "gpu": str(g)}
                if g < 2:
                    lab["hpc_job"] = f"small-{host}"
                src.add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", lab, t0 + 15 * k, 1.0 if g < 2 else 0.0)
        src.add("slurm_queue_pending", {}, t0 + 15 * k, 1.0)
    # a 4-GPU job waits the whole hour: 4 GPUs are free, but 2 + 2 on two hosts
    jobs = JobRecords(
        job_id=["big"], submit_s=np.array([t0]), start_s=np.array([np.nan]),
        end_s=np.array([np.nan]), num_gpus=np.array([4]), nodes=[[]], source="test",
    )  # fmt: skip
    diag = diagnose(src, Window(t0, t0 + 3600, 15), jobs=jobs)
    assert diag.totals_s()["queue_blocked"] == pytest.approx(4 * 3600)
    assert diag.fragmentation_gpu_s == pytest.approx(4 * 3600)
    # a 2-GPU job would fit on either host: no fragmentation
    small = JobRecords(
        job_id=["two"], submit_s=np.array([t0]), start_s=np.array([np.nan]),
        end_s=np.array([np.nan]), num_gpus=np.array([2]), nodes=[[]], source="test",
    )  # fmt: skip
    assert diagnose(src, Window(t0, t0 + 3600, 15), jobs=small).fragmentation_gpu_s == 0.0
    assert diagnose(src, Window(t0, t0 + 3600, 15)).fragmentation_gpu_s is None
