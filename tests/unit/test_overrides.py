"""``--set KEY=VALUE``: parsed, applied before validation, errors naming the override, recorded in the run."""

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import SuiteError
from harness.suite import load_suite
from harness.suite.overrides import apply_overrides, parse_override
from tests.conftest import FIXTURES

TINY = FIXTURES / "tiny.yaml"
RAW = {"name": "s", "students": [{"name": "kd-4", "method": [{"name": "prune"}, {"name": "kd", "epochs": 2}]}],
       "measure": {"batch_sizes": [1]}}


@pytest.mark.parametrize(("text", "keys", "value"), [
    ("measure.batch_sizes=[1,8]", ("measure", "batch_sizes"), [1, 8]),
    ("students[0].method.epochs=5", ("students", 0, "method", "epochs"), 5),
    ("measure.latency={warmup_iters: 3, max_seconds: 0.5}", ("measure", "latency"),
     {"warmup_iters": 3, "max_seconds": 0.5}),
    ("measure.latency.noise_floor=false", ("measure", "latency", "noise_floor"), False),
    ("students[1].method.name=kd", ("students", 1, "method", "name"), "kd"),
    ("description=a=b", ("description",), "a=b"),  # the first '=' ends the key
    ("measure.threads=", ("measure", "threads"), None),  # YAML: nothing is null
    ("description=''", ("description",), ""),
    ("students[kd-4].method[1].lr=1.0e-3", ("students", "kd-4", "method", 1, "lr"), 0.001),
])
def test_parse(text: str, keys: tuple, value: object):
    override = parse_override(text)
    assert (override.text, override.keys, override.value) == (text, keys, value)


@pytest.mark.parametrize(("text", "message"), [
    ("measure.batch_sizes", "--set measure.batch_sizes: no '=': write --set KEY=VALUE, e.g. measure.batch_sizes=[1,8]"),
    ("=5", "--set =5: the key must start with a suite key, e.g. measure.batch_sizes=[1,8]"),
    ("[0].name=x", "--set [0].name=x: the key must start with a suite key, e.g. measure.batch_sizes=[1,8]"),
    ("measure..threads=2", "--set measure..threads=2: cannot read the key 'measure..threads' at '..threads': write "
                           "dotted keys and [N] or [NAME] list items, e.g. students[0].method.epochs"),
    ("students[0]method=x", "--set students[0]method=x: cannot read the key 'students[0]method' at 'method': write "
                            "dotted keys and [N] or [NAME] list items, e.g. students[0].method.epochs"),
    ("measure.batch_sizes=[1,", "--set measure.batch_sizes=[1,: value: invalid YAML: expected the node content, "
                                "but found '<stream end>'"),
    ("seeds=!!python/object/apply:os.system [ls]", "--set seeds=!!python/object/apply:os.system [ls]: value: invalid "
     "YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("seeds=[&a [*a]]", "--set seeds=[&a [*a]]: value: a value contains itself (a recursive YAML alias)"),
])
def test_malformed_overrides_are_one_line(text: str, message: str):
    with pytest.raises(SuiteError) as caught:
        parse_override(text)
    assert str(caught.value) == message


def test_apply_sets_in_order_creates_missing_keys_and_leaves_the_input_alone():
    overrides = [parse_override(t) for t in ("measure.batch_sizes=[1,8]", "students[0].method[1].epochs=5",
                                             "students[kd-4].method[1].epochs=6", "measure.threads=2",
                                             "build.workers=2")]
    raw, origins = apply_overrides(RAW, overrides)
    assert raw["measure"] == {"batch_sizes": [1, 8], "threads": 2}
    assert raw["students"][0]["method"][1] == {"name": "kd", "epochs": 6}
    assert raw["build"] == {"workers": 2}
    assert RAW["measure"] == {"batch_sizes": [1]} and RAW["students"][0]["method"][1]["epochs"] == 2
    assert origins == {("measure", "batch_sizes"): "--set measure.batch_sizes=[1,8]",
                       ("students", 0, "method", 1, "epochs"): "--set students[kd-4].method[1].epochs=6",
                       ("measure", "threads"): "--set measure.threads=2", ("build", "workers"): "--set build.workers=2"}
    # a later override of a whole value replaces what earlier ones set inside it
    _, origins = apply_overrides(RAW, [parse_override("measure.threads=2"), parse_override("measure={}")])
    assert origins == {("measure",): "--set measure={}"}


@pytest.mark.parametrize(("text", "message"), [
    ("students[1].name=x", "--set students[1].name=x: students has 1 item: index 1 is out of range (0 to 0)"),
    ("students[0].method[2].epochs=1", "--set students[0].method[2].epochs=1: students[0].method has 2 items: "
                                       "index 2 is out of range (0 to 1)"),
    ("students[0].method.epochs=1", "--set students[0].method.epochs=1: students[0].method is a list, not a "
                                    "mapping: key 'epochs' does not apply"),
    ("name.x=1", "--set name.x=1: name is text, not a mapping: key 'x' does not apply"),
    ("measure[0]=1", "--set measure[0]=1: measure is a mapping, not a list: [0] does not apply"),
    ("measure.batch_sizes[0].x=1", "--set measure.batch_sizes[0].x=1: measure.batch_sizes[0] is a number, not a "
                                   "mapping: key 'x' does not apply"),
    ("students[kd-8].name=x", "--set students[kd-8].name=x: students has no item named 'kd-8' (names: kd-4; "
                              "did you mean kd-4?)"),
])
def test_a_path_the_file_cannot_take_is_one_line(text: str, message: str):
    with pytest.raises(SuiteError) as caught:
        apply_overrides(RAW, [parse_override(text)])
    assert str(caught.value) == message


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "students[0].method.epochs=-1"],
     "--set students[0].method.epochs=-1: students[0].method.epochs: Input should be greater than or equal to 1 "
     "(got -1)"),
    (["--set", "measure.thread=2"],
     "--set measure.thread=2: measure.thread: unknown key (allowed: devices, threads, dtypes, batch_sizes, latency, "
     "accelerator_type, timeout_seconds, backends, seq_lens, neighbors, noise_sigmas, scenarios; did you mean "
     "threads?)"),
    (["--set", "measure.batch_sizes=[1, 0]"],
     "--set measure.batch_sizes=[1, 0]: measure.batch_sizes[1]: Input should be greater than or equal to 1 (got 0)"),
    (["--set", "teacher.train.epochs=0"],  # the second pass: a component's parameters
     "--set teacher.train.epochs=0: teacher.train.epochs: Input should be greater than or equal to 1 (got 0)"),
    (["--set", "students[0].method={name: prune}"],
     "--set students[0].method={name: prune}: students[0].method.sparsity: required key is missing"),
    (["--set", "students[0].method.epochs=2020-01-01"],
     "--set students[0].method.epochs=2020-01-01: students[0].method.epochs: YAML reads this as a date, not a plain "
     "value: quote it to give text"),
    (["--set", "measure.threads=2", "--set", "students[0].name=teacher"],  # about the whole suite: its line, and why
     f"{TINY}:1: a student is named like the teacher ('teacher') (with --set measure.threads=2; "
     "--set students[0].name=teacher)"),
    (["--set", "students[0].name=x", "--set", "students[9].name=y"],
     "--set students[9].name=y: students has 1 item: index 9 is out of range (0 to 0)"),
    (["--set", "measure.batch_sizes"],
     "--set measure.batch_sizes: no '=': write --set KEY=VALUE, e.g. measure.batch_sizes=[1,8]"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_errors_name_the_set_and_exit_2(command: str, args: list[str], message: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]):
    argv = [command, str(TINY), *args] + (["--out", str(tmp_path)] if command == "run" else [])
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [message] and out == ""
    assert not any(tmp_path.iterdir())


