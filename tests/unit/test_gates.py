"""Gates in suites: per-model merging, switching off, and a content hash they leave alone."""

from __future__ import annotations

import json
from pathlib import Path

from harness.suite import load_suite
from harness.suite.gates import (
    GatePolicy,
    GateSpec,
    gates_of_resolved_suite,
    merge_gate,
    policy_of_resolved_suite,
)
from tests.conftest import FIXTURES

GATED = FIXTURES / "tiny.yaml"


def _with(tmp_path: Path, extra: str, student: str = "") -> Path:
    text = GATED.read_text()
    if student:
        text = text.replace("    method: {name: kd, temperature: 4.0, alpha: 0.9, epochs: 2}\n",
                            "    method: {name: kd, temperature: 4.0, alpha: 0.9, epochs: 2}\n" + student)
    path = tmp_path / "s.yaml"
    path.write_text(text + extra)
    return path


SUITE_GATES = """gates:
  accuracy: {max_regression: 0.01}
  latency_p50_ms: {max_regression_pct: 10, batch_sizes: [1], alpha: 0.01}
  size_bytes: {max_regression_pct: 5}
"""


def test_a_students_gates_merge_over_the_suites(tmp_path: Path):
    student = ("    gates:\n"
               "      latency_p50_ms: {max_regression: 0.5}\n"   # replaces the suite's bound, keeps its alpha
               "      size_bytes: off\n"
               "      params: {max_improvement_pct: 0}\n")
    suite = load_suite(_with(tmp_path, SUITE_GATES, student))
    gates = suite.gates_by_model()
    assert sorted(gates["teacher"]) == ["accuracy", "latency_p50_ms", "size_bytes"]
    assert sorted(gates["kd-4"]) == ["accuracy", "latency_p50_ms", "params"]
    latency = gates["kd-4"]["latency_p50_ms"]
    assert (latency.max_regression, latency.max_regression_pct, latency.alpha, latency.batch_sizes) == (0.5, None,
                                                                                                        0.01, [1])
    # the manifest's resolved suite holds the same effective gates
    assert gates_of_resolved_suite(json.loads(json.dumps(suite.resolved()))) == gates


def test_gates_leave_the_content_hash_alone(tmp_path: Path):
    plain = load_suite(GATED).content_hash()
    assert load_suite(_with(tmp_path, SUITE_GATES)).content_hash() == plain
    assert load_suite(_with(tmp_path, "", "    gates: {accuracy: {max_regression: 0.2}}\n")).content_hash() == plain
    assert load_suite(_with(tmp_path, SUITE_GATES.replace("0.01}", "0.05}"))).content_hash() == plain


def test_merge_keeps_what_the_override_does_not_give():
    base = GateSpec(max_regression_pct=10, max_improvement_pct=50, alpha=0.01)
    merged = merge_gate(base, GateSpec(alpha=0.05))
    assert (merged.max_regression_pct, merged.max_improvement_pct, merged.alpha) == (10, 50, 0.05)
    assert not merge_gate(base, GateSpec.model_validate(False)).enabled


def test_bound_text():
    assert GateSpec(max_regression=0.01, max_improvement_pct=30).bound_text() == \
        "worse by at most 0.01; better by at most 30%"


def test_the_gate_policy_defaults_to_fail_and_stays_out_of_the_content_hash(tmp_path: Path):
    plain = load_suite(GATED)
    assert plain.gate_policy == GatePolicy() and plain.gate_policy.noisy == "fail"
    assert plain.gate_policy.rerun_count == 0
    rerun = load_suite(_with(tmp_path, "gate_policy: {noisy: rerun, reruns: 3}\n"))
    assert rerun.gate_policy.rerun_count == 3 and rerun.content_hash() == plain.content_hash()
    assert load_suite(_with(tmp_path, "gate_policy: {noisy: rerun}\n")).gate_policy.rerun_count == 2
    # the manifest's resolved suite holds it; a suite from before it existed reads as the default
    assert policy_of_resolved_suite(json.loads(json.dumps(rerun.resolved()))) == rerun.gate_policy
    assert policy_of_resolved_suite({"name": "old"}) == GatePolicy()


def test_a_gate_names_only_scenarios_its_metric_is_measured_in(tmp_path: Path):
    import pytest

    from harness.errors import SuiteError

    ok = load_suite(_with(tmp_path, "gates:\n  latency_p99_ms: {max_regression_pct: 10, scenarios: [server]}\n"))
    assert ok.gates["latency_p99_ms"].scenarios == ["server"]
    for gate, message in [("accuracy: {max_regression: 0.1, scenarios: [server]}",
                           "gates.accuracy.scenarios: server: the metric is measured once per model"),
                          ("latency_p50_ms: {max_regression_pct: 10, scenarios: [offline]}",
                           "gates.latency_p50_ms.scenarios: offline: the metric is measured in single_stream, server"),
                          ("max_qps_at_slo: {max_regression_pct: 10, scenarios: [single_stream]}",
                           "gates.max_qps_at_slo.scenarios: single_stream: the metric is measured in server")]:
        with pytest.raises(SuiteError, match=message.replace(".", r"\.")):
            load_suite(_with(tmp_path, f"gates:\n  {gate}\n"))


def test_a_closed_loop_gate_judges_the_closed_loop_sweep_unless_it_names_more():
    both = ("single_stream", "server")
    assert GateSpec().judged(both) == ("single_stream",)
    assert GateSpec(scenarios=["server", "single_stream"]).judged(both) == both
    assert GateSpec().judged(("server",)) == ("server",)  # max_qps_at_slo: measured in its scenario only
