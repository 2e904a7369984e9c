"""What every fuzz case checks: kiban's real entry point, in-process, on one generated input.

The promise (issue 17): any input gives exit 0 with a complete output, or exit 2 with one
``error:`` line that names the file (and the line or field where there is one), no traceback,
and nothing written. :func:`check_cli` runs ``kiban ARGS`` and asserts exactly that.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

from kiban.cli import main

EXAMPLES = int(os.environ.get("KIBAN_FUZZ_EXAMPLES", "15"))
"""Cases per reader and generator: 15 in the default test run (bounded time), more for a long
run (``KIBAN_FUZZ_EXAMPLES=300``; docs/robustness.md)."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("KIBAN_FUZZ_RANDOM", "") == "",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Reproducible in CI (derandomized); ``KIBAN_FUZZ_RANDOM=1`` explores new cases."""

COUNTS: dict[str, dict[str, int]] = {}
"""Per generator: cases run, exit 0, exit 2 (read by the long run that fills docs/robustness.md)."""


def run_cli(*args: str) -> tuple[int, str, str]:
    """``kiban ARGS`` in-process; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = ["kiban", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = old_argv
    return code, out.getvalue(), err.getvalue()


def check_cli(
    name: str,
    args: tuple[str, ...],
    *,
    names: str,
    workdir: Path,
    output: Path | None = None,
    must_fail: bool = False,
    one_line: bool = True,
) -> int:
    """Run ``kiban ARGS`` and assert the robustness promise.

    Args:
        name: Generator name (for the counts).
        args: Command line.
        names: Text the error line must contain (the input file's name).
        workdir: Folder whose contents must be unchanged by a failed run.
        output: File a successful run writes (must then exist; a failed one must not).
        must_fail: The input is known to be malformed: exit 2 is required.
        one_line: Exactly one error line (``validate`` lists every problem, one line each).

    Returns:
        The exit status.
    """
    before = sorted(p.name for p in workdir.iterdir())
    code, out, err = run_cli(*args)
    counts = COUNTS.setdefault(name, {"cases": 0, "exit 0": 0, "exit 2": 0})
    counts["cases"] += 1
    counts[f"exit {code}"] = counts.get(f"exit {code}", 0) + 1
    text = out + err
    assert "Traceback" not in text, text
    assert code in (0, 2), f"exit {code}: {text[-2000:]}"
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 if one_line else errors, err
        for line in errors:
            assert names in line, line
            assert len(line) < 1000, f"{len(line)} characters"
        assert sorted(p.name for p in workdir.iterdir()) == before, "a failed run wrote files"
    else:
        assert not must_fail, f"malformed input accepted: {text[-500:]}"
        if output is not None:
            assert output.exists()
    return code


def _dump_counts() -> None:
    target = os.environ.get("KIBAN_FUZZ_REPORT")
    if target and COUNTS:
        import json  # noqa: PLC0415

        Path(target).write_text(json.dumps(COUNTS, indent=1, sort_keys=True))


atexit.register(_dump_counts)
