"""Issue 17: command-line numbers, signals, full disks and result files, one test each.

Before the fix: ``--seed -1`` and ``--until 1e400`` / ``1e15d`` gave tracebacks; SIGTERM to
``simulate --workers 2`` left the workers running and wrote nothing of the finished policies;
a re-run killed while saving mixed old and new files; a full disk crashed with a traceback after
the whole run; ``kiban report R --out R/<run>/summary.json`` replaced a result file with HTML.
"""

from __future__ import annotations

import errno
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from kiban._atomic import replace_dir
from kiban.cli._stop import stop_requested, stoppable
from kiban.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tokyo-air-dgx-h100.toml"
KIBAN = Path(sys.executable).with_name("kiban")
WALL_CLOCK_KEYS = ("wall_time_s", "jobs_per_s", "events_per_s")
"""summary.json keys that measure the machine, not the simulation (the only ones that vary)."""


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same scenario and seed simulated twice (one day, one policy)."""
    root = tmp_path_factory.mktemp("runs")
    for name in ("a", "b"):
        subprocess.run(
            [str(KIBAN), "simulate", str(EXAMPLE), "--policy", "fifo-static", "--until", "1d",
             "--seed", "3", "--out", str(root / name), "--json"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return root / "a", root / "b"


# --- command-line numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--seed", "-1"), "--seed = -1: must be a whole number from 0"),
        (("--until", "1e400"), "--until = '1e400': inf s is beyond the longest simulated time"),
        (("--until", "1e15d"), "--until = '1e15d': 8.64e+19 s is beyond the longest"),
        (("--workers", "100000"), "--workers = 100000: must be from 1 to 256"),
    ],
)
def test_bad_numbers_are_one_clear_error(tmp_path, kiban, args, fragment):
    code, out, err = kiban("simulate", str(EXAMPLE), "--out", str(tmp_path / "r"), *args)
    assert code == 2, out + err
    assert fragment in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "r").exists()


# --- result files ----------------------------------------------------------------------------


def test_report_out_never_overwrites_a_result_file(two_runs, kiban):
    run = two_runs[0]
    summary = run / "fifo-static" / "summary.json"
    before = summary.read_bytes()
    code, out, err = kiban("report", str(run), "--out", str(summary))
    assert code == 2, out + err
    assert "summary.json: the report is HTML" in err
    assert summary.read_bytes() == before


def test_same_seed_gives_byte_identical_files(two_runs):
    a, b = (_files(run) for run in two_runs)
    assert a.keys() == b.keys()
    assert "fifo-static/jobs.parquet" in a
    for name in a:
        if name.endswith("summary.json"):
            sa, sb = json.loads(a[name]), json.loads(b[name])
            for key in WALL_CLOCK_KEYS:
                sa.pop(key), sb.pop(key)
            assert sa == sb, name
        else:
            assert a[name] == b[name], f"{name} differs between two runs with the same seed"


# --- full disk -------------------------------------------------------------------------------


def test_disk_full_keeps_previous_files_and_says_so(two_runs, tmp_path, kiban, monkeypatch):
    out = tmp_path / "r"
    out.mkdir()
    (out / "fifo-static").mkdir()
    for name, data in _files(two_runs[0] / "fifo-static").items():
        (out / "fifo-static" / name).write_bytes(data)
    before = _files(out)

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    code, stdout, err = kiban(
        "simulate", str(EXAMPLE), "--policy", "fifo-static", "--until", "1d", "--out", str(out)
    )
    assert code == 2, stdout + err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "No space left on device" in lines[0]
    assert "previous results are kept" in lines[0]
    assert "Traceback" not in stdout + err
    assert _files(out) == before
    assert sorted(os.listdir(out)) == ["fifo-static"]


# --- atomic folder replacement ---------------------------------------------------------------


def test_failed_fill_leaves_old_folder_and_no_temp(tmp_path):
    target = tmp_path / "policy"
    replace_dir(target, lambda d: (d / "summary.json").write_text("old"))

    def half(d: Path) -> None:
        (d / "jobs.parquet").write_text("new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ConfigError, match=r"No space left on device.*previous results are kept"):
        replace_dir(target, half)
    assert os.listdir(tmp_path) == ["policy"]
    assert os.listdir(target) == ["summary.json"]


def test_result_file_target_is_refused(tmp_path):
    (tmp_path / "policy").write_text("a file")
    with pytest.raises(ConfigError, match="is a file, not a results folder"):
        replace_dir(tmp_path / "policy", lambda d: None)


_WRITER = """
import sys, time
from pathlib import Path
from kiban._atomic import replace_dir
from kiban.cli._stop import stop_requested, stoppable
target, i = Path(sys.argv[1]), 0
def fill(d):
    for name in ("jobs.parquet", "timeseries.parquet", "summary.json"):
        (d / name).write_text(str(i) * 20000)
