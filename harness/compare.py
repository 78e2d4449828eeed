"""Baseline against candidate: every gate of every model, a statistical test and a verdict.

A gate fails only when the change is beyond its bound *and* the test says
it is real at the gate's ``alpha`` (one-sided, in the direction of the
change; H0: no change). Which test applies to which metric is in
:mod:`harness.significance`: accuracy, where both runs kept per-example
predictions on the same test examples (the same dataset in both suites),
is tested with the exact McNemar test paired by example.

A serving scenario's cell (:mod:`harness.measure.serving`) keeps no raw
samples: a server rate's latency is an order statistic of one run, a
capacity's (``max_qps_at_slo``) interval the search's bracket, not a sampling
interval. Such a cell is judged on its values against the bound, with no test,
and its note says so (:func:`harness.significance.bound_only`). Each target
rate is a cell of its own (its key holds the rate), so a gate on
``latency_p99_ms`` checks the closed-loop cells on their samples and every
rate of the server scenario on its values.

A timing change (a latency statistic, or ``speedup_vs_teacher``) under the
A/A noise floor (the larger of the two runs' manifest ``noise_floor.pct``)
passes, with a note: the run itself could not tell such a difference apart.

The verdicts, what each means and what a latency p-value can prove:
:mod:`harness.verdicts`. The teacher's ``speedup_vs_teacher`` is 1 by
construction: its gate is skipped. A timing change beyond the bound while
either run was measured on a busy machine, or a latency change in a cell
flagged noisy, is ``noisy``; one the rounds cannot test at the gate's alpha
is ``undecidable``; both follow the suite's ``gate_policy.noisy``
(:class:`~harness.suite.gates.GatePolicy`). Machine-dependent metrics
(timing, speedup, memory, energy) are ``refused`` when the two runs'
hardware fingerprints differ, unless the caller allows it: exit 2 (1 if a
gate also failed), never a silent pass.

Runs of different suites (``suite_name``) are not compared: bad input, exit 2.
Runs of one suite whose content differs (``suite_hash``: the resolved suite
without its gates) are compared, and :attr:`Comparison.suite_differences`
says what differs (:func:`harness.suite_diff.differences`); the exit code
does not change for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.metrics import Metric, metric
from harness.rows import SINGLE_STREAM
from harness.scenarios import scenario_of
from harness.significance import (
    Cell,
    bound_only,
    ok_rows,
    significance,
    variant_label,
    why_absent,
    with_cell_key,
    worse_by,
)
from harness.store import is_run_dir, load_predictions, load_results, read_manifest
from harness.suite.gates import GatePolicy, GateSpec, gates_of_resolved_suite, policy_of_resolved_suite
from harness.suite_diff import differences as suite_differences
from harness.verdicts import (  # noqa: F401  (the vocabulary, named here as before)
    FAIL,
    NEW,
    NOISY,
    PASS,
    POLICY_VERDICTS,
    REFUSED,
    SKIPPED,
    UNDECIDABLE,
    UNDECIDED,
    Verdict,
)

#: fingerprint fields that decide whether timing and memory can be compared (not machine_id: two CI
#: runners of one kind are different machines with the same hardware; not platform: kernel updates)
HARDWARE_KEYS = ("cpu", "cores_logical", "gpu", "gpu_count", "cuda", "driver", "torch", "threads")


@dataclass(frozen=True)
class RunData:
    """One side of a comparison: a run directory or a saved baseline (same layout)."""

    path: Path
    manifest: Manifest
    rows: pd.DataFrame
    samples: pd.DataFrame
    #: per-example predictions (None or empty: a run before schema 4); accuracy gates pair them by example
    predictions: pd.DataFrame | None = None

    @classmethod
    def load(cls, path: Path) -> RunData:
        if not is_run_dir(path):
            raise HarnessError(f"{path}: not a run directory (no manifest.json)")
        manifest = read_manifest(path)
        if not manifest.finished:
            raise HarnessError(f"{path}: the run is {manifest.status!r}, not complete; finish it with "
                               f"harness run SUITE --resume {path}")
        return cls(path, manifest, with_cell_key(load_results(path)),
                   with_cell_key(load_results(path, samples=True)), load_predictions(path))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(str(m) for m in self.rows["model"]))

    def gates(self) -> dict[str, dict[str, GateSpec]]:
        return gates_of_resolved_suite(self.manifest.suite)

    def policy(self) -> GatePolicy:
        return policy_of_resolved_suite(self.manifest.suite)

    @property
    def noise_floor_pct(self) -> float | None:
        """The run's A/A noise floor in percent (:meth:`Manifest.noise`); None where not measured."""
        return self.manifest.noise().pct


