"""Fixtures for the Slurm adapter tests: one real loopback cluster per test module."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from slurm_cluster import SlurmCluster, _free_ports, slurm_missing

from kiban.adapters.config import AgentConfig
from kiban.adapters.hooks import write_hooks
from kiban.adapters.rack_metrics import PrometheusRackMetrics

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RACKS = {"r1": "gn[01-02]", "r2": "gn[03-04]"}
PARTITIONS = (
    "PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    "PartitionName=preempt Nodes=ALL MaxTime=INFINITE State=UP PreemptMode=REQUEUE"
)


def start_cluster(base: Path, *, rest: bool = False) -> SlurmCluster:
    """A 4-node × 8-GPU cluster with kiban's hooks installed (lua, power-save programs)."""
    why = slurm_missing()
    if why:
        if IN_CI:
            pytest.fail(f"CI must be able to start Slurm: {why}")
        pytest.skip(why)
    base.mkdir(parents=True, exist_ok=True)
    cfg = AgentConfig.model_validate({"power": {"gpu_freq_file": str(base / "kiban" / "gpu_freq")}})
    write_hooks(base, cfg, log_dir=base / "log")
    extra = (
        "JobSubmitPlugins=lua\n"
        f"SuspendProgram={base}/kiban-suspend\nResumeProgram={base}/kiban-resume\n"
        "SuspendTime=3600\nSuspendTimeout=60\nResumeTimeout=60\n"
    )
    return SlurmCluster.start(base, rest=rest, extra_conf=extra, partitions=PARTITIONS)


@pytest.fixture(scope="module")
def slurm():
    """A running cluster for the whole module (stopped after, whatever happens)."""
    with tempfile.TemporaryDirectory(prefix="kiban-slurm-") as tmp:
        cl = start_cluster(Path(tmp), rest=True)
        try:
            yield cl
        finally:
            cl.stop()


def reset_cluster(cl: SlurmCluster) -> None:
    """Cancel jobs and put every node back to idle, weight 1, no features."""
    cl.run("scancel", "--full", "-u", "root", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cl.run("squeue", "-h", check=False).stdout.strip():
        time.sleep(0.2)
    left = cl.run("squeue", "-h", check=False).stdout.strip()
    assert not left, f"jobs left after scancel: {left}"
    for node in cl.nodes:
        f = cl.scontrol_node(node)
        state = f.get("State", "")
        if "POWER" in state:
            cl.run("scontrol", "update", f"NodeName={node}", "State=POWER_UP", check=False)
            cl.restart_slurmd(node)  # the fake node "boots": its slurmd registers again
        if "DRAIN" in state or "DOWN" in state:
            cl.run("scontrol", "update", f"NodeName={node}", "State=RESUME", check=False)
        cl.run(
            "scontrol",
            "update",
            f"NodeName={node}",
            "Weight=1",
            "AvailableFeatures=",
            "ActiveFeatures=",
            check=False,
        )
    freq = cl.base / "kiban" / "gpu_freq"
    if freq.exists():
        freq.unlink()
    cl.wait_idle(60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = [cl.scontrol_node(n)["State"] for n in cl.nodes]
        if not any("POWER" in s or "NOT_RESPONDING" in s for s in states):
            return
        time.sleep(0.3)
    msg = f"nodes did not come back: {states}"
    raise AssertionError(msg)


def agent_config(cl: SlurmCluster, **sections: dict[str, Any]) -> AgentConfig:
    """An agent config for the test cluster; ``sections`` override keys per section."""
    raw: dict[str, Any] = {
        "agent": {"policy": "best-fit", "min_action_interval_s": 0.0, "max_drain_frac": 0.5},
        "metrics": {"file": str(cl.base / "racks.json")},
        "thermal": {"inlet_limit_c": 32.0, "inlet_resume_c": 30.0},
        "power": {"gpu_freq_file": str(cl.base / "kiban" / "gpu_freq")},
        "racks": {
            name: {"nodes": nodes, "power_limit_w": 40000.0} for name, nodes in RACKS.items()
        },
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return AgentConfig.model_validate(raw)


def write_racks(
    cl: SlurmCluster,
    inlet_c: dict[str, float],
    power_w: dict[str, float] | None = None,
    total_w: float | None = None,
) -> None:
    """Write the rack metrics file the agent reads."""
    power_w = power_w or dict.fromkeys(inlet_c, 20000.0)
    racks = {r: {"inlet_temp_c": inlet_c[r], "power_w": power_w[r]} for r in inlet_c}
    data: dict[str, Any] = {"racks": racks}
    if total_w is not None:
        data["total_power_w"] = total_w
    (cl.base / "racks.json").write_text(json.dumps(data))


class RackExporter:
    """A tiny exporter on 127.0.0.1 serving rack gauges in the Prometheus text format.

    It stands in for the twin's exporter (the telemetry room's); Prometheus itself is real.
    """

    def __init__(self) -> None:

        self.values: dict[str, dict[str, float]] = {}
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines = ["# TYPE kiban_rack_inlet_temp_c gauge", "# TYPE kiban_rack_power_w gauge"]
                for rack, v in sorted(exporter.values.items()):
                    lines.append(f'kiban_rack_inlet_temp_c{{rack="{rack}"}} {v["inlet_temp_c"]}')
                    lines.append(f'kiban_rack_power_w{{rack="{rack}"}} {v["power_w"]}')
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a scraper hanging up must not print into another test's stderr

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus scraping a :class:`RackExporter` every second; yields (url, exporter)."""

    exe = shutil.which("prometheus")
    if exe is None:
        if IN_CI:
            pytest.fail("CI must have prometheus (apt-get install prometheus)")
        pytest.skip("prometheus is not installed")
    base = tmp_path_factory.mktemp("prom")
    exporter = RackExporter()
    (base / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: racks\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.port}']\n"
    )
    port = _free_ports(1)[0]
    log = (base / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={base / 'prometheus.yml'}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError((base / "prometheus.log").read_text())
            time.sleep(0.2)
        yield url, exporter
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        exporter.close()


def wait_prometheus(url: str, rack: str, inlet_c: float, timeout_s: float = 20.0) -> None:
    """Wait until Prometheus's latest sample of the rack's inlet is ``inlet_c``."""

    src = PrometheusRackMetrics(
        url, inlet_query="kiban_rack_inlet_temp_c", power_query="kiban_rack_power_w"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if src.read().inlet_temp_c.get(rack) == inlet_c:
            return
        time.sleep(0.3)
    msg = f"Prometheus never showed {rack} at {inlet_c} °C"
    raise AssertionError(msg)


def run_kiban(monkeypatch, capsys, *args: str, env: dict[str, str] | None = None):
    """kiban's real entry point in-process (argv and SLURM_CONF set); (status, stdout, stderr)."""
    from kiban.cli import main  # noqa: PLC0415 - the CLI is only needed by these tests

    monkeypatch.setenv("COLUMNS", "300")
    if env is not None and "SLURM_CONF" in env:
        monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
    monkeypatch.setattr(sys, "argv", ["kiban", *args])
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
