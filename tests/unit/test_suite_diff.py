"""The suite diff on nested dicts and lists, and runs grouped by suite content with the one line that refuses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.manifest import parse
from harness.suite_diff import SuiteGroup, differences, group_runs, refuse_mixed, summary

BEFORE = {"name": "quick", "seeds": [0],
          "dataset": {"name": "digits", "params": {"test_fraction": 0.2}},
          "teacher": {"name": "teacher", "params": {"hidden": [64]}, "gates": {"accuracy": {"max_regression": 0.02}}},
          "students": [{"name": "scratch-16", "method": [{"name": "scratch", "params": {"epochs": 30}}]},
                       {"name": "kd-16", "method": [{"name": "kd", "params": {"epochs": 30, "alpha": 0.9}}]}],
          "gate_policy": {"noisy": "fail"}}


def _changed(**changes: object) -> dict:
    import copy

    after = copy.deepcopy(BEFORE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = after
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is KeyError:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return after


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, []),
    ({"students__1__method__0__params__epochs": 10}, ["students[1].method[0].params.epochs: 30 -> 10"]),
    ({"dataset__params__test_fraction": 0.25, "seeds": [0, 1]},
     ["seeds: [0] -> [0,1]", "dataset.params.test_fraction: 0.2 -> 0.25"]),
    ({"teacher__params__hidden": [64, 32]}, ["teacher.params.hidden: [64] -> [64,32]"]),  # numbers: the list whole
    ({"students__1__method__0__params__temperature": 4.0},
     ["students[1].method[0].params.temperature: (absent) -> 4.0"]),
    ({"students__1__method__0__params__alpha": KeyError}, ["students[1].method[0].params.alpha: 0.9 -> (absent)"]),
    ({"students__1__method__0__name": ""}, ['students[1].method[0].name: kd -> ""']),
    ({"students__1__method__0__params__epochs": 30.0}, ["students[1].method[0].params.epochs: 30 -> 30.0"]),
    ({"students__1__method__0__params__epochs": "30"}, ['students[1].method[0].params.epochs: 30 -> "30"']),
    ({"students__1": {"name": "kd-8"}},  # a record recurses; a long value is cut at 40 characters
     ["students[1].name: kd-16 -> kd-8", 'students[1].method: [{"name":"kd","params":{"epochs":30,"al… -> (absent)']),
    ({"students__1": None}, ['students[1]: {"name":"kd-16","method":[{"name":"kd",… -> null']),
])
def test_differences_name_each_changed_value_by_its_dotted_path(changes, expected):
    assert differences(BEFORE, _changed(**changes)) == expected


def test_records_added_or_removed_read_absent_and_gates_are_not_content():
    after = _changed(teacher__gates={"accuracy": {"max_regression": 0.5}}, gate_policy={"noisy": "warn"})
    after["students"].append({"name": "tiny"})
    after["students"][0]["gates"] = {"params": {}}
    after["gates"] = {"size_bytes": {}}
    assert differences(BEFORE, after) == ['students[2]: (absent) -> {"name":"tiny"}']
    assert differences(after, BEFORE) == ['students[2]: {"name":"tiny"} -> (absent)']
    assert differences({}, {}) == [] and differences({"a": 1}, {}) == ["a: 1 -> (absent)"]


def test_the_summary_names_five_then_counts_the_rest():
    found = [f"k{i}: {i} -> {i + 1}" for i in range(7)]
    assert summary(found) == "k0: 0 -> 1; k1: 1 -> 2; k2: 2 -> 3; k3: 3 -> 4; k4: 4 -> 5; and 2 more"
    assert summary(found[:5]) == "k0: 0 -> 1; k1: 1 -> 2; k2: 2 -> 3; k3: 3 -> 4; k4: 4 -> 5"


def _manifest(run_id: str, name: str, content: str, suite: dict) -> tuple[Path, object]:
    raw = {"schema_version": 3, "run_id": run_id, "status": "complete", "suite_name": name,
           "suite_hash": content * 64, "suite": suite}
    return Path("results") / name / run_id, parse(raw, "manifest.json")


def test_runs_group_by_name_and_content_the_largest_first_and_one_line_names_them():
    other = {**BEFORE, "name": "mnist", "seeds": [0, 1, 2]}
    groups = group_runs([_manifest("r1", "quick", "a", BEFORE), _manifest("r2", "mnist", "b", other),
                         _manifest("r3", "quick", "a", BEFORE)])
    assert [(g.label, g.count, g.folder) for g in groups] == [("quick aaaaaaaa", "2 runs", "quick-aaaaaaaa"),
                                                            ("mnist bbbbbbbb", "1 run", "mnist-bbbbbbbb")]
    assert groups[0].runs == (Path("results/quick/r1"), Path("results/quick/r3"))
    with pytest.raises(HarnessError) as refused:
        refuse_mixed(groups, "--per-suite")
    assert str(refused.value) == (
        "runs of 2 different suite contents cannot be ranked together: quick aaaaaaaa (2 runs), mnist bbbbbbbb "
        "(1 run: results/mnist/r2; differs in name: quick -> mnist; seeds: [0] -> [0,1,2]); pass --per-suite to "
        "rank each on its own, or only the runs of one")
    refuse_mixed(groups[:1], "--per-suite")  # one content: nothing to refuse


def test_a_group_folder_is_a_safe_path_segment():
    assert SuiteGroup("../up", "c" * 64, {}, ()).folder == "_up-cccccccc"


def test_content_hashes_that_differ_over_suites_that_read_the_same_say_so():
    groups = group_runs([_manifest("r1", "quick", "a", BEFORE), _manifest("r2", "quick", "b", BEFORE)])
    with pytest.raises(HarnessError, match=r"quick bbbbbbbb \(1 run: results/quick/r2; differs in only the content "
                                           r"hash \(the recorded suites read the same\)\)"):
        refuse_mixed(groups, "--per-suite")
