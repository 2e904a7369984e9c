"""Tang's heat-distribution matrix, the geometric recirculation model and air-handling power."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban import units
from kiban.errors import ConfigError
from kiban.physics import recirculation as rc
from kiban.validation.recirculation import TANG_RACK_FLOW_M3_PER_S, tang_room_inlets_c

RHO_CP = units.AIR_DENSITY_KG_PER_M3 * units.AIR_SPECIFIC_HEAT_J_PER_KG_K


def _random_a(rng, n, scale=0.6):
    a = rng.random((n, n))
    return a * scale / a.sum(axis=0, keepdims=True)  # column sums = scale < 1


def test_d_matches_tangs_formula(rng):
    """D = (K − AᵀK)⁻¹ − K⁻¹ (Tang et al., IEEE TPDS 19(11) 2008, eq. (6)), computed here by
    explicit inverses, against the solve-based form in the library. rtol 1e-9."""
    n = 12
    a = _random_a(rng, n)
    flow = rng.uniform(0.2, 1.5, n)
    k = np.diag(RHO_CP * flow)
    expected = np.linalg.inv(k - a.T @ k) - np.linalg.inv(k)
    got = rc.heat_distribution_matrix_k_per_w(a, flow)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


def test_single_rack_self_recirculation_is_analytic():
    """One rack re-ingesting α of its own exhaust: T_in − T_sup = α/(1 − α) · P/K."""
    alpha, flow, power = 0.3, 1.2, 12_000.0
    d = rc.heat_distribution_matrix_k_per_w([[alpha]], flow)
    rise = float(rc.inlet_temp_c(0.0, d, [power])[0])
    assert rise == pytest.approx(alpha / (1 - alpha) * power / (RHO_CP * flow), rel=1e-12)


def test_energy_balance_of_the_room(rng):
    """Steady state: the exhaust of every rack mixes as A says. Check t_in = Aᵀ-weighted mix of
    outlets and supply, i.e. K t_in = Aᵀ K t_out + (1 − Σ_i A_ij) K_j t_sup (heat flows)."""
    n = 8
    a = _random_a(rng, n, scale=0.5)
    flow = np.full(n, 1.0)
    p = rng.uniform(5e3, 20e3, n)
    t_sup = 18.0
    t_in = rc.inlet_temp_c(t_sup, rc.heat_distribution_matrix_k_per_w(a, flow), p)
    k = RHO_CP * flow
    t_out = t_in + p / k
    mixed = (a.T @ (k * t_out) + (1.0 - a.sum(axis=0)) * k * t_sup) / k
    np.testing.assert_allclose(t_in, mixed, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 15),
    scale=st.floats(0.0, 0.95),
    t_sup=st.floats(10.0, 30.0),
)
def test_d_nonnegative_and_inlets_above_supply(seed, n, scale, t_sup):
    """Property: for any valid A (entries ≥ 0, column sums < 1), D ≥ 0 and T_in ≥ T_sup."""
    rng = np.random.default_rng(seed)
    a = _random_a(rng, n, scale=scale) if scale > 0 else np.zeros((n, n))
    d = rc.heat_distribution_matrix_k_per_w(a, rng.uniform(0.1, 2.0, n) if n else 1.0)
    assert np.all(d >= -1e-18)
    t_in = rc.inlet_temp_c(t_sup, d, rng.uniform(0.0, 30e3, n))
    assert np.all(t_in >= t_sup - 1e-12)


def test_invalid_a_is_rejected():
    with pytest.raises(ConfigError, match="share"):
        rc.heat_distribution_matrix_k_per_w([[0.6, 0.6], [0.5, 0.5]], 1.0)
    with pytest.raises(ConfigError, match="≥ 0"):
        rc.heat_distribution_matrix_k_per_w([[0.1, -0.1], [0.0, 0.0]], 1.0)
    with pytest.raises(ConfigError, match="shape"):
        rc.heat_distribution_matrix_k_per_w([0.1, 0.2], 1.0)


def test_max_supply_temp_puts_the_hottest_inlet_on_the_redline():
    """Tang eq. (7): raising the supply by the slack makes max T_in equal the redline."""
    x, y, row = rc.aisle_layout(4, 8)
    d = rc.heat_distribution_matrix_k_per_w(rc.recirculation_matrix(x, y, row), 1.5)
    p = np.linspace(5e3, 25e3, 32)
    t_sup = rc.max_supply_temp_c(27.0, d, p)
    assert float(rc.inlet_temp_c(t_sup, d, p).max()) == pytest.approx(27.0)
    batch = rc.max_supply_temp_c(27.0, d, np.stack([p, 0.5 * p]))
    assert batch.shape == (2,)
    assert batch[1] > batch[0]


# --- geometric A ---------------------------------------------------------------------------

# Tang's 10-rack room, shared with the validation report (kiban.validation.recirculation).
_tang_room_inlets = tang_room_inlets_c


def test_tang_room_peak_inlet_in_published_range():
    """Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11) 2008, §6.1–6.2: CFD room 9.6 × 8.4 × 3.6 m,
    two rows of 10 racks × 5 chassis (520 CFM each), one CRAC at 8 m³/s, 101/126 kW idle/full.
    At T_sup = 15 °C and 50 % load the peak inlet is 25.6 °C (XInt-GA) to 30.5 °C (MCE).
    Tolerance: the uniform placement's peak must fall inside that published band."""
    t_in = _tang_room_inlets(0.5)
    assert 25.6 <= float(t_in.max()) <= 30.5
    # Idle (101 kW) runs cooler than full (126 kW); the 35 % supply deficit dominates.
    assert _tang_room_inlets(0.0).max() < t_in.max() < _tang_room_inlets(1.0).max()
    # The same room with enough supply air would be far cooler.
    assert _tang_room_inlets(0.5, supply_m3_per_s=None).max() < 20.0


