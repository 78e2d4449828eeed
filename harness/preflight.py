"""Loading a suite's dataset and checking that its models fit it, before anything is trained or written.

``harness validate`` (:func:`validate`) and ``harness run`` (before the run directory is made) both call
:func:`checked_dataset`: the dataset is loaded (a user's file is read, split and encoded, so too few rows
for the split, a target with one class or a missing value is one line there), then each architecture that
registered a check (:data:`harness.models.base.FIT_CHECKS`) is asked whether its parameters fit the loaded
dataset (a Hugging Face model's vocabulary against the dataset's tokenizer). Each problem is one
:class:`~harness.errors.HarnessError` line naming the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.data import DATASETS
from harness.data.base import Dataset, dataset_params
from harness.errors import HarnessError, one_line
from harness.models import ARCHITECTURES, FIT_CHECKS
from harness.registry import extra_sys_path

if TYPE_CHECKING:
    from harness.suite import Suite


def load_dataset(suite: Suite) -> Dataset:
    """The suite's dataset; whatever its loader raises (a missing file, bad content) is one HarnessError line."""
    name = suite.dataset.name
    try:
        fn = DATASETS.get(name)
        params = dataset_params(fn).model_validate(suite.dataset.params)  # typed: a Path, a tuple
        data = fn(seed=suite.dataset.seed, **dict(params))
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError(f"dataset {name}: {one_line(exc)}") from None
    if not isinstance(data, Dataset):
        raise HarnessError(f"dataset {name}: returned a {type(data).__name__}, not a harness.data.Dataset")
    return data


def check_fit(suite: Suite, data: Dataset) -> None:
    """Each model's architecture fits ``data`` (where it registered a check); else one line naming the model.
    A student that shares the teacher's architecture and parameters is checked once, as the teacher."""
    seen: set[str] = set()
    models = [("teacher", suite.teacher.arch, suite.teacher.params)]
    models += [(f"student {s.name}", s.arch, s.params) for s in suite.students]
    for who, arch, params in models:
        if arch is None:  # a program checkpoint: the model itself, nothing to check
            continue
        ARCHITECTURES.get(arch)  # a module:attr architecture's module imported: it may register its check
        check = FIT_CHECKS.get(arch)
        key = json.dumps([arch, params], sort_keys=True, default=str)
        if check is None or key in seen:
            continue
        seen.add(key)
        if problem := check(data, **params):
            raise HarnessError(f"{who}: {problem}")


def checked_dataset(suite: Suite) -> Dataset:
    """:func:`load_dataset`, then :func:`check_fit`."""
    data = load_dataset(suite)
    check_fit(suite, data)
    return data


def validate(path: Path, overrides: Sequence[str] = ()) -> str:
    """``harness validate``: the suite at ``path`` (changed by ``overrides``) loaded and resolved, its dataset
    loaded and each model checked against it; what a valid suite holds, or one HarnessError line naming the file."""
    from harness.plan import cells
    from harness.suite import import_paths, load_suite

    suite = load_suite(path, overrides)
    try:
        with extra_sys_path(path.resolve().parent):
            data = checked_dataset(suite)
    except HarnessError as exc:
        raise HarnessError(f"{path}: {exc}") from None
    models = 1 + len(suite.students) * len(suite.seeds)
    matrix = cells(suite.measure)
    lines = [f"{path}: valid suite {suite.name!r} v{suite.version}: dataset {suite.dataset.name}, "
             f"1 teacher + {len(suite.students)} students x {len(suite.seeds)} seeds = {models} models, "
             f"batch sizes {list(suite.measure.batch_sizes)} on {', '.join(suite.measure.devices)}"
             + (f"; {len(matrix)} cells per model ({'; '.join(c.label() for c in matrix)})" if len(matrix) > 1
                else "")]
    lines += [f"  runs user code: {name}" for name in import_paths(suite)]
    file = f", {data.info['rows']} rows in {Path(data.info['path']).name}" if {"rows", "path"} <= set(data.info) else ""
    lines.append(f"  data: {len(data.x_train)} train / {len(data.x_test)} test, input {data.input_shape}, "
                 f"{data.num_classes} classes{file}")
    return "\n".join(lines)
