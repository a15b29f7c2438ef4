"""The shape of the code base, checked statically: dependencies point one way (`training -> models <-
service`), no import cycle between modules (lazy imports inside functions count: they are how cycles hide),
and no module grows past the size a reader can hold."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "service", "training", "bench")
MAX_LINES = 400
# Data tables, not logic: word lists the sample-data generator draws from.
SIZE_EXEMPT = {"training/sample_data/qc_vocab.py", "training/sample_data/qi_vocab.py"}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "store" in path.relative_to(ROOT).parts[:2] and package == "models":
                continue  # models/store/ holds checkpoints, not code (a models/store.py module is code)
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules `name` imports anywhere in its body (top level, functions, TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for child in node.body for n in ast.walk(child))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            # The longest known module the import names (`from models import Task` -> models).
            parts = target.split(".")
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[:end])
                if candidate in MODULES:
                    if candidate != name:
                        found.add(candidate)
                    break
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's `__init__` re-exporting its submodules, which import each other through the package
    name, is not a cycle of logic: edges into a package are read as edges into what it re-exports."""
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    return {
        name: {dep for dep in deps if dep not in packages or dep == name.split(".")[0]}
        for name, deps in graph.items()
        if name not in packages
    }


def test_no_import_cycle() -> None:
    cycles = _cycles(_without_package_inits(GRAPH))
    assert not cycles, f"import cycles (lazy imports included): {cycles}"


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("models", {"service", "training", "bench"}),
        ("service", {"training", "bench"}),
        ("training", {"service"}),
    ],
)
def test_dependencies_point_one_way(package: str, forbidden: set[str]) -> None:
    wrong = {
        name: sorted(dep for dep in deps if dep.split(".")[0] in forbidden)
        for name, deps in GRAPH.items()
        if name.split(".")[0] == package
    }
    wrong = {k: v for k, v in wrong.items() if v}
    assert not wrong, f"{package} must not import {sorted(forbidden)}: {wrong}"


@pytest.mark.parametrize("package", ["models", "service", "training"])
def test_no_module_over_the_size_limit(package: str) -> None:
    big = {
        str(path.relative_to(ROOT)): n
        for name, path in MODULES.items()
        if name.split(".")[0] == package
        and str(path.relative_to(ROOT)) not in SIZE_EXEMPT
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines (split them): {big}"


def test_the_graph_sees_lazy_imports() -> None:
    # training.pipeline imports its stages inside functions; the graph must still see them.
    assert any(dep.startswith("training.") for dep in GRAPH["training.pipeline"])
    assert defaultdict(set, GRAPH)["models.card"] >= {"models.tasks"}
