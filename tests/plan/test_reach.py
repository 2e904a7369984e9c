"""The planner under cable and pipe limits: chosen technology and positions, binding-constraint
sentences, and infeasibility explanations with the shortfall.

The hall has 2 rows × 8 positions at x = 1.0, 1.6, …, 5.2 m and y = 2 and 5 m. Runs are
|dx| + |dy| + 4 m (:mod:`kiban.spec.routing`), so from a source at (0, 2) m a 6.5 m limit reaches
exactly the three row-0 positions with x ≤ 2.5 m (R01–R03); from (0, 3.5) m a 7.5 m limit reaches
x ≤ 2.0 m in both rows (R01, R02, R09, R10). A DGX H100 draws 10.2 kW: four fit a 45 kW
rear-door rack, two a 25 kW raised-floor air rack.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from kiban.cli import main
from kiban.errors import PlanError
from kiban.plan.build import build_problem
from kiban.plan.problem import rack_capacity
from kiban.plan.run import load_site, plan_site
from kiban.spec.routing import route_length_m

HALL = """
name = "{name}"
[site]
name = "test"
climate = "tokyo"
grid_limit_kw = 5000
[hall]
length_m = 14.0
width_m = 10.0
floor_rating_kpa = {floor}
[hall.rack_defaults]
power_limit_kw = {limit}
empty_weight_kg = 150.0
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
technology = "{tech}"
supply_temp_c = 20.0
liquid_supply_temp_c = 32.0
{cooling}
{fleet}
[plan]
candidate_cooling = {candidates}
"""

PIPE = "cdu_x_m = 0.0\ncdu_y_m = 2.0\nmax_pipe_length_m = 6.5"
CABLE = "feed_x_m = 0.0\nfeed_y_m = 3.5\nmax_cable_length_m = 7.5"


def write_hall(tmp_path: Path, *, name: str, count: int = 16, **kw: str) -> Path:
    values = {
        "name": name,
        "floor": "12.0",
        "limit": "45.0",
        "power": "",
        "cooling": "",
        "tech": "rear-door-hx",
        "fleet": f'[[fleet]]\nmodel = "dgx-h100"\ncount = {count}',
        "candidates": '["crac-raised-floor", "rear-door-hx"]',
    }
    values.update(kw)
    path = tmp_path / f"{name}.toml"
    path.write_text(HALL.format(**values), encoding="utf-8")
    return path


def _plan(path: Path):
    scenario, _ = load_site(path)
    return plan_site(scenario, compare=False, sweep=False, time_limit_s=30.0)


def test_pipe_limit_changes_the_chosen_technology_and_positions(tmp_path):
    """Without a pipe limit, 16 DGX H100 go into 4 rear-door racks. With the CDU at (0, 2) m and
    6.5 m of pipe, only R01–R03 can take rear doors: 12 servers there, the other 4 in two 25 kW
    air racks beyond the pipe's reach."""
    free = _plan(write_hall(tmp_path, name="free"))
    assert free.summary.racks_by_tech == {"rear-door-hx": 4}
    assert not any("pipe" in b for b in free.binding)

    res = _plan(write_hall(tmp_path, name="pipe", cooling=PIPE))
    assert res.solution.proven_optimal
    assert res.summary.racks_by_tech == {"rear-door-hx": 3, "crac-raised-floor": 2}
    assert res.summary.servers_by_tech == {"rear-door-hx": 12, "crac-raised-floor": 4}
    racks = [r for r in res.layout.racks_resolved() if r.servers]
    wet = sorted(r.name for r in racks if r.cooling.name == "rear-door-hx")
    assert wet == ["R01", "R02", "R03"]
    for rack in racks:  # the layout file honours the limit it carries
        if rack.cooling.name == "rear-door-hx":
            assert route_length_m(rack.x_m, rack.y_m, 0.0, 2.0) <= 6.5
    assert res.layout.cooling.max_pipe_length_m == pytest.approx(6.5)
    assert (
        "pipe length from the CDU limits liquid cooling (rear-door-hx) to the 3 positions within "
        "6.5 m of the CDU at (0, 2) m; all 3 hold water-cooled racks, and the 2 racks beyond use "
        "crac-raised-floor"
    ) in res.binding


