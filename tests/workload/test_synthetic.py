"""The Philly-calibrated synthetic generator: a synthetic month reproduces Philly's statistics.

Reference numbers are Philly's own ``trace_stats`` (stored in the shipped fit as ``reference`` by
``scripts/fit_synthetic.py``; ``test_shipped_fit_is_fresh`` recomputes them from the public CSV).
Tolerances (the brief of issue 4): size mix ±3 points per class, p50/p90 duration ±15 %, arrival
rate ±10 %, GPU-hours per day ±15 %. Seed 0 is the default seed, not a chosen one: over seeds
0–39 the month's GPU-hours/day error has mean −2.0 % and standard deviation 6.4 % (1 of 40 months
is outside ±15 %), because a month holds only a few of Philly's largest jobs.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_data

from kiban.errors import ConfigError
from kiban.units import S_PER_DAY, S_PER_H
from kiban.workload import (
    arrival_scale_for_load,
    default_params,
    fit_synthetic_params,
    mean_gpu_seconds_per_job,
    read_trace,
    synthetic_jobs,
    trace_stats,
    validate_jobs,
)
from kiban.workload.synthetic import SyntheticParams

MONTH_S = 30 * S_PER_DAY


@pytest.fixture(scope="module")
def month():
    return synthetic_jobs(np.random.default_rng(0), horizon_s=MONTH_S)


def test_month_reproduces_philly(month):
    ref = default_params().reference
    got = trace_stats(month)
    validate_jobs(month, "synthetic")
    assert ref["jobs"] == 82_247
    for label, share in ref["size_mix"].items():
        assert got["size_mix"][label] == pytest.approx(share, abs=0.03), label
    for key in ("duration_p50_s", "duration_p90_s"):
        assert got[key] == pytest.approx(ref[key], rel=0.15), key
    assert got["arrival_rate_per_h"] == pytest.approx(ref["arrival_rate_per_h"], rel=0.10)
    assert got["gpu_hours_per_day"] == pytest.approx(ref["gpu_hours_per_day"], rel=0.15)
    assert month["submit_time_s"].max() < MONTH_S


def test_ten_months_average_gpu_hours():
    """Averaged over 10 independent months the GPU-hours/day is within ±6 % of Philly's."""
    ref = default_params().reference["gpu_hours_per_day"]
    per_month = [
        trace_stats(synthetic_jobs(np.random.default_rng(seed), horizon_s=MONTH_S))[
            "gpu_hours_per_day"
        ]
        for seed in range(10)
    ]
    assert np.mean(per_month) == pytest.approx(ref, rel=0.06)


def test_same_seed_same_frame(month):
    again = synthetic_jobs(np.random.default_rng(0), horizon_s=MONTH_S)
    assert again.equals(month)
    other = synthetic_jobs(np.random.default_rng(1), horizon_s=MONTH_S)
    assert not other.equals(month)


