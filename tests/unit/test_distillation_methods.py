"""fitnets, attention, adversarial and multi_teacher: their mathematics on fixed tensors, and each built end to end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pydantic
import pytest
import torch
import yaml
from torch import nn

from harness.data import DATASETS
from harness.data.base import Dataset
from harness.errors import HarnessError, SuiteError
from harness.methods import BuildContext, get_method
from harness.methods.adversarial import adversarial_losses
from harness.methods.attention import attention_map, attention_term
from harness.methods.base import TeacherOutputs
from harness.methods.fitnets import ChannelRegressor, hint_loss, make_regressor
from harness.methods.multi_teacher import MultiTeacherParams, combine_logits
from harness.models import ARCHITECTURES
from harness.suite import load_and_resolve
from harness.train import TrainParams, fit

FIXTURES = Path(__file__).parent.parent / "fixtures"


# --- attention transfer ---------------------------------------------------------------------------------------

def test_attention_map_is_the_normalised_channel_mean_of_powers():
    f = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]])  # (B=1, C=2, L=2)
    # p = 2: mean_c f^2 = [(1 + 9) / 2, (4 + 0) / 2] = [5, 2], norm sqrt(29)
    assert attention_map(f, p=2)[0].tolist() == pytest.approx([5 / math.sqrt(29), 2 / math.sqrt(29)], abs=1e-7)
    # p = 1: mean_c |f| = [2, 1], norm sqrt(5)
    assert attention_map(f, p=1)[0].tolist() == pytest.approx([2 / math.sqrt(5), 1 / math.sqrt(5)], abs=1e-7)
    image = torch.tensor([[[[3.0, 0.0], [0.0, -4.0]]]])  # (1, 1, 2, 2): flattened row by row
    assert attention_map(image, p=1)[0].tolist() == pytest.approx([0.6, 0.0, 0.0, 0.8], abs=1e-7)


def test_attention_map_needs_spatial_dimensions():
    with pytest.raises(HarnessError, match="spatial"):
        attention_map(torch.ones(2, 3))


def test_attention_term_is_half_beta_times_the_mean_squared_map_difference():
    student = attention_map(torch.tensor([[[3.0, 4.0]]]), p=1)  # [0.6, 0.8]
    teacher = attention_map(torch.tensor([[[0.0, 2.0], [0.0, -2.0]]]), p=1)  # [0, 1]
    # difference [0.6, -0.2]: mean square (0.36 + 0.04) / 2 = 0.2; beta / 2 = 500
    assert attention_term([student], [teacher], beta=1000.0).item() == pytest.approx(100.0, abs=1e-4)
    # pairs add up; identical maps cost nothing
    assert attention_term([student, student], [teacher, student], beta=1000.0).item() == pytest.approx(100.0, abs=1e-4)


# --- adversarial ---------------------------------------------------------------------------------------------

def test_adversarial_losses_match_the_gan_formula():
    a = torch.tensor([[0.0], [math.log(3.0)]])  # D(teacher) = sigmoid(a) = [1/2, 3/4]
    b = torch.tensor([[0.0], [-math.log(3.0)]])  # D(student) = [1/2, 1/4]
    d_loss, g_loss = adversarial_losses(a, b)
    # -(mean log D(t) + mean log(1 - D(s))) = -(log(1/2) + log(3/4)) = log(8/3)
    assert d_loss.item() == pytest.approx(math.log(8 / 3), abs=1e-6)
    # non-saturating: -mean log D(s) = (log 2 + log 4) / 2
    assert g_loss.item() == pytest.approx(1.5 * math.log(2), abs=1e-6)
    sa, sb = torch.sigmoid(a), torch.sigmoid(b)
    assert d_loss.item() == pytest.approx(-(sa.log().mean() + (1 - sb).log().mean()).item(), abs=1e-6)


# --- fitnets -------------------------------------------------------------------------------------------------

def test_hint_loss_through_a_flattening_regressor():
    regressor = make_regressor((2,), (2,))
    linear = regressor[1]
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        linear.bias.copy_(torch.tensor([0.0, 1.0]))
    # r([1, 1]) = [1, 3]; against [0, 1]: errors [1, 2], mean square 2.5
    assert hint_loss(regressor, torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 1.0]])).item() == 2.5


def test_hint_loss_through_a_1x1_convolution():
    regressor = make_regressor((2, 3), (1, 3))
    assert isinstance(regressor, ChannelRegressor)
    with torch.no_grad():
        regressor.linear.weight.copy_(torch.tensor([[1.0, -1.0]]))
        regressor.linear.bias.zero_()
    f_s = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]])
    assert hint_loss(regressor, f_s, torch.zeros(1, 1, 3)).item() == pytest.approx(14 / 3, abs=1e-6)
    conv = nn.Conv1d(2, 1, kernel_size=1)
    with torch.no_grad():
        conv.weight.copy_(regressor.linear.weight[:, :, None])
        conv.bias.copy_(regressor.linear.bias)
    x = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(regressor(x), conv(x), atol=1e-6)


@pytest.mark.parametrize(("student", "teacher", "kind"), [
    ((8, 10), (16, 10), ChannelRegressor),  # feature maps, same length: 1x1 conv
    ((8, 10), (16, 5), nn.Sequential),  # lengths differ: flatten + Linear
    ((4,), (16,), nn.Sequential),  # vectors
])
def test_regressor_choice_and_output_shape(student: tuple[int, ...], teacher: tuple[int, ...], kind: type):
    regressor = make_regressor(student, teacher)
    assert isinstance(regressor, kind)
    assert regressor(torch.zeros(3, *student)).shape == (3, *teacher)


# --- multi_teacher -------------------------------------------------------------------------------------------

def test_combined_logits_are_the_weighted_average():
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[5.0, 6.0], [7.0, 8.0]])
    assert combine_logits([a, b], [1.0, 3.0]).tolist() == [[4.0, 5.0], [6.0, 7.0]]
    assert combine_logits([a, b]).tolist() == [[3.0, 4.0], [5.0, 6.0]]
    assert combine_logits([a, b], [2.0, 0.0]).tolist() == a.tolist()
    assert torch.equal(combine_logits([a]), a)


@pytest.mark.parametrize(("params", "match"), [
    ({"teachers": ["teacher", "s"], "weights": [1.0]}, "one per teacher"),
    ({"weights": [0.0]}, "positive sum"),
    ({"teachers": ["teacher", "s"], "weights": [1.0, -1.0]}, "greater than or equal"),
])
def test_multi_teacher_weights_are_validated(params: dict[str, Any], match: str):
    with pytest.raises(pydantic.ValidationError, match=match):
        MultiTeacherParams.model_validate(params)


# --- end to end on tiny models -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vectors() -> Dataset:
    return DATASETS.get("synthetic")(seed=0, num_samples=120)


@pytest.fixture(scope="module")
def sequences(vectors: Dataset) -> Dataset:
    """The same blobs as one-channel sequences of length 8, for the 1-D CNNs."""
    return Dataset("synthetic-seq", vectors.x_train[:, None], vectors.y_train, vectors.x_test[:, None],
                   vectors.y_test, vectors.num_classes)


def _model(arch: str, data: Dataset, seed: int = 0, **params: Any) -> nn.Module:
    torch.manual_seed(seed)
    return ARCHITECTURES.get(arch)(input_shape=data.input_shape, num_classes=data.num_classes, **params)


def _trained(arch: str, data: Dataset, **params: Any) -> nn.Module:
    return fit(_model(arch, data, **params), data.x_train, data.y_train,
               TrainParams(epochs=5, lr=1e-2, batch_size=32), seed=0)


@pytest.fixture(scope="module")
def mlp_teacher(vectors: Dataset) -> nn.Module:
    return _trained("mlp", vectors, hidden=(16,))


@pytest.fixture(scope="module")
def cnn_teacher(sequences: Dataset) -> nn.Module:
    return _trained("cnn1d", sequences, channels=(8, 8))


def _build(name: str, student: nn.Module, teacher: nn.Module, data: Dataset, outputs: TeacherOutputs | None = None,
           models: dict[str, nn.Module] | None = None, **params: Any) -> nn.Module:
    found = get_method(name)
    assert found.uses_teacher
    ctx = BuildContext(student, data, 0, name, teacher, outputs or TeacherOutputs(),
                       models if models is not None else {"teacher": teacher})
    return found.build(ctx, found.params.model_validate({"epochs": 2, "batch_size": 32, **params}))


def _check_trained(model: nn.Module, before: dict[str, torch.Tensor], data: Dataset) -> None:
    assert not model.training
    with torch.no_grad():
        accuracy = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert math.isfinite(accuracy) and 0 <= accuracy <= 1
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("arch", "arch_params", "layers"), [
    ("mlp", {"hidden": (4,)}, ("2", "2")),  # vector features: flatten + Linear regressor
    ("cnn1d", {"channels": (4, 4)}, ("5", "5")),  # maps of equal length: 1x1 convolution
])
def test_fitnets_builds(arch: str, arch_params: dict[str, Any], layers: tuple[str, str], vectors: Dataset,
                        sequences: Dataset, mlp_teacher: nn.Module, cnn_teacher: nn.Module):
    data, teacher = (vectors, mlp_teacher) if arch == "mlp" else (sequences, cnn_teacher)
    student = _model(arch, data, **arch_params)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    outputs = TeacherOutputs()
    built = _build("fitnets", student, teacher, data, outputs, student_layer=layers[0], teacher_layer=layers[1],
                   alpha=0.5)
    _check_trained(built, before, data)
    assert set(outputs.cache) == {f"features:{layers[1]}", "logits"}


def test_attention_builds(sequences: Dataset, cnn_teacher: nn.Module):
    student = _model("cnn1d", sequences, channels=(4, 4))
    before = {k: v.clone() for k, v in student.state_dict().items()}
    outputs = TeacherOutputs()
    built = _build("attention", student, cnn_teacher, sequences, outputs, student_layers=["2", "5"],
                   teacher_layers=["2", "5"])
    _check_trained(built, before, sequences)
    assert set(outputs.cache) == {"features:2", "features:5"}  # alpha = 0: no logits needed


def test_adversarial_builds_deterministically(vectors: Dataset, mlp_teacher: nn.Module):
    outputs = TeacherOutputs()
    first = _build("adversarial", _model("mlp", vectors, hidden=(4,)), mlp_teacher, vectors, outputs)
    _check_trained(first, _model("mlp", vectors, hidden=(4,)).state_dict(), vectors)
    seconds = outputs.seconds
    second = _build("adversarial", _model("mlp", vectors, hidden=(4,)), mlp_teacher, vectors, outputs)
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    assert set(outputs.cache) == {"logits"} and outputs.seconds == seconds  # the teacher's logits computed once


def test_multi_teacher_builds_from_the_teacher_and_an_earlier_student(vectors: Dataset, mlp_teacher: nn.Module):
    earlier = _trained("mlp", vectors, hidden=(8,))
    outputs = TeacherOutputs()
    models = {"teacher": mlp_teacher, "scratch-8": earlier}
    student = _model("mlp", vectors, hidden=(4,))
    before = {k: v.clone() for k, v in student.state_dict().items()}
    built = _build("multi_teacher", student, mlp_teacher, vectors, outputs, models, teachers=["teacher", "scratch-8"],
                   weights=[2.0, 1.0])
    _check_trained(built, before, vectors)
    assert set(outputs.cache) == {"logits", "logits:scratch-8:seed0"}
    with torch.no_grad():
        assert torch.allclose(outputs.cache["logits:scratch-8:seed0"], earlier(vectors.x_train))


def test_multi_teacher_defaults_to_the_suite_teacher(vectors: Dataset, mlp_teacher: nn.Module):
    outputs = TeacherOutputs()
    _build("multi_teacher", _model("mlp", vectors, hidden=(4,)), mlp_teacher, vectors, outputs, models={})
    assert set(outputs.cache) == {"logits"}


def _one_line_error(excinfo: pytest.ExceptionInfo[HarnessError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("fitnets", {"student_layer": "8", "teacher_layer": "2"}, "fitnets student_layer: no module '8'"),
    ("fitnets", {"student_layer": "2", "teacher_layer": "body.1"}, "fitnets teacher_layer: no module 'body.1'"),
    ("attention", {"student_layers": ["2"], "teacher_layers": ["12"]}, "attention teacher_layers: no module '12'"),
    ("attention", {"student_layers": ["2"], "teacher_layers": ["5"]}, "spatial size (4,)"),
    ("attention", {"student_layers": ["6"], "teacher_layers": ["6"]}, "needs feature maps"),  # Flatten's outputs
    ("multi_teacher", {"teachers": ["teacher", "kd-16"]}, "no model 'kd-16' built before this one"),
])
def test_bad_layers_and_names_are_one_line_errors(name: str, params: dict[str, Any], expected: str,
                                                  sequences: Dataset, cnn_teacher: nn.Module):
    with pytest.raises(HarnessError) as excinfo:
        _build(name, _model("cnn1d", sequences, channels=(4, 4)), cnn_teacher, sequences, **params)
    message = _one_line_error(excinfo)
    assert expected in message
    if "no module" in message:  # cnn1d with two stages: conv, bn, relu twice, flatten, linear
        assert "in Sequential (modules: 0, 1, 2, 3, 4, 5, 6, 7)" in message
    if "no model" in message:
        assert "(models: teacher)" in message


# --- suites --------------------------------------------------------------------------------------------------

def _suite_with(tmp_path: Path, method: dict[str, Any]) -> Path:
    raw = yaml.safe_load((FIXTURES / "tiny.yaml").read_text())
    raw["students"][0]["method"] = method
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("method", [
    {"name": "fitnets", "student_layer": "1", "teacher_layer": "3", "epochs": 2},
    {"name": "attention", "student_layers": ["2"], "teacher_layers": ["2"], "beta": 500},
    {"name": "adversarial", "adv_weight": 0.5, "d_hidden": 32},
    {"name": "multi_teacher", "teachers": ["teacher"], "weights": [1]},
])
def test_suites_with_these_methods_validate(tmp_path: Path, method: dict[str, Any]):
    (step,) = load_and_resolve(_suite_with(tmp_path, method)).students[0].method
    assert step.name == method["name"]
    found = get_method(method["name"])
    resolved = found.params.model_validate(step.params)  # what the build does, strictly, with defaults
    for key, value in method.items():
        if key != "name":
            assert getattr(resolved, key) == value


@pytest.mark.parametrize(("method", "expected"), [
    ({"name": "fitnets", "student_layer": "1"}, "students[0].method.teacher_layer: required key is missing"),
    ({"name": "attention", "student_layers": ["2"], "teacher_layers": ["2", "5"]}, "pair up one to one"),
    ({"name": "adversarial", "d_beta1": 1.0}, "students[0].method.d_beta1"),
])
def test_suites_with_bad_method_params_fail_in_one_line(tmp_path: Path, method: dict[str, Any], expected: str):
    with pytest.raises(SuiteError) as excinfo:
        load_and_resolve(_suite_with(tmp_path, method))
    assert expected in _one_line_error(excinfo)
