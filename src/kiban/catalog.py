"""Hardware catalog: frozen records for GPUs, servers, cooling technologies, UPS and PDU classes.

Every number comes from a CSV under ``kiban/data/`` whose numeric columns carry their unit in the
name and whose ``source`` column cites the document (and table or page) it was taken from.
A user catalog (TOML) can add entries and override values; see :func:`load_catalog`.

The CSV tables are in SI units (W, Hz, B, B/s, m³/s, kg, m²), with °C for temperatures, so a
record's fields are used as they are. Weak values say so in their ``source`` text ("ASSUMED",
"WEAK", "[R]" recalled, "[D]" derived), following the evidence tags of ``reference/physics.md``.

User catalog format (TOML; one table per kind, one sub-table per entry)::

    [gpu.h100-sxm]          # an existing entry: override single values
    tdp_w = 650

    [server.my-box]         # a new entry: every field except ``source`` is required
    gpu = "l40s"
    n_gpus = 4
    ...
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import math
import tomllib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, TypeVar

from kiban.errors import CatalogError, ConfigError
from kiban.mig import MigGeometryName
from kiban.units import unit_of

CoolingMedium = Literal["air", "liquid", "immersion"]
PduLevel = Literal["rack", "room"]
Kind = Literal["gpu", "server", "cooling", "ups", "pdu"]

KINDS: tuple[Kind, ...] = ("gpu", "server", "cooling", "ups", "pdu")
"""The catalog kinds, in display order; also the table names of a user catalog file."""


@dataclass(frozen=True, slots=True)
class GpuSku:
    """One GPU model (board) and the parameters of its power, DVFS and thermal models.

    Power model (physics.md §2.2): P = P_idle + (P_tdp − P_idle)·A·(f/f_max)^γ.
    Thermal model (physics.md §3.1): C·dT/dt = P − (T − T_in)/R, τ = R·C.
    """

    name: str
    tdp_w: float
    min_power_limit_w: float
    idle_empty_power_w: float
    idle_context_power_w: float
    max_sm_clock_hz: float
    memory_b: float
    memory_bw_b_per_s: float
    shutdown_temp_c: float
    slowdown_temp_c: float
    max_operating_temp_c: float
    mem_max_temp_c: float
    die_to_inlet_k_per_w: float
    thermal_time_constant_s: float
    power_exponent: float
    static_power_frac: float
    cooling: CoolingMedium
    source: str
    resnet50_train_img_per_s: float = 0.0
    """Published single-GPU ResNet-50 training throughput, images/s, in the precision
    practitioners use on that GPU (FP32 on Pascal, mixed precision from Volta on); 0 = not
    published (a job's input rate then scales with memory bandwidth instead). Sources in
    ``source``; used by :func:`kiban.physics.storage_io.input_rate_scale`."""
    mig: MigGeometryName = ""
    """MIG geometry of the GPU: a key of :data:`kiban.mig.MIG_GEOMETRIES` (its profiles and their
    placements, from NVIDIA's MIG User Guide); "" = not MIG-capable."""


@dataclass(frozen=True, slots=True)
class ServerModel:
    """One server (or rack-scale system) model: its GPUs, host power, weight, size and airflow.

    ``n_gpus`` GPUs of ``gpu`` plus a host (CPUs, memory, NICs, fans). ``host_idle_power_w`` and
    ``host_max_power_w`` exclude GPUs and fans; ``fan_max_power_w`` is fan power at full speed
    (affinity law P ∝ N³). ``liquid_capture_frac`` is the share of heat taken by liquid (0 for air).
    ``max_power_w`` is wall power at full load, so
    ``max_power_w ≈ (n_gpus·tdp_w + host_max_power_w + fan_max_power_w) / psu_efficiency_frac``
    (the catalog test checks this). ``max_inlet_temp_c`` is the highest allowed inlet air
    temperature of the vendor's operating range.
    """

    name: str
    gpu: str
    n_gpus: int
    max_power_w: float
    host_idle_power_w: float
    host_max_power_w: float
    fan_max_power_w: float
    psu_efficiency_frac: float
    weight_kg: float
    rack_units: int
    airflow_m3_per_s: float
    liquid_capture_frac: float
    footprint_m2: float
    is_rack_scale: bool
    source: str
    max_inlet_temp_c: float = 30.0
    host_cpu_cores: int = 0
    """Host CPU cores of the server (data-loader workers share them); 0 = unknown."""
    local_nvme_b: float = 0.0
    """Local NVMe capacity for a data cache (B); 0 = unknown (a scenario's cache is not checked)."""
    psu_count: int = 0
    """Power supply units of the server; 0 = unknown (a partial feed loss is ridden through)."""
    psu_rating_w: float = 0.0
    """Output rating of one PSU at the site's voltage (W)."""
    psu_redundant_count: int = 0
    """R of the vendor's N+R PSU redundancy (DGX H100: 4+2 → 2)."""

    def psu_capacity_w(self, working_psus: int | None = None) -> float:
        """What ``working_psus`` PSUs (default all) can deliver, W (inf if the PSUs are unknown)."""
        if self.psu_count <= 0 or self.psu_rating_w <= 0.0:
            return math.inf
        n = self.psu_count if working_psus is None else working_psus
        return max(n, 0) * self.psu_rating_w


@dataclass(frozen=True, slots=True)
class CoolingTech:
    """A cooling technology for a rack: its per-rack capacity and how heat leaves the room.

    ``liquid_capture_frac`` is the share of IT heat taken by liquid; the rest goes to room air.
    ``recirculation_frac`` is the share of exhaust air that returns to inlets at the reference
    rack pitch (open aisles ≈ 0.1–0.2; containment ≈ 0.02). ``pue_low``/``pue_high`` give the
    published annual PUE band for a typical design using it, ``pue_typical`` its usual value.
    ``capex_jpy_per_kw`` is the capital cost of the cooling plant per kW of IT heat it removes and
    ``rack_capex_jpy`` that of one rack position (enclosure), JPY, sourced in ``source``.
    ``supply_temp_min_c``/``supply_temp_max_c`` bound the supply set-point: air temperature at
    the server inlet for ``medium == "air"``, facility-water temperature otherwise.
    """

    name: str
    medium: CoolingMedium
    max_rack_power_w: float
    liquid_capture_frac: float
    recirculation_frac: float
    supply_temp_min_c: float
    supply_temp_max_c: float
    pue_low: float
    pue_high: float
    source: str
    pue_typical: float | None = None
    capex_jpy_per_kw: float | None = None
    rack_capex_jpy: float | None = None


@dataclass(frozen=True, slots=True)
class UpsClass:
    """A UPS class and its loss curve: loss = P_rated·(L0 + L1·x + L2·x²), x = load fraction.

    ``efficiency_low_frac``/``efficiency_high_frac`` give the published efficiency band of the
    class (LBNL 2024 Table 4.3); the loss coefficients put the 50 %-load efficiency inside it.
    ``capex_jpy_per_kw`` is the capital cost of the power chain per kW of IT, JPY (``source``).
    """

    name: str
    no_load_loss_frac: float
    proportional_loss_frac: float
    square_loss_frac: float
    source: str
    efficiency_low_frac: float = 0.0
    efficiency_high_frac: float = 1.0
    capex_jpy_per_kw: float | None = None


@dataclass(frozen=True, slots=True)
class PduClass:
    """A PDU / transformer class: rated power and proportional loss at full load.

    ``level`` is ``"rack"`` for a rack PDU (its rating bounds one rack's feed) or ``"room"`` for
    a floor PDU, transformer or busway (its loss applies to the whole IT load).
    """

    name: str
    rated_power_w: float
    loss_frac: float
    source: str
    level: PduLevel = "rack"


Record: TypeAlias = GpuSku | ServerModel | CoolingTech | UpsClass | PduClass
_R = TypeVar("_R", GpuSku, ServerModel, CoolingTech, UpsClass, PduClass)

_RECORD_TYPES: dict[Kind, type[Record]] = {
    "gpu": GpuSku,
    "server": ServerModel,
    "cooling": CoolingTech,
    "ups": UpsClass,
    "pdu": PduClass,
}
_CSV_FILES: dict[Kind, str] = {
    "gpu": "gpus.csv",
    "server": "servers.csv",
    "cooling": "cooling.csv",
    "ups": "ups.csv",
    "pdu": "pdu.csv",
}
KIND_LABELS: dict[Kind, str] = {
    "gpu": "GPU",
    "server": "server",
    "cooling": "cooling technology",
    "ups": "UPS class",
    "pdu": "PDU class",
}
"""Human names of the kinds, used in messages."""

DIMENSIONLESS_FIELDS: frozenset[str] = frozenset(
    {
        "n_gpus",
        "rack_units",
        "power_exponent",
        "pue_low",
        "pue_high",
        "pue_typical",
        "host_cpu_cores",
        "psu_count",
        "psu_redundant_count",
    }
)
"""Numeric fields that carry no unit suffix on purpose (counts, exponents, PUE)."""

# Plausible range of each numeric field (in the field's own unit), and the alternative units a
# user may have typed by mistake: (factor from that unit to ours, unit name). Used to validate
# user catalogs (shipped values are tested against the same table).
_Alt: TypeAlias = tuple[float, str]
_PLAUSIBLE: dict[str, tuple[float, float, tuple[_Alt, ...]]] = {
    "tdp_w": (10.0, 3000.0, ((1000.0, "kW"),)),
    "min_power_limit_w": (10.0, 3000.0, ((1000.0, "kW"),)),
    "idle_empty_power_w": (1.0, 1000.0, ((1000.0, "kW"),)),
    "idle_context_power_w": (1.0, 1500.0, ((1000.0, "kW"),)),
    "max_sm_clock_hz": (1.0e8, 5.0e9, ((1.0e6, "MHz"), (1.0e9, "GHz"))),
    "memory_b": (1.0e9, 2.0e12, ((1.0e9, "GB"),)),
    "memory_bw_b_per_s": (1.0e10, 1.0e14, ((1.0e9, "GB/s"), (1.0e12, "TB/s"))),
    "resnet50_train_img_per_s": (0.0, 100_000.0, ()),
    "shutdown_temp_c": (40.0, 130.0, ()),
    "slowdown_temp_c": (40.0, 130.0, ()),
    "max_operating_temp_c": (40.0, 130.0, ()),
    "mem_max_temp_c": (40.0, 130.0, ()),
    "die_to_inlet_k_per_w": (0.001, 1.0, ()),
    "thermal_time_constant_s": (0.1, 3600.0, ((60.0, "min"),)),
    "power_exponent": (1.0, 4.0, ()),
    "static_power_frac": (0.0, 1.0, ((0.01, "%"),)),
    "n_gpus": (1.0, 1000.0, ()),
    "max_power_w": (100.0, 300_000.0, ((1000.0, "kW"),)),
    "host_idle_power_w": (0.0, 100_000.0, ((1000.0, "kW"),)),
    "host_max_power_w": (0.0, 100_000.0, ((1000.0, "kW"),)),
    "fan_max_power_w": (0.0, 30_000.0, ((1000.0, "kW"),)),
    "psu_efficiency_frac": (0.5, 1.0, ((0.01, "%"),)),
    "weight_kg": (1.0, 5000.0, ((0.45359237, "lb"),)),
    "rack_units": (1.0, 60.0, ()),
    "host_cpu_cores": (0.0, 100_000.0, ()),
    "local_nvme_b": (0.0, 1.0e15, ((1.0e12, "TB"), (1.0e9, "GB"))),
    "psu_count": (0.0, 1000.0, ()),
    "psu_rating_w": (0.0, 100_000.0, ((1000.0, "kW"),)),
    "psu_redundant_count": (0.0, 1000.0, ()),
    "airflow_m3_per_s": (0.001, 20.0, ((0.00047194745, "CFM"),)),
    "liquid_capture_frac": (0.0, 1.0, ((0.01, "%"),)),
    "footprint_m2": (0.05, 5.0, ()),
    "max_inlet_temp_c": (10.0, 60.0, ()),
    "max_rack_power_w": (1000.0, 500_000.0, ((1000.0, "kW"),)),
    "recirculation_frac": (0.0, 1.0, ((0.01, "%"),)),
    "supply_temp_min_c": (-10.0, 60.0, ()),
    "supply_temp_max_c": (-10.0, 60.0, ()),
    "pue_low": (1.0, 3.0, ()),
    "pue_high": (1.0, 3.0, ()),
    "pue_typical": (1.0, 3.0, ()),
    "no_load_loss_frac": (0.0, 0.3, ((0.01, "%"),)),
    "proportional_loss_frac": (0.0, 0.3, ((0.01, "%"),)),
    "square_loss_frac": (0.0, 0.3, ((0.01, "%"),)),
    "efficiency_low_frac": (0.5, 1.0, ((0.01, "%"),)),
    "efficiency_high_frac": (0.5, 1.0, ((0.01, "%"),)),
    "rated_power_w": (100.0, 5.0e6, ((1000.0, "kW"),)),
    "loss_frac": (0.0, 0.1, ((0.01, "%"),)),
}


def plausible_range(field_name: str) -> tuple[float, float] | None:
    """Return the plausible (low, high) range of a numeric catalog field, or None if unbounded.

    Examples:
        >>> plausible_range("tdp_w")
        (10.0, 3000.0)
    """
    entry = _PLAUSIBLE.get(field_name)
    return None if entry is None else (entry[0], entry[1])


def close_match(name: str, choices: Iterable[str]) -> str | None:
    """Return the closest of ``choices`` to ``name`` (difflib ratio ≥ 0.6), or None.

    Examples:
        >>> close_match("dgx-h10", ["dgx-h100", "dgx-a100"])
        'dgx-h100'
    """
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    key = name.lower()
    found = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    if not found and key:
        # Prefix matches catch abbreviations difflib scores low ("h100" -> "h100-sxm").
        found = [c for c in lowered if c.startswith(key)][:1]
    found = [lowered[f] for f in found]
    return found[0] if found else None


def suggestion(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'X'?"`` for the closest choice, or an empty string."""
    best = close_match(name, choices)
    return f"; did you mean '{best}'?" if best else ""


@dataclass(frozen=True)
class Catalog:
    """The hardware catalog: name → record for each kind, read-only.

    Built by :func:`load_catalog`; records never change after loading. Look-ups by name raise
    :class:`~kiban.errors.CatalogError` naming the closest known entry.
    """

    gpus: Mapping[str, GpuSku]
    servers: Mapping[str, ServerModel]
    cooling_techs: Mapping[str, CoolingTech]
    ups_classes: Mapping[str, UpsClass]
    pdu_classes: Mapping[str, PduClass]
    sources: tuple[str, ...] = ()
    """Files the catalog was built from (the packaged CSVs, then the user file if any)."""

    def table(self, kind: Kind) -> Mapping[str, Record]:
        """Return the name → record mapping of one kind (``"gpu"``, ``"server"``, ...)."""
        tables: dict[Kind, Mapping[str, Any]] = {
            "gpu": self.gpus,
            "server": self.servers,
            "cooling": self.cooling_techs,
            "ups": self.ups_classes,
            "pdu": self.pdu_classes,
        }
        return typing.cast("Mapping[str, Record]", tables[kind])

    def _get(self, kind: Kind, table: Mapping[str, _R], name: str) -> _R:
        try:
            return table[name]
        except KeyError:
            pass
        if not isinstance(name, str):
            msg = f"{KIND_LABELS[kind]} name must be a string, got {name!r}"
            raise CatalogError(msg) from None
        hint = suggestion(name, table)
        known = ", ".join(sorted(table))
        msg = f"unknown {KIND_LABELS[kind]} '{name}'{hint or ';'} known: {known}"
        raise CatalogError(msg) from None

    def gpu(self, name: str) -> GpuSku:
        """Return the GPU record called ``name``.

        Raises:
            CatalogError: unknown name (the message suggests the closest one).
        """
        return self._get("gpu", self.gpus, name)

    def server(self, name: str) -> ServerModel:
        """Return the server model called ``name``.

        Raises:
            CatalogError: unknown name (the message suggests the closest one).
        """
        return self._get("server", self.servers, name)

    def cooling(self, name: str) -> CoolingTech:
        """Return the cooling technology called ``name``.

        Raises:
            CatalogError: unknown name (the message suggests the closest one).
        """
        return self._get("cooling", self.cooling_techs, name)

    def ups(self, name: str) -> UpsClass:
        """Return the UPS class called ``name``.

        Raises:
            CatalogError: unknown name (the message suggests the closest one).
        """
        return self._get("ups", self.ups_classes, name)

    def pdu(self, name: str) -> PduClass:
        """Return the PDU class called ``name``.

        Raises:
            CatalogError: unknown name (the message suggests the closest one).
        """
        return self._get("pdu", self.pdu_classes, name)

    def server_gpu(self, server: ServerModel | str) -> GpuSku:
        """Return the GPU record of a server model (given as record or name)."""
        record = self.server(server) if isinstance(server, str) else server
        return self.gpu(record.gpu)

    def find(self, name: str) -> tuple[Kind, Record]:
        """Return ``(kind, record)`` of the entry called ``name``, searching every kind.

        Raises:
            CatalogError: no kind has that name (the message suggests the closest one).
        """
        for kind in KINDS:
            table = self.table(kind)
            if name in table:
                return kind, table[name]
        everything = [n for kind in KINDS for n in self.table(kind)]
        hint = suggestion(name, everything)
        msg = f"no catalog entry named '{name}'{hint or ''}"
        if not hint:
            msg += "; run `kiban catalog list` to see every name"
        raise CatalogError(msg)


# --- loading ------------------------------------------------------------------------------


def record_fields(kind: Kind) -> dict[str, Any]:
    """Return ``field name -> resolved type`` of the record class of ``kind``, in order."""
    cls = _RECORD_TYPES[kind]
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _required_fields(kind: Kind) -> list[str]:
    cls = _RECORD_TYPES[kind]
    return [
        f.name
        for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING and f.name != "name"
    ]


def _literal_choices(tp: Any) -> tuple[str, ...] | None:
    if typing.get_origin(tp) is Literal:
        return tuple(str(a) for a in typing.get_args(tp))
    return None


def _base_type(tp: Any) -> tuple[Any, bool]:
    """Return (the non-None member type, whether None is allowed)."""
    args = typing.get_args(tp)
    if args and type(None) in args and _literal_choices(tp) is None:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def _parse_csv_cell(text: str, tp: Any, where: str) -> Any:
    """Convert one CSV cell to the record field's type (raises CatalogError on a bad cell)."""
    base, optional = _base_type(tp)
    text = text.strip()
    if optional and text == "":
        return None
    choices = _literal_choices(base)
    try:
        if choices is not None:
            if text not in choices:
                raise ValueError(text)
            return text
        if base is bool:
            if text.lower() not in {"true", "false"}:
                raise ValueError(text)
            return text.lower() == "true"
        if base is int:
            return int(text)
        if base is float:
            return float(text)
    except ValueError:
        msg = f"{where} = {text!r} is not a valid {getattr(base, '__name__', base)}"
        raise CatalogError(msg) from None
    return text


def _read_csv(kind: Kind) -> dict[str, Record]:
    """Read one packaged CSV table into name → record (CatalogError if malformed)."""
    filename = _CSV_FILES[kind]
    resource = resources.files("kiban").joinpath("data", filename)
    types = record_fields(kind)
    cls = _RECORD_TYPES[kind]
    out: dict[str, Record] = {}
    text = resource.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    missing = [f for f in types if f not in header]
    extra = [h for h in header if h not in types]
    if missing or extra:
        msg = f"kiban/data/{filename}: columns missing {missing}, unexpected {extra}"
        raise CatalogError(msg)
    for line_no, row in enumerate(reader, start=2):
        where = f"kiban/data/{filename}:{line_no}"
        values = {key: _parse_csv_cell(row[key], types[key], f"{where}: {key}") for key in header}
        record = cls(**values)
        if record.name in out:
            msg = f"kiban/data/{filename}:{line_no}: duplicate name '{record.name}'"
            raise CatalogError(msg)
        out[record.name] = record
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if not isinstance(value, float) else f"{value:g}"


def _check_value(kind: Kind, field_name: str, value: Any, tp: Any) -> tuple[Any, str | None]:
    """Validate one user-catalog value; return (converted value, problem or None)."""
    base, optional = _base_type(tp)
    choices = _literal_choices(base)
    if choices is not None:
        if value not in choices:
            shown = ", ".join(c or '""' for c in choices)  # "" (e.g. mig: none) shown quoted
            return value, f"allowed: {shown}"
        return value, None
    if base is str:
        if not isinstance(value, str) or not value.strip():
            return value, "must be a non-empty string"
        return value, None
    if base is bool:
        if not isinstance(value, bool):
            return value, "must be true or false"
        return value, None
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return value, "must be a whole number"
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if optional and value is None:
                return None, None
            return value, "must be a number"
        value = float(value)
    if not math.isfinite(float(value)):
        return value, "must be a finite number"
    entry = _PLAUSIBLE.get(field_name)
    if entry is None:
        return value, None
    low, high, alts = entry
    if low <= float(value) <= high:
        return value, None
    unit = _unit_label(field_name)
    if float(value) < 0.0:
        return value, f"must not be negative (plausible {low:g}–{high:g}{unit})"
    hint = ""
    for factor, alt_unit in alts:
        converted = float(value) * factor
        if low <= converted <= high:
            hint = f"; did you mean {alt_unit}? ({value:g} {alt_unit} = {converted:g}{unit})"
            break
    what = KIND_LABELS[kind]
    return value, f"implausible for a {what} (expected {low:g}–{high:g}{unit}){hint}"


def _unit_label(field_name: str) -> str:
    unit = unit_of(field_name)
    if unit is None or unit == "1":
        return ""
    return " °C" if unit == "degC" else f" {unit}"


def _consistency_problems(kind: Kind, rec: Record, known_gpus: Mapping[str, GpuSku]) -> list[str]:
    """Cross-field checks of one record; each problem is 'field = value: what is allowed'."""
    out: list[str] = []
    if isinstance(rec, GpuSku):
        if rec.min_power_limit_w > rec.tdp_w:
            out.append(
                f"min_power_limit_w = {rec.min_power_limit_w:g}: must not exceed "
                f"tdp_w = {rec.tdp_w:g}"
            )
        if not rec.idle_empty_power_w <= rec.idle_context_power_w <= rec.tdp_w:
            out.append(
                f"idle_context_power_w = {rec.idle_context_power_w:g}: must lie between "
                f"idle_empty_power_w = {rec.idle_empty_power_w:g} and tdp_w = {rec.tdp_w:g}"
            )
        if not rec.max_operating_temp_c <= rec.slowdown_temp_c <= rec.shutdown_temp_c:
            out.append(
                f"slowdown_temp_c = {rec.slowdown_temp_c:g}: thresholds must satisfy "
                "max_operating_temp_c ≤ slowdown_temp_c ≤ shutdown_temp_c"
            )
    elif isinstance(rec, ServerModel):
        if rec.gpu not in known_gpus:
            out.append(
                f'gpu = "{rec.gpu}": unknown GPU{suggestion(rec.gpu, known_gpus)} '
                f"(known: {', '.join(sorted(known_gpus))})"
            )
        if rec.host_idle_power_w > rec.host_max_power_w:
            out.append(
                f"host_idle_power_w = {rec.host_idle_power_w:g}: must not exceed "
                f"host_max_power_w = {rec.host_max_power_w:g}"
            )
    elif isinstance(rec, CoolingTech):
        if rec.supply_temp_min_c > rec.supply_temp_max_c:
            out.append(
                f"supply_temp_min_c = {rec.supply_temp_min_c:g}: must not exceed "
                f"supply_temp_max_c = {rec.supply_temp_max_c:g}"
            )
        if rec.pue_low > rec.pue_high:
            out.append(f"pue_low = {rec.pue_low:g}: must not exceed pue_high = {rec.pue_high:g}")
    elif isinstance(rec, UpsClass) and rec.efficiency_low_frac > rec.efficiency_high_frac:
        out.append(
            f"efficiency_low_frac = {rec.efficiency_low_frac:g}: must not exceed "
            f"efficiency_high_frac = {rec.efficiency_high_frac:g}"
        )
    del kind
    return out


def _read_user_file(path: Path) -> dict[str, Any]:
    """Parse a user catalog TOML file into a dict (ConfigError with one line if unreadable)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = f"{path}: user catalog file not found"
        raise ConfigError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a folder, expected a user catalog TOML file"
        raise ConfigError(msg) from None
    except OSError as err:
        msg = f"{path}: cannot read user catalog ({err.strerror})"
        raise ConfigError(msg) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"{path}: not a UTF-8 text file (binary data?); a user catalog is TOML text"
        raise ConfigError(msg) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{path}: invalid TOML: {err}"
        raise ConfigError(msg) from None


_SCENARIO_KEYS = frozenset(
    {"site", "hall", "power", "fleet", "workload", "policies", "simulation", "storage", "plan"}
)
"""Top-level keys of a scenario file (a common mix-up: passing one as a user catalog)."""


def _apply_user_catalog(
    path: Path, data: Mapping[str, Any], tables: dict[Kind, dict[str, Record]]
) -> None:
    """Merge a parsed user catalog into ``tables`` in place; ConfigError lists every problem."""
    problems: list[str] = []
    scenario_keys = sorted(k for k in data if k in _SCENARIO_KEYS)
    if len(scenario_keys) >= 2:  # two scenario sections: surely not a catalog
        found = ", ".join(f"[[{k}]]" if k == "fleet" else f"[{k}]" for k in scenario_keys)
        msg = (
            f"{path}: has {found}: this is a scenario "
            "file, not a user catalog; a user catalog holds [gpu.NAME], [server.NAME], "
            "[cooling.NAME], [ups.NAME] or [pdu.NAME] tables"
        )
        raise ConfigError(msg)
    for kind_key, entries in data.items():
        if kind_key not in _RECORD_TYPES:
            hint = suggestion(kind_key, KINDS)
            shown = "{...}" if isinstance(entries, dict) else _fmt(entries)
            problems.append(
                f"{path}: {kind_key} = {shown}: unknown table{hint or ';'} allowed: "
                f"{', '.join(KINDS)}"
            )
            continue
        kind = typing.cast("Kind", kind_key)
        if not isinstance(entries, dict):
            shown = "[[...]]" if isinstance(entries, list) else _fmt(entries)
            problems.append(
                f"{path}: {kind} = {shown}: must be a table of entries, one per name: "
                f"write [{kind}.NAME] tables (not [[{kind}]])"
            )
            continue
        types = record_fields(kind)
        for name, values in entries.items():
            where = f"{path}: {kind}.{name}"
            if not isinstance(values, dict):
                problems.append(f"{where} = {_fmt(values)}: must be a table of fields")
                continue
            existing = tables[kind].get(name)
            merged: dict[str, Any] = {}
            for key, value in values.items():
                if key not in types or key == "name":
                    allowed = [k for k in types if k != "name"]
                    hint = suggestion(key, allowed)
                    problems.append(
                        f"{where}.{key} = {_fmt(value)}: unknown field{hint} "
                        f"allowed: {', '.join(allowed)}"
                    )
                    continue
                converted, problem = _check_value(kind, key, value, types[key])
                if problem:
                    problems.append(f"{where}.{key} = {_fmt(value)}: {problem}")
                else:
                    merged[key] = converted
            if existing is not None:
                changed = sorted(k for k in merged if k != "source")
                if "source" not in merged:
                    note = f"overridden by {path}: {', '.join(changed)}"
                    merged["source"] = f"{existing.source}; {note}"
                tables[kind][name] = replace(existing, **merged)
                continue
            missing = [k for k in _required_fields(kind) if k not in values and k != "source"]
            if missing:
                problems.append(
                    f"{where} = {{...}}: new {KIND_LABELS[kind]} needs every field; "
                    f"missing: {', '.join(missing)}"
                )
                continue
            merged.setdefault("source", f"user catalog {path}")
            try:
                tables[kind][name] = _RECORD_TYPES[kind](name=name, **merged)
            except TypeError:
                # A field failed its check above, so it is absent from merged: already reported.
                continue
    known_gpus = typing.cast("Mapping[str, GpuSku]", tables["gpu"])
    for kind in KINDS:
        for name, rec in tables[kind].items():
            for problem in _consistency_problems(kind, rec, known_gpus):
                problems.append(f"{path}: {kind}.{name}.{problem}")
    if problems:
        msg = f"{path}: invalid user catalog ({len(problems)} problems)"
        raise ConfigError(msg, problems=problems)


def load_catalog(user_file: Path | str | None = None) -> Catalog:
    """Load the packaged catalog, then apply a user catalog TOML file if given.

    The user file may override single values of existing entries (``[gpu.h100-sxm]
    tdp_w = 650``) or add new entries (every field except ``source`` required). Every value is
    checked for type, sign and a plausible range for its unit; the merged catalog is checked
    for consistency (for example, a server's GPU must exist).

    Args:
        user_file: Path of a user catalog TOML file, or None for the packaged catalog only.

    Returns:
        A read-only :class:`Catalog`.

    Raises:
        ConfigError: the user file is missing, not TOML, or has invalid entries (one problem
            per line: ``FILE: kind.name.field = value: what is allowed``).
        CatalogError: a packaged CSV table is malformed (a kiban bug).
    """
    tables: dict[Kind, dict[str, Record]] = {kind: _read_csv(kind) for kind in KINDS}
    known_gpus = typing.cast("Mapping[str, GpuSku]", tables["gpu"])
    for kind in KINDS:
        for name, rec in tables[kind].items():
            problems = _consistency_problems(kind, rec, known_gpus)
            if problems:
                msg = f"kiban/data/{_CSV_FILES[kind]}: {name}.{problems[0]}"
                raise CatalogError(msg)
    sources = tuple(f"kiban/data/{_CSV_FILES[kind]}" for kind in KINDS)
    if user_file is not None:
        path = Path(user_file)
        _apply_user_catalog(path, _read_user_file(path), tables)
        sources = (*sources, str(path))

    def frozen(kind: Kind) -> Mapping[str, Any]:
        return MappingProxyType(dict(tables[kind]))

    return Catalog(
        gpus=frozen("gpu"),
        servers=frozen("server"),
        cooling_techs=frozen("cooling"),
        ups_classes=frozen("ups"),
        pdu_classes=frozen("pdu"),
        sources=sources,
    )


@functools.cache
def default_catalog() -> Catalog:
    """Return the packaged catalog (loaded once per process, then cached)."""
    return load_catalog()


__all__ = [
    "DIMENSIONLESS_FIELDS",
    "KINDS",
    "KIND_LABELS",
    "Catalog",
    "CoolingMedium",
    "CoolingTech",
    "GpuSku",
    "Kind",
    "PduClass",
    "PduLevel",
    "Record",
    "ServerModel",
    "UpsClass",
    "close_match",
    "default_catalog",
    "load_catalog",
    "plausible_range",
    "record_fields",
    "suggestion",
]
