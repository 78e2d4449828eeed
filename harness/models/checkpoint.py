"""Load and save model weights: safetensors, or torch's own format read with ``weights_only``.

A checkpoint is a flat ``str -> Tensor`` mapping (a ``state_dict``). Every
failure is a :class:`~harness.errors.HarnessError` with one line that names the file.

>>> import tempfile, torch
>>> from pathlib import Path
>>> model = torch.nn.Linear(4, 2)
>>> path = save_safetensors(model, Path(tempfile.mkdtemp()) / "m.safetensors")
>>> load_weights(torch.nn.Linear(4, 3), path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
harness.errors.HarnessError: .../m.safetensors: key 'weight' has shape (2, 4) in the checkpoint but (3, 4) in the model
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from harness.errors import HarnessError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read(path: Path) -> object:
    from harness.models.programs import PROGRAMS, checkpoint_format

    kind = checkpoint_format(path)
    if kind in PROGRAMS:
        raise HarnessError(f"{path}: holds a program ({kind}), not weights: leave out 'arch' to load it as the model")
    if kind == "safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_state_dict_file(path: Path) -> dict[str, Tensor]:
    """Read a ``state_dict`` from a safetensors file, or any other via ``torch.load(weights_only=True)``
    (the format is read from the content, not the suffix)."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: checkpoint file not found")
    try:
        content = _read(path)
    except HarnessError:
        raise
    except Exception as exc:  # any reader failure means "not a checkpoint"
        raise HarnessError(f"{path}: not a readable checkpoint ({_first_line(exc)})") from None
    if not isinstance(content, Mapping):
        raise HarnessError(f"{path}: checkpoint holds a {type(content).__name__}, not a state_dict (str -> Tensor)")
    for key, value in content.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            hint = " (save model.state_dict() itself)" if isinstance(value, Mapping) else ""
            raise HarnessError(f"{path}: checkpoint entry {key!r} is a {type(value).__name__}, not a Tensor{hint}")
    return dict(content)


def _shape(tensor: Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def check_fits(model: nn.Module, state: Mapping[str, Tensor], path: Path) -> None:
    """Raise naming the first missing key, unexpected key, or shape difference, in that order."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise HarnessError(f"{path}: checkpoint lacks key {missing[0]!r} of the model{more}")
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise HarnessError(f"{path}: checkpoint has key {unexpected[0]!r} that the model lacks{more}")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise HarnessError(
                f"{path}: key {key!r} has shape {_shape(state[key])} in the checkpoint"
                f" but {_shape(tensor)} in the model"
            )


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load ``path`` into ``model`` strictly (every key, every shape) and return the model."""
    path = Path(path)
    state = load_state_dict_file(path)
    check_fits(model, state, path)
    model.load_state_dict(state, strict=True)
    return model


def save_safetensors(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` to ``path`` as safetensors (parents created) and return the path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Cloning unties shared storage, which safetensors refuses, at the cost of a copy.
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    save_file(tensors, path, metadata=metadata)
    return path
