"""Every command that reads stored results, against every kind of damage in tests/fixtures/damaged/:
exit 2, one line naming the file and what is wrong, never a traceback, and the damaged run left as it was.

The corpus is written by tests/fixtures/damaged/make_corpus.py; each case's expect.txt holds its line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "damaged"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and p.name != "whole")
Args = Callable[[Path, Path, Path], list[str]]

#: command -> its arguments for (the damaged run, a whole run of the same suite, a scratch folder)
COMMANDS: dict[str, Args] = {
    "report": lambda bad, whole, tmp: ["report", str(bad), "--out", str(tmp / "reports")],
    "leaderboard": lambda bad, whole, tmp: ["leaderboard", str(bad), "--out", str(tmp / "board")],
    "compare (candidate)": lambda bad, whole, tmp: ["compare", str(whole), str(bad)],
    "compare (baseline)": lambda bad, whole, tmp: ["compare", str(bad), str(whole)],
    "baseline save": lambda bad, whole, tmp: ["baseline", "save", str(bad), "--name", "b", "--dir", str(tmp / "b")],
    "baseline list": lambda bad, whole, tmp: ["baseline", "list", "--dir", str(bad.parent)],
    "hardware": lambda bad, whole, tmp: ["hardware", str(bad), "--out", str(tmp / "hw")],
    "merge": lambda bad, whole, tmp: ["merge", str(bad), str(whole), "--out", str(tmp / "merged")],
    "run --resume": lambda bad, whole, tmp: ["run", str(CORPUS / "base.yaml"), "--resume", str(bad), "--out",
                                             str(tmp / "out"), "--no-report"],
    "verify": lambda bad, whole, tmp: ["verify", str(bad)],
}


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a link's target, a folder's name."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = "dir"
    return found


def _copy(case: str, tmp: Path) -> tuple[Path, Path]:
    """The case and a whole run, copied (links as links) into ``tmp``, each in a folder of its own."""
    bad, whole = tmp / "baselines" / case, tmp / "whole" / "run"
    shutil.copytree(CORPUS / case, bad, symlinks=True, ignore=shutil.ignore_patterns("expect.txt"))
    shutil.copytree(CORPUS / "whole", whole)
    return bad, whole


def test_the_corpus_has_every_kind_of_damage():
    kinds = {"cut_short", "empty", "random_bytes", "bytes_flipped", "from_elsewhere", "other_columns",
             "missing_column", "wrong_type", "manifest_not_json", "manifest_not_object", "manifest_lacks_keys",
             "manifest_future_schema", "missing", "is_a_directory", "symlink_loop"}
    assert all(any(kind in case for case in CASES) for kind in kinds), CASES
    assert all((CORPUS / case / "expect.txt").is_file() for case in CASES)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", CASES)
def test_damage_is_one_line_and_exit_2(case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad, whole = _copy(case, tmp_path)
    before = _snapshot(bad)
    expected = (CORPUS / case / "expect.txt").read_text().strip().replace("{dir}", str(bad))
    code = main(COMMANDS[command](bad, whole, tmp_path))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    if command == "verify":
        assert out.strip().startswith(f"DAMAGED {bad}: {expected}"), out
        assert err.strip() == "1 runs: 0 whole, 1 damaged"
    else:
        assert len(err.strip().splitlines()) == 1 and err.startswith(expected), err
    assert _snapshot(bad) == before, "a damaged run is never changed by a command that reads it"


def test_a_whole_run_passes_every_reading_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The other side of the matrix: the same commands on the whole run succeed (compare: its gates hold)."""
    whole = tmp_path / "baselines" / "whole"
    shutil.copytree(CORPUS / "whole", whole)
    for command, args in COMMANDS.items():
        if command in ("merge", "run --resume"):
            continue  # merge of a run with itself is refused for doubled models; resume would measure again
        code = main(args(whole, whole, tmp_path))
        out, err = capsys.readouterr()
        if command == "hardware":  # read whole; one machine is nothing to compare
            assert (code, err.strip()) == (2, "hardware: all runs ran on one machine (#1): nothing to compare")
        else:
            assert code == 0, (command, out, err)
