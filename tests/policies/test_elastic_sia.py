"""The elastic layer: Pollux's goodput model, elastic jobs in the twin, Sia's ILP (issue 12)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from tests.sim.helpers import layout, run

from kiban.errors import ConfigError, TraceError
from kiban.policies.elastic import (
    SiaElastic,
    gpu_options,
    mckp_certified,
    sia_configs,
    sia_ilp,
    stage_a_gpu_options,
)
from kiban.policies.joint import CooptLayers
from kiban.sim import JobTable
from kiban.sim.jobs import make_elastic
from kiban.workload.goodput import GOODPUT_PROFILES, goodput, restart_penalty_s, speedup


def _pollux_goodput_scalar(p, k, nodes):
    """Pollux's GoodputFunction.optimize for one (nodes, replicas), written as loops.

    Independent of the vectorized code under test: the same published formulas
    (petuum/adaptdl adaptdl/goodput.py: _predict, efficiency, optimize).
    """
    lo, hi = max(p.init_batch, p.min_local_batch * k), p.max_batch
    if lo > hi:
        return 0.0
    best = 0.0
    for i in range(50):
        m = math.exp(math.log(lo) + i / 49 * (math.log(hi) - math.log(lo)))
        local = m / k
        accum = math.ceil(local / p.max_local_batch - 1e-8) - 1 if p.accumulation else 0
        if p.accumulation and k == 1 and local > p.init_batch:
            accum = max(accum, 1)
        atomic = math.ceil(local / (accum + 1) - 1e-8)
        if not p.min_local_batch <= atomic <= p.max_local_batch:
            continue
        t_c = p.alpha_c_s + p.beta_c_s * atomic
        if nodes > 1:
            t_n = p.alpha_n_s + p.beta_n_s * max(k - 2, 1e-8)
        elif k > 1:
            t_n = p.alpha_r_s + p.beta_r_s * max(k - 2, 1e-8)
        else:
            t_n = 1e-8
        step = (t_c**p.gamma + t_n**p.gamma) ** (1 / p.gamma) + t_c * accum
        batch = k * atomic * (accum + 1)
        eff = (p.grad_var + p.grad_sqr) / (p.grad_var + p.grad_sqr * batch / p.init_batch)
        best = max(best, batch / step * eff)
    return best


@pytest.mark.parametrize("name", sorted(GOODPUT_PROFILES))
def test_goodput_matches_pollux_formulas(name):
    """Pollux (Qiao et al., OSDI 2021) goodput = throughput × efficiency, best batch per count;
    exact to 1e-9 relative against a loop version of the published code's formulas."""
    p = GOODPUT_PROFILES[name]
    ks = [1, 2, 4, 8, 16]
    nodes = [1, 1, 1, 1, 2]
    got = goodput(p, ks, nodes)
    want = [_pollux_goodput_scalar(p, k, n) for k, n in zip(ks, nodes, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    s = speedup(p, ks, 1)
    assert s[0] == pytest.approx(1.0)
    assert (np.diff(s[:3]) > 0).all()  # more GPUs help at first ...
    assert (s[1:] < np.array(ks[1:])).all()  # ... never linearly (communication, efficiency)


def test_restart_penalties_are_sias():
    """Sia's measured checkpoint-restore times (siasosp23/artifacts sia.py): imagenet 250 s,
    bert 120 s, yolov3 45 s, cifar10 30 s, deepspeech2 25 s, others 30 s."""
    assert restart_penalty_s("imagenet") == 250.0
    assert restart_penalty_s("cifar10") == 30.0
    assert restart_penalty_s("adaptdl-test") == 30.0


def test_sia_configurations_and_options():
    """Sia's configurations for 8-GPU nodes: 1, 2, 4, 8, then whole nodes (CONFIGS_8GPU)."""
    assert sia_configs(8, 64) == [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64]
    assert sia_configs(4, 12) == [1, 2, 4, 8, 12]
    table = JobTable.from_arrays(
        [0.0, 0.0], [10.0, 10.0], [4, 2], min_num_gpus=[1, 2], max_num_gpus=[16, 2]
    )
    assert gpu_options(table, 0, 8, 64) == [1, 2, 4, 8, 16]
    assert gpu_options(table, 1, 8, 64) == [2]  # rigid: start or wait


def test_ilp_equals_brute_force():
    """HiGHS's answer to Sia's ILP has the least cost of every feasible choice (enumerated)."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        n_jobs, capacity = 5, 8
        opts = [
            sorted(rng.choice([1, 2, 4, 8], size=rng.integers(1, 4), replace=False))
            for _ in range(n_jobs)
        ]
        cost = [rng.uniform(0.2, 1.0, len(o)) - 1.1 for o in opts]
        flat_cost = np.concatenate(cost)
        owner = np.concatenate([[i] * len(o) for i, o in enumerate(opts)])
        gpus = np.concatenate([np.asarray(o, float) for o in opts])
        x, status = sia_ilp(flat_cost, owner, gpus, n_jobs, capacity)
        assert status == 0
        assert x is not None
        best = 0.0
        for pick in itertools.product(*[[-1, *range(len(o))] for o in opts]):
            used = sum(opts[i][c] for i, c in enumerate(pick) if c >= 0)
            if used <= capacity:
                best = min(best, sum(cost[i][c] for i, c in enumerate(pick) if c >= 0))
        assert float(flat_cost[x].sum()) == pytest.approx(best, abs=1e-9)
        assert np.bincount(owner[x], minlength=n_jobs).max() <= 1
        assert gpus[x].sum() <= capacity


def test_certified_program_returns_highs_answer_or_defers():
    """``mckp_certified`` answers only when the optimum is unique beyond HiGHS's gap, and then
    with HiGHS's own choice (Sia-like costs rounded to 0.01, the 1e-9 tie-break); exact ties
    go to HiGHS (None). Brute force (enumeration) checks the optimum on the small cases."""
    rng = np.random.default_rng(11)
    answered = deferred = 0
    for trial in range(60):
        n_jobs, capacity = int(rng.integers(2, 7)), int(rng.choice([4, 8, 16]))
        opts = [
            sorted(rng.choice([1, 2, 4, 8, 16], size=rng.integers(1, 4), replace=False).tolist())
            for _ in range(n_jobs)
        ]
        opts = [[c for c in o if c <= capacity] or [1] for o in opts]
        cost = [np.round(rng.uniform(0.2, 1.0, len(o)), 2 if trial % 2 else 1) - 1.1 for o in opts]
        cost = [c + 1e-9 * i for i, c in enumerate(cost)]
        flat_cost = np.concatenate(cost)
        owner = np.concatenate([[i] * len(o) for i, o in enumerate(opts)])
        gpus = np.concatenate([np.asarray(o, float) for o in opts])
        x = mckp_certified(flat_cost, owner, gpus, n_jobs, capacity)
        values = []
        for pick in itertools.product(*[[-1, *range(len(o))] for o in opts]):
            if sum(opts[i][c] for i, c in enumerate(pick) if c >= 0) <= capacity:
                values.append(sum(cost[i][c] for i, c in enumerate(pick) if c >= 0))
        values.sort()
        if x is None:
            deferred += 1
            assert values[1] - values[0] <= 2e-4 * max(abs(values[0]), 1.0) + 1e-6
            continue
        answered += 1
        assert float(flat_cost[x].sum()) == pytest.approx(values[0], abs=1e-12)
        assert np.bincount(owner[x], minlength=n_jobs).max() <= 1
        assert gpus[x].sum() <= capacity
        xh, _ = sia_ilp(flat_cost, owner, gpus, n_jobs, capacity)
        assert np.array_equal(x, xh)
    assert answered > 20  # both branches exercised
    assert deferred > 3
    # beyond whole numbers of GPUs the program does not answer
    assert mckp_certified(np.array([-0.5]), np.array([0]), np.array([1.5]), 1, 4) is None


def _elastic_jobs(rows, model="cifar10", hi=8):
    arr = np.asarray(rows, dtype=float).reshape(-1, 3)
    n = arr.shape[0]
    return JobTable.from_arrays(
        arr[:, 0],
        arr[:, 1],
        arr[:, 2].astype(int),
        min_num_gpus=np.ones(n, dtype=int),
        max_num_gpus=np.full(n, hi),
        goodput_model=np.full(n, model, dtype=object),
    )


def test_twin_runs_an_elastic_job_at_its_goodput_speed():
    """Hand-checked: one cifar10 job (1,000 s at 1 GPU) alone on an 8-GPU node; Sia's ILP picks
    the count of highest goodput (8 GPUs) at t = 0 and the twin ends it at 1,000 / speedup(8)."""
    table = _elastic_jobs([(0.0, 1000.0, 1)])
    out = run(layout(), table, "sia")
    s8 = float(speedup(GOODPUT_PROFILES["cifar10"], [8], 1)[0])
    assert s8 > 3.0
    assert out.job["end_s"][0] == pytest.approx(1000.0 / s8, abs=0.5)


def test_a_resize_costs_the_same_restart_penalty_in_the_twin_and_the_policy():
    """Job A (1,000 s at 1 GPU) runs on 8 GPUs from t = 0; B arrives at 100 s. At the 120 s
    round Sia's objective (p = −0.5, λ_n = 1.1, A's re-allocation factor (120 − 0)/(120 + 30))
    gives 4 + 4; A is stopped and restarted on 4 GPUs and pays Sia's 30 s cifar10 penalty as
    extra work. Its end follows by hand from the two speedups."""
    table = _elastic_jobs([(0.0, 1000.0, 1), (100.0, 1000.0, 1)])
    out = run(layout(), table, "sia")
    p = GOODPUT_PROFILES["cifar10"]
    s8, s4 = (float(v) for v in speedup(p, [8, 4], 1))
    done = 120.0 * s8
    end_a = 120.0 + (1000.0 - done + restart_penalty_s("cifar10")) / s4
    assert out.job["end_s"][0] == pytest.approx(end_a, abs=0.5)


def test_sia_beats_a_rigid_baseline_on_an_elastic_workload():
    """Sia's ordering (SOSP 2023 §6; §11.4 of the design study): on elastic jobs, goodput-aware
    GPU counts give a lower mean JCT than rigid requested counts (EASY backfill), here on 16
    GPUs with 40 cifar10/adaptdl-test jobs at moderate load, run to completion. Tolerance:
    the ordering only (Sia reports −30 to −93 % against adaptive peers, not this baseline)."""
    rng = np.random.default_rng(11)
    n = 40
    submit = np.sort(rng.uniform(0, 40_000.0, n))
    dur = rng.exponential(1500.0, n) + 60.0
    gpus = rng.choice([1, 1, 1, 2, 4], n)
    models = np.asarray(list(GOODPUT_PROFILES), dtype=object)[rng.integers(0, 2, n)]
    table = JobTable.from_arrays(
        submit, dur, gpus, min_num_gpus=np.ones(n, int), max_num_gpus=np.full(n, 16),
        goodput_model=models,
    )  # fmt: skip
    lay = layout(n_racks=1, servers_per_rack=2)
    sia = run(lay, table, "sia")
    easy = run(lay, table, "easy-backfill")
    jct = lambda o: float(np.mean(o.job["end_s"] - table.submit_time_s))  # noqa: E731
    assert np.isfinite(sia.job["end_s"]).all()
    assert np.isfinite(easy.job["end_s"]).all()
    assert jct(sia) < jct(easy)


def test_make_elastic_and_table_checks():
    table = JobTable.from_arrays([0.0, 1.0, 2.0], [10.0] * 3, [1, 2, 64])
    assert make_elastic(table, np.random.default_rng(0), share=0.0) is table
    el = make_elastic(
        table, np.random.default_rng(0), share=1.0, max_gpus=32, models=("adaptdl-test",)
    )
    assert el.min_num_gpus.tolist() == [1, 1, 64]  # 64 > what adaptdl-test can use: rigid
    assert el.max_num_gpus.tolist() == [20, 20, 64]
    assert el.goodput_model.tolist() == ["adaptdl-test", "adaptdl-test", ""]
    with pytest.raises(TraceError, match="goodput_model"):
        JobTable.from_arrays([0.0], [1.0], [1], goodput_model=["cifar10"])  # rigid job
    with pytest.raises(TraceError, match="goodput_model"):
        JobTable.from_arrays([0.0], [1.0], [1], max_num_gpus=[4], goodput_model=["resnet"])


def test_workload_elastic_key(tmp_path):
    from kiban.results import prepare_scenario  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    root = Path(__file__).resolve().parents[2]
    text = (root / "examples/sweeps/coopt/power-tight.toml").read_text(encoding="utf-8")
    text = text.split("[workload.elastic]")[0]  # the shipped scenario's own key, replaced here
    path = tmp_path / "s.toml"
    path.write_text(text + "\n[workload.elastic]\nshare = 0.5\nmax_gpus = 16\n", encoding="utf-8")
    jobs = prepare_scenario(load_spec(path), seed=1, until_s=3600.0).jobs
    elastic = jobs.min_num_gpus < jobs.max_num_gpus
    assert 0.3 < elastic.mean() < 0.7
    assert set(jobs.goodput_model[elastic].tolist()) <= set(GOODPUT_PROFILES)
    path.write_text(
        text + '\n[workload.elastic]\nshare = 0.5\nmodels = ["resnet"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="resnet"):
        prepare_scenario(load_spec(path), seed=1, until_s=3600.0)
    path.write_text(text + "\n[workload.elastic]\nshare = 50\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert "workload.elastic.share = 50: " in " ".join(err.value.problems)
    assert "did you mean 0.5" in " ".join(err.value.problems)


def test_coopt_layers_elastic_switch():
    on = CooptLayers(CooptLayers.Params(elastic=True))
    off = CooptLayers(CooptLayers.Params())
    assert isinstance(on.scheduling, SiaElastic)
    assert not isinstance(off.scheduling, SiaElastic)
    with pytest.raises(ValueError, match="lambda_n"):
        SiaElastic.Params(lambda_n=0.9)


def test_stage_a_options_follow_the_twins_speed():
    """J-DEC's options for an elastic job: Sia's counts that fit the free GPUs, at the speed the
    twin will run them (goodput ratio to the requested count); a rigid job: its count at 1."""
    table = JobTable.from_arrays(
        [0.0, 0.0, 0.0],
        [10.0] * 3,
        [2, 4, 3],
        min_num_gpus=[1, 4, 1],
        max_num_gpus=[16, 4, 8],
        goodput_model=["cifar10", "", ""],
    )
    opts, speed = stage_a_gpu_options(table, 0, free_gpus=10, node_gpus=8, total_gpus=64)
    assert opts == [1, 2, 4, 8]
    want = speedup(GOODPUT_PROFILES["cifar10"], opts, 2)
    np.testing.assert_allclose(speed, want)
    assert speed[1] == pytest.approx(1.0)
    opts, speed = stage_a_gpu_options(table, 1, free_gpus=10, node_gpus=8, total_gpus=64)
    assert (opts, speed.tolist()) == ([4], [1.0])
    opts, speed = stage_a_gpu_options(table, 2, free_gpus=3, node_gpus=8, total_gpus=64)
    assert opts == [1, 2]
    np.testing.assert_allclose(speed, [1 / 3, 2 / 3])  # no profile: speed ∝ GPUs


def test_an_elastic_job_reads_at_its_throughput():
    """Input demand follows the examples a job processes: at the goodput-optimal batch a
    scaled-out job reads throughput(k)/throughput(base) times its requested rate (more than its
    speedup: large batches are statistically less efficient); rigid jobs read ∝ GPUs."""
    from kiban.sim.settings import SimSettings  # noqa: PLC0415
    from kiban.sim.tables import RunInputs  # noqa: PLC0415
    from kiban.workload.goodput import throughput  # noqa: PLC0415

    table = _elastic_jobs([(0.0, 100.0, 1)])
    rigid = JobTable.from_arrays([0.0], [100.0], [2])
    p = GOODPUT_PROFILES["cifar10"]
    jt = RunInputs(layout(), table, SimSettings()).jt
    want = float(throughput(p, [8], [1])[0] / throughput(p, [1], [1])[0])
    assert jt.data_gpus(0, 8, 1) == pytest.approx(want)
    assert want > float(speedup(p, [8], 1)[0])
    assert RunInputs(layout(), rigid, SimSettings()).jt.data_gpus(0, 2, 1) == 2.0


def test_jdec_starts_waiting_elastic_jobs_at_other_counts():
    """J-DEC's stage A with GPU-count options (§10.4's C_j): under a queue it starts some
    elastic jobs at a count other than requested, placed at that count; every job finishes."""
    from kiban.policies.joint import JDec  # noqa: PLC0415

    rng = np.random.default_rng(5)
    n = 300
    submit = np.sort(rng.uniform(0, 20_000.0, n))
    table = JobTable.from_arrays(
        submit,
        rng.exponential(2000.0, n) + 60.0,
        rng.choice([1, 2, 4], n),
        min_num_gpus=np.ones(n, int),
        max_num_gpus=np.full(n, 16),
        goodput_model=np.asarray(list(GOODPUT_PROFILES), dtype=object)[rng.integers(0, 2, n)],
    )
    other = []

    class Spy(JDec):
        def decide(self, view):
            d = super().decide(view)
            other.extend(j for j, g in d.start.items() if len(g) != view.jobs.num_gpus[j])
            return d

    out = run(layout(n_racks=4, servers_per_rack=2), table, Spy(JDec.Params(epoch_s=300.0)))
    assert other
    assert np.isfinite(out.job["end_s"]).all()


def _jdec_resize_case(checkpoint_b, **params):
    """One 8-GPU node: a rigid 4-GPU job (3,000 s) and an elastic one (4 GPUs requested, 1–8,
    20,000 s at 4, no goodput profile: it scales as k/4) both start at t = 0; at the first
    epoch after the rigid job ends (3,600 s) 4 GPUs are free. Returns the elastic job's end
    and J-DEC's resizes (time, GPUs)."""
    from kiban.policies.joint import JDec  # noqa: PLC0415

    table = JobTable.from_arrays(
        [0.0, 0.0],
        [3000.0, 20_000.0],
        [4, 4],
        min_num_gpus=[4, 1],
        max_num_gpus=[4, 8],
        checkpoint_size_b=[0.0, checkpoint_b],
    )
    moves = []

    class Spy(JDec):
        def decide(self, view):
            d = super().decide(view)
            moves.extend(
                (view.time_s, len(g)) for j, g in d.start.items() if view.job_gpus(j) is not None
            )
            return d

    pol = Spy(JDec.Params(epoch_s=900.0, **{"resize": True, **params}))
    out = run(layout(), table, pol)
    assert pol.stats.resized == len(moves)
    return float(out.job["end_s"][1]), moves


