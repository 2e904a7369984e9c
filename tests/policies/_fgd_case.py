"""The small mixed cluster the FGD tests share: shares and whole jobs on four 64-core nodes."""

from __future__ import annotations

import dataclasses

import numpy as np
from tests.sim.helpers import jobs, layout

from kiban.sim.jobs import JobTable
from kiban.sim.layout import ClusterLayout


def mixed_fgd_case(
    *, seed: int, n: int, submit_span_s: float, share_milli: list[int]
) -> tuple[ClusterLayout, JobTable]:
    """Four 8-GPU nodes with 64 cores each and ``n`` random jobs: one-GPU jobs asking for one of
    ``share_milli`` (1000: a whole GPU), 2- and 4-GPU whole jobs on one node, 1-24 cores each,
    arriving uniformly over ``submit_span_s`` and running ~2,000 s (exponential)."""
    rng = np.random.default_rng(seed)
    submit = np.sort(rng.uniform(0, submit_span_s, n))
    num = rng.choice([1, 1, 1, 2, 4], n)
    milli = np.where(num == 1, rng.choice(share_milli, n), 1000)
    table = jobs(
        np.column_stack([submit, rng.exponential(2_000.0, n), num]),
        gpu_milli=milli,
        cpu_milli=rng.choice([1_000, 4_000, 8_000, 24_000], n),
        gpus_per_node=num,
    )
    lay = dataclasses.replace(
        layout(servers_per_rack=4), node_cpu_milli=np.full(4, 64_000, dtype=np.int64)
    )
    return lay, table
