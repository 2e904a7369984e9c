"""`kiban simulate` of an example scenario under every placement, as the example tests run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import EXAMPLES
from typer.testing import CliRunner

from kiban.cli import _load_commands, app
from kiban.vocabulary import LOST_BUCKETS

PLACEMENTS = ("fifo-static", "best-fit", "random-fit", "fgd")

_load_commands()


def simulate_every_placement(example: str, out: Path) -> dict[str, dict[str, Any]]:
    """Run ``kiban simulate examples/EXAMPLE --policy <every placement> --out OUT --json``;
    it must exit 0. Returns each policy's ``summary.json``."""
    res = CliRunner().invoke(
        app,
        ["simulate", str(EXAMPLES / example), "--policy", ",".join(PLACEMENTS),
         "--out", str(out), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return {
        pol: json.loads((out / pol / "summary.json").read_text(encoding="utf-8"))
        for pol in PLACEMENTS
    }


def assert_ledger_sums_to_capacity(summary: dict[str, Any]) -> None:
    """Productive plus every lost bucket is the GPU capacity (each GPU-second booked once)."""
    ledger = summary["ledger_gpu_hours"]
    total = summary["gpu_hours_productive"] + sum(ledger[k] for k in LOST_BUCKETS)
    assert total == pytest.approx(summary["gpu_hours_capacity"], rel=1e-9)
