"""Tensor memory of one forward, pinned on models whose live set is computable by hand."""

from __future__ import annotations

import torch
from torch import nn

from harness.measure.memory import MemoryBreakdown, inference_memory, process_peak_rss_bytes

F32 = 4  # bytes per float32


def mlp(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=inplace), nn.Linear(16, 4))


def test_mlp_at_batch_2_is_pinned():
    # weights: Linear(8,16) 8*16 + 16 = 144 floats, Linear(16,4) 16*4 + 4 = 68 floats -> 212 * 4 = 848 bytes
    # input:   2 x 8 floats = 64 bytes
    # forward, live storages after each op (Sequential holds one `input` while the next module runs):
    #   linear1 -> h1 (2x16) = 128            live 128
    #   relu    -> r  (2x16) = 128, h1 alive  live 256  <- peak
    #   h1 dropped                            live 128
    #   linear2 -> y  (2x4)  =  32, r alive   live 160
    #   r dropped                             live  32 (the output)
    memory = inference_memory(mlp(), torch.randn(2, 8))
    assert memory == MemoryBreakdown(weights_bytes=848, input_bytes=64, activations_peak_bytes=256)
    assert memory.total_bytes == 848 + 64 + 256 == 1168


def test_activations_grow_linearly_with_batch_size():
    model = mlp()
    peaks = [inference_memory(model, torch.randn(b, 8)).activations_peak_bytes for b in (1, 2, 4, 8)]
    assert peaks == [b * 16 * F32 * 2 for b in (1, 2, 4, 8)] == [128, 256, 512, 1024]


def test_inplace_relu_reuses_the_storage():
    # h1 = 128; relu_ writes into h1 (no new storage); linear2 adds 32 while h1 is alive -> peak 160
    assert inference_memory(mlp(inplace=True), torch.randn(2, 8)).activations_peak_bytes == 160


def test_a_view_keeps_its_storage_alive():
    class ViewThenScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 16)

        def forward(self, x):
            v = self.fc(x).view(2, 4, 4)  # the Linear output's only reference is now the view
            return v * 2  # 128 (held by the view) + 128 new = 256

    assert inference_memory(ViewThenScale(), torch.randn(2, 8)).activations_peak_bytes == 256


def test_views_of_preexisting_tensors_are_not_activations():
    class AddsATable(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 16)
            self.table = torch.randn(4, 16)  # a plain attribute: neither parameter nor buffer

        def forward(self, x):
            return self.table[0:2] + self.fc(x)  # the slice aliases the table: fc 128 + sum 128 = 256

    memory = inference_memory(AddsATable(), torch.randn(2, 8))
    assert memory.activations_peak_bytes == 256
    assert memory.weights_bytes == (8 * 16 + 16) * F32  # the plain attribute is not a weight


def test_views_of_the_input_are_not_activations():
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 16))
    memory = inference_memory(model, torch.randn(2, 2, 4))
    assert (memory.input_bytes, memory.activations_peak_bytes) == (64, 128)


def test_tied_weights_and_buffers_count_once():
    first, second = nn.Linear(8, 8), nn.Linear(8, 8)
    second.weight = first.weight
    bn = nn.BatchNorm1d(8)  # weight, bias, running_mean, running_var (float32) + num_batches_tracked (int64)
    model = nn.Sequential(first, second, bn).eval()
    expected = (64 + 8 + 8) * F32 + (4 * 8 * F32 + 8)
    assert inference_memory(model, torch.randn(2, 8)).weights_bytes == expected == 456


def test_measurement_is_deterministic_and_leaves_grad_mode_alone():
    model = mlp()
    example = torch.randn(3, 8)
    first = inference_memory(model, example)
    assert all(inference_memory(model, example) == first for _ in range(3))
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


def test_float64_doubles_every_number():
    memory = inference_memory(mlp().double(), torch.randn(2, 8, dtype=torch.float64))
    assert memory == MemoryBreakdown(weights_bytes=1696, input_bytes=128, activations_peak_bytes=512)


def test_process_peak_rss_is_plausible():
    rss = process_peak_rss_bytes()
    assert rss is not None and 10 * 2**20 < rss < 64 * 2**30  # torch alone is tens of MiB
