"""The cluster's fragmentation by FGD's measure, integrated over a run (issue 15).

Weng et al., "Beware of Fragmentation", USENIX ATC 2023, §4: a node's fragmentation is the
expected number of its free GPUs that a job drawn from the target workload could not use; here
the target workload is the run's own job shapes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout, run


def test_fragmentation_integral_by_hand():
    """One 8-GPU node; a 4-GPU job (4 per node, 100 s) and a 1-GPU job (50 s) start at 0.
    Shapes: half need 4 GPUs on a node, half 1, so F(f) = f · ½ · [f < 4]: 3 free GPUs for
    50 s give F = 1.5, then 4 free give 0: 75 GPU·s."""
    lay = layout(servers_per_rack=1)
    table = jobs([(0, 100, 4), (0, 50, 1)], gpus_per_node=[4, 0])
    out = run(lay, table, policy="fifo-static")
    assert out.fgd_frag_gpu_s == pytest.approx(75.0, abs=1e-9)


def test_fragmentation_in_milli_integrates_each_interval_with_its_own_state():
    """The measure in milli-GPU (node CPU stated): one 8-GPU node; A (1 GPU) runs 0-100 s, B
    (1 GPU) 10-100 s; C (7 GPUs, more memory than the node) never runs but is a third of the
    target workload. F = 0 while 7 GPUs are free (C's shape fits), then 6 free GPUs × 1/3 for
    90 s = 180 GPU·s. A start or end booked the interval before it with the state after it
    (20 GPU·s: 2 GPUs over 0-10 s, none over 10-100 s) before the fragmentation moved first."""
    lay = dataclasses.replace(
        layout(servers_per_rack=1),
        node_cpu_milli=np.array([64_000]),
        node_memory_b=np.array([512.0 * 2**30]),
    )
    table = jobs(
        [(0, 100, 1), (10, 90, 1), (0, 100, 7)],
        cpu_milli=[1_000, 1_000, 1_000],
        memory_b=[1e9, 1e9, 1e13],
    )
    out = run(lay, table, policy="fifo-static")
    assert out.horizon_s == pytest.approx(100.0)
    assert out.fgd_frag_gpu_s == pytest.approx(180.0, abs=1e-9)


def test_fgd_policy_runs_and_sheds_fragmentation_against_first_fit():
    """Jobs of 1 and 4 GPUs on two nodes: first-fit strands GPUs that FGD keeps usable."""
    lay = layout(servers_per_rack=2)
    rows = [(0, 100, 4), (1, 100, 1), (2, 100, 1), (3, 100, 1), (4, 100, 4), (5, 100, 4)]
    table = jobs(rows, gpus_per_node=[4, 0, 0, 0, 4, 4])
    ff = run(lay, table, policy="fifo-static")
    fgd = run(lay, table, policy="fgd")
    assert fgd.fgd_frag_gpu_s <= ff.fgd_frag_gpu_s
