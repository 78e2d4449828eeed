"""Gates on hand-made runs: written with the store's own writer, tiny seeded numbers, known verdicts."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from harness.cli import main
from harness.compare import (
    FAIL,
    NEW,
    NOISY,
    PASS,
    REFUSED,
    SKIPPED,
    UNDECIDABLE,
    RunData,
    compare_runs,
    hardware_differences,
)
from harness.errors import HarnessError
from harness.metrics import metric
from harness.report.compare import failure_message, render_comparison, warning_lines
from harness.store import RunWriter
from harness.suite.gates import GatePolicy, GateSpec
from tests.helpers import MANIFEST_KEYS

HARDWARE = {"cpu": "Test CPU 3000", "cores_logical": 2, "gpu": None, "gpu_count": 0, "cuda": None, "driver": None,
            "torch": "2.13.0+cpu", "threads": 1, "machine_id": "aaaa", "platform": "Linux-1"}


Interval = tuple[float, float, float]  # value, ci_low, ci_high


def make_run(tmp: Path, label: str, *, accuracy: dict[str, list[Interval]],
             latency: dict[str, np.ndarray] | None = None, size: dict[str, float] | None = None,
             hardware: dict[str, Any] | None = None, gates: dict[str, dict[str, Any]] | None = None,
             status: str = "complete", iqr: float | None = None, speedup: dict[str, list[Interval]] | None = None,
             noise_floor: dict[str, Any] | None = None, policy: dict[str, Any] | None = None,
             per_round: int | None = None, suite_name: str = "hand", epochs: int | None = None,
             predictions: dict[str, list[np.ndarray]] | None = None, dataset: dict[str, Any] | None = None,
             round_spread: float | None = None) -> RunData:
    """A run directory with accuracy per model and seed ((value, ci_low, ci_high) each), latency samples at
    batch size 1 per model (p50 row = their median), size_bytes per model, speedup_vs_teacher at batch size 1
    per model and seed; gates per model and the gate policy, as a resolved suite named ``suite_name``; the
    manifest's noise_floor. ``epochs``: each student's method trains that long, and the suite's content hash
    is the two digits repeated (30: ``3030...``). ``predictions``: per model, each seed's correctness on every test
    example (label 0 on each), kept as the run's predictions; ``dataset``: the suite's dataset."""
    models = list(accuracy)
    method = {} if epochs is None else {"method": [{"name": "scratch", "params": {"epochs": epochs}}]}
    suite = {"name": suite_name, "teacher": {"name": models[0], "gates": (gates or {}).get(models[0], {})},
             "students": [{"name": m, **method, "gates": (gates or {}).get(m, {})} for m in models[1:]]}
    if policy is not None:
        suite["gate_policy"] = policy
    if dataset is not None:
        suite["dataset"] = dataset
    floor = {} if noise_floor is None else {"noise_floor": noise_floor}
    content = {} if epochs is None else {"suite_hash": f"{epochs:02d}" * 32}
    writer = RunWriter.create(tmp / label, suite_name, {**MANIFEST_KEYS, "suite": suite, "suite_name": suite_name,
                                                        "hardware": hardware or HARDWARE, **floor, **content})
    for model, seeds in accuracy.items():
        role = "teacher" if model == models[0] else "student"
        base = {"suite": "hand", "model": model, "role": role, "method": "scratch", "device": "cpu",
                "dtype": "float32", "status": "ok", "error": ""}
        rows = [{**base, "seed": seed, "metric": "accuracy", "value": v, "unit": "fraction", "ci_low": lo,
                 "ci_high": hi, "n": 360} for seed, (v, lo, hi) in enumerate(seeds)]
        if size and model in size:
            rows.append({**base, "seed": 0, "metric": "size_bytes", "value": size[model], "unit": "bytes"})
        rows += [{**base, "seed": seed, "metric": "speedup_vs_teacher", "batch_size": 1, "value": v, "unit": "x",
                  "ci_low": lo, "ci_high": hi, "n": 40}
                 for seed, (v, lo, hi) in enumerate((speedup or {}).get(model, []))]
        samples = []
        if latency and model in latency:
            raw = latency[model]
            rows.append({**base, "seed": 0, "metric": "latency_p50_ms", "batch_size": 1, "value": float(np.median(raw)),
                         "unit": "ms", "n": len(raw)})
            rows.append({**base, "seed": 0, "metric": "latency_p99_ms", "batch_size": 1,
                         "value": float(np.percentile(raw, 99)), "unit": "ms", "n": len(raw)})
            if iqr is not None:
                rows.append({**base, "seed": 0, "metric": "latency_iqr_over_median", "batch_size": 1, "value": iqr,
                             "unit": "fraction"})
            if round_spread is not None:
                rows.append({**base, "seed": 0, "metric": "latency_round_spread", "batch_size": 1,
                             "value": round_spread, "unit": "fraction"})
            samples = [{"model": model, "seed": 0, "device": "cpu", "dtype": "float32", "batch_size": 1,
                        "iteration": i, "latency_ms": float(x), "round": i // per_round if per_round else None}
                       for i, x in enumerate(raw)]
        kept = [{"model": model, "seed": seed, "dtype": "float32", "example": i, "label": 0, "predicted": 1 - int(ok),
                 "correct": bool(ok), "confidence": 0.9}
                for seed, right in enumerate((predictions or {}).get(model, [])) for i, ok in enumerate(right)]
        writer.append(rows, samples, kept)
    writer.finish(status)
    return RunData.load(writer.run_dir)


def one(comparison, model: str, name: str):
    found = [r for r in comparison.results if r.model == model and r.metric == name]
    assert len(found) == 1, comparison.results
    return found[0]


ACC_GATE = {"accuracy": {"max_regression": 0.01}}


def test_a_planted_accuracy_drop_fails_and_a_small_one_holds(tmp_path: Path):
    gates = {"t": ACC_GATE, "s": ACC_GATE}
    base = make_run(tmp_path, "b", accuracy={"t": [(0.95, 0.93, 0.97)], "s": [(0.90, 0.87, 0.93)]}, gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.945, 0.925, 0.965)], "s": [(0.80, 0.76, 0.84)]}, gates=gates)
    result = compare_runs(base, cand)
    s, t = one(result, "s", "accuracy"), one(result, "t", "accuracy")
    assert s.verdict == FAIL and s.change == pytest.approx(-0.10) and s.test == "z, from the 95% intervals"
    # se = half-width / 1.96 on each side: 0.03/1.96 and 0.04/1.96; z = 0.10 / hypot(...)
    z = 0.10 / math.hypot(0.03 / 1.959964, 0.04 / 1.959964)
    from scipy.stats import norm
    assert s.p_value == pytest.approx(norm.sf(z))
    assert t.verdict == PASS  # half a point: within the bound
    assert result.exit_code == 1
    text = render_comparison(result)
    assert "s" in text and "accuracy" in text and "FAIL" in text and "1 FAIL" in text


def _right_but(wrong: range, examples: int = 200) -> np.ndarray:
    correct = np.ones(examples, dtype=bool)
    correct[list(wrong)] = False
    return correct


def _accuracy_rows(seeds: dict[str, list[np.ndarray]]) -> dict[str, list[tuple[float, float, float]]]:
    return {m: [(float(c.mean()), float(c.mean()) - 0.04, float(c.mean()) + 0.04) for c in each]
            for m, each in seeds.items()}


def test_a_planted_accuracy_drop_fails_on_the_exact_mcnemar_test_paired_by_example(tmp_path: Path):
    # one seed a side: the baseline is wrong on 0-9, the candidate on 0-19 and 190-191: 10 pairs against the
    # candidate (10-19), 0 for it, 2 more against (190, 191): b = 0, c = 12
    gates = {"t": ACC_GATE, "s": ACC_GATE}
    before = {"t": [_right_but(range(0))], "s": [_right_but(range(10))]}
    after = {"t": [_right_but(range(0))], "s": [_right_but([*range(20), 190, 191])]}
    base = make_run(tmp_path, "b", accuracy=_accuracy_rows(before), gates=gates, predictions=before)
    cand = make_run(tmp_path, "c", accuracy=_accuracy_rows(after), gates=gates, predictions=after)
    result = compare_runs(base, cand)
    s, t = one(result, "s", "accuracy"), one(result, "t", "accuracy")
    from scipy.stats import binomtest

    assert s.test == "exact McNemar, 12 examples differ" and s.verdict == FAIL
    assert s.p_value == pytest.approx(binomtest(12, 12, 0.5, alternative="greater").pvalue)  # 2^-12
    assert s.note == f"worse by 0.06 (p={s.p_value:.2g} < 0.05)"  # 95% -> 89%
    assert (t.verdict, t.test, t.p_value) == (PASS, "exact McNemar, 0 examples differ", 1.0)
    assert "exact McNemar, 12 examples differ" in render_comparison(result)
    assert f"p={s.p_value:.2g} (exact McNemar, 12 examples differ)" in failure_message(result.results)
    # a candidate without predictions (a run before schema 4), or of another dataset: the unpaired tests
    two = {"t": [_right_but(range(0))] * 2, "s": [_right_but(range(20))] * 2}
    unkept = make_run(tmp_path, "u", gates=gates, accuracy=_accuracy_rows({"t": two["t"], "s": [
        _right_but(range(20)), _right_but(range(22))]}))
    base2 = make_run(tmp_path, "b2", gates=gates, accuracy=_accuracy_rows({"t": two["t"], "s": [
        _right_but(range(10)), _right_but(range(11))]}))
    assert one(compare_runs(base2, unkept), "s", "accuracy").test == "welch t, 2 vs 2 seeds"
    other = make_run(tmp_path, "o", gates=gates, predictions=after, dataset={"name": "digits", "seed": 1},
                     accuracy=_accuracy_rows(after))
    assert one(compare_runs(base, other), "s", "accuracy").test.startswith("z, from")  # one seed a side, unpaired


def test_seeds_are_averaged_per_example_not_pooled_as_pairs(tmp_path: Path):
    """2 seeds a side. Per example (computed by hand), the baseline's mean correctness is 0 on 0-9, 1/2 on 10, 1
    elsewhere; the candidate's (wrong on 0-19 in one seed, on 2-14, 190 and 191 in the other) 1/2 on 0-1, 15-19,
    190-191, 0 on 2-14. The differences, in halves: +1 twice (0, 1), -1 eight times (10, 15-19, 190, 191), -2 four
    times (11-14): T = 2 - 8 - 8 = -14 of a possible 18. Listing all 2^14 sign patterns gives the sign-flip p; with
    seeds on both sides the seeds' bootstrap may only raise it. Pooling (seed, example) pairs instead counted 18
    discordant pairs, as if there were 18 independent examples."""
    gates = {"t": ACC_GATE, "s": ACC_GATE}
    before = {"t": [_right_but(range(0))] * 2, "s": [_right_but(range(10)), _right_but(range(11))]}
    after = {"t": [_right_but(range(0))] * 2, "s": [_right_but(range(20)), _right_but([*range(2, 15), 190, 191])]}
    base = make_run(tmp_path, "b", accuracy=_accuracy_rows(before), gates=gates, predictions=before)
    cand = make_run(tmp_path, "c", accuracy=_accuracy_rows(after), gates=gates, predictions=after)
    s = one(compare_runs(base, cand), "s", "accuracy")
    k = np.array([1, 1] + [-1] * 8 + [-2] * 4)
    totals = np.array([np.dot(signs, np.abs(k)) for signs in itertools.product((1, -1), repeat=k.size)])
    sign_flip = float(np.mean(totals <= k.sum()))
    assert s.p_value >= sign_flip - 1e-12 and s.test.endswith("14 examples differ, 2 vs 2 seeds")
    assert "sign-flip over examples (exact) and a bootstrap over seeds then examples" in s.test


def test_a_drop_beyond_the_bound_within_the_seeds_noise_holds(tmp_path: Path):
    gates = {"t": ACC_GATE}
    base = make_run(tmp_path, "b", accuracy={"t": [(0.90, 0.8, 1.0), (0.80, 0.7, 0.9), (0.85, 0.75, 0.95)]},
                    gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.88, 0.8, 1.0), (0.78, 0.7, 0.9), (0.82, 0.75, 0.95)]},
                    gates=gates)
    r = one(compare_runs(base, cand), "t", "accuracy")
    assert r.test == "welch t, 3 vs 3 seeds"
    from scipy.stats import ttest_ind
    assert r.p_value == pytest.approx(ttest_ind([0.88, 0.78, 0.82], [0.90, 0.80, 0.85], equal_var=False,
                                                alternative="less").pvalue)
    assert r.verdict == PASS and r.p_value > 0.05 and "not significant" in r.note


LAT_GATE = {"latency_p50_ms": {"max_regression_pct": 10}}


def test_a_planted_latency_regression_fails_with_its_p_value(tmp_path: Path):
    rng = np.random.default_rng(0)
    gates = {"t": LAT_GATE}
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(1.0, 0.02, 200)},
                    gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(1.2, 0.02, 200)},
                    gates=gates)
    result = compare_runs(base, cand)
    r = one(result, "t", "latency_p50_ms")
    assert r.verdict == FAIL and r.batch_size == 1 and r.change == pytest.approx(20, abs=1)
    assert r.p_value is not None and r.p_value < 1e-30 and r.test == "mann-whitney U, 200 vs 200 samples"
    message = failure_message(result.results)
    assert message.startswith("t latency_p50_ms at batch size 1 on cpu: FAIL:") and "p=" in message


def test_paired_rounds_are_the_units_of_the_latency_test_not_their_samples(tmp_path: Path):
    """Samples of one round share the machine's moment: the test compares the rounds' medians (scipy's exact
    Mann-Whitney on them), so 10 rounds of 50 samples weigh as 10 observations, not 500."""
    rng = np.random.default_rng(1)
    gates = {"t": LAT_GATE}
    runs, medians = [], []
    for label, level in (("b", 1.0), ("c", 1.3)):
        phases = level * rng.choice([1.0, 1.5], size=10, p=[0.7, 0.3])
        raw = np.concatenate([phase * rng.normal(1.0, 0.01, 50) for phase in phases])
        runs.append(make_run(tmp_path, label, accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": raw}, gates=gates,
                             per_round=50))
        medians.append([float(np.median(raw[r * 50:(r + 1) * 50])) for r in range(10)])
    r = one(compare_runs(*runs), "t", "latency_p50_ms")
    from scipy.stats import mannwhitneyu
    assert r.test == "mann-whitney U on each round's p50, 10 vs 10 rounds"
    assert r.p_value == pytest.approx(mannwhitneyu(medians[1], medians[0], alternative="greater").pvalue)


def test_the_same_shift_buried_in_noise_holds_and_shows_its_p_value(tmp_path: Path):
    gates = {"t": LAT_GATE}
    # 20% apart in median, but the spread is several times the shift, with few samples
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]},
                    latency={"t": np.array([1.0, 0.5, 1.6, 0.7, 2.1])}, gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.9, 0.88, 0.92)]},
                    latency={"t": np.array([1.2, 0.4, 1.9, 0.9, 1.5])}, gates=gates)
    r = one(compare_runs(base, cand), "t", "latency_p50_ms")
    from scipy.stats import mannwhitneyu
    expected = mannwhitneyu([1.2, 0.4, 1.9, 0.9, 1.5], [1.0, 0.5, 1.6, 0.7, 2.1], alternative="greater").pvalue
    assert r.change == pytest.approx(20.0)
    assert r.verdict == PASS and r.p_value == pytest.approx(expected) and r.p_value > 0.05
    assert f"{r.p_value:.2g}" in render_comparison(compare_runs(base, cand))


def _noisy_pair(tmp_path: Path, policy: dict[str, Any] | None) -> tuple[RunData, RunData]:
    """A +20% latency shift, significant, in a cell flagged noisy on the candidate's side."""
    rng = np.random.default_rng(0)
    gates, acc = {"t": LAT_GATE}, {"t": [(0.9, 0.88, 0.92)]}
    base = make_run(tmp_path, "b", accuracy=acc, latency={"t": rng.normal(1.0, 0.02, 200)}, gates=gates, iqr=0.03,
                    policy=policy)
    cand = make_run(tmp_path, "c", accuracy=acc, latency={"t": rng.normal(1.2, 0.02, 200)}, gates=gates, iqr=0.25,
                    policy=policy)
    return base, cand


