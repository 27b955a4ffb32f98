"""The library's layers import downward only: no import circle among the modules of src/deweight.

The graph is read from the source with :mod:`ast` (every ``import`` and ``from ... import``,
at the top of a module or inside a function, since a deferred import closes a circle as
surely when it runs), so nothing is imported to build it. ``from deweight.x import y`` is an
edge to the module ``deweight.x.y`` where that is a module, else to ``deweight.x``; a
submodule's implicit import of its parent package is not an edge.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def import_graph(src: Path, package: str = "deweight") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, for every ``.py`` file under ``src``."""

    def module_name(path: Path) -> str:
        parts = list(path.relative_to(src).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    files = {module_name(path): path for path in sorted((src / package).rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in files}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in files:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    edges.add(submodule if submodule in files else node.module)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first repeated), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_the_library_has_no_import_circle():
    graph = import_graph(SRC)
    assert len(graph) > 30 and "deweight.catalog.archive" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(reversed(cycle))


@pytest.mark.parametrize("bottom", ["deweight.registry", "deweight.errors", "deweight._files"])
def test_the_bottom_layer_imports_nothing_of_the_library(bottom):
    assert import_graph(SRC)[bottom] == set()


def test_a_circle_through_a_deferred_import_is_found(tmp_path):
    """The check itself: a circle closed by an import inside a function is reported."""
    package = tmp_path / "deweight"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from deweight.sub import high\n")
    (package / "sub" / "__init__.py").write_text("from deweight.sub.high import g\n")
    (package / "sub" / "high.py").write_text("from deweight import low\n\ng = 1\n")
    graph = import_graph(tmp_path)
    assert graph["deweight.low"] == {"deweight.sub.high"}
    assert graph["deweight.sub"] == {"deweight.sub.high"}
    cycle = find_cycle(graph)
    assert cycle is not None and set(cycle) == {"deweight.low", "deweight.sub.high"}
    (package / "low.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(tmp_path)) is None
