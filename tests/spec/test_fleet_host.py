"""Node CPU and memory in a scenario (issue 15): ``[[fleet]] cpu_milli/memory_gib/from_trace``.

``kiban simulate`` on an openb trace places the CPU-only pods on the nodes' CPU and memory once
the fleet states them; hand-checked on one 2-GPU node with 16 cores: a CPU-only pod holding 12
cores keeps a GPU pod asking 8 off the node until it leaves.
"""

from __future__ import annotations

import pytest
from _spec_halls import hall_toml

from kiban.errors import ConfigError
from kiban.results import prepare_scenario, run_prepared
from kiban.sim.scenario import layout_from_scenario
from kiban.spec import load_spec

BASE = (
    hall_toml()
    + """
[simulation]
seed = 3
"""
)

NODES = """sn,cpu_milli,memory_mib,gpu,model
node-a,16000,65536,2,P100
node-cpu,32000,65536,0,
"""
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
# a GPU pod takes 1 GPU and 1 core from 0 to 10,000 s; a CPU-only pod 12 of the node's 16 cores
# from 0 to 3,600 s; a GPU pod asking half a GPU and 8 cores arrives at 60 s
PODS = POD_HEADER + (
    "first-pod,1000,4096,1,1000,,LS,Running,0,10000,0\n"
    "cpu-pod,12000,4096,0,0,,BE,Running,0,3600,0\n"
    "gpu-pod,8000,4096,1,500,,LS,Running,60,3660,60\n"
)


def _openb(tmp_path, pods=PODS, nodes=NODES):
    folder = tmp_path / "openb"
    folder.mkdir()
    (folder / "openb_node_list_gpu_node.csv").write_text(nodes, encoding="utf-8")
    (folder / "openb_pod_list_default.csv").write_text(pods, encoding="utf-8")
    return folder


def _scenario(tmp_path, fleet, trace=None):
    workload = f'\n[workload]\ntrace = "openb:{trace}"\n' if trace else ""
    path = tmp_path / "s.toml"
    path.write_text(BASE + fleet + workload, encoding="utf-8")
    return path


def _problems(path):
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    return "\n".join(info.value.problems or [str(info.value)])


@pytest.mark.parametrize("policy", ["fifo-static", "best-fit", "random-fit", "fgd"])
def test_simulate_places_the_cpu_only_pods_on_the_trace_nodes(tmp_path, policy):
    """The CPU-only pod holds 12 of 16 cores from 0 to 3,600 s and the first pod 1, so the
    second GPU pod (8 cores, at 60 s) starts at 3,600 s: it waits 3,540 s, the first none (mean
    1,770 s). Dropping the CPU-only pod (the node's CPU not in the scenario) would start it at
    once, with no CPU-only pod in the summary."""
    folder = _openb(tmp_path)
    path = _scenario(tmp_path, f'[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\n')
    scenario = load_spec(path)
    prepared = prepare_scenario(
        scenario, trace=f"openb:{folder}/openb_pod_list_default.csv", failures=False
    )
    s = run_prepared(prepared, policy).summary
    assert s["cpu_pods"] == 1
    assert s["cpu_pods_completed"] == 1
    assert s["jobs_completed"] == 2
    assert s["wait_mean_s"] == pytest.approx(3540.0 / 2)
    assert s["fgd_fragmentation_gpu_hours"] is not None  # the fragmentation measure is reported


