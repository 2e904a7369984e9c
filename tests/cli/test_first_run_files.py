"""What a fresh clone ships and writes (issue 16): licence, physics text, file modes, errors."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from kiban.results import atomic_write_bytes
from kiban.spec._common import fmt_value

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "kiban"


def test_licence_file_matches_the_package_metadata():
    """Old behaviour: pyproject said Apache-2.0 but no LICENSE file shipped."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "LICENSE" in meta["license-files"]
    font_licence = SRC / "report" / "fonts" / "OFL.txt"
    assert "SIL OPEN FONT LICENSE Version 1.1" in font_licence.read_text(encoding="utf-8")


def _cited_sections() -> set[str]:
    cited: set[str] = set()
    for path in [*SRC.rglob("*.py"), *SRC.rglob("*.csv"), *(ROOT / "examples").glob("*.toml")]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"physics\.md[^;\n\"]{0,40}?§ ?(\d+(?:\.\d+)?)", text):
            cited.add(match.group(1))
        for match in re.finditer(r"\[ref §(\d+(?:\.\d+)?)\]", text):
            cited.add(match.group(1))
    return cited


def test_the_cited_physics_reference_ships_with_every_cited_section():
    """Old behaviour: code, catalog and examples cited physics.md, which did not ship."""
    doc = (ROOT / "docs" / "physics.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", doc, flags=re.M))
    cited = _cited_sections()
    assert len(cited) > 20
    missing = sorted(cited - headings, key=lambda s: [int(x) for x in s.split(".")])
    assert not missing, f"docs/physics.md lacks sections {missing}"
    assert "EnergyPlus" in doc
    assert "Turner & Townsend" in doc


def test_result_files_get_the_mode_the_umask_allows(tmp_path):
    """Old behaviour: mkstemp's 0600 survived the rename, whatever the umask."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "summary.json"
        atomic_write_bytes(path, b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("depth", [3, 12])
def test_error_values_keep_the_file_name_of_a_long_path(depth):
    """Old behaviour: values were cut at 60 characters, hiding the file name at the end."""
    path = "/".join(["/checkout"] + ["a-rather-long-folder-name"] * depth + ["jobs.csv"])
    shown = fmt_value(f"philly:{path}")
    assert shown.endswith('jobs.csv"')
    if len(path) < 900:
        assert shown == f'"philly:{path}"'


def test_long_non_path_values_lose_their_middle_not_their_end():
    value = "x" * 100 + "TAIL"
    shown = fmt_value(value * 3)
    assert len(shown) <= 170
    assert shown.endswith('TAIL"')
    assert "…" in shown
