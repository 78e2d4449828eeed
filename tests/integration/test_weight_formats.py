"""Your own weights: every format a suite can name, written from a tiny model, loaded and run by the harness.

The format is read from the file's content: a TorchScript file and a state dict both end in ``.pt`` here,
and a safetensors file is named ``.bin``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file
from torch import nn

from harness.data import DATASETS
from harness.errors import SuiteError
from harness.models import ARCHITECTURES
from harness.models.programs import checkpoint_format
from harness.runner import run_suite
from harness.store import load_results
from harness.suite import load_suite

DATA = {"name": "synthetic", "num_samples": 120, "num_features": 6, "seed": 0}
ARCH = {"arch": "mlp", "params": {"hidden": [12]}}


def tiny(seed: int = 0, hidden: int = 12) -> nn.Module:
    torch.manual_seed(seed)
    return ARCHITECTURES.get("mlp")((6,), 3, hidden=[hidden]).eval()


def write_formats(folder: Path, model: nn.Module) -> dict[str, Path]:
    """The model in each format a suite accepts."""
    example = torch.randn(4, 6)
    paths = {"state_dict": folder / "weights.pt", "pth": folder / "weights.pth",
             "safetensors": folder / "weights.bin", "torchscript": folder / "program.pt",
             "export": folder / "program.pt2"}
    torch.save(model.state_dict(), paths["state_dict"])
    torch.save(model.state_dict(), paths["pth"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, paths["safetensors"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(model, example), paths["torchscript"])
    batch = ({0: torch.export.Dim.AUTO},)  # a dynamic batch dimension: the harness runs several batch sizes
    torch.export.save(torch.export.export(model, (example,), dynamic_shapes=batch), paths["export"])
    return paths


def write_suite(folder: Path, teacher: dict, students: list[dict]) -> Path:
    suite = {"name": "formats", "dataset": DATA, "teacher": teacher, "students": students,
             "measure": {"batch_sizes": [1, 4], "threads": 1,
                         "latency": {"warmup_iters": 1, "min_iters": 3, "max_seconds": 0.02}}}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_every_weight_format_loads_and_runs(tmp_path: Path):
    source = tiny()
    paths = write_formats(tmp_path, source)
    assert {kind: checkpoint_format(path) for kind, path in paths.items()} == {
        "state_dict": "state_dict", "pth": "state_dict", "safetensors": "safetensors",
        "torchscript": "torchscript", "export": "export"}
    students = [{"name": "from-state-dict", **ARCH, "checkpoint": "weights.pt"},
                {"name": "from-pth", **ARCH, "checkpoint": "weights.pth"},
                {"name": "from-safetensors", **ARCH, "checkpoint": "weights.bin"},
                {"name": "from-torchscript", "checkpoint": "program.pt", "backends": ["eager", "torchscript"]},
                {"name": "kd-from-state-dict", **ARCH, "checkpoint": "weights.pt",
                 "method": {"name": "kd", "epochs": 1}}]
    suite = load_suite(write_suite(tmp_path, {"checkpoint": "program.pt2"}, students))
    writer = run_suite(suite, tmp_path / "results", cache=None, log=lambda _: None)
    assert writer.manifest.status == "complete", writer.manifest
    df = load_results(writer.run_dir)
    accuracy = df[df["metric"] == "accuracy"].set_index("model")["value"]
    data = DATASETS.get("synthetic")(seed=0, num_samples=120, num_features=6)
    expected = float((source(data.x_test).argmax(1) == data.y_test).double().mean())
    loaded_as_is = ["teacher", "from-state-dict", "from-pth", "from-safetensors", "from-torchscript"]
    assert accuracy[loaded_as_is].tolist() == pytest.approx([expected] * 5, abs=1e-12)
    agreement = df[df["metric"] == "teacher_agreement"].set_index("model")["value"]
    assert agreement[loaded_as_is].tolist() == [1.0] * 5
    latency = df[(df["metric"] == "latency_p50_ms")]
    assert (latency["status"] == "ok").all() and (latency["value"] > 0).all()
    scripted = latency[latency["model"] == "from-torchscript"]
    assert sorted(scripted["backend"].unique()) == ["eager", "torchscript"]
    assert df.loc[df["model"] == "kd-from-state-dict", "method"].iloc[0] == "kd"


def _error(tmp_path: Path, teacher: dict) -> str:
    path = write_suite(tmp_path, teacher, [{"name": "s", **ARCH, "method": {"name": "scratch", "epochs": 1}}])
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:")
    return message


def test_weights_that_do_not_fit_are_one_line_errors_in_the_rows(tmp_path: Path):
    """The architecture is built with the data (its input shape), so a mismatch shows when the model is built:
    that model's rows carry one line naming the first mismatching key and both shapes; the run goes on."""
    paths = write_formats(tmp_path, tiny(hidden=12))
    students = [{"name": "wider", "arch": "mlp", "params": {"hidden": [16]}, "checkpoint": "weights.bin"},
                {"name": "deeper", "arch": "mlp", "params": {"hidden": [12, 12]}, "checkpoint": "weights.pt"},
                {"name": "shallower", "arch": "mlp", "params": {"hidden": []}, "checkpoint": "weights.pt"}]
    suite = load_suite(write_suite(tmp_path, {"checkpoint": "program.pt"}, students))
    writer = run_suite(suite, tmp_path / "results", cache=None, log=lambda _: None)
    df = load_results(writer.run_dir)
    errors = df[df["metric"] == "params"].set_index("model")["error"]
    assert errors["teacher"] == ""
    assert errors["wider"] == (f"build failed: HarnessError: {paths['safetensors']}: key '1.weight' has shape (12, 6) "
                               f"in the checkpoint but (16, 6) in the model")
    assert errors["deeper"] == (f"build failed: HarnessError: {paths['state_dict']}: checkpoint lacks key "
                                f"'5.weight' of the model (and 1 more)")
    assert errors["shallower"] == (f"build failed: HarnessError: {paths['state_dict']}: checkpoint has key "
                                   f"'3.weight' that the model lacks (and 1 more)")


def test_a_program_with_an_arch_or_weights_without_one_is_refused_at_validation(tmp_path: Path):
    write_formats(tmp_path, tiny())
    assert "holds a program (torchscript), which is the model itself: leave out 'arch'" in _error(
        tmp_path, {**ARCH, "checkpoint": "program.pt"})
    assert "holds a program (export)" in _error(tmp_path, {**ARCH, "checkpoint": "program.pt2"})
    assert "holds weights (state_dict): name the architecture they fit ('arch')" in _error(
        tmp_path, {"checkpoint": "weights.pt"})
    (tmp_path / "notes.pt").write_text("not a model")
    assert "not a readable checkpoint" in _error(tmp_path, {**ARCH, "checkpoint": "notes.pt"})