def test_a_converted_trace_replays_the_same_as_its_csv(tmp_path):
    """``kiban trace convert`` keeps the CPU-only pod: the parquet replays to the same starts,
    waits and CPU-only pod figures as the CSV (fgd, the placement that reads CPU). Run lengths
    may differ by the data stalls: the parquet keeps the job-model columns drawn at conversion,
    the CSV gets the run's draws."""
    from typer.testing import CliRunner  # noqa: PLC0415

    import kiban.cli  # noqa: PLC0415

    folder = _openb(tmp_path)
    source = f"openb:{folder}/openb_pod_list_default.csv"
    out = tmp_path / "pods.parquet"
    kiban.cli._load_commands()
    res = CliRunner().invoke(kiban.cli.app, ["trace", "convert", source, str(out)])
    assert res.exit_code == 0, res.output
    scenario = load_spec(
        _scenario(tmp_path, f'[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\n')
    )
    runs = [
        run_prepared(prepare_scenario(scenario, trace=t, failures=False), "fgd")
        for t in (source, f"kiban:{out}")
    ]
    keys = ("cpu_pods", "cpu_pods_completed", "cpu_pods_wait_mean_s", "wait_mean_s")
    assert [runs[1].summary[k] for k in keys] == [runs[0].summary[k] for k in keys]
    assert runs[0].summary["cpu_pods_completed"] == 1
    for col in ("job_id", "start_time_s"):  # ends: the I/O draws of the job model differ
        assert runs[0].jobs[col].to_list() == runs[1].jobs[col].to_list()


def test_without_node_cpu_the_summary_says_the_cpu_only_pods_were_not_replayed(tmp_path):
    folder = _openb(tmp_path)
    scenario = load_spec(_scenario(tmp_path, '[[fleet]]\nmodel = "philly-8gpu"\ncount = 1\n'))
    prepared = prepare_scenario(
        scenario, trace=f"openb:{folder}/openb_pod_list_default.csv", failures=False
    )
    s = run_prepared(prepared, "fifo-static").summary
    assert s["cpu_pods_not_replayed"] == 1
    assert "cpu_pods" not in s
    assert s["wait_mean_s"] == 0.0  # nothing holds the CPU: the GPU pods start at once


def test_from_trace_takes_each_node_from_the_list(tmp_path):
    """One server per GPU node (the CPU-only node left out): its GPUs, model name, CPU, memory;
    power from the proxy's host with the node's GPU count (2 × P40 250 W + 724.26 W host +
    253.2 W fans) / 0.9408."""
    folder = _openb(tmp_path, nodes=NODES + "node-b,96000,393216,8,G2\n")
    path = _scenario(tmp_path, f'[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\n')
    scenario = load_spec(path)
    assert scenario.fleet[0].count == 2
    assert scenario.n_gpus == 10
    lay = layout_from_scenario(scenario)
    assert lay.node_cpu_milli.tolist() == [16000, 96000]
    assert lay.node_memory_b.tolist() == [65536 * 2.0**20, 393216 * 2.0**20]
    assert [lay.skus[i].name for i in lay.node_sku_idx] == ["P100", "G2"]
    assert lay.node_n_gpus.tolist() == [2, 8]
    two = next(s for s in lay.servers if s.n_gpus == 2)
    assert two.max_power_w == pytest.approx((2 * 250.0 + 724.26 + 253.2) / 0.9408, rel=1e-3)


def test_cpu_and_memory_keys_with_the_catalog_cpu_default(tmp_path):
    """An entry without cpu_milli takes host_cpu_cores × 1000 (philly-2gpu: 24 cores); without
    memory_gib its memory is unlimited; a scenario without either key checks neither."""
    fleet = (
        '[[fleet]]\nmodel = "philly-8gpu"\ncount = 1\ncpu_milli = 96000\nmemory_gib = 512\n'
        '[[fleet]]\nmodel = "philly-2gpu"\ncount = 2\n'
    )
    lay = layout_from_scenario(load_spec(_scenario(tmp_path, fleet)))
    assert lay.node_cpu_milli.tolist() == [96000, 24000, 24000]
    assert lay.node_memory_b.tolist() == [512 * 2.0**30, float("inf"), float("inf")]
    plain = tmp_path / "plain"
    plain.mkdir()
    lay = layout_from_scenario(
        load_spec(_scenario(plain, '[[fleet]]\nmodel = "philly-8gpu"\ncount = 1\n'))
    )
    assert lay.node_cpu_milli is None
    assert lay.node_memory_b is None


