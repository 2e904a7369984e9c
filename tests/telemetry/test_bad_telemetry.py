"""Bad telemetry gets one clear answer, never a traceback: a Prometheus that is down, slow or
flaky, counter resets, gaps, duplicate series, clock skew, unreadable files and bad options."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from tests.telemetry.helpers import free_port, run_cli

from kiban.diagnose import diagnose
from kiban.errors import TelemetryError
from kiban.telemetry.openmetrics import FileSource, MemorySource
from kiban.telemetry.prometheus import PrometheusSource
from kiban.telemetry.series import Window, grid_from_samples, parse_time_s

T0 = 1_736_121_600.0


class _Handler(BaseHTTPRequestHandler):
    mode = "ok"
    calls = 0

    def do_GET(self):
        cls = type(self)
        cls.calls += 1
        if cls.mode == "slow":
            time.sleep(1.0)
        if cls.mode == "flaky" and cls.calls == 1:
            self.send_response(503)
            self.end_headers()
            return
        if cls.mode == "html":
            body = b"<html>not prometheus</html>"
        else:
            body = json.dumps(
                {"status": "success", "data": {"resultType": "vector", "result": []}}
            ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    """A fake Prometheus whose clients hang up on purpose (timeouts): a handler thread that
    outlives its test must not print a BrokenPipe traceback into another test's captured
    stderr (seen: tests/test_cli_bad_input.py failed on it in the same xdist worker)."""

    def handle_error(self, request, client_address):
        pass


@pytest.fixture
def fake_server():
    servers = []

    def start(mode: str) -> str:
        handler = type("H", (_Handler,), {"mode": mode, "calls": 0})
        srv = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_prometheus_down_is_one_message_after_retries_with_backoff():
    url = f"http://127.0.0.1:{free_port()}"
    with PrometheusSource(url, retries=2, backoff_s=0.05) as src:
        t0 = time.monotonic()
        with pytest.raises(TelemetryError, match=r"cannot connect.*after 3 attempts") as err:
            src.instant("up", T0)
        waited = time.monotonic() - t0
        assert src.requests == 3
    assert waited >= 0.05 + 0.1  # backoff doubles: 0.05 then 0.1
    assert "GET /-/ready" in str(err.value)


def test_prometheus_slow_times_out(fake_server):
    url = fake_server("slow")
    with (
        PrometheusSource(url, timeout_s=0.2, retries=1, backoff_s=0.01) as src,
        pytest.raises(TelemetryError, match=r"no answer within 0.2 s after 2 attempts"),
    ):
        src.instant("up", T0)


def test_prometheus_flaky_is_retried(fake_server):
    url = fake_server("flaky")
    with PrometheusSource(url, retries=2, backoff_s=0.01) as src:
        assert src.instant("up", T0) == []
        assert src.requests == 2


def test_not_prometheus_is_named(fake_server):
    url = fake_server("html")
    with PrometheusSource(url, retries=0) as src, pytest.raises(TelemetryError, match="not JSON"):
        src.instant("up", T0)


def test_cli_prometheus_down_exit_2_no_traceback(tmp_path, monkeypatch, capsys):
    args = [
        "diagnose", "--prometheus", f"http://127.0.0.1:{free_port()}", "--retries", "1",
        "--start", str(T0), "--end", str(T0 + 3600), "--out", str(tmp_path),
    ]  # fmt: skip
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2
    assert "after 2 attempts" in err
    assert "Traceback" not in err
    assert err.count("error:") == 1
    assert not (tmp_path / "diagnosed").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one source"),
        (["--prometheus", "ftp://x"], "http:// or https://"),
        (["--file", "/nonexistent.om"], "no such file"),
        (["--prometheus", "http://127.0.0.1:1", "--start", "yesterday"], "--start 'yesterday'"),
        (["--prometheus", "http://127.0.0.1:1", "--step", "0"], "--step 0"),
        (["--prometheus", "http://127.0.0.1:1", "--compute-bound-frac", "2"], "within 0..1"),
    ],
)
def test_cli_bad_options(args, message, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(["diagnose", *args, "--out", str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_counter_reset_counts_the_new_value():
    # 1 s/s, reset to 0 at t=60 (driver reload), then 1 s/s again
    t = np.arange(0, 121, 15.0)
    v = np.where(t < 60, t, t - 60 + 0.0)
    idx, rate = grid_from_samples(T0 + t, v, Window(T0, T0 + 120, 15.0), counter=True)
    assert (rate >= 0).all()
    assert rate[idx != 3] == pytest.approx(1.0)  # the step holding the reset sees 0 / 15
    assert idx.tolist() == list(range(8))


def _gpu_source(*, hosts=("n1",), gap=None, dup=False, skew_s=0.0) -> MemorySource:
    src = MemorySource("test samples")
    for k in range(1, 241):  # one hour at 15 s
        t = T0 + 15.0 * k
        for h in hosts:
            if gap is not None and gap[0] <= 15.0 * k < gap[1]:
                continue
            lab = {"gpu": "0", "Hostname": h, "hpc_job": "7"}
            src.add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", lab, t, 0.5)
            src.add("DCGM_FI_DEV_XID_ERRORS", lab, t, 0.0)
            if dup:
                src.add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {"gpu": "0", "hostname": h, "job": "b"},
                        t, 0.9)  # fmt: skip
        src.add("slurm_queue_pending", {}, t + skew_s, 1.0)
    return src


WINDOW = Window(T0, T0 + 3600.0, 15.0)


def test_short_gaps_repeat_the_last_value_long_gaps_are_failure():
    short = diagnose(_gpu_source(gap=(600, 840)), WINDOW).totals_s()  # 4 min
    assert short["failure"] == 0.0
    assert short["productive"] == pytest.approx(0.5 * 3600)
    long = diagnose(_gpu_source(gap=(600, 1500)), WINDOW)  # 15 min silent
    tot = long.totals_s()
    assert tot["failure"] == pytest.approx(900 - 300, abs=15)  # beyond the 5-min repeat
    assert sum(tot.values()) == pytest.approx(3600.0)


def test_duplicate_series_are_merged_with_a_warning():
    diag = diagnose(_gpu_source(dup=True), WINDOW)
    assert len(diag.gpu_keys) == 1
    assert any("duplicate series" in w for w in diag.warnings)
    assert diag.totals_s()["productive"] == pytest.approx(0.5 * 3600)


def test_clock_skew_between_sources_is_reported():
    diag = diagnose(_gpu_source(skew_s=-120.0), WINDOW)
    assert any("clock skew" in w and "slurm_queue_pending" in w for w in diag.warnings)
    assert not any("clock skew" in w for w in diagnose(_gpu_source(), WINDOW).warnings)


def test_missing_everything_but_power_falls_back_with_a_message():
    src = MemorySource("power only")
    for k in range(1, 41):
        src.add("DCGM_FI_DEV_POWER_USAGE", {"gpu": "0", "Hostname": "n"}, T0 + 15 * k, 300.0)
    diag = diagnose(src, Window(T0, T0 + 600, 15))
    assert "busy" in diag.missing
    assert "DCGM_FI_DEV_SM_CLOCK" in diag.missing
    assert sum(diag.totals_s().values()) == pytest.approx(600.0)


def test_bad_file_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "x.om"
    bad.write_text('DCGM_FI_DEV_GPU_UTIL{gpu="0"} abc 1736121615\n', encoding="utf-8")
    with pytest.raises(TelemetryError, match=r"x.om:1: value 'abc' is not a number"):
        FileSource(bad)
    bad.write_text('DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n', encoding="utf-8")
    with pytest.raises(TelemetryError, match=r"x\.om:1: sample without a timestamp"):
        FileSource(bad)
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TelemetryError, match="not UTF-8"):
        FileSource(bad)
    csv = tmp_path / "y.csv"
    csv.write_text("when,metric,value\n", encoding="utf-8")
    with pytest.raises(TelemetryError, match="missing CSV columns time"):
        FileSource(csv)


def test_csv_source_reads_labels_and_iso_times(tmp_path):
    csv = tmp_path / "t.csv"
    rows = ["time,metric,value,gpu,Hostname,hpc_job"]
    for k in range(1, 5):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 15 * k))
        rows.append(f"{stamp},DCGM_FI_DEV_GPU_UTIL,80,0,n1,42")
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    diag = diagnose(FileSource(csv), Window(T0, T0 + 60, 15))
    assert diag.busy_metric == "DCGM_FI_DEV_GPU_UTIL"
    assert diag.totals_s()["productive"] == pytest.approx(0.8 * 60)
    assert list(diag.job_buckets_s) == ["42"]


def test_time_parsing():
    assert parse_time_s("now-7d", now_s=1e6) == 1e6 - 7 * 86400
    assert parse_time_s("2025-01-06T00:00:00Z", now_s=0) == T0
    assert parse_time_s(str(T0), now_s=0) == T0
    with pytest.raises(TelemetryError, match="--end 'now-7x'"):
        parse_time_s("now-7x", now_s=0, option="--end")
