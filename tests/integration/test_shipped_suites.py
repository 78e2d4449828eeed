"""Every suite the project ships validates, and names only real, offline datasets."""

from pathlib import Path

import pytest

from harness.suite import load_suite
from tests.conftest import ROOT

SUITES = sorted((ROOT / "suites").glob("*.yaml"))


def test_the_issue_s_suites_are_shipped():
    assert {p.stem for p in SUITES} >= {"quick", "mnist1d", "mnist"}


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suite_validates(path: Path):
    suite = load_suite(path)
    assert suite.name == path.stem
    assert suite.dataset.name in {"digits", "mnist1d", "mnist"}, "shipped suites use real data"
    assert any(s.method_label == "scratch" for s in suite.students), "each suite keeps the trained-alone baseline"


def test_quick_suite_matches_its_promise():
    suite = load_suite(ROOT / "suites" / "quick.yaml")
    assert suite.dataset.name == "digits"
    assert {s.method_label for s in suite.students} == {"scratch", "kd"}
    assert suite.measure.batch_sizes[0] == 1 and suite.measure.batch_sizes[-1] == 256
