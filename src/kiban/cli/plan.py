"""``kiban plan SITE.toml [--objective tco|pue|gpus] [--years 5] [--out DIR]``: the planner."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kiban._atomic import held_signals
from kiban.cli._app import app, console
from kiban.cli._stop import Stopped, exit_stopped, stoppable
from kiban.errors import ConfigError
from kiban.units import W_PER_KW

if TYPE_CHECKING:
    from kiban.plan.run import PlanResult


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:,.{digits}f}"
    return str(value)


def print_plan(result: PlanResult) -> None:
    """Print the chosen layout, its verification, the binding constraints and the comparison."""
    from rich.markup import escape  # noqa: PLC0415 (startup time: heavy modules load on use)
    from rich.table import Table  # noqa: PLC0415

    from kiban.plan.output import option_row  # noqa: PLC0415

    sol, s = result.solution, result.summary
    status = "proven optimal" if sol.proven_optimal else f"gap {sol.gap_frac:.2%}"
    unit = {"tco": "million JPY", "pue": "(PUE)", "gpus": "(−GPUs)"}[sol.objective]
    console.print(escape(
        f"{result.scenario.display_name}: objective {sol.objective} = "
        f"{sol.objective_value:,.4f} {unit}, {status} (bound {sol.dual_bound:,.4f}; "
        f"{sol.n_programs} programs over {len(result.problem.configs)} configurations in "
        f"{sol.solve_s:.2f} s, HiGHS)"), soft_wrap=True)  # fmt: skip
    techs = ", ".join(f"{k}: {v} racks" for k, v in s.racks_by_tech.items())
    console.print(
        escape(
            f"layout: {s.n_servers} servers ({s.n_gpus} GPUs) in {s.n_racks} racks ({techs}); "
            f"containment {s.containment}; supply {s.supply_temp_c:g} °C"
        ),
        soft_wrap=True,
    )
    table = Table(title="planner (linear model) vs full physics")
    for col in ("quantity", "planner", "verified"):
        table.add_column(col, justify="left" if col == "quantity" else "right")
    v, vf = s.verified, s.verified_full_load
    table.add_row(f"annual PUE (load {v.load_frac:.0%})", _fmt(s.predicted_pue), _fmt(v.annual_pue))
    table.add_row(
        "hottest inlet, full load (°C)",
        _fmt(s.predicted_hottest_inlet_c, 2),
        _fmt(vf.hottest_inlet_c, 2),
    )
    table.add_row(
        "design-day facility power (kW)",
        _fmt(s.predicted_design_facility_w / W_PER_KW, 1),
        _fmt(v.design_facility_power_w / W_PER_KW, 1),
    )
    table.add_row(
        f"TCO over {result.problem.years:g} years (million JPY)",
        _fmt(s.predicted_tco_jpy / 1e6, 1),
        _fmt(s.tco_jpy / 1e6, 1),
    )
    console.print(table)
    console.print("binding constraints:")
    for line in result.binding or ("none",):
        console.print(f"  - {escape(line)}", soft_wrap=True)
    if result.options:
        from kiban._tables import fit_table  # noqa: PLC0415

        cols = ["option", "racks", "PUE", "MWh/yr", "MJPY/yr", "t CO2/yr", "capex MJPY",
                "TCO MJPY", "floor m²", "inlet °C"]  # fmt: skip
        rows = []
        infeasible = []
        for opt in result.options:
            row = option_row(opt)
            if not row["feasible"]:
                rows.append([opt.name, "—", "infeasible", *[""] * 7])
                infeasible.append(opt)
                continue
            rows.append([
                opt.name, str(row["racks"]), _fmt(row["annual_pue"]),
                _fmt(row["facility_energy_kwh_per_year"] / 1000.0, 0),
                _fmt(row["electricity_cost_jpy_per_year"] / 1e6, 1), _fmt(row["co2_t_per_year"], 0),
                _fmt(row["capex_jpy"] / 1e6, 1) if row["capex_given"] else "not given",
                _fmt(row["tco_jpy"] / 1e6, 1), _fmt(row["floor_used_m2"], 1),
                _fmt(row["hottest_inlet_full_load_c"], 1),
            ])  # fmt: skip
        console.print(
            fit_table(cols, rows, console.width,
                      title="cooling options (full physics at the planning load)")
        )  # fmt: skip
        for opt in infeasible:
            console.print(escape(f"  {opt.name} infeasible: {opt.reason}"), soft_wrap=True)
    if result.sweep is not None:
        sw = result.sweep
        fit = (
            ""
            if sw.fits_hall[sw.optimum_idx]
            else (
                f" (longer than the hall; best that fits: {sw.pitch_m[sw.optimum_fit_idx]:.1f} m)"
            )
        )
        console.print(
            escape(
                f"spacing sweep: least cooling power at {sw.optimum_pitch_m:.1f} m pitch{fit}; "
                f"hottest inlet {sw.hottest_inlet_c[0]:.1f} °C packed (0.6 m) vs "
                f"{sw.hottest_inlet_c[-1]:.1f} °C spread, air handling "
                f"{sw.air_handling_power_w[0] / W_PER_KW:.1f} → "
                f"{sw.air_handling_power_w[-1] / W_PER_KW:.1f} kW"
            ),
            soft_wrap=True,
        )
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)


@app.command("plan")
def plan(  # noqa: PLR0917 (typer reads the options from the signature)
    file: Annotated[Path, typer.Argument(help="Site scenario TOML file.", show_default=False)],
    objective: Annotated[
        str | None, typer.Option("--objective", help="tco, pue or gpus (default: [plan] or tco).")
    ] = None,
    years: Annotated[
        float | None, typer.Option("--years", help="TCO horizon in years (default: [plan] or 5).")
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for layout.toml, plan.json, CSV and SVG files (created)."
        ),
    ] = Path("kiban-plan"),
    load: Annotated[float, typer.Option("--load", help="Planning load for energy, 0-1.")] = 0.8,
    inlet_max: Annotated[
        float, typer.Option("--inlet-max", help="Allowed inlet temperature, °C (ASHRAE class).")
    ] = 27.0,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Solver time budget in seconds.")
    ] = 60.0,
    sweep_spacing: Annotated[
        bool, typer.Option("--sweep-spacing/--no-sweep-spacing", help="Sweep the rack pitch.")
    ] = True,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Plan each cooling option alone too.")
    ] = True,
) -> None:
    """Plan cooling, racks, containment and set-point for a fleet under the site's limits."""
    from rich.markup import escape  # noqa: PLC0415 (startup time: heavy modules load on use)

    from kiban.plan.output import check_out_dir, write_outputs  # noqa: PLC0415
    from kiban.plan.problem import OBJECTIVES  # noqa: PLC0415
    from kiban.plan.run import load_site, plan_site  # noqa: PLC0415

    if objective is not None and objective not in OBJECTIVES:
        msg = f"--objective = {objective!r}: allowed {', '.join(OBJECTIVES)}"
        raise ConfigError(msg)
    if not 0.0 < load <= 1.0:
        msg = f"--load = {load:g}: must be a fraction in (0, 1]"
        raise ConfigError(msg)
    if not 0.0 < time_limit <= 3600.0:
        msg = f"--time-limit = {time_limit:g}: must be between 0 and 3600 s"
        raise ConfigError(msg)
    if not 15.0 <= inlet_max <= 45.0:
        msg = f"--inlet-max = {inlet_max:g}: must be an ASHRAE inlet limit between 15 and 45 °C"
        raise ConfigError(msg)
    check_out_dir(out)
    scenario, input_notes = load_site(file)
    for note in input_notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)
    with stoppable():
        try:
            result = _in_thread(lambda: plan_site(
                scenario, objective=objective, years=years, load_frac=load,
                inlet_max_c=inlet_max, time_limit_s=time_limit, compare=compare,
                sweep=sweep_spacing,
            ))  # fmt: skip
            print_plan(result)
            with held_signals():
                paths = write_outputs(result, out)
            console.print(
                escape(f"wrote {len(paths)} files to {out}/: {', '.join(p.name for p in paths)}"),
                soft_wrap=True,
            )
        except Stopped as stop:
            exit_stopped(stop, [], None, "the plan was not finished and wrote no files", now=True)


def _in_thread(work: Callable[[], PlanResult]) -> PlanResult:
    """Run ``work`` in a daemon thread so that Ctrl-C reaches this (main) thread at once.

    HiGHS holds the thread that calls it until its time limit; the signal handler runs in the
    main thread, which only waits here, and the process exits without waiting for the solver.
    """
    box: list[PlanResult] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            box.append(work())
        except BaseException as err:
            error.append(err)

    thread = threading.Thread(target=target, name="kiban-plan", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
    if error:
        raise error[0]
    return box[0]
