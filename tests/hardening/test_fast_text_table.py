"""The bulk (polars) path of ``read_text_table``: the csv module's table exactly, or it steps aside.

``kiban validate`` reads a trace on its first run; the Philly CSV's 82,247 rows took 0.3 s in the
line-by-line csv path. Plain files now go through polars in bulk (issue 16). These tests hold
that path to the csv path: for every input, either the bulk path declines (None) or its table is
equal in header, columns (names, dtypes, values), file line of every row and ragged rows; and
``read_text_table`` gives the same table or the same error as the csv path alone. Every row is
still checked: the reader's checks run on the same columns, with the same line numbers.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from tests.conftest import require_data

from kiban.errors import TraceError
from kiban.workload import _rows, read_trace
from kiban.workload._rows import TextTable, read_text_table

# Field values that are plain, blank-looking, non-ASCII white space, or special to csv.
PLAIN = ["1", "2.5", "x", "vc_a", "2017-10-09 07:01:55", "-3", "é", "日本", "a b"]
ODD = ["", " ", "\t", "\u3000", "\xa0", '"', '"q"', "\r", "\x0c", "\x1f", "#", "\\"]


def _same(a: TextTable, b: TextTable) -> None:
    assert a.header == b.header
    assert list(a.columns) == list(b.columns)
    for name, col in b.columns.items():
        assert a.columns[name].equals(col, check_dtypes=True, check_names=True), name
    assert a.lines.dtype == b.lines.dtype
    assert a.lines.tolist() == b.lines.tolist()
    assert a.ragged == b.ragged


def _csv_path(path: Path, **kw: object) -> TextTable | str:
    """The csv module's table (the bulk path switched off), or its error message."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_rows, "_fast_text_table", lambda *a, **k: None)
        try:
            return read_text_table(path, **kw)  # type: ignore[arg-type]
        except TraceError as err:
            return str(err)


def _compare(path: Path, **kw: object) -> bool:
    """Check both paths on one file; return whether the bulk path took it."""
    slow = _csv_path(path, **kw)
    fast = _rows._fast_text_table(
        path,
        delimiter=str(kw.get("delimiter", ",")),
        names=kw.get("names"),  # type: ignore[arg-type]
        header=str(kw.get("header", "required")),
        quoting=int(kw.get("quoting", csv.QUOTE_MINIMAL)),  # type: ignore[call-overload]
        required=kw.get("required"),  # type: ignore[arg-type]
    )
    if fast is not None:
        assert isinstance(slow, TextTable), f"bulk path read a file the csv path refuses: {slow}"
        _same(fast, slow)
    try:
        public: TextTable | str = read_text_table(path, **kw)  # type: ignore[arg-type]
    except TraceError as err:
        public = str(err)
    if isinstance(slow, str):
        assert public == slow
    else:
        assert isinstance(public, TextTable)
        _same(public, slow)
    return fast is not None


def _random_text(rng: random.Random, delimiter: str, n_cols: int, *, plain: bool) -> str:
    lines = []
    for _ in range(rng.randint(0, 6)):
        width = n_cols if plain or rng.random() < 0.8 else rng.randint(1, n_cols + 2)
        pool = [v for v in PLAIN if delimiter not in v]
        if not plain and rng.random() < 0.3:
            pool = PLAIN + ODD + [delimiter]
        lines.append(delimiter.join(rng.choice(pool) for _ in range(width)))
        if not plain and rng.random() < 0.1:
            lines.append(rng.choice(["", " ", delimiter * (n_cols - 1), "\u3000"]))
    text = ("\r\n" if rng.random() < 0.2 else "\n").join(lines)
    if rng.random() < 0.7:
        text += "\n"
    if rng.random() < 0.2:
        text += rng.choice(["\n", "\n\n", " \n", delimiter + "\n", "\n \t"])
    return text


