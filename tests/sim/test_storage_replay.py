"""Replay realism: the Philly replay (examples/philly.toml on the Philly trace) against the
per-minute GPU utilization distribution of the Philly logs (philly-gpu-util: Hu et al., NSDI
2024, from the cluster_gpu_util logs of Jeon et al., ATC 2019), tolerance KS ≤ 0.1, measured from
the run's output (each job's running time, input stalls and checkpoints, and its activity
process; ``kiban.validation.storage.replay_util_ks``). Full replays: slow.

Measured (docs/validation.md, `python -m kiban.validation.storage philly`): with every storage
mechanism on, the CPU-preprocessing limit stalls the vision-archetype jobs on Philly's 8 × P40
servers (24 cores: 3 per GPU), about 18 % of allocated GPU time, and the distribution moves below
Philly's (KS ≈ 0.14, median ≈ 0.33 against 0.48). Without that one mechanism the replay is
within tolerance (KS ≈ 0.07): the file system (50 GB/s) never binds. The default replay is kept
as a strict xfail so that it fails loudly once the demand model for old GPUs is fixed.
"""

from __future__ import annotations

import math

import pytest
from tests.conftest import require_data

from kiban.ledger import Ledger
from kiban.validation.storage import REPLAY_KS_LIMIT, philly_replay, replay_util_ks


def _needs(data_root):
    require_data(data_root, "philly", "pollux_philly_jobs.csv")
    require_data(data_root, "philly-gpu-util", "philly_gpu_util_cdf.csv")


@pytest.mark.slow
def test_philly_replay_reproduces_philly_utilization_without_cpu_preprocessing(data_root):
    _needs(data_root)
    out = philly_replay(prep_b_per_s_per_core=math.inf)
    Ledger.from_run(out).check()
    ks, median, zero = replay_util_ks(out)
    assert ks <= REPLAY_KS_LIMIT, (ks, median, zero)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="CPU preprocessing on Philly's 3-cores-per-GPU P40 servers stalls the job model's "
    "vision jobs (A100 input rates scaled by memory bandwidth overestimate a P40's): KS ≈ 0.14",
)
def test_philly_replay_reproduces_philly_utilization(data_root):
    _needs(data_root)
    out = philly_replay()
    Ledger.from_run(out).check()
    ks, median, zero = replay_util_ks(out)
    assert ks <= REPLAY_KS_LIMIT, (ks, median, zero)
