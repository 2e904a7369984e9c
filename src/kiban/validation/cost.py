"""Cost and carbon: worked examples of the cost and emissions model.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

from kiban import units
from kiban.physics import cost
from kiban.validation.checks import Section, Table, near


def section_cost() -> Section:
    """Tariff arithmetic with the Japanese presets."""
    mwh_j = 1000.0 * units.J_PER_KWH
    year_j = units.W_PER_MW * units.H_PER_YEAR * units.S_PER_H
    src71 = "physics.md §7.1 (高圧 22, 特別高圧 18 JPY/kWh; 再エネ賦課金 4.18; 燃調 2.67)"
    src72 = "physics.md §7.2 (Tokyo-area default 0.45 kg-CO2/kWh)"
    demand_tariff = cost.Tariff(
        name="explicit-demand",
        monthly_demand_charge_jpy_per_kw=cost.CAPACITY_CONTRIBUTION_TOKYO_FY2026_JPY_PER_KW,
    )
    kw = units.W_PER_KW
    test = "test_cost.py"
    # (quantity, published, kiban, unit, digits, source, test); all hand-computed to rtol 1e-6
    checks: tuple[tuple[str, float, float, str, int, str, str], ...] = (
        (
            "高圧 all-in rate",
            22.0,
            cost.TARIFF_HIGH_VOLTAGE.all_in_jpy_per_kwh,
            "JPY/kWh",
            2,
            src71,
            f"{test}::test_japanese_presets_add_up",
        ),
        (
            "特別高圧 all-in rate",
            18.0,
            cost.TARIFF_EXTRA_HIGH_VOLTAGE.all_in_jpy_per_kwh,
            "JPY/kWh",
            2,
            src71,
            f"{test}::test_japanese_presets_add_up",
        ),
        (
            "1 MWh at 高圧",
            22_000.0,
            float(cost.energy_cost_jpy(mwh_j)),
            "JPY",
            0,
            f"{src71}, hand-computed",
            "test_energy_cost_and_co2_hand_computed",
        ),
        (
            "1 MW for a year (8,760 MWh) at 高圧",
            192_720_000.0,
            float(cost.energy_cost_jpy(year_j)),
            "JPY",
            0,
            f"{src71}, hand-computed",
            "test_energy_cost_and_co2_hand_computed",
        ),
        (
            "CO2 of 1 MW for a year",
            3_942.0,
            float(cost.co2_kg(year_j)) / units.KG_PER_TONNE,
            "t",
            0,
            f"{src72}, hand-computed",
            "test_energy_cost_and_co2_hand_computed",
        ),
        (
            "demand charge, 500 kW × 12 months at 14,812 JPY/kW-yr",
            7_406_000.0,
            float(cost.demand_charge_jpy(500.0 * kw, demand_tariff, n_months=12)),
            "JPY",
            0,
            "physics.md §7.1 (容量拠出金 Tokyo FY2026), hand-computed",
            "test_demand_charge_and_ratchet",
        ),
        (
            "30-min peak: 10-min 400 kW spike on 100 kW base",
            200.0,
            float(cost.peak_30min_w([0.0, 600.0, 1200.0], [1e5, 4e5, 1e5], end_time_s=3600.0)) / kw,
            "kW",
            0,
            "30-minute demand periods (デマンド時限), physics.md §7.1; hand-computed",
            "test_peak_30min_of_piecewise_constant_series",
        ),
        (
            "30-min peak: same spike across a period boundary",
            150.0,
            float(cost.peak_30min_w([0.0, 1500.0, 2100.0], [1e5, 4e5, 1e5], end_time_s=3600.0))
            / kw,
            "kW",
            0,
            "30-minute demand periods (デマンド時限), physics.md §7.1; hand-computed",
            "test_peak_30min_of_piecewise_constant_series",
        ),
    )
    rows = [
        near(q, pub, val, rtol=1e-6, unit=u, digits=d, source=src, test=t)
        for q, pub, val, u, d, src, t in checks
    ]
    return Section(
        "Cost and carbon (kiban.physics.cost)",
        "Energy × (energy rate + fuel adjustment + renewable surcharge), a demand charge on the "
        "30-minute peak, CO2 from the grid factor; Japanese presets. The published inputs are "
        "themselves weak ([S, weak] aggregator averages, physics.md §10 item 2). "
        "Test: `tests/physics/test_cost.py`.",
        (Table("Tariff arithmetic", tuple(rows)),),
    )
