"""``[simulation] facility_step_s``: the step of the facility in the loop, from the scenario."""

from __future__ import annotations

import pytest
from _spec_halls import hall_toml

from kiban.errors import ConfigError
from kiban.results import prepare_scenario, run_prepared
from kiban.spec import load_spec

SCENARIO = (
    hall_toml(
        containment="hot-aisle",
        power_limit_kw=40.0,
        rows=1,
        racks_per_row=2,
        technology="hot-aisle-containment",
    )
    + """
[[fleet]]
model = "dgx-h100"
count = 2
racks = "auto"

[workload.synthetic]
days = 0.25
max_gpus = 8

[simulation]
seed = 1
horizon_days = 0.25
{extra}
"""
)


def _write(tmp_path, extra):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(extra=extra), encoding="utf-8")
    return path


def test_the_facility_steps_at_the_scenario_step(tmp_path):
    """The default is 300 s; the key reaches the facility in the loop, the run's energy is
    integrated at the coarser step (a different number), and both runs finish the same jobs."""
    energy = {}
    done = {}
    for step_s in (None, 3600.0):
        extra = "" if step_s is None else f"facility_step_s = {step_s}"
        prepared = prepare_scenario(load_spec(_write(tmp_path, extra)), failures=False)
        assert prepared.facility.step_s == (300.0 if step_s is None else step_s)
        out = run_prepared(prepared, "fifo-static")
        energy[step_s] = out.summary["facility_energy_kwh"]
        done[step_s] = out.summary["jobs_completed"]
    assert energy[None] != energy[3600.0]
    assert energy[3600.0] == pytest.approx(energy[None], rel=0.05)
    assert done[None] == done[3600.0]


@pytest.mark.parametrize("value", [0.5, 7200.0])
def test_a_facility_step_out_of_range_names_the_field(tmp_path, value):
    with pytest.raises(ConfigError) as info:
        load_spec(_write(tmp_path, f"facility_step_s = {value}"))
    text = "\n".join(info.value.problems or [str(info.value)])
    assert "facility_step_s" in text
    assert "facility step" in text
