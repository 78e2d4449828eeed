"""Turning a suite file into a resolved :class:`~harness.suite.Suite`, or one error line.

First pass: the structure, against :mod:`harness.suite`'s models. Second pass:
each named component (dataset, architecture, method) is looked up in its
registry, or imported when named ``module:attr`` (the suite's folder is on
the import path), and its parameters are validated against its signature;
defaults are filled in so the resolved suite says everything the run did.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import pydantic
import yaml

from harness.errors import HarnessError, SuiteError
from harness.paths import FolderOrId
from harness.registry import did_you_mean, extra_sys_path
from harness.suite.gates import REGRESSION, GateSpec, effective_gates
from harness.suite.overrides import Source, apply_overrides, parse_override
from harness.suite.schema import DatasetSpec, MethodSpec, StudentSpec, Suite, TeacherSpec
from harness.yamlsrc import line_of, load_yaml

Loc = tuple[Any, ...]


def _fields_at(model: type[pydantic.BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at ``loc`` inside ``model`` (for an 'unknown key' message)."""
    current: Any = model
    for part in loc:
        while (typing.get_origin(current) in (list, typing.Union, typing.Annotated)
               or isinstance(current, type(int | None))):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[0]
        if isinstance(part, int):
            continue
        if typing.get_origin(current) is dict:  # a mapping's key (a gate's metric name): on to its values' type
            current = typing.get_args(current)[1]
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return []
        if part not in current.model_fields:
            break
        current = current.model_fields[part].annotation
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return [f for f in current.model_fields if f != "params"]
    return []


def _describe(error: Mapping[str, Any], allowed: list[str]) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        listing = ", ".join(allowed) if allowed else "none"
        return f"unknown key (allowed: {listing}{did_you_mean(key, allowed)})"
    if kind == "missing":
        return "required key is missing"
    if kind == "needs_python_object":  # an arbitrary type, as torch.device: YAML makes none
        return f"takes a Python object, which a suite cannot give: leave it out (got {error.get('input')!r:.60})"
    message = re.sub(r" or instance of \w+", "", error["msg"].removeprefix("Value error, "))
    if kind.endswith("_type") or kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                                          "string_pattern_mismatch", "literal_error"):
        value = error.get("input")
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        return f"{message} (got {shown[:60]}{_number_hint(kind, value)})"
    return message


def _number_hint(kind: str, value: Any) -> str:
    """How to write the number that a value YAML read as text meant: in YAML 1.1, ``1e-3`` is text.

    >>> _number_hint("float_type", "1e-3"), _number_hint("float_type", "1.0e3")
    ('; YAML 1.1 reads 1e-3 as text: write 1.0e-3', '; YAML 1.1 reads 1.0e3 as text: write 1.0e+3')
    >>> _number_hint("int_type", "4"), _number_hint("int_type", 4.0), _number_hint("tuple_type", 16)
    ('; write 4, unquoted', '; write 4', '; a list: write [16]')
    """
    if kind == "int_type" and isinstance(value, float) and value.is_integer():
        return f"; write {int(value)}"
    if kind in ("list_type", "tuple_type") and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return f"; a list: write [{value}]"
    if kind not in ("float_type", "int_type") or not isinstance(value, str):
        return ""
    text = value.strip()
    meant = yaml.safe_load(text) if re.fullmatch(r"[-+]?[0-9._]+", text) else None
    exponent = re.fullmatch(r"([-+]?[0-9]+)(?:\.([0-9]*))?[eE]([-+]?)([0-9]+)", text)
    if exponent:
        written = f"{exponent[1]}.{exponent[2] or 0}e{exponent[3] or '+'}{exponent[4]}"
        meant = yaml.safe_load(written)
        if kind == "float_type":
            return f"; YAML 1.1 reads {text} as text: write {written}"
    if kind == "int_type" and isinstance(meant, float) and meant.is_integer():
        meant = int(meant)
    wanted = int if kind == "int_type" else (int, float)
    return f"; write {meant!r}, unquoted" if isinstance(meant, wanted) and not isinstance(meant, bool) else ""


def _as_written(loc: Loc, raw: Any) -> Loc:
    """Drop the ``[0]`` of a value the file gives alone where a list is allowed (``method: {...}``)."""
    kept: list[Any] = []
    for part in loc:
        if isinstance(part, int) and isinstance(raw, dict):
            continue
        kept.append(part)
        raw = raw.get(part) if isinstance(raw, dict) else (raw[part] if isinstance(raw, list)
                                                            and isinstance(part, int) and part < len(raw) else None)
    return tuple(kept)


