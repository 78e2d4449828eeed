"""Suites: YAML files validated once into typed, frozen objects.

>>> from harness.suite import load_suite
>>> suite = load_suite("suites/quick.yaml")            # doctest: +SKIP
>>> [s.name for s in suite.students]                   # doctest: +SKIP
['scratch-16', 'kd-16']

Modules, imported in one direction (gates <- schema <- resolve, overrides <- resolve):

- :mod:`harness.suite.gates`: what a gate and the noisy-cell policy are;
- :mod:`harness.suite.schema`: the structure of a suite file (pydantic models);
- :mod:`harness.suite.overrides`: ``--set KEY=VALUE``, applied to the parsed file before validation;
- :mod:`harness.suite.resolve`: loading a file, then checking each component's own
  parameters against the registered component's signature.

Every problem is reported as one :class:`~harness.errors.SuiteError` line,
``FILE:LINE: field.path: what is wrong (allowed: ...; did you mean ...?)``.
"""

from harness.suite.gates import GatePolicy, GateSpec
from harness.suite.resolve import import_paths, load_and_resolve, load_suite
from harness.suite.schema import (
    BuildSpec,
    DatasetSpec,
    LatencySpec,
    MeasureSpec,
    MethodSpec,
    StudentSpec,
    Suite,
    TeacherSpec,
)

__all__ = [
    "BuildSpec", "DatasetSpec", "GatePolicy", "GateSpec", "LatencySpec", "MeasureSpec", "MethodSpec",
    "StudentSpec", "Suite", "TeacherSpec", "import_paths", "load_and_resolve", "load_suite",
]
