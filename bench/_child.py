"""A bench case run in a fresh process with another checkout's code, its JSON row read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def child_row(tree: Path, script: str, args: list[str]) -> dict[str, Any]:
    """Run ``script --child ARGS`` (this checkout's harness) with the code of ``tree`` (its
    ``src`` first on the path, unless it is this checkout); the last line of its output is the
    case's JSON row, returned with the load average beside it."""
    env = dict(os.environ)
    if tree.resolve() != REPO:
        env["PYTHONPATH"] = str(tree / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    )
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    row["load_avg"] = os.getloadavg()
    return row
