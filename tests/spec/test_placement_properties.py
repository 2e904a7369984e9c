"""Property: auto placement never overloads a rack, and reports exactly when servers are left."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.catalog import default_catalog
from kiban.spec import Scenario, place_fleet

MODELS = ("dgx-h100", "dgx-a100", "l40s-8x-pcie", "philly-2gpu", "philly-8gpu")


def _scenario(model, count, limit_kw, n_racks):
    return Scenario.model_validate(
        {
            "site": {"name": "p", "climate": "tokyo"},
            "hall": {
                "length_m": 100.0,
                "width_m": 10.0,
                "floor_rating_kpa": 50.0,
                "rack_defaults": {"power_limit_kw": limit_kw},
                "grid": {"rows": 1, "racks_per_row": n_racks},
            },
            "cooling": {"technology": "hot-aisle-containment"},
            "fleet": [{"model": model, "count": count}],
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    count=st.integers(0, 60),
    limit_kw=st.floats(5.0, 40.0),
    n_racks=st.integers(1, 12),
)
def test_auto_placement_respects_limits(model, count, limit_kw, n_racks):
    cat = default_catalog()
    racks, problems = place_fleet(_scenario(model, count, limit_kw, n_racks), cat)
    placed = sum(len(r.servers) for r in racks)
    for rack in racks:
        assert rack.max_power_w <= rack.power_limit_w + 1e-9
        assert rack.max_power_w <= rack.cooling.max_rack_power_w + 1e-9
        assert rack.used_units <= rack.rack_units
    server = cat.server(model)
    per_rack = min(int(limit_kw * 1000 // server.max_power_w), 42 // server.rack_units)
    expected = min(count, per_rack * n_racks)
    assert placed == expected
    assert bool(problems) == (placed < count)
