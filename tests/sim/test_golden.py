"""Simulation output is byte-identical to the digests recorded from the code before the
simulator was rebuilt as components (issue 9): summary.json (less wall-clock keys), the ledger,
every raw run array and the content of every parquet file, for each case and policy of
``scripts/golden_digests.py`` (which states what each case covers). Each case runs in a child
process with OpenBLAS's kernels pinned (``golden.PINNED_ENV``), so the digests hold on Intel and
AMD machines alike."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import REPO_ROOT, require_data

_SCRIPT = REPO_ROOT / "scripts" / "golden_digests.py"


def _load_script():
    name = "kiban_golden_digests"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


golden = _load_script()
EXPECTED = json.loads(Path(golden.DIGESTS).read_text(encoding="utf-8"))


def _check(tier: str, case: str, data_root: Path) -> None:
    if "philly" in case:
        require_data(data_root, "philly", "pollux_philly_jobs.csv")
    expected = EXPECTED[tier][case]
    got = golden.pinned_case_digests(tier, case)
    problems = golden.diff(expected, got)
    assert not problems, f"{tier}/{case} differs from the golden digests:\n" + "\n".join(problems)


SLOW_FAST_CASES = {"stress"}
"""Fast-tier cases that take minutes since the coupled twin (stress: 262 s on 2 cores): -m slow."""


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.slow) if c in SLOW_FAST_CASES else c
        for c in sorted(golden.TIERS["fast"])
    ],
)
def test_fast_cases_match_the_golden_digests(case, data_root):
    _check("fast", case, data_root)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(golden.TIERS["full"]))
def test_full_demo_and_philly_replay_match_the_golden_digests(case, data_root):
    _check("full", case, data_root)


def test_the_table_digest_sees_content_not_encoding():
    """The same table written twice (different row groups) has one digest; a changed value
    changes it."""
    a = pa.table({"x": [1.0, 2.0, None], "s": ["a", "", None], "n": [1, 2, 3]})
    b = pa.concat_tables([a.slice(0, 1), a.slice(1)])
    assert golden.table_digest(a) == golden.table_digest(b)
    c = pa.table({"x": [1.0, 2.5, None], "s": ["a", "", None], "n": [1, 2, 3]})
    assert golden.table_digest(a) != golden.table_digest(c)
