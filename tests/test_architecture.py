"""The package's shape, read from the source: no import cycles, layers import downwards only (the order
docs/ARCHITECTURE.md states), no overlong function."""

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


# The layers of docs/ARCHITECTURE.md, top first. A module imports modules of its own package and of the layers below
# its own, never a package beside it in its layer nor one above. Packages are `destila.X` (a package or a module).
LAYERS = [
    ("__main__",),  # python -m destila
    ("cli",),  # the verbs
    ("pipeline",),  # the main job: calls every workflow
    ("train", "export", "bench", "serve", "hub"),  # the workflows
    ("card",),  # the model card: written by training and the pipeline, published by hub
    ("evaluation", "config"),  # the one evaluation path; the typed recipes
    ("augment", "distill", "infer", "no_answer", "metrics"),  # the components
    ("models",),
    ("data",),
    ("errors", "files", "paths", "hardware", "memory"),  # the base: no destila import
]


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """`module -> target` for every import that does not go to a lower layer (or within its own package)."""
    layer = {package: depth for depth, packages in enumerate(LAYERS) for package in packages}
    found = []
    for module, targets in sorted(graph.items()):
        here = _package(module)
        for target in sorted(targets):
            there = _package(target)
            if here and there != here and layer[there] <= layer[here]:
                found.append(f"{module} -> {target}")
    return found


def test_every_package_has_a_layer():
    packages = {_package(module) for module in import_graph()} - {""}
    placed = [package for packages in LAYERS for package in packages]
    assert len(placed) == len(set(placed)), "a package in two layers"
    assert packages == set(placed), f"unplaced: {packages - set(placed)}, gone: {set(placed) - packages}"


def test_layers_import_downwards_only():
    assert upward_imports(import_graph()) == []


def test_the_layer_check_finds_an_upward_and_a_sideways_import():
    graph = {"destila.infer.runners.torch": {"destila.train.precision", "destila.models.hub"},
             "destila.serve.app": {"destila.bench.measure", "destila.serve.schemas"}}
    assert upward_imports(graph) == ["destila.infer.runners.torch -> destila.train.precision",
                                     "destila.serve.app -> destila.bench.measure"]


def test_architecture_md_states_the_layers():
    """docs/ARCHITECTURE.md's layer list names the same packages in the same order."""
    import re

    text = (PACKAGE.parents[1] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("<!-- layers -->")[1]
    stated = [tuple(re.findall(r"`([\w_]+)[/.]?(?:py)?`", line)) for line in block.strip().splitlines()
              if line.startswith("|") and "`" in line]
    assert stated == LAYERS


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


def test_the_training_run_declares_its_state_in_init():
    """Every attribute a class of train/recipe.py sets is declared in its `__init__`, so the class reads as its
    state."""
    tree = ast.parse((PACKAGE / "train" / "recipe.py").read_text(encoding="utf-8"))
    late = []
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        methods = [f for f in cls.body if isinstance(f, ast.FunctionDef)]
        declared = {n.attr for f in methods if f.name == "__init__" for n in ast.walk(f) if _sets_self(n)}
        late += [f"{cls.name}.{n.attr} ({f.name})" for f in methods if f.name != "__init__"
                 for n in ast.walk(f) if _sets_self(n) and n.attr not in declared]
    assert not late, late


def _sets_self(node) -> bool:
    return (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name)
            and node.value.id == "self")


MAX_POSITIONAL = 6


def test_options_are_keyword_only_past_the_first_few_parameters():
    """No function takes more than MAX_POSITIONAL positional parameters (besides self / cls): options are passed by
    name, so a call reads and a new option cannot shift the others."""
    too_many = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.posonlyargs + node.args.args]
                names = names[1:] if names[:1] in (["self"], ["cls"]) else names
                if len(names) > MAX_POSITIONAL:
                    too_many.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({len(names)})")
    assert not too_many, too_many
