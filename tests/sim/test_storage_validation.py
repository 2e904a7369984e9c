"""Validation (e): storage bandwidth, cache size and host cores move the I/O-stall share in the
direction and over the range Mohan et al. measured ("Analyzing and Mitigating Data Stalls in DNN
Training", PVLDB 14(5) 2021: fetch stalls ≈ 10–70 % of epoch time when the data set is not
cached; more cache and bandwidth shrink them; 3 cores per GPU leave preprocessing stalls).

The sweep is the one ``docs/validation.md`` shows (``kiban.validation.storage.stall_sweep``).
"""

from __future__ import annotations

import itertools

from kiban.validation.storage import STALL_BAND, stall_sweep


def test_stall_share_moves_with_bandwidth_and_cache():
    sweep = stall_sweep()
    by_bw, by_cache = sweep["bandwidth"], sweep["cache"]
    # more bandwidth, fewer stalls, down to none once the file system covers the demand
    assert all(b < a for a, b in itertools.pairwise(by_bw) if a > 0)
    assert by_bw[-1] == 0.0
    inside = [s for s in by_bw if STALL_BAND[0] <= s <= STALL_BAND[1]]
    assert len(inside) >= 2, by_bw
    # more cache, fewer stalls; a cache holding the data set leaves only the cold first epoch
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(by_cache))
    assert by_cache[2] < by_cache[1] < by_cache[0]
    assert 0.0 < by_cache[-1] < 0.1 * by_cache[0]


def test_cpu_preprocessing_binds_with_few_cores():
    few, many = stall_sweep()["prep"]
    assert few > STALL_BAND[0]  # Mohan's 3 cores per V100: prep stalls although all cached
    assert many == 0.0  # a DGX A100's 16 cores per GPU keep up with ResNet-50's 279 MB/s


def test_checkpoints_share_the_file_system():
    bare, with_ckpt = stall_sweep()["checkpoint"]
    assert with_ckpt > bare
