"""The suite loader: good files resolve with defaults filled in; bad ones give one exact line."""

from pathlib import Path

import numpy as np
import pydantic
import pytest

from harness.errors import SuiteError
from harness.suite import import_paths, load_suite
from tests.conftest import FIXTURES

BAD = sorted((FIXTURES / "bad_suites").glob("*.yaml"))


def test_good_suite_resolves_with_defaults():
    suite = load_suite(FIXTURES / "tiny.yaml")
    assert suite.name == "tiny"
    assert suite.dataset.params == {"num_samples": 120, "num_features": 8, "num_classes": 3, "test_fraction": 0.25}
    assert suite.teacher.train["weight_decay"] == 0.01  # the recipe's default, filled in
    kd = suite.students[0].method[0]
    assert (kd.name, kd.params["temperature"], kd.params["alpha"], kd.params["epochs"]) == ("kd", 4.0, 0.9, 2)
    assert suite.measure.batch_sizes == [1, 8]
    assert suite.source == (FIXTURES / "tiny.yaml").resolve()


def test_suite_is_frozen():
    suite = load_suite(FIXTURES / "tiny.yaml")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        suite.name = "other"  # type: ignore[misc]


def test_content_hash_is_stable_and_sensitive(tmp_path: Path):
    text = (FIXTURES / "tiny.yaml").read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text.replace("temperature: 4.0", "temperature: 4.5"))
    # defaults written out explicitly give the same experiment, so the same hash
    (tmp_path / "c.yaml").write_text(text.replace("epochs: 2}", "epochs: 2, weight_decay: 0.01}"))
    a, b, c = (load_suite(tmp_path / f"{n}.yaml").content_hash() for n in "abc")
    assert a == load_suite(FIXTURES / "tiny.yaml").content_hash() == c
    assert a != b


BEFORE = "e8d41dd4d9c4f48c37d5b1edd5234a25d0bcafefdd7cdd458fc4c21e893bb2a1"


def test_a_suite_without_scenarios_keeps_the_hash_it_had_before_them(tmp_path: Path):
    """``measure.scenarios`` absent or ``[single_stream]`` is the same experiment as before scenarios existed
    (BEFORE: tiny.yaml's hash at commit 44cc7a5, the last without them); a server scenario is a different one."""
    text = (FIXTURES / "tiny.yaml").read_text()
    line = "  batch_sizes: [1, 8]\n"
    (tmp_path / "a.yaml").write_text(text.replace(line, line + "  scenarios: [single_stream]\n"))
    (tmp_path / "b.yaml").write_text(text.replace(line, line + "  scenarios: [single_stream, {server: {qps: [100], "
                                                  "duration_seconds: 5, slo_p99_ms: 20}}]\n"))
    plain = load_suite(FIXTURES / "tiny.yaml")
    assert plain.measure.scenario_names == ["single_stream"]
    assert plain.content_hash() == load_suite(tmp_path / "a.yaml").content_hash() == BEFORE
    assert load_suite(tmp_path / "b.yaml").content_hash() != plain.content_hash()


def test_import_path_components_resolve_from_the_suite_folder():
    suite = load_suite(FIXTURES / "plugin_suite.yaml")
    assert suite.students[0].params == {"scale": 0.5}
    assert import_paths(suite) == ["plugins.my_components:wide_linear"]


def _expected(path: Path) -> tuple[int | None, str, str]:
    header = path.read_bytes().decode("utf-8", "replace").splitlines()[0].removeprefix("# expect: ")
    where, substring = (part.strip() for part in header.split("|", 1))
    line, _, field = where.partition(" ")
    return int(line), field, substring


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_suite_gives_one_line_naming_file_line_and_field(path: Path):
    line, field, substring = _expected(path)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    prefix = f"{path}:{line}:" + (f" {field}:" if field else "")
    assert message.startswith(prefix), message
    assert substring in message, message


def test_the_bad_suite_corpus_is_large_enough():
    assert len(BAD) >= 40


