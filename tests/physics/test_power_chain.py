"""UPS loss curve, redundancy modes and chain losses (physics.md §4.3–4.4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.catalog import PduClass, UpsClass, default_catalog
from kiban.errors import ConfigError
from kiban.physics.power_chain import (
    PowerChain,
    chain_loss_w,
    installed_ups_modules,
    ups_efficiency_frac,
    ups_loss_w,
)

DOUBLE_CONVERSION = UpsClass("double-conversion", 0.03, 0.02, 0.01, "physics.md §4.3 defaults")
NO_PDU = PduClass("none", 1.0e9, 0.0, "test")


def test_ups_loss_curve_arithmetic():
    """loss = P_rated·(L0 + L1·x + L2·x²); 1 MW module at 50 % with 0.03/0.02/0.01 → 42.5 kW."""
    loss = ups_loss_w(np.array([0.0, 5.0e5, 1.0e6]), 1.0e6, DOUBLE_CONVERSION)
    np.testing.assert_allclose(loss, [3.0e4, 4.25e4, 6.0e4])


@pytest.mark.parametrize("name", ["edge", "enterprise", "hyperscale"])
def test_catalog_ups_efficiency_at_half_load_inside_lbnl_band(name):
    """Efficiency at 50 % load lies inside the LBNL 2024 Table 4.3 band of each class.

    Bands: edge/SMB 77–85 %, enterprise/colo 80–94 %, hyperscale & AI 90–99 % (physics.md §4.3).
    """
    ups = default_catalog().ups(name)
    eff = float(ups_efficiency_frac(0.5, 1.0, ups))
    assert ups.efficiency_low_frac <= eff <= ups.efficiency_high_frac


def test_ups_efficiency_curve_shape():
    """Efficiency is poor at light load, where no-load loss dominates, and best near full load.

    Schneider/APC WP108: no-load losses can exceed 40 % of all UPS losses (physics.md §4.3).
    """
    x = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0])
    eff = ups_efficiency_frac(x, 1.0, DOUBLE_CONVERSION)
    assert np.all(np.diff(eff) > 0)
    # Light load costs far more than the curve's flat top: ≥ 15 points lost at 10 % vs 50 %.
    assert eff[4] - eff[1] > 0.15
    # At 30 % load the no-load term is more than 40 % of the loss (WP108 statement).
    no_load_share = 0.03 / float(ups_loss_w(0.3, 1.0, DOUBLE_CONVERSION))
    assert no_load_share > 0.4


def test_installed_modules_by_redundancy():
    """N, N+1 and 2N install N, N+1 and 2N modules (Uptime tiers, physics.md §4.4)."""
    assert installed_ups_modules(4, "N") == 4
    assert installed_ups_modules(4, "N+1") == 5
    assert installed_ups_modules(4, "2N") == 8
    with pytest.raises(ConfigError, match=r"power\.redundancy = '3N'"):
        installed_ups_modules(4, "3N")
    with pytest.raises(ConfigError, match=r"n_ups_modules = 0"):
        installed_ups_modules(0, "N")


def test_2n_loses_more_than_n_plus_1_more_than_n():
    """At the same IT load, more installed modules run at lower load fraction and lose more.

    2N sites run each side at ≤ 50 % (field: 20–40 %), where efficiency is worst (physics.md §4.3).
    """
    it = np.linspace(1.0e5, 2.0e6, 20)
    kw = {"n_ups_modules": 2, "ups_rated_w": 1.0e6, "pdu": NO_PDU}
    loss_n = chain_loss_w(it, DOUBLE_CONVERSION, "N", **kw)
    loss_n1 = chain_loss_w(it, DOUBLE_CONVERSION, "N+1", **kw)
    loss_2n = chain_loss_w(it, DOUBLE_CONVERSION, "2N", **kw)
    assert np.all(loss_2n > loss_n1)
    assert np.all(loss_n1 > loss_n)


def test_2n_each_side_at_most_half_loaded():
    """In 2N, every module carries ≤ 50 % of its rating while the IT load is within the design."""
    n, rated = 3, 5.0e5
    it = np.linspace(0.0, n * rated, 11)
    per_module = it / installed_ups_modules(n, "2N")
    assert np.all(per_module / rated <= 0.5 + 1e-12)


def test_pdu_and_transformer_losses_add_in_series():
    """With a lossless UPS, loss = f_pdu·P + f_tr·(P + f_pdu·P) (IEEE 3001.5 ranges)."""
    lossless = UpsClass("ideal", 0.0, 0.0, 0.0, "test")
    pdu = PduClass("pdu", 1.0e6, 0.01, "test")
    trafo = PduClass("trafo", 1.0e6, 0.019, "test")
    it = 1.0e6
    loss = float(
        chain_loss_w(
            it, lossless, "N", n_ups_modules=1, ups_rated_w=2.0e6, pdu=pdu, transformer=trafo
        )
    )
    assert loss == pytest.approx(0.01 * it + 0.019 * 1.01 * it)


@given(
    it1=st.floats(0.0, 3.0e6), it2=st.floats(0.0, 3.0e6), mode=st.sampled_from(["N", "N+1", "2N"])
)
@settings(max_examples=60, deadline=None)
def test_chain_loss_positive_and_monotone(it1, it2, mode):
    """Losses are positive (no-load terms) and never fall as the IT load rises."""
    chain = PowerChain(
        DOUBLE_CONVERSION,
        mode,
        3,
        1.0e6,
        PduClass("p", 1e6, 0.01, "t"),
        PduClass("t", 1e6, 0.005, "t"),
    )
    lo, hi = sorted((it1, it2))
    assert float(chain.loss_w(lo)) > 0.0
    assert float(chain.loss_w(hi)) >= float(chain.loss_w(lo))


def test_power_chain_validates_on_construction():
    """Bad chain parameters fail at construction with the field in the message."""
    pdu = default_catalog().pdu("rack-pdu-3ph-400v-32a")
    with pytest.raises(ConfigError, match="ups_rated_w"):
        PowerChain(DOUBLE_CONVERSION, "N", 1, 0.0, pdu)
    with pytest.raises(ConfigError, match="redundancy"):
        PowerChain(DOUBLE_CONVERSION, "2N+2", 1, 1.0e6, pdu)
    bad = UpsClass("bad", -0.1, 0.0, 0.0, "t")
    with pytest.raises(ConfigError, match="no_load_loss_frac"):
        PowerChain(bad, "N", 1, 1.0e6, pdu)
    chain = PowerChain(DOUBLE_CONVERSION, "2N", 2, 5.0e5, pdu)
    assert chain.design_power_w == 1.0e6