@dataclass(frozen=True)
class GateResult:
    model: str
    metric: str
    verdict: str  # a Verdict: pass | FAIL | noisy | undecidable | refused | skipped | new
    note: str = ""
    device: str | None = None
    batch_size: int | None = None
    baseline: float = math.nan
    candidate: float = math.nan
    change: float = math.nan  # in change_unit: "%" of the baseline, or the metric's unit
    change_unit: str = ""
    bound: str = ""
    p_value: float | None = None
    test: str = ""
    variant: str = ""  # what tells this cell from the model's others (backend, dtype, threads, seq_len)
    #: what the verdict rests on (harness.significance.EVIDENCE): test examples, rounds within a run, ...
    evidence: str = ""

    @property
    def label(self) -> str:
        """The model as tables name it: ``kd-16``, or ``kd-16 [onnx]`` where it has several variants."""
        return f"{self.model} [{self.variant}]" if self.variant else self.model


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    results: list[GateResult]
    hardware_differences: list[str] = field(default_factory=list)
    policy: GatePolicy = GatePolicy()
    #: the suite's name, and the baseline's and candidate's content hashes
    suite: str = ""
    suite_hashes: tuple[str, str] = ("", "")
    #: ``path: baseline value -> candidate value`` for each value of the resolved suites that differs
    suite_differences: list[str] = field(default_factory=list)

    @property
    def suite_changed(self) -> bool:
        """Whether the candidate ran other suite content than the baseline (a gate still decides the exit)."""
        return self.suite_hashes[0] != self.suite_hashes[1]

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.results)

    def does_not_hold(self, r: GateResult) -> bool:
        """A failure, or a noisy or undecidable cell under ``gate_policy.noisy`` fail or rerun (still so after any
        reruns)."""
        return r.verdict == FAIL or (r.verdict in POLICY_VERDICTS and self.policy.noisy != "warn")

    def warns(self, r: GateResult) -> bool:
        """A noisy or undecidable cell that passes with a warning (``gate_policy.noisy: warn``)."""
        return r.verdict in POLICY_VERDICTS and self.policy.noisy == "warn"

    @property
    def exit_code(self) -> int:
        """0 every gate holds (noisy cells included, under warn); 1 a gate does not hold; 2 a gate was refused."""
        if any(self.does_not_hold(r) for r in self.results):
            return 1
        return 2 if self.count(REFUSED) else 0


def hardware_differences(baseline: Manifest, candidate: Manifest) -> list[str]:
    """``["cpu: A vs B", ...]`` for each fingerprint field that decides comparability and differs."""
    b, c = baseline.hardware.model_dump(), candidate.hardware.model_dump()
    return [f"{key}: {b.get(key)} vs {c.get(key)}" for key in HARDWARE_KEYS if b.get(key) != c.get(key)]


def check_same_suite(baseline: RunData, candidate: RunData) -> None:
    """Refuse (exit 2) a candidate of another suite than the baseline's: its gates would compare other things."""
    b, c = baseline.manifest.suite_name, candidate.manifest.suite_name
    if b != c:
        raise HarnessError(f"cannot compare runs of different suites: baseline {baseline.path} is suite {b!r}, "
                           f"candidate {candidate.path} is suite {c!r}")


def _pct(amount: float, baseline: float) -> float:
    if baseline == 0:
        return 0.0 if amount == 0 else math.copysign(math.inf, amount)
    return amount / abs(baseline) * 100


