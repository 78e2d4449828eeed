"""``quantize``: post-training int8 quantization (Jacob et al., 2018, arXiv:1712.05877).

A float x is stored as q = clamp(round(x / s) + z, -128, 127) and read back
as s * (q - z): 1 byte per weight instead of 4. Weights get one scale per
output channel (``per_channel: true``, the default) or one per tensor.

- ``mode: dynamic``: the weights of every Linear are int8; activations are
  quantized on the fly, batch by batch, from their observed range. Nothing
  to calibrate; Conv layers stay float.
- ``mode: static``: weights and activations are int8 with activation scales
  fixed beforehand by running the first ``calibration_batches`` batches of
  64 training samples through observers; Conv/Linear + BatchNorm + ReLU
  are fused first. Supported for an ``nn.Sequential`` of Linear, Conv,
  BatchNorm (after a Conv/Linear), ReLU, Dropout, pooling, Flatten and
  Identity; anything else raises :class:`HarnessError` (the student's failure).

Both run on CPU only (torch's quantized kernels: fbgemm/x86, or qnnpack
on ARM, whichever ``torch.backends.quantized.engine`` is), take float32
inputs and return float32 logits. Its state dict holds the int8 weights, so
``size_bytes`` is about a quarter of float32's (for layers large enough that
the per-channel scales and packing overhead do not dominate). The result
pickles with ``pickle``; to hand it to another process send
``pickle.dumps(model)`` bytes, because ``multiprocessing``'s own pickler, with
torch's shared-memory reducers, fails on quantized storages ("unable to resize
file ... Invalid argument").

Why ``torch.ao.quantization`` and not torchao: torchao 0.18 (the release for
this torch) is not a dependency, takes about 5 s to import, and the modules
its ``quantize_`` returns do not pickle (``extra_repr`` is replaced by a
``functools.partial``), which the isolated measuring process needs.
``torch.ao.quantization`` is deprecated upstream; its DeprecationWarning
and the deprecation of quantized tensor constructors are caught here and
logged once at INFO on the ``harness.methods.quantize`` logger instead of
printed for every student.
"""

from __future__ import annotations

import copy
import copyreg
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from harness.errors import HarnessError
from harness.methods.base import BuildContext, method

log = logging.getLogger(__name__)
_logged: set[str] = set()
CALIBRATION_BATCH = 64

_FUSE_PATTERNS: tuple[tuple[type[nn.Module], ...], ...] = tuple(
    pattern
    for conv, norm in ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv3d, nn.BatchNorm3d))
    for pattern in ((conv, norm, nn.ReLU), (conv, norm), (conv, nn.ReLU))
) + ((nn.Linear, nn.BatchNorm1d), (nn.Linear, nn.ReLU))
_STATIC_OK = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ReLU, nn.Dropout, nn.Flatten, nn.Identity,
    nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AvgPool1d, nn.AvgPool2d,
)
_STATIC_SUPPORTED = "an nn.Sequential of Linear, Conv, BatchNorm after a Conv/Linear, ReLU, Dropout, pooling, Flatten"


class QuantizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mode: Literal["dynamic", "static"] = "dynamic"
    per_channel: bool = True
    calibration_batches: int = Field(8, ge=1, le=10_000)


@contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Catch ``torch.ao.quantization``'s deprecation warnings; log each distinct one once, at INFO."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if not issubclass(warning.category, (DeprecationWarning, UserWarning)):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
            continue
        first = str(warning.message).strip().splitlines()[0]
        if first not in _logged:
            _logged.add(first)
            log.info("quantize: %s: %s", warning.category.__name__, first)


def dynamic_int8(model: nn.Module, per_channel: bool = True) -> nn.Module:
    """A copy of ``model`` with every Linear's weights in int8, activations quantized per batch."""
    from torch.ao import quantization as tq

    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise HarnessError("dynamic int8 quantizes Linear layers and this model has none (try mode: static)")
    qconfig = tq.per_channel_dynamic_qconfig if per_channel else tq.default_dynamic_qconfig
    with quiet_deprecations():
        return tq.quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear: qconfig}, dtype=torch.qint8)


def _fusions(layers: list[nn.Module]) -> list[list[str]]:
    """Names of the runs of layers that fuse into one quantized module (conv-bn-relu, linear-relu, ...)."""
    groups, index = [], 0
    while index < len(layers):
        for pattern in _FUSE_PATTERNS:
            run = layers[index:index + len(pattern)]
            if len(run) == len(pattern) and all(type(m) is kind for m, kind in zip(run, pattern, strict=True)):
                groups.append([str(index + offset) for offset in range(len(pattern))])
                index += len(pattern)
                break
        else:
            index += 1
    return groups


