"""prune, channel_prune, quantize and precision: exact counts on hand-sized models, stated tolerances,
and each method end to end through a BuildContext."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from harness.data import DATASETS
from harness.errors import HarnessError
from harness.measure.size import (
    count_nonzero_params,
    count_params,
    model_dtype,
    serialized_size_bytes,
    sparse_size_bytes,
)
from harness.methods import BuildContext, get_method
from harness.methods.channel_prune import shrink_sequential
from harness.methods.precision import half_precision
from harness.methods.prune import magnitude_prune, make_permanent
from harness.methods.quantize import dynamic_int8, static_int8
from harness.models import ARCHITECTURES
from harness.train import TrainParams, fit


@pytest.fixture(scope="module")
def data():
    return DATASETS.get("synthetic")(seed=0, num_samples=120)  # 8 features, 3 classes, 90 train / 30 test


@pytest.fixture(scope="module")
def trained(data):
    """Briefly trained mlps (2 epochs), trained once: the student to compress (16, 16) and a teacher (32,)."""

    def train(hidden: tuple[int, ...], seed: int) -> nn.Module:
        torch.manual_seed(seed)
        model = ARCHITECTURES.get("mlp")(data.input_shape, data.num_classes, hidden=hidden)
        return fit(model, data.x_train, data.y_train, TrainParams(epochs=2, lr=1e-2), seed)

    return {"student": train((16, 16), 0), "teacher": train((32,), 1)}


@pytest.fixture
def student(trained):
    return copy.deepcopy(trained["student"])


@pytest.fixture
def teacher(trained):
    return trained["teacher"]


def build(name: str, model: nn.Module, data, teacher: nn.Module | None = None, **params) -> tuple[nn.Module,
                                                                                                   BuildContext]:
    found = get_method(name)
    ctx = BuildContext(model, data, 0, name, teacher if found.uses_teacher else None)
    return found.build(ctx, found.params.model_validate(params)), ctx


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d))]


def zeros(tensor: torch.Tensor) -> int:
    return int((tensor == 0).sum())


# -- prune ---------------------------------------------------------------------------------------------------------

def small_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 9), nn.ReLU(), nn.Linear(9, 3))  # 72 + 27 = 99 prunable weights


# Python's round, as torch.nn.utils.prune uses it: round(0.5 * 99) = round(49.5) = 50 (to even),
# round(0.9 * 99) = round(89.1) = 89; per layer round(0.5 * 27) = round(13.5) = 14, round(0.9 * 72) = 65.
@pytest.mark.parametrize(("sparsity", "scope", "total", "per_layer"), [
    (0.5, "global", 50, None),
    (0.9, "global", 89, None),
    (0.5, "layer", 50, [36, 14]),
    (0.9, "layer", 89, [65, 24]),
])
def test_prune_hits_the_exact_target_sparsity(data, sparsity, scope, total, per_layer):
    original = small_mlp()
    pruned, _ = build("prune", small_mlp(), data, sparsity=sparsity, scope=scope)
    counts = [zeros(w) for w in weights(pruned)]
    assert sum(counts) == total == round(sparsity * 99)
    if per_layer:
        assert counts == per_layer
    assert all(zeros(m.bias) == 0 for m in (pruned[0], pruned[2]))  # biases are not pruned
    assert not any(key.endswith(("_orig", "_mask")) for key in pruned.state_dict())  # masks made permanent
    assert count_nonzero_params(pruned) == count_params(original) - total


def test_global_pruning_removes_the_smallest_magnitudes_first(data):
    original = torch.cat([w.flatten() for w in weights(small_mlp())])
    pruned, _ = build("prune", small_mlp(), data, sparsity=0.6)
    kept = torch.cat([w.flatten() for w in weights(pruned)]) != 0
    assert original[~kept].abs().max() <= original[kept].abs().min()
    assert torch.equal(torch.cat([w.flatten() for w in weights(pruned)])[kept], original[kept])


def test_fine_tuning_keeps_pruned_weights_at_zero(data, student, teacher):
    model = copy.deepcopy(student)
    magnitude_prune(model, 0.7, "global", "all")
    masks = [m.weight_mask.clone() for m in model.modules() if hasattr(m, "weight_mask")]
    before = [w.clone() for w in weights(make_permanent(model))]
    tuned, ctx = build("prune", student, data, teacher, sparsity=0.7, epochs=3, lr=1e-2, distill=True)
    assert ctx.outputs.users == {"prune"}  # the KD loss read the teacher's logits
    for mask, w, old in zip(masks, weights(tuned), before, strict=True):
        assert torch.equal(w == 0, mask == 0)  # same positions, and exactly zero
        assert not torch.equal(w, old)  # and the kept weights did train
    assert sum(zeros(w) for w in weights(tuned)) == round(0.7 * (8 * 16 + 16 * 16 + 16 * 3))


def test_prune_selects_layers_by_kind(data):
    cnn = ARCHITECTURES.get("cnn1d")((1, 12), 3, channels=(4,))
    conv_before = cnn[0].weight.detach().clone()
    magnitude_prune(cnn, 0.5, "global", "linear")
    make_permanent(cnn)
    assert torch.equal(cnn[0].weight, conv_before)
    assert zeros(cnn[-1].weight) == round(0.5 * cnn[-1].weight.numel())
    with pytest.raises(HarnessError, match="no layer to prune"):
        build("prune", small_mlp(), data, sparsity=0.5, layers="conv")


def test_prune_without_distill_never_reads_the_teacher(data, student, teacher):
    _, ctx = build("prune", student, data, teacher, sparsity=0.5, epochs=1)
    assert ctx.outputs.users == set()


# -- channel_prune -------------------------------------------------------------------------------------------------

def test_channel_prune_really_shrinks_an_mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    small = shrink_sequential(model, 0.5)  # 8 -> 8 -> 8 -> 3: the classifier keeps its 3 outputs
    assert [m.weight.shape for m in small if isinstance(m, nn.Linear)] == [(8, 8), (8, 8), (3, 8)]
    assert count_params(small) == 8 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3 == 171
    assert count_params(model) == 8 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3  # the original is untouched
    assert small(torch.randn(5, 8)).shape == (5, 3)


def test_channel_prune_removes_the_lowest_l1_units_and_their_columns():
    """Units with zero weights and bias are dead after ReLU: removing them (and their columns) changes nothing."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    dead = [torch.tensor([0, 3, 4, 7, 9, 10, 13, 15]), torch.tensor([1, 2, 5, 6, 8, 11, 12, 14])]
    with torch.no_grad():
        for layer, units in zip((model[0], model[2]), dead, strict=True):
            layer.weight[units] = 0
            layer.bias[units] = 0
    small = shrink_sequential(model, 0.5)
    assert count_params(small) == 171
    x = torch.randn(20, 8)
    torch.testing.assert_close(small(x), model(x))


