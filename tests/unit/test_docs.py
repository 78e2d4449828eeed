"""The docs stay true: links resolve, the README fits on a page, the suite reference matches the schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pydantic
import pytest

from harness.cli import _parser, main
from harness.reference import BEGIN, END, KINDS, builtin_names, component, slug, suite_sections
from harness.reference_notes import NOTES
from harness.registry import describe_params
from tests.conftest import FIXTURES, ROOT

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
GUIDES = ["getting-started", "suite-reference", "methods", "measurements", "reports", "ci", "hardware",
          "bring-your-own", "reliability", "architecture"]
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)


def _prose(text: str) -> str:
    """The page without its fenced code blocks (a `# comment` in a shell block is no heading)."""
    return FENCE.sub("", text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings; a repeated heading gets -1, -2, ..."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose(page.read_text()), re.M):
        base = slug(heading)
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_source_file_a_page_names_exists(page: Path):
    """A path like harness/measure/paired.py or scripts/module_graph.py, in prose or code, names a real file:
    modules move, and a guide that points at the old place sends a newcomer nowhere."""
    named = set(re.findall(r"(?<![\w/.])((?:harness|scripts|benchmarks|tests|suites|examples)/[\w/.-]+\.(?:py|yaml))",
                           page.read_text()))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {', '.join(missing)}"


def test_the_link_checker_sees_broken_links(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("# A `code` heading: yes\n\n## Twice\n\n## Twice\n\n```sh\n# not a heading\n```\n"
                    "[ok](#a-code-heading-yes) [dup](#twice-1) [no](missing.md) [[]](#students)\n")
    assert anchors(page) == {"a-code-heading-yes", "twice", "twice-1"}
    assert links(page) == ["#a-code-heading-yes", "#twice-1", "missing.md", "#students"]


def test_the_readme_fits_on_a_page_and_links_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024
    for guide in GUIDES:
        assert (ROOT / "docs" / f"{guide}.md").is_file(), guide
        assert f"(docs/{guide}.md)" in readme, guide


def test_the_readme_keeps_the_two_setup_commands_and_names_the_plugin_extra():
    readme = (ROOT / "README.md").read_text()
    assert ("python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 -e . && "
            ".venv/bin/harness run suites/quick.yaml") in readme
    assert "python3 -m pip install tox && python3 -m tox" in readme
    assert "'.[test]'" in readme and "pytest plugin" in readme


def test_the_readme_command_table_has_every_subcommand():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Commands"):readme.index("## Guides")]
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    for command in commands:
        assert f"| `harness {command} " in table or f"| `harness {command}`" in table, command


def _yaml_blocks(page: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)


@pytest.mark.parametrize("page", ["README.md", "docs/suite-reference.md"])
def test_the_example_suite_is_valid(page: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    suite = tmp_path / "suite.yaml"
    suite.write_text(_yaml_blocks(ROOT / page)[0])
    assert main(["validate", str(suite)]) == 0, capsys.readouterr().err
    assert "valid suite 'quick'" in capsys.readouterr().out


def test_the_suite_reference_is_generated_from_the_schema():
    # a fresh process: this one may hold components other tests registered
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_suite_reference.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _sections(text: str) -> dict[str, str]:
    """Heading -> the text under it, up to the next heading of any level."""
    parts = re.split(r"^#{2,4} (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_the_suite_reference_names_every_key_and_every_parameter():
    text = (ROOT / "docs" / "suite-reference.md").read_text()
    generated = _sections(text[text.index(BEGIN):text.index(END)])
    for path, model in suite_sections():
        heading = "top level" if path == "top level" else f"`{path}`"
        for key in model.model_fields:
            assert f"| `{key}` |" in generated[heading], (path, key)
    for kind in ("datasets", "architectures", "methods"):
        for name in builtin_names(kind):
            section = generated[f"{KINDS[kind]} `{name}`"]
            for param in component(kind, name).params:
                assert f"| `{param.name}` | {param.type} |" in section, (kind, name, param.name)


def test_the_suite_reference_covers_the_headline_parameters():
    text = (ROOT / "docs" / "suite-reference.md").read_text()
    prune = _sections(text)["method `prune`"]
    assert "| `sparsity` | float | required | > 0, < 1 |" in prune
    quantize = _sections(text)["method `quantize`"]
    assert "| `mode` | str | `dynamic` | one of: dynamic, static |" in quantize


@pytest.mark.parametrize(("name", "shown"), [("prune", "sparsity"), ("quantize", "mode")])
def test_harness_list_shows_a_methods_parameters(name: str, shown: str, capsys: pytest.CaptureFixture[str]):
    assert main(["list", "methods", name]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(shown + " "))
    expected = {"sparsity": ["float", "required", "> 0, < 1"], "mode": ["str", "dynamic", "one of: dynamic, static"]}
    for part in expected[shown]:
        assert part in row, (row, part)


def test_harness_list_shows_datasets_architectures_and_metrics(capsys: pytest.CaptureFixture[str]):
    assert main(["list", "datasets", "mnist1d"]) == 0
    assert re.search(r"^generator_seed +int +42 ", capsys.readouterr().out, re.M)
    assert main(["list", "architectures", "mlp"]) == 0
    assert re.search(r"^hidden +list\[int\] +\[128\] +each > 0 ", capsys.readouterr().out, re.M)
    assert main(["list", "metrics", "accuracy"]) == 0
    out = capsys.readouterr().out
    assert "unit: fraction" in out and "better: higher" in out


def test_harness_list_an_unknown_name_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["list", "methods", "prun"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "unknown method 'prun'" in captured.err and "did you mean prune?" in captured.err


def _models() -> dict[str, type[pydantic.BaseModel]]:
    """Every params or suite model the reference describes, and their pydantic base classes, by class name."""
    from harness.data import DATASETS
    from harness.methods import get_method
    from harness.models import ARCHITECTURES, INJECTED
    from harness.registry import params_model

    found: dict[str, type[pydantic.BaseModel]] = {}
    roots = [model for _, model in suite_sections()] + [get_method(n).params for n in builtin_names("methods")]
    roots += [params_model(DATASETS.get(n), skip=("seed",)) for n in builtin_names("datasets")]
    roots += [params_model(ARCHITECTURES.get(n), skip=INJECTED) for n in builtin_names("architectures")]
    for root in roots:
        for cls in root.__mro__:
            if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel) and cls is not pydantic.BaseModel:
                found.setdefault(cls.__name__, cls)
    return found


def test_every_note_names_a_field_that_does_not_describe_itself():
    models = _models()
    for key in NOTES:
        owner, _, field = key.partition(".")
        assert owner in models and field in models[owner].model_fields, f"{key}: no such field"
        own = next(p for p in describe_params(models[owner]) if p.name == field).description
        assert not own, f"{key}: the field describes itself ({own!r}); delete the note"


def test_architecture_states_every_metric_and_every_stored_column():
    from harness.metrics import METRICS

    text = (ROOT / "docs" / "architecture.md").read_text()
    contracts = _sections(text)["Contracts"]
    for name in METRICS.names():
        assert re.search(rf"\b{name}\b", contracts), name
    schema = json.loads((FIXTURES / "schema_v4.json").read_text())  # the golden schema of the stored results
    for table in ("measurements", "samples", "predictions"):
        for column in schema[table]:
            assert re.search(rf"\b{column}\b", contracts), (table, column)
