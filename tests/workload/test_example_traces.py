"""The synthetic example traces are what their scripts write (a rerun reproduces them)."""

from __future__ import annotations

import runpy

import pytest
from tests.conftest import EXAMPLES, REPO_ROOT


@pytest.mark.parametrize(
    ("script", "trace"),
    [("make_mig_trace.py", "mig-a100.csv"), ("make_time_slice_trace.py", "time-slice-l40s.csv")],
)
def test_the_example_trace_is_what_its_script_writes(tmp_path, script, trace):
    """examples/traces/<trace> byte for byte from scripts/<script>."""
    mod = runpy.run_path(str(REPO_ROOT / "scripts" / script))
    out = tmp_path / "t.csv"
    mod["main"](out)
    shipped = EXAMPLES / "traces" / trace
    assert out.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