def test_capacity_names_the_pipe_and_cable_limits(tmp_path):
    """Per-position capacity: R16 at (5.2, 5) is 5.2 + 3 + 4 = 12.2 m from the CDU, so rear doors
    are out there (reason pipe_length) while air racks stay allowed; with the cable limit too,
    R16 is 5.2 + 1.5 + 4 = 10.7 m from the feed, beyond 7.5 m, and takes nothing."""
    scenario, _ = load_site(write_hall(tmp_path, name="cap", cooling=PIPE))
    problem = build_problem(scenario)
    names = [t.name for t in problem.techs]
    air, door = names.index("crac-raised-floor"), names.index("rear-door-hx")
    r16 = problem.positions.names.index("R16")
    cap = rack_capacity(problem)
    assert cap.n_max[r16, door, 0] == 0
    assert cap.reason[r16, door, 0] == "pipe_length"
    assert cap.n_max[r16, air, 0] == 2
    assert problem.positions.pipe is not None
    assert problem.positions.pipe.length_m[r16] == pytest.approx(12.2)
    assert int(problem.positions.pipe.within.sum()) == 3

    scenario, _ = load_site(write_hall(tmp_path, name="cap2", cooling=PIPE, power=CABLE))
    problem = build_problem(scenario)
    cap = rack_capacity(problem)
    assert problem.positions.cable is not None
    assert problem.positions.cable.length_m[r16] == pytest.approx(10.7)
    assert cap.n_max[r16].sum() == 0
    assert cap.reason[r16, air, 0] == "cable_length"
    assert np.array_equal(problem.positions.allowed[:, air], problem.positions.cable.within)


def test_cable_limit_binds_in_plain_words(tmp_path):
    """Four positions within 7.5 m of the feed at (0, 3.5) m hold exactly 16 servers at 4 each."""
    res = _plan(write_hall(tmp_path, name="cable", power=CABLE))
    used = sorted(r.name for r in res.layout.racks_resolved() if r.servers)
    assert used == ["R01", "R02", "R09", "R10"]
    assert (
        "power cable length from the feed limits the racks to the 4 positions within 7.5 m of "
        "the power feed at (0, 3.5) m (of 16 positions); all 4 are used"
    ) in res.binding


def test_infeasible_cable_says_how_many_racks_short(tmp_path):
    """20 servers need 5 racks of 4; only 4 positions are within reach: short by 1 rack."""
    scenario, _ = load_site(write_hall(tmp_path, name="cable20", power=CABLE, count=20))
    with pytest.raises(PlanError) as err:
        plan_site(scenario, compare=False, sweep=False)
    assert str(err.value) == (
        "power cable length: only 4 of 16 positions are within 7.5 m of cable from the power "
        "feed at (0, 3.5) m; the fleet needs at least 5 racks (20 × dgx-h100 at 4 per rack, "
        "limited by the rack power limit): short by 1 rack (4 servers)"
    )


def test_infeasible_pipe_with_air_elsewhere(tmp_path):
    """40 servers: 3 rear-door racks × 4 + 13 air racks × 2 = 38 fit: short by 2."""
    scenario, _ = load_site(write_hall(tmp_path, name="pipe40", cooling=PIPE, count=40))
    with pytest.raises(PlanError) as err:
        plan_site(scenario, compare=False, sweep=False)
    msg = str(err.value)
    assert msg.startswith(
        "pipe length from the CDU: liquid cooling (rear-door-hx) reaches only 3 of 16 positions "
        "(within 6.5 m of pipe from the CDU at (0, 2) m)"
    )
    assert msg.endswith(
        "with crac-raised-floor at the other positions the hall holds 38 of 40 × dgx-h100: "
        "short by 2 servers"
    )


def test_infeasible_pipe_for_liquid_only_servers(monkeypatch, capsys, tmp_path):
    """Four GB200 NVL72 need direct liquid; only R01–R03 are within the pipe's reach. Through the
    CLI: exit 2 and one error line with the shortfall."""
    path = write_hall(
        tmp_path,
        name="nvl",
        floor="25.0",
        limit="132.0",
        tech="direct-liquid",
        cooling=PIPE,
        fleet='[[fleet]]\nmodel = "gb200-nvl72"\ncount = 4',
        candidates='["direct-liquid"]',
    )
    monkeypatch.setattr(
        sys, "argv", ["kiban", "plan", str(path), "--no-compare", "--no-sweep-spacing"]
    )
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "liquid cooling (direct-liquid) reaches only 3 of 16 positions" in err
    assert "(within 6.5 m of pipe from the CDU at (0, 2) m)" in err
    assert "gb200-nvl72 needs liquid cooling here" in err
    assert "short by 1 rack (1 server)" in err


def test_infeasible_reach_with_two_models(tmp_path):
    """Two models, one model per position: within reach (R01–R03) the best is the 4 A100 in one
    rack and 4 + 4 H100 in two, 12 of 14; without the limit all 14 fit."""
    fleet = '[[fleet]]\nmodel = "dgx-h100"\ncount = 10\n[[fleet]]\nmodel = "dgx-a100"\ncount = 4'
    power = "feed_x_m = 0.0\nfeed_y_m = 2.0\nmax_cable_length_m = 6.5"
    scenario, _ = load_site(write_hall(tmp_path, name="two", power=power, fleet=fleet))
    with pytest.raises(PlanError) as err:
        plan_site(scenario, compare=False, sweep=False)
    assert str(err.value) == (
        "cable length (6.5 m of cable from the power feed at (0, 2) m): the positions within "
        "reach hold only 12 of 14 × dgx-h100/dgx-a100 (without these limits 14): short by "
        "2 servers"
    )