@pytest.mark.parametrize(("iqr", "spread", "verdict", "note"), [
    (0.5, 0.03, FAIL, ""),  # jitter inside windows (every small cell's IQR/median) is not a noisy cell
    (0.03, 0.3, NOISY, "the cell is noisy (candidate round spread 0.30 > 0.1)"),  # rounds that moved with the machine
])
def test_the_noisy_flag_reads_the_rounds_spread_where_the_run_has_it(tmp_path: Path, iqr: float, spread: float,
                                                                      verdict: str, note: str):
    rng = np.random.default_rng(1)
    gates, acc = {"t": LAT_GATE}, {"t": [(0.9, 0.88, 0.92)]}
    base = make_run(tmp_path, "b", accuracy=acc, latency={"t": rng.normal(1.0, 0.02, 200)}, gates=gates, iqr=0.03,
                    round_spread=0.02)
    cand = make_run(tmp_path, "c", accuracy=acc, latency={"t": rng.normal(1.2, 0.02, 200)}, gates=gates, iqr=iqr,
                    round_spread=spread)
    r = one(compare_runs(base, cand), "t", "latency_p50_ms")
    assert r.verdict == verdict and note in r.note


@pytest.mark.parametrize(("policy", "exit_code", "summary"), [
    (None, 1, "1 checks: 1 noisy: a gate fails (noisy cells fail; gate_policy.noisy: fail)"),
    ({"noisy": "fail"}, 1, "1 checks: 1 noisy: a gate fails (noisy cells fail; gate_policy.noisy: fail)"),
    ({"noisy": "warn"}, 0, "1 checks: 1 noisy: every gate holds (noisy cells pass with a warning; "
                           "gate_policy.noisy: warn)"),
    ({"noisy": "rerun", "reruns": 3}, 1, "1 checks: 1 noisy: a gate fails (noisy cells fail: a stored run is not "
                                         "measured again here, the pytest plugin measures the suite again; "
                                         "gate_policy.noisy: rerun)"),
])
def test_a_shift_in_a_noisy_cell_follows_the_suites_policy(tmp_path: Path, policy: dict[str, Any] | None,
                                                            exit_code: int, summary: str):
    """A slow phase of the machine moves a whole cell; the suite says whether that fails, warns or reruns."""
    base, cand = _noisy_pair(tmp_path, policy)
    result = compare_runs(base, cand)
    r = one(result, "t", "latency_p50_ms")
    assert r.verdict == NOISY and r.p_value < 1e-30 and result.exit_code == exit_code
    assert "the cell is noisy (candidate samples' IQR/median 0.25 > 0.1): rerun on a quieter machine" in r.note
    text = render_comparison(result)
    assert text.endswith(summary), text
    warned = "warning: t latency_p50_ms at batch size 1 on cpu: noisy, passes under gate_policy.noisy: warn (worse by"
    assert (warned in text) == (exit_code == 0)


