"""The hourly climate loader reads EnergyPlus weather files (TMYx EPW, dcrl-weather-carbon)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_data

from kiban.errors import ConfigError
from kiban.physics.climate import load_hourly_climate

DALLAS = ("dcrl-weather-carbon", "Weather", "USA_TX_Dallas-Fort.Worth.epw")


def test_dallas_epw_matches_its_rows_and_ashrae_design_conditions(data_root):
    """Row values as in the file (line 9: 2.80 °C), a full year, wet bulb ≤ dry bulb, and the
    hottest 0.4 % of hours within 1 K of the ASHRAE 2021 Handbook (Fundamentals, ch. 14) 0.4 %
    cooling design dry bulb that the file's own DESIGN CONDITIONS line prints (38.6 °C)."""
    path = require_data(data_root, *DALLAS)
    climate = load_hourly_climate(path)
    assert climate.dry_bulb_c.size == 8760
    assert climate.dry_bulb_c[0] == pytest.approx(2.80)
    assert np.all(climate.wet_bulb_c <= climate.dry_bulb_c + 1e-9)
    design = path.read_text(encoding="utf-8").splitlines()[1].split(",")
    design_db_c = float(design[design.index("Cooling") + 3])
    assert design_db_c == pytest.approx(38.6)
    assert abs(float(np.percentile(climate.dry_bulb_c, 99.6)) - design_db_c) < 1.0


def test_bad_epw_rows_name_the_line(tmp_path):
    header = ["LOCATION,Test,,,,0,0,0,0,0", *(["X"] * 7)]
    rows = ["2021,1,1,1,0,x,20.0,10.0,50,101325"] * 3
    rows[1] = "2021,1,1,2,0,x,hot,10.0,50,101325"
    bad = tmp_path / "bad.epw"
    bad.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.epw:10: dry_bulb_c = 'hot'"):
        load_hourly_climate(bad)
    not_epw = tmp_path / "other.epw"
    not_epw.write_text("dry_bulb_c\n20\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not an EPW weather file"):
        load_hourly_climate(not_epw)
