"""The import rule (docs/architecture.md): triage/ml knows nothing of Django, services
never import the tasks module, and no import cycle runs between the product's modules
or between the learning loop's packages. Read from the source, every import counted
(also those inside functions)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("triage.ml", "triage.learning", "triage.taxonomy", "triage.reports", "triage.tasks")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Each module of triage (migrations aside) -> the triage modules it imports."""
    files = [p for p in (ROOT / "triage").rglob("*.py") if "migrations" not in p.parts]
    modules = {_module(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str | None:
    return next((p for p in PACKAGES if module == p or module.startswith(p + ".")), None)


def test_no_module_of_the_product_imports_itself_back_through_others() -> None:
    assert _cycles(_imports()) == []


def test_the_learning_loop_packages_import_each_other_one_way() -> None:
    packages: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for module, targets in _imports().items():
        source = _package(module)
        for target in targets:
            into = _package(target)
            if source and into and into != source:
                packages[source].add(into)
    assert _cycles(packages) == [], packages


def test_services_never_import_the_tasks_module() -> None:
    importers = sorted(module for module, targets in _imports().items() if "triage.tasks" in targets)
    assert importers == [], f"enqueue by task name instead: {importers}"


def test_triage_ml_imports_neither_django_nor_the_rest_of_the_product() -> None:
    graph = _imports()
    reaching_out = {m: sorted(t for t in ts if _package(t) != "triage.ml") for m, ts in graph.items()}
    assert {m: ts for m, ts in reaching_out.items() if _package(m) == "triage.ml" and ts} == {}
    names = sorted(m for m in graph if _package(m) == "triage.ml")
    code = f"import sys; import {', '.join(names)}; print(sorted(m for m in sys.modules if m.startswith('django')))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
