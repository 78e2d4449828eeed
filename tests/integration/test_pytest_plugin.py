"""The pytest plugin: inert by default; gates as items with readable failures; benchmark items."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.unit.test_compare import make_run

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True, scope="module")
def _modules_loaded_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytester drops every module first imported during a test that uses it (its snapshot of sys.modules is
    restored after each in-process run and at teardown), and some modules cannot be imported twice in a process:
    torch's lazily imported ones (the first optimizer step imports torch._dynamo, whose torch._inductor.test_operators
    registers TORCH_LIBRARY _inductor_test: a second import raises "Only a single TORCH_LIBRARY ...", in whichever
    later test trains a model), pandas' pyarrow extension types, harness's registries. So, before any pytester
    snapshot (a module fixture is set up before the function-scoped pytester), do once what the in-process runs do:
    run a suite (build and train, measure, write its parquet), read it back and compare it; whatever that imports,
    whichever torch it is, stays imported."""
    from harness.cache import ModelCache, default_cache_dir
    from harness.compare import RunData, compare_runs
    from harness.runner import run_suite  # torch, and every registry the suite names
    from harness.suite import load_suite

    run = run_suite(load_suite(FIXTURES / "gated.yaml"), tmp_path_factory.mktemp("warm"),
                    ModelCache(default_cache_dir()), log=lambda _: None)
    same = RunData.load(run.run_dir)
    compare_runs(same, same)


#: every in-process session: no cache directory, and no pytest-randomly (where it is installed it would shuffle
#: the inner session's items, whose order is the suite's and is asserted)
INNER = ("-p", "no:cacheprovider", "-p", "no:randomly")

GATES = {"accuracy": {"max_regression": 0.01}, "size_bytes": {"max_regression_pct": 5}}


def test_the_plugin_is_registered_and_imports_nothing_heavy():
    code = ("import sys; from importlib.metadata import entry_points; "
            "ep = [e for e in entry_points(group='pytest11') if e.name == 'harness'][0]; ep.load(); "
            "print(ep.value, 'torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["harness.pytest_plugin", "False", "False"]


def test_without_its_options_it_adds_nothing(pytester: pytest.Pytester):
    pytester.makepyfile("def test_one(): pass")
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(passed=1)
    assert "harness gate" not in result.stdout.str()


def _hand_made(tmp_path: Path, candidate_accuracy: float) -> tuple[Path, Path]:
    gates = {"teacher": GATES, "small": GATES}
    size = {"teacher": 3229.0, "small": 2589.0}
    base = make_run(tmp_path, "b", accuracy={"teacher": [(0.92, 0.88, 0.96)], "small": [(0.87, 0.83, 0.91)]},
                    size=size, gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"teacher": [(0.92, 0.88, 0.96)],
                                             "small": [(candidate_accuracy, candidate_accuracy - 0.05,
                                                        candidate_accuracy + 0.05)]}, size=size, gates=gates)
    return base.path, cand.path


def test_each_model_and_gate_is_an_item_and_a_failure_reads_as_the_gate(pytester: pytest.Pytester, tmp_path: Path):
    base, cand = _hand_made(tmp_path, candidate_accuracy=0.25)
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                          "--harness-baseline", str(base), "--harness-run", str(cand))
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "small accuracy: FAIL: 0.87 -> 0.25 (-0.62); bound: worse by at most 0.05, p=* (z, from the 95% intervals); "
        "worse by 0.62 (p=* < 0.05)",
        "FAILED */gated.yaml::small::accuracy*",
    ])


def test_collect_only_lists_the_gates_without_running(pytester: pytest.Pytester):
    result = pytester.runpytest_inprocess(*INNER, "--co", "-q", "--harness-baseline", "unread",
                                          "--harness-suite", str(FIXTURES / "gated.yaml"))
    result.stdout.fnmatch_lines(["*gated.yaml::teacher::accuracy", "*gated.yaml::teacher::size_bytes",
                                 "*gated.yaml::small::accuracy", "*gated.yaml::small::size_bytes",
                                 "4 tests collected*"])


