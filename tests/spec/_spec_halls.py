"""The small test hall the spec tests share: 12 × 8 m, 25 kW racks, raised-floor CRAC, as TOML."""

from __future__ import annotations


def hall_toml(
    *,
    grid_limit_kw: float | None = None,
    containment: str | None = None,
    power_limit_kw: float = 25.0,
    rows: int = 2,
    racks_per_row: int = 3,
    technology: str = "crac-raised-floor",
) -> str:
    """``[site]`` to ``[cooling]`` of a scenario; tests append fleet, workload and simulation."""
    grid = "" if grid_limit_kw is None else f"grid_limit_kw = {grid_limit_kw:g}\n"
    aisle = "" if containment is None else f'containment = "{containment}"\n'
    return f"""
[site]
name = "test"
{grid}climate = "tokyo"

[hall]
length_m = 12.0
width_m = 8.0
floor_rating_kpa = 12.0
{aisle}
[hall.rack_defaults]
power_limit_kw = {power_limit_kw}

[hall.grid]
rows = {rows}
racks_per_row = {racks_per_row}

[cooling]
technology = "{technology}"
"""
