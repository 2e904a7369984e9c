"""Power chain: UPS efficiency and loss against published curves.

Shared by ``tests/physics/`` (which assert on the checks) and ``scripts/validation_report.py``
(which renders them into ``docs/validation.md``).
"""

from __future__ import annotations

from kiban import units
from kiban.catalog import UpsClass, default_catalog
from kiban.physics.power_chain import ups_efficiency_frac, ups_loss_w
from kiban.validation.checks import Row, Section, Table, near, within


def section_power_chain() -> Section:
    """UPS efficiency at half load inside the LBNL bands; the loss-curve arithmetic."""
    cat = default_catalog()
    rows = []
    for name in ("edge", "enterprise", "hyperscale"):
        ups = cat.ups(name)
        eff = float(ups_efficiency_frac(0.5, 1.0, ups))
        rows.append(
            within(
                f"UPS efficiency at 50 % load, {name}",
                ups.efficiency_low_frac * units.PERCENT_PER_FRAC,
                ups.efficiency_high_frac * units.PERCENT_PER_FRAC,
                eff * units.PERCENT_PER_FRAC,
                unit="%",
                digits=1,
                source="LBNL 2024 Table 4.3 (UPS efficiency by class); physics.md §4.3",
                test="test_catalog_ups_efficiency_at_half_load_inside_lbnl_band",
            )
        )
    default = UpsClass("double-conversion", 0.03, 0.02, 0.01, "physics.md §4.3 defaults")
    loss_w = float(ups_loss_w(5.0e5, 1.0e6, default))
    rows.append(
        near(
            "loss of a 1 MW UPS at 50 % load (L0/L1/L2 = 0.03/0.02/0.01)",
            42.5,
            loss_w / units.W_PER_KW,
            rtol=1e-6,
            unit="kW",
            digits=1,
            source="physics.md §4.3 loss curve P_rated·(L0 + L1·x + L2·x²), hand-computed",
            test="test_ups_loss_curve_arithmetic",
        )
    )
    share = default.no_load_loss_frac / float(ups_loss_w(0.3, 1.0, default))
    rows.append(
        Row(
            "no-load share of UPS loss at 30 % load",
            "> 40 % ('no-load losses can exceed 40 %')",
            "Schneider/APC WP108/113 via physics.md §4.3",
            f"{share * units.PERCENT_PER_FRAC:.1f} %",
            "—" if share > 0.4 else "violated",
            "> 40 % (`test_ups_efficiency_curve_shape`)",
            share > 0.4,
        )
    )
    return Section(
        "Power chain (kiban.physics.power_chain)",
        "UPS loss = P_rated·(L0 + L1·x + L2·x²) with the catalog's coefficients per class. "
        "Test: `tests/physics/test_power_chain.py`.",
        (Table("UPS", tuple(rows)),),
        notes=(
            "The L0/L1/L2 coefficients are assumed (physics.md §10 item 4); only the LBNL bands "
            "they are scaled into are sourced.",
        ),
    )
