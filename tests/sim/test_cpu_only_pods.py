"""CPU-only pods as real tenants of the nodes' CPU and memory in the event simulator (issue 15).

openb's CPU-only pods (``num_gpu = 0``) ride with the job table (``JobTable.host_pods``): the
placement policy puts each on a node's CPU and memory, they leave after their duration, they
can keep GPU pods off a node, and they book no GPU time (the ledger still sums to capacity).
Hand-checked cases on one or three 8-GPU nodes with a stated CPU size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.conftest import require_data
from tests.sim.helpers import QUIET, jobs, layout

from kiban.errors import PolicyError
from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import FirstFit
from kiban.policies.registry import make_policy
from kiban.policies.scheduling import Fifo
from kiban.results import SimulationResult
from kiban.sim import Simulator
from kiban.sim.jobs import HostPods
from kiban.sim.settings import SimSettings
from kiban.vocabulary import LEDGER_BUCKETS
from kiban.workload import read_trace

FIXTURE = Path(__file__).parents[1] / "workload" / "fixtures" / "openb"
CORES = 1_000  # milli-CPU per core


def _pods(rows):
    """rows: (submit_s, duration_s, cpu_milli) per CPU-only pod."""
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    return HostPods.from_frame(
        pl.DataFrame(
            {
                "job_id": [f"cpu-{i}" for i in range(arr.shape[0])],
                "submit_time_s": arr[:, 0],
                "duration_s": arr[:, 1],
                "cpu_milli": arr[:, 2].astype(np.int64),
                "memory_b": np.zeros(arr.shape[0]),
            }
        )
    )


def _sim(lay, table, policy="fifo-static"):
    pol = make_policy("policy", policy) if isinstance(policy, str) else policy
    sim = Simulator(lay, table, pol, settings=SimSettings(**QUIET))
    return sim, sim.run()


def _ledger_sum(out):
    return sum(out.ledger_gpu_s[k] for k in LEDGER_BUCKETS)


def _one_node(cpu_cores=16):
    return dataclasses.replace(layout(), node_cpu_milli=np.array([cpu_cores * CORES]))


def test_a_cpu_only_pod_keeps_a_gpu_pod_off_its_node_until_it_leaves():
    """One 8-GPU node with 16 cores. A CPU-only pod takes 12 cores at 0 for 50 s; a 1-GPU pod
    asking 8 cores arrives at 1 s. With the CPU-only pod it waits until 50 s and ends at 150 s;
    without it, it starts at 1 s. Either way the GPUs book 100 GPU·s of work and the ledger sums
    to 8 GPUs × horizon to 1e-9: the CPU-only pod books no GPU time."""
    gpu = jobs([(1.0, 100.0, 1)], cpu_milli=[8 * CORES])
    cpu = _pods([(0.0, 50.0, 12 * CORES)])
    sim, out = _sim(_one_node(), gpu.with_host_pods(cpu))
    assert out.job["first_start_s"][0] == pytest.approx(50.0)
    assert out.job["end_s"][0] == pytest.approx(150.0)
    assert out.horizon_s == pytest.approx(150.0)
    assert out.job["attained_gpu_s"][0] == pytest.approx(100.0)
    assert _ledger_sum(out) == pytest.approx(8 * out.horizon_s, rel=1e-9)
    assert out.host_pods["cpu_pods_completed"] == 1
    assert sim.host is not None
    assert sim.state.node_cpu_free_milli is not None
    assert sim.state.node_cpu_free_milli[0] == 16 * CORES  # everything given back

    _, alone = _sim(_one_node(), gpu)
    assert alone.job["first_start_s"][0] == pytest.approx(1.0)
    assert alone.host_pods == {}


def test_cpu_only_pods_wait_in_arrival_order_and_leave_after_their_duration():
    """16 cores; CPU-only pods of 12, 12 and 4 cores arrive at 0, 10 and 20 s for 50 s each.
    The second waits for the first (starts at 50 s); the third fits beside the first at 20 s
    (a waiting pod does not block a smaller later one). Mean wait (0 + 40 + 0)/3 s; the run ends
    with the second at 100 s."""
    gpu = jobs([(0.0, 10.0, 1)])
    cpu = _pods([(0.0, 50.0, 12 * CORES), (10.0, 50.0, 12 * CORES), (20.0, 50.0, 4 * CORES)])
    sim, out = _sim(_one_node(), gpu.with_host_pods(cpu))
    assert sim.host is not None
    assert sim.host.first_start_s.tolist() == pytest.approx([0.0, 50.0, 20.0])
    assert sim.host.end_s.tolist() == pytest.approx([50.0, 100.0, 70.0])
    assert out.host_pods["cpu_pods_completed"] == 3
    assert out.host_pods["cpu_pods_wait_mean_s"] == pytest.approx(40.0 / 3)
    summary = SimulationResult.from_run(out, scenario_name="t").summary
    assert summary["cpu_pods_wait_mean_s"] == pytest.approx(40.0 / 3)
    assert summary["units"]["cpu_pods_wait_mean_s"] == "s"
    assert out.horizon_s == pytest.approx(100.0)
    assert _ledger_sum(out) == pytest.approx(8 * out.horizon_s, rel=1e-9)


def test_a_cpu_only_pod_larger_than_every_node_is_unschedulable():
    cpu = _pods([(0.0, 10.0, 17 * CORES), (0.0, 10.0, 1 * CORES)])
    _, out = _sim(_one_node(), jobs([(0.0, 10.0, 1)]).with_host_pods(cpu))
    assert out.host_pods["cpu_pods_unschedulable"] == 1
    assert out.host_pods["cpu_pods_completed"] == 1


@pytest.mark.parametrize(
    ("cores", "policy", "node"),
    [
        ((64, 20, 32), "fifo-static", 0),
        ((64, 20, 32), "best-fit", 1),
        ((64, 20, 32), "fgd", 0),
        ((20, 64, 32), "fifo-static", 0),
        ((20, 64, 32), "best-fit", 0),
        ((20, 64, 32), "fgd", 1),
    ],
)
def test_each_placement_policy_places_cpu_only_pods_by_its_rule(cores, policy, node):
    """Three idle 8-GPU nodes; a CPU-only pod of 17 cores at 0 s (the GPU pods, 1 GPU and 4
    cores each, come later). First-fit: the lowest index. Best-fit: the least ½ CPU left / 128
    cores + ½ GPU milli left / 8,000 (GPUs all free: the node with the least CPU left, 3 cores
    on the 20-core node). FGD: the node whose fragmentation rises least: on the 20-core node the
    target pod (1 GPU, 4 cores) no longer fits in the 3 cores left, so its 8,000 free milli
    become fragment; elsewhere nothing changes, and ties go to the lowest index."""
    lay = dataclasses.replace(layout(servers_per_rack=3), node_cpu_milli=np.array(cores) * CORES)
    gpu = jobs([(5.0, 10.0, 1)], cpu_milli=[4 * CORES])
    sim, out = _sim(lay, gpu.with_host_pods(_pods([(0.0, 10.0, 17 * CORES)])), policy)
    assert sim.host is not None
    assert int(sim.host.pod_node[0]) == node
    assert out.host_pods["cpu_pods_completed"] == 1


def test_a_policy_node_that_lacks_the_cpu_is_refused():
    class Bad(FirstFit):
        def place_host(self, view, cpu_milli, memory_b):
            return 0  # whatever the CPU left

    pol = LayeredPolicy("bad", scheduling=Fifo(), placement=Bad())
    cpu = _pods([(0.0, 50.0, 12 * CORES), (1.0, 50.0, 12 * CORES)])
    with pytest.raises(PolicyError, match="lacks its 12000 milli-CPU"):
        _sim(_one_node(), jobs([(0.0, 10.0, 1)]).with_host_pods(cpu), pol)


def test_the_openb_reader_hands_cpu_only_pods_along():
    """The fixture's one CPU-only pod (openb-pod-0100: 8 cores, 16 GiB, 10,002,000 →
    10,003,000 s) leaves the GPU jobs table but comes back as a host pod on the jobs' clock."""
    r = read_trace(f"openb:{FIXTURE}")
    assert r.n_excluded == 1
    assert r.host_pods is not None
    row = r.host_pods.row(0, named=True)
    assert row["job_id"] == "openb-pod-0100"
    assert row["cpu_milli"] == 8 * CORES
    assert row["memory_b"] == 16_384 * 1_048_576
    assert row["duration_s"] == 1_000.0
    assert row["submit_time_s"] == 10_002_000.0  # the first pod was created at 0
    assert row["never_scheduled"] is False


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["fifo-static", "best-fit", "random-fit", "fgd"])
def test_the_whole_openb_trace_replays_with_its_cpu_only_pods(data_root, policy):
    """Every pod of openb (7,064 GPU pods, 1,088 CPU-only) on the trace's own 1,213 nodes, with
    departures, under every placement policy: every GPU pod finishes, every CPU-only pod is
    placed and finishes, and the ledger sums to capacity to 1e-9. FGD's measure counts the
    CPU-only pods in its target workload, as the artifact does (``GetTypicalPods`` with
    ``isInvolvedCpuPods: true``), and such a target pod finds every idle GPU fragmented; the
    trace at its own pace leaves most GPUs idle, so the measure sits just above the CPU-only
    pods' share of the pods (1,088 / 8,152), the GPU pods' own share adding well under 1 %
    (docs/validation.md: 0.4 % without the CPU-only pods)."""
    from kiban.validation.packing import openb_replay  # noqa: PLC0415

    require_data(data_root, "alibaba-gpu-v2023-openb", "csv")
    run = openb_replay(policy)
    assert run["gpu_pods_finished"] == run["gpu_pods"] == 7_064
    assert run["cpu_pods_finished"] == run["cpu_pods"] == 1_088
    assert run["ledger_rel_error"] <= 1e-9
    cpu_share = 1_088 / 8_152
    assert cpu_share < run["frag_frac"] < cpu_share + 0.01


