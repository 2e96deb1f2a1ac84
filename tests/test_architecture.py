"""The package's shape, read from the source: no import cycles, layers import downwards only, no overlong function."""

from __future__ import annotations

import ast
from pathlib import Path

import destila

PACKAGE = Path(destila.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement brings in; a name that is no module stands for the module holding it."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    source = node.module or ""
    if node.level:  # relative: from the module's package, `level - 1` packages up
        parts = module.split(".")[: None if is_package else -1]
        parts = parts[: len(parts) - node.level + 1]
        source = ".".join(parts + ([node.module] if node.module else []))
    return [f"{source}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """Module -> the destila modules it imports, at the top or inside functions alike.

    Imports of a module's own enclosing packages are left out: a package's `__init__` that defines a name and then
    imports its modules so that they register on it (`destila.cli`'s verbs) is a load order, not a cycle between
    modules."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported(node, module, is_package):
                target = name
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module and not module.startswith(target + "."):
                    edges.add(target)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the path that closes it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read_correctly():
    graph = import_graph()
    assert "destila.infer.runners.onnx" in graph["destila.infer.runners"]  # a `from package import module`
    assert "destila.evaluation" in graph["destila.export.parity"]  # an import inside a function
    assert "destila.cli" not in graph["destila.cli.evaluate"]  # its own package: left out
    assert "destila.cli._common" in graph["destila.cli.evaluate"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_inference_never_imports_export_and_parity_never_imports_the_exporter():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("destila.infer"):
            assert not {t for t in targets if t.startswith("destila.export")}, module
    assert "destila.export.exporter" not in graph["destila.export.parity"]


MAX_FUNCTION_LINES = 80


def test_no_function_is_longer_than_a_screen():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not too_long, too_long