def test_a_suite_given_to_compare_brings_its_policy_and_a_quiet_cell_fails_under_any(tmp_path: Path):
    from harness.suite.gates import GatePolicy

    base, cand = _noisy_pair(tmp_path, {"noisy": "fail"})
    warned = compare_runs(base, cand, policy=GatePolicy(noisy="warn"))  # harness compare --suite: its policy
    assert warned.exit_code == 0 and warned.does_not_hold(warned.results[0]) is False
    data = json.loads(render_comparison(warned, "json"))
    assert data["gate_policy"] == {"noisy": "warn", "reruns": None} and len(data["warnings"]) == 1
    rng = np.random.default_rng(0)
    quiet = make_run(tmp_path, "q", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(1.2, 0.02, 200)},
                     gates={"t": LAT_GATE}, iqr=0.03)
    assert one(compare_runs(base, quiet, policy=GatePolicy(noisy="warn")), "t", "latency_p50_ms").verdict == FAIL


def test_rejudging_replaces_only_the_noisy_cells(tmp_path: Path):
    """gate_policy rerun: a re-measured run decides the noisy cells; a failure already decided stays."""
    from harness.compare import GateResult, rejudge_noisy

    base, cand = _noisy_pair(tmp_path, {"noisy": "rerun"})
    first = compare_runs(base, cand)
    failed = GateResult("t", "accuracy", FAIL, "worse by 0.1")
    first = replace(first, results=[*first.results, failed])
    quiet = make_run(tmp_path, "q", accuracy={"t": [(0.9, 0.88, 0.92)]},
                     latency={"t": np.random.default_rng(5).normal(1.0, 0.02, 200)}, gates={"t": LAT_GATE},
                     iqr=0.03)
    again = compare_runs(base, quiet)
    again = replace(again, results=[*again.results, replace(failed, verdict=PASS)])
    judged = rejudge_noisy(first, again)
    assert [r.verdict for r in judged.results] == [PASS, FAIL]
    assert judged.candidate == f"{cand.path} (noisy cells: {quiet.path})" and judged.exit_code == 1


