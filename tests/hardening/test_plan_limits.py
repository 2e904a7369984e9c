"""Issue 17: the planner's size and time limits.

Before the fix ``kiban plan`` with 10,000 candidate racks and ``--time-limit 60`` ran 472 s,
peaked at 8.9 GB and then blamed the UPS (a solve that ran out of time was taken for a proof of
infeasibility). Now a site too large for its time limit is refused before anything is built, a
solve that runs out of time says so with the problem's size and what to reduce, and the whole
plan (cooling comparison included) keeps to one deadline.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kiban.cli._stop import Stopped, stoppable
from kiban.cli.plan import _in_thread
from kiban.errors import PlanError
from kiban.plan import run
from kiban.plan.build import build_problem
from kiban.plan.run import check_plan_size, compare_cooling, load_site, plan_site
from kiban.plan.solve import TimeLimitError, solve_plan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tokyo-air-dgx-h100.toml"


def big_site(tmp_path: Path, racks: int) -> Path:
    """The Tokyo example with a hall grid of ``racks`` positions and half as many DGX H100."""
    rows = max(2, round(racks**0.5 / 2) * 2)
    per_row = -(-racks // rows)
    text = EXAMPLE.read_text(encoding="utf-8")
    subs = {
        r"length_m = 10\.0": f"length_m = {per_row * 0.6 + 8.0:.1f}",
        r"width_m = 8\.0": f"width_m = {rows * 2.4 + 6.0:.1f}",
        r"rows = 2\nracks_per_row = 2": f"rows = {rows}\nracks_per_row = {per_row}",
        r"grid_limit_kw = 250": "grid_limit_kw = 1000000",
        r"ups_capacity_kw = 120": f"ups_capacity_kw = {racks * 25}",
        r"count = 8": f"count = {racks // 2}",
        r"floor_rating_kpa = 12\.0": "floor_rating_kpa = 20.0",
    }
    for pattern, value in subs.items():
        text, n = re.subn(pattern, value, text)
        assert n == 1, pattern
    path = tmp_path / f"site{racks}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_ten_thousand_racks_is_refused_with_what_to_reduce(tmp_path, kiban, monkeypatch):
    """Refused before anything is built (the old code spent 472 s and 8.9 GB building)."""
    site = big_site(tmp_path, 10_000)

    def never(*_args: object, **_kwargs: object) -> None:
        pytest.fail("the problem was built: the size guard must refuse the site before")

    monkeypatch.setattr(run, "build_problem", never)
    code, out, err = kiban("plan", str(site), "--time-limit", "60", "--out", str(tmp_path / "p"))
    assert code == 2, out + err
    assert "10,000 candidate rack positions are too many" in err
    assert "split the hall into blocks of rows" in err
    assert "UPS" not in err
    assert not (tmp_path / "p").exists()


def test_size_guard_follows_the_time_limit(tmp_path):
    scenario, _ = load_site(big_site(tmp_path, 400))
    check_plan_size(scenario, 60.0)  # 400 positions fit in a minute
    with pytest.raises(PlanError, match=r"400 candidate rack positions .* raise --time-limit"):
        check_plan_size(scenario, 2.0)


def test_solve_out_of_time_is_not_called_infeasible(tmp_path):
    scenario, _ = load_site(big_site(tmp_path, 200))
    problem = build_problem(scenario)
    with pytest.raises(TimeLimitError, match=r"time ran out; this does not prove") as info:
        solve_plan(problem, time_limit_s=0.01)
    assert "candidate rack positions" in str(info.value)
    assert "raise --time-limit" in str(info.value)


HANG_GUARD_S = 600.0
"""Real time a solve or a stopping process may take in these tests: a guard against a hang,
not a measurement."""


class _SolverClock:
    """The planner's clock, advanced by the solves alone: each solve takes ``solve_s`` or its
    whole time limit, whichever is less (HiGHS stops at its limit). The solves are real; only
    their duration is fixed, so the deadline arithmetic is tested apart from the machine's
    speed and load."""

    def __init__(self, solve_s: float) -> None:
        self.now_s = 1000.0
        self.solve_s = solve_s
        self.solves: list[tuple[float, float]] = []  # (start, time limit given)

    def perf_counter(self) -> float:
        return self.now_s

    def wrap(self, solve):
        def timed(problem, *, time_limit_s, **kwargs):
            self.solves.append((self.now_s, time_limit_s))
            try:  # HiGHS gets ample real time: the result must not depend on the load either
                return solve(problem, time_limit_s=HANG_GUARD_S, **kwargs)
            finally:
                self.now_s += min(self.solve_s, time_limit_s)

        return timed


@pytest.mark.parametrize(
    ("solve_s", "n_compared", "racks"),
    [
        # fast solves: every cooling option compared within the limit, on a 16-position hall
        # (the real solves run in full); the 100-position hall takes about 10 min on 2 cores
        (0.5, 99, 16),
        pytest.param(0.5, 99, 100, marks=pytest.mark.slow),
        (1e9, 0, 100),  # every solve runs to its limit: the main one uses it all, none compared
    ],
)
def test_plan_keeps_to_its_time_limit(tmp_path, monkeypatch, solve_s, n_compared, racks):
    """No solve is given more time than is left before the deadline, and the plan says how
    far the time reached (how many cooling options were not compared)."""
    scenario, _ = load_site(big_site(tmp_path, racks))
    clock = _SolverClock(solve_s)
    monkeypatch.setattr(run, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    monkeypatch.setattr(run, "solve_plan", clock.wrap(run.solve_plan))
    limit_s = 8.0
    deadline_s = clock.now_s + limit_s
    result = plan_site(scenario, time_limit_s=limit_s)
    assert result.solution.n.sum() == racks // 2
    assert clock.solves, "no solve ran"
    for start_s, given_s in clock.solves:
        assert start_s + given_s <= deadline_s + 1e-9, (start_s, given_s, clock.solves)
    assert clock.now_s <= deadline_s
    compared = len(result.options) - 1
    n_techs = len(result.problem.techs)
    assert compared == min(n_compared, n_techs), clock.solves
    skipped_notes = [note for note in result.notes if "not compared" in note]
    if compared < n_techs:
        assert skipped_notes == [
            f"{n_techs - compared} cooling option(s) not compared: the time limit (8 s) ran out "
            "before a layout was found for them; raise --time-limit to compare every option"
        ]
    else:
        assert skipped_notes == []


def test_comparison_stops_at_the_deadline(tmp_path):
    """Options the time does not reach are left out (and noted), never called infeasible."""
    scenario, _ = load_site(EXAMPLE)
    problem = build_problem(scenario)
    options = compare_cooling(
        scenario, problem, load_frac=0.8, time_limit_s=5.0, gap_tol=1e-4,
        deadline=time.perf_counter(),
    )  # fmt: skip
    assert options == []


@pytest.mark.slow
def test_sigterm_stops_plan_during_the_solve(tmp_path):
    """HiGHS holds its thread until the time limit; the signal must not wait for it."""
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    site = big_site(tmp_path, 700)
    kiban = Path(sys.executable).with_name("kiban")
    proc = subprocess.Popen(
        [str(kiban), "plan", str(site), "--time-limit", "60", "--out", str(tmp_path / "p")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(8.0)  # loading and building take a few seconds; then HiGHS runs
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_GUARD_S)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM: nothing kept; the plan was not finished" in err
    assert not (tmp_path / "p").exists()


def test_signal_does_not_wait_for_the_solver_thread():
    """SIGTERM during a solve stops the plan while the solver still holds its thread.

    The work here blocks until the test releases it, as HiGHS holds its thread until its time
    limit: Stopped must arrive while the work is still blocked (the order of events is checked,
    not a duration)."""
    release = threading.Event()
    finished: list[bool] = []

    def solve():
        os.kill(os.getpid(), signal.SIGTERM)
        release.wait(HANG_GUARD_S)  # the test releases it long before
        finished.append(True)

    with stoppable(), pytest.raises(Stopped) as info:
        _in_thread(solve)  # type: ignore[arg-type]
    still_blocked = not release.is_set() and not finished
    release.set()
    assert info.value.exit_code == 143
    assert still_blocked, "the signal waited for the solver thread"
