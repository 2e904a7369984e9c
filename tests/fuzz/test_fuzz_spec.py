"""Property-based fuzzing of the scenario loader through ``kiban validate`` (issue 17).

Starting from the shipped examples, hypothesis sets a key to a hostile value (wrong type, 1 MB
text, NaN, inf, negative, arrays or inline tables nested thousands deep), deletes, repeats or
swaps lines, inserts bytes, truncates, or re-encodes the file. Every case must give exit 0, or
exit 2 with each problem on one line naming the file, no traceback and nothing written.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from _harness import FUZZ, check_cli
from hypothesis import given
from hypothesis import strategies as st

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))
ASSIGNMENT = re.compile(r"^(\s*[A-Za-z0-9_.\-\"]+\s*=\s*)(.+?)(\s*#.*)?$")

TOML_HOSTILE = (
    '""', '"' + "a" * 1_000_000 + '"', "nan", "inf", "-inf", "-1", "0", "1e308", "-1e308",
    "99999999999999999999", "true", "[]", "{}", "[1, 2]", '{ a = 1 }', "1979-05-27T07:32:00Z",
    '"las"', '"x\\u0000y"', "[" * 3000 + "]" * 3000, "{a=" * 2000 + "1" + "}" * 2000,
    "[" * 40 + "]" * 40, '"../../../../etc/passwd"', '"philly:/dev/zero"', "0.000001",
)  # fmt: skip


@st.composite
def toml_mutation(draw: st.DrawFn, text: str) -> bytes:
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["value", "value", "value", "delete", "dup", "bytes", "encode"]))
    if kind == "value":
        candidates = [i for i, line in enumerate(lines) if ASSIGNMENT.match(line.rstrip("\n"))]
        i = draw(st.sampled_from(candidates))
        match = ASSIGNMENT.match(lines[i].rstrip("\n"))
        assert match is not None
        value = draw(st.one_of(st.sampled_from(TOML_HOSTILE), st.from_regex(r"-?\d{1,6}(\.\d+)?")))
        lines[i] = f"{match.group(1)}{value}\n"
        return "".join(lines).encode()
    if kind == "delete":
        del lines[draw(st.integers(0, len(lines) - 1))]
        return "".join(lines).encode()
    if kind == "dup":
        i = draw(st.integers(0, len(lines) - 1))
        return "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]).encode()
    data = text.encode()
    if kind == "bytes":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return text.encode(draw(st.sampled_from(["utf-16-le", "utf-16", "latin-1"])), "replace")


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@FUZZ
@given(data=st.data())
def test_spec_loader_never_crashes(example, data):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "scenario.toml"
        text = example.read_text(encoding="utf-8")
        # keep relative paths (trace, catalog) pointing where they did
        text = text.replace('"../', f'"{example.parent}/../')
        path.write_bytes(data.draw(toml_mutation(text)))
        check_cli(
            f"spec:{example.stem}",
            ("validate", str(path)),
            names="scenario.toml",
            workdir=workdir,
            one_line=False,
        )
