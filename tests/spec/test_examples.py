"""The four shipped examples validate, and their placements match the numbers in their comments.

Rack power and floor loads come from the catalog (physics.md §1.2, §4.2): DGX H100 10.2 kW and
130.45 kg; GB200 NVL72 120 kW and 1,360 kg on 0.6 × 1.068 m (≈ 20.8 kPa).
"""

from __future__ import annotations

import sys

import pytest
from tests.conftest import EXAMPLES, REPO_ROOT, require_data

from kiban.cli import main
from kiban.spec import load_spec

NAMES = (
    "tokyo-air-dgx-h100",
    "hall-512-h100-rdhx",
    "hokkaido-nvl72-liquid",
    "philly",
)


def test_kiban_validate_examples_exits_zero(monkeypatch, capsys, data_root):
    # openb.toml takes its fleet from the trace's node list: validating it reads the data
    require_data(data_root, "alibaba-gpu-v2023-openb", "csv", "openb_node_list_gpu_node.csv")
    paths = sorted(str(p) for p in EXAMPLES.glob("*.toml"))
    assert {p.rsplit("/", 1)[-1].removesuffix(".toml") for p in paths} >= set(NAMES)
    monkeypatch.setattr(sys, "argv", ["kiban", "validate", *paths])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    assert info.value.code in (0, None), out.err
    ok_lines = [line for line in out.out.splitlines() if line.startswith("OK ")]
    assert len(ok_lines) == len(paths)
    assert "error" not in out.err


def _used(scenario):
    return [r for r in scenario.racks_resolved() if r.servers]


def test_tokyo_air_two_dgx_per_rack():
    scenario = load_spec(EXAMPLES / "tokyo-air-dgx-h100.toml")
    used = _used(scenario)
    assert scenario.n_gpus == 64
    assert len(used) == 4
    assert all(len(r.servers) == 2 for r in used)
    assert all(r.max_power_w == pytest.approx(20_400.0) for r in used)
    assert all(r.max_power_w <= r.power_limit_w for r in used)
    assert {r.cooling.name for r in used} == {"crac-raised-floor"}
    assert scenario.site.climate.monthly == "tokyo"
    assert scenario.workload.synthetic is not None


def test_hall_512_four_dgx_per_rack_with_rear_doors():
    scenario = load_spec(EXAMPLES / "hall-512-h100-rdhx.toml")
    used = _used(scenario)
    assert scenario.n_gpus == 512
    assert len(used) == 16
    assert all(len(r.servers) == 4 and r.max_power_w == pytest.approx(40_800.0) for r in used)
    assert {r.cooling.name for r in used} == {"rear-door-hx"}
    # 4 × 130.45 kg + 150 kg enclosure on 0.72 m² ≈ 9.15 kPa < 12 kPa
    assert max(r.floor_load_pa for r in used) == pytest.approx(9150.0, rel=1e-3)
    assert scenario.workload.trace_format == "philly"


def test_hokkaido_nvl72_is_liquid_cooled_on_a_slab():
    scenario = load_spec(EXAMPLES / "hokkaido-nvl72-liquid.toml")
    used = _used(scenario)
    assert scenario.n_gpus == 576
    assert len(used) == 8
    assert all(r.is_rack_scale and len(r.servers) == 1 for r in used)
    assert used[0].floor_load_pa == pytest.approx(20_800.0, rel=0.01)  # physics.md §4.2
    assert used[0].floor_load_pa <= scenario.hall.floor_rating_pa
    assert scenario.site.climate.monthly == "sapporo"
    assert scenario.cooling.liquid_supply_temp_c == 32.0
    assert scenario.policies.scheduling.name == "tiresias-las"  # a registered policy (issue 17)
    assert scenario.policies.scheduling.params == {}


def test_philly_matches_the_machine_list(data_root):
    """552 machines: 321 × 2-GPU and 231 × 8-GPU (philly/cluster_machine_list.csv)."""
    machine_list = require_data(data_root, "philly", "cluster_machine_list.csv")
    rows = machine_list.read_text(encoding="utf-8").strip().splitlines()[1:]
    n_two = sum(1 for r in rows if r.split(",")[1].strip() == "2")
    n_eight = sum(1 for r in rows if r.split(",")[1].strip() == "8")
    scenario = load_spec(EXAMPLES / "philly.toml")
    counts = {e.model: e.count for e in scenario.fleet}
    assert counts == {"philly-2gpu": n_two, "philly-8gpu": n_eight}
    assert scenario.n_servers == len(rows) == 552
    placed = [s.name for r in scenario.racks_resolved() for s in r.servers]
    assert len(placed) == 552
    assert all(r.max_power_w <= r.power_limit_w for r in scenario.racks_resolved())


def test_philly_trace_path_resolves_beside_the_repository(data_root):
    scenario = load_spec(EXAMPLES / "philly.toml")
    path = scenario.workload.trace_path
    assert path is not None
    assert path.is_absolute()
    expected = REPO_ROOT.parent / "shared" / "data" / "philly" / "pollux_philly_jobs.csv"
    assert path.resolve() == expected.resolve()
    if data_root.resolve() != (REPO_ROOT.parent / "shared" / "data").resolve():
        pytest.skip("KIBAN_DATA points elsewhere; the example's relative path assumes ../shared")
    require_data(data_root, "philly", "pollux_philly_jobs.csv")
    scenario.workload.check_trace()  # exists: no error


def test_openb_runs_on_the_trace_node_list(data_root):
    """openb.toml: the 1,213 GPU nodes and 6,212 GPUs of openb_node_list_gpu_node.csv (LOADER.md),
    each with its CPU and memory, all placed."""
    nodes = require_data(
        data_root, "alibaba-gpu-v2023-openb", "csv", "openb_node_list_gpu_node.csv"
    )
    rows = [r.split(",") for r in nodes.read_text(encoding="utf-8").strip().splitlines()[1:]]
    scenario = load_spec(EXAMPLES / "openb.toml")
    assert scenario.n_servers == sum(1 for r in rows if int(r[3]) > 0) == 1213
    assert scenario.n_gpus == sum(int(r[3]) for r in rows) == 6212
    assert sum(len(r.servers) for r in scenario.racks_resolved()) == 1213
    assert all(r.max_power_w <= r.power_limit_w for r in scenario.racks_resolved())
