"""The structure of a suite file: strict, frozen pydantic models.

Loading is in two passes: the structure (this module's models), then each
component's own parameters against the registered component's signature
(:mod:`harness.suite.resolve`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, field_validator, model_validator

from harness.suite.fields import Seed, Strict
from harness.suite.gates import GatePolicy, GateSpec
from harness.suite.scenarios import DEFAULT as DEFAULT_SCENARIOS
from harness.suite.scenarios import Scenario, Scenarios, SingleStreamSpec, unique_kinds

if TYPE_CHECKING:
    from harness.measure.latency import LatencySettings

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", max_length=64)]
ComponentName = Annotated[str, Field(min_length=1, max_length=200)]
BatchSize = Annotated[int, Field(ge=1, le=1 << 20)]
DEVICE_PATTERN = r"^(cpu|cuda(:[0-9]+)?)$"


def _device(value: Any) -> Any:
    """Refuse a device saying what is allowed, not the pattern: ``gpu`` gets "did you mean cuda?"."""
    if not isinstance(value, str) or re.fullmatch(DEVICE_PATTERN, value):
        return value  # a number is refused as a str's type error
    text = value.strip().lower()
    index = re.fullmatch(r"(?:gpu|cuda|nvidia)\s*:?\s*([0-9]+)", text)
    meant = (f"cuda:{index[1]}" if index else "cuda" if text in ("gpu", "nvidia", "cuda:") else
             next(iter(difflib.get_close_matches(text, ["cpu", "cuda"], n=1, cutoff=0.7)), None))
    hint = f"; did you mean {meant}?" if meant and meant != value else ""
    raise ValueError(f"unknown device {value[:60]!r} (allowed: cpu, cuda, cuda:N{hint})")


Device = Annotated[str, BeforeValidator(_device), Field(pattern=DEVICE_PATTERN)]
#: how a model runs when its latency is measured (harness.measure.backends)
Backend = Literal["eager", "torchscript", "export", "compile", "onnx"]
SeqLen = Annotated[int, Field(ge=1, le=1 << 16)]
#: what a float32 model is cast to for measuring (``measure.dtypes``)
MeasureDtype = Literal["float32", "float16", "bfloat16"]


def without_gates(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved suite (``Suite.resolved()``, or a manifest's ``suite``) as its content hash sees it: no
    ``gates`` (suite, teacher, students) and no ``gate_policy``, which judge results but do not make them;
    and no ``measure.scenarios`` where it is the default, so that a suite written before scenarios existed
    keeps its hash."""
    out = {k: v for k, v in resolved.items() if k not in ("gates", "gate_policy")}
    if isinstance(out.get("measure"), Mapping) and out["measure"].get("scenarios") == DEFAULT_SCENARIOS:
        # the default (closed-loop timing only) is what every suite before measure.scenarios measured
        out["measure"] = {k: v for k, v in out["measure"].items() if k != "scenarios"}
    if isinstance(out.get("teacher"), Mapping):
        out["teacher"] = {k: v for k, v in out["teacher"].items() if k != "gates"}
    if isinstance(out.get("students"), list):
        out["students"] = [{k: v for k, v in s.items() if k != "gates"} if isinstance(s, Mapping) else s
                           for s in out["students"]]
    return out


def _gather_params(own: set[str]):
    """A before-validator: keys other than ``own`` are the component's parameters."""

    def gather(cls: type, data: Any) -> Any:
        if not isinstance(data, dict) or "params" in data:
            return data
        params = {k: v for k, v in data.items() if k not in own}
        return {**{k: v for k, v in data.items() if k in own}, "params": params}

    return model_validator(mode="before")(classmethod(gather))  # type: ignore[arg-type]  # pydantic's stubs want a function


class DatasetSpec(Strict):
    """``{name: digits, seed: 0, <the dataset's own parameters>...}``"""

    name: ComponentName
    seed: Seed = 0
    params: dict[str, Any] = {}
    _flat = _gather_params({"name", "seed"})


class MethodSpec(Strict):
    """``{name: kd, <the method's own parameters>...}``"""

    name: ComponentName
    params: dict[str, Any] = {}
    _flat = _gather_params({"name"})


