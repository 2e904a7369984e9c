"""Cable and pipe runs in a site spec: the keys, their checks, auto placement and validate lines.

Run lengths are hand-computed: |dx| + |dy| between the source point and the rack centre, plus
the 4 m vertical allowance of :mod:`kiban.spec.routing` (two 2 m rack heights).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiban.catalog import default_catalog
from kiban.errors import ConfigError
from kiban.spec import load_spec
from kiban.spec.routing import (
    VERTICAL_ALLOWANCE_M,
    cable_limit,
    needs_pipe,
    pipe_limit,
    route_length_m,
)

# A 30 × 10 m hall with two listed racks: A1 near the west wall, A2 far east.
FIXED = """
[site]
name = "t"
climate = "tokyo"
[hall]
length_m = 30.0
width_m = 10.0
[hall.rack_defaults]
power_limit_kw = 45.0
[[hall.racks]]
name = "A1"
x_m = 2.0
y_m = 2.0
[[hall.racks]]
name = "A2"
x_m = 25.0
y_m = 2.0
[power]
{power}
[cooling]
technology = "{tech}"
{cooling}
[[fleet]]
model = "dgx-h100"
count = {count}
racks = ["A1", "A2"]
{per_rack}
"""

# A 14 × 10 m hall, 2 rows × 8 positions at x = 1.0 … 5.2 m, y = 2 and 5 m.
GRID = """
[site]
name = "t"
climate = "tokyo"
[hall]
length_m = 14.0
width_m = 10.0
[hall.rack_defaults]
power_limit_kw = 45.0
[hall.grid]
rows = 2
racks_per_row = 8
rack_pitch_m = 0.6
row_pitch_m = 3.0
origin_x_m = 1.0
origin_y_m = 2.0
[power]
{power}
[cooling]
technology = "rear-door-hx"
{cooling}
[[fleet]]
model = "dgx-h100"
count = {count}
"""

PIPE_20 = "cdu_x_m = 0.0\ncdu_y_m = 2.0\nmax_pipe_length_m = 20"


def _write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _fixed(tmp_path, *, power="", cooling="", tech="rear-door-hx", count=8, per_rack=4):
    text = FIXED.format(
        power=power,
        cooling=cooling,
        tech=tech,
        count=count,
        per_rack="" if per_rack is None else f"per_rack = {per_rack}",
    )
    return _write(tmp_path, text)


def _problems(path):
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    return [line.split(": ", 1)[1] for line in info.value.problems]


def test_route_length_is_rectilinear_plus_vertical_allowance():
    # (25, 2) from (0, 2): 25 m along the row + 0 across + 4 m vertical = 29 m.
    assert route_length_m(25.0, 2.0, 0.0, 2.0) == pytest.approx(29.0)
    assert VERTICAL_ALLOWANCE_M == pytest.approx(4.0)
    x = np.array([1.0, 5.2, 1.0])
    y = np.array([2.0, 2.0, 5.0])
    # from (0, 4.5): 1 + 2.5 + 4, 5.2 + 2.5 + 4, 1 + 0.5 + 4
    np.testing.assert_allclose(route_length_m(x, y, 0.0, 4.5), [7.5, 11.7, 5.5])


def test_pipe_applies_to_water_cooled_technologies_only():
    cat = default_catalog()
    wet = {name for name, tech in cat.cooling_techs.items() if needs_pipe(tech)}
    assert wet == {"rear-door-hx", "direct-liquid", "immersion-1p"}


def test_keys_parse_and_helpers_return_the_limits(tmp_path):
    path = _fixed(
        tmp_path,
        power="feed_x_m = 0.0\nfeed_y_m = 5.0\nmax_cable_length_m = 40",
        cooling="cdu_x_m = 0.0\ncdu_y_m = 2.0\nmax_pipe_length_m = 35",
    )
    scenario = load_spec(path)
    assert scenario.power.feed_x_m == 0.0
    assert scenario.power.max_cable_length_m == 40.0
    assert cable_limit(scenario) == (0.0, 5.0, 40.0)
    assert pipe_limit(scenario) == (0.0, 2.0, 35.0)
    # Without the keys: no limit.
    plain = load_spec(_fixed(tmp_path))
    assert cable_limit(plain) is None
    assert pipe_limit(plain) is None


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        (
            "max_cable_length_m = 5000",
            ["power.max_cable_length_m = 5000", "expected 1–1000 m", "did you mean mm?"],
        ),
        ("max_cable_length_m = -3", ["power.max_cable_length_m = -3", "must not be negative"]),
        ("max_cable_length_m = 0", ["power.max_cable_length_m = 0", "expected 1–1000 m"]),
        ("feed_x_m = 2500", ["power.feed_x_m = 2500", "did you mean mm?"]),
    ],
)
def test_implausible_lengths_get_unit_hints(tmp_path, line, fragments):
    problems = _problems(_fixed(tmp_path, power=line))
    text = "\n".join(problems)
    for fragment in fragments:
        assert fragment in text, text


def test_pipe_limit_unit_hint(tmp_path):
    problems = _problems(
        _fixed(tmp_path, cooling="cdu_x_m = 0.0\ncdu_y_m = 2.0\nmax_pipe_length_m = 25000")
    )
    assert len(problems) == 1
    assert "cooling.max_pipe_length_m = 25000" in problems[0]
    assert "did you mean mm? (25000 mm = 25 m)" in problems[0]


def test_points_must_be_inside_the_hall_and_complete(tmp_path):
    problems = _problems(
        _fixed(
            tmp_path,
            power="feed_x_m = 31.0\nfeed_y_m = 5.0\nmax_cable_length_m = 40",
            cooling="cdu_x_m = 1.0\nmax_pipe_length_m = 35",
        )
    )
    assert len(problems) == 2, problems
    feed, cdu = problems
    assert feed.startswith("power.feed_x_m = 31: ")
    assert "outside the 30 × 10 m hall" in feed
    assert "allowed 0–30 m" in feed
    assert cdu.startswith("cooling.cdu_x_m = 1: give cooling.cdu_y_m too")


def test_limit_needs_its_point_and_must_exceed_the_vertical_allowance(tmp_path):
    problems = _problems(
        _fixed(
            tmp_path,
            power="max_cable_length_m = 40",
            cooling="cdu_x_m = 0.0\ncdu_y_m = 2.0\nmax_pipe_length_m = 3",
        )
    )
    assert len(problems) == 2, problems
    assert problems[0].startswith("power.max_cable_length_m = 40: ")
    assert "give power.feed_x_m and power.feed_y_m" in problems[0]
    assert problems[1].startswith("cooling.max_pipe_length_m = 3: ")
    assert "must exceed 4 m" in problems[1]


def test_fixed_layout_liquid_rack_beyond_pipe_limit_is_one_line(tmp_path):
    """A2 is 25 + 0 + 4 = 29 m of pipe from the CDU at (0, 2) m, beyond 20 m; A1 is 6 m."""
    problems = _problems(_fixed(tmp_path, cooling=PIPE_20))
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith("cooling.max_pipe_length_m = 20: rack A2 (rear-door-hx, 29 m of pipe)")
    assert "beyond the 20 m pipe limit from the CDU at (0, 2) m" in line
    assert "A1" not in line


def test_air_racks_need_no_pipe(tmp_path):
    """The same far rack with air cooling is fine: the pipe limit is for water-cooled racks."""
    scenario = load_spec(
        _fixed(tmp_path, cooling=PIPE_20, tech="crac-raised-floor", count=4, per_rack=2)
    )
    assert [len(r.servers) for r in scenario.racks_resolved()] == [2, 2]


def test_fixed_layout_beyond_cable_limit(tmp_path):
    """A2 is 25 + 3 + 4 = 32 m of cable from the feed at (0, 5) m."""
    problems = _problems(
        _fixed(tmp_path, power="feed_x_m = 0.0\nfeed_y_m = 5.0\nmax_cable_length_m = 30")
    )
    assert problems == [
        "power.max_cable_length_m = 30: rack A2 (32 m of cable) is beyond the 30 m cable limit "
        "from the power feed at (0, 5) m (run = |dx| + |dy| along rows and aisles + 4 m "
        "vertical); move it closer, move the power feed, or raise the limit"
    ]


def test_auto_placement_leaves_out_of_reach_racks_empty(tmp_path):
    """Pipe 6.5 m from (0, 2): only row-0 positions with x ≤ 2.5 m (x = 1.0, 1.6, 2.2) are within
    reach, so 12 DGX H100 fill those three rear-door racks and nothing else."""
    pipe = "cdu_x_m = 0.0\ncdu_y_m = 2.0\nmax_pipe_length_m = 6.5"
    scenario = load_spec(_write(tmp_path, GRID.format(power="", cooling=pipe, count=12)))
    filled = [r.name for r in scenario.racks_resolved() if r.servers]
    assert filled == ["R01", "R02", "R03"]
    # Two more servers than the reachable racks hold: the placement line says why.
    problems = _problems(_write(tmp_path, GRID.format(power="", cooling=pipe, count=14), "b.toml"))
    assert len(problems) == 1
    assert problems[0].startswith("fleet[0].count = 14: only 12 dgx-h100 fit")
    assert "13 of them lie beyond cooling.max_pipe_length_m = 6.5 m of pipe" in problems[0]


def test_no_rack_within_cable_reach(tmp_path):
    """Feed in the far corner (14, 10): the nearest position, R16 at (5.2, 5), is 8.8 + 5 + 4 =
    17.8 m of cable."""
    power = "feed_x_m = 14.0\nfeed_y_m = 10.0\nmax_cable_length_m = 15"
    problems = _problems(_write(tmp_path, GRID.format(power=power, cooling="", count=4)))
    assert len(problems) == 1
    assert problems[0].startswith(
        "power.max_cable_length_m = 15: none of the hall's 16 racks is within reach (the nearest: "
        "rack R16 is 17.8 m of cable from the power feed at (14, 10) m, beyond the 15 m limit)"
    )
