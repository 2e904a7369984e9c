"""Comparisons that do not mislead (issue 16): same jobs, censoring, per useful GPU-hour.

Each test builds result folders whose numbers make the old report wrong: a policy that finishes
fewer jobs had the "best" mean JCT, a policy that did less work had the "best" energy total, a run
cut at its horizon showed the horizon as makespan, and `kiban report` mixed scenarios.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
from report_fixtures import write_result_dir

from kiban.cli import main
from kiban.comparison import fair_stats
from kiban.errors import ConfigError
from kiban.report import build_context
from kiban.report._load import resolve_result_dirs


def _jobs(jct_s: list[float | None], submit_s: float = 0.0) -> pl.DataFrame:
    done = [j is not None for j in jct_s]
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(len(jct_s))],
            "submit_time_s": [submit_s] * len(jct_s),
            "jct_s": jct_s,
            "run_s": [j if j is not None else 50.0 for j in jct_s],
            "status": ["completed" if d else "running" for d in done],
            "completed": done,
        },
        schema_overrides={"jct_s": pl.Float64},
    )


def _summary(done: int, total: int, **kw: float) -> dict:
    return {"jobs_total": total, "jobs_completed": done, "jobs_unfinished": total - done,
            "jobs_not_arrived": 0, "horizon_s": 1000.0, **kw}  # fmt: skip


def test_jct_is_compared_on_the_jobs_every_policy_finished():
    # "starver" finishes only the two short jobs: its own-finished mean JCT (15 s) looks 10x
    # better than "fair" (which also finished the 500 s job), but on the common jobs it is worse.
    fair = _jobs([10.0, 10.0, 500.0])
    starver = _jobs([20.0, 10.0, None])
    stats = fair_stats([(_summary(3, 3), fair), (_summary(2, 3), starver)])
    assert stats.finished_frac == [pytest.approx(1.0), pytest.approx(2 / 3)]
    assert stats.common_jobs == 2
    assert stats.common_jct_mean_s == [pytest.approx(10.0), pytest.approx(15.0)]
    # the unfinished job counts at the horizon (1000 s) for the starver, service 500 s
    # (from the policy that finished it): slowdowns fair (1+1+1)/3, starver (2+1+2)/3
    assert stats.slowdown_mean == [pytest.approx(1.0), pytest.approx(5 / 3)]
    assert stats.all_finished == [True, False]


def _two_policies(tmp_path: Path) -> Path:
    """DIR/fifo-static (the fixture's 'fifo') and DIR/easy-backfill (its 'backfill')."""
    root = tmp_path / "run"
    for fixture, name in (("fifo", "fifo-static"), ("backfill", "easy-backfill")):
        src = write_result_dir(tmp_path / "src", fixture)
        src.rename(root / name) if root.exists() else (root.mkdir(), src.rename(root / name))
        path = root / name / "summary.json"
        summary = json.loads(path.read_text())
        summary["policy"] = name
        path.write_text(json.dumps(summary))
    return root


def test_report_shows_finished_share_common_jct_and_per_useful_gpu_hour(tmp_path):
    root = _two_policies(tmp_path)
    ctx = build_context(root, "en")
    keys = [r.key for r in ctx.comparison]
    rows = {r.key: r for r in ctx.comparison}
    # the finished share sits right before the JCT rows; JCT on common jobs comes first
    assert keys.index("finished_share") < keys.index("jct_common_mean") < keys.index("jct_mean")
    assert "jobs every policy finished" in rows["jct_common_mean"].label
    # own-finished JCT and all totals are context: never highlighted
    for key in ("jct_mean", "jct_p50", "jct_p99", "facility_energy", "cost", "co2", "it_energy"):
        assert rows[key].better == "context"
        assert not any(c.best for c in rows[key].cells), key
    # per useful GPU-hour rows are ranked, and the highlight follows energy / productive hours
    for key in ("energy_per_useful", "cost_per_useful", "co2_per_useful"):
        assert rows[key].better == "lower"
        values = [c.value for c in rows[key].cells]
        best = values.index(min(v for v in values if v is not None))
        assert rows[key].cells[best].best, key
    runs = [json.loads((root / p / "summary.json").read_text()) for p in ctx.policies]
    per_useful = [r["facility_energy_kwh"] / r["gpu_hours_productive"] for r in runs]
    assert [c.value for c in rows["energy_per_useful"].cells] == pytest.approx(per_useful)
    # wait sits beside preemptions and checkpoint cost
    i = keys.index("wait_mean")
    assert keys[i + 1 : i + 3] == ["preemptions", "checkpoint_gpu_hours"]
    assert [c.text for c in rows["preemptions"].cells] == ["0", "3"]


def test_makespan_only_when_every_job_finished(tmp_path):
    root = _two_policies(tmp_path)
    row = next(r for r in build_context(root, "en").comparison if r.key == "makespan")
    assert [c.text for c in row.cells] == ["not all jobs finished"] * 2
    assert not any(c.best for c in row.cells)
    row_ja = next(r for r in build_context(root, "ja").comparison if r.key == "makespan")
    assert row_ja.cells[0].text == "未完了のジョブあり"


def test_rerunning_report_keeps_the_baseline_first(tmp_path):
    root = _two_policies(tmp_path)
    # name order would put easy-backfill first
    assert [p.name for p in resolve_result_dirs([root])] == ["fifo-static", "easy-backfill"]
    assert build_context(root, "en").policies == ["fifo-static", "easy-backfill"]


def test_report_refuses_runs_of_different_scenarios(tmp_path, monkeypatch, capsys):
    a = _two_policies(tmp_path / "a")
    b = _two_policies(tmp_path / "b")
    path = b / "easy-backfill" / "summary.json"
    summary = json.loads(path.read_text())
    summary["scenario_name"] = "other-hall"
    path.write_text(json.dumps(summary))
    with pytest.raises(ConfigError, match="2 different scenarios"):
        build_context([a, b], "en")
    monkeypatch.setattr(
        sys, "argv", ["kiban", "report", str(a), str(b), "--out", str(tmp_path / "r.html")]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "different scenarios (scenario name differs)" in err
    assert "run `kiban report` once per scenario" in err
    assert not (tmp_path / "r.html").exists()


def test_a_diagnosed_cluster_is_compared_against_any_twin(tmp_path):
    """`kiban diagnose` output has no scenario (no seed, a telemetry source): it sits beside the
    twin it is checked against, while two simulated scenarios are still refused."""
    a = _two_policies(tmp_path / "a")
    b = _two_policies(tmp_path / "b")
    path = b / "easy-backfill" / "summary.json"
    summary = json.loads(path.read_text())
    summary.update(scenario_name="diagnosed cluster", policy="diagnosed", seed=None,
                   source="http://prometheus:9090", jobs_total=7)  # fmt: skip
    path.write_text(json.dumps(summary))
    ctx = build_context([a / "fifo-static", b / "easy-backfill"], "en")
    assert ctx.policies == ["fifo-static", "diagnosed"]
    summary["seed"] = 1  # a simulated run that names a source is still a scenario
    path.write_text(json.dumps(summary))
    with pytest.raises(ConfigError, match="2 different scenarios"):
        build_context([a / "fifo-static", b / "easy-backfill"], "en")