def test_jdec_grows_a_running_elastic_job_when_it_pays():
    """Free GPUs appear (the rigid job ends at 3,000 s): stage A's resize option moves the
    elastic job from 4 to 8 GPUs at the 3,600 s epoch (applied after the 5 s decision delay;
    no checkpoint, so the twin's restart costs nothing and the re-allocation factor is 1).
    By hand: 3,605 s of 4-GPU work done, 16,395 s left at twice the speed → ends at
    3,605 + 8,197.5 = 11,802.5 s (+ the twin's power-up ramp, < 100 s) instead of 20,000 s.
    With ``resize = false`` it keeps its 4 GPUs (the test can fail)."""
    end, moves = _jdec_resize_case(0.0)
    assert moves == [(3605.0, 8)]
    assert end == pytest.approx(11_802.5, abs=100.0)
    end_off, moves_off = _jdec_resize_case(0.0, resize=False)
    assert moves_off == []
    assert end_off == pytest.approx(20_000.0, abs=100.0)


def test_jdec_leaves_a_running_elastic_job_when_the_restart_does_not_pay():
    """The same case with a 200 TB checkpoint: the twin would charge two checkpoint writes
    (``resize_penalty_s``, the penalty ``sia`` charges too), far more than the job has left,
    so the re-allocation factor age/(age + penalty) stays below ½ (8 GPUs at that factor
    are worth less than 4 kept) for the whole run: J-DEC never resizes it."""
    end, moves = _jdec_resize_case(2e14)
    assert moves == []
    assert end == pytest.approx(20_000.0, abs=100.0)


def test_jdec_resize_counts():
    """Stage A's counts for a running elastic job (8-GPU nodes, 64 GPUs): Sia's configurations
    up to its GPUs plus the free ones, its own count kept; a job holding whole nodes moves by
    whole nodes only (a part-node shrink would strand part-nodes whole-node jobs cannot use);
    a rigid job keeps its count."""
    from types import SimpleNamespace  # noqa: PLC0415

    from kiban.policies.elastic import resize_counts  # noqa: PLC0415

    table = JobTable.from_arrays(
        [0.0] * 3, [10.0] * 3, [4, 8, 8], min_num_gpus=[1, 1, 8], max_num_gpus=[64, 64, 8]
    )
    lay = SimpleNamespace(max_node_gpus=8, n_gpus=64)
    view = SimpleNamespace(jobs=table, free_gpus=12, layout=lay)
    assert resize_counts(view, 0, 4) == [1, 2, 4, 8, 16]
    assert resize_counts(view, 0, 12) == [1, 2, 4, 8, 12, 16, 24]  # 12: its own, not Sia's
    assert resize_counts(view, 1, 8) == [8, 16]
    assert resize_counts(view, 1, 16) == [8, 16, 24]
    assert resize_counts(view, 2, 8) == [8]