def test_harness_set_changes_the_suite_the_items_and_gates_come_from(pytester: pytest.Pytester, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    """--harness-set as harness run --set: one more gate is one more item per model; the run is made of the
    changed suite (its manifest records the overrides); a looser bound passes."""
    from types import SimpleNamespace

    gated = (*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"))
    listed = pytester.runpytest_inprocess(*gated, "--co", "-q", "--harness-baseline", "unread",
                                          "--harness-set", "gates.latency_p50_ms={max_regression_pct: 10}")
    listed.stdout.fnmatch_lines(["*gated.yaml::teacher::latency_p50_ms", "*gated.yaml::small::latency_p50_ms",
                                 "6 tests collected*"])
    base, cand = _hand_made(tmp_path, candidate_accuracy=0.25)
    measured: list[tuple[str, ...]] = []

    def measure(suite: Any, *args: object) -> SimpleNamespace:
        measured.append(suite.overrides)
        return SimpleNamespace(run_dir=cand)

    monkeypatch.setattr("harness.runner.run_suite", measure)
    overrides = ["gates.accuracy.max_regression=0.9", "gates.size_bytes.max_regression_pct=50"]
    judged = pytester.runpytest_inprocess(*gated, "--harness-baseline", str(base),
                                          *(arg for o in overrides for arg in ("--harness-set", o)))
    judged.assert_outcomes(passed=4)  # small::accuracy fails with the file's bound of 0.05
    assert measured == [tuple(overrides)]


def test_a_bad_harness_set_is_one_line_and_a_nonzero_exit(pytester: pytest.Pytester):
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                          "--harness-baseline", "unread", "--harness-set", "measure.batch_size=[1]")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    errors = [line for line in result.stdout.lines if line.startswith("--set ")]
    assert len(errors) == 1 and errors[0].startswith("--set measure.batch_size=[1]: measure.batch_size: unknown key")
    assert errors[0].endswith("did you mean batch_sizes?)")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_suite_alone_is_a_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-suite needs --harness-baseline NAME (gates), --harness-benchmark*"])


def test_benchmarks_without_pytest_benchmark_are_a_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest_inprocess(*INNER, "-p", "no:benchmark", "--harness-benchmark",
                                          "--harness-suite", str(FIXTURES / "gated.yaml"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-benchmark needs pytest-benchmark: pip install pytest-benchmark"])


def test_a_missing_baseline_ends_the_session_with_one_line_and_exit_2(pytester: pytest.Pytester, tmp_path: Path):
    """Bad input, as in harness compare: exit 2 with the line, never 1 (a gate that failed)."""
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                          "--harness-baseline", "nope", "--harness-baselines", str(tmp_path),
                                          "--harness-run", str(tmp_path))
    assert result.ret == 2
    result.assert_outcomes()
    result.stdout.fnmatch_lines([f"*harness: nope: neither a run directory nor a baseline in {tmp_path} "
                                 f"(baselines: none)*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_benchmark_items_write_pytest_benchmark_json(pytester: pytest.Pytester, tmp_path: Path):
    base, cand = _hand_made(tmp_path, candidate_accuracy=0.87)
    out = tmp_path / "bench.json"
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                          "--harness-baseline", str(base), "--harness-run", str(cand),
                                          "--harness-benchmark", f"--benchmark-json={out}")
    result.assert_outcomes(passed=6)
    only = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                        "--harness-benchmark", "--benchmark-disable")
    only.assert_outcomes(passed=2)  # no baseline: the benchmarks alone
    benchmarks = json.loads(out.read_text())["benchmarks"]
    assert [b["name"] for b in benchmarks] == ["test_latency[teacher-bs1]", "test_latency[small-bs1]"]
    assert all(b["stats"]["rounds"] == 5 and b["extra_info"]["threads"] == 1 for b in benchmarks)
    assert benchmarks[0]["group"] == "gated batch size 1"


def test_a_thread_matrix_gets_one_benchmark_per_count(pytester: pytest.Pytester, tmp_path: Path):
    """measure.threads: [1, 2] times each model × batch size once per count, with that count set."""
    suite = tmp_path / "gated.yaml"
    suite.write_text((FIXTURES / "gated.yaml").read_text().replace("threads: 1", "threads: [1, 2]"))
    assert "threads: [1, 2]" in suite.read_text()
    out = tmp_path / "bench.json"
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(suite),
                                          "--harness-benchmark", f"--benchmark-json={out}")
    result.assert_outcomes(passed=4)
    benchmarks = json.loads(out.read_text())["benchmarks"]
    assert [(b["name"], b["extra_info"]["threads"]) for b in benchmarks] == [
        ("test_latency[teacher-bs1-1t]", 1), ("test_latency[teacher-bs1-2t]", 2),
        ("test_latency[small-bs1-1t]", 1), ("test_latency[small-bs1-2t]", 2)]


NOISY_SUITE_GATES = "  latency_p50_ms: {max_regression_pct: 10}\ngate_policy: %s\n"


def _suite_with_policy(tmp_path: Path, policy: str) -> Path:
    """gated.yaml with a latency gate and ``gate_policy: POLICY``."""
    suite = tmp_path / "gated.yaml"
    suite.write_text((FIXTURES / "gated.yaml").read_text() + NOISY_SUITE_GATES % policy)
    return suite


def _latency_run(tmp_path: Path, label: str, small_ms: float, iqr: float) -> Path:
    """A hand-made run: the models of gated.yaml, latency samples for ``small`` alone (the teacher has none)."""
    import numpy as np

    gates = {"teacher": GATES, "small": GATES}
    rng = np.random.default_rng(len(label))
    return make_run(tmp_path, label, accuracy={"teacher": [(0.92, 0.88, 0.96)], "small": [(0.87, 0.83, 0.91)]},
                    size={"teacher": 3229.0, "small": 2589.0}, gates=gates,
                    latency={"small": rng.normal(small_ms, 0.02, 200)}, iqr=iqr).path


def _never_measure(*args: object, **kwargs: object) -> None:
    raise AssertionError("the plugin measured the suite")


@pytest.mark.parametrize(("policy", "outcomes"), [
    ("{noisy: fail}", {"passed": 4, "failed": 1, "skipped": 1}),
    ("{noisy: warn}", {"passed": 5, "skipped": 1}),
    ("{noisy: rerun, reruns: 2}", {"passed": 4, "failed": 1, "skipped": 1}),  # a stored run: nothing to re-measure
])
def test_a_noisy_cell_follows_the_suites_policy(pytester: pytest.Pytester, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, policy: str, outcomes: dict):
    monkeypatch.setattr("harness.runner.run_suite", _never_measure)
    base, cand = _latency_run(tmp_path, "b", 1.0, 0.03), _latency_run(tmp_path, "c", 1.2, 0.25)
    result = pytester.runpytest_inprocess(*INNER, "-rfs", "--harness-suite",
                                          str(_suite_with_policy(tmp_path, policy)),
                                          "--harness-baseline", str(base), "--harness-run", str(cand))
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(["SKIPPED *: no baseline value: no row"])  # the teacher: no latency rows
    line = ("small latency_p50_ms at batch size 1 on cpu: noisy: * the cell is noisy (candidate samples' IQR/median "
            "0.25 > 0.1)*")
    expected = [f"*NoisyCellWarning: {line}"] if "warn" in policy else [line, "FAILED *small::latency_p50_ms*"]
    result.stdout.fnmatch_lines(expected)


@pytest.mark.parametrize(("reruns", "still_noisy", "measured", "outcomes"), [
    (2, 2, 3, {"passed": 5, "skipped": 1}),  # noisy twice, then quiet and within the bound: decided on the last run
    (1, 2, 2, {"passed": 4, "failed": 1, "skipped": 1}),  # still noisy after the one rerun: fails
])
def test_rerun_measures_the_suite_again_while_a_cell_is_noisy(pytester: pytest.Pytester, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, reruns: int,
                                                               still_noisy: int, measured: int, outcomes: dict):
    from types import SimpleNamespace

    base = _latency_run(tmp_path, "b", 1.0, 0.03)
    runs = [_latency_run(tmp_path, f"noisy{i}", 1.2, 0.25) for i in range(still_noisy)]
    runs.append(_latency_run(tmp_path, "quiet", 1.0, 0.03))
    calls: list[Path] = []

    def measure(*args: object, **kwargs: object) -> SimpleNamespace:
        calls.append(runs[len(calls)])
        return SimpleNamespace(run_dir=calls[-1])

    monkeypatch.setattr("harness.runner.run_suite", measure)
    suite = _suite_with_policy(tmp_path, f"{{noisy: rerun, reruns: {reruns}}}")
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(suite),
                                          "--harness-baseline", str(base))
    result.assert_outcomes(**outcomes)
    assert len(calls) == measured


