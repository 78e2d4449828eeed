"""``harness verify RUN_DIR...``: is each run whole? The manifest parses, and every file it records
holds the bytes the harness wrote (sha256) and reads as a table of the run's schema.

>>> from harness.verify import verify_run
>>> verify_run(Path("results/quick/RUN_ID"))          # doctest: +SKIP
Verdict(run_dir=..., problems=[], checked=['measurements.parquet', 'samples.parquet'], digests=True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.store import MEASUREMENTS, SAMPLES, TABLES, check_table, read_manifest, read_table, run_dirs

#: the tables every finished run has (predictions.parquet came later: checked where a run has it)
REQUIRED = (MEASUREMENTS, SAMPLES)


@dataclass
class Verdict:
    run_dir: Path
    problems: list[str] = field(default_factory=list)
    #: the files that were read and found whole
    checked: list[str] = field(default_factory=list)
    #: whether the manifest recorded digests (runs written before integrity records did not)
    digests: bool = False

    @property
    def whole(self) -> bool:
        return not self.problems

    def line(self) -> str:
        if self.problems:
            return f"DAMAGED {self.run_dir}: " + "; ".join(self.problems)
        how = "sha256 and tables checked" if self.digests else \
            "tables read; no digests recorded: written before the harness kept them"
        return f"ok      {self.run_dir} ({len(self.checked)} files, {how})"


def verify_run(run_dir: Path) -> Verdict:
    """Every problem of one run directory, each one line naming its file (none: the run is whole)."""
    verdict = Verdict(run_dir)
    try:
        manifest = read_manifest(run_dir)
    except HarnessError as exc:
        verdict.problems.append(str(exc))
        return verdict
    verdict.digests = bool(manifest.files)
    for name in sorted(set(TABLES) | set(manifest.files)):
        path = run_dir / name
        try:
            if name in TABLES:
                if not path.exists() and not path.is_symlink() and name not in manifest.files and \
                        (name not in REQUIRED or not manifest.finished):
                    continue  # a run that stopped before writing it, or written before the table existed
                read_table(run_dir, name, manifest)
            else:
                check_table(run_dir, name, manifest)
        except HarnessError as exc:
            verdict.problems.append(str(exc))
        else:
            verdict.checked.append(name)
    return verdict


def verify(paths: Iterable[Path]) -> list[Verdict]:
    """The verdict of every run directory under ``paths`` (each a run directory or a folder above some)."""
    verdicts = []
    for path in paths:
        try:
            found = run_dirs(path)
        except HarnessError as exc:
            verdicts.append(Verdict(path, [str(exc)]))
            continue
        verdicts += [verify_run(run_dir) for run_dir in found]
    return verdicts