def test_a_failed_node_evicts_its_cpu_only_pods_which_resume_with_what_was_left():
    """The component alone: a pod of 50 s placed at 0 s; its node fails at 10 s (the pod waits
    with 40 s left and its CPU returns); the node is back and the pod is placed again at 20 s:
    it ends at 60 s, with one eviction counted."""
    from kiban.sim.cluster import ClusterState  # noqa: PLC0415
    from kiban.sim.events import EventKind, EventQueue  # noqa: PLC0415
    from kiban.sim.flags import Dirty  # noqa: PLC0415
    from kiban.sim.host_pods import HostTenants  # noqa: PLC0415

    lay = _one_node()
    table = jobs([(0.0, 1.0, 1)]).with_host_pods(_pods([(0.0, 50.0, 12 * CORES)]))
    state = ClusterState(lay, table)
    queue = EventQueue()
    host = HostTenants(table.host_pods, lay, state, queue, Dirty(), lambda c, m: None, "t")
    host.start()
    assert queue.pop().kind == EventKind.HOST_ARRIVAL
    host.on_arrival(0, 0.0)
    assert state.node_cpu_free_milli is not None
    assert state.node_cpu_free_milli[0] == 4 * CORES
    state.time_s = 10.0
    state.fail_node(0, 0, 8)
    host.node_down(0, 10.0)
    assert state.node_cpu_free_milli[0] == 16 * CORES
    assert host.n_waiting == 1
    host.retry_if_freed(10.0)  # the node is down: nowhere to go
    assert host.n_waiting == 1
    state.time_s = 20.0
    state.repair_node(0, 0, 8)
    host.retry_if_freed(20.0)
    assert host.n_waiting == 0
    assert host.end_s[0] == pytest.approx(60.0)
    host.on_end(0, 50.0)  # the end queued before the failure is stale
    assert host.figures()["cpu_pods_completed"] == 0
    host.on_end(0, 60.0)
    figures = host.figures()
    assert figures["cpu_pods_completed"] == 1
    assert figures["cpu_pods_evictions"] == 1
    assert figures["cpu_pods_wait_mean_s"] == 0.0  # its first start was on arrival


