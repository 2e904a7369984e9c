"""Every registered policy: returns valid decisions, cannot write to the view, is deterministic;
and the simulator rejects invalid decisions with a PolicyError naming the policy and entry."""

from __future__ import annotations

import numpy as np
import pytest
from tests.sim.helpers import jobs, layout, random_jobs, run

from kiban.errors import PolicyError
from kiban.policies.base import Decision
from kiban.policies.registry import available_policies
from kiban.sim import SimSettings, simulate


@pytest.mark.parametrize("name", available_policies("policy"))
def test_registered_policy_runs_and_is_deterministic(name):
    rng = np.random.default_rng(8)
    table = random_jobs(rng, 80, sizes=(1, 2, 4, 8))
    lay = layout(servers_per_rack=2)
    a = run(lay, table, name, seed=3, failures=True, node_failure_rate_per_s=1e-5)
    b = run(lay, table, name, seed=3, failures=True, node_failure_rate_per_s=1e-5)
    np.testing.assert_array_equal(a.job["end_s"], b.job["end_s"])
    assert a.ledger_gpu_s == b.ledger_gpu_s


class Vandal:
    """A policy that tries to write into the view."""

    name = "vandal"
    preemptive = False
    epoch_s = None

    def reset(self, ctx):
        pass

    def decide(self, view):
        view.node_free[0] = 0
        return Decision()


def test_the_view_is_read_only():
    with pytest.raises(ValueError, match="read-only"):
        run(layout(), jobs([(0, 10, 1)]), Vandal())


class Scripted:
    """Returns one scripted decision on its first call, then nothing."""

    name = "scripted"
    preemptive = False
    epoch_s = None

    def __init__(self, make):
        self.make = make
        self.calls = 0

    def reset(self, ctx):
        self.calls = 0

    def decide(self, view):
        self.calls += 1
        return self.make(view) if self.calls == 1 else Decision()


def _run(make, rows=((0, 10, 2), (0, 10, 2)), lay=None, **kw):
    return simulate(
        lay if lay is not None else layout(),
        jobs(rows, **kw),
        Scripted(make),
        settings=SimSettings(failures=False, thermal=False),
    )


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda v: Decision(start={0: np.array([0, 1]), 1: np.array([1, 2])}), "GPU 1 is held"),
        (lambda v: Decision(start={0: np.array([3, 3])}), "listed twice"),
        (lambda v: Decision(start={0: np.array([0])}), "1 GPUs given; the job takes 2"),
        (lambda v: Decision(start={0: np.array([0, 99])}), "GPU index outside"),
        (lambda v: Decision(start={7: np.array([0, 1])}), r"start\[7\]: not a job index"),
        (lambda v: Decision(preempt=frozenset({0})), "not running"),
        (lambda v: Decision(power_cap_w={0: 5000.0}), "power-limit range"),
        (lambda v: Decision(supply_temp_c=60.0), "supply_temp_c = 60.0"),
        (lambda v: "start everything", "expected a kiban.policies.base.Decision"),
    ],
)
def test_invalid_decisions_name_the_policy_and_entry(make, pattern):
    with pytest.raises(PolicyError, match=pattern) as err:
        _run(make)
    assert "policy 'scripted'" in str(err.value)


def test_shape_constraint_is_checked():
    lay = layout(servers_per_rack=2)
    with pytest.raises(PolicyError, match="exactly 2 on each node"):
        _run(
            lambda v: Decision(start={0: np.array([0, 8])}),
            rows=((0, 10, 2),),
            lay=lay,
            gpus_per_node=[2],
        )


def test_a_job_for_an_absent_gpu_model_is_unschedulable_not_startable():
    with pytest.raises(PolicyError, match="unschedulable, not pending"):
        _run(
            lambda v: Decision(start={0: np.array([0, 1])}),
            gpu_model=["a100-sxm-80gb", ""],
        )
