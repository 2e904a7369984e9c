"""The per-GPU sample an in-loop facility takes at each step follows only the GPUs that changed.

:meth:`kiban.sim.observables.GpuObservables.power_die_activity` recomputes power and busy share
only for GPUs whose holder changed or whose jobs changed their rates (the slots' watch); the
values must be bit for bit those of computing every GPU again (power, busy share and die
temperature), through starts, ends, shared GPUs gaining and losing tenants, thermal throttling
and node failures with repairs.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import layout, random_jobs

from kiban.policies.registry import make_policy
from kiban.sim import SimSettings, Simulator


class _Probe:
    """An in-loop facility that checks the sample against a full recomputation at each step."""

    step_s = 120.0

    def __init__(self) -> None:
        self.sim: Simulator | None = None
        self.checked = 0
        self.changed_steps = 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def start(self, view: object) -> None:
        return None

    def at_settle(self, view: object) -> None:
        return None

    def at_step(self, view: object) -> None:
        sim = self.sim
        assert sim is not None
        power, die, activity = sim.view.gpu_power_die_activity()
        full_power, full_activity = sim.observables._power_activity(sim.state.gpu_job)
        assert np.asarray(power).tobytes() == full_power.tobytes()
        assert np.asarray(activity).tobytes() == full_activity.tobytes()
        # the die temperature (R·P kept for the GPUs whose power did not change) is the
        # snapshot's, computed for every GPU
        assert np.asarray(die).tobytes() == sim.observables.snapshot().die_temp_c.tobytes()
        if self._last is not None and not np.array_equal(self._last[0], power):
            self.changed_steps += 1
        self._last = (np.array(power), np.array(activity))
        self.checked += 1
        return None

    def power_w(self, it_power_w, time_s, supply_temp_c):
        from kiban.sim.facility import SimpleFacility  # noqa: PLC0415

        return SimpleFacility().power_w(it_power_w, time_s, supply_temp_c)


@pytest.mark.parametrize("time_slice_max_tenants", [0, 4])
def test_sample_of_changed_gpus_equals_the_whole_cluster_recomputed(time_slice_max_tenants):
    """Milli shares, and time-slicing (every tenant's share and speed move when one joins)."""
    rng = np.random.default_rng(3)
    n = 160
    milli = np.where(rng.random(n) < 0.5, rng.choice([100, 250, 500, 700], n), 1000)
    table = random_jobs(rng, n, horizon_s=30_000.0, sizes=(1, 1, 2, 4), mean_s=1000.0)
    table = type(table).from_arrays(
        table.submit_time_s,
        table.duration_s,
        np.where(milli < 1000, 1, table.num_gpus),
        gpu_milli=milli,
    )
    probe = _Probe()
    sim = Simulator(
        layout(n_racks=2, servers_per_rack=2),
        table,
        make_policy("policy", "best-fit"),
        settings=SimSettings(
            seed=5,
            node_failure_rate_per_s=2e-4,
            thermal=True,
            time_slice_max_tenants=time_slice_max_tenants,
        ),
        facility=probe,
    )
    probe.sim = sim
    out = sim.run()
    assert probe.checked > 200
    assert probe.changed_steps > 50  # the sample did follow the cluster
    assert out.counters["failures"] > 3  # nodes went down and came back between samples
    assert int(np.sum(out.job["end_s"] > 0)) == n
