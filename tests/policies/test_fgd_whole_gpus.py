"""FGD's choice for whole-GPU jobs in milli mode, against the measure computed directly.

The placement keeps each node's state and each job shape's score per state, and picks a
one-node job's node from those kept scores (:class:`FragmentationGradientDescent`); this checks
every such choice against :func:`kiban.workload.packing.node_frag_milli` of the node before and
after, for every eligible node.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.policies._fgd_case import mixed_fgd_case
from tests.sim.helpers import run

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
    lay, table = mixed_fgd_case(
        seed=16, n=160, submit_span_s=5_000, share_milli=[100, 300, 500, 900, 1000, 1000]
    )
    placement = _CheckedFgd()
    out = run(lay, table, policy=LayeredPolicy("fgd", scheduling=Fifo(), placement=placement))
    assert placement.checked >= 40
    assert np.isfinite(out.job["first_start_s"]).all()
