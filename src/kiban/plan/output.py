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


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


LABEL_MAX_PT = 6.0
"""Largest font of a rack label (points)."""
LABEL_MIN_PT = 2.5
"""Smallest readable font; below it a label keeps only the rack name."""
_CHAR_WIDTH_EM = 0.62
"""Average advance of a label character in ems (DejaVu Sans digits and capitals)."""


def rack_label_style(
    lines: list[str], width_pt: float, depth_pt: float
) -> tuple[list[str], float, float]:
    """Fit a rack label inside its rectangle: (lines kept, font size pt, rotation degrees).

    The font shrinks until the longest line fits the rack's width; a rack narrower than it is
    deep gets its label turned 90° when that allows a larger font; when even the smallest font
    does not fit, only the rack name is kept. Labels of neighbouring racks then never overlap.
    """

    def size(text_lines: list[str], across_pt: float, along_pt: float) -> float:
        chars = max(len(x) for x in text_lines)
        by_width = 0.9 * across_pt / max(chars * _CHAR_WIDTH_EM, 1e-9)
        by_height = 0.9 * along_pt / (1.25 * len(text_lines))
        return min(by_width, by_height, LABEL_MAX_PT)

    for kept in (lines, lines[:1]):
        flat, turned = size(kept, width_pt, depth_pt), size(kept, depth_pt, width_pt)
        best, rotation = (flat, 0.0) if flat >= turned else (turned, 90.0)
        if best >= LABEL_MIN_PT or kept is not lines:
            return kept, max(best, 1.0), rotation
    return lines[:1], LABEL_MIN_PT, 0.0  # pragma: no cover (loop always returns)


def floorplan_svg(result: PlanResult) -> str:
    """Draw the floor plan: the hall to scale and every candidate position.

    Used positions are coloured by cooling option and labelled with IT power and inlet
    temperature at full load (labels sized to fit their rack, see :func:`rack_label_style`);
    empty ones are dotted.
    """
    return _svg(floorplan_figure(result))


