"""``--set KEY=VALUE``: changing a suite from the command line, as Hydra users expect.

The key is a path of dotted keys and list items: ``[2]`` the third item, ``[kd-16]`` the item whose
``name`` is ``kd-16`` (a student, a pipeline's step). The value is YAML, read by the same safe loader,
with the same limits, as the suite file (:mod:`harness.yamlsrc`): ``[1, 8]``, ``{warmup: 3}``, ``true``,
``5``, ``kd``. Each override replaces the value at its path in the parsed file, in order, before the
suite is validated, so it is validated exactly as the file is; an error at or under a path an
override set names that ``--set`` instead of a line of the file.

>>> o = parse_override("students[0].method.epochs=5")
>>> o.keys, o.value
(('students', 0, 'method', 'epochs'), 5)
>>> raw = {"students": [{"name": "kd", "method": {"name": "kd", "epochs": 3}}]}
>>> apply_overrides(raw, [o, parse_override("students[kd].method.temperature=2.0")])[0]["students"][0]["method"]
{'name': 'kd', 'epochs': 5, 'temperature': 2.0}
>>> parse_override("measure.batch_sizes")
Traceback (most recent call last):
harness.errors.SuiteError: --set measure.batch_sizes: no '=': write --set KEY=VALUE, e.g. measure.batch_sizes=[1,8]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import SuiteError
from harness.registry import did_you_mean
from harness.yamlsrc import Locations, format_path, line_of, parse_yaml

Loc = tuple[Any, ...]

_KEY = r"[A-Za-z0-9_+:-]+"
_STEP = re.compile(rf"\.?({_KEY})|\[([^\[\]]+)\]")


@dataclass(frozen=True)
class Override:
    """One ``--set``: the text as given, the path it names (a list item by name is a ``str`` in ``by_name``
    until :func:`apply_overrides` finds its index) and the value."""

    text: str
    keys: Loc
    value: Any
    by_name: frozenset[int] = frozenset()

    @property
    def origin(self) -> str:
        return f"--set {self.text}"

    def fail(self, message: str) -> SuiteError:
        return SuiteError(message, file=self.origin)


def parse_override(text: str) -> Override:
    """``KEY=VALUE`` as an :class:`Override`, or one :class:`~harness.errors.SuiteError` line naming it."""
    key, sep, value_text = text.partition("=")
    if not sep:
        raise SuiteError("no '=': write --set KEY=VALUE, e.g. measure.batch_sizes=[1,8]", file=f"--set {text}")
    keys: list[Any] = []
    by_name: set[int] = set()
    at = 0
    while at < len(key):
        step = _STEP.match(key, at)
        if step is None or (step.group(1) and keys and not key[at:].startswith(".")) or (at == 0 and key[0] == "."):
            raise SuiteError(f"cannot read the key {key!r} at {key[at:]!r}: write dotted keys and [N] or [NAME] list "
                             "items, e.g. students[0].method.epochs", file=f"--set {text}")
        if step.group(1):
            keys.append(step.group(1))
        elif step.group(2).isdigit():
            keys.append(int(step.group(2)))
        else:
            by_name.add(len(keys))
            keys.append(step.group(2).strip())
        at = step.end()
    if not keys or isinstance(keys[0], int) or 0 in by_name:
        raise SuiteError("the key must start with a suite key, e.g. measure.batch_sizes=[1,8]", file=f"--set {text}")
    try:
        value, _ = parse_yaml(value_text, f"--set {text}")
    except SuiteError as exc:  # one line: the value is the text after '=', its own line numbers say nothing
        raise SuiteError(f"value: {exc.message}", file=f"--set {text}") from None
    return Override(text, tuple(keys), value, frozenset(by_name))


def _item_named(node: list[Any], name: str, override: Override, where: Loc) -> int:
    names = [str(item.get("name")) for item in node if isinstance(item, dict) and "name" in item]
    for index, item in enumerate(node):
        if isinstance(item, dict) and str(item.get("name")) == name:
            return index
    raise override.fail(f"{format_path(where) or 'the suite'} has no item named {name!r} "
                        f"(names: {', '.join(names) or 'none'}{did_you_mean(name, names)})")


def _apply(raw: dict[str, Any], override: Override) -> Loc:
    """Set ``override``'s value in ``raw`` (in place); return its path with list items as indices."""
    node: Any = raw
    where: Loc = ()
    for position, key in enumerate(override.keys):
        last = position == len(override.keys) - 1
        if isinstance(key, int) or position in override.by_name:
            if not isinstance(node, list):
                raise override.fail(f"{format_path(where)} is {_kind(node)}, not a list: [{key}] does not apply")
            if position in override.by_name:
                key = _item_named(node, key, override, where)
            elif key >= len(node):
                span = f" (0 to {len(node) - 1})" if node else ""
                raise override.fail(f"{format_path(where)} has {len(node)} item{'s' * (len(node) != 1)}: "
                                    f"index {key} is out of range{span}")
        elif not isinstance(node, dict):
            raise override.fail(f"{format_path(where) or 'the suite'} is {_kind(node)}, not a mapping: "
                                f"key {key!r} does not apply")
        elif not last and key not in node:
            node[key] = {}  # a key the file leaves out (its default): the value creates it
        where += (key,)
        if last:
            node[key] = copy.deepcopy(override.value)
        else:
            node = node[key]
    return where


def _kind(value: Any) -> str:
    kinds = {dict: "a mapping", list: "a list", type(None): "null", str: "text", bool: "true or false"}
    return kinds.get(type(value), "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}")


def apply_overrides(raw: dict[str, Any], overrides: Sequence[Override]) -> tuple[dict[str, Any], dict[Loc, str]]:
    """A copy of ``raw`` with each override applied in order, and where each set a value -> its ``--set``."""
    raw = copy.deepcopy(raw)
    origins: dict[Loc, str] = {}
    for override in overrides:
        where = _apply(raw, override)
        origins = {path: o for path, o in origins.items() if path[:len(where)] != where}  # replaced
        origins[where] = override.origin
    return raw, origins


@dataclass(frozen=True)
class Source:
    """Where a suite's values came from: the file's lines, and the paths ``--set`` overrides replaced."""

    file: str
    locations: Locations
    origins: dict[Loc, str]

    def error(self, message: str, path: Loc) -> SuiteError:
        """``message`` about ``path``, naming the ``--set`` that set it (or a value above it), else its line; an
        error about a whole that overrides changed a part of (two names alike) names those ``--set`` too."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.origins:
                return SuiteError(message, file=self.origins[path[:end]], path=format_path(path))
        within = [origin for where, origin in self.origins.items() if where[:len(path)] == path]
        return SuiteError(message + (f" (with {'; '.join(within)})" if within else ""), file=self.file,
                          line=line_of(self.locations, path), path=format_path(path))
