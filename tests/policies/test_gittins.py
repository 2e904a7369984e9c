"""Tiresias' discretized 2D-Gittins order (``tiresias-gittins``): its index, the paper's claim."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_data
from tests.sim.helpers import layout

from kiban.errors import PolicyError
from kiban.policies.gittins import GittinsTable, read_size_samples
from kiban.policies.registry import make_policy
from kiban.sim import JobTable, SimSettings, simulate
from kiban.workload import read_trace


def _brute_index(sizes: list[float], a: float, delta: float) -> float:
    """G(a) = P(S − a ≤ Δ | S > a) / E[min(S − a, Δ) | S > a], term by term."""
    alive = [s for s in sizes if s > a]
    if not alive:
        return 0.0
    p = sum(1 for s in alive if s - a <= delta) / len(alive)
    e = sum(min(s - a, delta) for s in alive) / len(alive)
    return p / e


def test_index_is_the_gittins_formula():
    """The vectorized index equals the definition (Gu et al., NSDI 2019, §3.2) at sample
    points, between them and past the largest size (index 0), to 1e-12 relative."""
    rng = np.random.default_rng(3)
    sizes = np.round(rng.lognormal(8.0, 1.5, 300))
    table = GittinsTable(sizes, 3250.0)
    probe = np.concatenate((sizes[:40], sizes[:40] - 0.5, [0.0, 1e3, 1e5, sizes.max() + 1.0]))
    want = np.array([_brute_index(sizes.tolist(), float(a), 3250.0) for a in probe])
    np.testing.assert_allclose(table.index(probe), want, rtol=1e-12, atol=0.0)
    assert table.index(np.array([sizes.max() + 1.0]))[0] == 0.0


def test_gittins_runs_the_nearly_done_job_first_where_las_does_not():
    """Every job is 4,000 GPU·s long (known). Gittins ranks the job with more service first
    (it is closer to done: G = 1/(S − a) inside the last quantum); 2D-LAS, which knows no size,
    ranks the job with less service first."""
    table = GittinsTable(np.full(50, 4000.0), 3250.0)
    g = table.index(np.array([1000.0, 3000.0]))
    assert g[1] > g[0] > 0.0
    assert g == pytest.approx([1.0 / 3000.0, 1.0 / 1000.0])


def test_reproduces_tiresias_order_on_its_sample(data_root, tmp_path):
    """Tiresias (NSDI'19, §6): both 2D orders cut mean JCT far below FIFO (YARN-CS). On
    Tiresias' 60-job sample on one 8-GPU server (kiban, measured): FIFO 1,744 s, 2D-LAS 845 s,
    Gittins with the trace's own sizes 848 s and with Tiresias' YARN distribution
    (yarn-gput1000.csv) 819 s. The paper's Gittins-below-LAS holds on its own traces, not on this
    sample: Tiresias' own simulator on 2 × 4 GPUs gives dlas-gpu 715 s and dlas-gpu-gittins
    821 s (docs/cooptimizer.md, "Tiresias on its own trace"). Asserted: 2D-LAS and Gittins with
    either distribution < 0.6 × FIFO, and Gittins within ±10 % of 2D-LAS (neither degenerates)."""
    trace = require_data(data_root, "tiresias-sample", "60_job.csv")
    yarn = require_data(data_root, "tiresias-sample", "yarn-gput1000.csv")
    table = JobTable.from_frame(read_trace(f"tiresias:{trace}").jobs)
    own = tmp_path / "own-sizes.csv"
    own.write_text(
        "duration\n" + "\n".join(f"{x:.0f}" for x in table.num_gpus * table.duration_s) + "\n"
    )
    runs = {
        "fifo": ("fifo-static", {}),
        "las": ("tiresias-las", {}),
        "gittins-own": ("tiresias-gittins", {"distribution": "file", "size_file": str(own)}),
        "gittins-yarn": ("tiresias-gittins", {"distribution": "file", "size_file": str(yarn)}),
    }
    jct = {}
    for key, (name, params) in runs.items():
        policy = make_policy("policy", name, params)
        out = simulate(layout(), table, policy, settings=SimSettings(failures=False))
        assert (out.job["state"] == 3).all()
        jct[key] = float(np.mean(out.job["end_s"] - table.submit_time_s))
    for key in ("las", "gittins-own", "gittins-yarn"):
        assert jct[key] < 0.6 * jct["fifo"], key
    for key in ("gittins-own", "gittins-yarn"):
        assert abs(jct[key] / jct["las"] - 1.0) <= 0.10, key


def test_history_distribution_needs_no_foresight():
    """``history`` learns sizes only from jobs the run has completed: before ``min_samples``
    of them, the order is exactly 2D-LAS (same end times)."""
    table = JobTable.from_arrays(
        np.arange(12) * 10.0, np.full(12, 2000.0), np.array([1, 2, 4, 8] * 3)
    )
    ends = {}
    for name, params in (("tiresias-las", {}), ("tiresias-gittins", {"min_samples": 100})):
        policy = make_policy("policy", name, params)
        out = simulate(layout(), table, policy, settings=SimSettings(failures=False))
        ends[name] = np.asarray(out.job["end_s"])
    np.testing.assert_array_equal(ends["tiresias-las"], ends["tiresias-gittins"])


def test_bad_size_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "sizes.csv"
    bad.write_text("duration\n100\n-5\n")
    with pytest.raises(PolicyError, match=r"sizes\.csv: row 3: duration = '-5'"):
        read_size_samples(bad)
    with pytest.raises(PolicyError, match="size_file"):
        make_policy("policy", "tiresias-gittins", {"distribution": "file"})
