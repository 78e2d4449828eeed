"""What the manifest tells a report: the run's title and facts, its machine, and its build notes.

>>> from harness.manifest import parse
>>> run = parse({"schema_version": 3, "run_id": "r1", "status": "complete", "suite_name": "quick",
...              "suite_hash": "ab12", "suite": {"version": 1}, "hardware": {"ram_bytes": 8 * 2**30}}, "m.json")
>>> title(run), run_facts(run)
('quick: run r1', 'Suite version 1, status complete.')
>>> machine_lines(run)[:3]
('CPU: unknown', 'Cores: unknown', 'RAM: 8.0 GiB')
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.manifest import Manifest
from harness.measure import machine_load
from harness.report import noise
from harness.report.formatting import format_value
from harness.report.model import Section, Table

#: (label, key of the manifest's hardware) in the order the machine is described; driver and CUDA only when known
MACHINE = (("CPU", "cpu"), ("Cores", "cores"), ("RAM", "ram_bytes"), ("GPU", "gpu"), ("Driver", "driver"),
           ("CUDA", "cuda"), ("torch", "torch"), ("Python", "python"), ("Threads", "threads"))


def title(manifest: Manifest) -> str:
    """The report's heading: ``quick: run 20261201T124236Z-286956``."""
    return f"{manifest.suite.get('name') or manifest.suite_name}: run {manifest.run_id}"


def run_facts(manifest: Manifest) -> str:
    """One sentence: suite version, start, end, status and harness version, those the manifest has."""
    known = {"suite version": manifest.suite.get("version"), "started": manifest.started_at,
             "finished": manifest.finished_at, "status": manifest.status, "harness": manifest.harness_version}
    facts = ", ".join(f"{label} {value}" for label, value in known.items() if value not in (None, ""))
    return f"{facts[0].upper()}{facts[1:]}." if facts else ""


def _hardware_value(hardware: dict[str, Any], key: str) -> str:
    value = hardware.get(key)
    if key == "ram_bytes" and isinstance(value, (int, float)):
        return f"{value / 2**30:.1f} GiB"
    if key == "gpu":
        gpus = value if isinstance(value, list) else [value] if value else []
        names = [g.get("name", json.dumps(g, sort_keys=True)) if isinstance(g, dict) else str(g) for g in gpus]
        return ", ".join(names) or "none"
    return "unknown" if value in (None, "") else str(value)


def machine_lines(manifest: Manifest) -> tuple[str, ...]:
    """The machine the run measured on ("CPU: ...", "Cores: ..."), its commit, the ``--set`` overrides the suite
    was run with (only when there were any), its A/A noise floor and how busy the machine was while it measured."""
    hardware = manifest.hardware.model_dump()
    if not hardware.get("cores") and hardware.get("cores_logical"):
        physical = hardware.get("cores_physical")
        hardware["cores"] = f"{hardware['cores_logical']} logical" + (f", {physical} physical" if physical else "")
    lines = [f"{label}: {_hardware_value(hardware, key)}" for label, key in MACHINE
             if hardware.get(key) or key not in ("driver", "cuda")]
    floor = noise.sentence(noise.noise_floor(manifest), detail=True)
    return (*lines, f"Commit: {manifest.git_commit or 'unknown'}", *overrides_line(manifest), floor,
            machine_load.sentence(manifest.machine_load))


def overrides_line(manifest: Manifest) -> tuple[str, ...]:
    """The ``--set KEY=VALUE`` overrides the run was made with, as they would be typed again; none: nothing.

    >>> from harness.manifest import parse
    >>> overrides_line(parse({"schema_version": 3, "run_id": "r1", "status": "complete", "suite_name": "q",
    ...                       "suite_hash": "ab", "suite": {}, "overrides": ["measure.batch_sizes=[1,8]", "seeds=[0]"]},
    ...                      "m.json"))
    ("Overrides: --set 'measure.batch_sizes=[1,8]' --set 'seeds=[0]'",)
    """
    if not manifest.overrides:
        return ()
    return ("Overrides: " + " ".join(f"--set {shlex.quote(o)}" for o in manifest.overrides),)


def teacher_outputs(manifest: Manifest) -> str | None:
    """One sentence on the teacher outputs shared by the distilling builds, when there were any."""
    shared = manifest.teacher_outputs
    users = shared.get("builds_using_them", 0)
    if users < 2:  # computed for one build at most: nothing was reused
        return None
    return (f"The teacher's outputs on the training set were computed once ({shared['seconds']:.2f} s) and "
            f"reused by {users} build{'s' if users != 1 else ''}: {shared['saved_seconds']:.2f} s of build time "
            "saved against computing them per build.")


def pipelines(manifest: Manifest) -> Section | None:
    """Each pipeline's steps and what each cost to build, averaged over seeds."""
    if not manifest.build_steps:
        return None
    lines = []
    for model, by_seed in manifest.build_steps.items():
        runs = list(by_seed.values())
        parts = []
        for index, step in enumerate(runs[0]):
            seconds = [run[index]["seconds"] for run in runs if index < len(run)]
            parts.append(f"{step['step']} {format_value(sum(seconds) / len(seconds), 's')} s")
        lines.append(f"{model}: " + " → ".join(parts))
    return Section("Pipelines", ("Build time of each step, mean over seeds (the models table's train time is their "
                                 "sum):",), bullets=tuple(lines))


def architectures(manifest: Manifest) -> dict[str, str]:
    """Student name -> its architecture (arch and params) from the manifest's resolved suite."""
    found = {}
    for student in manifest.suite.get("students") or []:
        if isinstance(student, dict) and student.get("name") and student.get("arch"):
            params = json.dumps(student.get("params") or {}, sort_keys=True, default=str)
            found[str(student["name"])] = f"{student['arch']} {params}"
    return found


def data_section(manifest: Manifest) -> Section | None:
    """What a user's data file held and what loading it did (the manifest's ``dataset_info``): the file, its
    rows, its content's sha256, the target's class labels by id, and whether the features were standardised;
    None without one."""
    info = manifest.dataset_info
    if not info:
        return None
    dropped = info.get("rows_dropped") or 0
    said = [f"{info.get('path', 'the data file')}: {info.get('rows', '?')} rows"
            + (f" ({dropped} with missing values dropped, dropna: true)" if dropped else "")
            + (f", target {info['target']}" if info.get("target") else "")
            + (f", {len(info['features'])} features" if info.get("features") else "") + "."]
    digests = [f"{name} {digest[:12]}" for name, digest in (info.get("sha256") or {}).items()
               if isinstance(digest, str)]
    if digests:
        said.append(f"Content sha256 (first 12 hex digits; whole in the manifest, and in every cache key): "
                    f"{', '.join(digests)}.")
    if info.get("standardized"):
        said.append("Features standardised with the training split's mean and standard deviation (each feature's, "
                    "in the manifest's dataset_info).")
    classes = info.get("classes") or []
    table = Table(("class id", "label"), tuple((str(i), str(label)) for i, label in enumerate(classes)),
                  intro="The target's labels, mapped to class ids in sorted order:") if classes else None
    return Section("Data", tuple(said), (table,) if table else ())
