"""Built-in architectures: registry names, logits shapes, rank errors, parameter validation."""

from __future__ import annotations

import inspect

import pydantic
import pytest
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models import ARCHITECTURES, INJECTED
from harness.registry import params_model

# Input shapes of the built-in datasets: synthetic, mnist1d, digits, mnist.
SYNTHETIC, MNIST1D, DIGITS, MNIST = (8,), (1, 40), (1, 8, 8), (1, 28, 28)


def build(name: str, input_shape: tuple[int, ...], num_classes: int = 10, **params: object) -> nn.Module:
    torch.manual_seed(0)
    return ARCHITECTURES.get(name)(input_shape, num_classes, **params)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_has_every_builtin_architecture() -> None:
    assert {"mlp", "cnn1d", "cnn2d", "resnet"} <= set(ARCHITECTURES.names())


@pytest.mark.parametrize(
    ("name", "input_shape", "params"),
    [
        ("mlp", SYNTHETIC, {}),
        ("mlp", MNIST1D, {"hidden": (64, 32), "dropout": 0.1}),
        ("mlp", DIGITS, {"hidden": ()}),
        ("mlp", MNIST, {}),
        ("cnn1d", MNIST1D, {}),
        ("cnn1d", MNIST1D, {"channels": (8,), "head": "avgpool", "batch_norm": False, "dropout": 0.2}),
        ("cnn1d", (3, 7), {"kernel_size": 4, "stride": 1}),
        ("cnn2d", DIGITS, {}),
        ("cnn2d", MNIST, {"channels": (8, 8, 8), "head": "avgpool"}),
        ("resnet", DIGITS, {}),
        ("resnet", MNIST, {"width": 8, "blocks": (2, 1)}),
    ],
)
def test_builds_and_gives_logits(name: str, input_shape: tuple[int, ...], params: dict[str, object]) -> None:
    model = build(name, input_shape, num_classes=7, **params)
    x = torch.randn(5, *input_shape)
    model.train()
    assert model(x).shape == (5, 7)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (5, 7) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("name", "input_shape", "expected"),
    [
        ("mlp", DIGITS, 64 * 128 + 128 + 128 * 10 + 10),
        ("cnn1d", MNIST1D, 12202),
        ("cnn2d", DIGITS, 288 + 64 + 18432 + 128 + 256 * 10 + 10),
        ("resnet", DIGITS, 77754),
    ],
)
def test_default_parameter_counts(name: str, input_shape: tuple[int, ...], expected: int) -> None:
    assert num_params(build(name, input_shape)) == expected


def test_same_seed_same_initial_weights() -> None:
    a, b = build("cnn1d", MNIST1D), build("cnn1d", MNIST1D)
    for (key, left), right in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(left, right), key


@pytest.mark.parametrize(
    ("name", "input_shape", "message"),
    [
        ("cnn1d", DIGITS, "cnn1d expects input of shape (channels, length); got (1, 8, 8)"),
        ("cnn1d", SYNTHETIC, "cnn1d expects input of shape (channels, length); got (8,)"),
        ("cnn2d", MNIST1D, "cnn2d expects input of shape (channels, height, width); got (1, 40)"),
        ("resnet", SYNTHETIC, "resnet expects input of shape (channels, height, width); got (8,)"),
        ("mlp", (), "mlp expects an input of at least one dimension; got ()"),
    ],
)
def test_wrong_input_rank_is_a_one_line_harness_error(name: str, input_shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(HarnessError) as info:
        build(name, input_shape)
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["mlp", "cnn1d", "cnn2d", "resnet"])
def test_params_model_skips_injected_and_rejects_unknown_keys(name: str) -> None:
    architecture = ARCHITECTURES.get(name)
    model = params_model(architecture, skip=INJECTED)
    assert not set(INJECTED) & set(model.model_fields)
    # with no params given, each field takes the architecture's own default, exactly
    defaults = {p.name: p.default for p in inspect.signature(architecture).parameters.values()
                if p.name not in INJECTED and p.default is not p.empty}
    assert model().model_dump() == defaults and defaults
    with pytest.raises(pydantic.ValidationError, match="extra"):
        model(no_such_param=1)


def test_params_model_accepts_yaml_lists_and_returns_tuples() -> None:
    params = params_model(ARCHITECTURES.get("cnn1d"), skip=INJECTED)(channels=[8, 16], head="avgpool")
    assert params.model_dump()["channels"] == (8, 16)
    model = build("cnn1d", MNIST1D, **params.model_dump())
    assert model(torch.zeros(2, *MNIST1D)).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("mlp", {"hidden": [0]}),
        ("mlp", {"dropout": 1.0}),
        ("cnn1d", {"channels": []}),
        ("cnn1d", {"head": "maxpool"}),
        ("cnn2d", {"kernel_size": 0}),
        ("resnet", {"blocks": [1, -1]}),
        ("resnet", {"width": "wide"}),
    ],
)
def test_invalid_params_are_rejected(name: str, params: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        params_model(ARCHITECTURES.get(name), skip=INJECTED)(**params)
