"""The shape of the code, checked from its source: no import circle, no import hidden in a
function, routes -> service -> repository, and no web framework below the routes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "quiz_service", "audio_service", "testkit")
# Below the routes: what a service method may use. They must not import the web framework.
SERVICE_LAYER = {
    "quiz_service": {
        "service",
        "repository",
        "bank_service",
        "bank_repository",
        "filters",
        "models",
        "resources",
        "settings",
        "upstream",
        "metrics",
    },
    "audio_service": {
        "service",
        "repository",
        "models",
        "resources",
        "settings",
        "auth",
        "uploads",
        "staging",
        "conversion",
        "mp3_tags",
        "peaks",
        "wav_probe",
        "filenames",
        "metrics",
        "quota",
        "jobs",
        "job_queue",
        "callback_urls",
    },
}
WEB_FRAMEWORKS = ("fastapi", "starlette")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue  # Alembic's files, loaded by Alembic
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(tree: ast.Module, module: str) -> set[str]:
    """The project modules (and third-party top-level names) ``module`` imports."""
    names: set[str] = set()
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _project_imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    return {name for name in _imports(tree, module) if name in MODULES and name != module}


def test_no_import_circle() -> None:
    graph = {module: _project_imports(module) for module in MODULES}
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import circle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_are_at_module_level(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    hidden = [
        f"line {inner.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]
    assert hidden == [], f"{module} imports inside a function ({', '.join(hidden)})"


def _layer_modules() -> list[str]:
    return sorted(
        module
        for module in MODULES
        for package, parts in SERVICE_LAYER.items()
        if module.startswith(f"{package}.") and module.split(".")[1] in parts
    )


@pytest.mark.parametrize("module", _layer_modules())
def test_the_service_layer_knows_no_web_framework(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    web = sorted(name for name in _imports(tree, module) if name.split(".")[0] in WEB_FRAMEWORKS)
    assert web == [], f"{module} imports {web}"


@pytest.mark.parametrize("package", sorted(SERVICE_LAYER))
def test_routes_reach_the_database_only_through_the_service(package: str) -> None:
    module = f"{package}.api"
    imported = _imports(ast.parse(MODULES[module].read_text()), module)
    below = sorted(
        name
        for name in imported
        if name.split(".")[0] == "sqlalchemy"
        or name.endswith((".repository", ".models", "shared.db"))
    )
    assert below == [], f"{module} imports {below}"
