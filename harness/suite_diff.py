"""What differs between two resolved suites, and runs grouped by the suite content they ran.

Two runs measured the same experiment when their manifests' ``suite_hash``
agree (:meth:`harness.suite.schema.Suite.content_hash`: the resolved suite
without its gates). Where they do not, :func:`differences` says where, as
dotted paths into the resolved suites (``manifest.suite``), gates left out as
the hash leaves them out. ``harness compare`` prints them; ``harness
leaderboard`` refuses to pool runs of different content (:func:`refuse_mixed`).

>>> before = {"seeds": [0], "students": [{"name": "kd", "method": [{"params": {"epochs": 30}}]}]}
>>> after = {"seeds": [0, 1], "students": [{"name": "kd", "method": [{"params": {"epochs": 10}}]}]}
>>> differences(before, after)
['seeds: [0] -> [0,1]', 'students[0].method[0].params.epochs: 30 -> 10']
>>> summary(["a: 1 -> 2", "b: x -> y", "c: (absent) -> 3"], limit=2)
'a: 1 -> 2; b: x -> y; and 1 more'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.suite.schema import without_gates

#: how a key present on one side only reads
ABSENT = "(absent)"
#: differences a one-line summary names before "and N more"
SHOWN = 5
#: characters of one value before it is cut short
VALUE_WIDTH = 40
#: the value of a key one side lacks
_MISSING = object()


def short_hash(content_hash: str) -> str:
    """The first 8 hex digits of a suite content hash, as messages name it."""
    return content_hash[:8]


def _plain(value: Any) -> bool:
    """A string that reads as itself unquoted: not empty, and not a number, true, false or null in disguise."""
    if not isinstance(value, str) or not value:
        return False
    try:
        json.loads(value)
    except ValueError:
        return True
    return False


def _show(value: Any) -> str:
    if value is _MISSING:
        return ABSENT
    text = value if _plain(value) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 1] + "…"



def _nested(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, (Mapping, list)) for item in value)


def _walk(path: str, a: Any, b: Any, out: list[str]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in [*a, *(k for k in b if k not in a)]:
            _walk(f"{path}.{key}" if path else str(key), a.get(key, _MISSING), b.get(key, _MISSING), out)
    elif _nested(a) and _nested(b):  # lists of records (students, a method pipeline): item by item
        for i in range(max(len(a), len(b))):
            _walk(f"{path}[{i}]", a[i] if i < len(a) else _MISSING, b[i] if i < len(b) else _MISSING, out)
    elif a != b or type(a) is not type(b):  # lists of numbers ([16] -> [16, 8]) read best whole
        out.append(f"{path or '(the suite)'}: {_show(a)} -> {_show(b)}")


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """``["path: before -> after", ...]`` for every value of the resolved suites that differs, gates left out,
    in the order of ``before``'s keys (then ``after``'s new ones). Lists of records compare item by item
    (``students[1]``), other lists as one value; a key on one side only reads ``(absent)``.

    >>> differences({"teacher": {"params": {"hidden": [16]}}}, {"teacher": {"params": {"hidden": [16, 8]}}})
    ['teacher.params.hidden: [16] -> [16,8]']
    >>> differences({"students": [{"name": "a"}]}, {"students": [{"name": "a"}, {"name": "b"}]})
    ['students[1]: (absent) -> {"name":"b"}']
    """
    out: list[str] = []
    _walk("", without_gates(before), without_gates(after), out)
    return out


def summary(found: Sequence[str], limit: int = SHOWN) -> str:
    """The first ``limit`` differences joined by "; ", then "and N more"."""
    more = f"; and {len(found) - limit} more" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more


@dataclass(frozen=True)
class SuiteGroup:
    """The runs of one suite content: its name, content hash and resolved suite, and their directories."""

    name: str
    content_hash: str
    suite: Mapping[str, Any]
    runs: tuple[Path, ...]

    @property
    def label(self) -> str:
        """``gated 1a2b3c4d``: the suite's name and short hash."""
        return f"{self.name} {short_hash(self.content_hash)}"

    @property
    def folder(self) -> str:
        """``gated-1a2b3c4d``: a directory name for this group's outputs (the name as a path segment, made safe)."""
        safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", self.name).lstrip(".") or "suite"
        return f"{safe}-{short_hash(self.content_hash)}"

    @property
    def count(self) -> str:
        return f"{len(self.runs)} run" + ("" if len(self.runs) == 1 else "s")


def group_runs(manifests: Iterable[tuple[Path, Manifest]]) -> list[SuiteGroup]:
    """Runs grouped by (suite name, content hash), the largest group first (then in the order given)."""
    groups: dict[tuple[str, str], list[tuple[Path, Manifest]]] = {}
    for run_dir, manifest in manifests:
        groups.setdefault((manifest.suite_name, manifest.suite_hash), []).append((run_dir, manifest))
    out = []
    for runs in sorted(groups.values(), key=len, reverse=True):  # stable: ties keep the order given
        first = runs[0][1]
        out.append(SuiteGroup(first.suite_name, first.suite_hash, first.suite, tuple(run_dir for run_dir, _ in runs)))
    return out


def read_groups(paths: Sequence[str | Path]) -> list[SuiteGroup]:
    """The runs under ``paths`` (run directories or folders above them) grouped by suite content."""
    from harness.store import read_manifest, run_dirs

    found = dict.fromkeys(run_dir for path in paths for run_dir in run_dirs(Path(path)))  # a run given twice: once
    return group_runs((run_dir, read_manifest(run_dir)) for run_dir in found)


def how_it_differs_text(found: Sequence[str], limit: int = SHOWN) -> str:
    """:func:`summary` of differences between two suites whose content hashes differ (none found: say so)."""
    return summary(found, limit) if found else "only the content hash (the recorded suites read the same)"


def how_it_differs(group: SuiteGroup, reference: SuiteGroup, limit: int = SHOWN) -> str:
    """``students[0].method[0].params.epochs: 20 -> 2; ...``: what ``group``'s suite changes from ``reference``'s."""
    return how_it_differs_text(differences(reference.suite, group.suite), limit)


def refuse_mixed(groups: Sequence[SuiteGroup], flag: str) -> None:
    """Raise one line naming every group (the largest first, the others by how they differ from it) when the
    runs are of more than one suite content."""
    if len(groups) < 2:
        return
    first = groups[0]
    named = [f"{first.label} ({first.count})"]
    for group in groups[1:]:
        which = f": {group.runs[0]}" if len(group.runs) == 1 else ""
        named.append(f"{group.label} ({group.count}{which}; differs in {how_it_differs(group, first, 3)})")
    raise HarnessError(f"runs of {len(groups)} different suite contents cannot be ranked together: "
                       f"{', '.join(named)}; pass {flag} to rank each on its own, or only the runs of one")
