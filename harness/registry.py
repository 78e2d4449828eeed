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

import builtins
import difflib
import functools
import importlib
import inspect
import pkgutil
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path, PurePath
from typing import Annotated, Any, Generic, Literal, TypeVar

import pydantic
from pydantic.fields import FieldInfo

from harness.doctext import markdown_code
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
    """Resolve ``package.module:attr.sub`` to the object it names; a misspelt part gets a "did you mean".

    >>> import_object("math:sqrt")(9.0)
    3.0
    >>> import_object("math:sqtr")
    Traceback (most recent call last):
    harness.errors.UnknownNameError: module 'math' has no attribute 'sqtr'; did you mean math:sqrt?
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UnknownNameError(f"import path {path!r} must look like 'module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownNameError(f"cannot import module {module_name!r} for {path!r}: {exc}"
                               f"{_module_suggestion(exc, module_name, attr)}") from None
    found: list[str] = []
    for part in attr.split("."):
        if not hasattr(obj, part):
            where = f"module {module_name!r}" if not found else f"{module_name}:{'.'.join(found)}"
            names = [n for n in dir(obj) if not n.startswith("_") or part.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
            hint = f"; did you mean {module_name}:{'.'.join([*found, close[0]])}?" if close else ""
            raise UnknownNameError(f"{where} has no attribute {part!r}{hint}")
        obj = getattr(obj, part)
        found.append(part)
    return obj


def _module_suggestion(exc: ImportError, module_name: str, attr: str) -> str:
    """``; did you mean pkg.right:attr?`` when the module named is the one missing (not one it imports).
    Namespace packages (folders without ``__init__.py``) count: ``pkgutil`` does not list them."""
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if not missing or not (module_name + ".").startswith(missing + "."):
        return ""
    parent, _, leaf = missing.rpartition(".")
    try:
        search: list[str] = list(importlib.import_module(parent).__path__) if parent else sys.path
        siblings = {m.name for m in pkgutil.iter_modules(search)}
        siblings |= {d.name for f in search if Path(f or ".").is_dir() for d in Path(f or ".").iterdir()
                     if d.name.isidentifier() and not d.name.startswith("__") and d.is_dir()}
    except (ImportError, AttributeError, OSError):
        return ""
    close = difflib.get_close_matches(leaf, sorted(siblings), n=1, cutoff=0.6)
    fixed = ".".join(p for p in (parent, *close[:1]) if p) + module_name[len(missing):]
    return f"; did you mean {fixed}:{attr}?" if close else ""


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


@dataclass(frozen=True)
class ParamDoc:
    """One parameter of a component, or one key of a suite section, as ``harness list`` and the docs show it."""

    name: str
    type: str
    default: str
    bounds: str
    description: str
    #: the model of this key's value where it is a section of its own (``measure.latency``), else None
    nested: builtins.type[pydantic.BaseModel] | None = None


def describe_params(model: type[pydantic.BaseModel], notes: Mapping[str, str] | None = None) -> list[ParamDoc]:
    """Each field of ``model`` in declaration order: name, type, default, bounds and description.

    Bounds come from the ``Field`` constraints (``ge``, ``gt``, ``le``, ``lt``, lengths, patterns)
    and ``Literal`` choices; the description from ``Field(description=...)``, else the ``#:``
    comment above the field in its class, else ``notes["Class.field"]`` (any class of the MRO).

    >>> from pydantic import BaseModel, Field
    >>> class P(BaseModel):
    ...     sparsity: float = Field(gt=0, lt=1, description="share of weights set to zero")
    ...     scope: Literal["global", "layer"] = "global"
    ...     hidden: list[int] = Field([128], min_length=1)
    >>> for p in describe_params(P):
    ...     print(p.name, p.type, p.default, p.bounds, p.description or "-", sep=" | ")
    sparsity | float | required | > 0, < 1 | share of weights set to zero
    scope | str | global | one of: global, layer | -
    hidden | list[int] | [128] | length >= 1 | -
    """
    return [ParamDoc(name, type_text(info.annotation), default_text(info), bounds_text(info),
                     _description(model, name, info, notes or {}), _nested_model(info.annotation))
            for name, info in model.model_fields.items()]


def _args(annotation: Any) -> list[Any]:
    return [a for a in typing.get_args(annotation) if a is not type(None)]


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def type_text(annotation: Any) -> str:
    """A type as a suite author reads it: ``int``, ``list[int]``, ``str or null``, ``mapping``."""
    origin = typing.get_origin(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is Annotated:
        return type_text(typing.get_args(annotation)[0])
    if origin is Literal:
        return " or ".join(sorted({type_text(type(v)) for v in typing.get_args(annotation)}))
    if _is_union(annotation):
        parts = [type_text(a) for a in _args(annotation)]
        nullable = type(None) in typing.get_args(annotation)
        return " or ".join(dict.fromkeys(parts)) + (" or null" if nullable else "")
    if origin in (list, tuple, set, frozenset):
        return f"list[{type_text(_args(annotation)[0])}]"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return "mapping" if value is Any else f"dict[{type_text(key)}, {type_text(value)}]"
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _nested_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The pydantic model inside ``annotation`` (``LatencySpec``, ``list[StudentSpec]``, ``dict[str, GateSpec]``)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    found = {m for arg in (_args(annotation)[-1:] if typing.get_origin(annotation) is dict else _args(annotation))
             if (m := _nested_model(arg)) is not None}
    return found.pop() if len(found) == 1 else None  # one of several models: no one section describes it


def value_text(value: Any) -> str:
    """A value as YAML writes it, in flow style: ``null``, ``true``, ``[1, 8]``, ``adamw``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, set)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, pydantic.BaseModel):  # one of several kinds (a scenario) is named by its kind
        return str(getattr(value, "kind", "its keys' defaults"))
    return str(value) if value != "" else '""'