@pytest.mark.parametrize("delimiter", [",", "|", "\t", " "])
def test_bulk_path_equals_csv_path_on_random_files(tmp_path: Path, delimiter: str) -> None:
    rng = random.Random(16)
    names = ["a", "b", "c"]
    taken = 0
    n_files = 150
    for i in range(n_files):
        plain = i % 2 == 0
        header_mode = rng.choice(["required", "none", "optional"])
        head = "" if header_mode == "none" or rng.random() < 0.2 else delimiter.join(names) + "\n"
        if rng.random() < 0.1:
            head = "\ufeff" + head
        path = tmp_path / f"t{i}.csv"
        path.write_text(head + _random_text(rng, delimiter, 3, plain=plain), encoding="utf-8")
        kw: dict[str, object] = {"delimiter": delimiter, "header": header_mode}
        if header_mode != "required":
            kw["names"] = names
        if rng.random() < 0.3:
            kw["quoting"] = csv.QUOTE_NONE
        if rng.random() < 0.3:
            kw["required"] = ["a", "c"]
        taken += _compare(path, **kw)
    assert taken > n_files // 4, "the bulk path should take most plain files"


@pytest.mark.parametrize(
    ("text", "bulk"),
    [
        ("a,b\n1,2\n3,4\n", True),
        ("a,b\n1,2\n3,4", True),  # no final newline
        ("a,b\n1,2\n\n \n,\n", True),  # blank lines at the end only
        ("\ufeffa,b\n1,2\n", True),  # BOM (Excel)
        (" A ,B\n1, 2 \n", True),  # header stripped and lower-cased; fields kept as written
        ("a,b\n1,\n,2\n", True),  # empty fields are "", not null
        ("a,b\n1,2\n\n3,4\n", False),  # blank line inside: line numbers shift
        ("a,b\n1,2\n,\n3,4\n", False),  # delimiters only: a blank row
        ("a,b\n1,2\n\u3000,\n3,4\n", False),  # non-ASCII white space only: blank
        ("a,b\n1,2,3\n", False),  # ragged
        ("a,b\n1\n", False),  # ragged (short)
        ('a,b\n"1",2\n', False),  # quoted
        ('a,b\n"1\n2",3\n', False),  # record over two lines
        ("a,b\r\n1,2\r\n", True),  # CRLF (Windows)
        ("a,b\r\n1,2 \r\n\r\n", True),  # CRLF, blank line at the end
        ("a,b\r\n1,\r2\r\n", False),  # a lone CR ends a line for the csv module
        ("a,b\n1,2\r\r\n", False),
        ("a,a\n1,2\n", False),  # repeated column
        ("a,b\n\xff,2\n", False),  # not UTF-8 (written as bytes below)
        ("", False),
        ("\n\n", False),
        ("a,b\n", True),  # header only
    ],
)
def test_bulk_path_takes_plain_files_only(tmp_path: Path, text: str, bulk: bool) -> None:
    path = tmp_path / "t.csv"
    if "\xff" in text:
        path.write_bytes(text.replace("\xff", "").encode() + b"\xff\n")
    else:
        path.write_bytes(text.encode("utf-8"))
    assert _compare(path) is bulk


def test_bulk_path_line_numbers_name_the_bad_row(tmp_path: Path) -> None:
    """A bad value in a plain file is named with its file line (the bulk path's line numbers)."""
    rows = [f"2017-10-0{1 + i % 9} 07:01:55,100,1,100,vc{i}" for i in range(50)]
    rows[36] = "2017-10-01 07:01:55,ten,1,100,vc36"
    path = tmp_path / "jobs.csv"
    path.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n" + "\n".join(rows) + "\n")
    assert (
        _rows._fast_text_table(
            path, delimiter=",", names=None, header="required", quoting=0, required=None
        )
        is not None
    )
    with pytest.raises(TraceError, match=r"jobs\.csv:38: duration = 'ten': must be a number"):
        read_trace(f"philly:{path}")


def test_bulk_path_equals_csv_path_on_shared_traces(data_root: Path) -> None:
    """The public traces kiban's examples and tests read: the bulk path takes them, unchanged."""
    philly = require_data(data_root, "philly", "pollux_philly_jobs.csv")
    assert _compare(philly, required=["timestamp", "duration", "num_gpus", "cluster"])
    tiresias = require_data(data_root, "tiresias-sample", "60_job.csv")
    assert _compare(tiresias)
    openb = require_data(data_root, "alibaba-gpu-v2023-openb", "csv", "openb_pod_list_default.csv")
    assert _compare(openb)