def test_noise_with_many_samples_holds_too(tmp_path: Path):
    rng = np.random.default_rng(1)
    gates = {"t": LAT_GATE}
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]},
                    latency={"t": rng.lognormal(0.0, 0.8, 40)}, gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.9, 0.88, 0.92)]},
                    latency={"t": 1.2 * rng.lognormal(0.0, 0.8, 40)}, gates=gates)
    r = one(compare_runs(base, cand), "t", "latency_p50_ms")
    assert r.verdict == PASS and r.p_value is not None and r.p_value > 0.05, r


def test_a_suspicious_improvement_fails_only_when_that_gate_is_on(tmp_path: Path):
    on = {"t": {"size_bytes": {"max_regression_pct": 5, "max_improvement_pct": 30}}}
    off = {"t": {"size_bytes": {"max_regression_pct": 5}}}
    acc = {"t": [(0.9, 0.88, 0.92)]}
    base = make_run(tmp_path, "b", accuracy=acc, size={"t": 1000.0}, gates=on)
    cand = make_run(tmp_path, "c", accuracy=acc, size={"t": 500.0}, gates=on)
    r = one(compare_runs(base, cand), "t", "size_bytes")
    assert r.verdict == FAIL and r.change == pytest.approx(-50.0) and r.test == "exact" and r.p_value is None
    assert "better by 50.0%" in r.note and "stale baseline" in r.note
    gates = {m: {k: GateSpec(**v) for k, v in g.items()} for m, g in off.items()}
    assert one(compare_runs(base, cand, gates), "t", "size_bytes").verdict == PASS
    # and a regression of the same metric beyond 5% fails, exactly
    bigger = make_run(tmp_path, "d", accuracy=acc, size={"t": 1060.0}, gates=on)
    r = one(compare_runs(base, bigger), "t", "size_bytes")
    assert r.verdict == FAIL and r.note == "worse by 6.0%"


def test_throughput_regresses_when_it_drops(tmp_path: Path):
    """The metric's declared direction decides: throughput is higher-is-better, its samples are latencies."""
    rng = np.random.default_rng(2)
    m = metric("throughput_sps")
    assert m.higher_is_better and m.from_latency_samples and m.machine_dependent
    from harness.compare import evaluate_cell
    from harness.significance import Cell
    gate = GateSpec(max_regression_pct=10)
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(1.0, 0.01, 100)})
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(1.5, 0.01, 100)})
    for side, value in ((base, 1000.0), (cand, 666.0)):  # throughput rows beside the samples
        writer = RunWriter.open(side.path)
        writer.append([{"suite": "hand", "model": "t", "role": "teacher", "method": "scratch", "seed": 0,
                        "device": "cpu", "dtype": "float32", "batch_size": 1, "metric": "throughput_sps",
                        "value": value, "unit": "samples/s"}])
    base, cand = RunData.load(base.path), RunData.load(cand.path)
    r = evaluate_cell(Cell("t", m, "cpu", 1), gate, base, cand)
    assert r.verdict == FAIL and r.change == pytest.approx(-33.4) and r.p_value < 1e-20


