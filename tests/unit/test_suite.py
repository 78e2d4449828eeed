"""The suite loader: good files resolve with defaults filled in; bad ones give one exact line."""

from pathlib import Path

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
