"""Property-based fuzzing of every trace reader through ``kiban trace convert`` (issue 17).

Each reader starts from a small valid trace and hypothesis mutates it the ways a hostile user
or a broken export would: a hostile value in a field (quotes, delimiters, fractions, 400-digit
numbers, 1e400, NaN, year 1 or 9999, NUL, right-to-left marks), inserted, deleted or truncated
bytes, repeated or swapped lines, UTF-16, JSON nested thousands deep, text after the document.
Every case must give exit 0 with a readable parquet, or exit 2 with one error line naming the
file and nothing written (``_harness.check_cli``). The ``*_known_bad`` generators produce inputs
that are malformed for sure, and require exit 2.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _harness import FUZZ, check_cli
from hypothesis import given
from hypothesis import strategies as st

from kiban.workload.readers.kiban_parquet import write_jobs_parquet
from kiban.workload.synthetic import synthetic_jobs

FIXTURES = Path(__file__).resolve().parents[1] / "workload" / "fixtures"
TIRESIAS = (
    "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n"
    "1,1,0,100,resnet50,3600,60\n2,4,60,200,vgg16,7200,120\n3,8,180,50,bert,600,0\n"
)

# (generator name, format, fixture file or folder, file to mutate inside a folder, delimiter)
TEXT_READERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("philly-csv", "philly", "philly_jobs.csv", None, ","),
    ("slurm-pipe", "slurm", "slurm_sacct_p.txt", None, "|"),
    ("gavel", "gavel", "gavel", "vc1.trace", "\t"),
    ("helios", "helios", "helios_cluster_log.csv", None, ","),
    ("tiresias", "tiresias", "", None, ","),
    ("openb", "openb", "openb", "openb_pod_list_default.csv", ","),
    ("alibaba-pai2020", "alibaba-pai2020", "pai2020", "pai_job_table.csv", ","),
)
JSON_READERS: tuple[tuple[str, str, str], ...] = (
    ("philly-json", "philly", "philly_cluster_job_log.json"),
    ("slurm-json", "slurm", "slurm_sacct.json"),
)

HOSTILE = (
    "", " ", '"', '""', '"x', 'x"', ",", "|", "\t", "1.5", "0.5", "-1", "0", "1e400", "-1e400",
    "nan", "inf", "9" * 400, "1e23", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
    "0001-01-01T00:00:00", "9999-12-31T23:59:59", "2017-13-45 99:99:99", "é", "\u202e", "null",
    "[", "{", "\\", "'", "0x10", "1_000", "gres/gpu=1.5", "gres/gpu=" + "9" * 30, "\x00",
    "x" * 200_000,
)  # fmt: skip
"""Field values that broke or could break a reader."""

JSON_HOSTILE = (
    None, True, 1.5, -1, 0, 10**400, 1e308, "", "x" * 100_000, [], {}, [[[[1]]]],
    "9999-12-31 23:59:59", "0001-01-01 00:00:00", 253_402_000_000, {"set": True, "number": 1.5},
)  # fmt: skip


def _setup(fixture: str, inner: str | None, workdir: Path) -> tuple[Path, Path]:
    """Copy the fixture into ``workdir``; (path given to the reader, file to mutate)."""
    if not fixture:
        path = workdir / "tiresias.csv"
        path.write_text(TIRESIAS)
        return path, path
    src = FIXTURES / fixture
    if src.is_dir():
        shutil.copytree(src, workdir / fixture)
        return workdir / fixture, workdir / fixture / (inner or "")
    shutil.copy(src, workdir / fixture)
    return workdir / fixture, workdir / fixture


@st.composite
def text_mutation(draw: st.DrawFn, text: str, delimiter: str) -> bytes:
    """One mutation of a delimited text file, as the bytes to write."""
    lines = text.splitlines(keepends=True)
    kind = draw(
        st.sampled_from(
            ["field", "field", "field", "insert", "delete", "truncate", "dup", "swap", "encoding"]
        )
    )
    if kind == "field":
        i = draw(st.integers(0, len(lines) - 1))
        fields = lines[i].rstrip("\r\n").split(delimiter)
        j = draw(st.integers(0, len(fields) - 1))
        fields[j] = draw(
            st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12), st.from_regex(r"-?\d+\.\d+"))
        )
        lines[i] = delimiter.join(fields) + "\n"
        return "".join(lines).encode("utf-8", "surrogatepass")
    data = text.encode()
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if kind == "delete":
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        return data[:at] + data[at + draw(st.integers(1, 40)) :]
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "dup":
        i = draw(st.integers(0, len(lines) - 1))
        return "".join(
            lines[: i + 1] + [lines[i]] * draw(st.integers(1, 3)) + lines[i + 1 :]
        ).encode()
    if kind == "swap":
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines).encode()
    codec = draw(st.sampled_from(["utf-16-le", "utf-16-be", "utf-16", "utf-8-sig", "latin-1"]))
    return text.replace("\n", draw(st.sampled_from(["\n", "\r\n", "\r"]))).encode(codec, "replace")


def _convert(name: str, fmt: str, path: Path, workdir: Path, *, must_fail: bool = False) -> int:
    out = workdir / "out.parquet"
    return check_cli(
        name,
        ("trace", "convert", f"{fmt}:{path}", str(out)),
        names=path.name if path.is_file() else str(path.name),
        workdir=workdir,
        output=out,
        must_fail=must_fail,
    )


def _fuzz_text(name: str, fmt: str, fixture: str, inner: str | None, delim: str, data) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, target = _setup(fixture, inner, workdir)
        target.write_bytes(data.draw(text_mutation(target.read_text(), delim)))
        code = _convert(name, fmt, path, workdir)
        if code == 0:
            assert check_cli(
                f"{name} (read back)", ("trace", "stats", f"kiban:{workdir / 'out.parquet'}"),
                names="out.parquet", workdir=workdir,
            ) == 0  # fmt: skip


@pytest.mark.parametrize("reader", TEXT_READERS, ids=[r[0] for r in TEXT_READERS])
@FUZZ
@given(data=st.data())
def test_text_readers_never_crash(reader, data):
    name, fmt, fixture, inner, delim = reader
    _fuzz_text(name, fmt, fixture, inner, delim, data)


@st.composite
def json_mutation(draw: st.DrawFn, text: str) -> bytes:
    """One mutation of a JSON trace."""
    doc = json.loads(text)
    kind = draw(
        st.sampled_from(["value", "value", "value", "nest", "trailing", "truncate", "bytes"])
    )
    if kind in {"value", "nest"}:
        jobs = doc["jobs"] if isinstance(doc, dict) else doc
        job = jobs[draw(st.integers(0, len(jobs) - 1))]
        node, key = job, None
        for _ in range(draw(st.integers(1, 3))):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], dict | list) or not node[key]:
                break
            node = node[key]
            key = None
        if key is None:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = draw(st.sampled_from(keys)) if keys else None
        if key is not None:
            node[key] = draw(st.sampled_from(JSON_HOSTILE)) if kind == "value" else "NEST"
        out = json.dumps(doc)
        depth = draw(st.integers(500, 5000))
        return out.replace('"NEST"', "[" * depth + "]" * depth).encode()
    out = json.dumps(doc, indent=1)
    if kind == "trailing":
        return (out + draw(st.sampled_from(["x", "]", "}", "{}", "[]", ",", "\n\n1"]))).encode()
    if kind == "truncate":
        return out.encode()[: draw(st.integers(0, len(out) - 1))]
    at = draw(st.integers(0, len(out)))
    return out.encode()[:at] + draw(st.binary(min_size=1, max_size=6)) + out.encode()[at:]


@pytest.mark.parametrize("reader", JSON_READERS, ids=[r[0] for r in JSON_READERS])
@FUZZ
@given(data=st.data())
def test_json_readers_never_crash(reader, data):
    name, fmt, fixture = reader
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, _ = _setup(fixture, None, workdir)
        path.write_bytes(data.draw(json_mutation(path.read_text())))
        _convert(name, fmt, path, workdir)


@st.composite
def parquet_mutation(draw: st.DrawFn, table: pa.Table) -> pa.Table | bytes:
    """A schema change (drop, duplicate, retype, datetime, fractional) or corrupted bytes."""
    kind = draw(st.sampled_from(["drop", "dup", "retype", "fraction", "datetime", "bytes"]))
    names = table.column_names
    i = draw(st.integers(0, len(names) - 1))
    if kind == "drop":
        return table.remove_column(i)
    if kind == "dup":
        return pa.Table.from_arrays([*table.columns, table.column(i)], names=[*names, names[i]])
    if kind == "retype":
        target = draw(st.sampled_from([pa.string(), pa.float64(), pa.int32(), pa.bool_()]))
        try:
            col = table.column(i).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            col = pa.array([str(v) for v in table.column(i).to_pylist()])
        return table.set_column(i, names[i], col)
    if kind == "fraction":
        col = pa.array(np.asarray(table.column("num_gpus"), dtype=float) + 0.5)
        return table.set_column(names.index("num_gpus"), "num_gpus", col)
    if kind == "datetime":
        col = pa.array((np.asarray(table.column("submit_time_s")) * 1e6).astype("datetime64[us]"))
        return table.set_column(names.index("submit_time_s"), "submit_time_s", col)
    return b"bytes"


@FUZZ
@given(data=st.data())
def test_kiban_parquet_never_crashes(data):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "jobs.parquet"
        write_jobs_parquet(synthetic_jobs(np.random.default_rng(1), n_jobs=8), path)
        mutated = data.draw(parquet_mutation(pq.read_table(path)))
        if isinstance(mutated, bytes):
            raw = path.read_bytes()
            at = data.draw(st.integers(0, len(raw) - 1))
            cut = data.draw(st.booleans())
            blob = data.draw(st.binary(min_size=1, max_size=16))
            path.write_bytes(raw[:at] if cut else raw[:at] + blob + raw[at + len(blob) :])
        else:
            pq.write_table(mutated, path)
        _convert("kiban-parquet", "kiban", path, workdir)


# --- inputs that are malformed for sure: exit 2 required ------------------------------------

KNOWN_BAD: tuple[tuple[str, str, str, str | None, str, int, str], ...] = (
    # (name, format, fixture, inner, delimiter, column, bad value)
    ("philly-csv", "philly", "philly_jobs.csv", None, ",", 2, "1.5"),
    ("philly-csv", "philly", "philly_jobs.csv", None, ",", 0, "9999-12-31 23:59:59"),
    ("philly-csv", "philly", "philly_jobs.csv", None, ",", 4, '"vc'),
    ("slurm-pipe", "slurm", "slurm_sacct_p.txt", None, "|", 8, "gres/gpu=1.5"),
    ("slurm-pipe", "slurm", "slurm_sacct_p.txt", None, "|", 3, "0001-05-01T09:00:00"),
    ("gavel", "gavel", "gavel", "vc1.trace", "\t", 6, "1e23"),
    ("gavel", "gavel", "gavel", "vc1.trace", "\t", 6, "1.5"),
    ("helios", "helios", "helios_cluster_log.csv", None, ",", 3, "2.5"),
    ("helios", "helios", "helios_cluster_log.csv", None, ",", 7, "9999-01-01 00:00:00"),
    ("helios", "helios", "helios_cluster_log.csv", None, ",", 2, '"vc'),
    ("tiresias", "tiresias", "", None, ",", 1, "0.5"),
    ("openb", "openb", "openb", "openb_pod_list_default.csv", ",", 3, "1.5"),
)


@FUZZ
@given(case=st.sampled_from(KNOWN_BAD), data=st.data(), encode=st.booleans())
def test_known_bad_inputs_exit_2(case, data, encode):
    name, fmt, fixture, inner, delim, column, value = case
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, target = _setup(fixture, inner, workdir)
        lines = target.read_text().splitlines(keepends=True)
        first = 0 if fmt == "gavel" else 1
        rows = [k for k in range(first, len(lines)) if len(lines[k].split(delim)) > column]
        i = data.draw(st.sampled_from(rows))
        fields = lines[i].rstrip("\n").split(delim)
        fields[column] = value
        lines[i] = delim.join(fields) + "\n"
        text = "".join(lines)
        target.write_bytes(text.encode("utf-16-le") if encode else text.encode())
        _convert(f"{name}-known-bad", fmt, path, workdir, must_fail=True)


@FUZZ
@given(
    reader=st.sampled_from(JSON_READERS),
    kind=st.sampled_from(["trailing", "deep", "huge-int", "fraction"]),
)
def test_known_bad_json_exit_2(reader, kind):
    name, fmt, fixture = reader
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, _ = _setup(fixture, None, workdir)
        doc = json.loads(path.read_text())
        jobs = doc["jobs"] if isinstance(doc, dict) else doc
        if kind == "trailing":
            path.write_text(json.dumps(doc) + "\ntrailing text")
        elif kind == "deep":
            path.write_text(
                json.dumps(doc)
                .replace('"time"', '"x": ' + "[" * 5000 + "]" * 5000 + ', "time"', 1)
                .replace(
                    '"submitted_time"', '"x": ' + "[" * 5000 + "]" * 5000 + ', "submitted_time"', 1
                )
            )
        elif kind == "huge-int":
            key = "priority" if fmt == "slurm" else "jobid"
            jobs[0][key] = 10**400
            path.write_text(json.dumps(doc))
        else:
            if fmt == "slurm":
                jobs[0]["tres"]["allocated"] = [{"type": "gres", "name": "gpu", "count": 1.5}]
            else:
                jobs[0]["submitted_time"] = "9999-12-31 23:59:59"
            path.write_text(json.dumps(doc))
        _convert(f"{name}-known-bad", fmt, path, workdir, must_fail=True)
