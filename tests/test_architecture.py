"""The package layout docs/architecture.md describes: no import cycle between packages, and
the rules on who may import whom. Reads the source (every import statement, at module level
or inside a function), never imports it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "htflow"
# Packages that must never reach the database or the writer (compute side, pure logic).
NO_DATABASE = ("launch", "qe", "vasp", "quality", "walltime", "campaign", "ml")
DATABASE_SIDE = {"db", "agent", "actions", "builders", "reports", "dashboard", "optimade", "cli"}


def _unit(path: Path) -> str:
    """The package (or top-level module) a file belongs to: htflow/qe/run.py -> 'qe'."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "htflow" and len(parts) > 1:
                found.add(parts[1])
    return found


def import_graph() -> dict[str, set[str]]:
    """Package -> the htflow packages its modules import (itself excluded)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        if unit == "__init__":
            continue
        graph.setdefault(unit, set()).update(_imported_units(path) - {unit})
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycle_between_packages() -> None:
    graph = import_graph()
    assert {"qe", "launch", "agent", "submit", "campaign", "db"} <= set(graph)  # it reads the tree
    cycles = [c for unit in sorted(graph) if (c := _cycle_through(graph, unit))]
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


def test_compute_side_and_planning_never_import_the_database_side() -> None:
    graph = import_graph()
    for unit in NO_DATABASE:
        assert not (graph.get(unit, set()) & DATABASE_SIDE), (unit, graph[unit] & DATABASE_SIDE)


def test_launch_imports_neither_agent_nor_submit() -> None:
    assert not ({"agent", "submit", "db"} & import_graph()["launch"])


def test_the_graph_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from htflow.db.lock import writer_lock\n    import htflow.qe.run\n"
    )
    assert _imported_units(module) == {"db", "qe"}
