"""Layers import downward only, and no module imports itself in a circle.

The imports are read with `ast` from every file under src/radgen (module level and inside functions alike;
only `if TYPE_CHECKING:` blocks are left out, they never run). Two checks:

1. No cycle, between files (`radgen.data.detect` <-> `radgen.data.load`) nor between units, a unit being
   a package or a top-level module (`radgen.io` -> `radgen.outputs` -> ... -> `radgen.data` -> `radgen.io`).
2. A unit imports only units on its own layer or below. The layers, top first (docs/reference/layout.md):

       cli
       api
       experiments  release  reports
       evaluation  training  sampling  analysis
       metrics  classifiers  models
       runfolder  outputs  viz
       nn  losses  diffusion  data
       io  config  errors  registry  provenance  signals  progress  dataconfig

   One refinement of the order in ../shared/ARCHITECTURE.md: the run folder's layer (``runfolder``, ``outputs``,
   and ``viz``, whose figures carry outputs' PNG mark) sits above ``data``, because the run folder's readers return
   the data a run was trained on (``runfolder.run_data_config`` -> ``DataConfig``, ``load_run_data``) and nothing
   in data/, nn/, losses/ or diffusion/ needs a run folder. io, config, errors, registry, provenance, signals,
   progress (when bars are drawn) and dataconfig (the data section's schema, kept apart from the loaders so the
   CLI builds its data options without numpy or torch) are the floor: they import nothing of radgen but each other.

   Inside one layer any direction is allowed as long as (1) holds. `python -m pytest tests/test_layers.py -s`
   prints every cycle and upward import it finds.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "radgen"

LAYERS: list[tuple[str, ...]] = [
    ("__main__", "cli"),
    ("api",),
    ("experiments", "release", "privacy_gate", "reports", "interop"),
    ("evaluation", "training", "sampling", "analysis"),
    ("metrics", "classifiers", "models"),
    ("runfolder", "outputs", "viz"),
    ("nn", "losses", "diffusion", "data"),
    ("io", "config", "errors", "registry", "provenance", "signals", "progress", "dataconfig", "__init__"),
]
LAYER_OF = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The radgen modules `path` imports (a `from pkg import name` counts as pkg.name where that is a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name.split(".")[0] == "radgen")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] != "radgen":
                    continue
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    """Module -> the radgen modules it imports, for every file under src/radgen."""
    paths = sorted(SRC.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def unit(module: str) -> str:
    """The package or top-level module a module belongs to: radgen.data.load -> data; radgen -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between units (packages and top-level modules); a package's own files are one node."""
    units: dict[str, set[str]] = {}
    for source, targets in graph.items():
        units.setdefault(unit(source), set()).update(unit(t) for t in targets if unit(t) != unit(source))
    return units


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a unit on a higher layer than the importer's, as 'importer -> imported'."""
    return sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if LAYER_OF[unit(target)] < LAYER_OF[unit(source)]
    )


def test_every_unit_has_a_layer():
    missing = sorted({unit(m) for m in import_graph()} - set(LAYER_OF))
    assert missing == [], f"put these packages/modules on a layer in tests/test_layers.py: {missing}"


def test_no_import_cycle_between_files():
    found = cycles(import_graph())
    print("file cycles:", found)
    assert found == []


def test_no_import_cycle_between_packages():
    found = cycles(unit_graph(import_graph()))
    print("package cycles:", found)
    assert found == []


def test_layers_import_downward_only():
    found = upward_imports(import_graph())
    print("upward imports:", *found, sep="\n  ")
    assert found == []


def test_the_checks_can_fail():
    graph = {"radgen.io": {"radgen.data.load"}, "radgen.data.load": {"radgen.io"}, "radgen.cli": set()}
    assert cycles(graph) == [["radgen.data.load", "radgen.io"]]
    assert upward_imports(graph) == ["radgen.io -> radgen.data.load"]
    assert upward_imports({"radgen.cli": {"radgen.io"}}) == []