while True:
    i += 1
    replace_dir(target, fill)
"""


def test_killed_rewrites_never_mix_old_and_new(tmp_path):
    """SIGKILL at random moments while a folder is rewritten again and again (30 trials)."""
    target = tmp_path / "policy"
    rng = __import__("random").Random(17)
    for _ in range(30):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)])
        time.sleep(0.25 + rng.random() * 0.3)
        proc.kill()
        proc.wait()
        if target.exists():
            contents = {p.read_text()[:1] for p in target.iterdir()}
            names = sorted(p.name for p in target.iterdir())
            assert names == ["jobs.parquet", "summary.json", "timeseries.parquet"]
            assert len(contents) == 1, f"mixed versions {contents}"
    replace_dir(target, lambda d: (d / "summary.json").write_text("final"))
    assert sorted(os.listdir(tmp_path)) == ["policy"], "stale staging folders were not removed"


# --- signals ---------------------------------------------------------------------------------


HANG_GUARD_S = 600
"""Longest wait for a process that should stop or progress: a guard against a hang, far above
any run time, so that the tests do not depend on the machine's speed or load."""


def _assert_only_complete_results(out: Path, kept: list[str]) -> None:
    """``out`` holds exactly the kept policies' folders, each complete: no staging or temporary
    files (names starting with '.'), every summary.json whole JSON, every parquet file readable."""
    if not kept and not out.exists():
        return
    assert sorted(os.listdir(out)) == sorted(kept)
    hidden = [str(p) for p in out.rglob(".*")]
    assert not hidden, f"half-written files left: {hidden}"
    for name in kept:
        summary = json.loads((out / name / "summary.json").read_text(encoding="utf-8"))
        assert summary, name
        for table in (out / name).glob("*.parquet"):
            pl.read_parquet(table)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def test_sigterm_stops_simulate_and_its_workers(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [str(KIBAN), "simulate", str(EXAMPLE), "--policy", "fifo-static,tiresias-las",
         "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    t0 = time.monotonic()
    workers: list[int] = []
    # Wait for the first policy's results (however slow the machine); the limit is a hang
    # guard, not a measurement.
    while time.monotonic() - t0 < HANG_GUARD_S and proc.poll() is None:
        workers = workers or _children(proc.pid)
        if workers and (out / "fifo-static" / "summary.json").exists():
            break
        time.sleep(0.05)
    assert workers, "simulate --workers 2 started no worker processes"
    assert proc.poll() is None, "simulate finished before the signal: the test needs a longer run"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_GUARD_S)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert proc.returncode == 143, err
    assert not alive, f"worker processes {alive} still running after SIGTERM"
    assert f"stopped by SIGTERM: kept fifo-static in {out}/ (complete)" in err
    assert "Traceback" not in err
    _assert_only_complete_results(out, ["fifo-static"])


@pytest.mark.slow
def test_ctrl_c_stops_demo(tmp_path):
    """Ctrl-C in a terminal sends SIGINT to the whole process group, workers included."""
    proc = subprocess.Popen(
        [str(KIBAN), "demo", "--out", str(tmp_path / "d"), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    # The run has begun (Ctrl-C handled from here on) when the demo prints its first line.
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], HANG_GUARD_S)
    assert ready, "demo printed nothing"
    first = proc.stderr.readline()
    assert first.startswith("kiban demo: "), first
    t0 = time.monotonic()
    while not _children(proc.pid) and time.monotonic() - t0 < HANG_GUARD_S:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "demo --workers 2 started no worker processes"
    os.killpg(proc.pid, signal.SIGINT)  # at once: also while the pool is still starting workers
    _, err = proc.communicate(timeout=HANG_GUARD_S)  # a hang guard, not a measurement
    assert proc.returncode == 130, err
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]
    assert "stopped by SIGINT" in err
    assert "Traceback" not in err
    kept = re.search(r"kept (.+?) in ", err)
    _assert_only_complete_results(tmp_path / "d", kept.group(1).split(", ") if kept else [])


def test_a_stop_python_had_to_drop_is_still_known(capsys):
    """A signal whose Stopped is raised where Python drops exceptions (here a __del__; in a run,
    an at-fork hook while a pool starts a worker) still stops the run: the pool reports its
    killed workers broken, and ``stop_requested`` says why. No traceback is printed."""

    class Drops:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGTERM)  # the handler runs here, inside __del__

    with stoppable():
        Drops()
        stop = stop_requested()
    assert stop is not None
    assert stop.exit_code == 143
    assert stop_requested() is None  # only inside the block
    assert "Traceback" not in capsys.readouterr().err
