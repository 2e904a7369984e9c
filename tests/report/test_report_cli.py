"""`kiban report DIR... [--lang en|ja] [--out FILE.html]`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kiban.cli
from kiban.cli import app

KIBAN = Path(sys.executable).with_name("kiban")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    kiban.cli._load_commands()
    return CliRunner()


def test_report_writes_html_and_prints_the_summary(runner, result_run, tmp_path):
    out = tmp_path / "rep.html"
    res = runner.invoke(app, ["report", str(result_run), "--lang", "ja", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "kiban 結果サマリー" in res.output
    assert "レポートを書き出しました" in res.output
    assert str(out) in res.output.replace("\n", "")


def test_report_defaults_to_a_file_beside_the_results(runner, result_run):
    res = runner.invoke(app, ["report", str(result_run / "fifo")])
    assert res.exit_code == 0, res.output
    assert (result_run / "fifo" / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{tmp}/nowhere"], "not a directory"),
        (["report", "{tmp}"], "no summary.json in it or in any sub-directory"),
        (["report", "--lang", "fr", "{tmp}"], "'fr' is not a supported language"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    monkeypatch.setattr(sys, "argv", ["kiban", *argv])
    with pytest.raises(SystemExit) as exc:
        kiban.cli.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_console_script_reports_a_bad_directory_in_one_line(tmp_path):
    if not KIBAN.exists():
        pytest.skip("kiban console script not installed next to this python")
    proc = subprocess.run(
        [str(KIBAN), "report", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nowhere'}: not a directory; expected a simulation result directory"
    ]
