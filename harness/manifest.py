"""A run's ``manifest.json``: what ran, where, when, and how it ended, as one typed object.

Every reader goes through :func:`parse` (``store.read_manifest`` reads the file
and calls it), so a manifest that lacks a key, holds a key of the wrong type or
comes from a newer harness is refused in one line that names the file and the key.

>>> m = parse({"schema_version": 3, "run_id": "r1", "status": "complete", "suite_name": "quick",
...            "suite_hash": "ab12", "suite": {}}, "manifest.json")
>>> m.hardware.cpu is None, m.noise().pct, m.noise().reason
(True, None, "not recorded in this run's manifest")
>>> parse({"schema_version": 9, "run_id": "r1"}, "manifest.json")
Traceback (most recent call last):
harness.errors.HarnessError: manifest.json: schema_version 9 is not one this harness reads (<= 4)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import HarnessError

#: 2: threads, backend, seq_len; 3: scenario, target_qps, samples' round and slot; 4: noise_sigma and
#: predictions.parquet (older runs migrated on read)
SCHEMA_VERSION = 4

#: how a run ended (``running`` while it runs, or when it was killed without a chance to say)
RunStatus = Literal["running", "complete", "complete_with_errors", "interrupted", "failed"]
#: statuses of a run that finished (some cells may have failed): what baselines and compare accept
FINISHED: tuple[RunStatus, ...] = ("complete", "complete_with_errors")


class Hardware(BaseModel):
    """The machine fingerprint (:func:`harness.hardware.fingerprint`); ``threads`` is the count the
    timed cells used, or a sorted list of them for a thread matrix."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    cpu: str | None = None
    cores_logical: int | None = None
    cores_physical: int | None = None
    ram_bytes: int | None = None
    gpu: str | None = None
    gpu_count: int = 0
    cuda: str | None = None
    driver: str | None = None
    torch: str | None = None
    python: str | None = None
    platform: str | None = None
    threads: int | list[int] | None = None
    machine_id: str | None = None


class FileRecord(BaseModel):
    """What a file of the run held when the harness wrote it: a reader that finds other bytes names the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class Manifest(BaseModel):
    """The fields of ``manifest.json``. Unknown keys are kept (a newer harness of the same schema
    version may add one); a missing required key or a wrong type is an error."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int = Field(ge=1)
    run_id: str = Field(min_length=1)
    status: RunStatus
    suite_name: str
    suite_hash: str
    #: the resolved suite (every default filled in), as ``Suite.resolved()`` gives it
    suite: dict[str, Any]
    started_at: str | None = None
    finished_at: str | None = None
    suite_file: str | None = None
    #: the ``--set KEY=VALUE`` overrides applied to the suite file, as given (the resolved ``suite`` holds their result)
    overrides: list[str] = Field(default_factory=list)
    hardware: Hardware = Field(default_factory=Hardware)
    harness_version: str | None = None
    git_commit: str | None = None
    executor: str | None = None
    #: the cost of the teacher's outputs shared by the students that learn from them
    teacher_outputs: dict[str, Any] = Field(default_factory=dict)
    #: model -> seed -> each step of a pipeline with its cost
    build_steps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: the A/A noise floor as :class:`harness.measure.paired.NoiseFloorLog` writes it; read it with :meth:`noise`
    noise_floor: dict[str, Any] | None = None
    #: serving scenarios: the load generator's wake-up lateness and each capacity search, as
    #: :class:`harness.measure.serving.LoadLog` writes it (None: no server cell)
    loadgen: dict[str, Any] | None = None
    #: how busy the machine was while the run measured, as :class:`harness.measure.machine_load.LoadRecorder`
    #: writes it (other processes' CPU share, steal, load average, throttling, ``contended`` and its ``reason``);
    #: None in runs before it and where the cells were not timed on this host; read it with
    #: :func:`harness.measure.machine_load.contention`
    machine_load: dict[str, Any] | None = None
    #: what loading a user's data file learned (harness.data.base.Dataset.info: its rows, the target's class
    #: labels by id, the standardisation statistics); empty for a built-in dataset
    dataset_info: dict[str, Any] = Field(default_factory=dict)
    failed_rows: int = 0
    failed_models: int = 0
    row_counts: dict[str, int] = Field(default_factory=dict)
    #: ``{"index": I, "count": N}`` for a shard (``harness run --shard I/N``)
    shard: dict[str, int] | None = None
    resumed_at: list[str] = Field(default_factory=list)
    #: the shards a merged run was made from (``harness merge``)
    merged_from: list[dict[str, Any]] | None = None
    #: why a run failed (status ``failed``)
    error: str | None = None
    #: file name -> its digest, for each table of the run, written with the table (runs before this: empty)
    files: dict[str, FileRecord] = Field(default_factory=dict)
    #: the digests of tables being replaced, recorded before the new file is moved into place and cleared
    #: after: a run killed in between holds the old file or the new one, and a reader accepts either
    pending: dict[str, FileRecord] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()

    def noise(self) -> NoiseFloor:
        return noise_floor(self)


