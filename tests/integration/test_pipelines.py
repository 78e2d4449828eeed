"""Students made by a chain of methods, or started from the teacher's weights."""

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import SuiteError
from harness.store import load_results, read_manifest
from harness.suite import load_suite
from tests.conftest import FIXTURES

PIPELINE_SUITE = (FIXTURES / "tiny.yaml").read_text().replace(
    "    method: {name: kd, temperature: 4.0, alpha: 0.9, epochs: 2}",
    """    method:
      - {name: scratch, epochs: 2}
      - {name: kd, temperature: 2.0, alpha: 0.5, epochs: 1}
  - name: tuned-teacher
    init: teacher
    method: {name: scratch, epochs: 1, lr: 1.0e-4}""")


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    (tmp_path / "suite.yaml").write_text(PIPELINE_SUITE)
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "results"), "--no-report"]) == 0
    out, err = capsys.readouterr()
    return Path(out.strip().splitlines()[-1]), err


def test_a_pipeline_and_a_student_started_from_the_teacher(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch):
    # a cache of its own: the first run builds every step (another suite's student, such as failing_suite.yaml's
    # fine, can be this pipeline's first step, and the session's cache would hold it), the second reads them all
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    run_dir, err = _run(tmp_path, capsys)
    assert "kd-4 (seed 0) step 1 scratch: building" in err and "kd-4 (seed 0) step 2 kd: building" in err
    df = load_results(run_dir)
    methods = df.drop_duplicates("model").set_index("model")["method"]
    assert methods["kd-4"] == "scratch+kd" and methods["tuned-teacher"] == "scratch"
    assert set(df[df["model"] != "teacher"]["status"]) <= {"ok", "skipped"}
    params = df[df["metric"] == "params"].set_index("model")["value"]
    assert params["tuned-teacher"] == params["teacher"]  # the teacher's architecture, its weights fine-tuned
    manifest = read_manifest(run_dir)
    assert manifest.teacher_outputs["builds_using_them"] == 1  # only the kd step distils
    steps = manifest.build_steps["kd-4"]["0"]
    assert [s["step"] for s in steps] == ["scratch", "kd"] and not any(s["cached"] for s in steps)
    train = df[(df["model"] == "kd-4") & (df["metric"] == "train_seconds")]["value"].iloc[0]
    assert train == pytest.approx(sum(s["seconds"] for s in steps), abs=1e-3)

    again, err = _run(tmp_path, capsys)
    assert "building" not in err, "every step of both students came from the cache"
    second = load_results(again)
    key = ["model", "metric"]
    quality = ["accuracy", "params", "size_bytes"]
    first_q = df[df["metric"].isin(quality)].set_index(key)["value"].sort_index()
    second_q = second[second["metric"].isin(quality)].set_index(key)["value"].sort_index()
    assert first_q.equals(second_q)


def test_init_teacher_takes_no_architecture(tmp_path: Path):
    with_arch = PIPELINE_SUITE.replace("    init: teacher\n", "    init: teacher\n    arch: mlp\n")
    (tmp_path / "s.yaml").write_text(with_arch)
    with pytest.raises(SuiteError, match=r"students\[1\]: 'init: teacher' takes the teacher's architecture"):
        load_suite(tmp_path / "s.yaml")


def test_errors_in_a_pipeline_step_name_the_step(tmp_path: Path):
    (tmp_path / "s.yaml").write_text(PIPELINE_SUITE.replace("alpha: 0.5, epochs: 1}", "alpha: 5, epochs: 1}"))
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path / "s.yaml")
    assert str(info.value).startswith(f"{tmp_path / 's.yaml'}:13: students[0].method[1].alpha: Input should be less")


def test_pruning_reads_the_teacher_only_when_it_distils():
    from harness.methods import get_method
    from harness.methods.base import needs_teacher

    prune = get_method("prune")
    assert not needs_teacher(prune, prune.params.model_validate({"sparsity": 0.5}))
    assert needs_teacher(prune, prune.params.model_validate({"sparsity": 0.5, "distill": True}))
    assert needs_teacher(get_method("kd"), None) and not needs_teacher(get_method("scratch"), None)
