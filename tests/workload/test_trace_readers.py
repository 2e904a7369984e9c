"""Every trace reader on its public data (shared data sets) or a hand-written fixture in the public
schema, and its handling of malformed rows (error with file and line; --skip-bad counts them)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.conftest import require_data

from kiban.errors import TraceError
from kiban.workload import (
    available_formats,
    read_trace,
    trace_stats,
    validate_jobs,
    write_jobs_parquet,
)
from kiban.workload.readers.gavel import GAVEL_V100_STEPS_PER_S
from kiban.workload.readers.slurm import gpus_from_tres, parse_elapsed_s

FIXTURES = Path(__file__).parent / "fixtures"


def _read(spec, **kw):
    result = read_trace(spec, rng=np.random.default_rng(0), **kw)
    validate_jobs(result.jobs, spec)
    assert result.n_rows == result.jobs.height + result.n_bad + result.n_excluded
    return result


def _by_id(result):
    return {row["job_id"]: row for row in result.jobs.iter_rows(named=True)}


def _with_line(src: Path, dst: Path, line_no: int, text: str) -> Path:
    """Copy src to dst with `text` inserted as line `line_no` (1-based)."""
    lines = src.read_text().splitlines()
    lines.insert(line_no - 1, text)
    dst.write_text("\n".join(lines) + "\n")
    return dst


def _object_line(text: str, needle: str) -> int:
    """Line (1-based) of the '{' that opens the JSON object containing needle."""
    return text[: text[: text.index(needle)].rfind("{")].count("\n") + 1


def test_all_formats_registered():
    assert set(available_formats()) == {
        "philly", "gavel", "openb", "alibaba-pai2020", "helios", "tiresias", "slurm", "kiban",
        "jobs-csv",
    }  # fmt: skip


# --- philly -------------------------------------------------------------------------------


def test_philly_csv_fixture():
    r = _read(f"philly:{FIXTURES / 'philly_jobs.csv'}")
    assert r.n_rows == 4  # the trailing blank line is not a row
    assert r.origin == datetime(2017, 9, 29, 7, 58, 32)
    jobs = _by_id(r)
    assert jobs["2"]["submit_time_s"] == 0.0
    assert jobs["2"]["num_gpus"] == 8
    # 2017-10-09 07:01:55 - 2017-09-29 07:58:32
    assert jobs["0"]["submit_time_s"] == (10 * 86400 - 56 * 60 - 37)
    assert jobs["0"]["queue"] == "11cb48"
    assert r.jobs["job_id"].to_list() == ["2", "1", "3", "0"]  # sorted by submit time


@pytest.mark.parametrize(
    ("bad_line", "field"),
    [
        ("2017-10-09 07:01:55,-1.0,1,-1.0,11cb48", "duration"),
        ("2017-13-09 07:01:55,10.0,1,10.0,11cb48", "timestamp"),
        ("2017-10-09 07:01:55,10.0,0,0.0,11cb48", "num_gpus"),
        ("2017-10-09 07:01:55,10.0,2,10.0,11cb48", "gpu_time"),
        ("2017-10-09 07:01:55,10.0,1.5,15.0,11cb48", "num_gpus"),
        ("2017-10-09 07:01:55,10.0,1,10.0", "line"),
        ("2017-10-09 07:01:55,ten,1,10.0,11cb48", "duration"),
    ],
)
def test_philly_csv_malformed_row(tmp_path, bad_line, field):
    path = _with_line(FIXTURES / "philly_jobs.csv", tmp_path / "jobs.csv", 4, bad_line)
    with pytest.raises(TraceError) as err:
        read_trace(f"philly:{path}")
    assert str(err.value).startswith(f"{path}:4: {field} = ")
    r = _read(f"philly:{path}", skip_bad=True)
    assert (r.n_bad, r.jobs.height, r.n_rows) == (1, 4, 5)
    assert r.bad_examples[0].startswith(f"{path}:4: {field}")


def test_philly_job_log_json():
    """cluster_job_log schema (msr-fiddle/philly-traces README): attempts summed, exclusions."""
    r = _read(f"philly:{FIXTURES / 'philly_cluster_job_log.json'}")
    assert (r.n_rows, r.jobs.height, r.n_excluded) == (6, 3, 3)
    assert any("no scheduling attempt" in n for n in r.notes)
    assert any("still running" in n for n in r.notes)
    assert any("both start_time and end_time" in n for n in r.notes)
    jobs = _by_id(r)
    first = jobs["application_1506638472019_14199"]
    # (01:13:23 - 01:12:09) + (10-09 06:53:12 - 10-07 01:13:30) = 74 + 193182 s
    assert first["duration_s"] == 74 + 193_182
    assert (first["num_gpus"], first["gpus_per_node"]) == (8, 8)
    assert (first["user"], first["queue"], first["status"]) == ("ce2f4c", "ee9e8c", "Pass")
    assert first["submit_time_s"] == 0.0
    two_nodes = jobs["application_1506638472019_15001"]
    assert (two_nodes["num_gpus"], two_nodes["gpus_per_node"]) == (16, 8)
    assert two_nodes["duration_s"] == 3600
    assert r.origin == datetime(2017, 10, 7, 1, 11, 39)


def test_philly_job_log_malformed(tmp_path):
    text = (FIXTURES / "philly_cluster_job_log.json").read_text()
    bad = text.replace('"submitted_time": "2017-10-07 01:30:00"', '"submitted_time": "yesterday"')
    path = tmp_path / "cluster_job_log"
    path.write_text(bad)
    with pytest.raises(TraceError) as err:
        read_trace(f"philly:{path}")
    line = _object_line(text, '"status": "Killed"')
    assert str(err.value).startswith(f"{path}:{line}: submitted_time = 'yesterday'")
    r = _read(f"philly:{path}", skip_bad=True)
    assert (r.n_bad, r.jobs.height) == (1, 2)
    broken = tmp_path / "broken.json"
    broken.write_text(text[:300])
    with pytest.raises(TraceError, match=r"broken\.json:\d+: malformed JSON"):
        read_trace(f"philly:{broken}")


# --- gavel --------------------------------------------------------------------------------


def test_gavel_fixture_folder():
    r = _read(f"gavel:{FIXTURES / 'gavel'}")
    jobs = _by_id(r)
    assert jobs["vc1-1"]["duration_s"] == pytest.approx(54576 / 5.4576)
    assert jobs["vc1-2"]["duration_s"] == pytest.approx(57712 / (5.7712 * 4))
    assert jobs["vc1-2"]["num_gpus"] == 4
    assert jobs["vc2-1"]["queue"] == "vc2"
    assert jobs["vc2-1"]["submit_time_s"] == 60.0
    assert r.origin is None


def test_gavel_malformed(tmp_path):
    good = (FIXTURES / "gavel" / "vc1.trace").read_text().splitlines()
    fields = good[0].split("\t")
    fields[0] = "GPT-5 (batch size 1)"
    path = tmp_path / "x.trace"
    path.write_text("\n".join([good[0], "\t".join(fields), good[1]]) + "\n")
    with pytest.raises(TraceError, match=rf"^{path}:2: job_type = 'GPT-5 \(batch size 1\)'"):
        read_trace(f"gavel:{path}")
    r = _read(f"gavel:{path}", skip_bad=True)
    assert (r.n_bad, r.jobs.height) == (1, 2)


def test_gavel_shared_traces(data_root):
    folder = require_data(data_root, "philly", "gavel_msr_traces", "seed=0")
    r = _read(f"gavel:{folder}")
    assert r.jobs.height == r.n_rows == 15264  # LOADER.md: 76,320 lines over 5 seeds
    assert r.jobs["queue"].n_unique() == 15
    assert set(r.jobs["num_gpus"].unique()) <= {1, 2, 4, 7, 8, 12, 16, 20, 24, 32, 64}
    assert len(GAVEL_V100_STEPS_PER_S) == 26


# --- openb --------------------------------------------------------------------------------


def test_openb_fixture():
    r = _read(f"openb:{FIXTURES / 'openb'}")
    # the CPU-only pod is left out; the Pending pod is kept, flagged by its status
    assert (r.n_rows, r.jobs.height, r.n_excluded) == (7, 6, 1)
    jobs = _by_id(r)
    pending = jobs["openb-pod-0061"]
    assert pending["status"] == "Pending"
    assert pending["duration_s"] == 10001403 - 10001278  # lifetime: it never ran
    assert any(n.startswith("1 pods never scheduled") for n in r.notes)
    share = jobs["openb-pod-0001"]
    base = read_trace(f"openb:{FIXTURES / 'openb'}", rng=np.random.default_rng(0))
    assert share["num_gpus"] == 1
    assert share["gpus_per_node"] == 1
    # it shares a GPU (issue 15): its milli-GPU, CPU and memory go to the jobs table, and its
    # activity is that of its own share, not scaled down as when it held a whole GPU
    assert share["gpu_milli"] == 460
    assert share["cpu_milli"] == 6000
    assert share["memory_b"] == 12288 * 1_048_576
    assert jobs["openb-pod-0017"]["gpu_milli"] == 1000
    assert jobs["openb-pod-0017"]["gpus_per_node"] == 8
    assert jobs["openb-pod-0017"]["duration_s"] == 10769854 - 9437497
    assert jobs["openb-pod-0035"]["gpu_model"] == "V100M16|V100M32"
    assert jobs["openb-pod-0035"]["duration_s"] == 9968575 - 9967063
    assert jobs["openb-pod-0035"]["priority"] == 2
    assert jobs["openb-pod-0022"]["priority"] == 0
    assert base.jobs.equals(r.jobs)


def test_openb_shares_survive_the_parquet_round_trip(tmp_path):
    """gpu_milli, cpu_milli and memory_b (optional columns, issue 15) are written and read."""
    src = _read(f"openb:{FIXTURES / 'openb'}")
    out = write_jobs_parquet(src.jobs, tmp_path / "jobs.parquet", source="openb")
    back = read_trace(f"kiban:{out}", rng=np.random.default_rng(0)).jobs
    for col in ("gpu_milli", "cpu_milli", "memory_b"):
        assert back[col].to_list() == src.jobs[col].to_list()
    assert sorted(back["gpu_milli"].to_list())[:2] == [220, 460]


def test_openb_malformed(tmp_path):
    folder = tmp_path / "openb"
    shutil.copytree(FIXTURES / "openb", folder)
    pods = folder / "openb_pod_list_default.csv"
    _with_line(
        FIXTURES / "openb" / "openb_pod_list_default.csv",
        pods,
        3,
        "openb-pod-0500,4000,1024,1,1000,A100,LS,Running,5,10,5",
    )
    with pytest.raises(TraceError, match=rf"^{pods}:3: gpu_spec = 'A100': must name GPU models"):
        read_trace(f"openb:{folder}")
    r = _read(f"openb:{folder}", skip_bad=True)
    assert (r.n_bad, r.jobs.height) == (1, 6)
    _with_line(
        FIXTURES / "openb" / "openb_pod_list_default.csv",
        pods,
        2,
        "openb-pod-0501,4000,1024,2,500,,LS,Running,5,10,5",
    )
    with pytest.raises(TraceError, match=rf"^{pods}:2: gpu_milli = '500': must be 1000 when"):
        read_trace(f"openb:{folder}")


def test_openb_shared(data_root):
    csv = require_data(data_root, "alibaba-gpu-v2023-openb", "csv")
    r = _read(f"openb:{csv}")
    # LOADER.md: 8,152 pods, 1,088 CPU-only (num_gpu = 0); Pending pods have no scheduled_time
    assert r.n_rows == 8152
    assert r.n_bad == 0
    assert any(n.startswith("1088 CPU-only pods") for n in r.notes)
    # 897 Pending pods, 36 of them CPU-only
    assert any(n.startswith("861 pods never scheduled") for n in r.notes)
    assert r.jobs.height == 8152 - 1088
    assert int((r.jobs["status"] == "Pending").sum()) == 861
    assert r.jobs["num_gpus"].max() == 8
    assert r.origin is None


# --- alibaba-pai2020 ----------------------------------------------------------------------


def test_pai2020_fixture():
    """Headerless job table, task table with its header line (both accepted)."""
    r = _read(f"alibaba-pai2020:{FIXTURES / 'pai2020'}")
    assert (r.n_rows, r.jobs.height, r.n_excluded) == (5, 2, 3)
    jobs = _by_id(r)
    half = jobs["4b3f04b66a525d2df903eb16"]
    assert (half["num_gpus"], half["gpus_per_node"]) == (1, 1)
    assert half["duration_s"] == 4551410 - 4550890
    assert half["submit_time_s"] == 0.0
    assert half["user"] == "58540f191766"
    assert half["activity_frac"] <= 0.5 + 1e-12
    multi = jobs["job_b"]
    assert (multi["num_gpus"], multi["gpus_per_node"]) == (8, 0)
    assert multi["duration_s"] == 4559990 - 4551000
    assert multi["submit_time_s"] == 4550900 - 4550879
    assert multi["status"] == "Failed"
    # README: seconds read as Unix time in UTC+8 keep the time of day and weekday
    assert r.origin == datetime(1970, 1, 1, 8) + timedelta(seconds=4550879)


def test_pai2020_malformed(tmp_path):
    folder = tmp_path / "pai"
    shutil.copytree(FIXTURES / "pai2020", folder)
    tasks = folder / "pai_task_table.csv"
    _with_line(
        FIXTURES / "pai2020" / "pai_task_table.csv",
        tasks,
        3,
        "job_b,extra,1.0,Failed,4551000.0,4550000.0,100.0,1.0,100.0,V100",
    )
    with pytest.raises(TraceError, match=rf"^{tasks}:3: end_time = '4550000.0': must not precede"):
        read_trace(f"alibaba-pai2020:{folder}")
    r = _read(f"alibaba-pai2020:{folder}", skip_bad=True)
    assert r.n_bad == 1
    assert "job_b" not in set(r.jobs["job_id"].to_list())
    assert "pai_task_table.csv" in r.bad_examples[0]
    shutil.copy(FIXTURES / "pai2020" / "pai_task_table.csv", tasks)
    jobs_path = folder / "pai_job_table.csv"
    _with_line(
        FIXTURES / "pai2020" / "pai_job_table.csv", jobs_path, 2, "job_x,i,u,Terminated,soon,"
    )
    with pytest.raises(TraceError, match=rf"^{jobs_path}:2: start_time = 'soon'"):
        read_trace(f"alibaba-pai2020:{jobs_path}")


# --- helios -------------------------------------------------------------------------------


def test_helios_fixture():
    r = _read(f"helios:{FIXTURES / 'helios_cluster_log.csv'}")
    assert (r.n_rows, r.jobs.height, r.n_excluded) == (5, 4, 1)
    assert "CPU-only" in r.notes[0]
    jobs = _by_id(r)
    assert jobs["1425511"]["duration_s"] == 36848
    assert jobs["1425511"]["queue"] == "vcJkd"
    assert jobs["1425515"]["gpus_per_node"] == 8
    assert jobs["1425515"]["submit_time_s"] == 119
    assert jobs["1425513"]["status"] == "CANCELLED"
    assert r.origin == datetime(2020, 6, 9, 18, 41, 1)


def test_helios_malformed(tmp_path):
    path = _with_line(
        FIXTURES / "helios_cluster_log.csv",
        tmp_path / "cluster_log.csv",
        3,
        "1425600,uX,vcX,-2,1,1,COMPLETED,2020-06-09 18:41:27,,,10,0",
    )
    with pytest.raises(TraceError, match=rf"^{path}:3: gpu_num = '-2': must be an integer ≥ 0"):
        read_trace(f"helios:{tmp_path}")
    r = _read(f"helios:{path}", skip_bad=True)
    assert (r.n_bad, r.jobs.height) == (1, 4)
    dup = _with_line(
        FIXTURES / "helios_cluster_log.csv",
        tmp_path / "dup.csv",
        7,
        "1425511,uX,vcX,1,1,1,COMPLETED,2020-06-09 18:41:27,,,10,0",
    )
    with pytest.raises(TraceError, match=rf"^{dup}:7: job_id = '1425511': must be unique"):
        read_trace(f"helios:{dup}")


# --- tiresias -----------------------------------------------------------------------------


def test_tiresias_sample(data_root):
    path = require_data(data_root, "tiresias-sample", "60_job.csv")
    r = _read(f"tiresias:{path}")
    raw = pl.read_csv(path)
    assert r.jobs.height == 60
    assert r.jobs["duration_s"].sum() == raw["duration"].sum()
    assert (r.jobs["num_gpus"] * r.jobs["duration_s"]).sum() == (
        raw["num_gpu"] * raw["duration"]
    ).sum()
    assert r.jobs["submit_time_s"].max() == raw["submit_time"].max() - raw["submit_time"].min()


def test_tiresias_malformed(tmp_path, data_root):
    src = require_data(data_root, "tiresias-sample", "60_job.csv")
    path = _with_line(src, tmp_path / "jobs.csv", 5, "99,0,10,100,vgg19,50,3")
    with pytest.raises(TraceError, match=rf"^{path}:5: num_gpu = '0': must be an integer ≥ 1"):
        read_trace(f"tiresias:{path}")
    r = _read(f"tiresias:{path}", skip_bad=True)
    assert (r.n_bad, r.jobs.height) == (1, 60)


# --- slurm --------------------------------------------------------------------------------


def test_slurm_helpers():
    assert parse_elapsed_s("2-00:00:01") == 172_801.0
    assert parse_elapsed_s("00:09:00") == 540.0
    assert parse_elapsed_s("nonsense") is None
    assert gpus_from_tres("cpu=8,gres/gpu:h100=2,gres/gpu:a100=2") == (4, "")
    assert gpus_from_tres("cpu=8,mem=1G") == (0, "")


def test_slurm_pipe_fixture():
    r = _read(f"slurm:{FIXTURES / 'slurm_sacct_p.txt'}")
    assert (r.n_rows, r.jobs.height, r.n_excluded) == (7, 3, 4)
    jobs = _by_id(r)
    assert jobs["101"]["num_gpus"] == 2
    assert jobs["101"]["gpu_model"] == "h100"
    assert jobs["101"]["duration_s"] == 7200
    assert jobs["101"]["priority"] == 4294
    assert jobs["102"]["duration_s"] == 26 * 3600
    assert jobs["102"]["gpus_per_node"] == 8
    assert jobs["106"]["status"] == "CANCELLED"
    assert (jobs["101"]["user"], jobs["101"]["queue"]) == ("alice", "gpu")
    notes = " ".join(r.notes)
    for kind in ("job steps", "without GPUs", "never started", "still running"):
        assert kind in notes


def test_slurm_json_fixture():
    r = _read(f"slurm:{FIXTURES / 'slurm_sacct.json'}")
    assert (r.n_rows, r.jobs.height, r.n_excluded) == (4, 2, 2)
    jobs = _by_id(r)
    assert jobs["201"]["num_gpus"] == 2
    assert jobs["201"]["gpu_model"] == "a100"
    assert jobs["202"]["num_gpus"] == 16
    assert jobs["202"]["gpus_per_node"] == 8
    assert jobs["202"]["priority"] == 5000
    assert jobs["202"]["user"] == "bob"
    assert jobs["202"]["submit_time_s"] == 1000
    assert jobs["202"]["status"] == "FAILED"
    assert r.origin == datetime(2024, 5, 1, 9, 0)


def test_slurm_malformed(tmp_path):
    path = _with_line(
        FIXTURES / "slurm_sacct_p.txt",
        tmp_path / "sacct.txt",
        3,
        "107|gina|gpu|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|1h|1|gres/gpu=1|gres/gpu=1|COMPLETED|1",
    )
    with pytest.raises(TraceError, match=rf"^{path}:3: Elapsed = '1h': must be \[D-\]\[HH:\]MM:SS"):
        read_trace(f"slurm:{path}")
    r = _read(f"slurm:{path}", skip_bad=True)
    assert (r.n_bad, r.jobs.height) == (1, 3)
    text = (
        (FIXTURES / "slurm_sacct.json")
        .read_text()
        .replace('"submission": 1714555000', '"submission": "x"')
    )
    bad_json = tmp_path / "sacct.json"
    bad_json.write_text(text)
    line = _object_line(text, '"job_id": 202')
    with pytest.raises(TraceError, match=rf"^{bad_json}:{line}: time.submission = 'x': must be"):
        read_trace(f"slurm:{bad_json}")


# --- kiban parquet ------------------------------------------------------------------------


def test_kiban_roundtrip(tmp_path):
    src = read_trace(
        f"philly:{FIXTURES / 'philly_cluster_job_log.json'}", rng=np.random.default_rng(5)
    )
    out = write_jobs_parquet(src.jobs, tmp_path / "jobs.parquet", origin=src.origin, source="x")
    back = _read(f"kiban:{out}")
    assert back.jobs.equals(src.jobs)
    assert back.origin == src.origin
    # a different rng does not change a kiban table: its job model is stored
    again = read_trace(f"kiban:{out}", rng=np.random.default_rng(99))
    assert again.jobs.equals(src.jobs)


def test_kiban_bad_files(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(TraceError, match="cannot read parquet"):
        read_trace(f"kiban:{bad}")
    partial = tmp_path / "partial.parquet"
    pl.DataFrame({"job_id": ["a"]}).write_parquet(partial)
    with pytest.raises(TraceError, match="missing column"):
        read_trace(f"kiban:{partial}")


# --- spec errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("nope:x.csv", "unknown format 'nope'; known formats: alibaba-pai2020"),
        ("philly", "expected FORMAT:PATH"),
        ("philly:", "expected FORMAT:PATH"),
        ("philly:/no/such/file.csv", "file not found"),
    ],
)
def test_bad_trace_specs(spec, needle):
    with pytest.raises(TraceError, match=needle):
        read_trace(spec)


def test_empty_file(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("\n\n")
    with pytest.raises(TraceError, match="empty"):
        read_trace(f"philly:{empty}")
    header_only = tmp_path / "h.csv"
    header_only.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n")
    r = read_trace(f"philly:{header_only}")
    assert r.jobs.height == 0
    assert trace_stats(r.jobs)["jobs"] == 0
    missing_col = tmp_path / "m.csv"
    missing_col.write_text("timestamp,duration\n2017-10-09 07:01:55,1\n")
    with pytest.raises(
        TraceError, match=r"m\.csv:1: missing column\(s\) \['num_gpus', 'cluster'\]"
    ):
        read_trace(f"philly:{missing_col}")


def test_a_sweep_workers_memory_reader_is_not_a_user_format():
    """A sweep worker registers an in-memory reader for its shared trace; it must not show up
    among the formats users are offered (it leaked into `available_formats` of the process)."""
    from kiban.sweep.worker import MEMORY_FORMAT  # noqa: PLC0415
    from kiban.workload import register_reader  # noqa: PLC0415
    from kiban.workload.registry import _REGISTRY  # noqa: PLC0415

    def _reader(path, *, skip_bad):  # pragma: no cover - never called
        raise AssertionError

    had = _REGISTRY.get(MEMORY_FORMAT)
    try:
        if had is None:
            register_reader(MEMORY_FORMAT, description="test", internal=True)(_reader)
        assert MEMORY_FORMAT in _REGISTRY
        assert MEMORY_FORMAT not in available_formats()
        with pytest.raises(TraceError, match="known formats: alibaba"):
            read_trace("nosuch:x.csv")
    finally:
        if had is None:
            _REGISTRY.pop(MEMORY_FORMAT, None)