@pytest.mark.parametrize("head", ["flatten", "avgpool"])
def test_channel_prune_shrinks_a_cnn1d_through_batchnorm_and_flatten(head):
    """Dead channels (zero kernels, BatchNorm mapping 0 to 0) are the ones removed, so the output is unchanged;
    with a flattened head the Linear's columns go in groups of the spatial size (10 after two stride-2 convs)."""
    torch.manual_seed(0)
    model = ARCHITECTURES.get("cnn1d")((1, 40), 10, channels=(8, 8), head=head).eval()
    with torch.no_grad():
        for conv, norm in ((model[0], model[1]), (model[3], model[4])):
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
            conv.weight[[1, 2, 5, 6]] = 0
            norm.running_mean[[1, 2, 5, 6]] = 0
            norm.bias[[1, 2, 5, 6]] = 0
    small = shrink_sequential(model, 0.5)
    spatial = 10 if head == "flatten" else 1
    # conv 1->4 (k5, no bias) + bn 4; conv 4->4 + bn 4; linear 4*spatial -> 10
    assert count_params(small) == 4 * 5 + 2 * 4 + 4 * 4 * 5 + 2 * 4 + 4 * spatial * 10 + 10
    assert [m.num_features for m in small if isinstance(m, nn.BatchNorm1d)] == [4, 4]
    x = torch.randn(6, 1, 40)
    torch.testing.assert_close(small(x), model(x))


def test_channel_prune_end_to_end_on_a_cnn1d_with_fine_tuning():
    from harness.data.split import to_dataset

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 20, generator=generator), torch.arange(64) % 3
    data = to_dataset("tiny", x[:48].numpy(), y[:48].numpy(), x[48:].numpy(), y[48:].numpy(), num_classes=3)
    torch.manual_seed(0)
    cnn = ARCHITECTURES.get("cnn1d")((1, 20), 3, channels=(6, 6))
    small, _ = build("channel_prune", cnn, data, ratio=0.5, epochs=2)
    assert [m.out_channels for m in small if isinstance(m, nn.Conv1d)] == [3, 3]
    assert count_params(small) < count_params(cnn) / 2
    assert small(data.x_test).shape == (16, 3)
    assert not small.training