def test_different_hardware_refuses_latency_but_not_accuracy(tmp_path: Path):
    rng = np.random.default_rng(0)
    gates = {"t": {**ACC_GATE, **LAT_GATE}}
    acc = {"t": [(0.9, 0.88, 0.92)]}
    base = make_run(tmp_path, "b", accuracy=acc, latency={"t": rng.normal(1.0, 0.02, 50)}, gates=gates)
    other = {**HARDWARE, "cpu": "Other CPU 9000", "machine_id": "bbbb"}
    cand = make_run(tmp_path, "c", accuracy=acc, latency={"t": rng.normal(1.0, 0.02, 50)}, gates=gates,
                    hardware=other)
    assert hardware_differences(base.manifest, cand.manifest) == ["cpu: Test CPU 3000 vs Other CPU 9000"]
    result = compare_runs(base, cand)
    lat = one(result, "t", "latency_p50_ms")
    assert lat.verdict == REFUSED and lat.note == "hardware differs (cpu: Test CPU 3000 vs Other CPU 9000)"
    assert one(result, "t", "accuracy").verdict == PASS
    assert result.exit_code == 2 and "refused" in render_comparison(result)
    assert one(compare_runs(base, cand, allow_hardware_change=True), "t", "latency_p50_ms").verdict == PASS
    skipped = compare_runs(base, cand, skip_hardware_gates=True)
    assert one(skipped, "t", "latency_p50_ms").verdict == SKIPPED and skipped.exit_code == 0
    # a value the other machine cannot measure at all is refused too, not failed
    blank = make_run(tmp_path, "e", accuracy=acc, gates=gates, hardware=other)
    assert one(compare_runs(base, blank), "t", "latency_p50_ms").verdict == REFUSED
    # another machine of the same kind (machine_id, platform differ) is the same hardware
    same_kind = make_run(tmp_path, "d", accuracy=acc, latency={"t": rng.normal(1.0, 0.02, 50)}, gates=gates,
                         hardware={**HARDWARE, "machine_id": "cccc", "platform": "Linux-2"})
    assert compare_runs(base, same_kind).exit_code == 0


def test_models_on_one_side_only_are_reported(tmp_path: Path):
    gates = {"t": ACC_GATE, "a": ACC_GATE, "b": ACC_GATE}
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)], "a": [(0.9, 0.88, 0.92)]}, gates=gates)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.9, 0.88, 0.92)], "b": [(0.9, 0.88, 0.92)]}, gates=gates)
    result = compare_runs(base, cand)
    assert one(result, "a", "-").verdict == FAIL and "missing from the candidate" in one(result, "a", "-").note
    assert one(result, "b", "-").verdict == NEW
    assert result.exit_code == 1


def test_a_missing_candidate_value_fails_and_a_missing_baseline_value_is_skipped(tmp_path: Path):
    gates = {"t": {"size_bytes": {"max_regression_pct": 5}}}
    acc = {"t": [(0.9, 0.88, 0.92)]}
    with_size = make_run(tmp_path, "b", accuracy=acc, size={"t": 10.0}, gates=gates)
    without = make_run(tmp_path, "c", accuracy=acc, gates=gates)
    assert one(compare_runs(with_size, without), "t", "size_bytes").verdict == FAIL
    assert one(compare_runs(without, with_size), "t", "size_bytes").verdict == SKIPPED


def test_bad_input_is_one_line(tmp_path: Path):
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]})
    cand = make_run(tmp_path, "c", accuracy={"x": [(0.9, 0.88, 0.92)]})
    with pytest.raises(HarnessError, match="no model in common"):
        compare_runs(base, cand)
    with pytest.raises(HarnessError, match="no gates to check: the suite of .* declares none for t"):
        compare_runs(base, base)  # nothing checked must not read as every gate holding
    with pytest.raises(HarnessError, match="not a run directory"):
        RunData.load(tmp_path / "nowhere")
    with pytest.raises(HarnessError, match="'interrupted', not complete; finish it with harness run SUITE --resume"):
        make_run(tmp_path, "i", accuracy={"t": [(0.9, 0.88, 0.92)]}, status="interrupted")


def test_a_run_of_another_suite_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]}, gates={"t": ACC_GATE})
    other = make_run(tmp_path, "c", accuracy={"t": [(0.5, 0.48, 0.52)]}, gates={"t": ACC_GATE}, suite_name="tiny")
    assert main(["compare", str(base.path), str(other.path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"cannot compare runs of different suites: baseline {base.path} is suite 'hand', "
                            f"candidate {other.path} is suite 'tiny'\n")


def test_a_change_of_suite_content_is_named_and_leaves_the_verdict_alone(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]):
    gates = {"t": ACC_GATE, "s": ACC_GATE}
    accuracy = {"t": [(0.9, 0.88, 0.92)], "s": [(0.8, 0.78, 0.82)]}
    base = make_run(tmp_path, "b", accuracy=accuracy, gates=gates, epochs=30)
    fewer = make_run(tmp_path, "c", accuracy=accuracy, gates=gates, epochs=10)
    same = make_run(tmp_path, "d", accuracy=accuracy, gates=gates, epochs=30)
    assert main(["compare", str(base.path), str(fewer.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:4] == ["suite content differs: hand 30303030 -> 10101010: students[0].method[0].params.epochs: "
                          "30 -> 10", "same hardware"]
    data = json.loads(render_comparison(compare_runs(base, fewer), "json"))
    assert data["exit_code"] == 0 and data["suite_differences"] == ["students[0].method[0].params.epochs: 30 -> 10"]
    assert data["suite_hashes"] == {"baseline": "30" * 32, "candidate": "10" * 32}
    unchanged = compare_runs(base, same)
    assert not unchanged.suite_changed and unchanged.suite_differences == []
    assert render_comparison(unchanged).splitlines()[2] == "same suite: hand 30303030"


def test_json_output_has_every_result(tmp_path: Path):
    gates = {"t": ACC_GATE}
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]}, gates=gates)
    data = json.loads(render_comparison(compare_runs(base, base), "json"))
    assert data["exit_code"] == 0 and data["results"][0]["metric"] == "accuracy"
    assert data["results"][0]["p_value"] == pytest.approx(0.5)


