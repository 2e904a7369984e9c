"""A fleet taken from a trace's own node list (``[[fleet]] from_trace = "openb:FOLDER"``).

A trace recorded on a real cluster is best replayed on that cluster: openb's node list
(``openb_node_list_gpu_node.csv``: ``sn, cpu_milli, memory_mib, gpu, model``) gives each GPU
node's GPU count, GPU model name, host CPU (milli-cores) and memory (MiB). A fleet entry with
``from_trace`` becomes one server per listed GPU node: the entry's ``model`` (a catalog server)
gives the host and GPU physics (the trace has no power data: a proxy), the node list its GPU
count, CPU and memory, and the GPU model name that pods' ``gpu_spec`` constraints match.

Read with the standard library (the file is small and ``kiban validate`` reads it): every bad
row is reported with its file, line, field and value.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from kiban.catalog import ServerModel

__all__ = [
    "TRACE_FLEET_FORMATS",
    "TraceNodes",
    "read_trace_nodes",
    "split_trace_spec",
    "trace_server",
]

TRACE_FLEET_FORMATS = ("openb",)
"""Trace formats whose node list a fleet can be taken from."""

OPENB_NODE_FILE = "openb_node_list_gpu_node.csv"
_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
_B_PER_MIB = 1_048_576.0


@dataclass(frozen=True, slots=True)
class TraceNodes:
    """The GPU nodes of a trace's node list, in file order.

    Attributes:
        path: The node-list file read.
        names: Node names (``sn``).
        cpu_milli: Host CPU per node, milli-cores.
        memory_b: Host memory per node, B.
        n_gpus: GPUs per node (≥ 1: nodes without GPUs are left out).
        gpu_model: GPU model name per node (as the trace's ``gpu_spec`` names it).
        n_cpu_only_nodes: Listed nodes without GPUs (left out).
    """

    path: Path
    names: tuple[str, ...]
    cpu_milli: tuple[int, ...]
    memory_b: tuple[float, ...]
    n_gpus: tuple[int, ...]
    gpu_model: tuple[str, ...]
    n_cpu_only_nodes: int = 0

    @property
    def n_nodes(self) -> int:
        """GPU nodes."""
        return len(self.names)

    @property
    def total_gpus(self) -> int:
        """GPUs in all nodes."""
        return sum(self.n_gpus)


def split_trace_spec(text: str) -> tuple[str, str]:
    """``"openb:PATH"`` → ``("openb", "PATH")``.

    Raises:
        ValueError: not ``FORMAT:PATH`` or a format without a node list.
    """
    fmt, sep, path = text.strip().partition(":")
    if not sep or not fmt or not path.strip():
        msg = 'must be "FORMAT:PATH", e.g. "openb:$KIBAN_DATA/alibaba-gpu-v2023-openb/csv"'
        raise ValueError(msg)
    if fmt not in TRACE_FLEET_FORMATS:
        msg = (
            f"no node list is read for trace format {fmt!r}; allowed: "
            f"{', '.join(TRACE_FLEET_FORMATS)} (other traces: list the servers with model and "
            "count)"
        )
        raise ValueError(msg)
    return fmt, path.strip()


def _node_file(path: Path) -> Path:
    if path.is_dir():
        for cand in (path / OPENB_NODE_FILE, path / "csv" / OPENB_NODE_FILE):
            if cand.is_file():
                return cand
        msg = f"{path}: no {OPENB_NODE_FILE} in this folder or its csv/ folder"
        raise ValueError(msg)
    if not path.is_file():
        msg = f"{path}: no such file or folder (give an openb folder or its node-list CSV)"
        raise ValueError(msg)
    return path


def read_trace_nodes(path: Path | str) -> TraceNodes:
    """Read an openb node list (a folder holding ``openb_node_list_gpu_node.csv``, or the CSV).

    Args:
        path: Folder or file (absolute, or relative to the working directory).

    Returns:
        The GPU nodes (cached per file, size and modification time).

    Raises:
        ValueError: a missing file or column, or a bad value (file, line, field, value and what
            is allowed), or no GPU node at all.
    """
    file = _node_file(Path(path))
    stat = file.stat()
    return _read_cached(str(file.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_cached(file: str, size: int, mtime_ns: int) -> TraceNodes:  # size, mtime: cache key
    path = Path(file)
    names: list[str] = []
    cpu: list[int] = []
    mem: list[float] = []
    gpus: list[int] = []
    models: list[str] = []
    cpu_only = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = tuple(reader.fieldnames or ())
            missing = [c for c in _COLUMNS if c not in header]
            if missing:
                msg = (
                    f"{path}: missing column(s) {', '.join(missing)}; an openb node list has "
                    f"{', '.join(_COLUMNS)}"
                )
                raise ValueError(msg)
            for row in reader:
                line = reader.line_num
                values = []
                for col in ("cpu_milli", "memory_mib", "gpu"):
                    text = (row.get(col) or "").strip()
                    try:
                        value = int(text)
                    except ValueError:
                        value = -1
                    if value < 0:
                        msg = f"{path}: line {line}: {col} = {text!r}: must be a whole number ≥ 0"
                        raise ValueError(msg)
                    values.append(value)
                n_cpu, n_mem, n_gpu = values
                model = (row.get("model") or "").strip()
                if n_gpu == 0:
                    cpu_only += 1
                    continue
                if not model or model.lower() == "nan":
                    msg = f"{path}: line {line}: model = {model!r}: must name the GPU model"
                    raise ValueError(msg)
                names.append((row.get("sn") or "").strip())
                cpu.append(n_cpu)
                mem.append(n_mem * _B_PER_MIB)
                gpus.append(n_gpu)
                models.append(model)
    except UnicodeDecodeError:
        msg = f"{path}: not a UTF-8 text file; an openb node list is CSV"
        raise ValueError(msg) from None
    except OSError as err:
        msg = f"{path}: cannot read ({err.strerror})"
        raise ValueError(msg) from None
    if not names:
        msg = f"{path}: lists no node with GPUs"
        raise ValueError(msg)
    return TraceNodes(
        path=path,
        names=tuple(names),
        cpu_milli=tuple(cpu),
        memory_b=tuple(mem),
        n_gpus=tuple(gpus),
        gpu_model=tuple(models),
        n_cpu_only_nodes=cpu_only,
    )


def trace_server(proxy: ServerModel, gpu_model: str, n_gpus: int, gpu_tdp_w: float) -> ServerModel:
    """The server of one trace node: ``proxy``'s host and GPU physics with the node's GPU count.

    Wall power at full load follows the catalog's identity ``max_power_w = (n_gpus·tdp_w +
    host_max_power_w + fan_max_power_w) / psu_efficiency_frac`` with the node's GPU count; the
    name says which proxy and which trace model it stands for (``philly-8gpu[G2x8]``). The GPU
    record stays the proxy's (the layout renames it to ``gpu_model`` per node).
    """
    max_w = (
        n_gpus * gpu_tdp_w + proxy.host_max_power_w + proxy.fan_max_power_w
    ) / proxy.psu_efficiency_frac
    return dataclasses.replace(
        proxy,
        name=f"{proxy.name}[{gpu_model}x{n_gpus}]",
        n_gpus=n_gpus,
        max_power_w=max_w,
        source=f"{proxy.source}; a trace node ({gpu_model} x {n_gpus}) with this host (proxy)",
    )