class TeacherSpec(Strict):
    """The reference model: trained by the ``train`` recipe, or loaded from ``checkpoint``.

    A checkpoint is weights for ``arch`` (a state dict: ``.pt``/``.pth``, safetensors) or a
    program that is the model itself (TorchScript, a ``torch.export`` ``.pt2``), given without ``arch``.
    """

    name: Name = "teacher"
    arch: ComponentName | None = None
    params: dict[str, Any] = {}
    train: dict[str, Any] | None = None
    checkpoint: str | None = None
    #: the architecture comes with its weights (``minilm``: all-MiniLM-L6-v2): use it as built
    pretrained: bool = False
    seed: Seed = 0
    #: this model's gates over the suite's (harness.suite.gates); resolved: its effective gates
    gates: dict[str, GateSpec] = {}

    @model_validator(mode="after")
    def _one_source(self) -> TeacherSpec:
        if (self.train is not None) + (self.checkpoint is not None) + self.pretrained != 1:
            raise ValueError("give exactly one of 'train' (a recipe), 'checkpoint' (a file) or 'pretrained: true'")
        if self.arch is None and self.checkpoint is None:
            raise ValueError("give 'arch': the architecture to train, or that comes pretrained")
        return self


class StudentSpec(Strict):
    """A student: its architecture (or ``init: teacher``), and the method, or pipeline of methods, that makes it.

    ``method`` is one method or a list run in order, each step's output
    feeding the next (``[kd, prune, quantize]``). ``init: teacher`` starts
    from a copy of the trained teacher (to prune or quantize the teacher
    itself); ``init: random`` (the default) from a fresh ``arch``.
    """

    name: Name
    arch: ComponentName | None = None
    params: dict[str, Any] = {}
    init: Literal["random", "teacher"] = "random"
    #: start from this file: weights for ``arch``, or a TorchScript / torch.export program (no ``arch``)
    checkpoint: str | None = None
    method: list[MethodSpec] = Field(min_length=1, max_length=20)
    #: this model's gates over the suite's (harness.suite.gates); resolved: its effective gates
    gates: dict[str, GateSpec] = {}
    #: latency backends of this student (default: ``measure.backends``)
    backends: list[Backend] | None = Field(None, min_length=1)
    #: what this student must beat, on the same test examples (the teacher or another student); default:
    #: the scratch student of its architecture, else the teacher (harness.against_baseline)
    baseline: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _loaded_as_is(cls, data: Any) -> Any:
        """A student loaded from a checkpoint without a method is measured as it is."""
        if isinstance(data, dict) and data.get("checkpoint") is not None and "method" not in data:
            return {**data, "method": {"name": "as_is"}}
        return data

    @field_validator("method", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _arch_or_teacher(self) -> StudentSpec:
        if self.checkpoint is not None and self.init == "teacher":
            raise ValueError("'checkpoint' and 'init: teacher' are two starting points: give one")
        if self.init == "random" and self.arch is None and self.checkpoint is None:
            raise ValueError("give 'arch' (or 'init: teacher' to start from the teacher's weights)")
        if self.init == "teacher" and (self.arch is not None or self.params):
            raise ValueError("'init: teacher' takes the teacher's architecture: leave out 'arch' and 'params'")
        return self

    @property
    def method_label(self) -> str:
        """``kd`` for one method, ``kd+prune+quantize`` for a pipeline."""
        return "+".join(step.name for step in self.method)


#: the fewest rounds a suite may ask for (see LatencySpec.min_rounds)
MIN_ROUNDS = 5


class LatencySpec(Strict):
    """How each cell is timed: the models of a cell in paired rounds (docs/measurements.md, "Paired rounds").

    The knobs that trade time for precision: ``max_seconds`` (each model's timed budget per batch size),
    ``target_ci`` (stop earlier once every model's median is this tight), ``min_rounds`` and
    ``round_seconds`` (how many windows of the machine's phases each estimate spans, and how long each is).
    """

    warmup_iters: int = Field(5, ge=0, le=1_000_000)
    #: the first window of each model and batch size follows a warm-up of at least this long (then until
    #: timings settle); later windows follow the shorter re-warm
    warmup_seconds: float = Field(0.05, ge=0, le=3600)
    min_iters: int = Field(30, ge=1, le=10_000_000)
    max_seconds: float = Field(2.0, gt=0, le=3600)
    target_ci: float = Field(0.02, gt=0, lt=1)
    #: timed seconds of one model's window in one round (after its re-warm)
    round_seconds: float = Field(0.02, gt=0, le=60)
    #: rounds every batch size gets at least, however tight its intervals are sooner and whatever max_seconds
    #: says (5: the fewest whose interval of a median covers 93.75%, and a rank test on 5 against 5 reaches 0.004)
    min_rounds: int = Field(8, ge=MIN_ROUNDS, le=100_000)
    #: forwards run, untimed, whenever a model's process takes over the CPU again (at least this many, and
    #: for at least ``rewarm_seconds``): its caches refill before its window is timed
    rewarm_iters: int = Field(3, ge=0, le=1_000_000)
    rewarm_seconds: float = Field(0.002, ge=0, le=60)
    #: seeds the random order of the models in each round
    order_seed: int = Field(0, ge=0, le=2**32 - 1)
    #: time the teacher against a second copy of itself (the A/A noise floor of the run)
    noise_floor: bool = True
    #: on cuda, time the host-to-device copy of each batch with the forward
    include_h2d: bool = False

    def settings(self) -> LatencySettings:
        from harness.measure.latency import LatencySettings

        return LatencySettings(warmup_iters=self.warmup_iters, warmup_seconds=self.warmup_seconds,
                               min_iters=self.min_iters,
                               max_seconds=self.max_seconds, target_ci=self.target_ci,
                               round_seconds=self.round_seconds, min_rounds=self.min_rounds,
                               rewarm_iters=self.rewarm_iters, rewarm_seconds=self.rewarm_seconds,
                               order_seed=self.order_seed)


class MeasureSpec(Strict):
    devices: list[Device] = Field(default_factory=lambda: ["cpu"], min_length=1)
    #: intra-op threads while timing: one count or a list (each one a cell); None leaves torch's default
    threads: int | list[int] | None = None
    #: each float32 model is cast to each dtype for measuring; a model whose method fixed its dtype
    #: (int8, float16) is measured as built (see :func:`harness.plan.dtype_plan`)
    dtypes: list[MeasureDtype] = Field(["float32"], min_length=1)
    batch_sizes: list[BatchSize] = Field(default_factory=lambda: [1, 8, 64, 256], min_length=1)
    latency: LatencySpec = LatencySpec()
    #: Ray executor only: run cuda cells on GPUs of this Ray accelerator type (``H100``, ``A100``, ...)
    accelerator_type: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    #: one cell's measurement (model × device × threads × dtype × backend × seq_len) still running after
    #: this long is killed, recorded as an error
    timeout_seconds: float = Field(600.0, gt=0, le=7 * 24 * 3600)
    #: how every model runs when timed (a student's own ``backends`` overrides this)
    backends: list[Backend] = Field(default_factory=lambda: list[Backend](["eager"]), min_length=1)
    #: for token inputs (text datasets): the sequence lengths to time; default the dataset's own
    seq_lens: list[SeqLen] | None = Field(None, min_length=1)
    #: k of neighbor_recall (embedding models): how many of the teacher's nearest neighbours to find
    neighbors: int = Field(10, ge=1, le=10_000)
    #: accuracy_under_noise: the std of the Gaussian noise added to the test inputs, one level each (in the
    #: inputs' own units: standardised features, so 1.0 is as large as the signal's spread)
    noise_sigmas: list[Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=list, max_length=32)
    #: how queries reach each model while it is timed: single_stream (closed loop), offline, server
    #: (harness.suite.scenarios, docs/serving.md)
    scenarios: Scenarios = Field(default_factory=lambda: list[Scenario]([SingleStreamSpec()]))

    @field_validator("scenarios")
    @classmethod
    def _one_each(cls, values: list[Any]) -> list[Any]:
        return unique_kinds(values)

    @property
    def scenario_names(self) -> list[str]:
        return [s.kind for s in self.scenarios]

    @field_validator("batch_sizes", "devices", "dtypes", "backends", "seq_lens", "noise_sigmas")
    @classmethod
    def _unique(cls, values: list[Any] | None) -> list[Any] | None:
        if values is None:
            return values
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:
            raise ValueError(f"values must be unique; repeated: {', '.join(map(str, repeated))}")
        return values

    @field_validator("threads", mode="before")
    @classmethod
    def _thread_counts(cls, value: Any) -> Any:
        """One message for any bad count, whether ``threads`` is a number or a list."""
        if isinstance(value, list) and not value:
            raise ValueError("give at least one thread count (or leave 'threads' out)")
        for count in value if isinstance(value, list) else [] if value is None else [value]:
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1024:
                raise ValueError(f"a thread count is an integer from 1 to 1024, or a list of them (got {count!r})")
        return cls._unique(value) if isinstance(value, list) else value

    @property
    def thread_counts(self) -> list[int | None]:
        """``threads`` as a list: ``[None]`` (torch's default), ``[2]``, or ``[1, 2]``."""
        return list(self.threads) if isinstance(self.threads, list) else [self.threads]


class BuildSpec(Strict):
    """How models are built. One intra-op thread by default: small models train fastest
    that way, and a 2-core machine does not thrash (measured: 70x faster than 2 threads
    for the quick suite's teacher while another process held the second core)."""

    threads: int = Field(1, ge=1, le=1024)


class Suite(Strict):
    """A teacher, its students, the data they learn from and what to measure."""

    name: Name
    version: int = Field(1, ge=1)
    description: str = ""
    dataset: DatasetSpec
    teacher: TeacherSpec
    students: list[StudentSpec] = Field(min_length=1)
    build: BuildSpec = BuildSpec()
    measure: MeasureSpec = MeasureSpec()
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1, max_length=1000)
    #: regression gates by metric name, for harness compare (harness.suite.gates)
    gates: dict[str, GateSpec] = {}
    #: what a noisy latency cell beyond its bound does, in harness compare and the pytest plugin alike
    gate_policy: GatePolicy = GatePolicy()

    _source: Path | None = PrivateAttr(None)
    _overrides: tuple[str, ...] = PrivateAttr(())

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        return MeasureSpec._unique(seeds) or seeds

    @field_validator("students")
    @classmethod
    def _unique_names(cls, students: list[StudentSpec]) -> list[StudentSpec]:
        names = [s.name for s in students]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"student names must be unique; repeated: {', '.join(repeated)}")
        return students

    @model_validator(mode="after")
    def _teacher_name_is_not_a_student(self) -> Suite:
        if any(s.name == self.teacher.name for s in self.students):
            raise ValueError(f"a student is named like the teacher ({self.teacher.name!r})")
        return self

    @model_validator(mode="after")
    def _baselines_exist(self) -> Suite:
        """A named baseline is the teacher or another student: what the student is paired with."""
        names = [self.teacher.name, *(s.name for s in self.students)]
        for index, student in enumerate(self.students):
            allowed = [n for n in names if n != student.name]
            if student.baseline is not None and student.baseline not in allowed:
                near = difflib.get_close_matches(student.baseline, allowed, n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise ValueError(f"students[{index}].baseline: {student.baseline!r} is not the teacher or another "
                                 f"student (allowed: {', '.join(allowed)}{hint})")
        return self

    @model_validator(mode="after")
    def _rounds_reach_the_gates(self) -> Suite:
        """A latency gate tests rounds with a rank test: with ``min_rounds`` a side it must be able to reach the
        gate's alpha, or every regression it sees would be undecidable."""
        from harness.measure.stats import fewest_rounds, smallest_rank_p
        from harness.metrics import METRICS

        rounds = self.measure.latency.min_rounds
        for owner, gates in (("gates", self.gates), *((f"students[{i}].gates", s.gates)
                                                      for i, s in enumerate(self.students)),
                             ("teacher.gates", self.teacher.gates)):
            for name, gate in gates.items():
                known = METRICS.get(name) if name in METRICS else None
                gate.check_scenarios(f"{owner}.{name}", known.scenarios if known else ())
                if known is None or not known.from_latency_samples or not gate.enabled:
                    continue
                if fewest_rounds(gate.alpha) > rounds:
                    raise ValueError(
                        f"{owner}.{name}.alpha: {gate.alpha:g} cannot be reached with measure.latency.min_rounds "
                        f"{rounds} (a rank test on {rounds} against {rounds} rounds gives p >= "
                        f"{smallest_rank_p(rounds, rounds):.2g}): raise min_rounds to {fewest_rounds(gate.alpha)} "
                        f"or alpha")
        return self

    @property
    def source(self) -> Path | None:
        """The file this suite was loaded from, if any."""
        return self._source

    @property
    def overrides(self) -> tuple[str, ...]:
        """The ``--set KEY=VALUE`` overrides applied to the file, as given (:mod:`harness.suite.overrides`)."""
        return self._overrides

    def resolved(self) -> dict[str, Any]:
        """The suite with every default filled in, as plain JSON data."""
        return self.model_dump(mode="json")

    def gates_by_model(self) -> dict[str, dict[str, GateSpec]]:
        """``{model: {metric: gate}}``: the teacher and each student, their effective gates."""
        return {self.teacher.name: self.teacher.gates, **{s.name: s.gates for s in self.students}}

    def content_hash(self) -> str:
        """sha256 of the resolved suite without its gates: equal hashes, equal experiments.

        Gates (and the gate policy) judge results, they do not make them: changing
        one keeps the hash (and ``--resume``), and a suite without gates hashes as it always did.
        """
        text = json.dumps(without_gates(self.resolved()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