def test_odd_keys_are_quoted_so_the_error_stays_one_line(tmp_path: Path):
    from harness.yamlsrc import format_path

    assert format_path(("students", 0, "method", "temperature")) == "students[0].method.temperature"
    assert format_path(("measure", "a b\nc")) == 'measure["a b\\nc"]'
    (tmp_path / "s.yaml").write_text((FIXTURES / "tiny.yaml").read_text() + '"two\\nlines": 1\n')
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path / "s.yaml")
    assert str(info.value) == (f'{tmp_path / "s.yaml"}:16: ["two\\nlines"]: unknown key (allowed: name, version, '
                               "description, dataset, teacher, students, build, measure, seeds, gates, "
                               "gate_policy)")


def test_an_alias_bomb_is_refused_in_bounded_time_and_memory():
    """9**9 values from 11 short lines: refused from the composed nodes, before anything is expanded."""
    import time
    import tracemalloc

    path = FIXTURES / "bad_suites" / "alias_bomb.yaml"
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(SuiteError, match="alias bomb"):
            load_suite(path)
        seconds = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1.0 and peak < 100 * 2**20, (seconds, peak)


def test_anchors_that_share_a_recipe_are_fine(tmp_path: Path):
    text = (FIXTURES / "tiny.yaml").read_text()
    shared = text.replace("params: {hidden: [16]}", "params: &arch {hidden: [16]}").replace(
        "params: {hidden: [4]}", "params: *arch")
    assert shared != text
    (tmp_path / "s.yaml").write_text(shared)
    suite = load_suite(tmp_path / "s.yaml")
    assert suite.students[0].params == suite.teacher.params == {"hidden": [16], "dropout": 0.0}


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path):
    from harness.yamlsrc import MAX_BYTES

    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: nothing is written, and the loader must not read it
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}: {MAX_BYTES + 1} bytes: over the 10 MiB a suite file may have"


def _tiny_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (FIXTURES / "tiny.yaml").read_text()
    assert old in text
    (tmp_path / "suite.yaml").write_text(text.replace(old, new, 1))
    return tmp_path / "suite.yaml"


def _message(path: Path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    return message


def test_a_data_file_is_found_beside_the_suite_and_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "blobs.npz", x=np.zeros((4, 2)), y=np.arange(4))  # validation reads its index
    suite = _tiny_with(tmp_path, "{name: synthetic, num_samples: 120, seed: 0}", "{name: npz, path: data/blobs.npz}")
    monkeypatch.chdir(FIXTURES)  # not the working directory: the suite's folder
    assert load_suite(suite).dataset.params == {"path": str(tmp_path / "data" / "blobs.npz"), "test_fraction": 0.2}
    (tmp_path / "data" / "blobs.npz").unlink()
    assert _message(suite) == (f"{suite}:2: dataset.path: data file not found: {tmp_path / 'data' / 'blobs.npz'}")


USER_DATASET = '''
from pathlib import Path
from pydantic import BaseModel, DirectoryPath
from harness.data import DATASETS

def files(*, seed: int, path: Path, more: list[Path] = [], images: DirectoryPath | None = None):
    return DATASETS.get("synthetic")(seed=seed)

class Lax(BaseModel):  # no strict config of its own: the suite is strict all the same
    scale: float = 1.0

def declared(input_shape, num_classes, params: Lax):
    raise AssertionError("not built by validate")
'''


@pytest.mark.parametrize(("dataset", "expected"), [
    ("{name: 'my_data_files:files', path: a.npz, more: [a.npz, b.npz]}",
     "2: dataset.more[1]: data file not found: {dir}/b.npz"),
    ("{name: 'my_data_files:files', path: a.npz, images: a.npz}",
     "2: dataset.images: is a file, not a data folder: {dir}/a.npz"),
    ("{name: 'my_data_files:files', path: a.npz, images: pics}",
     "2: dataset.images: data folder not found: {dir}/pics"),
    ("{name: 'my_data_files:files', path: [a.npz]}", "2: dataset.path: Input should be a valid string (got list)"),
])
def test_every_path_parameter_of_a_users_dataset_is_checked(tmp_path: Path, dataset: str, expected: str):
    """A parameter typed ``Path`` (or a list of them) names a file beside the suite, ``DirectoryPath`` a folder."""
    (tmp_path / "my_data_files.py").write_text(USER_DATASET)
    (tmp_path / "a.npz").write_bytes(b"")
    suite = _tiny_with(tmp_path, "{name: synthetic, num_samples: 120, seed: 0}", dataset)
    assert _message(suite) == f"{suite}:" + expected.format(dir=tmp_path)