def _first_problem(exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {error['msg'].lower()}{more}"


def parse(raw: Any, source: object) -> Manifest:
    """``raw`` (the decoded JSON of ``source``) as a :class:`Manifest`, or one line saying what is wrong."""
    if not isinstance(raw, Mapping):
        raise HarnessError(f"{source}: not a manifest: a JSON object was expected, not {type(raw).__name__}")
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise HarnessError(f"{source}: schema_version {version!r} is not one this harness reads (<= {SCHEMA_VERSION})")
    try:
        return Manifest.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise HarnessError(f"{source}: not a valid manifest: {_first_problem(exc)}") from None


@dataclass(frozen=True)
class NoiseFloor:
    """One run's A/A noise floor: ``pct`` (None when absent) and why it is absent ("" when present)."""

    pct: float | None
    reason: str = ""
    #: runs before the pooled floor: the A/A cell that set it (device, threads, dtype, backend, batch_size, ratio, ...)
    cell: Mapping[str, Any] | None = None
    #: the pooled A/A ratio and its 95% interval, the rounds pooled and the design's rounds (None before them)
    aa: Mapping[str, Any] | None = None


def _switched_off(manifest: Manifest) -> bool:
    latency = (manifest.suite.get("measure") or {}).get("latency") or {}
    return isinstance(latency, Mapping) and latency.get("noise_floor") is False


def _widest_cell(cells: Any) -> Mapping[str, Any] | None:
    usable = [c for c in cells or [] if isinstance(c, Mapping) and isinstance(c.get("pct"), (int, float))]
    return max(usable, key=lambda c: c["pct"]) if usable else None


def noise_floor(manifest: Manifest) -> NoiseFloor:
    """The A/A noise floor a manifest records (``noise_floor``, written by :mod:`harness.measure.paired`), or
    the reason there is none: an older run, switched off in the suite, or not measurable in this run."""
    found = manifest.noise_floor
    if found is None:
        if _switched_off(manifest):
            return NoiseFloor(None, "switched off in the suite (measure.latency.noise_floor: false)")
        if manifest.schema_version < 3:
            return NoiseFloor(None, f"not measured: runs of schema {manifest.schema_version} did not time the "
                                    f"teacher against itself")
        return NoiseFloor(None, "not recorded in this run's manifest")
    pct = found.get("pct")
    if not isinstance(pct, (int, float)) or not math.isfinite(pct):
        return NoiseFloor(None, f"could not be measured: {found.get('reason') or 'no reason recorded'}")
    if isinstance(found.get("ratio"), (int, float)):
        keys = ("ratio", "ci_low", "ci_high", "rounds", "pooled_rounds")
        return NoiseFloor(float(pct), aa={k: found.get(k) for k in keys})
    return NoiseFloor(float(pct), cell=_widest_cell(found.get("cells")))
