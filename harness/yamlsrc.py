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
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError("file not found", file=file) from None
    except OSError as exc:
        raise SuiteError(f"cannot read: {exc.strerror or exc}", file=file) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line: int | None = data[: exc.start].count(b"\n") + 1
        raise SuiteError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); a suite is a YAML text file",
                         file=file, line=line) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise SuiteError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"invalid YAML: {' '.join(str(exc).split())}", file=file) from None
    locations: Locations = {}
    if node is not None:
        _walk(node, (), locations, file)
    return data, locations
