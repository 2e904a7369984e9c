"""``kiban sweep`` and ``kiban report`` on a sweep through the CLI: errors, logs, SIGTERM."""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from tests.sweep.helpers import copy_inputs
from typer.testing import CliRunner

from kiban.cli import _load_commands, app, main

_load_commands()
runner = CliRunner()


def _main(monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    """kiban's real entry point in-process; return (exit status, non-empty output lines)."""
    monkeypatch.setattr(sys, "argv", ["kiban", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return int(info.value.code or 0), [ln for ln in (out.out + out.err).splitlines() if ln.strip()]


def test_bad_value_is_one_line_naming_file_field_value_exit_2_nothing_written(
    tmp_path, monkeypatch, capsys
):
    body = 'scenario = "tiny.toml"\n[axes]\n"cooling.supply_temp_c" = [18, -300]\n'
    sweep = copy_inputs(tmp_path, body)
    out = tmp_path / "out"
    code, lines = _main(monkeypatch, capsys, "sweep", str(sweep), "--out", str(out))
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith(f'error: {sweep}: axes."cooling.supply_temp_c" = -300: ')
    assert "supply-air set-point (expected 5–40 °C)" in lines[0]
    assert not out.exists()


def test_bad_option_values(tmp_path, monkeypatch, capsys):
    sweep = copy_inputs(tmp_path)
    code, lines = _main(monkeypatch, capsys, "sweep", str(sweep), "--executor", "spark")
    assert (code, lines[-1]) == (2, "error: --executor = 'spark': allowed local, dask")
    code, lines = _main(monkeypatch, capsys, "sweep", str(sweep), "--cluster", "localhost")
    assert code == 2
    assert (
        lines[-1] == "error: --cluster = 'localhost': expected dask://HOST:PORT (a Dask scheduler)"
    )


def test_plain_log_lines_off_a_terminal_then_report(tmp_path):
    sweep = copy_inputs(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "8 runs = axes policy (2), cooling.supply_temp_c (2) (factorial) × 2 seed" in res.output
    log = [ln for ln in res.output.splitlines() if ln.startswith("[")]
    assert len(log) == 8
    pattern = r"\[1/8\] ok +r-[0-9a-f]{12} policy=\S+ cooling\.supply_temp_c=\d+ seed=\d"
    assert re.match(pattern, log[0])
    assert "0 failed; ~" in log[-1]
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 10
    assert 'data-axis="cooling.supply_temp_c"' in html
    # The effect of the supply temperature on PUE: mean over policies within each seed, then
    # mean ± t(0.975, 1) · s / √2 across the two seeds; t = 12.706 (Student's t table, 1 d.o.f.).
    runs = pl.read_parquet(out / "runs.parquet")
    at_18 = runs.filter(pl.col("cooling.supply_temp_c") == 18)
    per_seed = at_18.group_by("seed").agg(pl.col("pue").mean())
    vals = per_seed["pue"].to_list()
    mean = sum(vals) / 2
    half = 12.706 * abs(vals[0] - vals[1]) / math.sqrt(2) / math.sqrt(2)
    digits = max(0, min(6, 1 - math.floor(math.log10(half))))  # two significant digits of ±
    assert f"{mean:,.{digits}f} ± {half:,.{digits}f}" in html
    assert 'class="comparison deltas" data-axis="policy"' in html
    ja = runner.invoke(app, ["report", str(out), "--lang", "ja"])
    assert ja.exit_code == 0, ja.output
    assert "各軸の効果" in (out / "report-ja.html").read_text(encoding="utf-8")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_stops_workers_keeps_finished_runs_and_resumes(tmp_path):
    sweep = copy_inputs(
        tmp_path,
        'scenario = "tiny.toml"\nuntil = "1d"\nseeds = { start = 1, stop = 10, step = 1 }\n'
        '[axes]\npolicy = ["fifo-static", "easy-backfill"]\n',
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from kiban.cli import main; main()", "sweep", str(sweep)]
    cmd += ["--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    workers: set[int] = set()
    for line in proc.stderr:
        workers |= _descendants(proc.pid)
        if re.match(r"\[ *1/20\]", line):
            break
    workers |= _descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert workers
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]
    assert not list((out / "runs").glob(".tmp-*"))
    table = pl.read_parquet(out / "runs.parquet")
    done = table.filter(pl.col("status") == "ok").height
    assert 1 <= done < 20
    assert table.filter(pl.col("status") == "missing").height == 20 - done
    res = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert f"{done} of 20 runs already done; running {20 - done}" in res.output
    assert pl.read_parquet(out / "runs.parquet")["status"].to_list() == ["ok"] * 20
