"""The package's import structure: no import cycle, and no module below ``checks/``, ``plots/``
or ``cli/`` that imports from them (issue 19).

The layers, from the bottom: the core (the modules at the package's top level and ``models/``),
then ``checks/`` and ``plots/`` (peers: figures of checks, and checks that write figures), then
``cli/``. The package's ``__init__`` re-exports the public API of every layer and is exempt. An
import inside a function counts for the layers (it is still a dependency) but not for cycles
(it runs after both modules are loaded).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "alliance_bayes"
UPPER = {"checks": 1, "plots": 1, "cli": 2}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import of this package in ``path``."""
    module, tree = _module_name(path), ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            names = [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("alliance_bayes"):
                found.append((_existing(name), id(node) in top))
    return found


def _existing(name: str) -> str:
    """The longest prefix of ``name`` that is a module of the package (drops imported names)."""
    parts = name.split(".")
    while parts:
        candidate = PACKAGE.parent.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    raise AssertionError(f"{name} is not a module of the package")


def _layer(module: str) -> int:
    parts = module.split(".")
    return UPPER.get(parts[1], 0) if len(parts) > 1 else 0


GRAPH = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_walk_sees_the_package():
    assert {"alliance_bayes.fit", "alliance_bayes.checks.sbc", "alliance_bayes.cli.app"} <= set(
        GRAPH
    )
    assert ("alliance_bayes.models", True) in GRAPH["alliance_bayes.fit"] or any(
        name.startswith("alliance_bayes.models") for name, _ in GRAPH["alliance_bayes.fit"]
    )


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "alliance_bayes"))
def test_no_import_from_a_higher_layer(module):
    upward = sorted({name for name, _ in GRAPH[module] if _layer(name) > _layer(module)})
    assert not upward, f"{module} (layer {_layer(module)}) imports {upward} from above"


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each as the path that closes it)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in graph.get(node, []):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycle_at_module_level():
    graph = {
        module: [name for name, top in imports if top and name != module]
        for module, imports in GRAPH.items()
    }
    # a package imports its own submodules when it is imported: that is not a cycle
    graph = {m: [n for n in names if not m.startswith(n + ".")] for m, names in graph.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c", "a"]]
