"""`kiban schema` prints valid JSON; `kiban validate` mixes OK lines and problems correctly."""

from __future__ import annotations

import json
import sys

import pytest
from tests.conftest import EXAMPLES
from typer.testing import CliRunner

from kiban.cli import _load_commands, app, main

_load_commands()


def test_schema_is_valid_json_with_the_scenario_sections():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Scenario"
    for section in (
        "site",
        "hall",
        "power",
        "cooling",
        "storage",
        "fleet",
        "workload",
        "policies",
        "simulation",
        "plan",
    ):
        assert section in schema["properties"]


def test_validate_one_good_and_one_bad_file(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\n", encoding="utf-8")
    good = EXAMPLES / "tokyo-air-dgx-h100.toml"
    monkeypatch.setattr(sys, "argv", ["kiban", "validate", str(good), str(bad)])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    assert info.value.code == 2
    assert f"OK {good}: tokyo-air-dgx-h100: 8 servers (64 GPUs) in 4/4 racks" in out.out
    assert f"error: {bad}: invalid TOML" in out.err
    assert "Traceback" not in out.out + out.err


def test_validate_check_data_requires_the_trace(monkeypatch, capsys, tmp_path):
    spec = tmp_path / "s.toml"
    text = (EXAMPLES / "tokyo-air-dgx-h100.toml").read_text(encoding="utf-8")
    text = text.replace(
        "[workload.synthetic]\ndays = 7.0\nseed = 1\n", '[workload]\ntrace = "philly:missing.csv"\n'
    )
    spec.write_text(text, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["kiban", "validate", str(spec)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code in (0, None)
    assert "not found here" in capsys.readouterr().out  # a note, not an error
    monkeypatch.setattr(sys, "argv", ["kiban", "validate", "--check-data", str(spec)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "workload.trace" in err
    assert str(tmp_path / "missing.csv") in err


def test_validate_takes_a_trace_folder_as_found(monkeypatch, capsys, tmp_path):
    """Readers such as openb take a folder; a folder that exists is no "not found" note, and
    ``--check-data`` accepts it (it was checked as a file)."""
    folder = tmp_path / "openb-csv"
    folder.mkdir()
    (folder / "openb_pod_list_default.csv").write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
        "creation_time,deletion_time,scheduled_time\n"
        "pod-0,1000,4096,1,1000,,LS,Running,0,3600,0\n",
        encoding="utf-8",
    )
    spec = tmp_path / "s.toml"
    text = (EXAMPLES / "tokyo-air-dgx-h100.toml").read_text(encoding="utf-8")
    text = text.replace(
        "[workload.synthetic]\ndays = 7.0\nseed = 1\n", f'[workload]\ntrace = "openb:{folder}"\n'
    )
    spec.write_text(text, encoding="utf-8")
    for extra in ([], ["--check-data"]):
        monkeypatch.setattr(sys, "argv", ["kiban", "validate", *extra, str(spec)])
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code in (0, None)
        out = capsys.readouterr().out
        assert "trace openb" in out
        assert "not found here" not in out
