"""Server power: DGX H100 maximum, MLPerf Power system measurements, fans and PSU properties."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import require_data

from kiban.catalog import default_catalog
from kiban.physics import server_power as sp
from kiban.physics.gpu_power import average_power_under_cap_w, gpu_power_w
from kiban.units import W_PER_KW


@pytest.fixture(scope="module")
def cat():
    return default_catalog()


def test_dgx_h100_max_power(cat):
    """DGX H100: 10.2 kW maximum system power (NVIDIA DGX H100/H200 User Guide; physics.md §1.2),
    at full GPU activity and host load; ±5 %. At the hottest allowed inlet (30 °C) the fans run
    at full speed; at 25 °C they run at the 80 % PWM of the rated airflow and the server still
    draws within 5 % of the maximum."""
    server = cat.server("dgx-h100")
    gpu = cat.server_gpu(server)
    gpus_w = server.n_gpus * gpu_power_w(1.0, 1.0, gpu)
    hot = sp.server_power_w(gpus_w, 1.0, server.max_inlet_temp_c, server, gpu)
    normal = sp.server_power_w(gpus_w, 1.0, 25.0, server, gpu)
    assert hot == pytest.approx(10.2 * W_PER_KW, rel=0.05)
    assert normal == pytest.approx(10.2 * W_PER_KW, rel=0.05)
    assert normal < hot
    assert sp.server_max_power_w(server, gpu) == pytest.approx(10.2 * W_PER_KW, rel=0.05)


# --- MLPerf Power -------------------------------------------------------------------------

# 8-GPU SXM servers with two x86 sockets in MLPerf Inference (datacenter, closed, power) and the
# catalog record whose host they resemble, with the per-GPU power limit they ran under:
# NVIDIA MaxQ submissions set H100-SXM to 300-450 W and A100-SXM to 225-275 W per benchmark
# (mlcommons/inference_results_v1.1-v4.0, closed/NVIDIA/configs/*: `power_limit`); we use the
# midpoints. 2.0-032 states "Maximum GPU power is limitted to 275W"; 2.1-0019 is not MaxQ (TDP).
MLPERF_SYSTEMS: dict[str, tuple[str, float, bool]] = {
    # public id: (catalog server, per-GPU power limit W, MaxQ?)
    "3.1-0109": ("dgx-h100", 375.0, True),  # NVIDIA DGX H100
    "4.0-0063": ("dgx-h100", 375.0, True),  # NVIDIA DGX H100
    "4.0-0033": ("dgx-h100", 375.0, True),  # Dell XE9680, HGX H100 8-GPU, 2x Xeon 8470
    "1.0-73": ("dgx-a100", 250.0, True),  # NVIDIA DGX-A100
    "1.1-048": ("dgx-a100", 250.0, True),  # NVIDIA DGX A100
    "2.0-095": ("dgx-a100", 250.0, True),  # NVIDIA DGX A100
    "2.1-0089": ("dgx-a100", 250.0, True),  # NVIDIA DGX A100
    "2.0-032": ("dgx-a100", 275.0, True),  # Fujitsu GX2570M6, HGX A100 40GB, 2x Xeon 8352V
    "2.1-0019": ("dgx-a100", 400.0, False),  # Fujitsu GX2570M6, HGX A100 80GB, not MaxQ
}
# Benchmarks bound by memory or decode (LLM generation, embedding lookups, RNN-T) get the decode
# activity, the rest the prefill/compute activity (physics.md §9: 0.9 / 0.25).
LOW_ACTIVITY_BENCHMARKS = ("gptj", "llama", "dlrm", "rnn")
COMPUTE_ACTIVITY_FRAC = 0.9
DECODE_ACTIVITY_FRAC = 0.25
# MLPerf feeds preprocessed tensors (NVIDIA harness: tensor_path = ${PREPROCESSED_DATA_DIR},
# often start_from_device = True), so host CPUs only run LoadGen and batching. ASSUMED 10 %
# host load; sensitivity: 0 % → median error −1 %, 20 % → +7 %, 50 % → +20 %.
HOST_LOAD_FRAC = 0.1
LAB_INLET_TEMP_C = 25.0  # ASSUMED; at or below the fan ramp's start, so fans follow load


def _mlperf_power_rows(data_root) -> pl.DataFrame:
    path = require_data(data_root, "mlperf-power", "data_cleaned_inference_datacenter.csv")
    df = pl.read_csv(path, infer_schema_length=0)
    # Each submission is a pair of rows: performance, then power in "System Power (W)",
    # "Watts" or "Power (W)". Keep the power rows.
    return df.filter(pl.col("Units").str.contains("(?i)watt|power")).with_columns(
        pl.col("Result").str.replace_all(",", "").cast(pl.Float64).alias("system_power_w")
    )


def test_mlperf_inference_system_power(data_root, cat):
    """Wall power of H100 and A100 8-GPU servers in MLPerf Inference v1.0-v4.1 (MLPerf Power,
    HPCA'25 data, aryatschand/MLPerf-Power-HPCA-2025), median over each system's benchmarks.

    Model: each benchmark row at its activity class, the GPUs' average power under their power
    limit (average_power_under_cap_w), host load 10 %, inlet 25 °C, the catalog's server record.
    Tolerance: ±20 % per power-limited (MaxQ) system; median |error| ≤ 10 % over all systems.
    The one uncapped system (2.1-0019) is reported and counted in the median but not held to
    ±20 %: with the cap not binding its error measures the activity default (0.9 for compute
    inference) rather than the server model.
    """
    rows = _mlperf_power_rows(data_root)
    lines = [f"{'system':10} {'record':9} {'cap W':>6} {'n':>3} {'meas W':>7} {'model W':>7} err"]
    errors: dict[str, float] = {}
    for pid, (server_name, cap_w, _maxq) in MLPERF_SYSTEMS.items():
        sub = rows.filter(pl.col("Public ID") == pid)
        assert sub.height > 0, pid
        server = cat.server(server_name)
        gpu = cat.server_gpu(server)
        bench = sub["Model"].str.to_lowercase().to_list()
        activity = np.array(
            [
                DECODE_ACTIVITY_FRAC
                if any(k in b for k in LOW_ACTIVITY_BENCHMARKS)
                else COMPUTE_ACTIVITY_FRAC
                for b in bench
            ]
        )
        gpus_w = server.n_gpus * average_power_under_cap_w(cap_w, activity, gpu)
        model_w = sp.server_power_w(gpus_w, HOST_LOAD_FRAC, LAB_INLET_TEMP_C, server, gpu)
        meas_w = float(np.median(sub["system_power_w"].to_numpy()))
        pred_w = float(np.median(model_w))
        errors[pid] = (pred_w - meas_w) / meas_w
        lines.append(
            f"{pid:10} {server_name:9} {cap_w:6.0f} {sub.height:3d} {meas_w:7.0f} {pred_w:7.0f} "
            f"{errors[pid]:+.1%}"
        )
    err = np.array(list(errors.values()))
    lines.append(f"median |error| {np.median(np.abs(err)):.1%}, max {np.max(np.abs(err)):.1%}")
    table = "\n".join(lines)
    print("\n" + table)
    for pid, (_, _, maxq) in MLPERF_SYSTEMS.items():
        if maxq:
            assert abs(errors[pid]) <= 0.20, f"{pid}\n{table}"
    assert np.median(np.abs(err)) <= 0.10, table


# --- fans, PSU and racks ----------------------------------------------------------------------


def test_fan_cube_law_and_breakdown(cat):
    """Fan power follows the affinity law P ∝ N³ (physics.md §3.5); the parts add up to the wall."""
    server = cat.server("dgx-h100")
    gpu = cat.server_gpu(server)
    b = sp.server_power_breakdown(np.array([0.0, 2000.0, 5600.0]), 0.5, 22.0, server, gpu)
    np.testing.assert_allclose(b.fan_w, server.fan_max_power_w * b.fan_speed_frac**3)
    np.testing.assert_allclose(b.gpu_w + b.host_w + b.fan_w + b.psu_loss_w, b.wall_w)
    np.testing.assert_allclose(b.psu_loss_w, b.wall_w * (1.0 - server.psu_efficiency_frac))
    assert np.all(np.diff(b.fan_speed_frac) > 0.0)  # more heat, faster fans
    idle = sp.fan_speed_frac(0.0, 20.0, server)
    assert idle == pytest.approx(sp.FAN_MIN_SPEED_FRAC)


@settings(max_examples=150, deadline=None)
@given(
    t1=st.floats(-5.0, 45.0),
    t2=st.floats(-5.0, 45.0),
    load=st.floats(0.0, 1.0),
    gpu_frac=st.floats(0.0, 1.0),
)
def test_wall_power_monotone_in_inlet_temperature(t1, t2, load, gpu_frac):
    """Hotter inlet air never lowers server power (fans only speed up), and wall ≥ DC power."""
    server = default_catalog().server("dgx-h100")
    gpu = default_catalog().server_gpu(server)
    gpus_w = gpu_frac * server.n_gpus * gpu.tdp_w
    lo, hi = sorted((t1, t2))
    p_lo = sp.server_power_w(gpus_w, load, lo, server, gpu)
    p_hi = sp.server_power_w(gpus_w, load, hi, server, gpu)
    assert p_hi >= p_lo - 1e-9
    b = sp.server_power_breakdown(gpus_w, load, hi, server, gpu)
    assert b.wall_w >= b.gpu_w + b.host_w + b.fan_w
    assert b.wall_w <= sp.server_max_power_w(server, gpu) * (1 + 1e-9)


def test_rack_power_sums_servers():
    """Rack power is the sum of its servers' wall power (Tang et al. 2008)."""
    p = np.array([1000.0, 2000.0, 3000.0, 500.0])
    racks = sp.rack_power_w(p, np.array([0, 1, 1, 3]), n_racks=4)
    np.testing.assert_allclose(racks, [1000.0, 5000.0, 0.0, 500.0])