def test_an_error_elsewhere_still_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("epochs: 2}", "epochs: 0}"))
    assert main(["validate", str(bad), "--set", "measure.threads=2"]) == 2
    assert capsys.readouterr().err == (f"{bad}:11: students[0].method.epochs: Input should be greater than or "
                                       "equal to 1 (got 0)\n")


def test_validate_and_compare(capsys: pytest.CaptureFixture[str]):
    assert main(["validate", str(TINY), "--set", "measure.batch_sizes=[2]", "--set", "seeds=[0,1]"]) == 0
    assert "1 teacher + 1 students x 2 seeds = 3 models, batch sizes [2] on cpu" in capsys.readouterr().out
    assert main(["compare", "a", "b", "--set", "gates={}"]) == 2
    assert capsys.readouterr().err == "--set gates={}: --set changes the suite given with --suite: give one\n"


def test_the_hash_covers_the_result_not_the_spelling():
    plain = load_suite(TINY)
    same = load_suite(TINY, ["measure.latency.warmup_iters=5", "students[kd-4].method.temperature=4.0"])
    assert plain.resolved()["measure"]["latency"]["warmup_iters"] == 5  # the default, written out
    assert same.content_hash() == plain.content_hash() and same.overrides == (
        "measure.latency.warmup_iters=5", "students[kd-4].method.temperature=4.0")
    changed = load_suite(TINY, ["students[0].method.epochs=3"])
    assert changed.content_hash() != plain.content_hash()
    assert changed.students[0].method[0].params["epochs"] == 3
    back = load_suite(TINY, ["students[0].method.epochs=3", "students[0].method.epochs=2"])
    assert back.content_hash() == plain.content_hash()
    gated = load_suite(TINY, ["gates={accuracy: {max_regression: 0.5}}"])  # gates judge results: same hash
    assert gated.content_hash() == plain.content_hash() and gated.gates["accuracy"].max_regression == 0.5


def test_a_run_records_its_overrides_and_resume_refuses_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    sets = ["--set", "measure.batch_sizes=[1]", "--set", "students[0].method.epochs=1"]
    assert main(["run", str(TINY), *sets, "--out", str(tmp_path), "--no-report"]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["overrides"] == ["measure.batch_sizes=[1]", "students[0].method.epochs=1"]
    assert manifest["suite"]["measure"]["batch_sizes"] == [1]
    assert manifest["suite_hash"] == load_suite(TINY, sets[1::2]).content_hash() != load_suite(TINY).content_hash()
    assert main(["run", str(TINY), "--set", "measure.batch_sizes=[1]", "--resume", str(run_dir)]) == 2
    assert capsys.readouterr().err == (
        f"{run_dir}: made by a different suite (or a changed one); resume needs the same suite, unchanged, and the "
        "same --set overrides (the run had: --set measure.batch_sizes=[1] --set students[0].method.epochs=1; "
        "given now: --set measure.batch_sizes=[1])\n")
