"""Cooling: CRAC COP against Moore et al.'s published curve.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

from kiban.physics.cooling import crac_cop
from kiban.validation.checks import Section, Table, near

MOORE_TABLE = ((10, 1.15), (15, 2.00), (18, 2.68), (20, 3.19), (22, 3.77), (25, 4.73), (27, 5.44))


def section_cop() -> Section:
    """The Moore CRAC COP table."""
    rows = [
        near(
            f"COP at supply {t:g} °C",
            cop,
            float(crac_cop(float(t))),
            atol=0.01,
            digits=2,
            source="Moore et al., USENIX ATC 2005 (reproduced in Tang 2008); physics.md §3.4",
            test="test_crac_cop_matches_published_table",
        )
        for t, cop in MOORE_TABLE
    ]
    return Section(
        "CRAC efficiency (kiban.physics.cooling.crac_cop)",
        "COP(T) = 0.0068·T² + 0.0008·T + 0.458 against the tabulated values. "
        "Test: `tests/physics/test_cooling.py`.",
        (Table("Moore COP table", tuple(rows)),),
    )