def test_cells_of_other_backends_are_compared_apart_and_named(tmp_path: Path):
    """An onnx regression is not averaged into the eager cell: each backend is its own cell, named in the table."""
    rng = np.random.default_rng(3)
    runs = []
    for label, onnx_ms in (("b", 1.0), ("c", 1.3)):
        writer = RunWriter.create(tmp_path / label, "hand", {**MANIFEST_KEYS,
            "suite": {"name": "hand", "teacher": {"name": "t", "gates": LAT_GATE}, "students": []},
            "suite_name": "hand", "hardware": HARDWARE})
        rows, samples = [], []
        for backend, ms in (("eager", 1.0), ("onnx", onnx_ms)):
            raw = rng.normal(ms, 0.01, 100)
            rows.append({"suite": "hand", "model": "t", "role": "teacher", "method": "train", "seed": 0,
                         "device": "cpu", "dtype": "float32", "backend": backend, "batch_size": 1,
                         "metric": "latency_p50_ms", "value": float(np.median(raw)), "unit": "ms", "n": 100,
                         "status": "ok", "error": ""})
            samples += [{"model": "t", "seed": 0, "device": "cpu", "dtype": "float32", "backend": backend,
                         "batch_size": 1, "iteration": i, "latency_ms": float(x)} for i, x in enumerate(raw)]
        writer.append(rows, samples)
        writer.finish("complete")
        runs.append(RunData.load(writer.run_dir))
    result = compare_runs(*runs)
    eager, onnx = [r for r in result.results if r.metric == "latency_p50_ms"]
    assert (eager.variant, onnx.variant) == ("eager", "onnx")
    assert eager.verdict == PASS and abs(eager.change) < 3
    assert onnx.verdict == FAIL and onnx.change == pytest.approx(30, abs=2)
    assert "t [onnx]" in render_comparison(result) and failure_message([onnx]).startswith("t [onnx] latency_p50_ms")


SPEEDUP_GATE = {"speedup_vs_teacher": {"max_regression_pct": 10}}
TEACHER_ONE = [(1.0, 1.0, 1.0)]


def _speedup_pair(tmp_path: Path, base: list[Interval], cand: list[Interval], *,
                  floors: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None),
                  hardware: dict[str, Any] | None = None) -> tuple[RunData, RunData]:
    """A teacher ``t`` and a student ``s`` whose speedup_vs_teacher at batch size 1 is ``base``, then ``cand``."""
    gates, acc = {"t": SPEEDUP_GATE, "s": SPEEDUP_GATE}, {"t": [(0.9, 0.88, 0.92)], "s": [(0.8, 0.78, 0.82)]}
    b = make_run(tmp_path, "b", accuracy=acc, gates=gates, speedup={"t": TEACHER_ONE, "s": base},
                 noise_floor=floors[0])
    c = make_run(tmp_path, "c", accuracy=acc, gates=gates, speedup={"t": TEACHER_ONE, "s": cand},
                 noise_floor=floors[1], hardware=hardware)
    return b, c


SE_PER_HALF_WIDTH = 1 / 1.959964  # a 95% interval's half-width is 1.96 standard errors


def test_a_speedup_drop_beyond_the_bound_with_tight_intervals_fails(tmp_path: Path):
    """5x -> 4x is 20% worse against a 10% bound; intervals of +-0.1 make it plain."""
    base, cand = _speedup_pair(tmp_path, [(5.0, 4.9, 5.1)], [(4.0, 3.9, 4.1)])
    result = compare_runs(base, cand)
    s = one(result, "s", "speedup_vs_teacher")
    assert (s.verdict, s.batch_size, s.change, s.test) == (FAIL, 1, pytest.approx(-20.0), "z, from the 95% intervals")
    # one seed a side, se 0.1/1.96 each: z = 1 / sqrt(2 * (0.1/1.96)^2) = 13.86
    z = 1.0 / math.sqrt(2 * (0.1 * SE_PER_HALF_WIDTH) ** 2)
    assert s.p_value == pytest.approx(norm.sf(z)) and s.note == f"worse by 20.0% (p={s.p_value:.2g} < 0.05)"
    t = one(result, "t", "speedup_vs_teacher")
    assert (t.verdict, t.note) == (SKIPPED, "the teacher's speedup_vs_teacher is 1 by construction")
    assert result.exit_code == 1


def test_the_same_speedup_drop_with_wide_intervals_is_not_significant(tmp_path: Path):
    base, cand = _speedup_pair(tmp_path, [(5.0, 3.0, 7.0)], [(4.0, 2.0, 6.0)])
    result = compare_runs(base, cand)
    s = one(result, "s", "speedup_vs_teacher")
    z = 1.0 / math.sqrt(2 * (2.0 * SE_PER_HALF_WIDTH) ** 2)  # 0.693
    assert s.verdict == PASS and s.p_value == pytest.approx(norm.sf(z)) and s.p_value > 0.05
    assert s.note == f"worse by 20.0%, beyond the bound but not significant (p={s.p_value:.2g} >= 0.05)"
    assert result.exit_code == 0