def floorplan_figure(result: PlanResult) -> Any:
    """The floor plan as a matplotlib ``Figure`` (see :func:`floorplan_svg`)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 (heavy import only when drawing)
    from matplotlib.patches import Patch, Rectangle  # noqa: PLC0415

    problem, n = result.problem, result.solution.n
    pos = problem.positions
    hall = result.scenario.hall
    verified = result.summary.verified_full_load
    inlet = dict(zip(verified.rack_names, verified.rack_inlet_temp_c, strict=True))
    power = dict(zip(verified.rack_names, verified.rack_it_power_w, strict=True))
    width = math.sqrt(float(np.median(pos.footprint_m2)) / max(pos.rack_depth_m, 0.1))
    fig_w_in, fig_h_in = max(6.0, hall.length_m / 2.0), max(4.0, hall.width_m / 2.0)
    fig = Figure(figsize=(fig_w_in, fig_h_in))
    ax = fig.add_subplot()
    # points per metre on the page, for an equal-aspect axes inside the default margins
    pt_per_m = 72.0 * min(
        0.775 * fig_w_in / (hall.length_m + 0.4), 0.77 * fig_h_in / (hall.width_m + 0.4)
    )
    ax.add_patch(Rectangle((0, 0), hall.length_m, hall.width_m, fill=False, lw=1.5, ec="#333333"))
    used_techs: set[str] = set()
    for r in range(pos.n):
        counts = n[r].sum(axis=1)
        x0 = pos.x_m[r] - width / 2.0
        y0 = pos.y_m[r] - pos.rack_depth_m / 2.0
        name = pos.names[r]
        if counts.sum() == 0:
            ax.add_patch(
                Rectangle((x0, y0), width, pos.rack_depth_m, fill=False, ls=":", ec="#999999")
            )
            continue
        tech = problem.techs[int(np.argmax(counts))].name
        used_techs.add(tech)
        ax.add_patch(
            Rectangle(
                (x0, y0),
                width,
                pos.rack_depth_m,
                fc=TECH_COLORS.get(tech, "#56B4E9"),
                ec="#222222",
                lw=0.6,
            )
        )
        t_in = inlet.get(name, math.nan)
        lines = [name, f"{power.get(name, 0.0) / W_PER_KW:.0f} kW"]
        if math.isfinite(t_in):
            lines.append(f"{t_in:.1f}°C")
        kept, font_pt, rotation = rack_label_style(
            lines, width * pt_per_m, pos.rack_depth_m * pt_per_m
        )
        ax.text(pos.x_m[r], pos.y_m[r], "\n".join(kept), ha="center", va="center",
                fontsize=font_pt, rotation=rotation, gid=f"rack-label-{name}")  # fmt: skip
    for reach, marker, color in ((pos.cable, "s", "#CC0000"), (pos.pipe, "D", "#0072B2")):
        if reach is None:
            continue
        words = "power feed" if reach.kind == "cable" else "CDU"
        label = (
            f"{words}: {reach.kind} ≤ {reach.max_length_m:g} m "
            f"({int(reach.within.sum())} positions within)"
        )
        ax.plot([reach.source_x_m], [reach.source_y_m], marker, color=color, ms=6, label=label)
        ax.text(reach.source_x_m, reach.source_y_m, f" {words}", fontsize=6, va="bottom")
    ax.set_xlim(-0.2, hall.length_m + 0.2)
    ax.set_ylim(-0.2, hall.width_m + 0.2)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    s = result.summary
    ax.set_title(
        f"{result.scenario.display_name}: {s.n_racks} racks, {s.n_servers} servers; "
        f"{s.containment} containment, {s.supply_temp_c:g} °C supply\n"
        f"label: rack, IT power and inlet at full load",
        fontsize=8,
    )
    handles = [
        Patch(fc=TECH_COLORS.get(t, "#56B4E9"), ec="#222222", label=t) for t in sorted(used_techs)
    ]
    handles.append(Patch(fill=False, ls=":", ec="#999999", label="empty position"))
    markers, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + markers, loc="upper right", fontsize=6, framealpha=0.9)
    return fig


def sweep_svg(sweep: SpacingSweep) -> str:
    """Plot the spacing sweep with the optimum marked.

    Two panels against pitch: hottest inlet (packed → hotter) and cooling power (spread → more
    air handling).
    """
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(6.5, 6.0))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    p = sweep.pitch_m
    ax1.plot(
        p,
        sweep.hottest_inlet_c,
        "o-",
        color="#D55E00",
        ms=3,
        label=f"hottest inlet at {sweep.supply_fixed_c:g} °C supply",
    )
    ax1.axhline(
        sweep.inlet_max_c,
        color="#333333",
        ls="--",
        lw=0.8,
        label=f"inlet limit {sweep.inlet_max_c:g} °C",
    )
    ax1.set_ylabel("temperature (°C)")
    ax1.legend(fontsize=7)
    kw = W_PER_KW
    ax2.plot(
        p,
        sweep.air_handling_power_w / kw,
        "s-",
        color="#0072B2",
        ms=3,
        label="air handling (CRAH fans, bypass)",
    )
    ax2.plot(
        p,
        sweep.plant_power_w / kw,
        "^-",
        color="#E69F00",
        ms=3,
        label="chillers/pumps at the highest allowed supply",
    )
    ax2.plot(p, sweep.total_power_w / kw, "o-", color="#009E73", ms=3, label="total")
    i = sweep.optimum_idx
    ax2.plot(
        [p[i]],
        [sweep.total_power_w[i] / kw],
        "*",
        color="#CC0000",
        ms=14,
        label=f"optimum {p[i]:.1f} m",
    )
    if not sweep.fits_hall.all():
        cut = p[sweep.fits_hall].max() if sweep.fits_hall.any() else p.min()
        ax2.axvspan(cut, p.max(), color="#dddddd", alpha=0.5, lw=0, label="longer than the hall")
    ax2.set_xlabel("rack pitch along the row (m)")
    ax2.set_ylabel("mean power (kW)")
    ax2.legend(fontsize=7)
    fig.suptitle(
        f"Spacing trade-off: {sweep.n_rows} × {sweep.racks_per_row} racks, "
        f"{sweep.rack_air_heat_w / kw:.1f} kW of room-air heat each, "
        f"containment {sweep.containment}",
        fontsize=9,
    )
    return _svg(fig)


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
