"""Issue 17: every trace-reader failure found by the hostile-input run, one test each.

Each test reproduces one line of the issue (hang, traceback, silent wrong result or unclear
message) and asserts the promised behaviour: one TraceError naming the file, the line or field
and what is allowed. All failed on the code before the fix (a hang, a library exception, or a
result with wrong numbers).
"""

from __future__ import annotations

import json
import os
import re
import threading

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiban.errors import TraceError
from kiban.workload import read_trace
from kiban.workload.readers.kiban_parquet import write_jobs_parquet
from kiban.workload.synthetic import synthetic_jobs

PHILLY_HEAD = "timestamp,duration,num_gpus,gpu_time,cluster\n"
PHILLY_ROWS = "".join(f"2017-10-0{1 + i % 9} 07:01:55,100,1,100,vc{i}\n" for i in range(300))
SACCT_JOB = {
    "job_id": 1,
    "user": "u",
    "partition": "p",
    "state": {"current": ["COMPLETED"]},
    "time": {"submission": 1_700_000_000, "start": 1_700_000_100, "end": 1_700_000_200},
    "tres": {"allocated": [{"type": "gres", "name": "gpu", "count": 2}]},
    "allocation_nodes": 1,
    "priority": 1,
}
PIPE_HEAD = "JobID|Submit|Start|End|Elapsed|AllocTRES\n"


def _sacct(tmp_path, jobs, tail=""):
    path = tmp_path / "sacct.json"
    path.write_text(json.dumps({"jobs": jobs}) + tail)
    return f"slurm:{path}"


