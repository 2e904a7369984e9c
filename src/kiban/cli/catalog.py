"""``kiban catalog list|show``: browse the hardware catalog with units and sources."""

from __future__ import annotations

import enum
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kiban.cli._app import app, console
from kiban.units import (
    B_PER_GB,
    HZ_PER_MHZ,
    M3_PER_S_PER_CFM,
    PERCENT_PER_FRAC,
    W_PER_KW,
    unit_of,
)

if TYPE_CHECKING:
    from kiban.catalog import Catalog, Kind, Record

catalog_app = typer.Typer(
    help="Browse the hardware catalog (GPUs, servers, cooling, UPS and PDU classes).",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")


class KindOption(enum.StrEnum):
    """Catalog kinds accepted by ``--kind``."""

    gpu = "gpu"
    server = "server"
    cooling = "cooling"
    ups = "ups"
    pdu = "pdu"


_KIND_BY_OPTION: dict[KindOption, Kind] = {
    KindOption.gpu: "gpu",
    KindOption.server: "server",
    KindOption.cooling: "cooling",
    KindOption.ups: "ups",
    KindOption.pdu: "pdu",
}

CatalogFileOption = Annotated[
    Path | None, typer.Option("--catalog", help="A user catalog TOML file to apply.")
]


def _catalog(user_file: Path | None) -> Catalog:
    from kiban.catalog import default_catalog, load_catalog  # noqa: PLC0415 (startup time)

    return default_catalog() if user_file is None else load_catalog(user_file)


def _row(rec: Record) -> tuple[list[str], list[str]]:
    """(header, cells) of one record's summary row."""
    from kiban.catalog import CoolingTech, GpuSku, PduClass, ServerModel, UpsClass  # noqa: PLC0415

    pct = PERCENT_PER_FRAC
    if isinstance(rec, GpuSku):
        return (
            ["name", "TDP W", "min W", "idle W", "clock MHz", "memory GB", "BW GB/s", "cooling"],
            [
                rec.name,
                f"{rec.tdp_w:g}",
                f"{rec.min_power_limit_w:g}",
                f"{rec.idle_empty_power_w:g}/{rec.idle_context_power_w:g}",
                f"{rec.max_sm_clock_hz / HZ_PER_MHZ:g}",
                f"{rec.memory_b / B_PER_GB:g}",
                f"{rec.memory_bw_b_per_s / B_PER_GB:g}",
                rec.cooling,
            ],
        )
    if isinstance(rec, ServerModel):
        return (
            ["name", "GPU", "GPUs", "max kW", "weight kg", "U", "airflow CFM", "liquid %"],
            [
                rec.name + (" (rack-scale)" if rec.is_rack_scale else ""),
                rec.gpu,
                str(rec.n_gpus),
                f"{rec.max_power_w / W_PER_KW:g}",
                f"{rec.weight_kg:g}",
                str(rec.rack_units),
                f"{rec.airflow_m3_per_s / M3_PER_S_PER_CFM:.0f}",
                f"{rec.liquid_capture_frac * pct:g}",
            ],
        )
    if isinstance(rec, CoolingTech):
        return (
            ["name", "medium", "max kW/rack", "liquid %", "supply °C", "PUE (low-typ-high)"],
            [
                rec.name,
                rec.medium,
                f"{rec.max_rack_power_w / W_PER_KW:g}",
                f"{rec.liquid_capture_frac * pct:g}",
                f"{rec.supply_temp_min_c:g}–{rec.supply_temp_max_c:g}",
                f"{rec.pue_low:g}–{rec.pue_typical or 0:g}–{rec.pue_high:g}",
            ],
        )
    if isinstance(rec, UpsClass):
        return (
            ["name", "L0 (no load)", "L1 (prop.)", "L2 (square)", "efficiency %"],
            [
                rec.name,
                f"{rec.no_load_loss_frac:g}",
                f"{rec.proportional_loss_frac:g}",
                f"{rec.square_loss_frac:g}",
                f"{rec.efficiency_low_frac * pct:g}–{rec.efficiency_high_frac * pct:g}",
            ],
        )
    if not isinstance(rec, PduClass):  # exhaustive over Record; a new kind must be added here
        msg = f"no table layout for {type(rec).__name__}"
        raise TypeError(msg)
    return (
        ["name", "level", "rated kW", "loss %"],
        [rec.name, rec.level, f"{rec.rated_power_w / W_PER_KW:.4g}", f"{rec.loss_frac * pct:g}"],
    )


@catalog_app.command("list")
def list_entries(
    kind: Annotated[KindOption | None, typer.Option("--kind", help="Only this kind.")] = None,
    catalog_file: CatalogFileOption = None,
) -> None:
    """List catalog entries, one table per kind."""
    cat = _catalog(catalog_file)
    from kiban.catalog import KIND_LABELS, KINDS  # noqa: PLC0415 (startup time)

    kinds: tuple[Kind, ...] = KINDS if kind is None else (_KIND_BY_OPTION[kind],)
    from kiban._tables import fit_table  # noqa: PLC0415 (startup time)

    for k in kinds:
        records = list(cat.table(k).values())
        header, _ = _row(records[0])
        rows = [_row(rec)[1] for rec in records]
        console.print(
            fit_table(header, rows, console.width, title=f"{KIND_LABELS[k]} ({len(records)})")
        )


def _friendly(name: str, value: Any) -> str:
    """An engineer-unit rendering next to the SI value (kW, GB, MHz, CFM, %)."""
    if not isinstance(value, float):
        return ""
    if name.endswith("_power_w") or name.endswith("rated_power_w") or name == "tdp_w":
        return f"{value / W_PER_KW:g} kW" if value >= W_PER_KW else ""
    if name.endswith("_b_per_s"):
        return f"{value / B_PER_GB:g} GB/s"
    if name.endswith("_b"):
        return f"{value / B_PER_GB:g} GB"
    if name.endswith("_hz"):
        return f"{value / HZ_PER_MHZ:g} MHz"
    if name.endswith("_m3_per_s"):
        return f"{value / M3_PER_S_PER_CFM:.0f} CFM"
    if name.endswith("_frac"):
        return f"{value * PERCENT_PER_FRAC:g} %"
    return ""


@catalog_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Entry name, e.g. dgx-h100.", show_default=False)],
    catalog_file: CatalogFileOption = None,
) -> None:
    """Show every field of one catalog entry with its unit, and the entry's source."""
    from rich.markup import escape  # noqa: PLC0415 (startup time)
    from rich.table import Table  # noqa: PLC0415

    from kiban.catalog import KIND_LABELS, ServerModel  # noqa: PLC0415 (startup time)

    cat = _catalog(catalog_file)
    kind, rec = cat.find(name)
    table = Table(title=f"{KIND_LABELS[kind]} {rec.name}", title_justify="left")
    for col in ("field", "value", "unit", "≈"):
        table.add_column(col)
    for f in fields(rec):
        if f.name in {"name", "source"}:
            continue
        value = getattr(rec, f.name)
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        unit = unit_of(f.name) or ""
        unit = "°C" if unit == "degC" else ("" if unit == "1" else unit)
        table.add_row(f.name, escape(shown), unit, _friendly(f.name, value))
    if isinstance(rec, ServerModel):
        table.add_row("gpu record", escape(cat.gpu(rec.gpu).name), "", "see: kiban catalog show")
    console.print(table)
    mig = getattr(rec, "mig", "")
    if mig:
        from kiban.mig import MIG_GEOMETRIES  # noqa: PLC0415 (startup time)

        geo = MIG_GEOMETRIES[mig]
        rows = "; ".join(
            f"{p.name} ({p.compute_slices}/7 compute, {p.memory_slices}/8 memory slices, "
            f"starts {','.join(map(str, p.starts))}, ×{p.max_instances})"
            for p in geo.profiles.values()
        )
        console.print(
            f"[bold]MIG profiles ({mig}):[/bold] {escape(rows)}", soft_wrap=True, highlight=False
        )
        console.print(f"[bold]MIG source:[/bold] {escape(geo.source)}", soft_wrap=True)
    console.print(f"[bold]source:[/bold] {escape(rec.source)}", soft_wrap=True, highlight=False)
