"""SimPy as a test oracle: on FIFO cases the simulator's start and end times are identical.

The oracle is the textbook SimPy model of a GPU pool: a ``Container`` of N GPUs whose get
queue is strict FIFO (SimPy stops at the first get it cannot satisfy), one process per job:
wait for the submit time, take n GPUs, hold them for the duration, give them back. With
``gpus_per_node = 0`` jobs may spread over nodes, so kiban's FIFO + first-fit is the same
pool.
"""

from __future__ import annotations

import numpy as np
import pytest

simpy = pytest.importorskip("simpy")

from tests.sim.helpers import layout, random_jobs, run  # noqa: E402


def simpy_fifo(submit, duration, gpus, capacity):
    env = simpy.Environment()
    pool = simpy.Container(env, init=capacity, capacity=capacity)
    start = np.full(len(submit), np.nan)
    end = np.full(len(submit), np.nan)

    def job(i):
        yield env.timeout(submit[i])
        yield pool.get(int(gpus[i]))
        start[i] = env.now
        yield env.timeout(duration[i])
        end[i] = env.now
        yield pool.put(int(gpus[i]))

    for i in range(len(submit)):
        env.process(job(i))
    env.run()
    return start, end


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fifo_start_and_end_times_match_simpy(seed):
    rng = np.random.default_rng(seed)
    table = random_jobs(rng, 150, horizon_s=30_000.0, sizes=(1, 2, 4, 8, 16, 32))
    lay = layout(n_racks=2, servers_per_rack=2)  # 32 GPUs
    out = run(lay, table, "fifo-static")
    s_ref, e_ref = simpy_fifo(
        table.submit_time_s.tolist(), table.duration_s.tolist(), table.num_gpus, lay.n_gpus
    )
    np.testing.assert_array_equal(out.job["first_start_s"], s_ref)
    np.testing.assert_array_equal(out.job["end_s"], e_ref)
    assert (out.job["first_start_s"] > table.submit_time_s).sum() > 20  # queues did form