def default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return value_text(info.default_factory())  # type: ignore[call-arg]  # no validated-data factories here
    return "required" if info.is_required() else value_text(info.default)


_SIGNS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _constraints(metadata: list[Any]) -> list[str]:
    found: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            found += _constraints(item.metadata)
            continue
        for attr, sign in _SIGNS:
            if getattr(item, attr, None) is not None:
                found.append(f"{sign} {_number(getattr(item, attr))}")
        if getattr(item, "min_length", None) is not None:
            found.append(f"length >= {item.min_length}")
        if getattr(item, "max_length", None) is not None:
            found.append(f"length <= {item.max_length}")
        if getattr(item, "pattern", None) is not None:
            found.append(f"matches `{item.pattern}`")
    return found


def _inner_bounds(annotation: Any, prefix: str = "") -> list[str]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = typing.get_args(annotation)
        return [prefix + c for c in _constraints(metadata)] + _inner_bounds(inner, prefix)
    if origin is Literal:
        return [prefix + "one of: " + ", ".join(value_text(v) for v in typing.get_args(annotation))]
    if _is_union(annotation):
        return [b for arg in _args(annotation) for b in _inner_bounds(arg, prefix)]
    if origin in (list, tuple, set, frozenset):
        return _inner_bounds(_args(annotation)[0], "each ")
    if origin is dict:
        return _inner_bounds(typing.get_args(annotation)[1], "each value ")
    return []


def bounds_text(info: FieldInfo) -> str:
    """``> 0, < 1``; ``one of: dynamic, static``; ``length >= 1, each >= 1``."""
    return ", ".join(dict.fromkeys(_constraints(info.metadata) + _inner_bounds(info.annotation)))


@functools.cache
def _field_comments(cls: type) -> dict[str, str]:
    """``{field: text}`` of the ``#:`` comments right above each annotated field in ``cls``'s own source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    comment: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#:"):
            comment.append(text[2:].strip())
            continue
        field = re.match(r"(\w+)\s*:", text)
        if field and comment:
            found.setdefault(field.group(1), " ".join(comment))
        comment = []
    return found


def _description(model: type[pydantic.BaseModel], name: str, info: FieldInfo, notes: Mapping[str, str]) -> str:
    classes = [c for c in model.__mro__ if isinstance(c, type) and issubclass(c, pydantic.BaseModel)
               and c is not pydantic.BaseModel]
    comments = (_field_comments(c).get(name) for c in classes)
    noted = (notes.get(f"{c.__name__}.{name}") for c in classes)
    text = info.description or next((c for c in comments if c), None) or next((n for n in noted if n), "")
    return markdown_code(text)
