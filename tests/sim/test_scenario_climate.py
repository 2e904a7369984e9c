"""``kiban simulate`` reads the site's hourly climate the way ``kiban site evaluate`` does.

The simulator builds its facility with :func:`kiban.site.site_climate`, so an hourly climate file
that does not cover one year, or cannot be read, is one clean error naming the file (exit 2, no
traceback, no output folder) instead of a silently wrong run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kiban.cli import main
from kiban.sim.scenario import facility_from_scenario
from kiban.site import site_climate
from kiban.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "tokyo-air-dgx-h100.toml"
_CLIMATE_LINE = 'climate = "tokyo"'


def _scenario_with_hourly(folder: Path, csv_bytes: bytes) -> tuple[Path, Path]:
    """Write the example with ``climate = { hourly_csv = ... }`` and the CSV; return both paths."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert _CLIMATE_LINE in text, f"{_CLIMATE_LINE!r} no longer in {EXAMPLE.name}"
    csv_path = folder / "weather.csv"
    csv_path.write_bytes(csv_bytes)
    spec = folder / "scenario.toml"
    spec.write_text(
        text.replace(_CLIMATE_LINE, 'climate = { hourly_csv = "weather.csv" }', 1),
        encoding="utf-8",
    )
    return spec, csv_path


def _simulate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], spec: Path, out: Path
) -> tuple[int | str | None, str]:
    argv = ["kiban", "simulate", str(spec), "--until", "1d", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


@pytest.mark.parametrize(
    ("csv_bytes", "fragment"),
    [
        (b"dry_bulb_c,wet_bulb_c\n20.0,15.0\n21.0,16.0\n", "must cover one year"),
        (bytes(range(256)) * 2, "not UTF-8"),
    ],
    ids=["two-rows", "binary"],
)
def test_simulate_rejects_bad_hourly_climate_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    csv_bytes: bytes,
    fragment: str,
) -> None:
    spec, csv_path = _scenario_with_hourly(tmp_path, csv_bytes)
    out = tmp_path / "results"
    code, text = _simulate(monkeypatch, capsys, spec, out)
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == 2, text
    assert "Traceback" not in text
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, text
    assert csv_path.name in errors[0], errors[0]
    assert fragment in errors[0], errors[0]
    assert not out.exists()


def test_simulator_and_site_share_the_hourly_climate(tmp_path: Path) -> None:
    """A one-year hourly file gives the simulator the site evaluator's climate, value for value."""
    rows = "".join(f"{10.0 + (h % 24) / 4:.2f},{8.0 + (h % 24) / 5:.2f}\n" for h in range(8760))
    spec, _ = _scenario_with_hourly(tmp_path, f"dry_bulb_c,wet_bulb_c\n{rows}".encode())
    scenario = load_spec(spec)
    sim_climate = facility_from_scenario(scenario).climate
    site = site_climate(scenario)
    assert sim_climate.dry_bulb_c.tolist() == site.dry_bulb_c.tolist()
    assert sim_climate.wet_bulb_c.tolist() == site.wet_bulb_c.tolist()
    assert float(sim_climate.duration_s.sum()) == 8760 * 3600.0