def _read_with_timeout(spec: str, timeout_s: float = 10.0) -> BaseException | None:
    """read_trace in a daemon thread; a hang fails the test instead of blocking the suite."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            read_trace(spec)
            outcome.append(None)
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert outcome, f"read_trace({spec!r}) still running after {timeout_s} s (hangs)"
    return outcome[0]


# --- hangs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["philly", "slurm", "gavel", "kiban", "tiresias"])
def test_named_pipe_is_refused_not_opened(tmp_path, fmt):
    fifo = tmp_path / "jobs.csv"
    os.mkfifo(fifo)
    err = _read_with_timeout(f"{fmt}:{fifo}")
    assert isinstance(err, TraceError)
    assert "named pipe" in str(err)
    assert str(fifo) in str(err)


# --- tracebacks ----------------------------------------------------------------------------


def test_philly_json_nested_100000_deep(tmp_path):
    path = tmp_path / "log.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TraceError, match=r"log\.json:1: JSON nested too deeply"):
        read_trace(f"philly:{path}")


def test_sacct_json_nested_100000_deep(tmp_path):
    path = tmp_path / "sacct.json"
    path.write_text('{"jobs": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(TraceError, match=r"sacct\.json:1: JSON nested too deeply"):
        read_trace(f"slurm:{path}")


def test_philly_json_empty_job_list_reads_as_no_jobs(tmp_path):
    path = tmp_path / "log.json"
    path.write_text("[]\n")
    result = read_trace(f"philly:{path}")
    assert result.jobs.height == 0
    assert result.n_rows == 0


def test_sacct_json_400_digit_integer(tmp_path):
    job = dict(SACCT_JOB, priority=int("9" * 400))
    with pytest.raises(TraceError, match=r"sacct\.json:1: priority = 9{20}.*within"):
        read_trace(_sacct(tmp_path, [job]))


def test_gavel_scale_factor_1e23(tmp_path):
    path = tmp_path / "vc.trace"
    path.write_text("A3C\tcmd\t1\t0\t1000\t0\t1e23\n")
    with pytest.raises(TraceError, match=r"vc\.trace:1: scale_factor = '1e23'.*≤ 1,000,000"):
        read_trace(f"gavel:{path}")


# --- silent wrong results ------------------------------------------------------------------


def test_stray_quote_in_philly_csv_names_the_line(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(PHILLY_HEAD + PHILLY_ROWS.replace(",vc3\n", ',"vc3\n', 1))
    with pytest.raises(TraceError, match=r"jobs\.csv:5: unbalanced double quote"):
        read_trace(f"philly:{path}")


def test_quote_closing_lines_later_is_not_a_merged_row(tmp_path):
    path = tmp_path / "jobs.csv"
    rows = PHILLY_ROWS.replace(",vc3\n", ',"vc3\n', 1).replace(",vc9\n", ',vc9"\n', 1)
    path.write_text(PHILLY_HEAD + rows)
    with pytest.raises(TraceError, match=r"jobs\.csv:5: unbalanced double quote.*line 11"):
        read_trace(f"philly:{path}")


def test_sacct_pipe_fractional_gres_gpu(tmp_path):
    path = tmp_path / "sacct.txt"
    path.write_text(
        PIPE_HEAD + "1|2024-05-01T09:30:00|2024-05-01T09:31:00|2024-05-01T10:31:00|01:00:00|"
        "gres/gpu=1.5\n"
    )
    with pytest.raises(TraceError, match=r"sacct\.txt:2: AllocTRES = 'gres/gpu=1\.5'"):
        read_trace(f"slurm:{path}")


def test_sacct_json_fractional_gpu_count(tmp_path):
    job = json.loads(json.dumps(SACCT_JOB))
    job["tres"]["allocated"][0]["count"] = 1.5
    with pytest.raises(TraceError, match=r"sacct\.json:1: tres gpu count = 1\.5.*whole number"):
        read_trace(_sacct(tmp_path, [job]))


@pytest.fixture
def jobs_df() -> pl.DataFrame:
    return synthetic_jobs(np.random.default_rng(0), n_jobs=20)


def test_kiban_parquet_fractional_gpu_count(tmp_path, jobs_df):
    path = tmp_path / "jobs.parquet"
    jobs_df.with_columns(pl.col("num_gpus").cast(pl.Float64) + 0.5).write_parquet(path)
    with pytest.raises(TraceError, match=r"column num_gpus = 1\.5 at row 0: must be a whole"):
        read_trace(f"kiban:{path}")


def test_kiban_parquet_integral_floats_still_read(tmp_path, jobs_df):
    path = tmp_path / "jobs.parquet"
    jobs_df.with_columns(pl.col("num_gpus").cast(pl.Float64)).write_parquet(path)
    assert read_trace(f"kiban:{path}").jobs["num_gpus"].to_list() == jobs_df["num_gpus"].to_list()


def test_kiban_parquet_datetime_submit_column_is_refused(tmp_path, jobs_df):
    path = tmp_path / "jobs.parquet"
    as_datetime = pl.from_epoch(
        (pl.col("submit_time_s") + 1.7e9).cast(pl.Int64), time_unit="s"
    ).alias("submit_time_s")
    jobs_df.with_columns(as_datetime).write_parquet(path)
    with pytest.raises(TraceError, match=r"column submit_time_s has type timestamp.*seconds"):
        read_trace(f"kiban:{path}")


def test_kiban_parquet_text_column_of_numbers_is_refused(tmp_path, jobs_df):
    path = tmp_path / "jobs.parquet"
    jobs_df.with_columns(pl.col("duration_s").cast(pl.String)).write_parquet(path)
    with pytest.raises(TraceError, match=r"column duration_s has type .*string.*numbers"):
        read_trace(f"kiban:{path}")


def test_text_after_sacct_json_document(tmp_path):
    with pytest.raises(TraceError, match=r"sacct\.json:2: text after the end of the JSON"):
        read_trace(_sacct(tmp_path, [SACCT_JOB], tail="\ngarbage"))


def test_text_after_philly_json_document(tmp_path):
    path = tmp_path / "log.json"
    path.write_text("[]\n]extra")
    with pytest.raises(TraceError, match=r"log\.json:2: text after the end of the JSON"):
        read_trace(f"philly:{path}")


def test_truncated_philly_json_list(tmp_path):
    path = tmp_path / "log.json"
    path.write_text('[{"jobid": "a"},\n')
    with pytest.raises(TraceError, match=r"log\.json:2: the JSON list never closes"):
        read_trace(f"philly:{path}")


@pytest.mark.parametrize("year", ["0001", "9999"])
def test_submit_in_year_1_or_9999_pipe(tmp_path, year):
    path = tmp_path / "sacct.txt"
    t = f"{year}-05-01T09:3"
    path.write_text(PIPE_HEAD + f"1|{t}0:00|{t}1:00|{t}2:00|00:01:00|gres/gpu=1\n")
    with pytest.raises(TraceError, match=rf"sacct\.txt:2: Submit = '{year}-05-01.*1990-01-01"):
        read_trace(f"slurm:{path}")


def test_submit_in_year_9999_json(tmp_path):
    t = 253_402_000_000
    job = dict(SACCT_JOB, time={"submission": t, "start": t + 100, "end": t + 200})
    with pytest.raises(TraceError, match=r"time\.submission = 253402000000\.0: must be a date"):
        read_trace(_sacct(tmp_path, [job]))


def test_submit_in_year_1_philly_csv(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(PHILLY_HEAD + "0001-10-09 07:01:55,100,1,100,vc1\n")
    with pytest.raises(TraceError, match=r"jobs\.csv:2: timestamp = '0001-10-09.*1990"):
        read_trace(f"philly:{path}")


def test_relative_trace_spanning_millennia(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n"
        "1,1,0,10,m,100,0\n2,1,1e15,10,m,100,0\n"
    )
    with pytest.raises(TraceError, match=r"submit times span 31,688,088 years"):
        read_trace(f"tiresias:{path}")


# --- unclear messages ----------------------------------------------------------------------


def test_symlink_loop_is_named(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(TraceError, match=r"a\.csv: is a symbolic link that loops"):
        read_trace(f"philly:{a}")


def test_dangling_symlink_is_named(tmp_path):
    a = tmp_path / "a.csv"
    a.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(TraceError, match=r"symbolic link to .*gone\.csv, which does not exist"):
        read_trace(f"philly:{a}")


@pytest.mark.parametrize(
    ("codec", "name"), [("utf-16-le", "UTF-16 LE"), ("utf-16-be", "UTF-16 BE")]
)
def test_utf16_without_bom_is_named(tmp_path, codec, name):
    path = tmp_path / "jobs.csv"
    path.write_bytes((PHILLY_HEAD + PHILLY_ROWS[:500]).encode(codec))
    with pytest.raises(TraceError, match=rf"jobs\.csv: looks like {name} text") as info:
        read_trace(f"philly:{path}")
    assert "\x00" not in str(info.value)


def test_utf16_with_bom_is_named(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_bytes((PHILLY_HEAD + PHILLY_ROWS[:500]).encode("utf-16"))
    with pytest.raises(TraceError, match=r"looks like UTF-16 .E text \(byte-order mark\)"):
        read_trace(f"philly:{path}")


def test_parquet_duplicated_column_is_one_line(tmp_path, jobs_df):
    table = jobs_df.to_arrow()
    doubled = pa.Table.from_arrays(
        [*table.columns, table.column(0)], names=[*table.column_names, table.column_names[0]]
    )
    path = tmp_path / "jobs.parquet"
    pq.write_table(doubled, path)
    with pytest.raises(TraceError) as info:
        read_trace(f"kiban:{path}")
    assert "\n" not in str(info.value)
    assert "['job_id'] appear more than once" in str(info.value)


def test_long_value_is_cut_in_the_message(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(PHILLY_HEAD + "2017-10-09 07:01:55," + "9" * 100_000 + "x,1,100,vc\n")
    with pytest.raises(TraceError) as info:
        read_trace(f"philly:{path}")
    assert len(str(info.value)) < 400
    assert "100,001 characters" in str(info.value)


def test_written_table_still_round_trips(tmp_path, jobs_df):
    path = write_jobs_parquet(jobs_df, tmp_path / "jobs.parquet")
    assert read_trace(f"kiban:{path}").jobs.height == jobs_df.height


def test_trace_too_large_for_memory_is_refused_with_size_and_limit(tmp_path, monkeypatch):
    import kiban.workload._rows as rows  # noqa: PLC0415 - the module whose limit is lowered

    path = tmp_path / "jobs.csv"
    path.write_text(PHILLY_HEAD + PHILLY_ROWS)
    monkeypatch.setattr(rows, "memory_bytes", lambda: 100_000)  # a 100 kB machine
    with pytest.raises(TraceError) as info:
        read_trace(f"philly:{path}")
    text = str(info.value)
    assert re.search(r"jobs\.csv: 1\d\.\d kB of text needs about 2\d\d\.\d kB of memory", text)
    assert "this machine has 100.0 kB (limit: files up to 5.0 kB)" in text
    assert "split the trace" in text


def test_sacct_pipe_priority_1e400_is_a_bad_row(tmp_path):
    """Found by the fuzz suite: the cast of an infinite priority failed before the check."""
    path = tmp_path / "sacct.txt"
    path.write_text(
        "JobID|Submit|Start|End|Elapsed|AllocTRES|NNodes|Priority\n"
        "1|2024-05-01T09:30:00|2024-05-01T09:31:00|2024-05-01T10:31:00|01:00:00|gres/gpu=1|1|1e400\n"
    )
    with pytest.raises(TraceError, match=r"sacct\.txt:2: Priority = '1e400': must be an integer"):
        read_trace(f"slurm:{path}")


def test_corrupt_parquet_column_name_is_one_line(tmp_path, jobs_df):
    """Found by the fuzz suite: a non-UTF-8 byte in the footer raised UnicodeDecodeError."""
    path = write_jobs_parquet(jobs_df, tmp_path / "jobs.parquet")
    path.write_bytes(path.read_bytes().replace(b"num_gpus", b"\x80um_gpus"))
    with pytest.raises(TraceError, match=r"jobs\.parquet: cannot read parquet"):
        read_trace(f"kiban:{path}")
