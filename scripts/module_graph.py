"""The import graph of a package: every import at any depth of the code (inside functions, under
``if TYPE_CHECKING:``), its cycles, and its layers.

    python scripts/module_graph.py              # harness/: a summary, then each module's imports
    python scripts/module_graph.py --dot > g.dot  # Graphviz
    git stash -q && python scripts/module_graph.py --summary; git stash pop -q   # compare with another tree

Exit 1 when there is a cycle. ``tests/unit/test_structure.py`` runs :func:`cycles` on harness/.
A module's layer is 0 when it imports nothing of the package, else one more than the highest layer
it imports (only defined without cycles).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``package`` (a package's ``__init__`` is its name)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported(module: str, is_package: bool, node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        yield base
        yield from (f"{base}.{alias.name}" for alias in node.names)


def graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports. ``from pkg.sub import name`` counts as
    importing ``pkg.sub.name`` when that is a module, else ``pkg.sub``; a module importing its own
    subpackage's parent is not an edge (Python runs the parent first either way)."""
    found = modules(package)
    edges: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in _imported(name, path.name == "__init__.py", node):
                while target and target not in found:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(found)


def layers(edges: dict[str, set[str]]) -> dict[str, int]:
    """Module -> its layer (0: imports nothing of the package); needs an acyclic graph."""
    layer: dict[str, int] = {}

    def of(v: str) -> int:
        if v not in layer:
            layer[v] = 1 + max((of(w) for w in edges[v]), default=-1)
        return layer[v]

    for v in edges:
        of(v)
    return layer


def summary(package: Path) -> str:
    edges = graph(package)
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules(package).items()}
    found = cycles(edges)
    out = [f"{package.name}: {len(edges)} modules, {sum(map(len, edges.values()))} imports between them, "
           f"{len(found)} cycles; largest module {max(lines.values())} lines "
           f"({', '.join(n for n, c in lines.items() if c == max(lines.values()))}); "
           f"{sum(c > 400 for c in lines.values())} over 400 lines"]
    out += [f"  cycle: {' <-> '.join(c)}" for c in found]
    if not found:
        layer = layers(edges)
        out.append(f"  {max(layer.values()) + 1} layers (0: imports nothing of the package)")
        for depth in range(max(layer.values()) + 1):
            names = sorted(n for n, d in layer.items() if d == depth)
            out.append(f"  layer {depth}: {', '.join(n.removeprefix(package.name + '.') for n in names)}")
    return "\n".join(out)


def dot(package: Path) -> str:
    edges = graph(package)
    body = [f'  "{a}" -> "{b}";' for a in sorted(edges) for b in sorted(edges[a])]
    return "digraph imports {\n  rankdir=LR;\n" + "\n".join(body) + "\n}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", nargs="?", type=Path, default=ROOT / "harness")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true", help="only the summary")
    shown.add_argument("--dot", action="store_true", help="the graph in Graphviz's dot language")
    args = parser.parse_args(argv)
    package = args.package.resolve()
    if args.dot:
        print(dot(package))
    else:
        print(summary(package))
        if not args.summary:
            for name, targets in sorted(graph(package).items()):
                print(f"{name}: {', '.join(sorted(targets)) or '-'}")
    return 1 if cycles(graph(package)) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # | head: end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
