"""The package's shape: no import cycles (lazy and TYPE_CHECKING imports included), no module over 400 lines.

The graph is scripts/module_graph.py's, the tool the docs point a newcomer to.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("module_graph", ROOT / "scripts" / "module_graph.py")
assert _spec is not None and _spec.loader is not None
module_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(module_graph)

MAX_LINES = 400


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "pkg"


def test_harness_has_no_import_cycle():
    assert module_graph.cycles(module_graph.graph(ROOT / "harness")) == []


#: the entry points: the command line and the pytest plugin present results, so they read the report layer
ENTRY_POINTS = {"harness.cli", "harness.pytest_plugin", "harness.pytest_bench"}


def test_the_engine_does_not_import_the_report_layer():
    """Layers: measuring, storing, comparing and judging (compare, significance, ...) sit below the report
    (harness.report); only the report itself and the entry points import it, lazily or not."""
    edges = module_graph.graph(ROOT / "harness")
    upward = {module: sorted(t for t in targets if t == "harness.report" or t.startswith("harness.report."))
              for module, targets in edges.items()
              if not module.startswith("harness.report") and module not in ENTRY_POINTS}
    assert {m: t for m, t in upward.items() if t} == {}


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in module_graph.modules(ROOT / "harness").items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_a_cycle_through_a_lazy_or_type_checking_import_is_found(tmp_path: Path):
    package = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "b.py": "def f():\n    from pkg import c\n    return c\n",
        "c.py": "from .a import thing\n",
        "d.py": "import pkg.a\n",
    })
    edges = module_graph.graph(package)
    assert edges["pkg.a"] == {"pkg.b"} and edges["pkg.b"] == {"pkg.c"} and edges["pkg.c"] == {"pkg.a"}
    assert module_graph.cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert module_graph.main([str(package), "--summary"]) == 1


def test_an_acyclic_package_has_layers(tmp_path: Path):
    package = _package(tmp_path, {"__init__.py": "from pkg.top import run\n", "base.py": "",
                                  "top.py": "from pkg import base\n", "sub/__init__.py": "",
                                  "sub/leaf.py": "from ..base import x\nfrom pkg.sub import other\n"})
    edges = module_graph.graph(package)
    # a subpackage's module does not depend on its own package's __init__; pkg imports top, top imports base
    assert edges == {"pkg": {"pkg.top"}, "pkg.base": set(), "pkg.sub": set(), "pkg.sub.leaf": {"pkg.base"},
                     "pkg.top": {"pkg.base"}}
    assert module_graph.layers(edges) == {"pkg": 2, "pkg.base": 0, "pkg.sub": 0, "pkg.sub.leaf": 1, "pkg.top": 1}
    assert module_graph.main([str(package), "--summary"]) == 0


def test_measurer_is_not_in_the_runner():
    runner = (ROOT / "harness" / "runner.py").read_text()
    assert "class Measurer" not in runner and "def _row" not in runner