def _beyond(gate: GateSpec, side: str, amount: float, pct: float) -> float | None:
    """The bound of ``side`` ('regression' | 'improvement') that ``amount``/``pct`` exceeds, else None."""
    absolute, relative = getattr(gate, f"max_{side}"), getattr(gate, f"max_{side}_pct")
    if absolute is not None and amount > absolute:
        return absolute
    if relative is not None and pct > relative:
        return relative
    return None


def evaluate_cell(cell: Cell, gate: GateSpec, baseline: RunData, candidate: RunData,
                  refused: str = "") -> GateResult:
    """The verdict of one gate at one cell; ``refused`` (a reason) stops it short of a verdict. A serving
    scenario's cell is judged on its values against the bound, and its note says so (:func:`bound_only`)."""
    result = _evaluate(cell, gate, baseline, candidate, refused)
    why = bound_only(pd.concat([cell.rows(baseline), cell.rows(candidate)]))
    if why and result.verdict in (PASS, FAIL, NOISY):
        return replace(result, note="; ".join(n for n in (result.note, why) if n))
    return result


def _evaluate(cell: Cell, gate: GateSpec, baseline: RunData, candidate: RunData, refused: str) -> GateResult:
    start = GateResult(model=cell.model, metric=cell.metric.name, verdict=PASS, device=cell.device,
                       batch_size=cell.batch_size, bound=gate.bound_text(), variant=cell.label)
    b_all, c_all = cell.rows(baseline), cell.rows(candidate)
    if cell.metric.relative_to_teacher and "teacher" in {*b_all["role"], *c_all["role"]}:
        return replace(start, verdict=SKIPPED, note=f"the teacher's {cell.metric.name} is 1 by construction")
    b_rows, c_rows = ok_rows(b_all), ok_rows(c_all)
    if b_rows.empty:
        return replace(start, verdict=SKIPPED, note=f"no baseline value: {why_absent(b_all)}")
    if c_rows.empty:  # on other hardware a value may be absent for a reason (no GPU): refused, not failed
        return replace(start, verdict=REFUSED if refused else FAIL,
                       note=refused or f"no candidate value: {why_absent(c_all)}")
    b, c = float(b_rows["value"].mean()), float(c_rows["value"].mean())
    relative = gate.max_regression_pct is not None or (gate.max_regression is None
                                                       and gate.max_improvement_pct is not None)
    values = replace(start, baseline=b, candidate=c, change=_pct(c - b, b) if relative else c - b,
                     change_unit="%" if relative else cell.metric.unit)
    if refused:
        return replace(values, verdict=REFUSED, note=refused)
    worse = worse_by(cell.metric, b, c)
    worse_pct = _pct(worse, b)
    test = significance(cell, baseline, candidate, gate.alpha)
    values = replace(values, evidence=test.evidence)
    for side, amount, pct, p in (("regression", worse, worse_pct, test.p_worse),
                                 ("improvement", -worse, -worse_pct, test.p_better)):
        bound = _beyond(gate, side, amount, pct)
        if bound is None:
            continue
        word = "worse" if side == "regression" else "better"
        shown = f"{pct:.1f}%" if bound == getattr(gate, f"max_{side}_pct") else f"{amount:.4g}"
        tested = replace(values, p_value=p, test=test.name)
        if test.undecidable(gate.alpha):
            note = (f"{word} by {shown}, beyond the bound, but {test.name.rsplit(', ', 1)[-1]} cannot reach "
                    f"alpha {gate.alpha:g} (smallest possible p {test.smallest_p:.2g}): {test.needed} rounds a side "
                    f"would (measure.latency.min_rounds)")
            return replace(tested, verdict=UNDECIDABLE, note=note)
        if p is not None and p >= gate.alpha:
            note = f"{word} by {shown}, beyond the bound but not significant (p={p:.2g} >= {gate.alpha:g})"
            return replace(tested, verdict=PASS, note=note)
        change = f"{word} by {shown}" + ("" if p is None else f" (p={p:.2g} < {gate.alpha:g})")
        return _significant_change(tested, change, pct, cell, baseline, candidate, side == "improvement")
    return replace(values, verdict=PASS, p_value=test.p_worse if worse > 0 else test.p_better, test=test.name)


