"""Save a baseline from a run of a small suite, make a student worse (fewer epochs), run again:
``harness compare`` exits 1, names the student and the metric, and says what the candidate's suite changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import FIXTURES


def _run(suite: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["run", str(suite), "--out", str(out), "--no-report"]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_fewer_epochs_fail_the_accuracy_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    baseline_run = _run(FIXTURES / "gated.yaml", tmp_path / "results", capsys)
    baselines = tmp_path / "baselines"
    assert main(["baseline", "save", str(baseline_run), "--name", "gated-cpu", "--dir", str(baselines)]) == 0
    assert capsys.readouterr().out.strip() == str(baselines / "gated-cpu")
    saved = baselines / "gated-cpu"
    assert sorted(p.name for p in saved.iterdir()) == ["baseline.json", "manifest.json", "measurements.parquet",
                                                       "predictions.parquet", "samples.parquet"]
    assert json.loads((saved / "baseline.json").read_text())["run_id"] == baseline_run.name
    # saving again needs --force; listing shows it
    assert main(["baseline", "save", str(baseline_run), "--name", "gated-cpu", "--dir", str(baselines)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["baseline", "list", "--dir", str(baselines)]) == 0
    assert "gated-cpu" in capsys.readouterr().out

    # the same suite again holds every gate (accuracy and size are deterministic here)
    same = _run(FIXTURES / "gated.yaml", tmp_path / "results", capsys)
    assert main(["compare", "gated-cpu", str(same), "--baselines", str(baselines)]) == 0, capsys.readouterr().out
    content = json.loads((same / "manifest.json").read_text())["suite_hash"][:8]
    assert f"same suite: gated {content}" in capsys.readouterr().out.splitlines()

    worse_suite = tmp_path / "gated.yaml"
    text = (FIXTURES / "gated.yaml").read_text()
    worse_suite.write_text(text.replace("method: {name: scratch, epochs: 20", "method: {name: scratch, epochs: 1"))
    candidate = _run(worse_suite, tmp_path / "results", capsys)
    code = main(["compare", "gated-cpu", str(candidate), "--baselines", str(baselines), "--format", "markdown",
                 "--out", str(tmp_path / "compare.md")])
    out = capsys.readouterr().out
    assert code == 1, out
    failing = [line for line in out.splitlines() if "| FAIL" in line]
    assert len(failing) == 1 and failing[0].startswith("| small ") and "| accuracy " in failing[0], out
    assert "| exact McNemar, " in failing[0] and " examples differ " in failing[0], out  # paired by example
    assert (tmp_path / "compare.md").read_text() == out
    changed = json.loads((candidate / "manifest.json").read_text())["suite_hash"][:8]
    assert changed != content
    assert f"- suite content differs: gated {content} -> {changed}: students[0].method[0].params.epochs: 20 -> 1" \
        in out.splitlines(), out


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["compare", "nope", str(tmp_path), "--baselines", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("nope: neither a run directory nor a baseline")
    assert main(["baseline", "save", str(tmp_path), "--name", "x", "--dir", str(tmp_path / "b")]) == 2
    assert "not a run directory" in capsys.readouterr().err
