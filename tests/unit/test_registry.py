from importlib.metadata import EntryPoint

import pytest

from harness import registry
from harness.errors import UnknownNameError
from harness.registry import Registry, params_model


def test_register_and_get():
    things: Registry = Registry("thing")

    @things.register("alpha")
    def alpha():
        return 1

    assert things.get("alpha") is alpha
    assert things.names() == ["alpha"]
    assert "alpha" in things and "beta" not in things


def test_unknown_name_lists_what_exists_and_suggests():
    things: Registry = Registry("thing")
    things.add("resnet", object())
    things.add("mlp", object())
    with pytest.raises(UnknownNameError, match=r"unknown thing 'resnt' \(allowed: mlp, resnet, or module:attr; "
                                               r"did you mean resnet\?\)"):
        things.get("resnt")


def test_registering_a_name_twice_is_an_error():
    things: Registry = Registry("thing")
    things.add("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        things.add("a", 2)


def test_import_path():
    things: Registry = Registry("thing")
    assert things.get("math:sqrt")(9) == 3
    with pytest.raises(UnknownNameError, match="cannot import module"):
        things.get("no_such_module_xyz:f")
    with pytest.raises(UnknownNameError, match="has no attribute"):
        things.get("math:no_such_function")


PLUGIN_TARGET: Registry = Registry("thing")


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """An installed package's entry point in the harness.plugins group registers on first lookup."""
    (tmp_path / "demo_plugin_xyz.py").write_text(
        "from tests.unit.test_registry import PLUGIN_TARGET\nPLUGIN_TARGET.add('from-plugin', lambda: 'hello')\n")
    monkeypatch.syspath_prepend(tmp_path)
    ep = EntryPoint(name="demo", value="demo_plugin_xyz", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    assert PLUGIN_TARGET.get("from-plugin")() == "hello"
    assert PLUGIN_TARGET.names() == ["from-plugin"]


def test_params_model_from_signature():
    def arch(input_shape: tuple[int, ...], num_classes: int, *, hidden: tuple[int, ...] = (8,), dropout: float = 0.0):
        return None

    model = params_model(arch, skip=("input_shape", "num_classes"))
    assert model.model_validate({"hidden": [4, 4]}).model_dump() == {"hidden": (4, 4), "dropout": 0.0}
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        model.model_validate({"hiden": [4]})


@pytest.mark.parametrize(("path", "message"), [
    ("math:sqtr", "module 'math' has no attribute 'sqtr'; did you mean math:sqrt?"),
    ("os:path.jion", "os:path has no attribute 'jion'; did you mean os:path.join?"),
    ("plugins.my_components:wide_linaer",
     "module 'plugins.my_components' has no attribute 'wide_linaer'; did you mean plugins.my_components:wide_linear?"),
    ("plugins.my_componets:wide_linear", "cannot import module 'plugins.my_componets' for "
     "'plugins.my_componets:wide_linear': No module named 'plugins.my_componets'; "
     "did you mean plugins.my_components:wide_linear?"),
    ("plugin.my_components:wide_linear", "cannot import module 'plugin.my_components' for "
     "'plugin.my_components:wide_linear': No module named 'plugin'; did you mean plugins.my_components:wide_linear?"),
    ("math:zzzzzz", "module 'math' has no attribute 'zzzzzz'"),
])
def test_a_misspelt_import_path_suggests_the_nearest_name(path: str, message: str, monkeypatch: pytest.MonkeyPatch):
    """The attribute nearest in that module, or the module nearest in its package (a folder without
    __init__.py, as tests/fixtures/plugins, counts): the whole corrected path, ready to paste."""
    from tests.conftest import FIXTURES

    monkeypatch.syspath_prepend(str(FIXTURES))
    with pytest.raises(UnknownNameError) as info:
        registry.import_object(path)
    assert str(info.value) == message


def test_a_module_whose_own_import_fails_gets_no_suggestion(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """The module exists but imports something missing: suggesting another module name would mislead."""
    (tmp_path / "needs_missing_dep_xyz.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownNameError) as info:
        registry.import_object("needs_missing_dep_xyz:f")
    assert str(info.value) == ("cannot import module 'needs_missing_dep_xyz' for 'needs_missing_dep_xyz:f': "
                               "No module named 'no_such_dependency_xyz'")