def test_a_users_path_parameters_resolve(tmp_path: Path):
    (tmp_path / "my_data_files.py").write_text(USER_DATASET)
    (tmp_path / "a.npz").write_bytes(b"")
    (tmp_path / "pics").mkdir()
    suite = _tiny_with(tmp_path, "{name: synthetic, num_samples: 120, seed: 0}",
                       "{name: 'my_data_files:files', path: a.npz, more: [a.npz], images: pics}")
    a = str(tmp_path / "a.npz")
    assert load_suite(suite).dataset.params == {"path": a, "more": [a], "images": str(tmp_path / "pics")}


@pytest.mark.parametrize(("params", "expected"), [
    ('{scale: "0.5"}', "students[0].params.scale: Input should be a valid number (got '0.5'; write 0.5, unquoted)"),
    ("{scale: 5e-1}", "students[0].params.scale: Input should be a valid number (got '5e-1'; YAML 1.1 reads 5e-1 "
                      "as text: write 5.0e-1)"),
    ("{scale: true}", "students[0].params.scale: Input should be a valid number (got True)"),
])
def test_a_users_architecture_is_as_strict_as_a_builtin(tmp_path: Path, params: str, expected: str):
    """No coercion for a component by import path either: its signature's types, strictly."""
    text = (FIXTURES / "plugin_suite.yaml").read_text().replace("params: {scale: 0.5}", f"params: {params}")
    (tmp_path / "plugins").symlink_to(FIXTURES / "plugins")
    (tmp_path / "suite.yaml").write_text(text)
    assert _message(tmp_path / "suite.yaml") == f"{tmp_path / 'suite.yaml'}:10: {expected}"


def test_a_declared_params_model_is_validated_strictly(tmp_path: Path):
    (tmp_path / "my_data_files.py").write_text(USER_DATASET)
    suite = _tiny_with(tmp_path, "    arch: mlp\n    params: {hidden: [4]}",
                       '    arch: "my_data_files:declared"\n    params: {scale: "2"}')
    assert _message(suite) == (f"{suite}:10: students[0].params.scale: Input should be a valid number "
                               f"(got '2'; write 2, unquoted)")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("{name: synthetic, num_samples: 120, seed: 0}", "{name: npz, path: loop}",
     "2: dataset.path: cannot read data file {dir}/loop: Symlink loop from '{dir}/loop'"),
    ("  train: {epochs: 2, lr: 1.0e-2, batch_size: 32}", "  checkpoint: loop",
     "6: teacher.checkpoint: cannot read checkpoint file {dir}/loop: Symlink loop from '{dir}/loop'"),
    ("{name: synthetic, num_samples: 120, seed: 0}", "{name: npz, path: " + "x" * 300 + "}",
     "2: dataset.path: cannot read data file {dir}/xxx"),
])
def test_a_file_that_cannot_be_looked_at_is_one_line(tmp_path: Path, old: str, new: str, expected: str):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    suite = _tiny_with(tmp_path, old, new)
    assert _message(suite).startswith(f"{suite}:" + expected.format(dir=tmp_path))


def test_a_parameter_that_takes_a_python_object_says_so(tmp_path: Path):
    (tmp_path / "arch_takes_object.py").write_text(
        "import torch\ndef arch(input_shape, num_classes, *, device: torch.device = torch.device('cpu')):\n"
        "    return torch.nn.Flatten()\n")
    suite = _tiny_with(tmp_path, "    arch: mlp\n    params: {hidden: [4]}",
                       '    arch: "arch_takes_object:arch"\n    params: {device: cpu}')
    assert _message(suite) == (f"{suite}:10: students[0].params.device: takes a Python object, which a suite "
                               f"cannot give: leave it out (got 'cpu')")