def _significant_change(result: GateResult, change: str, pct: float, cell: Cell, baseline: RunData,
                        candidate: RunData, improvement: bool) -> GateResult:
    """A change beyond the bound and significant: a pass under the A/A noise floor, noisy in a cell flagged
    noisy, else FAIL. ``change`` says it in words; ``pct`` is it in percent of the baseline."""
    floor = noise_floor_pct(cell.metric, baseline, candidate)
    if floor is not None and abs(pct) < floor:
        return replace(result, verdict=PASS, note=f"{change}, but under the A/A noise floor {floor:g}%")
    noise = _contended(cell, baseline, candidate) or _noisy(cell, baseline, candidate)
    if noise:
        return replace(result, verdict=NOISY, note=f"{change}, but {noise}: rerun on a quieter machine")
    return replace(result, verdict=FAIL, note=change + (": a stale baseline?" if improvement else ""))


def noise_floor_pct(m: Metric, baseline: RunData, candidate: RunData) -> float | None:
    """The larger A/A noise floor of the two runs, for a timing metric (a latency statistic, or a paired
    speedup); None for other metrics, or where neither run measured one."""
    if not m.timing:
        return None
    floors = [f for f in (baseline.noise_floor_pct, candidate.noise_floor_pct) if f is not None]
    return max(floors) if floors else None


def _contended(cell: Cell, baseline: RunData, candidate: RunData) -> str:
    """Why a timing cell's runs cannot decide because the machine was busy while one of them measured
    (:func:`harness.measure.machine_load.contention`), or ""."""
    from harness.measure.machine_load import contention

    if not cell.metric.timing:
        return ""
    sides = (("baseline", contention(baseline.manifest)), ("candidate", contention(candidate.manifest)))
    return "; ".join(f"the {label} run was measured on a busy machine ({why})" for label, why in sides if why)


_NOISE_LABELS = {"latency_round_spread": "round spread", "latency_iqr_over_median": "samples' IQR/median"}  # output


def _noisy(cell: Cell, baseline: RunData, candidate: RunData) -> str:
    """Why a latency cell's rounds cannot decide (flagged noisy on either side: the rounds' window medians scatter
    by more than 0.10 of their median), or ""."""
    from harness.measure.stats import NOISY_IQR_OVER_MEDIAN

    if not cell.metric.from_latency_samples or cell.batch_size is None:
        return ""
    flagged = [f"{label} {_NOISE_LABELS.get(name, name)} {value:.2f}" for label, (value, name) in
               (("baseline", cell.noise(baseline)), ("candidate", cell.noise(candidate)))
               if value > NOISY_IQR_OVER_MEDIAN]
    return f"the cell is noisy ({', '.join(flagged)} > {NOISY_IQR_OVER_MEDIAN:g})" if flagged else ""


def _cells(model: str, m: Metric, gate: GateSpec, baseline: RunData, candidate: RunData) -> list[Cell]:
    """The model's cells of metric ``m`` on either side: one per variant (and batch size, where per batch size)."""
    cells: dict[tuple[str, str, int | None], tuple[Any, ...]] = {}  # -> where it comes in the order
    for side in (baseline, candidate):
        rows = side.rows[(side.rows["model"] == model) & (side.rows["metric"] == m.name)]
        rates = rows["target_qps"] if "target_qps" in rows.columns else pd.Series(math.nan, index=rows.index)
        for key, device, batch, scenario, rate in zip(rows["_cell"], rows["device"], rows["batch_size"],
                                                      scenario_of(rows), rates, strict=True):
            size, serving = None if pd.isna(batch) else int(batch), scenario != SINGLE_STREAM
            # a gate judges the scenarios it names (default: its metric's closed-loop sweep, GateSpec.judged); its
            # batch_sizes are the closed-loop sweep's: a serving cell (its batch size is its max_batch) is judged
            judged = not m.per_batch_size or scenario in gate.judged(m.scenarios)
            if judged and (not m.per_batch_size or gate.batch_sizes is None or serving or size in gate.batch_sizes):
                # the closed-loop cells first, then each scenario's, a server's rates ascending (its capacity last)
                cells[(str(key), str(device), size if m.per_batch_size else None)] = (
                    serving, str(scenario), math.inf if pd.isna(rate) else float(rate), str(key),
                    size or 0)
    if not cells:
        return [Cell(model, m, None, None)]
    keys = {key for key, _, _ in cells}
    return [Cell(model, m, device if m.per_batch_size else None, batch, key, variant_label(key, keys))
            for key, device, batch in sorted(cells, key=cells.__getitem__)]


