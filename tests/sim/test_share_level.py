"""The storage share finds the max-min water level among the non-zero demands only (most jobs
neither checkpoint nor restore). The allocation must be the very numbers of
:func:`maxmin_share_b_per_s` over all demands, zeros included, bit for bit."""

from __future__ import annotations

import numpy as np

from kiban.physics.storage_io import maxmin_share_b_per_s, water_level


def test_level_without_zero_demands_is_the_same_number():
    rng = np.random.default_rng(11)
    for trial in range(400):
        n = int(rng.integers(1, 60))
        d = rng.lognormal(18.0, 2.0, n)
        d[rng.random(n) < 0.6] = 0.0  # checkpoint and restore streams: mostly zero
        w = rng.choice([1.0, 2.0, 0.5, 3.0], n)
        total = float(d.sum())
        if total == 0.0:
            continue
        cap = total * float(rng.uniform(0.01, 0.999))
        if trial % 7 == 0:
            cap = 0.0
        ref = maxmin_share_b_per_s(d, cap, w)
        on = (d > 0.0).nonzero()[0]
        got = np.minimum(d, w * water_level(d[on], w[on], cap))
        assert np.array_equal(ref.view(np.uint64), got.view(np.uint64)), trial
        assert float(got.sum()) <= cap * (1 + 1e-12) + 1e-9
