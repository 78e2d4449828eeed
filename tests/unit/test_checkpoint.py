"""Checkpoint loading and saving: round trips, mismatch messages, files that are not checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models import ARCHITECTURES, load_state_dict_file, load_weights, save_safetensors


def cnn(channels: tuple[int, ...] = (4, 4), seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return ARCHITECTURES.get("cnn1d")((1, 16), 3, channels=channels)


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (key, left), right in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(left, right), key


def one_line_error(model: nn.Module, path: Path) -> str:
    with pytest.raises(HarnessError) as info:
        load_weights(model, path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_safetensors_round_trip(tmp_path: Path) -> None:
    source, target = cnn(seed=0), cnn(seed=1)
    path = save_safetensors(source, tmp_path / "nested" / "model.safetensors", metadata={"arch": "cnn1d"})
    assert path.is_file()
    assert load_weights(target, path) is target
    assert_same_weights(source, target)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_torch_file_round_trip(tmp_path: Path, suffix: str) -> None:
    source, target = cnn(seed=0), cnn(seed=1)
    path = tmp_path / f"model{suffix}"
    torch.save(source.state_dict(), path)
    state = load_state_dict_file(path)
    assert set(state) == set(source.state_dict())
    load_weights(target, path)
    assert_same_weights(source, target)


def test_shape_mismatch_names_key_and_both_shapes(tmp_path: Path) -> None:
    path = save_safetensors(cnn(channels=(4, 4)), tmp_path / "m.safetensors")
    message = one_line_error(cnn(channels=(8, 4)), path)
    assert message == (f"{path}: key '0.weight' has shape (4, 1, 5) in the checkpoint but (8, 1, 5) in the model")


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    small = tmp_path / "small.pt"
    torch.save(cnn(channels=(4,)).state_dict(), small)
    message = one_line_error(cnn(channels=(4, 4)), small)
    assert "lacks key '3.weight'" in message and "more" in message
    large = tmp_path / "large.pt"
    torch.save(cnn(channels=(4, 4)).state_dict(), large)
    message = one_line_error(cnn(channels=(4,)), large)
    assert "has key '3.weight' that the model lacks" in message


@pytest.mark.parametrize("name", ["notes.txt", "notes.pt", "notes.safetensors"])
def test_text_file_is_not_a_checkpoint(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("this is not a checkpoint\n")
    message = one_line_error(cnn(), path)
    assert "not a readable checkpoint" in message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in one_line_error(cnn(), tmp_path / "absent.safetensors")


def test_arbitrary_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(cnn(), path)  # a whole module, not a state_dict: weights_only refuses it
    assert "not a readable checkpoint" in one_line_error(cnn(), path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([torch.zeros(1)], "holds a list, not a state_dict"),
        ({"weight": 3}, "entry 'weight' is a int, not a Tensor"),
        ({"state_dict": {"w": torch.zeros(1)}}, "save model.state_dict() itself"),
    ],
)
def test_content_that_is_not_a_state_dict(tmp_path: Path, content: object, expected: str) -> None:
    path = tmp_path / "odd.pt"
    torch.save(content, path)
    with pytest.raises(HarnessError, match=r"odd\.pt") as info:
        load_state_dict_file(path)
    assert expected in str(info.value)
