"""Generated suite documents: the loader never raises anything but the harness's own error type."""

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import registry
from harness.errors import HarnessError, UnknownNameError
from harness.suite import Suite, load_suite
from tests.conftest import FIXTURES

VALID: dict[str, Any] = yaml.safe_load((FIXTURES / "tiny.yaml").read_text())

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["mlp", "kd", "scratch", "digits", "synthetic", "cpu", "cuda:0", "", "1e400"]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)),
    max_leaves=20)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


@st.composite
def mutated_suites(draw: st.DrawFn) -> Any:
    """The valid tiny suite with one value replaced, one key removed or one key added."""
    doc = yaml.safe_load(yaml.safe_dump(VALID))
    path = draw(st.sampled_from(_paths(doc)[1:]))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(documents)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(documents)
    return doc


@pytest.fixture(autouse=True)
def _no_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated 'module:attr' names must not import whatever module a random string names."""
    def refuse(path: str) -> Any:
        raise UnknownNameError(f"imports are off in this test ({path!r})")

    monkeypatch.setattr(registry, "import_object", refuse)


def _load(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "suite.yaml"
    path.write_text(text)
    try:
        assert isinstance(load_suite(path), Suite)
    except HarnessError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(doc=documents)
def test_arbitrary_documents(tmp_path_factory: pytest.TempPathFactory, doc: Any):
    _load(tmp_path_factory, yaml.safe_dump(doc))


@FUZZ
@given(doc=mutated_suites())
def test_mutations_of_a_valid_suite(tmp_path_factory: pytest.TempPathFactory, doc: Any):
    _load(tmp_path_factory, yaml.safe_dump(doc, sort_keys=False))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("abn:-[]{},'\"\n #!&*|>%@`\t0123456789.")), max_size=80))
def test_raw_text(tmp_path_factory: pytest.TempPathFactory, text: str):
    _load(tmp_path_factory, text)


def test_the_unmutated_suite_is_valid(tmp_path_factory: pytest.TempPathFactory):
    """The fuzzers' starting point must load (``_load`` would also accept a one-line error)."""
    path = tmp_path_factory.mktemp("fuzz") / "suite.yaml"
    path.write_text(yaml.safe_dump(VALID))
    suite = load_suite(path)
    assert isinstance(suite, Suite) and suite.resolved()["name"] == VALID["name"]