def test_channel_prune_rejects_what_it_cannot_shrink():
    with pytest.raises(HarnessError, match="layer 3 is a BasicBlock; supported: an nn.Sequential of Linear"):
        shrink_sequential(ARCHITECTURES.get("resnet")((1, 8, 8), 10), 0.5)
    with pytest.raises(HarnessError, match="the model is a Linear"):
        shrink_sequential(nn.Linear(4, 4), 0.5)


# -- quantize ------------------------------------------------------------------------------------------------------

def big_linear() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(256, 256)).eval(), torch.randn(512, 256)


def calibration(x: torch.Tensor):
    return lambda: iter(x.split(64))


# Tolerance: 5% of the largest |output|. Per-channel int8 weights are off by at most half a step
# (max|w_row| / 254) and activations by half a step of their observed range / 255 (/127 on x86, which
# reduces the range by one bit); over 256 inputs with random signs the errors add like sqrt(256), which
# gives 1.7% (dynamic) and 2.7% (static) of max|output| here. 5% leaves room for another engine.
@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantized_linear_stays_within_tolerance_of_the_float_one(mode):
    model, x = big_linear()
    quantized = dynamic_int8(model) if mode == "dynamic" else static_int8(model, calibration(x))
    reference = model(x)
    with torch.inference_mode():
        error = (quantized(x) - reference).abs().max()
    assert error < 0.05 * reference.abs().max()
    assert error > 0  # it did quantize


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantized_size_reflects_int8_storage(mode):
    model, x = big_linear()
    quantized = dynamic_int8(model) if mode == "dynamic" else static_int8(model, calibration(x))
    ratio = serialized_size_bytes(quantized) / serialized_size_bytes(model)
    assert 0.25 < ratio < 0.35  # 1 byte per weight instead of 4, plus per-channel scales (0.28 here)
    assert count_params(quantized) == count_params(model)
    assert model_dtype(quantized) == torch.float32  # it takes float32 inputs


# torch's unpickling of quantized tensors goes through the deprecated TypedStorage and says so
UNPICKLE_QUANTIZED = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")


@UNPICKLE_QUANTIZED
@pytest.mark.parametrize("mode", ["dynamic", "static"])
@pytest.mark.parametrize("arch", ["mlp", "cnn1d"])
def test_quantized_models_survive_pickle(mode, arch):
    torch.manual_seed(0)
    shape = (8,) if arch == "mlp" else (1, 16)
    model = ARCHITECTURES.get(arch)(shape, 3, **({"channels": (4, 4)} if arch == "cnn1d" else {})).eval()
    x = torch.randn(64, *shape)
    quantized = dynamic_int8(model) if mode == "dynamic" else static_int8(model, calibration(x))
    with torch.inference_mode():
        expected = quantized(x)
    restored = pickle.loads(pickle.dumps(quantized))
    with torch.inference_mode():
        torch.testing.assert_close(restored(x), expected)


def test_static_quantization_rejects_unsupported_layers():
    with pytest.raises(HarnessError, match=r"static int8 is not supported for layer 3 \(BasicBlock\)"):
        static_int8(ARCHITECTURES.get("resnet")((1, 8, 8), 10), calibration(torch.randn(8, 1, 8, 8)))
    with pytest.raises(HarnessError, match=r"static int8 is not supported for layer 1 \(GELU\)"):
        static_int8(nn.Sequential(nn.Linear(4, 4), nn.GELU()), calibration(torch.randn(8, 4)))
    with pytest.raises(HarnessError, match="dynamic int8 quantizes Linear layers"):
        dynamic_int8(nn.Sequential(nn.Conv1d(1, 2, 3)))


