"""Facility in the loop: capacity, room thermal mass, airflow balance, chip side."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from tests.conftest import require_data

from kiban.catalog import default_catalog
from kiban.physics import facility_dynamics as fd
from kiban.physics.climate import monthly_normals
from kiban.physics.recirculation import DEFICIT_TOP_FACTOR
from kiban.physics.server_power import fan_speed_frac
from kiban.units import AIR_DENSITY_KG_PER_M3, AIR_SPECIFIC_HEAT_J_PER_KG_K

RHO_CP = AIR_DENSITY_KG_PER_M3 * AIR_SPECIFIC_HEAT_J_PER_KG_K


def _numeric_room(ta, ts, tset, q, q0, g, ca, cs, ha, t_end):
    def rhs(_t, y):
        removed = q0 + g * (y[0] - tset)
        return [(q - removed - ha * (y[0] - y[1])) / ca, ha * (y[0] - y[1]) / cs]

    sol = solve_ivp(rhs, (0.0, t_end), [ta, ts], rtol=1e-10, atol=1e-10, method="LSODA")
    return sol.y[:, -1]


@pytest.mark.parametrize(
    ("q0", "g", "dt"),
    [(0.0, 0.0, 60.0), (50e3, 5e3, 300.0), (80e3, 2e3, 1800.0), (0.0, 8e3, 45.0)],
)
def test_room_step_matches_numeric_integration(q0, g, dt):
    """The closed-form two-node step equals an ODE solve (scipy LSODA, rtol 1e-10) to 1e-6 K."""
    args = (19.0, 18.5, 18.0, 120e3, q0, g, 0.35e6, 2.5e6, 3e4)
    exact = fd.room_step(*args, dt)
    ref = _numeric_room(*args, dt)
    assert float(exact.air_temp_c) == pytest.approx(ref[0], abs=1e-6)
    assert float(exact.solid_temp_c) == pytest.approx(ref[1], abs=1e-6)


def test_room_heating_rates_follow_khankari():
    """With no cooling the air heats first at Q/C_air, later at Q/(C_air + C_solid).

    Khankari, ASHRAE Trans. 117(1) 2011: the rate of heating starts at a maximum set by the air
    alone and decays exponentially to a minimum set by air plus rack mass.
    """
    ca, cs, ha, q = 0.35e6, 2.5e6, 3e4, 100e3
    s1 = fd.room_step(18.0, 18.0, 18.0, q, 0.0, 0.0, ca, cs, ha, 0.01)
    assert (float(s1.air_temp_c) - 18.0) / 0.01 == pytest.approx(q / ca, rel=1e-3)
    late0 = fd.room_step(18.0, 18.0, 18.0, q, 0.0, 0.0, ca, cs, ha, 3600.0)
    late1 = fd.room_step(18.0, 18.0, 18.0, q, 0.0, 0.0, ca, cs, ha, 3601.0)
    rate = float(late1.air_temp_c - late0.air_temp_c)
    assert rate == pytest.approx(q / (ca + cs), rel=1e-3)


def test_room_holds_setpoint_with_capacity_and_settles_above_it_without():
    held = fd.room_step(18.0, 20.0, 18.0, 100e3, 150e3, 5e3, 0.35e6, 2.5e6, 3e4, 600.0)
    assert float(held.air_temp_c) == 18.0
    assert 18.0 < float(held.solid_temp_c) < 20.0
    short = fd.room_step(18.0, 18.0, 18.0, 100e3, 60e3, 4e3, 0.35e6, 2.5e6, 3e4, 1e7)
    assert float(short.air_temp_c) == pytest.approx(18.0 + 40e3 / 4e3, abs=1e-6)


def test_dgx_h100_airflow_at_rated_fan_speed():
    """DGX H100 draws 1105 CFM = 0.5215 m³/s at 80 % fan PWM at full load (NVIDIA User Guide).

    Tolerance 0.5 %: the fan model reaches 80 % at full load below the temperature ramp.
    """
    server = default_catalog().server("dgx-h100")
    n = fan_speed_frac(1.0, 25.0, server)
    v = fd.server_airflow_m3_per_s(n, server.airflow_m3_per_s)
    assert float(v) == pytest.approx(0.5215, rel=0.005)
    hot = fd.server_airflow_m3_per_s(fan_speed_frac(1.0, 30.0, server), server.airflow_m3_per_s)
    assert float(hot) > float(v)  # fans speed up as the inlet warms: demand grows


def test_deficit_mixing_conserves_energy():
    """The inlet rise is the mixing of m exhaust with (1 − m) supply air (energy balance)."""
    m = np.array([0.0, 0.1, 0.3, 0.6])
    heat_w, flow = 10_200.0, 0.5215
    rise = fd.deficit_inlet_rise_k(m, heat_w, flow)
    t_sup = 20.0
    t_in = t_sup + rise
    t_out = t_in + heat_w / (RHO_CP * flow)
    np.testing.assert_allclose(t_in, (1 - m) * t_sup + m * t_out, rtol=1e-12)
    assert rise[0] == 0.0
    assert np.all(np.diff(rise) > 0)


def test_tang_room_peak_inlet_from_supply_deficit():
    """Tang's room (one 8 m³/s CRAC; 50 chassis drawing 12.27 m³/s) at 50 % load.

    Tang, Gupta, Varsamopoulos, IEEE TPDS 19(11) 2008, §6: peak inlet 25.6–30.5 °C at supply
    15 °C and 50 % load across placement policies. Deficit model: m = 1 − 8/12.27; the top inlet
    takes DEFICIT_TOP_FACTOR·m of exhaust (recirculation.py); chassis 2,020 W idle + 50 W per busy
    blade, 50 chassis, half the blades busy.
    """
    flow = 50 * 0.2454
    heat_w = 50 * (2020.0 + 0.5 * 10 * 50.0)
    m = fd.aisle_deficit_frac(flow, 8.0)
    top = min(fd.MAX_DEFICIT_FRAC, DEFICIT_TOP_FACTOR * float(m))
    peak = 15.0 + float(fd.deficit_inlet_rise_k(top, heat_w, flow))
    assert 25.6 <= peak <= 30.5


def test_chiller_capacity_curve():
    """CAP at rating = 0.944836 and it falls on a hot day (EnergyPlus curve, physics.md §3.4)."""
    q = fd.chiller_available_capacity_w(1e6, np.array([25.0, 35.0, 45.0]))
    assert q[1] == pytest.approx(0.944836e6, rel=1e-9)
    assert q[0] > q[1] > q[2]
    assert float(fd.chiller_available_capacity_w(1e6, 35.0, failed=True)) == 0.0


def test_dry_cooler_and_crah_capacity():
    q = fd.dry_cooler_capacity_w(500e3, 35.0, np.array([20.0, 25.0, 35.0, 40.0]), 15.0)
    np.testing.assert_allclose(q, [500e3, 500e3 * 10 / 15, 0.0, 0.0])
    c = fd.crah_sensible_capacity_w(8.0, 30.0, 18.0, np.array([200e3, 50e3]))
    np.testing.assert_allclose(c, [RHO_CP * 8.0 * 12.0, 50e3])


def test_fan_failure_raises_resistance():
    """Losing 3 of 12 fans leaves 75 % airflow and raises the sink R by 0.75^−0.8 ≈ 1.259."""
    frac = fd.fan_failure_airflow_frac(12, 3)
    assert float(frac) == pytest.approx(0.75)
    assert float(fd.r_scale_for_airflow(frac)) == pytest.approx(0.75**-0.8, rel=1e-12)


def test_liquid_resistance_and_hbm():
    """Cold plate bound (87 − 45)/700 = 0.06 K/W for H100 (physics.md §3.1 construction, W45)."""
    sku = default_catalog().gpu("h100-sxm")
    assert fd.liquid_r_k_per_w(sku) == pytest.approx(0.06)
    assert float(fd.hbm_temp_c(70.0, 1.0, 1.0)) == pytest.approx(90.0)
    assert float(fd.hbm_temp_c(70.0, 0.1, 0.0)) == 70.0


def _hall(n_units: int = 6) -> fd.HallAir:
    share = np.zeros((n_units, 2))
    share[:, 0] = 0.5
    share[:, 1] = 0.5
    c = fd.room_heat_capacity_j_per_k(20 * 15 * 3.5, 20 * (4 * 130.45 + 150.0))
    return fd.HallAir(
        rack_aisle=np.repeat([0, 1], 10),
        n_aisles=2,
        crah_airflow_m3_per_s=np.full(n_units, 9.0),
        crah_capacity_w=np.full(n_units, 180e3),
        crah_aisle_share=share,
        bypass_frac=0.15,
        air_capacity_j_per_k=float(c[0]),
        solid_capacity_j_per_k=float(c[1]),
        exchange_w_per_k=2e4,
        chiller_capacity_w=1.2e6,
        dry_cooler_capacity_w=0.0,
        dry_cooler_itd_k=12.0,
        water_return_temp_c=18.0,
        supply_setpoint_c=20.0,
    )


def test_crah_failures_cause_deficit_and_warming_with_energy_balance():
    """Two of six CRAHs fail in a 20-rack, 40 kW/rack hall: the aisles run short of air and the
    room warms; every step, heat in = heat removed + heat stored (to 1e-9 relative)."""
    hall = _hall()
    room = fd.RoomState(np.asarray(20.0), np.asarray(20.0))
    heat = np.full(20, 40e3)
    flow = np.full(20, 4 * 0.5215)
    ok = fd.facility_step(hall, room, heat, flow, 25.0, np.zeros(6, bool), 1.0, 60.0)
    assert np.all(ok.aisle_deficit_frac == 0.0)
    assert float(ok.room.air_temp_c) == 20.0
    failed = np.array([True, True, False, False, False, False])
    temps = []
    for _ in range(60):
        step = fd.facility_step(hall, room, heat, flow, 25.0, failed, 1.0, 60.0)
        assert step.removed_j + step.stored_j == pytest.approx(heat.sum() * 60.0, rel=1e-9)
        room = step.room
        temps.append(float(room.air_temp_c))
    assert np.all(step.aisle_deficit_frac > 0.2)
    assert np.all(step.rack_deficit_rise_k > 5.0)
    assert np.all(np.diff(temps) >= 0.0)
    # settles towards set-point + shortfall / G (coils take more as the air warms)
    g = fd.COIL_EFFECTIVENESS_FRAC * RHO_CP * 4 * 9.0
    assert temps[-1] < 20.0 + (800e3 - 720e3) / g + 1e-6


def test_chiller_loss_heats_the_room_at_the_air_rate():
    """All chillers down, no free cooling: the room heats at ≈ Q/C_air at first (Khankari)."""
    hall = _hall()
    room = fd.RoomState(np.asarray(20.0), np.asarray(20.0))
    heat = np.full(20, 40e3)
    step = fd.facility_step(hall, room, heat, np.full(20, 2.086), 25.0, np.zeros(6, bool), 0.0, 1.0)
    assert step.capacity_w == 0.0
    rate = float(step.room.air_temp_c) - 20.0
    assert rate == pytest.approx(800e3 / hall.air_capacity_j_per_k, rel=0.05)


def test_daily_cycle_matches_measured_tmyx_sites(data_root):
    """The sinusoid peaking at 15:00 fits the mean daily cycle of every TMYx site (EPW files in
    dcrl-weather-carbon) with RMSE ≤ 30 % of the site's half-range (its amplitude here): the
    measured cycle is asymmetric (fast morning rise, slow night cooling), the model is not."""
    files = sorted(require_data(data_root, "dcrl-weather-carbon", "Weather").glob("*.epw"))
    assert len(files) >= 10
    for path in files:
        rows = [line.split(",") for line in path.read_text().splitlines()[8:]]
        t = np.array([float(r[6]) for r in rows])
        hour_ending = np.array([int(r[3]) for r in rows])
        cyc = np.array([t[hour_ending == k].mean() for k in range(1, 25)])
        amp = (cyc.max() - cyc.min()) / 2
        mid_h = np.arange(24) + 0.5
        model = cyc.mean() + amp * np.cos(2 * np.pi * (mid_h - fd.DIURNAL_PEAK_HOUR) / 24)
        assert np.sqrt(np.mean((model - cyc) ** 2)) <= 0.3 * amp, path.name
    tokyo = monthly_normals("tokyo")
    aug_15h = (212 * 24 + 15.0) * 3600.0
    assert float(fd.outdoor_dry_bulb_c(aug_15h, tokyo)) == pytest.approx(
        tokyo.dry_bulb_c[7] + fd.DIURNAL_HALF_RANGE_K
    )


def test_chip_state_reason_bits_follow_nvidia_thresholds():
    """H100 SXM (87/89/92 °C, physics.md §1.3): a cool full-power GPU runs free; losing a quarter
    of the fans at a 35 °C inlet pushes the die past the HW slowdown (0x48); a power brake sets
    0x88; the cold plate at 40 °C coolant keeps it below max operating."""
    sku = default_catalog().gpu("h100-sxm")
    inlet = np.array([25.0, 35.0, 25.0, 40.0])
    r_scale = np.array([1.0, float(fd.r_scale_for_airflow(0.75)), 1.0, 1.0])
    st = fd.chip_state(
        inlet,
        700.0,
        sku,
        power_limit_w=700.0 + 1e-6,
        r_scale=r_scale,
        liquid=np.array([False, False, False, True]),
        power_brake=np.array([False, False, True, False]),
    )
    assert st.die_temp_c[0] == pytest.approx(25.0 + 0.07 * 700.0)
    assert st.reasons[0] == 0
    assert st.reasons[1] & 0x48 == 0x48
    assert st.clock_limit_frac[1] <= 0.5
    assert st.reasons[2] & 0x88 == 0x88
    assert st.die_temp_c[3] == pytest.approx(40.0 + 0.06 * 700.0)
    assert st.reasons[3] == 0


@pytest.mark.parametrize("city", ["osaka", "sapporo"])
@pytest.mark.parametrize("start_s", [0.0, 12_345.0, 3.1e7])
def test_outdoor_dry_bulb_at_one_time_is_the_array_value_bit_for_bit(city, start_s):
    """The scalar form the in-loop facility calls every hour equals the array form exactly.

    Each time passed alone to :func:`outdoor_dry_bulb_c` (what the facility called before):
    hours of three years (negative times included) and random instants, at several year
    offsets; a last-bit difference would change every coupled run's outputs.
    """
    climate = monthly_normals(city)
    rng = np.random.default_rng(7)
    times = np.concatenate(
        ((np.arange(-8_760, 2 * 8_760) + 0.5) * 3600.0, rng.uniform(-1e9, 1e9, 2_000))
    ).tolist()
    one = [fd.outdoor_dry_bulb_at_c(t, climate, start_s=start_s) for t in times]
    array = [float(fd.outdoor_dry_bulb_c(t, climate, start_s=start_s)) for t in times]
    assert one == array
