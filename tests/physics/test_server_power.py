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
from kiban.physics.gpu_power import gpu_power_w
from kiban.units import W_PER_KW
from kiban.validation.server_power import (
    MLPERF_FILE,
    MLPERF_SYSTEMS,
    load_mlperf_power_rows,
    mlperf_model_w,
)


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


def _mlperf_power_rows(data_root) -> pl.DataFrame:
    require_data(data_root, "mlperf-power", MLPERF_FILE)
    return load_mlperf_power_rows()


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
        meas_w, pred_w = mlperf_model_w(sub, server_name, cap_w)
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


def test_fan_speed_with_per_server_spans_is_fan_speed_frac_bit_for_bit():
    """One pass over racks of several server models equals one call per model, exactly.

    Loads outside [0, 1] and inlets across the whole ramp (and beyond), for every server of
    the catalog: the in-loop facility and the policies' room model rely on it.
    """
    cat = default_catalog()
    servers = [cat.server(name) for name in cat.servers]
    rng = np.random.default_rng(3)
    n = 4_000
    which = rng.integers(0, len(servers), n)
    load = rng.uniform(-0.3, 1.4, n)
    inlet_c = rng.uniform(5.0, 50.0, n)
    spans = np.array([sp.fan_ramp_span_k(servers[k]) for k in which.tolist()])
    got = sp.fan_speed_frac_spans(load, inlet_c, spans)
    want = np.empty(n)
    for k, server in enumerate(servers):
        sel = which == k
        want[sel] = sp.fan_speed_frac(load[sel], inlet_c[sel], server)
    assert np.array_equal(got, want)