# -- precision -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float16, 1e-2), (torch.bfloat16, 5e-2)])
def test_half_precision_runs_on_cpu_and_stays_close(data, student, dtype, tolerance):
    """float16 keeps 11 significant bits (relative step 2^-11), bfloat16 8 (2^-8); a few layers add a few steps."""
    model = student
    name = str(dtype).removeprefix("torch.")
    half, _ = build("precision", model, data, dtype=name)
    assert model_dtype(half) == dtype and model_dtype(model) == torch.float32  # a cast copy
    reference = model(data.x_test)
    with torch.inference_mode():
        out = half(data.x_test.to(dtype)).float()
    assert (out - reference).abs().max() < tolerance * reference.abs().max()
    big, x = big_linear()
    ratio = serialized_size_bytes(half_precision(big, name, x[:2])) / serialized_size_bytes(big)
    assert 0.5 < ratio < 0.52  # 2 bytes per weight instead of 4


class PrototypeClassifier(nn.Module):
    """Logits are minus the distance to one learned prototype per class: torch.cdist has no half kernel on CPU."""

    def __init__(self):
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(3, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(x, self.prototypes)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_precision_names_the_dtype_and_the_op_it_lacks(dtype):
    name = "Half" if dtype == "float16" else "BFloat16"
    with pytest.raises(HarnessError, match=f"^{dtype} is not supported on CPU for this model: .*cdist.*{name}"):
        half_precision(PrototypeClassifier(), dtype, torch.randn(4, 8))


def test_precision_refuses_logits_that_overflow():
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.fill_(1e5)
    with pytest.raises(HarnessError, match="float16: the model's logits overflow"):
        half_precision(model, "float16", torch.ones(1, 2))


# -- size: model_dtype and sparse_size_bytes -----------------------------------------------------------------------

def test_model_dtype():
    assert model_dtype(nn.Linear(2, 2)) == torch.float32
    assert model_dtype(nn.Linear(2, 2).to(torch.float16)) == torch.float16
    assert model_dtype(nn.Sequential(nn.BatchNorm1d(2)).to(torch.bfloat16)) == torch.bfloat16
    assert model_dtype(nn.ReLU()) == torch.float32  # nothing to go by
    assert model_dtype(dynamic_int8(nn.Sequential(nn.Linear(2, 2)))) == torch.float32  # packed int8 weights


def test_sparse_size_counts_a_pruned_tensor_as_stored_sparse():
    torch.manual_seed(0)
    sparse, dense = nn.Linear(256, 256), nn.Linear(256, 256)
    magnitude_prune(sparse, 0.9, "global", "all")
    masked = sparse_size_bytes(sparse)  # masks still in place: weight_orig * weight_mask is what is stored
    make_permanent(sparse)
    assert sparse_size_bytes(sparse) == masked
    # CSR with int32 indices: 8 bytes per nonzero against 4 per weight dense, so 10% nonzero is about 0.2
    assert sparse_size_bytes(sparse) < 0.25 * serialized_size_bytes(sparse)
    assert sparse_size_bytes(dense) == pytest.approx(serialized_size_bytes(dense), rel=0.01)


# -- every method end to end ---------------------------------------------------------------------------------------

@UNPICKLE_QUANTIZED
@pytest.mark.parametrize(("name", "params"), [
    ("prune", {"sparsity": 0.8}),
    ("prune", {"sparsity": 0.5, "scope": "layer", "epochs": 1, "distill": True}),
    ("channel_prune", {"ratio": 0.5, "epochs": 1}),
    ("channel_prune", {"ratio": 0.25, "epochs": 1, "distill": True}),
    ("quantize", {"mode": "dynamic"}),
    ("quantize", {"mode": "static", "calibration_batches": 1}),
    ("precision", {"dtype": "float16"}),
    ("precision", {"dtype": "bfloat16"}),
])
def test_each_method_builds_a_student_that_runs(data, student, teacher, name, params):
    built, _ = build(name, student, data, teacher, **params)
    restored = pickle.loads(pickle.dumps(built))
    with torch.inference_mode():
        logits = restored(data.x_test.to(model_dtype(restored)))
    assert logits.shape == (len(data.y_test), data.num_classes)
    assert torch.isfinite(logits.float()).all()
    assert not built.training


def test_parameters_are_validated():
    for name, params in [("prune", {"sparsity": 1.0}), ("prune", {"sparsity": 0.5, "scope": "all"}),
                         ("channel_prune", {"ratio": 0}), ("quantize", {"mode": "int4"}),
                         ("precision", {"dtype": "float8"}), ("prune", {"sparsity": 0.5, "epochs": -1})]:
        with pytest.raises(ValueError):
            get_method(name).params.model_validate(params)
    assert get_method("prune").params.model_validate({"sparsity": 0.5}).epochs == 0  # no fine-tuning by default