def test_weekly_and_diurnal_arrivals():
    """Arrivals per weekday and per hour follow the fitted multipliers (16 weeks, ±8 %)."""
    params = default_params()
    df = synthetic_jobs(np.random.default_rng(4), horizon_s=16 * 7 * S_PER_DAY)
    t = df["submit_time_s"].to_numpy()
    dow = (t // S_PER_DAY).astype(int) % 7
    hod = (t // S_PER_H).astype(int) % 24
    by_dow = np.bincount(dow, minlength=7) / np.bincount(dow, minlength=7).mean()
    by_hod = np.bincount(hod, minlength=24) / np.bincount(hod, minlength=24).mean()
    np.testing.assert_allclose(by_dow, params.weekday_factor, rtol=0.08)
    np.testing.assert_allclose(by_hod, params.hour_factor, rtol=0.08)
    # Philly: Friday busiest, weekends quietest
    assert np.argmax(params.weekday_factor) == 4
    assert max(params.weekday_factor[5:]) < min(params.weekday_factor[:5])


def test_n_jobs_and_max_gpus():
    df = synthetic_jobs(np.random.default_rng(2), n_jobs=5000, max_gpus=8)
    assert df.height == 5000
    assert df["num_gpus"].max() <= 8
    assert df["submit_time_s"].is_sorted()
    assert df["job_id"][0] == "syn-0000"
    assert df["job_id"].n_unique() == 5000
    capped = synthetic_jobs(np.random.default_rng(2), horizon_s=S_PER_DAY, n_jobs=10)
    assert capped.height == 10
    assert synthetic_jobs(np.random.default_rng(2), n_jobs=0).height == 0


def test_closed_form_gpu_seconds_matches_samples():
    """E[g·d] from the quantile tables vs the mean of 200,000 draws (heavy tail: ±7 %)."""
    df = synthetic_jobs(np.random.default_rng(3), n_jobs=200_000)
    sampled = float((df["num_gpus"] * df["duration_s"]).mean())
    assert sampled == pytest.approx(mean_gpu_seconds_per_job(), rel=0.07)


def test_arrival_scale_for_load():
    """The demo's 512-GPU site at 72 % offered load: a month at that scale offers 72 % ± 15 %."""
    scale = arrival_scale_for_load(0.72, 512)
    # Philly offers ~374 busy GPUs on average, i.e. ~73 % of 512 at scale 1 (issue 4)
    assert scale == pytest.approx(1.0, abs=0.05)
    df = synthetic_jobs(
        np.random.default_rng(0), horizon_s=MONTH_S, arrival_scale=scale, max_gpus=512
    )
    offered = float((df["num_gpus"] * df["duration_s"]).sum()) / (MONTH_S * 512)
    assert offered == pytest.approx(0.72, rel=0.15)
    assert arrival_scale_for_load(0.36, 512) == pytest.approx(scale / 2)
    # on 64 GPUs the 128-GPU jobs are not drawn, so E[g·d] is a little smaller, the scale larger
    assert scale / 8 < arrival_scale_for_load(0.72, 64) < scale / 8 * 1.05


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "horizon_s or n_jobs"),
        ({"horizon_s": -1.0}, "horizon_s"),
        ({"n_jobs": 10, "arrival_scale": 0.0}, "arrival_scale"),
        ({"n_jobs": 10, "max_gpus": 0}, "max_gpus"),
    ],
)
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        synthetic_jobs(np.random.default_rng(0), **kwargs)


def test_bad_load_and_params():
    with pytest.raises(ConfigError, match="target_load_frac"):
        arrival_scale_for_load(0.0, 512)
    with pytest.raises(ConfigError, match="n_gpus"):
        arrival_scale_for_load(0.5, 0)
    data = default_params().to_dict()
    data["arrival"]["weekday_factor"] = [1.0] * 6
    with pytest.raises(ConfigError, match="weekday_factor"):
        SyntheticParams.from_dict(data)
    with pytest.raises(ConfigError, match="missing or malformed"):
        SyntheticParams.from_dict({"arrival": {}})


def test_shipped_fit_is_fresh(data_root):
    """Refitting on the public Philly CSV gives the shipped parameters and reference stats."""
    path = require_data(data_root, "philly", "pollux_philly_jobs.csv")
    result = read_trace(f"philly:{path}")
    assert result.origin is not None
    fresh = fit_synthetic_params(result.jobs, result.origin)
    shipped = default_params()
    assert fresh.size_values == shipped.size_values
    np.testing.assert_allclose(fresh.size_probs, shipped.size_probs, rtol=1e-12)
    np.testing.assert_allclose(fresh.weekday_factor, shipped.weekday_factor, rtol=1e-12)
    np.testing.assert_allclose(fresh.hour_factor, shipped.hour_factor, rtol=1e-12)
    np.testing.assert_allclose(
        fresh.duration_log_quantiles_s, shipped.duration_log_quantiles_s, rtol=1e-12
    )
    assert fresh.arrival_rate_per_h == pytest.approx(shipped.arrival_rate_per_h, rel=1e-12)
    assert fresh.reference["gpu_hours"] == pytest.approx(shipped.reference["gpu_hours"], rel=1e-12)