def compare_runs(baseline: RunData, candidate: RunData, gates: dict[str, dict[str, GateSpec]] | None = None, *,
                 allow_hardware_change: bool = False, skip_hardware_gates: bool = False,
                 names: tuple[str, str] | None = None, policy: GatePolicy | None = None) -> Comparison:
    """Every gate of every model (gates: ``{model: {metric: gate}}``; they and the policy for noisy cells
    default to the candidate's suite's)."""
    check_same_suite(baseline, candidate)
    gates = candidate.gates() if gates is None else gates
    policy = candidate.policy() if policy is None else policy
    common = [m for m in candidate.models if m in baseline.models]
    if not common:
        raise HarnessError(f"no model in common: baseline {baseline.path} has {', '.join(baseline.models) or 'none'}; "
                           f"candidate {candidate.path} has {', '.join(candidate.models) or 'none'}")
    if not any(gates.get(m) for m in common):
        raise HarnessError(f"no gates to check: the suite of {candidate.path} declares none for "
                           f"{', '.join(common)} (add gates: to the suite, or pass --suite)")
    if baseline.manifest.suite.get("dataset") != candidate.manifest.suite.get("dataset"):
        baseline, candidate = replace(baseline, predictions=None), replace(candidate, predictions=None)  # unpaired
    differences = hardware_differences(baseline.manifest, candidate.manifest)
    refusal = ""
    if differences and not allow_hardware_change:
        refusal = f"hardware differs ({'; '.join(differences)})"
    results = [GateResult(model=m, metric="-", verdict=FAIL, note="in the baseline, missing from the candidate")
               for m in baseline.models if m not in candidate.models]
    for model in candidate.models:
        if model not in baseline.models:
            results.append(GateResult(model=model, metric="-", verdict=NEW,
                                      note="no baseline: save a new one to gate it"))
            continue
        for name, gate in gates.get(model, {}).items():
            m = metric(name)
            for cell in _cells(model, m, gate, baseline, candidate):
                result = evaluate_cell(cell, gate, baseline, candidate, refusal if m.machine_dependent else "")
                if result.verdict == REFUSED and skip_hardware_gates:
                    result = replace(result, verdict=SKIPPED)
                results.append(result)
    shown = names or (str(baseline.path), str(candidate.path))
    hashes = (baseline.manifest.suite_hash, candidate.manifest.suite_hash)
    changed = suite_differences(baseline.manifest.suite, candidate.manifest.suite) if hashes[0] != hashes[1] else []
    return Comparison(shown[0], shown[1], results, differences, policy, candidate.manifest.suite_name, hashes,
                      changed)


def _result_key(r: GateResult) -> tuple[Any, ...]:
    return r.model, r.metric, r.variant, r.device, r.batch_size


def rejudge_noisy(previous: Comparison, remeasured: Comparison) -> Comparison:
    """``previous`` with each noisy cell judged again on a run measured afresh (``gate_policy.noisy: rerun``).

    Only the noisy cells change: a cell already decided (pass or FAIL) keeps
    its verdict, so measuring again cannot turn a failure into a pass.
    """
    fresh = {_result_key(r): r for r in remeasured.results}
    results = [fresh.get(_result_key(r), r) if r.verdict == NOISY else r for r in previous.results]
    return replace(previous, candidate=f"{previous.candidate} (noisy cells: {remeasured.candidate})", results=results)