def test_concentrating_load_on_top_recirculators_raises_the_peak():
    """Tang §6.2: placement changes the peak inlet; loading the racks whose heat recirculates
    most (largest D column sums) is hotter than loading those that recirculate least."""
    x, y, row = rc.aisle_layout(2, 5)
    a = rc.recirculation_matrix(
        x, y, row, rack_airflow_m3_per_s=TANG_RACK_FLOW_M3_PER_S, supply_airflow_m3_per_s=8.0
    )
    d = rc.heat_distribution_matrix_k_per_w(a, TANG_RACK_FLOW_M3_PER_S)
    order = np.argsort(d.sum(axis=0))
    idle_w, full_w = 5 * 2_020.0, 5 * 2_520.0
    worst = np.full(10, idle_w)
    worst[order[5:]] = full_w
    best = np.full(10, idle_w)
    best[order[:5]] = full_w
    assert rc.inlet_temp_c(15.0, d, worst).max() > rc.inlet_temp_c(15.0, d, best).max()


def test_a_is_bounded_and_nonnegative():
    x, y, row = rc.aisle_layout(6, 30, pitch_m=0.6, cold_aisle_width_m=0.9, hot_aisle_width_m=0.9)
    a = rc.recirculation_matrix(x, y, row, amplitude_frac=0.5)
    assert np.all(a >= 0.0)
    assert a.sum(axis=0).max() <= rc.MAX_RECIRCULATION_FRAC + 1e-12
    assert a.sum(axis=1).max() <= rc.MAX_RECIRCULATION_FRAC + 1e-12


def _hottest_rise(pitch_m=0.6, aisle_m=1.2, containment="none"):
    x, y, row = rc.aisle_layout(
        4, 10, pitch_m=pitch_m, cold_aisle_width_m=aisle_m, hot_aisle_width_m=aisle_m
    )
    a = rc.recirculation_matrix(x, y, row, containment=containment)
    d = rc.heat_distribution_matrix_k_per_w(a, 1.2)
    return float(rc.inlet_temp_c(0.0, d, np.full(40, 20e3)).max())


def test_hottest_inlet_rises_monotonically_with_density():
    """Issue 3: packing racks tighter (smaller pitch, narrower aisles) raises the hottest inlet."""
    by_pitch = [_hottest_rise(pitch_m=p) for p in (3.0, 2.0, 1.5, 1.2, 1.0, 0.8, 0.7, 0.6)]
    assert np.all(np.diff(by_pitch) > 0.0)
    by_aisle = [_hottest_rise(aisle_m=w) for w in (3.0, 2.4, 1.8, 1.2, 0.9)]
    assert np.all(np.diff(by_aisle) > 0.0)


