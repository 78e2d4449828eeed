"""One generic registry for datasets, architectures, methods and metrics.

A component is added with one decorator and found by name; user code needs
no change to the harness: a name of the form ``module:attr`` imports it, and
installed packages can register components through the ``harness.plugins``
entry-point group (each entry point is imported once, on first lookup).

>>> from harness.registry import Registry
>>> shapes = Registry("shape")
>>> @shapes.register("square")
... def square(side: float = 1.0): return side * side
>>> shapes.get("square")(side=3.0)
9.0
>>> shapes.get("sqare")
Traceback (most recent call last):
harness.errors.UnknownNameError: unknown shape 'sqare' (allowed: square, or module:attr; did you mean square?)
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import pydantic

from harness.errors import UnknownNameError

T = TypeVar("T")
ENTRY_POINT_GROUP = "harness.plugins"
_plugins_loaded = False


def load_plugins() -> None:
    """Import every ``harness.plugins`` entry point once; each registers what it brings."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def is_import_path(name: str) -> bool:
    return ":" in name


@contextmanager
def extra_sys_path(directory: Path | None) -> Iterator[None]:
    """Make ``module:attr`` names resolvable from ``directory`` (a suite's folder)."""
    if directory is None or str(directory) in sys.path:
        yield
        return
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))


def import_object(path: str) -> Any:
    """Resolve ``package.module:attr.sub`` to the object it names."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UnknownNameError(f"import path {path!r} must look like 'module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownNameError(f"cannot import module {module_name!r} for {path!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownNameError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


class Registry(Generic[T]):
    """Named components of one kind (``dataset``, ``architecture``, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (default: its ``__name__``)."""

        def decorator(obj: T) -> T:
            key = name or getattr(obj, "__name__", "")
            if not key:
                raise ValueError(f"{self.kind}: give a name to register {obj!r}, which has no __name__")
            if key in self._items and self._items[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._items[key] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (is_import_path(name) or name in self.names())

    def get(self, name: str) -> T:
        """The component called ``name``; ``module:attr`` imports user code."""
        if is_import_path(name):
            return typing.cast(T, import_object(name))
        if name not in self._items:
            load_plugins()
        if name not in self._items:
            allowed = self.names()
            raise UnknownNameError(
                f"unknown {self.kind} {name!r} (allowed: {', '.join(allowed)}, or module:attr"
                f"{did_you_mean(name, allowed)})"
            )
        return self._items[name]

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]


def params_model(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> type[pydantic.BaseModel]:
    """A frozen pydantic model of ``fn``'s keyword parameters, less those in ``skip``.

    Components declare their parameters as an ordinary signature; the suite's
    ``params`` are validated against it (types, defaults, unknown keys).
    A parameter named ``params`` annotated with a pydantic model is used as is.
    """
    if not callable(fn):
        raise UnknownNameError(f"{fn!r} is not callable: a component is a function or a class")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
        signature = inspect.signature(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise UnknownNameError(f"cannot read the parameters of {getattr(fn, '__name__', fn)!r}: {exc}") from None
    declared = hints.get("params")
    if isinstance(declared, type) and issubclass(declared, pydantic.BaseModel):
        return declared
    fields: dict[str, Any] = {}
    extra: Literal["allow", "forbid"] = "forbid"
    for pname, param in signature.parameters.items():
        if pname in skip or param.kind is param.VAR_POSITIONAL:
            continue
        if param.kind is param.VAR_KEYWORD:
            extra = "allow"
            continue
        default = ... if param.default is param.empty else param.default
        fields[pname] = (hints.get(pname, Any), default)
    config = pydantic.ConfigDict(extra=extra, frozen=True, arbitrary_types_allowed=True)
    name = f"{getattr(fn, '__name__', 'component')}_params"
    return pydantic.create_model(name, __config__=config, **fields)
