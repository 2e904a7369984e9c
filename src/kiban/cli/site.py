"""``kiban site evaluate FILE [--load 0.8] [--json] [--report FILE.html]``: steady state."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kiban.cli._app import app, console
from kiban.errors import ConfigError, KibanError
from kiban.units import PA_PER_KPA, W_PER_KW

if TYPE_CHECKING:
    from kiban.site import SiteEvaluation

site_app = typer.Typer(
    name="site", help="Steady-state evaluation of a site (no workload).", no_args_is_help=True
)
app.add_typer(site_app, name="site")

_HTML_SNIFF_B = 64
"""Bytes read from an existing --report file to tell an earlier HTML report from other data."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _fmt(value: float, digits: int = 1) -> str:
    return "—" if not math.isfinite(value) else f"{value:,.{digits}f}"


def print_evaluation(ev: SiteEvaluation) -> None:
    """Print racks, months and the yearly totals as rich tables."""
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    from kiban._tables import fit_table  # noqa: PLC0415

    width = console.width
    rack_rows = [
        [
            name, ev.rack_cooling[i], str(int(ev.rack_n_servers[i])),
            _fmt(ev.rack_it_power_w[i] / W_PER_KW), _fmt(ev.rack_power_limit_w[i] / W_PER_KW),
            _fmt(ev.rack_inlet_temp_c[i]), _fmt(ev.rack_chip_temp_c[i]),
            _fmt(ev.rack_chip_temp_tdp_c[i]) + (" !" if ev.rack_throttle_risk[i] else ""),
            _fmt(ev.rack_floor_load_pa[i] / PA_PER_KPA),
        ]
        for i, name in enumerate(ev.rack_names)
    ]  # fmt: skip
    console.print(
        fit_table(
            ["rack", "cooling", "servers", "IT kW", "limit kW", "inlet °C", "chip °C",
             "chip@TDP °C", "floor kPa"],
            rack_rows,
            width,
            title=f"{ev.scenario_name}: racks at load {ev.load_frac:.0%}, supply "
            f"{ev.supply_temp_c:g} °C, containment {ev.containment}",
        )
    )  # fmt: skip
    month_rows = [
        [
            _MONTHS[m], _fmt(ev.monthly_outdoor_dry_bulb_c[m]),
            _fmt(ev.monthly_it_power_w[m] / W_PER_KW),
            _fmt(ev.monthly_cooling_power_w[m] / W_PER_KW),
            _fmt(ev.monthly_loss_power_w[m] / W_PER_KW),
            _fmt(ev.monthly_facility_power_w[m] / W_PER_KW), _fmt(ev.monthly_pue[m], 3),
            f"{ev.monthly_free_cooling_frac[m]:.0%}",
        ]
        for m in range(len(ev.monthly_pue))
    ]  # fmt: skip
    console.print(
        fit_table(
            ["month", "outdoor °C", "IT", "cooling", "losses", "facility", "PUE",
             "free cooling"],
            month_rows,
            width,
            title="Months (mean power, kW)",
            right=[False] + [True] * 7,
        )
    )  # fmt: skip
    grid = (
        ""
        if ev.grid_limit_w is None
        else f" of the {ev.grid_limit_w / W_PER_KW:,.0f} kW grid limit"
    )
    lines = [
        f"annual PUE {ev.annual_pue:.3f}; IT {ev.it_power_w / W_PER_KW:,.1f} kW at load",
        f"hottest inlet {_fmt(ev.hottest_inlet_c)} °C ({ev.hottest_rack or 'no air-cooled rack'}); "
        f"servers allow {ev.inlet_limit_c:g} °C",
        f"yearly {ev.yearly_facility_energy_kwh:,.0f} kWh, {ev.cost_jpy:,.0f} JPY "
        f"(energy {ev.energy_cost_jpy:,.0f} + demand {ev.demand_charge_jpy:,.0f}), "
        f"{ev.co2_kg / 1000.0:,.1f} t CO2",
        f"design day ({ev.design_outdoor_dry_bulb_c:.1f} °C outdoor, nameplate IT "
        f"{ev.design_it_power_w / W_PER_KW:,.0f} kW): facility "
        f"{ev.design_facility_power_w / W_PER_KW:,.0f} kW{grid}",
    ]
    for line in lines:
        console.print(escape(line), soft_wrap=True)
    for warning in ev.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)


def write_report(ev: SiteEvaluation, path: Path) -> Path:
    """Render the site report with ``kiban.report`` (if installed) to ``path``.

    Raises:
        KibanError: the report module is not available.
    """
    try:
        report: Any = importlib.import_module("kiban.report")
    except ModuleNotFoundError as err:
        if err.name not in ("kiban.report",):
            raise
        msg = "--report: report module not available (kiban.report is not installed)"
        raise KibanError(msg) from None
    writer = getattr(report, "write_site_report", None)
    if writer is None:
        msg = "--report: report module not available (kiban.report has no write_site_report)"
        raise KibanError(msg)
    return Path(writer(ev, path))


def _check_report_path(path: Path, scenario_file: Path) -> None:
    """Refuse a ``--report`` target that cannot be written or holds data, before evaluating.

    Raises:
        ConfigError: the path is a folder, its folder does not exist, it is the scenario file,
            or it exists and is not an HTML file (only an earlier report is overwritten).
    """
    if path.is_dir():
        msg = f"--report {path}: is a folder; give the HTML file, e.g. {path / 'site.html'}"
        raise ConfigError(msg)
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        msg = f"--report {path}: folder {folder} does not exist; create it first"
        raise ConfigError(msg)
    if not path.exists():
        return
    if scenario_file.exists() and path.samefile(scenario_file):
        msg = f"--report {path}: is the scenario file being evaluated; give an .html file"
        raise ConfigError(msg)
    try:
        with path.open("rb") as handle:
            head = handle.read(_HTML_SNIFF_B).lstrip().lower()
    except OSError as err:
        msg = f"--report {path}: cannot open the existing file ({err.strerror or err})"
        raise ConfigError(msg) from None
    if not head.startswith((b"<!doctype html", b"<html")):
        msg = (
            f"--report {path}: exists and is not an HTML file; kiban will not overwrite it "
            "(remove it first or choose another name, e.g. site.html)"
        )
        raise ConfigError(msg)


@site_app.command("evaluate")
def evaluate(
    file: Annotated[Path, typer.Argument(help="Scenario TOML file.", show_default=False)],
    load: Annotated[
        float, typer.Option("--load", help="GPU activity and host load of every server, 0-1.")
    ] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML report to this file.")
    ] = None,
) -> None:
    """Evaluate a site in steady state: rack inlets, monthly PUE, yearly kWh, JPY and CO2."""
    from rich.markup import escape  # noqa: PLC0415 (startup time)

    from kiban.site import evaluate_site  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    if not 0.0 <= load <= 1.0:
        msg = f"--load = {load:g}: must be a fraction between 0 and 1 (e.g. 0.8)"
        raise ConfigError(msg)
    if report is not None:
        _check_report_path(report, file)
    ev = evaluate_site(load_spec(file), load_frac=load)
    written = write_report(ev, report) if report is not None else None
    if as_json:
        typer.echo(json.dumps(ev.to_dict(), indent=2, ensure_ascii=False))
        return
    print_evaluation(ev)
    if written is not None:
        console.print(escape(f"report written to {written}"), soft_wrap=True)
