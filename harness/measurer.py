"""Turning built models into rows: every declared metric of a model, each with a value or the reason.

:class:`Measurer` computes the model-level metrics (quality, size, flops) in
this process and plans the timed cells: for each cell (device × threads ×
dtype × backend × seq_len), the models timed together in paired rounds
(:class:`PairedCell`), with the teacher as their reference. An executor
(:mod:`harness.executors`) times the paired cells, here or on Ray, and
:meth:`Measurer.measure_all` assembles each model's rows from what comes
back. The runner (:mod:`harness.runner`) only orchestrates.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness import plan
from harness.build import Built
from harness.data.base import Dataset
from harness.errors import one_line
from harness.measure import quality, size
from harness.measure.batch import BatchResult
from harness.measure.by_task import quality_estimates
from harness.measure.paired import TWIN_SUFFIX, GroupResult, NoiseFloorLog
from harness.measure.serving import LoadLog, measure_cell, scenario_results
from harness.measure.session import CellRequest
from harness.metrics import METRICS
from harness.rows import SAMPLE_COLUMNS, SINGLE_STREAM, Row, Status
from harness.suite import Suite
from harness.suite.scenarios import load_spec
from harness.train import predict_logits

#: the metrics of a closed-loop (single_stream) cell, at each batch size
PER_BATCH = [name for name, declared in METRICS.items() if SINGLE_STREAM in declared.scenarios]
#: (model, its rows, its raw samples, the thread counts its cells used)
Measured = tuple[Built, list[Row], pd.DataFrame, list[int]]


def device_missing(device: str) -> str:
    """Why this host cannot run ``device`` ("" when it can)."""
    if not device.startswith("cuda"):
        return ""
    if not torch.cuda.is_available():
        return f"{device} is not available on this host"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"{device} is not available on this host ({torch.cuda.device_count()} GPUs)"
    return ""


def cast_for(built: Built, dtype: str) -> Built:
    """``built`` as measured in ``dtype``: a float32 model is cast (a copy), any other is as built."""
    if built.module is None or built.dtype == dtype or built.dtype != "float32":
        return built
    module = copy.deepcopy(built.module).to(getattr(torch, dtype))
    return dataclasses.replace(built, module=module, dtype=dtype)


class Measurer:
    """Turns a built model into rows: every declared metric, each with a value or a reason."""

    def __init__(self, suite: Suite, data: Dataset, teacher_logits: torch.Tensor | None, teacher_error: str = ""):
        self.suite, self.data, self.teacher_logits, self.teacher_error = suite, data, teacher_logits, teacher_error
        #: the A/A ratios of the teacher against its twin, cell by cell (the run's noise floor)
        self.noise = NoiseFloorLog(suite.measure.latency.noise_floor, suite.measure.latency.min_rounds)
        #: serving scenarios: the load generator's lateness and the capacity searches (the manifest's ``loadgen``)
        self.loadgen = LoadLog()
        #: the twin's raw samples, kept beside the models' (model ``<teacher>~aa``)
        self.twin_samples = pd.DataFrame()
        #: (model, seed) -> its per-example predictions on the test split, until the runner writes them
        self.predictions: dict[tuple[str, int], list[pd.DataFrame]] = {}

    def _row(self, built: Built, name: str, value: float | None, **given: Any) -> Row:
        """One row of ``built``: its identity, one metric's value and the given columns (:meth:`Row.of`)."""
        model = Row(suite=self.suite.name, model=built.name, role=built.role, method=built.method, seed=built.seed,
                    dtype=built.dtype)
        return model.of(name, value, **given)

    def backends(self, built: Built) -> list[str]:
        """The latency backends of a model: its student spec's ``backends``, else ``measure.backends``."""
        spec = next((s for s in self.suite.students if s.name == built.name), None)
        own = spec.backends if spec is not None and built.role == "student" else None
        return list(own or self.suite.measure.backends)

    def seq_lens(self) -> list[int | None]:
        """Sequence lengths to time for token inputs (``measure.seq_lens`` or the dataset's); [None] otherwise."""
        if self.data.token_range is None:
            return [None]
        return list(self.suite.measure.seq_lens or [self.data.input_shape[-1]])

    def cells(self, built: Built) -> list[plan.Cell]:
        """Every latency cell of ``built``: the suite's device matrix × its backends × the sequence lengths."""
        return plan.cells(self.suite.measure, self.backends(built), self.seq_lens())

    def input_shape(self, cell: plan.Cell) -> tuple[int, ...]:
        """One example's shape in ``cell``: token inputs cut to the cell's sequence length."""
        shape = self.data.input_shape
        return shape if cell.seq_len is None else (*shape[:-1], cell.seq_len)

    def failed_rows(self, built: Built) -> list[Row]:
        """Every metric of a model that could not be built, each an error row with the reason."""
        rows = [self._row(built, m.name, None, status=Status.ERROR, error=built.error)
                for _, m in METRICS.items() if not m.per_batch_size]
        for cell in self.cells(built):
            rows += self.result_rows(built, cell, None, self.absent(cell, Status.ERROR, built.error))[0]
        return rows

    def measured_dtypes(self, built: Built) -> dict[str, str | None]:
        """Requested dtype -> the dtype this model is measured in there (None: skipped)."""
        return plan.dtype_plan(built.dtype, self.suite.measure.dtypes)

    def all_model_rows(self, built: Built) -> list[Row]:
        """The model-level rows (quality, size) once for each dtype the model is measured in."""
        measured = dict.fromkeys(d for d in self.measured_dtypes(built).values() if d is not None)
        return [row for dtype in measured for row in self.model_rows(cast_for(built, dtype))]

    def model_rows(self, built: Built) -> list[Row]:
        if built.module is None:
            return []
        outputs = predict_logits(built.module, self.data.x_test)
        if self.data.task == "classification":
            self.predictions.setdefault((built.name, built.seed), []).append(self.prediction_table(built, outputs))
        estimates, absent = quality_estimates(self.data, outputs, self.teacher_logits, self.teacher_error,
                                              self.suite.measure.neighbors)
        rows = [self._row(built, name, est.value, ci=(est.ci_low, est.ci_high), n=est.n)
                for name, est in estimates.items()]
        rows += [self._row(built, name, None, status=status, error=reason) for name, (status, reason) in absent.items()]
        rows += self.noise_rows(built)
        rows.append(self._row(built, "params", size.count_params(built.module)))
        rows.append(self._row(built, "params_nonzero", size.count_nonzero_params(built.module)))
        rows.append(self._row(built, "size_bytes", size.serialized_size_bytes(built.module)))
        rows.append(self._row(built, "size_bytes_sparse", size.sparse_size_bytes(built.module)))
        if built.dtype == "int8":
            rows.append(self._row(built, "flops", None, status=Status.SKIPPED,
                                  error="the flop counter does not count int8 (quantized) kernels"))
        else:
            try:
                one = self.data.x_test[:1]
                one = one.to(size.model_dtype(built.module)) if one.is_floating_point() else one
                rows.append(self._row(built, "flops", size.flops_per_sample(built.module, one)))
            except Exception as exc:  # an op the counter does not know: absent, with the reason
                rows.append(self._row(built, "flops", None, status=Status.ERROR, error=one_line(exc)))
        if built.train_seconds is None:
            pretrained = built.method == "pretrained"
            reason = "pretrained, not trained by this run" if pretrained else "loaded from a checkpoint"
            rows.append(self._row(built, "train_seconds", None, status=Status.SKIPPED, error=reason))
        else:
            rows.append(self._row(built, "train_seconds", built.train_seconds))
        return rows

    def noise_rows(self, built: Built) -> list[Row]:
        """Accuracy with Gaussian noise of each ``measure.noise_sigmas`` std added to the test inputs (the same
        noise for every model: a generator seeded with 0 per level), or one row saying why there is none."""
        name, sigmas = "accuracy_under_noise", self.suite.measure.noise_sigmas
        why = ("no noise levels asked for (measure.noise_sigmas)" if not sigmas else
               "an embedding dataset has no classes" if self.data.task != "classification" else
               "token ids take no Gaussian noise" if not self.data.x_test.is_floating_point() else "")
        if why or built.module is None:
            return [self._row(built, name, None, status=Status.SKIPPED, error=why or built.error)]
        rows = []
        for sigma in sigmas:
            noise = torch.randn(self.data.x_test.shape, generator=torch.Generator().manual_seed(0))
            estimate = quality.accuracy(predict_logits(built.module, self.data.x_test + sigma * noise),
                                        self.data.y_test)
            rows.append(self._row(built, name, estimate.value, ci=(estimate.ci_low, estimate.ci_high),
                                  n=estimate.n, noise_sigma=float(sigma)))
        return rows

    def prediction_table(self, built: Built, logits: torch.Tensor) -> pd.DataFrame:
        """One row per test example: the predicted class, its probability, whether it is right and whether
        it agrees with the teacher (:class:`~harness.rows.Prediction`'s columns)."""
        probabilities = torch.softmax(logits.double(), 1)
        confidence, predicted = probabilities.max(1)
        agrees = (predicted == self.teacher_logits.argmax(1)).numpy() if self.teacher_logits is not None else None
        return pd.DataFrame({
            "model": built.name, "seed": built.seed, "dtype": built.dtype,
            "example": np.arange(len(predicted)), "label": self.data.y_test.numpy(), "predicted": predicted.numpy(),
            "correct": (predicted == self.data.y_test).numpy(),
            "agrees_with_teacher": pd.array(agrees if agrees is not None else [None] * len(predicted), "boolean"),
            "confidence": confidence.numpy()})

    def take_predictions(self, built: Built) -> pd.DataFrame | None:
        """The model's predictions (every dtype it was evaluated in), handed over once."""
        tables = self.predictions.pop((built.name, built.seed), [])
        return pd.concat(tables, ignore_index=True) if tables else None

    def not_measured(self, built: Built, cell: plan.Cell, here: bool = True) -> str:
        """Why this cell of this model is not timed ("" when it is); ``here``: on this host (else the
        device is checked where the cell runs)."""
        measured = self.measured_dtypes(built)[cell.dtype]
        if measured is None:
            home = next(d for d, m in self.measured_dtypes(built).items() if m is not None)
            return f"its method fixed its dtype at {built.dtype}: measured as built, under dtype {home}"
        if cell.device.startswith("cuda") and built.dtype == "int8":
            return "int8 (torch.ao quantized) models run on the CPU only"
        return device_missing(cell.device) if here else ""

    def absent(self, cell: plan.Cell, status: Status, reason: str) -> list[BatchResult]:
        """Results of a cell not measured: ``status`` (skipped | error) and the reason in every result it has
        (each batch size; in a scenario cell, each target rate and the capacity search)."""
        load = self.request(cell).load
        if load is not None:
            return scenario_results(load, status, reason)
        return [BatchResult(b, status, reason) for b in self.suite.measure.batch_sizes]

    def result_rows(self, built: Built, cell: plan.Cell, threads: int | None,
                    results: list[BatchResult]) -> tuple[list[Row], pd.DataFrame]:
        """The rows and raw samples of one cell's results (``threads``: the count used, if it ran)."""
        dtype = self.measured_dtypes(built)[cell.dtype] or cell.dtype
        used = threads if threads is not None else cell.threads
        rows = []
        for res in results:
            for name in res.metrics or PER_BATCH:
                kw: dict[str, Any] = {"batch_size": res.batch_size, **cell.columns(), "threads": used,
                                      "dtype": dtype, "target_qps": res.target_qps}
                if name in res.values:
                    value, low, high, n = res.values[name]
                    rows.append(self._row(built, name, value, ci=(low, high), n=n, **kw))
                elif res.status != Status.OK:
                    rows.append(self._row(built, name, None, status=res.status, error=res.error, **kw))
                else:
                    status, reason = res.absent.get(name, (Status.ERROR, "the measuring process did not report it"))
                    rows.append(self._row(built, name, None, status=status, error=reason, **kw))
        return rows, self.sample_rows(built.name, built.seed, cell, used, results, dtype)

    @staticmethod
    def sample_rows(model: str, seed: int, cell: plan.Cell, threads: int | None, results: list[BatchResult],
                    dtype: str | None = None) -> pd.DataFrame:
        """The raw samples of one model's cell, each with its paired round and its place in that round: a table
        of :class:`~harness.rows.Sample`'s columns, built column by column (a quick run times about 80,000
        samples; one object per sample, turned into a dict each, took seconds)."""
        counts = [len(res.samples_ms) for res in results]

        def each(values: list[Any] | None, count: int) -> list[Any]:
            return list(values) if values else [None] * count

        columns = {"model": model, "seed": seed, "device": cell.device, "dtype": dtype or cell.dtype,
                   "batch_size": np.repeat([res.batch_size for res in results], counts),
                   "iteration": [i for count in counts for i in range(count)],
                   "latency_ms": [s for res in results for s in res.samples_ms],
                   "threads": threads, "backend": cell.backend, "seq_len": cell.seq_len,
                   "round": [r for res, count in zip(results, counts, strict=True) for r in each(res.rounds, count)],
                   "slot": [s for res, count in zip(results, counts, strict=True) for s in each(res.slots, count)]}
        return pd.DataFrame(columns, index=range(sum(counts)), columns=[c for c in SAMPLE_COLUMNS if c in columns])

    def model_results(self, built: Built, timed: Iterable[tuple[plan.Cell, int | None, list[BatchResult]]],
                      ) -> tuple[list[Row], pd.DataFrame, list[int]]:
        """All rows of one model from its cells' results, ``(cell, threads used, results)`` in cell order:
        (rows, samples, thread counts used)."""
        rows, samples, used = self.all_model_rows(built), list[pd.DataFrame](), list[int]()
        for cell, threads, results in timed:
            cell_rows, cell_samples = self.result_rows(built, cell, threads, results)
            rows += cell_rows
            samples.append(cell_samples)
            used += [threads] if threads is not None else []
        return rows, _joined(samples), used

    def request(self, cell: plan.Cell) -> CellRequest:
        """How every model of ``cell`` is timed (the same for each, so that their rounds are comparable); a
        scenario cell carries its load and times its ``max_batch`` alone."""
        measure = self.suite.measure
        scenario = measure.scenarios[measure.scenario_names.index(cell.scenario)]
        load = load_spec(scenario, len(self.data.x_test))
        return CellRequest(self.input_shape(cell), (load.max_batch,) if load else tuple(measure.batch_sizes),
                           cell.device, cell.threads, measure.latency.settings(), measure.latency.include_h2d,
                           measure.timeout_seconds, cell.backend, self.data.token_range, load=load)

    def paired_cells(self, models: list[Built], teacher: Built | None, here: bool = True) -> list[PairedCell]:
        """Every cell of the run, in the suite's cell order, with the models timed together in it.

        ``teacher`` is the reference of ``speedup_vs_teacher`` and the A/A
        twin: it is timed in every cell it has even when its own rows are not
        part of this run (a resumed run or a shard), so that each student is
        paired with it. ``here``: check devices on this host (else where the cell runs).
        """
        timed = [b for b in models if b.module is not None]
        teacher = teacher if teacher is not None and teacher.module is not None else None
        order = list(dict.fromkeys(c for b in ([teacher] if teacher else []) + timed for c in self.cells(b)))
        out = []
        for cell in order:
            members, skipped = [], []
            for built in timed:
                if cell in self.cells(built):
                    reason = self.not_measured(built, cell, here)
                    (skipped.append((built, reason)) if reason else members.append(built))
            reference = teacher if teacher and cell in self.cells(teacher) and \
                not self.not_measured(teacher, cell, here) else None
            if members:
                out.append(PairedCell(cell, members, skipped, reference))
            elif skipped:
                out.append(PairedCell(cell, [], skipped, None))
        return out

    def modules(self, paired: PairedCell) -> dict[str, torch.nn.Module]:
        """Label -> the module timed in the cell (cast to its dtype): the members, and the reference teacher."""
        chosen = {job_label(b): b for b in paired.members}
        if paired.reference is not None:
            chosen.setdefault(job_label(paired.reference), paired.reference)
        return {label: module for label, built in chosen.items()
                if (module := cast_for(built, paired.cell.dtype).module) is not None}

    def twin(self, paired: PairedCell) -> bool:
        """Whether this cell times the teacher against a second copy of itself (the A/A noise floor)."""
        return self.suite.measure.latency.noise_floor and paired.reference is not None and \
            paired.cell.scenario == SINGLE_STREAM

    def time_paired(self, paired: PairedCell) -> GroupResult:
        """The cell's models timed together in paired rounds on this host, each in its own fresh process."""
        if not paired.members:
            return GroupResult({}, [])
        return measure_cell(self.request(paired.cell), self.modules(paired), self.reference_label(paired),
                            twin=self.twin(paired))

    @staticmethod
    def reference_label(paired: PairedCell) -> str | None:
        return job_label(paired.reference) if paired.reference is not None else None

    def measure_all(self, models: list[Built], teacher: Built | None,
                    timed: Iterable[tuple[PairedCell, GroupResult]]) -> Iterator[Measured]:
        """Every model's rows, from each paired cell's results (``timed``, in any order), once all are back."""
        results: dict[str, list[tuple[plan.Cell, int | None, list[BatchResult]]]] = {}
        for paired, group in timed:
            self.noise.add(paired.cell.columns(), group.noise)
            self.loadgen.add(paired.cell.columns(), group.loadgen)
            for built, reason in paired.skipped:
                skipped = self.absent(paired.cell, Status.SKIPPED, reason)
                results.setdefault(job_label(built), []).append((paired.cell, None, skipped))
            for label, (threads, cell_results) in group.results.items():
                results.setdefault(label, []).append((paired.cell, threads, cell_results))
        for built in models:
            if built.module is None:
                yield built, self.failed_rows(built), pd.DataFrame(), []
                continue
            order = {cell: position for position, cell in enumerate(self.cells(built))}
            mine = sorted(results.get(job_label(built), []), key=lambda item: order[item[0]])
            yield (built, *self.model_results(built, mine))
        twin = job_label(teacher) + TWIN_SUFFIX if teacher is not None else None
        self.twin_samples = _joined([self.sample_rows(twin or "", 0, cell, threads, res)
                                     for cell, threads, res in results.get(twin or "", [])])


def _joined(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The sample tables of several cells as one (an empty table for none)."""
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


@dataclass
class PairedCell:
    """One cell of a run: the models timed together in it, those skipped there (with why), and the teacher
    every member's speedup is against (None where the teacher is not timed in this cell)."""

    cell: plan.Cell
    members: list[Built]
    skipped: list[tuple[Built, str]]
    reference: Built | None


def job_label(built: Built) -> str:
    """A model's label among a cell's measuring processes: its name, and its seed where it is not 0."""
    return built.name if built.seed == 0 else f"{built.name}@{built.seed}"
