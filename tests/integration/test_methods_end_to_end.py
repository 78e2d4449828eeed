"""Every method of the library through `harness run` on a tiny suite: built, measured, nothing silently 0."""

from pathlib import Path

import pytest

from harness.cli import main
from harness.store import load_results
from tests.conftest import FIXTURES

STUDENTS = """
  - name: fitnets
    arch: mlp
    params: {hidden: [8]}
    method: {name: fitnets, student_layer: "2", teacher_layer: "2", epochs: 2}
  - name: attention
    arch: cnn1d
    params: {channels: [4]}
    method: {name: attention, student_layers: ["2"], teacher_layers: ["2"], beta: 10.0, epochs: 2}
  - name: adversarial
    arch: mlp
    params: {hidden: [8]}
    method: {name: adversarial, epochs: 2}
  - name: multi
    arch: mlp
    params: {hidden: [8]}
    method: {name: multi_teacher, teachers: [teacher, fitnets], epochs: 2}
  - name: pruned
    init: teacher
    method: {name: prune, sparsity: 0.75, epochs: 1}
  - name: channels
    init: teacher
    method: {name: channel_prune, ratio: 0.5, distill: true, epochs: 1}
  - name: int8
    init: teacher
    method: {name: quantize}
  - name: half
    init: teacher
    method: {name: precision, dtype: bfloat16}
  - name: pipeline
    arch: mlp
    params: {hidden: [8]}
    method:
      - {name: kd, epochs: 2}
      - {name: prune, sparsity: 0.5}
      - {name: quantize}
"""


def test_every_method_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    suite = (FIXTURES / "tiny.yaml").read_text().replace("students:\n", "students:" + STUDENTS, 1)
    (tmp_path / "suite.yaml").write_text(suite)
    code = main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "results"), "--no-report"])
    out, err = capsys.readouterr()
    df = load_results(Path(out.strip().splitlines()[-1]))
    errors = df[df["status"] == "error"].drop_duplicates(["model", "error"])
    # the synthetic data are flat vectors: a 1-D CNN student cannot take them, and says so in its rows
    assert errors["model"].tolist() == ["attention"], errors[["model", "error"]].to_string()
    assert errors["error"].iloc[0] == ("build failed: HarnessError: cnn1d expects input of shape (channels, length); "
                                       "got (8,)")
    assert code == 1
    value = df[df["batch_size"].isna()].set_index(["model", "metric"])["value"]
    dtypes = df.drop_duplicates("model").set_index("model")["dtype"]
    assert dtypes["int8"] == "int8" and dtypes["half"] == "bfloat16" and dtypes["pipeline"] == "int8"
    assert dtypes["pruned"] == "float32"
    # unstructured pruning: exactly 75% of the weights are zero, and only the sparse size shows a saving
    weights = 8 * 16 + 16 * 3
    assert value["teacher", "params_nonzero"] - value["pruned", "params_nonzero"] == round(0.75 * weights)
    assert value["pruned", "size_bytes_sparse"] < value["pruned", "size_bytes"]
    # channel pruning really shrinks the layers: 16 hidden units -> 8
    assert value["channels", "params"] == 8 * 8 + 8 + 8 * 3 + 3
    rows = df[df["metric"] == "accuracy"].set_index("model")
    for model in ("fitnets", "adversarial", "multi", "pruned", "channels", "int8", "half", "pipeline"):
        row = rows.loc[model]  # measured, with its bootstrap interval: a fraction, never a silent 0
        assert row["status"] == "ok" and 0 < row["ci_low"] <= row["value"] <= row["ci_high"] <= 1, model
    # casting the teacher's weights (int8, bfloat16) keeps nearly every prediction it makes
    assert value["int8", "teacher_agreement"] >= 0.9 and value["half", "teacher_agreement"] >= 0.9
    latency = df[(df["metric"] == "latency_p50_ms") & (df["model"].isin(["int8", "half", "pipeline"]))]
    assert set(latency["status"]) == {"ok"}, latency[["model", "error"]].to_string()
