"""The twin as a live dcgm-exporter: names, labels and values a scraper sees."""

from __future__ import annotations

import subprocess
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.telemetry.helpers import need_prometheus, write_twin

from kiban.telemetry.serve import TwinCollector, serve_twin
from kiban.telemetry.twin import load_twin


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    return load_twin(write_twin(tmp_path_factory.mktemp("twin") / "run"))


def _scrape(collector) -> dict:
    out = {}
    for fam in collector.collect():
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_collector_shows_the_state_at_simulated_time(twin):
    clock = _Clock()
    col = TwinCollector(twin, speed=100.0, window_s=15.0, clock=clock)
    clock.t = 40.0  # 4,000 simulated s: j1 (io 0.2? no: 3900..9000 und 0.05) on node-a
    m = _scrape(col)
    busy = {(lab["Hostname"], lab["gpu"]): (lab["hpc_job"], v)
            for lab, v in m["DCGM_FI_PROF_GR_ENGINE_ACTIVE"]}  # fmt: skip
    assert busy[("node-a", "0")] == ("j1", pytest.approx(0.95))
    # the twin books j2's power cap over its running time: busy 0.6 / speed 0.7
    assert busy[("node-b", "0")] == ("j2", pytest.approx(0.6 / 0.7))
    assert busy[("node-b", "3")] == ("", 0.0)
    clocks = {lab["Hostname"] + lab["gpu"]: v for lab, v in m["DCGM_FI_DEV_SM_CLOCK"]}
    assert clocks["node-b0"] == pytest.approx(0.7 * 1980.0)
    reasons = {lab["Hostname"] + lab["gpu"]: v for lab, v in m["DCGM_FI_DEV_CLOCKS_EVENT_REASONS"]}
    assert int(reasons["node-b0"]) & 0x4
    assert m["slurm_queue_pending"][0][1] == 1.0  # j3 waits
    assert "node_pressure_io_waiting_seconds_total" in m
    # the counter only grows
    first = {lab["instance"]: v for lab, v in m["node_pressure_io_waiting_seconds_total"]}
    clock.t = 80.0
    second = {
        lab["instance"]: v for lab, v in _scrape(col)["node_pressure_io_waiting_seconds_total"]
    }
    assert all(second[k] >= first[k] for k in first)
    assert second["node-b:9100"] > first["node-b:9100"]  # j3 stalls on I/O from 7,200 s


def test_http_endpoint_binds_loopback_and_speaks_the_text_format(twin):
    stop = threading.Event()
    ready = threading.Event()
    port: list[int] = []

    def on_ready(p):
        port.append(p)
        ready.set()

    th = threading.Thread(
        target=serve_twin,
        kwargs={"twin": twin, "port": 0, "speed": 600.0, "stop": stop, "on_ready": on_ready},
        daemon=True,
    )
    th.start()
    try:
        assert ready.wait(10)
        text = httpx.get(f"http://127.0.0.1:{port[0]}/metrics", timeout=5).text
    finally:
        stop.set()
        th.join(10)
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_XID_ERRORS"} <= names
    assert 'Hostname="node-a"' in text
    assert 'modelName="NVIDIA H100 80GB HBM3"' in text
    # dcgm-exporter's gauges carry no _total suffix; node-exporter's counter does
    assert "DCGM_FI_DEV_GPU_UTIL_total" not in text
    assert "node_pressure_io_waiting_seconds_total{" in text
    need_prometheus()
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, check=False)  # fmt: skip
    # the text parses; the only lint is the camelCase of dcgm-exporter's own labels (UUID,
    # modelName, Hostname), which real exporters have too
    problems = [ln for ln in (lint.stdout + lint.stderr).splitlines() if ln.strip()]
    assert all("'camelCase'" in ln for ln in problems), problems


def test_cli_serve_writes_openmetrics_and_rejects_bad_options(tmp_path, monkeypatch, capsys):
    from tests.telemetry.helpers import run_cli  # noqa: PLC0415

    run = write_twin(tmp_path / "run")
    code, _out, err = run_cli(["serve", str(run), "--openmetrics", str(tmp_path / "t.om")],
                             monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    text = (tmp_path / "t.om").read_text()
    assert text.endswith("# EOF\n")
    assert "# TYPE node_pressure_io_waiting_seconds counter" in text
    code, _, err = run_cli(["serve", str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert "--record-gpus" in err
    code, _, err = run_cli(["serve", str(run), "--speed", "0"], monkeypatch, capsys)
    assert code == 2
    assert "--speed" in err


@pytest.mark.slow
def test_real_prometheus_scrapes_the_live_twin_and_diagnose_reads_it(twin, tmp_path):
    """The live path: Prometheus scrapes ``serve_twin`` every second; diagnose reads it back."""
    import time  # noqa: PLC0415

    from tests.telemetry.helpers import Prometheus, free_port  # noqa: PLC0415

    from kiban.diagnose import diagnose  # noqa: PLC0415
    from kiban.telemetry.prometheus import PrometheusSource  # noqa: PLC0415
    from kiban.telemetry.series import Window  # noqa: PLC0415

    need_prometheus()
    port = free_port()
    config = (
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: dcgm\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    (tmp_path / "data").mkdir()
    prom = Prometheus(tmp_path / "data", config=config)
    # start the twin only once Prometheus scrapes its target (up == 0 until it listens)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        up = httpx.get(f"{prom.url}/api/v1/query", params={"query": "up"}).json()
        if up["data"]["result"]:
            break
        time.sleep(0.2)
    stop = threading.Event()
    ready = threading.Event()
    th = threading.Thread(
        target=serve_twin,
        kwargs={
            "twin": twin, "port": port, "speed": 600.0, "window_s": 600.0, "stop": stop,
            "on_ready": lambda _p: ready.set(),
        },
        daemon=True,
    )  # fmt: skip
    try:
        th.start()
        assert ready.wait(10)
        t0 = time.time()
        time.sleep(10)  # 6,000 simulated s: j1's I/O stall (600-3,000 s) and j2's power cap
        with PrometheusSource(prom.url) as src:
            diag = diagnose(src, Window(float(int(t0)) + 1, float(int(time.time())), 1.0))
    finally:
        prom.stop()
        stop.set()
        th.join(10)
    assert len(diag.gpu_keys) == 8
    assert not diag.missing
    tot = diag.totals_s()
    assert tot["productive"] > 0
    assert tot["io_stall"] > 0  # node-a's I/O pressure reached diagnose through the scrape
    assert tot["power_cap"] > 0
    assert sum(tot.values()) == pytest.approx(diag.capacity_gpu_s, rel=1e-9)
