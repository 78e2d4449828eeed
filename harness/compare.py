"""Baseline against candidate: every gate of every model, a statistical test and a verdict.

A gate fails only when the change is beyond its bound *and* the test says
it is real at the gate's ``alpha`` (one-sided, in the direction of the
change; H0: no change):

- statistics of the raw latency samples (p50, p90, mean, throughput, ...):
  Mann-Whitney U on the two sets of samples (all seeds pooled; seeds change
  the weights, not the cost). Thousands of samples make tiny shifts
  significant, so on CPU the bound is what keeps a gate from flapping;
- per-batch-size metrics with stored intervals and no raw samples
  (``speedup_vs_teacher``: a bootstrap over paired rounds): a z test, each
  side's standard error read from its 95% intervals, seeds pooled as for latency;
- other metrics with two or more seeds on each side: Welch's t on the
  seeds' values;
- one seed: the same z test from the stored 95% intervals (accuracy's
  bootstrap interval);
- no spread at all (params, size_bytes, peak_memory_bytes): exact; any
  change beyond the bound fails, and there is no p-value.

A timing change (a latency statistic, or ``speedup_vs_teacher``) under the
A/A noise floor (the larger of the two runs' manifest ``noise_floor.pct``)
passes, with a note: the run itself could not tell such a difference apart.
The teacher's ``speedup_vs_teacher`` is 1 by construction: its gate is skipped.

A latency change beyond the bound in a cell flagged noisy (IQR/median above
0.10 in either run) is ``noisy``, not a plain failure: a slow phase of the
machine shifts a whole cell, which no test on that cell's samples can tell
from a regression (docs/measurements.md, Repeatability). The suite's
``gate_policy.noisy`` decides what it does (:class:`~harness.suite.gates.GatePolicy`):
``fail`` and ``rerun`` make the comparison exit 1 (a stored run cannot be
measured again here), ``warn`` lets it pass with a warning. Machine-dependent
metrics (timing, speedup, memory, energy) are ``refused`` when the two runs'
hardware fingerprints differ, unless the caller allows it: exit 2 (1 if a
gate also failed), never a silent pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import plan
from harness.errors import HarnessError
from harness.manifest import Manifest
from harness.metrics import Metric, metric
from harness.store import load_results, read_manifest
from harness.suite.gates import GatePolicy, GateSpec, gates_of_resolved_suite, policy_of_resolved_suite

#: fingerprint fields that decide whether timing and memory can be compared (not machine_id: two CI
#: runners of one kind are different machines with the same hardware; not platform: kernel updates)
HARDWARE_KEYS = ("cpu", "cores_logical", "gpu", "gpu_count", "cuda", "driver", "torch", "threads")
PASS, FAIL, REFUSED, NOISY, SKIPPED, NEW = "pass", "FAIL", "refused", "noisy", "skipped", "new"
#: verdicts that are neither a pass nor a measured regression: the comparison could not decide on its own
UNDECIDED = (REFUSED, NOISY)


@dataclass(frozen=True)
class RunData:
    """One side of a comparison: a run directory or a saved baseline (same layout)."""

    path: Path
    manifest: Manifest
    rows: pd.DataFrame
    samples: pd.DataFrame

    @classmethod
    def load(cls, path: Path) -> RunData:
        if not (path / "manifest.json").is_file():
            raise HarnessError(f"{path}: not a run directory or baseline (no manifest.json)")
        manifest = read_manifest(path)
        if not manifest.finished:
            raise HarnessError(f"{path}: the run is {manifest.status!r}, not complete; finish it with "
                               f"harness run SUITE --resume {path}")
        return cls(path, manifest, _with_cell_key(load_results(path)),
                   _with_cell_key(load_results(path, samples=True)))

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
    verdict: str  # pass | FAIL | refused | noisy | skipped | new
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

    def count(self, verdict: str) -> int:
        return sum(r.verdict == verdict for r in self.results)

    def does_not_hold(self, r: GateResult) -> bool:
        """A failure, or a noisy cell under ``gate_policy.noisy`` fail or rerun (still noisy after any reruns)."""
        return r.verdict == FAIL or (r.verdict == NOISY and self.policy.noisy != "warn")

    def warns(self, r: GateResult) -> bool:
        """A noisy cell that passes with a warning (``gate_policy.noisy: warn``)."""
        return r.verdict == NOISY and self.policy.noisy == "warn"

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




def _with_cell_key(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``_cell``: its variant columns' values joined (``cpu|float32|eager|``), NA as empty."""
    columns = [c for c in plan.VARIANT_COLUMNS if c in df.columns]  # seeds are pooled
    values = zip(*(df[c].astype("string").fillna("").tolist() for c in columns), strict=True)
    return df.assign(_cell=pd.Series(["|".join(v) for v in values], index=df.index, dtype="string"))


