"""[[faults]] entries and the unit capacities they act on: validated like the rest of the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiban.errors import ConfigError
from kiban.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tokyo-air-dgx-h100.toml"


def _write(tmp_path: Path, extra: str, cooling_extra: str = "") -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    if cooling_extra:
        text = text.replace("[cooling]\n", "[cooling]\n" + cooling_extra, 1)
    path = tmp_path / "s.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def test_faults_load_with_units_and_racks(tmp_path):
    spec = load_spec(
        _write(
            tmp_path,
            '[[faults]]\nkind = "crac"\ntarget = "1"\nat_s = 3600\nduration_s = 1800\n'
            '[[faults]]\nkind = "gpu_fan"\ntarget = "R01"\nat_s = 0\nfraction_lost = 0.25\n',
            "crah_units = 4\ncrah_airflow_m3_per_s = 12.0\ncrah_capacity_kw = 150\n",
        )
    )
    assert [f.kind for f in spec.faults] == ["crac", "gpu_fan"]
    assert spec.faults[0].unit_index == 1
    assert spec.faults[0].end_s == 5400.0
    assert spec.faults[1].end_s == float("inf")
    assert spec.cooling.crah_capacity_w == 150e3


@pytest.mark.parametrize(
    ("extra", "cooling", "needle"),
    [
        ('[[faults]]\nkind = "boiler"\nat_s = 1\n', "", "faults[0].kind"),
        ('[[faults]]\nkind = "feed"\nat_s = 1\n', "", "needs target"),
        ('[[faults]]\nkind = "feed"\ntarget = "R999"\nat_s = 1\n', "", "no such rack"),
        ('[[faults]]\nkind = "crac"\ntarget = "A"\nat_s = 1\n', "", "unit number"),
        ('[[faults]]\nkind = "crac"\ntarget = "5"\nat_s = 1\n', "crah_units = 2\n", "0–1"),
        ('[[faults]]\nkind = "chiller"\nat_s = -5\n', "", "faults[0].at_s"),
        (
            '[[faults]]\nkind = "gpu_fan"\ntarget = "R01"\nat_s = 1\nfraction_lost = 2\n',
            "",
            "(0, 1]",
        ),
        ("", "crah_airflow_m3_per_s = 20000\n", "CFM"),
    ],
)
def test_bad_faults_give_one_clear_line(tmp_path, extra, cooling, needle):
    with pytest.raises(ConfigError) as info:
        load_spec(_write(tmp_path, extra, cooling))
    text = "\n".join(info.value.problems or [str(info.value)])
    assert needle in text
    assert str(tmp_path / "s.toml") in text
