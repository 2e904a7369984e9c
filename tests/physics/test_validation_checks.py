"""Every model's reference checks (kiban.validation) pass at their tolerances.

The same checks are rendered into docs/validation.md by scripts/validation_report.py; each
carries its published value and source (Zeus NSDI'23 traces, MLPerf Power, LBNL 2024, Moore et
al. 2005, Tang et al. 2008, Meta's Llama 3 report, ...), so a failure names what was compared
with what. The GPU and server sections read the public Zeus and MLPerf data.
"""

from __future__ import annotations

import math

import pytest
from tests.conftest import require_data

from kiban.validation import SECTIONS
from kiban.validation.gpu_power import ZEUS_GPUS
from kiban.validation.server_power import MLPERF_FILE

NEEDS_DATA = {
    "section_gpu_power": [("zeus-power-traces", f"summary_power_{g}.csv") for g in ZEUS_GPUS],
    "section_server_power": [("mlperf-power", MLPERF_FILE)],
}


SLOW_SECTIONS = {"section_packing"}
"""Sections that take minutes (packing: 10 seeds × 3 pod lists × 3 policies of the openb
experiment, 160 s of the default run); tests/workload/test_packing.py checks one seed by default."""


@pytest.mark.parametrize(
    "section",
    [
        pytest.param(f, marks=pytest.mark.slow) if f.__name__ in SLOW_SECTIONS else f
        for f in SECTIONS
    ],
    ids=lambda f: f.__name__.removeprefix("section_"),
)
def test_every_check_of_the_model_passes(section, data_root):
    for folder, name in NEEDS_DATA.get(section.__name__, []):
        require_data(data_root, folder, name)
    result = section()
    assert result.rows, result.title
    failed = [r.explain() for r in result.rows if r.passed is False]
    assert not failed, "\n".join(failed)
    for row in result.rows:
        if row.model_value is not None and row.allowed is not None and row.passed is not None:
            lo, hi = row.allowed
            inside = lo - 1e-12 <= row.model_value <= hi + 1e-12
            assert inside == row.passed or not math.isfinite(row.model_value), row.explain()
