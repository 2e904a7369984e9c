"""Dependencies point one way (DESIGN.md, 'Rooms'): a lower room never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "kiban"

# Rank of each room; a module may import rooms of equal or lower rank only.
RANKS: dict[str, int] = {
    "_version": 0,
    "_typing": 0,
    "units": 0,
    "errors": 0,
    "options": 0,
    "shared_data": 0,
    "_guards": 0,
    "_files": 0,
    "_atomic": 0,
    "catalog": 1,
    "spec": 1,
    "physics": 2,
    "workload": 3,
    "sim": 4,
    "policies": 5,
    "results": 6,
    "metrics": 6,
    "ledger": 6,
    "site": 3,
    "plan": 7,
    "diagnose": 7,
    "report": 7,
    "telemetry": 7,
    "adapters": 7,
    "i18n": 7,
    "cli": 9,
}
# Named exceptions from DESIGN.md: the simulator calls policies through their protocols only.
ALLOWED = {("sim", "policies.base")}


def _room(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return [m[len("kiban.") :] for m in found if m.startswith("kiban.")]


def test_every_room_has_a_rank():
    rooms = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.name != "__pycache__"}
    rooms = {r for r in rooms if r not in {"__init__", "py", "data"} and not r.endswith(".typed")}
    missing = sorted(rooms - set(RANKS))
    assert not missing, f"add these rooms to RANKS in tests/test_architecture.py: {missing}"


def test_dependencies_point_one_way():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        parts = rel.parts
        if parts[0] == "__init__":
            continue
        src_room = parts[0]
        for target in _imports(path):
            t_room = _room(target)
            if t_room not in RANKS or src_room not in RANKS:
                continue
            if any(src_room == a and target.startswith(b) for a, b in ALLOWED):
                continue
            if RANKS[t_room] > RANKS[src_room]:
                bad.append(f"{'/'.join(parts)} imports kiban.{target}")
    assert not bad, "upward imports:\n" + "\n".join(bad)