def test_a_speedup_gate_on_a_measured_run(pytester: pytest.Pytester, tmp_path: Path):
    """The tiny suite measured by the plugin: the teacher's speedup gate is skipped, the student's is judged
    (or skipped, saying why, where the runner writes no speedup rows)."""
    from harness.cache import ModelCache, default_cache_dir
    from harness.runner import run_suite
    from harness.suite import load_suite

    suite = tmp_path / "gated.yaml"
    suite.write_text((FIXTURES / "gated.yaml").read_text() + "  speedup_vs_teacher: {max_regression_pct: 90}\n"
                     "gate_policy: {noisy: rerun, reruns: 1}\n")
    base = run_suite(load_suite(suite), tmp_path / "base", ModelCache(default_cache_dir())).run_dir
    result = pytester.runpytest_inprocess(*INNER, "-rs", "--harness-suite", str(suite),
                                          "--harness-baseline", str(base), "--harness-results", str(tmp_path / "c"))
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 6, result.stdout.str()
    result.stdout.fnmatch_lines(["SKIPPED *: the teacher's speedup_vs_teacher is 1 by construction"
                                 if _has_speedup_rows(base) else "SKIPPED *: no baseline value: no row"])


def _has_speedup_rows(run_dir: Path) -> bool:
    import pandas as pd

    rows = pd.read_parquet(run_dir / "measurements.parquet")
    return bool((rows["metric"] == "speedup_vs_teacher").any())


