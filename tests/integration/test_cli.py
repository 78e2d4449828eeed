"""The command line as a user meets it: one line per error, no tracebacks. The entry point (``python -m
harness.cli``: help, a usage error, a suite that imports user code) in a real subprocess; the rest through
``main()`` in this process, the same code path without an interpreter and torch import per check."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import FIXTURES, ROOT


def _harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_documents_every_command():
    result = _harness("--help")
    assert result.returncode == 0
    for command in ("run", "validate", "report", "list", "leaderboard", "merge", "hardware"):
        assert command in result.stdout
    assert "HARNESS_CACHE_DIR" in result.stdout
    run_help = _harness("run", "--help").stdout
    assert "--out" in run_help and "last line" in run_help
    assert "--shard" in run_help and "--executor" in run_help and "--address" in run_help
    assert "--set KEY=VALUE" in run_help and "--set KEY=VALUE" in _harness("validate", "--help").stdout


def test_validate_a_good_suite(capsys: pytest.CaptureFixture[str]):
    code, out, err = _main(capsys, "validate", str(ROOT / "suites" / "quick.yaml"))
    assert code == 0, err
    assert "valid suite 'quick'" in out


def test_validate_lists_the_user_code_a_suite_would_run():
    result = _harness("validate", str(FIXTURES / "plugin_suite.yaml"))
    assert result.returncode == 0, result.stderr
    assert "runs user code: plugins.my_components:wide_linear" in result.stdout


@pytest.mark.parametrize("name", ["unknown_method", "batch_size_zero", "bad_indent", "empty", "missing_checkpoint",
                                  "gate_policy_unknown"])
def test_validate_a_bad_suite_is_one_line_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]):
    path = FIXTURES / "bad_suites" / f"{name}.yaml"
    code, out, err = _main(capsys, "validate", str(path))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:"), err
    assert "Traceback" not in err


def test_run_with_a_bad_suite_fails_before_doing_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, _, err = _main(capsys, "run", str(FIXTURES / "bad_suites" / "unknown_arch.yaml"), "--out", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_missing_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    for args in (["validate", str(tmp_path / "no/such/suite.yaml")], ["report", str(tmp_path / "no-run")]):
        code, _, err = _main(capsys, *args)
        assert code == 2, args
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_list_shows_every_registry(capsys: pytest.CaptureFixture[str]):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for heading in ("datasets:", "architectures:", "methods:", "metrics:"):
        assert heading in out
    for name in ("digits", "mnist1d", "mnist", "mlp", "cnn1d", "cnn2d", "resnet", "kd", "scratch", "train",
                 "latency_p50_ms", "accuracy"):
        assert f"  {name} " in out, name
    assert main(["list", "methods"]) == 0
    assert "datasets:" not in capsys.readouterr().out


def test_usage_errors_exit_2():
    result = _harness("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_suite_whose_extra_is_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """harness validate on a suite whose dataset needs transformers, where it is not installed: the one line says
    which extra installs it, not only the ModuleNotFoundError."""
    import builtins

    from harness.cli import main

    real = builtins.__import__

    def without_transformers(name: str, *args: object, **kwargs: object):
        if name.split(".")[0] == "transformers":
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real(name, *args, **kwargs)

    import harness.models.minilm as minilm

    # the tokenizer is cached once loaded (by an earlier test, in some order): the uncached one imports again
    monkeypatch.setattr(minilm, "tokenizer", minilm.tokenizer.__wrapped__)
    monkeypatch.setattr(builtins, "__import__", without_transformers)
    assert main(["validate", str(ROOT / "suites" / "minilm-small.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.endswith("No module named 'transformers': pip install -e '.[text]' (the text extra)"), err
