"""The ablation's factorial analysis (scripts/coopt_ablation.py) on synthetic factorials with
known effects: main effects and two-way interactions by least squares, seeds as blocks, 95 %
t intervals (Box, Hunter & Hunter, *Statistics for Experimenters*, 2nd ed., ch. 5: an effect is
mean(+) − mean(−); an interaction AB is half the difference of A's effect at B + and B −)."""

from __future__ import annotations

import importlib.util
import itertools
import sys

import numpy as np
import pytest
from tests.conftest import REPO_ROOT, require_data

from kiban.sweep.spec import load_sweep

_SCRIPT = REPO_ROOT / "scripts" / "coopt_ablation.py"
HOT_WEATHER = ("dcrl-weather-carbon", "Weather", "USA_TX_Dallas-Fort.Worth.epw")


def _load_script():
    name = "kiban_coopt_ablation"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ablation = _load_script()
NAMES = ("A", "B", "C")
MAIN = {"A": 3.0, "B": -2.0, "C": 0.0}
INTER = {"A×B": 1.5, "A×C": 0.0, "B×C": -0.5}


def _design(n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    runs = np.array(list(itertools.product([0, 1], repeat=len(NAMES))), dtype=bool)
    on = np.tile(runs, (n_blocks, 1))
    blocks = np.repeat(np.arange(n_blocks), len(runs))
    return on, blocks


def _response(on: np.ndarray, blocks: np.ndarray, noise: np.ndarray, block_sd: float) -> np.ndarray:
    x = 2.0 * on - 1.0
    y = np.full(len(on), 10.0)
    for i, name in enumerate(NAMES):
        y += MAIN[name] / 2.0 * x[:, i]
    for (i, a), (j, b) in itertools.combinations(enumerate(NAMES), 2):
        y += INTER[f"{a}×{b}"] / 2.0 * x[:, i] * x[:, j]
    offsets = block_sd * np.linspace(-2.0, 2.0, blocks.max() + 1)
    return y + offsets[blocks] + noise


def test_recovers_known_effects_and_matches_the_textbook_definitions():
    rng = np.random.default_rng(7)
    on, blocks = _design(5)
    y = _response(on, blocks, rng.normal(0.0, 0.05, len(on)), block_sd=4.0)
    effects = {e.term: e for e in ablation.factorial_effects(y, on, NAMES, blocks)}
    assert list(effects) == ["A", "B", "C", "A×B", "A×C", "B×C"]
    for term, true in {**MAIN, **INTER}.items():
        e = effects[term]
        assert abs(e.estimate - true) < 0.05, term
        assert abs(e.estimate - true) <= e.half_width * 1.5, term
        assert e.df == len(y) - (1 + 6 + 4)  # intercept, 3 mains, 3 pairs, 4 block dummies
    # balanced design: the fit's main effect is exactly mean(on) − mean(off) ...
    a_on = on[:, 0]
    assert effects["A"].estimate == pytest.approx(y[a_on].mean() - y[~a_on].mean(), abs=1e-9)
    # ... and AB is half of (A's effect with B on − A's effect with B off)
    b_on = on[:, 1]
    eff_b1 = y[a_on & b_on].mean() - y[~a_on & b_on].mean()
    eff_b0 = y[a_on & ~b_on].mean() - y[~a_on & ~b_on].mean()
    assert effects["A×B"].estimate == pytest.approx((eff_b1 - eff_b0) / 2.0, abs=1e-9)
    assert effects["A"].significant
    assert effects["A×B"].significant
    assert not effects["C"].significant


def test_blocks_absorb_seed_to_seed_variance():
    """Large per-seed offsets (a different workload per seed) leave the intervals unchanged."""
    rng = np.random.default_rng(11)
    on, blocks = _design(5)
    noise = rng.normal(0.0, 1.0, len(on))
    quiet = ablation.factorial_effects(_response(on, blocks, noise, 0.0), on, NAMES, blocks)
    loud = ablation.factorial_effects(_response(on, blocks, noise, 500.0), on, NAMES, blocks)
    for q, w in zip(quiet, loud, strict=True):
        assert w.estimate == pytest.approx(q.estimate, abs=1e-8)
        assert w.half_width == pytest.approx(q.half_width, rel=1e-8)
    unblocked = ablation.factorial_effects(_response(on, blocks, noise, 500.0), on, NAMES)
    assert unblocked[0].half_width > 20 * loud[0].half_width


def test_intervals_cover_the_true_effect_95_percent_of_the_time():
    rng = np.random.default_rng(2026)
    on, blocks = _design(5)
    n_rep = 400
    hits = dict.fromkeys((*MAIN, *INTER), 0)
    for _ in range(n_rep):
        y = _response(on, blocks, rng.normal(0.0, 2.0, len(on)), block_sd=3.0)
        for e in ablation.factorial_effects(y, on, NAMES, blocks):
            true = MAIN.get(e.term, INTER.get(e.term))
            hits[e.term] += abs(e.estimate - true) <= e.half_width
    cover = np.array(list(hits.values())) / n_rep
    # each rate: binomial(400, 0.95) has sd 1.1 pp; all six pooled within ±2 pp
    assert cover.min() > 0.91
    assert abs(cover.mean() - 0.95) < 0.02


def test_no_residual_degrees_of_freedom_is_an_error():
    on, _ = _design(1)
    with pytest.raises(ValueError, match="no residual df"):
        ablation.factorial_effects(np.arange(8.0), on[:7], NAMES)


def test_scenario_and_configuration_names():
    row = {"policy": "coopt-layers", **{f"params.{x}": False for x in ablation.LAYERS}}
    assert ablation.config_of(row) == "static"
    assert ablation.config_of({**row, "params.power": True}) == "power"
    assert ablation.config_of({**row, "params.power": True, "params.data": True}) == "power+data"
    every = {**row, **{f"params.{x}": True for x in ablation.LAYERS}}
    assert ablation.config_of(every) == "all layers"
    assert ablation.config_of({"policy": "j-dec"}) == "joint"
    trim = {**row, "params.cooling": True, "params.cooling_mode": "trim-and-respond"}
    assert ablation.config_of(trim) == ablation.TRIM
    assert ablation.scenario_of(row, "coopt-ablation-llm-heavy-reference") == "llm-heavy"
    assert ablation.scenario_of(row, "coopt-ablation-hot-season") == "hot-season"
    assert ablation.scenario_of(row, "coopt-ablation-crac-failure-joint") == "crac-failure"
    assert ablation.scenario_of(row, "coopt-ablation-io-heavy-elastic") == "io-heavy"
    over = ablation.scenario_of(row, "coopt-ablation-power-tight-oversub-joint")
    assert over == "power-tight-oversub"
    assert over not in ablation.scenarios_in([{"scenario": over}])  # not in the §11.3 tables
    # the older sweeps: named from the axes
    assert ablation.scenario_of({"params.site_budget_kw": 390.0}, "coopt-ablation-layers") == (
        "power-tight"
    )
    assert ablation.scenario_of({}, "coopt-ablation-joint") == "demo"


def _records(layers, seed_count=3):
    """A factorial over ``layers`` where only the power switch (+4) and the thermal × power
    interaction (+1) matter (sweeps without the elastic axis give no ``params.elastic``)."""
    rng = np.random.default_rng(3)
    recs = []
    for seed in range(1, seed_count + 1):
        for bits in itertools.product([False, True], repeat=len(layers)):
            sw = dict(zip(layers, bits, strict=True))
            x = {k: 1.0 if v else -1.0 for k, v in sw.items()}
            y = 200.0 + 10.0 * seed + 2.0 * x["power"] + 0.5 * x["thermal"] * x["power"]
            rec = {"scenario": "power-tight", "seed": seed, **sw}
            rec["config"] = ablation.config_of(
                {"policy": "coopt-layers", **{f"params.{k}": v for k, v in sw.items()}}
            )
            rec[ablation.HEADLINE] = y + rng.normal(0.0, 0.1)
            recs.append(rec)
    return recs


def test_the_older_five_switch_sweeps_still_read():
    """A 2⁵ factorial without the elastic axis: five main effects, ten interactions, and its
    all-on configuration is the sequential stack."""
    five = tuple(x for x in ablation.LAYERS if x != "elastic")
    recs = _records(five, seed_count=2)
    effects = {e.term: e for e in ablation.effects_of(recs, "power-tight")}
    assert len(effects) == 5 + 10
    assert effects["power"].estimate == pytest.approx(4.0, abs=0.1)
    assert "all layers" in {r["config"] for r in recs}
    assert ablation.minus_configs(ablation.factors_of(recs, "power-tight"))[0] == (
        "all layers minus O",
        "thermal+power+data+cooling",
    )


def test_effects_of_a_record_table():
    """The script's own path from run records to effects: the 2⁶ factorial of §11.3."""
    recs = _records(ablation.LAYERS)
    effects = {e.term: e for e in ablation.effects_of(recs, "power-tight")}
    assert len(ablation.LAYERS) == 6
    assert len(effects) == 6 + 15
    assert effects["power"].estimate == pytest.approx(4.0, abs=0.1)
    assert effects["thermal×power"].estimate == pytest.approx(1.0, abs=0.1)
    assert effects["power"].significant
    assert effects["thermal×power"].significant
    assert sum(e.significant for e in effects.values()) <= 3  # at most one false positive
    assert ablation.effects_of(recs[:-1], "hot-season") == []


def test_elastic_on_runs_complete_the_factorial_as_their_order_on_twins():
    """The elastic sweeps run order off only (order is inert while elastic is on): each such
    run is counted again with order on, so the 2⁶ fit has every configuration; the twin's
    order effect within elastic-on is exactly 0 and nothing real is duplicated."""
    recs = [r for r in _records(ablation.LAYERS) if not (r["elastic"] and r["order"])]
    assert len(ablation.effects_of(recs, "power-tight")) == 5 + 10  # 48 of 64: the 2⁵ only
    full = ablation.with_inert_order(recs)
    assert len(full) == len(recs) + len(recs) // 3  # 16 of every 48 configurations again
    twins = [r for r in full if r.get("order_inert")]
    assert all(r["order"] and r["elastic"] for r in twins)
    assert {r["config"] for r in twins} >= {"all layers", "order+elastic"}
    effects = {e.term: e for e in ablation.effects_of(full, "power-tight")}
    assert len(effects) == 6 + 15
    assert effects["power"].estimate == pytest.approx(4.0, abs=0.1)
    assert ablation.with_inert_order(full) == full  # real order-on runs are never replaced
    # only some elastic-on runs: the fit falls back to the elastic-off 2⁵
    part = [r for r in full if not r["elastic"] or r["config"] in ("elastic", "all layers")]
    five = {e.term: e for e in ablation.effects_of(part, "power-tight")}
    assert len(five) == 5 + 10
    assert "elastic" not in five
    assert five["power"].estimate == pytest.approx(4.0, abs=0.1)
    wide = ablation.effects_wide(full + [dict(r, scenario="io-heavy") for r in part],
                                 ["power-tight", "io-heavy"])  # fmt: skip
    assert any(line.startswith("| E (elastic) |") and line.endswith("| – |") for line in wide)
    # and with only some order-on runs as well: the 2⁴ of thermal, power, data, cooling
    four = [r for r in part if not r["order"] or r["config"] == "order"]
    assert len(ablation.effects_of(four, "power-tight")) == 4 + 6


def test_joint_against_every_configuration_counts():
    """The counts table: a joint mode far above every configuration beats all 64; one equal to
    the power-off configurations beats only the power-on half, by the paired interval."""
    recs = _records(ablation.LAYERS)
    for r in recs:
        r["jct_p99_h"] = 1.0
    high = [
        {"scenario": "power-tight", "seed": s, "config": "joint", "jct_p99_h": 1.0,
         ablation.HEADLINE: 300.0 + 10.0 * s}
        for s in (1, 2, 3)
    ]  # fmt: skip
    row = ablation.joint_vs_factorial(recs + high, ["power-tight"])[2]
    assert row == "| power-tight | 64 | 64 | 64 | 0 | 0 |"
    # 198 + 10·seed: exactly the power-off mean; every power-on configuration is ≈ 2 above it
    mid = [dict(r, **{ablation.HEADLINE: 198.0 + 10.0 * r["seed"]}) for r in high]
    cells = ablation.joint_vs_factorial(recs + mid, ["power-tight"])[2].split(" | ")
    assert cells[2] == "0"  # unpaired: the seeds' spread (±10) hides everything
    assert int(cells[4]) >= 28  # paired: below most power-on configurations


SCENARIOS = ("power-tight", "hot-season", "io-heavy", "recirculation", "llm-heavy", "crac-failure")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_shipped_ablation_sweeps_load(scenario, request):
    """The 2⁶ factorial (elastic off: 2⁵; elastic on: 2⁴, order being inert), the joint and
    the reference sweep of each §11.2 scenario, 5 seeds."""
    if scenario == "hot-season":  # its weather is a public data file
        require_data(request.getfixturevalue("data_root"), *HOT_WEATHER)
    root = REPO_ROOT / "examples" / "sweeps"
    runs = {
        f"ablation-{scenario}.toml": 2 ** (len(ablation.LAYERS) - 1) * 5,
        f"ablation-{scenario}-elastic.toml": 2 ** (len(ablation.LAYERS) - 2) * 5,
        f"ablation-{scenario}-joint.toml": 5,
        f"ablation-{scenario}-reference.toml": 5,
    }
    for name, n_runs in runs.items():
        spec = load_sweep(root / name)
        assert spec.n_runs == n_runs, name
        assert ablation.scenario_of({}, spec.name) == scenario