@pytest.mark.parametrize(("case", "side"), [("measurements_cut_short", "baseline"), ("manifest_lacks_keys", "baseline"),
                                            ("no_digests_wrong_type", "candidate"), ("samples_cut_short", "candidate")])
def test_a_damaged_baseline_or_run_ends_the_session_with_its_line_and_exit_2(pytester: pytest.Pytester,
                                                                            tmp_path: Path, case: str, side: str):
    """As harness compare answers the damaged-run corpus (tests/integration/test_damaged_inputs.py)."""
    corpus = FIXTURES / "damaged"
    bad, whole = tmp_path / "baselines" / case, tmp_path / "whole"
    shutil.copytree(corpus / case, bad, symlinks=True)
    shutil.copytree(corpus / "whole", whole)
    baseline, run = (bad, whole) if side == "baseline" else (whole, bad)
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(corpus / "base.yaml"),
                                          "--harness-baseline", str(baseline), "--harness-run", str(run))
    expected = (corpus / case / "expect.txt").read_text().strip().replace("{dir}", str(bad))
    assert result.ret == 2
    result.stdout.fnmatch_lines([f"*harness: {expected}*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(("accuracy", "kept"), [(0.25, True), (0.87, False)])
def test_the_run_folder_is_printed_and_kept_when_a_gate_fails(pytester: pytest.Pytester, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch, accuracy: float,
                                                              kept: bool):
    """The plugin's own temporary run is named in the terminal summary and in the failing item's message; it
    is kept when a gate failed (to be opened), removed when every gate held."""
    from types import SimpleNamespace

    base, cand = _hand_made(tmp_path, candidate_accuracy=accuracy)
    made: list[Path] = []

    def measure(suite: Any, out: Path, *args: object, **kwargs: object) -> SimpleNamespace:
        made.append(out / "run")
        shutil.copytree(cand, made[-1])
        return SimpleNamespace(run_dir=made[-1])

    monkeypatch.setattr("harness.runner.run_suite", measure)
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                          "--harness-baseline", str(base))
    assert len(made) == 1 and made[0].parent.name.startswith("harness-pytest-")
    if kept:
        result.assert_outcomes(passed=3, failed=1)
        result.stdout.fnmatch_lines([f"run: {made[0]}", f"harness: run {made[0]} (kept: open it with harness report)"])
        assert made[0].is_dir()
    else:
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines([f"harness: run {made[0]} (removed: every gate held*"])
        assert not made[0].parent.exists()


def test_a_given_run_of_other_suite_content_is_said_so(pytester: pytest.Pytester, tmp_path: Path):
    """--harness-run with a run whose resolved suite is not the gates' suite (here a hand-made run; a run made with
    --set is the usual case): the summary says the content differs and how, as harness compare does."""
    base, cand = _hand_made(tmp_path, candidate_accuracy=0.87)
    result = pytester.runpytest_inprocess(*INNER, "--harness-suite", str(FIXTURES / "gated.yaml"),
                                          "--harness-baseline", str(base), "--harness-run", str(cand))
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([f"harness: run {cand}", "harness: same suite: hand*",
                                 f"harness: suite content differs: {FIXTURES / 'gated.yaml'} * -> the run's *: *"])
    assert cand.is_dir()  # a run the user gave is never removed