def _check_static(model: nn.Module) -> list[nn.Module]:
    if type(model) is not nn.Sequential:
        raise HarnessError(f"static int8 is not supported for a {type(model).__name__}; supported: {_STATIC_SUPPORTED}")
    layers = list(model)
    fused = {int(name) for group in _fusions(layers) for name in group}
    for index, layer in enumerate(layers):
        if not isinstance(layer, _STATIC_OK) and index not in fused:
            raise HarnessError(f"static int8 is not supported for layer {index} ({type(layer).__name__}); "
                               f"supported: {_STATIC_SUPPORTED}")
    return layers


def _rebuild_quantized_conv(cls: type[nn.Module], state: tuple[object, ...]) -> nn.Module:
    module = cls.__new__(cls)
    nn.Module.__init__(module)  # what torch's own __deepcopy__ does and its unpickling forgets
    module.__setstate__(state)
    return module


def _reduce_quantized_conv(module: nn.Module) -> tuple[object, ...]:
    return _rebuild_quantized_conv, (type(module), module.__getstate__())


def make_quantized_convs_picklable() -> None:
    """Let static int8 conv modules survive ``pickle`` (the isolated measuring process receives them so).

    torch's quantized ``_ConvNd.__setstate__`` restores the layer's fields on an
    object that never ran ``nn.Module.__init__`` (torch 2.13), so an unpickled
    conv fails with "no attribute '_backward_hooks'". A ``copyreg`` reducer
    rebuilds it the way its own ``__deepcopy__`` does; unpickling needs only
    this module to be importable.
    """
    import torch.ao.nn.intrinsic.quantized  # noqa: F401  (registers the fused ConvReLU classes)
    from torch.ao.nn.quantized.modules.conv import _ConvNd

    pending = [_ConvNd]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        copyreg.pickle(cls, _reduce_quantized_conv)  # type: ignore[arg-type]


def static_int8(model: nn.Module, calibration: Callable[[], Iterator[torch.Tensor]], per_channel: bool = True,
                ) -> nn.Module:
    """A copy of ``model`` with weights and activations in int8, activation ranges observed on ``calibration``."""
    from torch.ao import quantization as tq

    layers = _check_static(model)
    make_quantized_convs_picklable()
    engine = torch.backends.quantized.engine
    float_model = nn.Sequential(tq.QuantStub(), copy.deepcopy(nn.Sequential(*layers)).eval(), tq.DeQuantStub())
    with quiet_deprecations():
        fusions = _fusions(layers)
        if fusions:
            tq.fuse_modules(float_model[1], fusions, inplace=True)
        qconfig = tq.get_default_qconfig(engine)
        if not per_channel:
            qconfig = tq.QConfig(activation=qconfig.activation, weight=tq.default_weight_observer)
        float_model.qconfig = qconfig
        prepared = tq.prepare(float_model, inplace=True)
        with torch.inference_mode():
            for batch in calibration():
                prepared(batch)
        return tq.convert(prepared, inplace=True).eval()


def _as_input(x: torch.Tensor) -> torch.Tensor:
    """Float features as float32 (int8 models take float32); token ids stay integers."""
    return x.float() if x.is_floating_point() else x


def _first_batches(x: torch.Tensor, batches: int) -> Callable[[], Iterator[torch.Tensor]]:
    def batches_of_x() -> Iterator[torch.Tensor]:
        for start in range(0, min(len(x), batches * CALIBRATION_BATCH), CALIBRATION_BATCH):
            yield _as_input(x[start:start + CALIBRATION_BATCH])

    return batches_of_x


@method("quantize")
def quantize(ctx: BuildContext, params: QuantizeParams) -> nn.Module:
    """Post-training int8 quantization: dynamic (Linear weights) or static (weights and activations, calibrated)."""
    if params.mode == "dynamic":
        quantized = dynamic_int8(ctx.model, params.per_channel)
    else:
        quantized = static_int8(ctx.model, _first_batches(ctx.data.x_train, params.calibration_batches),
                                params.per_channel)
    try:
        with torch.inference_mode(), quiet_deprecations():
            quantized(_as_input(ctx.data.x_train[:2]))
    except (RuntimeError, NotImplementedError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"{params.mode} int8 is not supported for this model: {reason}") from None
    return quantized
