"""Parameter counts, serialized size and FLOPs, pinned on tiny models."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from harness.measure.size import count_nonzero_params, count_params, flops_per_sample, serialized_size_bytes


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def test_count_params_is_pinned():
    assert count_params(nn.Linear(8, 16)) == 8 * 16 + 16 == 144
    assert count_params(mlp()) == 144 + 16 * 4 + 4 == 212


def test_shared_parameters_count_once():
    first, second = nn.Linear(8, 8), nn.Linear(8, 8)
    second.weight = first.weight
    assert count_params(nn.Sequential(first, second)) == 64 + 8 + 8


def test_count_nonzero_params_sees_exact_zeros():
    model = mlp()
    with torch.no_grad():
        model[0].weight[:2].zero_()  # 2 rows of 8
        model[2].bias.zero_()  # 4
    assert count_params(model) == 212
    assert count_nonzero_params(model) == 212 - 16 - 4 == 192


def test_pruned_parameters_count_after_the_mask():
    layer = nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.arange(1.0, 17.0).view(4, 4))
        layer.bias.fill_(1.0)
    prune.l1_unstructured(layer, "weight", amount=0.5)  # masks the 8 smallest |w|
    assert count_params(layer) == 20  # weight_orig (16) stands for weight; the mask is a buffer
    assert count_nonzero_params(layer) == 8 + 4


def _quantized_mlp() -> nn.Module:
    dynamic = getattr(getattr(torch, "ao", None), "quantization", None)
    if dynamic is None or not hasattr(dynamic, "quantize_dynamic"):
        pytest.skip("torch.ao.quantization.quantize_dynamic is not available")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dynamic.quantize_dynamic(mlp(), {nn.Linear}, dtype=torch.qint8)


def test_quantized_weights_are_counted_not_a_silent_zero():
    model = _quantized_mlp()
    assert list(model.parameters()) == []
    assert count_params(model) == 212
    assert 0 < count_nonzero_params(model) <= 212


def test_flops_on_a_quantized_model_are_refused_not_zero():
    with pytest.raises(ValueError, match="quantized"):
        flops_per_sample(_quantized_mlp(), torch.zeros(1, 8))


def test_serialized_size_is_the_torch_save_length():
    model = mlp()
    raw = 212 * 4
    size = serialized_size_bytes(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert size == len(buffer.getvalue()) == serialized_size_bytes(model)
    # tensors are stored uncompressed in the zip; the rest is pickle, zip headers and 64-byte alignment
    assert raw < size < raw + 4096


def test_serialized_size_tracks_tensor_bytes():
    small, large = nn.Linear(100, 10), nn.Linear(100, 1000)  # 1_010 vs 101_000 floats, same two keys
    grown = serialized_size_bytes(large) - serialized_size_bytes(small)
    assert abs(grown - (101_000 - 1_010) * 4) < 256  # the same overhead, up to zip alignment padding


def test_flops_of_a_linear_on_one_sample_is_pinned():
    assert flops_per_sample(nn.Linear(8, 16), torch.zeros(1, 8)) == 2 * 8 * 16 == 256


def test_flops_of_the_mlp_and_a_conv_are_pinned():
    assert flops_per_sample(mlp(), torch.zeros(1, 8)) == 2 * 8 * 16 + 2 * 16 * 4 == 384
    conv = nn.Conv2d(3, 8, kernel_size=3)  # 6x6 outputs x 8 channels x (3*3*3) MACs x 2
    assert flops_per_sample(conv, torch.zeros(1, 3, 8, 8)) == 2 * 6 * 6 * 8 * 27 == 15552


def test_flops_need_a_batch_of_one():
    with pytest.raises(ValueError, match="one sample"):
        flops_per_sample(nn.Linear(8, 16), torch.zeros(2, 8))
