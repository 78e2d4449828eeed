"""harness: benchmark and evaluate compressed models against their teacher.

>>> import harness
>>> df = harness.load_results("results/quick")    # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_results", "load_suite"]

if TYPE_CHECKING:
    from harness.store import load_results
    from harness.suite import load_suite


def __getattr__(name: str) -> Any:
    # Lazy, so that `import harness` stays cheap for the CLI and the workers.
    if name == "load_results":
        from harness.store import load_results

        return load_results
    if name == "load_suite":
        from harness.suite import load_suite

        return load_suite
    raise AttributeError(name)
