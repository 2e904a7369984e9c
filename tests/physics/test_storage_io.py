"""Storage I/O: max-min fairness properties, stalls exactly when demand exceeds supply, caches,
checkpoints (physics.md §5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kiban.catalog import default_catalog
from kiban.physics import storage_io as sio
from kiban.units import B_PER_GB, B_PER_TB

demands = hnp.arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.floats(0.0, 1e10, allow_nan=False, allow_infinity=False),
)
capacities = st.floats(0.0, 2e11, allow_nan=False, allow_infinity=False)


def test_maxmin_textbook_example():
    """Bertsekas & Gallager max-min example: capacity 10 shared by demands 2, 2.6, 4, 5 gives
    2, 2.6, 2.7, 2.7 (the two large demands split what is left equally)."""
    x = sio.maxmin_share_b_per_s(np.array([2.0, 2.6, 4.0, 5.0]), 10.0)
    np.testing.assert_allclose(x, [2.0, 2.6, 2.7, 2.7])


def test_maxmin_weighted():
    """Weighted water-filling: shares of unsatisfied jobs are proportional to their weights."""
    x = sio.maxmin_share_b_per_s(np.array([100.0, 100.0, 1.0]), 31.0, weights=[1.0, 2.0, 1.0])
    np.testing.assert_allclose(x, [10.0, 20.0, 1.0])


@settings(max_examples=300, deadline=None)
@given(d=demands, cap=capacities)
def test_maxmin_fairness_properties(d, cap):
    """Σx ≤ C; 0 ≤ x ≤ d; all capacity is used when demand exceeds it; every unsatisfied job
    gets the same share (bottleneck equality), and no satisfied job demanded more than it."""
    x = sio.maxmin_share_b_per_s(d, cap)
    tol = 1e-9 * max(cap, float(d.sum()), 1.0)
    assert x.sum() <= cap + tol
    assert np.all(x >= 0.0)
    assert np.all(x <= d + tol)
    if d.sum() <= cap:
        np.testing.assert_array_equal(x, d)
    else:
        assert x.sum() == pytest.approx(cap, rel=1e-9, abs=1e-6)
        short = x < d
        if d.sum() - cap > tol:
            assert short.any()
        if short.any():
            level = x[short].max()
            np.testing.assert_allclose(x[short], level, rtol=1e-9, atol=tol)
            assert np.all(d[~short] <= level + tol)


@settings(max_examples=300, deadline=None)
@given(d=demands, cap=capacities)
def test_stall_iff_demand_exceeds_supply(d, cap):
    """A stall appears exactly when total demand exceeds the shared supply (physics.md §5.1):
    if Σd ≤ C nobody stalls; if Σd > C the biggest job (at least) stalls."""
    x = sio.maxmin_share_b_per_s(d, cap)
    stall = sio.stall_frac(d, sio.achieved_input_rate_b_per_s(d, x))
    assert np.all((stall >= 0.0) & (stall <= 1.0))
    excess = d.sum() - cap
    if excess <= 0.0:
        np.testing.assert_array_equal(stall, 0.0)
    else:
        # the bytes lost to stalls are exactly the excess demand
        assert float(np.sum(stall * d)) == pytest.approx(excess, rel=1e-6, abs=1e-3)
        if excess > 1e-9 * max(cap, 1.0):
            assert stall[np.argmax(d)] > 0.0


def test_cache_hit_ratio_and_remote_demand():
    """h = min(1, C/D) under uniform random per-epoch access (physics.md §5.1)."""
    h = sio.cache_hit_frac(np.array([0.0, 1.0, 3.0, 5.0]) * B_PER_TB, 4.0 * B_PER_TB)
    np.testing.assert_allclose(h, [0.0, 0.25, 0.75, 1.0])
    assert sio.cache_hit_frac(1.0, 0.0) == 1.0
    np.testing.assert_allclose(sio.remote_demand_b_per_s(8e9, h), [8e9, 6e9, 2e9, 0.0])
    # A 75 % hit ratio lets a 2 GB/s share feed 8 GB/s of input.
    assert sio.achieved_input_rate_b_per_s(8e9, 2e9, 0.75) == pytest.approx(8e9)
    assert sio.achieved_input_rate_b_per_s(8e9, 1e9, 0.75) == pytest.approx(4e9)


def test_preprocessing_cpu_limit():
    """physics.md §5.1 example: an A100 ResNet-50 step consumes ~5,300 img/s while one CPU core
    decodes ~850 img/s; with 4 cores the GPU stalls 1 − 3,400/5,300 = 36 % of the time."""
    img_b = 110e3  # ImageNet JPEG, ~110 kB average (illustrative; cancels in the ratio)
    required = sio.input_rate_demand_b_per_s(1, 5300 * img_b)
    prep = sio.preprocess_rate_b_per_s(4, 850 * img_b)
    achieved = sio.achieved_input_rate_b_per_s(required, np.inf, 0.0, prep)
    assert sio.stall_frac(required, achieved) == pytest.approx(1 - 3400 / 5300)
    assert sio.stall_frac(0.0, 0.0) == 0.0


def test_checkpoint_size_and_write_time():
    """S = N·14 B (physics.md §5.2): a 405e9-parameter model is 5.67 TB; written at Tectonic's
    2 TB/s sustained (Llama 3) it takes 2.8 s."""
    size_b = sio.checkpoint_size_b(405e9)
    assert size_b == pytest.approx(5.67 * B_PER_TB)
    assert sio.checkpoint_write_s(size_b, 2.0 * B_PER_TB) == pytest.approx(2.835)
    assert sio.checkpoint_size_b(7e9, bytes_per_param=16) == pytest.approx(112 * B_PER_GB)
    assert sio.checkpoint_write_s(0.0, 0.0) == 0.0
    assert sio.checkpoint_write_s(1.0, 0.0) == np.inf


# --- issue 10: node cache capacity, warm-up, CPU preprocessing, checkpoints sharing the FS ---


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.floats(0.0, 1e12)), min_size=1, max_size=40),
    st.lists(st.floats(0.0, 5e12), min_size=5, max_size=5),
)
def test_grouped_maxmin_equals_per_group_water_filling(members, caps):
    """Per-node cache split = max-min fair water-filling of each node separately."""
    group = np.array([g for g, _ in members])
    demand = np.array([d for _, d in members])
    cap = np.array(caps)
    got = sio.grouped_maxmin_share(demand, group, cap)
    for g in range(5):
        sel = group == g
        if sel.any():
            np.testing.assert_allclose(
                got[sel], sio.maxmin_share_b_per_s(demand[sel], cap[g]), rtol=1e-9, atol=1e-3
            )


def test_cache_is_cold_for_the_first_epoch_then_holds_c_over_d():
    """MinIO-style cache (Mohan et al., VLDB 2021): h = 0 in epoch 1, then min(1, C/D)."""
    d, c = 1e12, 4e11
    h = sio.warm_cache_hit_frac(np.array([0.0, 0.5e12, 1e12, 3e12]), c, d)
    np.testing.assert_allclose(h, [0.0, 0.0, 0.4, 0.4])


def test_cpu_preprocessing_bottleneck_published_rates():
    """physics.md §5.1: an A100 ResNet-50 step consumes ~5,300 img/s, a CPU decodes ~850 img/s.

    With one CPU's worth of decoding per GPU the GPU waits 1 − 850/5300 = 84 % of the time (±1
    point); a DGX H100's 112 cores shared by 8 GPUs give 14 cores per GPU.
    """
    img_b = 110e3
    need = 5300 * img_b
    got = sio.achieved_input_rate_b_per_s(
        need, np.inf, 0.0, sio.preprocess_rate_b_per_s(1, 850 * img_b)
    )
    assert float(sio.stall_frac(need, got)) == pytest.approx(1 - 850 / 5300, abs=0.01)
    dgx = default_catalog().server("dgx-h100")
    assert float(sio.job_prep_cores(1, dgx.host_cpu_cores, dgx.n_gpus)) == 14.0


def test_checkpoint_writes_slow_reads_on_a_shared_file_system():
    reads = np.array([4e9, 4e9, 4e9])
    alone, _ = sio.shared_fs_allocation_b_per_s(reads, np.zeros(0), 10e9)
    with_ckpt, ckpt = sio.shared_fs_allocation_b_per_s(reads, np.array([20e9]), 10e9)
    assert alone.sum() == pytest.approx(10e9)
    assert with_ckpt.sum() + ckpt.sum() == pytest.approx(10e9)
    assert np.all(with_ckpt < alone)
    np.testing.assert_allclose(with_ckpt, 2.5e9)


def test_input_rates_scale_with_the_gpus_memory_bandwidth():
    """Rates stated for an A100 SXM 80 GB (2,039 GB/s, NVIDIA datasheet) scale by memory
    bandwidth: a P40 (346 GB/s) reads 0.17×, an H100 SXM (3.35 TB/s) 1.64×; None: as given."""
    cat = default_catalog()
    bws = [cat.gpu(g).memory_bw_b_per_s for g in ("p40", "a100-sxm-80gb", "h100-sxm")]
    got = sio.input_rate_scale(bws, sio.REFERENCE_MEMORY_BW_B_PER_S)
    np.testing.assert_allclose(got, [346 / 2039, 1.0, 3350 / 2039], rtol=1e-9)
    np.testing.assert_array_equal(sio.input_rate_scale(bws, None), [1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("gpu", "published_img_per_s"),
    [
        # NVIDIA DeepLearningExamples PyTorch ResNet-50 v1.5 README (pytorch-21.03), 1 GPU, AMP
        ("a100-sxm-80gb", 2470.0),
        ("v100-sxm2", 1156.0),
        # TensorFlow benchmarks page (May 2017), DGX-1 P100, real data, FP32, batch 64
        ("p100-pcie-12gb", 218.0),
        # Lambda TF 1.12 benchmark, Titan Xp (the P40's GP102 die), FP32
        ("p40", 236.0),
    ],
)
def test_input_rates_scale_with_published_resnet50_throughput(gpu, published_img_per_s):
    """A job reads as fast as its GPU trains: on GPU k its input rate is the reference (A100
    SXM 80 GB, 2,470 images/s) rate × k's published ResNet-50 training rate / 2,470. The
    catalog carries the published figure (sources in its ``source`` text), to 1e-9."""
    sku = default_catalog().gpu(gpu)
    assert sku.resnet50_train_img_per_s == pytest.approx(published_img_per_s, rel=1e-9)
    got = sio.input_rate_scale(
        sku.memory_bw_b_per_s, sio.REFERENCE_MEMORY_BW_B_PER_S, sku.resnet50_train_img_per_s
    )
    assert float(got) == pytest.approx(published_img_per_s / 2470.0, rel=1e-9)


def test_a_gpu_without_a_published_rate_falls_back_to_memory_bandwidth():
    """L40S: no ResNet-50 training figure in the catalog; 864 GB/s against the A100's 2,039."""
    sku = default_catalog().gpu("l40s")
    assert sku.resnet50_train_img_per_s == 0.0
    got = sio.input_rate_scale(
        sku.memory_bw_b_per_s, sio.REFERENCE_MEMORY_BW_B_PER_S, sku.resnet50_train_img_per_s
    )
    assert float(got) == pytest.approx(864 / 2039, rel=1e-9)


@pytest.mark.parametrize(("gpu", "img_per_s"), [("v100-sxm2", 1156.0), ("a100-sxm-80gb", 2470.0)])
def test_measured_per_core_preprocessing_needs_mohans_cores_per_gpu(gpu, img_per_s):
    """Mohan et al. (PVLDB 14(5) 2021): image models need 3–24 host cores per GPU to hide
    preprocessing. At the measured per-core rate (Dell EMC: ResNet-50 at 2,940 images/s with 33 %
    of 40 cores busy; 113 kB ImageNet JPEGs) ResNet-50 at its published rate on a V100 and an
    A100 needs a core count inside that range."""
    assert default_catalog().gpu(gpu).resnet50_train_img_per_s == img_per_s
    cores = img_per_s * sio.IMAGENET_MEAN_JPEG_B / sio.DEFAULT_PREP_B_PER_S_PER_CORE
    assert 3.0 <= cores <= 24.0, cores