@pytest.mark.parametrize(
    ("fleet", "expected"),
    [
        (
            '[[fleet]]\nfrom_trace = "openb:{missing}"\nmodel = "philly-8gpu"\n',
            'fleet[0].from_trace = "openb:{missing}": {missing}: no such file or folder',
        ),
        (
            '[[fleet]]\nfrom_trace = "philly:{folder}"\nmodel = "philly-8gpu"\n',
            "no node list is read for trace format 'philly'; allowed: openb",
        ),
        (
            '[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\ncpu_milli = 8000\n',
            "cpu_milli = 8000: from_trace gives each node's CPU and memory; leave cpu_milli out",
        ),
        (
            '[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\ncount = 5\n',
            "count = 5: from_trace lists 1 GPU nodes; leave count out",
        ),
        (
            '[[fleet]]\nmodel = "philly-8gpu"\ncount = 1\nmemory_gib = 0.1\n',
            "fleet[0].memory_gib = 0.1: implausible for a server's host memory",
        ),
    ],
)
def test_bad_fleet_host_keys_name_the_field_and_value(tmp_path, fleet, expected):
    folder = _openb(tmp_path)
    missing = tmp_path / "nowhere"
    text = fleet.format(folder=folder, missing=missing)
    problems = _problems(_scenario(tmp_path, text))
    assert expected.format(missing=missing) in problems


def test_a_bad_node_list_row_names_file_line_field_and_value(tmp_path):
    folder = _openb(tmp_path, nodes=NODES + "node-x,lots,65536,2,T4\n")
    problems = _problems(
        _scenario(tmp_path, f'[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\n')
    )
    assert "openb_node_list_gpu_node.csv: line 4: cpu_milli = 'lots': must be a whole number" in (
        problems
    )


def test_kiban_plan_refuses_a_fleet_from_a_trace(tmp_path):
    """The planner lays out catalog servers; a trace's nodes are not (a clear error, no plan)."""
    from kiban.plan.run import load_site  # noqa: PLC0415

    folder = _openb(tmp_path)
    path = _scenario(tmp_path, f'[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\n')
    with pytest.raises(ConfigError, match=r"fleet\[0\]\.from_trace = .*kiban plan lays out"):
        load_site(path)


def test_the_simulate_table_shows_sharing_rows_only_for_runs_that_have_them(tmp_path):
    """The openb run's table has the GPU-sharing, FGD and CPU-only-pod rows (one pod shares a
    GPU, one CPU-only pod done); a whole-GPU run's table has none of them."""
    from rich.console import Console  # noqa: PLC0415

    from kiban.cli.simulate import results_tables  # noqa: PLC0415

    folder = _openb(tmp_path)
    path = _scenario(tmp_path, f'[[fleet]]\nfrom_trace = "openb:{folder}"\nmodel = "philly-8gpu"\n')
    prepared = prepare_scenario(
        load_spec(path), trace=f"openb:{folder}/openb_pod_list_default.csv", failures=False
    )

    def text(result):
        console = Console(width=200, record=True)
        for table in results_tables([result]):
            console.print(table)
        return console.export_text()

    shared = text(run_prepared(prepared, "fgd"))
    for label in ("jobs sharing a GPU", "FGD fragmentation", "CPU-only pods done"):
        assert label in shared
    done = next(line for line in shared.splitlines() if "CPU-only pods done" in line)
    assert done.split("│")[2].strip() == "1"
    whole = _scenario(tmp_path, '[[fleet]]\nmodel = "philly-8gpu"\ncount = 2\n')
    plain = text(run_prepared(prepare_scenario(load_spec(whole), failures=False), "fifo-static"))
    assert "FGD fragmentation" not in plain
    assert "CPU-only pods" not in plain
