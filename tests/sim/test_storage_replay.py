"""Replay realism: the Philly replay (examples/philly.toml on the Philly trace) reproduces the
per-minute GPU utilization distribution of the Philly logs (philly-gpu-util: Hu et al., NSDI
2024, from the cluster_gpu_util logs of Jeon et al., ATC 2019) within KS ≤ 0.1, measured from
the run's output (each job's running time, input stalls and checkpoints, and its activity
process). A full replay: slow."""

from __future__ import annotations

import pytest
from tests.conftest import require_data

from kiban.ledger import Ledger
from kiban.validation.storage import REPLAY_KS_LIMIT, philly_replay, replay_util_ks


@pytest.mark.slow
def test_philly_replay_reproduces_philly_utilization(data_root):
    require_data(data_root, "philly", "pollux_philly_jobs.csv")
    require_data(data_root, "philly-gpu-util", "philly_gpu_util_cdf.csv")
    out = philly_replay()
    Ledger.from_run(out).check()
    ks, median, zero = replay_util_ks(out)
    assert ks <= REPLAY_KS_LIMIT, (ks, median, zero)
