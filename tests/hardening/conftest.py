"""Helpers of the issue-17 hardening tests: kiban's real entry point, in-process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kiban.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def kiban(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``kiban ARGS...`` in-process; return (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["kiban", *args])
        with pytest.raises(SystemExit) as info:
            main()
        out = capsys.readouterr()
        code = info.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return run
