"""Random structures and depths for the suite loader: one line (HarnessError) or a suite, never anything else,
and deep nesting refused before Python's recursion limit is anywhere near."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError, SuiteError
from harness.suite import Suite, load_suite
from harness.yamlsrc import MAX_DEPTH, MAX_NODES

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def nested(draw: st.DrawFn) -> tuple[str, int]:
    """A document nesting mappings and lists (flow or block style) to a random depth; (its text, its depth)."""
    depth = draw(st.integers(min_value=1, max_value=6000))
    kinds = draw(st.lists(st.sampled_from(["map", "list"]), min_size=1, max_size=3))
    leaf = draw(st.sampled_from(["1", "x", "[]", "{}", "null"]))
    text = leaf
    for level in range(depth):
        text = f"{{k{level}: {text}}}" if kinds[level % len(kinds)] == "map" else f"[{text}]"
    return f"name: {text}\n", depth + 1  # the top-level mapping is a level too


def _load(path: Path, text: str) -> Suite | None:
    path.write_text(text)
    try:
        return load_suite(path)
    except HarnessError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)
        return None


@PROPERTY
@given(doc=nested())
def test_any_depth_is_one_line(tmp_path_factory: pytest.TempPathFactory, doc: tuple[str, int]):
    text, depth = doc
    path = tmp_path_factory.mktemp("deep") / "suite.yaml"
    if depth > MAX_DEPTH:
        with pytest.raises(SuiteError, match=f"nested more than {MAX_DEPTH} levels deep"):
            load_suite(path) if path.write_text(text) else None
    else:
        assert _load(path, text) is None  # a name must be a string: refused, in one line, for its own reason


@PROPERTY
@given(data=st.binary(max_size=300))
def test_any_bytes_are_one_line(tmp_path_factory: pytest.TempPathFactory, data: bytes):
    """Not UTF-8, NUL bytes, control characters, BOMs: one line or a suite."""
    path = tmp_path_factory.mktemp("bytes") / "suite.yaml"
    path.write_bytes(data)
    try:
        load_suite(path)
    except HarnessError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)


@PROPERTY
@given(fanout=st.integers(min_value=2, max_value=12), levels=st.integers(min_value=2, max_value=12))
def test_aliases_are_refused_by_what_they_expand_to(tmp_path_factory: pytest.TempPathFactory, fanout: int,
                                                     levels: int):
    """Each level repeats the one before ``fanout`` times: refused when the expanded document is large, and
    read as usual when it is small (anchors may share a recipe)."""
    lines = [f"a0: &a0 [{', '.join(['x'] * fanout)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
    path = tmp_path_factory.mktemp("alias") / "suite.yaml"
    path.write_text("\n".join(lines) + "\n")
    sizes = [1 + fanout]  # a list node and its items, once every alias is expanded
    for _ in range(1, levels):
        sizes.append(1 + fanout * sizes[-1])
    expanded = 1 + sum(1 + size for size in sizes)  # the top mapping, each key and its list
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert ("alias bomb" in str(info.value)) == (expanded > MAX_NODES), (expanded, str(info.value))


def test_a_real_suite_survives_its_own_yaml_round_trip(tmp_path: Path):
    """The strategies above are only worth something if the loader accepts a real suite written the same way."""
    from tests.conftest import FIXTURES

    doc = yaml.safe_load((FIXTURES / "tiny.yaml").read_text())
    assert isinstance(_load(tmp_path / "s.yaml", yaml.safe_dump(doc, default_flow_style=True)), Suite)