def test_speedup_seeds_are_pooled_with_their_intervals_not_welch(tmp_path: Path):
    """Two seeds a hair apart would make Welch's t call a 1x drop certain; the rounds' intervals say otherwise."""
    base, cand = _speedup_pair(tmp_path, [(5.0, 3.0, 7.0), (5.01, 3.01, 7.01)], [(4.0, 2.0, 6.0), (4.01, 2.01, 6.01)])
    s = one(compare_runs(base, cand), "s", "speedup_vs_teacher")
    # each side: the mean of two seeds, standard error sqrt(2 * (2/1.96)^2) / 2 = (2/1.96) / sqrt(2)
    side = 2.0 * SE_PER_HALF_WIDTH / math.sqrt(2)
    assert s.test == "z, from the 95% intervals" and s.p_value == pytest.approx(norm.sf(1.0 / math.hypot(side, side)))
    assert s.verdict == PASS


def test_rows_without_an_interval_do_not_shrink_the_standard_error(tmp_path: Path):
    """One seed with an interval (+-0.5) and three without (NaN ends): the standard error is that one row's,
    0.5/1.96 a side, not a quarter of it (the audit's point 7: 3 rows without an interval halved it)."""
    nan = float("nan")
    base, cand = _speedup_pair(tmp_path, [(5.0, 4.5, 5.5), (5.0, nan, nan), (5.0, nan, nan), (5.0, nan, nan)],
                               [(4.0, 3.5, 4.5), (4.0, nan, nan), (4.0, nan, nan), (4.0, nan, nan)])
    s = one(compare_runs(base, cand), "s", "speedup_vs_teacher")
    se = 0.5 * SE_PER_HALF_WIDTH
    assert s.p_value == pytest.approx(norm.sf(1.0 / math.hypot(se, se)))


@pytest.mark.parametrize("floors", [({"pct": 25.0, "method": "A/A"}, {"pct": None, "reason": "no teacher"}),
                                    ({"pct": 1.7, "method": "A/A"}, {"pct": 25.0, "method": "A/A"})])
def test_a_timing_change_under_the_noise_floor_passes_with_a_note(tmp_path: Path, floors):
    """The larger of the two runs' A/A floors: 20% under a 25% floor cannot be told apart on that machine."""
    base, cand = _speedup_pair(tmp_path, [(5.0, 4.9, 5.1)], [(4.0, 3.9, 4.1)], floors=floors)
    s = one(compare_runs(base, cand), "s", "speedup_vs_teacher")
    assert s.verdict == PASS
    assert s.note == f"worse by 20.0% (p={s.p_value:.2g} < 0.05), but under the A/A noise floor 25%"
    rng = np.random.default_rng(0)  # a latency gate too, even in a cell flagged noisy
    acc = {"t": [(0.9, 0.88, 0.92)]}
    b = make_run(tmp_path, "lb", accuracy=acc, latency={"t": rng.normal(1.0, 0.02, 200)}, gates={"t": LAT_GATE},
                 noise_floor=floors[0])
    c = make_run(tmp_path, "lc", accuracy=acc, latency={"t": rng.normal(1.2, 0.02, 200)}, gates={"t": LAT_GATE},
                 noise_floor=floors[1], iqr=0.25)
    r = one(compare_runs(b, c), "t", "latency_p50_ms")
    assert r.verdict == PASS and r.note.endswith(", but under the A/A noise floor 25%") and r.p_value < 1e-30
    # accuracy is no timing: the floor does not apply to it
    worse = make_run(tmp_path, "wa", accuracy={"t": [(0.8, 0.78, 0.82)]}, gates={"t": ACC_GATE}, noise_floor=floors[1])
    base_acc = make_run(tmp_path, "ba", accuracy=acc, gates={"t": ACC_GATE}, noise_floor=floors[0])
    assert one(compare_runs(base_acc, worse), "t", "accuracy").verdict == FAIL


def test_a_change_above_the_noise_floor_still_fails(tmp_path: Path):
    floor = {"pct": 1.7, "method": "A/A"}
    base, cand = _speedup_pair(tmp_path, [(5.0, 4.9, 5.1)], [(4.0, 3.9, 4.1)], floors=(floor, floor))
    assert one(compare_runs(base, cand), "s", "speedup_vs_teacher").verdict == FAIL


def test_a_speedup_gate_is_refused_across_hardware_like_latency(tmp_path: Path):
    """A ratio of two timings on one CPU is not that ratio on another (cache sizes, vector units): refused."""
    other = {**HARDWARE, "cpu": "Other CPU 9000"}
    base, cand = _speedup_pair(tmp_path, [(5.0, 4.9, 5.1)], [(5.0, 4.9, 5.1)], hardware=other)
    result = compare_runs(base, cand)
    assert one(result, "s", "speedup_vs_teacher").verdict == REFUSED and result.exit_code == 2
    assert one(compare_runs(base, cand, allow_hardware_change=True), "s", "speedup_vs_teacher").verdict == PASS


def test_speedup_rows_the_run_could_not_measure_are_reported_as_such(tmp_path: Path):
    """A run without speedup rows (older, or the teacher was not in the cell): skipped, saying why."""
    gates, acc = {"t": SPEEDUP_GATE, "s": SPEEDUP_GATE}, {"t": [(0.9, 0.88, 0.92)], "s": [(0.8, 0.78, 0.82)]}
    older = make_run(tmp_path, "o", accuracy=acc, gates=gates)
    base, cand = _speedup_pair(tmp_path, [(5.0, 4.9, 5.1)], [(5.0, 4.9, 5.1)])
    result = compare_runs(older, cand)
    assert one(result, "s", "speedup_vs_teacher").verdict == SKIPPED
    assert one(result, "s", "speedup_vs_teacher").note == "no baseline value: no row"
    writer = RunWriter.open(base.path)
    writer.append([{"suite": "hand", "model": "s", "role": "student", "method": "scratch", "seed": 0,
                    "device": "cpu", "dtype": "float32", "batch_size": 8, "metric": "speedup_vs_teacher",
                    "unit": "x", "status": "skipped", "error": "the teacher was not timed in this cell"}])
    result = compare_runs(RunData.load(base.path), cand)
    at8 = [r for r in result.results if r.model == "s" and r.batch_size == 8]
    assert [(r.verdict, r.note) for r in at8] == [(SKIPPED,
                                                   "no baseline value: the teacher was not timed in this cell")]


