"""Gates on the serving scenarios: hand-made runs written with the store's own writer, known verdicts.

A gate on ``latency_p99_ms`` judges the closed-loop cell only, unless it names the server scenario; one that does
(``scenarios: [single_stream, server]``) checks the closed-loop cell on its paired rounds (Mann-Whitney U) and each
target rate of the server scenario on its values against the bound (the server keeps no raw samples);
a gate on ``max_qps_at_slo`` compares the capacities with the bound, the search's bracket being
no sampling interval. The server rows are :mod:`tests.serving`'s; the candidate changes scratch-16's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.compare import FAIL, PASS, SKIPPED, RunData, compare_runs
from harness.report.compare import render_comparison
from harness.significance import BOUND_TEST, with_cell_key
from harness.store import RunWriter, frame
from tests.helpers import MANIFEST_KEYS
from tests.serving import ROLES, SCENARIOS, server_rows
from tests.unit.test_compare import HARDWARE

BOTH = ["single_stream", "server"]
GATES = {"latency_p99_ms": {"max_regression_pct": 10, "scenarios": BOTH}, "max_qps_at_slo": {"max_regression_pct": 10},
         "capacity_vs_teacher": {"max_regression_pct": 10}}
#: scratch-16's changes in the candidate: (metric, target rate) -> (value, ci_low, ci_high)
CHANGED = {("latency_p99_ms", 50.0): (2.1, None, None), ("latency_p99_ms", 100.0): (4.5, None, None),
           ("max_qps_at_slo", None): (300.0, 300.0, 330.0)}
ROUNDS = 0.7 + np.random.default_rng(0).normal(0.0, 0.01, 50)  # 10 rounds of 5 closed-loop samples


def _closed_loop(model: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    role, method = ROLES[model]
    row = {"suite": "quick", "model": model, "role": role, "method": method, "seed": 0, "device": "cpu",
           "dtype": "float32", "threads": 1, "batch_size": 1, "metric": "latency_p99_ms", "value": 0.7, "unit": "ms",
           "n": 50, "status": "ok", "error": ""}
    samples = [{"model": model, "seed": 0, "device": "cpu", "dtype": "float32", "threads": 1, "batch_size": 1,
                "iteration": i, "latency_ms": float(x), "round": i // 5} for i, x in enumerate(ROUNDS)]
    return [row], samples


def _changed(row: dict[str, Any]) -> dict[str, Any]:
    key = (row["metric"], row["target_qps"])
    if row["model"] != "scratch-16" or key not in CHANGED:
        return row
    value, low, high = CHANGED[key]
    return {**row, "value": value, "ci_low": low if low is not None else row["ci_low"],
            "ci_high": high if high is not None else row["ci_high"]}


def make_run(tmp: Path, label: str, changed: bool = False, gates: dict[str, Any] = GATES) -> Path:
    suite = {"name": "quick", "measure": {"scenarios": SCENARIOS},
             "teacher": {"name": "teacher", "gates": gates},
             "students": [{"name": m, "gates": gates} for m in ("scratch-16", "kd-16")]}
    writer = RunWriter.create(tmp / label, "quick", {**MANIFEST_KEYS, "suite": suite, "suite_name": "quick",
                                                     "hardware": HARDWARE})
    served = [{**(_changed(r) if changed else r), "threads": 1} for r in server_rows()]
    for model in ROLES:
        rows, samples = _closed_loop(model)
        own = [{k: v for k, v in r.items() if k != "run_id"} for r in served if r["model"] == model]
        writer.append(rows + own, samples)
    writer.finish("complete")
    return writer.run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("serving")
    return make_run(tmp, "base"), make_run(tmp, "cand", changed=True)


@pytest.fixture(scope="module")
def comparison(runs: tuple[Path, Path]):
    return compare_runs(RunData.load(runs[0]), RunData.load(runs[1]))


def results(comparison, model: str, name: str) -> dict[str, Any]:
    return {r.variant: r for r in comparison.results if r.model == model and r.metric == name}


def test_each_target_rate_is_a_cell_of_its_own():
    keys = with_cell_key(frame(server_rows()))["_cell"]  # the key holds the rate: rates neither pool nor collide
    assert set(keys) == {"cpu||float32|eager||server|50 qps", "cpu||float32|eager||server|100 qps",
                         "cpu||float32|eager||server|"}


def test_a_latency_gate_checks_the_closed_loop_cell_on_its_rounds_and_each_server_rate_on_its_values(comparison):
    found = results(comparison, "scratch-16", "latency_p99_ms")
    assert list(found) == ["single_stream", "server, 50 qps", "server, 100 qps"]
    closed, low, high = found["single_stream"], found["server, 50 qps"], found["server, 100 qps"]
    assert closed.verdict == PASS and closed.test == "mann-whitney U on each round's p99, 10 vs 10 rounds"
    assert closed.baseline == 0.7
    assert (low.baseline, low.candidate, low.verdict, low.p_value, low.test) == (2.0, 2.1, PASS, None, BOUND_TEST)
    assert low.change == pytest.approx(5.0)
    assert low.note == "values against the bound, no test: a serving scenario keeps no raw samples"
    assert (high.baseline, high.candidate, high.verdict, high.test) == (3.0, 4.5, FAIL, BOUND_TEST)
    assert high.change == pytest.approx(50.0)
    assert high.note.startswith("worse by 50.0%; values against the bound, no test:")
    assert high.label == "scratch-16 [server, 100 qps]"


def test_a_capacity_gate_compares_the_values_with_the_bound_and_says_the_bracket_is_no_sampling_interval(comparison):
    (gate,) = results(comparison, "scratch-16", "max_qps_at_slo").values()
    assert (gate.baseline, gate.candidate, gate.verdict, gate.p_value, gate.test) == (400.0, 300.0, FAIL, None,
                                                                                       BOUND_TEST)
    assert gate.change == pytest.approx(-25.0)
    assert gate.note == ("worse by 25.0%; values against the bound, no test: a capacity's interval is its search's "
                         "bracket [highest pass, lowest miss], not a sampling interval")
    (teacher,) = results(comparison, "teacher", "max_qps_at_slo").values()
    assert teacher.verdict == PASS and teacher.baseline == teacher.candidate == 80.0
    assert "not a sampling interval" in teacher.note
    (relative,) = results(comparison, "teacher", "capacity_vs_teacher").values()
    assert relative.verdict == SKIPPED and "1 by construction" in relative.note


def test_a_gate_s_batch_sizes_limit_the_closed_loop_cells_only(tmp_path: Path):
    """``batch_sizes`` names the closed-loop sweep's batch sizes; a server cell, whose batch size is its
    max_batch, is judged whatever the list says (here it leaves no closed-loop cell at all)."""
    gates = {"latency_p99_ms": {"max_regression_pct": 10, "batch_sizes": [64], "scenarios": BOTH}}
    base, cand = make_run(tmp_path, "base", gates=gates), make_run(tmp_path, "cand", changed=True, gates=gates)
    found = results(compare_runs(RunData.load(base), RunData.load(cand)), "scratch-16", "latency_p99_ms")
    assert list(found) == ["50 qps", "100 qps"]  # a label names only what differs between the cells shown
    assert found["100 qps"].verdict == FAIL


def test_a_closed_loop_gate_does_not_judge_the_server_rates_unless_it_names_them(tmp_path: Path):
    """Without ``scenarios`` a latency gate judges the closed-loop sweep: a server's response time at a rate is
    another quantity (a query's time under load), and its +50% at 100 queries/s is not this gate's to fail."""
    gates = {"latency_p99_ms": {"max_regression_pct": 10}}
    base, cand = make_run(tmp_path, "base", gates=gates), make_run(tmp_path, "cand", changed=True, gates=gates)
    comparison = compare_runs(RunData.load(base), RunData.load(cand))
    found = results(comparison, "scratch-16", "latency_p99_ms")
    assert list(found) == [""] and found[""].verdict == PASS and found[""].test.startswith("mann-whitney")
    named = {"latency_p99_ms": {"max_regression_pct": 10, "scenarios": ["server"]}}
    base, cand = make_run(tmp_path, "b2", gates=named), make_run(tmp_path, "c2", changed=True, gates=named)
    found = results(compare_runs(RunData.load(base), RunData.load(cand)), "scratch-16", "latency_p99_ms")
    assert list(found) == ["50 qps", "100 qps"] and found["100 qps"].verdict == FAIL


def test_a_rate_without_a_baseline_value_is_skipped_with_the_reason(comparison):
    dropped = results(comparison, "kd-16", "latency_p99_ms")["server, 100 qps"]
    assert dropped.verdict == SKIPPED and "dropped" in dropped.note
    assert comparison.exit_code == 1


def test_the_cli_names_each_rate_and_exits_1(runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]):
    assert main(["compare", str(runs[0]), str(runs[1]), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    failed = {(r["model"], r["metric"], r["variant"]) for r in data["results"] if r["verdict"] == FAIL}
    assert failed == {("scratch-16", "latency_p99_ms", "server, 100 qps"), ("scratch-16", "max_qps_at_slo", "")}
    text = render_comparison(compare_runs(RunData.load(runs[0]), RunData.load(runs[1])))
    assert "scratch-16 [server, 100 qps]" in text and BOUND_TEST in text


def test_the_leaderboard_cli_ranks_a_run_by_capacity(runs: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]):
    assert main(["leaderboard", str(runs[0]), "--by", "max_qps_at_slo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Students ranked by max_qps_at_slo (higher is better)" in out and "max_qps_at_slo bracket" in out
    assert "420–462" in out and "400–440" in out
