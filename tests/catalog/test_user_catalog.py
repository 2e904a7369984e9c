"""User catalog files: overriding single values, adding entries, and clear errors for mistakes."""

from __future__ import annotations

import pytest

from kiban.catalog import default_catalog, load_catalog
from kiban.errors import ConfigError

NEW_SERVER = """
[server.my-box]
gpu = "l40s"
n_gpus = 4
max_power_w = 2600.0
host_idle_power_w = 300.0
host_max_power_w = 600.0
fan_max_power_w = 150.0
psu_efficiency_frac = 0.95
weight_kg = 30.0
rack_units = 2
airflow_m3_per_s = 0.15
liquid_capture_frac = 0.0
footprint_m2 = 0.4
is_rack_scale = false
max_inlet_temp_c = 35.0
source = "our purchase order, spec sheet p. 3"
"""


def _write(tmp_path, text, name="cat.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path):
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    return info.value.problems


def test_override_a_single_value_keeps_the_rest(tmp_path):
    path = _write(tmp_path, "[gpu.h100-sxm]\ntdp_w = 650\n")
    cat = load_catalog(path)
    gpu = cat.gpu("h100-sxm")
    base = default_catalog().gpu("h100-sxm")
    assert gpu.tdp_w == 650.0
    assert isinstance(gpu.tdp_w, float)
    assert gpu.max_sm_clock_hz == base.max_sm_clock_hz
    assert "overridden by" in gpu.source
    assert "tdp_w" in gpu.source
    assert default_catalog().gpu("h100-sxm").tdp_w == 700.0  # the packaged catalog is untouched
    assert str(path) in cat.sources


def test_add_a_new_server(tmp_path):
    cat = load_catalog(_write(tmp_path, NEW_SERVER))
    box = cat.server("my-box")
    assert box.n_gpus == 4
    assert box.source == "our purchase order, spec sheet p. 3"
    assert cat.server_gpu(box).name == "l40s"
    assert "dgx-h100" in cat.servers


def test_new_entry_without_source_gets_the_file_name(tmp_path):
    text = NEW_SERVER.replace('source = "our purchase order, spec sheet p. 3"\n', "")
    path = _write(tmp_path, text)
    assert str(path) in load_catalog(path).server("my-box").source


def test_new_entry_missing_fields_is_one_clear_line(tmp_path):
    path = _write(tmp_path, '[server.half]\ngpu = "l40s"\nn_gpus = 4\n')
    (line,) = _problems(path)
    assert line.startswith(f"{path}: server.half")
    assert "missing" in line
    assert "max_power_w" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[gpu.h100-sxm]\ntdp_w = 0.7\n", ["gpu.h100-sxm.tdp_w = 0.7", "did you mean kW?"]),
        ("[gpu.h100-sxm]\ntdp_w = -700\n", ["gpu.h100-sxm.tdp_w = -700", "negative"]),
        ('[gpu.h100-sxm]\ntdp_w = "700 W"\n', ['tdp_w = "700 W"', "must be a number"]),
        ("[gpu.h100-sxm]\ntdpw = 700\n", ["gpu.h100-sxm.tdpw", "did you mean 'tdp_w'?"]),
        ("[server.dgx-h100]\nairflow_m3_per_s = 1105\n", ["airflow_m3_per_s = 1105", "CFM"]),
        ("[server.dgx-h100]\nn_gpus = 8.5\n", ["n_gpus = 8.5", "whole number"]),
        ('[server.dgx-h100]\ngpu = "h100"\n', ['gpu = "h100"', "unknown GPU", "h100-"]),
        ('[cooling.direct-liquid]\nmedium = "water"\n', ['medium = "water"', "air, liquid"]),
        ("[gpus.h100-sxm]\ntdp_w = 650\n", ["gpus = {...}", "did you mean 'gpu'?"]),
        ("[gpu.h100-sxm]\nmin_power_limit_w = 800\n", ["min_power_limit_w = 800", "tdp_w"]),
        ("[server.dgx-h100]\nis_rack_scale = 1\n", ["is_rack_scale = 1", "true or false"]),
    ],
)
def test_bad_user_values_name_file_field_value_and_what_is_allowed(tmp_path, text, expected):
    path = _write(tmp_path, text)
    problems = _problems(path)
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(f"{path}: ")
    for fragment in expected:
        assert fragment in line, line


def test_every_problem_is_reported_at_once(tmp_path):
    path = _write(tmp_path, "[gpu.h100-sxm]\ntdp_w = -1\nmax_sm_clock_hz = 1980\n")
    problems = _problems(path)
    assert len(problems) == 2
    assert any("MHz" in p for p in problems)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"[gpu.h100-sxm\ntdp_w = 650\n", "invalid TOML"),
        (b"\xff\xfe\x00garbage\x81", "not a UTF-8 text file"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path, content, fragment):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    (line,) = _problems(path)
    assert fragment in line
    assert str(path) in line


def test_missing_user_file(tmp_path):
    (line,) = _problems(tmp_path / "nope.toml")
    assert "not found" in line
