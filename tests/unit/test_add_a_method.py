"""docs/architecture.md's "Adding a method" example, run as a user would: one file, one decorator, a suite."""

import re
from pathlib import Path

from harness.cli import main
from harness.store import load_results
from tests.conftest import FIXTURES, ROOT


def test_the_documented_method_example_runs_in_a_suite(tmp_path: Path, capsys):
    text = (ROOT / "docs" / "architecture.md").read_text()
    code = re.search(r"<!-- example: add-a-method -->\n```python\n(.*?)```\n<!-- end example -->", text, re.S)
    assert code, "the example is in docs/architecture.md"
    # a module name of its own: the decorator registers 'label_smoothing' in this process
    (tmp_path / "my_methods_doc_example.py").write_text(code.group(1).replace('@method("label_smoothing")',
                                                                             '@method("label_smoothing_doc")'))
    suite = (FIXTURES / "tiny.yaml").read_text().replace(
        "method: {name: kd, temperature: 4.0, alpha: 0.9, epochs: 2}",
        'method: {name: "my_methods_doc_example:label_smoothing", smoothing: 0.2, epochs: 2}')
    (tmp_path / "suite.yaml").write_text(suite)
    assert main(["validate", str(tmp_path / "suite.yaml")]) == 0
    bad = suite.replace("smoothing: 0.2", "smoothing: 1.5")
    (tmp_path / "bad.yaml").write_text(bad)
    assert main(["validate", str(tmp_path / "bad.yaml")]) == 2
    assert "students[0].method.smoothing: Input should be less than 1" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "results"), "--no-report"]) == 0
    df = load_results(Path(capsys.readouterr().out.strip().splitlines()[-1]))
    student = df[(df["model"] == "kd-4") & (df["metric"] == "accuracy")]
    assert student["method"].tolist() == ["my_methods_doc_example:label_smoothing"]
    assert student["status"].tolist() == ["ok"]
