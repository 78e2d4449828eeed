"""docs/bring-your-own.md's "Your own code" example, run as a user would: examples/custom through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from harness.store import load_results
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "custom"


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_the_custom_example_runs_end_to_end(tmp_path: Path):
    example = tmp_path / "custom"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("*.safetensors", "__pycache__"))
    made = _run("save_student.py", cwd=example)
    assert made.returncode == 0, made.stderr
    # from another directory: my_models is found on the suite's folder
    result = _run("-m", "harness.cli", "run", str(example / "suite.yaml"), "--out", str(tmp_path / "results"),
                  "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    df = load_results(run_dir)
    assert sorted(df["model"].unique()) == ["kd-8", "mine-8", "scratch-8", "teacher"]
    assert (df.loc[df["metric"] == "accuracy", "value"] > 0.8).all()
    assert sorted(df.loc[df["model"] == "kd-8", "backend"].unique()) == ["eager", "torchscript"]
    # the student from the user's own weights is measured with exactly those weights
    sys.path.insert(0, str(example))
    try:
        from my_models import breast_cancer, wide_mlp
    finally:
        sys.path.remove(str(example))
    data = breast_cancer(seed=0)
    mine = wide_mlp(data.input_shape, 2, width=8, depth=1)
    mine.load_state_dict(load_file(example / "student-8.safetensors"))
    expected = float((mine(data.x_test).argmax(1) == data.y_test).double().mean())
    accuracy = df[(df["model"] == "mine-8") & (df["metric"] == "accuracy")]["value"].iloc[0]
    assert accuracy == expected


def test_user_code_is_found_on_pythonpath(tmp_path: Path):
    suite = tmp_path / "elsewhere" / "suite.yaml"
    suite.parent.mkdir()
    suite.write_text((EXAMPLE / "suite.yaml").read_text().replace("checkpoint: student-8.safetensors",
                                                                  "method: {name: scratch, epochs: 1}"))
    missing = _run("-m", "harness.cli", "validate", str(suite), cwd=tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "cannot import module 'my_models'" in missing.stderr
    found = _run("-m", "harness.cli", "validate", str(suite), cwd=tmp_path, env={"PYTHONPATH": str(EXAMPLE)})
    assert found.returncode == 0, found.stderr
    assert "runs user code: my_models:breast_cancer" in found.stdout