def test_fgd_target_workload_counts_the_cpu_only_pods():
    """As the artifact (``GetTypicalPods`` with ``isInvolvedCpuPods: true``, the default of its
    scripts/generate_config_and_run.py): 3 GPU jobs of one shape and 1 CPU-only pod make two
    typical shapes, 3/4 and 1/4; a CPU-only shape counts all of a node's free GPU milli as
    fragmented (``GetNodePodFrag``: XL/XR), so 8 free GPUs weigh 1/4 × 8,000 milli plus the
    GPU shape's part (0: a 1-GPU job fits). Without node CPU the pods are not in the run and
    not in the target."""
    from kiban.workload.packing import node_frag_milli, table_typical_pods  # noqa: PLC0415

    table = jobs([(0.0, 10.0, 1)] * 3, cpu_milli=[4 * CORES] * 3).with_host_pods(
        _pods([(0.0, 5.0, 8 * CORES)])
    )
    allowed = np.ones((3, 1), dtype=bool)
    typ = table_typical_pods(table, allowed, 8, uses_cpu=True)
    shapes = sorted(
        zip(typ.cpu_milli.tolist(), typ.num_gpus.tolist(), typ.freq.tolist(), strict=True)
    )
    # CPU-only shapes merge into one (their CPU never matters to the measure)
    assert shapes == [(0, 0, pytest.approx(0.25)), (4 * CORES, 1, pytest.approx(0.75))]
    frag = node_frag_milli(np.full((1, 8), 1000), np.array([16 * CORES]), np.array([0]), typ)
    assert frag[0] == pytest.approx(0.25 * 8000)
    without = table_typical_pods(table, allowed, 8, uses_cpu=False)
    assert without.num_gpus.tolist() == [1]