def _variant_label(key: str, keys: set[str]) -> str:
    """What tells this cell from the model's other cells: the values of the columns that vary among ``keys``."""
    split = [k.split("|") for k in sorted(keys)]
    varying = [i for i in range(len(split[0])) if len({parts[i] for parts in split}) > 1] if split else []
    return ", ".join(v for i, v in enumerate(key.split("|")) if i in varying and v)


@dataclass(frozen=True)
class _Cell:
    """One metric of one model at one variant (device, dtype, threads, backend, seq_len) and batch size."""

    model: str
    metric: Metric
    device: str | None
    batch_size: int | None
    key: str | None = None  # the variant (``_with_cell_key``); None: every row of the model and metric
    label: str = ""

    def _select(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.key is not None:
            df = df[df["_cell"] == self.key]
        if self.batch_size is not None:
            df = df[df["batch_size"] == self.batch_size]
        return df

    def rows(self, side: RunData) -> pd.DataFrame:
        df = side.rows
        return self._select(df[(df["model"] == self.model) & (df["metric"] == self.metric.name)])

    def noise(self, side: RunData) -> float:
        """The cell's latency IQR/median on one side (NaN where there is none)."""
        df = side.rows
        df = self._select(df[(df["model"] == self.model) & (df["metric"] == "latency_iqr_over_median") &
                             (df["status"] == "ok")])
        return float(df["value"].max()) if len(df) else math.nan

    def samples(self, side: RunData) -> tuple[np.ndarray, str]:
        """The cell's independent latency observations and what they are: the median of each paired round
        (schema 3: samples within one round share the machine's moment, so they are not independent), or the
        raw samples of a run written before rounds were recorded."""
        s = side.samples
        mine = self._select(s[s["model"] == self.model])
        if len(mine) and mine["round"].notna().all():
            return mine.groupby(["seed", "round"])["latency_ms"].median().to_numpy(dtype=float), "rounds"
        return mine["latency_ms"].to_numpy(dtype=float), "samples"


def _ok(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["status"] == "ok") & rows["value"].notna()]


def _why_absent(rows: pd.DataFrame) -> str:
    errors = [str(e) for e in rows["error"] if isinstance(e, str) and e]
    return errors[0] if errors else "no row"


def _half_widths(rows: pd.DataFrame) -> np.ndarray:
    """Each row's 95% interval half-width, where it has one."""
    half = ((rows["ci_high"] - rows["ci_low"]) / 2).to_numpy(dtype=float)
    return half[np.isfinite(half)]


def _interval_standard_error(rows: pd.DataFrame) -> float:
    """Of the mean over rows, each row's standard error read from its stored 95% interval (0 without one)."""
    half = _half_widths(rows)
    return float(half.mean() / 1.959964 / math.sqrt(len(rows))) if half.size else 0.0


def _standard_error(rows: pd.DataFrame) -> float:
    """Of the mean over seeds: the seeds' spread, or with one seed (or none) its stored 95% interval."""
    values = rows["value"].to_numpy(dtype=float)
    if len(values) >= 2 and values.std(ddof=1) > 0:
        return float(values.std(ddof=1) / math.sqrt(len(values)))
    return _interval_standard_error(rows)


def _z_test(m: Metric, b_rows: pd.DataFrame, c_rows: pd.DataFrame, se: float) -> tuple[float, float, str]:
    """One-sided p-values (worse, better) of the difference of the means, for a standard error ``se`` > 0."""
    from scipy import stats

    z = _worse_by(m, float(b_rows["value"].mean()), float(c_rows["value"].mean())) / se
    return float(stats.norm.sf(z)), float(stats.norm.cdf(z)), "z, from the 95% intervals"


