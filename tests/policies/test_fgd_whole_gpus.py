"""FGD's choice for whole-GPU jobs in milli mode, against the measure computed directly.

The placement keeps each node's state and each job shape's score per state, and picks a
one-node job's node from those kept scores (:class:`FragmentationGradientDescent`); this checks
every such choice against :func:`kiban.workload.packing.node_frag_milli` of the node before and
after, for every eligible node.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout, run

from kiban.policies.layered import LayeredPolicy
from kiban.policies.placement import FragmentationGradientDescent
from kiban.policies.scheduling import Fifo
from kiban.vocabulary import MILLI_PER_GPU
from kiban.workload.packing import node_frag_milli


class _CheckedFgd(FragmentationGradientDescent):
    """FGD that checks each one-node whole-GPU job it places against the measure."""

    def __init__(self):
        super().__init__()
        self.checked = 0

    def place(self, view, job, free):
        jobs_, lay = view.jobs, view.layout
        n, g = int(jobs_.num_gpus[job]), int(jobs_.gpus_per_node[job])
        whole = int(jobs_.gpu_milli[job]) >= MILLI_PER_GPU and g > 0 and n // g == 1
        ok = self._eligible(view, job, free, g).nonzero()[0] if whole else None
        left = free.gpu_milli.copy()
        cpu_free = free.node_cpu_free_milli.copy()
        gpus = super().place(view, job, free)
        if not whole:
            return gpus
        assert (gpus is None) == (ok.shape[0] == 0)
        if gpus is None:
            return None
        cpu_req = int(jobs_.cpu_milli[job])

        def change(node):
            a, k = int(lay.node_first_gpu[node]), int(lay.node_n_gpus[node])
            row = np.zeros(self._max_gpus, dtype=np.int64)
            row[:k] = left[a : a + k]
            after = row.copy()
            after[np.flatnonzero(row == MILLI_PER_GPU)[:g]] = 0
            cpu = int(cpu_free[node])
            model = np.array([lay.node_sku_idx[node]] * 2)
            f = node_frag_milli(
                np.stack([row, after]), np.array([cpu, cpu - cpu_req]), model, self._typical
            )
            return f[1] - f[0]

        chosen = int(lay.gpu_node[int(gpus[0])])
        assert chosen in ok.tolist()
        assert change(chosen) == pytest.approx(min(change(int(c)) for c in ok), abs=1e-6)
        self.checked += 1
        return gpus


def test_fgd_gives_a_whole_gpu_job_the_node_that_fragments_least():
    """Four 8-GPU nodes with 64 cores each; 160 random jobs (shares of 100-900 milli and whole
    1-4 GPU jobs on one node, 1-24 cores) under FGD: every whole-GPU job goes to an eligible
    node whose fragmentation (the paper's measure in milli-GPU, computed directly for every
    eligible node) rises least, to 1e-6 milli, and none is refused while a node is eligible."""
    rng = np.random.default_rng(16)
    n = 160
    submit = np.sort(rng.uniform(0, 5_000, n))
    num = rng.choice([1, 1, 1, 2, 4], n)
    milli = np.where(num == 1, rng.choice([100, 300, 500, 900, 1000, 1000], n), 1000)
    table = jobs(
        np.column_stack([submit, rng.exponential(2_000.0, n), num]),
        gpu_milli=milli,
        cpu_milli=rng.choice([1_000, 4_000, 8_000, 24_000], n),
        gpus_per_node=num,
    )
    lay = dataclasses.replace(
        layout(servers_per_rack=4), node_cpu_milli=np.full(4, 64_000, dtype=np.int64)
    )
    placement = _CheckedFgd()
    out = run(lay, table, policy=LayeredPolicy("fgd", scheduling=Fifo(), placement=placement))
    assert placement.checked >= 40
    assert np.isfinite(out.job["first_start_s"]).all()
