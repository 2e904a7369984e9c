"""Files ``kiban plan --out DIR`` writes: layout, cooling comparison, floor plan, spacing sweep.

- ``layout.toml``: the planned site spec (``kiban validate`` / ``kiban simulate`` accept it);
- ``cooling_options.csv``: each candidate option alone and the optimal mix: PUE, yearly kWh,
  JPY, CO2, capex, TCO, racks and floor used, hottest inlet (units in the column names);
- ``floorplan.svg``: racks coloured by cooling option, labelled with power and inlet, and the
  power feed and CDU points where the spec gives cable or pipe limits;
- ``spacing_sweep.svg`` and ``spacing_sweep.csv``: hottest inlet and cooling power against pitch;
- ``plan.json``: the numbers above, the solver status and gap, the binding constraints;
- ``binding_constraints.txt``: the binding constraints in plain words.

Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tomllib
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from kiban._version import __version__
from kiban.charts import (
    Cell,
    ChartSpec,
    LegendItem,
    Marker,
    Series,
    Span,
    Tick,
    render_panels_svg,
    render_svg,
)
from kiban.charts.scales import min_spacing, nice_ticks
from kiban.errors import ConfigError
from kiban.plan.run import CoolingOption, LayoutSummary, PlanResult
from kiban.plan.sweep import SpacingSweep
from kiban.units import J_PER_KWH, KG_PER_TONNE, W_PER_KW

TECH_COLORS: dict[str, str] = {
    "crac-raised-floor": "#E69F00",
    "hot-aisle-containment": "#D55E00",
    "rear-door-hx": "#0072B2",
    "direct-liquid": "#009E73",
    "immersion-1p": "#CC79A7",
}
"""Okabe–Ito colours (colour-blind safe) per cooling option."""

OPTION_COLUMNS: tuple[str, ...] = (
    "option",
    "feasible",
    "racks",
    "servers",
    "containment",
    "supply_temp_c",
    "annual_pue",
    "facility_energy_kwh_per_year",
    "electricity_cost_jpy_per_year",
    "co2_t_per_year",
    "capex_jpy",
    "capex_given",
    "tco_jpy",
    "floor_used_m2",
    "hottest_inlet_full_load_c",
    "design_facility_power_kw",
    "gap_frac",
    "reason",
)


def check_out_dir(out_dir: Path) -> None:
    """Check, before planning, that ``--out`` names a folder that exists or can be created.

    Raises:
        ConfigError: ``out_dir`` is an existing file, or sits under a file or an unwritable
            folder.
    """
    if out_dir.exists() and not out_dir.is_dir():
        msg = f"--out {out_dir}: is a file; --out takes a folder (created if missing)"
        raise ConfigError(msg)
    base = out_dir
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        msg = f"--out {out_dir}: {base} is a file, so the folder cannot be created there"
        raise ConfigError(msg)
    if not os.access(base, os.W_OK | os.X_OK):
        msg = f"--out {out_dir}: cannot write in {base} (permission denied)"
        raise ConfigError(msg)


def _write_group(out_dir: Path, files: dict[str, str | bytes]) -> list[Path]:
    """Write every file of ``files`` into ``out_dir`` as one step, or none of them.

    All contents go to temporary files first; only when every one is complete are they renamed
    into place. On any error the temporary files, and ``out_dir`` itself if this call created
    it, are removed, so an interrupted or failed run leaves no half-written output behind.
    Files get the permissions the user's umask gives new files.

    Raises:
        ConfigError: the folder cannot be created or written (one line naming it and why).
    """
    check_out_dir(out_dir)
    created: list[Path] = []
    temps: dict[str, Path] = {}
    try:
        for parent in [*reversed(out_dir.parents), out_dir]:
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        for name, data in files.items():
            tmp = out_dir / f".{name}.{uuid.uuid4().hex[:12]}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            temps[name] = tmp
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        for name, tmp in temps.items():
            tmp.replace(out_dir / name)
    except BaseException as err:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(err, OSError):
            where = err.filename if err.filename is not None else out_dir
            msg = f"--out {out_dir}: cannot write {where} ({err.strerror or err})"
            raise ConfigError(msg) from None
        raise
    return [out_dir / name for name in files]


def _round(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


def option_row(option: CoolingOption) -> dict[str, Any]:
    """One row of ``cooling_options.csv`` (values in the units of the column names)."""
    s = option.summary
    if s is None:
        return {"option": option.name, "feasible": False, "reason": option.reason}
    v = s.verified
    return {
        "option": option.name,
        "feasible": True,
        "racks": s.n_racks,
        "servers": s.n_servers,
        "containment": s.containment,
        "supply_temp_c": s.supply_temp_c,
        "annual_pue": _round(v.annual_pue),
        "facility_energy_kwh_per_year": _round(v.facility_energy_j / J_PER_KWH, 0),
        "electricity_cost_jpy_per_year": _round(v.cost_jpy, 0),
        "co2_t_per_year": _round(v.co2_kg / KG_PER_TONNE, 1),
        "capex_jpy": _round(s.capex_jpy, 0),
        "capex_given": s.capex_given,
        "tco_jpy": _round(s.tco_jpy, 0),
        "floor_used_m2": _round(s.floor_used_m2, 2),
        "hottest_inlet_full_load_c": _round(s.verified_full_load.hottest_inlet_c, 2),
        "design_facility_power_kw": _round(v.design_facility_power_w / W_PER_KW, 1),
        "gap_frac": _round(option.gap_frac, 6),
        "reason": option.reason,
    }


def options_csv(options: tuple[CoolingOption, ...]) -> str:
    """The cooling comparison as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(OPTION_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for opt in options:
        writer.writerow(option_row(opt))
    return buf.getvalue()


def sweep_csv(sweep: SpacingSweep) -> str:
    """The spacing sweep as CSV text (one row per pitch; ``optimum`` marks the least total)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["pitch_m", "area_per_rack_m2", "max_inlet_rise_k", "hottest_inlet_c",
                     "supply_temp_c", "plant_power_w", "air_handling_power_w", "total_power_w",
                     "fits_hall", "optimum"])  # fmt: skip
    for i in range(sweep.pitch_m.size):
        writer.writerow([
            f"{sweep.pitch_m[i]:.3f}", f"{sweep.area_per_rack_m2[i]:.3f}",
            f"{sweep.max_inlet_rise_k[i]:.4f}", f"{sweep.hottest_inlet_c[i]:.3f}",
            f"{sweep.supply_temp_c[i]:.3f}", f"{sweep.plant_power_w[i]:.1f}",
            f"{sweep.air_handling_power_w[i]:.1f}", f"{sweep.total_power_w[i]:.1f}",
            bool(sweep.fits_hall[i]), i == sweep.optimum_idx,
        ])  # fmt: skip
    return buf.getvalue()


def _axis(lo: float, hi: float, *, pad: float = 0.0) -> tuple[tuple[float, float], list[Tick]]:
    """Axis limits ``lo - pad`` .. ``hi + pad`` with round ticks inside them (labels in ``%g``)."""
    ticks = [t for t in nice_ticks(lo, hi, 6) if lo - pad - 1e-9 <= t <= hi + pad + 1e-9]
    return (lo - pad, hi + pad), [(t, f"{t:g}") for t in ticks]


def floorplan_chart(result: PlanResult) -> ChartSpec:
    """The floor plan as a chart: the hall to scale and every candidate position.

    Used positions are coloured by cooling option and labelled with IT power and inlet
    temperature at full load (as much of the label as fits; all of it in the tooltip); empty
    ones are dotted. The power feed and CDU are marked where the spec limits cable or pipe runs.
    """
    problem, n = result.problem, result.solution.n
    pos = problem.positions
    hall = result.scenario.hall
    verified = result.summary.verified_full_load
    inlet = dict(zip(verified.rack_names, verified.rack_inlet_temp_c, strict=True))
    power = dict(zip(verified.rack_names, verified.rack_it_power_w, strict=True))
    width = math.sqrt(float(np.median(pos.footprint_m2)) / max(pos.rack_depth_m, 0.1))
    # A footprint with service clearance may be wider than the pitch: draw racks side by side.
    rows_y = np.round(pos.y_m, 6)
    pitches = [g for y in np.unique(rows_y) if (g := min_spacing(pos.x_m[rows_y == y]))]
    width = min(width, 0.95 * min(pitches)) if pitches else width
    cells: list[Cell] = []
    used_techs: set[str] = set()
    for r in range(pos.n):
        counts = n[r].sum(axis=1)
        name = pos.names[r]
        empty = counts.sum() == 0
        if empty:
            value, color, tooltip, label = math.nan, "none", f"{name}: empty position", ""
        else:
            tech = problem.techs[int(np.argmax(counts))].name
            used_techs.add(tech)
            value = power.get(name, 0.0) / W_PER_KW
            t_in = inlet.get(name, math.nan)
            facts = [f"{value:.0f} kW"] + ([f"{t_in:.1f} °C"] if math.isfinite(t_in) else [])
            color = TECH_COLORS.get(tech, "#56B4E9")
            tooltip = f"{name}: {tech}, {', '.join(facts)} at full load"
            label = "\n".join([name, *facts])
        cells.append(Cell(name, float(pos.x_m[r]), float(pos.y_m[r]), width, pos.rack_depth_m,
                          value, color, tooltip, label=label, empty=bool(empty)))  # fmt: skip
    markers = []
    for reach, symbol, color in ((pos.cable, "s", "#CC0000"), (pos.pipe, "D", "#0072B2")):
        if reach is None:
            continue
        words = "power feed" if reach.kind == "cable" else "CDU"
        markers.append(
            Marker(
                label=f"{words}: {reach.kind} ≤ {reach.max_length_m:g} m "
                f"({int(reach.within.sum())} positions within)",
                x=reach.source_x_m,
                y=reach.source_y_m,
                color=color,
                symbol=symbol,
                note=words,
            )
        )
    x_range, x_ticks = _axis(0.0, hall.length_m, pad=0.2)
    y_range, y_ticks = _axis(0.0, hall.width_m, pad=0.2)
    s = result.summary
    return ChartSpec(
        chart_id="floorplan",
        kind="floorplan",
        title=f"{result.scenario.display_name}: {s.n_racks} racks, {s.n_servers} servers; "
        f"{s.containment} containment, {s.supply_temp_c:g} °C supply\n"
        f"label: rack, IT power and inlet at full load",
        x_label="x (m)",
        y_label="y (m)",
        reading="",
        x_range=x_range,
        y_range=y_range,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        cells=cells,
        legend=[LegendItem(t, TECH_COLORS.get(t, "#56B4E9")) for t in sorted(used_techs)]
        + (
            [LegendItem("empty position", "none", empty=True)]
            if any(c.empty for c in cells)
            else []
        ),
        markers=markers,
        outline=(0.0, 0.0, hall.length_m, hall.width_m),
    )


FLOORPLAN_PX_PER_M = 90.0
"""Drawing scale of ``floorplan.svg``: a 0.6 m rack is 54 px, room for a three-line label."""


def floorplan_svg(result: PlanResult) -> str:
    """Draw :func:`floorplan_chart` as a standalone SVG file, wide enough for the rack labels."""
    width_px = min(max(760.0, result.scenario.hall.length_m * FLOORPLAN_PX_PER_M + 220.0), 3000.0)
    return render_svg(floorplan_chart(result), standalone=True, width_px=width_px)


def sweep_charts(sweep: SpacingSweep) -> list[ChartSpec]:
    """The spacing sweep as two panels against pitch, the optimum marked.

    Hottest inlet (packed → hotter) and cooling power (spread → more air handling).
    """
    p = [float(v) for v in sweep.pitch_m]
    x_range, x_ticks = _axis(min(p), max(p), pad=0.03 * (max(p) - min(p)))
    kw = W_PER_KW
    temps = [*sweep.hottest_inlet_c, sweep.inlet_max_c]

    def panel(chart_id: str, y_label: str, y_axis: tuple[tuple[float, float], list[Tick]],
              **parts: Any) -> ChartSpec:  # fmt: skip
        return ChartSpec(chart_id=chart_id, kind="lines", title="", reading="",
                         x_label="rack pitch along the row (m)", y_label=y_label,
                         x_range=x_range, x_ticks=x_ticks, y_range=y_axis[0], y_ticks=y_axis[1],
                         **parts)  # fmt: skip

    inlet = panel(
        "sweep-inlet",
        "temperature (°C)",
        _axis(*_round_out(min(temps), max(temps))),
        series=[
            Series(
                f"hottest inlet at {sweep.supply_fixed_c:g} °C supply",
                "#D55E00",
                p,
                [float(v) for v in sweep.hottest_inlet_c],
                marker="o",
            ),
            Series(
                f"inlet limit {sweep.inlet_max_c:g} °C",
                "#333333",
                list(x_range),
                [sweep.inlet_max_c] * 2,
                dashed=True,
            ),
        ],
    )
    curves = {
        "air handling (CRAH fans, bypass)": (sweep.air_handling_power_w, "#0072B2", "s"),
        "chillers/pumps at the highest allowed supply": (sweep.plant_power_w, "#E69F00", "^"),
        "total": (sweep.total_power_w, "#009E73", "o"),
    }
    all_kw = [float(v) / kw for w, _, _ in curves.values() for v in w]
    i = sweep.optimum_idx
    spans = []
    if not sweep.fits_hall.all():
        cut = float(sweep.pitch_m[sweep.fits_hall].max()) if sweep.fits_hall.any() else min(p)
        spans.append(Span("longer than the hall", cut, max(p), "#dddddd"))
    power = panel(
        "sweep-power",
        "mean power (kW)",
        _axis(*_round_out(min(0.0, *all_kw), max(all_kw))),
        series=[
            Series(label, color, p, [float(v) / kw for v in w], marker=m)
            for label, (w, color, m) in curves.items()
        ],
        markers=[
            Marker(
                f"optimum {p[i]:.1f} m",
                p[i],
                float(sweep.total_power_w[i]) / kw,
                "#CC0000",
                symbol="*",
            )
        ],
        spans=spans,
    )
    return [inlet, power]


def _round_out(lo: float, hi: float) -> tuple[float, float]:
    """Widen ``[lo, hi]`` (by 5 %, then to round ticks) so no curve runs along the frame."""
    margin = 0.05 * (hi - lo)
    ticks = nice_ticks(lo - margin if lo != 0.0 else lo, hi + margin, 6)
    return ticks[0], ticks[-1]


def sweep_svg(sweep: SpacingSweep) -> str:
    """Draw :func:`sweep_charts` as one standalone SVG file (two panels sharing the pitch axis)."""
    title = (
        f"Spacing trade-off: {sweep.n_rows} × {sweep.racks_per_row} racks, "
        f"{sweep.rack_air_heat_w / W_PER_KW:.1f} kW of room-air heat each, "
        f"containment {sweep.containment}"
    )
    return render_panels_svg("spacing-sweep", title, sweep_charts(sweep), standalone=True)


def summary_dict(s: LayoutSummary) -> dict[str, Any]:
    """JSON-ready numbers of one layout."""
    v = s.verified
    return {
        "label": s.label,
        "racks_by_tech": s.racks_by_tech,
        "servers_by_tech": s.servers_by_tech,
        "n_racks": s.n_racks,
        "n_servers": s.n_servers,
        "n_gpus": s.n_gpus,
        "floor_used_m2": s.floor_used_m2,
        "containment": s.containment,
        "supply_temp_c": s.supply_temp_c,
        "capex_jpy": s.capex_jpy,
        "capex_given": s.capex_given,
        "predicted": {
            "annual_pue": s.predicted_pue,
            "hottest_inlet_nameplate_c": _round(s.predicted_hottest_inlet_c),
            "design_facility_power_w": s.predicted_design_facility_w,
            "tco_jpy": s.predicted_tco_jpy,
        },
        "verified": {
            "annual_pue": v.annual_pue,
            "load_frac": v.load_frac,
            "hottest_inlet_c": _round(v.hottest_inlet_c),
            "hottest_inlet_full_load_c": _round(s.verified_full_load.hottest_inlet_c),
            "facility_energy_kwh_per_year": v.facility_energy_j / J_PER_KWH,
            "electricity_cost_jpy_per_year": v.cost_jpy,
            "co2_kg_per_year": v.co2_kg,
            "design_facility_power_w": v.design_facility_power_w,
            "tco_jpy": s.tco_jpy,
            "warnings": list(v.warnings) + list(s.verified_full_load.warnings),
        },
    }


def plan_dict(result: PlanResult) -> dict[str, Any]:
    """JSON-ready description of the whole plan."""
    sol = result.solution
    out: dict[str, Any] = {
        "kiban_version": __version__,
        "scenario_name": result.scenario.display_name,
        "objective": sol.objective,
        "objective_value": sol.objective_value,
        "objective_units": {"tco": "million JPY", "pue": "PUE", "gpus": "-GPUs"}.get(
            sol.objective, ""
        ),
        "dual_bound": sol.dual_bound,
        "gap_frac": sol.gap_frac,
        "proven_optimal": sol.proven_optimal,
        "solve_s": sol.solve_s,
        "programs_solved": sol.n_programs,
        "configurations": len(result.problem.configs),
        "inlet_max_c": result.problem.inlet_max_c,
        "years": result.problem.years,
        "repairs": result.repairs,
        "plan": summary_dict(result.summary),
        "binding_constraints": list(result.binding),
        "notes": list(result.notes),
        "cooling_options": [option_row(o) for o in result.options],
    }
    pos = result.problem.positions
    for reach in (pos.cable, pos.pipe):
        if reach is not None:
            out.setdefault("reach", {})[reach.kind] = {
                "source_x_m": reach.source_x_m,
                "source_y_m": reach.source_y_m,
                "max_length_m": reach.max_length_m,
                "positions_within": int(reach.within.sum()),
                "positions": pos.n,
            }
    if result.sweep is not None:
        sw = result.sweep
        out["spacing_sweep"] = {
            "optimum_pitch_m": sw.optimum_pitch_m,
            "optimum_fit_pitch_m": float(sw.pitch_m[sw.optimum_fit_idx]),
            "interior_optimum": sw.interior_optimum,
        }
    return out


_PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("workload", "trace"),
    ("site", "climate", "hourly_csv"),
    ("catalog",),
)
"""Spec keys holding file paths (``workload.trace`` as ``FORMAT:PATH``)."""


def _portable_path(path: str, out_dir: Path) -> str:
    """``$KIBAN_DATA/...`` inside the public data folder, else relative to ``out_dir``."""
    from kiban.shared_data import default_data_root  # noqa: PLC0415

    target = Path(path)
    if not target.is_absolute():
        return path
    data = default_data_root().resolve()
    if target.resolve().is_relative_to(data):
        return "$KIBAN_DATA/" + target.resolve().relative_to(data).as_posix()
    return Path(os.path.relpath(target, out_dir.resolve())).as_posix()


def portable_layout_toml(text: str, out_dir: Path) -> str:
    """The layout TOML with machine-independent paths, as it will sit in ``out_dir``.

    The planner works with absolute paths; the file it writes must not: a trace in the public
    data folder becomes ``$KIBAN_DATA/...`` and any other file a path relative to the layout's
    own folder (which is how spec paths are read), so the folder can be moved or committed.
    """
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    doc = tomllib.loads(text)
    for keys in _PATH_KEYS:
        node: Any = doc
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get(keys[-1]), str):
            continue
        value = node[keys[-1]]
        if keys == ("workload", "trace") and ":" in value:
            fmt, path = value.split(":", 1)
            node[keys[-1]] = f"{fmt}:{_portable_path(path, out_dir)}"
        else:
            node[keys[-1]] = _portable_path(value, out_dir)
    return header + ("\n" if header else "") + tomli_w.dumps(doc)


def write_outputs(result: PlanResult, out_dir: Path) -> list[Path]:
    """Write every plan file into ``out_dir`` (created if needed); return the paths.

    Every file is rendered first and then all are written together (temporary files, then
    renames): a failure leaves neither half-written files nor a new empty folder behind.

    Raises:
        ConfigError: ``out_dir`` is a file or cannot be created or written.
    """
    files: dict[str, str | bytes] = {
        "layout.toml": portable_layout_toml(result.layout_toml, out_dir),
        "plan.json": json.dumps(plan_dict(result), indent=2, ensure_ascii=False) + "\n",
        "binding_constraints.txt": "".join(f"- {line}\n" for line in result.binding) or "- none\n",
        "floorplan.svg": floorplan_svg(result),
    }
    if result.options:
        files["cooling_options.csv"] = options_csv(result.options)
    if result.sweep is not None:
        files["spacing_sweep.csv"] = sweep_csv(result.sweep)
        files["spacing_sweep.svg"] = sweep_svg(result.sweep)
    return _write_group(out_dir, files)