def test_containment_lowers_the_hottest_inlet():
    none, cold, hot = (_hottest_rise(containment=c) for c in ("none", "cold-aisle", "hot-aisle"))
    assert hot < cold < none
    assert hot < 0.2 * none


def test_reference_hall_recirculation_share():
    """Documented calibration consequence: interior racks of a long open row (0.6 m pitch,
    1.2 m aisles) take ≈ 30 % of their top-inlet air from exhausts; containment ≈ 3 %."""
    x, y, row = rc.aisle_layout(4, 20)
    open_share = rc.recirculation_matrix(x, y, row).sum(axis=0).max()
    hac_share = rc.recirculation_matrix(x, y, row, containment="hot-aisle").sum(axis=0).max()
    assert 0.2 <= open_share <= 0.4
    assert hac_share == pytest.approx(0.1 * open_share)


def test_exhaust_sign_orientation_matters():
    """Two rows back to back (sharing a hot aisle) recirculate more onto each other than two
    rows facing across a cold aisle at the same spacing."""
    x, y, row = rc.aisle_layout(2, 5, cold_aisle_width_m=1.2)
    facing_cold = rc.recirculation_matrix(x, y, row)
    back_to_back = rc.recirculation_matrix(x, y, row, exhaust_sign=np.where(row == 0, 1.0, -1.0))
    assert facing_cold[:5, 5:].sum() < back_to_back[:5, 5:].sum()


def test_bad_geometry_inputs():
    with pytest.raises(ConfigError, match="containment"):
        rc.recirculation_matrix([0.0], [0.0], [0], containment="full")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="same length"):
        rc.recirculation_matrix([0.0, 1.0], [0.0], [0, 0])
    with pytest.raises(ConfigError, match="rack_airflow"):
        rc.recirculation_matrix([0.0], [0.0], [0], supply_airflow_m3_per_s=1.0)
    assert rc.recirculation_matrix([], [], []).shape == (0, 0)


# --- air handling and the spacing trade-off -------------------------------------------------


def test_spreading_raises_air_handling_power():
    areas = np.array([1.44, 2.0, 3.0, 5.0, 10.0])
    power = rc.air_handling_power_w(20.0, areas)
    assert np.all(np.diff(power) > 0.0)
    contained = rc.air_handling_power_w(20.0, areas, containment="hot-aisle")
    assert np.all(contained < power)


def test_fan_affinity_law():
    """Fan affinity law (physics.md §3.5): P ∝ V̇³ at fixed system curve. With bypass b the fans
    move (1 + b)× the IT airflow, so power is (1 + b)³ × the design power Δp·V̇/η."""
    area = 3.0
    b = float(rc.bypass_frac(area))
    p = float(rc.air_handling_power_w(10.0, area, fan_pressure_pa=400.0, fan_efficiency_frac=0.5))
    assert p == pytest.approx(400.0 * 10.0 / 0.5 * (1.0 + b) ** 3)
    assert float(rc.supply_airflow_m3_per_s(10.0, area)) == pytest.approx(10.0 * (1.0 + b))


def test_spacing_tradeoff_has_an_interior_optimum():
    """The planner's trade-off: packed → hotter inlets → colder supply → lower chiller COP;
    spread → more fan power. With the Moore et al. CRAC COP curve (physics.md §3.4,
    COP = 0.0068T² + 0.0008T + 0.458) and a 27 °C redline the total has an interior minimum."""
    pitches = np.array([0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0])
    rack_w = 20e3
    out = rc.spacing_tradeoff(
        pitches, n_rows=4, racks_per_row=10, rack_power_w=rack_w, rack_airflow_m3_per_s=1.2
    )
    assert np.all(np.diff(out.max_inlet_rise_k) < 0.0)
    assert np.all(np.diff(out.air_handling_power_w) > 0.0)
    t_sup = 27.0 - out.max_inlet_rise_k
    cop = 0.0068 * t_sup**2 + 0.0008 * t_sup + 0.458
    total_w = 40 * rack_w / cop + out.air_handling_power_w
    best = int(np.argmin(total_w))
    assert 0 < best < len(pitches) - 1
