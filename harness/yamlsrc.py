"""Safe YAML loading that remembers where each value came from.

:func:`load_yaml` returns the plain data (``yaml.SafeLoader`` only: no
Python objects are ever constructed) and a map from each value's path, such
as ``("students", 0, "method", "name")``, to its 1-based line, so that a
validation error can name the line it is about.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import SuiteError

Locations = dict[tuple[Any, ...], int]

#: a suite is a page of text: a file over this is refused before it is read
MAX_BYTES = 10 * 2**20
#: mappings and lists nested deeper than this are refused as they are parsed (a real suite nests about 6 deep)
MAX_DEPTH = 64
#: values once every alias is expanded: anchors may share a recipe, not multiply a file ("billion laughs")
MAX_NODES = 100_000


class _Refused(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing structure nested deeper than :data:`MAX_DEPTH` while it composes (PyYAML
    recurses once per level: a few thousand levels would end in a RecursionError)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", mark.line + 1)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to over :data:`MAX_NODES` values, naming the line of the
    smallest part that does, and one whose value contains itself (a recursive alias). Linear in the file:
    each node's expanded size is computed once, however many times the aliases repeat it, and without
    recursion (chains of aliases may nest deeper than Python's stack)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if done:
            visiting.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in _children(node)), MAX_NODES + 1)
            continue
        if id(node) in visiting:
            raise _Refused("a value contains itself (a recursive YAML alias)", node.start_mark.line + 1)
        visiting.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in visiting:
                raise _Refused("a value contains itself (a recursive YAML alias)", child.start_mark.line + 1)
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] <= MAX_NODES:
        return
    node = root
    while (over := [c for c in _children(node) if sizes[id(c)] > MAX_NODES]):
        node = over[0]
    raise _Refused(f"its aliases expand to over {MAX_NODES} values (an alias bomb?)", node.start_mark.line + 1)


def _walk(node: yaml.Node, path: tuple[Any, ...], out: Locations, file: str) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key in seen:
                raise SuiteError(f"key {key!r} appears twice", file=file, line=key_node.start_mark.line + 1,
                                 path=format_path(path + (key,)))
            seen.add(key)
            out[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), out, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), out, file)


def format_path(path: tuple[Any, ...]) -> str:
    """``("students", 0, "method")`` -> ``students[0].method``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z0-9_.+:-]+", part):
            text += f".{part}" if text else part
        else:  # a key with spaces, newlines or no text at all: quoted, escaped, still one line
            text += f"[{json.dumps(part if isinstance(part, str) else str(part))}]"
    return text


def line_of(locations: Locations, path: tuple[Any, ...]) -> int | None:
    """The line of ``path``, or of its nearest ancestor that the file has."""
    for end in range(len(path), -1, -1):
        if path[:end] in locations:
            return locations[path[:end]]
    return None


def load_yaml(path: Path) -> tuple[Any, Locations]:
    """Parse ``path`` safely; syntax errors become one-line :class:`SuiteError`."""
    file = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SuiteError(f"{path.stat().st_size} bytes: over the {MAX_BYTES // 2**20} MiB a suite file may have",
                             file=file)
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError("file not found", file=file) from None
    except OSError as exc:
        raise SuiteError(f"cannot read: {exc.strerror or exc}", file=file) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); a suite is a YAML text file",
                         file=file, line=data[: exc.start].count(b"\n") + 1) from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str) -> tuple[Any, Locations]:
    """Parse the YAML ``text`` that ``file`` names (a path, or ``--set KEY=VALUE``) as :func:`load_yaml` does."""
    if len(text.encode()) > MAX_BYTES:
        raise SuiteError(f"over the {MAX_BYTES // 2**20} MiB a suite may have", file=file)
    if "\x00" in text:
        line: int | None = text[: text.index("\x00")].count("\n") + 1
        raise SuiteError("a NUL byte: a suite is a YAML text file", file=file, line=line)
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader refuses control characters as it starts
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node)
        value = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise SuiteError(str(exc), file=file, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise SuiteError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"invalid YAML: {' '.join(str(exc).split())}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    locations: Locations = {}
    if node is not None:
        _walk(node, (), locations, file)
    return value, locations