def significance(cell: _Cell, baseline: RunData, candidate: RunData) -> tuple[float | None, float | None, str]:
    """One-sided p-values that the candidate is worse, and better, than the baseline; and the test's name.

    ``None`` for both when nothing varies (an exact comparison).
    """
    from scipy import stats

    if cell.metric.from_latency_samples and cell.batch_size is not None:
        (b, b_unit), (c, c_unit) = cell.samples(baseline), cell.samples(candidate)
        if len(b) >= 3 and len(c) >= 3:  # larger latency samples are worse, whichever the metric's direction
            worse = stats.mannwhitneyu(c, b, alternative="greater").pvalue
            better = stats.mannwhitneyu(c, b, alternative="less").pvalue
            unit = "rounds" if b_unit == c_unit == "rounds" else "samples"
            return float(worse), float(better), f"mann-whitney U, {len(b)} vs {len(c)} {unit}"
    b_rows, c_rows = _ok(cell.rows(baseline)), _ok(cell.rows(candidate))
    if cell.metric.per_batch_size and _half_widths(b_rows).size and _half_widths(c_rows).size:
        # a timing with an interval over rounds (speedup_vs_teacher): seeds change the weights, not the cost
        se = math.hypot(_interval_standard_error(b_rows), _interval_standard_error(c_rows))
        if se > 0:
            return _z_test(cell.metric, b_rows, c_rows, se)
    b, c = b_rows["value"].to_numpy(dtype=float), c_rows["value"].to_numpy(dtype=float)
    lower = "less" if cell.metric.higher_is_better else "greater"  # the direction that is worse
    if len(b) >= 2 and len(c) >= 2 and (b.std() > 0 or c.std() > 0):
        worse = stats.ttest_ind(c, b, equal_var=False, alternative=lower).pvalue
        better = stats.ttest_ind(c, b, equal_var=False, alternative="greater" if lower == "less" else "less").pvalue
        return float(worse), float(better), f"welch t, {len(b)} vs {len(c)} seeds"
    se = math.hypot(_standard_error(b_rows), _standard_error(c_rows))
    if not se > 0:
        return None, None, "exact"
    return _z_test(cell.metric, b_rows, c_rows, se)


def _worse_by(m: Metric, baseline: float, candidate: float) -> float:
    """How much worse the candidate is, in the metric's unit (negative: better)."""
    return baseline - candidate if m.higher_is_better else candidate - baseline


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


def evaluate_cell(cell: _Cell, gate: GateSpec, baseline: RunData, candidate: RunData,
                  refused: str = "") -> GateResult:
    """The verdict of one gate at one cell; ``refused`` (a reason) stops it short of a verdict."""
    start = GateResult(model=cell.model, metric=cell.metric.name, verdict=PASS, device=cell.device,
                       batch_size=cell.batch_size, bound=gate.bound_text(), variant=cell.label)
    b_all, c_all = cell.rows(baseline), cell.rows(candidate)
    if cell.metric.relative_to_teacher and "teacher" in {*b_all["role"], *c_all["role"]}:
        return replace(start, verdict=SKIPPED, note=f"the teacher's {cell.metric.name} is 1 by construction")
    b_rows, c_rows = _ok(b_all), _ok(c_all)
    if b_rows.empty:
        return replace(start, verdict=SKIPPED, note=f"no baseline value: {_why_absent(b_all)}")
    if c_rows.empty:  # on other hardware a value may be absent for a reason (no GPU): refused, not failed
        return replace(start, verdict=REFUSED if refused else FAIL,
                       note=refused or f"no candidate value: {_why_absent(c_all)}")
    b, c = float(b_rows["value"].mean()), float(c_rows["value"].mean())
    relative = gate.max_regression_pct is not None or (gate.max_regression is None
                                                       and gate.max_improvement_pct is not None)
    values = replace(start, baseline=b, candidate=c, change=_pct(c - b, b) if relative else c - b,
                     change_unit="%" if relative else cell.metric.unit)
    if refused:
        return replace(values, verdict=REFUSED, note=refused)
    worse = _worse_by(cell.metric, b, c)
    worse_pct = _pct(worse, b)
    p_worse, p_better, test = significance(cell, baseline, candidate)
    for side, amount, pct, p in (("regression", worse, worse_pct, p_worse),
                                 ("improvement", -worse, -worse_pct, p_better)):
        bound = _beyond(gate, side, amount, pct)
        if bound is None:
            continue
        word = "worse" if side == "regression" else "better"
        shown = f"{pct:.1f}%" if bound == getattr(gate, f"max_{side}_pct") else f"{amount:.4g}"
        tested = replace(values, p_value=p, test=test)
        if p is not None and p >= gate.alpha:
            note = f"{word} by {shown}, beyond the bound but not significant (p={p:.2g} >= {gate.alpha:g})"
            return replace(tested, verdict=PASS, note=note)
        change = f"{word} by {shown}" + ("" if p is None else f" (p={p:.2g} < {gate.alpha:g})")
        return _significant_change(tested, change, pct, cell, baseline, candidate, side == "improvement")
    return replace(values, verdict=PASS, p_value=p_worse if worse > 0 else p_better, test=test)


