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
    "vocabulary": 0,
    "_tables": 0,
    "_files": 0,
    "_atomic": 0,
    "mig": 0,  # MIG geometry tables (catalog data, no imports)
    "repro": 0,  # the pinned BLAS environment (imports numpy only)
    "catalog": 1,
    "spec": 1,
    "physics": 2,
    "workload": 3,
    "sim": 4,
    "policies": 5,
    "results": 6,
    "metrics": 6,
    "ledger": 6,
    "comparison": 6,
    "site": 3,
    "charts": 1,
    "validation": 6,  # runs the simulator and the results pipeline (storage, trade-offs)
    "plan": 7,
    "diagnose": 7,
    "report": 7,
    "telemetry": 7,
    "adapters": 7,
    "i18n": 7,
    "cli": 9,
    "sweep": 8,
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


# --- no import circles between modules (issue 9) ----------------------------------------------


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _walk(node: ast.AST, *, type_checking: bool):
    for child in ast.iter_child_nodes(node):
        if not type_checking and _is_type_checking(child):
            continue
        yield child
        yield from _walk(child, type_checking=type_checking)


def _import_graph(*, type_checking: bool) -> dict[str, set[str]]:
    """Module → the kiban modules it imports (function-level imports included; imports under
    ``if TYPE_CHECKING:`` only when ``type_checking``)."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _walk(tree, type_checking=type_checking):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from kiban.sim import jobs" imports the submodule when there is one
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    targets.append(sub if sub in modules else node.module)
            for t in targets:
                found = resolve(t) if t.startswith("kiban") else None
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_modules_of_the_package():
    """No module of kiban imports itself back through others when the code runs."""
    cycles = _cycles(_import_graph(type_checking=False))
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_circle_inside_the_simulator_even_for_the_type_checker():
    """Inside kiban.sim not even ``if TYPE_CHECKING:`` imports go in a circle: every module
    there has a place in one one-way order (docs/contracts.md, "The simulator")."""
    graph = _import_graph(type_checking=True)
    sim = {m: {t for t in ts if t.startswith("kiban.sim.")} for m, ts in graph.items()}
    sim = {m: ts for m, ts in sim.items() if m.startswith("kiban.sim.")}
    cycles = _cycles(sim)
    assert not cycles, "import circles in kiban.sim:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_module_of_a_package_imports_its_own_package():
    """Modules import their siblings, never their own package: ``kiban.sim`` re-exports
    ``Simulator``, so ``from kiban.sim import ...`` inside it would import the simulator back."""
    graph = _import_graph(type_checking=True)
    packages = {m for m in graph if (SRC.parent / m.replace(".", "/") / "__init__.py").is_file()}
    bad = sorted(
        f"{m} imports {t}"
        for m, targets in graph.items()
        for t in targets
        if t in packages and m.startswith(t + ".")
    )
    assert not bad, "\n".join(bad)


def test_no_module_of_the_simulator_imports_the_simulator_back():
    graph = _import_graph(type_checking=True)
    bad = sorted(
        m for m, t in graph.items() if "kiban.sim.simulator" in t and m.startswith("kiban.sim.")
    )
    assert not bad, f"modules of kiban.sim that import kiban.sim.simulator: {bad}"


def test_the_data_layer_reads_a_run_without_simulator_internals():
    """ledger, metrics and results take shared names from kiban.vocabulary and the run's output
    type from kiban.sim.settings; they import no component of the simulator (results may start
    a run through kiban.sim.simulator.Simulator and build inputs with kiban.sim.scenario)."""
    graph = _import_graph(type_checking=True)
    public = {"kiban.sim.settings", "kiban.sim.layout", "kiban.sim.jobs", "kiban.sim.facility"}
    allowed = {
        "kiban.ledger": public,
        "kiban.metrics": public,
        "kiban.results": public | {"kiban.sim.simulator", "kiban.sim.scenario"},
    }
    bad = sorted(
        f"{m} imports {t}"
        for m, ok in allowed.items()
        for t in graph[m]
        if t.startswith("kiban.sim") and t not in ok
    )
    assert not bad, "\n".join(bad)
