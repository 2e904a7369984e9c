"""`kiban catalog list|show`: tables with units and sources; unknown names suggest the closest."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kiban.catalog import KINDS, default_catalog
from kiban.cli import _load_commands, app
from kiban.errors import CatalogError

_load_commands()
runner = CliRunner()


@pytest.mark.parametrize("kind", KINDS)
def test_list_by_kind_shows_every_entry(kind):
    result = runner.invoke(app, ["catalog", "list", "--kind", kind], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in default_catalog().table(kind):
        assert name in result.output


def test_list_all_kinds_and_reject_unknown_kind():
    result = runner.invoke(app, ["catalog", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "dgx-h100" in result.output
    assert "immersion-1p" in result.output
    bad = runner.invoke(app, ["catalog", "list", "--kind", "gpus"])
    assert bad.exit_code == 2


def test_show_gives_units_and_source():
    result = runner.invoke(app, ["catalog", "show", "dgx-h100"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "max_power_w" in out
    assert "10200" in out
    assert "1105 CFM" in out
    assert "source:" in out
    assert "DGX H100/H200 User Guide" in out


def test_show_unknown_name_suggests():
    result = runner.invoke(app, ["catalog", "show", "dgx-h1"])
    assert isinstance(result.exception, CatalogError)
    assert "did you mean 'dgx-h100'?" in str(result.exception)


def test_show_with_a_user_catalog(tmp_path):
    path = tmp_path / "cat.toml"
    path.write_text("[gpu.h100-sxm]\ntdp_w = 650\n", encoding="utf-8")
    result = runner.invoke(
        app, ["catalog", "show", "h100-sxm", "--catalog", str(path)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "650" in result.output
    assert "overridden by" in result.output