def _significant_change(result: GateResult, change: str, pct: float, cell: _Cell, baseline: RunData,
                        candidate: RunData, improvement: bool) -> GateResult:
    """A change beyond the bound and significant: a pass under the A/A noise floor, noisy in a cell flagged
    noisy, else FAIL. ``change`` says it in words; ``pct`` is it in percent of the baseline."""
    floor = noise_floor_pct(cell.metric, baseline, candidate)
    if floor is not None and abs(pct) < floor:
        return replace(result, verdict=PASS, note=f"{change}, but under the A/A noise floor {floor:g}%")
    noise = _noisy(cell, baseline, candidate)
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


def _noisy(cell: _Cell, baseline: RunData, candidate: RunData) -> str:
    """Why a latency cell's samples cannot decide (flagged noisy on either side), or ""."""
    from harness.measure.stats import NOISY_IQR_OVER_MEDIAN

    if not cell.metric.from_latency_samples or cell.batch_size is None:
        return ""
    flagged = [f"{label} IQR/median {value:.2f}" for label, value in
               (("baseline", cell.noise(baseline)), ("candidate", cell.noise(candidate)))
               if value > NOISY_IQR_OVER_MEDIAN]
    return f"the cell is noisy ({', '.join(flagged)} > {NOISY_IQR_OVER_MEDIAN:g})" if flagged else ""


def _cells(model: str, m: Metric, gate: GateSpec, baseline: RunData, candidate: RunData) -> list[_Cell]:
    """The model's cells of metric ``m`` on either side: one per variant (and batch size, where per batch size)."""
    cells: set[tuple[str, str, int | None]] = set()
    for side in (baseline, candidate):
        rows = side.rows[(side.rows["model"] == model) & (side.rows["metric"] == m.name)]
        for key, device, batch in zip(rows["_cell"], rows["device"], rows["batch_size"], strict=True):
            size = None if pd.isna(batch) else int(batch)
            if not m.per_batch_size or gate.batch_sizes is None or size in gate.batch_sizes:
                cells.add((str(key), str(device), size if m.per_batch_size else None))
    if not cells:
        return [_Cell(model, m, None, None)]
    keys = {key for key, _, _ in cells}
    return [_Cell(model, m, device if m.per_batch_size else None, batch, key, _variant_label(key, keys))
            for key, device, batch in sorted(cells, key=lambda c: (c[0], c[2] or 0))]


def compare_runs(baseline: RunData, candidate: RunData, gates: dict[str, dict[str, GateSpec]] | None = None, *,
                 allow_hardware_change: bool = False, skip_hardware_gates: bool = False,
                 names: tuple[str, str] | None = None, policy: GatePolicy | None = None) -> Comparison:
    """Every gate of every model (gates: ``{model: {metric: gate}}``; they and the policy for noisy cells
    default to the candidate's suite's)."""
    gates = candidate.gates() if gates is None else gates
    policy = candidate.policy() if policy is None else policy
    common = [m for m in candidate.models if m in baseline.models]
    if not common:
        raise HarnessError(f"no model in common: baseline {baseline.path} has {', '.join(baseline.models) or 'none'}; "
                           f"candidate {candidate.path} has {', '.join(candidate.models) or 'none'}")
    if not any(gates.get(m) for m in common):
        raise HarnessError(f"no gates to check: the suite of {candidate.path} declares none for "
                           f"{', '.join(common)} (add gates: to the suite, or pass --suite)")
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
    return Comparison(shown[0], shown[1], results, differences, policy)


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
