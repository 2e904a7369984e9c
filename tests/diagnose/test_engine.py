"""The diagnosis engine on the hand-built twin (file source): sums, streaming, options, outputs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from tests.telemetry.helpers import HORIZON_S, ORIGIN_UNIX_S, expected_ledger_s, write_twin

from kiban.diagnose import BUCKETS, DiagnoseSettings, diagnose, save_diagnosis
from kiban.errors import TelemetryError
from kiban.results import load_result
from kiban.telemetry.nvml import NvmlSource, load_pynvml
from kiban.telemetry.openmetrics import FileSource, write_openmetrics
from kiban.telemetry.series import Window
from kiban.telemetry.twin import load_twin

WINDOW = Window(ORIGIN_UNIX_S, ORIGIN_UNIX_S + HORIZON_S, 15.0)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    base = tmp_path_factory.mktemp("twin")
    om = base / "twin.om"
    with om.open("w", encoding="utf-8") as fh:
        write_openmetrics(load_twin(write_twin(base / "run")), fh, step_s=15.0)
    return FileSource(om)


def test_buckets_add_up_to_capacity_and_match_the_timeline(source):
    diag = diagnose(source, WINDOW)
    tot = diag.totals_s()
    assert sum(tot.values()) == pytest.approx(diag.capacity_gpu_s, rel=1e-9)
    assert (diag.gpu_buckets_s >= -1e-9).all()
    want = expected_ledger_s()
    for b in BUCKETS:
        assert tot[b] == pytest.approx(want[b], abs=0.002 * diag.capacity_gpu_s), b


def test_streaming_in_small_chunks_gives_the_same_ledger(source):
    whole = diagnose(source, WINDOW).gpu_buckets_s
    chunked = diagnose(source, WINDOW, DiagnoseSettings(chunk_steps=97)).gpu_buckets_s
    np.testing.assert_allclose(chunked, whole, rtol=1e-9, atol=1e-6)


def test_compute_bound_share_moves_clock_losses_to_productive(source, tmp_path):
    # with DRAM activity the share is measured: the setting does not matter
    full = diagnose(source, WINDOW).totals_s()
    same = diagnose(source, WINDOW, DiagnoseSettings(compute_bound_frac=0.5)).totals_s()
    assert same == pytest.approx(full)
    # without it the setting decides: half compute-bound work loses less to lower clocks
    text = source.path.read_text()
    no_dram = tmp_path / "no-dram.om"
    no_dram.write_text(
        "\n".join(ln for ln in text.splitlines() if "DCGM_FI_PROF_DRAM_ACTIVE" not in ln) + "\n"
    )
    blind = FileSource(no_dram)
    one = diagnose(blind, WINDOW)
    assert "DCGM_FI_PROF_DRAM_ACTIVE" in one.missing
    assert one.totals_s() == pytest.approx(full)  # the hand-built twin is fully compute-bound
    half = diagnose(blind, WINDOW, DiagnoseSettings(compute_bound_frac=0.5)).totals_s()
    assert half["power_cap"] < full["power_cap"]
    assert half["thermal_throttle"] < full["thermal_throttle"]
    assert half["productive"] > full["productive"]
    assert sum(half.values()) == pytest.approx(sum(full.values()))


def test_result_folder_reads_back_like_a_simulation(source, tmp_path):
    diag = diagnose(source, WINDOW)
    folder = save_diagnosis(diag, tmp_path / "diagnosed", name="hand-built")
    res = load_result(folder)
    assert res.policy == "diagnosed"
    assert res.summary["gpu_hours_capacity"] == pytest.approx(8 * HORIZON_S / 3600)
    assert res.summary["n_gpus"] == 8
    assert res.summary["n_racks"] == 2
    assert res.timeseries.height > 0
    assert set(res.jobs["job_id"].to_list()) == {"j1", "j2", "j3"}
    report = json.loads((folder / "diagnosis.json").read_text())
    assert report["buckets"]["io_stall"]["how"].startswith("inferred")
    assert report["buckets"]["failure"]["how"].startswith("measured")
    # node-b GPUs 2 and 3 sit free longest (ties go by name)
    assert report["worst_gpus"][0]["name"] == "node-b/gpu2"
    ranked = [c["bucket"] for c in report["causes_ranked"]]
    assert ranked[:2] == ["idle_no_demand", "queue_blocked"]


class _FakeNvml:
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=4242)] if h == 0 else []

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-{h}"

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=90 if h == 0 else 0, memory=0)

    def nvmlDeviceGetPowerUsage(self, h):
        return 500_000

    def nvmlDeviceGetTemperature(self, h, kind):
        return 60

    def nvmlDeviceGetClockInfo(self, h, kind):
        return 1980

    def nvmlDeviceGetMaxClockInfo(self, h, kind):
        return 1980

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0


def test_nvml_source_reads_one_node():
    src = NvmlSource(_FakeNvml(), host="gn01")
    t0 = 1_736_121_600.0
    for k in range(1, 5):
        src.poll(t0 + 15 * k)
    diag = diagnose(src, Window(t0, t0 + 60, 15))
    tot = diag.totals_s()
    assert diag.busy_metric == "DCGM_FI_DEV_GPU_UTIL"
    assert tot["productive"] == pytest.approx(0.9 * 60)
    assert tot["underused"] == pytest.approx(0.1 * 60)
    assert tot["idle_no_demand"] == pytest.approx(60)  # no queue known: free GPU is idle


def test_nvml_without_the_package_is_a_clear_error(monkeypatch):
    import builtins  # noqa: PLC0415

    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "pynvml":
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(TelemetryError, match=r"kiban\[live\]"):
        load_pynvml()
