"""A first run that feels fast: light start-up, honest help text, progress in logs, 80 columns."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from importlib import resources

import pytest
from rich.console import Console
from tests.conftest import EXAMPLES
from typer.testing import CliRunner

from kiban.catalog import KINDS, default_catalog
from kiban.cli import _load_commands, app
from kiban.cli._app import console, err_console
from kiban.cli._progress import PlainProgress, fmt_clock
from kiban.cli.catalog import _row
from kiban.sim.scenario import DEMO_SCENARIO

_load_commands()
runner = CliRunner()

HEAVY = ("numpy", "scipy", "polars", "pyarrow", "pydantic", "rich", "matplotlib", "jinja2")


def _modules_after(*args: str) -> set[str]:
    code = (
        "import sys; from kiban.cli import main; sys.argv = ['kiban', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("simulate", "--help")])
def test_help_and_version_load_no_heavy_module(args):
    """Old behaviour: every command imported numpy, scipy, polars, pydantic (~2.5 CPU-s)."""
    loaded = _modules_after(*args)
    heavy = set(HEAVY)
    if len(args) > 1:
        heavy.discard("pydantic")  # typer >= 0.2x parses a subcommand's options with pydantic
    assert not loaded & heavy, sorted(loaded & heavy)


def test_help_keeps_bracketed_words_and_shows_no_bool_metavar():
    res = runner.invoke(app, ["simulate", "--help"], terminal_width=100)
    assert res.exit_code == 0
    assert "(overrides [workload])" in res.output
    assert "scenario's [policies]" in res.output
    assert "<bool>" not in res.output
    res = runner.invoke(app, ["plan", "--help"], terminal_width=100)
    assert "[plan]" in res.output
    assert "<bool>" not in res.output


def test_plain_progress_line_has_done_total_and_time_left():
    now = [100.0]
    lines: list[str] = []
    tracker = PlainProgress(["a", "b"], 10 * 86400.0, lines.append, clock=lambda: now[0])
    tracker._t0 = 100.0
    assert "time left not known yet" in tracker.line()
    tracker.update("a", 5 * 86400.0, 1000)
    now[0] = 110.0
    line = tracker.line()
    assert line.startswith("progress: 25 % (0/2 policies done; a at day 5.0 of 10.0)")
    assert "0:10 elapsed, about 0:30 left" in line
    tracker.done("a")
    assert tracker.line().startswith("progress: 50 % (1/2 policies done)")
    assert fmt_clock(3725) == "1:02:05"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_simulate_prints_plain_progress_when_not_a_terminal(tmp_path, monkeypatch, workers):
    """CliRunner output is not a TTY: old code printed only a final bar frame, no line with ETA."""
    monkeypatch.setattr("kiban.cli._progress.PLAIN_PROGRESS_INTERVAL_S", 0.01)
    demo = str(resources.files("kiban.sim").joinpath(DEMO_SCENARIO))
    res = runner.invoke(
        app,
        ["simulate", demo, "--policy", "fifo-static,easy-backfill", "--until", "1d",
         "--out", str(tmp_path), "--workers", workers],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    progress = [x for x in res.output.splitlines() if "progress:" in x]
    assert any("1/2 policies done" in x for x in progress), res.output
    assert any(re.search(r"progress: 100 % \(2/2 policies done\)", x) for x in progress)
    assert all("elapsed" in x and "left" in x for x in progress)


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", text)


@pytest.mark.parametrize("width", [80, 60])
def test_catalog_list_fits_the_width_and_never_splits_a_number(width, monkeypatch):
    """Old behaviour: numbers folded mid-digit ("4.772" / "7") at 80 columns."""
    monkeypatch.setattr(console, "_console", Console(width=width, color_system=None))
    res = runner.invoke(app, ["catalog", "list"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(x) for x in lines) <= width
    tokens = set(re.split(r"[\s│┃]+", res.output))
    cat = default_catalog()
    for kind in KINDS:
        for rec in cat.table(kind).values():
            for cell in _row(rec)[1]:
                for number in _numbers(cell):
                    assert any(number in t for t in tokens), (kind, rec.name, cell)


def test_site_evaluate_fits_80_columns_without_cutting_headers(monkeypatch):
    """Old behaviour: 'cooli…', 'serve…', 'chip@T…' at 80 columns."""
    monkeypatch.setattr(console, "_console", Console(width=80, color_system=None))
    res = runner.invoke(app, ["site", "evaluate", str(EXAMPLES / "hall-512-h100-rdhx.toml")])
    assert res.exit_code == 0, res.output
    table_lines = [x for x in res.output.splitlines() if "┃" in x or "│" in x]
    assert table_lines
    assert max(len(x) for x in table_lines) <= 80
    assert "…" not in res.output
    for word in ("cooling", "servers", "chip@TDP", "rear-door-hx"):
        assert word in res.output


def test_simulate_in_a_terminal_draws_bars(tmp_path, monkeypatch):
    """The rich progress bars get the real console behind the lazy stand-in."""
    buf = io.StringIO()
    monkeypatch.setattr(err_console, "_console", Console(file=buf, force_terminal=True, width=100))
    demo = str(resources.files("kiban.sim").joinpath(DEMO_SCENARIO))
    res = runner.invoke(app, ["simulate", demo, "--policy", "fifo-static", "--until", "12h",
                              "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "fifo-static" in buf.getvalue()
    assert "progress:" not in buf.getvalue()  # bars, not plain lines
