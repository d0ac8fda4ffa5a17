"""The package layout holds: dependencies point one way, libvirt stays in two modules, files stay small.

Layers, lowest first; a package may import its own layer and the ones below it, never above:
planner (domain → rules → formats → instance → bounds → check → explain → solver) → cluster →
executor → operations → rebalance. The planner works from files alone, so it must never need the
cluster, the executor or the CLI; the checker must never trust the solver it checks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parent.parent
PRODUCT = ("planner", "cluster", "executor", "operations", "rebalance")
LAYERS = (
    "planner.domain", "planner.rules", "planner.formats", "planner.instance", "planner.bounds",
    "planner.check", "planner.explain", "planner.solver", "cluster", "executor", "operations", "rebalance",
)
LIBVIRT_MODULES = {"cluster/collector.py", "executor/libvirt_driver.py"}
MAX_LINES = 400


def _sources(roots: tuple[str, ...] = PRODUCT) -> Iterator[Path]:
    for root in roots:
        yield from sorted((REPO / root).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _layer(module: str) -> str | None:
    """The deepest layer name that `module` (dotted) lies in."""
    matches = [layer for layer in LAYERS if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def _package(path: Path) -> str:
    return ".".join(path.relative_to(REPO).parent.parts)


def _package_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in _sources():
        source = _package(path)
        for module in _imports(path):
            if module.split(".")[0] in PRODUCT:
                target = module.rsplit(".", 1)[0] if module.count(".") else module
                if target != source:
                    graph.add_edge(source, target)
    return graph


def test_no_import_cycle_between_packages() -> None:
    assert list(nx.simple_cycles(_package_graph())) == []


@pytest.mark.parametrize("path", [p for p in _sources() if p.read_text().strip()], ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_down_the_layers(path: Path) -> None:
    own = _layer(_package(path))
    assert own is not None, f"{path} is in no layer: add its package to LAYERS"
    upward = [module for module in _imports(path)
              if (target := _layer(module)) is not None and LAYERS.index(target) > LAYERS.index(own)]
    assert upward == [], f"{path.relative_to(REPO)} ({own}) imports from a higher layer: {upward}"


def test_the_checker_never_imports_the_solver() -> None:
    for path in _sources(("planner/check",)):
        assert not [m for m in _imports(path) if m.startswith("planner.solver")], path


def test_libvirt_is_imported_only_by_the_collector_and_the_driver() -> None:
    importers = {str(path.relative_to(REPO)) for path in _sources()
                 if any(m == "libvirt" or m.startswith("libvirt.") for m in _imports(path))}
    assert importers <= LIBVIRT_MODULES


def test_no_python_or_markdown_file_is_over_the_line_limit() -> None:
    tracked = [p for p in REPO.rglob("*") if p.suffix in {".py", ".md"} and ".git" not in p.parts
               and ".venv" not in p.parts and "egg-info" not in str(p) and p.is_file()]
    long = {str(p.relative_to(REPO)): n for p in tracked if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
