"""The import rules of the house (docs/DESIGN.md), read from the source as written: every
``import`` statement counts, those under ``if TYPE_CHECKING:`` and inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "edgesched"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` of the file names (absolute)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


GRAPH = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _ours(module: str) -> str | None:
    """The module of edgesched an imported name resolves to, or None."""
    while module and module not in GRAPH:
        module = module.rpartition(".")[0]
    return module or None


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


#: (importer prefix, imported prefix): the importer never imports the imported.
FORBIDDEN = [
    *[("edgesched.core", p) for p in ("edgesched.placement", "edgesched.dispatch")],
    *[
        (world, other)
        for world in ("edgesched.placement", "edgesched.dispatch")
        for other in (
            "edgesched.placement" if world == "edgesched.dispatch" else "edgesched.dispatch",
            "edgesched.rl",
            "edgesched.experiments",
            "edgesched.live",
            "edgesched.integrations",
            "edgesched.cli",
            "torch",
            "torch_geometric",
            "stable_baselines3",
            "sb3_contrib",
        )
    ],
    ("edgesched.dispatch.streams", "edgesched.dispatch.devices"),
    ("edgesched.dispatch.devices", "edgesched.dispatch.streams"),
    *[("edgesched.rl", p) for p in ("edgesched.experiments", "edgesched.live", "edgesched.cli")],
    *[("edgesched.experiments", p) for p in ("edgesched.live", "edgesched.cli")],
]


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN, ids=lambda x: x)
def test_no_import_runs_against_the_layers(importer: str, imported: str) -> None:
    """A lower layer never imports a higher one, and the two worlds (and the two dispatch
    settings) never import each other."""
    bad = [
        f"{m} imports {name}"
        for m, names in GRAPH.items()
        if _within(m, importer)
        for name in names
        if _within(name, imported)
    ]
    assert not bad, bad


def test_core_imports_nothing_of_ours() -> None:
    """core is the floor: it imports no other edgesched package."""
    bad = [
        f"{m} imports {n}"
        for m, names in GRAPH.items()
        if _within(m, "edgesched.core")
        for n in names
        if _within(n, "edgesched") and not _within(n, "edgesched.core")
    ]
    assert not bad, bad


def test_imports_form_no_circle() -> None:
    """Between edgesched's modules, the import graph has no cycle (a package imports its
    submodules, never the reverse through the package)."""
    edges = {m: {t for n in names if (t := _ours(n)) and t != m} for m, names in GRAPH.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                return [*path[path.index(t) :], t]
            if t not in state and (cycle := visit(t)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)


def test_the_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The AST reader finds imports wherever they stand (so the rules above can fail)."""
    f = tmp_path / "x.py"
    f.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
        "def f():\n    from edgesched.rl import agent\n"
    )
    assert {"torch", "edgesched.rl", "edgesched.rl.agent"} <= _imports(f)
