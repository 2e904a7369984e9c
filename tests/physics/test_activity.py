"""GPU activity process: fitted against Philly's measured utilization, phases and power."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.conftest import require_data

from kiban.catalog import default_catalog
from kiban.physics import activity as act
from kiban.physics.gpu_power import demand_power_w, fitted_gpu_power


def _philly_table(data_root):
    path = require_data(data_root, "philly-gpu-util", "philly_gpu_util_cdf.csv")
    df = pl.read_csv(path)
    util = df["gpu_util_pct"].to_numpy() / 100.0
    cdf = df["cdf_pct"].to_numpy() / 100.0
    order = np.argsort(util, kind="stable")
    return util[order], cdf[order]


def _class_weights(data_root):
    path = require_data(data_root, "philly", "pollux_philly_jobs.csv")
    df = pl.read_csv(path).drop_nulls(["num_gpus", "duration"])
    n = df["num_gpus"].to_numpy()
    w = np.bincount(act.activity_size_class(n), weights=df["duration"].to_numpy() * n, minlength=3)
    return w / w.sum()


def test_shipped_fit_reproduces_philly_distribution(data_root):
    """The shipped fit's CDF is within KS 0.1 of Philly's per-minute GPU utilization.

    Source: philly-gpu-util (Hu et al., NSDI 2024, from Jeon et al., ATC 2019 Philly logs);
    target from issue 10 (KS ≤ 0.1). The distance is recomputed here, not read from the json.
    """
    util, cdf = _philly_table(data_root)
    fit = act.fitted_activity()
    w = _class_weights(data_root)
    model = act.util_cdf(util, w, fit, unallocated_frac=fit.unallocated_frac)
    left = act.util_cdf(np.maximum(util - 1e-9, 0.0), w, fit, unallocated_frac=fit.unallocated_frac)
    left[util == 0.0] = 0.0
    ks = act.ks_distance(util, cdf, model, left)
    assert ks <= 0.1
    assert ks == pytest.approx(fit.ks_distance, abs=0.01)


def test_sampler_reproduces_philly_distribution(data_root):
    """Minute samples drawn the way the simulator draws them match the data within KS 0.1.

    GPU-time weights per size class come from the Philly trace; 40,000 job-minutes.
    """
    util, cdf = _philly_table(data_root)
    fit = act.fitted_activity()
    w = _class_weights(data_root)
    rng = np.random.default_rng(7)
    n = 40_000
    sizes = rng.choice(np.array([1, 4, 16]), size=n, p=w)
    m = act.draw_job_busy_mean(rng, sizes, fit)
    u = act.draw_minute_busy(rng, m, fit)
    # empirical CDF of the samples at the table's points, rounded to nvidia-smi's 1 % steps
    u_pct = np.round(u * 100.0) / 100.0
    srt = np.sort(u_pct)
    at = np.searchsorted(srt, util, side="right") / n
    left = np.searchsorted(srt, util, side="left") / n
    assert act.ks_distance(util, cdf, at, left) <= 0.1


def test_philly_median_and_zero_share(data_root):
    """Median sample 48.45 % and a third at zero (LOADER.md of philly-gpu-util), ±8 points."""
    _philly_table(data_root)  # the data set must be present
    fit = act.fitted_activity()
    w = _class_weights(data_root)
    grid = np.linspace(0.0, 1.0, 2001)
    f = act.util_cdf(grid, w, fit)
    median = grid[np.searchsorted(f, 0.5)]
    assert median == pytest.approx(0.4845, abs=0.08)
    assert f[0] == pytest.approx(1.0 / 3.0, abs=0.08)


def test_one_gpu_mean_utilization_near_jeon():
    """Mean utilization of 1-GPU jobs ≈ 52 % (Jeon et al., ATC'19, physics.md §8 [R]), ±10 points.

    Weak source (recalled); the tolerance says so.
    """
    fit = act.fitted_activity()
    mu1 = act.busy_mean_by_class(fit)[0]
    assert float(act.expected_busy_frac(mu1, fit)) == pytest.approx(0.52, abs=0.10)


def test_phase_shares_sum_to_one_and_split_busy_time():
    u = np.array([0.0, 0.5, 1.0, 0.8])
    n = np.array([1, 8, 64, 2])
    h = np.array([0.0, 0.1, 0.0, 0.05])
    sh = act.phase_shares(u, n, h)
    np.testing.assert_allclose(sh.sum(axis=1), 1.0, rtol=1e-12)
    # kernel-busy share (compute + communication + evaluation) = (1 − h)·u
    np.testing.assert_allclose(sh[:, [0, 2, 3]].sum(axis=1), (1 - h) * u, rtol=1e-12)
    assert sh[0, 2] == 0.0  # one GPU: no collectives
    assert sh[2, 2] > sh[1, 2] > 0.0  # cross-node jobs spend more time in collectives
    np.testing.assert_allclose(sh[:, 4], h)


def test_phase_power_pure_compute_matches_gpu_power_and_caps():
    """All-compute at ε = 1 equals the gpu_power demand; ε > 1 over the limit caps at the limit.

    The capped clock is the Zeus-fitted φ(y) for y = limit/demand (physics.md §2.3).
    """
    sku = default_catalog().gpu("h100-sxm")
    sh = act.phase_shares(np.array([1.0, 1.0, 0.0]), np.array([1, 1, 1]))
    a = np.array([0.6, 0.98, 0.9])
    eps = np.array([1.0, 1.1, 1.0])
    p = act.phase_power(sh, a, eps, sku.tdp_w, sku)
    # job 0: pure compute of 1 GPU minus evaluation share → between eval and compute power
    assert float(demand_power_w(0.6 * act.EVAL_ACTIVITY_RATIO, sku)) < p.power_w[0]
    assert p.power_w[0] < float(demand_power_w(0.6, sku))
    # job 1: demand 140 + 560·1.078 > 700 W → SW power cap, clock below 1, power held near it
    assert p.compute_demand_w[1] > sku.tdp_w
    assert p.capped[1] == 1.0
    assert p.clock_frac[1] < 1.0
    k = fitted_gpu_power().capped_power_frac  # capped GPUs average k·limit (Zeus fit)
    assert p.compute_power_w[1] == pytest.approx(k * sku.tdp_w)
    # job 2: idle all the time → idle-with-context power
    assert p.power_w[2] == pytest.approx(sku.idle_context_power_w)
    assert p.activity_frac[2] == 0.0


def test_power_factor_mean_and_spread():
    """ε has mean 1 and σ ≈ 7 % (physics.md §2.2: σ ≈ 5–10 %), ±0.5 points on 200,000 draws."""
    eps = act.draw_power_factor(np.random.default_rng(3), 200_000)
    assert eps.mean() == pytest.approx(1.0, abs=0.002)
    assert eps.std() == pytest.approx(act.POWER_ENTROPY_SIGMA_FRAC, abs=0.005)


def test_draws_are_deterministic_for_a_seed():
    fit = act.fitted_activity()
    a = act.draw_minute_busy(np.random.default_rng(1), np.full(100, 0.5), fit)
    b = act.draw_minute_busy(np.random.default_rng(1), np.full(100, 0.5), fit)
    np.testing.assert_array_equal(a, b)


def test_ledger_shares_sum_to_one_and_book_each_cause():
    sh = act.ledger_shares(
        np.array([0.5, 1.0, 0.3]),
        np.array([1, 8, 1]),
        np.array([0.0, 0.05, 0.0]),
        np.array([0.0, 0.0, 0.2]),
        np.array([1.0, 0.8, 1.0]),
        np.array([1.0, 0.9, 1.0]),
    )
    np.testing.assert_allclose(sh.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    names = dict(zip(act.LEDGER_SHARES, sh.T, strict=True))
    # 1 GPU at u = 0.5: idle half + evaluation share of the busy half is underused
    assert names["underused"][0] == pytest.approx(0.5 + 0.5 * act.EVAL_SHARE_FRAC)
    assert names["productive"][0] == pytest.approx(0.5 * (1 - act.EVAL_SHARE_FRAC))
    # 8 GPUs, fully busy: collectives and evaluation are underused; clocks split the compute
    c = 0.95 * (1 - act.COMM_SHARE_BY_SIZE_CLASS[1] - act.EVAL_SHARE_FRAC)
    assert names["thermal_throttle"][1] == pytest.approx(c * 0.2)
    assert names["power_cap"][1] == pytest.approx(c * 0.8 * 0.1)
    assert names["checkpoint"][1] == pytest.approx(0.05)
    assert names["io_stall"][2] == pytest.approx(0.2)


def test_weighted_quantiles_follow_the_time_weights():
    q = act.weighted_quantiles([100.0, 700.0], [9.0, 1.0])
    assert q["p50"] == 100.0
    assert q["p90"] == 100.0
    assert q["p99"] == 700.0
    assert set(q) == {"p01", "p10", "p25", "p50", "p75", "p90", "p99"}
    assert np.isnan(act.weighted_quantiles([], [])["p50"])


def test_weighted_histogram_matches_exact_quantiles_to_half_a_bin():
    rng = np.random.default_rng(5)
    v = rng.uniform(50.0, 750.0, 20_000)
    w = rng.uniform(0.0, 60.0, 20_000)
    h = act.WeightedHistogram(0.0, 2000.0, 1.0)
    for chunk in np.array_split(np.arange(v.size), 7):
        h.add(v[chunk], w[chunk])
    exact = act.weighted_quantiles(v, w)
    approx = h.quantiles()
    for key, value in exact.items():
        assert approx[key] == pytest.approx(value, abs=0.5 + 1e-9)
    assert h.total == pytest.approx(w.sum())


def test_histogram_steps_with_a_repeated_weight_and_odd_values_book_what_binning_all_books():
    """The incremental bins and the kept products (one weight repeated, the counts unchanged)
    must book bitwise what binning every value again books, also where a few moved values are
    not finite or far out of range (binned by numpy, not in plain Python)."""
    rng = np.random.default_rng(11)
    v = rng.uniform(0.0, 130.0, act.WeightedHistogram.INCREMENTAL_MIN_SAMPLES + 100)
    odd = [np.nan, np.inf, -np.inf, 1e300, -1e300, 2.0**70, -0.0, 129.99999, 130.0, -3.0]
    steps: list[tuple[np.ndarray, float]] = []
    for k in range(40):
        if k % 5 == 3:  # the same read-only array again
            steps.append((steps[-1][0], 3600.0))
            continue
        v = v.copy()
        n_moved = 0 if k % 7 == 0 else int(rng.integers(1, act.WeightedHistogram.FEW_MOVED))
        moved = rng.choice(v.size, size=n_moved, replace=False)
        v[moved] = rng.uniform(-5.0, 140.0, n_moved)
        if k % 4 == 1:
            v[int(rng.integers(v.size))] = odd[k % len(odd)]
        v.flags.writeable = False
        steps.append((v, 1800.0 if k % 9 == 8 else 3600.0))
    inc = act.WeightedHistogram(0.0, 130.0, 0.1)
    ref = act.WeightedHistogram(0.0, 130.0, 0.1)
    for values, w in steps:
        with np.errstate(invalid="ignore"):  # numpy's int conversion of NaN and inf
            inc.add(values, w)
            fresh = act.WeightedHistogram(0.0, 130.0, 0.1)  # bins every value
            fresh.add(np.array(values), 1.0)
        ref._counts += fresh._counts * w
        assert inc._counts.tobytes() == ref._counts.tobytes()


def test_histogram_steps_moving_a_few_samples_book_what_binning_all_of_them_books():
    """Facility steps re-bin only the GPUs whose value changed: the bins must hold exactly what
    binning every value again gives (bitwise), through small moves (bin by bin, and by counts
    per bin above ``FEW_MOVED``), out-of-range values, a large move (binned in full, then the
    next ``FULL_STEPS_AFTER_MOVE`` steps in full, then compared again) and the same read-only
    array handed twice."""
    rng = np.random.default_rng(7)
    v = rng.uniform(0.0, 700.0, act.WeightedHistogram.INCREMENTAL_MIN_SAMPLES)
    steps = []
    few, many = 5, act.WeightedHistogram.FEW_MOVED + 24
    sizes = {2: many, 6: v.size // 2, 15: many, 17: 0}
    for k in range(20):
        v = v.copy()
        moved = rng.choice(v.size, size=sizes.get(k, few), replace=False)
        v[moved] = rng.uniform(-50.0, 2500.0, moved.size)
        steps.append(v)
    ro = steps[-1].copy()
    ro.flags.writeable = False
    steps += [ro, ro]
    inc = act.WeightedHistogram(0.0, 2000.0, 1.0)
    ref = act.WeightedHistogram(0.0, 2000.0, 1.0)
    for k, values in enumerate(steps):
        inc.add(values, 300.0 + k)
        fresh = act.WeightedHistogram(0.0, 2000.0, 1.0)  # bins every value
        fresh.add(np.array(values), 1.0)
        ref._counts += fresh._counts * (300.0 + k)
        assert inc._counts.tobytes() == ref._counts.tobytes()