def test_each_noise_level_is_its_own_cell(tmp_path: Path):
    """accuracy_under_noise at two levels: a gate judges each level on its own, never their mean."""
    from harness.compare import RunData
    from harness.store import RunWriter

    runs = []
    for label, loud in (("b", 0.60), ("c", 0.40)):  # the candidate loses 20 points at noise 2.0 only
        run = make_run(tmp_path, label, accuracy={"t": [(0.9, 0.88, 0.92)], "s": [(0.8, 0.78, 0.82)]},
                       gates={"s": {"accuracy_under_noise": {"max_regression": 0.05}}})
        rows = [{"suite": "hand", "model": "s", "role": "student", "method": "scratch", "seed": 0, "device": "cpu",
                 "dtype": "float32", "metric": "accuracy_under_noise", "value": value, "unit": "fraction",
                 "ci_low": value - 0.01, "ci_high": value + 0.01, "n": 360, "noise_sigma": sigma}
                for sigma, value in ((0.5, 0.75), (2.0, loud))]
        RunWriter.open(run.path).append(rows)
        runs.append(RunData.load(run.path))
    results = [r for r in compare_runs(*runs).results if r.metric == "accuracy_under_noise"]
    assert sorted((r.variant, r.verdict) for r in results) == [("noise 0.5", PASS), ("noise 2", FAIL)]


def _rounds(rng: np.random.Generator, rounds: int, per_round: int, slow_share: float, slow_ms: float) -> np.ndarray:
    """``rounds`` windows of ``per_round`` forwards near 1 ms, a share of them slow (rare slow forwards)."""
    raw = rng.normal(1.0, 0.01, rounds * per_round)
    return np.where(rng.random(raw.size) < slow_share, slow_ms, raw)


def test_a_p99_regression_fails_a_p99_gate_while_the_median_holds(tmp_path: Path):
    """A model with rare slow forwards (2% of forwards): the slow ones go from 3 ms to 6 ms, p99 +100%, the median
    unchanged. The p99 gate tests each round's p99 (here checked against scipy on the rounds' p99s computed in the
    test) and fails; the p50 gate holds."""
    rng = np.random.default_rng(3)
    gates = {"t": {"latency_p99_ms": {"max_regression_pct": 50}, "latency_p50_ms": {"max_regression_pct": 10}}}
    raws = {"b": _rounds(rng, 20, 100, 0.02, 3.0), "c": _rounds(rng, 20, 100, 0.02, 6.0)}
    runs = [make_run(tmp_path, k, accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": raw}, gates=gates, per_round=100)
            for k, raw in raws.items()]
    result = compare_runs(*runs)
    p99, p50 = one(result, "t", "latency_p99_ms"), one(result, "t", "latency_p50_ms")
    from scipy.stats import mannwhitneyu

    per_round = {k: [float(np.percentile(raw[r * 100:(r + 1) * 100], 99)) for r in range(20)]
                 for k, raw in raws.items()}
    assert p99.change == pytest.approx(100, abs=15) and p99.verdict == FAIL
    assert p99.test == "mann-whitney U on each round's p99, 20 vs 20 rounds"
    assert p99.p_value == pytest.approx(mannwhitneyu(per_round["c"], per_round["b"], alternative="greater").pvalue)
    assert p50.verdict == PASS and abs(p50.change) < 2
    assert p99.evidence == "rounds within each run: precision, not between-run drift"


def test_three_rounds_cannot_reach_alpha_so_a_doubled_p50_is_undecidable_never_a_pass(tmp_path: Path):
    """3 rounds against 3: the smallest one-sided Mann-Whitney p is 1/C(6, 3) = 0.05, so at alpha 0.05 no data can
    be significant. p50 doubled (1 -> 2 ms) is undecidable; under gate_policy fail (the default) compare exits 1,
    under warn it passes with a warning. The note names the rounds that would do: 1/C(8, 4) = 0.014 < 0.05."""
    gates = {"t": LAT_GATE}
    rng = np.random.default_rng(0)
    base = make_run(tmp_path, "b", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(1.0, 0.01, 30)},
                    gates=gates, per_round=10)
    cand = make_run(tmp_path, "c", accuracy={"t": [(0.9, 0.88, 0.92)]}, latency={"t": rng.normal(2.0, 0.01, 30)},
                    gates=gates, per_round=10)
    result = compare_runs(base, cand)
    r = one(result, "t", "latency_p50_ms")
    assert r.verdict == UNDECIDABLE and r.p_value == pytest.approx(1 / math.comb(6, 3))
    assert "4 rounds a side would" in r.note and "smallest possible p 0.05" in r.note
    assert result.exit_code == 1
    warned = compare_runs(base, cand, policy=GatePolicy(noisy="warn"))
    assert warned.exit_code == 0 and any("undecidable" in line for line in warning_lines(warned))


def test_identical_seeds_and_a_cached_rerun_add_no_evidence_to_the_accuracy_gate(tmp_path: Path):
    """The candidate kept 5 seeds of a deterministic student (identical predictions), the baseline one: the gate's p
    is one seed's exact one-sided McNemar (scipy), to 1e-9; pooling would have counted each discordant example 5
    times. Wrong on 0-9 before, on 0-19 and 190-191 after: b = 0, c = 12."""
    from scipy.stats import binomtest

    gates = {"t": ACC_GATE, "s": ACC_GATE}
    before = {"t": [_right_but(range(0))], "s": [_right_but(range(10))]}
    after = {"t": [_right_but(range(0))] * 5, "s": [_right_but([*range(20), 190, 191])] * 5}
    base = make_run(tmp_path, "b", accuracy=_accuracy_rows(before), gates=gates, predictions=before)
    cand = make_run(tmp_path, "c", accuracy=_accuracy_rows(after), gates=gates, predictions=after)
    s = one(compare_runs(base, cand), "s", "accuracy")
    assert s.p_value == pytest.approx(binomtest(12, 12, 0.5, alternative="greater").pvalue, rel=1e-9)
    assert s.test == "exact McNemar, 12 examples differ, 1 vs 5 seeds"