def _to_suite_error(exc: pydantic.ValidationError, model: type[pydantic.BaseModel], prefix: Loc,
                    source: Source, raw: Any = None) -> SuiteError:
    # an unknown key first: it usually explains the 'missing' error beside it (a misspelt name)
    error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(part for part in error["loc"] if part != "params" or not prefix)
    if raw is not None:
        loc = _as_written(loc, raw)
    allowed = _fields_at(model, loc[:-1]) if error["type"] == "extra_forbidden" else []
    if error["type"] == "extra_forbidden" and not allowed and model is not Suite:
        allowed = list(model.model_fields)
    path = prefix + loc
    return source.error(_describe(error, allowed), path)


def _is_path(annotation: Any) -> bool:
    """Whether a parameter's type is, or holds, a path (``Path``, ``Path | None``, ``list[Path]``)."""
    if isinstance(annotation, type):
        return issubclass(annotation, PurePath)
    return any(_is_path(arg) for arg in typing.get_args(annotation))


def _wants_folder(*annotations: Any) -> bool:
    """Whether a path type asks for a folder (``DirectoryPath``: its ``PathType('dir')``), not a file."""
    return any(getattr(a, "path_type", None) == "dir" or _wants_folder(*typing.get_args(a)) for a in annotations)


def _not_plain(value: Any, path: Loc) -> tuple[str, Loc] | None:
    """Where YAML made a value that is no number, text, list or mapping (a date, bytes, a set), and what."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return None
    if not isinstance(value, (dict, list)):
        return f"YAML reads this as a {type(value).__name__}, not a plain value: quote it to give text", path
    children = value.items() if isinstance(value, dict) else enumerate(value)
    return next((found for key, item in children if (found := _not_plain(item, path + (key,)))), None)


class _Resolver:
    def __init__(self, source: Source, raw: dict[str, Any], suite_dir: Path):
        self.source, self.raw, self.suite_dir = source, raw, suite_dir

    def fail(self, message: str, path: Loc) -> SuiteError:
        return self.source.error(message, path)

    def lookup(self, registry_get: typing.Callable[[str], Any], name: str, path: Loc) -> Any:
        try:
            return registry_get(name)
        except HarnessError as exc:
            raise self.fail(str(exc), path) from None

    def params(self, model: type[pydantic.BaseModel], params: dict[str, Any], path: Loc,
               what: str = "file") -> dict[str, Any]:
        """A component's parameters, strictly (``"4"``, ``4.0`` and ``true`` are no int), defaults filled in.

        Validated as JSON, where a list is a tuple and text a ``Path`` but nothing else is converted;
        a ``Path`` parameter is a file beside the suite, which must exist (``what`` names it).
        """
        params = self.files(model, params, path, what)
        try:
            text = json.dumps(params, allow_nan=True)
        except ValueError:  # a circular reference
            raise self.fail("a value contains itself (a recursive YAML alias)", path) from None
        except TypeError:
            raise self.fail(*(_not_plain(params, path) or ("numbers, text, lists and mappings only", path))) from None
        try:
            return model.model_validate_json(text, strict=True).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise _to_suite_error(exc, model, path, self.source) from None

    def files(self, model: type[pydantic.BaseModel], params: dict[str, Any], path: Loc, what: str) -> dict[str, Any]:
        """``params`` with the text of each ``Path`` parameter made absolute from the suite's folder, once it is
        known to name a file (a folder where the type says so: pydantic's ``DirectoryPath``), and each
        folder-or-id parameter (:data:`harness.paths.FOLDER_OR_ID`) made absolute where it names a folder there."""
        resolved = dict(params)
        for name, info in model.model_fields.items():
            value = params.get(name)
            if isinstance(value, str) and any(isinstance(m, FolderOrId) for m in info.metadata):
                beside = self.suite_dir / Path(value).expanduser()  # a folder beside the suite, or an id as written
                resolved[name] = str(beside.resolve()) if beside.is_dir() else value
                continue
            if not _is_path(info.annotation) or not isinstance(value, (str, list)):
                continue
            folder = _wants_folder(info.annotation, *info.metadata)
            noun = what.replace("file", "folder") if folder else what
            resolved[name] = self.file_at(value, path + (name,), noun, folder) if isinstance(value, str) else [
                self.file_at(item, path + (name, i), noun, folder) for i, item in enumerate(value)]
        return resolved

    def file_at(self, value: Any, where: Loc, noun: str, folder: bool) -> Any:
        if not isinstance(value, str):
            return value  # not text: the type check says so
        file = self.existing(value, where, noun)
        if file.is_dir() != folder:
            raise self.fail(f"is a {'file' if folder else 'directory'}, not a {noun}: {file}", where)
        return str(file)

    def existing(self, value: str, where: Loc, noun: str) -> Path:
        """``value`` from the suite's folder, absolute, once it is known to exist."""
        file = self.suite_dir / Path(value).expanduser()
        try:
            file = file.resolve()
            if file.exists():
                return file
        except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
            reason = getattr(exc, "strerror", None) or exc
            raise self.fail(f"cannot read {noun} {str(file)[:200]}: {reason}", where) from None
        raise self.fail(f"{noun} not found: {file}", where)

    def flat_prefix(self, path: Loc) -> Loc:
        """Where a flat component's parameters sit in the file: beside ``name``, or under ``params``."""
        node: Any = self.raw
        for part in path:
            if isinstance(node, dict) and part not in node:  # a default the suite does not write (as_is)
                return path
            node = node[part]
        return path + ("params",) if isinstance(node, dict) and "params" in node else path

    def dataset(self, spec: DatasetSpec) -> DatasetSpec:
        from harness.data.base import DATASETS, dataset_params

        fn = self.lookup(DATASETS.get, spec.name, ("dataset", "name"))
        model = dataset_params(fn)
        params = self.params(model, spec.params, self.flat_prefix(("dataset",)), what="data file")
        return spec.model_copy(update={"params": params})

    def arch_params(self, arch: str, params: dict[str, Any], path: Loc) -> dict[str, Any]:
        from harness.models import ARCHITECTURES
        from harness.models.base import arch_params

        fn = self.lookup(ARCHITECTURES.get, arch, path + ("arch",))
        return self.params(arch_params(fn), params, path + ("params",))

    def method(self, spec: MethodSpec, path: Loc) -> MethodSpec:
        from harness.methods import get_method

        found = self.lookup(get_method, spec.name, path + ("name",))
        return spec.model_copy(update={"params": self.params(found.params, spec.params, self.flat_prefix(path))})

    def checkpoint(self, file: str, arch: str | None, path: Loc) -> str:
        """The checkpoint's absolute path, once it is known to fit: weights with an ``arch``, a program without."""
        from harness.models.checkpoint import load_state_dict_file
        from harness.models.programs import PROGRAMS, checkpoint_format

        resolved = self.existing(file, path + ("checkpoint",), "checkpoint file")
        if not resolved.is_file():
            raise self.fail(f"is a directory, not a checkpoint file: {resolved}", path + ("checkpoint",))
        try:
            kind = checkpoint_format(resolved)
            if kind in PROGRAMS and arch is not None:
                raise HarnessError(f"{resolved}: holds a program ({kind}), which is the model itself: leave out 'arch'")
            if kind not in PROGRAMS and arch is None:
                raise HarnessError(f"{resolved}: holds weights ({kind}): name the architecture they fit ('arch')")
            if kind not in PROGRAMS:
                load_state_dict_file(resolved)
        except HarnessError as exc:
            raise self.fail(str(exc), path + ("checkpoint",)) from None
        return str(resolved)

    def teacher(self, spec: TeacherSpec) -> TeacherSpec:
        from harness.methods import get_method

        update: dict[str, Any] = {}
        if spec.arch is not None:
            update["params"] = self.arch_params(spec.arch, spec.params, ("teacher",))
        elif spec.params:
            raise self.fail("'params' are an architecture's: a program checkpoint takes none", ("teacher", "params"))
        if spec.train is not None:
            update["train"] = self.params(get_method("train").params, spec.train, ("teacher", "train"))
        if spec.checkpoint is not None:
            update["checkpoint"] = self.checkpoint(spec.checkpoint, spec.arch, ("teacher",))
        return spec.model_copy(update=update)

    def student(self, spec: StudentSpec, index: int, teacher: TeacherSpec) -> StudentSpec:
        path: Loc = ("students", index)
        single = not isinstance(self.raw["students"][index].get("method"), list)
        steps = [self.method(step, path + (("method",) if single else ("method", j)))
                 for j, step in enumerate(spec.method)]
        update: dict[str, Any] = {"method": steps}
        if spec.checkpoint is not None:
            update["checkpoint"] = self.checkpoint(spec.checkpoint, spec.arch, path)
        if spec.init == "teacher":
            return spec.model_copy(update={"arch": teacher.arch, "params": teacher.params, **update})
        if spec.arch is not None:
            update["params"] = self.arch_params(spec.arch, spec.params, path)
        return spec.model_copy(update=update)


    def gates(self, gates: dict[str, GateSpec], path: Loc, batch_sizes: list[int]) -> None:
        """Each gate names a declared metric, and batch sizes only for a per-batch metric, among those measured."""
        from harness.metrics import METRICS

        for name, gate in gates.items():
            if name not in METRICS:
                raise self.fail(f"unknown metric (allowed: {', '.join(METRICS.names())}"
                                f"{did_you_mean(name, METRICS.names())})", path + (name,))
            if gate.batch_sizes is None:
                continue
            if not METRICS.get(name).per_batch_size:
                raise self.fail(f"{name} is one value per model: batch_sizes does not apply",
                                path + (name, "batch_sizes"))
            unmeasured = [b for b in gate.batch_sizes if b not in batch_sizes]
            if unmeasured:
                raise self.fail(f"batch sizes {unmeasured} are not measured (measure.batch_sizes: {batch_sizes})",
                                path + (name, "batch_sizes"))

    def model_gates(self, suite: Suite, own: dict[str, GateSpec], path: Loc) -> dict[str, GateSpec]:
        """A model's effective gates (the suite's merged with its own); each must have a bound."""
        self.gates(own, path, suite.measure.batch_sizes)
        merged = effective_gates(suite.gates, own)
        for name, gate in merged.items():
            if not gate.has_bound:
                where = path + (name,) if name in own else ("gates", name)
                raise self.fail(f"a gate needs a bound: {', '.join(REGRESSION)}, max_improvement or "
                                "max_improvement_pct (or false to switch it off)", where)
        return merged


def load_suite(path: str | Path, overrides: Sequence[str] = ()) -> Suite:
    """Load, validate and resolve a suite file, changed by ``--set`` ``overrides`` (``KEY=VALUE``,
    :mod:`harness.suite.overrides`); raises :class:`~harness.errors.SuiteError`."""
    return load_and_resolve(Path(path), overrides)


def load_and_resolve(path: Path, overrides: Sequence[str] = ()) -> Suite:
    file = str(path)
    changes = [parse_override(text) for text in overrides]
    raw, locations = load_yaml(path)
    if raw is None:
        raise SuiteError("the file is empty; a suite needs name, dataset, teacher and students", file=file, line=1)
    if not isinstance(raw, dict):
        raise SuiteError(f"a suite is a mapping of keys to values, not a {type(raw).__name__}", file=file,
                         line=line_of(locations, ()))
    raw, origins = apply_overrides(raw, changes)
    source = Source(file, locations, origins)
    try:
        suite = Suite.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise _to_suite_error(exc, Suite, (), source, raw) from None
    suite_dir = path.resolve().parent
    resolver = _Resolver(source, raw, suite_dir)
    with extra_sys_path(suite_dir):
        teacher = resolver.teacher(suite.teacher)
        resolved = suite.model_copy(update={
            "dataset": resolver.dataset(suite.dataset),
            "teacher": teacher,
            "students": [resolver.student(s, i, teacher) for i, s in enumerate(suite.students)],
        })
    resolver.gates(suite.gates, ("gates",), suite.measure.batch_sizes)
    resolved = resolved.model_copy(update={
        "teacher": resolved.teacher.model_copy(
            update={"gates": resolver.model_gates(suite, suite.teacher.gates, ("teacher", "gates"))}),
        "students": [s.model_copy(update={"gates": resolver.model_gates(suite, s.gates, ("students", i, "gates"))})
                     for i, s in enumerate(resolved.students)],
    })
    resolved._source = path.resolve()
    resolved._overrides = tuple(overrides)
    return resolved


def import_paths(suite: Suite) -> list[str]:
    """Every ``module:attr`` the suite names: code that running it will import and execute."""
    names = [suite.dataset.name, suite.teacher.arch or ""]
    for student in suite.students:
        names += [student.arch or "", *(step.name for step in student.method)]
    return sorted({n for n in names if ":" in n})
