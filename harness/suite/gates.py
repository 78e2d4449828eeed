"""Regression gates: what may change between a baseline and a candidate run.

A suite declares gates under ``gates:`` (keyed by metric name) and may
override them per model (``students[i].gates``, ``teacher.gates``)::

    gates:
      accuracy: {max_regression: 0.01}                  # at most one point worse (accuracy is a fraction)
      latency_p50_ms: {max_regression_pct: 10, batch_sizes: [1, 64], alpha: 0.05}
      size_bytes: {max_regression_pct: 5, max_improvement_pct: 50}   # much smaller: a stale baseline?
    students:
      - name: kd-16
        gates: {latency_p50_ms: off}                    # no latency gate for this student

"Regression" and "improvement" follow the metric's declared direction
(:mod:`harness.metrics`): accuracy regresses when it drops, latency when it
grows, throughput when it drops. A bound is absolute (in the metric's unit)
or relative (``_pct``, percent of the baseline value), one of each side at
most. A model's override merges field by field over the suite's gate, a bound
replacing the suite's bound of the same side in either form.

A suite's ``gate_policy:`` says what a noisy latency cell beyond its bound
does, in ``harness compare`` and in the pytest plugin alike::

    gate_policy: {noisy: rerun, reruns: 2}   # fail (default) | warn | rerun

This module is the declaration only (pydantic, nothing heavy): the
statistics live in :mod:`harness.compare`.

>>> GateSpec(max_regression_pct=10).bound_text()
'worse by at most 10%'
>>> GatePolicy().noisy, GatePolicy(noisy="rerun").rerun_count
('fail', 2)
>>> merge_gate(GateSpec(max_regression_pct=10, alpha=0.01), GateSpec(max_regression=2.0)).model_dump(exclude_unset=True)
{'max_regression': 2.0, 'max_regression_pct': None, 'max_improvement': None, 'max_improvement_pct': None, \
'batch_sizes': None, 'scenarios': None, 'alpha': 0.01, 'enabled': True}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.registry import did_you_mean
from harness.rows import SINGLE_STREAM

REGRESSION = ("max_regression", "max_regression_pct")
IMPROVEMENT = ("max_improvement", "max_improvement_pct")
Bound = Annotated[float, Field(ge=0, le=1e18)]
#: the scenarios a gate may name (harness.measure.serving); closed-loop timing is single_stream
Scenario = Literal["single_stream", "offline", "server"]


class GateSpec(BaseModel):
    """One metric's gate: how much worse (and, optionally, how much better) a candidate may be.

    ``batch_sizes`` limits a per-batch-size metric's gate to those batch sizes
    of the closed-loop sweep (default: every measured one); a serving
    scenario's cells are judged whatever it says. ``scenarios`` names the
    scenarios whose cells a per-batch-size gate judges (:meth:`judged`): by
    default a metric of the closed-loop sweep is gated there only (a
    ``latency_p50_ms`` gate does not judge the server's response times at each
    rate, a different quantity under load), and a serving metric
    (``max_qps_at_slo``) in its own scenario. ``alpha`` is the significance level: a
    change beyond a bound fails only when the test says it is real at that level.
    ``false`` (or ``off``) in a suite switches a gate off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    max_regression: Bound | None = None
    max_regression_pct: Bound | None = None
    max_improvement: Bound | None = None
    max_improvement_pct: Bound | None = None
    batch_sizes: list[Annotated[int, Field(ge=1, le=1 << 20)]] | None = Field(None, min_length=1)
    scenarios: list[Scenario] | None = Field(None, min_length=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _off(cls, data: Any) -> Any:
        if data is False:
            return {"enabled": False}
        if not isinstance(data, dict):
            raise ValueError(f"a gate is a mapping of bounds, e.g. {{max_regression_pct: 10}}, or false to switch "
                             f"it off (got {data!r:.40})")
        return data

    @model_validator(mode="after")
    def _bounds(self) -> GateSpec:
        for side in (REGRESSION, IMPROVEMENT):
            if all(getattr(self, f) is not None for f in side):
                raise ValueError(f"give {side[0]} or {side[1]}, not both")
        return self

    def judged(self, declared: tuple[str, ...]) -> tuple[str, ...]:
        """The scenarios whose cells this gate judges, of those its metric is measured in (``declared``): the
        gate's ``scenarios``, else single_stream where the metric has it, else every one declared.

        >>> both = ("single_stream", "server")
        >>> GateSpec().judged(both), GateSpec(scenarios=["server"]).judged(both)
        (('single_stream',), ('server',))
        >>> GateSpec().judged(("server",))
        ('server',)
        """
        if self.scenarios is not None:
            return tuple(s for s in declared if s in self.scenarios)
        return (SINGLE_STREAM,) if SINGLE_STREAM in declared else declared

    def check_scenarios(self, where: str, declared: tuple[str, ...]) -> None:
        """A ``scenarios`` list names only scenarios its metric is measured in (``declared``; none for a metric
        measured once per model), else one line saying which are."""
        wrong = [s for s in self.scenarios or () if s not in declared]
        if wrong:
            measured = f"is measured in {', '.join(declared)}" if declared else "is measured once per model"
            raise ValueError(f"{where}.scenarios: {', '.join(wrong)}: the metric {measured}")

    @property
    def has_bound(self) -> bool:
        """A model's override may leave the bound to the suite's gate; an effective gate needs one."""
        return any(getattr(self, f) is not None for f in REGRESSION + IMPROVEMENT)

    def bound_text(self) -> str:
        """The bounds in words, for tables and failure messages."""
        parts = []
        for word, (absolute, pct) in (("worse", REGRESSION), ("better", IMPROVEMENT)):
            if getattr(self, absolute) is not None:
                parts.append(f"{word} by at most {getattr(self, absolute):g}")
            elif getattr(self, pct) is not None:
                parts.append(f"{word} by at most {getattr(self, pct):g}%")
        return "; ".join(parts)


#: what a noisy cell beyond its bound does: fail the gate, pass it with a warning, or measure again
NoisyPolicy = Literal["fail", "warn", "rerun"]
DEFAULT_RERUNS = 2


class GatePolicy(BaseModel):
    """How both CI paths (``harness compare``, the pytest plugin) treat a latency change in a noisy cell.

    A cell is noisy when its rounds' spread (``latency_round_spread``) is above 0.10 on either side; a change
    beyond the bound there may be a slow phase of the machine, not the code.
    ``fail`` (default): the gate does not hold (exit 1; the item fails).
    ``warn``: it holds, with a warning (exit 0; the item passes with a pytest warning).
    ``rerun``: the pytest plugin measures the suite again, up to ``reruns``
    times, and judges the noisy cells on the last run; ``harness compare``
    cannot measure stored runs again, so there it fails, saying so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    noisy: NoisyPolicy = "fail"
    reruns: Annotated[int, Field(ge=1, le=10)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"gate_policy is a mapping, e.g. {{noisy: warn}} (got {data!r:.40})")
        return data

    @field_validator("noisy", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        allowed = list(get_args(NoisyPolicy))
        if isinstance(value, str) and value not in allowed:
            raise ValueError(f"unknown policy {value!r} (allowed: {', '.join(allowed)}{did_you_mean(value, allowed)})")
        return value

    @model_validator(mode="after")
    def _reruns_need_rerun(self) -> GatePolicy:
        if self.reruns is not None and self.noisy != "rerun":
            raise ValueError(f"reruns applies only to noisy: rerun (noisy is {self.noisy!r})")
        return self

    @property
    def rerun_count(self) -> int:
        """How many times the pytest plugin measures again (0 unless ``noisy: rerun``)."""
        if self.noisy != "rerun":
            return 0
        return DEFAULT_RERUNS if self.reruns is None else self.reruns


def merge_gate(base: GateSpec, override: GateSpec) -> GateSpec:
    """``override``'s fields over ``base``'s; a bound given replaces ``base``'s bound of that side in either form."""
    if not override.enabled:
        return override
    given = override.model_fields_set
    data = base.model_dump()
    for side in (REGRESSION, IMPROVEMENT):
        if given & set(side):
            data.update({f: getattr(override, f) for f in side})
    data.update({f: getattr(override, f) for f in given - set(REGRESSION + IMPROVEMENT)})
    return GateSpec.model_validate(data)


def effective_gates(suite_gates: dict[str, GateSpec], model_gates: dict[str, GateSpec]) -> dict[str, GateSpec]:
    """A model's gates: the suite's, merged with its own, those switched off left out."""
    merged = dict(suite_gates)
    for name, gate in model_gates.items():
        merged[name] = merge_gate(merged[name], gate) if name in merged else gate
    return {name: gate for name, gate in merged.items() if gate.enabled}


class _ResolvedGates(BaseModel):
    """Gates as a resolved suite stores them (manifest JSON): ``{model: {metric: gate}}``."""

    models: dict[str, dict[str, GateSpec]]


def gates_of_resolved_suite(suite: dict[str, Any]) -> dict[str, dict[str, GateSpec]]:
    """``{model: {metric: GateSpec}}`` from a resolved suite's JSON (a manifest's ``suite``).

    A resolved suite already holds each model's effective gates; a suite
    from before gates existed has none.
    """
    models = [suite.get("teacher", {}), *suite.get("students", [])]
    data = {m.get("name", "teacher"): m.get("gates") or {} for m in models}
    return _ResolvedGates.model_validate({"models": data}, strict=False).models


def policy_of_resolved_suite(suite: dict[str, Any]) -> GatePolicy:
    """The ``gate_policy`` of a resolved suite's JSON; the default for a suite from before it existed."""
    return GatePolicy.model_validate(suite.get("gate_policy") or {})
